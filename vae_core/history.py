"""A run's history: what a replay of its training needs (the map's frames, the curves, the decodes at
a number of moments), written by train.py as it trains and read by the app. numpy and the standard
library only: the app reads it without torch.

The file (`model.history` beside `model.pt`; `NAME.history` beside a shipped `NAME.pt`) is MAGIC, then
records appended one at a time, each sealed on its own so a file still being written can be read, a
torn last record is simply not there yet, and damage anywhere else is refused:

    kind (4 bytes) | meta length u32 | data length u32 | crc32 of all before it and after it u32
    meta: JSON {"arrays": [[name, dtype, shape], ...], ...}   data: those arrays, C order, concatenated

Kinds: RUN_ (once, first: the run's settings, the tracked test digits), FRAM (the tracked digits'
positions on the map, the curves since the last frame, KL per dim, and sometimes a grid of decodes),
EPOC (an epoch's test figures), STOP (a run stopped or finished:
`reason`). Every size is checked against the bounds here before anything is allocated.
"""
import json
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MAGIC = b"VAEHIST1"
_HEAD = struct.Struct("<4sIII")
KINDS = (b"RUN_", b"FRAM", b"EPOC", b"STOP")
DTYPES = {"<f2", "<f4", "|u1", "<u2"}
MAX_META = 1 << 16
MAX_RECORD = 8 << 20  # bytes of one record's arrays (a frame of a 2-D latent: ~4 KB, 54 KB with decodes)
MAX_BYTES = 64 << 20  # a whole history file: the writer stops recording before this
MAX_ARRAYS = 8
TRACKED = 1000  # test digits followed in every frame: 100 of each class
FRAMES_PER_EPOCH = 24
MAX_FRAMES = 1000  # a long run records frames further apart (~4.3 KB each for a 2-D latent)
GRID = 8  # decodes per side of a frame's grid
DECODE_EVERY = 24  # frames between two grids of decodes (plus the first four frames and every epoch end)


class HistoryError(ValueError):
    """A history file that cannot be used: one line saying why."""


@dataclass
class Record:
    kind: str
    meta: dict
    arrays: dict = field(default_factory=dict)


def encode(kind: bytes, meta: dict, arrays: dict | None = None) -> bytes:
    """One sealed record."""
    arrays = {k: np.ascontiguousarray(v) for k, v in (arrays or {}).items()}
    meta = {**meta, "arrays": [[k, v.dtype.str, list(v.shape)] for k, v in arrays.items()]}
    for _, dtype, _ in meta["arrays"]:
        assert dtype in DTYPES, dtype
    body = json.dumps(meta, separators=(",", ":")).encode()
    data = b"".join(v.tobytes() for v in arrays.values())
    head = kind + struct.pack("<II", len(body), len(data))
    return head + struct.pack("<I", zlib.crc32(body + data, zlib.crc32(head))) + body + data


def _shapes(meta) -> list[tuple[str, np.dtype, tuple]]:
    arrays = meta.get("arrays") if isinstance(meta, dict) else None
    if not isinstance(arrays, list) or len(arrays) > MAX_ARRAYS:
        raise HistoryError("a record's array list is missing or too long")
    out = []
    for item in arrays:
        if (not isinstance(item, list) or len(item) != 3 or not isinstance(item[0], str) or item[1] not in DTYPES
                or not isinstance(item[2], list) or len(item[2]) > 4
                or not all(isinstance(n, int) and 0 <= n <= MAX_RECORD for n in item[2])):
            raise HistoryError("a record describes an array it cannot hold")
        out.append((item[0], np.dtype(item[1]), tuple(item[2])))
    return out


def parse(buf: bytes, start: int = 0, final: bool = True, limit: int = MAX_BYTES) -> tuple[list[Record], int]:
    """The whole records in buf[start:], checked, and the offset after the last one. With `final`
    False (a file still being written) a torn record at the end is left for later; otherwise, and
    for any record that is not whole and sealed, HistoryError. At most `limit` bytes are parsed."""
    out, at, end = [], start, min(len(buf), start + limit)
    while at < end:
        if len(buf) - at < _HEAD.size:
            if final:
                raise HistoryError(f"cut short at byte {at}")
            break
        kind, nmeta, ndata, crc = _HEAD.unpack_from(buf, at)
        if kind not in KINDS or nmeta > MAX_META or ndata > MAX_RECORD:
            raise HistoryError(f"damaged at byte {at} (not a record)")
        stop = at + _HEAD.size + nmeta + ndata
        if stop > len(buf):  # torn: still being written, or cut
            if final:
                raise HistoryError(f"cut short at byte {at}")
            break
        if stop > end and out:  # past this call's limit: the next call's
            break
        body = bytes(buf[at + _HEAD.size: at + _HEAD.size + nmeta])
        data = memoryview(buf)[at + _HEAD.size + nmeta: stop]
        if zlib.crc32(data, zlib.crc32(body, zlib.crc32(buf[at:at + 12]))) != crc:
            raise HistoryError(f"damaged at byte {at} (its seal does not match)")
        try:
            meta = json.loads(body)
        except ValueError:
            raise HistoryError(f"damaged at byte {at} (unreadable settings)") from None
        shapes = _shapes(meta)
        if sum(int(np.prod(s)) * d.itemsize for _, d, s in shapes) != ndata:
            raise HistoryError(f"damaged at byte {at} (its arrays do not fill it)")
        arrays, off = {}, 0
        for name, dtype, shape in shapes:
            n = int(np.prod(shape)) * dtype.itemsize
            arrays[name] = np.frombuffer(data[off:off + n], dtype).reshape(shape)
            off += n
        out.append(Record(kind.decode(), meta, arrays))
        at = stop
    return out, at


@dataclass
class History:
    run: Record
    frames: list
    epochs: list
    stop: Record | None
    size: int

    @property
    def finished(self) -> bool:
        return self.stop is not None and self.stop.meta.get("reason") == "finished"


def read(path: Path, final: bool = True) -> History:
    """A whole history, checked: HistoryError (one line) for anything that is not one."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            size = f.seek(0, 2)
            if size > MAX_BYTES:
                raise HistoryError(f"{size / 2**20:,.0f} MB, over the {MAX_BYTES >> 20} MB a history may be")
            f.seek(0)
            buf = f.read(size)
    except OSError as e:
        raise HistoryError(f"cannot be read ({e.strerror or e})") from None
    if not buf.startswith(MAGIC):
        raise HistoryError("not a run history")
    records, _ = parse(buf, len(MAGIC), final)
    return assemble(records, len(buf))


def assemble(records: list[Record], size: int) -> History:
    if not records or records[0].kind != "RUN_":
        raise HistoryError("does not start with the run's settings")
    run = records[0]
    n = len(run.arrays.get("tracked", ()))
    if "labels" not in run.arrays or len(run.arrays["labels"]) != n:
        raise HistoryError("the run's settings lack the tracked digits")
    frames, epochs, stop = [], [], None
    for r in records[1:]:
        if r.kind == "RUN_":
            raise HistoryError("holds two runs")
        if r.kind == "FRAM":
            if r.arrays.get("xy", np.empty(0)).shape != (n, 2):
                raise HistoryError(f"a frame at step {r.meta.get('step')} does not place the {n} tracked digits")
            frames.append(r)
            stop = None  # a resumed run goes on after its STOP
        elif r.kind == "EPOC":
            epochs.append(r)
        else:
            stop = r
    return History(run, frames, epochs, stop, size)


def path_for(checkpoint: Path) -> Path:
    """Where a checkpoint's history lies: runs/NAME/model.pt -> runs/NAME/model.history."""
    return Path(checkpoint).with_suffix(".history")


def frame_steps(steps_per_epoch: int, epochs: int) -> int:
    """Steps between two frames: FRAMES_PER_EPOCH a epoch, further apart past MAX_FRAMES in all."""
    per_epoch = min(FRAMES_PER_EPOCH, max(1, MAX_FRAMES // max(epochs, 1)))
    return max(1, steps_per_epoch // per_epoch)


def tracked_digits(labels: np.ndarray, n: int = TRACKED) -> np.ndarray:
    """The test digits every frame follows: the first n // classes of each class, in test order."""
    classes = np.unique(labels)
    per = max(1, n // max(len(classes), 1))
    idx = np.concatenate([np.flatnonzero(labels == c)[:per] for c in classes])
    return np.sort(idx).astype(np.uint16)


def thinned(path: Path, keep_every: int) -> bytes:
    """A whole, finished history with every `keep_every`-th frame kept (and the first few, the epochs'
    ends and the last), grids of decodes only on the frames kept at epochs' ends and the first four:
    how a shipped model's history is made small (train.py --export --thin-history K)."""
    h = read(path)
    spe = h.run.meta["steps_per_epoch"]
    kept = [f for i, f in enumerate(h.frames)
            if i < 4 or i % keep_every == 0 or f.meta["step"] % spe == 0 or i == len(h.frames) - 1]
    out = [encode(b"RUN_", _plain(h.run.meta), h.run.arrays)]
    records = sorted(kept + h.epochs + ([h.stop] if h.stop else []),
                     key=lambda r: (r.meta["step"], ("FRAM", "EPOC", "STOP").index(r.kind)))
    for r in records:
        arrays = dict(r.arrays) if r.kind == "FRAM" else {}
        if r.kind == "FRAM" and "img" in arrays and not (kept.index(r) < 4 or r.meta["step"] % spe == 0):
            del arrays["img"]
        out.append(encode(r.kind.encode(), _plain(r.meta), arrays))
    return MAGIC + b"".join(out)


def _plain(meta: dict) -> dict:
    return {k: v for k, v in meta.items() if k != "arrays"}
