"""Effects of an object on its surroundings: suggest the cast shadow of an object selected for removal.

Removing an object and leaving its shadow gives a "ghost shadow". ``suggest_shadow`` proposes the shadow as a
separate region that the user sees (in another colour) and adds to the mask with one click; it is never added
implicitly (the mask the user gave is the contract).

Model. An object standing on a surface, lit by a distant light (the sun, a far lamp), casts a shadow that starts at
its base and is, to a first approximation, its silhouette mapped by a shear and a vertical scale that fix the base
row: a point at height t above the base goes to (x + a t, base + b t); b > 0 falls in front of the object (down
the picture), b < 0 behind it, |a| large and |b| small to the side. Inside, the shadow multiplies the surface by one
factor (log luminance drops by a constant d, chromaticity is unchanged); its edge is a soft step (the penumbra).
Dark texture differs: its edges do not follow the object's outline, it changes hue, and it is not darker by one
factor all along a boundary.

1. For each projection (a, b) on a grid, the object's outline is mapped, and across the mapped outline (along the
   mapped normals, EDGE_OFFSET either side) the log luminance outside and inside are compared. A projection scores
   by the sum of these contrasts, each clipped to +-CONTRAST_CAP so that one strong edge of dark texture cannot
   outvote the rest, over all outline points (hidden ones, behind the object or on its grown fringe, count 0; a
   point whose hue changes across counts at most 0). Around the TOP_PROJECTIONS best, shapes the plain projection
   does not give are scored too, each at a small cost (SHAPE_COST, LIFT_COST): the ground line through the object's
   lowest point tilted (TILTS; the object's base is not one row), the object hovering above it (LIFTS), and a solid
   object's footprint reaching up the picture (DEPTHS; its shadow is the projection swept up by it). The best is
   refined on a finer grid of (a, b).
2. The darkening d is the median contrast across its outline; no shadow when it is under MIN_DARKENING, or when
   fewer than MIN_SUPPORT of the visible outline points are darker inside by at least d / 2 (dark texture lines up
   with part of an outline, a shadow's edge is darker all along).
3. A shadow darkens its whole inside, not only its edge, and keeps its hue: the median log luminance inside the
   projection (away from its edge and the object) is compared with a ring around it; no shadow when that is under
   MIN_DARKENING too, or when the median chromaticity changes by more than CHROMA_TOLERANCE. When the best projection
   fails these tests, the alternatives of step 4 (the best plain projection, the OTHER_SHAPES next best) are tested
   in turn (FALLBACK; their outline's support must reach MIN_SUPPORT + FALLBACK_MARGIN) and the first that passes
   is taken: a shape variant that fits dark texture along the outline can outscore the true, plainer shadow.
   The penumbra's width comes from how the contrast grows with the distance from the edge (an erf profile).
4. The rendered shadow (the mapped silhouette s blurred by the penumbra, darkening 1 - exp(-d s)) where it darkens by
   more than VISIBLE_DARKENING (at least out to s = 0.5), outside the object, and its reshaping by pixel evidence
   (REFINE): in a zone ZONE object sizes around it, each pixel's darkening against the lit surface (log luminance
   and chromaticity filled in from outside the zone by normalized convolution), hue-checked (PIXEL_CHROMA), grown by
   hysteresis (HIGH x d seeds inside the rendered shadow, LOW x d or LOW_ABS to grow), plus the rendered shadow where
   it is darker by KEEP_TEMPLATE x d. Both, and both again for the OTHER_SHAPES next best projections and the best
   plain projection (no tilt, lift or footprint; ALTERNATIVES), are candidates; the one whose own outline is darker
   inside by d / 2 along the largest fraction of its length wins (pixel evidence follows dark texture on busy
   surfaces, the rendered projection misses a 3D object's fatter shadow: the outline tells which one fits).
5. Ambient occlusion (OCCLUSION), looked for whether or not a cast shadow was found: around the footprint (the
   object's lowest FOOT, swept up the picture by FOOT_DEPTHS), the darkening against the lit surface (filled in from
   outside OCC_REACH object widths) is fitted as c + amp exp(-distance / decay) for each decay in DECAYS (least
   squares on samples OCC_STEP px apart, the cast shadow left out); it is occlusion when the fit's t statistic
   reaches OCC_MIN_T, amp is between OCC_MIN_AMP and OCC_MAX_AMP, the darkening is there left and right of the
   footprint (OCC_SIDES of amp each) and the hue is kept; the suggestion adds where the fitted darkening exceeds
   VISIBLE_DARKENING.

Limits (bench/effects.py, seven kinds of shadow on real photos): the fit finds a shadow whose outline is close to one
of these projections; a 3D object's shadow under an area light or on bumpy ground is found in part or not at all;
ambient occlusion is found on plain ground only, and its extent only roughly (the footprint is guessed from the
object's outline); thin, weak shadows (nearly edge-on, darkening under ~30%) are often missed; surfaces with stripes
of their own colour can give a small false suggestion. A hovering object's detached shadow is found on plain ground
only when the lift's cost is low (then grass stripes fit too).

With ``light`` the projections are restricted to those falling away from the light (within LIGHT_CONE).
The search runs only in a box of a few object sizes around the object, at a working scale where the object is
at most WORK_SIDE px, so a large photo costs about as much as a small one.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.special import erfinv

from ..errors import UserError

# Tunables (physical meaning first; checked with bench/effects.py on several seeds, not fitted to one).
MIN_DARKENING = 0.15  # a shadow darkens its surface by at least this factor (1 - exp(-d)), else "no shadow"
MIN_SUPPORT = 0.5  # ... at no fewer than this fraction of the visible points of its outline
CONTRAST_CAP = 0.3  # a point's log contrast counts at most this much towards a projection's score
VISIBLE_DARKENING = 0.15  # the suggestion covers where the rendered shadow darkens by more than this
MIN_LEVEL = 0.3  # ... but never beyond this level of the rendered coverage s (0-1)
MAX_LEVEL = 0.5  # ... and always out to this one (the penumbra's middle: the shadow's geometric edge)
CHROMA_TOLERANCE = 0.08  # max |chromaticity change| (r, g, b fractions) across a shadow's edge
MIN_VISIBLE = 0.15  # a projection needs this fraction of its outline visible (not behind the object, in the box)
SEARCH_REACH = 1.6  # the search box reaches this many object sizes beyond the object's box
SHEARS = np.linspace(-2.0, 2.0, 21)  # a: sideways shift per unit of height (coarse grid)
SCALES = np.concatenate([-np.linspace(1.0, 0.1, 10), np.linspace(0.1, 1.0, 10)])  # b: along the picture's y
EDGE_OFFSET = 0.05  # the contrast is sampled this many object sizes either side of the outline
WORK_SIDE = 96  # the object's longer side at the working scale (px)
MIN_AREA_FRACTION = 0.03  # a suggestion smaller than this fraction of the object's area is dropped
LIGHT_CONE = 60.0  # with a light direction, the shadow's direction is within this many degrees of away-from-light
TOP_PROJECTIONS = 6  # projections of the coarse grid tried with other ground lines and footprints
TILTS = np.array([-0.3, -0.15, 0.0, 0.15, 0.3])  # slope of the ground line through the object's lowest point
LIFTS = np.array([0.0, 0.12, 0.25])  # the ground line this many object sizes below the object (it hovers)
DEPTHS = np.array([0.0, 0.12, 0.25, 0.4])  # a solid's footprint reaches this many object sizes up the picture
SHAPE_COST = 0.03  # score cost of the largest tilt and depth (each), so the plain projection wins ties
LIFT_COST = 0.01  # ... and of the largest lift
REFINE = True  # reshape the rendered shadow by pixel evidence (a candidate shape, see step 4)
OTHER_SHAPES = 2  # the next best projections after the best are candidate shapes too
FALLBACK = True  # when the best projection fails the tests of steps 2-3, the alternatives are tested in turn ...
FALLBACK_MARGIN = 0.15  # ... and one is taken with at least MIN_SUPPORT + this fraction of its outline darker
ALTERNATIVES = True  # the best plain projection's shapes are candidates too when a shape variant won
ZONE = 0.12  # pixel evidence is looked at this many object sizes around the rendered shadow
PIXEL_BLUR = 1.0  # px at the working scale
PIXEL_CHROMA = 0.06  # max chromaticity change of a shadow pixel against the lit surface
HIGH = 0.6  # hysteresis: seeds darker than this fraction of the darkening, inside the rendered shadow
LOW = 0.35  # ... grown over pixels darker than this fraction
LOW_ABS = 0.12  # ... and this log darkening
KEEP_TEMPLATE = 0.15  # the rendered shadow is kept where darker than this fraction of the darkening
OCCLUSION = True  # look for ambient occlusion (darkening that fades with the distance from the footprint)
FOOT = 0.04  # the footprint: the object's lowest part, this fraction of its height, ...
FOOT_DEPTHS = np.array([0.0, 0.15, 0.3])  # ... reaching this many object widths up the picture (behind it)
DECAYS = np.array([0.06, 0.1, 0.15, 0.2, 0.27])  # occlusion's decay lengths tried, fractions of the object's width
OCC_REACH = 0.8  # occlusion is looked for this many object widths around the footprint
OCC_STEP = 3  # px between the samples of the fit
OCC_MIN_T = 2.0  # evidence (a matched filter's t statistic) needed for occlusion
OCC_MIN_AMP = 0.2  # ... and its log darkening at the footprint
OCC_MAX_AMP = 1.2  # ... but at most this (70% darker: a darker halo is a shadow or dark ground, not occlusion)
OCC_SIDES = 0.4  # ... and left and right of the footprint each at least this fraction of it


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


def _disk(r: float) -> np.ndarray:
    r = max(1, int(round(r)))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def _outline(obj: np.ndarray, max_points: int = 240) -> tuple[np.ndarray, np.ndarray]:
    """The object's outer outline as (x, y) points (N x 2 float) and their outward unit normals (N x 2)."""
    contours, _ = cv2.findContours(obj.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    pts = np.concatenate([c.reshape(-1, 2) for c in contours]).astype(np.float64)
    if len(pts) > max_points:
        pts = pts[np.linspace(0, len(pts) - 1, max_points).round().astype(int)]
    soft = cv2.GaussianBlur(obj.astype(np.float32), (0, 0), 1.5)
    gy, gx = np.gradient(soft)
    ix, iy = pts[:, 0].astype(int), pts[:, 1].astype(int)
    normals = -np.stack([gx[iy, ix], gy[iy, ix]], axis=1).astype(np.float64)
    norm = np.linalg.norm(normals, axis=1)
    keep = norm > 1e-6
    return pts[keep], normals[keep] / norm[keep, None]


def _jacobian(a, b, tilt):
    """The projection's linear part [[J00, J01], [J10, J11]] for arrays a, b, tilt (H,)."""
    return 1 + a * tilt, -a, tilt * (1 + b), -b


def _project(pts, normals, base, a, b, tilt=0.0, lift=0.0, depth=0.0, low_x=0.0):
    """Map outline points and normals to the shadow, for arrays (H,) of the projection's parameters.

    A point (x, y) stands t = base + lift + tilt (x - low_x) - y above the ground line (through the object's lowest
    point, ``lift`` below it, slope ``tilt``) and goes to (x + a t, base + lift + tilt (x - low_x) + b t). A solid
    object's footprint reaches ``depth`` px up the picture (behind): its shadow is the projection swept up by up to
    ``depth``, so mapped points whose normal faces up move up by it.
    Returns points (H x N x 2) and unit normals (H x N x 2); normals map by the inverse transpose, so outward stays
    outward.
    """
    h = len(np.atleast_1d(a))
    a, b = np.asarray(a, float).reshape(h, 1), np.asarray(b, float).reshape(h, 1)
    tilt = np.broadcast_to(np.asarray(tilt, float).reshape(-1, 1), (h, 1))
    lift = np.broadcast_to(np.asarray(lift, float).reshape(-1, 1), (h, 1))
    depth = np.broadcast_to(np.asarray(depth, float).reshape(-1, 1), (h, 1))
    ground = base + lift + tilt * (pts[None, :, 0] - low_x)
    t = ground - pts[None, :, 1]
    j00, j01, j10, j11 = _jacobian(a, b, tilt)
    nx, ny = normals[None, :, 0], normals[None, :, 1]
    det = j00 * j11 - j01 * j10
    n = np.stack([j11 * nx - j10 * ny, -j01 * nx + j00 * ny], axis=-1) * np.sign(det)[..., None]
    n = n / np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-9)
    up = np.clip(0.5 - 2.5 * n[..., 1], 0.0, 1.0)
    xy = np.stack([pts[None, :, 0] + a * t, ground + b * t - depth * up], axis=-1)
    return xy, n


def _base(obj: np.ndarray) -> tuple[float, float]:
    """The base of ``obj`` (HW bool) that _project's ground line runs through: its lowest row + 0.5 (px) and the
    mean x of that row."""
    base = float(np.nonzero(obj)[0].max()) + 0.5
    return base, float(np.nonzero(obj[int(base)])[0].mean())


def _shape_cost(cand: np.ndarray, side: float) -> np.ndarray:
    """The score cost of each candidate (rows a, b, tilt, lift, depth; lift and depth in px, ``side`` the object's
    size): SHAPE_COST at the largest tilt and at the largest depth, LIFT_COST at the largest lift, so that the plain
    projection wins ties."""
    return SHAPE_COST * (np.abs(cand[:, 2]) / TILTS.max() + cand[:, 4] / (DEPTHS.max() * side)) + (
        LIFT_COST * cand[:, 3] / (LIFTS.max() * side))


def _render(obj, base, a, b, tilt=0.0, lift=0.0, depth=0.0, low_x=0.0) -> np.ndarray:
    """The hard shadow (HW uint8 0/1) of ``obj`` for one projection (see _project)."""
    c = base + lift - tilt * low_x
    A = np.float32([[1 + a * tilt, -a, a * c], [tilt * (1 + b), -b, (1 + b) * c]])
    hard = cv2.warpAffine(obj.astype(np.uint8), A, (obj.shape[1], obj.shape[0]), flags=cv2.INTER_NEAREST)
    if depth >= 1:
        k = np.ones((int(round(depth)) + 1, 1), np.uint8)
        hard = cv2.dilate(hard, k, anchor=(0, 0))
    return hard


def _sample(img: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Bilinear samples of HW (or HWC, C <= 4) float32 ``img`` at (x, y) points (H x N x 2); outside = nan."""
    h, w = img.shape[:2]
    mx = np.ascontiguousarray(xy[..., 0], dtype=np.float32)
    my = np.ascontiguousarray(xy[..., 1], dtype=np.float32)
    out = cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
    out[~((mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1))] = np.nan
    return out


def _contrasts(feat: np.ndarray, blocked: np.ndarray, xy: np.ndarray, n: np.ndarray, offset: float):
    """Across-edge log-luminance contrast (outside - inside) and chromaticity change at mapped outline points.

    feat: HW x 4 float32 (log luminance, r, g, b fractions). blocked: HW float32, 1 = object or its fringe.
    Returns contrast (H x N, nan where a point is hidden or out of the box) and the max chromaticity change.
    """
    out = _sample(feat, xy + offset * n)
    inn = _sample(feat, xy - offset * n)
    hidden = (_sample(blocked, xy + offset * n) > 0) | (_sample(blocked, xy - offset * n) > 0) | (
        _sample(blocked, xy) > 0)
    contrast = out[..., 0] - inn[..., 0]
    contrast[hidden | np.isnan(contrast)] = np.nan
    chroma = np.abs(out[..., 1:] - inn[..., 1:]).max(axis=-1)
    return contrast, chroma


def _scores(contrast: np.ndarray, chroma: np.ndarray, n_points: int) -> np.ndarray:
    """Each projection's evidence: its outline's contrasts, clipped to +-CONTRAST_CAP (one strong edge of dark
    texture cannot outvote the rest) and summed over the visible points, over all points (a hue change across
    counts as no evidence for a shadow). H x N -> H."""
    evidence = np.where(chroma < CHROMA_TOLERANCE, contrast, np.minimum(contrast, 0.0))
    visible = np.isfinite(evidence)
    score = np.clip(np.where(visible, evidence, 0.0), -CONTRAST_CAP, CONTRAST_CAP).sum(axis=1) / n_points
    score[(visible.sum(axis=1) < MIN_VISIBLE * n_points) | (visible.sum(axis=1) < 8)] = -np.inf
    return score


def _fill(values: np.ndarray, known: np.ndarray, sigma: float) -> np.ndarray:
    """``values`` (HW or HWC float32) where ``known`` (HW bool) interpolated into the rest by normalized
    convolution: Gaussian sigma, then 3 sigma where too little is known nearby."""
    out = None
    k = known.astype(np.float32)
    for sg in (sigma, 3 * sigma):
        w = cv2.GaussianBlur(k, (0, 0), sg)
        v = cv2.GaussianBlur(values * (k if values.ndim == 2 else k[..., None]), (0, 0), sg)
        est = v / np.maximum(w, 1e-6)[..., None] if values.ndim == 3 else v / np.maximum(w, 1e-6)
        if out is None:
            out, ok = est, w > 0.05
        else:
            sel = ~ok if values.ndim == 2 else ~ok[..., None].repeat(values.shape[2], 2)
            out = np.where(sel, est, out)
    return out


def _edge_agreement(mask, feat, blocked, d, offset) -> float:
    """The fraction of the visible outline of ``mask`` (HW bool) that is darker inside than outside by at least
    d / 2 (log luminance, samples ``offset`` px either side along the normals, hue kept)."""
    if not mask.any():
        return 0.0
    pts, normals = _outline(mask)
    if len(pts) < 8:
        return 0.0
    c, hue = _contrasts(feat, blocked, pts[None], normals[None], offset)
    c = np.where(hue < CHROMA_TOLERANCE, c, np.minimum(c, 0.0))[0]
    valid = c[np.isfinite(c)]
    return float(np.mean(valid > 0.5 * d)) if len(valid) >= 8 else 0.0


def _fill_coarse(values: np.ndarray, known: np.ndarray, sigma: float, step: int = 4) -> np.ndarray:
    """_fill (values: HW or HWC float32, known: HW bool) computed on a grid ``step`` times coarser, then
    interpolated back: the same estimate for a wide sigma at a fraction of the cost."""
    h, w = values.shape[:2]
    if min(h, w) < 4 * step:
        return _fill(values, known, sigma)
    size = (max(1, w // step), max(1, h // step))
    k = cv2.resize(known.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    kk = known if values.ndim == 2 else known[..., None]
    v = cv2.resize(values * kk, size, interpolation=cv2.INTER_AREA)
    v = v / np.maximum(k if values.ndim == 2 else k[..., None], 1e-6)
    small = _fill(v.astype(np.float32), k > 0.5, sigma / step)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _refine(shadow, s, loglum, chroma, fringe, obj, d, side):
    """Reshape the rendered shadow by pixel evidence: the darkening of each pixel against the lit surface (filled in
    from around a zone a bit larger than the shadow), with the surface's chromaticity, grown by hysteresis from
    pixels inside the rendered shadow."""
    zone = cv2.dilate(shadow.astype(np.uint8), _disk(ZONE * side)).astype(bool) & ~fringe
    known = ~zone & ~fringe
    if known.sum() < 20:
        return shadow
    lum = cv2.GaussianBlur(loglum, (0, 0), PIXEL_BLUR)
    lit = _fill_coarse(lum, known, 0.3 * side)
    darker = lit - lum
    chroma_lit = _fill_coarse(chroma, known, 0.3 * side)
    same = np.abs(chroma - chroma_lit).max(axis=2) < PIXEL_CHROMA
    low = max(LOW * d, LOW_ABS)
    weak = (zone & (darker > low) & same).astype(np.uint8)
    strong = zone & (darker > HIGH * d) & same & (s >= 0.5)
    n, labels = cv2.connectedComponents(weak, connectivity=8)
    keep = np.zeros(n, bool)
    keep[np.unique(labels[strong])] = True
    keep[0] = False
    region = keep[labels]
    region = cv2.morphologyEx(region.astype(np.uint8), cv2.MORPH_CLOSE, _disk(max(1.0, 0.02 * side))).astype(bool)
    region |= shadow & (darker > KEEP_TEMPLATE * d)
    return region & ~obj


@dataclass
class _Cast:
    """The cast shadow at the working scale: mask (HW bool, None when there is none), why, its log darkening d and
    the fraction of its edge that agrees (0 when there is none)."""

    mask: np.ndarray | None
    reason: str
    d: float = 0.0
    agree: float = 0.0


def _cast_shadow(feat, obj, fringe, side, direction) -> _Cast:
    """Steps 1-4 of the module's docstring at the working scale. feat: HW x 4 float32 (log luminance, r, g, b
    fractions); obj, fringe: HW bool (the object, grown by its fringe); side: the object's size (px);
    direction: unit (x, y) towards the light or None."""
    loglum, chroma = feat[..., 0], feat[..., 1:]
    blocked = fringe.astype(np.float32)
    pts, normals = _outline(obj)
    base, low_x = _base(obj)
    offset = max(2.0, EDGE_OFFSET * side)

    # Score every projection on the grid; then, around the best few, ground lines that are tilted or below the
    # object (it hovers) and solid footprints; then refine the best on a finer grid.

    def evaluate(a, b, tilt=0.0, lift=0.0, depth=0.0):
        xy, n = _project(pts, normals, base, a, b, tilt, lift, depth, low_x)
        contrast, hue = _contrasts(feat, blocked, xy, n, offset)
        return _scores(contrast, hue, len(pts))

    def away(a, b):
        if direction is None:
            return np.ones(len(a), bool)
        # From the object's centre (height t above the base) to the shadow's: (a t, (b + 1) t).
        way = np.stack([a, b + 1.0], axis=1)
        way = way / np.maximum(np.linalg.norm(way, axis=1, keepdims=True), 1e-9)
        return way @ -direction >= np.cos(np.radians(LIGHT_CONE))

    a_grid, b_grid = (g.ravel() for g in np.meshgrid(SHEARS, SCALES))
    allowed = away(a_grid, b_grid)
    if not allowed.any():
        return _Cast(None, "no shadow: no projection falls away from the light")
    a_grid, b_grid = a_grid[allowed], b_grid[allowed]
    score = evaluate(a_grid, b_grid)
    plain, others = None, []
    if np.isfinite(score).any():
        k = int(np.argmax(score))
        plain = (float(a_grid[k]), float(b_grid[k]), 0.0, 0.0, 0.0)
    top = np.argsort(-score)[:TOP_PROJECTIONS]
    top = top[np.isfinite(score[top])]
    if len(top):
        shapes = np.array(np.meshgrid(TILTS, LIFTS, DEPTHS)).reshape(3, -1).T
        cand = np.array([(a_grid[k], b_grid[k], *sh) for k in top for sh in shapes])
        cand[:, 3:] *= [side, side]
        s2 = evaluate(cand[:, 0], cand[:, 1], cand[:, 2], cand[:, 3], cand[:, 4])
        s2 = s2 - _shape_cost(cand, side)
        k = int(np.argmax(s2))
        best = (*cand[k], float(s2[k]))
        order = np.argsort(-s2)
        others = [tuple(float(v) for v in cand[j]) for j in order[1: 1 + OTHER_SHAPES] if np.isfinite(s2[j])]
        fine = np.arange(-2, 3) * 0.05
        fa, fb = (g.ravel() for g in np.meshgrid(best[0] + fine, best[1] + fine))
        fb = np.where(np.abs(fb) < 0.05, np.sign(best[1]) * 0.05, fb)
        keep = away(fa, fb)
        if keep.any():
            fa, fb = fa[keep], fb[keep]
            s3 = evaluate(fa, fb, best[2], best[3], best[4])
            k = int(np.argmax(s3))
            if s3[k] >= best[5]:
                best = (fa[k], fb[k], *best[2:5], float(s3[k]))
    else:
        best = (0.0, 0.5, 0.0, 0.0, 0.0, -np.inf)
    a, b, tilt, lift, depth, best_score = (float(v) for v in best)

    # The darkening and the penumbra from the contrast profile across the projection's outline, and the tests.
    def check(params, score):
        """For one projection (a, b, tilt, lift, depth): ((d, agree, the near profile value, the hard shadow), "")
        when it passes the tests of steps 2-3, else (None, why not)."""
        xy, n = _project(pts, normals, base, [params[0]], [params[1]], *params[2:], low_x)
        profile, support = [], None
        for k in (1.0, offset, 2.0 * offset):
            c, hue = _contrasts(feat, blocked, xy, n, k)
            c = np.where(hue < CHROMA_TOLERANCE, c, np.nan)[0]
            profile.append(float(np.nanmedian(c)) if np.isfinite(c).any() else 0.0)
            if k == offset:
                support = c
        d = max(profile[1], profile[2])
        if not np.isfinite(score) or d < -np.log1p(-MIN_DARKENING):
            return None, ("no shadow: nothing along a projection of the object's outline is darker than its "
                          "surroundings with the same hue")
        valid = support[np.isfinite(support)]
        agree = float(np.mean(valid > 0.5 * d)) if len(valid) else 0.0
        if agree < MIN_SUPPORT:
            return None, (f"no shadow: the darkest projection of the object's outline is darker at only "
                          f"{100 * agree:.0f}% of its edge (dark texture, not a shadow)")
        # The darkening is measured again between the projected shadow's inside and a ring just outside it
        # (medians, away from the object); the edge contrast underestimates it where the shadow is thin or the
        # penumbra wide.
        hard = _render(obj, base, *params, low_x)
        inside = cv2.erode(hard, _disk(offset)).astype(bool) & ~fringe
        ring = (cv2.dilate(hard, _disk(2 * offset)) - cv2.dilate(hard, _disk(offset))).astype(bool) & ~fringe
        if inside.sum() >= 10 and ring.sum() >= 10:
            d_inside = float(np.median(loglum[ring]) - np.median(loglum[inside]))
            if d_inside < -np.log1p(-MIN_DARKENING):
                return None, (f"no shadow: the best projection of the object's outline is darker along its edge "
                              f"but only {100 * -np.expm1(-d_inside):.0f}% darker inside (dark texture)")
            hue_inside = float(np.abs(np.median(chroma[ring], axis=0) - np.median(chroma[inside], axis=0)).max())
            if hue_inside > CHROMA_TOLERANCE:
                return None, ("no shadow: the best projection of the object's outline is darker inside but of "
                              "another hue (dark texture)")
            d = max(d, d_inside)
        return (max(d, 0.05), agree, profile[0], hard), ""

    measured, reason = check((a, b, tilt, lift, depth), best_score)
    if measured is None and FALLBACK and np.isfinite(best_score):
        for params in dict.fromkeys(([plain] if plain is not None else []) + others):
            if params != (a, b, tilt, lift, depth):
                measured, _ = check(params, best_score)
                if measured is not None and measured[1] < MIN_SUPPORT + FALLBACK_MARGIN:
                    measured = None
                if measured is not None:
                    a, b, tilt, lift, depth = params
                    break
    if measured is None:
        return _Cast(None, reason)
    d, agree, near, hard = measured
    # A blurred step's half-contrast at distance k is d * erf(k / (sigma sqrt 2)).
    frac = np.clip(near / d, 0.05, 0.995)
    penumbra = float(np.clip(1.0 / (np.sqrt(2) * erfinv(frac)), 0.5, 2.5 * offset))

    # Render the shadow at the working scale and keep where it darkens visibly.
    s = cv2.GaussianBlur(hard.astype(np.float32), (0, 0), penumbra)
    # Where the rendered shadow darkens by VISIBLE_DARKENING: s >= level, but always out to the penumbra's middle
    # (the shadow's geometric edge: d is measured on a textured edge and can come out low, and a rim left behind
    # after removal is worse than a few px too many), and not beyond MIN_LEVEL.
    level = float(np.clip(-np.log1p(-VISIBLE_DARKENING) / d, MIN_LEVEL, MAX_LEVEL))
    shadow = (s >= level) & ~obj
    if shadow.sum() < MIN_AREA_FRACTION * obj.sum():
        return _Cast(None, "no shadow: the projection that fits is hidden behind the object")
    # The shape: the rendered projection or its reshaping by pixel evidence, for the best projection, the next
    # OTHER_SHAPES and the best plain one (no tilt, lift or footprint), whichever outline is darker inside along
    # more of its length.
    shapes = [shadow]
    if REFINE:
        shapes.append(_refine(shadow, s, loglum, chroma, fringe, obj, d, side))
    alternatives = ([plain] if ALTERNATIVES and plain is not None else []) + others
    for params in dict.fromkeys(alternatives):
        if params == (a, b, tilt, lift, depth):
            continue
        s_p = cv2.GaussianBlur(_render(obj, base, *params, low_x).astype(np.float32), (0, 0), penumbra)
        template = (s_p >= level) & ~obj
        if template.sum() >= MIN_AREA_FRACTION * obj.sum():
            shapes.append(template)
            if REFINE:
                shapes.append(_refine(template, s_p, loglum, chroma, fringe, obj, d, side))
    agreement = [_edge_agreement(m, feat, blocked, d, offset) for m in shapes]
    shadow = shapes[int(np.argmax(agreement))]
    darkening = float(1.0 - np.exp(-d))
    return _Cast(shadow, f"{100 * darkening:.0f}% darker than its surroundings with the same hue along "
                         f"{100 * agree:.0f}% of its edge", d, agree)


def _occlusion(feat, obj, fringe, cast) -> tuple[np.ndarray | None, float]:
    """Ambient occlusion around the object's footprint at the working scale: a darkening that fades as
    exp(-distance / decay) from the footprint (the lowest FOOT of the object), with the hue kept.

    feat: HW x 4 float32 (log luminance, r, g, b fractions); obj, fringe: HW bool; cast: HW bool, the cast shadow
    found (left out of the fit). The lit surface is filled in from outside a zone OCC_REACH object widths around
    the footprint; for each decay in DECAYS the darkening inside is fitted as c + amp g (g = exp(-distance / decay),
    least squares) and the fit's t statistic (amp sqrt(sum (g - mean g)^2) / the residual's robust spread) measures
    the evidence. Returns (mask: HW bool where the fitted occlusion darkens by more than VISIBLE_DARKENING, outside
    the object; or None when there is none, its log darkening at the footprint)."""
    ys, xs = np.nonzero(obj)
    top, bottom = ys.min(), ys.max()
    width = float(xs.max() - xs.min() + 1)
    rows = np.arange(obj.shape[0])[:, None]
    strip = (obj & (rows >= bottom - FOOT * (bottom - top + 1))).astype(np.uint8)
    dists = []
    for depth in FOOT_DEPTHS * width:
        k = np.ones((int(round(depth)) + 1, 1), np.uint8)
        foot = cv2.dilate(strip, k, anchor=(0, 0)) if depth >= 1 else strip
        dists.append(cv2.distanceTransform(1 - foot, cv2.DIST_L2, 5))
    zone = (dists[0] < OCC_REACH * width) & ~fringe
    grid = np.zeros_like(obj)
    grid[::OCC_STEP, ::OCC_STEP] = True  # samples about as far apart as the texture's grains are wide
    fit = zone & ~cast & grid
    known = ~zone & ~fringe & ~cast
    if fit.sum() < 50 or known.sum() < 50:
        return None, 0.0
    lum = cv2.GaussianBlur(feat[..., 0], (0, 0), PIXEL_BLUR)
    darker = (_fill_coarse(lum, known, 0.3 * width) - lum)[fit]
    left = (np.nonzero(fit)[1] < np.nonzero(strip)[1].mean())

    def regress(g, sel):
        """Least squares of darker = c + amp g over sel: (amp, its t statistic)."""
        gc, dc = g[sel] - g[sel].mean(), darker[sel] - darker[sel].mean()
        norm = float(gc @ gc)
        if norm <= 1e-9:
            return 0.0, 0.0
        amp = float(gc @ dc) / norm
        resid = dc - amp * gc
        spread = 1.4826 * float(np.median(np.abs(resid - np.median(resid)))) + 1e-3
        return amp, amp * np.sqrt(norm) / spread

    everywhere = np.ones(len(darker), bool)
    best = (0.0, 0.0, None, None)
    for dist in dists:
        for decay in DECAYS * width:
            amp, t = regress(np.exp(-dist[fit] / decay), everywhere)
            if t > best[0]:
                best = (t, amp, decay, dist)
    t, amp, decay, dist = best
    if decay is None or t < OCC_MIN_T or not OCC_MIN_AMP <= amp <= OCC_MAX_AMP:
        return None, 0.0
    # Occlusion darkens both sides of the footprint (a cast shadow or dark texture mostly one).
    g_fit = np.exp(-dist[fit] / decay)
    if min(regress(g_fit, left)[0], regress(g_fit, ~left)[0]) < OCC_SIDES * amp:
        return None, 0.0
    g = np.exp(-dist / decay)
    near, far = fit & (g > 0.5), fit & (g < 0.1)
    if near.sum() < 10 or far.sum() < 10:
        return None, 0.0
    chroma = feat[..., 1:]
    if np.abs(np.median(chroma[near], axis=0) - np.median(chroma[far], axis=0)).max() > CHROMA_TOLERANCE:
        return None, 0.0
    mask = (dists[0] < OCC_REACH * width) & (-np.expm1(-amp * g) > VISIBLE_DARKENING) & ~obj
    return (mask if mask.any() else None), amp


@dataclass
class _Work:
    """The search box at the working scale: box (x0, y0, x1, y1) of the photo it covers, scale (working px per
    photo px), obj and fringe (HW bool: the object and the object grown by its fringe), feat (HW x 4 float32: log
    luminance, r, g, b fractions) and side (the object's size in working px)."""

    box: tuple[int, int, int, int]
    scale: float
    obj: np.ndarray
    fringe: np.ndarray
    feat: np.ndarray
    side: float


def _working(image: np.ndarray, obj_full: np.ndarray) -> _Work | None:
    """The search box, a few object sizes around the object (SEARCH_REACH), at a working scale where the object is
    at most WORK_SIDE px, with its features: log luminance (a shadow subtracts a constant) and chromaticity (a shadow
    keeps it). image: HWC uint8 RGB; obj_full: HW bool. None when the object is too small there."""
    height, width = obj_full.shape
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
        obj = cv2.resize(obj_crop.astype(np.float32), wh, interpolation=cv2.INTER_AREA) > 0.5
    else:
        rgb = crop.astype(np.float32)
        obj = obj_crop.copy()
    if obj.sum() < 16:
        return None
    side = size * scale  # the object's size at the working scale
    rgb = cv2.GaussianBlur(rgb, (0, 0), 0.7) + 1.0
    loglum = np.log(rgb @ np.float32([0.299, 0.587, 0.114]))
    chroma = rgb / rgb.sum(axis=2, keepdims=True)
    feat = np.dstack([loglum, chroma]).astype(np.float32)
    fringe = cv2.dilate(obj.astype(np.uint8), _disk(max(1.5, side / 40))).astype(bool)
    return _Work((bx0, by0, bx1, by1), scale, obj, fringe, feat, side)


def suggest_shadow(image, object_mask, *, light=None) -> Shadow:
    """Suggest the cast shadow of the object in ``object_mask``.

    image: HWC uint8 RGB (an alpha channel is ignored). object_mask: HW bool, True = the object selected for
    removal. light: optional (x, y) direction from the object towards the light in pixel coordinates (y down),
    e.g. (-1, -1) for light from the upper left; the shadow is then looked for on the far side of the object.
    Without it any direction is tried; the shadow always starts at the object's base (its lowest row).

    Returns a Shadow whose mask is HW bool, never overlapping the object, all False when there is no shadow.
    Raises UserError (a ValueError) for inputs of the wrong type or size, or an empty object mask.
    """
    # 1. Check the inputs.
    image, obj_full, direction = check_inputs(image, object_mask, light)
    empty = np.zeros_like(obj_full)

    # 2. The search box and the features at a working scale.
    work = _working(image, obj_full)
    if work is None:
        return Shadow(empty, 0.0, "no shadow: the object is too small to look for one")
    feat, obj, fringe, side, scale = work.feat, work.obj, work.fringe, work.side, work.scale
    bx0, by0, bx1, by1 = work.box
    obj_crop = obj_full[by0:by1, bx0:bx1]

    # 3. The cast shadow (steps 1-4 of the module's docstring), then ambient occlusion around the footprint.
    cast = _cast_shadow(feat, obj, fringe, side, direction)
    shadow = cast.mask if cast.mask is not None else np.zeros_like(obj)
    occ, occ_amp = (None, 0.0)
    if OCCLUSION:
        occ, occ_amp = _occlusion(feat, obj, fringe, shadow)
    if occ is not None:
        shadow = shadow | occ
    if cast.mask is None and occ is None:
        return Shadow(empty, 0.0, cast.reason)

    # 4. Back to full size.
    soft = cv2.GaussianBlur(shadow.astype(np.float32), (0, 0), 0.7) - 0.5
    if scale < 1.0:
        soft = cv2.resize(soft, (bx1 - bx0, by1 - by0), interpolation=cv2.INTER_LINEAR)
    region = (soft > 0) & ~obj_crop
    out = empty.copy()
    out[by0:by1, bx0:bx1] = region
    area = int(out.sum())
    if area == 0:
        return Shadow(empty, 0.0, "no shadow: the shadow vanished at full size")
    side_name = "the object's base" if direction is None else "the object's base, away from the light"
    occ_text = f"ambient occlusion around its footprint ({100 * -np.expm1(-occ_amp):.0f}% darker at the object)"
    if cast.mask is None:
        score = float(np.clip(-np.expm1(-occ_amp) / 0.3, 0.0, 1.0)) * 0.5
        return Shadow(out, score, f"shadow: {area} px of {occ_text}; no cast shadow ({cast.reason})")
    darkening = float(1.0 - np.exp(-cast.d))
    score = float(np.clip(cast.agree, 0.0, 1.0) * np.clip(darkening / 0.3, 0.0, 1.0))
    extra = f", with {occ_text}" if occ is not None else ""
    return Shadow(out, score, f"shadow from {side_name}: {area} px, {cast.reason}{extra}")
