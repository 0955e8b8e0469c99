"""Selection: the pixels an edit may change, from clicks, a box, a phrase or the object's shadow.

One Segmenter interface for every engine:
    sam2.Sam2Segmenter      SAM 2.1 through transformers (the default when its weights are on disk)
    sam1.Segmenter          Segment Anything 1 (segment-anything), checkpoints in checkpoints.py
    samhq.SamHQSegmenter    HQ-SAM through transformers, for thin structures
    grabcut.GrabCutSegmenter  the fallback that needs no weights
make_segmenter (engines.py) picks one. The rest of the package:
    prompts.py   checked images and prompts, the Segmentation result, refinement checks (shared by all engines)
    cache.py     the image-embedding LRU the SAM-like engines share
    base.py      the lifecycle shared by the transformers segmenters
    grounding.py text -> boxes (Grounding DINO) -> masks
    matting.py   soft edges: trimap, closed-form alpha matte, the fringe width and "auto" growth
    growth.py    clean_mask and the named growth presets
    effects.py   the object's cast shadow as a suggested region

Formats (everywhere in this package):
    image   HWC uint8 RGB (3 channels; drop alpha before calling)
    point   (x, y) pixel coordinates, x to the right in [0, W), y down in [0, H)
    label   1 = positive click (part of the object), 0 = negative click (not part of it)
    box     XYXY pixel coordinates with exclusive ends: 0 <= x0 < x1 <= W, 0 <= y0 < y1 <= H
    mask    HW bool, True = the object (= "you may repaint here" once it is used as an inpainting mask)

Lifecycle (STYLE.md rules 2 and 3), the same for every engine:
    seg = make_segmenter("auto")          # or Segmenter("vit_b") / Sam2Segmenter(id): construct builds nothing
    seg.load(progress=cb)                 # resolves the weights (local path, cache, or one download) and loads them
    key = seg.prepare(image)              # optional: compute the image embedding ahead of time (on upload)
    r1 = seg.segment(image, positive=[(x, y)])
    r2 = seg.segment(image, positive=[(x, y)], negative=[(u, v)], previous=r1)   # refinement
    mask = grow_mask(clean_mask(r2.mask), "removal")
    seg.close()                           # releases the model and the embedding cache; later use is a RuntimeError

Concurrency: a segmenter is thread-safe and may be shared by all users; or give each user session its own (its own
embedding cache): weights are loaded once per process and shared read-only. The only shared mutable state is the
embedding LRU (cache.EmbeddingCache), guarded by a lock; an image whose embedding one thread is computing is waited
for, not recomputed.

Nothing is imported from torch, transformers or segment_anything, built, read or downloaded when this package is
imported.
"""

from .cache import CacheInfo, EmbeddingCache
from .checkpoints import (
    DEFAULT_MODEL,
    SAM_MODELS,
    CheckpointUnavailable,
    ProgressCallback,
    SamModelSpec,
    checkpoint_path,
    default_cache_dir,
    download_checkpoint,
    get_sam_spec,
    load_sam,
    register_sam_model,
    release_shared_models,
    resolve_checkpoint,
    shared_sam,
)
from .engines import make_segmenter, sam2_on_disk
from .grabcut import (
    FALLBACK_REASON,
    FLAT_MESSAGE,
    FLAT_NEGATIVE_MESSAGE,
    GRABCUT_BOX_ITERATIONS,
    GRABCUT_CLICK_ITERATIONS,
    GRABCUT_MAX_ITERATIONS,
    GRABCUT_MAX_SIDE,
    GRABCUT_MAX_SIDE_LIMIT,
    GRABCUT_TIME_BUDGET,
    GrabCutSegmenter,
    grabcut_mask,
)
from .growth import (
    GROW_PRESETS,
    REMOVAL_FEATHER_PX,
    REMOVAL_GROW_PX,
    REMOVAL_MATTE_PX,
    REPLACEMENT_GROW_PX,
    clean_mask,
    grow_mask,
    growth_px,
)
from .prompts import Prompts, Segmentation, check_image, check_prompts, image_key, refinement_input
from .sam1 import Segmenter

__all__ = [
    "CacheInfo",
    "CheckpointUnavailable",
    "DEFAULT_MODEL",
    "EmbeddingCache",
    "FALLBACK_REASON",
    "FLAT_MESSAGE",
    "FLAT_NEGATIVE_MESSAGE",
    "GRABCUT_BOX_ITERATIONS",
    "GRABCUT_CLICK_ITERATIONS",
    "GRABCUT_MAX_ITERATIONS",
    "GRABCUT_MAX_SIDE",
    "GRABCUT_MAX_SIDE_LIMIT",
    "GRABCUT_TIME_BUDGET",
    "GROW_PRESETS",
    "GrabCutSegmenter",
    "ProgressCallback",
    "Prompts",
    "REMOVAL_FEATHER_PX",
    "REMOVAL_GROW_PX",
    "REMOVAL_MATTE_PX",
    "REPLACEMENT_GROW_PX",
    "SAM_MODELS",
    "SamModelSpec",
    "Segmentation",
    "Segmenter",
    "check_image",
    "check_prompts",
    "checkpoint_path",
    "clean_mask",
    "default_cache_dir",
    "download_checkpoint",
    "get_sam_spec",
    "grabcut_mask",
    "grow_mask",
    "growth_px",
    "image_key",
    "load_sam",
    "make_segmenter",
    "refinement_input",
    "register_sam_model",
    "release_shared_models",
    "resolve_checkpoint",
    "sam2_on_disk",
    "shared_sam",
]
