"""Seam metrics: how visible is the edge of an edit? Definitions follow ../shared/design/BOUNDARIES.md.

sd = signed distance to the mask edge in px, positive inside (the first pixel inside has sd = 1, the first
outside sd = -1). Colour maths in float64 CIE Lab (D65), the formula of scikit-image's rgb2lab. Images are
HWC uint8 RGB/RGBA or HW uint8; masks HW bool, True = repainted. Memory is linear in the pixels of the mask's
neighbourhood with a small constant: band statistics are sums over an integer band index (np.bincount),
taken a row strip at a time, never one array per band.

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


# CIE Lab (D65, 2 degree observer) exactly as skimage.color.rgb2lab computes it, in float64, so that only
# the lightness can be computed for every pixel and the full Lab for the few ring pixels
_XYZ_FROM_RGB = np.array(
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]]
)
_WHITE = np.array([0.95047, 1.0, 1.08883])


def _linearise(c: np.ndarray) -> np.ndarray:
    """sRGB in [0, 1] (float64) -> linear RGB, in place."""
    low = c <= 0.04045
    c[~low] = np.power((c[~low] + 0.055) / 1.055, 2.4)
    c[low] /= 12.92
    return c


_LINEAR_U8 = _linearise(np.arange(256, dtype=np.float64) / 255.0)


def _linear(rgb: np.ndarray) -> np.ndarray:
    """float64 linear RGB of RGB values (uint8 through a table; other types are read as 0..255)."""
    if rgb.dtype == np.uint8:
        return _LINEAR_U8[rgb]
    return _linearise(rgb.astype(np.float64) / 255.0)


def _f(t: np.ndarray) -> np.ndarray:
    """The Lab companding function, in place."""
    high = t > 0.008856
    t[high] = np.cbrt(t[high])
    t[~high] = 7.787 * t[~high] + 16.0 / 116.0
    return t


def _lab(rgb: np.ndarray) -> np.ndarray:
    """float64 Lab of an N x 3 or HW x 3 array of RGB values (skimage.color.rgb2lab)."""
    xyz = _f(_linear(rgb) @ _XYZ_FROM_RGB.T / _WHITE)
    x, y, z = xyz[..., 0], xyz[..., 1], xyz[..., 2]
    return np.stack([116.0 * y - 16.0, 500.0 * (x - y), 200.0 * (y - z)], axis=-1)


def _lightness(rgb: np.ndarray) -> np.ndarray:
    """float64 HW: L* of HWC RGB (the L channel of _lab without computing a and b)."""
    lin = _linear(rgb)
    y = lin[..., 0] * _XYZ_FROM_RGB[1, 0]
    y += lin[..., 1] * _XYZ_FROM_RGB[1, 1]
    y += lin[..., 2] * _XYZ_FROM_RGB[1, 2]
    del lin
    y = _f(y)
    y *= 116.0
    y -= 16.0
    return y


def _grad_mag(x: np.ndarray) -> np.ndarray:
    gy, gx = np.gradient(x)
    np.hypot(gx, gy, out=gx)
    return gx


_STRIP_PIXELS = 1 << 18
"""Pixels per row strip: the float working set of a report is a few strips, whatever the region's size."""
_HALO = 6
"""Rows read beyond a strip: the Gaussian (sigma 1, radius 4 in float) and the gradient (1 px) need 5."""
_NBANDS = 2 * PROFILE + 1


class _Accumulator:
    """Per-band sums over several regions, combined into the report's seam metrics.

    Bands are integer t = ceil(sd); the sums are np.bincount over t, a row strip at a time, so memory is
    linear in the region's pixels with a small constant (the signed distance and a few strips of floats)
    whatever the mask's depth."""

    def __init__(self):
        self.ring = np.zeros((4, 3))  # Lab sums: result inner, reference inner, result outer, reference outer
        self.n_in = self.n_out = 0
        self.count = np.zeros(_NBANDS, np.int64)  # profile bands -PROFILE..PROFILE
        self.g = np.zeros(_NBANDS)
        self.p_res = np.zeros(_NBANDS)
        self.p_ref = np.zeros(_NBANDS)
        self.deep = np.zeros(1)  # sums of the error gradient per band t >= 1 (index t)
        self.deep_count = np.zeros(1, np.int64)
        self.max_t = 0

    def _add_deep(self, t: np.ndarray, values: np.ndarray) -> None:
        n = int(t.max()) + 1 if t.size else 0
        if n > self.deep.size:
            self.deep = np.concatenate([self.deep, np.zeros(n - self.deep.size)])
            self.deep_count = np.concatenate([self.deep_count, np.zeros(n - self.deep_count.size, np.int64)])
        if t.size:
            self.deep[:n] += np.bincount(t, weights=values, minlength=n)
            self.deep_count[:n] += np.bincount(t, minlength=n)

    def add(self, reference, result, m, own):
        """One group's region: m its mask there, own the pixels that belong to this group's neighbourhood."""
        sd = masks.signed_distance(m)  # float32 HW; pixels outside ``own`` fall in no band
        h, w = m.shape
        rows = max(1, _STRIP_PIXELS // max(w, 1))
        for a in range(0, h, rows):
            b = min(h, a + rows)
            a0, b0 = max(0, a - _HALO), min(h, b + _HALO)
            keep = slice(a - a0, b - a0)
            sd_s, own_s = sd[a:b], own[a:b]
            res_rgb, ref_rgb = _rgb(result[a0:b0]), _rgb(reference[a0:b0])

            inner = own_s & (sd_s >= 1) & (sd_s <= RING)
            outer = own_s & (sd_s <= -1) & (sd_s >= -RING)
            for row, sel, rgb in ((0, inner, res_rgb), (1, inner, ref_rgb), (2, outer, res_rgb), (3, outer, ref_rgb)):
                if sel.any():
                    self.ring[row] += _lab(rgb[keep][sel]).sum(axis=0)
            self.n_in += int(inner.sum())
            self.n_out += int(outer.sum())

            l_res, l_ref = _lightness(res_rgb), _lightness(ref_rgb)
            err = cv2.GaussianBlur(l_res - l_ref, (0, 0), 1.0, borderType=cv2.BORDER_REFLECT)
            grad_err = _grad_mag(err)[keep]
            p_res = _grad_mag(l_res)[keep]
            p_ref = _grad_mag(l_ref)[keep]
            del err, l_res, l_ref

            t = np.ceil(sd_s).astype(np.int64)
            if own_s.any():
                self.max_t = max(self.max_t, int(t[own_s].max()))
            sel = own_s & (t >= -PROFILE) & (t <= PROFILE)
            idx = t[sel] + PROFILE
            self.count += np.bincount(idx, minlength=_NBANDS)
            self.g += np.bincount(idx, weights=grad_err[sel], minlength=_NBANDS)
            self.p_res += np.bincount(idx, weights=p_res[sel], minlength=_NBANDS)
            self.p_ref += np.bincount(idx, weights=p_ref[sel], minlength=_NBANDS)
            sel = own_s & (t >= 1)
            self._add_deep(t[sel], grad_err[sel])

    def finish(self) -> tuple[float, float, float]:
        if self.n_in and self.n_out:
            step_res = self.ring[0] / self.n_in - self.ring[2] / self.n_out
            step_ref = self.ring[1] / self.n_in - self.ring[3] / self.n_out
            ring_de = float(np.linalg.norm(step_res - step_ref))
        else:
            ring_de = 0.0  # no seam (the mask covers the image)
        present = self.count > 0
        g = self.g[present] / self.count[present]
        deep_t = np.flatnonzero(self.deep_count > 0)
        deep_all = self.deep[deep_t] / self.deep_count[deep_t]
        deep = deep_all[deep_t > DEEP]
        if not deep.size and self.max_t > 1:
            deep = deep_all[deep_t >= max(1, self.max_t // 2)]
        baseline = float(np.median(deep)) if deep.size else 0.0
        seam_excess = (float(g.max()) - baseline) if g.size else 0.0
        noref = 1.0
        if g.size:
            p_res = self.p_res[present] / self.count[present]
            p_ref = self.p_ref[present] / self.count[present]
            r_res = p_res.max() / max(float(np.median(p_res)), 1e-6)
            r_ref = p_ref.max() / max(float(np.median(p_ref)), 1e-6)
            noref = r_res / max(r_ref, 1e-6)
        return ring_de, float(seam_excess), float(noref)


def outside_change(original: np.ndarray, result: np.ndarray, mask: np.ndarray) -> tuple[float, int]:
    """(fraction of mask == False pixels that differ in any channel, largest difference in levels)."""
    original, result = np.asarray(original), np.asarray(result)
    if original.shape != result.shape:
        raise UserError(f"the result has shape {result.shape} but the original {original.shape}")
    mask = np.asarray(mask, dtype=bool)
    n = mask.size - int(np.count_nonzero(mask))
    if n == 0:
        return 0.0, 0
    # fast path: compare only the rows where the two differ at all (usually the mask's rows), a strip at a time
    width = original.shape[1] if original.ndim > 1 else 1
    rows = max(1, _STRIP_PIXELS // max(width, 1))
    changed, largest = 0, 0
    for a in range(0, original.shape[0], rows):
        o, r = original[a:a + rows], result[a:a + rows]
        differs = o != r
        if not differs.any():
            continue
        if differs.ndim == 3:
            differs = differs.any(axis=2)
        differs &= ~mask[a:a + rows]
        if not differs.any():
            continue
        o, r = o[differs], r[differs]
        if np.issubdtype(o.dtype, np.integer):
            diff = np.maximum(o, r) - np.minimum(o, r)  # no sign, no overflow
        else:
            diff = np.abs(o.astype(np.float64) - r)
        changed += int(differs.sum())
        largest = max(largest, int(diff.max()))
    return float(changed / n), largest


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
