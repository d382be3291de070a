"""Your digit's panel in AppTest: uploads scored or refused in one line, the drawing used as a point, any model."""
import json

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from explorer.backend import picker, uploads
from testkit import APP, ROOT, SHIPPED
from testkit.synthetic import one, png
from vae_core import data
from vae_core.checkpoint import save_checkpoint
from vae_core.model import VAE, VAEConfig


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
