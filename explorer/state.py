"""The session's explorer state: the decoder's point, the selected digit, the interpolation ends,
the slider ranges. The functions here are the only writers of these keys."""
import logging

import numpy as np
import streamlit as st

from explorer.projection import slider_ranges
from explorer.snapshot import Snapshot

log = logging.getLogger("explorer")


def reset_for(view: Snapshot) -> None:
    """Start each checkpoint at the prior mean, with nothing selected."""
    if st.session_state.get("state_for") == view.ident:
        return
    ranges = slider_ranges(view.mu)
    d = view.latent_dim
    for key in [k for k in st.session_state if str(k).startswith("zs_")]:
        del st.session_state[key]
    st.session_state.update(state_for=view.ident, z=[0.0] * d, z_version=0, selected=None, A=0, B=1,
                            ab_chosen=[], ranges=ranges.tolist())
    st.session_state.pop("z_pushed", None)  # the live widget's last pushed point belonged to the old model


def set_z(z, *, from_browser: bool = False) -> None:
    """Make z the decoder's point: clipped into the slider ranges, pushed to the sliders and the page.

    A point of the wrong length or with NaN/inf is dropped: it comes from a widget of the model the
    session just switched away from (a callback racing the switch) or from a client that is not ours.
    """
    lo, hi = np.asarray(st.session_state["ranges"]).T
    try:
        z = np.asarray(z, np.float64)
    except (TypeError, ValueError):
        return
    if z.shape != lo.shape or not np.all(np.isfinite(z)):
        log.info("dropped a latent point of shape %s for a %d-D model", z.shape, len(lo))
        return
    z = np.clip(z, lo, hi)
    st.session_state["z"] = [round(float(v), 3) for v in z]
    for i, v in enumerate(st.session_state["z"]):
        st.session_state[f"zs_{i}"] = v
    if not from_browser:
        st.session_state["z_version"] += 1  # tells the live widget to take the new point


def choose(end: str, index: int | None = None) -> None:
    """The user picked interpolation end `end` ("A" or "B"); index None: the widget already set it."""
    if index is not None:
        st.session_state[end] = index
    chosen = st.session_state.setdefault("ab_chosen", [])
    if end not in chosen:
        chosen.append(end)


def ab_chosen() -> bool:
    """Both ends chosen by the user: only then is the A-B path drawn on the map."""
    return len(st.session_state.get("ab_chosen", [])) == 2
