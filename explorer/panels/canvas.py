"""The Canvas tab: the seed's n x n grid of decodes over a latent mesh."""
import streamlit as st

from explorer import state
from explorer.backend import images
from explorer.backend.infer import torch_side
from explorer.backend.snapshot import Snapshot

SPACINGS = ("uniform", "gaussian")  # as vae_core.figures.latent_mesh takes them


@st.cache_data(show_spinner="Decoding the canvas…", max_entries=32)
def _canvas_png(_view, ident: str, n: int, extent: float, spacing: str, dims: tuple[int, int]) -> bytes:
    return images.to_png(torch_side().canvas(_view, n, extent, spacing, dims), 2)


def tab(view: Snapshot) -> None:
    """The seed's n x n grid of decodes over a latent mesh."""
    d = view.latent_dim
    c1, c2, c3 = st.columns(3)
    n = c1.slider("Grid size n", 3, 30, 15, key=state.Key.CANVAS_N)
    spacing = c2.radio("Spacing", SPACINGS, horizontal=True, key=state.Key.CANVAS_SPACING,
                       format_func=lambda s: {"uniform": "uniform", "gaussian": "Gaussian quantiles"}[s])
    extent = c3.slider("Extent ±", 0.5, 6.0, 3.0, 0.5, key=state.Key.CANVAS_EXTENT, disabled=spacing == "gaussian")
    dims = (0, min(1, d - 1))
    if d > 2:
        c1, c2 = st.columns(2)
        dims = (c1.selectbox("Horizontal", range(d), 0, key=state.Key.CANVAS_I, format_func=lambda k: f"z{k}"),
                c2.selectbox("Vertical", range(d), 1, key=state.Key.CANVAS_J, format_func=lambda k: f"z{k}"))
        st.caption("The other latent dims are held at 0, the prior mean.")
    png = _canvas_png(view, view.ident, n, extent, spacing, dims)
    st.image(images.inline(png), caption=f"z{dims[0]} left→right, z{dims[1]} bottom→top", width=min(56 * n, 840))
    st.download_button("Download canvas PNG", lambda: png, file_name=f"canvas_{n}x{n}_{spacing}.png",
                       mime="image/png", on_click="ignore")
