"""Training: in-memory batching, one epoch of Adam on the -ELBO, and test-set evaluation."""
import math
from dataclasses import dataclass, field
from typing import Callable, Iterator

import torch

from vae_core.fused import MLPStep, supports
from vae_core.losses import iw_bound, neg_elbo
from vae_core.model import VAE


@dataclass
class TrainConfig:
    dataset: str = "mnist"  # "mnist" or "fashion-mnist"
    epochs: int = 40  # passes over the 60k training images
    batch_size: int = 256  # images per Adam step
    lr: float = 2e-3  # Adam peak learning rate, reached after the warm-up, then cosine-decayed
    warmup: float = 0.0  # fraction of the run's steps spent ramping the learning rate up from lr/steps
    final_lr: float = 0.05  # the cosine ends at lr * final_lr
    adam_beta2: float = 0.999  # Adam's second-moment decay (torch's default); a short run adapts faster lower
    output_bias: bool = False  # start the decoder's last bias at logit(mean training pixel)
    beta: float = 1.0  # KL weight (1 = the true ELBO)
    kl_warmup: float = 0.0  # fraction of the run's steps over which the KL weight ramps up to beta
    seed: int = 0  # seeds init, shuffling and sampling
    subset: int = 0  # train on the first `subset` training images only (0 = all of them)
    iw_samples: int = 1000  # k of the importance-weighted test bound at the end (0 = skip)
    device: str = "cpu"  # torch device
    extra: dict = field(default_factory=dict)  # free-form notes kept in the checkpoint


class NonFiniteLoss(RuntimeError):
    """The loss became NaN or inf; training stops and the last good checkpoint stays."""


def make_optimizer(model: VAE, lr: float, beta2: float = 0.999) -> torch.optim.Optimizer:
    """Adam (Kingma & Ba 2015) with the fused kernel: one pass over all parameters per step instead
    of a dozen elementwise ops each (the optimizer was a quarter of a CPU step otherwise)."""
    return torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, beta2), fused=True)


def batches(x: torch.Tensor, batch_size: int, generator: torch.Generator,
            shuffle: bool = True) -> Iterator[torch.Tensor]:
    """Yield minibatches of x (already a float tensor in memory), in a seeded random order."""
    order = torch.randperm(len(x), generator=generator) if shuffle else torch.arange(len(x))
    for start in range(0, len(x), batch_size):
        yield x[order[start:start + batch_size]]


def lr_at(step: int, total: int, peak: float, warmup: float = 0.0, final: float = 0.05) -> float:
    """The learning rate before step `step` (0-based) of `total`: a linear ramp over the first
    warmup * total steps up to peak, then a cosine from peak down to peak * final at the last step.
    warmup = 0, final = 0.05 is the classic recipe (a cosine from peak to peak/20)."""
    ramp = warmup * total
    if step < ramp:
        return peak * (step + 1) / ramp
    t = min((step - ramp) / max(total - ramp, 1), 1.0)
    return peak * (final + (1 - final) * 0.5 * (1 + math.cos(math.pi * t)))


# `train.py --quick`, the Train view's and the no-checkpoint page's default: a 2-D MNIST model worth
# exploring in well under 30 s on a 2-core laptop (test -ELBO <= 140; bench/train_speed.py measures
# it). Why these values: bench/README.md, "The quick recipe".
QUICK = {"epochs": 6, "batch_size": 256, "lr": 5e-3, "warmup": 0.05, "final_lr": 0.02, "adam_beta2": 0.95,
         "output_bias": True, "hidden": [512, 256, 256], "iw_samples": 0}


@torch.no_grad()
def init_output_bias(model: VAE, x: torch.Tensor) -> None:
    """Set the decoder's last bias to the logit of the mean training pixel (clipped to [1e-3, 1 - 1e-3]),
    so the first steps start from the average image instead of spending an epoch learning it. For the
    conv decoder (one bias for every pixel) the logit of the overall mean."""
    last = [m for m in model.decoder.modules() if isinstance(m, (torch.nn.Linear, torch.nn.ConvTranspose2d))][-1]
    mean = x.reshape(len(x), -1).mean(0) if last.bias.numel() == x[0].numel() else x.mean().reshape(1)
    mean = mean.clamp(1e-3, 1 - 1e-3)
    last.bias.copy_(torch.log(mean / (1 - mean)).to(last.bias))


def train_one_epoch(model: VAE, batches: Iterator[torch.Tensor], optimizer: torch.optim.Optimizer,
                    beta: float | Callable[[], float] = 1.0, schedule: Callable[[], float] | None = None,
                    on_step: Callable[..., None] | None = None, fused: bool = True,
                    start: tuple[float, int] = (0.0, 0)) -> float:
    """One pass of Adam steps on -ELBO. Returns the mean training -ELBO, nats per image.

    `schedule()` (optional) gives the learning rate before each step, `beta` the KL weight (a number,
    or a callable giving it before each step: a KL warm-up); `on_step(loss, nll, kl, total, count)`
    reports after each step (the running sum and image count so far). `start`: the sum and count of
    the steps of this epoch done before a stop, when it resumes mid-epoch.
    An MLP trains through vae_core/fused.py's hand-written step unless `fused` is False (autograd,
    the same maths: kept for the conv variant and for comparison).
    """
    model.train()
    step = MLPStep(model) if fused and supports(model) else None
    total, count = start
    for xb in batches:
        if schedule is not None:
            for group in optimizer.param_groups:
                group["lr"] = schedule()
        b = beta() if callable(beta) else beta
        if step is not None:
            loss, nll, kl = step(xb, b)
        else:
            loss, nll, kl = neg_elbo(model, xb, b)
        if not torch.isfinite(loss):
            raise NonFiniteLoss(f"loss became {loss.item()} after {count} images this epoch")
        if step is None:
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
        optimizer.step()
        value = loss.item()
        total += value * len(xb)
        count += len(xb)
        if on_step is not None:
            on_step(value, float(nll.detach()), float(kl.detach()), total, count)
    return total / max(count, 1)


def beta_at(step: int, total: int, beta: float, warmup: float = 0.0) -> float:
    """The KL weight before step `step` of `total`: a linear ramp from beta / ramp up to beta over the
    first warmup * total steps (a KL warm-up, Bowman et al. 2016), then beta."""
    ramp = warmup * total
    return beta * min(1.0, (step + 1) / ramp) if step < ramp else beta


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
