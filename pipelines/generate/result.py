"""What a generation returns: InpaintResult (images in the input's format, seam reports, seeds, crop boxes, the
masks, timings, notes), the ranking of variants by seam score, and JSON-ready reports."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


@dataclass
class InpaintResult:
    """What inpaint() returns.

    images   full-resolution results in the input's format (channels and depth), best seam score first
    reports  seams.seam_report(input, image, mask) for each image, same order; outside_changed and
             outside_max_diff are measured on the input's own format; with growth also
             outside_changed_given / outside_max_diff_given: the same against the mask as given
    seeds    the seed of each image, same order
    boxes    XYXY crop boxes (input pixel coordinates), one per group of nearby mask regions
    mask     the mask actually repainted (HW bool, after growth)
    given_mask  the mask as the caller gave it (HW bool); equals ``mask`` when grow is 0
    grow     px the mask was grown by (0 unless asked for)
    timings  seconds per stage: load, prepare, generate, composite, report, total
    engine   "diffusers", "telea" or "ns"
    model    the model's display name (None for the classical engines)
    notes    remarks for the user, e.g. "prompt ignored by the classical engine"
    sizes    (width, height) the model ran at, one per box
    params   the engine's settings as used (e.g. {"strength", "steps", "guidance"}; the model's default guidance
             when none was given); {} for engines without settings
    """

    images: list[np.ndarray]
    reports: list[dict]
    seeds: list[int | None]
    boxes: list[tuple[int, int, int, int]]
    mask: np.ndarray
    timings: dict[str, float] = field(default_factory=dict)
    engine: str = "diffusers"
    model: str | None = None
    notes: list[str] = field(default_factory=list)
    sizes: list[tuple[int, int]] = field(default_factory=list)
    given_mask: np.ndarray | None = None
    grow: int = 0
    params: dict = field(default_factory=dict)

    @property
    def image(self) -> np.ndarray:
        """The best-ranked image."""
        return self.images[0]

    @property
    def report(self) -> dict:
        """The best-ranked image's seam report."""
        return self.reports[0]

    def growth(self) -> dict:
        """{"px": the growth asked for, "pixels": pixels added to the given mask}; 0 and 0 without growth."""
        added = 0
        if self.grow and self.given_mask is not None:
            added = int(np.count_nonzero(self.mask)) - int(np.count_nonzero(self.given_mask))
        return {"px": int(self.grow), "pixels": added}

    def summary(self) -> dict:
        """A JSON-ready description (no pixel data)."""
        return {
            "engine": self.engine,
            "model": self.model,
            "seeds": list(self.seeds),
            "boxes": [list(b) for b in self.boxes],
            "sizes": [list(s) for s in self.sizes],
            "reports": [jsonable(r) for r in self.reports],
            "growth": self.growth(),
            "params": dict(self.params),
            "timings": {k: round(float(v), 4) for k, v in self.timings.items()},
            "notes": list(self.notes),
        }


def rank(images: list, reports: list, seeds: list) -> tuple[list, list, list]:
    """Order variants by seam_excess, then ring_delta_e (lower is better); stable for ties."""
    def score(k):
        r = reports[k]
        return (_nan_last(r.get("seam_excess")), _nan_last(r.get("ring_delta_e")), k)

    order = sorted(range(len(images)), key=score)
    return [images[k] for k in order], [reports[k] for k in order], [seeds[k] for k in order]


def _nan_last(v) -> float:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return math.inf
    return v if math.isfinite(v) else math.inf


def jsonable(report: dict) -> dict:
    out = {}
    for k, v in report.items():
        if isinstance(v, (bool, np.bool_)):
            out[k] = bool(v)
        elif isinstance(v, (int, float, np.integer, np.floating)):
            out[k] = float(v) if math.isfinite(float(v)) else None
        else:
            out[k] = v
    return out
