"""Outpainting: extend the canvas in any direction, in one shot or a window at a time, without seams or drift.

    result = outpaint(image, right=512, prompt="a sandy beach", seed=7)             # tiled (default)
    result = outpaint(image, aspect="16:9", anchor="left", engine="telea")         # classical, no weights
    result.image      # HWC uint8, the new canvas; the original sits byte-identical at result.offset
    result.joins      # one dict per join (window): side, box, new_box, known_px, seam report
    result.drift      # per side: Lab mean distance of the far new strip from the original's border ring

Formats: images are HWC uint8 RGB (RGBA and HW greyscale accepted: the new area is opaque, greyscale
comes back greyscale); masks are HW bool, True = new (generated) pixels; boxes are XYXY ints with
exclusive ends in canvas pixel coordinates; offsets and sizes are (x, y) / (width, height).

Steps:
  1. check the parameters; the extension comes from explicit sizes (left/right/top/bottom px) or from a
     target aspect ratio and an anchor; the new canvas must stay under io.MAX_PIXELS;
  2. build the canvas with the original at its offset and pre-fill the new area (prefill/refill): the
     border stretched outward (nearest known pixel), blurred with a sigma that grows with the distance
     from the border, plus Gaussian grain matched to the high-pass amplitude of the border ring, so a
     model that starts from the canvas (strength < 1, blended latent diffusion) starts from plausible
     colours; in tiled mode every window is pre-filled again from the pixels known at that moment;
  3. generate:
     - "single": one inpaint() call over the whole new area with a strip of ``context`` px of the
       original as context (inpaint() resizes the crop to the model's native resolution);
     - "tiled": left, right, top, bottom in turn, a band of at most ``max_new_fraction`` of a window at a
       time; each window (``window`` px, the model's native size by default) holds at least ``context`` px
       of known pixels (original or generated earlier) and is generated with inpaint(); long edges are
       covered by several overlapping windows along the edge. plan_windows() lists the windows in advance.
     Every join goes through blend.composite (inside inpaint(), "seamless" by default) and gets a
     seams.seam_report against the canvas before that join;
  4. drift control: after each join the Lab mean/std of the new pixels are pulled towards those of the
     original's border ring on that side (the part facing the window), with a weight that rises from 0 at
     the known pixels to ``drift_strength`` at the far side, so joins stay continuous and a long extension
     does not wander in tone;
  5. the original is written back (it is never touched, the assignment only makes it explicit) and the
     far-strip colour drift per side is measured.
"""

from __future__ import annotations

import contextlib
import math
import re
import secrets
import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from . import io, masks
from .errors import UserError
from .generate.checks import ProgressFn, check_cancel, check_feather, check_float, check_int, check_method
from .generate.result import InpaintResult, jsonable
from .inpaint import ENGINES

MODES = ("tiled", "single")
SIDES = ("left", "right", "top", "bottom")
ANCHORS = ("center", "left", "right", "top", "bottom")
CLASSICAL_WINDOW = 512
"""Window side in px for the classical engines (the diffusers engine uses the model's native size)."""
DEFAULT_NEW_FRACTION = 1 / 3
DRIFT_STRENGTH = 0.75
"""Weight of the drift correction at the far side of each new strip when drift_control=True."""
RING = 16
"""Depth in px of the original's border ring that anchors the colour statistics (and the drift measure)."""
PREFILL_MAX_SIGMA = 48.0
REFILL_REACH = int(3 * PREFILL_MAX_SIGMA) + 16
"""px of known pixels around the unknown area that refill() reads (3 sigma of the widest blur, plus the grain's)."""
DEFAULT_FEATHER = 1.0
"""Cross-fade width (px) of joins between generated strips when feather=None (method "seamless"). The
cross-fade hands texture over from the pixels under the mask, the pre-fill (stretch plus grain matched to
the ring): at a join with the original that grain bridges the original's texture and a smoother
generation, so those joins keep blend's default (4 px); between generated strips the ring is the smooth
generation itself and a 4 px hand-over left a line (chelsea, telea, tiled: noref_ratio 1.4-2.4 at later
joins, 0.97-1.04 with 1 px; 0 px left a step at the join with the original)."""



@dataclass
class Window:
    """One generation step of a tiled outpaint.

    side      "left", "right", "top" or "bottom"
    box       XYXY window in canvas pixels (what is generated, known context included)
    new_box   XYXY of the band this step adds; the window's mask is new_box minus pixels already generated
    """

    side: str
    box: tuple[int, int, int, int]
    new_box: tuple[int, int, int, int]


@dataclass
class OutpaintResult(InpaintResult):
    """What outpaint() returns: an InpaintResult for the new canvas, plus

    offset   (x, y) of the original's top-left pixel in the canvas
    pads     {"left", "right", "top", "bottom"} px added on each side
    joins    one dict per join: side, box (window XYXY), new_box, known_px (known pixels in the window),
             new_px, report (seams.seam_report against the canvas before the join, on the join's mask)
    drift    per extended side: Lab mean distance (dE76) between the outermost RING px of the new area
             and the original's border ring on that side
    mode     "tiled" or "single"

    ``reports[0]`` is the seam report of the whole new area against the pre-filled canvas; ``mask`` is
    the new area (HW bool, canvas size, True = generated).
    """

    offset: tuple[int, int] = (0, 0)
    pads: dict = field(default_factory=dict)
    joins: list[dict] = field(default_factory=list)
    drift: dict = field(default_factory=dict)
    mode: str = "tiled"

    def summary(self) -> dict:
        out = super().summary()
        out.update(
            mode=self.mode,
            offset=list(self.offset),
            pads=dict(self.pads),
            size=[int(self.images[0].shape[1]), int(self.images[0].shape[0])],
            joins=[
                {"side": j["side"], "box": list(j["box"]), "new_box": list(j["new_box"]),
                 "known_px": int(j["known_px"]), "new_px": int(j["new_px"]), "report": jsonable(j["report"])}
                for j in self.joins
            ],
            drift={k: round(float(v), 4) for k, v in self.drift.items()},
        )
        return out


# ---------------------------------------------------------------------------------------------
# 1. Checks


def parse_aspect(aspect) -> float:
    """A target aspect ratio width / height from "16:9", "16/9", "1.5" or a number; ValueError otherwise."""
    if isinstance(aspect, bool):
        raise UserError(f"aspect must be W:H (e.g. 16:9) or a positive number, got {aspect!r}")
    if isinstance(aspect, (int, float, np.integer, np.floating)):
        value = float(aspect)
    elif isinstance(aspect, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*[:/x]\s*(\d+(?:\.\d+)?)\s*", aspect)
        try:
            value = float(m.group(1)) / float(m.group(2)) if m else float(aspect)
        except (ValueError, ZeroDivisionError):
            value = math.nan
    else:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise UserError(f"aspect must be W:H (e.g. 16:9) or a positive number, got {aspect!r}")
    return value


def extension(
    size: tuple[int, int], left: int = 0, right: int = 0, top: int = 0, bottom: int = 0, *,
    aspect=None, anchor: str = "center",
) -> dict[str, int]:
    """The px to add on each side: the given sizes, or those that bring ``size`` = (width, height) to ``aspect``.

    anchor: where the original sits along the axis that grows ("center", "left"/"right" when the width
    grows, "top"/"bottom" when the height grows; an anchor on the other axis centres). Raises ValueError
    for negative sizes, no extension, sizes together with an aspect, or a canvas over io.MAX_PIXELS.
    """
    width, height = size
    pads = {name: check_int(v, name, 0) for name, v in zip(SIDES, (left, right, top, bottom))}
    if anchor not in ANCHORS:
        raise UserError(f"anchor must be one of {', '.join(ANCHORS)}, got {anchor!r}")
    if aspect is not None:
        if any(pads.values()):
            raise UserError("give either sizes (left/right/top/bottom) or an aspect ratio, not both")
        ratio = parse_aspect(aspect)
        if width / height < ratio:
            grow = int(round(height * ratio)) - width
            first, second = "left", "right"
        else:
            grow = int(round(width / ratio)) - height
            first, second = "top", "bottom"
        if grow > 0:
            if anchor == first:  # the original sits at that side: everything goes to the other
                pads[second] = grow
            elif anchor == second:
                pads[first] = grow
            else:
                pads[first] = grow // 2
                pads[second] = grow - grow // 2
    if not any(pads.values()):
        what = f"the image is already {aspect}" if aspect is not None else "all sizes are 0"
        raise UserError(f"nothing to outpaint: {what}; give left/right/top/bottom px or another aspect")
    new_w = width + pads["left"] + pads["right"]
    new_h = height + pads["top"] + pads["bottom"]
    io.check_pixels(new_w, new_h, what="outpainted canvas")
    return pads


def _as_rgb(image) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """(HWC uint8 RGB, alpha or None, was greyscale) from a working array (io.to_working) or PIL image."""
    a = io.as_image(image, min_side=2)
    if a.ndim == 2:
        return np.repeat(a[:, :, None], 3, axis=2), None, True
    if a.shape[2] == 4:
        return np.ascontiguousarray(a[..., :3]), a[..., 3].copy(), False
    return a, None, False


# ---------------------------------------------------------------------------------------------
# 2. Pre-fill


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


# ---------------------------------------------------------------------------------------------
# 3. The windows


def _band_steps(known: int, remaining: int, window: int, context: int, fraction: float) -> list[int]:
    """Depths of the successive bands on one side: at most fraction x window, window - context, and what
    keeps the new share of a window at most ``fraction`` when few pixels are known."""
    steps = []
    while remaining > 0:
        cap = min(int(fraction * window), window - context, int(known * fraction / (1 - fraction)))
        n = max(1, min(remaining, cap))
        steps.append(n)
        known += n
        remaining -= n
    return steps


def _along_starts(length: int, window: int) -> list[int]:
    """Starts of windows of ``window`` px covering [0, length), overlapping by at least a third of a window."""
    if length <= window:
        return [0]
    stride = window - window // 3
    count = math.ceil((length - window) / stride) + 1
    return [int(round(k * (length - window) / (count - 1))) for k in range(count)]


def plan_windows(
    size: tuple[int, int], pads: dict[str, int], *, window: int, context: int | None = None,
    max_new_fraction: float = DEFAULT_NEW_FRACTION,
) -> list[Window]:
    """The windows a tiled outpaint of an image of ``size`` = (width, height) makes, in order.

    Sides go left, right (over the original's rows), then top, bottom (over the full new width, corners
    included). Each band adds at most ``max_new_fraction`` x ``window`` px; each window is at most
    ``window`` px on a side and holds min(context, known depth) px of known pixels across the whole band.
    """
    width, height = size
    context = window // 3 if context is None else context
    left, right, top, bottom = (pads.get(s, 0) for s in SIDES)
    kx0, kx1, ky0, ky1 = left, left + width, top, top + height  # the known rectangle in the canvas
    out: list[Window] = []
    for side in SIDES:
        remaining = pads.get(side, 0)
        if not remaining:
            continue
        horizontal = side in ("left", "right")
        known_depth = (kx1 - kx0) if horizontal else (ky1 - ky0)
        along0, along1 = (ky0, ky1) if horizontal else (kx0, kx1)
        along = min(window, along1 - along0)
        for n in _band_steps(known_depth, remaining, window, context, max_new_fraction):
            depth = min(window, known_depth + n)  # window extent across the edge
            for a in _along_starts(along1 - along0, along):
                a0, a1 = along0 + a, along0 + a + along
                if side == "right":
                    box, new = (kx1 + n - depth, a0, kx1 + n, a1), (kx1, a0, kx1 + n, a1)
                elif side == "left":
                    box, new = (kx0 - n, a0, kx0 - n + depth, a1), (kx0 - n, a0, kx0, a1)
                elif side == "bottom":
                    box, new = (a0, ky1 + n - depth, a1, ky1 + n), (a0, ky1, a1, ky1 + n)
                else:
                    box, new = (a0, ky0 - n, a1, ky0 - n + depth), (a0, ky0 - n, a1, ky0)
                out.append(Window(side, box, new))
            known_depth += n
            if side == "right":
                kx1 += n
            elif side == "left":
                kx0 -= n
            elif side == "bottom":
                ky1 += n
            else:
                ky0 -= n
    return out


def generate_window(
    window: np.ndarray, mask: np.ndarray, *, prompt: str, negative_prompt: str, engine: str, model,
    steps: int, strength: float, guidance: float, seed: int, method: str, feather: float | None,
    cancel=None,
) -> np.ndarray:
    """Generate the ``mask`` pixels of one window (HWC uint8 RGB, canvas crop) with inpaint() and composite
    them with the boundary engine; returns the window, changed only where ``mask`` is True.

    The whole window is one crop (context_margin covers it), so inpaint() makes one generation per call,
    at the model's native resolution; the mask is not grown (it would reach into known pixels).
    """
    from .inpaint import inpaint

    margin = max(window.shape[:2])
    result = inpaint(
        window, mask, prompt, negative_prompt, engine=engine, model=model, strength=strength, steps=steps,
        guidance=guidance, seed=seed, grow=0, feather=feather, method=method, context_margin=margin,
        cancel=cancel,
    )
    return result.images[0]


# ---------------------------------------------------------------------------------------------
# 4. Drift control


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


def _side_span(side: str, box, offset, size) -> tuple[int, int]:
    """The window's extent along the edge, in the original's coordinates (for its border ring)."""
    x0, y0, x1, y1 = box
    ox, oy = offset
    if side in ("left", "right"):
        return y0 - oy, y1 - oy
    return x0 - ox, x1 - ox


def _touches(mask: np.ndarray, other: np.ndarray) -> bool:
    """Whether ``mask`` (HW bool) has a 4-neighbour in ``other``."""
    grown = cv2.dilate(mask.astype(np.uint8), np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.uint8)) > 0
    return bool((grown & other).any())


def _touches_in_box(sub_mask: np.ndarray, box, other: np.ndarray) -> bool:
    """_touches for a mask given on ``box`` (XYXY) of the canvas, against ``other`` (HW bool, canvas size):
    only the box and a 1 px ring around it are read."""
    x0, y0, x1, y1 = box
    H, W = other.shape
    ex0, ey0, ex1, ey1 = max(0, x0 - 1), max(0, y0 - 1), min(W, x1 + 1), min(H, y1 + 1)
    grown_mask = np.zeros((ey1 - ey0, ex1 - ex0), bool)
    grown_mask[y0 - ey0 : y1 - ey0, x0 - ex0 : x1 - ex0] = sub_mask
    return _touches(grown_mask, other[ey0:ey1, ex0:ex1])


def _side_parts(pads, offset, size, canvas_size) -> list:
    """Single mode: (side, box, mask, span) per extended side, the mask (HW bool) given on the box; left/right
    cover the original's rows, top and bottom the full width (corners). Each box reaches 1 px into the
    original so the weight starts at 0 there."""
    ox, oy = offset
    w, h = size
    W, H = canvas_size
    regions = {
        "left": (0, oy, ox, oy + h), "right": (ox + w, oy, W, oy + h),
        "top": (0, 0, W, oy), "bottom": (0, oy + h, W, H),
    }
    parts = []
    for side in SIDES:
        if not pads.get(side):
            continue
        x0, y0, x1, y1 = regions[side]
        box = (max(0, x0 - 1), max(0, y0 - 1), min(W, x1 + 1), min(H, y1 + 1))
        m = np.zeros((box[3] - box[1], box[2] - box[0]), bool)
        m[y0 - box[1]:y1 - box[1], x0 - box[0]:x1 - box[0]] = True
        parts.append((side, box, m, None))
    return parts


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


# ---------------------------------------------------------------------------------------------
# The entry point


def outpaint(
    image,
    left: int = 0,
    right: int = 0,
    top: int = 0,
    bottom: int = 0,
    *,
    aspect=None,
    anchor: str = "center",
    prompt: str = "",
    negative_prompt: str = "",
    mode: str = "tiled",
    engine: str = "diffusers",
    model=None,
    steps: int = 30,
    strength: float = 0.9,
    guidance: float = 7.5,
    seed: int | None = None,
    window: int | None = None,
    context: int | None = None,
    max_new_fraction: float = DEFAULT_NEW_FRACTION,
    drift_control: bool | float = True,
    method: str = "seamless",
    feather: float | None = None,
    progress: ProgressFn | None = None,
    cancel=None,
    device: str | None = "auto",
    dtype=None,
    allow_download: bool = True,
) -> OutpaintResult:
    """Extend ``image`` by ``left``/``right``/``top``/``bottom`` px (or to ``aspect`` with ``anchor``).

    image             HWC uint8 RGB (RGBA, HW greyscale, LA, 16-bit and PIL accepted); it sits byte-identical
                      in the result, at its own format, at offset (left, top); the new area is generated on an
                      8-bit working copy and written at the input's depth
    aspect, anchor    instead of sizes: a target width/height ("16:9", "4/3", 1.5) and where the original
                      sits along the axis that grows ("center", "left", "right", "top", "bottom")
    prompt            what to paint in the new area (ignored by the classical engines; noted)
    mode              "tiled" (a band at a time, overlapping windows) or "single" (one generation)
    engine, model     "diffusers" with a models.LoadedModel / hub id / folder (None: the default model), or a
                      classical fill "telea" / "ns" (no weights)
    steps, strength, guidance, seed   as for inpaint(); strength < 1 (default 0.9) lets the model start from
                      the pre-filled canvas; window k (tiled) uses seed + k
    window            tiled: window side in canvas px (default: the model's native size, 512 for classical);
                      larger windows are resized down to the native size by inpaint()
    context           px of known pixels each window holds across the band (default window // 3; in
                      "single" the strip of the original given as context)
    max_new_fraction  tiled: the largest share of a window that is new (default 1/3), in (0, 0.9]
    drift_control     True (strength DRIFT_STRENGTH), False, or a strength in [0, 1]: anchor the Lab
                      statistics of each new strip to the original's border ring on that side
    method, feather   blend.composite settings for every join (contract-safe methods only; feather None:
                      blend's default at joins with the original, DEFAULT_FEATHER between generated
                      strips for "seamless")
    progress          progress(done, total) after each generation (window)
    cancel            a threading.Event; inpaint.Cancelled is raised before the next window when set

    Raises ValueError for bad parameters (no extension, negative sizes, a canvas over io.MAX_PIXELS,
    a bad aspect), inpaint.Cancelled when cancelled.
    """
    t_start = time.perf_counter()
    # 1. Checks.
    source = io.check_native(image, min_side=2)  # the input at its own format: it must come back byte-identical
    rgb, alpha, grey = _as_rgb(io.to_working(source))
    h, w = rgb.shape[:2]
    pads = extension((w, h), left, right, top, bottom, aspect=aspect, anchor=anchor)
    if mode not in MODES:
        raise UserError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if engine not in ENGINES:
        raise UserError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if not isinstance(prompt, str) or not isinstance(negative_prompt or "", str):
        raise UserError("prompt and negative_prompt must be strings")
    method = check_method(method)
    feather = check_feather(feather)
    auto_feather = feather is None and method == "seamless"
    max_new_fraction = check_float(max_new_fraction, "max_new_fraction")
    if not 0.0 < max_new_fraction <= 0.9:
        raise UserError(f"max_new_fraction must be in (0, 0.9], got {max_new_fraction}")
    if isinstance(drift_control, bool):
        drift_strength = DRIFT_STRENGTH if drift_control else 0.0
    else:
        drift_strength = check_float(drift_control, "drift_control")
        if not 0.0 <= drift_strength <= 1.0:
            raise UserError(f"drift_control must be True, False or a strength in [0, 1], got {drift_control!r}")
    if seed is not None:
        seed = check_int(seed, "seed", 0, 2**62)
    else:
        seed = secrets.randbelow(2**31)
    if window is not None:
        window = check_int(window, "window", 16, 8192)
    if context is not None:
        context = check_int(context, "context", 1)
    check_cancel(cancel)

    with contextlib.ExitStack() as stack:  # holds the model's lease for the whole job
        notes: list[str] = []
        t_load = 0.0
        loaded = model
        native = CLASSICAL_WINDOW
        if engine == "diffusers":
            from . import models

            t0 = time.perf_counter()
            loaded = stack.enter_context(
                models.lease(model, device=device, dtype=dtype, allow_download=allow_download))
            native = loaded.native_size
            t_load = time.perf_counter() - t0
        elif (prompt or "").strip():
            notes.append(f"prompt ignored by the classical engine ({engine})")
        window = window or native
        if context is None:
            context = window // 3
        if mode == "tiled" and context >= window:
            raise UserError(f"context ({context} px) must be smaller than the window ({window} px)")

        # 2. Canvas and pre-fill.
        t0 = time.perf_counter()
        offset = (pads["left"], pads["top"])
        canvas = prefill(rgb, pads, seed)
        H, W = canvas.shape[:2]
        known = np.zeros((H, W), bool)
        known[offset[1]:offset[1] + h, offset[0]:offset[0] + w] = True
        new_area = ~known
        prefilled = canvas.copy()
        t_prepare = time.perf_counter() - t0

        gen_kwargs = dict(
            prompt=prompt, negative_prompt=negative_prompt, engine=engine, model=loaded, steps=steps,
            strength=strength, guidance=guidance, method=method, feather=feather, cancel=cancel,
        )
        joins: list[dict] = []
        t_generate = t_report = t_drift = 0.0

        def join(side, box, new_box, sub_mask, k, total, parts, done, refresh):
            """Generate one window, composite it, correct its drift, report its seam, in place on the canvas.
            ``sub_mask``: the join's new pixels on the window ``box``; ``parts``: (side, box, mask on that box,
            span) for drift control; ``done``: the pixels known before this join (the window's others are
            pre-filled again when ``refresh``). Every step reads and writes the window only, so a join costs
            what its window costs, whatever the canvas's size."""
            nonlocal t_generate, t_report, t_drift
            x0, y0, x1, y1 = box
            check_cancel(cancel, k, total)
            t0 = time.perf_counter()
            window_view = canvas[y0:y1, x0:x1]
            if refresh:  # pre-fill the window's unknown pixels again, from what is known now
                window_view[...] = refill(window_view, done[y0:y1, x0:x1], seed + k)
            kwargs = gen_kwargs
            if auto_feather and not _touches_in_box(sub_mask, box, known):
                kwargs = dict(gen_kwargs, feather=DEFAULT_FEATHER)
            out = generate_window(window_view, sub_mask, seed=seed + k, **kwargs)
            before = window_view.copy()
            window_view[sub_mask] = np.asarray(out)[sub_mask]  # only the window's new pixels are ever written
            del out
            t_generate += time.perf_counter() - t0
            if drift_strength > 0:
                t0 = time.perf_counter()
                for part_side, (px0, py0, px1, py1), part_mask, span in parts:
                    target = _lab_stats(_lab(border_ring(rgb, part_side, span)))
                    _anchor_correct_window(canvas[py0:py1, px0:px1], part_mask, target, drift_strength)
                t_drift += time.perf_counter() - t0
            t0 = time.perf_counter()
            from . import seams

            # the join's report on the window: inside it the mask's edge is the join with known pixels; the
            # band beyond the window's along-edge ends is left to the next window (its own join)
            report = seams.seam_report(before, window_view, sub_mask)
            del before
            t_report += time.perf_counter() - t0
            joins.append({
                "side": side, "box": tuple(int(v) for v in box), "new_box": tuple(int(v) for v in new_box),
                "known_px": int(sub_mask.size - sub_mask.sum()), "new_px": int(sub_mask.sum()), "report": report,
            })
            if progress is not None:
                progress(k + 1, total)

        # 3-4. Generate (with drift control after each join).
        if mode == "single":
            nx0, ny0, nx1, ny1 = masks.bbox(new_area)
            box = (max(0, nx0 - context), max(0, ny0 - context), min(W, nx1 + context), min(H, ny1 + context))
            sides = [s for s in SIDES if pads[s]]
            bx0, by0, bx1, by1 = box
            join("+".join(sides), box, (nx0, ny0, nx1, ny1), new_area[by0:by1, bx0:bx1], 0, 1,
                 _side_parts(pads, offset, (w, h), (W, H)), known, False)
            boxes = [box]
        else:
            plan = plan_windows((w, h), pads, window=window, context=context, max_new_fraction=max_new_fraction)
            done = known.copy()
            for k, win in enumerate(plan):
                nx0, ny0, nx1, ny1 = win.new_box
                x0, y0, x1, y1 = win.box
                # the window's mask, on the window: its band minus the pixels generated earlier
                sub_mask = np.zeros((y1 - y0, x1 - x0), bool)
                sub_mask[ny0 - y0:ny1 - y0, nx0 - x0:nx1 - x0] = True
                sub_mask &= ~done[y0:y1, x0:x1]
                if not sub_mask.any():
                    continue
                span = _side_span(win.side, win.box, offset, (w, h))
                join(win.side, win.box, win.new_box, sub_mask, k, len(plan), [(win.side, win.box, sub_mask, span)],
                     done, k > 0)
                done[y0:y1, x0:x1] |= sub_mask
            boxes = [win.box for win in plan]

        # 5. The original must still be there, untouched (fail closed); the overall report and the drift.
        from . import contract, seams

        ox, oy = offset
        contract.verify_outside(rgb, canvas[oy:oy + h, ox:ox + w], np.zeros((h, w), bool),
                                what="the outpainted canvas")

        t0 = time.perf_counter()
        overall = seams.seam_report(prefilled, canvas, new_area)
        drift = colour_drift(canvas, rgb, pads, offset)
        t_report += time.perf_counter() - t0
        if grey:
            work = cv2.cvtColor(canvas, cv2.COLOR_RGB2GRAY)
        elif alpha is not None:
            a = np.full((H, W), 255, np.uint8)
            a[known] = alpha.reshape(-1)
            work = np.dstack([canvas, a])
        else:
            work = canvas
        # back to the input's own format: the original's pixels as given (16-bit, LA, alpha), the new area from
        # the 8-bit canvas; verified before it is returned
        base = np.zeros((H, W) + source.shape[2:], source.dtype)
        base[oy:oy + h, ox:ox + w] = source
        final = io.from_working(base, work, new_area)
        contract.verify_outside(base, final, new_area, what="the outpainted canvas")
        return OutpaintResult(
            images=[final],
            reports=[overall],
            seeds=[seed],
            boxes=[tuple(int(v) for v in b) for b in boxes],
            mask=new_area,
            timings={
                "load": t_load, "prepare": t_prepare, "generate": t_generate, "drift": t_drift,
                "report": t_report, "total": time.perf_counter() - t_start,
            },
            engine=engine,
            model=getattr(loaded, "name", None) if engine == "diffusers" else None,
            notes=notes,
            sizes=[(b[2] - b[0], b[3] - b[1]) for b in boxes],
            offset=offset,
            pads=pads,
            joins=joins,
            drift=drift,
            mode=mode,
        )
