"""The Engine interface: what the driver needs from a generator, whatever painted the crop.

An engine fills the masked pixels of one crop:

    engine.fill(crop, crop_mask, prompt=..., negative_prompt=..., seed=..., step=step) -> HWC uint8 RGB, crop's size

crop       HWC uint8 RGB at the size the driver chose for it: the context box resized so its area is
           ``native_size`` squared (multiples of ``multiple``), or the box as it is when native_size is None
crop_mask  HW bool, True = fill (the group's mask, resized the same way)
seed       an int for the engine's own random generator (None for engines that use no randomness)
step       call step() after every unit of work (a denoising step; once for a one-shot fill): it reports
           progress and raises checks.Cancelled when the job's cancel event is set

The engine may change any pixel of the crop it returns: the driver composites only the mask's pixels back
through the boundary engine and verifies the outside (fail closed). Engines hold their model (leased for the
whole job by the caller) and never load anything in fill(). Engines that need the whole photo (a depth map) get it
once per job through prepare(image), and each crop's place through locate(box) just before its fill().
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .checks import ProgressFn, check_cancel


class Engine:
    """A generator behind the driver (see the module docstring). Subclasses set the attributes and fill()."""

    name: str = "engine"
    """The engine's name in results and reports: "telea", "ns", "diffusers", "lama", ..."""
    model: str | None = None
    """The display name of its weights (None for engines without weights)."""
    native_size: int | None = None
    """Side of the square whose area crops are resized to; None: crops are used at their own size."""
    multiple: int = 8
    """Crop sides (after resizing) are multiples of this."""
    min_crop: int = 0
    """The smallest context box side in image px (diffusion: half the native size, so a tiny mask still gets
    enough context)."""
    context_pad: int = 0
    """Extra context px around each mask group on top of the caller's context margin (classical: the fill radius)."""
    description: str = "the engine"
    """How notes name the engine's kind, e.g. "the classical engine"."""
    uses_prompt: bool = True
    uses_negative_prompt: bool = True
    uses_seed: bool = True

    def steps(self) -> int:
        """How many times one fill() calls step()."""
        return 1

    def notes(self) -> list[str]:
        """Remarks for the result (e.g. how the model runs); the driver adds them once."""
        return []

    def settings(self) -> dict:
        """The settings the engine runs with, as used (e.g. the guidance a model defaults to): the result's
        ``params``, for its record."""
        return {}

    def prompt_notes(self, prompt: str, negative_prompt: str | None) -> list[str]:
        """What the result says about a prompt the engine does not read."""
        if not self.uses_prompt and ((prompt or "").strip() or (negative_prompt or "").strip()):
            return [f"prompt ignored by {self.description} ({self.name})"]
        if not self.uses_negative_prompt and (negative_prompt or "").strip():
            return [f"negative prompt ignored by {self.model or self.name} (it takes none)"]
        return []

    def prepare(self, image: np.ndarray) -> None:
        """Called by the driver once per job, before planning, with the whole photo every crop is cut from (HWC uint8
        RGB, the working copy), for engines that read the full picture once (the depth engine estimates the room's
        depth here). Default: nothing."""

    def locate(self, box: tuple[int, int, int, int]) -> None:
        """Called by the driver before each fill() with that crop's XYXY context box in the prepared photo's px
        (the crop is this box resized to the engine's size). Default: nothing."""

    def fill(self, crop: np.ndarray, crop_mask: np.ndarray, *, prompt: str, negative_prompt: str | None,
             seed: int | None, step: Callable[[], None]) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


class Steps:
    """Counts the steps of a whole job (every crop of every variant): reports progress(done, total) after each
    and raises Cancelled when ``cancel`` is set. ``step`` is what engines call."""

    def __init__(self, total: int, progress: ProgressFn | None = None, cancel=None):
        self.total = int(total)
        self.done = 0
        self.progress = progress
        self.cancel = cancel

    def check(self) -> None:
        check_cancel(self.cancel, self.done, self.total)

    def step(self) -> None:
        self.done = min(self.done + 1, self.total)
        if self.progress is not None:
            self.progress(self.done, self.total)
        self.check()
