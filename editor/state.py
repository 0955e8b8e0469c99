"""App configuration, the resources shared by all users, and the per-session state kept in gr.State.

Formats: images HWC uint8 RGB; masks HW bool, True = repaint; points (x, y) pixel coordinates; boxes XYXY with
exclusive ends.

Shared (one per process, read-only for the callbacks): the diffusion models live in pipelines.models' process-wide
cache; the segmenter (SAM or the GrabCut fallback) is made once, lazily, by ``Resources.segmenter()``. Nothing is
loaded or downloaded when this module is imported or when the app starts.

Per user: ``Session`` (the image being edited, the clicks and box, the segmentation candidates, the last result).
It holds no model and no lock, so gr.State can deep-copy it for each new browser session.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

CLASSICAL_ENGINES = ("telea", "ns")
ENGINES = ("diffusers",) + CLASSICAL_ENGINES


@dataclass(frozen=True)
class AppConfig:
    """What app.py's flags decide. ``engine`` "auto" resolves to "diffusers" when a model was named or the default
    model is already in the local Hugging Face cache, else to the classical "telea" (no download at start)."""

    model: str | None = None
    engine: str = "auto"
    sam_model: str = "vit_b"
    sam_checkpoint: str | None = None
    segmenter: str = "auto"  # "auto" (SAM if a checkpoint is on disk, else GrabCut), "sam", "grabcut"
    device: str = "auto"
    concurrency: int = 1  # generation events running at once (they share concurrency_id "gpu")
    examples: bool = True

    def model_name(self) -> str:
        from pipelines.models import DEFAULT_MODEL

        return self.model or DEFAULT_MODEL

    def default_engine(self) -> str:
        if self.engine != "auto":
            return self.engine
        if self.model:
            return "diffusers"
        return "diffusers" if model_in_local_cache(self.model_name()) else "telea"


def model_in_local_cache(name: str) -> bool:
    """True when the hub model ``name`` (or a local folder) is available without a download. Never goes online."""
    from pathlib import Path

    if Path(name).expanduser().exists():
        return True
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(name, "model_index.json")
    except Exception:
        return False
    return isinstance(found, str)


class Resources:
    """The objects all sessions share: the segmenter, made on first use (thread-safe)."""

    def __init__(self, config: AppConfig, segmenter=None):
        """``segmenter``: an already loaded segmenter to share (tests, embedding apps); else made on first use."""
        self.config = config
        self._segmenter = segmenter
        self._lock = threading.Lock()
        self._cancel: dict[str, threading.Event] = {}  # one per browser session (its session hash)

    def cancel_event(self, key: str | None) -> threading.Event:
        """A fresh (cleared) cancel event for the job that session ``key`` is starting."""
        event = threading.Event()
        if key:
            with self._lock:
                self._cancel[key] = event
        return event

    def cancel(self, key: str | None) -> bool:
        """Set the cancel event of session ``key``'s running job (the pipeline stops within one step)."""
        with self._lock:
            event = self._cancel.pop(key, None) if key else None
        if event is None:
            return False
        event.set()
        return True

    def segmenter(self, progress=None):
        """The shared segmenter: SAM when a checkpoint is available locally (or --segmenter sam), else GrabCut."""
        with self._lock:
            if self._segmenter is None:
                from pipelines import segment

                cfg = self.config
                self._segmenter = segment.make_segmenter(
                    cfg.segmenter, model_type=cfg.sam_model, checkpoint=cfg.sam_checkpoint,
                    device=None if cfg.device == "auto" else cfg.device, progress=progress,
                )
            return self._segmenter

    def close(self) -> None:
        with self._lock:
            if self._segmenter is not None:
                self._segmenter.close()
            self._segmenter = None


@dataclass
class Session:
    """One user's working state (kept in gr.State; deep-copied per browser session).

    image        HWC uint8 RGB: the picture being edited (the editor's background)
    points       click prompts so far: (x, y, label) with label 1 positive, 0 negative
    box          XYXY box prompt or None; corner: the first corner of a box being drawn, or None
    segmentation the last pipelines.segment.Segmentation on ``image`` (candidates, scores, chosen one)
    result_input, result, result_mask: the last inpaint run (input, best result, repainted mask), for the feather lab
    """

    image: np.ndarray | None = None
    points: list = field(default_factory=list)
    box: tuple | None = None
    corner: tuple | None = None
    segmentation: object | None = None
    result_input: np.ndarray | None = None
    result: np.ndarray | None = None
    result_mask: np.ndarray | None = None

    def reset_prompts(self) -> None:
        self.points = []
        self.box = None
        self.corner = None
        self.segmentation = None
