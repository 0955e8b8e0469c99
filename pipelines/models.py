"""Diffusion models: loading, the process-wide cache shared by all users, and what a loaded model can do.

One job = one lease. A lease pins the model for the whole job (several pipeline calls); ``LoadedModel.lock``
serialises the individual calls (the scheduler is stateful)::

    from pipelines import models

    with models.lease(source, device="auto", dtype=None, offload=False, config=None,
                      allow_download=False) as loaded:       # a LoadedModel, never evicted while leased
        for crop in crops:
            with loaded.lock:                                 # one pipeline call at a time
                out = loaded.pipe(prompt=..., image=..., mask_image=...)

    source   hub id (None: DEFAULT_MODEL), local diffusers folder, or a single .safetensors/.ckpt file;
             a LoadedModel is also accepted: it is yielded as is (pinned when it belongs to this cache)
    loaded.family        "sd" (SD 1.x/2.x), "sdxl" or "flux" (FLUX.1 Fill)
    loaded.mode          "inpainting" (a 9-channel UNet, or FLUX.1 Fill) or "blended" (a 4-channel UNet: blended
                         latent diffusion)
    loaded.native_size   512 for SD 1.x/2.x, 1024 for SDXL (unet sample_size x vae scale factor) and FLUX.1 Fill
                         (the pipeline's default_sample_size x vae scale factor)
    loaded.multiple      generation sides are multiples of this: 8, or 16 for FLUX (2x2-packed latents)

    models.lease(...)                 context manager on the process-wide cache (ModelCache.lease on others)
    models.load_model(...)            the model without a lease: it may be evicted between two calls (then
                                      ``pipe`` is None); fine for one-shot use, the CLI and tests
    models.is_available_locally(src)  True for an existing local folder/file or a hub id already in the local
                                      Hugging Face cache (never goes online)

Nothing is imported from torch/diffusers, loaded or downloaded when this module is imported.

The cache (``ModelCache``) holds at most ``max_models`` models (default 1, env INPAINT_MAX_MODELS), keyed by
(source, dtype, device). Its lock guards only the registry, never a download or a load:

- A request for a loaded key returns at once, even while another key is loading.
- Concurrent requests for a key that is loading wait for that one load (one load per key) and share its
  result or its error.
- A load that needs a slot evicts the least recently used models that nobody leases; when every slot is
  leased it waits until a lease is released. Evicted models are parked off the accelerator (after their
  running call, if any, returns), freed (del + gc + torch.cuda.empty_cache) once the new model has loaded,
  and put back as they were if it fails (rollback).
- Deadlocks: a thread that holds a lease never waits for a slot. If it asks for another model that cannot
  be placed now (say max_models=1 and it holds model A while asking for B), it gets a ``UserError``
  saying so instead of waiting forever for its own lease; it may still wait for a load that already has
  its slot (that always finishes). Take a lease in the thread that runs the job and release it in the same
  thread (``with`` in one function, not across the yields of a Gradio generator).
- A loader waiting for a slot can wait for as long as other jobs keep leasing the loaded models (requests
  for a loaded model are served at once and are not queued behind it).

``allow_download=False`` refuses a hub id that is not in the local Hugging Face cache with a one-line
``UserError`` and loads with ``local_files_only``, so a request never starts a download.

Failures to load (offline, missing or gated weights, a path that does not exist) raise one
``ModelLoadError`` (a UserError, so a ValueError) whose single line names the model and the remedy.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import re
import threading
import time
import warnings
from collections import Counter, OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from .errors import UserError

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "stable-diffusion-v1-5/stable-diffusion-inpainting"
"""The model used when none is named: SD 1.5's dedicated inpainting checkpoint (9-channel UNet)."""

SINGLE_FILE_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")
SUPPORTED_PIPELINES = ("StableDiffusionInpaintPipeline", "StableDiffusionXLInpaintPipeline", "FluxFillPipeline")
SUPPORTED_KINDS = "Stable Diffusion 1.x/2.x and SDXL checkpoints (inpainting or base) and FLUX.1 Fill"
"""The models the loader takes, in words, for error messages."""

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

    pipe          StableDiffusionInpaintPipeline, StableDiffusionXLInpaintPipeline or FluxFillPipeline
    source        the hub id or the resolved local path it came from
    family        "sd" (SD 1.x/2.x), "sdxl" or "flux" (FLUX.1 Fill)
    in_channels   the denoiser's input channels: UNet 9 = inpainting checkpoint, 4 = base checkpoint; FLUX.1 Fill's
                  transformer 384 (packed 2x2: latents 64 + masked-image latents 64 + the 8x8 pixel mask 256)
    mode          "inpainting" (9, FLUX.1 Fill) or "blended" (4: blended latent diffusion, see
                  blended_latent_diffusion)
    native_size   pixels of the square the model was trained at (unet sample_size x vae scale factor; FLUX:
                  the pipeline's default_sample_size x vae scale factor)
    vae_scale_factor  pixels per latent cell side (8 for the real models)
    multiple      generation sides must be multiples of this: 8 for UNets, 2 x vae_scale_factor (16) for FLUX,
                  whose latents are packed in 2x2 patches
    device        "cuda", "mps" or "cpu" (the execution device; weights may sit on cpu when offloaded)
    dtype         torch dtype of the weights
    offload       whether model CPU offload is enabled
    lock          serialises calls into the pipeline (its scheduler is stateful); eviction takes it too,
                  so a model is never moved or freed during a call. After eviction ``pipe`` is None
                  (a leased model is never evicted: see ModelCache.lease).
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
    multiple: int = 8
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def mode(self) -> str:
        return "inpainting" if self.family == "flux" or self.in_channels == 9 else "blended"

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


def resolve_dtype(dtype: Any, device: str, family: str | None = None) -> Any:
    """None -> float16 on cuda (bfloat16 for ``family`` "flux": FLUX is trained in bf16 and overflows to NaN in
    fp16), float32 elsewhere; "fp16"/"float16"/"bf16"/"fp32" names or a torch dtype."""
    import torch

    if dtype is None:
        if not device.startswith("cuda"):
            return torch.float32
        return torch.bfloat16 if family == "flux" else torch.float16
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


def _single_file_kind(path: str) -> str:
    """"sdxl" when a single-file checkpoint holds SDXL's second text encoder, "flux" when it holds FLUX's
    double-stream blocks (BFL's or ComfyUI's key names), else "sd"."""
    if path.lower().endswith(".safetensors"):
        from safetensors import safe_open

        with safe_open(path, framework="pt") as fh:
            keys = list(fh.keys())
    else:
        import torch

        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        state = state.get("state_dict", state) if isinstance(state, dict) else state
        keys = [str(k) for k in state]
        del state
    if any(k.startswith("conditioner.embedders.1.") for k in keys):
        return "sdxl"
    if any(k.startswith(("double_blocks.", "model.diffusion_model.double_blocks.")) for k in keys):
        return "flux"
    return "sd"


def _single_file_family(path: str) -> str:
    """"sdxl" when a single-file checkpoint holds SDXL's second text encoder, else "sd"."""
    return "sdxl" if _single_file_kind(path) == "sdxl" else "sd"


def _read_config(key: str, kind: str, filename: str, local_files_only: bool) -> dict | None:
    """A JSON file of a diffusers folder or hub repository (``model_index.json``, ``transformer/config.json``), or
    None when it cannot be read: missing, unreadable, or a hub file not in the local cache when
    ``local_files_only`` (never raises; the load itself reports what is wrong)."""
    import json

    try:
        if kind == "folder":
            path = Path(key) / filename
        elif kind == "hub":
            from huggingface_hub import hf_hub_download, try_to_load_from_cache

            cached = try_to_load_from_cache(key, filename)  # files only: a cached file never goes online
            if isinstance(cached, str):
                path = Path(cached)
            elif local_files_only or _offline():
                return None
            else:
                path = Path(hf_hub_download(key, filename))
        else:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except Exception:  # noqa: BLE001 - a hint only
        return None
    return data if isinstance(data, dict) else None


def _is_flux_fill(key: str, kind: str, index: dict | None, local_files_only: bool) -> bool:
    """Whether a diffusers folder / hub id with model_index ``index`` is FLUX.1 Fill: its _class_name says so, or a
    FLUX pipeline's transformer takes more input channels than it gives (the Fill layout: latents + masked-image
    latents + mask in, latents out; FLUX.1 [dev]'s transformer takes and gives 64)."""
    name = str((index or {}).get("_class_name", ""))
    if name == "FluxFillPipeline":
        return True
    if not name.startswith("Flux"):
        return False
    config = _read_config(key, kind, "transformer/config.json", local_files_only) or {}
    in_channels = int(config.get("in_channels") or 0)
    return in_channels > int(config.get("out_channels") or in_channels)


def model_family(source: str | os.PathLike | None, *, allow_download: bool = False) -> str | None:
    """"flux" for a FLUX.1 Fill folder or hub id, "sdxl" / "sd" for Stable Diffusion ones (read from model_index.json,
    or the keys of a single file), None when that cannot be told without loading (a hub id not in the local cache
    when ``allow_download`` is False, or not reachable)."""
    key, kind = _normalise_source(source)
    if kind == "file":
        try:
            return _single_file_kind(key)
        except Exception:  # noqa: BLE001 - not a readable checkpoint: the load says why
            return None
    index = _read_config(key, kind, "model_index.json", not allow_download)
    if index is None:
        return None
    if _is_flux_fill(key, kind, index, not allow_download):
        return "flux"
    name = str(index.get("_class_name", ""))
    if name.startswith("StableDiffusionXL"):
        return "sdxl"
    return "sd" if name.startswith("StableDiffusion") and not name.startswith("StableDiffusion3") else None


# --------------------------------------------------------------------------------------------
# Loading (no cache)


def _load_pipeline(
    key: str, kind: str, dtype: Any, device: str, offload: bool, config: str | None, *, local_files_only: bool = False,
) -> Any:
    """Load the pipeline from a hub id, a diffusers folder or a single file and put it on ``device``.

    This is ModelCache's default ``loader``; any loader takes these arguments. ``local_files_only``: use only the
    local Hugging Face cache (set when downloads are disabled, and whenever HF_HUB_OFFLINE is set).
    """
    local_files_only = bool(local_files_only) or _offline()
    import diffusers
    from diffusers.pipelines import pipeline_utils

    # diffusers renamed torch_dtype to dtype (0.36+); older releases only know torch_dtype.
    dtype_kw = "dtype" if hasattr(pipeline_utils, "_resolve_dtype") else "torch_dtype"
    common = {dtype_kw: dtype, "safety_checker": None, "requires_safety_checker": False}
    if local_files_only:
        common["local_files_only"] = True
    if kind == "file":
        family = _single_file_kind(key)
        if family == "flux":
            raise ModelLoadError(
                f"model '{key}' is a single-file FLUX checkpoint; FLUX.1 Fill loads from its diffusers folder or hub "
                f"id (black-forest-labs/FLUX.1-Fill-dev, preset flux-fill)"
            )
        cls = diffusers.StableDiffusionXLInpaintPipeline if family == "sdxl" else diffusers.StableDiffusionInpaintPipeline
        kwargs = {dtype_kw: dtype, "local_files_only": local_files_only}
        if family == "sd":
            kwargs.update(safety_checker=None, requires_safety_checker=False)
        if config:
            kwargs["config"] = config
        pipe = cls.from_single_file(key, **kwargs)
    else:
        index = _read_config(key, kind, "model_index.json", local_files_only)
        name = str((index or {}).get("_class_name", ""))
        if _is_flux_fill(key, kind, index, local_files_only):
            # AutoPipelineForInpainting has no entry for FluxFillPipeline (diffusers 0.42 raises), and opens a FLUX
            # repository named FluxPipeline as FluxInpaintPipeline (FLUX.1 [dev] inpainting by latent blending),
            # which would feed the Fill transformer the wrong inputs.
            kwargs = {dtype_kw: dtype, "local_files_only": True} if local_files_only else {dtype_kw: dtype}
            pipe = diffusers.FluxFillPipeline.from_pretrained(key, **kwargs)
        else:
            if name.startswith(("StableDiffusionXL", "Flux")):  # no safety checker to switch off
                common = {k: v for k, v in common.items() if k not in ("safety_checker", "requires_safety_checker")}
            pipe = diffusers.AutoPipelineForInpainting.from_pretrained(key, **common)
    if type(pipe).__name__ not in SUPPORTED_PIPELINES:
        name = type(pipe).__name__
        del pipe
        hint = ("FLUX.1 [dev]/[schnell] are not inpainting models: use FLUX.1 Fill (preset flux-fill); "
                if name.startswith("Flux") else "")
        raise ModelLoadError(f"model '{key}' loads as {name}; supported are {SUPPORTED_KINDS}; {hint}" + remedy(key))
    return place(pipe, device, offload)


def place(pipe: Any, device: str, offload: bool = False) -> Any:
    """A loaded pipeline, quiet (no progress bar) and on ``device``, or with model CPU offload (cuda only)."""
    pipe.set_progress_bar_config(disable=True)
    if offload and device.startswith("cuda"):
        pipe.enable_model_cpu_offload(device=device)
    else:
        pipe.to(device)
    return pipe


def describe(pipe: Any, source: str, device: str, dtype: Any, offload: bool = False) -> LoadedModel:
    """Wrap a diffusers inpainting pipeline (already on its device) as a LoadedModel: a UNet pipeline (SD, SDXL)
    or a transformer one (FLUX.1 Fill)."""
    if getattr(pipe, "unet", None) is None and getattr(pipe, "transformer", None) is not None:
        return _describe_flux(pipe, source, device, dtype, offload)
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


def _describe_flux(pipe: Any, source: str, device: str, dtype: Any, offload: bool) -> LoadedModel:
    """describe() for FLUX.1 Fill: the transformer must take the Fill inputs (see LoadedModel.in_channels)."""
    in_channels = int(pipe.transformer.config.in_channels)
    vae_scale = int(getattr(pipe, "vae_scale_factor", 0) or 2 ** (len(pipe.vae.config.block_out_channels) - 1))
    latent = int(pipe.vae.config.latent_channels)
    fill = 4 * latent + 4 * latent + 4 * vae_scale * vae_scale
    if in_channels != fill:
        raise ModelLoadError(
            f"model '{source}' has a FLUX transformer with {in_channels} input channels; FLUX.1 Fill with this VAE "
            f"takes {fill} (latents, masked-image latents and the mask, packed 2x2)"
        )
    native = int(getattr(pipe, "default_sample_size", 128)) * vae_scale
    return LoadedModel(
        pipe=pipe, source=source, family="flux", in_channels=in_channels, native_size=native,
        vae_scale_factor=vae_scale, device=device, dtype=dtype, offload=offload, multiple=max(8, 2 * vae_scale),
    )


# --------------------------------------------------------------------------------------------
# Local availability (downloads disabled)


def is_available_locally(source: str | os.PathLike | None) -> bool:
    """True when ``source`` can be loaded without a download: an existing local folder or file, or a hub id whose
    ``model_index.json`` is in the local Hugging Face cache (huggingface_hub.try_to_load_from_cache: files only,
    never the network). None means DEFAULT_MODEL. A partly downloaded repository counts as available; loading it
    with downloads disabled then fails with a one-line ModelLoadError instead of fetching the rest.
    """
    try:
        key, kind = _normalise_source(source)
    except ModelLoadError:
        return False  # a path that does not exist, or text that is no hub id
    if kind != "hub":
        return True
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(key, "model_index.json"), str)


def downloads_disabled_error(name: str) -> UserError:
    """The one-line refusal for a model that is not on this server when downloads are disabled."""
    return UserError(
        f"model '{name}' is not on this server and downloads are disabled here; "
        f"ask the operator to add it (python app.py --allow-downloads)"
    )


def _check_local(name: str, kind: str, key_source: str, config: str | None) -> None:
    """Refuse (UserError) a hub id, or a hub-id ``config``, that would need a download."""
    if kind == "hub" and not is_available_locally(key_source):
        raise downloads_disabled_error(name)
    if config and not Path(os.path.expanduser(str(config))).exists() and not is_available_locally(config):
        raise downloads_disabled_error(str(config))


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


@dataclass(eq=False)
class _Loading:
    """One load in flight for a key: whether it holds a slot yet, how many requests wait for it, its outcome."""

    name: str
    has_slot: bool = False
    waiters: int = 0
    done: bool = False
    model: LoadedModel | None = None
    error: BaseException | None = None


class ModelCache:
    """A registry of loaded models keyed by (source, dtype, device), at most ``max_models`` of them, shared by
    threads (users). See the module docstring for the rules; in short:

    lease(...)   context manager: the model, pinned (never evicted, parked or freed) until the block exits
    get(...)     the model without a lease (load_model): it may be evicted by the next load of another key

    The registry lock (``_cond``, a Condition) is never held while waiting for a running pipeline call, while
    parking, loading or freeing. ``loader(source, kind, dtype, device, offload, config, local_files_only=...)``
    replaces the real loader in tests.
    """

    def __init__(self, max_models: int = 1, loader: Callable[..., Any] | None = None):
        if int(max_models) < 1:
            raise UserError(f"max_models must be at least 1, got {max_models}")
        self.max_models = int(max_models)
        self._loader = loader or _load_pipeline
        self._cond = threading.Condition(threading.Lock())
        self._models: OrderedDict[tuple, LoadedModel] = OrderedDict()  # least recently used first
        self._leases: Counter[tuple] = Counter()  # key -> leases held
        self._holders: dict[int, Counter[tuple]] = {}  # thread ident -> key -> leases that thread holds
        self._loading: dict[tuple, _Loading] = {}  # key -> its load in flight
        self._parked: dict[tuple, _Loading] = {}  # evicted key -> the load that evicted it (until it ends)
        self.loads = 0
        """How many pipelines this cache has loaded (cache misses); tests read it."""

    # ---- inspection

    def keys(self) -> list[tuple]:
        with self._cond:
            return list(self._models)

    def __len__(self) -> int:
        with self._cond:
            return len(self._models)

    def __contains__(self, key: tuple) -> bool:
        with self._cond:
            return key in self._models

    def status(self) -> dict:
        """A snapshot: {"loaded": [keys, least recently used first], "leases": {key: n},
        "loading": {key: "waiting for a slot" | "loading"}, "waiters": {key: requests waiting for that load},
        "max_models": n}."""
        with self._cond:
            return {
                "loaded": list(self._models),
                "leases": dict(self._leases),
                "loading": {k: "loading" if r.has_slot else "waiting for a slot" for k, r in self._loading.items()},
                "waiters": {k: r.waiters for k, r in self._loading.items()},
                "max_models": self.max_models,
            }

    # ---- capacity

    def clear(self) -> None:
        """Forget and free every cached model nobody leases (leased ones stay until their leases end)."""
        with self._cond:
            dropped = [self._models.pop(k) for k in list(self._models) if not self._leases[k]]
            self._cond.notify_all()
        self._drop(dropped)

    def set_max_models(self, n: int) -> None:
        """Change the capacity; unleased models beyond it are freed, least recently used first."""
        if int(n) < 1:
            raise UserError(f"max_models must be at least 1, got {n}")
        with self._cond:
            self.max_models = int(n)
            excess = len(self._models) + sum(r.has_slot for r in self._loading.values()) - self.max_models
            dropped = []
            for k in list(self._models):
                if len(dropped) >= excess:
                    break
                if not self._leases[k]:
                    dropped.append(self._models.pop(k))
            self._cond.notify_all()
        self._drop(dropped)

    @staticmethod
    def _drop(dropped: list[LoadedModel]) -> None:
        """Free models already removed from the registry, each after its running call (its lock)."""
        for m in dropped:
            with m.lock:
                m.pipe = None
        _free(dropped)

    # ---- requests

    @contextmanager
    def lease(
        self,
        source: str | os.PathLike | LoadedModel | None = None,
        *,
        device: str | None = "auto",
        dtype: Any = None,
        offload: bool = False,
        config: str | None = None,
        allow_download: bool = True,
    ) -> Iterator[LoadedModel]:
        """Yield the model for ``source`` (loading it on a miss), pinned until the ``with`` block exits.

        While any lease on a model is held it is never evicted, parked or freed; a load that needs its slot
        waits. Enter and exit in the same thread. Arguments as load_model. A LoadedModel as ``source`` is
        yielded as is (pinned if it is registered in this cache). Raises ModelLoadError/UserError (one line),
        including when this thread already holds a lease and the model cannot be placed (see module docstring).
        """
        if isinstance(source, LoadedModel):
            key, model = self._pin(source)
        else:
            key, model = self._acquire(
                source, device=device, dtype=dtype, offload=offload, config=config,
                allow_download=allow_download, lease=True,
            )
        me = threading.get_ident()
        try:
            yield model
        finally:
            if key is not None:
                self._release(key, me)

    def get(
        self,
        source: str | os.PathLike | None = None,
        *,
        device: str | None = "auto",
        dtype: Any = None,
        offload: bool = False,
        config: str | None = None,
        allow_download: bool = True,
    ) -> LoadedModel:
        """The model for ``source`` (hub id, diffusers folder or single file), loading it on a miss; no lease, so
        the model may be evicted (``pipe`` None) once another key needs its slot."""
        return self._acquire(
            source, device=device, dtype=dtype, offload=offload, config=config,
            allow_download=allow_download, lease=False,
        )[1]

    def _pin(self, model: LoadedModel) -> tuple[tuple | None, LoadedModel]:
        """Lease a LoadedModel handed in directly, when this cache holds it; (None, model) otherwise."""
        with self._cond:
            for key, cached in self._models.items():
                if cached is model:
                    self._take(key, threading.get_ident())
                    return key, model
        return None, model

    def _take(self, key: tuple, me: int) -> None:
        self._leases[key] += 1
        self._holders.setdefault(me, Counter())[key] += 1

    def _release(self, key: tuple, me: int) -> None:
        with self._cond:
            self._leases[key] -= 1
            if self._leases[key] <= 0:
                del self._leases[key]
            held = self._holders.get(me)
            if held is not None:
                held[key] -= 1
                if held[key] <= 0:
                    del held[key]
                if not held:
                    del self._holders[me]
            self._cond.notify_all()

    def _would_deadlock(self, name: str, me: int) -> UserError:
        held = ", ".join(f"'{Path(k[0]).name if Path(k[0]).is_absolute() else k[0]}'" for k in self._holders[me])
        return UserError(
            f"model '{name}' cannot be loaded while this job holds {held}: the server keeps at most "
            f"{self.max_models} model(s) loaded (INPAINT_MAX_MODELS) and they are in use; "
            f"finish the job with one model before starting one with another"
        )

    def _acquire(
        self, source: Any, *, device: Any, dtype: Any, offload: bool, config: str | None, allow_download: bool,
        lease: bool,
    ) -> tuple[tuple, LoadedModel]:
        """(key, model): the registered model (leased when ``lease``), loading it in this thread on a miss."""
        key_source, kind = _normalise_source(source)
        device = resolve_device(device)
        family = None
        if dtype is None and device.startswith("cuda") and kind != "file":
            # the default dtype on CUDA depends on the model (bf16 for FLUX): read its model_index.json
            family = model_family(key_source, allow_download=allow_download)
        dtype = resolve_dtype(dtype, device, family)
        offload = bool(offload) and device.startswith("cuda")
        device_key = device + ("+offload" if offload else "")
        key = (key_source, str(dtype).replace("torch.", ""), device_key)
        name = str(source) if source is not None and str(source).strip() else DEFAULT_MODEL
        if not allow_download:
            _check_local(name, kind, key_source, config)
        me = threading.get_ident()

        with self._cond:
            while True:
                model = self._models.get(key)
                if model is not None:
                    self._models.move_to_end(key)
                    if lease:
                        self._take(key, me)
                    return key, model
                loading = self._loading.get(key)
                rec = loading or self._parked.get(key)
                if rec is None:
                    break
                # Someone is loading this key (wait for that one load), or evicting it (wait for the outcome:
                # rollback puts it back, commit frees it and this thread loads it again).
                if not rec.has_slot and self._holders.get(me):
                    raise self._would_deadlock(name, me)
                rec.waiters += 1
                try:
                    while not rec.done:
                        self._cond.wait()
                finally:
                    rec.waiters -= 1
                if rec is loading and rec.error is not None:
                    raise _shared_error(name, rec.error) from None

            # This thread loads ``key``: register the load, then get a slot for it.
            rec = _Loading(name)
            self._loading[key] = rec
            try:
                victims = self._reserve(rec, name, me)
            except BaseException as exc:
                del self._loading[key]
                rec.error, rec.done = exc, True
                self._cond.notify_all()
                raise

        model = self._load(
            key, rec, victims, key_source, kind, dtype, device, offload, config, allow_download, me if lease else None,
        )
        return key, model

    def _reserve(self, rec: _Loading, name: str, me: int) -> list[tuple[tuple, LoadedModel]]:
        """Under the registry lock: make room for one more model. Returns the evicted (key, model) pairs, which
        leave the registry and are marked parked. Waits while every slot is leased; raises UserError instead
        when this thread holds a lease and no load with a slot is in flight (waiting could be forever)."""
        waiting_since = None
        while True:
            used = len(self._models) + sum(r.has_slot for r in self._loading.values())
            need = used + 1 - self.max_models
            free = [k for k in self._models if not self._leases[k]]  # least recently used first
            if need <= len(free):
                victims = [(k, self._models.pop(k)) for k in free[: max(need, 0)]]
                for k, _ in victims:
                    self._parked[k] = rec
                rec.has_slot = True
                if waiting_since is not None:
                    logger.info("model %s got a slot after %.1f s", name, time.perf_counter() - waiting_since)
                return victims
            if self._holders.get(me) and not any(r.has_slot for r in self._loading.values()):
                raise self._would_deadlock(name, me)
            if waiting_since is None:
                waiting_since = time.perf_counter()
                logger.info(
                    "model %s waits for a slot: %d of %d in use (leased: %s)",
                    name, used, self.max_models, ", ".join(k[0] for k in self._leases) or "none",
                )
            self._cond.wait()

    def _load(
        self, key: tuple, rec: _Loading, victims: list[tuple[tuple, LoadedModel]], key_source: str, kind: str,
        dtype: Any, device: str, offload: bool, config: str | None, allow_download: bool, lease_for: int | None,
    ) -> LoadedModel:
        """Outside the registry lock: park the victims (after their running calls), load, then commit (register
        the new model, leased by thread ``lease_for`` unless None, and free the victims) or roll back (restore
        the victims). Wakes every waiter either way."""
        locked: list[LoadedModel] = []
        parked: list[bool] = []
        try:
            try:
                # 1. Set the evicted models aside: wait for their running call (their lock, held until commit or
                #    rollback so no call starts on a parked model), then move them off the accelerator.
                for _, old in victims:
                    old.lock.acquire()
                    locked.append(old)
                    parked.append(_park(old))
                if any(parked):
                    _empty_accelerator_cache()

                # 2. Load.
                t0 = time.perf_counter()
                logger.info("loading model %s (%s, %s, %s)", rec.name, kind, key[1], key[2])
                with warnings.catch_warnings():  # hub deprecation chatter; failures are reported below
                    warnings.filterwarnings("ignore", message=".*local_dir_use_symlinks.*")
                    pipe = self._loader(
                        key_source, kind, dtype, device, offload, config, local_files_only=not allow_download,
                    )
                model = describe(pipe, key_source, device, dtype, offload)
                logger.info("loaded model %s in %.1f s", rec.name, time.perf_counter() - t0)
            except BaseException as exc:
                # 3a. Roll back: the evicted models go back as they were, the waiters get the error.
                pipe = None
                gc.collect()
                restored = self._unpark(victims, parked)
                if isinstance(exc, ModelLoadError) or not isinstance(exc, Exception):
                    error: BaseException = exc
                else:
                    error = _load_error(rec.name, exc, kind)
                with self._cond:
                    for old_key, old in reversed(restored):
                        self._models[old_key] = old
                        self._models.move_to_end(old_key, last=False)
                    for old_key, _ in victims:
                        self._parked.pop(old_key, None)
                    del self._loading[key]
                    rec.error, rec.done = error, True
                    self._cond.notify_all()
                logger.info("loading model %s failed: %s", rec.name, " ".join(str(error).split())[:300])
                if error is exc:
                    raise
                raise error from (None if _is_hub_error(exc) else exc)

            # 3b. Commit: register the new model, then free the evicted ones.
            with self._cond:
                for old_key, _ in victims:
                    del self._parked[old_key]
                del self._loading[key]
                self._models[key] = model
                if lease_for is not None:
                    self._take(key, lease_for)
                self.loads += 1
                rec.model, rec.done = model, True
                self._cond.notify_all()
            if victims:
                logger.info("evicted %s", ", ".join(k[0] for k, _ in victims))
            _free([old for _, old in victims])
            return model
        finally:
            for old in locked:
                old.lock.release()

    @staticmethod
    def _unpark(victims: list[tuple[tuple, LoadedModel]], parked: list[bool]) -> list[tuple[tuple, LoadedModel]]:
        """Move parked victims back to their device; one that cannot move back is freed (and logged)."""
        restored = []
        for i, (old_key, old) in enumerate(victims):
            if i < len(parked) and parked[i]:
                try:
                    old.pipe.to(old.device)
                except Exception:
                    logger.exception("could not move model %s back to %s after a failed load; freeing it",
                                     old.name, old.device)
                    _free([old])
                    continue
            restored.append((old_key, old))
        return restored


def _shared_error(name: str, error: BaseException) -> UserError:
    """The error a request that waited for another request's load raises (a fresh one-line copy)."""
    if isinstance(error, UserError):
        return type(error)(str(error)) if type(error) in (UserError, ModelLoadError) else ModelLoadError(str(error))
    return ModelLoadError(f"loading model '{name}' was interrupted ({type(error).__name__}); try again")


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
        logger.warning("could not park model %s on the CPU; it stays on %s", model.name, model.device, exc_info=True)
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
    allow_download: bool = True,
) -> LoadedModel:
    """Load (or fetch from the process-wide cache) an inpainting model, without a lease.

    Without a lease the model may be evicted between two pipeline calls when another request loads a
    different model (then ``pipe`` is None): a job of several calls, or a server, uses ``lease`` instead.

    source          hub id (default DEFAULT_MODEL), local diffusers folder, or a single .safetensors/.ckpt file
    device          "auto" (cuda, then mps, then cpu), "cuda", "cuda:N", "mps" or "cpu"
    dtype           None (fp16 on cuda, fp32 elsewhere), "fp16", "bf16", "fp32" or a torch dtype
    offload         enable diffusers' model CPU offload (cuda only): less GPU memory, slower
    config          for single files: a diffusers folder or hub id holding the matching component configs
                    (otherwise diffusers looks the configs up on the hub or in its local cache)
    allow_download  False: a hub id (or config) not in the local Hugging Face cache is refused with a
                    one-line UserError, and loading uses local files only
    Raises ModelLoadError (a UserError, so a ValueError) with one line naming the model and the remedy.
    """
    return (cache if cache is not None else _CACHE).get(
        source, device=device, dtype=dtype, offload=offload, config=config, allow_download=allow_download,
    )


def lease(
    source: str | os.PathLike | LoadedModel | None = None,
    *,
    device: str | None = "auto",
    dtype: Any = None,
    offload: bool = False,
    config: str | None = None,
    allow_download: bool = True,
    cache: ModelCache | None = None,
) -> contextlib.AbstractContextManager[LoadedModel]:
    """``with lease(source, ...) as loaded:`` the model, pinned in the process-wide cache (or ``cache``) for the
    whole block: never evicted, parked or freed until the block exits. Arguments as load_model; serialise
    each pipeline call with ``loaded.lock``. A LoadedModel as ``source`` is yielded as is (pinned when it
    belongs to the cache). Raises as load_model, and UserError when this thread already holds a lease and
    the model cannot be placed without evicting a leased one (see the module docstring).
    """
    return (cache if cache is not None else _CACHE).lease(
        source, device=device, dtype=dtype, offload=offload, config=config, allow_download=allow_download,
    )


def blended_latent_diffusion(pipe: Any) -> bool:
    """True when ``pipe`` runs blended latent diffusion: a 4-channel UNet in an SD/SDXL inpainting pipeline
    (never FLUX.1 Fill, which takes the mask as an input).

    diffusers' StableDiffusionInpaintPipeline and StableDiffusionXLInpaintPipeline do it themselves for a
    4-channel UNet: after every scheduler step the latents outside the (latent-resolution) mask are replaced
    by the original image's latents noised to the next timestep (scheduler.add_noise(image_latents, noise,
    t_next)), and by the clean latents after the last step. tests/test_models.py checks this step by step.
    """
    unet = getattr(pipe, "unet", None)
    return type(pipe).__name__ in SUPPORTED_PIPELINES and unet is not None and int(unet.config.in_channels) == 4
