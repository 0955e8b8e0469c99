"""pipelines.models: loading tiny saved pipelines, the cache, load errors, blended latent diffusion."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import tiny_models  # noqa: E402

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
torch.set_num_threads(1)  # tiny models: one thread is fastest, and the test machine's 2 cores are shared

from pipelines import models  # noqa: E402
from pipelines.models import ModelCache, ModelLoadError, load_model  # noqa: E402


@pytest.fixture(scope="session")
def sd9(tmp_path_factory) -> Path:
    return tiny_models.tiny_pipeline_folder(tmp_path_factory, 9)


@pytest.fixture(scope="session")
def sd4(tmp_path_factory) -> Path:
    return tiny_models.tiny_pipeline_folder(tmp_path_factory, 4)


def test_import_loads_nothing():
    import subprocess

    code = (
        "import sys, pipelines.models as m, pipelines.inpaint, pipelines.classical, pipelines.commands.inpaint; "
        "assert 'torch' not in sys.modules and 'diffusers' not in sys.modules, sorted(sys.modules); "
        "assert len(m.get_cache()) == 0"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])


def test_loads_tiny_inpainting_folder_through_the_real_loader(sd9):
    cache = ModelCache()
    model = load_model(sd9, device="cpu", cache=cache)
    assert type(model.pipe).__name__ == "StableDiffusionInpaintPipeline"
    assert model.in_channels == 9 and model.mode == "inpainting"
    assert model.family == "sd"
    assert model.native_size == tiny_models.TINY_NATIVE
    assert model.dtype == torch.float32 and model.device == "cpu"
    assert model.pipe.safety_checker is None
    assert not models.blended_latent_diffusion(model.pipe)


def test_base_checkpoint_is_blended(sd4):
    model = load_model(sd4, device="cpu", cache=ModelCache())
    assert model.in_channels == 4 and model.mode == "blended"
    assert models.blended_latent_diffusion(model.pipe)


def test_text_to_image_base_folder_opens_as_blended_inpainting(tmp_path):
    folder = tiny_models.save_tiny_pipeline(tmp_path / "sd-base", in_channels=4, pipeline_class="StableDiffusionPipeline")
    assert "StableDiffusionPipeline" in (folder / "model_index.json").read_text()
    model = load_model(folder, device="cpu", cache=ModelCache())
    assert type(model.pipe).__name__ == "StableDiffusionInpaintPipeline" and model.mode == "blended"
    assert model.name == "sd-base"


def test_single_file_family_detection(tmp_path):
    from safetensors.torch import save_file

    save_file({"conditioner.embedders.1.model.ln_final.weight": torch.zeros(2)}, str(tmp_path / "xl.safetensors"))
    save_file({"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(2)}, str(tmp_path / "sd.safetensors"))
    torch.save({"state_dict": {"conditioner.embedders.1.x": torch.zeros(1)}}, tmp_path / "xl.ckpt")
    assert models._single_file_family(str(tmp_path / "xl.safetensors")) == "sdxl"
    assert models._single_file_family(str(tmp_path / "sd.safetensors")) == "sd"
    assert models._single_file_family(str(tmp_path / "xl.ckpt")) == "sdxl"


def test_cache_loads_once_and_switching_frees_the_old_model(sd9, sd4):
    cache = ModelCache(max_models=1)
    a = cache.get(sd9, device="cpu")
    assert cache.get(str(sd9), device="cpu") is a
    assert cache.loads == 1 and len(cache) == 1
    b = cache.get(sd4, device="cpu")
    assert cache.loads == 2 and len(cache) == 1
    assert a.pipe is None, "the evicted model must be released"
    assert cache.keys()[0][0] == str(sd4.resolve())
    assert b.pipe is not None


def test_cache_key_includes_dtype_and_capacity(sd9, sd4):
    cache = ModelCache(max_models=2)
    a = cache.get(sd9, device="cpu")
    b = cache.get(sd4, device="cpu")
    c = cache.get(sd9, device="cpu", dtype="bf16")
    assert cache.loads == 3 and len(cache) == 2
    assert a.pipe is None and b.pipe is not None and c.dtype == torch.bfloat16
    keys = cache.keys()
    assert (str(sd9.resolve()), "bfloat16", "cpu") in keys
    cache.set_max_models(1)
    assert len(cache) == 1 and b.pipe is None
    cache.clear()
    assert len(cache) == 0 and c.pipe is None


def test_failed_load_rolls_back_to_the_previous_model(sd9, tmp_path):
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "model_index.json").write_text("{not json")
    cache = ModelCache(max_models=1)
    a = cache.get(sd9, device="cpu")
    with pytest.raises(ModelLoadError) as info:
        cache.get(broken, device="cpu")
    assert "broken-model" in str(info.value) and "\n" not in str(info.value)
    assert cache.get(sd9, device="cpu") is a and a.pipe is not None
    assert cache.loads == 1


def test_cache_is_thread_safe_and_loads_once(sd9):
    cache = ModelCache()
    got: list = []
    threads = [threading.Thread(target=lambda: got.append(cache.get(sd9, device="cpu"))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert cache.loads == 1 and len({id(m) for m in got}) == 1


def test_eviction_waits_for_a_running_call(sd9, sd4):
    cache = ModelCache(max_models=1)
    a = cache.get(sd9, device="cpu")
    a.lock.acquire()  # as inpaint() does around a pipeline call
    switch = threading.Thread(target=lambda: cache.get(sd4, device="cpu"))
    try:
        switch.start()
        switch.join(0.5)
        assert switch.is_alive() and a.pipe is not None, "a model in use must not be freed under the call"
    finally:
        a.lock.release()
    switch.join(60)
    assert not switch.is_alive() and a.pipe is None and cache.loads == 2


def test_missing_local_path_is_one_clear_error(tmp_path):
    missing = tmp_path / "no-such-model.safetensors"
    with pytest.raises(ModelLoadError) as info:
        load_model(missing, device="cpu", cache=ModelCache())
    message = str(info.value)
    assert str(missing) in message and "\n" not in message
    assert "HF_HUB_OFFLINE" in message and "--engine telea" in message
    assert isinstance(info.value, ValueError)


def test_offline_hub_id_is_one_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model_id = "no-such-org-xq7/no-such-inpainting-model"
    with pytest.raises(ModelLoadError) as info:
        load_model(model_id, device="cpu", cache=ModelCache())
    message = str(info.value)
    assert model_id in message and "\n" not in message
    assert "HF_HUB_OFFLINE" in message and "telea" in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_hub_exceptions_are_translated(monkeypatch):
    from huggingface_hub.errors import LocalEntryNotFoundError

    def offline_loader(*args, **kwargs):
        raise LocalEntryNotFoundError("Cannot find the requested files in the disk cache")

    with pytest.raises(ModelLoadError) as info:
        ModelCache(loader=offline_loader).get("some-org/some-model", device="cpu")
    assert "some-org/some-model" in str(info.value) and "local" in str(info.value)


def test_bad_device_and_dtype():
    with pytest.raises(ValueError):
        models.resolve_device("tpu")
    with pytest.raises(ValueError):
        models.resolve_dtype("int8", "cpu")
    assert models.resolve_dtype(None, "cpu") == torch.float32
    assert models.resolve_dtype(None, "cuda") == torch.float16


# ---------------------------------------------------------------------------------------------
# Blended latent diffusion: what the 4-channel path really does, step by step.


def _spy_run(pipe, image, mask, steps=3, guidance=5.0):
    """Run the pipeline, capturing prepare_latents' (latents, noise, image_latents) and the latents per step."""
    from PIL import Image

    captured: dict = {}
    original = pipe.prepare_latents

    def prepare_latents(*args, **kwargs):
        kwargs["return_image_latents"] = True  # the 9-channel path does not return them by default
        out = original(*args, **kwargs)
        captured["noise"], captured["image_latents"] = out[1].clone(), out[2].clone()
        return out[:2] + ((out[2],) if pipe.unet.config.in_channels == 4 else ())

    per_step: list = []

    def on_step(p, i, t, kwargs):
        per_step.append((i, p.scheduler.timesteps.clone(), kwargs["latents"].clone()))
        return {}

    pipe.prepare_latents = prepare_latents
    try:
        pipe(
            "a cat", image=Image.fromarray(image), mask_image=Image.fromarray(mask.astype(np.uint8) * 255),
            height=image.shape[0], width=image.shape[1], num_inference_steps=steps, guidance_scale=guidance,
            generator=torch.Generator().manual_seed(3), output_type="latent",
            callback_on_step_end=on_step, callback_on_step_end_tensor_inputs=["latents"],
        )
    finally:
        del pipe.prepare_latents
    return captured, per_step


def _scene(vae_scale):
    rng = np.random.default_rng(0)
    size = tiny_models.TINY_NATIVE
    image = (rng.random((size, size, 3)) * 255).astype(np.uint8)
    mask = np.zeros((size, size), bool)
    mask[16:40, 24:56] = True  # aligned to the latent grid (scale 2), so the latent mask is exact
    latent_mask = mask.reshape(size // vae_scale, vae_scale, size // vae_scale, vae_scale).any(axis=(1, 3))
    return image, mask, torch.from_numpy(latent_mask)


def test_four_channel_path_replaces_outside_latents_with_noised_original_after_every_step(sd4):
    model = load_model(sd4, device="cpu", cache=ModelCache())
    pipe = model.pipe
    image, mask, latent_mask = _scene(model.vae_scale_factor)
    captured, per_step = _spy_run(pipe, image, mask, steps=3)
    assert [i for i, _, _ in per_step] == [0, 1, 2]
    image_latents, noise = captured["image_latents"], captured["noise"]
    outside = ~latent_mask
    for i, timesteps, latents in per_step:
        if i < len(timesteps) - 1:
            expected = pipe.scheduler.add_noise(image_latents, noise, timesteps[i + 1 : i + 2])
        else:
            expected = image_latents  # after the last step: the clean original latents
        assert torch.equal(latents[..., outside], expected[..., outside]), f"step {i}: outside latents differ"
        inside_gap = (latents[..., latent_mask] - expected[..., latent_mask]).abs().max().item()
        assert inside_gap > 1e-3, f"step {i}: inside the mask the model must be generating"


def test_nine_channel_path_does_not_blend_latents(sd9):
    model = load_model(sd9, device="cpu", cache=ModelCache())
    image, mask, latent_mask = _scene(model.vae_scale_factor)
    captured, per_step = _spy_run(model.pipe, image, mask, steps=2)
    i, timesteps, latents = per_step[0]
    expected = model.pipe.scheduler.add_noise(captured["image_latents"], captured["noise"], timesteps[1:2])
    outside = ~latent_mask
    assert not torch.allclose(latents[..., outside], expected[..., outside])
