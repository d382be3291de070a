"""The sidebar: the checkpoint picker and opening it, the model card, the map's view options, and
training the default model when there is none."""
import logging
import os
import subprocess
import sys
import threading

import numpy as np
import streamlit as st

from explorer import link, state
from explorer.backend import dims, embed, picker, snapshot
from explorer.backend.infer import torch_side
from explorer.backend.projection import Embedded, Projection, axes, pca
from explorer.backend.snapshot import Snapshot
from explorer.panels.selection import DATA_PROBLEM
from vae_core.errors import CheckpointError, DataError

ALLOW_TRAINING_ENV = "VAE_EXPLORER_ALLOW_TRAINING"  # "1": offer training to remote viewers too
log = logging.getLogger("explorer")


def pick_checkpoint() -> str | None:
    """The checkpoint picker: only files under checkpoints/ and runs/. None when there are none."""
    st.sidebar.header("Model")
    choices = picker.find_checkpoints()
    refused = picker.refused_checkpoints()
    if refused:
        st.sidebar.caption("Not offered: " + "; ".join(f"`{name}` ({why})" for name, why in refused[:5])
                           + (f"; and {len(refused) - 5} more" if len(refused) > 5 else ""))
    if not choices:
        return None
    index = link.apply_checkpoint(choices)
    return st.sidebar.selectbox("Checkpoint", choices, index=index, key=state.Key.CKPT,
                                help="Files found in checkpoints/ and runs/ (train more with train.py)")


def model_card(view: Snapshot) -> None:
    cfg, metrics = view.config, view.metrics
    if view.integrity == "legacy":
        st.sidebar.caption("This file was written before checkpoints carried a digest, so damage to it "
                           "cannot be detected; re-save it with train.py to add one.")
    st.sidebar.caption(f"**{view.dataset}** · {cfg['arch']} · latent {cfg['latent_dim']} · hidden {cfg['hidden']}")
    rows = {"test -ELBO": metrics.get("test_neg_elbo"), "test NLL": metrics.get("test_nll"),
            "test KL": metrics.get("test_kl"), "epochs": metrics.get("epochs")}
    rows.update({f"IW-{k[7:]} bound": v for k, v in metrics.items() if k.startswith("test_iw")})
    st.sidebar.markdown("  \n".join(f"{k}: **{v:.2f}**" if isinstance(v, float) else f"{k}: **{v}**"
                                    for k, v in rows.items() if v is not None) + "  \n(nats per image)")
    latent_card(view)


def latent_card(view: Snapshot) -> None:
    """KL per dimension, sorted, and how many dims are active (Burda et al.), from the snapshot."""
    d, on = view.latent_dim, dims.active(view.activity)
    st.sidebar.caption(f"**{sum(on)} of {d}** dimension{'s' if d > 1 else ''} active",
                       help="Active: the posterior mean varies over the test digits, Cov_x(E_q[z_u]) > 0.01 "
                            "(Burda et al. 2015). An inactive dimension is ignored by the encoder: the decoder "
                            "sees only prior noise there, and the Traverse view shows its row unchanging.")
    with st.sidebar.expander("KL per dimension"):
        st.image(dims.kl_bars_svg(list(view.kl_dims), list(view.activity)))
        if d > dims.MAX_BARS:
            st.caption(f"The {dims.MAX_BARS} dimensions with the most KL of {d}.")


def view_options(d: int) -> dict:
    """Map view: which plane, and the optional layers."""
    st.sidebar.header("Map")
    opts = {"mode": "axes", "i": 0, "j": 1}
    if d > 2:  # the pad's dims (state.reset_for: the two carrying the most KL), also on the PCA plane
        opts.update(i=state.get(state.Key.DIM_I, 0), j=state.get(state.Key.DIM_J, 1))
        planes = {**link.PLANES, **{m: embed.METHODS[m][0] for m in embed.available()}}
        if state.get(state.Key.PLANE) not in planes.values():
            state.put(state.Key.PLANE, link.PLANES["pca"])
        plane = st.sidebar.radio("Plane", list(planes.values()), key=state.Key.PLANE, horizontal=True,
                                 help="PCA and two latent dims are linear: every point of the plane is a latent "
                                      "point. t-SNE and UMAP place the test digits only (computed once per model, "
                                      "seeded): the decoder's cross shows the test digit nearest to z, and the "
                                      "paths, ellipses, your digit's marker and the layers are hidden there.")
        opts["mode"] = next(k for k, v in planes.items() if v == plane)
        if opts["mode"] == "axes":
            c1, c2 = st.sidebar.columns(2)
            opts["i"] = c1.selectbox("x axis", range(d), index=0, key=state.Key.DIM_I, format_func=lambda k: f"z{k}")
            opts["j"] = c2.selectbox("y axis", range(d), index=1, key=state.Key.DIM_J, format_func=lambda k: f"z{k}")
    linear = opts["mode"] in ("axes", "pca")
    opts["underlay"] = st.sidebar.checkbox("Decoded canvas under the points", key=state.Key.UNDERLAY,
                                           disabled=not linear)
    opts["contours"] = st.sidebar.checkbox("Prior contours (1, 2, 3σ)", key=state.Key.CONTOURS, disabled=not linear)
    opts["layer"] = st.sidebar.radio("Analysis layer", LAYER_NAMES, key=state.Key.LAYER, format_func=LAYER_NAMES.get,
                                     help=LAYER_HELP + (LAYER_HELP_SLICE if d > 2 else ""), disabled=not linear)
    if not linear:
        st.sidebar.caption("This plane has no inverse (no point of it but the test digits is a latent point): "
                           "no decoded canvas, contours or layers here.")
    return opts



LAYER_NAMES = {"none": "None", "holes": "Where the data is not", "magnification": "Decoder magnification"}
LAYER_HELP = ("Where the data is not: log q(z)/p(z), the aggregate posterior (the mixture of the 10,000 test "
              "digits' posteriors) against the prior. Red: the prior samples there but no digit lives there, "
              "so a prior sample decodes to a smudge; blue: digits are denser than the prior. "
              "Decoder magnification: how fast the decoded image changes per unit of z; bright along the "
              "boundaries between digit classes.")
LAYER_HELP_SLICE = (" For this latent (over 2-D) both are a slice: the map's plane through the decoder's z, every "
                    "other direction held at the decoder's value; move the decoder to move the slice.")


def projection_for(opts: dict, view: Snapshot) -> Projection | Embedded:
    mu = view.mu
    d = mu.shape[1]
    if d == 1:
        return axes(1)
    if opts["mode"] in embed.METHODS:
        xy = embedded(view, opts["mode"])
        if xy is not None:
            name = embed.METHODS[opts["mode"]][0]
            return Embedded(xy, mu, (f"{name} 1", f"{name} 2"))
        opts["mode"] = "pca"
    return pca(mu) if opts["mode"] == "pca" else axes(d, opts["i"], opts["j"])


def embedded(view: Snapshot, method: str) -> np.ndarray | None:
    """The model's t-SNE / UMAP plane: from the cache, else computed once (its own process, with
    progress) and cached. None, with one line, when it cannot be (the map shows PCA then)."""
    return _embedded(view, view.digest, method)


_COMPUTING = threading.Lock()  # one plane computed at a time, for every session that asks
_FAILED: set = set()  # (digest, method) that could not be computed: not tried again on every rerun


def _embedded(view: Snapshot, digest: str, method: str) -> np.ndarray | None:
    path = embed.path_for(snapshot.cache_dir(), digest, method)
    n = len(view.mu)
    name = embed.METHODS[method][0]
    xy = embed.read(path, digest, method, n)
    if xy is None and (digest, method) not in _FAILED:
        bar = st.progress(0.0, text=f"Computing the {name} plane of the {n:,} test digits (once per model)…")
        with _COMPUTING:  # another session may be computing this one: wait for it, then read its result
            xy = embed.read(path, digest, method, n)
            if xy is None:
                try:
                    embed.compute(view.mu, method, path, digest,
                                  lambda frac, line: bar.progress(frac, text=f"{name}: {line[:80]}"))
                    xy = embed.read(path, digest, method, n)
                except (OSError, RuntimeError) as e:
                    log.warning("%s plane for %s failed: %s", name, view.name, e)
                if xy is None:
                    _FAILED.add((digest, method))
        bar.empty()
    if xy is None:
        st.sidebar.error(f"The {name} plane could not be computed (the server log says why): the map shows PCA.")
    return xy


def no_checkpoint() -> None:
    """First start without any model: say so and offer to train the default one."""
    st.warning("No checkpoint found in `checkpoints/` or `runs/`.")
    if not training_allowed():
        st.write("Ask whoever runs this server to train one (`python train.py`); training from the page "
                 "is offered only to a viewer on the server's own machine.")
        return
    st.write("Train a quick model (`train.py --quick`: a 2-D latent MLP on MNIST, about 30 seconds on a "
             "laptop CPU), or run `python train.py --help` in a terminal for more choices.")
    if st.button("Train a quick model", type="primary"):
        train_in_subprocess(["--quick", "--out", "runs/mnist-mlp-z2"])
        picker.forget_checkpoint_list()
        st.rerun()


def training_allowed() -> bool:
    """The page may start train.py only for a viewer on this machine (no proxy in between), or
    when the person serving the app says so with VAE_EXPLORER_ALLOW_TRAINING=1."""
    if os.environ.get(ALLOW_TRAINING_ENV) == "1":
        return True
    headers = {k.lower() for k in (st.context.headers or {}).keys()}
    proxied = bool(headers & {"x-forwarded-for", "x-real-ip", "forwarded"})
    ip = st.context.ip_address  # None for a loopback connection; AppTest's stand-in runtime gives no str
    return not isinstance(ip, str) and not proxied


def train_in_subprocess(args: list[str]) -> None:
    """Run train.py (the app itself holds no training code), following its epoch lines."""
    bar = st.progress(0.0, text="Starting training…")
    data_root = picker.REPO / os.environ.get("VAE_DATA_ROOT", "data")
    proc = subprocess.Popen([sys.executable, str(picker.REPO / "train.py"), *args, "--data-root", str(data_root)],
                            cwd=picker.home(),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout:
        if line.startswith("epoch"):  # "epoch   3/6  train -ELBO ..."
            done, _, epochs = line.split()[1].partition("/")
            bar.progress(min(int(done) / max(int(epochs), 1), 1.0), text=line.strip())
    if proc.wait() != 0:
        st.error(f"Training stopped (exit code {proc.returncode}); run train.py in a terminal to see why.")
        st.stop()
    bar.progress(1.0, text="Done")


def open_or_stop(choice: str) -> Snapshot:
    """The checkpoint's snapshot: from the disk cache without torch, else built with torch (once per
    checkpoint content) and stored. A problem is one clear line and the page stops there."""
    try:
        path = picker.resolve(choice)
        digest = snapshot.digest_of(str(path), snapshot.stamp(path))
        try:
            view = snapshot.cached(choice, digest)
        except LookupError:
            bar = st.progress(0.0, text="Opening the checkpoint (once per checkpoint)…")
            try:
                view = torch_side().build_snapshot(choice, str(path), digest,
                                                   lambda f, text: bar.progress(f, text=text))
            except DataError as e:
                log.warning("test data for %s unavailable: %s", choice, e)
                st.error(DATA_PROBLEM)
                st.stop()
            finally:
                bar.empty()
    except CheckpointError as e:
        log.warning("checkpoint %s refused: %s", choice, e)  # the full story, with paths, for the server log
        st.error(f"`{choice}`: {e.problem}")
        st.stop()
    except (ValueError, OSError) as e:  # a picker entry that vanished
        log.warning("checkpoint %s unavailable: %s", choice, e)
        st.error(f"`{choice}` is no longer there; pick another.")
        st.stop()
    return view
