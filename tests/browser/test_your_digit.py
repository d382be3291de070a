"""Your digit in Chromium: the page's preprocessing and encoder against Python and torch, the marker, refusals,
and drawing with a real pointer in the served app."""
import base64
import re

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from explorer.backend import prep, uploads, weights
from testkit import ROOT, SHIPPED
from testkit.browser import (
    CHROMIUM,
    COUNT_SENT_JS,
    chromium,
    load_draw_module,
    serve,
    wait_for_app,
    wait_idle,
)
from testkit.synthetic import one, png
from vae_core.checkpoint import load_checkpoint
from vae_core.model import VAE, VAEConfig


def _draw_rgba(page, strokes: list, width: int = 18, side: int = 280) -> np.ndarray:
    """Strokes drawn by the browser's own canvas, white on black, as the panel draws them: RGBA."""
    data = page.evaluate("""([strokes, width, side]) => {
      const c = document.createElement('canvas'); c.width = c.height = side;
      const ctx = c.getContext('2d', {willReadFrequently: true});
      ctx.fillStyle = '#000'; ctx.fillRect(0, 0, side, side);
      Object.assign(ctx, {strokeStyle: '#fff', lineWidth: width, lineCap: 'round', lineJoin: 'round'});
      for (const pts of strokes) {
        ctx.beginPath(); ctx.moveTo(...pts[0]); pts.slice(1).forEach((p) => ctx.lineTo(...p)); ctx.stroke();
      }
      return Array.from(ctx.getImageData(0, 0, side, side).data);
    }""", [strokes, width, side])
    return np.array(data, np.uint8).reshape(side, side, 4)


def _cases() -> dict[str, np.ndarray]:
    """Uploaded-style RGBA images: off-centre, tiny, huge, dark on light, colour, transparent."""
    rng = np.random.default_rng(3)
    out = {}
    im = Image.new("L", (200, 160), 0)
    ImageDraw.Draw(im).line([(150, 20), (190, 20), (160, 140)], fill=255, width=9)  # a "7" in a corner
    out["off-centre 7"] = np.asarray(im.convert("RGBA"))
    tiny = np.zeros((7, 5), np.uint8)
    tiny[1:6, 2] = 255
    out["tiny 5x7"] = np.asarray(Image.fromarray(tiny).convert("RGBA"))
    huge = Image.new("L", (1200, 900), 250)
    ImageDraw.Draw(huge).ellipse((400, 150, 800, 750), outline=10, width=60)  # a dark "0" on paper
    out["huge dark-on-light 0"] = np.asarray(huge.convert("RGBA"))
    colour = Image.new("RGB", (120, 150), (250, 230, 90))
    ImageDraw.Draw(colour).line([(30, 30), (90, 30), (40, 130)], fill=(20, 40, 200), width=12)
    out["colour"] = np.asarray(colour.convert("RGBA"))
    clear = np.zeros((90, 60, 4), np.uint8)
    clear[10:80, 25:33] = (0, 0, 0, 255)
    clear[10:80, 33:36] = (0, 0, 0, 128)
    out["transparent"] = clear
    noisy = np.clip(rng.normal(40, 12, (100, 100)), 0, 255).astype(np.uint8)
    noisy[20:80, 45:55] = 200
    out["noisy photo"] = np.asarray(Image.fromarray(noisy).convert("RGBA"))
    return out


@pytest.fixture
def draw_page():
    """A blank Chromium page holding the panel's modules (a tiny encoder; the preprocessing; onMap)."""
    torch.manual_seed(0)
    blob = weights.pack_encoder(VAE(VAEConfig(latent_dim=2, hidden=[8])), model_id="t", prep=prep.constants(),
                                with_decoder=False)
    with chromium() as page:
        page.goto("about:blank")
        load_draw_module(page, blob, prep.constants())
        yield page


def test_page_preprocessing_is_pythons_pixel_for_pixel(draw_page):
    page = draw_page
    cases = _cases()
    cases["drawn 1"] = _draw_rgba(page, [[[150, 40], [140, 240]]])
    cases["drawn 0"] = _draw_rgba(page, [[[140 + 60 * np.sin(t), 140 - 90 * np.cos(t)]
                                          for t in np.linspace(0, 2 * np.pi, 40)]], width=14)
    cases["drawn 4, thin"] = _draw_rgba(page, [[[80, 40], [60, 160], [200, 160]], [[170, 60], [170, 250]]], 6)
    for name, rgba in cases.items():
        h, w = rgba.shape[:2]
        got = page.evaluate("([b64, w, h]) => window.__prepare(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)), "
                            "w, h)", [base64.b64encode(rgba.tobytes()).decode(), w, h])
        want = prep.prepare_rgba(rgba)
        assert want.max() > 150, name  # a digit, not an empty frame
        assert np.abs(np.array(got).reshape(28, 28).astype(int) - want).max() <= 1, name
    inky = np.full((30, 30, 4), 255, np.uint8)
    inky[1:-1, 1:-1, :3] = 0  # black, inside a white frame: 87% ink once inverted
    for image in (np.full((30, 30, 4), 255, np.uint8), np.dstack([np.zeros((30, 30, 3), np.uint8),
                                                                np.full((30, 30), 255, np.uint8)]), inky):
        with pytest.raises(prep.DigitError) as e:
            prep.prepare_rgba(image)
        err = page.evaluate("(b64) => { try { window.__prepare(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)), "
                            "30, 30); return null; } catch (e) { return e.message; } }",
                            base64.b64encode(image.tobytes()).decode())
        assert err == str(e.value)  # the same line on both sides


@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_page_encoder_matches_torch(arch, mnist_test):
    if arch == "mlp" and SHIPPED.is_file():
        model = load_checkpoint(SHIPPED)[0]
    else:
        torch.manual_seed(0)
        model = VAE(VAEConfig(arch=arch, latent_dim=3, hidden=[32, 16], conv_channels=[8, 16]))
    model.eval()
    x = torch.cat([mnist_test.floats()[:40], torch.rand(10, 1, 28, 28, generator=torch.Generator().manual_seed(0))])
    with torch.no_grad():
        mu, logvar = (t.numpy() for t in model.encode(x))
    blob = weights.pack_encoder(model, model_id="t", prep=prep.constants(), with_decoder=False)
    with chromium() as page:
        page.goto("about:blank")
        load_draw_module(page, blob, prep.constants())
        got = page.evaluate("(xs) => xs.map(window.__encode)", x.reshape(50, 784).tolist())
    assert len(got) == 50
    assert np.abs(np.array([g["mu"] for g in got]) - mu).max() < 1e-4
    assert np.abs(np.array([g["logvar"] for g in got]) - logvar).max() < 1e-4


def test_the_marker_follows_the_maps_projection(draw_page):
    """A 5-D posterior through a PCA-like plane: the page's marker is Projection.to_xy, and its ellipse
    points lie on Projection.ellipse's 2-sigma contour."""
    from explorer.backend.projection import Projection
    rng = np.random.default_rng(4)
    W = np.linalg.qr(rng.normal(size=(5, 2)))[0]
    proj = Projection(rng.normal(size=5), W, ("", ""))
    mu, logvar = rng.normal(size=5), rng.normal(-1, 0.5, size=5)
    got = draw_page.evaluate("([proj, mu, lv]) => window.__onMap(proj, mu, lv)",
                             [{"center": proj.center.tolist(), "W": proj.W.tolist()}, mu.tolist(), logvar.tolist()])
    np.testing.assert_allclose([got["x"], got["y"]], proj.to_xy(mu), atol=1e-9)
    cov = W.T @ np.diag(np.exp(logvar)) @ W
    d = np.stack([got["ellipse"]["x"], got["ellipse"]["y"]], 1) - proj.to_xy(mu)
    np.testing.assert_allclose(np.einsum("ni,ij,nj->n", d, np.linalg.inv(cov), d), 4.0, rtol=1e-9)
    reference = proj.ellipse(mu, logvar) - proj.to_xy(mu)  # the Python ellipse: the same contour
    np.testing.assert_allclose(np.einsum("ni,ij,nj->n", reference, np.linalg.inv(cov), reference), 4.0, rtol=1e-9)


MOUNT_DRAW_JS = """async ([encoderSource, drawSource, blob64, message]) => {
  const load = async (source) => (await import(URL.createObjectURL(new Blob([source], {type: 'text/javascript'})))).default;
  const [encoder, draw] = [await load(encoderSource), await load(drawSource)];
  const errors = [], log = console.error;
  console.error = (...a) => { errors.push(a.join(' ')); log(...a); };
  encoder({data: Uint8Array.from(atob(blob64), (c) => c.charCodeAt(0))});
  const div = document.createElement('div');
  document.body.appendChild(div);
  draw({data: new TextEncoder().encode(message), key: 'k', parentElement: div, setStateValue: () => {}});
  console.error = log;
  return {text: div.innerText, errors, canvases: div.querySelectorAll('canvas').length};
}"""


def _with_header(blob: bytes, change) -> bytes:
    header, start = weights.read_header(blob)
    change(header)
    return weights.write(header, blob[start:])


@pytest.mark.parametrize("case, words", [
    ("op", 'your digit: unknown layer op "conv3d"'),
    ("blob version", "your digit: weights format version 2, this page reads 1"),
    ("message version", "your digit: draw message version 9, this page reads 1"),
])
def test_the_panel_refuses_what_it_cannot_read_visibly(case, words):
    from explorer.panels import your_digit
    torch.manual_seed(0)
    blob = weights.pack_encoder(VAE(VAEConfig(arch="conv", latent_dim=2, hidden=[8], conv_channels=[4, 8])),
                                model_id="m", prep=prep.constants(), with_decoder=False)
    if case == "op":
        blob = _with_header(blob, lambda h: h["layers"][0].update(op="conv3d"))
    elif case == "blob version":
        blob = _with_header(blob, lambda h: h.update(version=2))
    message = 'VAED{"v": %d, "model": "m", "proj": {"center": [0, 0], "W": [[1, 0], [0, 1]]}}' % (
        9 if case == "message version" else 1)
    with chromium() as page:
        page.goto("about:blank")
        out = page.evaluate(MOUNT_DRAW_JS, [your_digit.ENCODER_JS, your_digit.DRAW_JS,
                                            base64.b64encode(blob).decode(), message])
    assert words in out["text"] and any(words in e for e in out["errors"]), out
    assert out["canvases"] == 0  # no canvas to draw into an encoder that cannot run


@pytest.fixture(scope="module")
def app_url():
    if not CHROMIUM.exists() or not SHIPPED.is_file():
        pytest.skip("needs chromium and the shipped checkpoint")
    with serve() as url:
        yield url


def open_panel(page, url):
    page.add_init_script(COUNT_SENT_JS)
    wait_for_app(page, url)
    wait_idle(page, 500)
    page.get_by_text("Your digit: draw one").click()
    page.get_by_test_id("draw-canvas").wait_for(timeout=60_000)
    page.wait_for_function("window.__vae?.draw && window.__vae?.draw.ready", timeout=60_000)
    wait_idle(page, 800)


def stroke(page, points: list) -> int:
    """Draw one stroke with the mouse through canvas-relative points; messages sent while it was drawn."""
    box = page.get_by_test_id("draw-canvas").bounding_box()
    at = [(box["x"] + x * box["width"] / 280, box["y"] + y * box["height"] / 280) for x, y in points]
    page.mouse.move(*at[0])
    page.mouse.down()
    before = page.evaluate("window.__sent")
    for p in at[1:]:
        page.mouse.move(*p, steps=2)
    during = page.evaluate("window.__sent") - before
    page.mouse.up()
    return during


def neighbour_labels(page) -> list[str]:
    near = page.locator('[data-testid^="near-"]')
    near.nth(7).wait_for(timeout=30_000)
    return near.all_inner_texts()


@pytest.mark.parametrize("digit, points", [
    ("1", [(140, 40), (137, 100), (134, 170), (132, 240)]),
    ("0", [(140 + 60 * np.sin(t), 140 - 95 * np.cos(t)) for t in np.linspace(0, 2 * np.pi, 30)]),
])
def test_drawing_a_digit_places_it_among_its_kind_without_the_server(app_url, digit, points):
    with chromium() as page:
        open_panel(page, app_url)
        frames = page.evaluate("window.__vae?.draw.frames")
        during = stroke(page, points)
        assert page.evaluate("window.__vae?.draw.frames") > frames + 1  # encoded while drawing
        labels = neighbour_labels(page)
        shapes = page.evaluate("document.querySelector('.st-key-map .js-plotly-plot').layout.shapes || []")
        drawn = page.evaluate("window.__vae?.drawn")
        if digit == "0":
            page.get_by_text("nearest test digits").scroll_into_view_if_needed()
            page.screenshot(path=str(ROOT / "tests" / "out" / "04-your-digit.png"))
        first = page.locator('[data-testid^="near-"]').first
        index = int(first.get_attribute("data-testid")[5:])
        first.click()  # selects that test digit, as a click on the map does
        page.get_by_text(f"Test digit #{index} · {digit}").wait_for(timeout=30_000)
    assert during == 0  # nothing reaches the server while the stroke is drawn
    assert labels.count(digit) >= 6, labels
    assert drawn and drawn["map"] is not None
    you = [s for s in shapes if (s.get("label") or {}).get("text") == "<b>you</b>"]
    assert len(you) == 1 and abs(you[0]["xanchor"] - drawn["map"]["x"]) < 1e-9  # the marker on the big map


def test_with_live_decoding_off_the_panel_brings_its_own_decoder(app_url):
    with chromium() as page:
        open_panel(page, app_url)
        page.get_by_text("Live decoding in the browser").click()
        page.wait_for_function("window.__vae?.live.remote", timeout=30_000)  # the page holds no decoder now
        page.wait_for_function("window.__vae?.draw.ready", timeout=30_000)
        wait_idle(page, 500)
        page.evaluate("window.__vae?.nets.clear()")  # forget the live decoder this page held before
        stroke(page, [(140, 40), (135, 240)])
        page.get_by_text("encoded and reconstructed in your browser").wait_for(timeout=10_000)
        ink = page.get_by_test_id("draw-recon").evaluate(
            "(c) => c.getContext('2d').getImageData(0, 0, 28, 28).data.filter((v, i) => i % 4 === 0 && v > 128).length")
    assert ink > 10  # a reconstructed "1", decoded with the decoder that came with the encoder


def test_clear_and_a_bad_upload_each_say_one_line_in_the_page(app_url, tmp_path):
    with chromium() as page:
        open_panel(page, app_url)
        stroke(page, [(140, 40), (135, 240)])
        neighbour_labels(page)
        page.get_by_test_id("draw-clear").click()
        page.get_by_text("Draw a digit here, or upload an image below.").wait_for(timeout=10_000)
        assert page.evaluate("window.__vae?.drawn") is None  # the marker goes with the drawing
        uploader = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
        for name, content, words in [("photo.png", b"this is not a picture", "That file is not a PNG, JPEG, WebP or GIF"),
                                     ("bomb.png", png(np.zeros((8000, 8000), np.uint8)), "The image is 8000×8000 (64 megapixels), over the 40"),
                                     ("white.png", png(np.full((40, 40), 255, np.uint8)), "The image is one flat colour")]:
            (tmp_path / name).write_bytes(content)
            uploader.set_input_files(str(tmp_path / name))
            page.get_by_text(f"{name}: {words}").wait_for(timeout=30_000)
        (tmp_path / "big.png").write_bytes(bytes(uploads.MAX_BYTES + 1))
        uploader.set_input_files(str(tmp_path / "big.png"))  # refused by the page itself, before it is sent
        page.get_by_text(re.compile(r"File must be .*MB or smaller")).wait_for(timeout=10_000)
        good = tmp_path / "one.png"
        good.write_bytes(png(one()))
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(good))
        assert neighbour_labels(page).count("1") >= 6
        page.wait_for_function("window.__vae?.drawn && window.__vae?.drawn.map", timeout=10_000)  # placed by the page too
