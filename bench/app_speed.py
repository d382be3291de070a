"""The explorer's speed, measured: server reruns (AppTest), cold start, browser latency, live decoding.

Usage: python bench/app_speed.py [--reruns 40] [--moves 20]   (needs /usr/bin/chromium for the browser part)
"""
import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from testkit import ROOT
from testkit.apptest import commit
from testkit.browser import (
    CHROMIUM,
    COUNT_SENT_JS,
    chromium,
    decode_on_the_server,
    load_live_decoder,
    pointer_path,
    serve,
)


def pct(xs, q) -> float:
    return float(np.percentile(np.asarray(xs), q))


def apptest_reruns(n: int) -> None:
    """Median server-side rerun after a slider move (server decoding, the shipped model)."""
    import os

    from streamlit.testing.v1 import AppTest

    from explorer.backend import models, snapshot
    os.environ[snapshot.CACHE_ENV] = tempfile.mkdtemp()  # an empty snapshot cache: the first run encodes
    calls = []
    real = models.encode_all
    models.encode_all = lambda *a, **k: (calls.append(1), real(*a, **k))[1]
    at = AppTest.from_file(str(ROOT / "explorer" / "app.py"), default_timeout=120)
    t = time.perf_counter()
    at.run()
    first = time.perf_counter() - t
    at.sidebar.toggle[0].set_value(False).run()
    # as the page does once it holds the hover thumbnails' atlas (explorer/hover.js): stop re-sending it
    at.session_state["map_hover"] = {"want": "mnist", "have": "mnist"}
    times = []
    for i in range(n):
        t = time.perf_counter()
        commit(at, [round(-2 + 4 * (i % 20) / 19, 2), 0.0])  # a release's commit: reruns the decoder fragment
        times.append(1000 * (time.perf_counter() - t))
    assert not at.exception, at.exception
    print(f"AppTest first run (imports done, data+model+encodings cold): {first:.2f} s")
    print(f"AppTest rerun after a release's commit: median {statistics.median(times):.1f} ms, "
          f"p95 {pct(times, 95):.1f} ms over {n} reruns")
    print(f"encodings computed {len(calls)} time(s) over {n + 2} runs")


# when the page first shows the heading, the map (its WebGL canvas) and the live digit: wall-clock ms
WATCH_COLD_JS = """
window.__cold = {origin: performance.timeOrigin};
const now = () => performance.timeOrigin + performance.now();
const poll = () => {
  const c = window.__cold;
  const heading = [...document.querySelectorAll('h3')].some((h) => h.textContent.trim() === 'Decoder');
  if (!c.heading && heading) c.heading = now();
  if (!c.map && document.querySelector('.js-plotly-plot .gl-container canvas')) c.map = now();
  if (!c.digit && window.__vae?.live && window.__vae?.live.frames > 0) c.digit = now();
  if (c.map && c.digit) c.complete = Math.max(c.map, c.digit); else requestAnimationFrame(poll);
};
requestAnimationFrame(poll);
"""

WATCH_DIGIT_JS = """() => {
  window.__lat = [];
  const digit = () => [...document.querySelectorAll('img')].find((i) => i.width === 280);
  let last = digit().src;
  new MutationObserver(() => {
    const img = digit();
    if (!img || img.src === last) return;
    last = img.src;
    const t0 = window.__t0, done = () => window.__lat.push(performance.now() - t0);
    if (img.complete) done(); else img.addEventListener('load', done, {once: true});
  }).observe(document.body, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
  document.addEventListener('pointerup', () => { window.__t0 = performance.now(); }, true);
}"""


def browser(moves: int) -> None:
    log = tempfile.NamedTemporaryFile("w+", suffix=".log")  # the server's stderr

    def server_log() -> str:  # read by name: the server writes through the same file offset as `log`
        return Path(log.name).read_text()

    with serve(env={"VAE_EXPLORER_TIMING": "1"}, stderr=log) as url, chromium() as page:
        # count messages to the server in the page: Playwright's own websocket events would copy every
        # frame (the 3 MB live blob too) out of the browser and slow the cold start measured here
        page.add_init_script(COUNT_SENT_JS)
        sent = lambda: page.evaluate("window.__sent")  # noqa: E731
        page.add_init_script(WATCH_COLD_JS)
        page.goto(url)
        page.wait_for_function("window.__cold.complete", timeout=90_000)
        cold = page.evaluate("window.__cold")
        imports, run, imported_at = map(float, re.search(
            r"imports ([0-9.]+) s, run ([0-9.]+) s, imports done at ([0-9.]+) ms", server_log()).groups())
        after_imports = (cold["complete"] - imported_at) / 1000
        print(f"cold start, fresh server: map + live digit drawn {after_imports:.2f} s after the app's imports "
              f"finished (first script run {run:.2f} s); "
              f"from navigation {(cold['complete'] - cold['origin']) / 1000:.2f} s, "
              f"of which the imports {imports:.2f} s ('Decoder' heading "
              f"{(cold['heading'] - imported_at) / 1000:.2f} s, map {(cold['map'] - imported_at) / 1000:.2f} s, "
              f"live digit {(cold['digit'] - imported_at) / 1000:.2f} s after the imports)")
        page.wait_for_timeout(1000)

        # --- live drag over the pad, events synthesised in the page every 4 ms for 3 s
        n_before = sent()
        page.evaluate("window.__vae.live.decodeMs = []")
        drag = pointer_path(page.get_by_test_id("live-pad"), 3000)
        during = sent() - n_before
        ms = page.evaluate("window.__vae?.live.decodeMs")
        page.wait_for_timeout(2000)
        after = sent() - n_before - during
        print(f"live drag: {drag['events']} pointer moves in {drag['seconds']:.2f} s -> {drag['frames']} frames "
              f"decoded = {drag['frames'] / drag['seconds']:.0f} frames/s; messages to the server while dragging: "
              f"{during}, after release: {after}")
        print(f"decode in the page: median {statistics.median(ms):.2f} ms, p95 {pct(ms, 95):.2f} ms "
              f"over {len(ms)} decodes")

        # --- live decoding: click (press + release at once) along the live z0 slider -> digit redrawn
        lat = live_release_latencies(page, moves)
        print(f"live decoding, slider click release -> new digit drawn in the page: "
              f"median {statistics.median(lat):.0f} ms, "
              f"p95 {pct(lat, 95):.0f} ms over {len(lat)} clicks (negative: drawn before the release)")

    server_decoding_paired(moves)


def server_decoding_paired(moves: int) -> None:
    """Server decoding against the bare app (bench/baseline_app.py), both served at once, each in its
    own page of one browser: clicks alternate between them (ours, bare, bare, ours, ...), so a slow
    moment of this noisy 2-core machine lands on both. Click (press + release) along the z0 slider's
    track -> new digit in the page: the bare app's Streamlit slider reruns its script; ours, with live
    decoding off, asks the server's route for the pixels (explorer/remote.py)."""
    with serve() as ours_url, serve(script="bench/baseline_app.py") as bare_url, chromium() as ours:
        bare = ours.context.browser.new_page(viewport={"width": 1400, "height": 1000})
        ours.goto(ours_url)
        decode_on_the_server(ours)
        ours.evaluate("document.addEventListener('pointerup', () => { window.__up = performance.now(); }, true)")
        ours_slider = ours.get_by_role("slider", name="live z0")
        bare.goto(bare_url)
        bare.get_by_role("slider", name="z0").wait_for(timeout=60_000)
        for page in (ours, bare):
            page.wait_for_timeout(1500)
        bare.evaluate(WATCH_DIGIT_JS)
        tracks = [ours_slider.bounding_box(),
                  bare.locator('[data-testid="stSlider"]').first.locator('div[style*="touch-action"]').first.bounding_box()]
        lat = {0: [], 1: []}
        for k in range(2 * moves):
            order = (0, 1) if k % 2 == 0 else (1, 0)
            for i in order:
                page, box = (ours, bare)[i], tracks[i]
                x = box["x"] + box["width"] * (0.2 + 0.6 * (k % 10) / 9)
                if i == 0:
                    n = page.evaluate("window.__vae?.live.frames")
                    page.mouse.click(x, box["y"] + box["height"] / 2)
                    page.wait_for_function(f"window.__vae?.live.frames > {n}", timeout=10_000)
                    lat[0].append(page.evaluate("window.__vae?.live.lastFrameAt - window.__up"))
                else:
                    n = page.evaluate("window.__lat.length")
                    page.mouse.click(x, box["y"] + box["height"] / 2)
                    page.wait_for_function(f"window.__lat.length > {n}", timeout=10_000)
                    lat[1].append(page.evaluate("window.__lat")[-1])
                page.wait_for_timeout(300)
        commits = ours.evaluate("window.__vae?.live.commits")
    ratios = [a / b for a, b in zip(lat[0], lat[1])]
    print(f"server decoding, slider release -> new digit in the page, clicks alternating with the bare app "
          f"({len(lat[0])} each): ours median {statistics.median(lat[0]):.0f} ms, p95 {pct(lat[0], 95):.0f}; "
          f"bare app median {statistics.median(lat[1]):.0f} ms, p95 {pct(lat[1], 95):.0f}; "
          f"ratio of medians {statistics.median(lat[0]) / statistics.median(lat[1]):.2f}x, "
          f"median of paired ratios {statistics.median(ratios):.2f}x; z committed to Python {commits} times")


def live_release_latencies(page, moves: int) -> list[float]:
    """Click along the live z0 slider (an <input type=range> in the page); ms from the release to the
    next decoded frame (the decode runs on the input event, so a press already draws)."""
    page.evaluate("document.addEventListener('pointerup', () => { window.__up = performance.now(); }, true)")
    slider = page.get_by_role("slider", name="live z0")
    slider.scroll_into_view_if_needed()
    box = slider.bounding_box()
    out = []
    for k in range(moves):
        frames = page.evaluate("window.__vae?.live.frames")
        lo, hi, v = float(slider.get_attribute("min")), float(slider.get_attribute("max")), float(slider.input_value())
        to = (0.2 if (v - lo) / (hi - lo) > 0.5 else 0.8) + 0.004 * k  # off the thumb: clicking it moves nothing
        page.mouse.click(box["x"] + box["width"] * to, box["y"] + box["height"] / 2)
        page.wait_for_function(f"window.__vae?.live.frames > {frames}", timeout=10_000)
        out.append(page.evaluate("window.__vae?.live.lastFrameAt - window.__up"))
        page.wait_for_timeout(400)
    return out


def page_decode_ms(blob: bytes, n: int = 300) -> list[float]:
    """ms per decode of live.js's decoder, loaded alone in a blank page (after a warm-up)."""
    with chromium() as page:
        load_live_decoder(page, blob)
        return page.evaluate("""(n) => {
          const ms = [];
          for (let i = 0; i < n + 50; i++) {
            const t = performance.now();
            window.__decode([2 * Math.sin(i), 2 * Math.cos(1.3 * i)]);
            if (i >= 50) ms.push(performance.now() - t);
          }
          return ms;
        }""", n)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reruns", type=int, default=40)
    p.add_argument("--moves", type=int, default=20)
    args = p.parse_args()
    from explorer.backend import models, picker, weights
    from vae_core.model import VAE, VAEConfig
    decoders = {"shipped MLP": models.load_checkpoint(ROOT / picker.DEFAULT_CHECKPOINT)[0],
                "default conv (untrained)": VAE(VAEConfig(arch="conv"))}
    blobs = {name: weights.pack(m, ident="x", ranges=[[-4, 4]] * 2,
                             pad_xy=np.zeros((10000, 2)), pad_labels=np.zeros(10000)) for name, m in decoders.items()}
    for name, blob in blobs.items():
        print(f"live decoder payload, {name}: {len(blob) / 1e6:.2f} MB (float32 weights + 10k pad points), "
              f"sent once per model")
    apptest_reruns(args.reruns)
    if CHROMIUM.exists():
        for name, blob in blobs.items():
            ms = page_decode_ms(blob)
            print(f"decode in a blank page, {name}: median {statistics.median(ms):.2f} ms, "
                  f"p95 {pct(ms, 95):.2f} ms over {len(ms)} decodes")
        browser(args.moves)
    else:
        print("no /usr/bin/chromium: browser figures skipped")


if __name__ == "__main__":
    main()
