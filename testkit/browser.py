"""Serve the app on loopback and drive Debian's Chromium with Playwright: shared by tests/ and bench/."""
import base64
import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from testkit import ROOT  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(env: dict | None = None, timeout: float = 90.0, stderr=subprocess.DEVNULL, script: str = "explorer/app.py",
          address: str | None = "127.0.0.1", flags: tuple = ()):
    """`streamlit run explorer/app.py` on a free loopback port; yields the URL, stops it after."""
    with serve_process(env, timeout, stderr, script, address, flags) as (url, _):
        yield url


@contextlib.contextmanager
def serve_process(env: dict | None = None, timeout: float = 90.0, stderr=subprocess.DEVNULL,
                  script: str = "explorer/app.py", address: str | None = "127.0.0.1", flags: tuple = (),
                  cwd: Path = ROOT):
    """As `serve`, yielding (url, the server's Popen), started in `cwd`. address=None leaves the
    address to explorer/.streamlit/config.toml (the server is still reached, and checked, on
    127.0.0.1). The URL is the server's root, also when flags set a server.baseUrlPath."""
    port = free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / script), "--server.headless", "true",
           "--server.port", str(port), "--browser.gatherUsageStats", "false", *flags]
    if address is not None:
        cmd += ["--server.address", address]
    proc = subprocess.Popen(cmd, cwd=cwd, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL,
                            stderr=stderr)
    url = f"http://127.0.0.1:{port}"
    base = flags[flags.index("--server.baseUrlPath") + 1].strip("/") if "--server.baseUrlPath" in flags else ""
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(url + (f"/{base}" if base else "") + "/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not come up on {url}")
            time.sleep(0.3)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def listening_addresses(port: int) -> set[str]:
    """The local addresses with a socket listening on `port`, read from /proc/net/tcp{,6} (as
    `ss -ltn` shows them), never by connecting anywhere."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            addr, p = local.split(":")
            if state != "0A" or int(p, 16) != port:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(addr)
            words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))  # little-endian 32-bit words
            found.add(socket.inet_ntop(socket.AF_INET if width == 8 else socket.AF_INET6, words))
    return found


@contextlib.contextmanager
def chromium(viewport=(1400, 1000)):
    """A fresh headless Chromium page (Playwright driving the system browser; nothing downloaded)."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
            yield page
        finally:
            browser.close()


def wait_for_app(page, url: str, timeout_ms: int = 90_000) -> None:
    page.goto(url)
    page.get_by_text("Decoder", exact=True).wait_for(timeout=timeout_ms)
    page.locator(".js-plotly-plot").first.wait_for(timeout=timeout_ms)


def decode_on_the_server(page) -> None:
    """Switch the open app's live decoding off; returns once the first frame decoded on the server is
    in the panel and the page is idle."""
    page.wait_for_function("window.__vae?.live && window.__vae?.live.frames > 0", timeout=90_000)
    page.get_by_text("Live decoding in the browser").click()
    page.wait_for_function("window.__vae?.live.remote && window.__vae?.live.lastFrameAt", timeout=60_000)
    wait_idle(page)


def wait_idle(page, settle_ms: int = 500, timeout_ms: int = 60_000) -> None:
    """Wait until the app has no script run in flight (Streamlit's status widget is gone), then settle."""
    page.wait_for_timeout(200)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached", timeout=timeout_ms)
    page.wait_for_timeout(settle_ms)


def isolated_point(page, min_px: float = 10.0, candidates: int = 300) -> int:
    """A test index whose map point has no other point within min_px pixels (a click picks it alone)."""
    index = page.evaluate(ISOLATED_JS, [min_px, candidates])
    assert index is not None, f"no map point among the first {candidates} is {min_px} px from all others"
    return index


def load_live_decoder(page, blob: bytes) -> None:
    """Import explorer/live.js alone into the page and set window.__decode(z) -> 784 pixel means
    from a blob made by live.pack (no Streamlit server needed)."""
    from explorer.panels import decoder
    page.evaluate("""async ([source, b64]) => {
      const url = URL.createObjectURL(new Blob([source], {type: 'text/javascript'}));
      const { decoderFromBlob } = await import(url);
      window.__decode = decoderFromBlob(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));
    }""", [decoder.JS, base64.b64encode(blob).decode()])


def load_draw_module(page, blob: bytes, constants: dict) -> None:
    """Import the "Your digit" modules (nn.js + encoder.js, nn.js + prep.js + draw.js) into the page and set
    window.__encode(x784 in [0, 1]) -> {mu, logvar} from an encoder blob (weights.pack_encoder) and
    window.__prepare(rgba, w, h) -> 784 uint8 with the preprocessing constants (prep.constants()), and
    window.__onMap(proj, mu, logvar) -> {x, y, ellipse} (the drawing's marker on the map)."""
    from explorer.panels import your_digit
    page.evaluate("""async ([encoderSource, drawSource, b64, constants]) => {
      const load = (source) => import(URL.createObjectURL(new Blob([source], {type: 'text/javascript'})));
      const [encoder, draw] = [await load(encoderSource), await load(drawSource)];
      window.__encode = encoder.encoderFromBlob(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));
      window.__prepare = draw.prepareWith(constants);
      window.__onMap = draw.onMap;
    }""", [your_digit.ENCODER_JS, your_digit.DRAW_JS, base64.b64encode(blob).decode(),
           constants])


def map_shapes(page) -> list[dict]:
    """The overlay shapes drawn on the map (explorer/map_overlays.js)."""
    return page.evaluate("document.querySelector('.st-key-map .js-plotly-plot').layout.shapes || []")


def click_map_point(page, index: int) -> None:
    """Hover, then click the map point of test digit `index` (plotly's WebGL picking needs the hover)."""
    xy = page.evaluate(POINT_XY_JS, index)
    assert xy is not None, f"test digit #{index} is not on the map"
    page.mouse.move(xy[0] - 6, xy[1] - 6)
    page.wait_for_timeout(200)
    page.mouse.move(*xy)
    page.wait_for_timeout(400)
    page.mouse.click(*xy)


# JS: page coordinates of the map point with a given test index (customdata), via plotly's axes
POINT_XY_JS = """(index) => {
  const gd = document.querySelector('.js-plotly-plot');
  const fl = gd._fullLayout, box = gd.getBoundingClientRect();
  for (const tr of gd._fullData) {
    if (!tr.customdata) continue;
    const k = Array.from(tr.customdata).indexOf(index);
    if (k < 0) continue;
    return [box.left + fl._size.l + fl.xaxis.d2p(tr.x[k]), box.top + fl._size.t + fl.yaxis.d2p(tr.y[k])];
  }
  return null;
}"""

# JS: the first test index (of `candidates`) with no other point within `min_px` pixels on the map
ISOLATED_JS = """([minPx, candidates]) => {
  const gd = document.querySelector('.js-plotly-plot');
  const fl = gd._fullLayout, pts = [];
  for (const tr of gd._fullData) {
    if (!tr.customdata) continue;
    for (let k = 0; k < tr.x.length; k++) pts.push([tr.customdata[k], fl.xaxis.d2p(tr.x[k]), fl.yaxis.d2p(tr.y[k])]);
  }
  const byIndex = new Map(pts.map((p) => [p[0], p]));
  for (let i = 0; i < candidates; i++) {
    const [, x, y] = byIndex.get(i);
    if (pts.every(([j, px, py]) => j === i || Math.hypot(px - x, py - y) >= minPx)) return i;
  }
  return null;
}"""

# JS: pointer events on an element every 4 ms for `ms`: pointerdown, moves along `path` (the source of
# (t, ms) => [fx, fy], fractions of the element's box), then pointerup when `release`. `counter` is the
# source of an expression counting the frames the page drew. Returns {frames, seconds, events, end}.
POINTER_PATH_JS = """async (el, [ms, path, release, counter, pointerType]) => {
  const r = el.getBoundingClientRect(), f = eval(path), count = () => eval(counter);
  const at = (t) => { const [fx, fy] = f(t, ms); return [r.left + r.width * fx, r.top + r.height * fy]; };
  const fire = (type, [x, y]) => el.dispatchEvent(new PointerEvent(type,
      {clientX: x, clientY: y, pointerId: 7, pointerType, buttons: 1, bubbles: true}));
  fire('pointerdown', at(0));
  const f0 = count(), t0 = performance.now();
  let events = 0;
  await new Promise((done) => {
    const tick = setInterval(() => {
      const t = performance.now() - t0;
      if (t > ms) { clearInterval(tick); done(); return; }
      fire('pointermove', at(t)); events += 1;
    }, 4);
  });
  const frames = count() - f0, seconds = (performance.now() - t0) / 1000;
  if (release) fire('pointerup', at(ms));
  return {frames, seconds, events, end: at(ms)};
}"""
PAD_LOOP = "(t) => [0.5 + 0.4 * Math.cos(t / 300), 0.5 + 0.4 * Math.sin(t / 170)]"  # a Lissajous loop


def pointer_path(locator, ms: int, path: str = PAD_LOOP, *, release: bool = True,
                 counter: str = "window.__vae?.live.frames", pointer: str = "mouse") -> dict:
    """Drive `locator`'s element with synthetic pointer events (POINTER_PATH_JS); frames counted by `counter`."""
    return locator.evaluate(POINTER_PATH_JS, [ms, path, release, counter, pointer])


# JS (an init script): count the messages the page sends to the server
COUNT_SENT_JS = """
window.__sent = 0;
const send = WebSocket.prototype.send;
WebSocket.prototype.send = function (...args) { window.__sent += 1; return send.apply(this, args); };
"""
