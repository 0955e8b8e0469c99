"""Click-to-segment with HQ-SAM (transformers' SamHQModel / SamHQProcessor) behind the Segmenter interface.

HQ-SAM is SAM (v1, ViT image encoder) with a high-quality output token whose mask is fed by an early ViT layer as
well as the final embedding: sharper edges and thin structures (cables, railings, hair, branches) that SAM rounds
off or drops. Same prompts, same candidates, same lifecycle as pipelines.sam2.Sam2Segmenter.

Formats are pipelines.segment's (image HWC uint8 RGB; points (x, y) pixels; labels 1/0; box XYXY with exclusive
ends; masks HW bool, True = the object). The results are segment.Segmentation objects.

Lifecycle (STYLE.md rules 2 and 3), the same as segment.Segmenter and sam2.Sam2Segmenter:
    seg = SamHQSegmenter("syscv-community/sam-hq-vit-base")   # builds nothing, reads nothing, downloads nothing
    seg.load()                                               # SamHQModel / SamHQProcessor .from_pretrained
    key = seg.prepare(image)                                 # optional: the image embedding ahead of time
    r1 = seg.segment(image, positive=[(x, y)])
    r2 = seg.segment(image, positive=[(x, y)], negative=[(u, v)], previous=r1)   # refinement
    seg.close()                                              # later use is a RuntimeError

Model (SAM v1 geometry, unlike SAM 2): the processor resizes the image's longest side to the model's input side S
(1024 for the released models) keeping the aspect ratio, to (h', w') = round(H * S / max(H, W)), round(W * ...),
and pads it bottom/right to S x S. Points and boxes are scaled the same way (x * w' / W, y * h' / H; the prompt
encoder adds the half-pixel offset itself). The decoder answers with low-resolution logits (256x256 for the released
models) over the padded square; they are upscaled to S x S, cropped to (h', w') and resized to (H, W), bilinear
with half-pixel centres each time, then thresholded at 0: SamImageProcessor.post_process_masks, done with OpenCV.
The HQ token's mask is added to each of SAM's candidates (transformers' default, hq_token_only=False); the
candidates come sorted by the model's predicted IoU.

The image embedding HQ-SAM's decoder needs is two tensors: the encoder's output (1, C, S/16, S/16) and the output of
its first global-attention block (1, S/16, S/16, D), both cached per image.

Concurrency: thread-safe. The model is used read-only; each call passes its image's cached embedding explicitly.
The only shared mutable state is the embedding LRU (segment.EmbeddingCache, keyed by segment.image_key): an
embedding another thread is computing is waited for, not computed twice.

TransformersSegmenter is the lifecycle and segment() common to segmenters built on a transformers (model,
processor) pair; a subclass says which classes to load and how to encode an image and decode prompts. (sam2.py's
Sam2Segmenter has the same shape and could become one.)

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
    Prompts,
    Segmentation,
    _check_previous,
    _frozen,
    check_image,
    check_prompts,
    image_key,
)

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from transformers import SamHQModel, SamHQProcessor

DEFAULT_SAMHQ_MODEL = "syscv-community/sam-hq-vit-base"

SAMHQ_MODELS = (
    "syscv-community/sam-hq-vit-base",
    "syscv-community/sam-hq-vit-large",
    "syscv-community/sam-hq-vit-huge",
)
"""The HQ-SAM checkpoints converted by the transformers team (vit_b: 94 M parameters, vit_h: 640 M)."""

MASK_THRESHOLD = 0.0

_SIZES = {"vit-base": "vit_b", "vit-large": "vit_l", "vit-huge": "vit_h", "vit_b": "vit_b", "vit_l": "vit_l",
          "vit_h": "vit_h"}


def engine_name(model_id: str) -> str:
    """'sam-hq vit_b' for 'syscv-community/sam-hq-vit-base' (or a local folder of that name); 'sam-hq <name>' for
    another folder name, less a leading 'sam-hq-' / 'sam_hq_'."""
    name = Path(str(model_id).rstrip("/\\")).name or str(model_id)
    for prefix in ("sam-hq-", "sam_hq_", "samhq-", "samhq_", "sam-hq_", "sam_hq-"):
        if name.lower().startswith(prefix):
            name = name[len(prefix):]
            break
    return f"sam-hq {_SIZES.get(name.lower(), name)}"


# --------------------------------------------------------------------------------------------------------------
# The common part: a transformers (model, processor) pair behind the Segmenter lifecycle
# --------------------------------------------------------------------------------------------------------------


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
                multimask: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - abstract
        """(logits (C, h, w) float32, scores (C,) float32, masks (C, H, W) bool at the image's size)."""
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
        if self._closed:
            raise RuntimeError(f"this {type(self).__name__} was closed; create a new one")
        with self._load_lock:
            if self._model is None:
                from .hf import load_pretrained

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
            _check_previous(previous, key)
            if previous.logits is None or previous.engine != self.engine:
                raise UserError(
                    f"a {previous.engine} result cannot refine a {self.engine} mask; start again without previous"
                )
            mask_input = np.array(previous.mask_input, dtype=np.float32)  # (1, h, w), writable
            if tuple(mask_input.shape[-2:]) != tuple(self._mask_input_size(model)):
                raise UserError(
                    f"the previous result comes from another {self.family} model; start again without previous"
                )
        emb = self._embedding(model, processor, image, key)
        low, scores, masks = self._decode(model, processor, emb, prompts, mask_input, multimask)
        return Segmentation(
            masks=_frozen(masks),
            scores=_frozen(scores.astype(np.float32)),
            best=int(np.argmax(scores)),
            logits=_frozen(low.astype(np.float32)),
            engine=self.engine,
            image_key=key,
            prompts=prompts,
        )


# --------------------------------------------------------------------------------------------------------------
# HQ-SAM
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Embedding:
    features: "torch.Tensor"  # the vision encoder's output, (1, C, S/16, S/16)
    early: "torch.Tensor"  # its first global-attention block's output, (1, S/16, S/16, D): HQ-SAM's decoder uses it
    original_size: tuple[int, int]  # (H, W)
    reshaped_size: tuple[int, int]  # (h', w'): the image inside the model's padded S x S input


class SamHQSegmenter(TransformersSegmenter):
    """HQ-SAM behind an explicit lifecycle: construct (cheap), load(), prepare()/segment(), close().

    ``model_id`` is a hub id (syscv-community/sam-hq-vit-base by default; see SAMHQ_MODELS) or a local folder written
    by save_pretrained (the model and its SamHQProcessor). With ``download=False`` only files already on disk (the
    folder or the Hugging Face cache) are used. ``cache_size`` image embeddings are kept (LRU, keyed by a hash of
    the pixels). One instance may be shared by all users: it is thread-safe.
    """

    family = "SAM-HQ"

    def __init__(
        self,
        model_id: str | os.PathLike = DEFAULT_SAMHQ_MODEL,
        *,
        device: str | None = None,
        cache_size: int = 4,
        download: bool = True,
    ) -> None:
        super().__init__(model_id, device=device, cache_size=cache_size, download=download)

    def _classes(self) -> tuple[Any, Any]:
        from transformers import SamHQModel, SamHQProcessor

        return SamHQModel, SamHQProcessor

    def _engine_name(self, model_id: str) -> str:
        return engine_name(model_id)

    def _mask_input_size(self, model: "SamHQModel") -> tuple[int, int]:
        side = 4 * int(model.prompt_encoder.image_embedding_size[0])  # the mask embedding downsamples by 4
        return side, side

    def _encode(self, model: "SamHQModel", processor: "SamHQProcessor", image: np.ndarray) -> _Embedding:
        import torch

        inputs = processor(images=image, return_tensors="pt")
        pixels = inputs["pixel_values"].to(device=model.device, dtype=model.dtype)
        with torch.inference_mode():
            out = model.vision_encoder(pixels)
        if not out.intermediate_embeddings:
            raise UserError(f"the {self.engine} model has no global-attention block: HQ-SAM needs one")
        # the decoder reads only the first intermediate embedding (SamHQMaskDecoder: intermediate_embeddings[0]);
        # the others (3 more for the released models, 21 MB each for vit_h) are not kept
        return _Embedding(
            out.last_hidden_state.detach(),
            out.intermediate_embeddings[0].detach(),
            (int(image.shape[0]), int(image.shape[1])),
            tuple(int(s) for s in inputs["reshaped_input_sizes"][0]),
        )

    def _decode(self, model: "SamHQModel", processor: "SamHQProcessor", emb: _Embedding, prompts: Prompts,
                mask_input: np.ndarray | None, multimask: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        import torch

        h, w = emb.original_size
        rh, rw = emb.reshaped_size
        scale = np.array([rw / w, rh / h])  # as SamHQProcessor._normalize_coordinates
        device = model.device
        kwargs: dict[str, Any] = {}
        if len(prompts.points):
            pts = prompts.points * scale
            kwargs["input_points"] = torch.as_tensor(pts, dtype=torch.float32, device=device)[None, None]
            labels = torch.as_tensor(prompts.labels.copy(), dtype=torch.int64, device=device)
            kwargs["input_labels"] = labels[None, None]
        if prompts.box is not None:
            bx = prompts.box * np.tile(scale, 2)
            kwargs["input_boxes"] = torch.as_tensor(bx, dtype=torch.float32, device=device)[None, None]
        if mask_input is not None:
            kwargs["input_masks"] = torch.as_tensor(mask_input, dtype=torch.float32, device=device)[None]
        with torch.inference_mode():
            out = model(image_embeddings=emb.features, intermediate_embeddings=[emb.early],
                        multimask_output=multimask, **kwargs)
        low = out.pred_masks[0, 0].float().cpu().numpy()  # (C, h, w) logits over the padded square
        scores = out.iou_scores[0, 0].float().cpu().numpy()
        pad = processor.image_processor.pad_size
        masks = upscale_masks(low, (int(pad["height"]), int(pad["width"])), emb.reshaped_size, emb.original_size)
        return low, scores, masks


def upscale_masks(low: np.ndarray, pad_size: tuple[int, int], reshaped_size: tuple[int, int],
                  original_size: tuple[int, int]) -> np.ndarray:
    """(C, h0, w0) logits over the model's padded input -> (C, H, W) bool masks, as
    SamImageProcessor.post_process_masks: bilinear (half-pixel centres, F.interpolate's align_corners=False) to
    ``pad_size`` (S, S), crop to ``reshaped_size`` (h', w'), bilinear to ``original_size`` (H, W), then > 0.
    By OpenCV, one candidate at a time."""
    (ph, pw), (rh, rw), (h, w) = pad_size, reshaped_size, original_size
    masks = np.empty((low.shape[0], h, w), bool)
    for i, logits in enumerate(low):
        logits = np.ascontiguousarray(logits, dtype=np.float32)
        padded = cv2.resize(logits, (pw, ph), interpolation=cv2.INTER_LINEAR)
        up = cv2.resize(np.ascontiguousarray(padded[:rh, :rw]), (w, h), interpolation=cv2.INTER_LINEAR)
        np.greater(up, MASK_THRESHOLD, out=masks[i])
    return masks
