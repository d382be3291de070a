"""Your digit: draw one or upload an image; the encoder runs in the page while you draw, and torch
scores the drawing when a stroke ends.

The page side is draw.js (canvas, preprocessing, encoder, marker); the encoder's weights go to the
page once per checkpoint, only when this panel is first opened. What crosses into the page:
- the encoder blob (weights.pack_encoder), data of the invisible `draw_encoder` element, outside
  the panel's fragment (encoder.js);
- the draw message, b"VAED" + JSON {v, model, proj: {center, W}, image?: {v, pixels}}, data of the
  `draw` element (draw.js): where the map's plane is (so the page places the marker) and an upload
  Python prepared (base64 of 28x28 uint8), taken by the page once per `image.v`;
- `draw_off`, while the panel is closed: clears the drawing's marker;
- back: {drawn: {seq, pixels: base64 of the 28x28 | null}} when a stroke ends (or undo, clear).
"""
import base64
import hashlib
import json
import logging
import os
import re
import sys
import time

import numpy as np
import streamlit as st

from explorer import state
from explorer.backend import bundle, images, uploads
from explorer.backend.infer import decode, torch_side
from explorer.backend.prep import SIZE, DigitError, prepare
from explorer.backend.projection import Projection
from explorer.backend.snapshot import Snapshot
from explorer.panels.selection import DATA_PROBLEM
from vae_core.errors import DataError

log = logging.getLogger("explorer")

VERSION = 1  # of the draw message; draw.js refuses any other
N_NEIGHBOURS = 8
N_SAMPLES = 5
TIMING = bool(os.environ.get("VAE_EXPLORER_TIMING"))  # stderr lines for bench/your_digit.py
DRAW_JS, ENCODER_JS, NEAR_JS = bundle.module("draw.js"), bundle.module("encoder.js"), bundle.module("near.js")
_draw = st.components.v2.component("vae_draw", js=DRAW_JS, css=bundle.css("draw.css"))
_encoder = st.components.v2.component("vae_draw_encoder", js=ENCODER_JS, css=bundle.css("hidden.css"))
_near = st.components.v2.component("vae_near", js=NEAR_JS, css=bundle.css("near.css"))
_off = st.components.v2.component("vae_draw_off", js=bundle.module("draw_off.js"), css=bundle.css("hidden.css"))


def message(view: Snapshot, proj: Projection) -> bytes:
    """The draw message (see the module docstring)."""
    # a plane with no inverse (t-SNE, UMAP) has no place for a new point: no marker there (proj null)
    msg = {"v": VERSION, "model": view.ident, "proj": None if proj.nonlinear else
           {"center": np.round(proj.center, 6).tolist(), "W": np.round(proj.W, 6).tolist()}}
    own = state.drawing()
    if own is not None and own["source"] == "upload":
        msg["image"] = {"v": own["v"], "pixels": base64.b64encode(own["pixels"]).decode()}
    return b"VAED" + json.dumps(msg).encode()


def toggle(view: Snapshot, proj: Projection, use_live: bool) -> None:
    """The panel's switch, under the map; the panel itself when it is on."""
    on = st.toggle("✏️ Your digit: draw one, or upload an image, and watch the encoder place it",
                   key=state.Key.DRAW_ON)
    if not on:
        _off(key=state.Key.DRAW_OFF, data=b"off", height=0)
        return
    blob = torch_side().encoder_blob(view, with_decoder=not use_live)  # torch: this panel needs it, the first page not
    if blob is None:
        st.info("This model has layers the page cannot run, so it cannot encode a drawing live.")
        return
    # outside the panel's fragment: a stroke's end reruns the panel without re-sending (or hashing) this
    _encoder(key=state.Key.DRAW_ENCODER, data=blob, height=0)
    panel(view, proj)


def take_drawing() -> None:
    """The canvas sent a finished stroke (or undo, clear): its 28x28, base64; checked, never trusted."""
    drawn = state.draw_commit()
    if not isinstance(drawn, dict):
        return
    pixels = drawn.get("pixels")
    if pixels is None:
        state.set_drawing(None, "drawn")
        return
    try:
        raw = base64.b64decode(pixels, validate=True) if isinstance(pixels, str) and len(pixels) < 2000 else b""
    except ValueError:
        raw = b""
    if len(raw) == SIZE * SIZE:
        state.set_drawing(raw, "drawn")


def take_upload() -> None:
    """An uploaded file: prepared as the model's 28x28 (explorer/prep.py), or one line saying why not."""
    f = state.new_upload()
    if f is None:
        return
    try:
        pixels = prepare(uploads.read_grey(f.getvalue()))
    except DigitError as e:
        state.refuse_drawing(f"{shown_name(f.name)}: {e}")
        return
    state.set_drawing(pixels.tobytes(), "upload")


def shown_name(name: str) -> str:
    """A file name as plain text in a markdown line: other characters become '_', which is escaped."""
    return re.sub(r"[^A-Za-z0-9 .\-]", "_", name[:60]).replace("_", "\\_") or "the file"


@st.fragment
def panel(view: Snapshot, proj: Projection) -> None:
    """Canvas and encoder in the page; upload; the drawing scored by torch. A stroke's end reruns only this."""
    models = torch_side()
    if state.take_full_rerun():  # a neighbour was picked: the selection panel, outside this fragment, shows it
        st.rerun()
    started = time.perf_counter()
    try:
        models.test_scores(view)  # once per model, on opening: a stroke's end then only scores the drawing
    except DataError as e:  # the ranks and the neighbours need the test images
        log.warning("your digit unavailable for %s: %s", view.name, e)
        st.error(DATA_PROBLEM)
        return
    _draw(key=state.Key.DRAW, data=message(view, proj), on_drawn_change=take_drawing)
    st.file_uploader("…or upload an image (PNG, JPEG, WebP or GIF)", type=uploads.EXTENSIONS, key=state.Key.UPLOAD,
                     on_change=take_upload, max_upload_size=uploads.MAX_MB)
    if state.draw_problem():
        st.error(state.draw_problem())
    if TIMING:
        print(f"timing: draw panel before scoring {1000 * (time.perf_counter() - started):.2f} ms", file=sys.stderr,
              flush=True)
    own = state.drawing()
    if own is not None:
        started = time.perf_counter()
        scored(view, own["pixels"])
        if TIMING:
            print(f"timing: scored {1000 * (time.perf_counter() - started):.2f} ms", file=sys.stderr, flush=True)


def scored(view: Snapshot, pixels: bytes) -> None:
    """What torch makes of the drawing: -ELBO and its rank, posterior samples, nearest test digits."""
    models = torch_side()
    x = np.frombuffer(pixels, np.uint8).reshape(SIZE, SIZE) / 255.0
    s = models.score(view, x)
    neg_elbo = s["nll"] + s["kl"]
    rank = float((models.test_scores(view) < neg_elbo).mean())
    st.markdown(f"**−ELBO {neg_elbo:.1f} nats** = reconstruction {s['nll']:.1f} + KL {s['kl']:.1f} · "
                f"more unusual than **{rank:.0%}** of the test digits")
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(pixels).digest()[:8], "little"))
    z = s["mu"] + rng.standard_normal((N_SAMPLES, view.latent_dim)) * np.exp(0.5 * s["logvar"])
    st.image(images.inline(images.grid_png(decode(view, z), nrow=N_SAMPLES, scale=3)),
             caption=f"{N_SAMPLES} samples from q(z | your digit)")
    near = nearest(view.mu, s["mu"], N_NEIGHBOURS)
    st.caption(f"The {N_NEIGHBOURS} nearest test digits in latent space (click one to select it)")
    # one element, not 8 images and 8 buttons: a stroke's end redraws far less of the page
    items = [{"i": int(i), "label": view.classes[int(view.labels[i])], "src": _thumbnail(view.dataset, int(i))}
             for i in near]
    _near(key=state.Key.NEAR, data=json.dumps({"v": VERSION, "items": items}).encode(), on_pick_change=take_near,
          height=72)
    c1, c2, c3 = st.columns(3)
    if c1.button("Decode this point", key="own_decode", type="primary", use_container_width=True):
        state.set_z(s["mu"])
        st.rerun()
    for col, end in ((c2, "A"), (c3, "B")):
        if col.button(f"Set as {end}", key=f"own_{end}", use_container_width=True):
            state.choose(end, point=s["mu"])
            st.rerun()


@st.cache_data(show_spinner=False, max_entries=4096)
def _thumbnail(dataset: str, index: int) -> str:
    return images.inline(images.to_png(torch_side().test_split(dataset)[0].images[index].numpy() / 255.0))


def take_near() -> None:
    """A click on a neighbour's thumbnail: select that test digit, as a click on the map would."""
    pick = state.near_pick()
    index = pick.get("i") if isinstance(pick, dict) else None
    if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < state.n_test():
        state.select(index)
        state.want_full_rerun()


def nearest(mu: np.ndarray, z: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k test means nearest to z (Euclidean, all latent dims), nearest first."""
    d = ((mu - np.asarray(z, np.float32)) ** 2).sum(1)
    k = min(k, len(d))
    near = np.argpartition(d, k - 1)[:k]
    return near[np.argsort(d[near], kind="stable")]
