"""The contract, checked: pixels outside the mask are the input's, byte for byte, at the input's own format.

Every entry point (blend, inpaint, outpaint, the CLI commands, the app) calls ``verify_outside`` on what it is
about to return or write, and fails closed: a ContractViolation (an internal error) instead of a silently
wrong image.

Formats: images HW or HWC, uint8 or uint16 (any channels, alpha included); masks HW bool, True = may change.
Comparisons run in strips of rows, so the extra memory is a few rows, not a copy of the image.
"""

from __future__ import annotations

import numpy as np

from .errors import ContractViolation

_STRIP_BYTES = 16 << 20


def changed_outside(original: np.ndarray, result: np.ndarray, mask: np.ndarray) -> tuple[int, int, int]:
    """(pixels outside ``mask`` that differ in any channel, the largest difference in levels, pixels outside).

    ``original`` and ``result`` must have the same shape and dtype (a ValueError otherwise)."""
    original, result, mask = np.asarray(original), np.asarray(result), np.asarray(mask, dtype=bool)
    if original.shape != result.shape or original.dtype != result.dtype:
        raise ValueError(f"the result is {result.shape} {result.dtype} but the original {original.shape} "
                         f"{original.dtype}")
    if mask.shape != original.shape[:2]:
        raise ValueError(f"the mask is {mask.shape} but the image {original.shape[:2]}")
    row_bytes = max(1, original[:1].nbytes)
    step = max(1, _STRIP_BYTES // row_bytes)
    count = worst = 0
    for y in range(0, original.shape[0], step):
        o, r, m = original[y:y + step], result[y:y + step], mask[y:y + step]
        differs = o != r
        if differs.ndim == 3:
            differs = differs.any(axis=2)
        differs &= ~m
        n = int(np.count_nonzero(differs))
        if n:
            count += n
            d = np.abs(o[differs].astype(np.int32) - r[differs].astype(np.int32))
            worst = max(worst, int(d.max()))
    outside = int(mask.size - np.count_nonzero(mask))
    return count, worst, outside


def verify_outside(original: np.ndarray, result: np.ndarray, mask: np.ndarray, what: str = "the result") -> dict:
    """Raise ContractViolation unless every pixel of ``result`` outside ``mask`` equals ``original`` (same shape,
    same dtype, every channel). Returns the outside_report of the (passing) comparison, from the same scan."""
    try:
        count, worst, outside = changed_outside(original, result, mask)
    except ValueError as exc:
        raise ContractViolation(f"{what} cannot be checked against the input: {exc}") from None
    if count:
        raise ContractViolation(
            f"{what} changed {count} pixel(s) outside the mask (up to {worst} levels): refused, nothing returned"
        )
    return {"outside_changed": 0.0, "outside_max_diff": 0, "outside_pixels": outside}


def outside_report(original: np.ndarray, result: np.ndarray, mask: np.ndarray) -> dict:
    """{"outside_changed": fraction of outside pixels that differ, "outside_max_diff": levels, "outside_pixels"}."""
    count, worst, outside = changed_outside(original, result, mask)
    return {"outside_changed": count / outside if outside else 0.0, "outside_max_diff": worst,
            "outside_pixels": outside}
