"""Which checkpoints the app offers: files under checkpoints/ and runs/ only, checked without torch."""
import os
import stat
from pathlib import Path

import streamlit as st

from vae_core.sealed import MAX_BYTES

REPO = Path(__file__).resolve().parents[2]
HOME_ENV = "VAE_EXPLORER_HOME"  # the folder holding checkpoints/ and runs/ (default: the repo)
CHECKPOINT_DIRS = ("checkpoints", "runs")  # the only folders the picker reads
DEFAULT_CHECKPOINT = "checkpoints/mnist-mlp-z2.pt"


def home() -> Path:
    return Path(os.environ.get(HOME_ENV, REPO)).resolve()


def find_checkpoints(repo: Path | None = None) -> list[str]:
    """Checkpoint files (*.pt) under the picker's folders, as repo-relative paths, default first.
    Only what `scan` accepts; listed again at most every 2 s (not walked on every rerun)."""
    return list(_scan(home() if repo is None else Path(repo))[0])


def refused_checkpoints(repo: Path | None = None) -> list[tuple[str, str]]:
    """(repo-relative path, why) for each *.pt file the picker saw but does not offer."""
    return list(_scan(home() if repo is None else Path(repo))[1])


def forget_checkpoint_list() -> None:
    _scan.clear()


@st.cache_resource(ttl=2, show_spinner=False)  # resource: no copy of the result per call
def _scan(repo: Path) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    return scan(repo)


def scan(repo: Path) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """Walk checkpoints/ and runs/ without following any symlink. Offered: visible regular *.pt
    files with one link, up to the loader's size limit. Refused, with the reason: the same files
    over the limit or hard-linked, and a top folder that is itself a symlink. Hidden files and
    folders (a run's `.model.pt.*.tmp` among them) and symlinks inside are passed over silently."""
    offered, refused = [], []
    for folder in CHECKPOINT_DIRS:
        top = repo / folder
        if top.is_symlink():
            refused.append((f"{folder}/", "a symlink: not followed"))
            continue
        for dirpath, dirnames, filenames in os.walk(top):  # followlinks=False: symlinked folders stay shut
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if name.startswith(".") or not name.endswith(".pt"):
                    continue
                path = Path(dirpath) / name
                rel = f"{folder}/{path.relative_to(top).as_posix()}"
                try:
                    st_ = path.lstat()
                except OSError:
                    continue
                if not stat.S_ISREG(st_.st_mode):
                    continue  # a symlink, fifo, device...
                if st_.st_nlink > 1:
                    refused.append((rel, "a hard link: refused"))
                elif st_.st_size > MAX_BYTES:
                    refused.append((rel, f"{st_.st_size / 2**20:,.0f} MB, over the {MAX_BYTES / 2**20:,.0f} MB limit"))
                else:
                    offered.append(rel)
    offered.sort(key=lambda p: (p != DEFAULT_CHECKPOINT, not p.startswith("checkpoints/"), p))
    return tuple(offered), tuple(refused)


def resolve(choice: str, repo: Path | None = None) -> Path:
    """The file behind a picker entry; refuses anything that is not one of find_checkpoints()."""
    repo = home() if repo is None else repo
    if choice not in find_checkpoints(repo):
        raise ValueError(f"{choice!r} is not a checkpoint in {' or '.join(CHECKPOINT_DIRS)}/")
    return repo / choice
