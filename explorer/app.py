"""VAE latent-space explorer: streamlit run explorer/app.py"""
import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `streamlit run` puts only explorer/ on the path

from explorer import live, models, panels  # noqa: E402

st.set_page_config(page_title="VAE latent explorer", page_icon="🔢", layout="wide")


def main() -> None:
    choice = panels.pick_checkpoint()
    if choice is None:
        panels.no_checkpoint()
        return
    loaded, split, mu, logvar = panels.load_or_stop(choice)
    panels.show_model_card(loaded)
    panels.reset_state_for(loaded, panels.slider_ranges(mu))
    opts = panels.view_options(loaded.latent_dim)
    proj = panels.projection_for(opts, mu)
    use_live = live.sidebar_toggle(loaded.model)

    st.title("VAE latent-space explorer")
    explore, canvas, interpolate = st.tabs(["Explore", "Canvas", "Interpolate"])
    with explore:
        left, right = st.columns([3, 2], gap="large")
        with right:
            st.subheader("Decoder")
            if use_live:
                live.live_decoder(loaded, split, mu, proj)
            else:
                panels.server_decoder(loaded)
            panels.digit_view(loaded, live=use_live)
        with left:
            panels.latent_map(panels.map_figure(loaded, split, mu, proj, opts), mu, logvar, proj)
        panels.selection_panel(loaded, split, models.test_split(loaded.dataset)[1], mu, logvar)
    with canvas:
        panels.canvas_tab(loaded)
    with interpolate:
        panels.interpolation_tab(loaded, split, mu)


main()
