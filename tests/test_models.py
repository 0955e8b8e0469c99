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
        "import sys, pipelines.models as m, pipelines.inpaint, pipelines.generate.classical, pipelines.generate.diffusion, pipelines.generate.driver, pipelines.commands.inpaint; "
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


# ---------------------------------------------------------------------------------------------
# Many users: leases, loading outside the registry lock, downloads disabled.
# A stub loader returns a fake pipeline (no weights) whose loads and calls the test controls with Events.


class _FakeUNet:
    class config:  # noqa: N801 - mimics diffusers' config attribute
        in_channels = 9
        sample_size = 32


class _FakePipe:
    """Stands in for a diffusers pipeline: describe() reads unet/vae_scale_factor; to() and calls are recorded."""

    unet = _FakeUNet()
    vae_scale_factor = 2

    def __init__(self, source: str):
        self.source = source
        self.moves: list[str] = []
        self.calls = 0

    def to(self, device):
        self.moves.append(str(device))
        return self

    def __call__(self, work=None):
        self.calls += 1
        return work() if work is not None else None


class _StubLoader:
    """A ModelCache loader: counts loads per source; a source in ``gates`` blocks until its Event is set, and a
    source in ``failures`` raises that exception (after its gate)."""

    def __init__(self):
        self.calls: list[str] = []
        self.kwargs: list[dict] = []
        self.entered: dict[str, threading.Event] = {}
        self.gates: dict[str, threading.Event] = {}
        self.failures: dict[str, BaseException] = {}

    def gate(self, source: str) -> threading.Event:
        self.entered[source] = threading.Event()
        self.gates[source] = threading.Event()
        return self.gates[source]

    def __call__(self, source, kind, dtype, device, offload, config, **kwargs):
        self.calls.append(source)
        self.kwargs.append(kwargs)
        if source in self.gates:
            self.entered[source].set()
            assert self.gates[source].wait(60), "test gate never opened"
        if source in self.failures:
            raise self.failures[source]
        return _FakePipe(source)


def _key(source: str) -> tuple:
    return (source, "float32", "cpu")


def _until(predicate, what: str, timeout: float = 60.0) -> None:
    """Wait (polling) until ``predicate()`` holds; a synchronisation point, not a timing assertion."""
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        time.sleep(0.01)


class _Worker(threading.Thread):
    """A thread that records its result or exception."""

    def __init__(self, target):
        super().__init__(daemon=True)
        self._work, self.result, self.error = target, None, None

    def run(self):
        try:
            self.result = self._work()
        except BaseException as exc:  # noqa: BLE001 - handed to the test, which asserts on it
            self.error = exc

    def finish(self):
        """Start the thread unless started, then wait for it (a deadlock guard, not a timing check)."""
        if self.ident is None:
            self.start()
        self.join(60)
        assert not self.is_alive(), "worker did not finish"
        return self


def test_a_leased_model_is_not_evicted_mid_job_the_other_load_waits():
    loader = _StubLoader()
    cache = ModelCache(max_models=1, loader=loader)
    leased, go = threading.Event(), threading.Event()
    seen: list = []

    def job():  # one user's job: a lease on A and three pipeline calls, the first one slow
        with cache.lease("org/a", device="cpu") as a:
            leased.set()
            for i in range(3):
                with a.lock:
                    assert a.pipe is not None, "evicted mid-job"
                    a.pipe(work=(lambda: go.wait(60)) if i == 0 else None)
                    seen.append((i, cache.loads, _key("org/a") in cache))
            return a

    user1 = _Worker(job)
    user1.start()
    assert leased.wait(60)
    user2 = _Worker(lambda: cache.get("org/b", device="cpu"))
    user2.start()
    _until(lambda: cache.status()["loading"].get(_key("org/b")) == "waiting for a slot", "B waits for a slot")
    assert loader.calls == ["org/a"], "B must not load (nor park A) while A is leased"
    go.set()  # let the job finish its calls and release the lease
    user1.finish()
    user2.finish()
    assert user1.error is None and user2.error is None
    assert seen == [(0, 1, True), (1, 1, True), (2, 1, True)], "A stayed loaded for the whole job"
    a, b = user1.result, user2.result
    assert a.pipe is None and b.pipe is not None and cache.keys() == [_key("org/b")]
    assert loader.calls == ["org/a", "org/b"] and cache.status()["leases"] == {}


def test_a_loaded_model_is_served_while_another_key_is_loading():
    loader = _StubLoader()
    cache = ModelCache(max_models=2, loader=loader)
    a = cache.get("org/a", device="cpu")
    gate = loader.gate("org/slow")
    slow = _Worker(lambda: cache.get("org/slow", device="cpu"))
    slow.start()
    try:
        assert loader.entered["org/slow"].wait(60)
        assert cache.status()["loading"] == {_key("org/slow"): "loading"}

        def use_a():
            with cache.lease("org/a", device="cpu") as leased:
                return leased, cache.status()["leases"]

        fast = _Worker(use_a).finish()  # would hang if the registry lock were held during the slow load
        assert fast.error is None and fast.result[0] is a and fast.result[1] == {_key("org/a"): 1}
        assert slow.is_alive() and _key("org/a") in cache
    finally:
        gate.set()
    assert slow.finish().error is None and cache.loads == 2


def test_concurrent_requests_for_one_key_share_one_load():
    loader = _StubLoader()
    cache = ModelCache(max_models=1, loader=loader)
    gate = loader.gate("org/x")
    users = [_Worker(lambda: cache.get("org/x", device="cpu")) for _ in range(5)]
    for u in users:
        u.start()
    try:
        _until(lambda: cache.status()["waiters"].get(_key("org/x")) == 4, "4 requests wait for the one load")
    finally:
        gate.set()
    results = [u.finish() for u in users]
    assert all(u.error is None for u in results)
    assert loader.calls == ["org/x"] and cache.loads == 1
    assert len({id(u.result) for u in results}) == 1


def test_failed_load_rolls_back_and_hands_its_error_to_every_waiter():
    loader = _StubLoader()
    cache = ModelCache(max_models=1, loader=loader)
    a = cache.get("org/a", device="cpu")
    loader.failures["org/bad"] = OSError("connection refused by the hub")
    gate = loader.gate("org/bad")
    bad = [_Worker(lambda: cache.get("org/bad", device="cpu")) for _ in range(3)]
    for u in bad:
        u.start()
    try:
        _until(lambda: cache.status()["waiters"].get(_key("org/bad")) == 2, "2 requests wait for the failing load")
        assert _key("org/a") not in cache, "A is set aside while the new model loads"
        back = _Worker(lambda: cache.get("org/a", device="cpu"))  # asks for the evicted model meanwhile
        back.start()
    finally:
        gate.set()
    errors = [u.finish().error for u in bad]
    assert all(isinstance(e, ModelLoadError) for e in errors)
    messages = {str(e) for e in errors}
    assert len(messages) == 1 and "org/bad" in messages.pop() and all("\n" not in str(e) for e in errors)
    assert back.finish().error is None and back.result is a, "rolled back: the same A, not a reload"
    assert a.pipe is not None and cache.keys() == [_key("org/a")]
    assert loader.calls == ["org/a", "org/bad"] and cache.loads == 1 and cache.status()["loading"] == {}


def test_rollback_moves_a_parked_model_back_to_its_device(monkeypatch):
    loader = _StubLoader()
    cache = ModelCache(max_models=1, loader=loader)
    a = cache.get("org/a", device="cpu")
    a.device = "cuda"  # pretend it lives on an accelerator, so eviction parks it on the CPU
    monkeypatch.setattr(models, "_empty_accelerator_cache", lambda: None)
    loader.failures["org/bad"] = RuntimeError("CUDA out of memory")
    with pytest.raises(ModelLoadError, match="not enough memory"):
        cache.get("org/bad", device="cpu")
    assert a.pipe.moves == ["cpu", "cuda"] and cache.get("org/a", device="cpu") is a


def test_a_job_holding_the_only_slot_gets_a_clear_error_for_a_second_model():
    loader = _StubLoader()
    cache = ModelCache(max_models=1, loader=loader)

    def two_models():
        with cache.lease("org/a", device="cpu") as a:
            with pytest.raises(models.UserError) as info:
                cache.get("org/b", device="cpu")
            with cache.lease("org/a", device="cpu") as again:  # the same model again is fine
                assert again is a
            return str(info.value), a

    worker = _Worker(two_models).finish()  # must not deadlock
    assert worker.error is None
    message, a = worker.result
    assert "org/b" in message and "org/a" in message and "\n" not in message
    assert a.pipe is not None and loader.calls == ["org/a"] and cache.status()["leases"] == {}
    cache.set_max_models(2)
    with cache.lease("org/a", device="cpu") as a2, cache.lease("org/b", device="cpu") as b:
        assert a2 is a and b.pipe is not None and len(cache) == 2


def test_leased_models_survive_clear_and_a_smaller_capacity():
    cache = ModelCache(max_models=2, loader=_StubLoader())
    with cache.lease("org/a", device="cpu") as a:
        b = cache.get("org/b", device="cpu")
        cache.set_max_models(1)
        assert a.pipe is not None and b.pipe is None
        cache.clear()
        assert a.pipe is not None and cache.keys() == [_key("org/a")]
    cache.clear()
    assert a.pipe is None and len(cache) == 0


def test_lease_pins_a_loaded_model_handed_in_directly():
    cache = ModelCache(max_models=1, loader=_StubLoader())
    a = cache.get("org/a", device="cpu")
    with cache.lease(a) as same:
        assert same is a and cache.status()["leases"] == {_key("org/a"): 1}
    assert cache.status()["leases"] == {}
    other = ModelCache(loader=_StubLoader()).get("org/z", device="cpu")
    with cache.lease(other) as same:  # not in this cache: yielded as is
        assert same is other and cache.status()["leases"] == {}


def test_downloads_disabled_refuses_a_hub_id_not_on_this_server():
    loader = _StubLoader()
    model_id = "no-such-org-xq7/no-such-inpainting-model"
    assert not models.is_available_locally(model_id)
    with pytest.raises(models.UserError) as info:
        ModelCache(loader=loader).get(model_id, device="cpu", allow_download=False)
    assert str(info.value) == (
        f"model '{model_id}' is not on this server and downloads are disabled here; "
        f"ask the operator to add it (python app.py --allow-downloads)"
    )
    with pytest.raises(models.UserError, match="downloads are disabled"):
        with models.lease(model_id, device="cpu", allow_download=False, cache=ModelCache(loader=loader)):
            pass  # pragma: no cover
    assert loader.calls == []


def test_downloads_disabled_accepts_a_local_folder(sd9):
    assert models.is_available_locally(sd9) and models.is_available_locally(str(sd9))
    assert not models.is_available_locally(sd9 / "missing")
    with models.lease(sd9, device="cpu", allow_download=False, cache=ModelCache()) as model:
        assert model.mode == "inpainting" and model.pipe is not None


def test_downloads_disabled_accepts_a_hub_id_in_the_local_cache_and_loads_local_files_only(tmp_path, monkeypatch):
    from huggingface_hub import constants

    repo, commit = "some-org/cached-model", "0" * 40
    snapshot = tmp_path / "models--some-org--cached-model" / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (snapshot / "model_index.json").write_text("{}")
    (tmp_path / "models--some-org--cached-model" / "refs").mkdir()
    (tmp_path / "models--some-org--cached-model" / "refs" / "main").write_text(commit)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    assert models.is_available_locally(repo)
    loader = _StubLoader()
    model = ModelCache(loader=loader).get(repo, device="cpu", allow_download=False)
    assert model.source == repo and loader.kwargs == [{"local_files_only": True}]
    ModelCache(loader=loader).get(repo, device="cpu")  # downloads allowed: the loader may go online
    assert loader.kwargs[-1] == {"local_files_only": False}
