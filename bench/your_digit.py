""""Your digit", measured in headless Chromium against `streamlit run` (the shipped MLP):

- encode + reconstruct per frame in the page while a stroke is drawn (and the whole frame, with the
  canvas's pixels prepared as the model's 28x28), beside the live decoder's decode in the same page;
- frames updated per second during a stroke driven by pointer events every 4 ms, and the websocket
  messages sent meanwhile (should be 0);
- stroke end (pointerup) -> the -ELBO, neighbours and samples on screen, for strokes that change them;
- the bytes the panel sends to the page once (the encoder blob) and per stroke (the draw message).

Usage: python bench/your_digit.py [--strokes 12] [--stroke-ms 1500]
"""
import argparse
import re
import statistics
import sys
import tempfile
import time

import numpy as np

from testkit import ROOT
from testkit.browser import (
    COUNT_SENT_JS,
    chromium,
    pointer_path,
    serve,
    wait_for_app,
    wait_idle,
)

# JS: pointerup, then wait for the scored results (the -ELBO line) to change; ms from the pointerup
END_JS = """async (canvas, end) => {
  const text = () => { const m = [...document.querySelectorAll('[data-testid="stMarkdownContainer"]')]
      .find((e) => e.innerText.includes('ELBO') && e.innerText.includes('unusual')); return m ? m.innerText : null; };
  const deep = (root, sel, out = []) => {  // querySelectorAll through open shadow roots
    root.querySelectorAll(sel).forEach((e) => out.push(e));
    root.querySelectorAll('*').forEach((e) => { if (e.shadowRoot) deep(e.shadowRoot, sel, out); });
    return out;
  };
  const near = () => deep(document, '[data-testid^="near-"]').map((b) => b.title).join();
  const [textBefore, nearBefore] = [text(), near()];
  const t0 = performance.now();
  canvas.dispatchEvent(new PointerEvent('pointerup', {clientX: end[0], clientY: end[1], pointerId: 7,
      pointerType: 'pen', bubbles: true}));
  return await new Promise((done) => {
    const poll = () => {
      const now = text();
      if (now && now !== textBefore && near() !== nearBefore) done(performance.now() - t0);
      else if (performance.now() - t0 > 20000) done(null);
      else requestAnimationFrame(poll);
    };
    poll();
  });
}"""


def pct(xs, q) -> float:
    return float(np.percentile(np.asarray(xs), q))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--strokes", type=int, default=12)
    ap.add_argument("--stroke-ms", type=int, default=1500)
    args, _ = ap.parse_known_args()

    from explorer.backend import models, prep, weights
    from explorer.backend.picker import DEFAULT_CHECKPOINT
    from vae_core.checkpoint import load_checkpoint
    model = load_checkpoint(ROOT / DEFAULT_CHECKPOINT)[0]
    print(f"encoder blob (sent once, when the panel first opens): "
          f"{len(weights.pack_encoder(model, model_id='x' * 40, prep=prep.constants(), with_decoder=False)):,} bytes; "
          f"with the decoder, when live decoding is off: "
          f"{len(weights.pack_encoder(model, model_id='x' * 40, prep=prep.constants(), with_decoder=True)):,} bytes")
    del models

    log = tempfile.NamedTemporaryFile("w+", suffix=".log")
    with serve(env={"VAE_EXPLORER_TIMING": "1"}, stderr=log) as url, chromium(viewport=(1400, 1400)) as page:
        page.add_init_script(COUNT_SENT_JS)
        wait_for_app(page, url)
        page.wait_for_function("window.__vae?.live && window.__vae?.live.ready", timeout=60_000)
        wait_idle(page, 500)
        t = time.perf_counter()
        page.get_by_text("Your digit: draw one").click()
        page.wait_for_function("window.__vae?.draw && window.__vae?.draw.ready", timeout=60_000)
        print(f"panel opened (toggle -> canvas ready, weights packed and sent): {time.perf_counter() - t:.2f} s")
        wait_idle(page, 800)
        canvas = page.get_by_test_id("draw-canvas")
        canvas.scroll_into_view_if_needed()
        encode, frame, fps, sent, ends = [], [], [], 0, []
        for k in range(args.strokes):
            page.get_by_test_id("draw-clear").click()
            wait_idle(page, 300)
            n0, s0 = page.evaluate("[window.__vae?.draw.encodeMs.length, window.__sent]")
            fx = 0.3 + 0.4 * (k % 5) / 4  # a wobbly vertical line, a different one each time
            out = pointer_path(canvas, args.stroke_ms, f"(t, ms) => [{fx} + 0.04 * Math.sin(t / 90), 0.12 + 0.76 * t / ms]",
                               release=False, counter="window.__vae?.draw.frames", pointer="pen")
            sent += page.evaluate("window.__sent") - s0
            encode += page.evaluate(f"window.__vae?.draw.encodeMs.slice({n0})")
            frame += page.evaluate(f"window.__vae?.draw.frameMs.slice({n0})")
            fps.append(out["frames"] / out["seconds"])
            ends.append(canvas.evaluate(END_JS, out["end"]))
            wait_idle(page, 300)
        live = page.evaluate("(() => { const d = window.__vae?.live; const z = [0.5, -0.5]; d.decode(z); "
                             "const t = []; for (let i = 0; i < 200; i++) { const t0 = performance.now(); d.decode(z); "
                             "t.push(performance.now() - t0); } return t; })()")
        last_message = page.evaluate("window.__vae?.draw.messageBytes || 0")
    ends = [e for e in ends if e is not None]
    log.seek(0)
    text = log.read()
    if "--parts" in sys.argv:
        print("\n".join(line for line in text.splitlines() if "parts" in line))
    before = [float(v) for v in re.findall(r"timing: draw panel before scoring ([\d.]+) ms", text)]
    scored = [float(v) for v in re.findall(r"timing: scored ([\d.]+) ms", text)]
    print(f"per frame while drawing ({len(encode)} frames, {args.strokes} strokes): encode + reconstruct median "
          f"{statistics.median(encode):.2f} ms, p95 {pct(encode, 95):.2f} ms; whole frame with the 280x280 canvas "
          f"prepared as the 28x28: median {statistics.median(frame):.2f} ms, p95 {pct(frame, 95):.2f} ms")
    print(f"  beside it, same page: the live decoder's decode alone median {statistics.median(live):.2f} ms")
    print(f"updated frames per second during a stroke: median {statistics.median(fps):.1f} (min {min(fps):.1f}); "
          f"websocket messages sent during {args.strokes} strokes: {sent}")
    print(f"stroke end -> -ELBO, neighbours and samples on screen: median {statistics.median(ends):.0f} ms, "
          f"p95 {pct(ends, 95):.0f} ms, max {max(ends):.0f} ms over {len(ends)} strokes")
    if scored:
        print(f"  of which on the server: the panel before scoring median {statistics.median(before):.1f} ms, "
              f"scoring (torch encode + -ELBO, samples, neighbours, their pictures and buttons) median "
              f"{statistics.median(scored):.1f} ms")
    print(f"draw message (checkpoint, the map's projection; + ~1 KB with an upload): {last_message} bytes, sent "
          "with each rerun of the panel, not during a stroke")


if __name__ == "__main__":
    main()
