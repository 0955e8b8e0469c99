"""Loading a transformers (model, processor) pair from a hub id or a saved folder, the one way the project does it.

Nothing is imported from torch/transformers when this module is imported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import UserError


def load_pretrained(model_cls: Any, processor_cls: Any, model_id: str, *, device: str | None, download: bool,
                    what: str, remedy: str, errors: tuple[type[BaseException], ...] = (OSError, ValueError),
                    quiet: bool = False) -> tuple[Any, Any]:
    """(model on ``device`` in eval mode, processor) from ``model_id``: an existing folder, else a hub id (the
    Hugging Face cache, or one download unless ``download`` is False). ``device`` None picks cuda when available.
    A failure among ``errors`` is one UserError line: "no <what> <model_id> (<first line of the cause>): <remedy>".
    ``quiet`` switches transformers' "Loading weights" bar off meanwhile (so stderr keeps one line per message)."""
    import torch
    from transformers.utils import logging as hf_logging

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    local = Path(model_id).expanduser()
    source = str(local) if local.exists() else model_id
    bar = quiet and hf_logging.is_progress_bar_enabled()
    if bar:
        hf_logging.disable_progress_bar()
    try:
        processor = processor_cls.from_pretrained(source, local_files_only=not download)
        model = model_cls.from_pretrained(source, local_files_only=not download)
    except errors as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise UserError(f"no {what} {model_id} ({first}): {remedy}") from None
    finally:
        if bar:
            hf_logging.enable_progress_bar()
    return model.to(device).eval(), processor
