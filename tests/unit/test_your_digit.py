"""Your digit: the MNIST-style preprocessing, uploads and their bounds, the encoder's blob, the score, and the
panel's checks of what the page sends."""
import base64
import io
import time

import numpy as np
import pytest
import torch
from PIL import Image

from explorer.backend import prep, uploads, weights
from explorer.panels import your_digit
from testkit.synthetic import one, png
from vae_core.losses import bernoulli_nll, elbo_parts, gaussian_kl
from vae_core.model import VAE, VAEConfig


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


def test_a_ztxt_bomb_is_refused_for_what_it_is():
    from PIL import PngImagePlugin
    info = PngImagePlugin.PngInfo()
    info.add_text("comment", "x" * (PngImagePlugin.MAX_TEXT_CHUNK + 1000), zip=True)  # compresses to a few KB
    buf = io.BytesIO()
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(buf, "PNG", pnginfo=info)
    assert len(buf.getvalue()) < 100_000  # small on disk, megabytes unpacked
    with pytest.raises(prep.DigitError, match="compressed text metadata is too large"):
        uploads.read_grey(buf.getvalue())


def test_a_huge_exif_block_is_not_parsed(monkeypatch):
    im = Image.fromarray(np.full((40, 20), 200, np.uint8)).convert("RGB")
    exif = Image.Exif()
    exif[0x010E] = "x" * (uploads.MAX_EXIF + 10)  # ImageDescription: a block over the bound (a PNG's eXIf)
    buf = io.BytesIO()
    im.save(buf, "PNG", exif=exif)
    parsed = []
    monkeypatch.setattr(uploads.ImageOps, "exif_transpose", lambda *a, **k: parsed.append(1))
    assert uploads.read_grey(buf.getvalue()).shape == (40, 20)
    assert not parsed
    small = io.BytesIO()
    im.save(small, "PNG", exif=Image.Exif())
    uploads.read_grey(small.getvalue())
    assert parsed == [1]  # an ordinary photo is still turned the right way up
