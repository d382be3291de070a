"""The live decoder's weights blob: which decoders the page can run, and their weights packed for it.
The page side is explorer/live.js, the format is written down in pack(). Torch is imported only to
read a model (a blob for server decoding, without weights, needs none)."""
import json
import struct

import numpy as np

from explorer.backend.projection import slider_ranges

MAGIC = b"VAEW"
BLOB_VERSION = 1  # live.js refuses any other
FOLD_SLIDERS_AFTER = 8  # the page's sliders past this many are folded away (sent in the blob)


def blob_id(ident: str, pad_dims: tuple) -> str:
    """The id a weights blob carries and a point names: checkpoint ident and pad dims."""
    return f"{ident}|{tuple(pad_dims)}"


def decoder_ops(model) -> list[tuple] | None:
    """The decoder as the steps the page runs: (kind "linear" | "convT", module, ReLU after it, input
    shape), or None when it holds anything else (that decoder then decodes on the server)."""
    return _steps(model.decoder, (model.cfg.latent_dim,), ((28 * 28,), (1, 28, 28)))


def encoder_ops(model) -> list[tuple] | None:
    """The encoder as the steps the page runs ("linear" | "conv"), ending in [mu, logvar]; or None."""
    return _steps(model.encoder, (1, 28, 28), ((2 * model.cfg.latent_dim,),))


def _steps(seq, shape: tuple, ends: tuple) -> list | None:
    from torch import nn  # torch, kept off the start-up path (a blob for server decoding needs none)
    ops = []
    for m in (m for m in seq.modules() if not list(m.children())):
        if isinstance(m, nn.ReLU) and ops and not ops[-1][2]:
            ops[-1] = (ops[-1][0], ops[-1][1], True, ops[-1][3])
        elif isinstance(m, nn.Linear) and shape == (m.in_features,):
            ops.append(("linear", m, False, shape))
            shape = (m.out_features,)
        elif isinstance(m, nn.Unflatten) and m.dim == 1 and (int(np.prod(m.unflattened_size)),) == shape:
            shape = tuple(m.unflattened_size)
        elif isinstance(m, nn.Flatten) and m.start_dim == 1 and m.end_dim == -1:
            shape = (int(np.prod(shape)),)  # row-major already: nothing to do in the page
        elif _plain(m, nn.ConvTranspose2d) and len(shape) == 3 and shape[0] == m.in_channels:
            k, s, p, op = m.kernel_size[0], m.stride[0], m.padding[0], m.output_padding[0]
            ops.append(("convT", m, False, shape))
            shape = (m.out_channels, *((n - 1) * s - 2 * p + k + op for n in shape[1:]))
        elif _plain(m, nn.Conv2d) and len(shape) == 3 and shape[0] == m.in_channels:
            k, s, p = m.kernel_size[0], m.stride[0], m.padding[0]
            ops.append(("conv", m, False, shape))
            shape = (m.out_channels, *((n + 2 * p - k) // s + 1 for n in shape[1:]))
        else:
            return None
    return ops if ops and shape in ends else None


def _plain(m, kind) -> bool:
    """A Conv2d / ConvTranspose2d with square kernel, stride and padding, one group, no dilation, a bias."""
    return (isinstance(m, kind) and m.groups == 1 and m.dilation == (1, 1) and m.bias is not None
            and isinstance(m.padding, tuple) and m.padding_mode == "zeros"
            and all(len(set(v)) == 1 for v in (m.kernel_size, m.stride, m.padding, m.output_padding)))


def _layers(ops, put) -> list[dict]:
    """The steps as the header lists them, each weight and bias put in the float array."""
    layers = []
    for kind, m, relu, shape in ops:
        w, b = put(m.weight.detach().numpy()), put(m.bias.detach().numpy())
        if kind == "linear":  # weight [out, in]
            layers.append({"op": kind, "in": m.in_features, "out": m.out_features, "relu": relu, "w": w, "b": b})
        else:  # ConvTranspose2d weight [c_in, c_out, k, k]; Conv2d weight [c_out, c_in, k, k]
            layers.append({"op": kind, "cin": shape[0], "hin": shape[1], "win": shape[2], "cout": m.out_channels,
                           "k": m.kernel_size[0], "stride": m.stride[0], "pad": m.padding[0],
                           "outpad": m.output_padding[0] if kind == "convT" else 0, "relu": relu, "w": w, "b": b})
    return layers


def read_header(blob: bytes) -> tuple[dict, int]:
    """A blob's JSON header and the offset in bytes where its floats start (the layout in pack())."""
    n = struct.unpack("<I", blob[4:8])[0]
    return json.loads(blob[8:8 + n]), 8 + n


class _Floats:
    """The blob's float32 payload, built array by array; put() returns each array's offset in floats."""

    def __init__(self):
        self.arrays, self.offset = [], 0

    def put(self, a: np.ndarray) -> int:
        a = np.ascontiguousarray(a, dtype="<f4").ravel()
        self.arrays.append(a)
        self.offset += a.size
        return self.offset - a.size

    def blob(self, header: dict) -> bytes:
        header["n_floats"] = self.offset
        return write(header, b"".join(a.tobytes() for a in self.arrays))


def write(header: dict, floats: bytes) -> bytes:
    """A blob of this header and these float32 bytes: MAGIC, the header's length, the JSON header
    space-padded to 4 bytes (so the floats start aligned), the floats. read_header reads it."""
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 4)
    return MAGIC + struct.pack("<I", len(text)) + text + floats


def pack(model, *, ident: str, ranges, pad_xy=None, pad_labels=None, pad_dims=(0, 1), colors=(),
         fold_after: int = 8, model_id: str | None = None, remote: dict | None = None) -> bytes:
    """The weights blob, sent once per model and pad: b'VAEW', uint32 header length, JSON header,
    then float32 arrays (little-endian). The header carries the format `version` and lists the
    decoder's steps (see decoder_ops) with each array's offset in floats; the weights keep torch's
    layouts, row-major. The point shown travels apart (`live.point`, in post.py's element): moving it
    sends bytes, not MB.

    For server decoding, model is None and `remote` says how to ask the server's route for a frame
    (explorer/remote.py: for_page): the header lists no steps and carries `remote`.
    """
    floats = _Floats()
    header = {"version": BLOB_VERSION, "id": ident, "latent_dim": len(ranges) if model is None else model.cfg.latent_dim,
              "layers": [] if model is None else _layers(decoder_ops(model), floats.put),
              "fold_after": int(fold_after), "ranges": [[float(lo), float(hi)] for lo, hi in ranges]}
    if remote is not None:
        header["remote"] = remote
    if pad_xy is not None:
        header["pad"] = {"i": pad_dims[0], "j": pad_dims[1], "n": len(pad_xy), "xy": floats.put(pad_xy),
                         "labels": floats.put(pad_labels), "colors": list(colors)}
    if model_id is not None:
        header["model"] = model_id
    return floats.blob(header)


def pack_encoder(model, *, model_id: str, prep: dict, with_decoder: bool) -> bytes:
    """The encoder's blob for the "Your digit" panel (explorer/draw.js), sent once per checkpoint when
    the panel is first opened: the same format as the decoder's, role "encoder", its `layers` ending
    in [mu, logvar]; `prep` carries the preprocessing constants (explorer/prep.py). The decoder's steps
    come along (`decoder`) only when the page does not already hold them (live decoding off)."""
    floats = _Floats()
    header = {"version": BLOB_VERSION, "role": "encoder", "id": model_id + ("|decoder" if with_decoder else ""),
              "model": model_id,
              "latent_dim": model.cfg.latent_dim, "layers": _layers(encoder_ops(model), floats.put), "prep": prep}
    if with_decoder:
        header["decoder"] = _layers(decoder_ops(model), floats.put)
    return floats.blob(header)


def pack_for(model, mu: np.ndarray, labels: np.ndarray, colors: list[str], *, ident: str, pad_dims: tuple,
             fold_after: int, remote: dict | None = None) -> bytes:
    """The blob for a model and its test encodings: slider ranges from the means, the pad over two dims.
    model None and `remote` given: the blob for server decoding (no weights, no torch)."""
    pad_xy = mu[:, list(pad_dims)] if mu.shape[1] >= 2 else None
    return pack(model, ident=blob_id(ident, pad_dims), model_id=ident,
                ranges=slider_ranges(mu), pad_xy=pad_xy, pad_labels=np.asarray(labels, np.float32),
                pad_dims=pad_dims, colors=colors, fold_after=fold_after, remote=remote)
