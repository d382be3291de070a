"""The torch side of the app: loading a checkpoint's model, the test images, and building the
snapshot (explorer/snapshot.py) that lets every later start draw the page without torch."""
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import streamlit as st
import torch

from explorer.backend import prep, snapshot, weights
from explorer.backend.picker import REPO, resolve
from plots import class_colors
from vae_core import data
from vae_core.checkpoint import load_checkpoint
from vae_core.errors import CheckpointError
from vae_core.figures import canvas as decoded_canvas
from vae_core.figures import encode_all
from vae_core.latents import activity, kl_per_dim
from vae_core.losses import elbo_parts
from vae_core.model import VAE
from vae_core.sealed import file_digest

# Torch's work runs on one long-lived thread. Streamlit runs every rerun on a new thread, and torch's
# per-thread state (its OpenMP team among it) made each small op on a fresh thread slow: scoring one
# drawing took ~15 ms inside the app against ~1 ms alone; on this thread it is ~1-5 ms again.
# One thread for all sessions also keeps torch from oversubscribing the cores under load.
_TORCH = ThreadPoolExecutor(max_workers=1, thread_name_prefix="torch")


def on_torch_thread(fn, *args, **kwargs):
    """fn(*args, **kwargs) on the torch thread, waited for. fn must not call Streamlit (no script context there)."""
    return _TORCH.submit(fn, *args, **kwargs).result()


@st.cache_resource(show_spinner="Loading the model…", max_entries=4)
def _load(path: str, digest: str) -> tuple[VAE, dict]:
    model, payload = load_checkpoint(Path(path))
    if file_digest(Path(path)) != digest:
        raise CheckpointError(path, "changed while it was being opened; pick it again")
    return model, payload


def model_for(view: snapshot.Snapshot) -> VAE:
    """The torch model behind a snapshot (loaded once per checkpoint content, shared). A checkpoint
    deleted since the snapshot was opened is a CheckpointError, as one replaced or damaged is."""
    try:
        path = resolve(view.name)
    except ValueError:  # no longer one of the picker's files
        raise CheckpointError(view.name, "is no longer there; pick another") from None
    return _load(str(path), view.digest)[0]


@st.cache_resource(show_spinner="Loading the test set…")
def test_split(dataset: str) -> tuple[data.Split, torch.Tensor]:
    """The 10k test images (uint8 split and [N, 1, 28, 28] floats), loaded once per dataset."""
    split = data.load(dataset, train=False, root=REPO / data.default_root())
    return split, split.floats()


ENCODE_CHUNK = 2000  # test images encoded per step of the opening's progress bar


def encodings(model: VAE, dataset: str, progress=None) -> tuple[np.ndarray, np.ndarray]:
    """Posterior means and log-variances of every test image, [N, D] float32 each. progress(done, n)
    is called after each chunk, on the calling thread."""
    _, x = test_split(dataset)
    parts = []
    for start in range(0, len(x), ENCODE_CHUNK):
        parts.append(on_torch_thread(encode_all, model, x[start:start + ENCODE_CHUNK]))
        if progress is not None:
            progress(min(start + ENCODE_CHUNK, len(x)), len(x))
    return tuple(torch.cat(t).numpy() for t in zip(*parts))


def _quiet(fraction: float, text: str) -> None:
    """No progress shown (build_snapshot's default)."""


class _Build:
    """One checkpoint's snapshot being built on the builder thread, shared by every session that
    opens it: each waiting page shows its progress, and a page whose run is interrupted (a rerun)
    finds the same build under way when it asks again, instead of starting over."""

    def __init__(self):
        self.future = None
        self.say(0.2, "Model loaded; encoding the test digits (once per checkpoint)…")  # the first stage

    def say(self, fraction: float, text: str) -> None:
        self.fraction, self.text = fraction, text


# The work of a build after the model is loaded runs on its own thread, not in a page's run: a
# Streamlit element updated inside a st.cache_resource function is recorded for replay, and replaying a
# progress bar that belonged to another session's page failed (CacheReplayClosureError); and a page's
# run is interrupted by a rerun at its next element, which would have thrown the half-done build away.
# The builds kept here are also the snapshots' memory cache where the cache folder cannot be written.
_BUILDER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="snapshot")
_BUILDS: "OrderedDict[tuple[str, str], _Build]" = OrderedDict()
_BUILDS_LOCK = threading.Lock()
MAX_BUILDS = 8
POLL_S = 0.2  # how often a waiting page's progress is redrawn


def build_snapshot(name: str, path: str, digest: str, progress=_quiet) -> snapshot.Snapshot:
    """Everything the first page needs, computed with torch once per checkpoint content and stored.
    Waits for it; progress(fraction, text) is called on the caller's thread meanwhile (every POLL_S
    while the test digits are encoded). A build that failed is started again by the next call."""
    key = (name, digest)
    with _BUILDS_LOCK:
        build = _usable(key)
    if build is None:
        progress(0.0, f"Reading and checking the checkpoint ({Path(path).stat().st_size / 2**20:,.1f} MB)…")
        model, payload = _opened(path, digest)
        with _BUILDS_LOCK:
            build = _usable(key)
            if build is None:
                build = _BUILDS[key] = _Build()
                build.future = _BUILDER.submit(_build_snapshot, name, digest, model, payload, build.say)
            while len(_BUILDS) > MAX_BUILDS:
                _BUILDS.popitem(last=False)
    future: Future = build.future
    while True:
        try:
            return future.result(timeout=POLL_S)
        except TimeoutError:
            progress(build.fraction, build.text)


@st.cache_resource(show_spinner=False, max_entries=4)
def _opened(path: str, digest: str) -> tuple[VAE, dict]:
    """The model and its test set loaded, on the page's thread (a shared cache: every session opening
    this checkpoint waits for the same load). A cached function of its own so that the loaders' spinners
    stay off (nested in it): the progress bar already says what is happening."""
    model, payload = _load(path, digest)
    test_split(payload.get("dataset", "mnist"))
    return model, payload


def _usable(key: tuple[str, str]) -> "_Build | None":
    """The build of this snapshot under way or done, unless it failed (under _BUILDS_LOCK)."""
    build = _BUILDS.get(key)
    if build is None or (build.future.done() and build.future.exception() is not None):
        return None
    _BUILDS.move_to_end(key)
    return build


def forget_builds() -> None:
    """Drop the snapshots built in this process (tests: each builds what it opens)."""
    with _BUILDS_LOCK:
        _BUILDS.clear()


def _build_snapshot(name: str, digest: str, model: VAE, payload: dict, progress) -> snapshot.Snapshot:
    """The build itself, on the builder thread (no Streamlit element here); progress(fraction, text)
    says how far it is."""
    dataset = payload.get("dataset", "mnist")
    split, _ = test_split(dataset)  # loaded by build_snapshot: read from the cache here
    mu, logvar = encodings(model, dataset, lambda done, n: progress(
        0.2 + 0.7 * done / n, f"Encoding the test digits: {done:,} of {n:,} (once per checkpoint)…"))
    labels = split.labels.numpy()
    kl = tuple(kl_per_dim(mu, logvar).tolist())
    blob, note = b"", over_page_budget(model.decoder)
    packs = weights.decoder_ops(model) is not None and not note
    progress(0.9, "Packing the decoder for the page…" if packs else "Saving the snapshot…")
    if packs:
        blob = weights.pack_for(model, mu, labels, class_colors(len(split.classes)),
                                ident=snapshot.ident_of(name, digest), pad_dims=snapshot.pad_dims_for(kl),
                                fold_after=weights.FOLD_SLIDERS_AFTER)
    snap = snapshot.Snapshot(name, digest, dataset, dict(payload["config"]), dict(payload.get("metrics", {})),
                             payload["integrity"], mu, logvar, labels, list(split.classes), blob, note,
                             kl, tuple(activity(mu).tolist()))
    snapshot.write(snap)
    for a in (mu, logvar, labels):
        a.flags.writeable = False
    return snap


def over_page_budget(module) -> str:
    """Why these weights are not sent to the page (over snapshot.PAGE_BUDGET), or '' when they fit."""
    size = 4 * sum(p.numel() for p in module.parameters())
    if size <= snapshot.PAGE_BUDGET:
        return ""
    return (f"This model's weights are {size / 2**20:,.0f} MB, over the {snapshot.PAGE_BUDGET >> 20} MB the page "
            "is sent: the server decodes each frame.")


@st.cache_resource(show_spinner="Packing the decoder for the page…", max_entries=8)  # 3 MB: shared
def _live_blob(_view, ident: str, pad_dims: tuple) -> bytes:
    model = model_for(_view)
    return weights.pack_for(model, _view.mu, _view.labels, class_colors(len(_view.classes)), ident=ident, pad_dims=pad_dims,
                            fold_after=weights.FOLD_SLIDERS_AFTER)


def live_blob(view: snapshot.Snapshot, pad_dims: tuple) -> bytes:
    """The live decoder's blob for a pad over other dims than the snapshot's (its pad_dims)."""
    return _live_blob(view, view.ident, tuple(pad_dims))


def canvas(view: snapshot.Snapshot, n: int, extent: float, spacing: str, dims: tuple[int, int]) -> np.ndarray:
    """The seed's canvas for the view's model: decodes on an n x n mesh of dims, [1, 28n, 28n] in [0, 1]."""
    return on_torch_thread(decoded_canvas, model_for(view), n, extent, spacing, dims).numpy()


def decode(model: VAE, z: np.ndarray) -> np.ndarray:
    """z: [N, D] -> pixel means [N, 28, 28] in [0, 1]."""
    return on_torch_thread(_decode, model, z)


@torch.inference_mode()
def _decode(model: VAE, z: np.ndarray) -> np.ndarray:
    logits = model.decode(torch.as_tensor(np.asarray(z, np.float32).reshape(-1, model.cfg.latent_dim)))
    return torch.sigmoid(logits).view(-1, 28, 28).numpy()


@st.cache_resource(show_spinner="Sending the encoder to the page (once per model)…", max_entries=8)
def _encoder_blob(_view, ident: str, with_decoder: bool) -> bytes:
    return weights.pack_encoder(model_for(_view), model_id=ident, prep=prep.constants(), with_decoder=with_decoder)


def encoder_blob(view: snapshot.Snapshot, with_decoder: bool) -> bytes | None:
    """The encoder for the "Your digit" panel (None: layers the page cannot run, or weights over the
    page's budget), with the decoder when the page does not hold it already."""
    model = model_for(view)
    if weights.encoder_ops(model) is None or (with_decoder and weights.decoder_ops(model) is None):
        return None
    if over_page_budget(model.encoder) or (with_decoder and over_page_budget(model.decoder)):
        return None
    return _encoder_blob(view, view.ident, with_decoder)


SCORE_DRAWS = 4  # z draws per image for the -ELBO that ranks a user's digit among the test digits


def _score_eps(d: int) -> torch.Tensor:
    return torch.randn(SCORE_DRAWS, d, generator=torch.Generator().manual_seed(0))


def score(view: snapshot.Snapshot, x: np.ndarray) -> dict:
    """A 28x28 image in [0, 1] -> its posterior (mu, logvar) and -ELBO split into NLL and KL (nats)."""
    model = model_for(view)
    nll, kl, mu, logvar = on_torch_thread(elbo_parts, model, torch.as_tensor(x, dtype=torch.float32).view(1, 1, 28, 28),
                                          _score_eps(view.latent_dim))
    return {"nll": float(nll[0]), "kl": float(kl[0]), "mu": mu[0].numpy(), "logvar": logvar[0].numpy()}


@st.cache_resource(show_spinner="Scoring the 10,000 test digits (once per model)…", max_entries=8)
def _test_scores(_view, ident: str) -> np.ndarray:
    model, (_, x) = model_for(_view), test_split(_view.dataset)
    eps = _score_eps(_view.latent_dim)
    scores = [sum(on_torch_thread(elbo_parts, model, x[i:i + 1000], eps)[:2]) for i in range(0, len(x), 1000)]
    out = torch.cat(scores).numpy()
    out.flags.writeable = False
    return out


def test_scores(view: snapshot.Snapshot) -> np.ndarray:
    """-ELBO of every test digit, the same estimate as score()'s: [N] nats, sorted by test index."""
    return _test_scores(view, view.ident)
