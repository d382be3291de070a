"""A model near the loader's limit, opened as a person would: a sealed MLP checkpoint of ~95 M
parameters (the loader allows 100 M), `streamlit run` on it, headless Chromium opening the page.

Reports, in one run: writing the checkpoint; the first viewer's open (the server reads and checks the
checkpoint, encodes the 10,000 test digits once and writes the snapshot) from page.goto to the map
seen and to the sidebar's line saying the server decodes; a second viewer's open (from the
snapshot); when each page drew its first digit (decoded by the server); the server's RSS at its
peak and once settled; the bytes each page was sent over the websocket (the decoder's weights, 181 MB
as float32 at 95 M parameters, must not be among them: over the page budget the server decodes).

Usage: python bench/big_model.py [--params 95e6] [--screenshot opening.png]
"""
import argparse
import tempfile
import time
from pathlib import Path

import torch

from explorer.backend import picker, snapshot
from testkit.browser import chromium, serve_process
from testkit.load import ProcessWatch
from vae_core.checkpoint import save_checkpoint
from vae_core.model import VAE, VAEConfig

SEEN_JS = "window.__vae?.mapPreview || document.querySelector('.js-plotly-plot .gl-container canvas')"
SERVER_LINE = "the server decodes each frame"


def config_for(params: float) -> VAEConfig:
    """A 784-8192-w-2 MLP with w chosen to bring it to about `params` parameters."""
    def fits(width: int) -> bool:
        try:
            return VAEConfig(latent_dim=2, hidden=[8192, width]).parameter_count() <= params
        except ValueError:  # over the loader's own limit
            return False

    lo, hi = 16, 16384
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return VAEConfig(latent_dim=2, hidden=[8192, lo])


def open_page(url: str, shot: str | None = None) -> dict:
    """One viewer: seconds from goto to the map seen and to the server-decoding line, bytes received.
    shot: a screenshot of the page while it opens (the progress bar), 5 s after goto."""
    received = []
    with chromium(viewport=(1400, 1000)) as page:
        page.on("websocket", lambda ws: ws.on("framereceived", lambda f: received.append(len(f))))
        t0 = time.monotonic()
        page.goto(url)
        if shot:
            page.wait_for_timeout(5000)
            page.screenshot(path=shot)
        page.wait_for_function(SEEN_JS, timeout=600_000, polling=100)
        seen = time.monotonic() - t0
        page.get_by_text(SERVER_LINE).first.wait_for(timeout=120_000)
        line = time.monotonic() - t0
        page.wait_for_function("window.__vae?.live && window.__vae?.live.frames > 0", timeout=120_000)
        digit = time.monotonic() - t0
        page.wait_for_timeout(2000)  # what else the page is sent once drawn
    return {"seen": seen, "line": line, "digit": digit, "mb": sum(received) / 2**20}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--params", type=float, default=95e6)
    ap.add_argument("--screenshot", help="PNG of the first viewer's page 5 s after it opened (while it waits)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        cfg = config_for(args.params)
        t0 = time.monotonic()
        torch.manual_seed(0)
        model = VAE(cfg)
        save_checkpoint(home / "checkpoints" / "big.pt", model, dataset="mnist")
        size = (home / "checkpoints" / "big.pt").stat().st_size
        print(f"checkpoint: hidden {cfg.hidden}, {cfg.parameter_count() / 1e6:.1f} M parameters, {size / 2**20:.0f} MB "
              f"(decoder {4 * sum(p.numel() for p in model.decoder.parameters()) / 2**20:.0f} MB against a page "
              f"budget of {snapshot.PAGE_BUDGET >> 20} MB), written in {time.monotonic() - t0:.1f} s")
        del model
        env = {picker.HOME_ENV: str(home), snapshot.CACHE_ENV: str(home / "cache")}
        with serve_process(env) as (url, proc), ProcessWatch(proc.pid) as watch:
            idle = watch.read()[0]
            first = open_page(url, args.screenshot)
            second = open_page(url)
            time.sleep(3)
            settled = watch.read()[0]
        peak = max(rss for _, rss, _ in watch.samples)
    for name, r in (("first viewer (builds the snapshot)", first), ("second viewer (from the snapshot)", second)):
        print(f"{name}: map seen {r['seen']:.1f} s, server-decoding line {r['line']:.1f} s, digit drawn "
              f"{r['digit']:.1f} s after goto; page sent {r['mb']:.1f} MB over the websocket")
    print(f"server RSS: {idle:.0f} MB idle, peak {peak:.0f} MB, {settled:.0f} MB settled after both viewers")


if __name__ == "__main__":
    main()
