"""App configuration, the resources shared by all users, and the per-session state kept in gr.State.

Formats: images HWC uint8 RGB; masks HW bool, True = repaint; points (x, y) pixel coordinates; boxes XYXY with
exclusive ends.

Shared (one per process, read-only for the callbacks): the diffusion models live in pipelines.models' process-wide
cache; the segmenter (SAM or the GrabCut fallback) is made once, lazily, by ``Resources.segmenter()``. Nothing is
loaded or downloaded when this module is imported or when the app starts.

Per user: ``Session`` (the photo being edited as decoded from the uploaded file, the clicks and box, the segmentation
candidates, the last result). It holds no model and no lock, so gr.State can deep-copy it for each new browser
session. Files written for a session (the display copy, result PNGs) live in ``Resources.session_dir(key)`` and
are removed when the session ends (the tab closes) and when the process exits.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipelines.generate.engines import CLASSICAL as CLASSICAL_ENGINES
from pipelines.generate.engines import NAMES

ENGINES = NAMES
"""The engines the app offers: every engine pipelines.inpaint takes."""
PROMPTLESS_ENGINES = ("lama",) + CLASSICAL_ENGINES
"""Engines that take no prompt, seed, strength or model choice (LaMa and the OpenCV fills)."""


@dataclass(frozen=True)
class AppConfig:
    """What app.py's flags decide. ``engine`` "auto" resolves to "diffusers" when a model was named or the default
    model is already in the local Hugging Face cache, else to the classical "telea" (no download at start)."""

    model: str | None = None
    engine: str = "auto"
    sam_model: str = "vit_b"
    sam_checkpoint: str | None = None
    segmenter: str = "auto"  # "auto" (SAM 2.1 / SAM if on disk, else GrabCut), "sam2", "sam", "grabcut"
    sam2_model: str | None = None  # SAM 2.1 hub id or folder (None: pipelines.segment.sam2.DEFAULT_SAM2_MODEL)
    device: str = "auto"
    concurrency: int = 1  # generation events running at once (they share concurrency_id "gpu")
    examples: bool = True
    allow_custom_models: bool = True  # visitors may type a hub id or path (off when served beyond localhost)
    allow_downloads: bool = True  # a model not in the local cache may be downloaded (off beyond localhost)
    text_model: str | None = None  # Grounding DINO for "Select by text" (None: grounding.DEFAULT_TEXT_MODEL)

    def allowed_models(self) -> list[str]:
        """The models offered in the UI (the configured one, the default, and the registry's diffusers and staging
        presets); with allow_custom_models off, the only ones accepted."""
        from pipelines.generate.registry import PRESETS
        from pipelines.models import DEFAULT_MODEL

        presets = [p.id for p in PRESETS if p.engine in ("diffusers", "depth")]
        return list(dict.fromkeys([self.model_name(), DEFAULT_MODEL, *presets]))

    def check_model(self, name: str | None) -> str:
        """The model a request may use: ``name`` (or the configured one when empty), refused with a one-line
        UserError when custom models are off and it is not one of allowed_models()."""
        from pipelines.errors import UserError

        name = (name or "").strip() or self.model_name()
        if not self.allow_custom_models and name not in self.allowed_models():
            raise UserError(f"model '{name}' is not offered on this server; choose one of the list "
                            "(the operator can allow others with --allow-custom-models)")
        return name

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
        self._segmenter_lock = threading.Lock()  # making the shared segmenter (may load SAM)
        self._text_selector = None
        self._text_lock = threading.Lock()  # making the shared text selector (loads Grounding DINO)
        self._cancel_lock = threading.Lock()  # the cancel registry
        self._cancel: dict[str, threading.Event] = {}  # one per browser session (its session hash)
        self._files_lock = threading.Lock()  # the per-session file folders
        self._root = Path(tempfile.mkdtemp(prefix="inpaint-app-"))
        atexit.register(shutil.rmtree, self._root, True)

    def cancel_event(self, key: str | None) -> threading.Event:
        """A fresh (cleared) cancel event for the job that session ``key`` is starting."""
        event = threading.Event()
        if key:
            with self._cancel_lock:
                self._cancel[key] = event
        return event

    def cancel(self, key: str | None) -> bool:
        """Set the cancel event of session ``key``'s running job (the pipeline stops within one step)."""
        with self._cancel_lock:
            event = self._cancel.pop(key, None) if key else None
        if event is None:
            return False
        event.set()
        return True

    def session_dir(self, key: str | None) -> Path:
        """The folder for session ``key``'s files (display copies, result PNGs), made on first use."""
        name = "".join(c for c in str(key or "anonymous") if c.isalnum() or c in "-_")[:64] or "anonymous"
        with self._files_lock:
            path = self._root / name
            path.mkdir(parents=True, exist_ok=True)
        return path

    def end_session(self, key: str | None) -> None:
        """The session's tab closed: stop its running job and remove its files."""
        self.cancel(key)
        if key:
            name = "".join(c for c in str(key) if c.isalnum() or c in "-_")[:64]
            with self._files_lock:
                shutil.rmtree(self._root / name, ignore_errors=True)

    def segmenter(self, progress=None):
        """The shared segmenter: SAM when a checkpoint is available locally (or --segmenter sam), else GrabCut."""
        with self._segmenter_lock:
            if self._segmenter is None:
                from pipelines import segment

                cfg = self.config
                self._segmenter = segment.make_segmenter(
                    cfg.segmenter, model_type=cfg.sam_model,
                    checkpoint=cfg.sam2_model if cfg.segmenter in ("sam2", "sam-hq") else cfg.sam_checkpoint,
                    device=None if cfg.device == "auto" else cfg.device, progress=progress,
                    download=cfg.allow_downloads,
                )
            return self._segmenter

    def text_selector(self):
        """The shared text selector (Grounding DINO), loaded on first use; downloads only when the config allows.
        A model that cannot be had is a one-line UserError (and the next call tries again)."""
        with self._text_lock:
            if self._text_selector is None:
                from pipelines.segment import grounding

                cfg = self.config
                selector = grounding.TextSelector(cfg.text_model or grounding.DEFAULT_TEXT_MODEL,
                                                  device=None if cfg.device == "auto" else cfg.device,
                                                  download=cfg.allow_downloads)
                selector.remedy = ("select by clicking instead, or start the app with --text-model pointing at a "
                                   "Grounding DINO folder")
                self._text_selector = selector.load()
            return self._text_selector

    def close(self) -> None:
        with self._text_lock:
            if self._text_selector is not None:
                self._text_selector.close()
            self._text_selector = None
        with self._segmenter_lock:
            if self._segmenter is not None:
                self._segmenter.close()
            self._segmenter = None
        shutil.rmtree(self._root, ignore_errors=True)


@dataclass
class Session:
    """One user's working state (kept in gr.State; deep-copied per browser session).

    picture      pipelines.io.Picture: the photo being edited as our decoder read it (native pixels, the contract):
                 the uploaded file, or a result the user continued from
    key          sha256 of that file's bytes (names the photo on the canvas; the segmenter caches by content)
    display      HWC uint8 RGB: the copy the canvas shows (at most DISPLAY_MAX px a side); the browser's pixels are
                 never used as the original
    image        HWC uint8 RGB: the 8-bit working copy at full resolution (segmentation, previews)
    mask         HW bool at full size: the mask of the last run (or the one loaded with the photo)
    segmentation the last pipelines.segment.Segmentation on ``image`` (refined by the next click)
    result_input, result, result_mask: the last inpaint run (input, best result, repainted mask: 8-bit working
                 copies), for the feather lab
    last         the last result: {"pixels": native array, "png": its lossless file, "mask": the mask used}
    history      photos replaced by "Continue from this result": [(picture, key, display, image, mask used)]
    """

    picture: object | None = None
    key: str | None = None
    display: np.ndarray | None = None
    image: np.ndarray | None = None
    mask: np.ndarray | None = None
    segmentation: object | None = None
    result_input: np.ndarray | None = None
    result: np.ndarray | None = None
    result_mask: np.ndarray | None = None
    last: dict | None = None
    history: list = field(default_factory=list)

    def reset_prompts(self) -> None:
        self.segmentation = None

    @property
    def scale(self) -> float:
        """Display width / full width (1.0 when the photo is shown at full size)."""
        if self.display is None or self.image is None:
            return 1.0
        return self.display.shape[1] / self.image.shape[1]
