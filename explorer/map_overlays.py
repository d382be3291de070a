"""The map's moving overlays, drawn in the page with Plotly.restyle so the chart never remounts."""
from pathlib import Path

import numpy as np
import streamlit as st

_component = st.components.v2.component(
    "vae_map_overlays", js=(Path(__file__).parent / "map_overlays.js").read_text(),
    css=":host { display: none; }")


def trace(xy: np.ndarray | None, text: list[str] | None = None) -> dict:
    """Points [N, 2] (None: hide the trace) as the JSON the page applies."""
    if xy is None:
        return {"x": [], "y": []}
    out = {"x": np.round(xy[:, 0], 5).tolist(), "y": np.round(xy[:, 1], 5).tolist()}
    if text is not None:
        out["text"] = text
    return out


def sync(overlays: dict[str, dict]) -> None:
    """Set the named overlay traces of the map (keyed 'map') to these points."""
    _component(key="map_overlays", data=overlays, height=0)
