"""Diffusion models: loading, the process-wide cache, and what a loaded model can do.

    model = load_model("stable-diffusion-v1-5/stable-diffusion-inpainting")   # hub id (cached by huggingface_hub)
    model = load_model("/models/my-sd15-inpaint")                             # local diffusers folder
    model = load_model("/models/realistic.safetensors")                       # single-file checkpoint
    model.mode          # "inpainting" (UNet with 9 input channels) or "blended" (4: blended latent diffusion)
    model.native_size   # 512 for SD 1.x/2.x, 1024 for SDXL (unet sample_size x vae scale factor)

Nothing is imported from torch/diffusers, loaded or downloaded when this module is imported.

A model is loaded once per (source, dtype, device) and kept in one process-wide cache guarded by a
lock. The cache holds at most ``max_models`` pipelines (default 1): loading another one evicts the
oldest, which is freed (del + gc + torch.cuda.empty_cache) once the new one has loaded; if the new one
fails to load, the evicted ones are put back as they were (rollback). Pipelines are shared read-only by
all users; ``LoadedModel.lock`` serialises calls into one pipeline (its scheduler is stateful).

Failures to load (offline, missing or gated weights, a path that does not exist) raise one
``ModelLoadError`` (a ValueError) whose single line names the model and the remedy.
"""

from __future__ import annotations

import gc
import os
import re
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .errors import UserError

DEFAULT_MODEL = "stable-diffusion-v1-5/stable-diffusion-inpainting"
"""The model used when none is named: SD 1.5's dedicated inpainting checkpoint (9-channel UNet)."""

SINGLE_FILE_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")
SUPPORTED_PIPELINES = ("StableDiffusionInpaintPipeline", "StableDiffusionXLInpaintPipeline")

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


class ModelLoadError(UserError):
    """A model could not be loaded; the message is one line naming the model and the remedy."""


def remedy(source: str) -> str:
    """The advice appended to every ModelLoadError."""
    return (
        f"remedies: pass a local diffusers folder or .safetensors file (--model PATH), "
        f"or download '{source}' once while online and then run with HF_HUB_OFFLINE=1, "
        f"or use the classical engine (--engine telea) which needs no weights"
    )


@dataclass(eq=False)
class LoadedModel:
    """A loaded diffusers inpainting pipeline and the facts inpaint() needs about it.

    pipe          StableDiffusionInpaintPipeline or StableDiffusionXLInpaintPipeline
    source        the hub id or the resolved local path it came from
    family        "sd" (SD 1.x/2.x) or "sdxl"
    in_channels   the UNet's input channels: 9 = inpainting checkpoint, 4 = base checkpoint
    mode          "inpainting" (9) or "blended" (4: blended latent diffusion, see blended_latent_diffusion)
    native_size   pixels of the square the model was trained at (unet sample_size x vae scale factor)
    device        "cuda", "mps" or "cpu" (the execution device; weights may sit on cpu when offloaded)
    dtype         torch dtype of the weights
    offload       whether model CPU offload is enabled
    lock          serialises calls into the pipeline (its scheduler is stateful); eviction takes it too,
                  so a model is never moved or freed during a call. After eviction ``pipe`` is None.
    """

    pipe: Any
    source: str
    family: str
    in_channels: int
    native_size: int
    vae_scale_factor: int
    device: str
    dtype: Any
    offload: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def mode(self) -> str:
        return "inpainting" if self.in_channels == 9 else "blended"

    @property
    def name(self) -> str:
        """A short display name: the hub id, or the folder/file name of a local model."""
        path = Path(self.source)
        return path.name if path.is_absolute() else self.source


# --------------------------------------------------------------------------------------------
# Device and dtype


def resolve_device(device: str | None = "auto") -> str:
    """"auto"/None -> "cuda" when available, else "mps", else "cpu"; other names are checked and returned."""
    import torch

    if device in (None, "auto"):
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"
    device = str(device)
    kind = device.split(":")[0]
    if kind not in ("cuda", "mps", "cpu"):
        raise UserError(f"unknown device {device!r}: use auto, cuda, cuda:N, mps or cpu")
    if kind == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device {device!r} was asked for but CUDA is not available here")
    return device


def resolve_dtype(dtype: Any, device: str) -> Any:
    """None -> float16 on cuda, float32 elsewhere; "fp16"/"float16"/"bf16"/"fp32" names or a torch dtype."""
    import torch

    if dtype is None:
        return torch.float16 if device.startswith("cuda") else torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    names = {
        "fp16": torch.float16, "float16": torch.float16, "half": torch.float16,
        "bf16": torch.bfloat16, "bfloat16": torch.bfloat16,
        "fp32": torch.float32, "float32": torch.float32, "float": torch.float32,
    }
    try:
        return names[str(dtype).lower()]
    except KeyError:
        raise UserError(f"unknown dtype {dtype!r}: use fp16, bf16 or fp32") from None


def _normalise_source(source: str | os.PathLike | None) -> tuple[str, str]:
    """Return (key, kind) with kind "folder", "file" or "hub"; a missing path is a ModelLoadError."""
    if source is None or str(source).strip() == "":
        source = DEFAULT_MODEL
    text = os.path.expanduser(str(source).strip())
    path = Path(text)
    if path.is_dir():
        return str(path.resolve()), "folder"
    if path.is_file():
        return str(path.resolve()), "file"
    looks_like_path = (
        text.startswith((".", "/", "~")) or "\\" in text or text.count("/") > 1
        or text.lower().endswith(SINGLE_FILE_SUFFIXES)
    )
    if looks_like_path or not _HUB_ID.match(text):
        raise ModelLoadError(
            f"model '{source}': no such folder or file; pass an existing diffusers folder or .safetensors/.ckpt "
            f"file, a hub id (with HF_HUB_OFFLINE=1 for one already in the local cache), "
            f"or use the classical engine (--engine telea) which needs no weights"
        )
    return text, "hub"


def _is_hub_error(exc: BaseException) -> bool:
    """Errors meaning "the weights are not reachable here" (offline, missing, gated, bad id)."""
    if isinstance(exc, (OSError, EnvironmentError, FileNotFoundError)):
        return True
    try:
        from huggingface_hub import errors as hub_errors
    except ImportError:  # pragma: no cover - huggingface_hub ships with diffusers
        return False
    names = ("HfHubHTTPError", "LocalEntryNotFoundError", "RepositoryNotFoundError", "GatedRepoError",
             "RevisionNotFoundError", "EntryNotFoundError", "OfflineModeIsEnabled", "HFValidationError")
    classes = tuple(getattr(hub_errors, n) for n in names if hasattr(hub_errors, n))
    return isinstance(exc, classes)


def _offline() -> bool:
    """HF_HUB_OFFLINE set now (read at call time, so a process can switch it on before its first load)."""
    value = os.environ.get("HF_HUB_OFFLINE", "")
    if value.strip().upper() in ("1", "ON", "YES", "TRUE"):
        return True
    try:
        from huggingface_hub import constants

        return bool(constants.HF_HUB_OFFLINE)
    except ImportError:  # pragma: no cover
        return False


def _single_file_family(path: str) -> str:
    """"sdxl" when a single-file checkpoint holds SDXL's second text encoder, else "sd"."""
    marker = "conditioner.embedders.1."
    if path.lower().endswith(".safetensors"):
        from safetensors import safe_open

        with safe_open(path, framework="pt") as fh:
            return "sdxl" if any(k.startswith(marker) for k in fh.keys()) else "sd"
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    family = "sdxl" if any(str(k).startswith(marker) for k in state) else "sd"
    del state
    return family


# --------------------------------------------------------------------------------------------
# Loading (no cache)


def _load_pipeline(key: str, kind: str, dtype: Any, device: str, offload: bool, config: str | None) -> Any:
    """Load the pipeline from a hub id, a diffusers folder or a single file and put it on ``device``."""
    import diffusers
    from diffusers.pipelines import pipeline_utils

    # diffusers renamed torch_dtype to dtype (0.36+); older releases only know torch_dtype.
    dtype_kw = "dtype" if hasattr(pipeline_utils, "_resolve_dtype") else "torch_dtype"
    common = {dtype_kw: dtype, "safety_checker": None, "requires_safety_checker": False}
    if _offline():
        common["local_files_only"] = True
    if kind == "file":
        family = _single_file_family(key)
        cls = diffusers.StableDiffusionXLInpaintPipeline if family == "sdxl" else diffusers.StableDiffusionInpaintPipeline
        kwargs = {dtype_kw: dtype, "local_files_only": _offline()}
        if family == "sd":
            kwargs.update(safety_checker=None, requires_safety_checker=False)
        if config:
            kwargs["config"] = config
        pipe = cls.from_single_file(key, **kwargs)
    else:
        pipe = diffusers.AutoPipelineForInpainting.from_pretrained(key, **common)
    if type(pipe).__name__ not in SUPPORTED_PIPELINES:
        name = type(pipe).__name__
        del pipe
        raise ModelLoadError(
            f"model '{key}' loads as {name}; supported are Stable Diffusion 1.x/2.x and SDXL checkpoints "
            f"(inpainting or base); " + remedy(key)
        )
    pipe.set_progress_bar_config(disable=True)
    if offload and device.startswith("cuda"):
        pipe.enable_model_cpu_offload(device=device)
    else:
        pipe.to(device)
    return pipe


def describe(pipe: Any, source: str, device: str, dtype: Any, offload: bool = False) -> LoadedModel:
    """Wrap a diffusers inpainting pipeline (already on its device) as a LoadedModel."""
    unet = pipe.unet
    in_channels = int(unet.config.in_channels)
    if in_channels not in (4, 9):
        raise ModelLoadError(
            f"model '{source}' has a UNet with {in_channels} input channels; 9 (inpainting) or 4 (base) are supported"
        )
    vae_scale = int(getattr(pipe, "vae_scale_factor", 0) or 2 ** (len(pipe.vae.config.block_out_channels) - 1))
    sample = unet.config.sample_size
    sample = int(sample[0] if isinstance(sample, (tuple, list)) else sample)
    family = "sdxl" if type(pipe).__name__.startswith("StableDiffusionXL") else "sd"
    return LoadedModel(
        pipe=pipe, source=source, family=family, in_channels=in_channels, native_size=sample * vae_scale,
        vae_scale_factor=vae_scale, device=device, dtype=dtype, offload=offload,
    )


# --------------------------------------------------------------------------------------------
# The cache


def _free(models: list[LoadedModel]) -> None:
    """Drop our references to ``models`` and return their memory (gc + CUDA cache)."""
    uses_cuda = any(str(m.device).startswith("cuda") for m in models)
    for m in models:
        m.pipe = None
    models.clear()
    gc.collect()
    if uses_cuda:
        import torch

        torch.cuda.empty_cache()


class ModelCache:
    """A lock-guarded registry of loaded models keyed by (source, dtype, device), at most ``max_models``.

    ``get`` returns the cached model or loads it; loading a new one evicts the least recently used ones
    beyond ``max_models``: they are moved off the accelerator while the new one loads, freed when it has
    loaded, and restored (rollback) if it fails.
    """

    def __init__(self, max_models: int = 1, loader: Callable[..., Any] | None = None):
        if int(max_models) < 1:
            raise UserError(f"max_models must be at least 1, got {max_models}")
        self.max_models = int(max_models)
        self._loader = loader or _load_pipeline
        self._models: OrderedDict[tuple, LoadedModel] = OrderedDict()
        self._lock = threading.RLock()
        self.loads = 0
        """How many pipelines this cache has loaded (cache misses); tests read it."""

    def keys(self) -> list[tuple]:
        with self._lock:
            return list(self._models)

    def __len__(self) -> int:
        with self._lock:
            return len(self._models)

    def __contains__(self, key: tuple) -> bool:
        with self._lock:
            return key in self._models

    def clear(self) -> None:
        """Forget and free every cached model."""
        with self._lock:
            evicted = list(self._models.values())
            self._models.clear()
            _free(evicted)

    def set_max_models(self, n: int) -> None:
        """Change the capacity; models beyond it are freed, oldest first."""
        if int(n) < 1:
            raise UserError(f"max_models must be at least 1, got {n}")
        with self._lock:
            self.max_models = int(n)
            evicted = []
            while len(self._models) > self.max_models:
                evicted.append(self._models.popitem(last=False)[1])
            _free(evicted)

    def get(
        self,
        source: str | os.PathLike | None = None,
        *,
        device: str | None = "auto",
        dtype: Any = None,
        offload: bool = False,
        config: str | None = None,
    ) -> LoadedModel:
        """The model for ``source`` (hub id, diffusers folder or single file), loading it on a miss."""
        key_source, kind = _normalise_source(source)
        device = resolve_device(device)
        dtype = resolve_dtype(dtype, device)
        offload = bool(offload) and device.startswith("cuda")
        device_key = device + ("+offload" if offload else "")
        key = (key_source, str(dtype).replace("torch.", ""), device_key)
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]

            # 1. Set aside the models that must make room: wait until no call is running in them (their
            #    lock, held until commit or rollback), then park them off the accelerator.
            evicted: list[tuple[tuple, LoadedModel, bool]] = []
            try:
                while self._models and len(self._models) >= self.max_models:
                    old_key, old = self._models.popitem(last=False)
                    old.lock.acquire()
                    evicted.append((old_key, old, _park(old)))
                if any(parked for *_, parked in evicted):
                    _empty_accelerator_cache()

                # 2. Load; on failure put the evicted models back as they were (rollback).
                try:
                    with warnings.catch_warnings():  # hub deprecation chatter; failures are reported below
                        warnings.filterwarnings("ignore", message=".*local_dir_use_symlinks.*")
                        pipe = self._loader(key_source, kind, dtype, device, offload, config)
                    model = describe(pipe, key_source, device, dtype, offload)
                except BaseException as exc:
                    pipe = None
                    gc.collect()
                    for old_key, old, parked in reversed(evicted):
                        if parked:
                            old.pipe.to(old.device)
                        self._models[old_key] = old
                        self._models.move_to_end(old_key, last=False)
                    if isinstance(exc, ModelLoadError) or not isinstance(exc, Exception):
                        raise
                    hub = _is_hub_error(exc)
                    raise _load_error(str(source or DEFAULT_MODEL), exc, kind) from (None if hub else exc)

                # 3. Commit: free the evicted models, register the new one.
                _free([old for _, old, _ in evicted])
                self._models[key] = model
                self.loads += 1
                return model
            finally:
                for _, old, _ in evicted:
                    old.lock.release()


def _load_error(name: str, exc: Exception, kind: str = "hub") -> ModelLoadError:
    """One-line ModelLoadError for a failed load: the model, what went wrong, the remedy."""
    detail = " ".join(str(exc).split())
    detail = (detail[:240] + "...") if len(detail) > 240 else (detail or type(exc).__name__)
    if isinstance(exc, MemoryError) or "out of memory" in detail.lower():
        return ModelLoadError(
            f"not enough memory to load model '{name}' ({detail}); try --offload, fp16, a smaller model, "
            f"or the classical engine (--engine telea)"
        )
    if _is_hub_error(exc) and kind == "file":
        return ModelLoadError(
            f"cannot load the single-file model '{name}' ({type(exc).__name__}: {detail}); a single file needs "
            f"the matching diffusers component configs: pass a local diffusers folder of the same family as "
            f"config (--model-config DIR), or load it once while online, then use HF_HUB_OFFLINE=1; "
            f"or use the classical engine (--engine telea)"
        )
    if _is_hub_error(exc):
        return ModelLoadError(f"cannot load model '{name}' ({type(exc).__name__}: {detail}); " + remedy(name))
    return ModelLoadError(f"cannot load model '{name}' ({type(exc).__name__}: {detail})")


def _park(model: LoadedModel) -> bool:
    """Move a model's weights to the CPU when it lives on an accelerator (not offloaded); True if moved."""
    if model.offload or str(model.device) == "cpu" or model.pipe is None:
        return False
    try:
        model.pipe.to("cpu")
    except Exception:  # pragma: no cover - a pipeline that cannot move stays where it is
        return False
    return True


def _empty_accelerator_cache() -> None:
    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


_CACHE = ModelCache(max_models=int(os.environ.get("INPAINT_MAX_MODELS", "1") or 1))


def get_cache() -> ModelCache:
    """The process-wide model cache (empty until the first load_model call)."""
    return _CACHE


def load_model(
    source: str | os.PathLike | None = None,
    *,
    device: str | None = "auto",
    dtype: Any = None,
    offload: bool = False,
    config: str | None = None,
    cache: ModelCache | None = None,
) -> LoadedModel:
    """Load (or fetch from the process-wide cache) an inpainting model.

    source   hub id (default DEFAULT_MODEL), local diffusers folder, or a single .safetensors/.ckpt file
    device   "auto" (cuda, then mps, then cpu), "cuda", "cuda:N", "mps" or "cpu"
    dtype    None (fp16 on cuda, fp32 elsewhere), "fp16", "bf16", "fp32" or a torch dtype
    offload  enable diffusers' model CPU offload (cuda only): less GPU memory, slower
    config   for single files: a diffusers folder or hub id holding the matching component configs
             (otherwise diffusers looks the configs up on the hub or in its local cache)
    Raises ModelLoadError (a ValueError) with one line naming the model and the remedy.
    """
    return (cache if cache is not None else _CACHE).get(source, device=device, dtype=dtype, offload=offload, config=config)


def blended_latent_diffusion(pipe: Any) -> bool:
    """True when ``pipe`` runs blended latent diffusion: a 4-channel UNet in an SD/SDXL inpainting pipeline.

    diffusers' StableDiffusionInpaintPipeline and StableDiffusionXLInpaintPipeline do it themselves for a
    4-channel UNet: after every scheduler step the latents outside the (latent-resolution) mask are replaced
    by the original image's latents noised to the next timestep (scheduler.add_noise(image_latents, noise,
    t_next)), and by the clean latents after the last step. tests/test_models.py checks this step by step.
    """
    return type(pipe).__name__ in SUPPORTED_PIPELINES and int(pipe.unet.config.in_channels) == 4
