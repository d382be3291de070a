"""The shipped default model: its figures in bench/README.md recomputed from the file (IW-1000 takes minutes)."""
import re

import pytest

from testkit import ROOT, SHIPPED
from vae_core.checkpoint import load_checkpoint
from vae_core.training import evaluate, evaluate_iw


def readme_figure(name: str) -> float:
    """A figure bench/README.md states as `NAME: **123.45** nats`."""
    m = re.search(re.escape(name) + r": \*\*([0-9.]+)\*\* nats", (ROOT / "bench" / "README.md").read_text())
    assert m, f"bench/README.md states no {name}"
    return float(m.group(1))


@pytest.fixture(scope="module")
def shipped(mnist_test):
    model, payload = load_checkpoint(SHIPPED)
    return model, payload, mnist_test.floats()


def test_shipped_model_is_small_and_two_d(shipped):
    model, payload, _ = shipped
    assert model.cfg.latent_dim == 2 and payload["dataset"] == "mnist"
    assert SHIPPED.stat().st_size < 8e6
    assert "optimizer" not in payload["extra"]


def test_test_elbo_matches_readme(shipped):
    model, payload, x = shipped
    got = evaluate(model, x)["neg_elbo"]
    assert got == pytest.approx(readme_figure("test -ELBO"), abs=0.5)
    assert got == pytest.approx(payload["metrics"]["test_neg_elbo"], abs=0.5)
    assert got <= 145


@pytest.mark.slow
def test_iw1000_bound_matches_readme(shipped):
    model, payload, x = shipped
    got = evaluate_iw(model, x, k=1000)
    assert got == pytest.approx(readme_figure("IW-1000 bound"), abs=0.5)
    assert got == pytest.approx(payload["metrics"]["test_iw1000"], abs=0.5)
    assert got <= 140


def test_the_shipped_z10_model_matches_readme_and_uses_several_dimensions(mnist_test):
    from vae_core.latents import active_units
    model, payload = load_checkpoint(ROOT / "checkpoints" / "mnist-mlp-z10.pt")
    x = mnist_test.floats()
    assert model.cfg.latent_dim == 10 and payload["integrity"] == "sha256"
    assert evaluate(model, x)["neg_elbo"] == pytest.approx(readme_figure("z=10 test -ELBO"), abs=0.5)
    mu, _ = model.encode(x[:2000])
    assert 5 <= active_units(mu.detach()) < 10  # the Traverse view has used and unused rows to show
