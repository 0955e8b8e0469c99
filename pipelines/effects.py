"""Effects of an object on its surroundings: suggest the cast shadow of an object selected for removal.

Removing an object and leaving its shadow gives a "ghost shadow". ``suggest_shadow`` proposes the shadow as a
separate region that the user sees (in another colour) and adds to the mask with one click; it is never added
implicitly (the mask the user gave is the contract).

A shadow is taken to be the pixels that are

1. darker than a large-scale estimate of the un-shadowed background (luminance ratio < 1 - MIN_DARKENING),
   the estimate being a normalised Gaussian average over the surroundings that leaves out the object and,
   on a second pass, the dark region found on the first one;
2. of similar chromaticity to that background (a shadow darkens but does not change the hue much);
3. connected to the object on its lower side (or on the side facing away from ``light`` when it is given);
4. cleaned: holes filled (the gap under the object included), specks dropped, the edge smoothed.

The search runs only in a box of a few object sizes around the object, at a working scale where the object is
at most WORK_SIDE px, so a large photo costs about as much as a small one.

This module will move into the pipelines/segment/ package (pipelines/segment/effects.py) when that split happens.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

from .errors import UserError

# Tunables (measured with bench/effects.py, not on a handful of scenes).
MIN_DARKENING = 0.13  # a pixel is a shadow candidate when luminance < (1 - this) x background
CHROMA_TOLERANCE = 0.04  # max |chromaticity - background chromaticity| (r, g, b fractions)
SEARCH_REACH = 1.6  # the search box reaches this many object sizes beyond the object's box
BACKGROUND_SIGMA = 0.33  # the background estimate's Gaussian sigma, in object sizes
CHROMA_SIGMA = 0.1  # the same for the background's chromaticity (more local: materials change hue)
WORK_SIDE = 96  # the object's longer side at the working scale (px)
MIN_AREA_FRACTION = 0.03  # a suggestion smaller than this fraction of the object's area is dropped
LOWER_PART = 0.4  # without a light direction, the shadow must touch the object's lower 40%
CONTACT_REACH = 0.12  # a shadow must come within this many object sizes of the object (a round base touches at one point)


@dataclass
class Shadow:
    """A suggested cast shadow.

    mask: HW bool, True = suggested shadow pixel (never overlaps the object; all False when there is none).
    score: confidence in [0, 1] (0 when there is none).
    reason: one line saying what was found or why nothing was.
    """

    mask: np.ndarray
    score: float
    reason: str

    @property
    def area(self) -> int:
        return int(self.mask.sum())

    def summary(self) -> dict:
        return {"area": self.area, "score": round(float(self.score), 3), "reason": self.reason}


def check_inputs(image, object_mask, light) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] not in (3, 4):
        raise UserError(f"image must be HWC uint8 RGB, got {image.dtype} of shape {image.shape}")
    mask = np.asarray(object_mask)
    if mask.dtype != bool or mask.ndim != 2:
        raise UserError(f"object_mask must be HW bool, got {mask.dtype} of shape {mask.shape}")
    if mask.shape != image.shape[:2]:
        raise UserError(f"object_mask is {mask.shape[1]}x{mask.shape[0]} but the image is "
                         f"{image.shape[1]}x{image.shape[0]}")
    if not mask.any():
        raise UserError("object_mask is empty: select the object first")
    direction = None
    if light is not None:
        direction = np.asarray(light, dtype=np.float64).reshape(-1)
        if direction.shape != (2,) or not np.all(np.isfinite(direction)) or not np.any(direction):
            raise UserError(f"light must be a non-zero (x, y) direction towards the light, got {light!r}")
        direction = direction / np.linalg.norm(direction)
    return image[..., :3], mask, direction


def _box(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _normalised_blur(values: np.ndarray, weight: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian average of ``values`` (HW or HWC float32) counting only where ``weight`` is 1."""
    w = weight.astype(np.float32)
    den = cv2.GaussianBlur(w, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    v = values * (w[..., None] if values.ndim == 3 else w)
    num = cv2.GaussianBlur(v, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    den = np.maximum(den, 1e-3)
    return num / (den[..., None] if values.ndim == 3 else den)


def _disk(r: int) -> np.ndarray:
    r = max(1, int(round(r)))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def _contact(obj: np.ndarray, direction: np.ndarray | None, reach: int) -> np.ndarray:
    """Pixels just outside the object on the side a shadow touches (lower part, or away from the light)."""
    band = cv2.dilate(obj.astype(np.uint8), _disk(reach)).astype(bool) & ~obj
    ys, xs = np.nonzero(obj)
    if direction is None:
        top, bottom = ys.min(), ys.max() + 1
        cut = bottom - LOWER_PART * (bottom - top)
        band[: int(np.floor(cut))] = False
        return band
    away = -direction  # the shadow falls away from the light
    yy, xx = np.nonzero(band)
    along = (xx - xs.mean()) * away[0] + (yy - ys.mean()) * away[1]
    keep = along > 0
    out = np.zeros_like(band)
    out[yy[keep], xx[keep]] = True
    return out


def _touching(candidate: np.ndarray, contact: np.ndarray) -> np.ndarray:
    labels, n = ndimage.label(candidate)
    if n == 0:
        return np.zeros_like(candidate)
    hit = np.unique(labels[contact & candidate])
    hit = hit[hit > 0]
    return np.isin(labels, hit)


def suggest_shadow(image, object_mask, *, light=None) -> Shadow:
    """Suggest the cast shadow of the object in ``object_mask``.

    image: HWC uint8 RGB (an alpha channel is ignored). object_mask: HW bool, True = the object selected for
    removal. light: optional (x, y) direction from the object towards the light in pixel coordinates (y down),
    e.g. (-1, -1) for light from the upper left; the shadow is then looked for on the far side of the object.
    Without it the shadow must touch the object's lower part.

    Returns a Shadow whose mask is HW bool, never overlapping the object, all False when there is no shadow.
    Raises UserError (a ValueError) for inputs of the wrong type or size, or an empty object mask.
    """
    # 1. Check the inputs.
    image, obj_full, direction = check_inputs(image, object_mask, light)
    height, width = obj_full.shape
    empty = np.zeros_like(obj_full)

    # 2. The search box: a few object sizes around the object, at a working scale.
    x0, y0, x1, y1 = _box(obj_full)
    size = max(x1 - x0, y1 - y0)
    reach = int(np.ceil(SEARCH_REACH * size))
    bx0, by0 = max(0, x0 - reach), max(0, y0 - reach)
    bx1, by1 = min(width, x1 + reach), min(height, y1 + reach)
    scale = min(1.0, WORK_SIDE / size)
    crop = image[by0:by1, bx0:bx1]
    obj_crop = obj_full[by0:by1, bx0:bx1]
    wh = (max(1, round((bx1 - bx0) * scale)), max(1, round((by1 - by0) * scale)))
    if scale < 1.0:
        rgb = cv2.resize(crop, wh, interpolation=cv2.INTER_AREA).astype(np.float32)
        obj = cv2.resize(obj_crop.astype(np.float32), wh, interpolation=cv2.INTER_AREA) > 0.01
    else:
        rgb = crop.astype(np.float32)
        obj = obj_crop.copy()
    if not obj.any():
        return Shadow(empty, 0.0, "no shadow: the object is too small to look for one")
    side = max(WORK_SIDE * min(1.0, size / WORK_SIDE), 8.0)  # the object's size at the working scale

    # 3. Luminance and chromaticity, smoothed a little against grain and texture.
    rgb = cv2.GaussianBlur(rgb, (0, 0), max(1.0, side / 48)) + 1.0
    lum = rgb @ np.float32([0.299, 0.587, 0.114])
    chroma = rgb / rgb.sum(axis=2, keepdims=True)

    # 4. The un-shadowed background: a normalised Gaussian average leaving out the object (grown a little,
    #    its matte fringe included), then also the dark region found next to it.
    fringe = cv2.dilate(obj.astype(np.uint8), _disk(max(1, side / 40))).astype(bool)
    contact = _contact(obj, direction, max(3, int(round(side * CONTACT_REACH))))
    sigma = max(4.0, side * BACKGROUND_SIGMA)
    keep = ~fringe
    shadow = np.zeros_like(obj)
    for _ in range(2):
        bg_lum = _normalised_blur(lum, keep, sigma)
        bg_chroma = _normalised_blur(chroma, keep, max(2.0, side * CHROMA_SIGMA))
        ratio = lum / np.maximum(bg_lum, 1.0)
        same_hue = np.abs(chroma - bg_chroma).max(axis=2) < CHROMA_TOLERANCE
        candidate = (ratio < 1.0 - MIN_DARKENING) & same_hue & ~fringe
        shadow = _touching(candidate, contact)
        keep = ~fringe & ~cv2.dilate(shadow.astype(np.uint8), _disk(max(1, side / 24))).astype(bool)

    # 5. Clean: fill holes (the gap against the object counts as a hole), drop specks, smooth the edge.
    min_area = MIN_AREA_FRACTION * obj.sum()
    if shadow.sum() < min_area:
        return Shadow(empty, 0.0, "no shadow: nothing darker than its surroundings with the same hue touches "
                      + ("the object's lower side" if direction is None else "the object's far side from the light"))
    closed = cv2.morphologyEx(shadow.astype(np.uint8), cv2.MORPH_CLOSE, _disk(max(1, side / 32))).astype(bool)
    shadow = ndimage.binary_fill_holes(closed | fringe) & ~fringe
    shadow = cv2.morphologyEx(shadow.astype(np.uint8), cv2.MORPH_OPEN, _disk(max(1, side / 48))).astype(bool)
    shadow = _touching(shadow, contact | (fringe & ~obj))
    labels, n = ndimage.label(shadow)
    if n:
        areas = ndimage.sum(shadow, labels, index=np.arange(1, n + 1))
        shadow = np.isin(labels, 1 + np.flatnonzero(areas >= min_area))
    if shadow.sum() < min_area:
        return Shadow(empty, 0.0, "no shadow: only specks darker than their surroundings touch the object")
    darkening = float(1.0 - np.median(ratio[shadow]))

    # 6. Back to full size with a smooth edge. The object's grown fringe, where it lies against the shadow, is
    #    added so the suggestion meets the object without a gap; it never overlaps the object itself.
    gap = fringe & ~obj & cv2.dilate(shadow.astype(np.uint8), _disk(max(2, side / 40) + 2)).astype(bool)
    soft = (shadow | gap).astype(np.float32)
    if scale < 1.0:
        soft = cv2.resize(soft, (bx1 - bx0, by1 - by0), interpolation=cv2.INTER_LINEAR)
    soft = cv2.GaussianBlur(soft, (0, 0), max(0.8, 0.8 / scale))
    region = (soft >= 0.5) & ~obj_crop
    out = empty.copy()
    out[by0:by1, bx0:bx1] = region
    area = int(out.sum())
    if area == 0:
        return Shadow(empty, 0.0, "no shadow: the dark region vanished at full size")
    score = float(np.clip(darkening / 0.4, 0.0, 1.0) * np.clip(area / (0.1 * obj_full.sum()), 0.0, 1.0))
    side_name = "lower side" if direction is None else "side away from the light"
    return Shadow(out, score, f"shadow on the object's {side_name}: {area} px, "
                              f"{100 * darkening:.0f}% darker than its surroundings with the same hue")
