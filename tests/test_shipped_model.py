"""The shipped default model: its README figures recomputed from the file (IW-1000 takes a few minutes)."""
import re

import pytest
from conftest import ROOT

from explorer.backend import picker
from vae_core.checkpoint import load_checkpoint
from vae_core.training import evaluate, evaluate_iw

SHIPPED = ROOT / picker.DEFAULT_CHECKPOINT


def readme_figure(name: str) -> float:
    """A figure the README states as `NAME: **123.45** nats`."""
    m = re.search(re.escape(name) + r": \*\*([0-9.]+)\*\* nats", (ROOT / "README.md").read_text())
    assert m, f"README states no {name}"
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


def test_iw1000_bound_matches_readme(shipped):
    model, payload, x = shipped
    got = evaluate_iw(model, x, k=1000)
    assert got == pytest.approx(readme_figure("IW-1000 bound"), abs=0.5)
    assert got == pytest.approx(payload["metrics"]["test_iw1000"], abs=0.5)
    assert got <= 140
