"""Pixels to PNG bytes: crisp nearest-neighbour upscaling, single digits and grids."""
import base64
import io

import numpy as np
from PIL import Image

from vae_core.tiles import tile


def to_png(pixels, scale: int = 1) -> bytes:
    """pixels: [H, W] or [1, H, W] in [0, 1] -> PNG bytes, each pixel a scale x scale block."""
    a = np.asarray(pixels, dtype=np.float32).reshape(pixels.shape[-2:])
    img = Image.fromarray(np.rint(np.clip(a, 0, 1) * 255).astype(np.uint8), mode="L")
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def grid_png(images: np.ndarray, nrow: int, scale: int = 1, padding: int = 1) -> bytes:
    """images: [N, 1, 28, 28] or [N, 28, 28] in [0, 1] -> one PNG of the tiles, nrow per row."""
    images = np.asarray(images, np.float32)
    images = images[:, None] if images.ndim == 3 else images
    grid = tile(images, nrow=nrow, padding=padding, pad_value=0.35)[0]
    return to_png(grid, scale)


def inline(png: bytes) -> str:
    """PNG bytes as a data URI: sent within the page's own message, so it can never be a media
    file that a busy server has already dropped (a /media 404) by the time the browser asks."""
    return "data:image/png;base64," + base64.b64encode(png).decode()
