"""The diffusers engine: SD 1.x/2.x and SDXL inpainting checkpoints (9-channel UNet), any 4-channel base
checkpoint as blended latent diffusion, and FLUX.1 Fill, behind the driver.

    with models.lease(model_id) as loaded:
        engine = DiffusionEngine(loaded, strength=1.0, steps=30, guidance=7.5)
        result = driver.run(prep, engine, prompt="a bench", seeds=[7])

One pipeline call per crop, at the crop's size (the driver sizes crops to the model's native area in multiples of
the model's ``multiple``: 8, or 16 for FLUX whose latents are packed 2x2), seeded by a local CPU torch.Generator
(same seed, same image), with a step callback that reports progress and stops within one denoising step when the
job is cancelled. The call's arguments are the ones the pipeline's __call__ takes (FLUX.1 Fill has no negative
prompt; its guidance is its own distilled scale, default 30).

Per family:
- SD 1.x/2.x, SDXL: a 9-channel UNet takes the mask and the masked image as inputs; a 4-channel one runs as
  blended latent diffusion (models.blended_latent_diffusion). SDXL's micro-conditioning is the pipeline's default
  for a full-quality image of the crop's size: original_size = target_size = (height, width), crop (0, 0);
  aesthetic scores only matter for checkpoints that require them (config requires_aesthetics_score) and take the
  pipeline's defaults. A 9-channel SDXL checkpoint asked for strength 1.0 runs at SDXL_INPAINT_MAX_STRENGTH.
- FLUX.1 Fill (FluxFillPipeline): the mask and the masked image are inputs of the transformer; strength < 1 starts
  from the crop noised by the flow-matching scheduler (scale_noise), as with the UNets.
"""

from __future__ import annotations

import inspect
from contextlib import contextmanager
from typing import Iterator

import numpy as np
from PIL import Image

from .. import masks
from ..errors import UserError
from .classical import fill as classical_fill
from .engine import Engine

FLUX_GUIDANCE = 30.0
"""FLUX.1 Fill's guidance default (its model card's value; it is a distilled guidance, not classifier-free)."""


DEFAULT_GUIDANCE = 7.5
"""Classifier-free guidance for SD 1.x/2.x and SDXL when the caller gives none."""

SDXL_INPAINT_MAX_STRENGTH = 0.9999
"""The strength a 9-channel SDXL inpainting checkpoint runs at when asked for more: its model card says results
degrade at strength 1.0 (starting from pure noise), and diffusers made 0.9999 StableDiffusionXLInpaintPipeline's
default for that reason (huggingface/diffusers#4858). Applied when it still leaves at least one step; the result's
params and notes give the strength used."""


def default_guidance(loaded) -> float:
    """The guidance a model runs at when the caller gives none: FLUX_GUIDANCE for FLUX models, else
    DEFAULT_GUIDANCE."""
    return FLUX_GUIDANCE if getattr(loaded, "family", "") == "flux" else DEFAULT_GUIDANCE


class DiffusionEngine(Engine):
    """A leased models.LoadedModel as an engine. ``prefill``: fill the masked area classically (Telea, ``radius``)
    before generating, so strength < 1 starts from a plausible guess (object removal)."""

    name = "diffusers"

    def __init__(self, loaded, *, strength: float = 1.0, steps: int = 30, guidance: float | None = None,
                 prefill: bool = False, radius: float = 5.0, soft_edge: float = 0.0):
        self.loaded = loaded
        self.soft_edge = float(soft_edge or 0.0)
        if self.soft_edge < 0:
            raise UserError(f"soft_edge must be >= 0 px, got {soft_edge}")
        if self.soft_edge and loaded.family == "flux":
            raise UserError("a soft edge needs a noise-adding scheduler (SD 1.x/2.x, SDXL); FLUX.1 Fill has none: "
                            "use soft_edge 0")
        self.model = loaded.name
        self.native_size = int(loaded.native_size)
        self.multiple = int(getattr(loaded, "multiple", 8))
        self.min_crop = self.native_size // 2
        self.requested_strength = float(strength)
        self.num_steps = int(steps)
        self.strength = self.requested_strength
        if (loaded.family == "sdxl" and loaded.mode == "inpainting" and self.strength > SDXL_INPAINT_MAX_STRENGTH
                and int(self.num_steps * SDXL_INPAINT_MAX_STRENGTH) >= 1):
            self.strength = SDXL_INPAINT_MAX_STRENGTH
        self.guidance = float(default_guidance(loaded) if guidance is None else guidance)
        self.prefill = bool(prefill)
        self.radius = float(radius)
        params = inspect.signature(loaded.pipe.__call__).parameters
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        self._params = None if takes_any else set(params)  # None: the call takes every keyword
        self.uses_negative_prompt = takes_any or "negative_prompt" in params

    def notes(self) -> list[str]:
        out = []
        if self.loaded.mode == "blended":
            out.append(f"{self.loaded.name} is a base model (4-channel UNet): run as blended latent diffusion")
        if self.strength != self.requested_strength:
            out.append(f"{self.loaded.name} is an SDXL inpainting checkpoint: run at strength {self.strength:g} "
                       f"instead of {self.requested_strength:g} (it degrades when starting from pure noise)")
        if self.prefill and self.requested_strength >= 1.0:
            out.append("prefill has no effect at strength 1.0 (the masked area starts from noise); use strength < 1")
        return out

    def settings(self) -> dict:
        out = {"strength": self.strength, "steps": self.num_steps, "guidance": self.guidance}
        if self.soft_edge:
            out["soft_edge"] = self.soft_edge
        return out

    def steps(self) -> int:
        """Denoising steps (step callbacks) one pipeline call makes, as diffusers' get_timesteps computes them."""
        if self.loaded.family == "flux":
            # FluxFillPipeline.get_timesteps: n sigmas (the scheduler's order is 1), t_start = int(n - n x strength)
            # with the product kept as a float (SD's keeps int(n x strength))
            n = self.num_steps
            return n - int(max(n - min(n * self.strength, n), 0))
        return len(self.timesteps())

    def fill(self, crop, crop_mask, *, prompt, negative_prompt, seed, step):
        crop, crop_mask = self._model_input(crop, crop_mask)
        return self._call_many([crop], [crop_mask], prompt, negative_prompt, [seed], step)[0]

    def _model_input(self, crop: np.ndarray, crop_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(crop, mask) as the pipeline takes them: the crop pre-filled when asked, the mask grown by one latent
        cell (the latent mask covers whole cells: so the edge pixels are regenerated)."""
        if self.prefill:
            crop = classical_fill(crop, crop_mask, method="telea", radius=self.radius)
        return crop, masks.grow(crop_mask, self.loaded.vae_scale_factor)

    def timesteps(self) -> list:
        """The timesteps one SD/SDXL call runs (after strength), in order, as the pipeline's get_timesteps takes
        them: the scheduler's last int(steps x strength) steps (times its order)."""
        pipe = self.loaded.pipe
        scheduler = type(pipe.scheduler).from_config(pipe.scheduler.config)
        scheduler.set_timesteps(self.num_steps)
        init = min(int(self.num_steps * self.strength), self.num_steps)
        start = max(self.num_steps - init, 0)
        return list(scheduler.timesteps[start * getattr(scheduler, "order", 1):])

    def step_callback(self, crop: np.ndarray, crop_mask: np.ndarray, seed: int, step):
        """(callback_on_step_end, its tensor inputs) for one call: progress and cancel after every step, and with a
        soft edge (generate.soft_edge.SoftEdge) the latents near the mask's edge held at the original's."""
        if self.soft_edge:
            from .soft_edge import SoftEdge

            return SoftEdge(self.loaded.pipe, crop, crop_mask, width=self.soft_edge, seed=seed,
                            timesteps=self.timesteps(), step=step), ["latents"]

        def on_step(pipe, i, t, kwargs):
            step()
            return {}

        return on_step, []

    def extra_kwargs(self, width: int, height: int) -> dict:
        """More arguments for the pipeline call of a crop of this size (a subclass's control image); none here."""
        return {}

    @property
    def batchable(self) -> bool:
        """Whether fill_many() can run several crops in one pipeline call: not with a soft edge (its hold is per
        crop) or a control image (a subclass's extra_kwargs)."""
        return not self.soft_edge and type(self).extra_kwargs is DiffusionEngine.extra_kwargs

    def fill_many(self, items: list, step) -> list[np.ndarray]:
        """Fill several crops of one size: ``items`` are (crop, crop_mask, prompt, negative_prompt, seed) tuples as
        fill() takes them, with every crop the same size and every negative prompt None or every one a str; one
        pipeline call for all of them (a batch: each crop keeps its own seeded generator), or one call each when
        the engine is not batchable. ``step`` is called after every denoising step of the call(s)."""
        if not self.batchable or len(items) < 2:
            return [self.fill(c, m, prompt=p, negative_prompt=n, seed=s, step=step) for c, m, p, n, s in items]
        shapes = {c.shape for c, *_ in items}
        if len(shapes) != 1 or len({n is None for *_, n, _ in items}) != 1:
            raise ValueError("fill_many takes crops of one size whose negative prompts are all None or all text")
        crops, crop_masks = zip(*(self._model_input(crop, crop_mask) for crop, crop_mask, *_ in items))
        negatives = [n for *_, n, _ in items]
        return self._call_many(crops, crop_masks, [p for _, _, p, _, _ in items],
                               None if negatives[0] is None else negatives, [s for *_, s in items], step)

    def _call_many(self, crops, crop_masks, prompt, negative_prompt, seeds: list, step) -> list[np.ndarray]:
        """One pipeline call for crops of one size (prompt and negative_prompt: a str for one crop, a list for
        several, or None); HWC uint8 RGB images of the crops' size. Several crops only where ``batchable``: the
        step callback (a soft edge's hold is per crop) is made for the first."""
        import torch

        height, width = crops[0].shape[:2]
        loaded = self.loaded
        with loaded.lock:
            on_step, tensor_inputs = self.step_callback(crops[0], crop_masks[0], seeds[0], step)
        one = len(crops) == 1
        kwargs = dict(
            prompt=prompt,
            negative_prompt=negative_prompt,
            image=Image.fromarray(crops[0]) if one else [Image.fromarray(c) for c in crops],
            mask_image=(Image.fromarray(crop_masks[0].astype(np.uint8) * 255) if one
                        else [Image.fromarray(m.astype(np.uint8) * 255) for m in crop_masks]),
            height=height,
            width=width,
            strength=self.strength,
            num_inference_steps=self.num_steps,
            guidance_scale=self.guidance,
            generator=(torch.Generator(device="cpu").manual_seed(int(seeds[0])) if one
                       else [torch.Generator(device="cpu").manual_seed(int(s)) for s in seeds]),
            output_type="np",
            callback_on_step_end=on_step,
            callback_on_step_end_tensor_inputs=tensor_inputs,
            **self.extra_kwargs(width, height),
        )
        if self._params is not None:
            kwargs = {k: v for k, v in kwargs.items() if k in self._params}
        with loaded.lock, torch.inference_mode():
            if loaded.pipe is None:
                raise RuntimeError(f"model '{loaded.name}' was evicted from the model cache; load it again")
            out = loaded.pipe(**kwargs)
        images = np.asarray(out.images, dtype=np.float32)
        if not np.isfinite(images).all():
            raise RuntimeError("the model produced NaN/inf pixels (fp16 overflow?); try dtype fp32 or another VAE")
        return [(np.clip(im, 0.0, 1.0) * 255.0).round().astype(np.uint8) for im in images[:len(crops)]]


@contextmanager
def lease(model=None, *, device: str | None = "auto", dtype=None, offload: bool = False, config: str | None = None,
          allow_download: bool = True, strength: float = 1.0, steps: int = 30, guidance: float | None = None,
          prefill: bool = False, radius: float = 5.0, soft_edge: float = 0.0,
          **_ignored) -> Iterator[DiffusionEngine]:
    """``with lease(model) as engine:`` a DiffusionEngine whose model (a registry preset id, hub id, folder, single
    file or models.LoadedModel; None: the default) is leased for the whole block (models.lease: never evicted
    meanwhile)."""
    from .. import models
    from .registry import resolve_model

    with models.lease(resolve_model(model), device=device, dtype=dtype, offload=offload, config=config,
                      allow_download=allow_download) as loaded:
        if loaded.pipe is None:
            raise RuntimeError(f"model '{loaded.name}' was evicted from the model cache; load it again")
        yield DiffusionEngine(loaded, strength=strength, steps=steps, guidance=guidance, prefill=prefill,
                              radius=radius, soft_edge=soft_edge)
