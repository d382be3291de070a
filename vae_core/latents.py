"""What a latent space uses: KL per dimension and active units (Burda et al. 2015, section 5.2).

Numpy only (torch tensors are taken as arrays), so the app's snapshot builder and its model card use
the same figures as training without importing torch.
"""
import numpy as np

ACTIVE_THRESHOLD = 1e-2  # Burda et al.: unit u is active when Cov_x(E_q[z_u]) > 10^-2


def kl_per_dim(mu, logvar) -> np.ndarray:
    """KL(q(z_u | x) || N(0, 1)) for each dimension u, averaged over the rows: [N, D] -> [D] nats.
    Summed over u it is the model's KL (vae_core.losses.gaussian_kl, averaged)."""
    mu, logvar = np.asarray(mu, np.float64), np.asarray(logvar, np.float64)
    return 0.5 * (mu ** 2 + np.exp(logvar) - 1.0 - logvar).mean(0)


def activity(mu) -> np.ndarray:
    """Cov_x(E_q[z_u]) for each dimension: the variance over the data of the posterior means, [D]."""
    mu = np.asarray(mu, np.float64)
    return mu.var(0) if len(mu) > 1 else np.zeros(mu.shape[1])


def active_units(mu, threshold: float = ACTIVE_THRESHOLD) -> int:
    """How many dimensions the encoder uses: those whose posterior mean varies over the data."""
    return int((activity(mu) > threshold).sum())
