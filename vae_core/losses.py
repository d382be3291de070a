"""The objectives: negative ELBO and the importance-weighted bound, in nats per image."""
import math

import torch
import torch.nn.functional as F

from vae_core.model import VAE

LOG_2PI = math.log(2 * math.pi)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)), summed over latents. mu, logvar: [B, D] -> [B] nats.

    Analytic form from Kingma & Welling (2014), appendix B.
    """
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)


def bernoulli_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log p(x | z) summed over pixels. logits: [B, 784], x: [B, ...] in [0, 1] -> [B] nats.

    Continuous x is used as a soft target (the seed's setup, no binarisation).
    """
    return F.binary_cross_entropy_with_logits(logits, x.reshape(len(x), -1), reduction="none").sum(-1)


def neg_elbo(model: VAE, x: torch.Tensor, beta: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One-sample -ELBO = NLL + beta * KL, averaged over the batch, in nats per image.

    x: [B, 1, 28, 28] in [0, 1]. Returns (loss, nll, kl), each a scalar.
    """
    logits, mu, logvar = model(x)
    nll = bernoulli_nll(logits, x).mean()
    kl = gaussian_kl(mu, logvar).mean()
    return nll + beta * kl, nll, kl


@torch.no_grad()
def elbo_parts(model: VAE, x: torch.Tensor, eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor,
                                                                       torch.Tensor, torch.Tensor]:
    """-ELBO per image with fixed noise, split: reconstruction NLL (the mean over the K draws
    z = mu + sigma * eps[k]) and the analytic KL. The same eps for every image makes the score a
    deterministic function of x, so images can be ranked by it. x: [B, 1, 28, 28], eps: [K, D].
    Returns (nll [B], kl [B], mu [B, D], logvar [B, D])."""
    mu, logvar = model.encode(x)
    z = mu[None] + eps[:, None] * (0.5 * logvar).exp()[None]  # [K, B, D]
    K, B, D = z.shape
    logits = model.decode(z.reshape(K * B, D)).view(K, B, -1)
    nll = F.binary_cross_entropy_with_logits(logits, x.reshape(1, B, -1).expand(K, B, -1),
                                             reduction="none").sum(-1).mean(0)
    return nll, gaussian_kl(mu, logvar), mu, logvar


def _log_normal(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, exp(logvar)) summed over the last dim."""
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) / logvar.exp()).sum(-1)


@torch.no_grad()
def iw_bound(model: VAE, x: torch.Tensor, k: int, chunk: int = 1000,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """Importance-weighted lower bound on log p(x) with k samples (Burda et al. 2015, eq. 8).

    x: [B, 1, 28, 28] in [0, 1]. Returns -L_k per image, [B] nats (an upper bound on -log p(x)).
    k = 1 is the ELBO; the bound tightens as k grows. Samples are drawn `chunk` at a time.
    """
    mu, logvar = model.encode(x)
    std = (0.5 * logvar).exp()
    B, D = mu.shape
    flat_x = x.reshape(B, -1)
    log_w = []
    for start in range(0, k, chunk):
        n = min(chunk, k - start)
        eps = torch.randn(n, B, D, generator=generator).to(mu.device)
        z = mu + eps * std  # [n, B, D]
        logits = model.decode(z.reshape(n * B, D)).view(n, B, -1)
        log_px_z = -F.binary_cross_entropy_with_logits(
            logits, flat_x.expand(n, B, -1), reduction="none").sum(-1)
        log_pz = -0.5 * (LOG_2PI + z.pow(2)).sum(-1)
        log_w.append(log_px_z + log_pz - _log_normal(z, mu, logvar))
    return -(torch.logsumexp(torch.cat(log_w), dim=0) - math.log(k))
