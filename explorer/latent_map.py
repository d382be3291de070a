"""The latent map: the shared figure, clicks on it, and the overlays moved in the page."""
import numpy as np
import plotly.graph_objects as go
import streamlit as st

from explorer import figures, images, map_overlays, state
from explorer.infer import decode
from explorer.interpolation import lerp, slerp
from explorer.projection import Projection
from explorer.snapshot import Snapshot


@st.cache_data(show_spinner=False, max_entries=16)
def _underlay_uri(_view, ident: str, center: tuple, W: tuple, extent: tuple, n: int = 24) -> str:
    proj = Projection(np.asarray(center), np.asarray(W), ("", ""))
    x0, x1, y0, y1 = extent
    xs, ys = np.linspace(x0, x1, n), np.linspace(y1, y0, n)  # top row first
    xy = np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)
    tiles = decode(_view, proj.from_xy(xy))
    png = images.grid_png(tiles, nrow=n, padding=0)
    return images.inline(png)


def figure(view: Snapshot, proj: Projection, opts: dict) -> go.Figure:
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


def chart(fig: go.Figure) -> None:
    """Draw the map and take clicks; its overlays are moved in the page by `sync_overlays`, so the
    chart keeps its zoom and selection across reruns."""
    event = st.plotly_chart(fig, on_select="rerun", selection_mode="points", key=map_overlays.MAP_KEY,
                            config={"scrollZoom": True, "displaylogo": False})
    points = event.selection.points if event is not None else []
    picked = int(points[0]["customdata"]) if points else None
    state.take_pick(picked)


def sync_overlays(view: Snapshot, proj: Projection) -> None:
    """Move the map's decoder point, the selected digit's ±2σ ellipse and the A-B paths."""
    mu, logvar = view.mu, view.logvar
    sel, z = state.selected(), np.asarray(state.z())
    a, b = state.end_points(mu)
    t = np.linspace(0, 1, state.interp_steps()) if state.ab_chosen() else np.zeros(0)
    map_overlays.sync({
        "decoder": map_overlays.points(proj.to_xy(z)[None]),
        "ellipse": map_overlays.points(None if sel is None else proj.ellipse(mu[sel], logvar[sel])),
        "selected": map_overlays.points(None if sel is None else proj.to_xy(mu[sel])[None]),
        "path": map_overlays.points(proj.to_xy(lerp(a, b, t)), ["A"] + [""] * (len(t) - 2) + ["B"] if len(t) else []),
        "slerp": map_overlays.points(proj.to_xy(slerp(a, b, t))),
    })
