"""AppTest: the explorer's logic without a browser (a real browser is in test_browser.py)."""
import json
import os
from urllib.parse import parse_qsl, urlencode

import numpy as np
import pytest
import torch
from streamlit.elements.plotly_chart import PlotlySelectionState, PlotlyState
from streamlit.runtime.context import ContextProxy
from streamlit.testing.v1 import AppTest

from explorer import link
from explorer.backend import models, picker, remote, snapshot, weights
from explorer.panels import decoder, latent_map, selection, sidebar
from testkit import APP, ROOT, SHIPPED
from testkit.apptest import commit, send_state
from vae_core import data
from vae_core.checkpoint import load_checkpoint, save_checkpoint
from vae_core.model import VAE, VAEConfig


def app(home=None, monkeypatch=None) -> AppTest:
    if home is not None:
        monkeypatch.setenv(picker.HOME_ENV, str(home))
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def tiny_home(tmp_path, monkeypatch):
    """A home with one tiny 5-D MLP checkpoint and one tiny 2-D conv checkpoint."""
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "checkpoints" / "tiny-z5.pt", VAE(VAEConfig(latent_dim=5, hidden=[16])),
                    dataset="mnist", metrics={"test_neg_elbo": 500.0})
    save_checkpoint(tmp_path / "runs" / "conv" / "model.pt", VAE(VAEConfig(arch="conv", hidden=[16],
                    conv_channels=[4, 8])), dataset="mnist")
    monkeypatch.setenv(picker.HOME_ENV, str(tmp_path))
    fresh_snapshots(tmp_path, monkeypatch)
    return tmp_path


def fresh_snapshots(tmp_path, monkeypatch) -> None:
    """An empty snapshot cache on disk and in memory: each test builds what it opens."""
    monkeypatch.setenv(snapshot.CACHE_ENV, str(tmp_path / "snapshot-cache"))
    models.forget_builds()
    snapshot.cached.clear()


def decoder_header(at) -> dict:
    """The header of the decoder panel's blob (explorer/weights.py: pack)."""
    return weights.read_header(component_data(at, "vae_live_decoder"))[0]


def pick(at, index: int) -> None:
    sel = PlotlySelectionState(points=[{"point_index": 0, "curve_number": 0, "customdata": index}],
                               point_indices=[0], box=[], lasso=[])
    at.session_state["map"] = PlotlyState(selection=sel)
    at.run()
    assert not at.exception, at.exception


@pytest.mark.skipif(not SHIPPED.is_file(), reason="no shipped checkpoint")
def test_opens_with_the_shipped_model():
    at = app()
    assert at.sidebar.selectbox(key="ckpt").value == picker.DEFAULT_CHECKPOINT
    assert at.get("plotly_chart"), "no latent map"
    assert at.session_state["z"] == [0.0, 0.0]
    assert "test -ELBO" in at.sidebar.markdown[0].value
    assert at.sidebar.toggle[0].value is True  # MLP: live decoding on by default


def test_higher_dim_checkpoint_folds_sliders_after_the_eighth(tiny_home, monkeypatch):
    torch.manual_seed(0)
    save_checkpoint(tiny_home / "runs" / "z10.pt", VAE(VAEConfig(latent_dim=10, hidden=[16])), dataset="mnist")
    picker.forget_checkpoint_list()
    at = app()
    at.sidebar.selectbox(key="ckpt").set_value("runs/z10.pt").run()
    assert at.sidebar.radio(key="plane").value == "PCA of the means"
    for live in (True, False):  # the page folds its sliders past the 8th, decoding live or on the server
        at.sidebar.toggle[0].set_value(live).run()
        header = decoder_header(at)
        assert (header["latent_dim"], header["fold_after"], len(header["ranges"])) == (10, 8, 10)
        assert bool(header["layers"]) == live and ("remote" in header) == (not live)
    path = tiny_home / "runs" / "z10.pt"
    view = snapshot.cached("runs/z10.pt", snapshot.digest_of(str(path), snapshot.stamp(path)))
    top = sorted(range(10), key=lambda u: -view.kl_dims[u])[:2]  # the pad starts on the dims with the most KL
    assert (decoder_header(at)["pad"]["i"], decoder_header(at)["pad"]["j"]) == tuple(top)
    at.sidebar.radio(key="plane").set_value("Two latent dims").run()
    assert (at.sidebar.selectbox(key="dim_i").value, at.sidebar.selectbox(key="dim_j").value) == tuple(top)
    j = 9 if top[0] != 9 else 8
    at.sidebar.selectbox(key="dim_j").set_value(j).run()
    assert not at.exception
    assert (decoder_header(at)["pad"]["i"], decoder_header(at)["pad"]["j"]) == (top[0], j)


def test_server_decoding_sends_no_weights_and_names_the_route(tiny_home):
    at = app()
    at.sidebar.selectbox(key="ckpt").set_value("checkpoints/tiny-z5.pt").run()
    live_blob = component_data(at, "vae_live_decoder")
    at.sidebar.toggle[0].set_value(False).run()
    blob, header = component_data(at, "vae_live_decoder"), decoder_header(at)
    assert header["remote"] == remote.for_page() == {"url": "/api/vae/decode", "every_ms": remote.EVERY_MS}
    assert header["layers"] == []
    assert len(blob) < len(live_blob) - 10_000  # the pad's points, not the weights
    # the route decodes with this model: what the page asks for is what torch decodes
    view = remote._offered[header["model"]][0]
    got_view, z = remote.parse({"m": header["model"], "z": "0.5,-1,0,0,2"})
    assert got_view is view
    px = np.frombuffer(remote.pixels(view, z), np.uint8)
    model, _ = load_checkpoint(tiny_home / "checkpoints" / "tiny-z5.pt")
    want = models.decode(model, np.array([[0.5, -1, 0, 0, 2]], np.float32))[0].ravel()
    assert np.abs(px.astype(float) - want * 255).max() <= 1


def test_a_release_moves_z_and_the_caption_under_the_digit(tiny_home):
    at = app()
    at.sidebar.selectbox(key="ckpt").set_value("checkpoints/tiny-z5.pt").run()
    at.sidebar.toggle[0].set_value(False).run()
    commit(at, [0, 0, 2.5, 0, 0])
    assert at.session_state["z"][2] == 2.5
    assert any("+2.50" in c.value for c in at.caption)  # z's values, under the digit


def test_committed_values_out_of_range_end_inside_the_ranges(tiny_home):
    at = app()
    at.sidebar.selectbox(key="ckpt").set_value("checkpoints/tiny-z5.pt").run()
    at.sidebar.toggle[0].set_value(False).run()
    lo, hi = np.asarray(at.session_state["ranges"]).T
    commit(at, [0, float(hi[1]) + 100, float(lo[2]) - 100, 0, 0])  # values no slider offers
    assert not at.exception
    z = np.asarray(at.session_state["z"])
    assert z[1] == pytest.approx(hi[1], abs=1e-3) and z[2] == pytest.approx(lo[2], abs=1e-3), z


def test_clicking_a_point_shows_the_reconstruction_panel(tiny_home):
    at = app()
    at.sidebar.selectbox(key="ckpt").set_value("checkpoints/tiny-z5.pt").run()
    assert any("Click a point" in i.value for i in at.info)
    pick(at, 123)
    assert at.session_state["selected"] == 123
    assert any(h.value.startswith("Test digit #123") for h in at.subheader)
    decode_here = next(b for b in at.button if b.label == "Decode this point")
    decode_here.click().run()
    model, _ = load_checkpoint(tiny_home / "checkpoints" / "tiny-z5.pt")
    mu = models.encodings(model, "mnist")[0]
    np.testing.assert_allclose(at.session_state["z"], mu[123], atol=5e-3)


def test_a_click_on_the_maps_preview_opens_that_digit_once(tiny_home):
    """While plotly.js loads, the map's preview (map_preview.js) takes clicks: state {"click": {index, at}}."""
    at = app()
    at.sidebar.selectbox(key="ckpt").set_value("checkpoints/tiny-z5.pt").run()
    send_state(at, "vae_map_preview", {"click": {"index": 77, "at": 1}})
    assert not at.exception and at.session_state["selected"] == 77
    assert any(h.value.startswith("Test digit #77") for h in at.subheader)
    pick(at, 123)  # then a click on the chart, once it is drawn
    assert at.session_state["selected"] == 123
    send_state(at, "vae_map_preview", {"click": {"index": 77, "at": 1}})  # the same click, sent again
    assert at.session_state["selected"] == 123
    n = at.session_state["n_test"]
    for k, index in enumerate([n, -1, "5", True, None, 1e3]):  # not a test digit of this checkpoint
        send_state(at, "vae_map_preview", {"click": {"index": index, "at": 2 + k}})
        assert not at.exception and at.session_state["selected"] == 123, index
    send_state(at, "vae_map_preview", {"click": {"index": n - 1, "at": 9}})
    assert at.session_state["selected"] == n - 1


def test_a_click_on_the_map_is_ringed_on_the_map_in_the_same_run(tiny_home):
    # the decoder panel, which sends the map's overlays, is drawn before the map (its weights reach
    # the page first): the click must still be taken before it
    at = app()

    assert json.loads(component_data(at, "vae_map_overlays"))["overlays"]["selected"]["x"] == []
    pick(at, 123)
    ring = json.loads(component_data(at, "vae_map_overlays"))["overlays"]["selected"]
    assert len(ring["x"]) == 1, ring
    at.run()
    assert json.loads(component_data(at, "vae_map_overlays"))["overlays"]["selected"] == ring


def test_conv_checkpoint_decodes_live_too(tiny_home):
    at = app()
    at.sidebar.selectbox(key="ckpt").set_value("runs/conv/model.pt").run()
    assert not at.exception, at.exception
    assert at.sidebar.toggle[0].value is True and not at.sidebar.toggle[0].disabled


def test_decoder_the_page_cannot_run_falls_back_to_server_decoding(tiny_home, monkeypatch):
    monkeypatch.setattr(weights, "decoder_ops", lambda model: None)  # as for a layer live.js lacks
    at = app()
    at.sidebar.selectbox(key="ckpt").set_value("runs/conv/model.pt").run()
    assert at.sidebar.toggle[0].value is False and at.sidebar.toggle[0].disabled
    assert any("the server decodes each frame" in c.value for c in at.sidebar.caption)
    header = decoder_header(at)
    assert header["remote"]["url"] == remote.url()  # the panel asks the server's route, which decodes with torch
    view, z = remote.parse({"m": header["model"], "z": "1.5,-0.5"})
    model, _ = load_checkpoint(tiny_home / "runs" / "conv" / "model.pt")
    want = models.decode(model, np.array([[1.5, -0.5]], np.float32))[0].ravel()
    assert np.abs(np.frombuffer(remote.pixels(view, z), np.uint8) - 255 * want).max() <= 1


def test_picker_offers_nothing_outside_its_folders(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "runs" / "r1").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    for p in ("checkpoints/a.pt", "runs/r1/model.pt", "elsewhere/secret.pt", "checkpoints/notes.txt"):
        (tmp_path / p).write_bytes(b"x")
    (tmp_path / "checkpoints" / "link.pt").symlink_to(tmp_path / "elsewhere" / "secret.pt")
    assert picker.find_checkpoints(tmp_path) == ["checkpoints/a.pt", "runs/r1/model.pt"]
    for bad in ("elsewhere/secret.pt", "checkpoints/../elsewhere/secret.pt", "/etc/passwd", "checkpoints/link.pt"):
        with pytest.raises(ValueError):
            picker.resolve(bad, tmp_path)


def test_bad_checkpoint_gives_one_clear_error(tmp_path, monkeypatch):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "broken.pt").write_bytes(b"not a checkpoint")
    at = app(tmp_path, monkeypatch)
    assert len(at.error) == 1 and "broken.pt" in at.error[0].value


def test_no_checkpoint_offers_training_to_a_local_viewer_only(tmp_path, monkeypatch):
    at = app(tmp_path, monkeypatch)
    assert any("No checkpoint found" in w.value for w in at.warning)
    assert at.button[0].label == "Train a quick model"
    monkeypatch.setattr(ContextProxy, "ip_address", property(lambda self: "203.0.113.7"))  # a remote viewer
    at.run()
    assert not at.button and any("Ask whoever runs this server" in m.value for m in at.markdown)
    monkeypatch.setenv(sidebar.ALLOW_TRAINING_ENV, "1")  # the person serving the app allows it
    at.run()
    assert at.button[0].label == "Train a quick model"
    monkeypatch.delenv(sidebar.ALLOW_TRAINING_ENV)
    monkeypatch.setattr(ContextProxy, "ip_address", property(lambda self: None))  # loopback...
    monkeypatch.setattr(ContextProxy, "headers", property(lambda self: {"X-Forwarded-For": "203.0.113.7"}))
    at.run()  # ...but through a proxy: not local
    assert not at.button


def test_picker_lists_visible_regular_files_and_says_what_it_refused(tmp_path, monkeypatch):
    torch.manual_seed(0)
    good = tmp_path / "checkpoints" / "good.pt"
    save_checkpoint(good, VAE(VAEConfig(hidden=[16])), dataset="mnist")
    (tmp_path / "checkpoints" / ".hidden.pt").write_bytes(good.read_bytes())
    (tmp_path / "checkpoints" / ".cache").mkdir()
    (tmp_path / "checkpoints" / ".cache" / "x.pt").write_bytes(good.read_bytes())
    (tmp_path / "checkpoints" / ".good.pt.abc123.tmp").write_bytes(b"half")
    os.link(good, tmp_path / "checkpoints" / "hardlink.pt")
    with open(tmp_path / "checkpoints" / "sparse.pt", "wb") as f:
        f.truncate(2 * 2**30)  # 2 GB, no blocks on disk
    outside = tmp_path / "outside"
    (outside / "deep").mkdir(parents=True)
    (outside / "deep" / "stranger.pt").write_bytes(good.read_bytes())
    (tmp_path / "runs").symlink_to(outside, target_is_directory=True)
    (tmp_path / "checkpoints" / "linked-dir").symlink_to(outside, target_is_directory=True)
    offered, refused = picker.scan(tmp_path)
    assert offered == ()  # the hard link makes good.pt itself a two-link file
    assert dict(refused) == {"checkpoints/good.pt": "a hard link: refused",
                             "checkpoints/hardlink.pt": "a hard link: refused",
                             "checkpoints/sparse.pt": "2,048 MB, over the 1,024 MB limit",
                             "runs/": "a symlink: not followed"}
    (tmp_path / "checkpoints" / "hardlink.pt").unlink()
    assert picker.scan(tmp_path)[0] == ("checkpoints/good.pt",)
    at = app(tmp_path, monkeypatch)
    assert at.sidebar.selectbox(key="ckpt").options == ["checkpoints/good.pt"]
    assert any("sparse.pt" in c.value and "over the" in c.value for c in at.sidebar.caption)


def test_error_shows_no_file_system_path(tmp_path, monkeypatch):
    torch.manual_seed(0)
    path = tmp_path / "checkpoints" / "flipped.pt"
    save_checkpoint(path, VAE(VAEConfig(hidden=[16])), dataset="mnist")
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 1
    path.write_bytes(bytes(raw))
    at = app(tmp_path, monkeypatch)
    assert [e.value for e in at.error] == ["`checkpoints/flipped.pt`: corrupt: digest mismatch (the file "
                                           "changed after it was written)"]
    assert str(tmp_path) not in str(at.error[0].proto)


def test_canvas_and_interpolation_tabs_respond(tiny_home):
    at = app()
    assert not any(s.key == "canvas_n" for s in at.slider)  # lazy tabs: only the open one runs
    at.session_state["tab"] = "Canvas"
    at.run()
    at.slider(key="canvas_n").set_value(5).run()
    at.radio(key="canvas_spacing").set_value("gaussian").run()
    assert len(at.main.get("image")) == 1  # the canvas (the sidebar holds the KL chart)
    at.session_state["tab"] = "Interpolate"
    at.run()
    at.number_input(key="A").set_value(7).run()
    at.slider(key="interp_k").set_value(4).run()
    assert not at.exception
    assert any("A = #7" in c.value for c in at.caption)


def test_encodings_are_computed_once_per_checkpoint(tiny_home, monkeypatch, tmp_path):
    encoded = []  # images per call: the test set is encoded in chunks, each a step of the progress bar
    real = models.encode_all
    monkeypatch.setattr(models, "encode_all", lambda model, x: (encoded.append(len(x)), real(model, x))[1])
    at = app()
    n = at.session_state["n_test"]
    at.sidebar.toggle[0].set_value(False).run()
    for v in (0.5, 1.0, 1.5):
        commit(at, [v, 0, 0, 0, 0])
    assert sum(encoded) == n and max(encoded) <= models.ENCODE_CHUNK  # tiny-z5, the first entry: first run only
    at.sidebar.selectbox(key="ckpt").set_value("runs/conv/model.pt").run()
    at.sidebar.selectbox(key="ckpt").set_value("checkpoints/tiny-z5.pt").run()
    assert sum(encoded) == 2 * n  # the conv model once; tiny-z5 again from the cache
    assert not at.exception and not at.get("progress")  # the opening's bar is gone once the page is drawn


@pytest.mark.skipif(not data.FASHION_DEBIAN_DIR.is_dir(), reason="Debian's dataset-fashion-mnist not installed")
def test_fashion_checkpoint_shows_class_names(tmp_path, monkeypatch):
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "checkpoints" / "fashion.pt", VAE(VAEConfig(hidden=[16])), dataset="fashion-mnist")
    monkeypatch.setenv(data.DATA_ROOT_ENV, str(tmp_path / "data"))
    at = app(tmp_path, monkeypatch)
    fig = at.get("plotly_chart")[0].proto.spec
    assert "Ankle boot" in fig and "Sneaker" in fig
    pick(at, 0)
    assert any(h.value == "Test digit #0 · Ankle boot" for h in at.subheader)


def test_switching_models_resets_the_live_widgets_point(tiny_home):
    at = app()  # tiny-z5, live decoding on
    assert len(at.session_state["z_pushed"][1]) == 5
    at.sidebar.selectbox(key="ckpt").set_value("runs/conv/model.pt").run()
    at.sidebar.selectbox(key="ckpt").set_value("checkpoints/tiny-z5.pt").run()
    torch.manual_seed(0)
    save_checkpoint(tiny_home / "runs" / "z2.pt", VAE(VAEConfig(latent_dim=2, hidden=[16])), dataset="mnist")
    picker.forget_checkpoint_list()
    at.run()
    at.sidebar.selectbox(key="ckpt").set_value("runs/z2.pt").run()
    assert not at.exception
    assert len(at.session_state["z_pushed"][1]) == 2


def component_data(at, name: str) -> bytes:
    return next(e.proto.bytes for e in at.get("bidi_component") if e.proto.component_name.endswith(name))


def test_hover_atlas_is_sent_when_the_page_asks_until_it_holds_it(tiny_home):
    at = app()
    header = b'{"v": 1, "dataset": "mnist", "cols": 100, "map_key": "map"}'
    assert component_data(at, "vae_map_hover") == b"WANT" + header  # not on the first run: the map comes first
    at.session_state["map_hover"] = {"want": "mnist"}  # what hover.js asks once the page is idle
    at.run()
    assert component_data(at, "vae_map_hover").startswith(b"ATLS" + header + b"\n\x89PNG")
    at.run()
    assert component_data(at, "vae_map_hover").startswith(b"ATLS")  # no word from the page yet: again
    at.session_state["map_hover"] = {"want": "mnist", "have": "mnist"}  # hover.js, once the atlas loaded
    at.run()
    assert component_data(at, "vae_map_hover") == b"HAVE" + header


def test_damaged_test_data_is_one_line_without_paths(tmp_path, monkeypatch):
    app(monkeypatch=monkeypatch, home=ROOT)  # the shipped model's snapshot exists (built here if need be)
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in data.MNIST_MD5:
        (raw / name).write_bytes((ROOT / "data" / "MNIST" / "raw" / name).read_bytes()[:4000])  # truncated
    monkeypatch.setenv(data.DATA_ROOT_ENV, str(tmp_path / "data"))
    models.test_split.clear()
    try:
        at = app(monkeypatch=monkeypatch, home=ROOT)  # the shipped model's first page comes from its snapshot...
        assert not at.error
        pick(at, 3)  # ...but its reconstructions need the test images
        assert [e.value for e in at.error] == [selection.DATA_PROBLEM]
        fresh_snapshots(tmp_path, monkeypatch)  # no snapshot: opening the checkpoint needs them at once
        at = app(monkeypatch=monkeypatch, home=ROOT)
        assert [e.value for e in at.error] == [selection.DATA_PROBLEM]
    finally:
        models.test_split.clear()


def address_bar(at) -> dict:
    """The query string the page is told to put in the address bar, by the link element and by the
    decoder fragment's post when the Explore view is open (the same, on a run of the whole page)."""
    message = json.loads(component_data(at, "vae_link"))
    assert message["v"] == link.VERSION
    if at.session_state["tab"] == "Explore":
        posted = json.loads(component_data(at, "vae_post")[len(decoder.POST_MAGIC):])["parts"]["link"]
        assert posted["query"] == message["query"] and posted["seq"] < message["seq"]  # the fragment runs first
    return dict(parse_qsl(message["query"]))


def linked(query: dict, home=None, monkeypatch=None) -> AppTest:
    if home is not None:
        monkeypatch.setenv(picker.HOME_ENV, str(home))
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update(query)
    at.run()
    assert not at.exception, at.exception
    return at


def test_a_link_restores_the_whole_view(tiny_home):
    at = linked({"ckpt": "checkpoints/tiny-z5.pt", "z": "1.5,-0.25,0,0,2", "sel": "123", "a": "7", "b": "9",
                 "plane": "axes", "x": "3", "y": "1", "layers": "contours", "tab": "interpolate"})
    ss = at.session_state
    assert ss["ckpt"] == "checkpoints/tiny-z5.pt" and ss["z"] == [1.5, -0.25, 0.0, 0.0, 2.0]
    assert (ss["selected"], ss["A"], ss["B"], ss["tab"]) == (123, 7, 9, "Interpolate")
    assert (ss["plane"], ss["dim_i"], ss["dim_j"], ss["contours"], ss["underlay"]) == \
        ("Two latent dims", 3, 1, True, False)
    assert any("A = #7" in c.value for c in at.caption) and not at.warning
    assert address_bar(at) == {"ckpt": "checkpoints/tiny-z5.pt", "z": "1.5,-0.25,0,0,2", "sel": "123",
                                     "a": "7", "b": "9", "plane": "axes", "x": "3", "y": "1",
                                     "layers": "contours", "tab": "interpolate"}


def test_bad_link_values_fall_back_with_one_notice(tiny_home):
    at = linked({"ckpt": "checkpoints/deleted.pt", "z": "1,2,three", "sel": "10000", "a": "-1", "b": "4",
                 "tab": "nope", "layers": "underlay,<script>"})
    ss = at.session_state
    assert ss["ckpt"] == "checkpoints/tiny-z5.pt"  # the picker's first entry
    assert ss["z"] == [0.0] * 5 and ss["selected"] is None and (ss["A"], ss["B"]) == (0, 4)
    said = ["Part of this link did not fit and was left at its default: checkpoint, z, sel, a, layers, tab."]
    assert [w.value for w in at.warning] == said
    at.run()  # another run of the page (a component's callback) draws it again: a dropped run loses nothing
    assert [w.value for w in at.warning] == said
    at.button(key="link_notice_ok").click().run()
    assert not at.warning and not at.exception
    at.run()
    assert not at.warning  # dismissed for the session


def test_the_link_follows_the_view(tiny_home):
    at = app()
    at.sidebar.toggle[0].set_value(False).run()
    commit(at, [0, 0, 1.25, 0, 0])
    pick(at, 42)
    assert address_bar(at) == {"ckpt": "checkpoints/tiny-z5.pt", "z": "0,0,1.25,0,0", "sel": "42", "plane": "pca"}


def test_the_a_b_path_is_drawn_only_once_both_ends_are_chosen(tiny_home):
    at = app()

    def path():
        return json.loads(component_data(at, "vae_map_overlays"))["overlays"]["path"]["x"]

    assert path() == []
    pick(at, 5)
    next(b for b in at.button if b.label == "Set as A").click().run()
    assert path() == []  # one end is not a path
    pick(at, 9)
    next(b for b in at.button if b.label == "Set as B").click().run()
    assert len(path()) == 8 and (at.session_state["A"], at.session_state["B"]) == (5, 9)
    assert (address_bar(at)["a"], address_bar(at)["b"]) == ("5", "9")


@pytest.mark.parametrize("damaged", sorted(data.MNIST_MD5))
def test_a_byte_flipped_in_any_data_file_is_one_line_on_every_read_path(tmp_path, monkeypatch, damaged):
    """One byte flipped in one of the four MNIST files (the shipped model's snapshot on disk): the map
    opens; hover, canvas, interpolation and the route never show an error box; the selection panel
    and your digit's neighbours say the one line."""
    app(monkeypatch=monkeypatch, home=ROOT)  # the shipped model's snapshot exists (built here if need be)
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in data.MNIST_MD5:
        content = bytearray((ROOT / "data" / "MNIST" / "raw" / name).read_bytes())
        if name == damaged:
            content[len(content) // 2] ^= 0x01
        (raw / name).write_bytes(bytes(content))
    monkeypatch.setenv(data.DATA_ROOT_ENV, str(tmp_path / "data"))
    caches = (models.test_split, models._test_scores, latent_map.atlas_png)  # nothing read before the damage
    for cache in caches:
        cache.clear()
    try:
        at = app(monkeypatch=monkeypatch, home=ROOT)
        assert not at.error
        at.session_state["map_hover"] = {"want": "mnist"}  # hover.js asks for the atlas
        at.run()
        assert not at.exception and not at.error
        assert not [e for e in at.get("bidi_component") if e.proto.component_name.endswith("vae_map_hover")]
        at.session_state["draw_on"] = True  # your digit: its ranks and neighbours need the test images
        at.run()
        assert not at.exception and [e.value for e in at.error] == [selection.DATA_PROBLEM]
        for tab in ("Canvas", "Interpolate"):  # decoded from the model alone
            at.session_state["tab"] = tab
            at.run()
            assert not at.exception and not at.error, tab
        at.session_state["tab"] = "Explore"
        at.session_state["draw_on"] = False
        pick(at, 3)
        assert not at.exception and [e.value for e in at.error] == [selection.DATA_PROBLEM]
    finally:
        for cache in caches:
            cache.clear()


@pytest.mark.parametrize("latent_dim", [2, 10, 330, 1024])
def test_a_link_round_trips_z_for_any_latent_size(tmp_path, monkeypatch, latent_dim):
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "checkpoints" / "big.pt", VAE(VAEConfig(latent_dim=latent_dim, hidden=[8])),
                    dataset="mnist")
    fresh_snapshots(tmp_path, monkeypatch)
    z = np.random.default_rng(latent_dim).normal(0, 1, latent_dim).clip(-2.5, 2.5).round(3)  # inside the sliders
    field, value = link.z_field(z)
    assert field == ("z" if latent_dim <= link.TEXT_Z_UP_TO else "zb")
    at = linked({"ckpt": "checkpoints/big.pt", field: value}, home=tmp_path, monkeypatch=monkeypatch)
    assert not at.warning  # nothing fell back
    np.testing.assert_allclose(at.session_state["z"], z, rtol=1e-3, atol=2e-3)  # float16 keeps ~3 digits
    query = address_bar(at)
    assert query[field] == value and len(urlencode(query)) < 3500  # far under an 8 KB request line
    again = linked(query, home=tmp_path, monkeypatch=monkeypatch)  # the page's own link reopens the same view
    assert not again.warning and again.session_state["z"] == at.session_state["z"]


def traverse_message(at) -> dict:
    raw = component_data(at, "vae_traverse")
    assert raw[:4] == b"VAET"
    return json.loads(raw[4:])


def test_the_traverse_view_its_bases_and_a_clicked_cell(tiny_home):
    at = linked({"tab": "traverse", "sel": "12"})
    msg = traverse_message(at)
    assert len(msg["rows"]) == 5 and len(msg["values"][0]) == 9 and "image" not in msg  # the page decodes it
    assert msg["base"] == [0.0] * 5
    at.radio(key="traverse_base").set_value("selected").run()
    path = tiny_home / "checkpoints" / "tiny-z5.pt"
    view = snapshot.cached("checkpoints/tiny-z5.pt", snapshot.digest_of(str(path), snapshot.stamp(path)))
    assert traverse_message(at)["base"] == pytest.approx(view.mu[12].tolist(), abs=1e-5)
    at.radio(key="traverse_base").set_value("drawn").run()  # no digit drawn yet: one line, the decoder's z
    assert [i.value for i in at.info] == ["No digit of yours yet (draw one under the Explore map): the base is the "
                                          "decoder's z."]
    at.radio(key="traverse_base").set_value("decoder").run()
    send_state(at, "vae_traverse", {"pick": {"z": [0, 0, 1.5, 0, 0], "at": 1}})
    assert at.session_state["z"] == [0, 0, 1.5, 0, 0] and traverse_message(at)["base"] == [0, 0, 1.5, 0, 0]
    send_state(at, "vae_traverse", {"pick": {"z": [1, 2], "at": 2}})  # not this model's size: dropped
    send_state(at, "vae_traverse", {"pick": {"z": [99, 0, 0, 0, 0], "at": 3}})  # out of range: clipped
    assert at.session_state["z"][0] == at.session_state["ranges"][0][1] and not at.exception
    at.session_state["tab"] = "Explore"
    at.run()
    at.toggle(key="live_True").set_value(False).run()  # live decoding off: the server draws the grid
    at.session_state["tab"] = "Traverse"
    at.run()
    assert traverse_message(at)["image"].startswith("data:image/png;base64,")


def test_a_plane_the_model_cannot_have_is_one_notice(tiny_home):
    at = linked({"ckpt": "runs/conv/model.pt", "plane": "tsne", "layer": "holes"})  # a 2-D model
    assert [w.value for w in at.warning] == ["Part of this link did not fit and was left at its default: plane."]
    assert at.session_state["layer"] == "holes" and not at.exception
    overlays = json.loads(component_data(at, "vae_map_overlays"))["overlays"]
    assert overlays["layer"]["source"].startswith("data:image/png;base64,")
    at = linked({"plane": "nope", "layer": "<b>"})
    assert [w.value for w in at.warning] == ["Part of this link did not fit and was left at its default: plane, layer."]


def test_a_large_latent_traverses_its_most_used_dimensions(tmp_path, monkeypatch):
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "checkpoints" / "z100.pt", VAE(VAEConfig(latent_dim=100, hidden=[16])), dataset="mnist")
    at = linked({"tab": "traverse"}, tmp_path, monkeypatch)
    msg = traverse_message(at)
    kls = [r["kl"] for r in msg["rows"]]
    assert len(msg["rows"]) == 64 and len(msg["base"]) == 100 and kls == sorted(kls, reverse=True)
    assert any("The 64 dimensions with the most KL are shown." in c.value for c in at.caption)
