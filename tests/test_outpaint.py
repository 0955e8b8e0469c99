"""pipelines.outpaint: canvas sizes, the original byte-identical at its offset, the window plan and its
generation calls, known context in every window, drift control, bad inputs, the ``outpaint`` CLI command;
with the classical engines and a tiny saved diffusion model (no downloads)."""

from __future__ import annotations

import dataclasses
import json
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import tiny_models  # noqa: E402

from pipelines import cli, io  # noqa: E402
from pipelines import outpaint as op  # noqa: E402
from pipelines.outpaint import plan as op_plan  # noqa: E402
from pipelines.outpaint import run as op_run  # noqa: E402
from pipelines.inpaint import Cancelled  # noqa: E402

FAST = dict(steps=2, guidance=2.0)


def photo(width=96, height=64, seed=0):
    """A smooth colour field with texture and grain (HWC uint8 RGB)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    image = np.stack([60 + 120 * xx / width, 90 + 80 * yy / height, 170 - 60 * xx / width], axis=-1)
    image += 12 * np.sin(xx / 5.0)[..., None] + rng.normal(0, 3, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def original_at_offset(result, image) -> bool:
    ox, oy = result.offset
    h, w = image.shape[:2]
    return np.array_equal(result.images[0][oy:oy + h, ox:ox + w], image)


class WindowSpy:
    """Wraps outpaint.run.generate_window; records each window, its mask, and its known pixels per line."""

    def __init__(self, inner, bias=0.0):
        self.inner = inner
        self.bias = bias
        self.calls: list[dict] = []

    def __call__(self, window, mask, **kwargs):
        self.calls.append({"shape": window.shape[:2], "mask": mask.copy(), "known": int((~mask).sum())})
        out = self.inner(window, mask, **kwargs)
        if self.bias:  # a drifting generator: brighter the farther from the known pixels
            dist = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
            depth = max(1.0, float(dist.max()))
            ramp = (self.bias * dist / depth)[..., None]
            out = np.where(mask[..., None], np.clip(out + ramp, 0, 255), out).astype(np.uint8)
        return out


@pytest.fixture
def spy(monkeypatch):
    s = WindowSpy(op_run.generate_window)
    monkeypatch.setattr(op_run, "generate_window", s)
    return s


# ---------------------------------------------------------------------------------------------
# Classical engine


@pytest.mark.parametrize("mode", ["tiled", "single"])
@pytest.mark.parametrize("sides", [dict(right=40), dict(left=30, top=20), dict(left=17, right=23, top=9, bottom=31)])
def test_size_and_original_byte_identical(mode, sides):
    image = photo()
    r = op.outpaint(image, engine="telea", mode=mode, window=64, seed=3, **sides)
    pads = {s: sides.get(s, 0) for s in op.SIDES}
    out = r.images[0]
    assert out.shape == (64 + pads["top"] + pads["bottom"], 96 + pads["left"] + pads["right"], 3)
    assert out.dtype == np.uint8
    assert r.offset == (pads["left"], pads["top"]) and r.pads == pads
    assert original_at_offset(r, image)
    assert r.mask.sum() == out.shape[0] * out.shape[1] - image.shape[0] * image.shape[1]
    assert r.joins and all(j["report"]["outside_changed"] == 0 for j in r.joins)
    json.dumps(r.summary())


def test_prefill_is_plausible_not_black():
    image = photo()
    pads = dict(left=0, right=60, top=0, bottom=20)
    canvas = op.prefill(image, pads, seed=0)
    assert np.array_equal(canvas[:64, :96], image)
    edge = image[:, -1].reshape(-1, 3).mean(axis=0)
    near = canvas[:64, 96:100].reshape(-1, 3).mean(axis=0)
    assert np.abs(near - edge).max() < 4, "the new area continues the border's colours"
    far = canvas[:64, -8:].astype(np.float32)
    hp = far - cv2.GaussianBlur(far, (0, 0), 1.5)
    assert hp.std() > 0.5, "grain matched to the border ring, not a flat smear"


def test_rgba_and_greyscale_inputs():
    image = photo(48, 40)
    rgba = np.dstack([image, np.full(image.shape[:2], 77, np.uint8)])
    r = op.outpaint(rgba, right=20, engine="telea", window=48, seed=0)
    assert r.images[0].shape == (40, 68, 4) and original_at_offset(r, rgba)
    assert (r.images[0][:, 48:, 3] == 255).all()
    grey = image[..., 1].copy()
    g = op.outpaint(grey, bottom=12, engine="ns", mode="single", seed=0)
    assert g.images[0].shape == (52, 48) and original_at_offset(g, grey)


def test_aspect_and_anchor():
    assert op.extension((64, 64), aspect="16:9") == dict(left=25, right=25, top=0, bottom=0)
    assert op.extension((64, 64), aspect="16:9", anchor="left") == dict(left=0, right=50, top=0, bottom=0)
    assert op.extension((64, 64), aspect=0.5, anchor="bottom") == dict(left=0, right=0, top=64, bottom=0)
    assert op.extension((64, 64), aspect="4/3", anchor="top") == dict(left=10, right=11, top=0, bottom=0)
    r = op.outpaint(photo(64, 64), aspect="2:1", anchor="right", engine="telea", window=64, seed=0)
    assert r.images[0].shape[:2] == (64, 128) and r.offset == (64, 0)


def test_tiled_call_count_matches_the_plan(spy):
    image = photo()
    # window 64, context 21, at most 21 new px per band: 96 px right = 21 + 21 + 21 + 21 + 12, one window
    # per band (64 rows); then 50 px bottom over the 192 px wide canvas: bands 21 + 21 + 8, each covered by
    # overlapping 64 px windows along the edge
    plan = op.plan_windows((96, 64), dict(right=96), window=64)
    assert len(plan) == 5
    r = op.outpaint(image, right=96, engine="telea", window=64, seed=0)
    assert len(spy.calls) == len(plan) == len(r.joins) == 5
    plan2 = op.plan_windows((96, 64), dict(right=96, bottom=50), window=64)
    bands_bottom = op_plan._band_steps(64, 50, 64, 21, 1 / 3)
    assert bands_bottom == [21, 21, 8]
    assert len(plan2) == 5 + 3 * len(op_plan._along_starts(192, 64))
    spy.calls.clear()
    op.outpaint(image, right=96, bottom=50, engine="telea", window=64, seed=0)
    assert len(spy.calls) == len(plan2)


@pytest.mark.parametrize("context", [None, 30])
def test_every_window_holds_the_context(spy, context):
    image = photo()
    window = 64
    ctx = window // 3 if context is None else context
    r = op.outpaint(image, right=70, top=40, engine="telea", window=window, context=context, seed=0)
    assert spy.calls
    for call, j in zip(spy.calls, r.joins):
        h, w = call["shape"]
        assert max(h, w) <= window
        new_frac = call["mask"].mean()
        assert new_frac <= 1 / 3 + 1e-9, "at most a third of each window is new"
        # every line across the edge holds >= context known pixels
        m = call["mask"]
        lines = m if j["side"] in ("left", "right") else m.T
        for line in lines:
            if line.any():
                assert (~line).sum() >= ctx
        assert call["known"] == j["known_px"] and call["known"] >= ctx * min(h, w)


def test_drift_control_is_measurable(monkeypatch):
    image = photo(64, 48, seed=1)
    drifting = WindowSpy(op_run.generate_window, bias=25.0)
    monkeypatch.setattr(op_run, "generate_window", drifting)
    kw = dict(right=192, engine="telea", window=48, seed=0, method="hard")
    on = op.outpaint(image, drift_control=True, **kw)
    off = op.outpaint(image, drift_control=False, **kw)
    assert len(drifting.calls) == 2 * len(op.plan_windows((64, 48), dict(right=192), window=48))
    assert off.drift["right"] > 10, "the stand-in generator drifts"
    assert on.drift["right"] < 0.6 * off.drift["right"]
    assert original_at_offset(on, image) and original_at_offset(off, image)


def test_progress_and_cancel():
    image = photo(48, 32)
    seen = []
    r = op.outpaint(image, right=40, engine="telea", window=32, seed=0, progress=lambda d, t: seen.append((d, t)))
    assert seen and seen[-1] == (len(r.joins), len(r.joins))
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        op.outpaint(image, right=40, engine="telea", window=32, cancel=stop)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(), "nothing to outpaint"),
        (dict(left=-5), "left must be >= 0"),
        (dict(right=1.5), "right must be an integer"),
        (dict(aspect="wide"), "aspect must be"),
        (dict(aspect="16:0"), "aspect must be"),
        (dict(aspect="3:2"), "nothing to outpaint"),
        (dict(aspect="16:9", right=4), "either sizes"),
        (dict(right=8, anchor="middle"), "anchor must be"),
        (dict(right=8, mode="zigzag"), "mode must be"),
        (dict(right=8, engine="magic"), "engine must be"),
        (dict(right=8, window=64, context=64), "context"),
        (dict(right=8, max_new_fraction=0), "max_new_fraction"),
        (dict(right=8, drift_control=2.0), "drift_control"),
    ],
)
def test_bad_input_is_a_clear_error(kwargs, match):
    image = photo(48, 32)
    kwargs.setdefault("engine", "telea")
    with pytest.raises(ValueError, match=match):
        op.outpaint(image, **kwargs)


def test_canvas_over_the_pixel_limit(monkeypatch):
    monkeypatch.setattr(io, "MAX_PIXELS", 48 * 32 + 100)
    with pytest.raises(ValueError, match="outpainted canvas .* megapixels"):
        op.outpaint(photo(48, 32), right=10, engine="telea")


# ---------------------------------------------------------------------------------------------
# CLI


def test_cli_writes_png_and_reports_joins(tmp_path, capsys):
    src = tmp_path / "in.png"
    io.save_png(src, photo(48, 32))
    out = tmp_path / "out.png"
    code = cli.main(["outpaint", "--image", str(src), "--out", str(out), "--right", "30", "--bottom", "10",
                     "--engine", "telea", "--window", "32", "--seed", "1"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert io.load_image(out).shape == (42, 78, 3)
    assert np.array_equal(io.load_image(out)[:32, :48], photo(48, 32))
    assert data["joins"] and all("seam_excess" in j["report"] for j in data["joins"])
    assert data["size"] == [78, 42] and data["offset"] == [0, 0] and data["mode"] == "tiled"


@pytest.mark.parametrize(
    "extra, match",
    [([], "nothing to outpaint"), (["--aspect", "x:y"], "aspect"), (["--left", "-3"], "left must be")],
)
def test_cli_user_errors_exit_2(tmp_path, capsys, extra, match):
    src = tmp_path / "in.png"
    io.save_png(src, photo(32, 32))
    code = cli.main(["outpaint", "--image", str(src), "--out", str(tmp_path / "o.png"), "--engine", "telea", *extra])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error:") and match in err and len(err.strip().splitlines()) == 1


def test_cli_refuses_to_overwrite_the_input(tmp_path, capsys):
    src = tmp_path / "in.png"
    io.save_png(src, photo(32, 32))
    assert cli.main(["outpaint", "--image", str(src), "--out", str(src), "--right", "8", "--engine", "telea"]) == 2


# ---------------------------------------------------------------------------------------------
# Tiny diffusion model


@pytest.fixture(scope="module")
def sd9(tmp_path_factory):
    torch = pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    torch.set_num_threads(1)
    from pipelines.models import ModelCache, load_model

    return load_model(tiny_models.tiny_pipeline_folder(tmp_path_factory, 9), device="cpu", cache=ModelCache())


class SpyPipe:
    def __init__(self, pipe):
        self._pipe = pipe
        self.calls: list[dict] = []

    def __getattr__(self, name):
        return getattr(self._pipe, name)

    def __call__(self, **kwargs):
        self.calls.append({"size": kwargs["image"].size, "mask": np.asarray(kwargs["mask_image"]) > 127})
        return self._pipe(**kwargs)


def test_tiny_model_tiled(sd9, spy):
    pipe = SpyPipe(sd9.pipe)
    model = dataclasses.replace(sd9, pipe=pipe)
    image = photo(64, 48)
    r = op.outpaint(image, right=40, bottom=16, prompt="a field", model=model, seed=2, strength=0.9, **FAST)
    plan = op.plan_windows((64, 48), dict(right=40, bottom=16), window=tiny_models.TINY_NATIVE)
    assert len(pipe.calls) == len(spy.calls) == len(plan) == len(r.joins)
    assert r.images[0].shape == (64, 104, 3) and original_at_offset(r, image)
    assert r.engine == "diffusers" and r.model == "pipeline"
    for call in spy.calls:
        assert max(call["shape"]) <= tiny_models.TINY_NATIVE
        assert call["known"] >= (tiny_models.TINY_NATIVE // 3) * min(call["shape"])
    assert not np.array_equal(r.images[0][:, 64:], op.prefill(image, r.pads, 2)[:, 64:]), "the model repainted"
    again = op.outpaint(image, right=40, bottom=16, prompt="a field", model=sd9, seed=2, strength=0.9, **FAST)
    assert np.array_equal(again.images[0], r.images[0]), "same seed, same canvas"


def test_tiny_model_single_shot_is_one_generation(sd9):
    pipe = SpyPipe(sd9.pipe)
    model = dataclasses.replace(sd9, pipe=pipe)
    image = photo(64, 48)
    r = op.outpaint(image, left=30, right=30, mode="single", model=model, seed=0, **FAST)
    assert len(pipe.calls) == 1 and len(r.joins) == 1
    assert r.images[0].shape == (48, 124, 3) and original_at_offset(r, image)
    assert r.joins[0]["report"]["outside_changed"] == 0


def test_tiny_base_model_blended_latent_diffusion(tmp_path_factory):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    from pipelines.models import ModelCache, load_model

    sd4 = load_model(tiny_models.tiny_pipeline_folder(tmp_path_factory, 4), device="cpu", cache=ModelCache())
    image = photo(48, 48)
    r = op.outpaint(image, top=20, model=sd4, seed=1, **FAST)
    assert r.images[0].shape == (68, 48, 3) and original_at_offset(r, image)
    assert len(r.joins) == len(op.plan_windows((48, 48), dict(top=20), window=tiny_models.TINY_NATIVE))


@pytest.mark.parametrize("kind", ["grey16", "rgba16", "la"])
def test_outpaint_keeps_the_inputs_own_format(kind):
    """16-bit and LA inputs come back in their format, the original byte-identical at its offset."""
    rng = np.random.default_rng(3)
    if kind == "grey16":
        image = rng.integers(0, 65536, (24, 32), dtype=np.uint16)
    elif kind == "rgba16":
        image = rng.integers(0, 65536, (24, 32, 4), dtype=np.uint16)
    else:
        image = rng.integers(0, 256, (24, 32, 2), dtype=np.uint8)
    res = op.outpaint(image, left=8, bottom=6, engine="telea", mode="single")
    out = res.images[0]
    assert out.dtype == image.dtype and out.shape == (30, 40) + image.shape[2:]
    assert np.array_equal(out[:24, 8:], image)
    assert out[24:].any()  # the new strip was filled
