"""The Train view, measured side by side in one run: training throughput alone and with viewers
watching live, frames arriving per second, Start click -> first frame drawn, replay frames per second
and websocket messages while it plays, the bytes of the shipped model's history, and the server's RSS
with a run watched by 5 sessions against none.

Usage: python bench/train_view.py [--epochs 2] [--viewers 1,5] [--skip-replay]   (needs /usr/bin/chromium)
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from testkit import ROOT, SHIPPED, logged_epoch_seconds
from testkit.browser import chromium, serve_process, wait_idle
from testkit.load import cpu_seconds, rss_mb
from vae_core import history


def cpu_by_group() -> dict[str, float]:
    """CPU seconds used so far by every process here, grouped: the training process, Chromium (all its
    processes), the Streamlit server, this bench (Playwright's driver is counted as 'other')."""
    me = os.getpid()
    out: dict[str, float] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            used = cpu_seconds(int(d.name))
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        group = ("train.py" if "train.py" in cmd else "chromium" if "chromium" in cmd
                 else "server" if "streamlit" in cmd else "bench" if int(d.name) == me else "other")
        out[group] = out.get(group, 0.0) + used
    return out


def train_alone(home: Path, name: str, epochs: int) -> float:
    """Seconds of training (the epochs' own seconds, from metrics.jsonl) of the quick preset."""
    out = home / "runs" / name
    subprocess.run([sys.executable, str(ROOT / "train.py"), "--quick", "--epochs", str(epochs), "--out", str(out),
                    "--data-root", str(ROOT / "data")], check=True, stdout=subprocess.DEVNULL,
                   env={"TQDM_DISABLE": "1", "PATH": "/usr/bin:/bin"})
    return sum(logged_epoch_seconds(out))


def open_train(page, url: str) -> None:
    page.goto(url + "/?tab=train")
    page.get_by_text("VAE latent-space explorer").wait_for(timeout=120_000)
    wait_idle(page, timeout_ms=180_000)


def frames(page, h: str | None = None) -> int:
    """Frames the Train view holds (of history h: 0 while it shows another)."""
    return page.get_by_test_id("train-map").evaluate(
        "(el, h) => { const v = el.closest('.vae-train').vaeTrain; return !h || v.h === h ? v.frames() : 0; }", h)


def watched(url: str, home: Path, name: str, epochs: int, viewers: int, server_pid: int) -> dict:
    """The same quick run started from the first page's form, watched by `viewers` pages."""
    with chromium() as page:
        open_train(page, url)
        time.sleep(8)  # the waiting worker imports torch and reads MNIST meanwhile, as it does while a person fills the form
        others = []
        if not page.get_by_label("Run name").is_visible():
            page.get_by_text("New run").click()
        page.get_by_label("Epochs").fill(str(epochs))
        page.get_by_label("Run name").fill(name)
        t0 = time.perf_counter()
        page.get_by_role("button", name="Start").click()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if frames(page, f"runs/{name}/model.history") > 0:
                    break
            except Exception:  # noqa: BLE001  the view is not drawn yet
                pass
            time.sleep(0.02)
        first = time.perf_counter() - t0
        for _ in range(viewers - 1):  # more sessions, in the same browser: a page each
            p = page.context.browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            open_train(p, url)
            others.append(p)
        samples, rss, cpu0 = [], [], cpu_by_group()
        while len(logged_epoch_seconds(home / "runs" / name)) < epochs:  # metrics.jsonl, not the history: re-reading
            # and checking that twice a second would take CPU from the run being measured
            samples.append((time.perf_counter(), frames(page)))
            rss.append(rss_mb(server_pid))
            time.sleep(0.5)
        cpu = {k: v - cpu0.get(k, 0.0) for k, v in cpu_by_group().items()}
    span = samples[-1][0] - samples[0][0] if len(samples) > 1 else 1
    rate = (samples[-1][1] - samples[0][1]) / span if len(samples) > 1 else 0
    return {"first_frame_s": first, "frames_per_s": rate, "train_s": sum(logged_epoch_seconds(home / "runs" / name)),
            "rss_mb": max(rss) if rss else 0, "cpu": cpu, "span_s": span}


def replay(url: str) -> dict:
    with chromium() as page:
        sent = {"ws": 0, "bytes": 0}
        page.on("websocket", lambda ws: ws.on("framereceived", lambda _: sent.__setitem__("ws", sent["ws"] + 1)))
        page.on("response", lambda r: sent.__setitem__("bytes", sent["bytes"] + int(r.headers.get("content-length", 0)))
                if "api/vae/history" in r.url else None)
        open_train(page, url)
        n = len(history.read(history.path_for(SHIPPED)).frames)
        while frames(page) < n:
            time.sleep(0.2)
        page.get_by_test_id("train-play").click()
        ws0 = sent["ws"]
        c0 = page.get_by_test_id("train-map").evaluate("(el) => el.closest('.vae-train').vaeTrain.frameCount")
        time.sleep(3)
        c1 = page.get_by_test_id("train-map").evaluate("(el) => el.closest('.vae-train').vaeTrain.frameCount")
        return {"fps": (c1 - c0) / 3, "ws_messages": sent["ws"] - ws0, "history_bytes": sent["bytes"]}


def report(args, a1: float, a2: float, rep: dict, idle_rss: float, watches: dict) -> None:
    alone = (a1 + a2) / 2
    print(f"training seconds ({args.epochs} quick epochs): alone {a1:.2f} / {a2:.2f}; "
          + "; ".join(f"{n} viewer(s) live {w['train_s']:.2f} -> throughput {alone / w['train_s']:.0%} of alone"
                      for n, w in watches.items()))
    print("frames arriving in the page while training: "
          + ", ".join(f"{w['frames_per_s']:.1f}/s ({n} viewer(s))" for n, w in watches.items()))
    print("Start click -> first frame drawn (worker waiting): "
          + ", ".join(f"{w['first_frame_s']:.2f} s" for w in watches.values()))
    if rep:
        print(f"replay: {rep['fps']:.0f} frames/s drawn while playing, {rep['ws_messages']} websocket messages "
              f"in 3 s of play; the shipped history sent once: {rep['history_bytes'] / 1e6:.2f} MB")
    print(f"server RSS: {idle_rss:.0f} MB with no run; peak "
          + ", ".join(f"{w['rss_mb']:.0f} MB watched by {n}" for n, w in watches.items()))
    for n, w in watches.items():
        shares = ", ".join(f"{k} {v:.1f} s" for k, v in sorted(w["cpu"].items(), key=lambda kv: -kv[1]) if v >= 0.05)
        print(f"CPU while watched by {n} ({w['span_s']:.1f} s of wall x {os.cpu_count()} cores = "
              f"{os.cpu_count() * w['span_s']:.0f} CPU-s): {shares}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--viewers", default="1,5", help="comma-separated numbers of pages watching, one run each")
    ap.add_argument("--skip-replay", action="store_true")
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="train-view-"))
    (home / "checkpoints").mkdir()
    shutil.copy(SHIPPED, home / "checkpoints" / SHIPPED.name)
    shutil.copy(history.path_for(SHIPPED), home / "checkpoints" / history.path_for(SHIPPED).name)
    (home / "data").symlink_to(ROOT / "data")
    env = {"VAE_EXPLORER_HOME": str(home), "VAE_EXPLORER_CACHE": str(home / "cache")}
    a1 = train_alone(home, "alone-1", args.epochs)
    with serve_process(env=env) as (url, proc):
        rep = {} if args.skip_replay else replay(url)
        idle_rss = rss_mb(proc.pid)
        watches = {int(n): watched(url, home, f"watched-{n}", args.epochs, int(n), proc.pid)
                   for n in args.viewers.split(",")}
    a2 = train_alone(home, "alone-2", args.epochs)
    report(args, a1, a2, rep, idle_rss, watches)
    per_epoch = (home / "runs" / "alone-1" / "model.history").stat().st_size / args.epochs
    print(f"history bytes per quick epoch: {per_epoch / 1e3:.0f} KB")
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
