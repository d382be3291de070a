"""Plotly figures shared by the app and train.py: the latent map, overlays, the loss curve."""
import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative

PALETTE = qualitative.D3  # ten distinct colours, one per class


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
            x=xy[sel, 0], y=xy[sel, 1], mode="markers", name=name,
            marker=dict(size=4, color=PALETTE[c % len(PALETTE)], opacity=0.7),
            customdata=index[sel],
            hovertemplate=f"<b>{name}</b> · test #%{{customdata}}<extra></extra>",
        ))
    fig.update_layout(
        height=height, margin=dict(l=10, r=10, t=30, b=10), dragmode="pan",
        xaxis=dict(title=axis_titles[0], zeroline=False), legend=dict(itemsizing="constant"),
        yaxis=dict(title=axis_titles[1], zeroline=False, scaleanchor="x", scaleratio=1),
        clickmode="event+select", uirevision="map",
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
