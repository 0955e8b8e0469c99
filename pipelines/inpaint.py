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

Steps (diffusers engine):
  1. check the parameters and the mask contract (size, non-empty); grow the mask by ``grow`` px only when asked
     (the result reports the growth and the pixels changed outside the given mask);
  2. split the mask into groups of nearby regions (masks.groups); for each group take a context box
     (masks.context_box: bbox + margin, square, multiple of 8, inside the image), so a small mask on a
     4000x3000 photo is generated at full detail and the model never runs at the full image size;
  3. resize the crop to the model's native resolution (same area, multiple of 8: 512x512 for SD 1.5,
     1024x1024 for SDXL), optionally pre-fill the masked area with a classical fill (object removal);
  4. generate with a local torch.Generator seeded with ``seed`` (variants: seed, seed + 1, ...),
     reporting progress every denoising step and checking ``cancel`` after each step;
  5. composite the generated crop back at full resolution with the boundary engine
     (blend.composite(..., box=box), default "seamless"), one group after the other;
  6. score each variant with seams.seam_report and rank them: seam_excess, then ring_delta_e;
  7. write each result back at the input's own format (alpha, 16-bit) and verify that every pixel outside the
     (grown) mask is the input's, byte for byte: a ContractViolation otherwise (fail closed).

The classical engines ("telea", "ns") take the same call and return the same result type
(pipelines.classical); they need no weights.
"""

from __future__ import annotations

import math
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from PIL import Image

from . import masks
from .errors import UserError

ENGINES = ("diffusers", "telea", "ns")
DEFAULT_GROW = 0
"""Growth is never implicit: the mask the caller gives is the contract. Growing it (grow=px) covers an object's
anti-aliased fringe (BOUNDARIES.md); the result then reports the growth and what changed outside the given mask."""
DEFAULT_MARGIN = 32
"""Context pixels around each mask group, at full resolution, before the crop is squared and sized."""
GROUP_GAP = 64
"""Mask regions closer than this (px) share one crop; farther ones are generated separately."""
MIN_SIDE = 2
"""Smallest image side (px) we inpaint: the seam measures need a neighbour on each axis."""
MAX_VARIANTS = 16
MAX_SEED = 2**63 - 1

ProgressFn = Callable[[int, int], Any]


class Cancelled(RuntimeError):
    """Raised by inpaint() when its ``cancel`` event is set; it stops within one denoising step."""


@dataclass
class InpaintResult:
    """What inpaint() returns.

    images   full-resolution results in the input's format (channels and depth), best seam score first
    reports  seams.seam_report(input, image, mask) for each image, same order; outside_changed and
             outside_max_diff are measured on the input's own format; with growth also
             outside_changed_given / outside_max_diff_given: the same against the mask as given
    seeds    the seed of each image, same order
    boxes    XYXY crop boxes (input pixel coordinates), one per group of nearby mask regions
    mask     the mask actually repainted (HW bool, after growth)
    given_mask  the mask as the caller gave it (HW bool); equals ``mask`` when grow is 0
    grow     px the mask was grown by (0 unless asked for)
    timings  seconds per stage: load, prepare, generate, composite, report, total
    engine   "diffusers", "telea" or "ns"
    model    the model's display name (None for the classical engines)
    notes    remarks for the user, e.g. "prompt ignored by the classical engine"
    sizes    (width, height) the model ran at, one per box
    """

    images: list[np.ndarray]
    reports: list[dict]
    seeds: list[int | None]
    boxes: list[tuple[int, int, int, int]]
    mask: np.ndarray
    timings: dict[str, float] = field(default_factory=dict)
    engine: str = "diffusers"
    model: str | None = None
    notes: list[str] = field(default_factory=list)
    sizes: list[tuple[int, int]] = field(default_factory=list)
    given_mask: np.ndarray | None = None
    grow: int = 0

    @property
    def image(self) -> np.ndarray:
        """The best-ranked image."""
        return self.images[0]

    @property
    def report(self) -> dict:
        """The best-ranked image's seam report."""
        return self.reports[0]

    def growth(self) -> dict:
        """{"px": the growth asked for, "pixels": pixels added to the given mask}; 0 and 0 without growth."""
        added = 0
        if self.grow and self.given_mask is not None:
            added = int(np.count_nonzero(self.mask)) - int(np.count_nonzero(self.given_mask))
        return {"px": int(self.grow), "pixels": added}

    def summary(self) -> dict:
        """A JSON-ready description (no pixel data)."""
        return {
            "engine": self.engine,
            "model": self.model,
            "seeds": list(self.seeds),
            "boxes": [list(b) for b in self.boxes],
            "sizes": [list(s) for s in self.sizes],
            "reports": [jsonable(r) for r in self.reports],
            "growth": self.growth(),
            "timings": {k: round(float(v), 4) for k, v in self.timings.items()},
            "notes": list(self.notes),
        }


# ---------------------------------------------------------------------------------------------
# Input checks and shared helpers (also used by pipelines.classical)


@dataclass
class Prepared:
    """Checked inputs: the RGB working image, the masks, and how to go back to the input's format."""

    rgb: np.ndarray  # HWC uint8 RGB: the 8-bit working copy the engines see
    mask: np.ndarray  # HW bool: the mask repainted (grown when asked)
    given: np.ndarray  # HW bool: the mask as given
    native: np.ndarray  # the input in its own format (pipelines.io: uint8/uint16, L/LA/RGB/RGBA)
    grow: int = 0

    @property
    def size(self) -> tuple[int, int]:
        return self.rgb.shape[1], self.rgb.shape[0]

    def restore(self, rgb: np.ndarray) -> np.ndarray:
        """An HWC uint8 RGB result back in the input's format: a copy of the input with only the mask's pixels
        written (io.from_working): greyscale takes the luma, alpha is opaque (255) inside the mask and the
        input's outside it, 16-bit inputs get v * 257 inside and keep every other value."""
        from . import io

        return io.from_working(self.native, rgb, self.mask)

    def finish(self, images: list[np.ndarray], reports: list[dict], what: str = "the result") -> list[np.ndarray]:
        """Verify every image's outside against the working copy the engine was given, restore it to the input's
        format, verify its outside against the input (fail closed: a ContractViolation either way; restoring
        writes only the mask's pixels, so without the first check an engine or composite that changed outside
        pixels would go unnoticed), and put the outside measurements, taken on the input's own format, in its
        report (with growth also against the mask as given)."""
        from . import contract

        out = []
        for k, (img, report) in enumerate(zip(images, reports)):
            contract.verify_outside(self.rgb, img, self.mask, what=f"{what} #{k + 1} (8-bit working copy)")
            final = self.restore(img)
            measured = contract.verify_outside(self.native, final, self.mask, what=f"{what} #{k + 1}")
            report["outside_changed"] = measured["outside_changed"]
            report["outside_max_diff"] = measured["outside_max_diff"]
            if self.grow:
                given = contract.outside_report(self.native, final, self.given)
                report["outside_changed_given"] = given["outside_changed"]
                report["outside_max_diff_given"] = given["outside_max_diff"]
            out.append(final)
        return out


def prepare(image, mask, grow: int = DEFAULT_GROW) -> Prepared:
    """Check the image (io.check_native) and the mask contract (same size, not empty), make the RGB working
    copy, and grow the mask only when ``grow`` > 0."""
    from . import io

    native = io.check_native(image, min_side=MIN_SIDE)
    height, width = native.shape[:2]
    given = masks.to_mask(mask, size=(width, height))
    grow = check_int(grow, "grow", 0)
    m = masks.grow(given, grow) if grow else given
    work = io.to_working(native)
    if work.ndim == 2:
        rgb = np.repeat(work[:, :, None], 3, axis=2)
    elif work.shape[2] == 4:
        rgb = np.ascontiguousarray(work[:, :, :3])
    else:
        rgb = work
    return Prepared(rgb=rgb, mask=m, given=given, native=native, grow=grow)


def check_int(value, name: str, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise UserError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if value < minimum or (maximum is not None and value > maximum):
        bound = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise UserError(f"{name} must be {bound}, got {value}")
    return value


def check_float(value, name: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise UserError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(out):
        raise UserError(f"{name} must be finite, got {value!r}")
    return out


def check_method(method: str) -> str:
    """The compositing method, checked: only contract-safe methods (outside pixels byte-identical)."""
    from . import blend

    safe = [m for m in blend.METHODS if m in blend.CONTRACT_SAFE]
    if method not in safe:
        raise UserError(f"method must be one of {', '.join(safe)} (contract-safe), got {method!r}")
    return method


def check_feather(feather) -> float | None:
    if feather is None:
        return None
    f = check_float(feather, "feather")
    if f < 0:
        raise UserError(f"feather must be >= 0, got {feather!r}")
    return f


def check_cancel(cancel, done: int = 0, total: int = 0) -> None:
    if cancel is not None and cancel.is_set():
        where = f" after step {done} of {total}" if total else ""
        raise Cancelled(f"inpainting cancelled{where}")


def rank(images: list, reports: list, seeds: list) -> tuple[list, list, list]:
    """Order variants by seam_excess, then ring_delta_e (lower is better); stable for ties."""
    def score(k):
        r = reports[k]
        return (_nan_last(r.get("seam_excess")), _nan_last(r.get("ring_delta_e")), k)

    order = sorted(range(len(images)), key=score)
    return [images[k] for k in order], [reports[k] for k in order], [seeds[k] for k in order]


def _nan_last(v) -> float:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return math.inf
    return v if math.isfinite(v) else math.inf


def jsonable(report: dict) -> dict:
    out = {}
    for k, v in report.items():
        if isinstance(v, (bool, np.bool_)):
            out[k] = bool(v)
        elif isinstance(v, (int, float, np.integer, np.floating)):
            out[k] = float(v) if math.isfinite(float(v)) else None
        else:
            out[k] = v
    return out


def generation_size(box_w: int, box_h: int, native: int, multiple: int = 8) -> tuple[int, int]:
    """(width, height) to run the model at: the box's aspect, the area of native x native, multiples of ``multiple``."""
    scale = native / math.sqrt(box_w * box_h)
    w = max(multiple, int(round(box_w * scale / multiple)) * multiple)
    h = max(multiple, int(round(box_h * scale / multiple)) * multiple)
    return w, h


def resize_image(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize HWC uint8 to (width, height) with Lanczos (antialiased when shrinking)."""
    if (array.shape[1], array.shape[0]) == tuple(size):
        return array.copy()
    return np.asarray(Image.fromarray(array).resize(size, Image.LANCZOS))


def resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an HW bool mask to (width, height); a target pixel is True when any source pixel under it is."""
    if (mask.shape[1], mask.shape[0]) == tuple(size):
        return mask.copy()
    shrinking = size[0] < mask.shape[1] or size[1] < mask.shape[0]
    im = Image.fromarray(mask.astype(np.uint8) * 255)
    return np.asarray(im.resize(size, Image.BOX if shrinking else Image.BILINEAR)) > 0


# ---------------------------------------------------------------------------------------------
# The entry point


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
    guidance: float = 7.5,
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
) -> InpaintResult:
    """Inpaint ``image`` where ``mask`` is True; pixels where it is False come back byte-identical.

    image           HWC uint8 RGB (RGBA, HW greyscale and PIL images accepted)
    mask            HW bool, True = repaint, or anything masks.to_mask accepts; the image's size
    prompt          what to paint (ignored by the classical engines; the result notes it)
    engine          "diffusers" (a diffusion model), "telea" or "ns" (OpenCV, no weights)
    model           a models.LoadedModel, a hub id / local folder / single file, or None for the default
    strength        in (0, 1]: 1 repaints from noise; lower keeps more of the (pre-filled) input
    steps           denoising steps (>= 1); steps x strength must leave at least one step
    guidance        classifier-free guidance scale (>= 0; <= 1 disables guidance)
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

    Raises ValueError for bad parameters, an empty mask or a mask of another size; models.ModelLoadError
    (a ValueError) when the model cannot be loaded; Cancelled when cancelled.
    """
    if engine not in ENGINES:
        raise UserError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")

    # 1. Checks (before any model is loaded, whichever the engine: a parameter out of range is an error even
    #    where the engine ignores it) and the mask contract.
    t_start = time.perf_counter()
    if not isinstance(prompt, str) or not isinstance(negative_prompt or "", str):
        raise UserError("prompt and negative_prompt must be strings")
    strength = check_float(strength, "strength")
    if not 0.0 < strength <= 1.0:
        raise UserError(f"strength must be in (0, 1], got {strength}")
    steps = check_int(steps, "steps", 1, 1000)
    if min(int(steps * strength), steps) < 1:
        raise UserError(f"steps x strength = {steps} x {strength} leaves no denoising step; raise one of them")
    guidance = check_float(guidance, "guidance")
    if guidance < 0:
        raise UserError(f"guidance must be >= 0, got {guidance}")
    variants = check_int(variants, "variants", 1, MAX_VARIANTS)
    if seed is not None:
        seed = check_int(seed, "seed", 0, MAX_SEED - MAX_VARIANTS)
    if engine in ("telea", "ns"):
        from . import classical

        return classical.inpaint(
            image, mask, prompt, negative_prompt, method=engine, radius=radius, grow=grow, feather=feather,
            blend_method=method, context_margin=context_margin, progress=progress, cancel=cancel,
            ignored={"model": model, "seed": seed, "variants": variants, "prefill": prefill},
        )
    context_margin = check_int(context_margin, "context_margin", 0)
    method = check_method(method)
    feather = check_feather(feather)
    prep = prepare(image, mask, grow)
    check_cancel(cancel)

    # 2. The model, leased for the whole job: no other user's request can evict it until the job ends.
    from . import models

    t0 = time.perf_counter()
    with models.lease(model, device=device, dtype=dtype, offload=offload, config=model_config,
                      allow_download=allow_download) as loaded:
        if loaded.pipe is None:
            raise RuntimeError(f"model '{loaded.name}' was evicted from the model cache; load it again")
        t_load = time.perf_counter() - t0
        return _inpaint_with(
            loaded, prep, prompt, negative_prompt, strength=strength, steps=steps, guidance=guidance, seed=seed,
            variants=variants, feather=feather, method=method, context_margin=context_margin, prefill=prefill,
            radius=radius, progress=progress, cancel=cancel, t_start=t_start, t_load=t_load,
        )


def _inpaint_with(loaded, prep: Prepared, prompt, negative_prompt, *, strength, steps, guidance, seed, variants,
                  feather, method, context_margin, prefill, radius, progress, cancel, t_start, t_load):
    """Steps 3-7 of inpaint() with a leased model."""
    grow = prep.grow

    notes: list[str] = []
    if loaded.mode == "blended":
        notes.append(f"{loaded.name} is a base model (4-channel UNet): run as blended latent diffusion")
    if prefill and strength >= 1.0:
        notes.append("prefill has no effect at strength 1.0 (the masked area starts from noise); use strength < 1")

    # 3. Crops: one context box per group of nearby mask regions.
    t0 = time.perf_counter()
    width, height = prep.size
    native = loaded.native_size
    gap = max(GROUP_GAP, 2 * context_margin)
    jobs = []
    for group in masks.groups(prep.mask, gap=gap):
        box = masks.context_box(group, (width, height), margin=context_margin, aspect=1.0, multiple=8,
                                min_size=native // 2)
        x0, y0, x1, y1 = box
        size = generation_size(x1 - x0, y1 - y0, native)
        jobs.append((group, box, size))
    t_prepare = time.perf_counter() - t0

    if seed is None:
        seed = secrets.randbelow(2**31)
    seeds = [seed + v for v in range(variants)]
    per_run = _steps_per_run(loaded.pipe, steps, strength)
    total = per_run * len(jobs) * variants
    counter = {"done": 0}

    # 4-5. Generate each crop and composite it back, group after group, for every variant.
    from . import blend

    # the cross-fade fills the growth band (less the fringe headroom) unless the caller set a width
    join_feather = feather if feather is not None else blend.default_feather(method, grow)

    t_generate = t_composite = 0.0
    images = []
    for s in seeds:
        current = prep.rgb
        for group, box, size in jobs:
            x0, y0, x1, y1 = box
            check_cancel(cancel, counter["done"], total)
            t0 = time.perf_counter()
            crop = resize_image(current[y0:y1, x0:x1], size)
            crop_mask = resize_mask(group[y0:y1, x0:x1], size)
            if prefill:
                from . import classical

                crop = classical.fill(crop, crop_mask, method="telea", radius=radius)
            generated = _generate(
                loaded, crop, masks.grow(crop_mask, loaded.vae_scale_factor), prompt, negative_prompt or None,
                strength=strength, steps=steps, guidance=guidance, seed=s,
                on_step=_step_callback(progress, cancel, counter, total),
            )
            t_generate += time.perf_counter() - t0
            t0 = time.perf_counter()
            current = blend.composite(current, generated, group, method=method, feather=join_feather, grow=0, box=box,
                                      notes=notes)
            t_composite += time.perf_counter() - t0
        images.append(current)

    # 6. Seam reports and ranking.
    from . import seams

    t0 = time.perf_counter()
    reports = [seams.seam_report(prep.rgb, img, prep.mask) for img in images]
    images, reports, ranked_seeds = rank(images, reports, seeds)
    images = prep.finish(images, reports)
    t_report = time.perf_counter() - t0

    return InpaintResult(
        images=images,
        reports=reports,
        seeds=ranked_seeds,
        boxes=[box for _, box, _ in jobs],
        mask=prep.mask,
        given_mask=prep.given,
        grow=prep.grow,
        timings={
            "load": t_load, "prepare": t_prepare, "generate": t_generate, "composite": t_composite,
            "report": t_report, "total": time.perf_counter() - t_start,
        },
        engine="diffusers",
        model=loaded.name,
        notes=list(dict.fromkeys(notes)),
        sizes=[size for _, _, size in jobs],
    )


# ---------------------------------------------------------------------------------------------
# The diffusers call


def _steps_per_run(pipe, steps: int, strength: float) -> int:
    """How many denoising steps (step callbacks) one pipeline call makes, as diffusers' get_timesteps computes."""
    scheduler = type(pipe.scheduler).from_config(pipe.scheduler.config)
    scheduler.set_timesteps(steps)
    init = min(int(steps * strength), steps)
    start = max(steps - init, 0)
    return len(scheduler.timesteps[start * getattr(scheduler, "order", 1):])


def _step_callback(progress, cancel, counter: dict, total: int):
    """A callback_on_step_end that reports progress and raises Cancelled when asked to stop."""

    def on_step(pipe, i, t, kwargs):
        counter["done"] = min(counter["done"] + 1, total)
        if progress is not None:
            progress(counter["done"], total)
        check_cancel(cancel, counter["done"], total)
        return {}

    return on_step


def _generate(
    loaded, crop: np.ndarray, crop_mask: np.ndarray, prompt: str, negative_prompt: str | None, *,
    strength: float, steps: int, guidance: float, seed: int, on_step,
) -> np.ndarray:
    """One pipeline call at the crop's size; returns HWC uint8 RGB of the same size."""
    import torch

    height, width = crop.shape[:2]
    generator = torch.Generator(device="cpu").manual_seed(int(seed))
    with loaded.lock, torch.inference_mode():
        if loaded.pipe is None:
            raise RuntimeError(f"model '{loaded.name}' was evicted from the model cache; load it again")
        out = loaded.pipe(
            prompt=prompt,
            negative_prompt=negative_prompt,
            image=Image.fromarray(crop),
            mask_image=Image.fromarray(crop_mask.astype(np.uint8) * 255),
            height=height,
            width=width,
            strength=strength,
            num_inference_steps=steps,
            guidance_scale=guidance,
            generator=generator,
            output_type="np",
            callback_on_step_end=on_step,
            callback_on_step_end_tensor_inputs=[],
        )
    images = np.asarray(out.images, dtype=np.float32)
    if not np.isfinite(images).all():
        raise RuntimeError("the model produced NaN/inf pixels (fp16 overflow?); try dtype fp32 or another VAE")
    return (np.clip(images[0], 0.0, 1.0) * 255.0).round().astype(np.uint8)
