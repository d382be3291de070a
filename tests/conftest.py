"""Shared fixtures: tiny models, synthetic images, and the real MNIST test split when a test needs it."""
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")  # progress bars are for people, not test logs; set before tqdm loads
# the app's snapshot cache (explorer/snapshot.py): a fresh one per test session, never ~/.cache
os.environ["VAE_EXPLORER_CACHE"] = tempfile.mkdtemp(prefix="vae-explorer-cache-")

import pytest  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vae_core import data  # noqa: E402
from vae_core.model import VAE, VAEConfig  # noqa: E402


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
