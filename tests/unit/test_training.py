"""Training's parts: the hand-written MLP step against autograd, the quick preset (repeatable, its
schedule as documented), active units, and a conv VAE that uses its latent."""
import json

import pytest
import torch

import train
from testkit import ROOT
from vae_core import data
from vae_core.checkpoint import load_checkpoint
from vae_core.fused import MLPStep
from vae_core.latents import active_units, kl_per_dim
from vae_core.losses import gaussian_kl, neg_elbo
from vae_core.model import VAE, VAEConfig
from vae_core.training import QUICK, lr_at

DATA = ["--data-root", str(ROOT / "data")]


@pytest.mark.parametrize("latent_dim, hidden, beta", [(3, [32, 16], 1.0), (1, [8], 0.5), (2, [24, 12, 6], 2.0)])
def test_fused_step_matches_autograd(latent_dim, hidden, beta):
    torch.manual_seed(1)
    model = VAE(VAEConfig(latent_dim=latent_dim, hidden=hidden))
    x = torch.rand(37, 1, 28, 28)
    torch.manual_seed(5)
    loss, nll, kl = neg_elbo(model, x, beta)
    loss.backward()
    expected = {n: p.grad.clone() for n, p in model.named_parameters()}
    for p in model.parameters():
        p.grad = None
    torch.manual_seed(5)  # the same noise: the step draws it as VAE.forward does
    got = MLPStep(model)(x, beta)
    for a, b in zip(got, (loss, nll, kl)):
        assert a.item() == pytest.approx(b.item(), rel=1e-5)
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.grad, expected[name], rtol=1e-4, atol=1e-6, msg=name)


def test_quick_schedule_has_its_documented_shape():
    total, peak = 1000, QUICK["lr"]
    rates = [lr_at(s, total, peak, QUICK["warmup"], QUICK["final_lr"]) for s in range(total)]
    ramp = int(QUICK["warmup"] * total)
    assert rates[0] == pytest.approx(peak / ramp)  # a linear ramp from peak / ramp steps...
    assert all(b - a == pytest.approx(peak / ramp) for a, b in zip(rates[:ramp - 1], rates[1:ramp]))
    assert max(rates) == pytest.approx(peak) and rates.index(max(rates)) == ramp - 1  # ...to the peak
    assert all(a >= b for a, b in zip(rates[ramp:], rates[ramp + 1:]))  # then only down,
    assert rates[ramp + (total - ramp) // 2] == pytest.approx(peak * (QUICK["final_lr"] + 1) / 2, rel=1e-2)
    assert lr_at(total, total, peak, QUICK["warmup"], QUICK["final_lr"]) == pytest.approx(peak * QUICK["final_lr"])


def test_classic_schedule_is_unchanged():
    assert [lr_at(s, 100, 1e-3) for s in (0, 50, 100)] == pytest.approx([1e-3, 1e-3 * (0.05 + 0.95 * 0.5), 5e-5])


def quick_run(out, monkeypatch=None, rates=None):
    if monkeypatch is not None:  # record the learning rate of every step as train.py sets it
        real = train.lr_at
        monkeypatch.setattr(train, "lr_at", lambda *a: rates.append(real(*a)) or rates[-1])
    assert train.main(["--quick", "--subset", "1536", "--out", str(out), *DATA]) == 0
    return load_checkpoint(out / "model.pt")


def test_quick_preset_trains_repeatably_on_a_subset(tmp_path, monkeypatch):
    rates = []
    a, payload = quick_run(tmp_path / "a", monkeypatch, rates)
    b, _ = quick_run(tmp_path / "b")
    sa, sb = a.state_dict(), b.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)  # same seed, same weights, bit for bit
    config = payload["extra"]["train_config"]
    keys = ("epochs", "batch_size", "lr", "warmup", "final_lr", "adam_beta2", "output_bias")
    assert {k: config[k] for k in keys} == {k: QUICK[k] for k in keys}
    assert payload["extra"]["optimizer"]["param_groups"][0]["betas"] == (0.9, QUICK["adam_beta2"])
    assert a.cfg.hidden == QUICK["hidden"]
    steps = QUICK["epochs"] * -(-1536 // QUICK["batch_size"])
    expected = [lr_at(s, steps, QUICK["lr"], QUICK["warmup"], QUICK["final_lr"]) for s in range(steps)]
    assert rates == expected * 2  # both runs (the recorder stays in place for the second)
    rows = [json.loads(line) for line in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["test_neg_elbo"] < rows[0]["test_neg_elbo"] - 3  # it learned something (20 steps)
    assert not (tmp_path / "a" / "canvas.png").exists()  # --quick writes no pictures


def test_active_units_counts_a_zeroed_dimension_inactive():
    torch.manual_seed(0)
    model = VAE(VAEConfig(latent_dim=4, hidden=[64]))
    last = model.encoder[1][-1]  # the Linear giving [mu, logvar]
    with torch.no_grad():
        last.weight.mul_(20.0)  # every mean moves with the input...
        last.weight[2].zero_()  # ...but z2's, which is a constant
        mu, logvar = model.encode(torch.rand(500, 1, 28, 28))
    assert active_units(mu) == 3
    assert active_units(mu, threshold=1e9) == 0


def test_kl_per_dim_sums_to_the_models_kl():
    mu, logvar = torch.randn(300, 5), torch.randn(300, 5)
    per_dim = kl_per_dim(mu, logvar)
    assert per_dim.shape == (5,)
    assert per_dim.sum().item() == pytest.approx(gaussian_kl(mu, logvar).mean().item(), rel=1e-5)
    one = 0.5 * (mu[:, 3] ** 2 + logvar[:, 3].exp() - 1 - logvar[:, 3]).mean()
    assert per_dim[3].item() == pytest.approx(one.item(), rel=1e-6)


def test_conv_vae_uses_its_latent_after_a_short_run(tmp_path):
    out = tmp_path / "conv"
    assert train.main(["--arch", "conv", "--subset", "4096", "--epochs", "2", "--iw-samples", "0",
                       "--no-pictures", "--out", str(out), *DATA]) == 0
    model, _ = load_checkpoint(out / "model.pt")
    assert model.cfg.hidden == train.CONV_HIDDEN
    x = data.load("mnist", False, ROOT / "data").floats()[:1000]
    with torch.no_grad():
        mu, logvar = model.encode(x)
    per_dim = kl_per_dim(mu, logvar)
    assert (per_dim > 0.1).all(), per_dim  # collapsed, each was ~0.001 nats
    assert active_units(mu) == 2
