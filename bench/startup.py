"""Start-up as a person feels it: from the moment `streamlit run` starts to the map and the live
digit drawn in headless Chromium, against a bare Streamlit app (one slider, one image) started
and opened the same way, in the same run. The browser is launched first and opens the page as
soon as the server answers its health check, as a person does when the terminal prints the URL.

The map is first seen as its preview (explorer/map_preview.js: the points, drawn before plotly.js
has loaded), which already names a hovered point and opens a clicked one; zoom and pan come when
Plotly has drawn the chart. Both are reported. With --click, each run also clicks a point as soon as
the map is seen and reports when that digit's panel opened (it competes with plotly.js loading).

Usage: python bench/startup.py [--runs 3] [--click]
"""
import argparse
import statistics
import subprocess
import sys
import time
import urllib.request

from testkit import ROOT
from testkit.browser import chromium, free_port

# wall-clock ms at which the page first shows what each app is for
WATCH_JS = """
window.__seen = {};
const now = () => performance.timeOrigin + performance.now();
const poll = () => {
  const s = window.__seen;
  if (!s.title && [...document.querySelectorAll('h1, h3')].length) s.title = now();
  if (!s.map && document.querySelector('.js-plotly-plot .gl-container canvas')) s.map = now();
  if (!s.preview && window.__vae?.mapPreview) s.preview = now();  // in a frame, as the digit: about to be painted
  if (!s.seen && (s.preview || s.map)) s.seen = Math.min(s.preview || Infinity, s.map || Infinity);
  if (!s.digit && window.__vae?.live && window.__vae?.live.frames > 0) s.digit = now();
  if (!s.opened && [...document.querySelectorAll('h3')].some((h) => h.textContent.startsWith('Test digit #'))) s.opened = now();
  if (!s.image && [...document.querySelectorAll('img')].some((i) => i.width === 280 && i.complete)) s.image = now();
  requestAnimationFrame(poll);
};
requestAnimationFrame(poll);
"""


def start_to_ready(page, script: str, ready: str, click: bool = False) -> dict:
    """Seconds from Popen to each milestone; `ready` is the JS condition that ends the wait. `click`:
    click the map's first point as soon as the map is seen, and wait for its digit to open too."""
    port = free_port()
    t0 = time.time()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / script), "--server.headless",
                             "true", "--server.port", str(port), "--server.address", "127.0.0.1"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                urllib.request.urlopen(url + "/_stcore/health", timeout=1).read()
                break
            except OSError:
                time.sleep(0.05)
        healthy = time.time() - t0
        page.goto(url)
        if click:
            page.wait_for_function("window.__seen.seen", timeout=120_000)
            at = page.evaluate("""() => { window.__seen.clicked = performance.timeOrigin + performance.now();
                return window.__vae?.mapPreview && !window.__seen.map ? window.__vae?.mapPreview.place(0) : null; }""")
            if at:  # else Plotly drew first: nothing to click on the preview
                page.mouse.click(*at)
                ready += " && window.__seen.opened"
        page.wait_for_function(ready, timeout=120_000)
        seen = page.evaluate("window.__seen")
        return {"healthy": healthy, **{k: v / 1000 - t0 for k, v in seen.items()}}
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--click", action="store_true", help="click a point as soon as the map is seen")
    args = p.parse_args()
    apps = {"explorer": ("explorer/app.py", "window.__seen.map && window.__seen.digit", args.click),
            "bare app": ("bench/baseline_app.py", "window.__seen.image", False)}
    got = {name: [] for name in apps}
    with chromium() as page:
        page.add_init_script(WATCH_JS)
        for _ in range(args.runs):
            for name, (script, ready, click) in apps.items():  # alternate, so both see the same machine
                got[name].append(start_to_ready(page, script, ready, click))
                page.goto("about:blank")
    for name, runs in got.items():
        names = {"seen": "map first seen", "preview": "map preview", "map": "Plotly chart",
                 "opened": "clicked digit opened"}
        keys = [k for k in ("healthy", "title", "preview", "seen", "map", "digit", "clicked", "opened", "image")
                if all(k in r for r in runs)]
        print(f"{name}: " + ", ".join(f"{names.get(k, k)} {statistics.median(r[k] for r in runs):.2f} s" for k in keys)
              + f"  (median of {len(runs)}, from process start)")
        for r in runs:
            print("   one run: " + ", ".join(f"{names.get(k, k)} {r[k]:.2f}" for k in keys))
    floor = statistics.median(r["image"] for r in got["bare app"])
    seen = statistics.median(max(r["seen"], r["digit"]) for r in got["explorer"])
    live = statistics.median(max(r["map"], r["digit"]) for r in got["explorer"])
    print(f"bare app start -> image: {floor:.2f} s")
    print(f"start -> map first seen (hover and click) and live digit: {seen:.2f} s, ratio {seen / floor:.2f}x")
    print(f"start -> Plotly chart (zoom and pan too) and live digit: {live:.2f} s, ratio {live / floor:.2f}x")
    opened = [r["opened"] - r["clicked"] for r in got["explorer"] if "opened" in r]
    if opened:
        print(f"click on the map as soon as it is seen -> that digit's panel: median {statistics.median(opened) * 1000:.0f} ms"
              f" ({len(opened)} of {len(got['explorer'])} runs clicked the preview)")


if __name__ == "__main__":
    main()
