"""A soft inner edge for diffusion inpainting: the denoising strength ramps from the mask's edge inward
(differential diffusion, Levin & Fried 2023), so the model continues the surroundings near the seam.

    soft = SoftEdge(pipe, crop, crop_mask, width=24, seed=7, timesteps=run_timesteps)
    pipe(..., callback_on_step_end=soft, callback_on_step_end_tensor_inputs=["latents"])

change_map(crop_mask, width) gives each pixel of the mask a value m in (0, 1]: m = d / width where d is its
distance (px) from the nearest pixel outside the mask, capped at 1 (m = 1 from ``width`` px inward; 0 outside).
A pixel with value m is denoised freely only during the last fraction m of the steps; before that, after every
step, its latent is set back to the original's latent noised to the next step's timestep (scheduler.add_noise),
the way diffusers' pipelines keep the unmasked area in blended latent diffusion. Deep inside the mask nothing
changes; near the edge the model starts late from the original, so the new content grows out of it.

Only the latents the model paints are touched: the outside of the mask is locked by the paste-back as always,
and the driver verifies it. Needs a scheduler with add_noise (the SD 1.x/2.x and SDXL schedulers); FLUX's flow
matching scheduler has none.

Formats: crop HWC uint8 RGB, crop_mask HW bool (True = repaint), width in px of the crop (the model's pixels).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..errors import UserError


def change_map(crop_mask: np.ndarray, width: float) -> np.ndarray:
    """HW float32: min(distance to the nearest pixel outside the mask / width, 1) inside the mask, 0 outside
    (scipy's exact Euclidean distance transform; the crop's border is not an edge)."""
    mask = np.asarray(crop_mask, bool)
    if width <= 0:
        return mask.astype(np.float32)
    if mask.all():
        return np.ones(mask.shape, np.float32)
    dist = ndimage.distance_transform_edt(mask)
    return np.minimum(dist / float(width), 1.0).astype(np.float32)


def latent_map(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The change map at the latents' (h, w) by area averaging (each latent cell gets its pixels' mean)."""
    import cv2

    h, w = size
    return cv2.resize(np.ascontiguousarray(values, np.float32), (w, h), interpolation=cv2.INTER_AREA)


class SoftEdge:
    """A callback_on_step_end that holds each latent at the original's noised latent until its step comes.

    pipe       a diffusers SD/SDXL inpainting pipeline (its vae, image_processor and scheduler are used)
    crop       HWC uint8 RGB, the image the pipeline is given; crop_mask HW bool, its mask
    width      px of the ramp (> 0)
    seed       seeds the noise the original's latents are noised with
    timesteps  the timesteps the call runs (after strength), in order
    ``step``   called after each step as well (progress and cancel), so one callback does both.
    """

    def __init__(self, pipe, crop: np.ndarray, crop_mask: np.ndarray, *, width: float, seed: int, timesteps,
                 step=None):
        import torch

        if not hasattr(pipe.scheduler, "add_noise"):
            raise UserError(f"a soft edge needs a scheduler with add_noise; {type(pipe.scheduler).__name__} has none")
        self.step = step
        self.timesteps = list(timesteps)
        self.n = len(self.timesteps)
        vae = pipe.vae
        device = getattr(pipe, "_execution_device", None) or vae.device
        pixels = pipe.image_processor.preprocess(crop_image(crop)).to(device=device, dtype=vae.dtype)
        with torch.inference_mode():
            latents = vae.encode(pixels).latent_dist.mode()
        shift = getattr(vae.config, "shift_factor", None) or 0.0
        self.original = (latents - shift) * vae.config.scaling_factor
        generator = torch.Generator(device="cpu").manual_seed(int(seed) + 1)
        self.noise = torch.randn(self.original.shape, generator=generator, dtype=torch.float32).to(
            device=device, dtype=self.original.dtype)
        m = latent_map(change_map(crop_mask, width), tuple(self.original.shape[-2:]))
        self.values = torch.from_numpy(m).to(device=device, dtype=self.original.dtype)[None, None]
        self.scheduler = pipe.scheduler

    def hold(self, i: int):
        """(1, 1, h, w) 1 where a latent is held at the original after step ``i`` (it is not free at step i + 1)."""
        free_from = 1.0 - (i + 1) / self.n  # a latent with value m is free at step j when m >= 1 - j / n
        return (self.values < free_from).to(self.values.dtype)

    def __call__(self, pipe, i, t, kwargs):
        import torch

        out = {}
        if i < self.n - 1 and "latents" in kwargs:
            latents = kwargs["latents"]
            t_next = self.timesteps[i + 1]
            noised = self.scheduler.add_noise(self.original, self.noise, torch.tensor([t_next]))
            hold = self.hold(i)
            out["latents"] = hold * noised.to(latents.dtype) + (1 - hold) * latents
        if self.step is not None:
            self.step()
        return out


def crop_image(crop: np.ndarray):
    from PIL import Image

    return Image.fromarray(np.ascontiguousarray(crop))
