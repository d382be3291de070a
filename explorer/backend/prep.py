"""A person's digit as the model sees it: MNIST-style preprocessing (LeCun et al.'s recipe).

This docstring is the recipe; `prep.js` is the same steps for the page's drawing canvas, and the
constants below travel to the page in the encoder blob's header (never typed in JS). Both sides
are checked against each other pixel for pixel in a real browser (tests/test_your_digit.py).

1. Greyscale, 0..255 integers: L = (19595 R + 38470 G + 7471 B + 32768) >> 16 (Pillow's "L"),
   composited over white by its alpha: g = floor((L a + 255 (255 - a) + 127) / 255).
2. Light on dark: if the border's mean is over 127.5 (a dark digit on light paper), g = 255 - g.
   The border is row 0, row H-1, then column 0 and column W-1 of rows 1..H-2.
3. Levels: bg = the border's lower median (sorted[(n - 1) // 2], after step 2), hi = max g. When
   hi - bg < FLAT the image is one flat colour (blank, or all ink): refused. Otherwise each pixel
   is v = clip((g - bg) / (hi - bg), 0, 1).
4. Ink is v > INK, i.e. g - bg > INK (hi - bg). More than MOSTLY_INK of all pixels: refused.
   Crop to the ink's bounding box.
5. Scale to fit BOX x BOX keeping the aspect ratio: s = BOX / max(h, w), new size
   max(1, floor(h s + 0.5)) x max(1, floor(w s + 0.5)), each output pixel the area-weighted mean of
   the input pixels it covers (a box filter: anti-aliased down, blocky up), separably per axis.
6. Place in SIZE x SIZE so the centre of mass lands on the centre: with cy = sum((y + 0.5) v) /
   sum(v) over the scaled box, top = floor(SIZE / 2 - cy + 0.5 + TIE) clamped to [0, SIZE - h]; the same
   for left. Everything else is 0.
7. Quantise: floor(v 255 + 0.5), uint8.

Numpy only; the work is done in strips of rows, so a 40-megapixel upload never needs more than a
few tens of MB beyond its 1-byte-per-pixel greyscale.
"""
import math

import numpy as np

SIZE = 28  # the model's input side
BOX = 20  # the digit is scaled to fit BOX x BOX, as in MNIST
INK = 0.2  # a pixel is ink above this level (0..1, after levels)
FLAT = 32  # grey levels: a narrower range than this is one flat colour
MOSTLY_INK = 0.6  # more of the image than this is ink: not a digit on a background
STRIP = 512  # rows handled at a time
TIE = 1e-6  # a symmetric digit's centre falls exactly between two pixels: rounding sums must not decide the side


class DigitError(ValueError):
    """The input cannot be made into a digit; str() is the one line to show."""


def constants() -> dict:
    """The recipe's numbers, as the page receives them."""
    return {"size": SIZE, "box": BOX, "ink": INK, "flat": FLAT, "mostly_ink": MOSTLY_INK, "tie": TIE}


def grey_from_rgba(rgba: np.ndarray) -> np.ndarray:
    """Step 1: [H, W, 4] uint8 -> [H, W] uint8."""
    r, g, b, a = (rgba[..., k].astype(np.uint32) for k in range(4))
    lum = (r * 19595 + g * 38470 + b * 7471 + 32768) >> 16
    return ((lum * a + 255 * (255 - a) + 127) // 255).astype(np.uint8)


def _border(grey: np.ndarray) -> np.ndarray:
    return np.concatenate([grey[0], grey[-1], grey[1:-1, 0], grey[1:-1, -1]])


def area_weights(n_in: int, n_out: int) -> np.ndarray:
    """[n_out, n_in]: output o averages input interval [o n_in / n_out, (o + 1) n_in / n_out)."""
    scale = n_in / n_out
    M = np.zeros((n_out, n_in))
    for o in range(n_out):
        a, b = o * scale, (o + 1) * scale
        for i in range(int(math.floor(a)), min(int(math.ceil(b)), n_in)):
            M[o, i] = (min(b, i + 1) - max(a, i)) / scale
    return M


def prepare(grey: np.ndarray) -> np.ndarray:
    """Steps 2-7: a greyscale image [H, W] uint8 -> the model's input [SIZE, SIZE] uint8.
    DigitError (one line) when it holds no digit."""
    grey = np.asarray(grey, np.uint8)
    if grey.ndim != 2 or grey.size == 0:
        raise DigitError("The image has no pixels.")
    H, W = grey.shape
    border = _border(grey).astype(np.int64)
    invert = int(border.sum()) * 2 > 255 * border.size
    if invert:
        border = 255 - border
    bg = int(np.sort(border)[(border.size - 1) // 2])
    hi = 255 - int(grey.min()) if invert else int(grey.max())
    if hi - bg < FLAT:
        raise DigitError("The image is one flat colour (blank, or all ink): there is no digit to find.")
    threshold = INK * (hi - bg)

    def levels(rows: np.ndarray) -> np.ndarray:  # uint8 rows -> int64 g - bg, after inversion
        g = rows.astype(np.int64)
        return (255 - g if invert else g) - bg

    row_has, col_has, n_ink = np.zeros(H, bool), np.zeros(W, bool), 0
    for y in range(0, H, STRIP):
        ink = levels(grey[y:y + STRIP]) > threshold
        n_ink += int(ink.sum())
        row_has[y:y + STRIP] = ink.any(1)
        col_has |= ink.any(0)
    if n_ink > MOSTLY_INK * H * W:
        share = math.floor(100 * n_ink / (H * W) + 0.5)  # rounded as prep.js rounds it
        raise DigitError(f"Most of the image is ink ({share}%): draw or upload a digit on a plain background.")
    rows, cols = np.flatnonzero(row_has), np.flatnonzero(col_has)
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    h, w = y1 - y0, x1 - x0
    s = BOX / max(h, w)
    h2, w2 = max(1, math.floor(h * s + 0.5)), max(1, math.floor(w * s + 0.5))
    My, Mx = area_weights(h, h2), area_weights(w, w2)
    box = np.zeros((h2, w2))
    for y in range(y0, y1, STRIP):
        v = np.clip(levels(grey[y:min(y + STRIP, y1), x0:x1]) / (hi - bg), 0.0, 1.0)
        box += My[:, y - y0:y - y0 + len(v)] @ (v @ Mx.T)
    mass = box.sum()
    cy = float(((np.arange(h2) + 0.5) * box.sum(1)).sum() / mass)
    cx = float(((np.arange(w2) + 0.5) * box.sum(0)).sum() / mass)
    top = min(max(math.floor(SIZE / 2 - cy + 0.5 + TIE), 0), SIZE - h2)
    left = min(max(math.floor(SIZE / 2 - cx + 0.5 + TIE), 0), SIZE - w2)
    out = np.zeros((SIZE, SIZE))
    out[top:top + h2, left:left + w2] = box
    return np.floor(np.clip(out, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


def prepare_rgba(rgba: np.ndarray) -> np.ndarray:
    """Steps 1-7 for an RGBA image [H, W, 4] uint8 (what the page's canvas holds)."""
    return prepare(grey_from_rgba(np.asarray(rgba, np.uint8)))
