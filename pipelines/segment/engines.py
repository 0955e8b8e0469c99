"""Choosing a segmenter: make_segmenter picks SAM 2.1, SAM 1, HQ-SAM or the GrabCut fallback, and never downloads
when asked for "auto"."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import UserError
from .checkpoints import DEFAULT_MODEL, ProgressCallback, checkpoint_path
from .grabcut import FALLBACK_REASON, GrabCutSegmenter
from .sam1 import Segmenter


def sam2_on_disk() -> bool:
    """True when the default SAM 2.1 model (sam2.DEFAULT_SAM2_MODEL: a hub id or a folder) can be loaded
    without a download. Never goes online."""
    from . import sam2

    name = str(sam2.DEFAULT_SAM2_MODEL)
    if Path(name).expanduser().is_dir():
        return (Path(name).expanduser() / "config.json").is_file()
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(name, "config.json"), str)
    except (ImportError, ValueError, OSError):
        return False


def make_segmenter(
    engine: str = "auto",
    *,
    model_type: str = DEFAULT_MODEL,
    checkpoint: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    device: str | None = None,
    download: bool = True,
    progress: ProgressCallback | None = None,
) -> "Segmenter | GrabCutSegmenter":
    """A loaded segmenter.

    engine "sam": SAM (the checkpoint from ``checkpoint``, the cache, or one download; CheckpointUnavailable if
    none can be had). "grabcut": the fallback, labelled "chosen by the user". "auto" never downloads: SAM when
    ``checkpoint`` is given; else SAM 2.1 (the default model) when it is on disk (sam2_on_disk); else SAM when its
    cached file exists; else the GrabCut fallback labelled with FALLBACK_REASON.
    "sam2": SAM 2.1 through transformers (sam2.Sam2Segmenter); "sam-hq": HQ-SAM through transformers
    (samhq.SamHQSegmenter, for thin structures); ``checkpoint`` is then a hub id or a folder saved with
    save_pretrained (defaults facebook/sam2.1-hiera-tiny, syscv-community/sam-hq-vit-base).
    """
    if engine == "grabcut":
        return GrabCutSegmenter(reason="chosen by the user")
    if engine == "sam2":
        from . import sam2

        model_id = sam2.DEFAULT_SAM2_MODEL if checkpoint is None else checkpoint
        return sam2.Sam2Segmenter(model_id, device=device, download=download).load(progress=progress)
    if engine == "sam-hq":
        from .samhq import DEFAULT_SAMHQ_MODEL, SamHQSegmenter

        model_id = DEFAULT_SAMHQ_MODEL if checkpoint is None else checkpoint
        return SamHQSegmenter(model_id, device=device, download=download).load(progress=progress)
    if engine == "auto":
        if checkpoint is not None:
            engine = "sam"  # a checkpoint that was named but is missing is an error, not a reason to fall back
        elif sam2_on_disk():
            from . import sam2

            return sam2.Sam2Segmenter(sam2.DEFAULT_SAM2_MODEL, device=device, download=False).load(progress=progress)
        elif checkpoint_path(model_type, cache_dir).is_file():
            engine = "sam"
        else:
            return GrabCutSegmenter(reason=FALLBACK_REASON)
    if engine != "sam":
        raise UserError(f"unknown engine {engine!r}: use sam2, sam, sam-hq, grabcut or auto")
    seg = Segmenter(model_type, checkpoint, cache_dir=cache_dir, device=device, download=download)
    return seg.load(progress=progress)
