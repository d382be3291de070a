import math

import pytest
import torch

from vae_core.losses import bernoulli_nll, gaussian_kl, iw_bound, neg_elbo
from vae_core.model import VAE, VAEConfig


@pytest.mark.parametrize("arch", ["mlp", "conv"])
@pytest.mark.parametrize("latent_dim", [1, 2, 7])
def test_shapes(arch, latent_dim, images):
    model = VAE(VAEConfig(arch=arch, latent_dim=latent_dim, hidden=[32]))
    mu, logvar = model.encode(images)
    assert mu.shape == logvar.shape == (16, latent_dim)
    assert model.decode(mu).shape == (16, 784)
    logits, mu2, _ = model(images)
    assert logits.shape == (16, 784) and mu2.shape == (16, latent_dim)
    samples = model.sample(5)
    assert samples.shape == (5, 1, 28, 28) and 0 <= samples.min() and samples.max() <= 1


@pytest.mark.parametrize("bad", [dict(arch="rnn"), dict(latent_dim=0), dict(hidden=[]), dict(hidden=[0])])
def test_config_refuses_nonsense(bad):
    with pytest.raises(ValueError):
        VAEConfig(**bad)


@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_finite_loss_at_init(arch, images):
    torch.manual_seed(0)
    loss, nll, kl = neg_elbo(VAE(VAEConfig(arch=arch, hidden=[32])), images)
    assert torch.isfinite(loss) and nll > 0 and kl >= 0
    if arch == "mlp":  # torch's init: an untrained decoder outputs ~0.5 everywhere, i.e. ~784 * log 2 nats
        assert abs(nll.item() - 784 * math.log(2)) < 150
    else:  # He init keeps the logits' spread through the layers (model.he_init): O(1) logits, not O(100)
        assert 784 * math.log(2) < nll.item() < 4 * 784 * math.log(2)


def test_analytic_kl_matches_monte_carlo():
    g = torch.Generator().manual_seed(1)
    mu, logvar = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g) * 0.5
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros(3), torch.ones(3))
    z = q.sample((200_000,))
    mc = (q.log_prob(z) - p.log_prob(z)).sum(-1).mean(0)
    torch.testing.assert_close(gaussian_kl(mu, logvar), mc, atol=0.02, rtol=0.01)


def test_bernoulli_nll_is_summed_cross_entropy():
    logits, x = torch.tensor([[0.0, 2.0]]), torch.tensor([[1.0, 0.0]])
    expected = math.log(2) + math.log(1 + math.exp(2))
    assert bernoulli_nll(logits, x).item() == pytest.approx(expected, rel=1e-6)


def test_iw_bound_tightens_with_k(tiny_model, images):
    tiny_model.eval()
    bounds = []
    for k in (1, 10, 100):
        g = torch.Generator().manual_seed(0)
        bounds.append(iw_bound(tiny_model, images, k, chunk=37, generator=g).mean().item())
    elbo = torch.stack([neg_elbo(tiny_model, images)[0] for _ in range(200)]).mean().item()
    assert bounds[0] == pytest.approx(elbo, abs=1.0)  # k = 1 is the ELBO
    assert bounds[0] > bounds[1] > bounds[2]


def test_overfits_one_batch(images):
    torch.manual_seed(0)
    model = VAE(VAEConfig(latent_dim=2, hidden=[64]))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = neg_elbo(model, images)[0].item()
    for _ in range(300):
        loss = neg_elbo(model, images)[0]
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < first / 2


def test_same_seed_same_weights_and_outputs(images):
    outs = []
    for _ in range(2):
        torch.manual_seed(123)
        model = VAE(VAEConfig(hidden=[32]))
        outs.append((model.state_dict(), model(images)[0]))
    assert all(torch.equal(outs[0][0][k], outs[1][0][k]) for k in outs[0][0])
    assert torch.equal(outs[0][1], outs[1][1])


@pytest.mark.parametrize("n, nrow, padding", [(1, 5, 0), (7, 3, 2), (16, 16, 1), (10, 4, 0)])
def test_tile_matches_torchvision_make_grid(n, nrow, padding):
    from torchvision.utils import make_grid

    from vae_core.tiles import tile
    x = torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(n))
    want = make_grid(x, nrow=nrow, padding=padding, pad_value=0.35)[:1]
    assert torch.equal(torch.from_numpy(tile(x.numpy(), nrow, padding, 0.35)), want)
