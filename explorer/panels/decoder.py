"""The decoder panel: sliders for every latent dim and a pad over two, the digit decoded in the page
(live: the decoder's weights, explorer/backend/weights.py, go to the page once and JS decodes per
frame) or by the server's route (explorer/backend/remote.py); under it z's values, prior samples and
a PNG download; and the fragment's post. No torch here.

The post: small messages to code already in the page, in one invisible element: the decoder's point
(for live.js), the map's overlays (map_overlays.js) and the view's link (link.js). The decoder's
fragment sends one such element on each rerun, so moving z from Python sends these few hundred bytes,
where a message per helper re-sent each helper's code too (~10 KB), and the page renders one element,
not three.

Format "post v1" (docs/page-protocol.md): b"VAEP" + JSON {v: 1, parts: {name: message}}. Each part
keeps its own format and version, read by its receiver. The element's code goes with every message, so
it is kept short: it leaves each part in window.__vaePosts (for code that mounts later) and hands it
on in a "vae-post" event.

The receivers' own elements are drawn by the page's runs, outside the fragment, with the same
messages as data. An element may mount (its code is imported) after a post that is newer than its
data, or be called again with its old data on a re-render: so the messages that come both ways carry
`seq` (serving.stamp), and a receiver takes a message only if it is not older than what it holds.
"""
import json

import numpy as np
import streamlit as st

import plots
from explorer import state
from explorer.backend import bundle, images, weights
from explorer.backend import remote as route
from explorer.backend.infer import decode, torch_side
from explorer.backend.snapshot import Snapshot

JS = bundle.module("live.js")
_component = st.components.v2.component("vae_live_decoder", js=JS, css=bundle.css("live.css"))


def sidebar_toggle(supported: bool, note: str = "") -> bool:
    """Whether the decoder runs in the page; decoders live.js cannot run, or too big to send (`note`),
    are decoded by the server (explorer/remote.py), and the sidebar says so."""
    st.sidebar.header("Decoding")
    on = st.sidebar.toggle("Live decoding in the browser", value=supported, disabled=not supported,
                           key=f"live_{supported}",
                           help="On: the page decodes while you drag. Off: the server decodes each frame")
    if not supported:
        st.sidebar.caption(note or "This decoder has layers the page cannot run: the server decodes each frame.")
    return on and supported


def point(view, pad_dims: tuple[int, int]) -> dict:
    """The point the decoder shows, as Python last set it: {id, v, z}, the "point" part of the decoder
    fragment's post (post.py). The page takes it when `v` changes (a button, a new model) and
    otherwise keeps the user's own point. Under 1 KB, apart from the weights."""
    version, z = state.pushed_point()
    return {"id": weights.blob_id(view.ident, _pad(view, pad_dims)), "v": int(version), "z": [float(v) for v in z]}


def _pad(view, pad_dims) -> tuple:
    return tuple(pad_dims) if view.latent_dim >= 2 else (0, 1)


def live_decoder(view, pad_dims: tuple[int, int], *, remote: bool = False) -> None:
    """The decoder panel in the page: sliders for every dim and, for D >= 2, a pad over two of them.
    It decodes each frame itself from the weights blob or, `remote`, asks the server's route for it
    (explorer/remote.py); either way it commits z on release.

    The blob only changes with the model, the pad dims or the mode, so Streamlit sends it once and a
    reference after that; the point goes apart (`point`, posted by the fragment), under 1 KB. The
    blob for the snapshot's pad dims (the two with the most KL) comes from the snapshot (no torch);
    other pad dims are packed on demand, and a server-decoding blob (no weights) needs no torch.
    """
    d = view.latent_dim
    pad_dims = _pad(view, pad_dims)
    if remote:
        route.offer(view)
        blob = _remote_blob(view, view.ident, pad_dims, route.for_page())
    elif pad_dims == view.pad_dims:
        blob = view.blob
    else:  # torch: only for a pad over other dims
        blob = torch_side().live_blob(view, pad_dims)

    def on_commit():
        z = state.live_commit()
        if isinstance(z, list) and len(z) == d and all(isinstance(v, (int, float)) for v in z):
            state.set_z(z, from_browser=True)

    _component(key=state.Key.LIVE, data=blob, on_z_change=on_commit)


@st.cache_resource(show_spinner=False, max_entries=16)
def _remote_blob(_view, ident: str, pad_dims: tuple, remote: dict) -> bytes:
    return weights.pack_for(None, _view.mu, _view.labels, plots.class_colors(len(_view.classes)), ident=ident,
                            pad_dims=pad_dims, fold_after=weights.FOLD_SLIDERS_AFTER, remote=remote)


DIGIT_SCALE = 10  # 28 px -> 280 px, nearest neighbour


def picture(view: Snapshot) -> bytes:
    """The digit at the current z as a PNG, decoded on the server."""
    return images.to_png(decode(view, np.asarray(state.z()))[0], DIGIT_SCALE)


def digit(view: Snapshot) -> None:
    """Under the digit: z's values, prior sampling and a PNG download."""
    z = np.asarray(state.z())
    st.caption("z = (" + ", ".join(f"{v:+.2f}" for v in z) + ")")
    row = st.container(horizontal=True)  # one block, not columns' three: each costs the page per release
    row.button("Sample from the prior", on_click=lambda: state.set_z(np.random.default_rng().standard_normal(len(z))),
               width="stretch")
    # deferred: the PNG is made when someone clicks, not stored on the server on every rerun
    row.download_button("Download PNG", lambda: picture(view), file_name="digit_" + "_".join(f"{v:.2f}" for v in z)
                        + ".png", mime="image/png", width="stretch", on_click="ignore")


# ---- the post
POST_MAGIC, POST_VERSION = b"VAEP", 1
POST_JS = bundle.module("post.js")  # short: its code goes with every post
_post = st.components.v2.component("vae_post", js=POST_JS, css=bundle.css("hidden.css"))


def post_message(parts: dict[str, dict]) -> bytes:
    return POST_MAGIC + json.dumps({"v": POST_VERSION, "parts": parts}, separators=(",", ":")).encode()


def send_post(key: str, parts: dict[str, dict]) -> None:
    """Hand these parts to the page's receivers (bytes as data: any other data Streamlit first checks
    for dataframes, importing pandas, ~0.7 s)."""
    _post(key=key, data=post_message(parts), height=0)
