"""A view is a link: the explorer's view lives in the page's query string, so a reload restores it
and a copied link shows a colleague the same view.

Format (every field optional; absent means the default):
    ckpt=checkpoints/mnist-mlp-z2.pt   picker entry
    z=0.5,-1.25                        the decoder's point, one number per latent dim (latent <= 16)
    zb=AAA8...                         the same for a larger latent: float16 little-endian, URL-safe
                                       base64 (a latent-1024 link is under 3 KB)
    sel=123                            the clicked test digit
    a=7&b=42                           interpolation end points (test indices)
    plane=pca | plane=axes&x=0&y=3     the map's plane (latent size > 2 only; also plane=tsne, plane=umap
                                       where its library is installed)
    layers=underlay,contours           the map's optional layers
    layer=holes | layer=magnification  the map's analysis layer
    tab=canvas | tab=interpolate       the open view (explore when absent)

The page writes it (explorer/link.js, message "link v1" in docs/page-protocol.md), replacing the
history entry; Python only reads it, once per session (its first run). Values that do not fit (a checkpoint that is
gone, an index out of range, text where a number belongs, z of the wrong length) fall back to
their defaults, with one notice naming them (shown until dismissed); the rest of the link still applies.
"""
import base64
import binascii
import json
import math
from urllib.parse import urlencode

import numpy as np
import streamlit as st

from explorer import state
from explorer.backend import bundle, embed, serving
from explorer.state import Key

TABS = {name.lower(): name for name in state.VIEWS}  # tab=canvas: the view's name in lower case
PLANES = {"pca": "PCA of the means", "axes": "Two latent dims"}
LAYERS = (Key.UNDERLAY, Key.CONTOURS)  # their names in the link are their keys
ANALYSIS = ("holes", "magnification")  # backend/layers.py: KINDS (the link module imports no numpy work)
MAX_FIELD = 3000  # characters: longer values are not read at all (zb for latent 1,024 is 2,732)
TEXT_Z_UP_TO = 16  # latent sizes written as z=1.5,-0.25,...; larger ones as zb= (float16, URL-safe base64)
ZB_LIMIT = 60000.0  # |z| written as zb is clipped to this (float16's largest is 65,504)
VERSION = 1  # of the link message; link.js refuses any other
JS = bundle.module("link.js")
_component = st.components.v2.component("vae_link", js=JS, css=bundle.css("hidden.css"))


def _params() -> dict[str, str]:
    return {k: v[:MAX_FIELD] for k, v in st.query_params.to_dict().items()}


def _index(text: str, n: int) -> int | None:
    try:
        value = int(text)
    except ValueError:
        return None
    return value if 0 <= value < n else None


def _z_from(field: str, text: str) -> list[float]:
    """z from its link field: z = comma-separated numbers, zb = float16 little-endian in URL-safe
    base64 (padding optional). [] when it does not parse."""
    try:
        if field == "z":
            return [float(v) for v in text.split(",")]
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        if len(raw) % 2:
            return []
        return np.frombuffer(raw, "<f2").astype(np.float64).tolist()
    except (ValueError, binascii.Error):
        return []


def z_field(z) -> tuple[str, str]:
    """The link's field for z: readable text for small latents, compact float16 bytes for large ones
    (about 2.7 characters a dimension instead of 6, so a latent-1024 link stays under 3 KB)."""
    if len(z) <= TEXT_Z_UP_TO:
        return "z", ",".join(np.format_float_positional(float(v), precision=3, trim="-") for v in z)
    raw = np.clip(np.asarray(z, np.float64), -ZB_LIMIT, ZB_LIMIT).astype("<f2").tobytes()
    return "zb", base64.urlsafe_b64encode(raw).decode().rstrip("=")


def apply_checkpoint(choices: list[str]) -> int:
    """Before the picker draws: the picker's default index, the link's checkpoint when it is one the
    picker offers. A default, not a value written into the widget's state: a value written from
    Python is lost when a component's callback reruns the page while its first run is still being
    drawn, and the picker would fall back to its first entry (another model)."""
    wanted = state.get(Key.LINK_CKPT)
    if not state.get(Key.LINK_READ):
        bad = []
        wanted = _params().get("ckpt")
        if wanted is not None and wanted not in choices:
            bad.append("checkpoint")
        state.put(Key.LINK_CKPT, wanted)
        state.put(Key.LINK_BAD, bad)
    return choices.index(wanted) if wanted in choices else 0


def apply_view(latent_dim: int, n_test: int) -> None:
    """After the checkpoint's state is reset: the rest of the link, once per session."""
    if state.get(Key.LINK_READ):
        return
    state.put(Key.LINK_READ, True)
    p, bad = _params(), list(state.get(Key.LINK_BAD, []))
    for field in ("z", "zb"):
        if field in p:
            z = _z_from(field, p[field])
            if len(z) == latent_dim and all(math.isfinite(v) for v in z):
                state.set_z(z)
            else:
                bad.append(field)
    for field in ("sel", "a", "b"):
        if field in p:
            index = _index(p[field], n_test)
            if index is None:
                bad.append(field)
            elif field == "sel":
                state.select(index)
            else:
                state.choose(field.upper(), index)
    if "plane" in p:
        planes = {**PLANES, **{m: embed.METHODS[m][0] for m in embed.available()}}
        if latent_dim <= 2 or p["plane"] not in planes:  # a 2-D model's map is its latent plane
            bad.append("plane")
        else:
            state.put(Key.PLANE, planes[p["plane"]])
            x, y = _index(p.get("x", "0"), latent_dim), _index(p.get("y", "1"), latent_dim)
            if p["plane"] == "axes" and (x is None or y is None or x == y):
                bad.append("x/y")
            elif p["plane"] == "axes":
                state.put(Key.DIM_I, x)
                state.put(Key.DIM_J, y)
    if "layers" in p:
        layers = [v for v in p["layers"].split(",") if v]
        if all(v in LAYERS for v in layers):
            for layer in LAYERS:
                state.put(layer, layer in layers)
        else:
            bad.append("layers")
    if "layer" in p:
        if p["layer"] in ANALYSIS:
            state.put(Key.LAYER, p["layer"])
        else:
            bad.append("layer")
    if "tab" in p:
        if p["tab"] in TABS:
            state.put(Key.TAB, TABS[p["tab"]])
        else:
            bad.append("tab")
    if bad:
        state.put(Key.LINK_NOTICE, f"Part of this link did not fit and was left at its default: {', '.join(bad)}.")


def notice() -> None:
    """The link's notice, drawn on every run of the page until its OK is pressed. Not a toast: a toast
    sent in a run that a component's callback interrupts is dropped with that run's other messages,
    and the notice was lost in ~2 of 136 loads."""
    text = state.get(Key.LINK_NOTICE)
    if text:
        said, ok = st.columns([12, 1], vertical_alignment="center")
        said.warning(text, icon=":material/link_off:")
        ok.button("OK", key=Key.LINK_NOTICE_OK, on_click=state.put, args=(Key.LINK_NOTICE, None))


def message(ckpt: str, latent_dim: int) -> dict:
    """Link v1, the current view: {v, seq, query}; commas and slashes are left readable in the query."""
    field, value = z_field(state.z())
    view = {"ckpt": ckpt, field: value}
    if state.selected() is not None:
        view["sel"] = str(state.selected())
    a, b = state.ends()
    for end in state.chosen_ends():
        if end not in state.own_ends():  # a drawing is not in the link; its end is left out
            view[end.lower()] = str(a if end == "A" else b)
    if latent_dim > 2:
        names = {**PLANES, **{m: name for m, (name, _) in embed.METHODS.items()}}
        plane = next((k for k, v in names.items() if v == state.get(Key.PLANE)), "pca")
        view["plane"] = plane
        if plane == "axes":
            view["x"], view["y"] = str(state.get(Key.DIM_I, 0)), str(state.get(Key.DIM_J, 1))
    layers = [layer for layer in LAYERS if state.get(layer)]
    if layers:
        view["layers"] = ",".join(layers)
    if state.get(Key.LAYER) in ANALYSIS:
        view["layer"] = state.get(Key.LAYER)
    tab = next((k for k, label in TABS.items() if label == state.get(Key.TAB)), None)
    if tab is not None and TABS[tab] != state.VIEWS[0]:
        view["tab"] = tab
    return {"v": VERSION, "seq": serving.stamp(), "query": urlencode(view, safe=",/")}


def write(ckpt: str, latent_dim: int) -> None:
    """Put the current view into the address bar: the page does it (link.js), replacing the query
    string. This element is drawn by the page's runs; when only the decoder's fragment reruns (z
    moved), the fragment posts the same message as its "link" part (panels/decoder.py)."""
    # bytes as data: any other data Streamlit first checks for dataframes, importing pandas (~0.7 s)
    _component(key=Key.LINK, data=json.dumps(message(ckpt, latent_dim)).encode(), height=0)
