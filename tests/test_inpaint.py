"""pipelines.inpaint with tiny saved diffusion models, and the ``inpaint`` CLI command."""

from __future__ import annotations

import dataclasses
import json
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

from pipelines import cli, io  # noqa: E402
from pipelines.inpaint import Cancelled, generation_size, inpaint  # noqa: E402
from pipelines.models import ModelCache, load_model  # noqa: E402

NATIVE = tiny_models.TINY_NATIVE
FAST = dict(steps=2, guidance=2.0)


@pytest.fixture(scope="session")
def sd9_folder(tiny_model_folder) -> Path:
    return tiny_model_folder


@pytest.fixture(scope="session")
def sd9(sd9_folder):
    return load_model(sd9_folder, device="cpu", cache=ModelCache())


@pytest.fixture(scope="session")
def sd4(tiny_base_model_folder):
    return load_model(tiny_base_model_folder, device="cpu", cache=ModelCache())


class SpyPipe:
    """Delegates to a pipeline and records every call's keyword arguments and image size."""

    def __init__(self, pipe):
        self._pipe = pipe
        self.calls: list[dict] = []

    def __getattr__(self, name):
        return getattr(self._pipe, name)

    def __call__(self, **kwargs):
        self.calls.append(dict(kwargs, image_size=kwargs["image"].size, mask_size=kwargs["mask_image"].size))
        return self._pipe(**kwargs)


def spied(model):
    spy = SpyPipe(model.pipe)
    return dataclasses.replace(model, pipe=spy), spy


def scene(width, height, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    image = np.stack([40 + 150 * xx / width, 70 + 100 * yy / height, 180 - 90 * xx / width], axis=-1)
    image = np.clip(image + rng.normal(0, 3, image.shape), 0, 255).astype(np.uint8)
    mask = (xx - width * 0.4) ** 2 + (yy - height * 0.55) ** 2 <= (min(width, height) * 0.2) ** 2
    return image, mask


def outside_identical(result, image):
    return all(np.array_equal(img[~result.mask], image[~result.mask]) for img in result.images)


@pytest.mark.parametrize("size", [(97, 61), (33, 129)])
def test_output_size_and_outside_bytes_for_odd_sizes(sd9, size):
    image, mask = scene(*size)
    result = inpaint(image, mask, "a cat", model=sd9, seed=1, **FAST)
    assert result.images[0].shape == image.shape and result.images[0].dtype == np.uint8
    assert outside_identical(result, image)
    assert not np.array_equal(result.images[0][result.mask], image[result.mask]), "the mask must be repainted"
    assert result.engine == "diffusers" and result.model == "pipeline"
    assert result.reports[0]["outside_changed"] == 0


def test_rgba_alpha_kept_outside_and_opaque_inside(sd9):
    image, mask = scene(80, 56)
    alpha = np.random.default_rng(2).integers(0, 256, mask.shape, dtype=np.uint8)
    rgba = np.dstack([image, alpha])
    result = inpaint(rgba, mask, model=sd9, seed=0, **FAST)
    out = result.images[0]
    assert out.shape == rgba.shape and outside_identical(result, rgba)
    assert (out[..., 3][result.mask] == 255).all()


def test_same_seed_same_image_and_variants_are_ranked(sd9):
    image, mask = scene(90, 70)
    a = inpaint(image, mask, "a photo", model=sd9, seed=5, **FAST)
    b = inpaint(image, mask, "a photo", model=sd9, seed=5, **FAST)
    assert np.array_equal(a.images[0], b.images[0])
    v = inpaint(image, mask, "a photo", model=sd9, seed=5, variants=2, **FAST)
    assert sorted(v.seeds) == [5, 6] and len(v.images) == len(v.reports) == 2
    by_seed = dict(zip(v.seeds, v.images))
    assert np.array_equal(by_seed[5], a.images[0])
    assert not np.array_equal(by_seed[6], a.images[0]), "another seed must give another image"
    scores = [(r["seam_excess"], r["ring_delta_e"]) for r in v.reports]
    assert scores == sorted(scores)
    assert outside_identical(v, image)
    json.dumps(v.summary())


def test_random_seed_is_reported_and_reproduces(sd9):
    image, mask = scene(64, 64)
    first = inpaint(image, mask, model=sd9, **FAST)
    again = inpaint(image, mask, model=sd9, seed=first.seeds[0], **FAST)
    assert np.array_equal(first.images[0], again.images[0])


def test_large_image_small_mask_runs_at_crop_resolution(sd9):
    image = np.full((3000, 4000, 3), 120, np.uint8)
    image[::7] = 140  # some texture
    mask = np.zeros((3000, 4000), bool)
    mask[1400:1424, 2500:2530] = True
    model, spy = spied(sd9)
    result = inpaint(image, mask, "a cat", model=model, seed=0, context_margin=16, **FAST)
    assert len(spy.calls) == 1
    call = spy.calls[0]
    assert call["image_size"] == call["mask_size"] == (NATIVE, NATIVE)
    assert (call["width"], call["height"]) == (NATIVE, NATIVE)
    (x0, y0, x1, y1), = result.boxes
    assert x1 - x0 <= 128 and y1 - y0 <= 128, "the crop must be the mask's neighbourhood, not the photo"
    assert x0 <= 2500 - 8 and x1 >= 2530 + 8 and y0 <= 1400 - 8 and y1 >= 1424 + 8
    assert result.images[0].shape == image.shape
    assert outside_identical(result, image)


def test_far_apart_regions_are_generated_separately(sd9):
    image, _ = scene(400, 300)
    mask = np.zeros((300, 400), bool)
    mask[20:40, 20:44] = True
    mask[240:270, 340:380] = True
    model, spy = spied(sd9)
    result = inpaint(image, mask, model=model, seed=0, grow=4, **FAST)
    assert len(result.boxes) == 2 and len(spy.calls) == 2
    assert outside_identical(result, image)
    for group_box in result.boxes:
        x0, y0, x1, y1 = group_box
        assert (x1 - x0) * (y1 - y0) < 400 * 300 / 2
    near = np.zeros((300, 400), bool)
    near[100:130, 100:130] = True
    near[100:130, 150:180] = True
    assert len(inpaint(image, near, model=sd9, seed=0, **FAST).boxes) == 1


def test_generation_size_is_native_area_and_multiple_of_8():
    assert generation_size(256, 256, 512) == (512, 512)
    assert generation_size(1000, 1000, 512) == (512, 512)
    assert generation_size(64, 64, 1024) == (1024, 1024)
    w, h = generation_size(300, 200, 512)
    assert w % 8 == 0 and h % 8 == 0 and abs(w * h - 512 * 512) < 0.05 * 512 * 512 and w > h


def test_progress_is_reported_every_step(sd9):
    image, mask = scene(64, 64)
    seen = []
    inpaint(image, mask, model=sd9, seed=0, steps=4, progress=lambda i, n: seen.append((i, n)))
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    seen.clear()
    inpaint(image, mask, model=sd9, seed=0, steps=4, strength=0.5, progress=lambda i, n: seen.append((i, n)))
    assert seen == [(1, 2), (2, 2)]


def test_cancel_stops_within_one_step(sd9):
    image, mask = scene(64, 64)
    cancel = threading.Event()
    unet_calls = []
    hook = sd9.pipe.unet.register_forward_hook(lambda *a: unet_calls.append(1))
    seen = []

    def progress(i, n):
        seen.append(i)
        if i == 1:
            cancel.set()

    try:
        with pytest.raises(Cancelled, match="cancelled"):
            inpaint(image, mask, model=sd9, seed=0, steps=10, progress=progress, cancel=cancel)
    finally:
        hook.remove()
    assert seen == [1] and len(unet_calls) == 1
    with pytest.raises(Cancelled):
        inpaint(image, mask, model=sd9, seed=0, steps=10, cancel=cancel)  # already set: nothing runs
    assert len(unet_calls) == 1


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(strength=0.0), dict(strength=1.5), dict(strength=-0.2), dict(strength=float("nan")),
        dict(steps=0), dict(steps=-3), dict(steps=2.5), dict(steps=3, strength=0.2),
        dict(guidance=-1.0), dict(variants=0), dict(seed=-1), dict(grow=-1),
        dict(method="feather"), dict(method="poisson"), dict(feather=-2), dict(engine="dall-e"),
        dict(context_margin=-1),
    ],
)
def test_bad_parameters_raise_value_error(sd9, kwargs):
    image, mask = scene(64, 64)
    with pytest.raises(ValueError):
        inpaint(image, mask, model=sd9, **kwargs)


def test_empty_mask_and_size_mismatch_raise_value_error(sd9):
    image, mask = scene(64, 48)
    with pytest.raises(ValueError, match="empty"):
        inpaint(image, np.zeros_like(mask), model=sd9, **FAST)
    with pytest.raises(ValueError, match="64x48"):
        inpaint(image, mask[:, :-1], model=sd9, **FAST)
    with pytest.raises(ValueError):
        inpaint(image.astype(np.float32), mask, model=sd9, **FAST)


def test_base_model_runs_blended_latent_diffusion(sd4):
    image, mask = scene(72, 56)
    result = inpaint(image, mask, "a cat", model=sd4, seed=0, **FAST)
    assert any("blended latent diffusion" in note for note in result.notes)
    assert result.images[0].shape == image.shape and outside_identical(result, image)


def test_prefill_hands_the_model_a_filled_crop(sd9):
    image = np.full((64, 64, 3), (90, 110, 130), np.uint8)
    mask = np.zeros((64, 64), bool)
    mask[20:44, 20:44] = True
    image[mask] = (250, 10, 10)  # a red object to remove
    model, spy = spied(sd9)
    result = inpaint(image, mask, model=model, seed=0, strength=0.6, prefill=True, grow=0, **FAST)
    passed = np.asarray(spy.calls[0]["image"]).astype(int)
    assert np.abs(passed[28:36, 28:36] - (90, 110, 130)).max() <= 3, "the object must be filled before generating"
    assert outside_identical(result, image)
    result = inpaint(image, mask, model=sd9, seed=0, prefill=True, **FAST)
    assert any("prefill has no effect" in note for note in result.notes)


# ---------------------------------------------------------------------------------------------
# CLI


def _files(tmp_path, width=70, height=50):
    image, mask = scene(width, height)
    io.save_png(tmp_path / "in.png", image)
    io.save_png(tmp_path / "mask.png", mask.astype(np.uint8) * 255)
    return image, mask


def test_cli_diffusers_engine_with_a_local_model(sd9_folder, tmp_path, capsys):
    image, _ = _files(tmp_path)
    code = cli.main([
        "inpaint", "--image", str(tmp_path / "in.png"), "--mask", str(tmp_path / "mask.png"),
        "--out", str(tmp_path / "out.png"), "--prompt", "a cat", "--model", str(sd9_folder), "--steps", "2",
        "--seed", "3", "--device", "cpu", "--grow", "4", "--variants", "2",
    ])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(printed["report"]) >= {"outside_changed", "ring_delta_e", "seam_excess", "noref_ratio", "passed"}
    assert printed["report"]["outside_changed"] == 0 and sorted(printed["seeds"]) == [3, 4]
    out = io.load_image(tmp_path / "out.png")
    assert out.shape == image.shape and (tmp_path / "out-2.png").is_file()


def test_cli_telea_needs_no_model(tmp_path, capsys):
    image, mask = _files(tmp_path)
    code = cli.main([
        "inpaint", "--image", str(tmp_path / "in.png"), "--mask", str(tmp_path / "mask.png"),
        "--out", str(tmp_path / "out.png"), "--engine", "telea", "--prompt", "ignored", "--grow", "0",
    ])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["engine"] == "telea" and any("prompt ignored" in n for n in printed["notes"])
    out = io.load_image(tmp_path / "out.png")
    assert np.array_equal(out[~mask], image[~mask])


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--strength", "0"], "strength"),
        (["--steps", "0"], "steps"),
        (["--model", "/no/such/model-folder"], "HF_HUB_OFFLINE"),
        (["--out", "IN"], "refusing to overwrite"),
        (["--out", "OUT.jpg"], ".png"),
    ],
)
def test_cli_user_errors_are_one_line_exit_2(tmp_path, capsys, extra, message):
    _files(tmp_path)
    extra = [str(tmp_path / "in.png") if e == "IN" else str(tmp_path / "out.jpg") if e == "OUT.jpg" else e
             for e in extra]
    args = ["inpaint", "--image", str(tmp_path / "in.png"), "--mask", str(tmp_path / "mask.png"),
            "--out", str(tmp_path / "out.png"), "--device", "cpu", "--steps", "1"]
    code = cli.main(args + extra)
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error:") and err.count("\n") == 1 and message in err


def test_cli_mask_size_mismatch(tmp_path, capsys):
    _files(tmp_path)
    io.save_png(tmp_path / "small.png", np.full((10, 10), 255, np.uint8))
    code = cli.main(["inpaint", "--image", str(tmp_path / "in.png"), "--mask", str(tmp_path / "small.png"),
                     "--out", str(tmp_path / "out.png"), "--engine", "telea"])
    assert code == 2 and "10x10" in capsys.readouterr().err
