"""Shared fixtures: tiny models, synthetic images, the real MNIST test split when a test needs it.

Tests are organised by level: unit/ (functions and modules in-process), app/ (the page's script
under AppTest), browser/ (Debian's Chromium: the page's own code, and the served app), system/
(real processes: servers spoken to over their protocol, train.py runs killed and resumed). Every
test under browser/ is marked `browser` (and skipped where Chromium is missing), so
`pytest -m "not browser"` runs without it; `slow` marks the long ones.
"""
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")  # progress bars are for people, not test logs; set before tqdm loads
# the app's snapshot cache (backend/snapshot.py): a fresh one per test session, never ~/.cache
os.environ["VAE_EXPLORER_CACHE"] = tempfile.mkdtemp(prefix="vae-explorer-cache-")

import pytest  # noqa: E402
import torch  # noqa: E402

from testkit import ROOT  # noqa: E402
from testkit.browser import CHROMIUM  # noqa: E402
from vae_core import data  # noqa: E402
from vae_core.model import VAE, VAEConfig  # noqa: E402

BROWSER = Path(__file__).parent / "browser"


def pytest_collection_modifyitems(config, items):
    no_browser = pytest.mark.skip(reason="needs Debian's chromium (scripts/test.sh installs it)")
    for item in items:
        if BROWSER in Path(item.fspath).parents:
            item.add_marker(pytest.mark.browser)
            if not CHROMIUM.exists():
                item.add_marker(no_browser)


@pytest.fixture
def tiny_cfg() -> VAEConfig:
    return VAEConfig(latent_dim=3, hidden=[32, 16])


@pytest.fixture
def tiny_model(tiny_cfg) -> VAE:
    torch.manual_seed(0)
    return VAE(tiny_cfg)


@pytest.fixture
def images() -> torch.Tensor:
    """16 synthetic 'digits': white rectangles at random places on black, [16, 1, 28, 28]."""
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(16, 1, 28, 28)
    for img, (r, c, h, w) in zip(x, torch.randint(2, 14, (16, 4), generator=g).tolist()):
        img[0, r:r + h, c:c + w] = 1.0
    return x


@pytest.fixture(scope="session")
def mnist_test() -> data.Split:
    return data.load("mnist", train=False, root=ROOT / "data")
