"""The map's analysis layers, computed on the server from the snapshot (numpy; decoding as infer.py
does) and drawn under the points as one small PNG (map_overlays.js puts it in the chart's layout, so
the 10,000 points are never sent again):

- "holes": log q(z) / p(z), the aggregate posterior q(z) = mean over the test digits of
  N(z; mu_x, diag sigma_x^2) against the prior p(z) = N(0, I). Red where the prior puts mass but no
  digit lives (prior samples there decode to smudges), blue where the digits are denser than the prior.
- "magnification": how fast the decoded image changes per unit of z, ||d image / d z|| from finite
  differences on the mesh; high along the boundaries between classes.

For a latent over 2-D both are taken on the map's plane through a base point (the decoder's z): the
plane's point xy is z = base + (xy - to_xy(base)) W^T, the other directions held at the base's.
"""
import io

import numpy as np
from PIL import Image

from explorer.backend.images import inline

KINDS = ("holes", "magnification")
LOG_2PI = float(np.log(2 * np.pi))
HOLES_GRID, MAG_GRID = 60, 48  # mesh points per side (holes: ~0.25 s of 2 cores for 10,000 digits)
CHUNK = 256  # mesh points per block of the mixture: a block of [CHUNK, N] float64 is 20 MB for N = 10,000
HOLES_CLIP = 6.0  # nats: |log q/p| drawn at full colour from here on


def log_aggregate(z: np.ndarray, mu: np.ndarray, logvar: np.ndarray) -> np.ndarray:
    """log q(z) at each row of z [M, D]: the mixture of the N posteriors N(mu_n, exp(logvar_n))
    with weights 1/N, [M]. The exponents are made in float64 (their terms cancel: a point near a
    narrow posterior subtracts numbers of ~1e4); only the exp of each, less its row's largest, is in
    float32 (the exp dominates the time: ~4x faster than float64; relative error ~1e-7)."""
    z, mu, logvar = (np.asarray(a, np.float64) for a in (z, mu, logvar))
    prec = np.exp(-logvar)  # [N, D]
    const = -0.5 * ((mu * mu * prec).sum(1) + logvar.sum(1) + mu.shape[1] * LOG_2PI)  # [N]
    a, b = -0.5 * prec.T, (mu * prec).T
    out = np.empty(len(z))
    for s in range(0, len(z), CHUNK):
        blk = z[s:s + CHUNK]
        # -0.5 * sum_d (z_d - mu_d)^2 / sigma_d^2 + const, as products: z^2 . prec - 2 z . (mu prec)
        logp = (blk * blk) @ a
        logp += blk @ b
        logp += const
        top = logp.max(1, keepdims=True)
        rel = (logp - top).astype(np.float32)
        np.exp(rel, out=rel)
        out[s:s + CHUNK] = top[:, 0] + np.log(rel.sum(1, dtype=np.float64)) - np.log(len(mu))
    return out


def log_prior(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, np.float64)
    return -0.5 * ((z * z).sum(1) + z.shape[1] * LOG_2PI)


def mesh(extent: tuple, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(xs [n], ys [n] top row first, xy [n * n, 2] row by row) over extent (x0, x1, y0, y1)."""
    x0, x1, y0, y1 = extent
    xs, ys = np.linspace(x0, x1, n), np.linspace(y1, y0, n)
    return xs, ys, np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)


def plane_points(proj, base: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """The latent points [M, D] the plane's points xy [M, 2] stand for, through `base`."""
    base = np.asarray(base, np.float64)
    return base + (np.asarray(xy, np.float64) - proj.to_xy(base)) @ proj.W.T


def holes(view, proj, base, extent: tuple, n: int = HOLES_GRID) -> tuple[np.ndarray, np.ndarray]:
    """(log q(z) - log p(z), log p(z)) on the mesh, [n, n] each (top row first)."""
    z = plane_points(proj, base, mesh(extent, n)[2])
    lp = log_prior(z)
    return (log_aggregate(z, view.mu, view.logvar) - lp).reshape(n, n), lp.reshape(n, n)


def magnification(decode, proj, base, extent: tuple, n: int = MAG_GRID) -> np.ndarray:
    """||d image / d(xy)|| on the mesh, [n, n]: central differences of the decoded pixel means (one
    sided at the edges), in pixel-intensity units per unit of z along the plane."""
    xs, ys, xy = mesh(extent, n)
    images = np.asarray(decode(plane_points(proj, base, xy)), np.float64).reshape(n, n, -1)
    gy, gx = np.gradient(images, ys, xs, axis=(0, 1))
    return np.sqrt((gx ** 2).sum(-1) + (gy ** 2).sum(-1))


def _png(rgba: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(rgba, mode="RGBA").save(buf, format="PNG", compress_level=6)
    return inline(buf.getvalue())


def holes_png(log_ratio: np.ndarray, log_p: np.ndarray) -> str:
    """Red (q < p) to blue (q > p), opaque from HOLES_CLIP nats on; transparent where the ratio is ~0.
    Red fades out where the prior itself has little mass (past ~3 sigma from the plane's most likely
    point): no prior sample goes there either."""
    t = np.clip(log_ratio / HOLES_CLIP, -1, 1)
    fade = np.where(t < 0, np.clip(np.exp(log_p - (log_p.max() - 4.5)), 0, 1), 1.0)
    rgba = np.zeros(t.shape + (4,), np.uint8)
    rgba[..., 0] = np.where(t < 0, 214, 31)
    rgba[..., 1] = np.where(t < 0, 39, 119)
    rgba[..., 2] = np.where(t < 0, 40, 180)
    rgba[..., 3] = np.rint(np.abs(t) ** 0.7 * fade * 170).astype(np.uint8)
    return _png(rgba)


def magnification_png(mag: np.ndarray) -> str:
    """Purple, opaque at the 99th percentile of the mesh's magnification."""
    top = max(float(np.quantile(mag, 0.99)), 1e-12)
    t = np.clip(mag / top, 0, 1)
    rgba = np.zeros(t.shape + (4,), np.uint8)
    rgba[..., :3] = (84, 39, 143)
    rgba[..., 3] = np.rint(t * 200).astype(np.uint8)
    return _png(rgba)


def image_spec(uri: str, extent: tuple) -> dict:
    """The layer as map_overlays.js puts it in the chart's layout.images (below the points)."""
    x0, x1, y0, y1 = (float(v) for v in extent)
    return {"source": uri, "x": x0, "y": y1, "sizex": x1 - x0, "sizey": y1 - y0}
