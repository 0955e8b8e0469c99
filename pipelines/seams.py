"""Seam metrics: how visible is the edge of an edit? Definitions follow ../shared/design/BOUNDARIES.md.

sd = signed distance to the mask edge in px, positive inside (the first pixel inside has sd = 1, the first
outside sd = -1). Colour maths in float CIE Lab (D65) via scikit-image. Images are HWC uint8 RGB/RGBA or
HW uint8; masks HW bool, True = repainted.

- outside_changed: fraction of mask == False pixels whose value (any channel, alpha included) differs from
  the original; outside_max_diff: the largest such difference in levels. Must be 0.
- ring_delta_e: || (mean Lab of the inner ring - mean Lab of the outer ring)(result) - (same)(reference) ||,
  rings of 6 px on each side (1 <= sd <= 6 and -6 <= sd <= -1).
- seam_excess: E = L*(result) - L*(reference); g(t) = mean |grad(Gaussian_sigma1(E))| over the pixels with sd
  in (t-1, t]; seam_excess = max of g(t) over |t| <= 12 minus the median of g(t) over the bands with sd > 14
  (masks too thin for such bands use their inner half instead).
- noref_ratio: (peak / median of the profile of mean |grad L*(result)| over |t| <= 12) divided by the same
  ratio for the reference.
- ghost / rim (object removal): sum hp(C-G) * hp(I_obj-G) / sum hp(I_obj-G)^2 over the object's pixels
  (rim: its outer 4 px), hp(x) = x - Gaussian_sigma3(x).

Reference = the clean original where known (benchmarks), else the input image (the app).
"""

from __future__ import annotations

import cv2
import numpy as np
from skimage.color import rgb2lab

from . import masks

THRESHOLDS = {
    "outside_changed": 0.0,
    "ring_delta_e": 2.0,
    "seam_excess": 0.25,
    "noref_ratio": 1.10,
}
GHOST_THRESHOLDS = {"ghost": 0.05, "rim": 0.10}

RING = 6
PROFILE = 12
DEEP = 14
_MARGIN = PROFILE + 8


def _rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return image[..., :3]


def _lab(image: np.ndarray) -> np.ndarray:
    return rgb2lab(_rgb(image).astype(np.float64) / 255.0)


def _bands(sd: np.ndarray, lo: int, hi: int) -> dict[int, np.ndarray]:
    """Integer t -> pixels with sd in (t-1, t], for lo <= t <= hi, non-empty bands only."""
    t = np.ceil(sd).astype(np.int64)
    out = {}
    for k in range(lo, hi + 1):
        sel = t == k
        if sel.any():
            out[k] = sel
    return out


def _profile(values: np.ndarray, bands: dict[int, np.ndarray]) -> dict[int, float]:
    return {k: float(values[sel].mean()) for k, sel in bands.items()}


def _grad_mag(x: np.ndarray) -> np.ndarray:
    gy, gx = np.gradient(x)
    return np.hypot(gx, gy)


def _region(mask: np.ndarray, margin: int) -> tuple[slice, slice]:
    x0, y0, x1, y1 = masks.bbox(mask)
    h, w = mask.shape
    return slice(max(y0 - margin, 0), min(y1 + margin, h)), slice(max(x0 - margin, 0), min(x1 + margin, w))


def outside_change(original: np.ndarray, result: np.ndarray, mask: np.ndarray) -> tuple[float, int]:
    """(fraction of mask == False pixels that differ in any channel, largest difference in levels)."""
    original, result = np.asarray(original), np.asarray(result)
    if original.shape != result.shape:
        raise ValueError(f"the result has shape {result.shape} but the original {original.shape}")
    outside = ~mask
    n = int(outside.sum())
    if n == 0:
        return 0.0, 0
    diff = np.abs(original.astype(np.int16) - result.astype(np.int16))
    if diff.ndim == 3:
        diff = diff.max(axis=2)
    diff = diff[outside]
    return float((diff > 0).sum() / n), int(diff.max())


def seam_report(reference, result, mask, *, original=None) -> dict:
    """Seam metrics of ``result`` against ``reference`` for the repainted ``mask``.

    reference: the image the seam should look like (the clean original where known, else the input).
    result: the composite. mask: HW bool, True = repainted (anything masks.to_mask accepts).
    original: the input whose outside pixels must be preserved (default: reference).
    Returns a dict of floats (see the module docstring) plus ``passed`` (all THRESHOLDS met) and ``failed``
    (the names of the metrics over their threshold).
    """
    reference, result = np.asarray(reference), np.asarray(result)
    original = reference if original is None else np.asarray(original)
    if reference.shape[:2] != result.shape[:2]:
        raise ValueError(
            f"the result is {result.shape[1]}x{result.shape[0]} but the reference is "
            f"{reference.shape[1]}x{reference.shape[0]} (width x height)"
        )
    mask = masks.to_mask(mask, size=(result.shape[1], result.shape[0]))
    changed, max_diff = outside_change(original, result, mask)

    rows, cols = _region(mask, _MARGIN)
    m = mask[rows, cols]
    sd = masks.signed_distance(m)
    lab_res = _lab(result[rows, cols])
    lab_ref = _lab(reference[rows, cols])

    inner = (sd >= 1) & (sd <= RING)
    outer = (sd <= -1) & (sd >= -RING)
    if inner.any() and outer.any():
        step_res = lab_res[inner].mean(axis=0) - lab_res[outer].mean(axis=0)
        step_ref = lab_ref[inner].mean(axis=0) - lab_ref[outer].mean(axis=0)
        ring_de = float(np.linalg.norm(step_res - step_ref))
    else:
        ring_de = 0.0  # no seam (the mask covers the image)

    bands = _bands(sd, -PROFILE, PROFILE)
    err = cv2.GaussianBlur(lab_res[..., 0] - lab_ref[..., 0], (0, 0), 1.0, borderType=cv2.BORDER_REFLECT)
    g = _profile(_grad_mag(err), bands)
    max_t = int(np.ceil(sd.max())) if sd.size else 0
    deep_bands = _bands(sd, DEEP + 1, max_t)
    if not deep_bands and max_t > 1:
        deep_bands = _bands(sd, max(1, max_t // 2), max_t)
    g_deep = _profile(_grad_mag(err), deep_bands)
    baseline = float(np.median(list(g_deep.values()))) if g_deep else 0.0
    seam_excess = (max(g.values()) - baseline) if g else 0.0

    p_res = _profile(_grad_mag(lab_res[..., 0]), bands)
    p_ref = _profile(_grad_mag(lab_ref[..., 0]), bands)
    noref = 1.0
    if p_res and p_ref:
        r_res = max(p_res.values()) / max(float(np.median(list(p_res.values()))), 1e-6)
        r_ref = max(p_ref.values()) / max(float(np.median(list(p_ref.values()))), 1e-6)
        noref = r_res / max(r_ref, 1e-6)

    report = {
        "outside_changed": changed,
        "outside_max_diff": max_diff,
        "ring_delta_e": ring_de,
        "seam_excess": float(seam_excess),
        "noref_ratio": float(noref),
    }
    failed = [k for k, limit in THRESHOLDS.items() if report[k] > limit]
    report["passed"] = not failed
    report["failed"] = failed
    return report


def _highpass(x: np.ndarray) -> np.ndarray:
    return x - cv2.GaussianBlur(x, (0, 0), 3.0, borderType=cv2.BORDER_REFLECT)


def ghost_report(result, generated, with_object, object_mask) -> dict:
    """How much of a removed object shows through the result.

    result: the composite C; generated: the generator's output G (full size); with_object: the input
    I_obj that holds the object; object_mask: HW bool, the object's pixels.
    ghost = sum hp(C-G) * hp(I_obj-G) / sum hp(I_obj-G)^2 over the object; rim: the same over its outer 4 px.
    0 = no trace of the object, 1 = the object fully there.
    """
    obj = masks.to_mask(object_mask)
    c = _rgb(result).astype(np.float32)
    gen = _rgb(generated).astype(np.float32)
    i = _rgb(with_object).astype(np.float32)
    a = _highpass(c - gen)
    b = _highpass(i - gen)
    rim = masks.band(obj, 4, 0)

    def ratio(sel):
        den = float((b[sel] ** 2).sum())
        return float((a[sel] * b[sel]).sum() / den) if den > 0 else 0.0

    out = {"ghost": ratio(obj), "rim": ratio(rim)}
    out["passed"] = out["ghost"] <= GHOST_THRESHOLDS["ghost"] and out["rim"] <= GHOST_THRESHOLDS["rim"]
    return out
