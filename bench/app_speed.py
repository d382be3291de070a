"""The explorer's speed, measured: server reruns (AppTest), cold start, browser latency, live decoding.

Usage: python bench/app_speed.py [--reruns 40] [--moves 20]   (needs /usr/bin/chromium for the browser part)
"""
import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
from browser import CHROMIUM, chromium, serve, wait_for_app  # noqa: E402


def pct(xs, q) -> float:
    return float(np.percentile(np.asarray(xs), q))


def apptest_reruns(n: int) -> None:
    """Median server-side rerun after a slider move (server decoding, the shipped model)."""
    from streamlit.testing.v1 import AppTest
    from explorer import models
    calls = []
    real = models.encode_all
    models.encode_all = lambda *a, **k: (calls.append(1), real(*a, **k))[1]
    at = AppTest.from_file(str(ROOT / "explorer" / "app.py"), default_timeout=120)
    t = time.perf_counter()
    at.run()
    first = time.perf_counter() - t
    at.sidebar.toggle[0].set_value(False).run()
    times = []
    for i in range(n):
        slider = at.slider(key="zs_0")
        slider.set_value(round(-2 + 4 * (i % 20) / 19, 2))
        t = time.perf_counter()
        at.run()
        times.append(1000 * (time.perf_counter() - t))
    assert not at.exception, at.exception
    print(f"AppTest first run (imports done, data+model+encodings cold): {first:.2f} s")
    print(f"AppTest rerun after a slider move: median {statistics.median(times):.1f} ms, "
          f"p95 {pct(times, 95):.1f} ms over {n} reruns")
    print(f"encodings computed {len(calls)} time(s) over {n + 2} runs")


def import_seconds() -> float:
    code = ("import time; t=time.perf_counter(); import streamlit, torch, torchvision, plotly.graph_objects; "
            "import explorer.panels, explorer.live; print(time.perf_counter()-t)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def browser(moves: int) -> None:
    imports = import_seconds()
    with serve() as url, chromium() as page:
        sent = []
        page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(time.perf_counter())))
        t = time.perf_counter()
        wait_for_app(page, url)
        page.get_by_test_id("live-digit").wait_for()
        page.wait_for_function("window.__vaeLive && window.__vaeLive.frames > 0")
        page.wait_for_function("document.querySelector('.js-plotly-plot canvas') !== null")
        cold = time.perf_counter() - t
        first_frame = page.evaluate("window.__vaeLive.firstFrameMs")
        print(f"cold start, fresh server, navigate -> map + live digit: {cold:.2f} s "
              f"(of which Python imports ~{imports:.2f} s in a fresh process: {cold - imports:.2f} s after them)")
        print(f"first live frame {first_frame:.0f} ms after navigation started")

        # --- live drag over the pad: frames decoded per second, server reruns while dragging
        pad = page.get_by_test_id("live-pad").bounding_box()
        page.evaluate("window.__vaeLive.frames = 0; window.__vaeLive.decodeMs = []")
        page.mouse.move(pad["x"] + 20, pad["y"] + 20)
        page.mouse.down()
        n_before = len(sent)
        t = time.perf_counter()
        steps = 240
        for k in range(steps):
            a = 2 * np.pi * k / steps
            page.mouse.move(pad["x"] + pad["width"] * (0.5 + 0.4 * np.cos(a)),
                            pad["y"] + pad["height"] * (0.5 + 0.4 * np.sin(3 * a)))
            page.wait_for_timeout(8)
        dragged = time.perf_counter() - t
        during = len(sent) - n_before
        frames = page.evaluate("window.__vaeLive.frames")
        ms = page.evaluate("window.__vaeLive.decodeMs")
        page.mouse.up()
        page.wait_for_timeout(1500)
        after = len(sent) - n_before - during
        print(f"scripted drag: {steps} pointer moves in {dragged:.2f} s -> {frames} frames decoded "
              f"= {frames / dragged:.0f} frames/s; messages to the server while dragging: {during}, "
              f"after release: {after}")
        print(f"decode in the page: median {statistics.median(ms):.2f} ms, p95 {pct(ms, 95):.2f} ms "
              f"over {len(ms)} decodes")

        # --- server decoding: slider release -> new digit image on screen
        page.get_by_text("Live decoding in the browser").click()
        page.get_by_role("slider", name="z0").wait_for()
        page.wait_for_timeout(1500)
        page.evaluate("""() => {
          window.__lat = [];
          const watch = () => {
            const img = [...document.querySelectorAll('img')].find(i => i.width === 280);
            new MutationObserver(() => window.__lat.push(performance.now() - window.__t0))
              .observe(img, {attributes: true, attributeFilter: ['src']});
          };
          watch();
          document.addEventListener('keyup', () => { window.__t0 = performance.now(); }, true);
        }""")
        slider = page.get_by_role("slider", name="z0")
        slider.focus()
        for k in range(moves):
            n = page.evaluate("window.__lat.length")
            slider.press("ArrowRight" if k % 2 == 0 else "ArrowLeft")
            page.wait_for_function(f"window.__lat.length > {n}", timeout=10_000)
            page.wait_for_timeout(150)
        lat = page.evaluate("window.__lat")
        print(f"server decoding, slider key release -> new digit in the page: median {statistics.median(lat):.0f} ms, "
              f"p95 {pct(lat, 95):.0f} ms over {len(lat)} moves")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reruns", type=int, default=40)
    p.add_argument("--moves", type=int, default=20)
    args = p.parse_args()
    from explorer import live, models
    loaded_model = models.load_checkpoint(ROOT / models.DEFAULT_CHECKPOINT)[0]
    blob = live.pack(loaded_model, ident="x", z=[0, 0], z_version=0, ranges=[[-4, 4]] * 2,
                     pad_xy=np.zeros((10000, 2)), pad_labels=np.zeros(10000))
    print(f"live decoder payload: {len(blob) / 1e6:.2f} MB (float32 weights + 10k pad points), sent once per model")
    apptest_reruns(args.reruns)
    if CHROMIUM.exists():
        browser(args.moves)
    else:
        print("no /usr/bin/chromium: browser figures skipped")


if __name__ == "__main__":
    main()
