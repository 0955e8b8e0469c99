"""Click-to-segment with SAM 2.1 (transformers' Sam2Model / Sam2Processor) behind the Segmenter interface.

Formats are pipelines.segment's (image HWC uint8 RGB; points (x, y) pixels; labels 1/0; box XYXY with exclusive
ends; masks HW bool, True = the object). The results are segment.Segmentation objects.

Lifecycle (STYLE.md rules 2 and 3), the same as segment.Segmenter:
    seg = Sam2Segmenter("facebook/sam2.1-hiera-tiny")   # builds nothing, reads nothing, downloads nothing
    seg.load()                                          # Sam2Model / Sam2Processor .from_pretrained(id or folder)
    key = seg.prepare(image)                            # optional: the image embedding ahead of time (on upload)
    r1 = seg.segment(image, positive=[(x, y)])
    r2 = seg.segment(image, positive=[(x, y)], negative=[(u, v)], previous=r1)   # refinement
    seg.close()                                         # later use is a RuntimeError

Model: the image is resized (not padded) to the model's square input by the processor; points and boxes are scaled
the same way (x * S / W, y * S / H; the prompt encoder adds the half-pixel offset itself). The decoder answers with
low-resolution logits (256x256 for the released models), upscaled to the image's size with bilinear, half-pixel
centred resampling (as Sam2Processor.post_process_masks does, with OpenCV) and thresholded at 0.

Concurrency: thread-safe. The model is used read-only; each call passes its image's cached embedding explicitly
(no predictor object, no per-image state on the model). The only shared mutable state is the embedding LRU (keyed
by segment.image_key), guarded by a condition: an embedding another thread is computing is waited for.

Nothing is imported from torch/transformers, built, read or downloaded when this module is imported.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import cv2
import numpy as np

from .errors import UserError
from .segment import (
    CacheInfo,
    EmbeddingCache,
    ProgressCallback,
    Segmentation,
    _check_previous,
    _frozen,
    check_image,
    check_prompts,
    image_key,
)

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from transformers import Sam2Model, Sam2Processor

DEFAULT_SAM2_MODEL = "facebook/sam2.1-hiera-tiny"

SAM2_MODELS = (
    "facebook/sam2.1-hiera-tiny",
    "facebook/sam2.1-hiera-small",
    "facebook/sam2.1-hiera-base-plus",
    "facebook/sam2.1-hiera-large",
)
"""The released SAM 2.1 checkpoints on the Hugging Face hub (tiny: 39 M parameters, large: 224 M)."""

MASK_THRESHOLD = 0.0


def engine_name(model_id: str) -> str:
    """'sam2.1 hiera-tiny' for 'facebook/sam2.1-hiera-tiny' (or a local folder of that name)."""
    name = Path(str(model_id).rstrip("/\\")).name or str(model_id)
    for prefix in ("sam2.1-", "sam2.1_", "sam2-", "sam2_"):
        if name.lower().startswith(prefix):
            name = name[len(prefix):]
            break
    return f"sam2.1 {name}"


@dataclass(frozen=True)
class _Embedding:
    features: "list[torch.Tensor]"  # Sam2Model.get_image_embeddings: high-res levels first, (1, C, h, w) each
    original_size: tuple[int, int]  # (H, W)


class Sam2Segmenter:
    """SAM 2.1 behind an explicit lifecycle: construct (cheap), load(), prepare()/segment(), close().

    ``model_id`` is a hub id (facebook/sam2.1-hiera-tiny by default; see SAM2_MODELS) or a local folder written by
    save_pretrained (the model and its Sam2Processor). With ``download=False`` only files already on disk (the
    folder or the Hugging Face cache) are used. ``cache_size`` image embeddings are kept (LRU, keyed by a hash of
    the pixels). One instance may be shared by all users: it is thread-safe.
    """

    def __init__(
        self,
        model_id: str | os.PathLike = DEFAULT_SAM2_MODEL,
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
        self.name = engine_name(self.model_id)
        self._model: "Sam2Model | None" = None
        self._processor: "Sam2Processor | None" = None
        self._closed = False
        self._load_lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------------------------

    @classmethod
    def from_model(
        cls, model: "Sam2Model", processor: "Sam2Processor", *, name: str = "custom", cache_size: int = 4
    ) -> "Sam2Segmenter":
        """A loaded Sam2Segmenter around an already built model and processor (tests, benchmarks)."""
        seg = cls(name, cache_size=cache_size)
        seg.name = f"sam2.1 {name}"
        seg._model = model.eval()
        seg._processor = processor
        return seg

    @property
    def engine(self) -> str:
        return self.name

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self, progress: ProgressCallback | None = None) -> "Sam2Segmenter":
        """Load the model and its processor (from the folder, the Hugging Face cache, or one download).

        Idempotent and thread-safe. ``progress`` is accepted for interface parity and not called (the hub client
        shows its own progress). A model that cannot be had is one UserError line naming it and the remedies.
        """
        if self._closed:
            raise RuntimeError("this Sam2Segmenter was closed; create a new one")
        with self._load_lock:
            if self._model is None:
                from transformers import Sam2Model, Sam2Processor

                from .hf import load_pretrained

                self._model, self._processor = load_pretrained(
                    Sam2Model, Sam2Processor, self.model_id, device=self.device, download=self.download,
                    what="SAM 2.1 model",
                    remedy="use --engine sam or --engine grabcut, or give a folder saved with save_pretrained",
                )
        return self

    def close(self) -> None:
        """Release the model and the cached embeddings. Using the Sam2Segmenter afterwards is a RuntimeError."""
        with self._load_lock:
            self._model = None
            self._processor = None
            self._closed = True
        self.clear_cache()

    def __enter__(self) -> "Sam2Segmenter":
        return self.load()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _require_model(self) -> tuple["Sam2Model", "Sam2Processor"]:
        model, processor = self._model, self._processor
        if model is None or processor is None:
            if self._closed:
                raise RuntimeError("this Sam2Segmenter was closed; create a new one")
            raise RuntimeError("the SAM 2.1 model is not loaded: call load() before prepare() or segment()")
        return model, processor

    # -- embedding cache -------------------------------------------------------------------------------------

    def cache_info(self) -> CacheInfo:
        return self._embeddings.info()

    def clear_cache(self) -> None:
        self._embeddings.clear()

    def _encode(self, model: "Sam2Model", processor: "Sam2Processor", image: np.ndarray) -> _Embedding:
        import torch

        inputs = processor(images=image, return_tensors="pt")
        pixels = inputs["pixel_values"].to(device=model.device, dtype=model.dtype)
        with torch.inference_mode():
            features = model.get_image_embeddings(pixels)
        return _Embedding([f.detach() for f in features], (int(image.shape[0]), int(image.shape[1])))

    def _embedding(self, model: "Sam2Model", processor: "Sam2Processor", image: np.ndarray, key: str) -> _Embedding:
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
        import torch

        model, processor = self._require_model()
        image = check_image(image)
        prompts = check_prompts(
            image.shape[:2], points=points, labels=labels, positive=positive, negative=negative, box=box
        )
        key = image_key(image)
        side = int(model.prompt_encoder.input_image_size)
        mask_size = tuple(int(s) for s in model.prompt_encoder.mask_input_size)
        mask_input = None
        if previous is not None:
            _check_previous(previous, key)
            if previous.logits is None or previous.engine != self.engine:
                raise UserError(
                    f"a {previous.engine} result cannot refine a {self.engine} mask; start again without previous"
                )
            mask_input = np.array(previous.mask_input, dtype=np.float32)  # (1, h, w), writable
            if tuple(mask_input.shape[-2:]) != mask_size:
                raise UserError("the previous result comes from another SAM 2.1 model; start again without previous")
        emb = self._embedding(model, processor, image, key)

        h, w = emb.original_size
        scale = np.array([side / w, side / h])
        device = model.device
        kwargs: dict[str, Any] = {}
        if len(prompts.points):
            pts = prompts.points * scale
            kwargs["input_points"] = torch.as_tensor(pts, dtype=torch.float32, device=device)[None, None]
            kwargs["input_labels"] = torch.as_tensor(prompts.labels.copy(), dtype=torch.int64, device=device)[None, None]
        if prompts.box is not None:
            bx = prompts.box * np.tile(scale, 2)
            kwargs["input_boxes"] = torch.as_tensor(bx, dtype=torch.float32, device=device)[None, None]
        if mask_input is not None:
            kwargs["input_masks"] = torch.as_tensor(mask_input, dtype=torch.float32, device=device)[None]
        with torch.inference_mode():
            out = model(image_embeddings=emb.features, multimask_output=multimask, **kwargs)
        low = out.pred_masks[0, 0].float().cpu().numpy()  # (C, h, w) logits
        scores = out.iou_scores[0, 0].float().cpu().numpy().astype(np.float32)
        masks = _upscale_masks(low, h, w)
        return Segmentation(
            masks=_frozen(masks),
            scores=_frozen(scores),
            best=int(np.argmax(scores)),
            logits=_frozen(low.astype(np.float32)),
            engine=self.engine,
            image_key=key,
            prompts=prompts,
        )


def _upscale_masks(low: np.ndarray, h: int, w: int) -> np.ndarray:
    """(C, h0, w0) logits -> (C, h, w) bool masks: bilinear with half-pixel centres (F.interpolate's
    align_corners=False, as Sam2Processor.post_process_masks), by OpenCV one candidate at a time, then > 0."""
    masks = np.empty((low.shape[0], h, w), bool)
    for i, logits in enumerate(low):
        up = cv2.resize(np.ascontiguousarray(logits), (w, h), interpolation=cv2.INTER_LINEAR)
        np.greater(up, MASK_THRESHOLD, out=masks[i])
    return masks
