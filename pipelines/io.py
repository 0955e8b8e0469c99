"""Reading and writing images at the edges of the program (CLI, app, benchmarks).

Arrays follow one format everywhere: HWC uint8 RGB, HWC uint8 RGBA, or HW uint8 for greyscale (L).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import UserError

MAX_PIXELS = 64_000_000
"""Largest image we accept (64 megapixels); larger ones are refused with a clear error."""


def check_pixels(width: int, height: int, what: str = "image") -> None:
    """Raise ValueError when ``width * height`` exceeds MAX_PIXELS."""
    if width * height > MAX_PIXELS:
        raise UserError(
            f"the {what} is {width}x{height} = {width * height / 1e6:.1f} megapixels; "
            f"the limit is {MAX_PIXELS / 1e6:.0f} megapixels"
        )


def to_array(image: Image.Image, keep_alpha: bool = True) -> np.ndarray:
    """Convert a PIL image to HWC uint8 RGB, HWC uint8 RGBA (when it has alpha and keep_alpha), or HW uint8 (L)."""
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    if image.mode in ("L", "1", "I;16", "I", "F") and not has_alpha:
        if image.mode != "L":
            image = image.convert("L") if image.mode == "1" else ImageOps.autocontrast(image.convert("F")).convert("L")
        return np.asarray(image, dtype=np.uint8).copy()
    mode = "RGBA" if (has_alpha and keep_alpha) else "RGB"
    return np.asarray(image.convert(mode), dtype=np.uint8).copy()


def as_image(image, name: str = "image", *, min_side: int = 1, limit: bool = True) -> np.ndarray:
    """Check an image given as an array or a PIL image and return it as an array.

    Returns HWC uint8 RGB / RGBA or HW uint8 (an HxWx1 array is taken as HW). Raises a one-line
    ValueError naming ``name`` for another dtype or shape, a side shorter than ``min_side`` px, or (with
    ``limit``) more than MAX_PIXELS.
    """
    if isinstance(image, Image.Image):
        image = to_array(image)
    a = np.asarray(image)
    if a.dtype != np.uint8:
        raise UserError(f"{name} must be uint8, got {a.dtype}")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise UserError(f"{name} must be HW, HWC RGB or HWC RGBA, got shape {a.shape}")
    if min(a.shape[:2]) < min_side:
        raise UserError(f"{name} is too small ({a.shape[1]}x{a.shape[0]}; at least {min_side} px a side)")
    if limit:
        check_pixels(a.shape[1], a.shape[0], what=name)
    return a


def open_image(path: str | os.PathLike) -> Image.Image:
    """Open an image file with EXIF orientation applied, refusing unreadable files and images over MAX_PIXELS."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no such image file: {path}")
    Image.MAX_IMAGE_PIXELS = None  # we apply our own, lower limit before decoding
    try:
        image = Image.open(path)
        check_pixels(*image.size, what=f"image {path.name}")
        image.load()
        image = ImageOps.exif_transpose(image)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise UserError(f"cannot read {path} as an image ({type(exc).__name__})") from None
    return image


def load_image(path: str | os.PathLike, keep_alpha: bool = True) -> np.ndarray:
    """Load an image file as an array (see to_array), EXIF orientation applied."""
    return to_array(open_image(path), keep_alpha=keep_alpha)


def save_png(path: str | os.PathLike, array: np.ndarray, protect: tuple[str | os.PathLike, ...] = ()) -> Path:
    """Write ``array`` (HWC uint8 RGB/RGBA or HW uint8) as a lossless PNG, atomically.

    ``protect`` lists input files that must never be overwritten: writing onto one is a ValueError.
    """
    path = Path(path)
    target = path.resolve()
    for p in protect:
        if p is not None and Path(p).exists() and Path(p).resolve() == target:
            raise UserError(f"refusing to overwrite the input {p}: choose another --out")
    array = np.asarray(array)
    if array.dtype != np.uint8 or array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise UserError(f"cannot save an array of shape {array.shape} and dtype {array.dtype} as PNG")
    if not target.parent.is_dir():
        raise UserError(f"the output folder {target.parent} does not exist")
    fd, tmp = tempfile.mkstemp(suffix=".png", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            Image.fromarray(array).save(fh, format="PNG")
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return target
