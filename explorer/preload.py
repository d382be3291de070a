"""Start loading plotly.js in the browser while the server is still importing torch.

Streamlit fetches its Plotly chart code (a 4.7 MB module) only when the first chart arrives, and
compiling it takes seconds on a slow machine. This invisible element, drawn before the heavy
imports, asks the page to import that module at once, so the map draws as soon as it arrives.
Imports only streamlit. Does nothing if a future Streamlit names its files differently.
"""
import functools
import logging
from pathlib import Path

import streamlit as st

_JS = r"""
export default function ({ data }) {
  const entry = document.querySelector('script[type="module"][src*="/static/js/index."]');
  if (!entry || !data || !data.length || window.__vaePreloaded) return;
  window.__vaePreloaded = true;
  // the same URL Streamlit's own lazy import resolves to, so the module is loaded (and run) once
  for (const file of new TextDecoder().decode(data).split("\n")) import(new URL(file, entry.src).href).catch(() => {});
}
"""
_component = st.components.v2.component("vae_preload", js=_JS, css=":host { display: none; }")


@functools.cache
def _chunks() -> bytes:
    js = Path(st.__file__).parent / "static" / "static" / "js"
    names = sorted(p.name for p in js.glob("PlotlyChart.*.js"))
    if not names:  # a Streamlit that names its files otherwise: the map loads when Streamlit asks for it
        logging.getLogger("explorer").warning("no PlotlyChart.*.js in this Streamlit: the map is not preloaded")
    return "\n".join(names).encode()


def plotly() -> None:
    # bytes: other data Streamlit first checks for dataframes, importing pandas (~0.7 s)
    _component(key="preload", data=_chunks(), height=0)  # = state.Key.PRELOAD (this module imports only streamlit)
