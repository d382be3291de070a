"""VAE latent-space explorer: streamlit run explorer/app.py

`streamlit run` first imports this file as a module and finds `app` (an st.App): Streamlit's server
with one route of ours beside it, server decoding (explorer/remote.py). Each browser session then runs
this file as the page script (__name__ == "__main__"), as AppTest does.
"""
import os
import sys
import time

_STARTED = time.perf_counter()
import streamlit as st  # noqa: E402

PAGE = __name__ == "__main__"

if not PAGE:  # the server: nothing of the page is imported here, so it starts listening at once
    from explorer.backend import remote  # noqa: E402
    app = st.App(__file__, routes=remote.routes())
else:
    from explorer.backend import serving  # noqa: F401  (set once per process)
    from explorer.panels import preload  # streamlit only

    st.set_page_config(page_title="VAE latent explorer", page_icon="🔢", layout="wide")
    with st.sidebar:
        preload.components()  # the page fetches Streamlit's component code while the imports below run
    st.title("VAE latent-space explorer")  # a person's first sight is the app, not a blank page

    from explorer import link, state  # noqa: E402  (plotly and numpy: no torch before the first page)
    from explorer.panels import (  # noqa: E402
        canvas,
        decoder,
        interpolation,
        latent_map,
        selection,
        sidebar,
        train,
        traverse,
        your_digit,
    )

_IMPORTED, _IMPORTED_AT = time.perf_counter(), time.time()
TIMING = bool(os.environ.get("VAE_EXPLORER_TIMING"))  # stderr lines for bench/app_speed.py


def explore_tab(view, proj, opts, use_live: bool) -> None:
    """The map beside the decoder, and the clicked digit's panel below."""
    latent_map.take_click()  # first: a click changes what the panels below and the map's overlays show
    left, right = st.columns([3, 2], gap="large")
    # the decoder first: on a cold start its weights reach the page before the map's figure, so the
    # live digit is drawn before plotly.js, arriving meanwhile, holds the page's thread for a second
    with right:
        st.subheader("Decoder")  # outside the fragment: each element in it costs the page on every release
        decoder_panel(view, proj, opts, use_live)
    with left:
        latent_map.chart(view, proj, opts)
        your_digit.toggle(view, proj, use_live)
    selection.panel(view)
    latent_map.thumbnails(view.dataset)  # the test images for hover thumbnails, once the page asks for them


@st.fragment
def decoder_panel(view, proj, opts, use_live: bool) -> None:
    """Sliders and pad, digit, and what moves with z in the page. The page decodes each frame itself
    (live) or asks the server's route for it (explorer/remote.py); a release commits z, which reruns
    only this fragment (as does a prior sample), not the sidebar, the map or the selection panel."""
    decoder.live_decoder(view, (opts["i"], opts["j"]), remote=not use_live)
    decoder.digit(view)
    # what moves with z, for code already in the page: one small element (the page's runs draw the
    # map's overlays and the link themselves; this fragment reruns alone when z moves)
    decoder.send_post(state.Key.POST, {"overlays": latent_map.decoder_overlay(view, proj, opts),
                               "link": link.message(view.name, view.latent_dim),
                               "point": decoder.point(view, (opts["i"], opts["j"]))})


VIEWS = dict(zip(state.VIEWS, (explore_tab, lambda view, *_: canvas.tab(view),
                               lambda view, *_: interpolation.tab(view),
                               lambda view, proj, opts, use_live: traverse.tab(view, use_live),
                               lambda view, *_: train.tab(view)))) if PAGE else {}


def main() -> None:
    choice = sidebar.pick_checkpoint()
    if choice is None:
        sidebar.no_checkpoint()
        return
    view = sidebar.open_or_stop(choice)  # from the disk snapshot: no torch needed to draw this page
    sidebar.model_card(view)
    state.reset_for(view)
    link.apply_view(view.latent_dim, len(view.mu))  # a shared or reloaded link
    link.notice()  # what of it did not fit, until dismissed
    opts = sidebar.view_options(view.latent_dim)
    proj = sidebar.projection_for(opts, view)
    use_live = decoder.sidebar_toggle(view.live_supported, view.live_note)

    # one view at a time: only the chosen view's code runs, so a slider move does not redraw the canvas.
    # A segmented control, not st.tabs: Streamlit's tabs re-render at some cost on every rerun (even a
    # fragment's), which added ~10 ms to each slider release (bench/app_speed.py)
    # the view is kept apart too: a segmented control set from Python (a link) loses its value when a
    # component's callback reruns the page, and the page would fall back to Explore
    if state.get(state.Key.TAB) not in VIEWS:
        state.put(state.Key.TAB, state.get(state.Key.TAB_SHOWN) if state.get(state.Key.TAB_SHOWN) in VIEWS
                  else state.VIEWS[0])
    shown = st.segmented_control("View", list(VIEWS), key=state.Key.TAB, required=True,
                                 label_visibility="collapsed")
    state.put(state.Key.TAB_SHOWN, shown)
    VIEWS[shown](view, proj, opts, use_live)
    link.write(view.name, view.latent_dim)
    serving.warm_torch()  # the page is out: load torch in the background for what needs it later
    if TIMING:
        print(f"timing: imports {_IMPORTED - _STARTED:.3f} s, run {time.perf_counter() - _IMPORTED:.3f} s, "
              f"imports done at {_IMPORTED_AT * 1000:.1f} ms", file=sys.stderr, flush=True)


if PAGE:
    main()
