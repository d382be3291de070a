"""What the first page of a checkpoint needs, cached on disk so the app can draw it without torch.

A snapshot holds a checkpoint's config, metrics and dataset, the posterior means and log-variances
of its 10,000 test digits, their labels, and the live decoder's weights blob: enough for the map,
the model card and the in-page decoder. It is built once with torch (explorer/models.py) the
first time a checkpoint is opened and stored as `<cache>/<sha256 of the checkpoint file>.npz`, so
a changed checkpoint is a different key and is never served stale. A snapshot that does not
read back whole and consistent is deleted and rebuilt, never trusted.

Numpy and the standard library only: importing this module costs no torch.
"""
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import streamlit as st

from vae_core.sealed import file_digest

CACHE_ENV = "VAE_EXPLORER_CACHE"  # where snapshots live (default: ~/.cache/vae-explorer)
VERSION = 2  # of the snapshot layout; another version is rebuilt (2: the blob names its model)
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
    blob: bytes = b""  # live decoder weights for pad dims (0, 1) (explorer/live.py); empty: server decoding

    @property
    def ident(self) -> str:
        return ident_of(self.name, self.digest)

    @property
    def latent_dim(self) -> int:
        return int(self.config["latent_dim"])

    @property
    def live_supported(self) -> bool:
        return bool(self.blob)


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
    snap = read(cache_dir() / f"{digest}.npz", name, digest)
    if snap is None:
        raise LookupError(digest)
    return snap


def read(path: Path, name: str, digest: str) -> "Snapshot | None":
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            meta = json.loads(bytes(f["meta"]).decode())
            mu, logvar, labels, blob = f["mu"], f["logvar"], f["labels"], bytes(f["blob"])
        d = int(meta["config"]["latent_dim"])
        ok = (meta.get("version") == VERSION and meta.get("digest") == digest and mu.ndim == 2
              and mu.shape[1] == d and logvar.shape == mu.shape and labels.shape == (len(mu),)
              and mu.dtype == logvar.dtype == np.float32 and np.isfinite(mu).all() and np.isfinite(logvar).all()
              and (not blob or blob[:4] == b"VAEW"))
        if not ok:
            raise ValueError("inconsistent")
        for a in (mu, logvar, labels):
            a.flags.writeable = False
        return Snapshot(name, digest, meta["dataset"], meta["config"], meta["metrics"], meta["integrity"],
                        mu, logvar, labels, list(meta["classes"]), blob)
    except Exception as e:  # any way a cache file can be bad: rebuild it from the checkpoint
        log.warning("snapshot %s unreadable (%s): rebuilding it", path.name, type(e).__name__)
        path.unlink(missing_ok=True)
        return None


def write(snap: Snapshot) -> None:
    """Store atomically; a cache that cannot be written (read-only home, full disk) is only logged."""
    meta = {"version": VERSION, "digest": snap.digest, "dataset": snap.dataset, "config": snap.config,
            "metrics": snap.metrics, "integrity": snap.integrity, "classes": snap.classes}
    folder = cache_dir()
    tmp = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".", suffix=".npz.tmp")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8), mu=snap.mu, logvar=snap.logvar,
                     labels=snap.labels, blob=np.frombuffer(snap.blob, np.uint8))
        os.replace(tmp, folder / f"{snap.digest}.npz")
        tmp = None
    except OSError as e:
        log.warning("snapshot cache not written (%s): the next start computes it again", e)
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
