"""The map's preview message (panels/latent_map.py): the figure's own points, ranges and colours."""

import numpy as np

import plots
from explorer.panels import latent_map
from testkit.synthetic import preview_parts
from vae_core.data import MNIST_CLASSES


def test_the_message_holds_the_figures_points_ranges_and_colours():
    rng = np.random.default_rng(0)
    xy, labels = rng.normal(size=(500, 2)).astype(np.float32), rng.integers(0, 10, 500)
    fig = plots.latent_map(xy, labels, MNIST_CLASSES)
    h, got_xy, got_labels = preview_parts(latent_map.preview_message(xy, labels, MNIST_CLASSES, fig))
    assert h["v"] == latent_map.PREVIEW_VERSION and h["map_key"] == "map" and h["n"] == 500
    np.testing.assert_array_equal(got_xy, xy)
    np.testing.assert_array_equal(got_labels, labels)
    assert h["x_range"] == list(fig.layout.xaxis.range) and h["y_range"] == list(fig.layout.yaxis.range)
    assert h["height"] == fig.layout.height and h["colors"] == list(plots.PALETTE) and h["classes"] == MNIST_CLASSES
