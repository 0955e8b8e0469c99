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
from .errors import UserError

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
    """Integer t -> pixels with sd in (t-1, t], for lo <= t <= hi, non-empty bands only (nan: no band)."""
    t = np.ceil(np.nan_to_num(sd, nan=-1e9)).astype(np.int64)
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


class _Accumulator:
    """Per-band sums over several regions, combined into the report's seam metrics."""

    def __init__(self):
        self.ring = {"res_in": 0.0, "res_out": 0.0, "ref_in": 0.0, "ref_out": 0.0, "n_in": 0, "n_out": 0}
        self.g, self.p_res, self.p_ref, self.deep = {}, {}, {}, {}
        self.max_t = 0

    @staticmethod
    def _add(store, values, bands):
        for k, sel in bands.items():
            total, count = store.get(k, (0.0, 0))
            store[k] = (total + float(values[sel].sum()), count + int(sel.sum()))

    def add(self, reference, result, m, own):
        """One group's region: m its mask there, own the pixels that belong to this group's neighbourhood."""
        sd = masks.signed_distance(m)
        sd = np.where(own, sd, np.nan)  # nan falls in no band
        lab_res, lab_ref = _lab(result), _lab(reference)
        inner = (sd >= 1) & (sd <= RING)
        outer = (sd <= -1) & (sd >= -RING)
        r = self.ring
        r["res_in"] = r["res_in"] + lab_res[inner].sum(axis=0)
        r["ref_in"] = r["ref_in"] + lab_ref[inner].sum(axis=0)
        r["res_out"] = r["res_out"] + lab_res[outer].sum(axis=0)
        r["ref_out"] = r["ref_out"] + lab_ref[outer].sum(axis=0)
        r["n_in"] += int(inner.sum())
        r["n_out"] += int(outer.sum())
        bands = _bands(sd, -PROFILE, PROFILE)
        err = cv2.GaussianBlur(lab_res[..., 0] - lab_ref[..., 0], (0, 0), 1.0, borderType=cv2.BORDER_REFLECT)
        grad_err = _grad_mag(err)
        self._add(self.g, grad_err, bands)
        self._add(self.p_res, _grad_mag(lab_res[..., 0]), bands)
        self._add(self.p_ref, _grad_mag(lab_ref[..., 0]), bands)
        max_t = int(np.ceil(np.nanmax(sd))) if np.isfinite(sd).any() else 0
        self.max_t = max(self.max_t, max_t)
        self._add(self.deep, grad_err, _bands(sd, 1, max_t))

    def finish(self) -> tuple[float, float, float]:
        r = self.ring
        if r["n_in"] and r["n_out"]:
            step_res = r["res_in"] / r["n_in"] - r["res_out"] / r["n_out"]
            step_ref = r["ref_in"] / r["n_in"] - r["ref_out"] / r["n_out"]
            ring_de = float(np.linalg.norm(step_res - step_ref))
        else:
            ring_de = 0.0  # no seam (the mask covers the image)
        mean = lambda store: {k: t / c for k, (t, c) in store.items() if c}  # noqa: E731
        g = mean(self.g)
        deep_all = mean(self.deep)
        deep = {k: v for k, v in deep_all.items() if k > DEEP}
        if not deep and self.max_t > 1:
            deep = {k: v for k, v in deep_all.items() if k >= max(1, self.max_t // 2)}
        baseline = float(np.median(list(deep.values()))) if deep else 0.0
        seam_excess = (max(g.values()) - baseline) if g else 0.0
        p_res, p_ref = mean(self.p_res), mean(self.p_ref)
        noref = 1.0
        if p_res and p_ref:
            r_res = max(p_res.values()) / max(float(np.median(list(p_res.values()))), 1e-6)
            r_ref = max(p_ref.values()) / max(float(np.median(list(p_ref.values()))), 1e-6)
            noref = r_res / max(r_ref, 1e-6)
        return ring_de, float(seam_excess), float(noref)


def outside_change(original: np.ndarray, result: np.ndarray, mask: np.ndarray) -> tuple[float, int]:
    """(fraction of mask == False pixels that differ in any channel, largest difference in levels)."""
    original, result = np.asarray(original), np.asarray(result)
    if original.shape != result.shape:
        raise UserError(f"the result has shape {result.shape} but the original {original.shape}")
    outside = ~mask
    n = int(outside.sum())
    if n == 0:
        return 0.0, 0
    # fast path: compare only where the two differ at all (usually inside the mask only)
    rows = np.flatnonzero((original != result).reshape(original.shape[0], -1).any(axis=1))
    if rows.size == 0:
        return 0.0, 0
    y0, y1 = int(rows[0]), int(rows[-1]) + 1
    original, result, outside = original[y0:y1], result[y0:y1], outside[y0:y1]
    diff = np.abs(original.astype(np.int16) - result.astype(np.int16))
    if diff.ndim == 3:
        diff = diff.max(axis=2)
    diff = diff[outside]
    if diff.size == 0:
        return 0.0, 0
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
        raise UserError(
            f"the result is {result.shape[1]}x{result.shape[0]} but the reference is "
            f"{reference.shape[1]}x{reference.shape[0]} (width x height)"
        )
    mask = masks.to_mask(mask, size=(result.shape[1], result.shape[0]))
    changed, max_diff = outside_change(original, result, mask)

    # metrics are accumulated over the regions around each group of nearby mask parts (far-apart parts
    # never make one huge bounding box); groups farther apart than 2 * _MARGIN cannot see each other
    acc = _Accumulator()
    for rows, cols, own in masks.neighbourhoods(mask, _MARGIN):
        acc.add(reference[rows, cols], result[rows, cols], mask[rows, cols] & own, own)
    ring_de, seam_excess, noref = acc.finish()

    report = {
        "outside_changed": changed,
        "outside_max_diff": max_diff,
        "ring_delta_e": ring_de,
        "seam_excess": seam_excess,
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
