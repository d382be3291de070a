"""The Traverse view: what each latent dimension does. One row per dimension, sorted by the KL it
carries (inactive ones marked and, past the first few rows, folded), each column the base point with
that one dimension set to a value. The base is the decoder's z, the clicked test digit's mean or the
user's own digit's mean; a clicked cell moves the decoder there.

The page decodes the grid (traverse.js) with the decoder it already holds, or with the one the
invisible `decoder_loader` element brings when this view is opened first (it asks: state "want");
without a decoder the page can run (live decoding off, a model over the page budget) the server
decodes the grid and sends one PNG. Message: b"VAET" + JSON (docs/page-protocol.md).
"""
import json

import numpy as np
import streamlit as st

from explorer import state
from explorer.backend import bundle, dims, images
from explorer.backend.infer import decode, torch_side
from explorer.backend.snapshot import Snapshot

VERSION = 1  # of the message; traverse.js refuses any other
MAGIC = b"VAET"
FOLD_AFTER = 8  # rows shown before the rest fold away
MAX_ROWS = 64  # dims shown at most, the most KL first (a latent-1024 grid would be 15,000 decodes)
BASES = {"decoder": "Decoder's z", "selected": "Clicked test digit", "drawn": "Your digit"}
_grid = st.components.v2.component("vae_traverse", js=bundle.module("traverse.js"), css=bundle.css("traverse.css"))
_loader = st.components.v2.component("vae_decoder_loader", js=bundle.module("decoder_loader.js"),
                                     css=bundle.css("hidden.css"))


def base_point(view: Snapshot, base: str) -> tuple[np.ndarray, str]:
    """The traversal's base z and, when the chosen base cannot be had, the line saying why (the
    decoder's z is used instead)."""
    z = np.asarray(state.z(), np.float64)
    if base == "selected":
        sel = state.selected()
        if sel is None or not 0 <= sel < len(view.mu):
            return z, "No test digit is clicked yet (click one on the Explore map): the base is the decoder's z."
        return view.mu[sel].astype(np.float64), ""
    if base == "drawn":
        own = state.drawing()
        if own is None:
            return z, "No digit of yours yet (draw one under the Explore map): the base is the decoder's z."
        x = np.frombuffer(own["pixels"], np.uint8).reshape(28, 28) / 255.0
        return np.asarray(torch_side().score(view, x)["mu"], np.float64), ""  # torch: this base needs the encoder
    return z, ""


def message(view: Snapshot, base: np.ndarray, span: str, n: int, image: str | None, follows: bool = False) -> bytes:
    """The grid as traverse.js draws it: the rows (dim, KL, active) and each row's column values;
    `follows`: the base is the decoder's z (a clicked cell becomes the base, so the page redraws at once)."""
    order = dims.by_kl(view.kl_dims)[:MAX_ROWS]
    on = dims.active(view.activity)
    values = dims.traversal_values(view.mu, order, span, n)
    msg = {"v": VERSION, "model": view.ident, "base": [round(float(v), 5) for v in base],
           "rows": [{"dim": u, "kl": round(view.kl_dims[u], 4), "active": on[u]} for u in order],
           "values": np.round(values, 5).tolist(), "ticks": np.linspace(-3, 3, n).round(3).tolist(),
           "fold_after": FOLD_AFTER, "follows": follows}
    if image is not None:
        msg["image"] = image
    return MAGIC + json.dumps(msg, separators=(",", ":")).encode()


def grid_zs(view: Snapshot, base: np.ndarray, span: str, n: int) -> np.ndarray:
    """Every cell's z, row by row: [rows * n, D] (the page computes the same from the message)."""
    order = dims.by_kl(view.kl_dims)[:MAX_ROWS]
    values = dims.traversal_values(view.mu, order, span, n)
    zs = np.repeat(base[None], len(order) * n, 0)
    for r, u in enumerate(order):
        zs[r * n:(r + 1) * n, u] = values[r]
    return zs


def tab(view: Snapshot, use_live: bool) -> None:
    c1, c2, c3 = st.columns([3, 2, 2])
    base = c1.radio("Base", list(BASES), format_func=BASES.get, horizontal=True, key=state.Key.TRAVERSE_BASE,
                    help="The point each row starts from: every cell is this z with one dimension changed")
    span = c2.radio("Columns", dims.SPANS, horizontal=True, key=state.Key.TRAVERSE_SPAN,
                    format_func={"prior": "±3 prior σ", "data": "±3 data σ"}.get,
                    help="±3 prior σ: the dimension set to -3 ... +3 (the prior is N(0, 1)). ±3 data σ: the "
                         "test digits' mean on that dimension ± 3 of their standard deviation")
    n = c3.slider("Values per row", 5, dims.MAX_COLUMNS, 9, 2, key=state.Key.TRAVERSE_N)
    z, problem = base_point(view, base)
    if problem:
        st.info(problem)
    on = dims.active(view.activity)
    shown = "" if view.latent_dim <= MAX_ROWS else f" The {MAX_ROWS} dimensions with the most KL are shown."
    st.caption(f"Rows sorted by the KL each dimension carries (nats, over the test set); {sum(on)} of "
               f"{view.latent_dim} active.{shown} Click a cell to move the decoder there (shown in Explore).")
    image = None
    if not (use_live and view.live_supported):  # the page decodes nothing: the server draws the grid
        zs = grid_zs(view, z, span, n)
        image = images.inline(images.grid_png(decode(view, zs), nrow=n, padding=0))
    follows = base == "decoder" or bool(problem)  # a base that could not be had is the decoder's z too
    _grid(key=state.Key.TRAVERSE, data=message(view, z, span, n, image, follows),
          on_pick_change=state.take_traverse_pick, on_want_change=lambda: None)
    if image is None and state.traverse_state().get("want") == view.ident:
        _loader(key=state.Key.DECODER_LOADER, data=view.blob, height=0)

