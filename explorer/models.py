"""The torch side of the app: loading a checkpoint's model, the test images, and building the
snapshot (explorer/snapshot.py) that lets every later start draw the page without torch."""
from pathlib import Path

import numpy as np
import streamlit as st
import torch

from explorer import decoder, snapshot, weights
from explorer.picker import REPO, resolve
from vae_core import data
from vae_core.checkpoint import CheckpointError, load_checkpoint
from vae_core.figures import encode_all
from vae_core.sealed import file_digest
from vae_core.model import VAE


@st.cache_resource(show_spinner="Loading the model…", max_entries=4)
def _load(path: str, digest: str) -> tuple[VAE, dict]:
    model, payload = load_checkpoint(Path(path))
    if file_digest(Path(path)) != digest:
        raise CheckpointError(path, "changed while it was being opened; pick it again")
    return model, payload


def model_for(view: snapshot.Snapshot) -> VAE:
    """The torch model behind a snapshot (loaded once per checkpoint content, shared)."""
    return _load(str(resolve(view.name)), view.digest)[0]


@st.cache_resource(show_spinner="Loading the test set…")
def test_split(dataset: str) -> tuple[data.Split, torch.Tensor]:
    """The 10k test images (uint8 split and [N, 1, 28, 28] floats), loaded once per dataset."""
    split = data.load(dataset, train=False, root=REPO / data.default_root())
    return split, split.floats()


def encodings(model: VAE, dataset: str) -> tuple[np.ndarray, np.ndarray]:
    """Posterior means and log-variances of every test image, [N, D] float32 each."""
    _, x = test_split(dataset)
    mu, logvar = (t.numpy() for t in encode_all(model, x))
    return mu, logvar


@st.cache_resource(show_spinner=False, max_entries=8)  # also where the cache folder cannot be written
def build_snapshot(name: str, path: str, digest: str) -> snapshot.Snapshot:
    """Everything the first page needs, computed with torch once per checkpoint content and stored."""
    model, payload = _load(path, digest)
    dataset = payload.get("dataset", "mnist")
    split, _ = test_split(dataset)
    mu, logvar = encodings(model, dataset)
    labels = split.labels.numpy()
    blob = b""
    if weights.decoder_ops(model) is not None:
        blob = weights.pack_for(model, mu, labels, len(split.classes), ident=snapshot.ident_of(name, digest), pad_dims=(0, 1),
                                fold_after=decoder.FOLD_SLIDERS_AFTER)
    snap = snapshot.Snapshot(name, digest, dataset, dict(payload["config"]), dict(payload.get("metrics", {})),
                             payload["integrity"], mu, logvar, labels, list(split.classes), blob)
    snapshot.write(snap)
    for a in (mu, logvar, labels):
        a.flags.writeable = False
    return snap


@st.cache_resource(show_spinner="Packing the decoder for the page…", max_entries=8)  # 3 MB: shared
def _live_blob(_view, ident: str, pad_dims: tuple) -> bytes:
    model = model_for(_view)
    return weights.pack_for(model, _view.mu, _view.labels, len(_view.classes), ident=ident, pad_dims=pad_dims,
                            fold_after=decoder.FOLD_SLIDERS_AFTER)


def live_blob(view: snapshot.Snapshot, pad_dims: tuple) -> bytes:
    """The live decoder's blob for a pad over other dims than the snapshot's (0, 1)."""
    return _live_blob(view, view.ident, tuple(pad_dims))


@torch.inference_mode()
def decode(model: VAE, z: np.ndarray) -> np.ndarray:
    """z: [N, D] -> pixel means [N, 28, 28] in [0, 1]."""
    logits = model.decode(torch.as_tensor(np.asarray(z, np.float32).reshape(-1, model.cfg.latent_dim)))
    return torch.sigmoid(logits).view(-1, 28, 28).numpy()
