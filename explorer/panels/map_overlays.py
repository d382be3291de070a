"""The map's moving overlays, drawn in the page as layout shapes (Plotly.relayout) so the chart never remounts."""
import json

import numpy as np
import streamlit as st

from explorer.backend import page
from explorer.panels import post
from explorer.state import Key

MAP_KEY = Key.MAP  # the latent map chart's key; the page finds the chart by it
VERSION = 1  # of the overlay message; map_overlays.js refuses any other
JS = page.module(page.BORROWED, page.POSTS, "map_overlays.js")
_component = st.components.v2.component("vae_map_overlays", js=JS, css=":host { display: none; }")


def points(xy: np.ndarray | None, text: list[str] | None = None) -> dict:
    """Points [N, 2] in map coordinates (None: draw nothing) as the JSON the page draws."""
    if xy is None:
        return {"x": [], "y": []}
    out = {"x": np.round(xy[:, 0], 5).tolist(), "y": np.round(xy[:, 1], 5).tolist()}
    if text is not None:
        out["text"] = text
    return out


def message(overlays: dict[str, dict]) -> dict:
    """Overlays v1: these overlays (any of decoder, selected, ellipse, path, slerp: see map_overlays.js)
    on the map keyed 'map'; the ones not named stay as they are. The element (`draw`) names all five
    on the page's runs; when only the decoder's fragment reruns (z moved), the "overlays" part of its
    post (post.py) names the decoder's point alone: a few bytes, whatever else is drawn."""
    return {"v": VERSION, "seq": post.stamp(), "map_key": MAP_KEY, "overlays": overlays}


def draw(overlays: dict[str, dict]) -> None:
    """The invisible element that draws the overlays on the map, as the page's run left them."""
    # JSON as bytes: any other data (dict, str) Streamlit first checks for dataframes, importing pandas (~0.7 s)
    _component(key=Key.MAP_OVERLAYS, data=json.dumps(message(overlays)).encode(), height=0)
