"""Monocular depth for depth-guided staging: one depth map per photo, estimated once, cropped for every crop.

    estimator = depth.shared("depth-anything/Depth-Anything-V2-Small-hf", device="cuda")   # loaded once per process
    depth_map = estimator.estimate(photo)                 # HW float32 in [0, 1], near = 1, at most MAX_SIDE a side
    control = depth.crop_depth(depth_map, (w, h), box, (512, 512))   # HWC float32, 3 equal channels, in [0, 1]

1. The model: any transformers depth estimator (AutoModelForDepthEstimation + AutoImageProcessor: Depth Anything
   V1/V2, DPT, ...) from a hub id or a saved folder, loaded once per (source, device) and shared read-only by every
   job (its forward calls are serialised by a lock: on a CPU one call already uses every core).
2. Estimation: the photo is shrunk so its longer side is at most MAX_SIDE (the processor then resizes it to the
   model's own input, 518 px for Depth Anything), the prediction is brought to that bounded size (bicubic) and
   normalised over the whole photo to [0, 1] with near = 1, the convention of the depth ControlNets (MiDaS-style
   inverse depth; a metric model's depth is inverted first). So every crop of one photo shares one scale.
3. Caching: depth maps are kept in a small LRU keyed by the photo's content (segment.image_key: shape, dtype and
   pixels), per estimator: the same photo asked again (another crop, variant or job) is not estimated again.
4. Cropping: crop_depth takes an XYXY box in the photo's px, maps it onto the depth map (which has the photo's
   aspect) and resizes it to the crop's size, as the driver resizes the crop's pixels.

Formats: photos HWC uint8 RGB; depth maps HW float32 in [0, 1] (1 = nearest); boxes XYXY with exclusive ends in
image px; sizes (width, height). Nothing is imported from torch/transformers when this module is imported.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..errors import UserError

MAX_SIDE = 1024
"""The longer side (px) of the photo the depth model sees and of the depth map kept for it."""
CACHE_SIZE = 4
"""Depth maps one estimator keeps (least recently used dropped first); each at most MAX_SIDE^2 float32."""
SHARED_MODELS = 2
"""Depth models kept loaded in this process (least recently used dropped first; a job holding one keeps it)."""

REMEDY = ("pass a saved transformers depth model folder (--depth-model DIR), or download it once while online and "
          "then run with HF_HUB_OFFLINE=1")


class DepthEstimator:
    """A loaded transformers depth model and its processor; ``estimate(photo)`` gives the photo's depth map, cached
    by content. Thread-safe: one forward at a time, and one estimate per photo even when asked concurrently."""

    def __init__(self, model: Any, processor: Any, *, name: str = "custom", device: str = "cpu",
                 max_side: int = MAX_SIDE, cache_size: int = CACHE_SIZE):
        from ..segment.cache import EmbeddingCache

        if int(max_side) < 14:
            raise UserError(f"max_side must be at least 14 px, got {max_side}")
        self.model = model.eval()
        self.processor = processor
        self.name = name
        self.device = device
        self.max_side = int(max_side)
        self._lock = threading.Lock()
        self._maps = EmbeddingCache(cache_size)
        config = getattr(model, "config", None)
        self.metric = getattr(config, "depth_estimation_type", "relative") == "metric" or \
            getattr(config, "model_type", "") == "zoedepth"
        """True for models that predict metric depth (far = large): inverted before normalising."""

    def estimate(self, image: np.ndarray) -> np.ndarray:
        """The depth map of ``image`` (HWC uint8 RGB): HW float32 in [0, 1], 1 = nearest, with the photo's aspect
        and its longer side min(the photo's, max_side). Read-only; cached by the photo's content."""
        from ..segment.prompts import image_key

        image = np.asarray(image)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise UserError(f"depth needs an HWC uint8 RGB photo, got shape {image.shape} and dtype {image.dtype}")
        return self._maps.get(image_key(image), lambda: self._compute(image))

    def clear_cache(self) -> None:
        self._maps.clear()

    def map_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) of the depth map kept for a photo of that size."""
        scale = min(1.0, self.max_side / max(width, height))
        return max(1, round(width * scale)), max(1, round(height * scale))

    def _compute(self, image: np.ndarray) -> np.ndarray:
        import torch

        height, width = image.shape[:2]
        size = self.map_size(width, height)
        small = image if size == (width, height) else np.array(Image.fromarray(image).resize(size, Image.LANCZOS))
        if not small.flags.writeable:  # torch.from_numpy in the processor warns about read-only arrays
            small = small.copy()
        inputs = self.processor(images=small, return_tensors="pt")
        with self._lock, torch.inference_mode():
            inputs = {k: v.to(self.device) if hasattr(v, "to") else v for k, v in inputs.items()}
            predicted = self.model(**inputs).predicted_depth
            if predicted.ndim == 4:  # (1, 1, h, w) from some heads
                predicted = predicted[:, 0]
            predicted = torch.nn.functional.interpolate(
                predicted[:, None].float(), size=(size[1], size[0]), mode="bicubic", align_corners=False,
            )[0, 0]
            raw = predicted.cpu().numpy().astype(np.float64)
        if not np.isfinite(raw).all():
            raise RuntimeError(f"the depth model {self.name} produced NaN/inf depth")
        if self.metric:
            raw = 1.0 / np.maximum(raw, 1e-6)
        lo, hi = float(raw.min()), float(raw.max())
        depth = (raw - lo) / (hi - lo) if hi > lo else np.zeros_like(raw)
        depth = np.clip(depth, 0.0, 1.0).astype(np.float32)
        depth.setflags(write=False)
        return depth


def crop_depth(depth: np.ndarray, image_size: tuple[int, int], box: tuple[int, int, int, int],
               size: tuple[int, int]) -> np.ndarray:
    """The depth under ``box`` as a control image: HWC float32 (height, width, 3), three equal channels in [0, 1].

    depth       HW float32 in [0, 1], the depth map of a photo of ``image_size`` (width, height), same aspect
    box         XYXY in the photo's px (exclusive ends)
    size        (width, height) of the crop the engine generates (the box resized as the driver resizes it)
    """
    width, height = image_size
    x0, y0, x1, y1 = box
    if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
        raise UserError(f"box {tuple(box)} is not inside the {width}x{height} photo")
    sx, sy = depth.shape[1] / width, depth.shape[0] / height
    source = Image.fromarray(np.ascontiguousarray(depth, dtype=np.float32))  # mode "F"
    out = source.resize(tuple(int(s) for s in size), Image.BILINEAR, box=(x0 * sx, y0 * sy, x1 * sx, y1 * sy))
    out = np.clip(np.asarray(out, dtype=np.float32), 0.0, 1.0)
    return np.repeat(out[..., None], 3, axis=2)


# ---------------------------------------------------------------------------------------------------------------
# Loading, shared by the process


def source_key(source: str | os.PathLike, what: str = "depth model") -> str:
    """An existing folder as its resolved path, a hub id as given (stripped); text that names a path that does not
    exist (it starts with "/", "." or "~", or has more than one "/") is a one-line UserError naming ``what``."""
    text = os.path.expanduser(str(source).strip())
    if Path(text).exists():
        return str(Path(text).resolve())
    if not text or text.startswith((".", "/", "~")) or "\\" in text or text.count("/") > 1:
        raise UserError(f"{what} '{source}': no such folder; give a saved model folder or a hub id")
    return text


def available_locally(source: str | os.PathLike) -> bool:
    """True for an existing folder, or a hub id whose config.json is in the local Hugging Face cache (never goes
    online); False for a folder that is not there and for text that is no hub id."""
    try:
        key = source_key(source)
    except UserError:
        return False
    if Path(key).exists():
        return True
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(key, "config.json"), str)
    except ValueError:  # not a valid repository id
        return False


def load(source: str | os.PathLike, *, device: str = "cpu", allow_download: bool = True,
         max_side: int = MAX_SIDE) -> DepthEstimator:
    """A new DepthEstimator for ``source`` (hub id or saved folder) on ``device``. ``allow_download`` False refuses
    a hub id that is not in the local Hugging Face cache (models.downloads_disabled_error) and loads local files
    only. A model that cannot be loaded is one UserError line naming it and the remedy."""
    from transformers import AutoImageProcessor, AutoModelForDepthEstimation

    from .. import models
    from ..hf import load_pretrained

    key = source_key(source)
    if not allow_download and not available_locally(key):
        raise models.downloads_disabled_error(str(source))
    model, processor = load_pretrained(
        AutoModelForDepthEstimation, AutoImageProcessor, key, device=device, download=allow_download,
        what="depth model", remedy=REMEDY, quiet=True,
    )
    name = Path(key).name if Path(key).is_absolute() else key
    return DepthEstimator(model, processor, name=name, device=device, max_side=max_side)


_SHARED_LOCK = threading.Lock()
_SHARED: Any = None  # an EmbeddingCache of DepthEstimators keyed by (source, device), made on first use


def shared(source: str | os.PathLike, *, device: str = "cpu", allow_download: bool = True) -> DepthEstimator:
    """The process-wide DepthEstimator for (``source``, ``device``): loaded on first use (once, even when several
    jobs ask at the same time), then shared with its depth-map cache. At most SHARED_MODELS stay loaded."""
    global _SHARED
    from .. import models

    key = source_key(source)
    if not allow_download and not available_locally(key):
        raise models.downloads_disabled_error(str(source))
    with _SHARED_LOCK:
        if _SHARED is None:
            from ..segment.cache import EmbeddingCache

            _SHARED = EmbeddingCache(SHARED_MODELS)  # an LRU computing each key once: here, loading each model
        cache = _SHARED
    return cache.get(f"{key}|{device}", lambda: load(key, device=device, allow_download=allow_download))
