"""Tiling images into one grid, numpy only (the app tiles before it has imported torch)."""
import numpy as np


def tile(images: np.ndarray, nrow: int, padding: int = 0, pad_value: float = 0.0) -> np.ndarray:
    """images: [N, 1, H, W] -> one image [1, rows*(H+p)+p, cols*(W+p)+p], nrow tiles per row, in
    the layout of torchvision's make_grid (without importing torchvision: ~1.5 s)."""
    images = np.asarray(images)
    n, _, h, w = images.shape
    cols = max(min(nrow, n), 1)
    rows = -(-n // cols)
    grid = np.full((1, rows * (h + padding) + padding, cols * (w + padding) + padding), pad_value,
                   dtype=images.dtype)
    for k in range(n):
        r, c = divmod(k, cols)
        top, left = r * (h + padding) + padding, c * (w + padding) + padding
        grid[:, top:top + h, left:left + w] = images[k]
    return grid
