"""Parameter checks every generator shares, one set for inpaint(), outpaint() and the engines: each failure is a
one-line UserError. Also Cancelled, raised when a job's cancel event is set."""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from ..errors import UserError

ProgressFn = Callable[[int, int], Any]
"""progress(done, total): called after every step (a denoising step, or one classical fill)."""

MAX_VARIANTS = 16
MAX_SEED = 2**63 - 1


class Cancelled(RuntimeError):
    """Raised when a job's ``cancel`` event is set; a generation stops within one denoising step."""


def check_int(value, name: str, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise UserError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if value < minimum or (maximum is not None and value > maximum):
        bound = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise UserError(f"{name} must be {bound}, got {value}")
    return value


def check_float(value, name: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise UserError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(out):
        raise UserError(f"{name} must be finite, got {value!r}")
    return out


def check_method(method: str) -> str:
    """The compositing method, checked: only contract-safe methods (outside pixels byte-identical)."""
    from .. import blend

    safe = [m for m in blend.METHODS if m in blend.CONTRACT_SAFE]
    if method not in safe:
        raise UserError(f"method must be one of {', '.join(safe)} (contract-safe), got {method!r}")
    return method


def check_feather(feather) -> float | None:
    if feather is None:
        return None
    f = check_float(feather, "feather")
    if f < 0:
        raise UserError(f"feather must be >= 0, got {feather!r}")
    return f


def check_cancel(cancel, done: int = 0, total: int = 0) -> None:
    if cancel is not None and cancel.is_set():
        where = f" after step {done} of {total}" if total else ""
        raise Cancelled(f"inpainting cancelled{where}")


def check_generation(strength, steps, guidance) -> tuple[float, int, float | None]:
    """The diffusion settings every entry point checks, whichever engine runs (a value out of range is an error
    even where the engine ignores it): strength in (0, 1], steps in [1, 1000] leaving at least one step at that
    strength, guidance >= 0 or None (the model's default). Returns them checked."""
    strength = check_float(strength, "strength")
    if not 0.0 < strength <= 1.0:
        raise UserError(f"strength must be in (0, 1], got {strength}")
    steps = check_int(steps, "steps", 1, 1000)
    if min(int(steps * strength), steps) < 1:
        raise UserError(f"steps x strength = {steps} x {strength} leaves no denoising step; raise one of them")
    if guidance is not None:
        guidance = check_float(guidance, "guidance")
        if guidance < 0:
            raise UserError(f"guidance must be >= 0, got {guidance}")
    return strength, steps, guidance
