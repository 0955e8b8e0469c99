"""Segment Anything 1 (segment-anything's Sam) behind the Segmenter interface (pipelines.segment's docstring).

Concurrency: no predictor state is ever shared: every call builds its own light SamPredictor and installs the cached
embedding of *its* image into it, so concurrent clicks on different images cannot see each other's embedding.

Nothing is imported from torch/segment_anything, built, read or downloaded when this module is imported.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from .cache import CacheInfo, EmbeddingCache
from .checkpoints import DEFAULT_MODEL, ProgressCallback, get_sam_spec, resolve_checkpoint, shared_sam
from .prompts import (
    LogitsFrame,
    Segmentation,
    _frozen,
    check_image,
    check_prompts,
    image_key,
    refinement_input,
    threshold_logits,
)

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from segment_anything.modeling import Sam


@dataclass(frozen=True)
class _Embedding:
    features: "torch.Tensor"  # (1, C, h, w)
    original_size: tuple[int, int]
    input_size: tuple[int, int]


class Segmenter:
    """Segment Anything behind an explicit lifecycle: construct (cheap), load(), prepare()/segment(), close().

    ``model_type`` is a key of SAM_MODELS (vit_b by default). ``checkpoint`` is a local file; without one the
    checkpoint is taken from the cache folder (``cache_dir``, default default_cache_dir()) or, if ``download``,
    downloaded there once by load(). ``cache_size`` image embeddings are kept (LRU, keyed by a hash of the pixels).
    One instance is meant to be shared by all users: it is thread-safe.
    """

    def __init__(
        self,
        model_type: str = DEFAULT_MODEL,
        checkpoint: str | os.PathLike | None = None,
        *,
        device: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        download: bool = True,
        cache_size: int = 4,
    ) -> None:
        get_sam_spec(model_type)  # fail early on a typo; nothing is built or read here
        self._embeddings = EmbeddingCache(cache_size)
        self.model_type = model_type
        self.checkpoint = None if checkpoint is None else Path(checkpoint)
        self.device = device
        self.cache_dir = cache_dir
        self.download = download
        self.cache_size = int(cache_size)
        self._model: "Sam | None" = None
        self._closed = False
        self._load_lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------------------------

    @classmethod
    def from_model(cls, sam: "Sam", *, name: str = "custom", cache_size: int = 4) -> "Segmenter":
        """A loaded Segmenter around an already built ``Sam`` (benchmarks, callers that manage weights themselves)."""
        seg = cls.__new__(cls)
        Segmenter.__init__(seg, DEFAULT_MODEL, cache_size=cache_size)
        seg.model_type = name
        seg._model = sam.eval()
        return seg

    @property
    def engine(self) -> str:
        return f"sam {self.model_type}"

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self, progress: ProgressCallback | None = None) -> "Segmenter":
        """Resolve the checkpoint (downloading it once if allowed) and load the model. Idempotent and thread-safe."""
        with self._load_lock:  # the closed check inside the lock: a close() racing a load() wins
            if self._closed:
                raise RuntimeError("this Segmenter was closed; create a new one")
            if self._model is None:
                import torch

                device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
                path = resolve_checkpoint(
                    self.model_type, self.checkpoint, cache_dir=self.cache_dir, download=self.download,
                    progress=progress,
                )
                self._model = shared_sam(self.model_type, path, device)
        return self

    def close(self) -> None:
        """Release the model and the cached embeddings. Using the Segmenter afterwards is a RuntimeError."""
        with self._load_lock:
            self._model = None
            self._closed = True
        self.clear_cache()

    def __enter__(self) -> "Segmenter":
        return self.load()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _require_model(self) -> "Sam":
        model = self._model
        if model is None:
            if self._closed:
                raise RuntimeError("this Segmenter was closed; create a new one")
            raise RuntimeError("the SAM model is not loaded: call load() before prepare() or segment()")
        return model

    # -- embedding cache -------------------------------------------------------------------------------------

    def cache_info(self) -> CacheInfo:
        return self._embeddings.info()

    def clear_cache(self) -> None:
        self._embeddings.clear()

    def _encode(self, model: "Sam", image: np.ndarray) -> _Embedding:
        from segment_anything import SamPredictor

        predictor = SamPredictor(model)  # a private predictor: its per-image state is never shared
        predictor.set_image(image, image_format="RGB")
        return _Embedding(predictor.features, tuple(predictor.original_size), tuple(predictor.input_size))

    def _embedding(self, model: "Sam", image: np.ndarray, key: str) -> _Embedding:
        return self._embeddings.get(key, lambda: self._encode(model, image))

    # -- work ------------------------------------------------------------------------------------------------

    def prepare(self, image: np.ndarray) -> str:
        """Compute (or find in the cache) the embedding of ``image`` (HWC uint8 RGB); return its key. Slow on CPU."""
        model = self._require_model()
        image = check_image(image)
        key = image_key(image)
        self._embedding(model, image, key)
        return key

    def segment(
        self,
        image: np.ndarray,
        *,
        points: Sequence[tuple[float, float]] | np.ndarray | None = None,
        labels: Sequence[int] | np.ndarray | None = None,
        positive: Sequence[tuple[float, float]] | np.ndarray | None = None,
        negative: Sequence[tuple[float, float]] | np.ndarray | None = None,
        box: Sequence[float] | np.ndarray | None = None,
        previous: Segmentation | None = None,
        multimask: bool = True,
    ) -> Segmentation:
        """Segment the object the prompts point at.

        image     HWC uint8 RGB
        points    (x, y) pixel coordinates with ``labels`` (1 positive, 0 negative); or ``positive``/``negative``
        box       XYXY, exclusive ends, inside the image
        previous  the last result on this image: its chosen low-resolution logits go in as mask_input, so each
                  click refines the previous mask. Pass *all* clicks so far (as SAM was trained), not just the new one.
        multimask True: 3 candidates (SAM's ambiguity-aware output), best = highest predicted IoU; False: 1.
        Returns a Segmentation. The embedding is computed once per image and cached.
        """
        model = self._require_model()
        image = check_image(image)
        prompts = check_prompts(
            image.shape[:2], points=points, labels=labels, positive=positive, negative=negative, box=box
        )
        key = image_key(image)
        mask_input = None
        if previous is not None:  # torch wants a writable array: refinement_input returns a copy
            size = tuple(4 * s for s in model.prompt_encoder.image_embedding_size)
            mask_input = refinement_input(previous, key, self.engine, size, target="SAM", family="SAM")
        emb = self._embedding(model, image, key)

        from segment_anything import SamPredictor

        predictor = SamPredictor(model)  # per call: the per-image state below is never shared between threads
        predictor.features = emb.features
        predictor.original_size = emb.original_size
        predictor.input_size = emb.input_size
        predictor.is_image_set = True
        masks, scores, logits, frame = _sam_predict(
            predictor,
            point_coords=prompts.points.copy() if len(prompts.points) else None,
            point_labels=prompts.labels.copy() if len(prompts.labels) else None,
            box=None if prompts.box is None else prompts.box.copy(),
            mask_input=mask_input,
            multimask_output=multimask,
        )
        scores = scores.astype(np.float32)
        return Segmentation(
            masks=_frozen(masks.astype(bool)),
            scores=_frozen(scores),
            best=int(np.argmax(scores)),
            logits=_frozen(logits.astype(np.float32)),
            engine=self.engine,
            image_key=key,
            prompts=prompts,
            frame=frame,
        )


def _sam_predict(predictor, *, point_coords, point_labels, box, mask_input, multimask_output):
    """SamPredictor.predict with the masks upscaled by OpenCV instead of torch.

    Same prompt transforms, prompt encoder and mask decoder as SamPredictor.predict; the low-resolution
    logits are resized with the same bilinear, half-pixel-centred resampling as Sam.postprocess_masks
    (to the encoder's square input, cropped to the resized image, then to the original size), which
    OpenCV does several times faster on a CPU. Returns (masks CxHxW bool, scores C, low-res logits Cx256x256, and
    their LogitsFrame).
    """
    import torch

    model = predictor.model
    device = model.device
    coords = labels = boxes = masks_in = None
    if point_coords is not None:
        pts = predictor.transform.apply_coords(point_coords, predictor.original_size)
        coords = torch.as_tensor(pts, dtype=torch.float, device=device)[None]
        labels = torch.as_tensor(point_labels, dtype=torch.int, device=device)[None]
    if box is not None:
        b = predictor.transform.apply_boxes(box, predictor.original_size)
        boxes = torch.as_tensor(b, dtype=torch.float, device=device)[None]
    if mask_input is not None:
        masks_in = torch.as_tensor(mask_input, dtype=torch.float, device=device)[None]
    with torch.no_grad():
        sparse, dense = model.prompt_encoder(points=None if coords is None else (coords, labels), boxes=boxes,
                                             masks=masks_in)
        low, iou = model.mask_decoder(
            image_embeddings=predictor.features,
            image_pe=model.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=multimask_output,
        )
    low_np = low[0].float().cpu().numpy()  # C x 256 x 256 logits
    side = model.image_encoder.img_size
    frame = LogitsFrame((side, side), tuple(predictor.input_size))
    masks = threshold_logits(low_np, tuple(predictor.original_size), frame, model.mask_threshold)
    return masks, iou[0].float().cpu().numpy(), low_np, frame
