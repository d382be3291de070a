"""What a latent space uses: KL per dimension and active units (Burda et al. 2015, section 5.2)."""
import torch

ACTIVE_THRESHOLD = 1e-2  # Burda et al.: unit u is active when Cov_x(E_q[z_u]) > 10^-2


def kl_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z_u | x) || N(0, 1)) for each dimension u, averaged over the rows: [N, D] -> [D] nats.
    Summed over u it is the model's KL (vae_core.losses.gaussian_kl, averaged)."""
    return 0.5 * (mu.double().pow(2) + logvar.double().exp() - 1.0 - logvar.double()).mean(0)


def activity(mu: torch.Tensor) -> torch.Tensor:
    """Cov_x(E_q[z_u]) for each dimension: the variance over the data of the posterior means, [D]."""
    return mu.double().var(0, unbiased=False) if len(mu) > 1 else torch.zeros(mu.shape[1], dtype=torch.float64)


def active_units(mu: torch.Tensor, threshold: float = ACTIVE_THRESHOLD) -> int:
    """How many dimensions the encoder uses: those whose posterior mean varies over the data."""
    return int((activity(mu) > threshold).sum())
