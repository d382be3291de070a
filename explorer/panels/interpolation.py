"""The Interpolate tab: decodes along the line and the great circle between test digits A and B."""
import numpy as np
import streamlit as st

from explorer import state
from explorer.backend import images
from explorer.backend.infer import decode
from explorer.backend.snapshot import Snapshot


def lerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    return a[None] * (1 - t[:, None]) + b[None] * t[:, None]


def slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation (Shoemake 1985; White 2016 for latent spaces); linear when a, b are parallel."""
    cos = np.dot(a, b) / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12)
    omega = np.arccos(np.clip(cos, -1, 1))
    if omega < 1e-4:
        return lerp(a, b, t)
    s = np.sin(omega)
    return (np.sin((1 - t) * omega)[:, None] * a[None] + np.sin(t * omega)[:, None] * b[None]) / s


def tab(view: Snapshot) -> None:
    """Decodes along the line (and the great circle) between the means of test digits A and B."""
    mu, labels, classes = view.mu, view.labels, view.classes
    n = len(mu)
    c1, c2, c3 = st.columns(3)
    a = c1.number_input("A (test index)", 0, n - 1, key=state.Key.A, help="Or click a point and press 'Set as A'",
                        on_change=state.choose, args=("A",))
    b = c2.number_input("B (test index)", 0, n - 1, key=state.Key.B, on_change=state.choose, args=("B",))
    k = c3.slider("Steps", 3, 16, 8, key=state.Key.INTERP_K)
    own = state.own_ends()
    name = {end: "your digit" if end in own else f"#{i} ({classes[int(labels[i])]})" for end, i in zip("AB", (a, b))}
    st.caption(f"A = {name['A']}, B = {name['B']}; "
               + ("both paths are drawn on the map (dashed: spherical)" if state.ab_chosen() else
                "choose A and B (here, or with 'Set as A/B' under a clicked digit) to see both paths on the map"))
    za, zb = state.end_points(mu)
    for title, png in zip(("Linear", "Spherical"), _interpolation_pngs(view, view.ident, za, zb, k)):
        st.image(images.inline(png), caption=title)


@st.cache_data(show_spinner=False, max_entries=64)
def _interpolation_pngs(_view, ident: str, a: np.ndarray, b: np.ndarray, k: int) -> tuple[bytes, bytes]:
    t = np.linspace(0, 1, k)
    return tuple(images.grid_png(decode(_view, path), nrow=k, scale=3)
                 for path in (lerp(a, b, t), slerp(a, b, t)))
