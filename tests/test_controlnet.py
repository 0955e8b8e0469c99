"""Depth-guided staging (generate.controlnet, generate.depth): the ControlNet depth engine keeps the engine contract,
estimates the depth once per photo, hands the pipeline each crop's depth, loads base + ControlNet through its own
model cache keyed by both, refuses downloads when told, and runs end to end through inpaint() and the CLI with the
outside (a room's walls) byte-identical.

Every model is tiny, seeded and saved to a temporary folder (tests/tiny_models.py, tests/tiny_controlnet.py), then
loaded through controlnet.lease, the path a user's folders take. Nothing is downloaded.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("transformers")

import tiny_controlnet  # noqa: E402
from engine_contract import check_engine_contract  # noqa: E402

from pipelines import io, models, provenance  # noqa: E402
from pipelines.errors import UserError  # noqa: E402
from pipelines.generate import controlnet, depth, driver, registry  # noqa: E402
from pipelines.generate.prepare import prepare  # noqa: E402
from pipelines.inpaint import inpaint  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, tiny_model_folder):
    """The tiny SD inpainting folder (9-channel UNet, 64 px native), a tiny ControlNet and a tiny depth model."""
    root = tmp_path_factory.mktemp("tiny_controlnet")
    return SimpleNamespace(
        base=tiny_model_folder,
        controlnet=tiny_controlnet.save_tiny_controlnet(root / "controlnet"),
        depth=tiny_controlnet.save_tiny_depth_model(root / "depth"),
        root=root,
    )


def _lease(tiny, **options):
    options = {"device": "cpu", "steps": 2, "guidance": 1.0, **options}
    return controlnet.lease(str(tiny.base), controlnet=str(tiny.controlnet), depth_model=str(tiny.depth), **options)


def _room(h: int = 144, w: int = 216, seed: int = 0) -> np.ndarray:
    """A synthetic empty room in one-point perspective: ceiling, back wall, two side walls and a plank floor whose
    seams run to the vanishing point, with sensor noise. HWC uint8 RGB."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    bx0, bx1, by0, by1 = 0.3 * w, 0.7 * w, 0.2 * h, 0.6 * h  # the back wall's corners
    vx, vy = 0.5 * w, 0.4 * h  # vanishing point
    room = np.zeros((h, w, 3), np.float32)
    room[:] = (225, 225, 220)  # ceiling
    back = (xx >= bx0) & (xx < bx1) & (yy >= by0) & (yy < by1)
    # a side wall lies between the ceiling and floor lines through its back corners and the vanishing point
    t_left = np.clip((bx0 - xx) / max(bx0, 1.0), 0, None)
    t_right = np.clip((xx - bx1) / max(w - bx1, 1.0), 0, None)
    left = (xx < bx0) & (yy >= by0 - t_left * by0) & (yy < by1 + t_left * (h - by1))
    right = (xx >= bx1) & (yy >= by0 - t_right * by0) & (yy < by1 + t_right * (h - by1))
    floor = (yy >= by1) & ~left & ~right
    room[back] = (205, 195, 175)
    room[left] = (180, 170, 150)
    room[right] = (165, 155, 140)
    planks = np.sin((xx - vx) / np.maximum(yy - vy, 1.0) * 12.0) > 0.8  # seams converging on the vanishing point
    room[floor] = (150, 105, 70)
    room[floor & planks] = (120, 82, 52)
    room += rng.normal(0, 3, room.shape)
    return np.clip(room, 0, 255).astype(np.uint8)


def _sofa_mask(h: int = 144, w: int = 216) -> np.ndarray:
    """Where a sofa would stand against the back wall: its footprint on the floor and its back on the wall."""
    mask = np.zeros((h, w), bool)
    mask[int(0.45 * h):int(0.72 * h), int(0.36 * w):int(0.64 * w)] = True
    return mask


def _two_groups(h: int = 144, w: int = 216) -> np.ndarray:
    """Two objects far apart (two crops): a chair on the left and a lamp on the right."""
    mask = np.zeros((h, w), bool)
    mask[80:110, 20:45] = True
    mask[60:100, 180:200] = True
    return mask


# ---------------------------------------------------------------------------------------------------------------
# The engine


def test_depth_engine_keeps_the_contract(tiny):
    check_engine_contract(lambda: _lease(tiny))


def test_depth_is_estimated_once_per_photo_across_crops_variants_and_jobs(tiny, spy_on):
    room, mask = _room(), _two_groups()
    with _lease(tiny, steps=1) as engine:
        engine.depth.clear_cache()
        forward = spy_on(engine.depth.model, "forward")
        prepared = spy_on(engine, "prepare")
        result = driver.run(prepare(room, mask), engine, prompt="a chair and a lamp", seeds=[1, 2])
        assert len(result.boxes) == 2 and len(result.images) == 2
        assert prepared.count == 1 and forward.count == 1, "one depth estimate for 2 crops x 2 variants"
        driver.run(prepare(room, _sofa_mask()), engine, prompt="a sofa", seeds=[3])
        assert prepared.count == 2 and forward.count == 1, "the same photo again: the cached depth map"
        engine.prepare(_room(seed=1))
        assert forward.count == 2, "another photo, another estimate"
    with _lease(tiny, steps=1) as engine:  # the next job shares the loaded depth model and its cache
        assert engine.depth.model.forward is forward
        engine.prepare(room.copy())
        assert forward.count == 2


def test_depth_map_is_normalised_at_a_bounded_resolution(tiny, spy_on):
    estimator = depth.shared(str(tiny.depth), device="cpu")
    big = np.kron(_room(), np.ones((6, 6, 1), np.uint8))  # 1296 x 864: larger than depth.MAX_SIDE
    estimator.clear_cache()
    forward = spy_on(estimator.model, "forward")
    depth_map = estimator.estimate(big)
    assert depth_map.shape == (683, 1024) and depth_map.dtype == np.float32  # the photo's aspect, 1024 a side
    assert depth_map.min() == 0.0 and depth_map.max() == 1.0
    assert not depth_map.flags.writeable
    pixels = forward.calls[0][1]["pixel_values"]
    assert max(pixels.shape[-2:]) <= 2 * tiny_controlnet.DEPTH_INPUT  # the processor's size, not the photo's
    small = estimator.estimate(_room())
    assert small.shape == (144, 216), "a photo under the bound keeps its size"


def test_the_control_image_is_the_crops_depth(tiny, spy_on):
    room, mask = _room(), _two_groups()
    with _lease(tiny, steps=1, guidance=7.5) as engine:  # classifier-free guidance: a batch of 2
        net = spy_on(engine.loaded.pipe.controlnet, "forward")
        prep = prepare(room, mask)
        driver.run(prep, engine, prompt="a chair", seeds=[5])
        crops = driver.plan_crops(prep.mask, engine)
        depth_map = engine.depth.estimate(prep.rgb)
    assert len(net.calls) == len(crops) * engine.steps() == 2
    conds = [kwargs["controlnet_cond"].float().numpy() for _, kwargs in net.calls]
    for k, crop in enumerate(crops):
        width, height = crop.size
        expected = depth.crop_depth(depth_map, (room.shape[1], room.shape[0]), crop.box, crop.size)
        for cond in conds[k * engine.steps():(k + 1) * engine.steps()]:
            assert cond.shape == (2, 3, height, width)
            assert cond.min() >= 0.0 and cond.max() <= 1.0
            np.testing.assert_allclose(cond[0].transpose(1, 2, 0), expected, atol=1e-6)
            np.testing.assert_array_equal(cond[0], cond[1])  # unconditional and conditional halves
    assert not np.allclose(conds[0][0], conds[-1][0]), "each crop gets its own depth"


def test_the_control_image_steers_the_fill(tiny, spy_on):
    room, mask = _room(), _sofa_mask()
    prep = prepare(room, mask)
    with _lease(tiny, steps=1, control_scale=1.0) as engine:
        steered = driver.run(prep, engine, prompt="a sofa", seeds=[9]).images[0]
        flat = np.zeros_like(engine.depth.estimate(prep.rgb))
        spy_on(engine.depth, "estimate", replace=lambda image: flat)
        other_depth = driver.run(prep, engine, prompt="a sofa", seeds=[9]).images[0]
    with _lease(tiny, steps=1, control_scale=0.0) as engine:
        unsteered = driver.run(prep, engine, prompt="a sofa", seeds=[9]).images[0]
    assert not np.array_equal(steered[mask], other_depth[mask]), "another depth map, another fill"
    assert not np.array_equal(steered[mask], unsteered[mask]), "the depth control changes the fill"
    for image in (steered, other_depth, unsteered):
        assert np.array_equal(image[~mask], room[~mask])


def test_crop_depth_maps_the_box_onto_the_depth_map():
    # the depth map of a 200 x 100 photo at half size: a ramp along x whose value at map coordinate m is m / 100
    ramp = ((np.arange(100, dtype=np.float32) + 0.5) / 100)[None, :].repeat(50, axis=0)
    out = depth.crop_depth(ramp, (200, 100), (50, 20, 150, 80), (64, 40))
    assert out.shape == (40, 64, 3) and out.dtype == np.float32
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 0], out[..., 2])
    expected = (25 + (np.arange(64) + 0.5) * 50 / 64) / 100  # the box's x range, in map coordinates
    np.testing.assert_allclose(out[20, :, 0], expected, atol=2e-3)
    assert np.allclose(out[:, 10, 0], out[0, 10, 0])  # constant along y
    with pytest.raises(UserError, match="is not inside"):
        depth.crop_depth(ramp, (200, 100), (150, 20, 250, 80), (64, 40))


def test_fill_outside_the_driver_is_a_runtime_error(tiny):
    with _lease(tiny, steps=1) as engine:
        crop = np.zeros((64, 64, 3), np.uint8)
        with pytest.raises(RuntimeError, match="prepare"):
            engine.fill(crop, np.ones((64, 64), bool), prompt="", negative_prompt=None, seed=1, step=lambda: None)
        with pytest.raises(RuntimeError, match="prepare"):
            engine.locate((0, 0, 8, 8))


# ---------------------------------------------------------------------------------------------------------------
# Models: presets, families, the cache, downloads


def test_resolve_models_from_presets_families_and_overrides(tiny, tmp_path):
    sd, sdxl = registry.preset("depth-staging"), registry.preset("depth-staging-sdxl")
    assert controlnet.resolve(None) == (sd.source, sd.extra["controlnet"], sd.extra["depth_model"])
    assert controlnet.resolve("depth-staging-sdxl") == (sdxl.source, sdxl.extra["controlnet"],
                                                        sdxl.extra["depth_model"])
    assert controlnet.resolve("depth-staging", controlnet="my/cn") == (sd.source, "my/cn", sd.extra["depth_model"])
    # a base model: the ControlNet and depth model of its family's preset (read from its model_index.json)
    assert controlnet.resolve(str(tiny.base)) == (str(tiny.base), sd.extra["controlnet"], sd.extra["depth_model"])
    xl = tmp_path / "xl"
    xl.mkdir()
    (xl / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionXLInpaintPipeline"}))
    assert controlnet.resolve(str(xl))[1:] == (sdxl.extra["controlnet"], sdxl.extra["depth_model"])
    # a diffusers preset with both overrides needs no look-up at all (nothing leaves the machine)
    assert controlnet.resolve("sd15-inpaint", controlnet="a", depth_model="b") == (
        registry.preset("sd15-inpaint").source, "a", "b")
    flux = tmp_path / "flux"
    flux.mkdir()
    (flux / "model_index.json").write_text(json.dumps({"_class_name": "FluxFillPipeline"}))
    with pytest.raises(UserError, match="is a FLUX model; depth staging runs Stable Diffusion"):
        controlnet.resolve(str(flux))
    with pytest.raises(UserError, match="runs on the lama engine"):
        controlnet.resolve("lama")
    with pytest.raises(UserError, match="no such folder"):
        controlnet.resolve(str(tmp_path / "missing"))


@pytest.mark.parametrize("which", ["model", "controlnet", "depth_model"])
def test_downloads_disabled_refuses_models_not_here_in_one_line(tiny, which):
    sources = {"model": str(tiny.base), "controlnet": str(tiny.controlnet), "depth_model": str(tiny.depth)}
    sources[which] = "nobody-here/not-a-real-model-xyz"
    loads = {k: c.loads for k, c in controlnet._CACHES.items()}
    with pytest.raises(UserError) as err:
        with controlnet.lease(sources.pop("model"), device="cpu", allow_download=False, **sources):
            pass
    message = str(err.value)
    assert message == str(models.downloads_disabled_error("nobody-here/not-a-real-model-xyz"))
    assert "\n" not in message
    assert {k: c.loads for k, c in controlnet._CACHES.items() if k in loads} == loads, "nothing was loaded"


def test_the_pipeline_cache_is_keyed_by_base_and_controlnet(tiny):
    other = tiny_controlnet.save_tiny_controlnet(tiny.root / "controlnet_b", seed=1)
    with _lease(tiny, steps=1) as engine:
        first = engine.loaded
        weights_a = first.pipe.controlnet.controlnet_mid_block.weight.detach().clone()
        cache = controlnet.pipeline_cache(str(tiny.controlnet))
        assert type(first.pipe).__name__ == "StableDiffusionControlNetInpaintPipeline"
        assert cache.status()["leases"], "leased for the whole job"
    with _lease(tiny, steps=1) as engine:
        assert engine.loaded is first, "the same base and ControlNet: the cached pipeline"
    loads = cache.loads
    with controlnet.lease(str(tiny.base), controlnet=str(other), depth_model=str(tiny.depth), device="cpu") as b:
        assert b.loaded is not first and b.controlnet_name == "controlnet_b"
        assert not np.allclose(b.loaded.pipe.controlnet.controlnet_mid_block.weight.detach().numpy(), weights_a.numpy())
        assert len(cache) == 0 and first.pipe is None, "the idle pipeline of the other ControlNet was freed"
    with _lease(tiny, steps=1) as engine:
        assert engine.loaded is not first and cache.loads == loads + 1


def test_a_controlnet_of_another_family_is_one_line(tiny):
    wide = tiny_controlnet.save_tiny_controlnet(tiny.root / "controlnet_wide", cross_attention_dim=64)
    with pytest.raises(models.ModelLoadError, match=r"\(cross-attention 64\) does not fit the base") as err:
        with controlnet.lease(str(tiny.base), controlnet=str(wide), depth_model=str(tiny.depth), device="cpu"):
            pass
    assert "\n" not in str(err.value)
    missing = str(tiny.root / "nothing_here")
    with pytest.raises(UserError, match=r"^ControlNet '.*nothing_here': no such folder"):
        with controlnet.lease(str(tiny.base), controlnet=missing, depth_model=str(tiny.depth), device="cpu"):
            pass
    with pytest.raises(UserError, match=r"^depth model '.*nothing_here': no such folder"):
        with controlnet.lease(str(tiny.base), controlnet=str(tiny.controlnet), depth_model=missing, device="cpu",
                              allow_download=False):
            pass
    with pytest.raises(models.ModelLoadError, match=r"cannot load the ControlNet '.*depth' \(OSError"):  # not a ControlNet
        with controlnet.lease(str(tiny.base), controlnet=str(tiny.depth), depth_model=str(tiny.depth), device="cpu"):
            pass


# ---------------------------------------------------------------------------------------------------------------
# End to end: SDXL, inpaint() and the CLI


def test_sdxl_runs_as_the_sdxl_controlnet_pipeline(tmp_path_factory):
    import tiny_sdxl

    root = tmp_path_factory.mktemp("tiny_sdxl_controlnet")
    base = tiny_sdxl.save_tiny_sdxl(root / "sdxl-inpaint", in_channels=9)
    net = tiny_controlnet.save_tiny_controlnet(root / "controlnet-sdxl", family="sdxl")
    depth_model = tiny_controlnet.save_tiny_depth_model(root / "depth")
    sdxl = registry.preset("depth-staging-sdxl")
    assert controlnet.resolve(str(base))[1:] == (sdxl.extra["controlnet"], sdxl.extra["depth_model"])
    room, mask = _room(), _sofa_mask()
    with controlnet.lease(str(base), controlnet=str(net), depth_model=str(depth_model), device="cpu", steps=2,
                          guidance=1.0) as engine:
        assert type(engine.loaded.pipe).__name__ == "StableDiffusionXLControlNetInpaintPipeline"
        assert engine.loaded.family == "sdxl"
        result = driver.run(prepare(room, mask), engine, prompt="a sofa", seeds=[2])
    image = result.images[0]
    assert np.array_equal(image[~mask], room[~mask]) and not np.array_equal(image[mask], room[mask])
    assert result.params["control"] == "depth" and result.params["strength"] < 1.0  # SDXL inpainting's cap




def test_inpaint_with_control_depth_keeps_the_walls_byte_identical(tiny):
    room, mask = _room(), _sofa_mask()
    result = inpaint(room, mask, "a grey sofa", control="depth", model=str(tiny.base), controlnet=str(tiny.controlnet),
                     depth_model=str(tiny.depth), device="cpu", steps=1, guidance=1.0, seed=3, variants=2)
    assert result.engine == "diffusers" and result.params["control"] == "depth"
    assert result.params["controlnet"] == "controlnet" and result.params["depth_model"] == "depth"
    assert any(note.startswith("depth control: ControlNet controlnet") for note in result.notes)
    for image, report in zip(result.images, result.reports):
        assert image.shape == room.shape and image.dtype == np.uint8
        assert np.array_equal(image[~mask], room[~mask]), "walls, ceiling and floor outside the mask untouched"
        assert report["outside_changed"] == 0
        assert not np.array_equal(image[mask], room[mask])


def test_a_soft_edge_goes_through_the_depth_engine(tiny):
    room, mask = _room(), _sofa_mask()
    result = inpaint(room, mask, "a sofa", control="depth", model=str(tiny.base), controlnet=str(tiny.controlnet),
                     depth_model=str(tiny.depth), device="cpu", steps=2, guidance=1.0, seed=3, soft_edge=4)
    assert result.params["soft_edge"] == 4 and result.params["control"] == "depth"
    assert np.array_equal(result.images[0][~mask], room[~mask])


def test_inpaint_refuses_depth_overrides_without_the_control(tiny):
    with pytest.raises(UserError, match="go with a control"):
        inpaint(_room(), _sofa_mask(), "x", controlnet=str(tiny.controlnet), device="cpu")
    with pytest.raises(UserError, match="goes with the diffusers engine"):
        inpaint(_room(), _sofa_mask(), "x", engine="telea", control="depth")


def test_cli_control_depth(tiny, tmp_path, run_cli):
    room, mask = _room(), _sofa_mask()
    io.save_png(tmp_path / "room.png", room)
    io.save_png(tmp_path / "mask.png", mask.astype(np.uint8) * 255)
    run = run_cli([
        "inpaint", "--image", tmp_path / "room.png", "--mask", tmp_path / "mask.png", "--out", tmp_path / "out.png",
        "--prompt", "a grey sofa", "--control", "depth", "--model", tiny.base, "--controlnet", tiny.controlnet,
        "--depth-model", tiny.depth, "--steps", 1, "--guidance", 1, "--seed", 4, "--device", "cpu",
    ])
    assert run.code == 0, run.err
    printed = json.loads(run.out)
    assert printed["report"]["outside_changed"] == 0 and printed["params"]["control"] == "depth"
    out = io.load_image(tmp_path / "out.png")
    assert np.array_equal(out[~mask], room[~mask])
    extra = provenance.read_settings(tmp_path / "out.png")["extra"]
    assert extra["control"] == "depth" and extra["controlnet"] == "controlnet" and extra["depth_model"] == "depth"

    line = run_cli([
        "inpaint", "--image", tmp_path / "room.png", "--mask", tmp_path / "mask.png", "--out", tmp_path / "o.png",
        "--depth-model", tiny.depth,
    ]).one_line_error()
    assert "go with a control" in line
    assert Path(tmp_path / "o.png").exists() is False
