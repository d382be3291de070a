"""The latent map: the shared figure, its still preview while plotly.js loads, clicks on it, the
overlays moved in the page as layout shapes (Plotly.relayout, so the chart never remounts), and the
hover thumbnails (the test images go to the page once, as one PNG atlas)."""
import io
import json
import logging

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from PIL import Image

import plots
from explorer import state
from explorer.backend import bundle, images, layers, serving
from explorer.backend.infer import decode, torch_side
from explorer.backend.projection import Projection
from explorer.backend.snapshot import Snapshot
from explorer.panels.interpolation import lerp, slerp
from vae_core.errors import DataError

log = logging.getLogger("explorer")

MAP_KEY = state.Key.MAP  # the latent map chart's key; the page finds the chart by it
OVERLAYS_VERSION = 1  # of the overlay message; map_overlays.js refuses any other
OVERLAYS_JS = bundle.module("map_overlays.js")
_overlays = st.components.v2.component("vae_map_overlays", js=OVERLAYS_JS, css=bundle.css("hidden.css"))


def overlay_points(xy: np.ndarray | None, text: list[str] | None = None) -> dict:
    """Points [N, 2] in map coordinates (None: draw nothing) as the JSON the page draws."""
    if xy is None:
        return {"x": [], "y": []}
    out = {"x": np.round(xy[:, 0], 5).tolist(), "y": np.round(xy[:, 1], 5).tolist()}
    if text is not None:
        out["text"] = text
    return out


def overlay_message(overlays: dict[str, dict]) -> dict:
    """Overlays v1: these overlays (any of decoder, selected, ellipse, path, slerp: see map_overlays.js)
    on the map keyed 'map'; the ones not named stay as they are. The element (`draw`) names all five
    on the page's runs; when only the decoder's fragment reruns (z moved), the "overlays" part of its
    post (decoder.py) names the decoder's point alone: a few bytes, whatever else is drawn."""
    return {"v": OVERLAYS_VERSION, "seq": serving.stamp(), "map_key": MAP_KEY, "overlays": overlays}


def draw_overlays(overlays: dict[str, dict]) -> None:
    """The invisible element that draws the overlays on the map, as the page's run left them."""
    # JSON as bytes: any other data (dict, str) Streamlit first checks for dataframes, importing pandas (~0.7 s)
    _overlays(key=state.Key.MAP_OVERLAYS, data=json.dumps(overlay_message(overlays)).encode(), height=0)


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
PREVIEW_JS = bundle.module("map_preview.js")
_preview = st.components.v2.component("vae_map_preview", js=PREVIEW_JS, css=bundle.css("map_preview.css"))


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
    header = {"v": PREVIEW_VERSION, "map_key": MAP_KEY, "n": len(xy), "height": fig.layout.height,
              "x_range": list(fig.layout.xaxis.range), "y_range": list(fig.layout.yaxis.range),
              "colors": list(plots.PALETTE), "classes": list(classes), "size": fig.data[0].marker.size, "opacity": fig.data[0].marker.opacity,
              "margin": PREVIEW_MARGIN}
    return (json.dumps(header).encode() + b"\n" + np.ascontiguousarray(xy, "<f4").tobytes()
            + np.asarray(labels, np.uint8).tobytes())


@st.cache_resource(show_spinner=False, max_entries=16)
def _map(_view, _proj, ident: str, titles: tuple, center: bytes, W: bytes,
         underlay: bool, contours: bool) -> tuple[go.Figure, bytes]:
    view, proj = _view, _proj
    xy = proj.of_test(view.mu)
    fig = plots.latent_map(xy, view.labels, view.classes, axis_titles=proj.titles)
    if underlay and not proj.nonlinear:  # a plane with no inverse has no decoded canvas
        lo, hi = xy.min(0) - 0.3, xy.max(0) + 0.3
        extent = (lo[0], hi[0], lo[1], hi[1])
        uri = _underlay_uri(view, view.ident, tuple(proj.center), tuple(map(tuple, proj.W)), extent)
        plots.add_underlay(fig, uri, extent)
        fig.update_xaxes(range=[lo[0], hi[0]])
        fig.update_yaxes(range=[lo[1], hi[1]])
    if contours and not proj.nonlinear:
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
    st.plotly_chart(figure(view, proj, opts), on_select="rerun", selection_mode="points", key=MAP_KEY,
                    config={"scrollZoom": True, "displaylogo": False})
    draw_overlays(overlays(view, proj, opts))


def decoder_overlay(view: Snapshot, proj: Projection, opts: dict) -> dict:
    """The decoder's point alone, as the decoder's fragment posts it when z moves (post.py): the
    other overlays change only on the page's runs, which draw them all; but for a latent over 2-D
    an analysis layer is a slice through z, so it moves with it."""
    moved = {"decoder": _decoder_point(proj)}
    if opts.get("layer", "none") != "none" and view.latent_dim > 2:
        moved["layer"] = layer(view, proj, opts)
    return overlay_message(moved)


def layer(view: Snapshot, proj: Projection, opts: dict) -> dict:
    """The analysis layer (backend/layers.py) over the map's ranges, as an image spec; {} for none."""
    kind = opts.get("layer", "none")
    if kind not in layers.KINDS or proj.nonlinear:
        return {}
    fig = figure(view, proj, opts)
    extent = (*fig.layout.xaxis.range, *fig.layout.yaxis.range)
    base = tuple(np.round(state.z(), 3)) if view.latent_dim > 2 else ()
    return _layer(view, proj, view.ident, kind, proj.center.tobytes(), proj.W.tobytes(), base, tuple(extent))


@st.cache_resource(show_spinner="Computing the layer…", max_entries=32)
def _layer(_view, _proj, ident: str, kind: str, center: bytes, W: bytes, base: tuple, extent: tuple) -> dict:
    at = np.asarray(base) if base else np.zeros(_view.latent_dim)
    if kind == "holes":
        uri = layers.holes_png(*layers.holes(_view, _proj, at, extent))
    else:
        uri = layers.magnification_png(layers.magnification(lambda z: decode(_view, z), _proj, at, extent))
    return layers.image_spec(uri, extent)


def _decoder_point(proj: Projection) -> dict:
    return overlay_points(proj.to_xy(np.asarray(state.z()))[None])


def overlays(view: Snapshot, proj: Projection, opts: dict) -> dict[str, dict]:
    """The map's decoder point, the selected digit's ring and ±2σ ellipse, the A-B paths and the
    analysis layer."""
    mu, logvar = view.mu, view.logvar
    sel = state.selected()
    a, b = state.end_points(mu)
    t = np.linspace(0, 1, state.interp_steps()) if state.ab_chosen() and not proj.nonlinear else np.zeros(0)
    return {
        "decoder": _decoder_point(proj),
        "ellipse": overlay_points(None if sel is None else proj.ellipse(mu[sel], logvar[sel])),
        "selected": overlay_points(None if sel is None else proj.to_xy(mu[sel])[None]),
        "path": overlay_points(proj.to_xy(lerp(a, b, t)) if len(t) else None,
                               ["A"] + [""] * (len(t) - 2) + ["B"] if len(t) else []),
        "slerp": overlay_points(proj.to_xy(slerp(a, b, t)) if len(t) else None),
        "layer": layer(view, proj, opts),
    }


# ---- hover thumbnails
HOVER_COLS = 100  # digits per atlas row (sent to hover.js in each message's header)
HOVER_VERSION = 1  # of the hover messages below; hover.js refuses any other
_NO_ATLAS = "_no_hover_atlas"  # session key: the dataset whose test images could not be read
HOVER_JS = bundle.module("hover.js")
_hover = st.components.v2.component("vae_map_hover", js=HOVER_JS, css=bundle.css("hidden.css"))


@st.cache_resource(show_spinner=False, max_entries=4)
def atlas_png(dataset: str) -> bytes:
    """All test images [N, 28, 28] tiled HOVER_COLS a row in index order, one greyscale PNG (~1.9 MB for MNIST)."""
    x = torch_side().test_split(dataset)[0].images.numpy()  # torch: the page asks for the atlas once it is idle
    rows = -(-len(x) // HOVER_COLS)
    x = np.concatenate([x, np.zeros((rows * HOVER_COLS - len(x), 28, 28), np.uint8)])
    tiles = x.reshape(rows, HOVER_COLS, 28, 28).transpose(0, 2, 1, 3).reshape(rows * 28, HOVER_COLS * 28)
    buf = io.BytesIO()
    Image.fromarray(tiles, mode="L").save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def thumbnails(dataset: str) -> None:
    """Show the hovered test digit beside the pointer on the map keyed 'map'.

    The page asks for the atlas once it is idle (state 'want'), so the 1.9 MB never delays the map
    or the digit on a cold start, and says when it holds it (state 'have'), after which each rerun
    sends a few bytes instead of the atlas (hashing 1.9 MB cost ~7 ms of every full rerun).
    Messages (docs/page-protocol.md): a 4-byte tag WANT | HAVE | ATLS, a JSON header {v, dataset,
    cols, map_key}, and for ATLS a newline and the PNG.
    """
    asked = state.hover_state()
    header = json.dumps({"v": HOVER_VERSION, "dataset": dataset, "cols": HOVER_COLS, "map_key": MAP_KEY}).encode()
    if st.session_state.get(_NO_ATLAS) == dataset:
        return  # the test images could not be read: no thumbnails (the selection panel says why)
    if asked.get("have") == dataset:
        data = b"HAVE" + header
    elif asked.get("want") == dataset:
        try:
            data = b"ATLS" + header + b"\n" + atlas_png(dataset)
        except DataError as e:
            log.warning("no hover thumbnails for %s: %s", dataset, e)
            st.session_state[_NO_ATLAS] = dataset  # asked once per session, not on every rerun
            return
    else:
        data = b"WANT" + header
    _hover(key=state.Key.MAP_HOVER, data=data, height=0)
