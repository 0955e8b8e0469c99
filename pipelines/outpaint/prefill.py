"""Outpainting, 2: the pre-fill of the new area (the border stretched outward, blurred more with distance, plus
grain matched to the border ring), so a model that starts from the canvas starts from plausible colours; refill()
does it again for one window from the pixels known at that moment."""

from __future__ import annotations

import cv2
import numpy as np

from .. import io, masks
from .plan import SIDES

RING = 16
"""Depth in px of the original's border ring that anchors the colour statistics (and the drift measure)."""
PREFILL_MAX_SIGMA = 48.0
REFILL_REACH = int(3 * PREFILL_MAX_SIGMA) + 16
"""px of known pixels around the unknown area that refill() reads (3 sigma of the widest blur, plus the grain's)."""


def _as_rgb(image) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """(HWC uint8 RGB, alpha or None, was greyscale) from a working array (io.to_working) or PIL image."""
    a = io.as_image(image, min_side=2)
    if a.ndim == 2:
        return np.repeat(a[:, :, None], 3, axis=2), None, True
    if a.shape[2] == 4:
        return np.ascontiguousarray(a[..., :3]), a[..., 3].copy(), False
    return a, None, False


def _lab(rgb: np.ndarray) -> np.ndarray:
    """float32 Lab (L in 0..100) of uint8 or float (0..255) RGB; conversion at the OpenCV boundary only."""
    return cv2.cvtColor(np.asarray(rgb, np.float32) / 255.0, cv2.COLOR_RGB2Lab)


def _rgb(lab: np.ndarray) -> np.ndarray:
    """float32 RGB (0..255) from float32 Lab."""
    return cv2.cvtColor(lab.astype(np.float32), cv2.COLOR_Lab2RGB) * 255.0


def border_ring(image: np.ndarray, side: str, span: tuple[int, int] | None = None, depth: int = RING) -> np.ndarray:
    """The original's outermost ``depth`` px on ``side`` (restricted to ``span`` = (start, end) along the edge)."""
    h, w = image.shape[:2]
    along = h if side in ("left", "right") else w
    a0, a1 = span if span is not None else (0, along)
    a0, a1 = max(0, min(a0, along - 1)), max(1, min(a1, along))
    if a1 - a0 < depth:  # a window beyond the corner: the nearest stretch of the edge
        a1 = min(along, max(a1, a0 + depth))
        a0 = max(0, a1 - depth)
    d = max(1, min(depth, w if side in ("left", "right") else h))
    if side == "left":
        return image[a0:a1, :d]
    if side == "right":
        return image[a0:a1, w - d:]
    if side == "top":
        return image[:d, a0:a1]
    return image[h - d:, a0:a1]


def prefill(image: np.ndarray, pads: dict[str, int], seed: int | None = 0) -> np.ndarray:
    """The canvas with ``image`` (HWC uint8 RGB) at (left, top) and the new area pre-filled by refill():
    the border stretched outward (each new pixel takes its nearest original pixel, corners included),
    blurred with a sigma growing with the distance from the original, plus grain matched to the border
    ring. The original's pixels are copied unchanged."""
    left, right, top, bottom = (pads.get(s, 0) for s in SIDES)
    h, w = image.shape[:2]
    canvas = cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_REPLICATE)
    known = np.zeros(canvas.shape[:2], bool)
    known[top:top + h, left:left + w] = True
    return refill(canvas, known, seed)


def _variable_blur(base: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """float32 HWC: ``base`` blurred per pixel with Gaussian ``sigma`` (HW, px), interpolated between levels."""
    levels = [0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, PREFILL_MAX_SIGMA]
    out = base.copy()
    prev = base
    top = float(sigma.max()) if sigma.size else 0.0
    for lo, hi in zip(levels[:-1], levels[1:]):
        if lo >= top:
            break
        sel = (sigma > lo) & (sigma <= hi)
        blurred = cv2.GaussianBlur(base, (0, 0), hi, borderType=cv2.BORDER_REFLECT)
        if sel.any():
            t = ((sigma[sel] - lo) / (hi - lo))[:, None]
            out[sel] = (1 - t) * prev[sel] + t * blurred[sel]
        prev = blurred
    return out


def _grain(image: np.ndarray, ring: np.ndarray) -> np.ndarray:
    """Per-channel std of the high-pass (image minus Gaussian 1.5) over the ``ring`` pixels."""
    img = image.astype(np.float32)
    hp = img - cv2.GaussianBlur(img, (0, 0), 1.5, borderType=cv2.BORDER_REFLECT)
    return hp[ring].std(axis=0) if ring.any() else np.zeros(3, np.float32)


def refill(image: np.ndarray, known: np.ndarray, seed: int | None = 0) -> np.ndarray:
    """Pre-fill the pixels of ``image`` (HWC uint8 RGB) where ``known`` (HW bool) is False, for any shape of
    known area: each unknown pixel takes its nearest known pixel (a stretch of the border outward), blurred
    with sigma = distance / 3 (up to PREFILL_MAX_SIGMA), plus Gaussian grain with the local high-pass
    amplitude of the nearest known pixels (so each side gets its own grain). Known pixels
    are returned unchanged. Used before every tiled window, so the model and the join's seam report start
    from a continuation of the pixels known at that moment (freshly generated strips included)."""
    if known.all() or not known.any():
        return image.copy()
    # Only known pixels near the unknown area matter (the nearest-known map, the blur up to PREFILL_MAX_SIGMA and
    # the grain statistics reach REFILL_REACH px): work on the unknown area's box grown by that much, so a large
    # photo extended on one side costs the new strip, not the whole canvas (~160 bytes per pixel worked on).
    x0, y0, x1, y1 = masks.bbox(~known)
    H, W = known.shape
    y0, x0 = max(0, y0 - REFILL_REACH), max(0, x0 - REFILL_REACH)
    y1, x1 = min(H, y1 + REFILL_REACH), min(W, x1 + REFILL_REACH)
    if (y1 - y0) * (x1 - x0) < 0.8 * H * W:
        out = image.copy()
        out[y0:y1, x0:x1] = refill(image[y0:y1, x0:x1], known[y0:y1, x0:x1], seed)
        return out
    unknown = (~known).astype(np.uint8)
    dist, labels = cv2.distanceTransformWithLabels(unknown, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    coords = np.argwhere(known)  # scan order = label order (1-based)
    src = coords[np.clip(labels - 1, 0, len(coords) - 1)]
    base = image[src[..., 0], src[..., 1]].astype(np.float32)
    out = _variable_blur(base, np.minimum(dist / 3.0, PREFILL_MAX_SIGMA))
    # grain: the local high-pass amplitude of the known pixels (normalised Gaussian over the known area),
    # carried outward with the same nearest-known map as the colours, so each side gets its own grain
    img = image.astype(np.float32)
    k = known.astype(np.float32)
    low = cv2.GaussianBlur(img * k[..., None], (0, 0), 1.5) / np.maximum(cv2.GaussianBlur(k, (0, 0), 1.5), 1e-3)[..., None]
    hp2 = ((img - low) ** 2) * k[..., None]
    local = cv2.GaussianBlur(hp2, (0, 0), 4.0) / np.maximum(cv2.GaussianBlur(k, (0, 0), 4.0), 1e-3)[..., None]
    std = np.sqrt(np.maximum(local, 0))[src[..., 0], src[..., 1]]
    noise = np.random.default_rng(seed).standard_normal(image.shape[:2] + (1,)).astype(np.float32) * std
    result = np.clip(np.rint(out + noise), 0, 255).astype(np.uint8)
    result[known] = image[known]
    return result
