"""The map's moving overlays, drawn in the page as layout shapes (Plotly.relayout) so the chart never remounts."""
import json

import numpy as np
import streamlit as st

from explorer import page
from explorer.state import Key

MAP_KEY = Key.MAP  # the latent map chart's key; the page finds the chart by it
VERSION = 1  # of the overlay message; map_overlays.js refuses any other
_component = st.components.v2.component(
    "vae_map_overlays", js=page.module(page.BORROWED, "map_overlays.js"),
    css=":host { display: none; }")


def points(xy: np.ndarray | None, text: list[str] | None = None) -> dict:
    """Points [N, 2] in map coordinates (None: draw nothing) as the JSON the page draws."""
    if xy is None:
        return {"x": [], "y": []}
    out = {"x": np.round(xy[:, 0], 5).tolist(), "y": np.round(xy[:, 1], 5).tolist()}
    if text is not None:
        out["text"] = text
    return out


def sync(overlays: dict[str, dict]) -> None:
    """Draw these overlays (decoder, selected, ellipse, path, slerp: see map_overlays.js) on the map keyed 'map'."""
    # JSON as bytes: any other data (dict, str) Streamlit first checks for dataframes, importing pandas (~0.7 s)
    message = {"v": VERSION, "map_key": MAP_KEY, "overlays": overlays}
    _component(key=Key.MAP_OVERLAYS, data=json.dumps(message).encode(), height=0)
