"""Tidying a segmentation mask and growing it for inpainting by a named preset or a number of pixels (the measured,
per-object growth is pipelines.segment.matting.auto_growth)."""

from __future__ import annotations

import numpy as np

from .. import masks as mask_ops
from ..errors import UserError

REPLACEMENT_GROW_PX = 15
"""Growth before *replacing* an object (the textbook inpainting recipe): room for the new content's outline."""

REMOVAL_MATTE_PX = 2
"""The anti-aliased fringe a tight object mask leaves outside (a soft matte is ~2 px wide on photos)."""

REMOVAL_FEATHER_PX = 8
"""The blend band the compositor needs inside the mask (BOUNDARIES.md: d >= 6 is where seam fixes start to pass)."""

REMOVAL_GROW_PX = REMOVAL_MATTE_PX + REMOVAL_FEATHER_PX
"""Growth before *removing* an object: cover the fringe plus the feather band, or every method re-creates a rim."""

GROW_PRESETS = {"replacement": REPLACEMENT_GROW_PX, "removal": REMOVAL_GROW_PX}


def clean_mask(
    mask: np.ndarray,
    *,
    min_area: int | None = None,
    max_hole_area: int | None = None,
    fill_holes: bool = True,
) -> np.ndarray:
    """Tidy a segmentation mask (HW bool): drop islands smaller than ``min_area`` px and fill holes.

    ``min_area`` defaults to 0.05% of the image (at least 16 px). Holes are filled when ``fill_holes``; with
    ``max_hole_area`` only holes up to that many px are filled (a donut keeps its real hole). Returns a new mask.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise UserError(f"the mask must be HW bool, got shape {mask.shape}")
    if min_area is None:
        min_area = max(16, int(0.0005 * mask.size))
    if min_area < 0 or (max_hole_area is not None and max_hole_area < 0):
        raise UserError("areas must be >= 0")
    out = mask_ops.drop_specks(mask, int(min_area)) if min_area > 0 else mask.copy()
    if fill_holes:
        filled = mask_ops.fill_holes(out)
        if max_hole_area is not None:
            holes = filled & ~out
            big = mask_ops.drop_specks(holes, int(max_hole_area) + 1)
            filled = filled & ~big
        out = filled
    return np.asarray(out, dtype=bool)


def grow_mask(mask: np.ndarray, purpose: str | int = "replacement") -> np.ndarray:
    """Grow a mask (HW bool) for inpainting.

    purpose: "replacement" (REPLACEMENT_GROW_PX = 15, the textbook recipe), "removal" (REMOVAL_GROW_PX = matte fringe
    + feather band = 10; see BOUNDARIES.md: a tight mask leaves the object's anti-aliased fringe outside and every
    compositor then re-creates a rim), or a number of pixels (>= 0).
    """
    px = growth_px(purpose)
    mask = np.asarray(mask, dtype=bool)
    return mask.copy() if px == 0 else np.asarray(mask_ops.grow(mask, px), dtype=bool)


def growth_px(purpose: str | int) -> int:
    """Pixels of growth for a preset name ("replacement", "removal") or a number (>= 0)."""
    if isinstance(purpose, str):
        key = purpose.strip().lower()
        if key in GROW_PRESETS:
            return GROW_PRESETS[key]
        try:
            purpose = int(key)
        except ValueError:
            raise UserError(
                f"unknown growth {purpose!r}: use a number of pixels or one of {', '.join(GROW_PRESETS)}"
            ) from None
    if isinstance(purpose, bool) or not isinstance(purpose, (int, np.integer)) or purpose < 0:
        raise UserError(f"growth must be a whole number of pixels >= 0, got {purpose!r}")
    return int(purpose)
