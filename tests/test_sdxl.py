"""SDXL through the diffusers engine: tiny seeded SDXL inpainting (9-channel) and base (4-channel, blended) pipelines
saved as diffusers folders (tests/tiny_sdxl.py) and loaded through models.load_model / generate.diffusion.lease, the
path a user's model takes; the engine contract, SDXL's micro-conditioning and its strength cap."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
torch.set_num_threads(1)  # tiny models: one thread is fastest, and the test machine's cores are shared

import tiny_sdxl  # noqa: E402
from engine_contract import check_engine_contract  # noqa: E402

from pipelines import models  # noqa: E402
from pipelines.generate import diffusion, driver  # noqa: E402
from pipelines.generate.prepare import prepare  # noqa: E402


@pytest.fixture(scope="module")
def sdxl9(tmp_path_factory) -> Path:
    return tiny_sdxl.save_tiny_sdxl(tmp_path_factory.mktemp("tiny_sdxl9") / "sdxl-inpaint", in_channels=9)


@pytest.fixture(scope="module")
def sdxl4(tmp_path_factory) -> Path:
    """A text-to-image SDXL base folder (StableDiffusionXLPipeline, 4-channel UNet), as SDXL base ships."""
    return tiny_sdxl.save_tiny_sdxl(tmp_path_factory.mktemp("tiny_sdxl4") / "sdxl-base", in_channels=4,
                                    pipeline_class="StableDiffusionXLPipeline")


def test_sdxl_inpainting_folder_loads_through_the_real_loader(sdxl9):
    loaded = models.load_model(sdxl9, device="cpu", cache=models.ModelCache())
    assert type(loaded.pipe).__name__ == "StableDiffusionXLInpaintPipeline"
    assert type(loaded.pipe.text_encoder_2).__name__ == "CLIPTextModelWithProjection"
    assert loaded.family == "sdxl" and loaded.in_channels == 9 and loaded.mode == "inpainting"
    assert loaded.native_size == tiny_sdxl.TINY_SDXL_NATIVE and loaded.vae_scale_factor == 2 and loaded.multiple == 8
    assert not models.blended_latent_diffusion(loaded.pipe)
    assert models.model_family(sdxl9) == "sdxl"


def test_sdxl_base_folder_opens_as_blended_inpainting(sdxl4):
    loaded = models.load_model(sdxl4, device="cpu", cache=models.ModelCache())
    assert type(loaded.pipe).__name__ == "StableDiffusionXLInpaintPipeline"
    assert loaded.family == "sdxl" and loaded.in_channels == 4 and loaded.mode == "blended"
    assert models.blended_latent_diffusion(loaded.pipe)
    assert models.model_family(sdxl4) == "sdxl"


@pytest.mark.parametrize("channels", [9, 4])
def test_sdxl_engine_keeps_the_contract(channels, sdxl9, sdxl4):
    folder = sdxl9 if channels == 9 else sdxl4
    check_engine_contract(lambda: diffusion.lease(folder, device="cpu", steps=2))


def test_sdxl_is_conditioned_on_the_crops_own_size(sdxl9):
    """SDXL's added time ids are original_size + crops_coords_top_left + target_size: the size the crop is generated
    at (a full-quality image of that size, uncropped), never the photo's or the native square's."""
    rgb = np.full((96, 160, 3), 120, np.uint8)
    mask = np.zeros((96, 160), bool)
    mask[30:60, 20:140] = True  # a wide group: a wide crop
    time_ids = []
    with diffusion.lease(sdxl9, device="cpu", steps=2) as engine:
        def hook(module, args, kwargs):
            time_ids.append(kwargs["added_cond_kwargs"]["time_ids"][-1].tolist())

        handle = engine.loaded.pipe.unet.register_forward_pre_hook(hook, with_kwargs=True)
        try:
            result = driver.run(prepare(rgb, mask), engine, prompt="a wall", seeds=[1], context_margin=8)
        finally:
            handle.remove()
    (width, height), = result.sizes
    assert width != height and width % 8 == 0 and height % 8 == 0
    assert time_ids and all(ids == [height, width, 0, 0, height, width] for ids in time_ids)


def test_sdxl_inpainting_runs_below_strength_one_and_says_so(sdxl9, sdxl4):
    from pipelines.inpaint import inpaint

    rgb = np.random.default_rng(0).integers(0, 256, (64, 80, 3), dtype=np.uint8)
    mask = np.zeros((64, 80), bool)
    mask[20:44, 24:56] = True
    result = inpaint(rgb, mask, "a red brick wall", engine="diffusers", model=sdxl9, device="cpu", steps=3, seed=5)
    assert result.params["strength"] == diffusion.SDXL_INPAINT_MAX_STRENGTH and result.params["guidance"] == 7.5
    assert any("run at strength 0.9999 instead of 1" in note for note in result.notes)
    assert np.array_equal(result.images[0][~mask], rgb[~mask])
    with diffusion.lease(sdxl9, device="cpu", steps=1) as engine:
        assert engine.strength == 1.0 and engine.steps() == 1  # 0.9999 would leave no step
    with diffusion.lease(sdxl9, device="cpu", steps=3, strength=0.6) as engine:
        assert engine.strength == 0.6 and not engine.notes()
    with diffusion.lease(sdxl4, device="cpu", steps=3) as engine:  # a base model: blended, from pure noise
        assert engine.strength == 1.0 and engine.steps() == 3
