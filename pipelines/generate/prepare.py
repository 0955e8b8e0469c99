"""The mask contract around a generation: the checked input, its 8-bit RGB working copy, the mask as given and as
repainted, and the way back to the input's own format with the outside verified (fail closed)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import masks
from .checks import check_int

DEFAULT_GROW = 0
"""Growth is never implicit: the mask the caller gives is the contract. Growing it (grow=px) covers an object's
anti-aliased fringe (BOUNDARIES.md); the result then reports the growth and what changed outside the given mask."""
MIN_SIDE = 2
"""Smallest image side (px) we inpaint: the seam measures need a neighbour on each axis."""


@dataclass
class Prepared:
    """Checked inputs: the RGB working image, the masks, and how to go back to the input's format."""

    rgb: np.ndarray  # HWC uint8 RGB: the 8-bit working copy the engines see
    mask: np.ndarray  # HW bool: the mask repainted (grown when asked)
    given: np.ndarray  # HW bool: the mask as given
    native: np.ndarray  # the input in its own format (pipelines.io: uint8/uint16, L/LA/RGB/RGBA)
    grow: int = 0

    @property
    def size(self) -> tuple[int, int]:
        return self.rgb.shape[1], self.rgb.shape[0]

    def restore(self, rgb: np.ndarray) -> np.ndarray:
        """An HWC uint8 RGB result back in the input's format: a copy of the input with only the mask's pixels
        written (io.from_working): greyscale takes the luma, alpha is opaque (255) inside the mask and the
        input's outside it, 16-bit inputs get v * 257 inside and keep every other value."""
        from .. import io

        return io.from_working(self.native, rgb, self.mask)

    def finish(self, images: list[np.ndarray], reports: list[dict], what: str = "the result") -> list[np.ndarray]:
        """Verify every image's outside against the working copy the engine was given, restore it to the input's
        format, verify its outside against the input (fail closed: a ContractViolation either way; restoring
        writes only the mask's pixels, so without the first check an engine or composite that changed outside
        pixels would go unnoticed), and put the outside measurements, taken on the input's own format, in its
        report (with growth also against the mask as given)."""
        from .. import contract

        out = []
        for k, (img, report) in enumerate(zip(images, reports)):
            contract.verify_outside(self.rgb, img, self.mask, what=f"{what} #{k + 1} (8-bit working copy)")
            final = self.restore(img)
            measured = contract.verify_outside(self.native, final, self.mask, what=f"{what} #{k + 1}")
            report["outside_changed"] = measured["outside_changed"]
            report["outside_max_diff"] = measured["outside_max_diff"]
            if self.grow:
                given = contract.outside_report(self.native, final, self.given)
                report["outside_changed_given"] = given["outside_changed"]
                report["outside_max_diff_given"] = given["outside_max_diff"]
            out.append(final)
        return out


def prepare(image, mask, grow: int = DEFAULT_GROW) -> Prepared:
    """Check the image (io.check_native) and the mask contract (same size, not empty), make the RGB working
    copy, and grow the mask only when ``grow`` > 0."""
    from .. import io

    native = io.check_native(image, min_side=MIN_SIDE)
    height, width = native.shape[:2]
    given = masks.to_mask(mask, size=(width, height))
    grow = check_int(grow, "grow", 0)
    m = masks.grow(given, grow) if grow else given
    return Prepared(rgb=io.to_rgb(native), mask=m, given=given, native=native, grow=grow)
