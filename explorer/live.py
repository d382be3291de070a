"""Live decoding in the browser: the MLP decoder's weights go to the page once, JS decodes per frame."""
import json
import struct
from pathlib import Path

import numpy as np
import streamlit as st
from torch import nn

from explorer import models, panels
from explorer.figures import PALETTE

MAGIC = b"VAEW"
_JS = (Path(__file__).parent / "live.js").read_text()
_CSS = """
.vae-live { font-family: var(--st-font, sans-serif); font-size: 14px; }
.vae-live .row { display: flex; gap: 16px; flex-wrap: wrap; align-items: flex-start; }
.vae-live canvas.digit { width: 280px; height: 280px; image-rendering: pixelated; border-radius: 6px;
  background: #000; }
.vae-live canvas.pad { width: 280px; height: 280px; border: 1px solid #ccc; border-radius: 6px;
  cursor: crosshair; touch-action: none; }
.vae-live .stats { color: #777; font-size: 12px; margin: 4px 0 8px; }
.vae-live .slider { display: grid; grid-template-columns: 36px 1fr 48px; gap: 8px; align-items: center; }
.vae-live .slider input { width: 100%; accent-color: var(--st-primary-color, #ff4b4b); }
.vae-live .value { font-variant-numeric: tabular-nums; text-align: right; }
.vae-live summary { cursor: pointer; margin: 6px 0; }
"""
_component = st.components.v2.component("vae_live_decoder", js=_JS, css=_CSS)


def linear_layers(model) -> list[nn.Linear] | None:
    """The decoder's Linear layers when it is Linear/ReLU alternating (what live.js runs), else None."""
    mods = list(model.decoder)
    if not mods or any(not isinstance(m, (nn.Linear, nn.ReLU)) for m in mods):
        return None
    kinds = [isinstance(m, nn.Linear) for m in mods]
    if kinds != [i % 2 == 0 for i in range(len(mods))] or not kinds[-1]:
        return None
    return [m for m in mods if isinstance(m, nn.Linear)]


def pack(model, *, ident: str, z, z_version: int, ranges, pad_xy=None, pad_labels=None,
         pad_dims=(0, 1), colors=()) -> bytes:
    """One binary blob: b'VAEW', uint32 header length, JSON header, then float32 arrays (little-endian).

    The header gives each array's offset in floats; the weights are torch's [out, in] row-major.
    """
    arrays, offset, layers = [], 0, []

    def put(a: np.ndarray) -> int:
        nonlocal offset
        a = np.ascontiguousarray(a, dtype="<f4").ravel()
        arrays.append(a)
        offset += a.size
        return offset - a.size

    for lin in linear_layers(model):
        w, b = lin.weight.detach().numpy(), lin.bias.detach().numpy()
        layers.append({"in": lin.in_features, "out": lin.out_features, "w": put(w), "b": put(b)})
    header = {"id": ident, "latent_dim": model.cfg.latent_dim, "layers": layers,
              "z": [float(v) for v in z], "z_version": int(z_version),
              "ranges": [[float(lo), float(hi)] for lo, hi in ranges]}
    if pad_xy is not None:
        header["pad"] = {"i": pad_dims[0], "j": pad_dims[1], "n": len(pad_xy), "xy": put(pad_xy),
                         "labels": put(pad_labels), "colors": list(colors)}
    header["n_floats"] = offset
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 4)
    return MAGIC + struct.pack("<I", len(text)) + text + b"".join(a.tobytes() for a in arrays)


def sidebar_toggle(model) -> bool:
    """Whether the decoder runs in the page; conv decoders fall back to the server, and say so."""
    supported = linear_layers(model) is not None
    st.sidebar.header("Decoding")
    on = st.sidebar.toggle("Live decoding in the browser", value=supported, disabled=not supported,
                           key=f"live_{supported}", help="Decodes while you drag, with no server round trip")
    if not supported:
        st.sidebar.caption("This decoder is convolutional: it decodes on the server, after each slider release.")
    return on and supported


@st.cache_resource(show_spinner=False, max_entries=8)  # 3 MB: shared, not copied per rerun
def _blob(_model, ident: str, z: tuple, z_version: int, ranges: tuple, pad_dims: tuple,
          _pad_xy, _labels, n_classes: int) -> bytes:
    return pack(_model, ident=f"{ident}|{pad_dims}", z=z, z_version=z_version, ranges=ranges,
                pad_xy=_pad_xy, pad_labels=_labels, pad_dims=pad_dims, colors=PALETTE[:max(n_classes, 1)])


def live_decoder(loaded: models.Loaded, split, mu: np.ndarray, pad_dims: tuple[int, int]) -> None:
    """The in-page decoder: sliders for every dim and, for D >= 2, a pad over two of them.

    The blob only changes when Python moves z (a button) or the model or pad dims change, so a
    commit from the page re-sends nothing big.
    """
    d = loaded.latent_dim
    ss = st.session_state
    ss.setdefault("z_pushed", (ss["z_version"], tuple(ss["z"])))
    if ss["z_pushed"][0] != ss["z_version"]:
        ss["z_pushed"] = (ss["z_version"], tuple(ss["z"]))
    pad_xy = mu[:, list(pad_dims)] if d >= 2 else None
    blob = _blob(loaded.model, loaded.ident, ss["z_pushed"][1], ss["z_version"], tuple(map(tuple, ss["ranges"])),
                 pad_dims, pad_xy, split.labels.numpy().astype(np.float32), len(split.classes))

    def on_commit():
        z = (ss.get("live") or {}).get("z")
        if isinstance(z, list) and len(z) == d and all(isinstance(v, (int, float)) for v in z):
            panels.set_z(z, from_browser=True)

    _component(key="live", data=blob, on_z_change=on_commit)
