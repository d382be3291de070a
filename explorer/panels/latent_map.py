"""The latent map: the shared figure, its still preview, clicks on it, and the overlays moved in the page."""
import json

import numpy as np
import plotly.graph_objects as go
import streamlit as st

import plots
from explorer import state
from explorer.backend import images, page
from explorer.backend.infer import decode
from explorer.backend.projection import Projection
from explorer.backend.snapshot import Snapshot
from explorer.panels import map_overlays
from explorer.panels.interpolation import lerp, slerp


@st.cache_data(show_spinner=False, max_entries=16)
def _underlay_uri(_view, ident: str, center: tuple, W: tuple, extent: tuple, n: int = 24) -> str:
    proj = Projection(np.asarray(center), np.asarray(W), ("", ""))
    x0, x1, y0, y1 = extent
    xs, ys = np.linspace(x0, x1, n), np.linspace(y1, y0, n)  # top row first
    xy = np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)
    tiles = decode(_view, proj.from_xy(xy))
    png = images.grid_png(tiles, nrow=n, padding=0)
    return images.inline(png)


PREVIEW_VERSION = 2  # of the preview message; map_preview.js refuses any other
# px around the chart's plot area: its layout margins plus the tick labels and axis titles (left,
# bottom) and the legend (right), as Plotly lays out the map (gd._fullLayout._size); the preview draws inside
PREVIEW_MARGIN = {"l": 65, "r": 70, "t": 30, "b": 65}  # Plotly: 65, 69, 30, 65 at 532 px wide
PREVIEW_JS = page.module(page.DOM, page.BORROWED, "map_preview.js")
_preview = st.components.v2.component("vae_map_preview", js=PREVIEW_JS, css="""
.vae-preview { position: relative; }
.vae-preview .note { position: absolute; top: 4px; left: 8px; font-size: 13px; color: #555; }
.vae-preview .tip { position: absolute; display: none; pointer-events: none; white-space: nowrap; font-size: 13px;
  background: #fff; border: 1px solid; border-radius: 3px; padding: 1px 6px; }
.vae-preview.error { color: #b00020; font-size: 13px; }
""")


def figure(view: Snapshot, proj: Projection, opts: dict) -> go.Figure:
    """The map figure for this checkpoint and view, built once and shared by every session (it is
    only read: overlays move in the page)."""
    return _map_for(view, proj, opts)[0]


def preview(view: Snapshot, proj: Projection, opts: dict) -> bytes:
    """The preview message for the same view: the figure's points, colours, ranges and height."""
    return _map_for(view, proj, opts)[1]


def _map_for(view: Snapshot, proj: Projection, opts: dict) -> tuple[go.Figure, bytes]:
    return _map(view, proj, view.ident, proj.titles, proj.center.tobytes(), proj.W.tobytes(),
                opts["underlay"], opts["contours"])


def preview_message(xy: np.ndarray, labels: np.ndarray, classes: list[str], fig: go.Figure) -> bytes:
    """The points [N, 2] (point i is test digit i) and labels [N] of `fig` as map_preview.js draws
    them, with the class names its hover label shows (docs/page-protocol.md)."""
    header = {"v": PREVIEW_VERSION, "map_key": map_overlays.MAP_KEY, "n": len(xy), "height": fig.layout.height,
              "x_range": list(fig.layout.xaxis.range), "y_range": list(fig.layout.yaxis.range),
              "colors": list(plots.PALETTE), "classes": list(classes), "size": fig.data[0].marker.size, "opacity": fig.data[0].marker.opacity,
              "margin": PREVIEW_MARGIN}
    return (json.dumps(header).encode() + b"\n" + np.ascontiguousarray(xy, "<f4").tobytes()
            + np.asarray(labels, np.uint8).tobytes())


@st.cache_resource(show_spinner=False, max_entries=16)
def _map(_view, _proj, ident: str, titles: tuple, center: bytes, W: bytes,
         underlay: bool, contours: bool) -> tuple[go.Figure, bytes]:
    view, proj = _view, _proj
    xy = proj.to_xy(view.mu)
    fig = plots.latent_map(xy, view.labels, view.classes, axis_titles=proj.titles)
    if underlay:
        lo, hi = xy.min(0) - 0.3, xy.max(0) + 0.3
        extent = (lo[0], hi[0], lo[1], hi[1])
        uri = _underlay_uri(view, view.ident, tuple(proj.center), tuple(map(tuple, proj.W)), extent)
        plots.add_underlay(fig, uri, extent)
        fig.update_xaxes(range=[lo[0], hi[0]])
        fig.update_yaxes(range=[lo[1], hi[1]])
    if contours:
        plots.add_prior_contours(fig, proj.to_xy(np.zeros(view.latent_dim)))
    return fig, preview_message(xy, view.labels, view.classes, fig)


def take_click() -> None:
    """Take a click on the map, on the chart as Streamlit reports it or on its preview while
    plotly.js loads, before anything that shows the selection is drawn (the chart itself may be
    drawn later in the run)."""
    event = state.map_event()
    points = event.selection.points if event is not None else []
    state.take_pick(int(points[0]["customdata"]) if points else None)
    state.take_preview_click()


def chart(view: Snapshot, proj: Projection, opts: dict) -> None:
    """Draw the map (its clicks are taken by `take_click`) and its overlays, which the page moves
    (map_overlays.js), so the chart keeps its zoom and selection across reruns. Until plotly.js is in
    the page (a cold start), a still preview of the points stands in its place."""
    _preview(key=state.Key.MAP_PREVIEW, data=preview(view, proj, opts))
    st.plotly_chart(figure(view, proj, opts), on_select="rerun", selection_mode="points", key=map_overlays.MAP_KEY,
                    config={"scrollZoom": True, "displaylogo": False})
    map_overlays.draw(overlays(view, proj))


def decoder_overlay(proj: Projection) -> dict:
    """The decoder's point alone, as the decoder's fragment posts it when z moves (post.py): the
    other overlays change only on the page's runs, which draw them all."""
    return map_overlays.message({"decoder": _decoder_point(proj)})


def _decoder_point(proj: Projection) -> dict:
    return map_overlays.points(proj.to_xy(np.asarray(state.z()))[None])


def overlays(view: Snapshot, proj: Projection) -> dict[str, dict]:
    """The map's decoder point, the selected digit's ring and ±2σ ellipse, and the A-B paths."""
    mu, logvar = view.mu, view.logvar
    sel = state.selected()
    a, b = state.end_points(mu)
    t = np.linspace(0, 1, state.interp_steps()) if state.ab_chosen() else np.zeros(0)
    return {
        "decoder": _decoder_point(proj),
        "ellipse": map_overlays.points(None if sel is None else proj.ellipse(mu[sel], logvar[sel])),
        "selected": map_overlays.points(None if sel is None else proj.to_xy(mu[sel])[None]),
        "path": map_overlays.points(proj.to_xy(lerp(a, b, t)), ["A"] + [""] * (len(t) - 2) + ["B"] if len(t) else []),
        "slerp": map_overlays.points(proj.to_xy(slerp(a, b, t))),
    }
