"""SAM 1 (segment-anything) architectures, their official checkpoints and loading: a registry of model types, the
checkpoint cache folder, one verified download with progress, and one shared model per (type, file, device).

Nothing is imported from torch/segment_anything, built, read or downloaded when this module is imported.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ..errors import UserError

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from segment_anything.modeling import Sam

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, "int | None"], None]
"""progress(done_bytes, total_bytes or None) while a checkpoint downloads."""


@dataclass(frozen=True)
class SamModelSpec:
    """One SAM architecture: how to build it with random weights, and where its official checkpoint lives.

    ``builder()`` returns an eval-mode ``segment_anything.modeling.Sam`` with random weights and must not touch the
    disk or the network; weights are loaded by ``load_sam`` as a separate step.
    """

    name: str
    builder: Callable[[], "Sam"]
    filename: str
    url: str | None = None


def _build_vit_b() -> "Sam":
    from segment_anything import build_sam_vit_b

    return build_sam_vit_b(checkpoint=None)


def _build_vit_l() -> "Sam":
    from segment_anything import build_sam_vit_l

    return build_sam_vit_l(checkpoint=None)


def _build_vit_h() -> "Sam":
    from segment_anything import build_sam_vit_h

    return build_sam_vit_h(checkpoint=None)


_OFFICIAL = "https://dl.fbaipublicfiles.com/segment_anything/"

SAM_MODELS: dict[str, SamModelSpec] = {
    "vit_b": SamModelSpec("vit_b", _build_vit_b, "sam_vit_b_01ec64.pth", _OFFICIAL + "sam_vit_b_01ec64.pth"),
    "vit_l": SamModelSpec("vit_l", _build_vit_l, "sam_vit_l_0b3195.pth", _OFFICIAL + "sam_vit_l_0b3195.pth"),
    "vit_h": SamModelSpec("vit_h", _build_vit_h, "sam_vit_h_4b8939.pth", _OFFICIAL + "sam_vit_h_4b8939.pth"),
}
"""Registry of SAM model types. vit_b (375 MB) is the default; vit_l (1.2 GB) and vit_h (2.6 GB) are slower."""

DEFAULT_MODEL = "vit_b"


def register_sam_model(spec: SamModelSpec, *, replace: bool = False) -> None:
    """Add a model type to SAM_MODELS (for fine-tuned variants, and for tests' tiny models)."""
    if spec.name in SAM_MODELS and not replace:
        raise UserError(f"SAM model type {spec.name!r} is already registered")
    SAM_MODELS[spec.name] = spec


def get_sam_spec(model_type: str) -> SamModelSpec:
    """The registry entry for ``model_type``, or a ValueError listing the known types."""
    try:
        return SAM_MODELS[model_type]
    except KeyError:
        known = ", ".join(sorted(SAM_MODELS))
        raise UserError(f"unknown SAM model type {model_type!r}; choose one of: {known}") from None


def default_cache_dir() -> Path:
    """Where downloaded checkpoints live: $INPAINT_APP_CACHE/sam, else $XDG_CACHE_HOME (or ~/.cache)/inpaint-app/sam."""
    root = os.environ.get("INPAINT_APP_CACHE")
    if root:
        return Path(root).expanduser() / "sam"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "inpaint-app" / "sam"


def checkpoint_path(model_type: str = DEFAULT_MODEL, cache_dir: str | os.PathLike | None = None) -> Path:
    """The path of ``model_type``'s checkpoint in the cache folder (whether or not it exists yet)."""
    spec = get_sam_spec(model_type)
    folder = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    return folder / spec.filename


class CheckpointUnavailable(UserError):
    """The SAM checkpoint is neither on disk nor downloadable. The message names the file and the remedies."""


def _unavailable(spec: SamModelSpec, target: Path, why: str) -> CheckpointUnavailable:
    # the remedies before the long paths: a one-line error is cut at errors.one_line's limit
    source = f" {spec.url}" if spec.url else " it"
    return CheckpointUnavailable(
        f"no SAM checkpoint {spec.filename} ({why}): use --sam-checkpoint PATH or --engine grabcut, "
        f"or save{source} as {target}"
    )


_DOWNLOAD_CHUNK = 1 << 20


def download_checkpoint(
    model_type: str = DEFAULT_MODEL,
    cache_dir: str | os.PathLike | None = None,
    *,
    progress: ProgressCallback | None = None,
    timeout: float = 30.0,
) -> Path:
    """Download ``model_type``'s official checkpoint into the cache folder once and return its path.

    The file is written to a temporary name in the same folder and renamed when complete, so a partial download is
    never mistaken for a checkpoint. ``progress(done_bytes, total_bytes or None)`` is called as bytes arrive.
    An existing cached file is returned without any network access. Raises CheckpointUnavailable when offline.
    """
    spec = get_sam_spec(model_type)
    target = checkpoint_path(model_type, cache_dir)
    if target.is_file():
        return target
    if not spec.url:
        raise _unavailable(spec, target, f"model type {spec.name!r} has no download address")
    from ..download import fetch

    return fetch(spec.url, target, fail=lambda why: _unavailable(spec, target, why), progress=progress,
                 timeout=timeout, chunk=_DOWNLOAD_CHUNK)


def resolve_checkpoint(
    model_type: str = DEFAULT_MODEL,
    checkpoint: str | os.PathLike | None = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    download: bool = True,
    progress: ProgressCallback | None = None,
) -> Path:
    """The checkpoint file to load: ``checkpoint`` if given (must exist), else the cached file, else a download.

    With ``download=False`` a missing cached file raises CheckpointUnavailable instead of going to the network.
    """
    spec = get_sam_spec(model_type)
    if checkpoint is not None:
        path = Path(checkpoint).expanduser()
        if not path.is_file():
            raise UserError(f"SAM checkpoint {path} does not exist")
        return path
    target = checkpoint_path(model_type, cache_dir)
    if target.is_file():
        return target
    if not download:
        raise _unavailable(spec, target, "not in the cache and downloading is off")
    return download_checkpoint(model_type, cache_dir, progress=progress)


def load_sam(model_type: str, checkpoint: str | os.PathLike, device: "str | torch.device" = "cpu") -> "Sam":
    """Build ``model_type`` (random weights) and load the state dict in ``checkpoint`` into it, strictly.

    A file that is not a checkpoint of this architecture is a ValueError naming the file.
    """
    import torch

    spec = get_sam_spec(model_type)
    path = Path(checkpoint)
    try:
        with open(path, "rb") as fh:
            state = torch.load(fh, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserError(f"SAM checkpoint {path} does not exist") from None
    except Exception as exc:  # pickle, zip and torch errors all mean "not a checkpoint"
        raise UserError(
            f"{path} is not a readable SAM checkpoint ({type(exc).__name__}); delete it and download it again"
        ) from None
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]  # some fine-tuning scripts wrap the weights
    if not isinstance(state, dict):
        raise UserError(f"{path} is not a SAM state dict")
    sam = spec.builder()
    try:
        sam.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise UserError(f"{path} does not match SAM model type {model_type!r} ({first.strip()})") from None
    return sam.to(device).eval()


_SHARED_LOCK = threading.Lock()
_SHARED: dict[tuple[str, str, int, str], "Sam"] = {}


def shared_sam(model_type: str, checkpoint: str | os.PathLike, device: "str | torch.device" = "cpu") -> "Sam":
    """``load_sam`` once per (model type, checkpoint file, device) in this process; later calls share the model.

    The model is used read-only (inference only), so every Segmenter and every user can share it; each Segmenter
    keeps its own embedding cache. The lock makes concurrent first calls load once. ``release_shared_models()``
    forgets them all.
    """
    path = Path(checkpoint).resolve()
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        raise UserError(f"SAM checkpoint {path} does not exist") from None
    key = (model_type, str(path), stamp, str(device))
    with _SHARED_LOCK:
        model = _SHARED.get(key)
        if model is None:
            model = _SHARED[key] = load_sam(model_type, path, device)
        return model


def release_shared_models() -> None:
    """Forget every model shared_sam() loaded (Segmenters that hold one keep it until they are closed)."""
    with _SHARED_LOCK:
        _SHARED.clear()
