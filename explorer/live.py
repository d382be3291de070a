"""Live decoding in the browser: the decoder's weights (MLP or conv) go to the page once, JS decodes per frame."""
import json
import struct
from pathlib import Path

import numpy as np
import streamlit as st
from torch import nn

from explorer import models, panels
from explorer.figures import PALETTE

MAGIC = b"VAEW"
BLOB_VERSION = 1  # live.js refuses any other
POINT_MAGIC = b"VAEZ"
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
.vae-live.error { color: #b00020; padding: 8px 0; }
"""
_component = st.components.v2.component("vae_live_decoder", js=_JS, css=_CSS)


def decoder_ops(model) -> list[tuple[str, nn.Module, bool, tuple]] | None:
    """The decoder as the steps live.js runs: (kind "linear" | "convT", module, ReLU after it, input
    shape), or None when it holds anything else (that decoder then decodes on the server)."""
    ops, shape = [], (model.cfg.latent_dim,)
    for m in (m for m in model.decoder.modules() if not list(m.children())):
        if isinstance(m, nn.ReLU) and ops and not ops[-1][2]:
            ops[-1] = (ops[-1][0], ops[-1][1], True, ops[-1][3])
        elif isinstance(m, nn.Linear) and shape == (m.in_features,):
            ops.append(("linear", m, False, shape))
            shape = (m.out_features,)
        elif isinstance(m, nn.Unflatten) and m.dim == 1 and (int(np.prod(m.unflattened_size)),) == shape:
            shape = tuple(m.unflattened_size)
        elif isinstance(m, nn.Flatten) and m.start_dim == 1 and m.end_dim == -1:
            shape = (int(np.prod(shape)),)  # row-major already: nothing to do in the page
        elif _plain_conv_transpose(m) and len(shape) == 3 and shape[0] == m.in_channels:
            k, s, p, op = m.kernel_size[0], m.stride[0], m.padding[0], m.output_padding[0]
            ops.append(("convT", m, False, shape))
            shape = (m.out_channels, *((n - 1) * s - 2 * p + k + op for n in shape[1:]))
        else:
            return None
    return ops if ops and shape in ((28 * 28,), (1, 28, 28)) else None


def _plain_conv_transpose(m) -> bool:
    """A ConvTranspose2d with square kernel, stride and padding, one group, no dilation, a bias."""
    return (isinstance(m, nn.ConvTranspose2d) and m.groups == 1 and m.dilation == (1, 1) and m.bias is not None
            and isinstance(m.padding, tuple) and m.padding_mode == "zeros"
            and all(len(set(v)) == 1 for v in (m.kernel_size, m.stride, m.padding, m.output_padding)))


def pack(model, *, ident: str, ranges, pad_xy=None, pad_labels=None, pad_dims=(0, 1), colors=()) -> bytes:
    """The weights blob, sent once per model and pad: b'VAEW', uint32 header length, JSON header,
    then float32 arrays (little-endian). The header carries the format `version` and lists the
    decoder's steps (see decoder_ops) with each array's offset in floats; the weights keep torch's
    layouts, row-major. The point shown travels apart (`point_message`): moving it sends bytes, not MB.
    """
    arrays, offset, layers = [], 0, []

    def put(a: np.ndarray) -> int:
        nonlocal offset
        a = np.ascontiguousarray(a, dtype="<f4").ravel()
        arrays.append(a)
        offset += a.size
        return offset - a.size

    for kind, m, relu, shape in decoder_ops(model):
        w, b = put(m.weight.detach().numpy()), put(m.bias.detach().numpy())
        if kind == "linear":  # weight [out, in]
            layers.append({"op": kind, "in": m.in_features, "out": m.out_features, "relu": relu, "w": w, "b": b})
        else:  # ConvTranspose2d, weight [c_in, c_out, k, k]
            layers.append({"op": kind, "cin": shape[0], "hin": shape[1], "win": shape[2], "cout": m.out_channels,
                           "k": m.kernel_size[0], "stride": m.stride[0], "pad": m.padding[0],
                           "outpad": m.output_padding[0], "relu": relu, "w": w, "b": b})
    header = {"version": BLOB_VERSION, "id": ident, "latent_dim": model.cfg.latent_dim, "layers": layers,
              "fold_after": panels.FOLD_SLIDERS_AFTER, "ranges": [[float(lo), float(hi)] for lo, hi in ranges]}
    if pad_xy is not None:
        header["pad"] = {"i": pad_dims[0], "j": pad_dims[1], "n": len(pad_xy), "xy": put(pad_xy),
                         "labels": put(pad_labels), "colors": list(colors)}
    header["n_floats"] = offset
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 4)
    return MAGIC + struct.pack("<I", len(text)) + text + b"".join(a.tobytes() for a in arrays)


def sidebar_toggle(model) -> bool:
    """Whether the decoder runs in the page; decoders live.js cannot run fall back to the server, and say so."""
    supported = decoder_ops(model) is not None
    st.sidebar.header("Decoding")
    on = st.sidebar.toggle("Live decoding in the browser", value=supported, disabled=not supported,
                           key=f"live_{supported}", help="Decodes while you drag, with no server round trip")
    if not supported:
        st.sidebar.caption("This decoder has layers the page cannot run: it decodes on the server, "
                           "after each slider release.")
    return on and supported


def point_message(blob_id: str, z, z_version: int) -> bytes:
    """The point the decoder shows, as Python last set it: b'VAEZ' + JSON {id, v, z}. The page
    takes it when `v` changes (a button, a new model) and otherwise keeps the user's own point."""
    return POINT_MAGIC + json.dumps({"id": blob_id, "v": int(z_version), "z": [float(v) for v in z]}).encode()


@st.cache_resource(show_spinner=False, max_entries=8)  # 3 MB: shared, not copied per rerun
def _blob(_model, ident: str, ranges: tuple, pad_dims: tuple, _pad_xy, _labels, n_classes: int) -> bytes:
    return pack(_model, ident=blob_id(ident, pad_dims), ranges=ranges, pad_xy=_pad_xy, pad_labels=_labels,
                pad_dims=pad_dims, colors=PALETTE[:max(n_classes, 1)])


def blob_id(ident: str, pad_dims: tuple) -> str:
    return f"{ident}|{pad_dims}"


def live_decoder(loaded: models.Loaded, split, mu: np.ndarray, pad_dims: tuple[int, int]) -> None:
    """The in-page decoder: sliders for every dim and, for D >= 2, a pad over two of them.

    The weights blob only changes with the model or the pad dims, so Streamlit sends it once and
    a reference after that; the point goes in a message of its own, under 1 KB.
    """
    d = loaded.latent_dim
    ss = st.session_state
    ss.setdefault("z_pushed", (ss["z_version"], tuple(ss["z"])))
    if ss["z_pushed"][0] != ss["z_version"]:
        ss["z_pushed"] = (ss["z_version"], tuple(ss["z"]))
    pad_xy = mu[:, list(pad_dims)] if d >= 2 else None
    blob = _blob(loaded.model, loaded.ident, tuple(map(tuple, ss["ranges"])), pad_dims, pad_xy,
                 split.labels.numpy().astype(np.float32), len(split.classes))

    def on_commit():
        z = (ss.get("live") or {}).get("z")
        if isinstance(z, list) and len(z) == d and all(isinstance(v, (int, float)) for v in z):
            panels.set_z(z, from_browser=True)

    _point(key="live_point", data=point_message(blob_id(loaded.ident, pad_dims), ss["z_pushed"][1],
                                                ss["z_pushed"][0]), height=0)
    _component(key="live", data=blob, on_z_change=on_commit)


_POINT_JS = """
export default function ({ data }) {
  if (!data || String.fromCharCode(...data.subarray(0, 4)) !== "VAEZ") return;
  const msg = JSON.parse(new TextDecoder().decode(data.subarray(4)));
  window.__vaeLivePoint = msg;  // for a decoder that mounts after this
  window.dispatchEvent(new CustomEvent("vae-live-point", { detail: msg }));
}
"""
_point = st.components.v2.component("vae_live_point", js=_POINT_JS, css=":host { display: none; }")
