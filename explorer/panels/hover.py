"""Hover thumbnails on the latent map: the test images go to the page once, as one PNG atlas."""
import io
import json

import numpy as np
import streamlit as st
from PIL import Image

from explorer import state
from explorer.backend import page
from explorer.panels import map_overlays

COLS = 100  # digits per atlas row (sent to hover.js in each message's header)
VERSION = 1  # of the messages below; hover.js refuses any other
JS = page.module(page.BORROWED, "hover.js")
_component = st.components.v2.component("vae_map_hover", js=JS, css=":host { display: none; }")


@st.cache_resource(show_spinner=False, max_entries=4)
def atlas_png(dataset: str) -> bytes:
    """All test images [N, 28, 28] tiled COLS a row in index order, one greyscale PNG (~1.9 MB for MNIST)."""
    from explorer.backend import models  # torch; the page asks for the atlas only once it is idle
    x = models.test_split(dataset)[0].images.numpy()
    rows = -(-len(x) // COLS)
    x = np.concatenate([x, np.zeros((rows * COLS - len(x), 28, 28), np.uint8)])
    tiles = x.reshape(rows, COLS, 28, 28).transpose(0, 2, 1, 3).reshape(rows * 28, COLS * 28)
    buf = io.BytesIO()
    Image.fromarray(tiles, mode="L").save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def thumbnails(dataset: str) -> None:
    """Show the hovered test digit beside the pointer on the map keyed 'map'.

    The page asks for the atlas once it is idle (state 'want'), so the 1.9 MB never delays the map
    or the digit on a cold start, and says when it holds it (state 'have'), after which each rerun
    sends a few bytes instead of the atlas (hashing 1.9 MB cost ~7 ms of every full rerun).
    Messages (docs/page-protocol.md): a 4-byte tag WANT | HAVE | ATLS, a JSON header {v, dataset,
    cols, map_key}, and for ATLS a newline and the PNG.
    """
    asked = state.hover_state()
    header = json.dumps({"v": VERSION, "dataset": dataset, "cols": COLS, "map_key": map_overlays.MAP_KEY}).encode()
    if asked.get("have") == dataset:
        data = b"HAVE" + header
    elif asked.get("want") == dataset:
        data = b"ATLS" + header + b"\n" + atlas_png(dataset)
    else:
        data = b"WANT" + header
    _component(key=state.Key.MAP_HOVER, data=data, height=0)
