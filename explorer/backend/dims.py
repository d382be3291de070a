"""What each latent dimension does, from a snapshot alone (no torch): the dims sorted by the KL they
carry, which are active (Burda et al. 2015), the model card's bar chart of KL per dimension, and the
values a traversal sweeps each dimension through."""
from html import escape

import numpy as np

from vae_core.latents import ACTIVE_THRESHOLD

SPANS = ("prior", "data")  # a traversal's columns: +-3 prior sigma, or the test means' spread on that dim
MAX_COLUMNS = 15
MAX_BARS = 32  # the model card shows the dims carrying the most KL, the rest summed in a line


def by_kl(kl_dims) -> list[int]:
    """Dimension indices, the one carrying the most KL first (ties: lower index first)."""
    kl = np.asarray(kl_dims, np.float64)
    return sorted(range(len(kl)), key=lambda u: (-kl[u], u))


def active(activity) -> list[bool]:
    """Burda et al.'s criterion per dim: Cov_x(E_q[z_u]) > 10^-2."""
    return [float(a) > ACTIVE_THRESHOLD for a in activity]


def kl_bars_svg(kl_dims, activity, width: int = 260) -> str:
    """The model card's chart: KL per dimension, sorted, one bar per dim (active ones coloured), as SVG."""
    order = by_kl(kl_dims)[:MAX_BARS]
    on = active(activity)
    top = max(max(kl_dims, default=0.0), 1e-9)
    row, label = 14, 34
    rows = []
    for k, u in enumerate(order):
        w = (width - label - 44) * kl_dims[u] / top
        y = k * row
        colour = "#1f77b4" if on[u] else "#bbbbbb"
        rows.append(f'<text x="{label - 4}" y="{y + 10}" text-anchor="end">z{u}</text>'
                    f'<rect x="{label}" y="{y + 2}" width="{w:.1f}" height="{row - 4}" fill="{colour}"/>'
                    f'<text x="{label + w + 3:.1f}" y="{y + 10}">{kl_dims[u]:.2f}</text>')
    height = row * len(order)
    title = escape("KL per dimension, nats (grey: inactive)")
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'font-family="sans-serif" font-size="10" fill="#333"><title>{title}</title>{"".join(rows)}</svg>')


def traversal_values(mu: np.ndarray, dims: list[int], span: str, n: int) -> np.ndarray:
    """[len(dims), n] values each dim is set to: -3..+3 prior sigma (the prior is N(0, 1)), or the
    test means' mean +-3 of their standard deviation on that dim ("data")."""
    if span not in SPANS or not 2 <= n <= MAX_COLUMNS:
        raise ValueError(f"a traversal of {n} columns over {span!r}")
    t = np.linspace(-3.0, 3.0, n)
    if span == "prior":
        return np.tile(t, (len(dims), 1))
    m = np.asarray(mu, np.float64)[:, dims]
    return m.mean(0)[:, None] + m.std(0)[:, None] * t[None, :]
