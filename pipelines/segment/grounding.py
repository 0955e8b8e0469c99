"""Text-to-mask: Grounding DINO (transformers' GroundingDinoForObjectDetection) finds boxes for a phrase, and any
segmenter (SAM, SAM 2.1, GrabCut) turns a box into a mask.

Formats are pipelines.segment's: image HWC uint8 RGB; boxes XYXY pixel coordinates with exclusive ends
(0 <= x0 < x1 <= W, 0 <= y0 < y1 <= H); masks HW bool, True = the object (= repaint).

Lifecycle (STYLE.md rules 2 and 3):
    finder = TextSelector("IDEA-Research/grounding-dino-tiny")  # builds nothing, reads nothing, downloads nothing
    finder.load()                                  # model + AutoProcessor .from_pretrained(hub id or saved folder)
    finder.boxes(image, "the car")                 # [((x0, y0, x1, y1), score), ...] best first
    result = finder.select(image, "the car", segmenter, instances="best")    # a TextSelection (a Segmentation)
    finder.close()                                 # later use is a RuntimeError

Model: the phrase is lower-cased and ends with "." (how Grounding DINO was trained: "a cat. a remote."); the
processor resizes the image; post_process_grounded_object_detection keeps the queries whose best token probability
is above ``box_threshold`` and scales their boxes to the image. Overlapping boxes (IoU > NMS_IOU) of a lower score
are dropped (the model often answers one object with several near-equal queries).

Concurrency: thread-safe. The model is used read-only under torch.inference_mode; loading is guarded by a lock.
Nothing is imported from torch/transformers, built, read or downloaded when this module is imported.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import UserError
from .prompts import Segmentation, _frozen, check_image

if TYPE_CHECKING:  # pragma: no cover
    from transformers import GroundingDinoForObjectDetection, GroundingDinoProcessor

DEFAULT_TEXT_MODEL = "IDEA-Research/grounding-dino-tiny"
"""The small released Grounding DINO (172 M parameters, Swin-T backbone); grounding-dino-base is the larger one."""

BOX_THRESHOLD = 0.35
TEXT_THRESHOLD = 0.25
NMS_IOU = 0.7
MAX_INSTANCES = 10
"""instances="all" segments at most this many boxes (best first)."""

INSTANCES = ("best", "all")

LOAD_REMEDY = "select by hand instead (clicks or a box), or give --text-model a folder saved with save_pretrained"
"""The end of the one-line error when the model cannot be loaded (a caller may set ``selector.remedy``)."""

Box = tuple[int, int, int, int]


def normalise_phrase(phrase: str) -> str:
    """'The Car ' -> 'the car.' (lower case, single spaces, one final '.'); an empty phrase is a UserError."""
    text = re.sub(r"\s+", " ", str(phrase)).strip().lower().rstrip(". ").strip()
    if not text:
        raise UserError("the phrase to select is empty: name the object, e.g. --text \"the car\"")
    return text + "."


def _display(phrase: str) -> str:
    return re.sub(r"\s+", " ", str(phrase)).strip().rstrip(". ").strip()


def _looks_like_path(model_id: str) -> bool:
    """A folder, not a hub id ("org/name"): absolute, ~ or . first, a backslash, or more than one "/"."""
    return os.path.isabs(model_id) or model_id.startswith(("~", ".")) or "\\" in model_id or model_id.count("/") > 1


def _pixel_box(box: Any, width: int, height: int) -> Box | None:
    """A float XYXY box -> integer XYXY with exclusive ends, covering it, clipped to the image; None when empty."""
    x0, y0, x1, y1 = (float(v) for v in box)
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
        return None
    x0, y0 = max(0, math.floor(x0)), max(0, math.floor(y0))
    x1, y1 = min(width, math.ceil(x1)), min(height, math.ceil(y1))
    if x1 <= x0 or y1 <= y0:
        return None
    return int(x0), int(y0), int(x1), int(y1)


def _iou(a: Box, b: Box) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


def _nms(found: list[tuple[Box, float]], iou: float = NMS_IOU) -> list[tuple[Box, float]]:
    """Best first; a box overlapping a better kept one by more than ``iou`` is dropped."""
    kept: list[tuple[Box, float]] = []
    for box, score in sorted(found, key=lambda bs: -bs[1]):
        if all(_iou(box, other) <= iou for other, _ in kept):
            kept.append((box, score))
    return kept


@dataclass(frozen=True)
class TextSelection(Segmentation):
    """A Segmentation selected by a phrase: the mask (one candidate) plus what the text model found.

    phrase     the phrase as the model saw it ("the car.")
    boxes      the XYXY boxes that were segmented, best first (one for instances="best")
    box_scores their text-model scores
    instances  "best" (the best box's mask; refinable like the segmenter's own result) or "all" (the union)
    """

    phrase: str = ""
    boxes: tuple[Box, ...] = ()
    box_scores: tuple[float, ...] = ()
    instances: str = "best"


class TextSelector:
    """Grounding DINO behind an explicit lifecycle: construct (cheap), load(), boxes()/select(), close().

    ``model_id`` is a hub id (IDEA-Research/grounding-dino-tiny by default) or a local folder written by
    save_pretrained (the model and its GroundingDinoProcessor). With ``download=False`` only files already on disk
    (the folder or the Hugging Face cache) are used. ``box_threshold``: the least score a box needs;
    ``text_threshold``: the least token probability for a token to count in a box's label. One instance may be
    shared by all users: it is thread-safe.
    """

    def __init__(
        self,
        model_id: str | os.PathLike = DEFAULT_TEXT_MODEL,
        *,
        device: str | None = None,
        box_threshold: float = BOX_THRESHOLD,
        text_threshold: float = TEXT_THRESHOLD,
        download: bool = True,
    ) -> None:
        for name, value in (("box_threshold", box_threshold), ("text_threshold", text_threshold)):
            if not (isinstance(value, (int, float)) and 0.0 <= float(value) <= 1.0):
                raise UserError(f"{name} must be in [0, 1], got {value!r}")
        self.model_id = str(model_id)
        self.device = device
        self.box_threshold = float(box_threshold)
        self.text_threshold = float(text_threshold)
        self.download = download
        name = Path(self.model_id.rstrip("/\\")).name or self.model_id
        self.name = f"grounding-dino {name.removeprefix('grounding-dino-')}"
        self.remedy = LOAD_REMEDY
        self._model: "GroundingDinoForObjectDetection | None" = None
        self._processor: "GroundingDinoProcessor | None" = None
        self._closed = False
        self._load_lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> "TextSelector":
        """Load the model and its processor (from the folder, the Hugging Face cache, or one download).

        Idempotent and thread-safe. A model that cannot be had is one UserError line naming it and the remedies.
        """
        if self._closed:
            raise RuntimeError("this TextSelector was closed; create a new one")
        with self._load_lock:
            if self._model is None:
                from transformers import AutoProcessor, GroundingDinoForObjectDetection

                from ..hf import load_pretrained

                if not Path(self.model_id).expanduser().exists() and _looks_like_path(self.model_id):
                    raise UserError(f"no text model {self.model_id} (no such folder): {self.remedy}")
                model, processor = load_pretrained(
                    GroundingDinoForObjectDetection, AutoProcessor, self.model_id, device=self.device,
                    download=self.download, what="text model", remedy=self.remedy,
                    errors=(OSError, ValueError, KeyError), quiet=True,
                )
                if not hasattr(processor, "post_process_grounded_object_detection"):
                    raise UserError(f"{self.model_id} is not a Grounding DINO model (its processor is "
                                    f"{type(processor).__name__}): give --text-model a Grounding DINO folder")
                self._model, self._processor = model, processor
        return self

    def close(self) -> None:
        """Release the model. Using the TextSelector afterwards is a RuntimeError."""
        with self._load_lock:
            self._model = None
            self._processor = None
            self._closed = True

    def __enter__(self) -> "TextSelector":
        return self.load()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _require_model(self) -> tuple["GroundingDinoForObjectDetection", "GroundingDinoProcessor"]:
        model, processor = self._model, self._processor
        if model is None or processor is None:
            if self._closed:
                raise RuntimeError("this TextSelector was closed; create a new one")
            raise RuntimeError("the text model is not loaded: call load() before boxes() or select()")
        return model, processor

    # -- work ------------------------------------------------------------------------------------------------

    def boxes(self, image: np.ndarray, phrase: str) -> list[tuple[Box, float]]:
        """Boxes of what ``phrase`` names in ``image`` (HWC uint8 RGB): [((x0, y0, x1, y1), score), ...].

        XYXY integer pixel coordinates with exclusive ends, inside the image; best score first; only scores above
        box_threshold; near-duplicates (IoU > NMS_IOU with a better box) dropped. May be empty.
        """
        import torch

        model, processor = self._require_model()
        image = check_image(image)
        text = normalise_phrase(phrase)
        h, w = image.shape[:2]
        inputs = processor(images=image, text=text, return_tensors="pt").to(model.device)
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(model.dtype)
        with torch.inference_mode():
            outputs = model(**inputs)
        result = processor.post_process_grounded_object_detection(
            outputs,
            inputs["input_ids"],
            threshold=self.box_threshold,
            text_threshold=self.text_threshold,
            target_sizes=[(h, w)],
        )[0]
        found = []
        for box, score in zip(result["boxes"].float().cpu().tolist(), result["scores"].float().cpu().tolist()):
            pixel_box = _pixel_box(box, w, h)
            if pixel_box is not None:
                found.append((pixel_box, float(score)))
        return _nms(found)

    def select(self, image: np.ndarray, phrase: str, segmenter: Any, *, instances: str = "best") -> TextSelection:
        """The mask of what ``phrase`` names: each box goes to ``segmenter.segment(image, box=...)``.

        ``segmenter``: anything with the Segmenter interface (Segmenter, Sam2Segmenter, GrabCutSegmenter), loaded.
        instances "best": the best box's mask (the segmenter's chosen candidate); "all": the union of the masks of
        up to MAX_INSTANCES boxes. No box above the threshold is a one-line UserError.
        """
        if instances not in INSTANCES:
            raise UserError(f"instances must be best or all, got {instances!r}")
        image = check_image(image)
        found = self.boxes(image, phrase)
        if not found:
            raise UserError(
                f"no {_display(phrase)!r} found in the photo (threshold {self.box_threshold:g}): "
                "try another phrase or click on it"
            )
        found = found[:1] if instances == "best" else found[:MAX_INSTANCES]
        results = [segmenter.segment(image, box=box) for box, _ in found]
        first = results[0]
        extra = dict(
            phrase=normalise_phrase(phrase),
            boxes=tuple(box for box, _ in found),
            box_scores=tuple(score for _, score in found),
            instances=instances,
        )
        if instances == "best":
            fields = {f.name: getattr(first, f.name) for f in dataclasses.fields(Segmentation)}
            return TextSelection(**fields, **extra)
        union = np.zeros(image.shape[:2], bool)
        for r in results:
            union |= r.mask
        notes = []
        for r in results:
            if getattr(r, "note", "") and r.note not in notes:
                notes.append(r.note)
        return TextSelection(
            masks=_frozen(union[None]),
            scores=_frozen(np.array([np.nan], np.float32)),
            best=0,
            logits=None,  # a union is no single candidate: it cannot be refined
            engine=first.engine,
            image_key=first.image_key,
            prompts=first.prompts,
            note="; ".join(notes),
            **extra,
        )
