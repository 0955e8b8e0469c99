"""Outpainting, 4: drift control (the Lab statistics of each new strip pulled towards the original's border ring
on that side, more at the far side) and the far-strip colour drift measure."""

from __future__ import annotations

import cv2
import numpy as np

from .plan import SIDES
from .prefill import RING, _lab, _rgb, border_ring

DRIFT_STRENGTH = 0.75
"""Weight of the drift correction at the far side of each new strip when drift_control=True."""


def _lab_stats(lab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    flat = lab.reshape(-1, 3)
    return flat.mean(axis=0), flat.std(axis=0)


def anchor_correct(
    canvas: np.ndarray, new: np.ndarray, box: tuple[int, int, int, int], target: tuple[np.ndarray, np.ndarray],
    strength: float,
) -> np.ndarray:
    """Pull the Lab mean/std of the ``new`` pixels (HW bool, canvas size) inside ``box`` towards ``target``
    (mean, std). The weight rises from 0 at the nearest pixel that is not new (known context) to
    ``strength`` one band depth away, so joins stay continuous. Returns the corrected canvas (a copy);
    only ``new`` pixels change."""
    x0, y0, x1, y1 = box
    sub_new = new[y0:y1, x0:x1]
    if not sub_new.any() or strength <= 0:
        return canvas
    out = canvas.copy()
    _anchor_correct_window(out[y0:y1, x0:x1], sub_new, target, strength)
    return out


def _anchor_correct_window(sub: np.ndarray, sub_new: np.ndarray, target, strength: float) -> None:
    """anchor_correct in place on one window: ``sub`` (HWC uint8 RGB, a view into the canvas) and
    ``sub_new`` (HW bool, its new pixels); costs what the window costs, not the canvas."""
    if not sub_new.any() or strength <= 0:
        return
    lab = _lab(sub)
    mean_s, std_s = _lab_stats(lab[sub_new])
    mean_t, std_t = target
    gain = np.clip(std_t / np.maximum(std_s, 1e-3), 0.67, 1.5)
    gain[0] = np.clip(gain[0], 0.8, 1.25)
    corrected = mean_t + (lab - mean_s) * gain
    # weight: distance to the nearest known pixel, relative to the band's depth
    dist = cv2.distanceTransform(sub_new.astype(np.uint8), cv2.DIST_L2, 5)
    rows, cols = np.flatnonzero(sub_new.any(axis=1)), np.flatnonzero(sub_new.any(axis=0))
    depth = float(max(1, min(rows.size, cols.size)))
    weight = (np.clip(dist / depth, 0.0, 1.0) * strength)[..., None]
    mixed = lab + weight * (corrected - lab)
    rgb = np.clip(np.rint(_rgb(mixed)), 0, 255).astype(np.uint8)
    sub[sub_new] = rgb[sub_new]


def far_strip(canvas: np.ndarray, side: str, pads: dict[str, int], offset, size, depth: int = RING) -> np.ndarray:
    """The outermost ``depth`` px of the new area on ``side``, facing the original (HWC)."""
    ox, oy = offset
    w, h = size
    d = max(1, min(depth, pads[side]))
    if side == "left":
        return canvas[oy:oy + h, :d]
    if side == "right":
        return canvas[oy:oy + h, canvas.shape[1] - d:]
    if side == "top":
        return canvas[:d, ox:ox + w]
    return canvas[canvas.shape[0] - d:, ox:ox + w]


def colour_drift(canvas: np.ndarray, original: np.ndarray, pads: dict[str, int], offset) -> dict[str, float]:
    """Per extended side: || mean Lab(far new strip) - mean Lab(original's border ring) || (dE76)."""
    size = (original.shape[1], original.shape[0])
    out = {}
    for side in SIDES:
        if pads.get(side, 0) > 0:
            far = _lab(far_strip(canvas, side, pads, offset, size)).reshape(-1, 3).mean(axis=0)
            ring = _lab(border_ring(original, side)).reshape(-1, 3).mean(axis=0)
            out[side] = float(np.linalg.norm(far - ring))
    return out
