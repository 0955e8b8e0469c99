"""Inpainting: one call from (image, mask, prompt) to full-resolution results with their seam reports.

    result = inpaint(image, mask, "a wooden bench", steps=30, seed=7, variants=2)
    result.images[0]     # HWC uint8 RGB, the input's size; pixels with mask == False are byte-identical
    result.reports[0]    # pipelines.seams.seam_report(image, result.images[0], mask)
    result.boxes         # XYXY crop boxes, one per group of nearby mask regions

Formats: images are HWC uint8 RGB; RGBA, HW greyscale, LA and 16-bit (uint16) arrays are accepted and come back
in their own format: the engines work on an 8-bit copy (pipelines.io.to_working) and only the mask's pixels are
written back (alpha is kept outside the mask and opaque inside it, 16-bit values outside are untouched); masks
are HW bool, True = repaint (anything pipelines.masks.to_mask accepts); boxes are XYXY ints with exclusive ends
in the input image's pixel coordinates.

Steps:
  1. check the parameters and the mask contract (size, non-empty); grow the mask by ``grow`` px only when asked
     (the result reports the growth and the pixels changed outside the given mask);
  2. make the engine: a classical fill ("telea", "ns": no weights), or the diffusers model leased for the whole
     job (models.lease: no other user's request can evict it meanwhile) wrapped as generate.DiffusionEngine;
  3. pipelines.generate.driver.run: context crops at the engine's native size, one generation per crop and
     variant (seeds seed, seed + 1, ...), paste-back through the boundary engine, seam reports and ranking, and
     every result written back at the input's own format with its outside verified (fail closed).
"""

from __future__ import annotations

import secrets
import time

from .errors import UserError
from .generate.checks import (
    MAX_SEED,
    MAX_VARIANTS,
    Cancelled,
    ProgressFn,
    check_cancel,
    check_feather,
    check_float,
    check_generation,
    check_int,
    check_method,
)
from .generate.driver import DEFAULT_MARGIN, GROUP_GAP, generation_size, resize_image, resize_mask
from .generate.engines import CLASSICAL
from .generate.engines import NAMES as ENGINES
from .generate.prepare import DEFAULT_GROW, MIN_SIDE, Prepared, prepare
from .generate.result import InpaintResult, jsonable, rank

__all__ = [
    "Cancelled", "DEFAULT_GROW", "DEFAULT_MARGIN", "ENGINES", "GROUP_GAP", "InpaintResult", "MAX_SEED", "MAX_VARIANTS",
    "MIN_SIDE", "Prepared", "ProgressFn", "generation_size", "inpaint", "jsonable", "prepare", "rank",
    "resize_image", "resize_mask",
]

_IGNORED_DEFAULTS = {"model": None, "seed": None, "variants": 1, "prefill": False}


def inpaint(
    image,
    mask,
    prompt: str = "",
    negative_prompt: str = "",
    *,
    engine: str = "diffusers",
    model=None,
    strength: float = 1.0,
    steps: int = 30,
    guidance: float | None = None,
    seed: int | None = None,
    variants: int = 1,
    grow: int = DEFAULT_GROW,
    feather: float | None = None,
    method: str = "seamless",
    context_margin: int = DEFAULT_MARGIN,
    prefill: bool = False,
    radius: float = 5.0,
    progress: ProgressFn | None = None,
    cancel=None,
    device: str | None = "auto",
    dtype=None,
    offload: bool = False,
    model_config: str | None = None,
    allow_download: bool = True,
    control: str | None = None,
    controlnet: str | None = None,
    depth_model: str | None = None,
    soft_edge: float = 0.0,
    reports: bool = True,
) -> InpaintResult:
    """Inpaint ``image`` where ``mask`` is True; pixels where it is False come back byte-identical.

    image           HWC uint8 RGB (RGBA, HW greyscale and PIL images accepted)
    mask            HW bool, True = repaint, or anything masks.to_mask accepts; the image's size
    prompt          what to paint (ignored by the classical engines; the result notes it)
    engine          "diffusers" (a diffusion model), "lama" (LaMa removal, prompt-free), "telea" or "ns" (OpenCV,
                    no weights)
    model           a models.LoadedModel, a registry preset id (generate.registry), a hub id / local folder / single
                    file, or None for the default
    strength        in (0, 1]: 1 repaints from noise; lower keeps more of the (pre-filled) input
    steps           denoising steps (>= 1); steps x strength must leave at least one step
    guidance        guidance scale (>= 0; <= 1 disables classifier-free guidance); None: the model's default
                    (7.5 for SD/SDXL, 30 for FLUX.1 Fill, whose guidance is distilled)
    seed            int for a local torch.Generator (same seed, same image), None for a random one
    variants        images to generate with seeds seed, seed + 1, ...; ranked by seam score
    grow            px to grow the mask by first (default 0: the mask as given is the contract); the result
                    reports the growth and what changed outside the given mask
    feather, method passed to blend.composite (methods: the contract-safe ones, default "seamless")
    context_margin  px of context around each mask group before the crop is squared and resized
    prefill         classical fill of the masked area before generating (object removal; needs strength < 1)
    radius          classical engines only: the fill radius in px
    progress        called as progress(step, total) after every denoising step
    cancel          a threading.Event; when set, Cancelled is raised within one denoising step
    device, dtype, offload, model_config  for loading ``model`` when it is not a LoadedModel
                    (see models.lease; model_config is its ``config`` for single-file models)
    allow_download  False refuses a hub model that is not already in the local cache (a shared server)
    control         diffusers only: a guidance signal from generate.engines.CONTROLS (e.g. "depth": the photo's
                    depth map steers a ControlNet, for staging furniture in the room's perspective)
    soft_edge       diffusers only: px (at the model's resolution) over which the denoising strength ramps up from
                    the mask's edge inward (differential diffusion, generate.soft_edge), so the model continues the
                    surroundings near the seam; 0 (default) repaints the whole mask alike. The outside stays locked.
    reports         False skips the seam reports (a caller that measures them itself, as the batch job's report
                    stage does): the variants stay in seed order and their reports hold the outside measurements only
    controlnet, depth_model  control "depth" only: the ControlNet (hub id or folder) and the transformers depth
                    model (hub id or folder) instead of the defaults for the model's family (generate.controlnet)

    Raises ValueError for bad parameters, an empty mask or a mask of another size; models.ModelLoadError
    (a ValueError) when the model cannot be loaded; Cancelled when cancelled.
    """
    if engine not in ENGINES:
        raise UserError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if control is not None and engine != "diffusers":
        raise UserError(f"control {control!r} goes with the diffusers engine, not {engine!r}")
    soft_edge = check_float(soft_edge, "soft_edge")
    if soft_edge < 0:
        raise UserError(f"soft_edge must be >= 0 px, got {soft_edge}")
    if soft_edge and engine != "diffusers":
        raise UserError(f"soft_edge goes with the diffusers engine, not {engine!r}")
    if control is None and (controlnet is not None or depth_model is not None):
        raise UserError("controlnet and depth_model go with a control (control='depth')")

    # 1. Checks (before any model is loaded, whichever the engine: a parameter out of range is an error even
    #    where the engine ignores it) and the mask contract.
    t_start = time.perf_counter()
    if not isinstance(prompt, str) or not isinstance(negative_prompt or "", str):
        raise UserError("prompt and negative_prompt must be strings")
    strength, steps, guidance = check_generation(strength, steps, guidance)
    variants = check_int(variants, "variants", 1, MAX_VARIANTS)
    if seed is not None:
        seed = check_int(seed, "seed", 0, MAX_SEED - MAX_VARIANTS)
    context_margin = check_int(context_margin, "context_margin", 0)
    method = check_method(method)
    feather = check_feather(feather)
    if engine in CLASSICAL:
        from .generate.classical import ClassicalEngine

        classical = ClassicalEngine(engine, radius)  # checks the radius before the mask
        prep = prepare(image, mask, grow)
        notes = [f"{name} ignored by the classical engine ({engine})"
                 for name, value in {"model": model, "seed": seed, "variants": variants, "prefill": prefill}.items()
                 if value is not None and value != _IGNORED_DEFAULTS[name]]
        return _run(prep, classical, prompt, negative_prompt, [None], method, feather, context_margin, progress,
                    cancel, notes, t_start, 0.0, reports)
    prep = prepare(image, mask, grow)
    check_cancel(cancel)
    if seed is None:
        seed = secrets.randbelow(2**31)
    seeds = [seed + v for v in range(variants)]

    # 2. The engine and its model, leased for the whole job: no other user's request can evict it until it ends.
    from .generate import engines

    t0 = time.perf_counter()
    with engines.lease(engine, control=control, model=model, device=device, dtype=dtype, offload=offload,
                       config=model_config, allow_download=allow_download, strength=strength, steps=steps,
                       guidance=guidance, prefill=prefill, radius=radius, controlnet=controlnet,
                       depth_model=depth_model, soft_edge=soft_edge) as engine_:
        t_load = time.perf_counter() - t0
        notes = []
        if not engine_.uses_seed and len(seeds) > 1:  # every variant would be the same image
            seeds, notes = seeds[:1], [f"variants ignored by {engine_.model or engine_.name} (it has no seed)"]
        if not engine_.uses_seed:
            seeds = [None]
        return _run(prep, engine_, prompt, negative_prompt, seeds, method, feather, context_margin, progress,
                    cancel, notes, t_start, t_load, reports)


def _run(prep, engine, prompt, negative_prompt, seeds, method, feather, context_margin, progress, cancel, notes,
         t_start, t_load, reports=True) -> InpaintResult:
    from .generate import driver

    return driver.run(prep, engine, prompt=prompt, negative_prompt=negative_prompt, seeds=seeds, method=method,
                      feather=feather, context_margin=context_margin, progress=progress, cancel=cancel, notes=notes,
                      t_start=t_start, t_load=t_load, reports=reports)
