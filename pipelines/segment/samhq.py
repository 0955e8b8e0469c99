"""Click-to-segment with HQ-SAM (transformers' SamHQModel / SamHQProcessor) behind the Segmenter interface.

HQ-SAM is SAM (v1, ViT image encoder) with a high-quality output token whose mask is fed by an early ViT layer as
well as the final embedding: sharper edges and thin structures (cables, railings, hair, branches) that SAM rounds
off or drops. Same prompts, same candidates, same lifecycle as pipelines.segment.sam2.Sam2Segmenter.

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

The lifecycle, the cache and segment() are pipelines.segment.base.TransformersSegmenter's (shared with
SAM 2.1); this module says which classes to load and how HQ-SAM encodes an image and decodes prompts.

Nothing is imported from torch/transformers, built, read or downloaded when this module is imported.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import UserError
from .base import TransformersSegmenter
from .prompts import LogitsFrame, Prompts, threshold_logits

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
                mask_input: np.ndarray | None, multimask: bool,
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, LogitsFrame]:
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
        frame = LogitsFrame((int(pad["height"]), int(pad["width"])), tuple(emb.reshaped_size))
        return low, scores, threshold_logits(low, tuple(emb.original_size), frame, MASK_THRESHOLD), frame
