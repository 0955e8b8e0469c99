"""Outpainting, 1: how far the canvas grows on each side (sizes or a target aspect) and the windows a tiled
outpaint generates, in order (plan_windows), each holding known context across its band."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import cv2
import numpy as np

from .. import io
from ..errors import UserError
from ..generate.checks import check_int

MODES = ("tiled", "single")
SIDES = ("left", "right", "top", "bottom")
ANCHORS = ("center", "left", "right", "top", "bottom")
CLASSICAL_WINDOW = 512
"""Window side in px for the classical engines (the diffusers engine uses the model's native size)."""
DEFAULT_NEW_FRACTION = 1 / 3


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
