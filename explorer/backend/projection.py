"""Linear 2-D views of a D-dim latent space: two chosen axes or the PCA plane of the test means."""
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Projection:
    """xy = (z - center) @ W and back z = center + xy @ W.T, W: [D, 2] with orthonormal columns."""
    center: np.ndarray  # [D]
    W: np.ndarray  # [D, 2]
    titles: tuple[str, str]  # axis titles
    nonlinear = False  # a linear plane: every point of it is a latent point (from_xy)

    def of_test(self, mu: np.ndarray) -> np.ndarray:
        """The test means' places on this plane, [N, 2]."""
        return self.to_xy(mu)

    def to_xy(self, z: np.ndarray) -> np.ndarray:
        return (np.asarray(z, np.float64) - self.center) @ self.W

    def from_xy(self, xy: np.ndarray) -> np.ndarray:
        return self.center + np.asarray(xy, np.float64) @ self.W.T

    def ellipse(self, mu: np.ndarray, logvar: np.ndarray, n_sigma: float = 2.0, n: int = 60) -> np.ndarray:
        """The n_sigma contour of N(mu, diag(exp(logvar))) seen in this view: [n, 2] points."""
        cov = self.W.T @ np.diag(np.exp(logvar)) @ self.W
        vals, vecs = np.linalg.eigh(cov)
        t = np.linspace(0, 2 * np.pi, n)
        circle = np.stack([np.cos(t), np.sin(t)], 1)
        return self.to_xy(mu) + n_sigma * (circle * np.sqrt(np.maximum(vals, 0))) @ vecs.T


def axes(d: int, i: int = 0, j: int = 1) -> Projection:
    """Latent dims i and j (the others held at 0, the prior mean)."""
    W = np.zeros((d, 2))
    W[i, 0] = 1.0
    if d > 1:
        W[j, 1] = 1.0
    return Projection(np.zeros(d), W, (f"z{i}", f"z{j}" if d > 1 else "(1-D latent)"))


def pca(points: np.ndarray) -> Projection:
    """The plane of the two largest principal components of points [N, D] (D >= 2)."""
    center = points.mean(0)
    _, s, vt = np.linalg.svd(points - center, full_matrices=False)
    var = s ** 2 / max((s ** 2).sum(), 1e-12)
    return Projection(center, vt[:2].T, (f"PC1 ({var[0]:.0%} of variance)", f"PC2 ({var[1]:.0%})"))


def slider_ranges(mu: np.ndarray) -> np.ndarray:
    """Per-dim [lo, hi] covering the test means and the prior's +-3 sigma: [D, 2]."""
    reach = np.maximum(3.0, np.ceil(np.quantile(np.abs(mu), 0.999, axis=0) * 2) / 2)
    return np.stack([-reach, reach], 1)


@dataclass(frozen=True, eq=False)
class Embedded:
    """A nonlinear plane (t-SNE, UMAP: explorer/backend/embed.py) of the test means. It has no inverse
    and places only the test digits, so any other latent point is shown where the test digit nearest
    to it (Euclidean, in z) sits; an ellipse or a path has no honest picture here (None)."""
    xy: np.ndarray  # [N, 2] the test digits' places
    mu: np.ndarray  # [N, D] their means
    titles: tuple[str, str]
    nonlinear = True

    @property
    def center(self) -> np.ndarray:  # for code that keys caches by a plane's (center, W)
        return np.zeros(self.mu.shape[1])

    @property
    def W(self) -> np.ndarray:
        return np.zeros((self.mu.shape[1], 2))

    def of_test(self, mu: np.ndarray) -> np.ndarray:
        return np.asarray(self.xy, np.float64)

    def nearest(self, z: np.ndarray) -> np.ndarray:
        """The index of the test mean nearest each row of z [M, D]: [M]."""
        z = np.atleast_2d(np.asarray(z, np.float32))
        d = (self.mu.astype(np.float32) ** 2).sum(1)[None] - 2 * z @ self.mu.T.astype(np.float32)
        return d.argmin(1)

    def to_xy(self, z: np.ndarray) -> np.ndarray:
        one = np.asarray(z).ndim == 1
        xy = np.asarray(self.xy, np.float64)[self.nearest(z)]
        return xy[0] if one else xy

    def ellipse(self, mu, logvar, n_sigma: float = 2.0, n: int = 60) -> None:
        return None
