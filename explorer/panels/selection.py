"""The clicked test digit: original, reconstructions, and what to do with it."""
import logging

import numpy as np
import streamlit as st

from explorer import state
from explorer.backend import images
from explorer.backend.infer import decode, torch_side
from explorer.backend.snapshot import Snapshot
from vae_core.errors import DataError

log = logging.getLogger("explorer")

DATA_PROBLEM = "The test images for this checkpoint are missing or damaged; the server log says how to rebuild them."


def test_images(view: Snapshot):
    """The test images [N, 1, 28, 28] (torch), or None after one clear line when they cannot be read."""
    try:
        return torch_side().test_split(view.dataset)[1]
    except DataError as e:
        log.warning("test data for %s unavailable: %s", view.name, e)
        st.error(DATA_PROBLEM)
        return None


def panel(view: Snapshot) -> None:
    """Original | reconstruction from the posterior mean | reconstructions from posterior samples."""
    idx = state.selected()
    if idx is None:
        st.info("Click a point on the map to see that digit and its reconstructions.")
        return
    mu, logvar = view.mu, view.logvar
    label = view.classes[int(view.labels[idx])]
    st.subheader(f"Test digit #{idx} · {label}")
    rng = np.random.default_rng(idx)
    samples = mu[idx] + rng.standard_normal((5, mu.shape[1])) * np.exp(0.5 * np.clip(logvar[idx], -30, 30))
    x = test_images(view)
    if x is None:
        return
    decoded = decode(view, np.vstack([mu[idx][None], samples]))
    cols = st.columns([1, 1, 3])
    cols[0].image(images.inline(images.to_png(x[idx, 0], 4)), caption="original", width=112)
    cols[1].image(images.inline(images.to_png(decoded[0], 4)), caption="from posterior mean", width=112)
    cols[2].image(images.inline(images.grid_png(decoded[1:], nrow=5, scale=4)),
                  caption="from 5 posterior samples (dotted ellipse: ±2σ)")
    c1, c2, c3 = st.columns(3)
    c1.button("Decode this point", on_click=state.set_z, args=(mu[idx],), use_container_width=True, type="primary")
    c2.button("Set as A", on_click=state.choose, args=("A", idx), use_container_width=True)
    c3.button("Set as B", on_click=state.choose, args=("B", idx), use_container_width=True)
