"""Plotly figures shared by the app and train.py: the latent map, overlays, the loss curve."""
import base64

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative

PALETTE = qualitative.D3  # ten distinct colours, one per class


def class_colors(n_classes: int) -> list[str]:
    """The colour of each class, as the map draws it (the palette repeats past ten)."""
    return [PALETTE[c % len(PALETTE)] for c in range(max(n_classes, 1))]


def typed(a: np.ndarray, dtype: str = "f4") -> dict:
    """An array as plotly.js's base64 typed-array spec: ~10x cheaper to serialise on every rerun
    than letting plotly inspect and convert each numpy array itself."""
    a = np.ascontiguousarray(a, dtype="<" + dtype)
    return {"dtype": dtype, "bdata": base64.b64encode(a.tobytes()).decode()}


def latent_map(xy: np.ndarray, labels: np.ndarray, classes: list[str], *,
               axis_titles: tuple[str, str] = ("z0", "z1"), height: int = 560) -> go.Figure:
    """WebGL scatter of 2-D points, one trace per class (legend toggles classes).

    xy: [N, 2]; labels: [N] ints. Each point's customdata is its test index, so a selection
    maps back to the digit whatever traces are hidden.
    """
    fig = go.Figure()
    index = np.arange(len(xy))
    for c, name in enumerate(classes):
        sel = labels == c
        fig.add_trace(go.Scattergl(
            x=typed(xy[sel, 0]), y=typed(xy[sel, 1]), mode="markers", name=name,
            marker=dict(size=4, color=PALETTE[c % len(PALETTE)], opacity=0.7),
            selected=dict(marker=dict(opacity=1.0)), unselected=dict(marker=dict(opacity=0.7)),  # no dimming
            customdata=typed(index[sel], "i4"),
            hovertemplate=f"<b>{name}</b> · test #%{{customdata}}<extra></extra>",
        ))
    # fixed ranges (the points plus a margin): the overlays drawn later neither move the view nor
    # make plotly recompute the axes and redraw all points each time they change
    lo, hi = xy.min(0), xy.max(0)
    pad = max(0.05 * (hi - lo).max(), 0.25)  # and some room when the means collapse onto a point
    fig.update_layout(
        height=height, margin=dict(l=10, r=10, t=30, b=10), dragmode="pan",
        xaxis=dict(title=axis_titles[0], zeroline=False, range=[lo[0] - pad, hi[0] + pad]),
        yaxis=dict(title=axis_titles[1], zeroline=False, range=[lo[1] - pad, hi[1] + pad], scaleanchor="x",
                   scaleratio=1),
        legend=dict(itemsizing="constant"),
        clickmode="event+select", uirevision="map",
        template="none",  # Streamlit's theme styles the chart; plotly's default template only costs JSON
    )
    return fig


def loss_curve(rows: list[dict]) -> go.Figure:
    """Train and test -ELBO per epoch from metrics rows ({'epoch','train_neg_elbo','test_neg_elbo'})."""
    epochs = [r["epoch"] for r in rows]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=epochs, y=[r["train_neg_elbo"] for r in rows], name="train -ELBO"))
    fig.add_trace(go.Scatter(x=epochs, y=[r["test_neg_elbo"] for r in rows], name="test -ELBO"))
    fig.update_layout(xaxis_title="epoch", yaxis_title="nats per image", height=420,
                      margin=dict(l=10, r=10, t=30, b=10))
    return fig


def add_prior_contours(fig: go.Figure, origin: np.ndarray) -> None:
    """1, 2 and 3 sigma circles of N(0, I) around its mean `origin` (seen in a 2-D view)."""
    t = np.linspace(0, 2 * np.pi, 100)
    for k in (1, 2, 3):
        fig.add_trace(go.Scatter(x=typed(origin[0] + k * np.cos(t)), y=typed(origin[1] + k * np.sin(t)), mode="lines",
                                 name=f"prior {k}σ", line=dict(color="rgba(0,0,0,0.35)", width=1),
                                 hoverinfo="skip", showlegend=(k == 1), legendgroup="prior"))


def add_underlay(fig: go.Figure, png_data_uri: str, extent: tuple[float, float, float, float]) -> None:
    """Draw a decoded canvas (a PNG data URI) under the points, filling x0..x1, y0..y1."""
    x0, x1, y0, y1 = extent
    fig.add_layout_image(dict(source=png_data_uri, xref="x", yref="y", x=x0, y=y1, sizex=x1 - x0,
                              sizey=y1 - y0, sizing="stretch", layer="below", opacity=0.55))
