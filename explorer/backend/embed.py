"""Nonlinear planes of the test means, t-SNE (scikit-learn) and UMAP (umap-learn, when installed):
computed once per checkpoint with a fixed seed, in a process of their own (the server and the other
sessions go on meanwhile), and cached beside the snapshot, sealed as it is:
`<cache>/<checkpoint digest>.<method>.emb` = MAGIC, uint32 meta length, meta JSON {digest, method,
n, seed, version}, float32 [n, 2], SHA-256 over all before it. One that fails a check is deleted and
computed again.

    python -m explorer.backend.embed METHOD MEANS.npy OUT.emb DIGEST   (what the app runs)

Why these libraries: measured on this project's 2-core machines for the 10,000 test means of the
shipped z=10 model (bench/README.md): scikit-learn's Barnes-Hut t-SNE 40 s, openTSNE 46 s, umap-learn
59 s plus 23 s of numba start-up. scikit-learn adds ~200 MB installed (with scipy); openTSNE needs it
too (13 MB more) and was slower; umap-learn needs it and ~210 MB more (numba, llvmlite, pynndescent).
So t-SNE comes with the app, and UMAP is offered where umap-learn is installed.
"""
import hashlib
import importlib.util
import json
import logging
import os
import re
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

MAGIC = b"VAEEMB\0\0"
VERSION = 1
SEED = 0  # the same picture every time
METHODS = {"tsne": ("t-SNE", "sklearn"), "umap": ("UMAP", "umap")}  # name, the module it needs
MAX_POINTS = 100_000
log = logging.getLogger("explorer")


def available() -> list[str]:
    """The methods whose library is installed (found without importing it)."""
    return [m for m, (_, module) in METHODS.items() if importlib.util.find_spec(module) is not None]


def path_for(folder: Path, digest: str, method: str) -> Path:
    return folder / f"{digest}.{method}.emb"


def read(path: Path, digest: str, method: str, n: int) -> np.ndarray | None:
    """The cached plane [n, 2], or None (deleted, with one log line, when it fails any check)."""
    if not path.is_file():
        return None
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(12)
            if head[:8] != MAGIC:
                raise ValueError("not a cached plane")
            (meta_len,) = struct.unpack("<I", head[8:12])
            if not 0 < meta_len <= 4096 or size != 12 + meta_len + 8 * n + 32:
                raise ValueError(f"size {size:,} bytes is not a plane of {n:,} points")
            meta_bytes = f.read(meta_len)
            body = f.read(8 * n)
            seal = f.read(32)
        if hashlib.sha256(head + meta_bytes + body).digest() != seal:
            raise ValueError("content does not match its seal")
        meta = json.loads(meta_bytes)
        if meta != {"digest": digest, "method": method, "n": n, "seed": SEED, "version": VERSION}:
            raise ValueError("made for another checkpoint, method or version")
        xy = np.frombuffer(body, "<f4").reshape(n, 2)
        if not np.isfinite(xy).all():
            raise ValueError("non-finite positions")
        return xy
    except (OSError, ValueError) as e:
        log.warning("cached plane %s refused (%s): computing it again", path.name, str(e)[:200])
        path.unlink(missing_ok=True)
        return None


def write(path: Path, xy: np.ndarray, digest: str, method: str) -> None:
    """Sealed and atomic: a killed process leaves no half-written plane."""
    meta = json.dumps({"digest": digest, "method": method, "n": len(xy), "seed": SEED, "version": VERSION}).encode()
    body = MAGIC + struct.pack("<I", len(meta)) + meta + np.ascontiguousarray(xy, "<f4").tobytes()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".emb.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(body + hashlib.sha256(body).digest())
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def fit(mu: np.ndarray, method: str, verbose: int = 0) -> np.ndarray:
    """The plane [N, 2] of the points mu [N, D], seeded: the same input gives the same picture."""
    mu = np.asarray(mu, np.float32)
    if method == "tsne":
        from sklearn.manifold import TSNE  # the computing process only: off the app's start-up path
        model = TSNE(2, init="pca", random_state=SEED, perplexity=min(30.0, (len(mu) - 1) / 3), n_jobs=2,
                     verbose=verbose)
        return model.fit_transform(mu).astype(np.float32)
    if method == "umap":
        import umap  # the computing process only: off the app's start-up path
        return umap.UMAP(random_state=SEED, n_neighbors=min(15, len(mu) - 1),
                         verbose=bool(verbose)).fit_transform(mu).astype(np.float32)
    raise ValueError(f"no plane method {method!r}")


_ITERATION = re.compile(r"Iteration (\d+)")


def compute(mu: np.ndarray, method: str, out: Path, digest: str, progress=lambda frac, line: None) -> None:
    """Run this module on mu in a child process, following its output (t-SNE's iterations) into
    progress(fraction, line); the child writes `out`. RuntimeError with its last line when it fails."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, src = tempfile.mkstemp(dir=out.parent, prefix=".", suffix=".npy")
    os.close(fd)
    try:
        np.save(src, np.asarray(mu, np.float32))
        proc = subprocess.Popen([sys.executable, "-m", "explorer.backend.embed", method, src, str(out), digest],
                                cwd=Path(__file__).resolve().parents[2], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        last = ""
        for line in proc.stdout:
            last = line.strip() or last
            m = _ITERATION.search(line)
            if m:
                progress(min(int(m.group(1)) / 1000, 1.0), last)
        if proc.wait() != 0:
            raise RuntimeError(last[:200] or f"exit code {proc.returncode}")
    finally:
        Path(src).unlink(missing_ok=True)


def main(argv: list[str]) -> int:
    method, src, out, digest = argv
    mu = np.load(src, allow_pickle=False)
    if mu.ndim != 2 or not 1 < len(mu) <= MAX_POINTS:
        print(f"expected [N, D] means with 1 < N <= {MAX_POINTS:,}, got {mu.shape}")
        return 2
    write(Path(out), fit(mu, method, verbose=2), digest, method)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
