"""The server-side decoder panel: one slider per latent dim, the decoded digit, prior samples, download."""
import numpy as np
import streamlit as st

from explorer import images, state
from explorer.infer import decode
from explorer.snapshot import Snapshot

DIGIT_SCALE = 10  # 28 px -> 280 px, nearest neighbour
FOLD_SLIDERS_AFTER = 8  # sliders past this many are folded away (the page's sliders too: sent in the blob)


def sliders(view: Snapshot) -> None:
    """One slider per latent dim (folded after 8); decodes on the server on release."""
    d, ranges = view.latent_dim, state.ranges()

    def on_slide():
        values = state.slider_values(d)
        if values is not None:  # else the sliders were reset by a model switch that this release raced
            state.set_z(values, from_browser=True)

    z = state.z()

    def slider(container, i):
        lo, hi = ranges[i]
        # value: the slider's default in the page, which Streamlit's page falls back to when it remounts
        # a slider (seen when a rerun interrupts the one that drew it). Left to Streamlit, the default
        # was the range's low end, and a click on the live toggle early on could reset z to (-4, -4)
        container.slider(f"z{i}", float(lo), float(hi), value=float(min(max(z[i], lo), hi)), step=0.01,
                         key=state.Key.slider(i), on_change=on_slide)

    for i in range(min(d, FOLD_SLIDERS_AFTER)):
        slider(st, i)
    if d > FOLD_SLIDERS_AFTER:
        with st.expander(f"z{FOLD_SLIDERS_AFTER} … z{d - 1}"):
            for i in range(FOLD_SLIDERS_AFTER, d):
                slider(st, i)


def picture(view: Snapshot) -> bytes:
    """The digit at the current z as a PNG, decoded on the server."""
    return images.to_png(decode(view, np.asarray(state.z()))[0], DIGIT_SCALE)


def digit(view: Snapshot, png: bytes | None) -> None:
    """The server-decoded digit (png; None when the page decodes it), z's values, prior sampling
    and a PNG download."""
    z = np.asarray(state.z())
    values = "z = (" + ", ".join(f"{v:+.2f}" for v in z) + ")"
    if png is not None:  # inline: no media-file round trip before the new digit can show
        st.image(images.inline(png), width=280, caption=values)  # one element: each costs the page per release
    else:
        st.caption(values)
    row = st.container(horizontal=True)  # one block, not columns' three: each costs the page per release
    row.button("Sample from the prior", on_click=lambda: state.set_z(np.random.default_rng().standard_normal(len(z))),
              width="stretch")
    # deferred: the PNG is made when someone clicks, not stored on the server on every rerun
    row.download_button("Download PNG", lambda: picture(view), file_name="digit_" + "_".join(f"{v:.2f}" for v in z)
                       + ".png", mime="image/png", width="stretch", on_click="ignore")
