"""An uploaded image file as greyscale pixels, with every bound checked before anything is decoded.

PNG, JPEG, WebP or GIF (first frame), any size up to MAX_PIXELS and any colour depth (1-bit,
8/16-bit grey, palette, RGB(A), CMYK). The size in the file's header is checked before the pixels
are decoded, so a decompression bomb (a few KB that would inflate to gigabytes) is refused
without allocating; a truncated or damaged file is one line, like everything else here.
"""
import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from explorer.backend.prep import STRIP, DigitError, grey_from_rgba

MAX_MB = 10  # the uploader's limit (Streamlit refuses bigger files in the page; checked here again)
MAX_BYTES = MAX_MB * 1024 * 1024
MAX_PIXELS = 40_000_000
MAX_EXIF = 64 * 1024  # bytes of EXIF read for the orientation; a camera writes a few KB
FORMATS = ("PNG", "JPEG", "WEBP", "GIF")
EXTENSIONS = ["png", "jpg", "jpeg", "webp", "gif"]


def read_grey(data: bytes) -> np.ndarray:
    """File bytes -> [H, W] uint8 greyscale (prep.py step 1). DigitError with one line otherwise."""
    if len(data) > MAX_BYTES:
        raise DigitError(f"The file is {len(data) / 2**20:.1f} MB, over the {MAX_MB} MB limit.")
    if not data:
        raise DigitError("The file is empty.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's own bomb warning: our limit is lower and checked below
            im = Image.open(io.BytesIO(data), formats=FORMATS)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        if isinstance(e, Image.DecompressionBombError):
            raise DigitError(f"The image is over the {MAX_PIXELS // 10**6} megapixel limit.") from None
        if "decompressed data too large" in str(e).lower():  # Pillow's bound on a compressed text chunk (zTXt, iTXt)
            raise DigitError("The image's compressed text metadata is too large to read.") from None
        raise DigitError("That file is not a PNG, JPEG, WebP or GIF image.") from None
    w, h = im.size
    if w * h > MAX_PIXELS:
        raise DigitError(f"The image is {w}×{h} ({w * h / 1e6:.0f} megapixels), over the "
                         f"{MAX_PIXELS // 10**6} megapixel limit.")
    if w * h == 0:
        raise DigitError("The image has no pixels.")
    try:
        im.seek(0)
        im.load()
        if len(im.info.get("exif") or b"") <= MAX_EXIF:  # a bigger block is not parsed (9 MB cost ~2 s)
            ImageOps.exif_transpose(im, in_place=True)  # a phone photo the right way up
        return _grey(im)
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError):
        raise DigitError("The image file is damaged or truncated: it could not be decoded.") from None


def _grey(im: Image.Image) -> np.ndarray:
    """Any Pillow mode -> [H, W] uint8, a strip of rows at a time (no full RGBA copy)."""
    w, h = im.size
    wide = im.mode in ("I;16", "I;16B", "I;16L", "I", "F")  # 16-bit (or wider) greyscale: no alpha
    top = 65535.0 if im.mode != "F" or im.getextrema()[1] > 255 else 255.0
    out = np.empty((h, w), np.uint8)
    for y in range(0, h, STRIP):
        strip = im.crop((0, y, w, min(h, y + STRIP)))
        if wide:
            levels = np.clip(np.asarray(strip, np.float64), 0, top) * (255.0 / top)
            out[y:y + strip.height] = np.floor(levels + 0.5).astype(np.uint8)
        else:
            out[y:y + strip.height] = grey_from_rgba(np.asarray(strip.convert("RGBA")))
    return out
