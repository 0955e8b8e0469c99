"""The shared part of the segmenters that run a transformers (model, processor) pair: SAM 2.1 (sam2.py)
and HQ-SAM (samhq.py). Formats, lifecycle and concurrency are pipelines.segment's Segmenter interface:
construct (reads nothing), load(), prepare(image) (the embedding, cached by content: segment.EmbeddingCache),
segment(...) -> segment.Segmentation, close(). A subclass says which classes to load and how to encode an image
and decode prompts; everything else lives here once.

Nothing is imported from torch/transformers, built, read or downloaded when this module is imported.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Sequence

import numpy as np

from .cache import CacheInfo, EmbeddingCache
from .checkpoints import ProgressCallback
from .prompts import (
    LogitsFrame,
    Prompts,
    Segmentation,
    _frozen,
    check_image,
    check_prompts,
    image_key,
    refinement_input,
)


class TransformersSegmenter:
    """Lifecycle, embedding cache and segment() for a segmenter on a transformers (model, processor) pair.

    A subclass sets ``family`` (the model's name in messages, e.g. "SAM-HQ") and implements _classes() (the model
    and processor classes to load), _engine_name(model_id), _encode() (an image's embedding, cached),
    _mask_input_size() (the low-resolution logits' (h, w)) and _decode() (prompts -> low-resolution logits and
    scores, and the masks at the image's size).
    """

    family = "transformers"
    remedy = "use --engine sam or --engine grabcut, or give a folder saved with save_pretrained"

    def __init__(
        self,
        model_id: str | os.PathLike,
        *,
        device: str | None = None,
        cache_size: int = 4,
        download: bool = True,
    ) -> None:
        self._embeddings = EmbeddingCache(cache_size)
        self.model_id = str(model_id)
        self.device = device
        self.download = download
        self.cache_size = int(cache_size)
        self.name = self._engine_name(self.model_id)
        self._model: Any = None
        self._processor: Any = None
        self._closed = False
        self._load_lock = threading.Lock()

    # -- what a subclass provides ----------------------------------------------------------------------------

    def _classes(self) -> tuple[Any, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _engine_name(self, model_id: str) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def _encode(self, model: Any, processor: Any, image: np.ndarray) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _mask_input_size(self, model: Any) -> tuple[int, int]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _decode(self, model: Any, processor: Any, emb: Any, prompts: Prompts, mask_input: np.ndarray | None,
                multimask: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, LogitsFrame]:  # pragma: no cover
        """(logits (C, h, w) float32, scores (C,) float32, masks (C, H, W) bool at the image's size, and where the
        logits lie over the image: prompts.LogitsFrame)."""
        raise NotImplementedError

    # -- lifecycle -------------------------------------------------------------------------------------------

    @classmethod
    def from_model(cls, model: Any, processor: Any, *, name: str = "custom", cache_size: int = 4):
        """A loaded segmenter around an already built model and processor (tests, benchmarks)."""
        seg = cls(name, cache_size=cache_size)  # named after ``name``: e.g. "sam-hq toy"
        seg._model = model.eval()
        seg._processor = processor
        return seg

    @property
    def engine(self) -> str:
        return self.name

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self, progress: ProgressCallback | None = None):
        """Load the model and its processor (from the folder, the Hugging Face cache, or one download).

        Idempotent and thread-safe. ``progress`` is accepted for interface parity and not called (the hub client
        shows its own progress). A model that cannot be had is one UserError line naming it and the remedies.
        """
        with self._load_lock:  # the closed check inside the lock: a close() racing a load() wins
            if self._closed:
                raise RuntimeError(f"this {type(self).__name__} was closed; create a new one")
            if self._model is None:
                from ..hf import load_pretrained

                model_cls, processor_cls = self._classes()
                self._model, self._processor = load_pretrained(
                    model_cls, processor_cls, self.model_id, device=self.device, download=self.download,
                    what=f"{self.family} model", remedy=self.remedy,
                )
        return self

    def close(self) -> None:
        """Release the model and the cached embeddings. Using the segmenter afterwards is a RuntimeError."""
        with self._load_lock:
            self._model = None
            self._processor = None
            self._closed = True
        self.clear_cache()

    def __enter__(self):
        return self.load()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _require_model(self) -> tuple[Any, Any]:
        model, processor = self._model, self._processor
        if model is None or processor is None:
            if self._closed:
                raise RuntimeError(f"this {type(self).__name__} was closed; create a new one")
            raise RuntimeError(f"the {self.family} model is not loaded: call load() before prepare() or segment()")
        return model, processor

    # -- embedding cache -------------------------------------------------------------------------------------

    def cache_info(self) -> CacheInfo:
        return self._embeddings.info()

    def clear_cache(self) -> None:
        self._embeddings.clear()

    def _embedding(self, model: Any, processor: Any, image: np.ndarray, key: str) -> Any:
        return self._embeddings.get(key, lambda: self._encode(model, processor, image))

    # -- work ------------------------------------------------------------------------------------------------

    def prepare(self, image: np.ndarray) -> str:
        """Compute (or find in the cache) the embedding of ``image`` (HWC uint8 RGB); return its key."""
        model, processor = self._require_model()
        image = check_image(image)
        key = image_key(image)
        self._embedding(model, processor, image, key)
        return key

    def segment(
        self,
        image: np.ndarray,
        points: Sequence[tuple[float, float]] | np.ndarray | None = None,
        labels: Sequence[int] | np.ndarray | None = None,
        box: Sequence[float] | np.ndarray | None = None,
        previous: Segmentation | None = None,
        multimask: bool = True,
        positive: Sequence[tuple[float, float]] | np.ndarray | None = None,
        negative: Sequence[tuple[float, float]] | np.ndarray | None = None,
    ) -> Segmentation:
        """Segment the object the prompts point at (see segment.Segmenter.segment; the same arguments).

        image     HWC uint8 RGB
        points    (x, y) pixel coordinates with ``labels`` (1 positive, 0 negative); or ``positive``/``negative``
        box       XYXY, exclusive ends, inside the image
        previous  the last result of this engine on this image: its chosen low-resolution logits go in as the mask
                  prompt. Pass all clicks so far, not just the new one.
        multimask True: 3 candidates with the model's predicted IoU, best = highest; False: 1.
        """
        model, processor = self._require_model()
        image = check_image(image)
        prompts = check_prompts(
            image.shape[:2], points=points, labels=labels, positive=positive, negative=negative, box=box
        )
        key = image_key(image)
        mask_input = None
        if previous is not None:
            mask_input = refinement_input(previous, key, self.engine, self._mask_input_size(model),
                                          target=self.engine, family=self.family)
        emb = self._embedding(model, processor, image, key)
        low, scores, masks, frame = self._decode(model, processor, emb, prompts, mask_input, multimask)
        return Segmentation(
            masks=_frozen(masks),
            scores=_frozen(scores.astype(np.float32)),
            best=int(np.argmax(scores)),
            logits=_frozen(low.astype(np.float32)),
            engine=self.engine,
            image_key=key,
            prompts=prompts,
            frame=frame,
        )
