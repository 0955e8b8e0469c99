"""The diffusers engine: SD 1.x/2.x and SDXL inpainting checkpoints (9-channel UNet), any 4-channel base
checkpoint as blended latent diffusion, and FLUX.1 Fill, behind the driver.

    with models.lease(model_id) as loaded:
        engine = DiffusionEngine(loaded, strength=1.0, steps=30, guidance=7.5)
        result = driver.run(prep, engine, prompt="a bench", seeds=[7])

One pipeline call per crop, at the crop's size (the driver sizes crops to the model's native area), seeded by a
local CPU torch.Generator (same seed, same image), with a step callback that reports progress and stops within
one denoising step when the job is cancelled. The call's arguments are the ones the pipeline's __call__ takes
(FLUX.1 Fill has no negative prompt; its guidance is its own distilled scale, default 30).
"""

from __future__ import annotations

import inspect
from contextlib import contextmanager
from typing import Iterator

import numpy as np
from PIL import Image

from .. import masks
from .classical import fill as classical_fill
from .engine import Engine

FLUX_GUIDANCE = 30.0
"""FLUX.1 Fill's guidance default (its model card's value; it is a distilled guidance, not classifier-free)."""


DEFAULT_GUIDANCE = 7.5
"""Classifier-free guidance for SD 1.x/2.x and SDXL when the caller gives none."""


def default_guidance(loaded) -> float:
    """The guidance a model runs at when the caller gives none: FLUX_GUIDANCE for FLUX models, else
    DEFAULT_GUIDANCE."""
    return FLUX_GUIDANCE if getattr(loaded, "family", "") == "flux" else DEFAULT_GUIDANCE


class DiffusionEngine(Engine):
    """A leased models.LoadedModel as an engine. ``prefill``: fill the masked area classically (Telea, ``radius``)
    before generating, so strength < 1 starts from a plausible guess (object removal)."""

    name = "diffusers"

    def __init__(self, loaded, *, strength: float = 1.0, steps: int = 30, guidance: float | None = None,
                 prefill: bool = False, radius: float = 5.0):
        self.loaded = loaded
        self.model = loaded.name
        self.native_size = int(loaded.native_size)
        self.min_crop = self.native_size // 2
        self.strength = float(strength)
        self.num_steps = int(steps)
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
        if self.prefill and self.strength >= 1.0:
            out.append("prefill has no effect at strength 1.0 (the masked area starts from noise); use strength < 1")
        return out

    def settings(self) -> dict:
        return {"strength": self.strength, "steps": self.num_steps, "guidance": self.guidance}

    def steps(self) -> int:
        """Denoising steps (step callbacks) one pipeline call makes, as diffusers' get_timesteps computes them."""
        pipe = self.loaded.pipe
        scheduler = type(pipe.scheduler).from_config(pipe.scheduler.config)
        scheduler.set_timesteps(self.num_steps)
        init = min(int(self.num_steps * self.strength), self.num_steps)
        start = max(self.num_steps - init, 0)
        return len(scheduler.timesteps[start * getattr(scheduler, "order", 1):])

    def fill(self, crop, crop_mask, *, prompt, negative_prompt, seed, step):
        if self.prefill:
            crop = classical_fill(crop, crop_mask, method="telea", radius=self.radius)
        # the latent mask covers whole latent cells: grow by one cell so the edge pixels are regenerated
        crop_mask = masks.grow(crop_mask, self.loaded.vae_scale_factor)
        return self._call(crop, crop_mask, prompt, negative_prompt, seed, step)

    def _call(self, crop: np.ndarray, crop_mask: np.ndarray, prompt: str, negative_prompt: str | None,
              seed: int, step) -> np.ndarray:
        """One pipeline call at the crop's size; returns HWC uint8 RGB of the same size."""
        import torch

        height, width = crop.shape[:2]
        loaded = self.loaded

        def on_step(pipe, i, t, kwargs):
            step()
            return {}

        kwargs = dict(
            prompt=prompt,
            negative_prompt=negative_prompt,
            image=Image.fromarray(crop),
            mask_image=Image.fromarray(crop_mask.astype(np.uint8) * 255),
            height=height,
            width=width,
            strength=self.strength,
            num_inference_steps=self.num_steps,
            guidance_scale=self.guidance,
            generator=torch.Generator(device="cpu").manual_seed(int(seed)),
            output_type="np",
            callback_on_step_end=on_step,
            callback_on_step_end_tensor_inputs=[],
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
        return (np.clip(images[0], 0.0, 1.0) * 255.0).round().astype(np.uint8)


@contextmanager
def lease(model=None, *, device: str | None = "auto", dtype=None, offload: bool = False, config: str | None = None,
          allow_download: bool = True, strength: float = 1.0, steps: int = 30, guidance: float | None = None,
          prefill: bool = False, radius: float = 5.0, **_ignored) -> Iterator[DiffusionEngine]:
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
                              radius=radius)
