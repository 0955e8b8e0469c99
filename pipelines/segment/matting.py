"""Soft edges: a trimap, a closed-form alpha matte and the object's fringe width, for an "auto" mask growth.

Formats: images are HWC uint8 RGB (RGBA: the colour channels are used; HW uint8 grey is repeated to RGB);
masks are HW bool, True = the object (= repaint; anything pipelines.masks.to_mask accepts is taken);
a trimap is HW uint8 with exactly three values, 0 = background, 128 = unknown, 255 = foreground;
alpha is HW float32 in [0, 1] (1 = the object); probabilities are HW float in [0, 1] (the chance that a
pixel is the object, e.g. the sigmoid of a segmenter's logits upsampled to the image).
All distances are Euclidean, in px between pixel centres, as in pipelines.masks.

Why: a tight object mask leaves the object's anti-aliased / blurred fringe outside it, and every compositor
then re-creates a rim (BOUNDARIES.md). The growth that covers it is the fringe width plus the blend's inward
feather band. The fixed presets (pipelines.segment.growth.GROW_PRESETS: 15 and 10 px) guess the fringe; here it is
measured per mask:

1. ``trimap``: an unknown band around the mask edge (plus, with probabilities, the pixels the segmenter was
   unsure of);
2. ``alpha_matte``: Levin et al.'s closed-form matte (pymatting.estimate_alpha_cf) solved on the unknown band
   only, in tiles;
3. ``fringe_width``: how far outside the mask the matte stays visibly non-zero;
4. ``auto_growth``: px = ceil(fringe + feather), clipped to MAX_GROWTH_PX, with a one-line note.

The growth is a number for the caller to show on the canvas (a visible mask edit) before anything uses it:
nothing here changes a mask. Every function is pure and never modifies its inputs.

Memory and time (documented limits): the matte never touches the whole photo. It works on the bounding box
of the unknown band plus MATTE_MARGIN px, cut into TILE x TILE tiles (each solved with MATTE_MARGIN px of
context on every side); tiles without unknown pixels are skipped, so the cost follows the band's area, not
the photo's. One tile's solve holds about 0.4 kB per pixel of its (TILE + 2 * MATTE_MARGIN)^2 window
(~35 MB). When the band needs more than MAX_TILES tiles (a very large or very ragged object on a big photo),
the crop is downscaled by the largest factor that fits (area averaging; the trimap's known regions kept
exact) and the matte is upscaled back (bilinear) and used on the unknown pixels only: the fringe is then
measured at that coarser resolution, and auto_growth says so in its note. Measured on one CPU core: a tile
takes 0.1-0.25 s, so a matte takes at most ~10 s; a 640 px photo's object 0.05-0.6 s in all; a 36 MP photo
with a 5000 px disc 12.6 s in all (the matte at 51%: 5 s; trimap and fringe_width work on the mask's padded
box, 2.6 s and 5.5 s there, a few HW-sized arrays of the box).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import cv2
import numpy as np

from .. import masks
from ..errors import UserError
from ..io import as_image

logger = logging.getLogger(__name__)

__all__ = [
    "BACKGROUND",
    "UNKNOWN",
    "FOREGROUND",
    "METHODS",
    "AutoGrowth",
    "trimap",
    "alpha_matte",
    "fringe_width",
    "auto_growth",
]

BACKGROUND, UNKNOWN, FOREGROUND = 0, 128, 255
"""The three trimap values."""

METHODS = ("cf",)
"""Matting methods: "cf" = closed-form matting (Levin, Lischinski, Weiss 2008) through pymatting."""

UNKNOWN_DEFAULT_FRACTION = 0.03
"""Default unknown band half-width = this fraction of sqrt(mask area) px, clipped to UNKNOWN_DEFAULT_RANGE."""

UNKNOWN_DEFAULT_RANGE = (6, 12)
"""Bounds (px) of the default unknown band half-width: a few px for small objects, at most 12 px."""

UNKNOWN_MAX = 32
"""The widest unknown band half-width (px) a caller may ask for, and how far from the mask edge uncertain
probabilities still join the unknown band."""

PROBABILITY_UNSURE = (0.1, 0.9)
"""A probability strictly between these two is "uncertain": the pixel joins the unknown band (within
UNKNOWN_MAX px of the mask edge). 0.1 / 0.9 are logits of about -2.2 / +2.2."""

ALPHA_VISIBLE = 0.1
"""Smoothed alpha above this counts as part of the object's visible fringe (a 10% tint of its colour)."""

FRINGE_PIECE = 16
"""fringe_width measures the edge in pieces: the mask's pixels grouped in blocks of this many px a side."""

FRINGE_REACH = 48
"""fringe_width looks at most this many px outside the mask."""

FRINGE_PERCENTILE = 90
"""fringe_width is this percentile (by outline length) of the edge pieces' fringe widths."""

MAX_GROWTH_PX = 64
"""auto_growth never proposes more than this many px."""

TILE = 256
"""Side (px) of the matte's tiles, before their context margin."""

MATTE_MARGIN = 16
"""Context (px) around the unknown band's bounding box and around each tile."""

MAX_TILES = 48
"""The most tiles one matte solves at full resolution; beyond, the crop is downscaled (see the module doc)."""

KNOWN_REACH = 4 * MATTE_MARGIN
"""A tile whose window holds no foreground or no background is solved with a window widened up to this many px
each side; still one-sided, its unknown pixels take the side that is there (the closed-form matte needs both)."""

_PROBABILITY_TOLERANCE = 1e-3


@dataclass(frozen=True)
class AutoGrowth:
    """The growth auto_growth proposes for a mask.

    px: the growth to apply, whole px >= 0 (ceil(fringe + feather), at most MAX_GROWTH_PX).
    fringe: the measured fringe width in px (fringe_width).
    feather: the blend's feather band in px it was given.
    note: one line for the user, e.g. "soft edge 2.4 px + feather 4 px -> grow 7 px".
    """

    px: int
    fringe: float
    feather: float
    note: str


# ----------------------------------------------------------------------------------------------------------
# Validation helpers


def _check_image(image) -> np.ndarray:
    """HWC uint8 RGB (a view where possible) from RGB, RGBA or HW grey; anything else is a UserError."""
    a = as_image(image, "image", limit=False)
    if a.ndim == 2:
        return np.repeat(a[..., None], 3, axis=2)
    return a[..., :3]


def _check_probabilities(probabilities, shape: tuple[int, int]) -> np.ndarray:
    p = np.asarray(probabilities)
    if p.dtype.kind not in "fiub":
        raise UserError(f"probabilities must be a float array in [0, 1], got dtype {p.dtype}")
    if p.shape != shape:
        raise UserError(f"probabilities have shape {p.shape} but the mask has shape {shape} (HW)")
    p = p.astype(np.float32, copy=False)
    if not np.isfinite(p).all():
        raise UserError("probabilities contain NaN or infinity: pass values in [0, 1]")
    if p.min() < -_PROBABILITY_TOLERANCE or p.max() > 1 + _PROBABILITY_TOLERANCE:
        raise UserError(
            f"probabilities must lie in [0, 1], got [{float(p.min()):.3g}, {float(p.max()):.3g}]: "
            "pass a sigmoid of the logits, not the logits"
        )
    return p


def _check_trimap(trimap) -> np.ndarray:
    t = np.asarray(trimap)
    if t.dtype != np.uint8 or t.ndim != 2 or t.size == 0:
        raise UserError(f"the trimap must be an HW uint8 array, got {t.dtype} of shape {t.shape}")
    values = np.unique(t)
    extra = np.setdiff1d(values, (BACKGROUND, UNKNOWN, FOREGROUND))
    if extra.size:
        raise UserError(f"the trimap may hold only 0, 128 and 255, got {int(extra[0])}")
    return t


def _bbox_pad(m: np.ndarray, pad: int) -> tuple[slice, slice]:
    """Rows and columns of the bounding box of the True pixels of m, padded by pad px (clipped)."""
    x0, y0, x1, y1 = masks.bbox(m)
    h, w = m.shape
    return slice(max(y0 - pad, 0), min(y1 + pad, h)), slice(max(x0 - pad, 0), min(x1 + pad, w))


# ----------------------------------------------------------------------------------------------------------
# 1. The trimap


def default_unknown(area: int) -> int:
    """The default unknown band half-width in px for a mask of ``area`` px (UNKNOWN_DEFAULT_*)."""
    lo, hi = UNKNOWN_DEFAULT_RANGE
    return int(np.clip(round(UNKNOWN_DEFAULT_FRACTION * math.sqrt(max(area, 0))), lo, hi))


def trimap(mask, *, unknown: int | None = None, probabilities=None) -> np.ndarray:
    """A trimap around a binary object mask: HW uint8, 0 = background, 128 = unknown, 255 = foreground.

    mask: HW bool, True = the object (anything masks.to_mask accepts; an empty mask is a UserError).
    unknown: half-width in px of the unknown band: the pixels within ``unknown`` px outside the mask edge and
        within ``unknown`` px inside it (inside, at most half the object's thickness, so a thin object keeps
        some foreground). Default: default_unknown(mask area), 3% of sqrt(area) clipped to 6..12 px. 0 gives
        a hard trimap (no band). At most UNKNOWN_MAX.
    probabilities: optional HW float in [0, 1], the segmenter's confidence that a pixel is the object (e.g.
        the sigmoid of SAM's logits upsampled to the image). Pixels with a probability strictly between
        PROBABILITY_UNSURE (0.1, 0.9) and within UNKNOWN_MAX px of the mask edge join the unknown band.

    Outside the band, pixels of the mask are foreground and the rest background. The image border is not an
    edge (a mask touching it gets no band there), as in masks.signed_distance.
    """
    m = masks.to_mask(mask)
    if unknown is None:
        width = default_unknown(int(m.sum()))
    else:
        if isinstance(unknown, (bool, np.bool_)) or not isinstance(unknown, (int, np.integer)):
            raise UserError(f"unknown must be a whole number of px in 0..{UNKNOWN_MAX}, got {unknown!r}")
        width = int(unknown)
        if not 0 <= width <= UNKNOWN_MAX:
            raise UserError(f"unknown must be a whole number of px in 0..{UNKNOWN_MAX}, got {width}")
    p = None if probabilities is None else _check_probabilities(probabilities, m.shape)

    out = np.zeros(m.shape, np.uint8)
    reach = UNKNOWN_MAX if p is not None else width
    # distances up to `reach` are exact in the mask's box padded by reach + 1 (see masks.grow)
    rows, cols = _bbox_pad(m, reach + 1)
    mc = m[rows, cols]
    region = out[rows, cols]
    region[mc] = FOREGROUND
    if mc.all():  # no edge: all foreground
        return out
    sd = masks.signed_distance(mc)
    thickness = float(sd.max())
    inner = min(width, int(thickness // 2))
    band = (sd >= -width) & (sd <= inner) if width > 0 else np.zeros(mc.shape, bool)
    if p is not None:
        pc = p[rows, cols]
        band |= (pc > PROBABILITY_UNSURE[0]) & (pc < PROBABILITY_UNSURE[1]) & (np.abs(sd) <= UNKNOWN_MAX)
    region[band] = UNKNOWN
    return out


# ----------------------------------------------------------------------------------------------------------
# 2. The alpha matte


def _solve_cf(image: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """pymatting's closed-form matte of one tile: image HWC uint8 RGB, tri HW uint8 trimap -> HW float alpha."""
    import pymatting  # numba-compiled: imported on first use, never at import time

    img = image.astype(np.float64) / 255.0
    t = np.full(tri.shape, 0.5)
    t[tri == BACKGROUND] = 0.0
    t[tri == FOREGROUND] = 1.0
    return pymatting.estimate_alpha_cf(img, t, preconditioner=_preconditioner)


ICHOL_SHIFTS = (1e-4, 1e-3, 1e-2, 0.1, 1.0)
"""Diagonal shifts tried, in order, for the incomplete Cholesky preconditioner (pymatting.ichol). pymatting
starts at 0, which fails on many tiles and then prints a warning on stdout before the next shift: a small
shift up front keeps stdout clean (the CLI writes JSON there) and only weakens the preconditioner a little."""


def _preconditioner(A):
    """pymatting's incomplete Cholesky with ICHOL_SHIFTS and room for the factor sized to the matrix
    (pymatting's default reserves 4 GB of virtual memory per call)."""
    from pymatting.preconditioner.ichol import ichol

    return ichol(A, shifts=list(ICHOL_SHIFTS), max_nnz=int(8 * A.nnz + 1024))


def _tiles(unknown: np.ndarray):
    """(core, window) slice pairs of the TILE grid over `unknown` (HW bool), for tiles holding unknown px."""
    h, w = unknown.shape
    for y in range(0, h, TILE):
        for x in range(0, w, TILE):
            if not unknown[y : y + TILE, x : x + TILE].any():
                continue
            core = (slice(y, min(y + TILE, h)), slice(x, min(x + TILE, w)))
            window = (
                slice(max(y - MATTE_MARGIN, 0), min(y + TILE + MATTE_MARGIN, h)),
                slice(max(x - MATTE_MARGIN, 0), min(x + TILE + MATTE_MARGIN, w)),
            )
            yield core, window


def _known_window(tri: np.ndarray, core: tuple[slice, slice], window: tuple[slice, slice]) -> tuple[slice, slice]:
    """``window``, or a wider one (margins doubled, up to KNOWN_REACH px) until it holds both foreground and
    background pixels, which the closed-form matte needs."""
    h, w = tri.shape
    margin = MATTE_MARGIN
    while True:
        known = tri[window]
        if (known == FOREGROUND).any() and (known == BACKGROUND).any():
            return window
        if margin >= KNOWN_REACH or window == (slice(0, h), slice(0, w)):
            return window
        margin *= 2
        window = (
            slice(max(core[0].start - margin, 0), min(core[0].stop + margin, h)),
            slice(max(core[1].start - margin, 0), min(core[1].stop + margin, w)),
        )


def _count_tiles(unknown: np.ndarray) -> int:
    h, w = unknown.shape
    ny, nx = -(-h // TILE), -(-w // TILE)
    padded = np.zeros((ny * TILE, nx * TILE), bool)
    padded[:h, :w] = unknown
    return int(padded.reshape(ny, TILE, nx, TILE).any(axis=(1, 3)).sum())


def _work_scale(unknown: np.ndarray) -> float:
    """1.0, or the largest scale (< 1) at which the unknown band needs at most MAX_TILES tiles."""
    scale = 1.0
    small = unknown
    while _count_tiles(small) > MAX_TILES:
        scale *= 0.8
        h, w = unknown.shape
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        small = cv2.resize(unknown.view(np.uint8), size, interpolation=cv2.INTER_AREA) > 0
    return scale


def _downscale_trimap(tri: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The trimap at another size (width, height): a pixel stays known only where its whole area is known."""
    fg = cv2.resize((tri == FOREGROUND).astype(np.float32), size, interpolation=cv2.INTER_AREA)
    bg = cv2.resize((tri == BACKGROUND).astype(np.float32), size, interpolation=cv2.INTER_AREA)
    out = np.full(fg.shape, UNKNOWN, np.uint8)
    out[fg >= 0.999] = FOREGROUND
    out[bg >= 0.999] = BACKGROUND
    return out


def _matte(image: np.ndarray, tri: np.ndarray) -> tuple[np.ndarray, dict]:
    """alpha_matte's work on checked inputs; returns (alpha, info: scale, tiles, crop (w, h), seconds)."""
    t0 = time.perf_counter()
    alpha = (tri == FOREGROUND).astype(np.float32)
    unknown = tri == UNKNOWN
    info = {"scale": 1.0, "tiles": 0, "crop": (0, 0), "seconds": 0.0}
    if not unknown.any():
        return alpha, info
    rows, cols = _bbox_pad(unknown, MATTE_MARGIN)
    img_c, tri_c, unk_c = image[rows, cols], tri[rows, cols], unknown[rows, cols]
    h, w = tri_c.shape
    info["crop"] = (w, h)
    scale = _work_scale(unk_c)
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        img_w = cv2.resize(img_c, size, interpolation=cv2.INTER_AREA)
        tri_w = _downscale_trimap(tri_c, size)
    else:
        img_w, tri_w = img_c, tri_c
    alpha_w = (tri_w == FOREGROUND).astype(np.float32)
    for core, window in _tiles(tri_w == UNKNOWN):
        window = _known_window(tri_w, core, window)
        known = tri_w[window]
        has_fg, has_bg = bool((known == FOREGROUND).any()), bool((known == BACKGROUND).any())
        if not (has_fg and has_bg):
            # a matte needs both sides: with none of one within reach (a wide band of unsure probabilities,
            # a tile deep inside one side), the unknown pixels go to the side that is there (0.5 if neither)
            alpha_w[core][tri_w[core] == UNKNOWN] = 1.0 if has_fg else 0.0 if has_bg else 0.5
            info["one_sided"] = info.get("one_sided", 0) + 1
            continue
        a = _solve_cf(np.ascontiguousarray(img_w[window]), known)
        oy, ox = core[0].start - window[0].start, core[1].start - window[1].start
        ch, cw = core[0].stop - core[0].start, core[1].stop - core[1].start
        alpha_w[core] = a[oy : oy + ch, ox : ox + cw]
        info["tiles"] += 1
    if scale < 1.0:
        alpha_w = cv2.resize(alpha_w, (w, h), interpolation=cv2.INTER_LINEAR)
    alpha[rows, cols][unk_c] = np.clip(alpha_w[unk_c], 0.0, 1.0)
    info["scale"] = scale
    info["seconds"] = time.perf_counter() - t0
    logger.debug("matte: crop %dx%d, scale %.3f, %d tiles, %.2f s", w, h, scale, info["tiles"], info["seconds"])
    return alpha, info


def alpha_matte(image, trimap, *, method: str = "cf") -> np.ndarray:
    """The object's alpha matte from an image and a trimap: HW float32 in [0, 1], 1 = the object.

    image: HWC uint8 RGB (RGBA: colour channels; HW uint8 grey is repeated), the trimap's size.
    trimap: HW uint8, 0 = background, 128 = unknown, 255 = foreground (see ``trimap``); other values are a
        UserError.
    method: "cf", closed-form matting (pymatting.estimate_alpha_cf, on float64 RGB in [0, 1]).

    Known pixels keep their trimap value (0 or 1). The matte is solved only on the unknown band's bounding box
    plus MATTE_MARGIN px, in TILE-px tiles with MATTE_MARGIN px of context, skipping tiles without unknown
    pixels; past MAX_TILES tiles the crop is downscaled for the solve (see the module doc for the limits).
    """
    if method not in METHODS:
        raise UserError(f"unknown matting method {method!r}; choose one of {', '.join(METHODS)}")
    tri = _check_trimap(trimap)
    img = _check_image(image)
    if img.shape[:2] != tri.shape:
        raise UserError(
            f"the image is {img.shape[1]}x{img.shape[0]} but the trimap is {tri.shape[1]}x{tri.shape[0]} "
            "(width x height)"
        )
    return _matte(img, tri)[0]


# ----------------------------------------------------------------------------------------------------------
# 3. The fringe width


def fringe_width(mask, alpha) -> float:
    """How far (px) outside the binary mask the object's soft edge reaches; 0.0 for a hard edge.

    mask: HW bool, True = the object (anything masks.to_mask accepts, non-empty).
    alpha: HW float in [0, 1], the object's matte (alpha_matte), the mask's size.

    Definition. Every pixel outside the mask within FRINGE_REACH px of it belongs to the edge piece of its
    nearest mask pixel (pieces: the mask's pixels grouped in FRINGE_PIECE x FRINGE_PIECE px blocks) and to the
    ring round(distance) (1 = the first ring outside). Per piece, the alpha profile is the mean alpha of each
    ring; the piece's fringe is where that profile first drops to ALPHA_VISIBLE (0.1, a 10% tint of the
    object's colour), interpolated linearly between rings (0 when ring 1 is already below). The mask's fringe
    width is the FRINGE_PERCENTILE (90th) percentile of the pieces' fringes, weighted by their length (their
    ring-1 pixels): growing the mask by ceil(fringe) px covers the soft edge along 90% of the outline, and a
    soft edge on part of the object only (hair) still counts. Ring means, not single pixels, because
    closed-form mattes leave scattered small alphas on textured backgrounds. For a linear ramp of alpha from
    1 at the mask edge to 0 at k px outside, the width is about k. It can be no larger than the trimap's
    band outside the mask, nor FRINGE_REACH.
    """
    m = masks.to_mask(mask)
    a = np.asarray(alpha)
    if a.dtype.kind not in "fiub" or a.shape != m.shape:
        raise UserError(f"alpha must be an HW float array of the mask's shape {m.shape}, got {a.dtype} {a.shape}")
    if m.all() or not ((a > ALPHA_VISIBLE / 2) & ~m).any():
        return 0.0
    # the mask's box padded by the reach: every ring pixel and its nearest mask pixel lie inside it
    rows, cols = _bbox_pad(m, FRINGE_REACH + 1)
    mc = m[rows, cols]
    ac = a[rows, cols]
    dist, labels = cv2.distanceTransformWithLabels(
        (~mc).view(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5, labelType=cv2.DIST_LABEL_PIXEL
    )
    ring_px = (dist > 0) & (dist < FRINGE_REACH + 0.5)
    ring = np.rint(dist[ring_px]).astype(np.int64)
    # labels number the mask pixels in raster order: label -> the mask pixel -> its block (edge piece)
    ys, xs = np.nonzero(mc)
    block_cols = -(-mc.shape[1] // FRINGE_PIECE)
    piece_of_label = (ys // FRINGE_PIECE) * block_cols + xs // FRINGE_PIECE
    piece = piece_of_label[labels[ring_px] - 1]
    del labels, dist, ys, xs
    pieces, piece = np.unique(piece, return_inverse=True)
    n_rings = FRINGE_REACH + 1
    key = piece * n_rings + ring
    size = len(pieces) * n_rings
    count = np.bincount(key, minlength=size).reshape(-1, n_rings)
    total = np.bincount(key, weights=np.clip(ac[ring_px], 0.0, 1.0), minlength=size).reshape(-1, n_rings)
    mean = total / np.maximum(count, 1)
    widths = np.zeros(len(pieces))
    for i in range(len(pieces)):
        profile = mean[i, 1:]
        below = np.flatnonzero((profile <= ALPHA_VISIBLE) | (count[i, 1:] == 0))
        t = int(below[0]) if below.size else len(profile)  # rings 1..t are above the threshold
        if t == 0:
            continue
        if t < len(profile):  # interpolate between ring t (above) and ring t + 1 (below)
            hi, lo = profile[t - 1], profile[t]
            widths[i] = t + (hi - ALPHA_VISIBLE) / max(hi - lo, 1e-9)
        else:
            widths[i] = float(t)
    weight = count[:, 1].astype(np.float64)
    if weight.sum() == 0:
        return 0.0
    order = np.argsort(widths)
    cumulative = np.cumsum(weight[order]) / weight.sum()
    return float(widths[order][np.searchsorted(cumulative, FRINGE_PERCENTILE / 100.0)])


# ----------------------------------------------------------------------------------------------------------
# 4. Auto growth


def auto_growth(image, mask, *, feather: float, probabilities=None, unknown: int | None = None) -> AutoGrowth:
    """The growth that covers the object's measured fringe plus the blend's feather band.

    image: HWC uint8 RGB (RGBA: colour channels; HW uint8 grey is repeated).
    mask: HW bool, True = the object as segmented (tight), the image's size; the mask as a whole is measured.
    feather: the width in px of the blend's inward transition band that will be used with the grown mask:
        blend.default_feather(method) for the blend's method (4 for "seamless", 8 for "inward", 0 for
        "hard"). The grown mask is shown on the canvas and then blended with grow=0, so pass the feather the
        blend will use then, and not default_feather(method, grow=px), which widens the transition to fill a
        growth band the blend itself applies.
    probabilities: optional HW float in [0, 1] (see ``trimap``), e.g. the sigmoid of SAM's upsampled logits.
    unknown: the trimap's band half-width in px (default: default_unknown of the mask's area). The fringe can
        be measured up to this width; the note says when the matte reaches the band's edge.

    Returns AutoGrowth(px=min(ceil(fringe + feather), MAX_GROWTH_PX), fringe, feather, note). The work is done
    on the mask's bounding box plus the band, never on the whole photo (see the module doc for the limits).
    """
    img = _check_image(image)
    h, w = img.shape[:2]
    m = masks.to_mask(mask, size=(w, h))
    try:
        feather = float(feather)
    except (TypeError, ValueError):
        raise UserError(f"feather must be a number of px >= 0, got {feather!r}") from None
    if not (math.isfinite(feather) and feather >= 0):
        raise UserError(f"feather must be a number of px >= 0, got {feather}")
    p = None if probabilities is None else _check_probabilities(probabilities, m.shape)
    width = default_unknown(int(m.sum())) if unknown is None else unknown

    t0 = time.perf_counter()
    rows, cols = _bbox_pad(m, UNKNOWN_MAX + MATTE_MARGIN + 2)
    mc = m[rows, cols]
    tri = trimap(mc, unknown=width, probabilities=None if p is None else p[rows, cols])
    alpha, info = _matte(img[rows, cols], tri)
    fringe = fringe_width(mc, alpha)
    total = feather + fringe
    px = min(math.ceil(total - 1e-9), MAX_GROWTH_PX)
    note = f"soft edge {fringe:.1f} px + feather {feather:g} px -> grow {px} px"
    if p is None and width > 0 and fringe >= width - 0.5:
        note += f" (the edge reaches the {width} px matting band: it may be wider)"
    if info["scale"] < 1.0:
        note += f" (matte at {info['scale']:.0%} resolution: a large band)"
    if total > MAX_GROWTH_PX:
        note += f" (capped at {MAX_GROWTH_PX} px)"
    logger.info("auto growth: %s; %.2f s", note, time.perf_counter() - t0)
    return AutoGrowth(px=int(px), fringe=fringe, feather=feather, note=note)
