"""The depth-guided staging engine: ControlNet depth inpainting, so new furniture sits in the room's perspective.

    with lease("depth-staging") as engine:              # SD 1.5 inpainting + ControlNet depth + Depth Anything V2
        result = driver.run(prep, engine, prompt="a grey sofa", seeds=[7])
    with lease(folder, controlnet=cn_folder, depth_model=depth_folder, device="cpu") as engine: ...

1. The models. ``model`` is a preset id ("depth-staging", "depth-staging-sdxl": the base, its ControlNet and the
   depth model from generate.registry), a base inpainting model (a diffusers preset id, hub id, folder or single
   file: the ControlNet and depth model then default to the depth preset of its family, SD 1.x/2.x or SDXL), or
   None (the "depth-staging" preset); ``controlnet`` and ``depth_model`` override the defaults.
2. Loading. The base and its ControlNet load as one StableDiffusionControlNetInpaintPipeline (SD 1.x/2.x) or
   StableDiffusionXLControlNetInpaintPipeline (SDXL) through a models.ModelCache whose loader adds the ControlNet:
   one cache per ControlNet, so the entry is keyed by (base, ControlNet, dtype, device), leased for the whole job
   (never evicted meanwhile) and reused by the next job. Loading another ControlNet's pipeline first frees the
   other ControlNets' pipelines that no job is using. The depth model (transformers) is loaded once per process
   and shared (generate.depth.shared). ``allow_download`` False refuses a base, ControlNet or depth model that is
   not in the local Hugging Face cache with models.downloads_disabled_error's one line, before anything loads.
3. The depth map. The driver hands the engine the whole photo once per job (Engine.prepare): its depth is
   estimated there at a bounded resolution (depth.MAX_SIDE) and cached by the photo's content, so it is computed
   once per photo, not per crop or variant. Before each crop the driver names the crop's box (Engine.locate); the
   control image is the depth map under that box resized to the crop's size (depth.crop_depth: three equal
   channels in [0, 1], near = 1).
4. Generating. One pipeline call per crop as the plain diffusion engine makes it (DiffusionEngine: seeded local
   generator, step callback, cancel within one step, the latent mask grown by one cell, the soft edge and SDXL's
   strength cap when they apply), plus ``control_image``
   and ``controlnet_conditioning_scale`` (``control_scale``, default DEFAULT_CONTROL_SCALE). A 4-channel base runs
   as blended latent diffusion, as in the plain engine.

Formats: photos and crops HWC uint8 RGB, masks HW bool (True = repaint), boxes XYXY ints with exclusive ends.
"""

from __future__ import annotations

import functools
import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..errors import UserError, one_line
from . import depth as depth_
from .diffusion import DiffusionEngine
from .registry import is_preset, preset

PRESET = "depth-staging"
"""The preset used when no model is named."""
FAMILY_PRESETS = {"sd": "depth-staging", "sdxl": "depth-staging-sdxl"}
"""Model family -> the depth preset whose ControlNet and depth model a base of that family gets by default."""
DEFAULT_CONTROL_SCALE = 0.5
"""controlnet_conditioning_scale when none is given (diffusers' default for SD ControlNet inpainting). Below the
1.0 of text-to-image depth ControlNets on purpose: inside the mask the depth is the empty room's (floor, wall), and
a full-strength control would rebuild that surface instead of the new object."""
PIPELINES = ("StableDiffusionControlNetInpaintPipeline", "StableDiffusionXLControlNetInpaintPipeline")


# ---------------------------------------------------------------------------------------------------------------
# 1. Which models


def resolve(model=None, *, controlnet=None, depth_model=None, allow_download: bool = True) -> tuple[str, str, str]:
    """(base, controlnet, depth model) for ``model`` (see the module docstring, step 1) and the overrides."""
    from .. import models

    if isinstance(model, models.LoadedModel):
        raise UserError("depth staging loads the base with its ControlNet: give the model's id, folder or file, "
                        "not a loaded model")
    name = PRESET if model is None or str(model).strip() == "" else str(model).strip()
    if is_preset(name):
        p = preset(name)
        if p.engine == "depth":
            return p.source, str(controlnet or p.extra["controlnet"]), str(depth_model or p.extra["depth_model"])
        if p.engine != "diffusers":
            raise UserError(f"model preset {name!r} runs on the {p.engine} engine, not depth staging: give a depth "
                            f"preset ({', '.join(FAMILY_PRESETS.values())}) or an SD/SDXL inpainting model")
        name = p.source
    if controlnet is None or depth_model is None:
        defaults = preset(FAMILY_PRESETS[family(name, allow_download=allow_download)]).extra
        controlnet = controlnet or defaults["controlnet"]
        depth_model = depth_model or defaults["depth_model"]
    return name, str(controlnet), str(depth_model)


def family(source, *, allow_download: bool = True) -> str:
    """"sd" or "sdxl": the family of a base model (hub id, diffusers folder or single file), as models.model_family
    reads it (model_index.json from the folder, the local Hugging Face cache, or that one small file when downloads
    are allowed; a single file's keys). A model of another kind (FLUX, SD3, ...) is a UserError; a hub id not here
    with downloads disabled is models.downloads_disabled_error."""
    from .. import models

    key, kind = models._normalise_source(source)  # a path that does not exist: one line
    if kind == "hub" and not allow_download and not models.is_available_locally(key):
        raise models.downloads_disabled_error(str(source))
    found = models.model_family(key, allow_download=allow_download)
    if found in ("sd", "sdxl"):
        return found
    if found is None and kind == "hub" and not models.is_available_locally(key):
        raise models.ModelLoadError(f"cannot read the model index of '{source}' (offline, or no such repository); "
                                    + models.remedy(str(source)))
    kind_text = "a FLUX model" if found == "flux" else "not a Stable Diffusion pipeline (by its model_index.json)"
    raise UserError(f"model '{source}' is {kind_text}; depth staging runs Stable Diffusion 1.x/2.x and SDXL models "
                    f"(inpainting or base)")


# ---------------------------------------------------------------------------------------------------------------
# 2. Loading: one ModelCache per ControlNet, whose loader builds base + ControlNet


_CACHES: dict[str, Any] = {}
_CACHES_LOCK = threading.Lock()


def pipeline_cache(controlnet: str | os.PathLike):
    """The models.ModelCache of the ControlNet inpainting pipelines that use ``controlnet`` (hub id or diffusers
    folder), made on first use with models.get_cache()'s capacity. Asking for it frees the pipelines of the other
    ControlNets' caches that no job leases (so switching ControlNets does not pile models up)."""
    from .. import models

    key = depth_.source_key(controlnet, "ControlNet")
    if Path(key).is_file():
        raise UserError(f"ControlNet '{controlnet}': give a diffusers ControlNet folder or hub id, not a single file")
    with _CACHES_LOCK:
        cache = _CACHES.get(key)
        if cache is None:
            loader = functools.partial(_load_pipeline, controlnet=key, controlnet_name=str(controlnet))
            cache = _CACHES[key] = models.ModelCache(max_models=models.get_cache().max_models, loader=loader)
        others = [c for k, c in _CACHES.items() if k != key]
    for other in others:
        other.clear()  # only models nobody leases
    return cache


def _load_pipeline(key: str, kind: str, dtype: Any, device: str, offload: bool, config: str | None, *,
                   local_files_only: bool = False, controlnet: str, controlnet_name: str) -> Any:
    """ModelCache loader: the ControlNet inpainting pipeline of base ``key`` (hub id, folder or single file) with
    the ControlNet ``controlnet``, on ``device`` (see models._load_pipeline, whose arguments it takes)."""
    from .. import models

    local_files_only = bool(local_files_only) or models._offline()
    import diffusers
    from diffusers.pipelines import pipeline_utils

    try:
        net = diffusers.ControlNetModel.from_pretrained(controlnet, torch_dtype=dtype,
                                                        local_files_only=local_files_only)
    except Exception as exc:  # one line naming the ControlNet (the cache would name the base)
        raise models.ModelLoadError(
            f"cannot load the ControlNet '{controlnet_name}' ({type(exc).__name__}: {one_line(exc, 240)}); pass a "
            f"local ControlNet folder (--controlnet DIR), or download it once while online and then run with "
            f"HF_HUB_OFFLINE=1"
        ) from (None if models._is_hub_error(exc) else exc)
    dtype_kw = "dtype" if hasattr(pipeline_utils, "_resolve_dtype") else "torch_dtype"
    if kind == "file":
        sdxl = models._single_file_family(key) == "sdxl"
        cls = (diffusers.StableDiffusionXLControlNetInpaintPipeline if sdxl
               else diffusers.StableDiffusionControlNetInpaintPipeline)
        kwargs = {dtype_kw: dtype, "local_files_only": local_files_only, "controlnet": net}
        if not sdxl:
            kwargs.update(safety_checker=None, requires_safety_checker=False)
        if config:
            kwargs["config"] = config
        pipe = cls.from_single_file(key, **kwargs)
    else:
        kwargs = {dtype_kw: dtype, "controlnet": net}
        if models.model_family(key, allow_download=not local_files_only) != "sdxl":  # SDXL has no safety checker
            kwargs.update(safety_checker=None, requires_safety_checker=False)
        if local_files_only:
            kwargs["local_files_only"] = True
        pipe = diffusers.AutoPipelineForInpainting.from_pretrained(key, **kwargs)
    name = type(pipe).__name__
    if name not in PIPELINES:
        del pipe
        raise models.ModelLoadError(f"model '{key}' loads as {name} with a ControlNet; depth staging runs Stable "
                                    f"Diffusion 1.x/2.x and SDXL checkpoints (inpainting or base)")
    wants, gives = pipe.unet.config.cross_attention_dim, net.config.cross_attention_dim
    if wants != gives:
        del pipe
        raise models.ModelLoadError(
            f"ControlNet '{controlnet_name}' (cross-attention {gives}) does not fit the base '{key}' "
            f"(cross-attention {wants}): give a ControlNet of the base's family (--controlnet)"
        )
    return models.place(pipe, device, offload)


# ---------------------------------------------------------------------------------------------------------------
# 3-4. The engine


class DepthEngine(DiffusionEngine):
    """A leased ControlNet inpainting pipeline and a DepthEstimator as an engine (see the module docstring).

    prepare(photo) estimates (or finds) the photo's depth map; locate(box) names the next crop's box; fill() then
    generates with the depth under that box as the control image. fill() without prepare() and locate() is a
    RuntimeError."""

    description = "the depth-guided diffusion engine"

    def __init__(self, loaded, estimator: depth_.DepthEstimator, *, controlnet: str, control_scale: float = 1.0,
                 **options):
        super().__init__(loaded, **options)
        self.depth = estimator
        self.controlnet = controlnet
        self.control_scale = float(control_scale)
        if not np.isfinite(self.control_scale) or self.control_scale < 0:
            raise UserError(f"control_scale must be a number >= 0, got {control_scale}")
        self._depth_map: np.ndarray | None = None
        self._image_size: tuple[int, int] | None = None
        self._box: tuple[int, int, int, int] | None = None

    @property
    def controlnet_name(self) -> str:
        """A short display name: the hub id, or the folder name of a local ControlNet."""
        key = depth_.source_key(self.controlnet)
        return Path(key).name if Path(key).is_absolute() else key

    def notes(self) -> list[str]:
        return super().notes() + [
            f"depth control: ControlNet {self.controlnet_name} (scale {self.control_scale:g}) on the depth map of "
            f"{self.depth.name}, estimated once per photo at most {self.depth.max_side} px a side"
        ]

    def settings(self) -> dict:
        return {**super().settings(), "control": "depth", "controlnet": self.controlnet_name,
                "depth_model": self.depth.name, "control_scale": self.control_scale}

    def prepare(self, image: np.ndarray) -> None:
        self._depth_map = self.depth.estimate(image)
        self._image_size = (int(image.shape[1]), int(image.shape[0]))
        self._box = None

    def locate(self, box: tuple[int, int, int, int]) -> None:
        if self._depth_map is None:
            raise RuntimeError("locate() before prepare(): hand the engine the photo first")
        self._box = tuple(int(v) for v in box)

    def control_image(self, size: tuple[int, int]) -> np.ndarray:
        """The depth under the located box at ``size`` (width, height): HWC float32, 3 equal channels in [0, 1]."""
        if self._depth_map is None or self._box is None:
            raise RuntimeError("the depth engine needs prepare(photo) and locate(box) before each fill(); "
                               "run it through generate.driver.run")
        return depth_.crop_depth(self._depth_map, self._image_size, self._box, size)

    def extra_kwargs(self, width: int, height: int) -> dict:
        """The control image (the crop's depth; a batch of one: an HWC array would read as H images) and its
        scale, on top of DiffusionEngine's call."""
        return {"control_image": self.control_image((width, height))[None],
                "controlnet_conditioning_scale": self.control_scale}


@contextmanager
def lease(model=None, *, device: str | None = "auto", dtype=None, offload: bool = False, config: str | None = None,
          allow_download: bool = True, strength: float = 1.0, steps: int = 30, guidance: float | None = None,
          prefill: bool = False, radius: float = 5.0, soft_edge: float = 0.0, controlnet=None, depth_model=None,
          control_scale: float = DEFAULT_CONTROL_SCALE, **_ignored) -> Iterator[DepthEngine]:
    """``with lease(model) as engine:`` a DepthEngine whose ControlNet pipeline is leased for the whole block (its
    ModelCache never evicts it meanwhile) and whose depth model is the process-wide shared one. ``model``,
    ``controlnet``, ``depth_model``: see resolve(); the other arguments as diffusion.lease. Raises UserError /
    models.ModelLoadError (one line) for a model that cannot be had, before loading anything when downloads are
    disabled and one of the three is not here."""
    from .. import models

    base, controlnet, depth_model = resolve(model, controlnet=controlnet, depth_model=depth_model,
                                            allow_download=allow_download)
    device = models.resolve_device(device)
    for source, what in ((controlnet, "ControlNet"), (depth_model, "depth model")):
        depth_.source_key(source, what)  # a folder that is not there: one line naming it
        if not allow_download and not depth_.available_locally(source):
            raise models.downloads_disabled_error(source)
    if not allow_download and not models.is_available_locally(base):
        raise models.downloads_disabled_error(base)
    cache = pipeline_cache(controlnet)
    estimator = depth_.shared(depth_model, device=device, allow_download=allow_download)
    with cache.lease(base, device=device, dtype=dtype, offload=offload, config=config,
                     allow_download=allow_download) as loaded:
        if loaded.pipe is None:
            raise RuntimeError(f"model '{loaded.name}' was evicted from the model cache; load it again")
        yield DepthEngine(loaded, estimator, controlnet=controlnet, control_scale=control_scale, strength=strength,
                          steps=steps, guidance=guidance, prefill=prefill, radius=radius, soft_edge=soft_edge)
