"""FLUX.1 Fill through the diffusers engine: a tiny seeded FluxFillPipeline with the real model's structure (16-channel
VAE of scale factor 8, a transformer taking the 384 packed Fill channels; tests/tiny_flux.py) saved as a diffusers
folder and loaded through models.load_model / generate.diffusion.lease, the path a user's model takes; the engine
contract, strength < 1, and inpaint() end to end with FLUX's defaults (guidance 30, no negative prompt)."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
torch.set_num_threads(1)  # tiny models: one thread is fastest, and the test machine's cores are shared

import tiny_flux  # noqa: E402
from engine_contract import check_engine_contract  # noqa: E402

from pipelines import models  # noqa: E402
from pipelines.generate import diffusion, driver  # noqa: E402
from pipelines.generate.prepare import prepare  # noqa: E402

SMALL = 256
"""The generation size the contract runs the tiny model at: its native 1024 costs seconds per call on a shared
CPU (the VAE at 1024 px), 256 keeps every structural constraint (latents packed 2x2 of a scale-8 VAE: sides in
multiples of 16)."""


@pytest.fixture(scope="module")
def flux(tmp_path_factory) -> Path:
    return tiny_flux.save_tiny_flux_fill(tmp_path_factory.mktemp("tiny_flux") / "flux-fill")


@pytest.fixture(scope="module")
def cache() -> models.ModelCache:
    return models.ModelCache(max_models=2)


@pytest.fixture(scope="module")
def loaded(flux, cache) -> models.LoadedModel:
    return models.load_model(flux, device="cpu", cache=cache)


@pytest.fixture
def small(loaded) -> models.LoadedModel:
    """The loaded model, described as generating at SMALL px (same pipeline, same lock)."""
    return dataclasses.replace(loaded, native_size=SMALL)


def test_flux_fill_folder_loads_through_the_real_loader(flux, loaded):
    assert type(loaded.pipe).__name__ == "FluxFillPipeline"
    assert loaded.family == "flux" and loaded.mode == "inpainting"
    assert loaded.in_channels == tiny_flux.TINY_FLUX_IN_CHANNELS == 384
    assert loaded.native_size == tiny_flux.TINY_FLUX_NATIVE == 1024  # default_sample_size 128 x scale factor 8
    assert loaded.vae_scale_factor == 8 and loaded.multiple == 16
    assert loaded.dtype == torch.float32 and loaded.device == "cpu"
    assert not models.blended_latent_diffusion(loaded.pipe)
    assert models.model_family(flux) == "flux"
    with diffusion.lease(loaded) as engine:
        assert engine.native_size == 1024 and engine.multiple == 16 and engine.guidance == diffusion.FLUX_GUIDANCE
        assert not engine.uses_negative_prompt


def test_auto_pipeline_cannot_open_fill(flux):
    """Why the loader reads model_index.json: AutoPipelineForInpainting has no entry for FluxFillPipeline (diffusers
    0.42 raises; a FLUX repository named FluxPipeline it opens as FluxInpaintPipeline, which would feed the Fill
    transformer the wrong inputs)."""
    import diffusers

    with pytest.raises(ValueError, match="FluxFillPipeline"):
        diffusers.AutoPipelineForInpainting.from_pretrained(flux)


def test_a_fill_transformer_is_recognised_under_another_class_name(flux, tmp_path):
    copy = shutil.copytree(flux, tmp_path / "renamed")
    index = json.loads((copy / "model_index.json").read_text())
    (copy / "model_index.json").write_text(json.dumps({**index, "_class_name": "FluxPipeline"}))
    loaded = models.load_model(copy, device="cpu", cache=models.ModelCache())
    assert type(loaded.pipe).__name__ == "FluxFillPipeline" and loaded.family == "flux"


def test_flux_text_to_image_is_refused_with_the_fill_hint(tmp_path):
    import diffusers

    components = tiny_flux.tiny_flux_fill_components(vocab_folder=tmp_path / "vocab")
    config = dict(components["transformer"].config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        components["transformer"] = diffusers.FluxTransformer2DModel(
            **{k: v for k, v in config.items() if not k.startswith("_")} | {"in_channels": 64, "out_channels": None})
    diffusers.FluxPipeline(**components).save_pretrained(tmp_path / "flux-dev")
    with pytest.raises(models.ModelLoadError) as info:
        models.load_model(tmp_path / "flux-dev", device="cpu", cache=models.ModelCache())
    message = str(info.value)
    assert "loads as FluxInpaintPipeline" in message and "use FLUX.1 Fill" in message and "\n" not in message


def test_single_file_flux_is_refused_in_one_line(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "flux1-fill-dev.safetensors"
    save_file({"double_blocks.0.img_attn.qkv.weight": torch.zeros(2, 2)}, str(path))
    assert models._single_file_kind(str(path)) == "flux" and models._single_file_family(str(path)) == "sd"
    with pytest.raises(models.ModelLoadError, match="single-file FLUX checkpoint"):
        models.load_model(path, device="cpu", cache=models.ModelCache())


def test_flux_defaults_to_bf16_on_cuda():
    assert models.resolve_dtype(None, "cuda", "flux") == torch.bfloat16
    assert models.resolve_dtype(None, "cuda", "sdxl") == models.resolve_dtype(None, "cuda") == torch.float16
    assert models.resolve_dtype(None, "cpu", "flux") == torch.float32
    assert models.resolve_dtype("fp16", "cuda", "flux") == torch.float16  # asked for: as asked


def test_the_cache_loads_flux_in_bf16_on_cuda_by_default(flux, loaded, monkeypatch):
    """The cache reads the model's family before it picks the default dtype (and keys the model by it)."""
    seen = []

    def loader(key, kind, dtype, device, offload, config, *, local_files_only=False):
        seen.append((dtype, device))
        return loaded.pipe  # stands in for the pipeline on the GPU

    monkeypatch.setattr(models, "resolve_device", lambda device="auto": "cuda")
    cache = models.ModelCache(loader=loader)
    model = cache.get(flux, device="cuda")
    assert seen == [(torch.bfloat16, "cuda")] and model.dtype == torch.bfloat16 and model.family == "flux"
    assert cache.get(flux, device="cuda", dtype="bf16") is model and cache.loads == 1


def test_flux_engine_keeps_the_contract(small):
    check_engine_contract(lambda: diffusion.lease(small, steps=2))


@pytest.mark.parametrize("strength, steps", [(0.5, 2), (0.55, 3)])
def test_flux_strength_below_one_counts_its_steps(small, strength, steps):
    """FluxFillPipeline.get_timesteps keeps n x strength as a float: 4 x 0.55 = 2.2 leaves 3 steps (SD's int() would
    leave 2); the progress total must match the calls' step callbacks exactly."""
    rgb = np.random.default_rng(1).integers(0, 256, (96, 96, 3), dtype=np.uint8)
    mask = np.zeros((96, 96), bool)
    mask[30:60, 30:60] = True
    with diffusion.lease(small, steps=4, strength=strength) as engine:
        assert engine.steps() == steps
        seen = []
        result = driver.run(prepare(rgb, mask), engine, prompt="a wall", seeds=[2],
                            progress=lambda d, t: seen.append((d, t)))
    assert seen == [(i, steps) for i in range(1, steps + 1)]
    assert np.array_equal(result.images[0][~mask], rgb[~mask]) and result.params["strength"] == strength


def test_inpaint_end_to_end_with_flux_defaults(flux, cache, monkeypatch):
    """inpaint(model=folder) at the model's own native size: guidance 30 reaches the transformer and is recorded,
    the negative prompt is not passed (FLUX.1 Fill takes none) and the notes say so; the outside is untouched."""
    from pipelines import inpaint as inpaint_module

    monkeypatch.setattr(models, "_CACHE", cache)  # the module's loaded model, through the process-wide path
    rgb = np.random.default_rng(2).integers(0, 256, (120, 136, 3), dtype=np.uint8)
    mask = np.zeros((120, 136), bool)
    mask[40:80, 50:90] = True
    guidance = []
    pipe = models.load_model(flux, device="cpu", cache=cache).pipe
    handle = pipe.transformer.register_forward_pre_hook(
        lambda module, args, kwargs: guidance.append(kwargs["guidance"].tolist()), with_kwargs=True)
    try:
        result = inpaint_module.inpaint(rgb, mask, "a red brick wall", negative_prompt="blurry", engine="diffusers",
                                        model=flux, device="cpu", steps=2, seed=3)
    finally:
        handle.remove()
    assert result.params["guidance"] == diffusion.FLUX_GUIDANCE == 30.0 and guidance == [[30.0], [30.0]]
    assert "negative prompt ignored by flux-fill (it takes none)" in result.notes
    (width, height), = result.sizes
    assert width % 16 == 0 and height % 16 == 0 and abs(width * height - 1024**2) <= 0.05 * 1024**2
    assert np.array_equal(result.images[0][~mask], rgb[~mask]) and result.reports[0]["outside_changed"] == 0
    assert not np.array_equal(result.images[0][mask], rgb[mask])
