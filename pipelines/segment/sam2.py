"""Click-to-segment with SAM 2.1 (transformers' Sam2Model / Sam2Processor) behind the Segmenter interface.

Formats are pipelines.segment's (image HWC uint8 RGB; points (x, y) pixels; labels 1/0; box XYXY with exclusive
ends; masks HW bool, True = the object). The results are segment.Segmentation objects.

Lifecycle (STYLE.md rules 2 and 3), the same as segment.Segmenter (pipelines.segment.base, shared with
HQ-SAM):
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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .base import TransformersSegmenter
from .prompts import LogitsFrame, Prompts, threshold_logits

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


class Sam2Segmenter(TransformersSegmenter):
    """SAM 2.1 behind an explicit lifecycle: construct (cheap), load(), prepare()/segment(), close().

    ``model_id`` is a hub id (facebook/sam2.1-hiera-tiny by default; see SAM2_MODELS) or a local folder written by
    save_pretrained (the model and its Sam2Processor). With ``download=False`` only files already on disk (the
    folder or the Hugging Face cache) are used. ``cache_size`` image embeddings are kept (LRU, keyed by a hash of
    the pixels). One instance may be shared by all users: it is thread-safe. The lifecycle, the cache and
    segment() are TransformersSegmenter's.
    """

    family = "SAM 2.1"

    def __init__(
        self,
        model_id: str | os.PathLike = DEFAULT_SAM2_MODEL,
        *,
        device: str | None = None,
        cache_size: int = 4,
        download: bool = True,
    ) -> None:
        super().__init__(model_id, device=device, cache_size=cache_size, download=download)

    def _classes(self) -> tuple[Any, Any]:
        from transformers import Sam2Model, Sam2Processor

        return Sam2Model, Sam2Processor

    def _engine_name(self, model_id: str) -> str:
        return engine_name(model_id)

    def _encode(self, model: "Sam2Model", processor: "Sam2Processor", image: np.ndarray) -> _Embedding:
        import torch

        inputs = processor(images=image, return_tensors="pt")
        pixels = inputs["pixel_values"].to(device=model.device, dtype=model.dtype)
        with torch.inference_mode():
            features = model.get_image_embeddings(pixels)
        return _Embedding([f.detach() for f in features], (int(image.shape[0]), int(image.shape[1])))

    def _mask_input_size(self, model: "Sam2Model") -> tuple[int, int]:
        return tuple(int(s) for s in model.prompt_encoder.mask_input_size)

    def _decode(self, model: "Sam2Model", processor: "Sam2Processor", emb: _Embedding, prompts: Prompts,
                mask_input: np.ndarray | None, multimask: bool,
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, LogitsFrame]:
        """The image is resized (not padded) to the model's square input: prompts scale by S / W and S / H."""
        import torch

        side = int(model.prompt_encoder.input_image_size)
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
        frame = LogitsFrame()  # resized onto the whole square: the logits cover the image itself
        return low, scores, threshold_logits(low, (h, w), frame, MASK_THRESHOLD), frame
