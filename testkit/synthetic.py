"""Synthetic inputs for tests: image files and drawn digits, and readers of what the app sends the page."""
import io
import json

import numpy as np
from PIL import Image


def png(a: np.ndarray, mode: str | None = None, fmt: str = "PNG") -> bytes:
    """An array [H, W] or [H, W, C] uint8 as the bytes of an image file (PNG unless `fmt` says otherwise)."""
    buf = io.BytesIO()
    Image.fromarray(a, mode).save(buf, fmt)
    return buf.getvalue()


def one(h=300, w=200, ink=20, paper=240) -> np.ndarray:
    """A dark "1" on light paper, off centre: [h, w] uint8."""
    a = np.full((h, w), paper, np.uint8)
    a[50:150, 30:40] = ink
    return a


def preview_parts(message: bytes) -> tuple[dict, np.ndarray, np.ndarray]:
    """The map preview's message (panels/latent_map.py: preview_message) as (header, xy [N, 2], labels [N])."""
    head, body = message.split(b"\n", 1)
    h = json.loads(head)
    return h, np.frombuffer(body[:8 * h["n"]], "<f4").reshape(-1, 2), np.frombuffer(body[8 * h["n"]:], np.uint8)
