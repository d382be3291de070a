"""Reading a latent space in a real browser: the Traverse view, the map's analysis layers and the
t-SNE plane, with a 2-D, a 10-D, a conv and a Fashion-MNIST checkpoint."""
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from explorer.backend import embed, picker
from testkit import ROOT, SHIPPED
from testkit.browser import CHROMIUM, chromium, serve, wait_idle
from vae_core import data
from vae_core.checkpoint import load_checkpoint, save_checkpoint
from vae_core.model import VAE, VAEConfig
from vae_core.sealed import file_digest

Z10 = ROOT / "checkpoints" / "mnist-mlp-z10.pt"
pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (scripts/test.sh installs it)"),
    pytest.mark.skipif(not (SHIPPED.is_file() and Z10.is_file()), reason="no shipped checkpoints"),
]
NAMES = ["checkpoints/z2.pt", "checkpoints/z10.pt", "checkpoints/conv.pt"] + (
    ["checkpoints/fashion.pt"] * data.FASHION_DEBIAN_DIR.is_dir())


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    (home / "checkpoints").mkdir()
    shutil.copy(SHIPPED, home / "checkpoints" / "z2.pt")
    shutil.copy(Z10, home / "checkpoints" / "z10.pt")
    torch.manual_seed(0)
    save_checkpoint(home / "checkpoints" / "conv.pt", VAE(VAEConfig(arch="conv", hidden=[16], conv_channels=[4, 8])),
                    dataset="mnist")
    if data.FASHION_DEBIAN_DIR.is_dir():
        save_checkpoint(home / "checkpoints" / "fashion.pt", VAE(VAEConfig(latent_dim=3, hidden=[16])),
                        dataset="fashion-mnist")
    (home / "data").symlink_to(ROOT / "data")
    return home


@pytest.fixture(scope="module")
def app_url(home):
    with serve(env={picker.HOME_ENV: str(home), "VAE_EXPLORER_CACHE": str(home / "cache")}) as url:
        yield url


def open_page(page, url: str) -> None:
    page.goto(url)
    page.get_by_text("VAE latent-space explorer").wait_for(timeout=120_000)
    wait_idle(page, timeout_ms=180_000)


def traversal(page, draws: int = 1) -> dict:
    page.wait_for_function(f"window.__vae?.traverse?.draws >= {draws}", timeout=120_000)
    return page.evaluate("({msg: window.__vae.traverse.msg, draws: window.__vae.traverse.draws, "
                         "pixels: Array.from(window.__vae.traverse.pixels || [])})")


def torch_cells(path, msg: dict) -> np.ndarray:
    """Every cell of a traversal message decoded by torch: [cells, 784]."""
    model, _ = load_checkpoint(path)
    zs = []
    for r, row in enumerate(msg["rows"]):
        for v in msg["values"][r]:
            z = list(msg["base"])
            z[row["dim"]] = v
            zs.append(z)
    with torch.no_grad():
        return torch.sigmoid(model.decode(torch.tensor(zs, dtype=torch.float32))).view(len(zs), -1).numpy()


@pytest.mark.parametrize("name", NAMES)
def test_traverse_decodes_like_torch_and_a_cell_moves_the_decoder(app_url, home, name):
    with chromium() as page:
        open_page(page, f"{app_url}/?ckpt={name}&tab=traverse")
        assert page.get_by_test_id("traverse-error").count() == 0
        got = traversal(page)
        msg = got["msg"]
        d = len(msg["base"])
        assert len(msg["rows"]) == d and sorted(r["dim"] for r in msg["rows"]) == list(range(d))
        kls = [r["kl"] for r in msg["rows"]]
        assert kls == sorted(kls, reverse=True)  # sorted by KL
        pixels = np.asarray(got["pixels"], np.float64).reshape(-1, 784)
        np.testing.assert_allclose(pixels, torch_cells(home / name, msg), atol=1e-4)
        # a click on the first row's first cell: the decoder moves there, and the grid (based on it) follows
        row = page.get_by_test_id(f"traverse-z{msg['rows'][0]['dim']}")
        box = row.bounding_box()
        wait_idle(page)
        row.click(position={"x": 5, "y": box["height"] / 2})
        want = list(msg["base"])
        want[msg["rows"][0]["dim"]] = msg["values"][0][0]
        # the page redraws the grid around the clicked cell at once...
        page.wait_for_function(f"window.__vae.traverse.draws >= {got['draws'] + 1}", timeout=30_000)
        assert traversal(page)["msg"]["base"] == pytest.approx(want, abs=2e-3)
        # ...and the server took the click: the decoder's z (in the view's link) is the cell's
        page.wait_for_function("new URLSearchParams(location.search).get('z')?.split(',').some((v) => +v !== 0)",
                               timeout=60_000)
        linked = page.evaluate("new URLSearchParams(location.search).get('z')").split(",")
        assert [float(v) for v in linked] == pytest.approx(want, abs=2e-3)
        assert page.get_by_test_id("traverse").count() == 1  # still in the Traverse view, on the linked model
        assert page.evaluate("new URLSearchParams(location.search).get('ckpt')") == name
        with page.expect_download() as download:
            page.get_by_text("Download PNG", exact=True).click()
        with Image.open(download.value.path()) as png:  # the whole grid, folded rows too, with labels
            assert png.format == "PNG" and png.size == (90 + 9 * 56, d * 56)


def layer_image(page) -> dict | None:
    return page.evaluate("""() => { const gd = document.querySelector('.js-plotly-plot');
        const im = (gd && gd.layout.images || []).find((i) => i.name === 'vae-layer');
        return im ? {x: im.x, sizex: im.sizex, n: im.source.length} : null; }""")


@pytest.mark.parametrize("name", NAMES)
def test_both_layers_are_drawn_under_the_map(app_url, name):
    with chromium() as page:
        for layer in ("holes", "magnification"):
            open_page(page, f"{app_url}/?ckpt={name}&layer={layer}")
            page.wait_for_function("""() => { const gd = document.querySelector('.js-plotly-plot');
                return gd && (gd.layout.images || []).some((i) => i.name === 'vae-layer'); }""", timeout=60_000)
            im = layer_image(page)
            assert im["sizex"] > 0 and im["n"] > 200, (layer, im)  # a PNG data URI


def test_the_tsne_plane_places_the_test_digits_and_the_cross_at_the_nearest(app_url, home):
    path = home / "checkpoints" / "z10.pt"
    digest = file_digest(path)
    (home / "cache").mkdir(exist_ok=True)
    xy = np.random.default_rng(0).normal(size=(10_000, 2)).astype(np.float32) * 30  # a stand-in plane, sealed
    embed.write(embed.path_for(home / "cache", digest, "tsne"), xy, digest, "tsne")
    with chromium() as page:
        open_page(page, f"{app_url}/?ckpt=checkpoints/z10.pt&plane=tsne&z=" + ",".join(["0"] * 10))
        page.wait_for_function("document.querySelector('.js-plotly-plot')?._fullLayout", timeout=60_000)
        titles = page.evaluate("[document.querySelector('.js-plotly-plot')._fullLayout.xaxis.title.text]")
        assert titles == ["t-SNE 1"]
        xs = page.evaluate("document.querySelector('.js-plotly-plot')._fullData"
                           ".filter((t) => t.type === 'scattergl').map((t) => Array.from(t.x)).flat().length")
        assert xs == 10_000
        model, _ = load_checkpoint(path)
        with torch.no_grad():
            mu, _ = model.encode(data.load("mnist", False, ROOT / "data").floats())
        nearest = int((mu ** 2).sum(1).argmin())  # the test mean nearest z = 0
        page.wait_for_function("(document.querySelector('.js-plotly-plot').layout.shapes || []).length > 0")
        shapes = page.evaluate("document.querySelector('.js-plotly-plot').layout.shapes"
                               ".map((s) => [s.xanchor, s.yanchor])")
        assert [pytest.approx(float(v), abs=1e-3) for v in xy[nearest]] in [list(s) for s in shapes]
        assert page.get_by_text("This plane has no inverse").count() == 1

