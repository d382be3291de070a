"""Decoding with a view's model. An MLP decoder runs in numpy from the snapshot's weights blob (the
same weights the page decodes with), so the server path needs no torch and never waits on torch's
thread pool; other decoders use the torch model, imported on first use."""

import numpy as np
import streamlit as st

from explorer.backend.snapshot import Snapshot
from explorer.backend.weights import read_header


@st.cache_resource(show_spinner=False, max_entries=16)
def _mlp(ident: str, _blob: bytes) -> list | None:
    """[(W [out, in], b [out], relu)] from a weights blob whose steps are all linear, else None.
    Cached by the view's ident alone: hashing the 3 MB blob would cost more than the decode."""
    header, start = read_header(_blob)
    if not header["layers"] or any(step["op"] != "linear" for step in header["layers"]):
        return None
    floats = np.frombuffer(_blob, "<f4", count=header["n_floats"], offset=start)
    layers = []
    for step in header["layers"]:
        W = floats[step["w"]:step["w"] + step["in"] * step["out"]].reshape(step["out"], step["in"])
        layers.append((np.ascontiguousarray(W.T), floats[step["b"]:step["b"] + step["out"]], step["relu"]))
    return layers


def torch_side():
    """backend/models.py, the app's torch side, imported on first use."""
    from explorer.backend import models  # torch, kept off the start-up path
    return models


def torch_model(view: Snapshot):
    """The view's torch model (imports torch on first use)."""
    return torch_side().model_for(view)


def decode(view: Snapshot, z: np.ndarray) -> np.ndarray:
    """z: [N, D] -> pixel means [N, 28, 28] with the view's model."""
    z = np.asarray(z, np.float32).reshape(-1, view.latent_dim)
    layers = _mlp(view.ident, view.blob) if view.blob else None
    if layers is None:
        return torch_side().decode(torch_model(view), z)
    h = z
    for W, b, relu in layers:
        h = h @ W + b
        if relu:
            np.maximum(h, 0, out=h)
    # clipped: a logit past +-80 is 0 or 1 in float32 anyway, and exp(-h) of one would overflow (a warning)
    return (1 / (1 + np.exp(-np.clip(h, -80, 80)))).reshape(-1, 28, 28)
