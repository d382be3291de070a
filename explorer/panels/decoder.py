"""The decoder panel's server side: z's values, prior samples and a PNG download under the digit.
The sliders, the pad and the digit are the page's (explorer/live.py), decoding there or asking the
server's route (explorer/remote.py)."""
import numpy as np
import streamlit as st

from explorer import state
from explorer.backend import images
from explorer.backend.infer import decode
from explorer.backend.snapshot import Snapshot

DIGIT_SCALE = 10  # 28 px -> 280 px, nearest neighbour


def picture(view: Snapshot) -> bytes:
    """The digit at the current z as a PNG, decoded on the server."""
    return images.to_png(decode(view, np.asarray(state.z()))[0], DIGIT_SCALE)


def digit(view: Snapshot) -> None:
    """Under the digit: z's values, prior sampling and a PNG download."""
    z = np.asarray(state.z())
    st.caption("z = (" + ", ".join(f"{v:+.2f}" for v in z) + ")")
    row = st.container(horizontal=True)  # one block, not columns' three: each costs the page per release
    row.button("Sample from the prior", on_click=lambda: state.set_z(np.random.default_rng().standard_normal(len(z))),
               width="stretch")
    # deferred: the PNG is made when someone clicks, not stored on the server on every rerun
    row.download_button("Download PNG", lambda: picture(view), file_name="digit_" + "_".join(f"{v:.2f}" for v in z)
                        + ".png", mime="image/png", width="stretch", on_click="ignore")
