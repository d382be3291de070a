"""Live decoding in the browser: the decoder's weights (MLP or conv, explorer/weights.py) go to the page
once, JS decodes per frame. No torch here."""
import streamlit as st

from explorer import state
from explorer.backend import page, weights

JS = page.module(page.NETS, page.POSTS, "live.js")
_CSS = """
.vae-live { font-family: var(--st-font, sans-serif); font-size: 14px; }
.vae-live .row { display: flex; gap: 16px; flex-wrap: wrap; align-items: flex-start; }
.vae-live canvas.digit { width: 280px; height: 280px; image-rendering: pixelated; border-radius: 6px;
  background: #000; }
.vae-live canvas.pad { width: 280px; height: 280px; border: 1px solid #ccc; border-radius: 6px;
  cursor: crosshair; touch-action: none; }
.vae-live .stats { color: #777; font-size: 12px; margin: 4px 0 8px; }
.vae-live .slider { display: grid; grid-template-columns: 36px 1fr 48px; gap: 8px; align-items: center; }
.vae-live .slider input { width: 100%; accent-color: var(--st-primary-color, #ff4b4b); }
.vae-live .value { font-variant-numeric: tabular-nums; text-align: right; }
.vae-live summary { cursor: pointer; margin: 6px 0; }
.vae-live.error { color: #b00020; padding: 8px 0; }
.vae-live .stats.error { color: #b00020; }
"""
_component = st.components.v2.component("vae_live_decoder", js=JS, css=_CSS)


def sidebar_toggle(supported: bool) -> bool:
    """Whether the decoder runs in the page; decoders live.js cannot run are decoded by the server
    (explorer/remote.py), and the sidebar says so."""
    st.sidebar.header("Decoding")
    on = st.sidebar.toggle("Live decoding in the browser", value=supported, disabled=not supported,
                           key=f"live_{supported}",
                           help="On: the page decodes while you drag. Off: the server decodes each frame")
    if not supported:
        st.sidebar.caption("This decoder has layers the page cannot run: the server decodes each frame.")
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
    blob for the first two dims comes from the snapshot (no torch); other pad dims are packed on
    demand, and a server-decoding blob (no weights) needs no torch.
    """
    d = view.latent_dim
    pad_dims = _pad(view, pad_dims)
    if remote:
        from explorer.backend import remote as route
        route.offer(view)
        blob = _remote_blob(view, view.ident, pad_dims, route.for_page())
    elif pad_dims == (0, 1):
        blob = view.blob
    else:
        from explorer.backend import models  # torch: only for a pad over other dims
        blob = models.live_blob(view, pad_dims)

    def on_commit():
        z = state.live_commit()
        if isinstance(z, list) and len(z) == d and all(isinstance(v, (int, float)) for v in z):
            state.set_z(z, from_browser=True)

    _component(key=state.Key.LIVE, data=blob, on_z_change=on_commit)


@st.cache_resource(show_spinner=False, max_entries=16)
def _remote_blob(_view, ident: str, pad_dims: tuple, remote: dict) -> bytes:
    return weights.pack_for(None, _view.mu, _view.labels, len(_view.classes), ident=ident, pad_dims=pad_dims,
                            fold_after=weights.FOLD_SLIDERS_AFTER, remote=remote)
