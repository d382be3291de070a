"""Make the page load Streamlit's component code while the server is still importing the app.

Every page helper here is a Streamlit component (v2), whose code the page fetches only when the first
component arrives. This invisible, empty component is drawn before the app's imports, so that code
(and the ~200 KB it pulls in) is already in the page when the live decoder and the map's preview
come: on a cold start both are drawn ~0.4 s sooner (bench/startup.py). It does not fetch plotly.js
early: compiling that 4.7 MB module held the page's thread before they could be drawn (the map's
still preview, frontend/map_preview.js, stands in for the map meanwhile). Imports only streamlit and
the stdlib-only bundle.
"""
import streamlit as st

from explorer.backend import bundle

_component = st.components.v2.component("vae_preload", js=bundle.module("preload.js"), css=bundle.css("hidden.css"))


def components() -> None:
    # bytes: other data Streamlit first checks for dataframes, importing pandas (~0.7 s)
    _component(key="preload", data=b"1", height=0)  # = state.Key.PRELOAD (this module imports only streamlit)
