"""Your digit: preprocessing (Python and the page's), uploads and their bounds, the encoder in the
page against torch, the panel in AppTest, and drawing with a real pointer in Chromium."""
import base64
import io
import json
import re
import time

import numpy as np
import pytest
import torch
from conftest import ROOT
from PIL import Image, ImageDraw
from streamlit.testing.v1 import AppTest

from explorer.backend import picker, prep, uploads, weights
from explorer.panels import your_digit
from testkit.browser import (
    CHROMIUM,
    COUNT_SENT_JS,
    chromium,
    load_draw_module,
    serve,
    wait_for_app,
    wait_idle,
)
from vae_core import data
from vae_core.checkpoint import load_checkpoint, save_checkpoint
from vae_core.losses import bernoulli_nll, elbo_parts, gaussian_kl
from vae_core.model import VAE, VAEConfig

APP = str(ROOT / "explorer" / "app.py")
SHIPPED = ROOT / picker.DEFAULT_CHECKPOINT
browser = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (scripts/test.sh installs it)")


def png(a: np.ndarray, mode: str | None = None, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a, mode).save(buf, fmt)
    return buf.getvalue()


def one(h=300, w=200, ink=20, paper=240) -> np.ndarray:
    """A dark "1" on light paper, off centre."""
    a = np.full((h, w), paper, np.uint8)
    a[50:150, 30:40] = ink
    return a


# ---- the recipe (explorer/prep.py)

def test_a_digit_is_scaled_into_20x20_and_centred_by_mass():
    out = prep.prepare(one())
    ys, xs = np.nonzero(out)
    assert ys.max() - ys.min() + 1 == 20  # the long side fills the 20-pixel box
    mass = out.astype(float)
    cy, cx = ((np.arange(28) + 0.5)[:, None] * mass).sum() / mass.sum(), ((np.arange(28) + 0.5) * mass).sum() / mass.sum()
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5
    assert out.max() == 255  # light on dark after the inversion


def test_dark_on_light_and_light_on_dark_give_the_same_digit():
    dark_on_light = one()
    np.testing.assert_array_equal(prep.prepare(dark_on_light), prep.prepare(255 - dark_on_light))


def test_colour_is_greyed_like_pillow():
    rgba = np.random.default_rng(0).integers(0, 256, (40, 30, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    want = np.asarray(Image.fromarray(rgba[..., :3], "RGB").convert("L"))
    np.testing.assert_array_equal(prep.grey_from_rgba(rgba), want)


def test_transparent_paper_counts_as_white():
    rgba = np.zeros((50, 50, 4), np.uint8)  # transparent everywhere...
    rgba[10:40, 20:25] = (0, 0, 0, 255)  # ...but a black opaque stroke
    assert prep.prepare_rgba(rgba).max() == 255


@pytest.mark.parametrize("image, words", [
    (np.full((50, 50), 255, np.uint8), "one flat colour"),
    (np.zeros((50, 50), np.uint8), "one flat colour"),
    (np.pad(np.zeros((48, 48), np.uint8), 1, constant_values=255), "Most of the image is ink"),
])
def test_an_image_with_no_digit_is_refused_in_one_line(image, words):
    with pytest.raises(prep.DigitError, match=words) as e:
        prep.prepare(image)
    assert "\n" not in str(e.value)


def test_area_weights_average_exactly():
    M = prep.area_weights(7, 3)
    np.testing.assert_allclose(M.sum(1), 1)
    np.testing.assert_allclose(M.sum(0), 3 / 7)  # every input pixel counted once, spread by area


# ---- uploads (explorer/uploads.py)

def test_every_colour_depth_reads_as_the_same_grey():
    a = one()
    want = prep.prepare(a)
    for im in (Image.fromarray(a).convert("RGB"), Image.fromarray(a).convert("RGBA"), Image.fromarray(a).convert("P"),
               Image.fromarray(a).convert("LA"), Image.fromarray(a.astype(np.uint16) * 257)):
        buf = io.BytesIO()
        im.save(buf, "PNG")
        np.testing.assert_array_equal(prep.prepare(uploads.read_grey(buf.getvalue())), want, err_msg=im.mode)
    for fmt in ("GIF", "WEBP"):  # lossless for flat colours
        buf = io.BytesIO()
        Image.fromarray(a).save(buf, fmt, lossless=True)
        assert np.abs(prep.prepare(uploads.read_grey(buf.getvalue())).astype(int) - want).max() <= 2, fmt
    jpeg = prep.prepare(uploads.read_grey(png(a, fmt="JPEG")))
    assert np.abs(jpeg.astype(int) - want).mean() < 3


def test_a_phone_photo_is_turned_the_right_way_up():
    a = one()
    im = Image.fromarray(np.rot90(a).copy())  # stored on its side...
    exif = Image.Exif()
    exif[0x0112] = 8  # ...with the orientation tag that says "rotate 90 clockwise to view"
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif, quality=95)
    got = prep.prepare(uploads.read_grey(buf.getvalue()))
    ys, xs = np.nonzero(got > 128)
    assert np.ptp(ys) > 3 * np.ptp(xs)  # upright: a tall "1", not a lying one


def test_a_decompression_bomb_is_refused_before_it_is_decoded():
    bomb = png(np.zeros((8000, 8000), np.uint8))  # 64 megapixels in ~60 KB
    assert len(bomb) < 200_000
    started = time.perf_counter()
    with pytest.raises(prep.DigitError, match="over the 40 megapixel limit"):
        uploads.read_grey(bomb)
    assert time.perf_counter() - started < 0.2  # decoding 64 MP would take seconds


@pytest.mark.parametrize("data, words", [
    (b"", "empty"),
    (b"GIF89a not really", "not a PNG, JPEG, WebP or GIF"),
    (b"%PDF-1.4 a document", "not a PNG, JPEG, WebP or GIF"),
    (png(np.zeros((10, 10), np.uint8), fmt="BMP"), "not a PNG, JPEG, WebP or GIF"),
    (png(one())[:-60], "damaged or truncated"),
    (b"\x89PNG" + bytes(uploads.MAX_BYTES), "over the 10 MB limit"),
])
def test_bad_files_are_one_line(data, words):
    with pytest.raises(prep.DigitError, match=words) as e:
        uploads.read_grey(data)
    assert "\n" not in str(e.value)


# ---- the encoder's blob and the score

@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_encoders_run_in_the_page(arch):
    model = VAE(VAEConfig(arch=arch, latent_dim=3, hidden=[16], conv_channels=[4, 8]))
    kinds = [kind for kind, *_ in weights.encoder_ops(model)]
    assert kinds == (["linear"] * 2 if arch == "mlp" else ["conv", "conv", "linear", "linear"])
    blob = weights.pack_encoder(model, model_id="m", prep=prep.constants(), with_decoder=True)
    header, _ = weights.read_header(blob)
    assert header["role"] == "encoder" and header["prep"] == prep.constants() and header["decoder"]
    assert header["n_floats"] == sum(p.numel() for p in model.parameters())


def test_elbo_parts_is_the_fixed_noise_elbo(tiny_model, images):
    eps = torch.randn(3, tiny_model.cfg.latent_dim, generator=torch.Generator().manual_seed(1))
    nll, kl, mu, logvar = elbo_parts(tiny_model, images, eps)
    with torch.no_grad():
        m, lv = tiny_model.encode(images)
        want = torch.stack([bernoulli_nll(tiny_model.decode(m + e * (0.5 * lv).exp()), images) for e in eps]).mean(0)
    torch.testing.assert_close(nll, want)
    torch.testing.assert_close(kl, gaussian_kl(m, lv))
    assert torch.equal(elbo_parts(tiny_model, images, eps)[0], nll)  # deterministic: it can rank digits


def test_a_file_name_cannot_write_markdown():
    assert your_digit.shown_name("[x](javascript:alert(1)) **b**.png") == "\\_x\\_\\_javascript\\_alert\\_1\\_\\_ \\_\\_b\\_\\_.png"
    assert your_digit.shown_name("digit-7 v2.png") == "digit-7 v2.png"


def test_nearest_orders_by_distance():
    mu = np.array([[0, 0], [3, 0], [1, 0], [0, 2]], np.float32)
    assert your_digit.nearest(mu, np.array([0.9, 0]), 3).tolist() == [2, 0, 1]  # 0.01, 0.81, 4.41 < 4.81


@pytest.mark.parametrize("value", [None, "x", {"pixels": 5}, {"pixels": "!!!"}, {"pixels": "AAAA"},
                                   {"pixels": base64.b64encode(bytes(785)).decode()}, {"pixels": "A" * 10**6}])
def test_a_hostile_canvas_message_is_dropped(monkeypatch, value):
    taken = []
    monkeypatch.setattr(your_digit.state, "draw_commit", lambda: value)
    monkeypatch.setattr(your_digit.state, "set_drawing", lambda *a: taken.append(a))
    your_digit.take_drawing()
    assert taken == []


@pytest.mark.parametrize("pick, taken", [({"i": 7, "at": 1}, 7), ({"i": 10_000}, None), ({"i": -1}, None),
                                         ({"i": "7"}, None), ({"i": True}, None), ("7", None), (None, None)])
def test_a_neighbour_pick_is_checked_before_it_selects(monkeypatch, pick, taken):
    selected = []
    monkeypatch.setattr(your_digit.state, "near_pick", lambda: pick)
    monkeypatch.setattr(your_digit.state, "n_test", lambda: 10_000)
    monkeypatch.setattr(your_digit.state, "select", selected.append)
    monkeypatch.setattr(your_digit.state, "want_full_rerun", lambda: None)
    your_digit.take_near()
    assert selected == ([] if taken is None else [taken])


def test_a_canvas_message_of_784_pixels_is_taken(monkeypatch):
    taken = []
    monkeypatch.setattr(your_digit.state, "draw_commit",
                        lambda: {"seq": 1, "pixels": base64.b64encode(bytes(range(256)) * 3 + bytes(16)).decode()})
    monkeypatch.setattr(your_digit.state, "set_drawing", lambda *a: taken.append(a))
    your_digit.take_drawing()
    assert len(taken) == 1 and len(taken[0][0]) == 784 and taken[0][1] == "drawn"


# ---- the panel in AppTest

@pytest.fixture
def panel():
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.toggle(key="draw_on").set_value(True).run()
    assert not at.exception, at.exception
    return at


def scored_text(at) -> str:
    return " ".join(m.value for m in at.markdown if "ELBO" in m.value)


def near_items(at) -> list[dict]:
    """The nearest test digits the panel sent to the page (its `near` element's data)."""
    strips = [e.proto for e in at.get("bidi_component") if e.proto.component_name.endswith("vae_near")]
    return json.loads(strips[0].bytes)["items"] if strips else []


@pytest.mark.skipif(not SHIPPED.is_file(), reason="no shipped checkpoint")
def test_an_upload_is_scored_and_bad_ones_are_one_line_each(panel):
    at = panel
    at.file_uploader(key="upload").upload("one.png", png(one()), "image/png").run()
    assert not at.exception and not at.error
    first = scored_text(at)
    assert "more unusual than" in first and "reconstruction" in first and "KL" in first
    near = [item["label"] for item in near_items(at)]
    assert len(near) == 8 and near.count("1") >= 6, near  # the shipped model places a "1" among the 1s
    bad = [("bomb.png", png(np.zeros((8000, 8000), np.uint8)), "megapixel limit"),
           ("notes.png", b"not an image at all", "not a PNG"),
           ("cut.png", png(one())[:-60], "damaged or truncated"),
           ("blank.png", png(np.full((60, 60), 255, np.uint8)), "flat colour"),
           ("black.png", png(np.zeros((60, 60), np.uint8)), "flat colour"),
           ("inky.png", png(np.pad(np.zeros((58, 58), np.uint8), 1, constant_values=255)), "Most of the image is ink"),
           ("huge.png", b"\x89PNG" + bytes(uploads.MAX_BYTES + 1), "10 MB limit")]
    for name, content, words in bad:
        at.file_uploader(key="upload").set_value((name, content, "image/png")).run()
        assert not at.exception, (name, at.exception)
        assert len(at.error) == 1 and words in at.error[0].value and name in at.error[0].value, (name, at.error)
        assert scored_text(at) == first  # the last good digit stays, scored the same
    at.file_uploader(key="upload").set_value(("one.png", png(one()), "image/png")).run()
    assert not at.error  # a good file again clears the line


@pytest.mark.skipif(not SHIPPED.is_file(), reason="no shipped checkpoint")
def test_the_drawing_acts_like_a_clicked_digit(panel):
    at = panel
    at.file_uploader(key="upload").upload("one.png", png(one()), "image/png").run()
    at.button(key="own_decode").click().run()
    z = at.session_state["z"]
    assert z != [0.0, 0.0] and z[0] > 0 and z[1] < 0  # the shipped model's 1s sit at z0 > 0, z1 < 0
    at.button(key="own_A").click().run()
    assert at.session_state["end_points"]["A"] is not None
    assert not at.exception


# ---- in a real browser

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


@browser
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


@browser
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


@browser
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


@browser
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


@pytest.fixture
def other_models(tmp_path, monkeypatch):
    """A home with a 5-D MLP and a 2-D conv checkpoint (untrained), and a fresh snapshot cache."""
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "checkpoints" / "z5.pt", VAE(VAEConfig(latent_dim=5, hidden=[16])), dataset="mnist")
    save_checkpoint(tmp_path / "checkpoints" / "conv.pt", VAE(VAEConfig(arch="conv", hidden=[16], conv_channels=[4, 8])),
                    dataset="mnist")
    if data.FASHION_DEBIAN_DIR.is_dir():
        save_checkpoint(tmp_path / "checkpoints" / "fashion.pt", VAE(VAEConfig(hidden=[16])), dataset="fashion-mnist")
    monkeypatch.setenv(picker.HOME_ENV, str(tmp_path))
    monkeypatch.setenv("VAE_EXPLORER_CACHE", str(tmp_path / "cache"))
    (tmp_path / "data").symlink_to(ROOT / "data")
    return tmp_path


def test_the_panel_scores_a_drawing_for_any_latent_size_and_the_conv_encoder(other_models):
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    names = ["checkpoints/conv.pt", "checkpoints/z5.pt"] + (["checkpoints/fashion.pt"] * data.FASHION_DEBIAN_DIR.is_dir())
    for name in names:
        at.selectbox(key="ckpt").set_value(name).run()
        if not at.toggle(key="draw_on").value:
            at.toggle(key="draw_on").set_value(True).run()
        at.file_uploader(key="upload").set_value((f"{name}.png", png(one()), "image/png")).run()
        assert not at.exception and not at.error, (name, at.exception, at.error)
        assert "more unusual than" in scored_text(at), name
        near = [item["label"] for item in near_items(at)]
        assert len(near) == 8, name
        if "fashion" in name:
            assert set(near) <= {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                                 "Bag", "Ankle boot"}, near  # class names, from the Fashion-MNIST test set


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


@browser
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


@browser
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


@browser
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
