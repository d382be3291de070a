"""What the first page of a checkpoint needs, cached on disk so the app can draw it without torch.

A snapshot holds a checkpoint's config, metrics and dataset, the posterior means and log-variances
of its 10,000 test digits, their labels, and the live decoder's weights blob: enough for the map,
the model card and the in-page decoder. It is built once with torch (explorer/models.py) the
first time a checkpoint is opened and stored as `<cache>/<sha256 of the checkpoint file>.snap`, so
a changed checkpoint is a different key and is never served stale. A snapshot is sealed (a SHA-256
over its content, which names the checkpoint's digest and the format's version); its sizes are
bounded by what the checkpoint and the test set allow before anything is read; one that fails any
check is deleted and rebuilt (one line in the server log), never trusted.

Numpy and the standard library only: importing this module costs no torch.
"""
import hashlib
import json
import logging
import os
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import streamlit as st

from explorer.backend import dims, weights
from vae_core.sealed import file_digest

CACHE_ENV = "VAE_EXPLORER_CACHE"  # where snapshots live (default: ~/.cache/vae-explorer)
VERSION = 5  # of the snapshot layout; another version is rebuilt (3: sealed, sizes bounded; 4: KL per dim;
# 5: the blob's pad over the two dims with the most KL)
MAGIC = b"VAESNAP\0"
TEST_SIZES = {"mnist": 10_000, "fashion-mnist": 10_000}  # a snapshot holds every test digit, no more
MAX_LATENT = 1024  # vae_core.model.MAX_LATENT_DIM (this module imports no torch)
MAX_META = 1 << 20  # bytes of JSON: config, metrics, class names
PAGE_BUDGET = 32 << 20  # bytes of decoder weights the page may be sent; a bigger model decodes on the server
MAX_BLOB = PAGE_BUDGET + (1 << 20)  # the weights plus the pad's points and the header
log = logging.getLogger("explorer")


@dataclass(frozen=True, eq=False)
class Snapshot:
    name: str  # the picker entry it was opened as
    digest: str  # SHA-256 of the checkpoint file
    dataset: str
    config: dict  # VAEConfig as a dict
    metrics: dict
    integrity: str  # "sha256", or "legacy" for a file written before checkpoints carried a digest
    mu: np.ndarray  # [N, D] posterior means of the test digits (read-only)
    logvar: np.ndarray  # [N, D]
    labels: np.ndarray  # [N] int
    classes: list[str] = field(default_factory=list)
    blob: bytes = b""  # live decoder weights, the pad over pad_dims (explorer/live.py); empty: server decoding
    live_note: str = ""  # why a decoder the page could run is decoded by the server instead (its size)
    kl_dims: tuple = ()  # KL(q(z_u|x) || N(0, 1)) per dim over the test set, nats (vae_core.latents)
    activity: tuple = ()  # Cov_x(E_q[z_u]) per dim: above latents.ACTIVE_THRESHOLD a dim is active

    @property
    def ident(self) -> str:
        return ident_of(self.name, self.digest)

    @property
    def latent_dim(self) -> int:
        return int(self.config["latent_dim"])

    @property
    def live_supported(self) -> bool:
        return bool(self.blob)

    @property
    def pad_dims(self) -> tuple[int, int]:
        """The two dims the pad starts on, and the blob's pad is over: the two carrying the most KL."""
        return pad_dims_for(self.kl_dims)


def pad_dims_for(kl_dims) -> tuple[int, int]:
    """The two dims carrying the most KL, the most first ((0, 1) for a latent of 2 or less)."""
    return (0, 1) if len(kl_dims) <= 2 else tuple(dims.by_kl(kl_dims)[:2])


def ident_of(name: str, digest: str) -> str:
    """The cache key of everything derived from a checkpoint's contents, under its picker name."""
    return f"{name}@{digest[:16]}"


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "vae-explorer")


@st.cache_resource(show_spinner=False, max_entries=64)
def digest_of(path: str, stamp: tuple) -> str:
    """The file's SHA-256, once per (path, inode, size, mtime, ctime): any write changes the stamp."""
    return file_digest(Path(path))


def stamp(path: Path) -> tuple:
    s = path.stat()
    return (s.st_ino, s.st_size, s.st_mtime_ns, s.st_ctime_ns)


@st.cache_resource(show_spinner=False, max_entries=16)
def cached(name: str, digest: str) -> "Snapshot":
    """The snapshot for this checkpoint content from disk, shared by every session. LookupError when
    there is none (not cached: the next call looks again)."""
    snap = read(path_for(digest), name, digest)
    if snap is None:
        raise LookupError(digest)
    return snap


def path_for(digest: str) -> Path:
    return cache_dir() / f"{digest}.snap"


def read(path: Path, name: str, digest: str) -> "Snapshot | None":
    """The snapshot stored at path for this checkpoint digest, or None (deleted, to be rebuilt, with one
    line in the log) when it is missing anything, claims a size it may not have, or fails its seal."""
    if not path.is_file():
        return None
    try:
        return _read_sealed(path, name, digest)
    except Exception as e:  # any way a cache file can be bad: rebuild it from the checkpoint
        log.warning("snapshot %s refused (%s): rebuilding it", path.name, str(e)[:200] or type(e).__name__)
        path.unlink(missing_ok=True)
        return None


def _read_sealed(path: Path, name: str, digest: str) -> "Snapshot":
    """The layout write() makes: MAGIC, version and meta length (uint32 each), the meta JSON, then mu
    and logvar (float32 [N, D]), labels (uint8 [N]), the blob, and last a SHA-256 over all before it.
    Every size comes from the meta, is bounded by what the checkpoint and the test set allow and must
    add up to the file's size before any array is read."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(16)
        if len(head) != 16 or head[:8] != MAGIC:
            raise ValueError("not a sealed snapshot")
        version, meta_len = struct.unpack("<II", head[8:])
        if version != VERSION or not 0 < meta_len <= MAX_META:
            raise ValueError(f"version {version} or meta length {meta_len} is not this format's")
        meta_bytes = f.read(meta_len)
        meta = json.loads(meta_bytes.decode())
        n, d, blob_len = _check_meta(meta, digest)
        if size != 16 + meta_len + 8 * n * d + n + blob_len + 32:
            raise ValueError(f"size {size:,} bytes is not what its meta claims")
        body = f.read(8 * n * d + n + blob_len)
        seal = f.read(32)
    if hashlib.sha256(head + meta_bytes + body).digest() != seal:
        raise ValueError("content does not match its seal")
    mu = np.frombuffer(body, "<f4", n * d).reshape(n, d)
    logvar = np.frombuffer(body, "<f4", n * d, 4 * n * d).reshape(n, d)
    labels = np.frombuffer(body, np.uint8, n, 8 * n * d).astype(np.int64)
    blob = body[8 * n * d + n:]
    if not (np.isfinite(mu).all() and np.isfinite(logvar).all()):
        raise ValueError("non-finite means or log-variances")
    if labels.max(initial=0) >= len(meta["classes"]):
        raise ValueError(f"a label of {labels.max()} for {len(meta['classes'])} classes")
    if blob:
        _check_blob(blob, d)
    stats = [_per_dim(meta, k, d) for k in ("kl_per_dim", "activity")]
    for a in (mu, logvar, labels):
        a.flags.writeable = False
    return Snapshot(name, digest, meta["dataset"], meta["config"], meta["metrics"], meta["integrity"],
                    mu, logvar, labels, list(meta["classes"]), blob, meta.get("live_note", ""), *stats)


def _per_dim(meta: dict, key: str, d: int) -> tuple:
    """A per-dimension statistic of the meta: d finite numbers >= 0."""
    values = meta.get(key)
    if not (isinstance(values, list) and len(values) == d and all(isinstance(v, (int, float)) for v in values)
            and np.all(np.isfinite(values)) and min(values) >= 0):
        raise ValueError(f"no {key} for its {d} dimensions")
    return tuple(float(v) for v in values)


def _check_meta(meta: dict, digest: str) -> tuple[int, int, int]:
    """(N, D, blob length) from a snapshot's meta, each checked against what its checkpoint allows."""
    if meta.get("digest") != digest:
        raise ValueError("made for another checkpoint")
    if meta.get("dataset") not in TEST_SIZES:
        raise ValueError(f"unknown dataset {str(meta.get('dataset'))[:40]!r}")
    n, d, blob_len = meta.get("n"), meta.get("d"), meta.get("blob_len")
    if n != TEST_SIZES[meta["dataset"]]:
        raise ValueError(f"{n} points, not the {TEST_SIZES[meta['dataset']]:,} of the {meta['dataset']} test set")
    if not (isinstance(d, int) and 1 <= d <= MAX_LATENT and d == meta["config"].get("latent_dim")):
        raise ValueError(f"latent size {d} does not match the checkpoint's config")
    if not (isinstance(blob_len, int) and 0 <= blob_len <= MAX_BLOB):
        raise ValueError(f"a weights blob of {blob_len} bytes (the limit is {MAX_BLOB:,})")
    if not isinstance(meta.get("classes"), list) or not 1 <= len(meta["classes"]) <= 256:
        raise ValueError("no class names")
    return n, d, blob_len


def _check_blob(blob: bytes, d: int) -> None:
    """A weights blob that parses (weights.read_header): its magic, a JSON header of the right latent
    size, and as many floats as the header says."""
    if blob[:4] != weights.MAGIC or len(blob) < 8:
        raise ValueError("a weights blob without its magic")
    header, start = weights.read_header(blob)
    if header.get("latent_dim") != d or 4 * int(header.get("n_floats", -1)) != len(blob) - start:
        raise ValueError("a weights blob whose header does not match its content")


def write(snap: Snapshot) -> None:
    """Store atomically and sealed (see _read_sealed); a cache that cannot be written (read-only
    home, full disk) is only logged."""
    mu, logvar = np.ascontiguousarray(snap.mu, "<f4"), np.ascontiguousarray(snap.logvar, "<f4")
    meta = {"digest": snap.digest, "dataset": snap.dataset, "config": snap.config, "metrics": snap.metrics,
            "integrity": snap.integrity, "classes": snap.classes, "n": int(mu.shape[0]), "d": int(mu.shape[1]),
            "blob_len": len(snap.blob), "live_note": snap.live_note,
            "kl_per_dim": [float(v) for v in snap.kl_dims], "activity": [float(v) for v in snap.activity]}
    meta_bytes = json.dumps(meta).encode()
    body = (MAGIC + struct.pack("<II", VERSION, len(meta_bytes)) + meta_bytes + mu.tobytes() + logvar.tobytes()
            + np.asarray(snap.labels, np.uint8).tobytes() + snap.blob)
    folder = cache_dir()
    tmp = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".", suffix=".snap.tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(body)
            f.write(hashlib.sha256(body).digest())
        os.replace(tmp, path_for(snap.digest))
        tmp = None
    except OSError as e:
        log.warning("snapshot cache not written (%s): the next start computes it again", e)
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
