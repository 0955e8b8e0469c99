"""The classical engine: OpenCV's Telea (fast marching) and Navier-Stokes fills. No weights needed.

    filled = fill(image, mask, method="ns", radius=5)    # the bare fill, HWC uint8 RGB
    engine = ClassicalEngine("telea", radius=5)           # the same behind the driver

It is how the app and the CLI work with no model downloaded, and the pre-fill for object removal before
diffusion. A prompt is ignored; the result says so in its notes.

Formats: HWC uint8 RGB images, HW bool masks (True = repaint). OpenCV wants BGR: the conversion happens at the
cv2 call and nowhere else.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..errors import UserError
from .checks import check_float
from .engine import Engine

METHODS = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}


def check_radius(radius) -> float:
    radius = check_float(radius, "radius")
    if radius <= 0:
        raise UserError(f"radius must be > 0, got {radius}")
    return radius


def fill(image: np.ndarray, mask: np.ndarray, method: str = "telea", radius: float = 5.0) -> np.ndarray:
    """Fill the True pixels of ``mask`` in ``image`` (HWC uint8 RGB) with OpenCV; returns a new HWC uint8 RGB.

    method: "telea" (Telea 2004, fast marching) or "ns" (Navier-Stokes, Bertalmio 2001).
    radius: px of neighbourhood each filled pixel draws from (> 0).
    Pixels outside the mask are returned unchanged.
    """
    if method not in METHODS:
        raise UserError(f"classical method must be one of {', '.join(METHODS)}, got {method!r}")
    radius = check_radius(radius)
    image = np.asarray(image)
    mask = np.asarray(mask, dtype=bool)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise UserError(f"fill needs HWC uint8 RGB, got shape {image.shape} and dtype {image.dtype}")
    if mask.shape != image.shape[:2]:
        raise UserError(f"the mask is {mask.shape[1]}x{mask.shape[0]} but the image is {image.shape[1]}x{image.shape[0]}")
    if not mask.any():
        return image.copy()
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    out = cv2.inpaint(bgr, mask.astype(np.uint8) * 255, float(radius), METHODS[method])
    out = cv2.cvtColor(out, cv2.COLOR_BGR2RGB)
    out[~mask] = image[~mask]  # cv2 leaves them alone; make it a guarantee
    return out


class ClassicalEngine(Engine):
    """Telea or Navier-Stokes behind the driver: each crop filled at full resolution (no native size), with
    2 x radius px of extra context so the fill reads real pixels."""

    native_size = None
    description = "the classical engine"
    uses_prompt = False
    uses_seed = False

    def __init__(self, method: str = "telea", radius: float = 5.0):
        if method not in METHODS:
            raise UserError(f"classical method must be one of {', '.join(METHODS)}, got {method!r}")
        self.name = method
        self.radius = check_radius(radius)
        self.context_pad = int(math.ceil(self.radius)) * 2

    def fill(self, crop, crop_mask, *, prompt, negative_prompt, seed, step):
        out = fill(crop, crop_mask, method=self.name, radius=self.radius)
        step()
        return out
