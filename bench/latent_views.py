"""Reading a latent space, measured: the Traverse grid decoded in the page, the map's analysis layers
(server ms, bytes to the page, and what a toggle sends), and the t-SNE / UMAP planes (seconds for the
10,000 test means, once per checkpoint; reading the cached plane).

Usage: python bench/latent_views.py [--clicks 10] [--skip-planes]   (the browser part needs /usr/bin/chromium)
"""
import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from testkit import ROOT
from testkit.browser import CHROMIUM, chromium, serve, wait_idle

Z10 = "checkpoints/mnist-mlp-z10.pt"


def snapshot_of(name: str):
    from explorer.backend import models
    from vae_core.sealed import file_digest
    path = ROOT / name
    return models.build_snapshot(name, str(path), file_digest(path))


def layer_costs(name: str) -> None:
    """Server ms per layer (median of 5), PNG bytes, for a model's default map plane."""
    from explorer.backend import layers
    from explorer.backend.infer import decode
    from explorer.backend.projection import axes, pca
    view = snapshot_of(name)
    proj = axes(2) if view.latent_dim == 2 else pca(view.mu)
    xy = proj.to_xy(view.mu)
    extent = (*(xy.min(0) - 0.3), *(xy.max(0) + 0.3))
    extent = (extent[0], extent[2], extent[1], extent[3])
    base = np.zeros(view.latent_dim)
    import plots
    figure = len(plots.latent_map(xy, view.labels, view.classes).to_json())
    print(f"  {name}: the map's figure (its 10,000 points) is {figure:,} bytes of JSON, "
          "which a layer toggle does not re-send")
    for kind in layers.KINDS:
        times, uri = [], ""
        for _ in range(5):
            t0 = time.perf_counter()
            if kind == "holes":
                uri = layers.holes_png(*layers.holes(view, proj, base, extent))
            else:
                uri = layers.magnification_png(layers.magnification(lambda z: decode(view, z), proj, base, extent))
            times.append(1000 * (time.perf_counter() - t0))
        print(f"  {name} {kind:13s}: {statistics.median(times):6.1f} ms on the server (median of 5), "
              f"{len(uri):,} bytes to the page")


def planes(name: str, methods: list[str]) -> None:
    from explorer.backend import embed
    view = snapshot_of(name)
    folder = Path(tempfile.mkdtemp())
    for method in methods:
        path = embed.path_for(folder, view.digest, method)
        t0 = time.perf_counter()
        embed.compute(view.mu, method, path, view.digest)
        computed = time.perf_counter() - t0
        t0 = time.perf_counter()
        embed.read(path, view.digest, method, len(view.mu))
        print(f"  {name} {method}: {computed:.1f} s to compute for {len(view.mu):,} points (its own process, "
              f"imports included); {1000 * (time.perf_counter() - t0):.2f} ms to read back on reopening")


RECEIVED_JS = "(() => window.__benchReceived || 0)()"


def browser(clicks: int) -> None:
    cache = tempfile.mkdtemp()
    with serve(env={"VAE_EXPLORER_CACHE": cache}) as url, chromium() as page:
        received = []
        page.on("websocket", lambda ws: ws.on("framereceived", lambda f: received.append(len(f))))
        page.goto(f"{url}/?ckpt={Z10}&tab=traverse")
        page.wait_for_function("window.__vae?.traverse?.draws >= 1", timeout=180_000)
        wait_idle(page)
        first = page.evaluate("window.__vae.traverse")
        print(f"  Traverse, {Z10}: {first['cells']} cells decoded in the page in {first['ms']:.1f} ms")
        redraws, decodes = [], []
        for k in range(clicks):  # a base change: a click on a cell moves the decoder, the grid re-centres there
            canvas = page.get_by_test_id(f"traverse-z{first['msg']['rows'][k % 3]['dim']}")
            box = canvas.bounding_box()
            draws = page.evaluate("window.__vae.traverse.draws")
            page.evaluate("""(el) => el.addEventListener('pointerup', () => { window.__benchUp = performance.now(); },
                           {once: true})""", canvas.element_handle())
            canvas.click(position={"x": 28 + 56 * (k % 9), "y": box["height"] / 2})
            page.wait_for_function(f"window.__vae.traverse.draws > {draws}", timeout=60_000)
            t = page.evaluate("[window.__vae.traverse.at - window.__benchUp, window.__vae.traverse.ms]")
            redraws.append(t[0])
            decodes.append(t[1])
            wait_idle(page, 300)
        print(f"  base change (pointerup on a cell -> grid redrawn): median {statistics.median(redraws):.0f} ms, "
              f"max {max(redraws):.0f} ms over {clicks} clicks (of which decoding {statistics.median(decodes):.0f} ms)")
        page.goto(f"{url}/?ckpt={Z10}")
        page.locator(".js-plotly-plot").first.wait_for(timeout=120_000)
        wait_idle(page, 1000)
        for label in ("Where the data is not", "Decoder magnification", "None"):
            received.clear()
            page.get_by_text(label, exact=True).click()
            wait_idle(page, 1000)
            print(f"  layer toggle to {label!r}: {sum(received):,} bytes received by the page "
                  f"in {len(received)} messages")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clicks", type=int, default=10)
    ap.add_argument("--skip-planes", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("VAE_EXPLORER_CACHE", tempfile.mkdtemp())
    from explorer.backend import embed
    print("analysis layers (server):")
    for name in ("checkpoints/mnist-mlp-z2.pt", Z10):
        layer_costs(name)
    if not args.skip_planes:
        print("nonlinear planes:")
        planes(Z10, embed.available())
    if CHROMIUM.exists():
        print("browser:")
        browser(args.clicks)


if __name__ == "__main__":
    main()
