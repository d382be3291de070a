"""How many people one explorer server holds: N sessions at once, each a scripted user.

Each session speaks Streamlit's own protocol (testkit/st_client.py: one websocket, the messages
a page sends when a person moves a widget), so N = 100 measures the server, not 100 browsers on
the same 2 cores. A few real Chromium pages ride along (--browsers) to catch what only a page
sees: console errors, HTTP 4xx/5xx, dropped websockets. --validate compares the protocol client
with real browsers doing the same slider releases at N = 5.

Usage: python bench/load.py [--sessions 1 5 20 50 100] [--actions 30] [--browsers 2] [--validate]
"""
import argparse
import asyncio
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from testkit.browser import CHROMIUM, CHROMIUM_ARGS, POINT_XY_JS, serve_process
from testkit.load import ProcessWatch, crowd, make_home, warm_up

CHECKPOINTS = ["checkpoints/mnist-mlp-z2.pt", "checkpoints/small-z5.pt"]
TTL = 5  # --server.disconnectedSessionTTL for these runs: a closed session is freed after 5 s, not 120


def rss_after_close(url: str, watch: ProcessWatch, settle: float) -> float:
    """RSS once the closed sessions are past their TTL and one more visitor has come and gone
    (Streamlit drops expired sessions when its session store is next touched, not on a timer)."""
    time.sleep(settle)
    asyncio.run(crowd(url, 1, 0, (0, 0), CHECKPOINTS, seed0=30_000))
    time.sleep(1)
    return watch.read()[0]


async def page_user(browser, url: str, k: int, out: dict) -> None:
    """One real page: open, wait for map and decoder, click an isolated map point, wait for its panel."""
    ctx = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await ctx.new_page()
    page.on("console", lambda m: m.type == "error" and out["errors"].append(f"console: {m.text[:200]}"))
    page.on("response", lambda r: r.status >= 400 and out["errors"].append(f"HTTP {r.status} {r.url[-80:]}"))
    page.on("websocket", lambda ws: ws.on("close", lambda _: out["closed"].append(k)))
    started = time.perf_counter()
    try:
        await page.goto(url)
        await page.get_by_text("Decoder", exact=True).wait_for(timeout=120_000)
        await page.locator(".js-plotly-plot").first.wait_for(timeout=120_000)
        out["load"].append(time.perf_counter() - started)
        await page.wait_for_timeout(1500)
        xy = await page.evaluate(POINT_XY_JS, 100 + k)
        await page.mouse.move(xy[0] - 6, xy[1] - 6)
        await page.wait_for_timeout(200)
        await page.mouse.move(*xy)
        await page.wait_for_timeout(400)
        t = time.perf_counter()
        await page.mouse.click(*xy)
        await page.get_by_text("Test digit #", exact=False).first.wait_for(timeout=60_000)
        out["click"].append(time.perf_counter() - t)
    except Exception as e:  # a page that never got there is an error to report, not a crash of the bench
        out["errors"].append(f"page {k}: {type(e).__name__}: {str(e)[:160]}")
    finally:
        await ctx.close()


def browsers_alongside(url: str, k: int, out: dict) -> threading.Thread:
    """k real pages (one Chromium, k contexts) in a thread of their own, started now."""
    async def main():
        from playwright.async_api import async_playwright
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            await asyncio.gather(*(page_user(browser, url, j, out) for j in range(k)))
            await browser.close()

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    return thread


def one_level(n: int, args, home: Path) -> dict:
    """A fresh server, warmed by one session, then n sessions at once."""
    flags = ("--server.disconnectedSessionTTL", str(TTL))
    env = {"VAE_EXPLORER_HOME": str(home), **({"MALLOC_ARENA_MAX": "2"} if args.arenas else {})}
    with serve_process(env=env, flags=flags) as (url, proc), \
            ProcessWatch(proc.pid) as watch:
        mem = {"start": watch.read()[0]}
        warm = asyncio.run(warm_up(url, CHECKPOINTS))  # imports; both models, their encodings and figures
        held = {}

        def measure_one():
            held["one"] = watch.read()[0]
        asyncio.run(crowd(url, 1, 0, (0, 0), CHECKPOINTS, seed0=20_000, while_held=measure_one))
        mem["one"] = held["one"]
        page_out = {"errors": [], "closed": [], "load": [], "click": []}
        thread = browsers_alongside(url, args.browsers, page_out) if args.browsers and CHROMIUM.exists() else None
        t0, cpu0 = time.monotonic(), watch.read()[1]
        samples_from = len(watch.samples)

        def measure_held():
            held["all"] = watch.read()[0]
        res = asyncio.run(crowd(url, n, args.actions, (args.think_min, args.think_max), CHECKPOINTS,
                                while_held=measure_held))
        wall, cpu = time.monotonic() - t0, watch.read()[1] - cpu0
        if thread is not None:
            thread.join(300)
        mem["peak"] = max(s[1] for s in watch.samples[samples_from:])
        mem["held"] = held["all"]
        mem["after"] = rss_after_close(url, watch, TTL + 3)
        res.errors += warm.errors + page_out["errors"] + [f"page websocket {k} closed" for k in page_out["closed"]]
        return {"n": n, "results": res, "mem": mem, "cpu_pct": 100 * cpu / wall, "wall": wall, "pages": page_out}


def print_level(level: dict) -> None:
    res, mem = level["results"], level["mem"]
    print(f"\nN = {level['n']}: {res.actions} actions in {level['wall']:.0f} s, errors {len(res.errors)}, "
          f"server CPU {level['cpu_pct']:.0f}% of one core")
    for action, s in res.summary().items():
        print(f"  {action:26s} median {s['median_ms']:7.0f} ms   p95 {s['p95_ms']:7.0f} ms   (n={s['n']})")
    per_session = (mem["held"] - mem["one"]) / (level["n"] - 1) if level["n"] > 1 else float("nan")
    print(f"  server RSS: start {mem['start']:.0f} MB, one session {mem['one']:.0f} MB, all {level['n']} connected "
          f"{mem['held']:.0f} MB, peak {mem['peak']:.0f} MB, after all closed {mem['after']:.0f} MB "
          f"({mem['after'] - mem['one']:+.0f} MB vs one session); per extra connected session "
          f"{per_session:.1f} MB")
    pages = level["pages"]
    if pages["load"]:
        print(f"  real pages alongside: {len(pages['load'])} loaded, median {statistics.median(pages['load']):.1f} s; "
              f"click -> panel {', '.join(f'{t * 1000:.0f}' for t in pages['click'])} ms")
    for line in sorted(set(res.errors))[:10]:
        print(f"  error: {line}")


VALIDATE_JS = """() => {
  window.__lat = [];
  let frames = window.__vae?.live.frames;
  const look = () => {  // a new server-decoded frame since the last release
    const live = window.__vae?.live;
    if (live.frames > frames && window.__t0) { window.__lat.push(live.lastFrameAt - window.__t0); window.__t0 = 0; }
    frames = live.frames;
    requestAnimationFrame(look);
  };
  requestAnimationFrame(look);
  document.addEventListener('pointerup', () => { window.__t0 = performance.now(); }, true);
}"""


async def browser_releases(url: str, n: int, moves: int, think: tuple) -> list[float]:
    """n real pages at once, each switching to server decoding and clicking along the z0 track."""
    import random

    from playwright.async_api import async_playwright
    out, lost = [], []

    async def one(browser, k):
        rng = random.Random(k)
        ctx = await browser.new_context(viewport={"width": 1400, "height": 1000})
        page = await ctx.new_page()
        await page.goto(url)
        await page.get_by_text("Decoder", exact=True).wait_for(timeout=120_000)
        await page.wait_for_function("window.__vae?.live && window.__vae?.live.frames > 0", timeout=120_000)
        await page.get_by_text("Live decoding in the browser").click()
        await page.wait_for_function("window.__vae?.live.remote && window.__vae?.live.lastFrameAt", timeout=60_000)
        await page.wait_for_timeout(2000)
        await page.evaluate(VALIDATE_JS)
        box = await page.get_by_role("slider", name="live z0").bounding_box()
        for j in range(moves):
            before = await page.evaluate("window.__lat.length")
            await page.mouse.click(box["x"] + box["width"] * rng.uniform(0.1, 0.9), box["y"] + box["height"] / 2)
            try:
                await page.wait_for_function(f"window.__lat.length > {before}", timeout=10_000)
            except Exception:  # the click moved nothing (it fell on the thumb): no new frame
                lost.append(k)
            await asyncio.sleep(rng.uniform(*think))
        out.extend(await page.evaluate("window.__lat"))
        await ctx.close()

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        await asyncio.gather(*(one(browser, k) for k in range(n)))
        await browser.close()
    if lost:
        print(f"  ({len(lost)} of {n * moves} clicks on a slider track brought no new digit within 10 s)")
    return [v / 1000 for v in out if v == v]  # NaN: the digit changed with no click before it (a rerun)


async def protocol_releases(url: str, n: int, moves: int, think: tuple) -> list[float]:
    import random

    from testkit.load import decode_request
    from testkit.st_client import Session
    out = []

    async def one(k):
        rng = random.Random(k)
        async with Session(url) as s:
            await s.rerun()
            await s.rerun(s.toggle(next(key for key in s.widgets if key.startswith("live_")), False))
            for _ in range(moves):
                z = [round(rng.uniform(-3, 3), 2), 0.0]
                out.append(await asyncio.to_thread(decode_request, s, z))  # as the page asks, per frame
                await s.rerun(s.component_state("live", {"z": z}), fragment_id=s.widget("live").fragment_id)
                await asyncio.sleep(rng.uniform(*think))

    await asyncio.gather(*(one(k) for k in range(n)))
    return out


def validate(home: Path, moves: int) -> None:
    """The same gesture, N = 5 at once: real pages (pointerup -> new digit in the DOM) and protocol
    sessions (the route asked -> its pixels received), on one server."""
    think = (0.3, 1.0)
    with serve_process(env={"VAE_EXPLORER_HOME": str(home)}) as (url, _):
        asyncio.run(protocol_releases(url, 1, 2, think))  # warm
        pages = asyncio.run(browser_releases(url, 5, moves, think))
        proto = asyncio.run(protocol_releases(url, 5, moves, think))
    for name, xs in (("5 real pages", pages), ("5 protocol sessions", proto)):
        print(f"validation, server decoding release -> digit, {name}: median {1000 * statistics.median(xs):.0f} ms, "
              f"p95 {1000 * float(np.percentile(xs, 95)):.0f} ms (n={len(xs)})")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sessions", type=int, nargs="*", default=[1, 5, 20, 50, 100])
    p.add_argument("--actions", type=int, default=30, help="scripted actions per session")
    p.add_argument("--think-min", type=float, default=0.5, help="seconds between a user's actions, at least")
    p.add_argument("--think-max", type=float, default=2.0)
    p.add_argument("--browsers", type=int, default=2, help="real Chromium pages alongside each level")
    p.add_argument("--validate", action="store_true", help="also compare with 5 real browsers at N = 5")
    p.add_argument("--no-arena-limit", dest="arenas", action="store_false",
                   help="serve without MALLOC_ARENA_MAX=2 (scripts/app.sh sets it; the app alone sets it later)")
    args = p.parse_args()
    home = make_home(Path(tempfile.mkdtemp(prefix="vae-load-")))
    print(f"each session: {args.actions} actions, {args.think_min}-{args.think_max} s apart; half decode on the "
          f"server (the route per release, then a commit), half live (commits from the page); plus prior samples, map clicks, tab "
          f"switches with canvas and interpolation changes, checkpoint switches. Latencies: median / p95.")
    for n in args.sessions:
        print_level(one_level(n, args, home))
    if args.validate and CHROMIUM.exists():
        validate(home, moves=10)


if __name__ == "__main__":
    main()
