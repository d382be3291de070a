"""Reading a latent space, without a browser: the aggregate posterior and the decoder's magnification
(backend/layers.py), the traversal's values (backend/dims.py), the seeded t-SNE plane and its sealed
cache (backend/embed.py), and the nonlinear plane's placing of a latent point (projection.Embedded)."""
import math

import numpy as np
import pytest

from explorer.backend import dims, embed, layers, snapshot
from explorer.backend.projection import Embedded, axes, pca
from testkit import SHIPPED
from vae_core.sealed import file_digest


def direct_log_q(z, mu, logvar) -> float:
    """log of the mean over components of the product of 1-D normal densities: term by term, in Python."""
    total = 0.0
    for m, lv in zip(mu, logvar):
        p = 1.0
        for zd, md, lvd in zip(z, m, lv):
            var = math.exp(lvd)
            p *= math.exp(-(zd - md) ** 2 / (2 * var)) / math.sqrt(2 * math.pi * var)
        total += p
    return math.log(total / len(mu))


def test_the_aggregate_posterior_on_the_mesh_equals_a_direct_evaluation():
    rng = np.random.default_rng(0)
    mu, logvar = rng.normal(size=(300, 3)), rng.normal(-1.5, 0.5, size=(300, 3))
    proj = pca(mu)
    base = np.array([0.3, -0.2, 0.5])
    xy = layers.mesh((-2, 2, -2, 2), 9)[2]
    z = layers.plane_points(proj, base, xy)
    np.testing.assert_allclose(proj.to_xy(z), xy, atol=1e-9)  # the plane's points, through the base
    got = layers.log_aggregate(z, mu, logvar)
    picks = rng.choice(len(z), 12, replace=False)
    want = [direct_log_q(z[i], mu, logvar) for i in picks]
    np.testing.assert_allclose(np.exp(got[picks]), np.exp(want), rtol=1e-4, atol=1e-12)
    np.testing.assert_allclose(layers.log_prior(z), [direct_log_q(p, np.zeros((1, 3)), np.zeros((1, 3))) for p in z],
                               atol=1e-9)


def test_the_aggregate_posterior_of_the_shipped_2d_model_integrates_to_one(tmp_path, monkeypatch):
    monkeypatch.setenv(snapshot.CACHE_ENV, str(tmp_path))
    view = _shipped_snapshot()
    n = 301
    xs, ys, xy = layers.mesh((-6, 6, -6, 6), n)
    q = np.exp(layers.log_aggregate(xy, view.mu[::5], view.logvar[::5]))  # 2,000 of the test digits
    cell = (xs[1] - xs[0]) * (ys[0] - ys[1])
    assert q.sum() * cell == pytest.approx(1.0, abs=0.01)
    log_ratio, log_p = layers.holes(view, axes(2), np.zeros(2), (-6, 6, -6, 6), 41)
    assert log_ratio.shape == log_p.shape == (41, 41)
    assert log_ratio[0, 0] < -6  # a corner of the +-6 plane: the prior has mass there, no digit does


def _shipped_snapshot():
    from explorer.backend import models  # torch: builds the shipped model's snapshot once
    digest = file_digest(SHIPPED)
    return models.build_snapshot("checkpoints/" + SHIPPED.name, str(SHIPPED), digest)


def test_magnification_of_a_linear_decoder_is_its_columns_norm():
    A = np.random.default_rng(1).normal(size=(784, 4))
    proj = axes(4, 1, 3)
    mag = layers.magnification(lambda z: z @ A.T, proj, np.array([0.5, 0, -1, 0]), (-2, 2, -1, 1), 7)
    want = math.sqrt((A[:, 1] ** 2).sum() + (A[:, 3] ** 2).sum())
    np.testing.assert_allclose(mag, want, rtol=1e-9)


def test_traversal_values_and_kl_order():
    mu = np.random.default_rng(2).normal([0, 2, 0], [1, 0.5, 0.01], size=(4000, 3))
    assert dims.by_kl([0.5, 2.0, 0.0]) == [1, 0, 2]
    assert dims.active([1.0, 0.25, 1e-4]) == [True, True, False]
    prior = dims.traversal_values(mu, [1, 0], "prior", 5)
    np.testing.assert_allclose(prior, [[-3, -1.5, 0, 1.5, 3]] * 2)
    data = dims.traversal_values(mu, [1], "data", 3)
    np.testing.assert_allclose(data[0], [2 - 1.5, 2, 2 + 1.5], atol=0.05)  # mean +- 3 of its sd 0.5
    with pytest.raises(ValueError):
        dims.traversal_values(mu, [0], "prior", 1000)  # more columns than the view draws: refused
    svg = dims.kl_bars_svg([0.5, 2.0, 0.0], [1.0, 1.0, 0.0])
    assert svg.index(">z1<") < svg.index(">z0<") < svg.index(">z2<") and svg.count("#bbbbbb") == 1


def test_tsne_gives_the_same_picture_twice_and_its_cache_is_sealed(tmp_path):
    mu = np.random.default_rng(3).normal(size=(400, 6)).astype(np.float32)
    first, second = embed.fit(mu, "tsne"), embed.fit(mu, "tsne")
    np.testing.assert_array_equal(first, second)
    path = embed.path_for(tmp_path, "ab" * 32, "tsne")
    lines = []
    embed.compute(mu, "tsne", path, "ab" * 32, lambda frac, line: lines.append(frac))  # its own process
    np.testing.assert_array_equal(embed.read(path, "ab" * 32, "tsne", 400), first)
    assert lines and lines[-1] == 1.0  # progress followed the iterations to the end
    assert embed.read(path, "cd" * 32, "tsne", 400) is None and not path.exists()  # another checkpoint's: refused
    embed.write(path, first, "ab" * 32, "tsne")
    raw = bytearray(path.read_bytes())
    raw[-40] ^= 1
    path.write_bytes(bytes(raw))
    assert embed.read(path, "ab" * 32, "tsne", 400) is None and not path.exists()  # damaged: refused, deleted


def test_a_nonlinear_plane_shows_a_latent_point_at_its_nearest_test_digit():
    mu = np.array([[0.0, 0, 0], [1, 1, 1], [3, 0, 0]], np.float32)
    plane = Embedded(np.array([[10, 10], [20, 20], [30, 30]], np.float32), mu, ("t-SNE 1", "t-SNE 2"))
    np.testing.assert_array_equal(plane.to_xy(np.array([2.6, 0.1, 0])), [30, 30])
    np.testing.assert_array_equal(plane.to_xy(np.array([[0.9, 1, 1.2], [0, 0, 0.1]])), [[20, 20], [10, 10]])
    assert plane.ellipse(mu[0], np.zeros(3)) is None and plane.nonlinear and not pca(mu).nonlinear


def test_a_snapshot_without_kl_per_dim_is_not_read(tmp_path, monkeypatch):
    monkeypatch.setenv(snapshot.CACHE_ENV, str(tmp_path))
    with pytest.raises(ValueError, match="no kl_per_dim"):
        snapshot._per_dim({"kl_per_dim": [0.1, float("nan")]}, "kl_per_dim", 2)
    assert snapshot._per_dim({"activity": [0.5, 0]}, "activity", 2) == (0.5, 0.0)
