"""The pure maths behind the pictures: projections, the σ ellipse, paths, slider ranges, the mesh,
the learning-rate schedule, config bounds."""
import numpy as np
import pytest
import torch

from explorer.backend.projection import axes, pca, slider_ranges
from explorer.panels.interpolation import lerp, slerp
from vae_core.figures import latent_mesh
from vae_core.model import MAX_PARAMETERS, VAE, VAEConfig
from vae_core.training import lr_at


def test_axes_projection_picks_two_dims_and_inverts_on_its_plane():
    p = axes(5, 3, 1)
    z = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    np.testing.assert_array_equal(p.to_xy(z), [4.0, 2.0])
    np.testing.assert_array_equal(p.from_xy([4.0, 2.0]), [0, 2, 0, 4, 0])
    assert p.titles == ("z3", "z1")


def test_pca_finds_the_plane_of_most_variance():
    rng = np.random.default_rng(0)
    basis = np.linalg.qr(rng.standard_normal((6, 6)))[0]
    scales = np.array([5.0, 2.0, 0.1, 0.1, 0.1, 0.1])
    points = (rng.standard_normal((4000, 6)) * scales) @ basis.T + 3.0
    p = pca(points)
    np.testing.assert_allclose(p.W.T @ p.W, np.eye(2), atol=1e-9)  # orthonormal columns
    np.testing.assert_allclose(np.abs(p.W.T @ basis[:, :2]), np.eye(2), atol=0.02)  # the top two directions
    np.testing.assert_allclose(p.center, points.mean(0))
    xy = p.to_xy(points)
    np.testing.assert_allclose(xy.std(0), [5.0, 2.0], rtol=0.05)
    assert p.titles[0].startswith("PC1 (8") and p.titles[1].startswith("PC2 (1")  # ~86% and ~14%


def test_sigma_ellipse_has_the_posteriors_axes():
    p = axes(3, 0, 2)
    mu, logvar = np.array([1.0, 7.0, -1.0]), np.log(np.array([0.25, 9.0, 4.0]))  # σ = 0.5, 3, 2
    pts = p.ellipse(mu, logvar, n_sigma=2.0, n=400) - p.to_xy(mu)
    np.testing.assert_allclose(np.abs(pts[:, 0]).max(), 2 * 0.5, rtol=1e-3)  # z0: 2σ = 1
    np.testing.assert_allclose(np.abs(pts[:, 1]).max(), 2 * 2.0, rtol=1e-3)  # z2: 2σ = 4 (z1 unseen)
    np.testing.assert_allclose(((pts[:, 0] / 1.0) ** 2 + (pts[:, 1] / 4.0) ** 2), 1.0, atol=1e-9)


def test_lerp_and_slerp_end_at_a_and_b():
    a, b = np.array([3.0, 0.0]), np.array([0.0, 3.0])
    t = np.linspace(0, 1, 5)
    for path in (lerp(a, b, t), slerp(a, b, t)):
        np.testing.assert_allclose(path[0], a, atol=1e-12)
        np.testing.assert_allclose(path[-1], b, atol=1e-12)
    np.testing.assert_allclose(lerp(a, b, t)[2], [1.5, 1.5])
    np.testing.assert_allclose(np.linalg.norm(slerp(a, b, t), axis=1), 3.0)  # stays on the circle
    np.testing.assert_allclose(slerp(a, 2 * a, t), lerp(a, 2 * a, t))  # parallel: the straight line


def test_slider_ranges_cover_the_prior_and_the_means():
    mu = np.zeros((1000, 3))
    mu[:, 1] = np.linspace(-7.2, 7.2, 1000)
    r = slider_ranges(mu)
    np.testing.assert_array_equal(r[0], [-3, 3])  # at least the prior's ±3σ
    assert r[1, 0] <= -7.0 and r[1, 1] >= 7.0 and (r[1] * 2 == np.round(r[1] * 2)).all()  # half-steps
    np.testing.assert_array_equal(r[:, 0], -r[:, 1])


def test_latent_mesh_is_row_major_from_the_top_left():
    m = latent_mesh(3, extent=2.0)
    np.testing.assert_allclose(m[:3], [[-2, 2], [0, 2], [2, 2]])
    np.testing.assert_allclose(m[-1], [2, -2])
    g = latent_mesh(4, spacing="gaussian")
    q = torch.distributions.Normal(0, 1).icdf(torch.tensor([0.125, 0.375, 0.625, 0.875]))
    np.testing.assert_allclose(g[:4, 0], q, atol=1e-6)
    with pytest.raises(ValueError):
        latent_mesh(0)


def test_learning_rate_schedule_is_cosine_from_peak_to_a_twentieth():
    assert lr_at(0, 100, 1e-3) == pytest.approx(1e-3)
    assert lr_at(50, 100, 1e-3) == pytest.approx(1e-3 * (0.05 + 0.95 * 0.5))
    assert lr_at(100, 100, 1e-3) == pytest.approx(5e-5)
    assert lr_at(500, 100, 1e-3) == pytest.approx(5e-5)  # past the end: stays at the floor
    rates = [lr_at(s, 100, 1.0) for s in range(101)]
    assert all(a >= b for a, b in zip(rates, rates[1:]))


@pytest.mark.parametrize("arch", ["mlp", "conv"])
@pytest.mark.parametrize("latent_dim, hidden", [(2, [512, 512, 256]), (7, [30, 20, 10]), (1, [4])])
def test_parameter_count_is_worked_out_without_building(arch, latent_dim, hidden):
    cfg = VAEConfig(arch=arch, latent_dim=latent_dim, hidden=hidden, conv_channels=[4, 8])
    assert cfg.parameter_count() == sum(p.numel() for p in VAE(cfg).parameters())


@pytest.mark.parametrize("field, value, words", [
    ("hidden", [10**9], "hidden must be between 1 and 16,384"),
    ("latent_dim", 10**8, "latent_dim must be between 1 and 1,024"),
    ("hidden", [4096] * 9, "hidden must list 1 to 8 widths"),
    ("conv_channels", [10**6, 4], "conv_channels must be between 1 and 512"),
    ("latent_dim", 2.5, "latent_dim must be a whole number"),
    ("hidden", [16384] * 8, f"over the limit of {MAX_PARAMETERS:,}"),
])
def test_config_bounds_name_the_field_and_the_limit(field, value, words):
    with pytest.raises(ValueError, match=words):
        VAEConfig(**{field: value})

