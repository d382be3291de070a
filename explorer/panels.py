"""The app's UI pieces, each a small function that draws one part and returns the user's choices."""
import logging
import os
import subprocess
import sys

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from explorer import figures, images, link, map_overlays, picker, snapshot
from explorer.projection import Projection, axes, pca, slider_ranges
from explorer.snapshot import Snapshot
from vae_core.sealed import CheckpointError

SPACINGS = ("uniform", "gaussian")  # as vae_core.figures.latent_mesh takes them

DIGIT_SCALE = 10  # 28 px -> 280 px, nearest neighbour
FOLD_SLIDERS_AFTER = 8
ALLOW_TRAINING_ENV = "VAE_EXPLORER_ALLOW_TRAINING"  # "1": offer training to remote viewers too
log = logging.getLogger("explorer")


# ---------------------------------------------------------------- state -----

def reset_state_for(view: Snapshot) -> None:
    """Start each checkpoint at the prior mean, with nothing selected."""
    if st.session_state.get("state_for") == view.ident:
        return
    ranges = slider_ranges(view.mu)
    d = view.latent_dim
    for key in [k for k in st.session_state if str(k).startswith("zs_")]:
        del st.session_state[key]
    st.session_state.update(state_for=view.ident, z=[0.0] * d, z_version=0, selected=None, A=0, B=1,
                            ab_chosen=[], ranges=ranges.tolist())
    st.session_state.pop("z_pushed", None)  # the live widget's last pushed point belonged to the old model


def set_z(z, *, from_browser: bool = False) -> None:
    """Make z the decoder's point: clipped into the slider ranges, pushed to the sliders and the page.

    A point of the wrong length or with NaN/inf is dropped: it comes from a widget of the model the
    session just switched away from (a callback racing the switch) or from a client that is not ours.
    """
    lo, hi = np.asarray(st.session_state["ranges"]).T
    try:
        z = np.asarray(z, np.float64)
    except (TypeError, ValueError):
        return
    if z.shape != lo.shape or not np.all(np.isfinite(z)):
        log.info("dropped a latent point of shape %s for a %d-D model", z.shape, len(lo))
        return
    z = np.clip(z, lo, hi)
    st.session_state["z"] = [round(float(v), 3) for v in z]
    for i, v in enumerate(st.session_state["z"]):
        st.session_state[f"zs_{i}"] = v
    if not from_browser:
        st.session_state["z_version"] += 1  # tells the live widget to take the new point


def choose(end: str, index: int | None = None) -> None:
    """The user picked interpolation end `end` ("A" or "B"); index None: the widget already set it."""
    if index is not None:
        st.session_state[end] = index
    chosen = st.session_state.setdefault("ab_chosen", [])
    if end not in chosen:
        chosen.append(end)


def ab_chosen() -> bool:
    """Both ends chosen by the user: only then is the A-B path drawn on the map."""
    return len(st.session_state.get("ab_chosen", [])) == 2


# -------------------------------------------------------------- sidebar -----

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
    link.apply_checkpoint(choices)
    return st.sidebar.selectbox("Checkpoint", choices, key="ckpt",
                                help="Files found in checkpoints/ and runs/ (train more with train.py)")


def show_model_card(view: Snapshot) -> None:
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


def view_options(d: int) -> dict:
    """Map view: which plane, and the optional layers."""
    st.sidebar.header("Map")
    opts = {"mode": "axes", "i": 0, "j": 1}
    if d > 2:
        plane = st.sidebar.radio("Plane", ["PCA of the means", "Two latent dims"], key="plane", horizontal=True)
        opts["mode"] = "axes" if plane == "Two latent dims" else "pca"
        if opts["mode"] == "axes":
            c1, c2 = st.sidebar.columns(2)
            opts["i"] = c1.selectbox("x axis", range(d), index=0, key="dim_i", format_func=lambda k: f"z{k}")
            opts["j"] = c2.selectbox("y axis", range(d), index=1, key="dim_j", format_func=lambda k: f"z{k}")
    opts["underlay"] = st.sidebar.checkbox("Decoded canvas under the points", key="underlay")
    opts["contours"] = st.sidebar.checkbox("Prior contours (1, 2, 3σ)", key="contours")
    return opts


def projection_for(opts: dict, mu: np.ndarray) -> Projection:
    d = mu.shape[1]
    if d == 1:
        return axes(1)
    return pca(mu) if opts["mode"] == "pca" else axes(d, opts["i"], opts["j"])


def no_checkpoint() -> None:
    """First start without any model: say so and offer to train the default one."""
    st.warning("No checkpoint found in `checkpoints/` or `runs/`.")
    if not training_allowed():
        st.write("Ask whoever runs this server to train one (`python train.py`); training from the page "
                 "is offered only to a viewer on the server's own machine.")
        return
    st.write("Train the default model (2-D latent MLP on MNIST, about 2 minutes on a laptop CPU), "
             "or run `python train.py --help` in a terminal for more choices.")
    if st.button("Train the default model", type="primary"):
        train_in_subprocess(["--epochs", "10", "--iw-samples", "0", "--out", "runs/mnist-mlp-z2"], 10)
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


def train_in_subprocess(args: list[str], epochs: int) -> None:
    """Run train.py (the app itself holds no training code), following its epoch lines."""
    bar = st.progress(0.0, text="Starting training…")
    data_root = picker.REPO / os.environ.get("VAE_DATA_ROOT", "data")
    proc = subprocess.Popen([sys.executable, str(picker.REPO / "train.py"), *args, "--data-root", str(data_root)],
                            cwd=picker.home(),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    done = 0
    for line in proc.stdout:
        if line.startswith("epoch"):
            done += 1
            bar.progress(min(done / epochs, 1.0), text=line.strip())
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
            with st.spinner("Opening the checkpoint and encoding the 10,000 test digits (once per checkpoint)…"):
                from explorer import models  # torch
                from vae_core.data import DataError
                try:
                    view = models.build_snapshot(choice, str(path), digest)
                except DataError as e:
                    log.warning("test data for %s unavailable: %s", choice, e)
                    st.error(DATA_PROBLEM)
                    st.stop()
    except CheckpointError as e:
        log.warning("checkpoint %s refused: %s", choice, e)  # the full story, with paths, for the server log
        st.error(f"`{choice}`: {e.problem}")
        st.stop()
    except (ValueError, OSError) as e:  # a picker entry that vanished
        log.warning("checkpoint %s unavailable: %s", choice, e)
        st.error(f"`{choice}` is no longer there; pick another.")
        st.stop()
    return view


DATA_PROBLEM = "The test images for this checkpoint are missing or damaged; the server log says how to rebuild them."


def test_images(view: Snapshot):
    """The test images [N, 1, 28, 28] (torch), or None after one clear line when they cannot be read."""
    from explorer import models
    from vae_core.data import DataError
    try:
        return models.test_split(view.dataset)[1]
    except DataError as e:
        log.warning("test data for %s unavailable: %s", view.name, e)
        st.error(DATA_PROBLEM)
        return None


def torch_model(view: Snapshot):
    """The view's torch model (imports torch on first use)."""
    from explorer import models
    return models.model_for(view)


def decode(view: Snapshot, z: np.ndarray) -> np.ndarray:
    """z: [N, D] -> pixel means [N, 28, 28] with the view's model."""
    from explorer import models
    return models.decode(models.model_for(view), z)


# ------------------------------------------------------------- decoder ------

def server_decoder(view: Snapshot) -> None:
    """One slider per latent dim (folded after 8); decodes on the server on release."""
    d, ranges = view.latent_dim, st.session_state["ranges"]

    def on_slide():
        z = [st.session_state.get(f"zs_{i}") for i in range(d)]
        if None not in z:  # else the sliders were reset by a model switch that this release raced
            set_z(z, from_browser=True)

    def slider(container, i):
        st.session_state.setdefault(f"zs_{i}", st.session_state["z"][i])
        lo, hi = ranges[i]
        container.slider(f"z{i}", float(lo), float(hi), step=0.01, key=f"zs_{i}", on_change=on_slide)

    for i in range(min(d, FOLD_SLIDERS_AFTER)):
        slider(st, i)
    if d > FOLD_SLIDERS_AFTER:
        with st.expander(f"z{FOLD_SLIDERS_AFTER} … z{d - 1}"):
            for i in range(FOLD_SLIDERS_AFTER, d):
                slider(st, i)


def digit_view(view: Snapshot, live: bool) -> None:
    """The decoded digit at z (server-side), its z values, prior sampling and a PNG download."""
    z = np.asarray(st.session_state["z"])

    def png() -> bytes:
        return images.to_png(decode(view, z)[0], DIGIT_SCALE)

    if not live:  # inline: no media-file round trip before the new digit can show
        st.image(images.inline(png()), width=280)
    st.caption("z = (" + ", ".join(f"{v:+.2f}" for v in z) + ")")
    c1, c2 = st.columns(2)
    c1.button("Sample from the prior", on_click=lambda: set_z(np.random.default_rng().standard_normal(len(z))),
              use_container_width=True)
    # deferred: the PNG is made when someone clicks, not stored on the server on every rerun
    c2.download_button("Download PNG", png, file_name="digit_" + "_".join(f"{v:.2f}" for v in z) + ".png",
                       mime="image/png", use_container_width=True, on_click="ignore")


# ----------------------------------------------------------------- map ------

@st.cache_data(show_spinner=False, max_entries=16)
def _underlay_uri(_view, ident: str, center: tuple, W: tuple, extent: tuple, n: int = 24) -> str:
    proj = Projection(np.asarray(center), np.asarray(W), ("", ""))
    x0, x1, y0, y1 = extent
    xs, ys = np.linspace(x0, x1, n), np.linspace(y1, y0, n)  # top row first
    xy = np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)
    tiles = decode(_view, proj.from_xy(xy))
    png = images.grid_png(tiles, nrow=n, padding=0)
    return images.inline(png)


def map_figure(view: Snapshot, proj: Projection, opts: dict) -> go.Figure:
    """The map figure for this checkpoint and view, built once and shared by every session (it is
    only read: overlays move in the page)."""
    return _map_figure(view, proj, view.ident, proj.titles, proj.center.tobytes(),
                       proj.W.tobytes(), opts["underlay"], opts["contours"])


@st.cache_resource(show_spinner=False, max_entries=16)
def _map_figure(_view, _proj, ident: str, titles: tuple, center: bytes, W: bytes,
                underlay: bool, contours: bool) -> go.Figure:
    view, proj = _view, _proj
    xy = proj.to_xy(view.mu)
    fig = figures.latent_map(xy, view.labels, view.classes, axis_titles=proj.titles)
    if underlay:
        lo, hi = xy.min(0) - 0.3, xy.max(0) + 0.3
        extent = (lo[0], hi[0], lo[1], hi[1])
        uri = _underlay_uri(view, view.ident, tuple(proj.center), tuple(map(tuple, proj.W)), extent)
        figures.add_underlay(fig, uri, extent)
        fig.update_xaxes(range=[lo[0], hi[0]])
        fig.update_yaxes(range=[lo[1], hi[1]])
    if contours:
        figures.add_prior_contours(fig, proj.to_xy(np.zeros(view.latent_dim)))
    return fig


def latent_map(fig: go.Figure) -> None:
    """Draw the map and take clicks; its overlays are moved in the page by `sync_map_overlays`, so the
    chart keeps its zoom and selection across reruns."""
    event = st.plotly_chart(fig, on_select="rerun", selection_mode="points", key=map_overlays.MAP_KEY,
                            config={"scrollZoom": True, "displaylogo": False})
    points = event.selection.points if event is not None else []
    picked = int(points[0]["customdata"]) if points else None
    if picked != st.session_state.get("last_pick"):  # a new click
        st.session_state["last_pick"] = picked
        if picked is not None:
            st.session_state["selected"] = picked


def sync_map_overlays(view: Snapshot, proj: Projection) -> None:
    """Move the map's decoder point, the selected digit's ±2σ ellipse and the A-B paths."""
    mu, logvar = view.mu, view.logvar
    sel, z = st.session_state["selected"], np.asarray(st.session_state["z"])
    a, b = mu[st.session_state["A"]], mu[st.session_state["B"]]
    t = np.linspace(0, 1, st.session_state.get("interp_k", 8)) if ab_chosen() else np.zeros(0)
    map_overlays.sync({
        "decoder": map_overlays.points(proj.to_xy(z)[None]),
        "ellipse": map_overlays.points(None if sel is None else proj.ellipse(mu[sel], logvar[sel])),
        "selected": map_overlays.points(None if sel is None else proj.to_xy(mu[sel])[None]),
        "path": map_overlays.points(proj.to_xy(lerp(a, b, t)), ["A"] + [""] * (len(t) - 2) + ["B"] if len(t) else []),
        "slerp": map_overlays.points(proj.to_xy(slerp(a, b, t))),
    })


# ------------------------------------------------------------ selection -----

def selection_panel(view: Snapshot) -> None:
    """Original | reconstruction from the posterior mean | reconstructions from posterior samples."""
    idx = st.session_state["selected"]
    if idx is None:
        st.info("Click a point on the map to see that digit and its reconstructions.")
        return
    mu, logvar = view.mu, view.logvar
    label = view.classes[int(view.labels[idx])]
    st.subheader(f"Test digit #{idx} · {label}")
    rng = np.random.default_rng(idx)
    samples = mu[idx] + rng.standard_normal((5, mu.shape[1])) * np.exp(0.5 * logvar[idx])
    x = test_images(view)
    if x is None:
        return
    decoded = decode(view, np.vstack([mu[idx][None], samples]))
    cols = st.columns([1, 1, 3])
    cols[0].image(images.inline(images.to_png(x[idx, 0], 4)), caption="original", width=112)
    cols[1].image(images.inline(images.to_png(decoded[0], 4)), caption="from posterior mean", width=112)
    cols[2].image(images.inline(images.grid_png(decoded[1:], nrow=5, scale=4)),
                  caption="from 5 posterior samples (dotted ellipse: ±2σ)")
    c1, c2, c3 = st.columns(3)
    c1.button("Decode this point", on_click=set_z, args=(mu[idx],), use_container_width=True, type="primary")
    c2.button("Set as A", on_click=choose, args=("A", idx), use_container_width=True)
    c3.button("Set as B", on_click=choose, args=("B", idx), use_container_width=True)


# -------------------------------------------------------- canvas / paths ----

@st.cache_data(show_spinner="Decoding the canvas…", max_entries=32)
def _canvas_png(_view, ident: str, n: int, extent: float, spacing: str, dims: tuple[int, int]) -> bytes:
    from vae_core.figures import canvas
    return images.to_png(canvas(torch_model(_view), n, extent, spacing, dims), 2)


def canvas_tab(view: Snapshot) -> None:
    """The seed's n x n grid of decodes over a latent mesh."""
    d = view.latent_dim
    c1, c2, c3 = st.columns(3)
    n = c1.slider("Grid size n", 3, 30, 15, key="canvas_n")
    spacing = c2.radio("Spacing", SPACINGS, horizontal=True, key="canvas_spacing",
                       format_func=lambda s: {"uniform": "uniform", "gaussian": "Gaussian quantiles"}[s])
    extent = c3.slider("Extent ±", 0.5, 6.0, 3.0, 0.5, key="canvas_extent", disabled=spacing == "gaussian")
    dims = (0, min(1, d - 1))
    if d > 2:
        c1, c2 = st.columns(2)
        dims = (c1.selectbox("Horizontal", range(d), 0, key="canvas_i", format_func=lambda k: f"z{k}"),
                c2.selectbox("Vertical", range(d), 1, key="canvas_j", format_func=lambda k: f"z{k}"))
        st.caption("The other latent dims are held at 0, the prior mean.")
    png = _canvas_png(view, view.ident, n, extent, spacing, dims)
    st.image(images.inline(png), caption=f"z{dims[0]} left→right, z{dims[1]} bottom→top", width=min(56 * n, 840))
    st.download_button("Download canvas PNG", lambda: png, file_name=f"canvas_{n}x{n}_{spacing}.png",
                       mime="image/png", on_click="ignore")


def lerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    return a[None] * (1 - t[:, None]) + b[None] * t[:, None]


def slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation (Shoemake 1985; White 2016 for latent spaces); linear when a, b are parallel."""
    cos = np.dot(a, b) / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12)
    omega = np.arccos(np.clip(cos, -1, 1))
    if omega < 1e-4:
        return lerp(a, b, t)
    s = np.sin(omega)
    return (np.sin((1 - t) * omega)[:, None] * a[None] + np.sin(t * omega)[:, None] * b[None]) / s


def interpolation_tab(view: Snapshot) -> None:
    """Decodes along the line (and the great circle) between the means of test digits A and B."""
    mu, labels, classes = view.mu, view.labels, view.classes
    n = len(mu)
    c1, c2, c3 = st.columns(3)
    a = c1.number_input("A (test index)", 0, n - 1, key="A", help="Or click a point and press 'Set as A'",
                        on_change=choose, args=("A",))
    b = c2.number_input("B (test index)", 0, n - 1, key="B", on_change=choose, args=("B",))
    k = c3.slider("Steps", 3, 16, 8, key="interp_k")
    st.caption(f"A = #{a} ({classes[int(labels[a])]}), B = #{b} ({classes[int(labels[b])]}); "
               + ("both paths are drawn on the map (dashed: spherical)" if ab_chosen() else
                "choose A and B (here, or with 'Set as A/B' under a clicked digit) to see both paths on the map"))
    for name, png in zip(("Linear", "Spherical"), _interpolation_pngs(view, view.ident, mu[a], mu[b], k)):
        st.image(images.inline(png), caption=name)


@st.cache_data(show_spinner=False, max_entries=64)
def _interpolation_pngs(_view, ident: str, a: np.ndarray, b: np.ndarray, k: int) -> tuple[bytes, bytes]:
    t = np.linspace(0, 1, k)
    return tuple(images.grid_png(decode(_view, path), nrow=k, scale=3)
                 for path in (lerp(a, b, t), slerp(a, b, t)))
