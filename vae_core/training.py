"""Training: in-memory batching, one epoch of Adam on the -ELBO, and test-set evaluation."""
import math
from dataclasses import dataclass, field
from typing import Callable, Iterator

import torch

from vae_core.losses import iw_bound, neg_elbo
from vae_core.model import VAE


@dataclass
class TrainConfig:
    dataset: str = "mnist"  # "mnist" or "fashion-mnist"
    epochs: int = 40  # passes over the 60k training images
    batch_size: int = 256  # images per Adam step
    lr: float = 2e-3  # Adam peak learning rate; cosine-decayed to lr/20 over the run
    beta: float = 1.0  # KL weight (1 = the true ELBO)
    seed: int = 0  # seeds init, shuffling and sampling
    iw_samples: int = 1000  # k of the importance-weighted test bound at the end (0 = skip)
    device: str = "cpu"  # torch device
    extra: dict = field(default_factory=dict)  # free-form notes kept in the checkpoint


class NonFiniteLoss(RuntimeError):
    """The loss became NaN or inf; training stops and the last good checkpoint stays."""


def make_optimizer(model: VAE, lr: float) -> torch.optim.Optimizer:
    """Adam (Kingma & Ba 2015) with the fused kernel: one pass over all parameters per step instead
    of a dozen elementwise ops each (the optimizer was a quarter of a CPU step otherwise)."""
    return torch.optim.Adam(model.parameters(), lr=lr, fused=True)


def batches(x: torch.Tensor, batch_size: int, generator: torch.Generator,
            shuffle: bool = True) -> Iterator[torch.Tensor]:
    """Yield minibatches of x (already a float tensor in memory), in a seeded random order."""
    order = torch.randperm(len(x), generator=generator) if shuffle else torch.arange(len(x))
    for start in range(0, len(x), batch_size):
        yield x[order[start:start + batch_size]]


def lr_at(step: int, total: int, peak: float) -> float:
    """Cosine decay from peak to peak/20 over `total` steps."""
    t = min(step / max(total, 1), 1.0)
    return peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t)))


def train_one_epoch(model: VAE, batches: Iterator[torch.Tensor], optimizer: torch.optim.Optimizer,
                    beta: float = 1.0, schedule: Callable[[], float] | None = None,
                    on_step: Callable[[float], None] | None = None) -> float:
    """One pass of Adam steps on -ELBO. Returns the mean training -ELBO, nats per image.

    `schedule()` (optional) gives the learning rate before each step; `on_step(loss)` reports.
    """
    model.train()
    total, count = 0.0, 0
    for xb in batches:
        if schedule is not None:
            for group in optimizer.param_groups:
                group["lr"] = schedule()
        loss, _, _ = neg_elbo(model, xb, beta)
        if not torch.isfinite(loss):
            raise NonFiniteLoss(f"loss became {loss.item()} after {count} images this epoch")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(xb)
        count += len(xb)
        if on_step is not None:
            on_step(loss.item())
    return total / max(count, 1)


@torch.no_grad()
def evaluate(model: VAE, x: torch.Tensor, batch_size: int = 1000, seed: int = 0) -> dict:
    """One-sample -ELBO over x ([N, 1, 28, 28] in [0, 1]), averaged: {'neg_elbo','nll','kl'} nats."""
    model.eval()
    torch.manual_seed(seed)  # the reparameterisation noise, so the figure is repeatable
    sums = {"neg_elbo": 0.0, "nll": 0.0, "kl": 0.0}
    for start in range(0, len(x), batch_size):
        xb = x[start:start + batch_size]
        loss, nll, kl = neg_elbo(model, xb)
        for key, value in zip(sums, (loss, nll, kl)):
            sums[key] += value.item() * len(xb)
    return {k: v / len(x) for k, v in sums.items()}


@torch.no_grad()
def evaluate_iw(model: VAE, x: torch.Tensor, k: int, batch_size: int = 50, seed: int = 0,
                progress: Callable[[int], None] | None = None) -> float:
    """Mean importance-weighted bound -L_k over x, nats per image (Burda et al. 2015)."""
    model.eval()
    g = torch.Generator().manual_seed(seed)
    total = 0.0
    for start in range(0, len(x), batch_size):
        xb = x[start:start + batch_size]
        total += iw_bound(model, xb, k, generator=g).sum().item()
        if progress is not None:
            progress(len(xb))
    return total / len(x)
