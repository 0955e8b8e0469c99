"""The contract, checked and enforced: verify_outside catches any changed outside value; inpaint fails closed when
a composite is sabotaged; growth is never implicit and is reported; twenty successive edits leave every pixel that
was never masked byte-identical to the first input."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from pipelines import blend, contract, io
from pipelines.errors import ContractViolation
from pipelines.inpaint import inpaint


def _pair(shape, dtype=np.uint8, seed=0):
    rng = np.random.default_rng(seed)
    original = rng.integers(0, np.iinfo(dtype).max + 1, shape, dtype=dtype)
    mask = np.zeros(shape[:2], bool)
    mask[3:7, 4:9] = True
    result = original.copy()
    result[mask] = np.iinfo(dtype).max - result[mask]  # everything inside changes
    return original, result, mask


@pytest.mark.parametrize("shape, dtype", [((10, 12), np.uint8), ((10, 12, 3), np.uint8), ((10, 12, 4), np.uint8),
                                          ((10, 12, 2), np.uint16), ((10, 12), np.uint16), ((10, 12, 4), np.uint16)])
def test_equal_outsides_pass(shape, dtype):
    original, result, mask = _pair(shape, dtype)
    contract.verify_outside(original, result, mask)
    assert contract.changed_outside(original, result, mask) == (0, 0, int((~mask).sum()))
    report = contract.outside_report(original, result, mask)
    assert report["outside_changed"] == 0 and report["outside_max_diff"] == 0


@pytest.mark.parametrize("shape, dtype, where, delta", [
    ((10, 12), np.uint8, (0, 0), 1),               # one grey pixel, in a corner
    ((10, 12, 3), np.uint8, (9, 11, 1), 1),        # one channel of one pixel
    ((10, 12, 4), np.uint8, (5, 2, 3), 1),         # one alpha value, beside the mask
    ((10, 12, 2), np.uint8, (2, 5, 1), 1),         # LA alpha, just above the mask
    ((10, 12), np.uint16, (7, 4), 1),              # the least significant bit of a 16-bit value
    ((10, 12, 3), np.uint16, (0, 11, 2), 1),       # ... of one 16-bit colour channel
    ((10, 12, 4), np.uint16, (9, 0, 3), 1),        # ... of a 16-bit alpha
])
def test_one_changed_outside_value_is_a_violation(shape, dtype, where, delta):
    original, result, mask = _pair(shape, dtype)
    assert not mask[where[:2]]
    result[where] ^= np.asarray(delta, dtype)  # flip the lowest bit
    with pytest.raises(ContractViolation, match=r"changed 1 pixel\(s\) outside the mask \(up to 1 levels\)"):
        contract.verify_outside(original, result, mask)
    assert contract.changed_outside(original, result, mask)[:2] == (1, 1)


def test_another_shape_or_depth_is_a_violation_not_a_pass():
    original, result, mask = _pair((10, 12, 3))
    for other in (result[..., :2], result.astype(np.uint16), np.dstack([result, result[..., :1]])):
        with pytest.raises(ContractViolation, match="cannot be checked"):
            contract.verify_outside(original, other, mask)


def test_strips_cover_every_row(monkeypatch):
    """The comparison runs in strips of rows: a change in the last row of a strip or of the image is found."""
    monkeypatch.setattr(contract, "_STRIP_BYTES", 40)
    original, result, mask = _pair((10, 12, 3))
    for y in (0, 1, 2, 9):
        changed = result.copy()
        changed[y, 11, 0] ^= 1
        assert contract.changed_outside(original, changed, mask)[0] == 1, y


# ---------------------------------------------------------------------------------------------------------
# inpaint fails closed


def _scene(rgb_photo):
    image = rgb_photo[:96, :128].copy()
    mask = np.zeros(image.shape[:2], bool)
    mask[30:60, 40:90] = True
    return image, mask


def _sabotaged_composite(monkeypatch, where=(0, 0)):
    real = blend.composite

    def composite(*args, **kwargs):
        out = real(*args, **kwargs).copy()
        out[where] = (out[where].astype(np.int32) + 1) % 256  # one pixel outside any mask
        return out

    monkeypatch.setattr(blend, "composite", composite)


@pytest.mark.parametrize("kind", ["rgb", "rgba16"])
def test_inpaint_fails_closed_when_the_composite_changes_an_outside_pixel(rgb_photo, monkeypatch, kind):
    image, mask = _scene(rgb_photo)
    if kind == "rgba16":
        image = np.dstack([image, np.full(image.shape[:2], 200, np.uint8)]).astype(np.uint16) * 257 + 3
    _sabotaged_composite(monkeypatch)
    with pytest.raises(ContractViolation, match="outside the mask"):
        inpaint(image, mask, engine="telea")


def test_cli_fails_closed_exit_1_and_writes_nothing(rgb_photo, tmp_path, monkeypatch, run_cli):
    image, mask = _scene(rgb_photo)
    io.save_png(tmp_path / "in.png", image)
    io.save_png(tmp_path / "m.png", mask.astype(np.uint8) * 255)
    _sabotaged_composite(monkeypatch, where=(95, 127))
    run = run_cli(["inpaint", "--image", tmp_path / "in.png", "--mask", tmp_path / "m.png",
                   "--out", tmp_path / "out.png", "--engine", "telea"])
    assert run.code == 1 and len(run.err_lines) == 1 and "ContractViolation" in run.err, run.err
    assert run.out == "" and not (tmp_path / "out.png").exists()


def test_cli_blend_fails_closed_too(rgb_photo, tmp_path, monkeypatch, run_cli):
    image, mask = _scene(rgb_photo)
    io.save_png(tmp_path / "in.png", image)
    io.save_png(tmp_path / "gen.png", 255 - image)
    io.save_png(tmp_path / "m.png", mask.astype(np.uint8) * 255)
    _sabotaged_composite(monkeypatch, where=(95, 0))
    run = run_cli(["blend", "--original", tmp_path / "in.png", "--generated", tmp_path / "gen.png",
                   "--mask", tmp_path / "m.png", "--out", tmp_path / "out.png"])
    assert run.code == 1 and len(run.err_lines) == 1 and "ContractViolation" in run.err, run.err
    assert not (tmp_path / "out.png").exists()


def test_every_result_is_verified_before_it_is_returned(rgb_photo, spy_on):
    image, mask = _scene(rgb_photo)
    spy = spy_on(contract, "verify_outside")
    result = inpaint(image, mask, engine="telea")
    # each composite checks its own outside; then the entry point checks the 8-bit working result, then the
    # result at the input's format
    assert spy.count == 3
    (working_in, working_out, m1), _ = spy.calls[-2]
    (native_in, native_out, m2), _ = spy.calls[-1]
    assert np.array_equal(m1, mask) and np.array_equal(m2, mask)
    assert native_in is not native_out and np.array_equal(native_out, result.image)


def test_a_real_photo_with_its_real_mask(shared_images):
    picture = io.read(shared_images / "bench_dog.png")
    mask = io.read(shared_images / "bench_dog_mask.png").pixels >= 128
    result = inpaint(picture.pixels, mask, engine="telea")
    assert result.report["outside_changed"] == 0
    assert np.array_equal(result.image[~mask], picture.pixels[~mask])
    assert not np.array_equal(result.image[mask], picture.pixels[mask])


# ---------------------------------------------------------------------------------------------------------
# Growth: never implicit, always reported


def test_grow_defaults_to_0_in_the_python_api_and_the_cli():
    from pipelines import inpaint as inpaint_mod
    from pipelines.cli import build_parser

    assert inspect.signature(inpaint).parameters["grow"].default == 0
    assert inpaint_mod.DEFAULT_GROW == 0
    parser = build_parser()
    assert parser.parse_args(["inpaint", "--image", "a", "--mask", "b", "--out", "c.png"]).grow == 0
    assert parser.parse_args(["blend", "--original", "a", "--generated", "b", "--mask", "m", "--out", "c"]).grow == 0
    assert parser.parse_args(["segment", "--image", "a", "--out", "c.png"]).grow == "0"


def test_without_growth_the_given_mask_is_the_contract(rgb_photo):
    image, mask = _scene(rgb_photo)
    result = inpaint(image, mask, engine="telea")
    assert np.array_equal(result.mask, mask) and result.grow == 0
    assert result.summary()["growth"] == {"px": 0, "pixels": 0}
    assert result.report["outside_changed"] == 0 and "outside_changed_given" not in result.report
    assert np.array_equal(result.image[~mask], image[~mask])


def test_growth_is_reported(rgb_photo):
    image, mask = _scene(rgb_photo)
    result = inpaint(image, mask, engine="telea", grow=6)
    grown = result.mask
    assert np.array_equal(result.given_mask, mask) and (grown >= mask).all()
    growth = result.summary()["growth"]
    assert growth["px"] == 6 and growth["pixels"] == int(grown.sum() - mask.sum()) > 0
    report = result.report
    assert report["outside_changed"] == 0 and report["outside_max_diff"] == 0  # against the grown mask
    assert report["outside_changed_given"] > 0 and report["outside_max_diff_given"] > 0  # against the given one
    assert np.array_equal(result.image[~grown], image[~grown])


def test_cli_reports_growth(rgb_photo, tmp_path, run_cli):
    import json

    image, mask = _scene(rgb_photo)
    io.save_png(tmp_path / "in.png", image)
    io.save_png(tmp_path / "m.png", mask.astype(np.uint8) * 255)
    args = ["inpaint", "--image", tmp_path / "in.png", "--mask", tmp_path / "m.png", "--engine", "telea"]
    plain = run_cli(args + ["--out", tmp_path / "a.png"])
    grown = run_cli(args + ["--out", tmp_path / "b.png", "--grow", "6"])
    assert plain.code == 0 and grown.code == 0, plain.err + grown.err
    assert json.loads(plain.out)["growth"] == {"px": 0, "pixels": 0}
    printed = json.loads(grown.out)
    assert printed["growth"]["px"] == 6 and printed["growth"]["pixels"] > 0
    assert printed["report"]["outside_changed"] == 0 and printed["report"]["outside_changed_given"] > 0
    assert np.array_equal(io.read(tmp_path / "a.png").pixels[~mask], image[~mask])


# ---------------------------------------------------------------------------------------------------------
# Twenty successive edits


def _random_mask(rng, h, w) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    mask = np.zeros((h, w), bool)
    for _ in range(rng.integers(1, 3)):
        cy, cx = rng.integers(0, h), rng.integers(0, w)
        ry, rx = rng.integers(2, max(3, h // 6)), rng.integers(2, max(3, w // 6))
        if rng.random() < 0.5:
            mask |= ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
        else:
            mask[max(0, cy - ry):cy + ry, max(0, cx - rx):cx + rx] = True
    return mask


def _photo_rgba16(rgb_photo) -> np.ndarray:
    rgb = rgb_photo[:96, :120].astype(np.uint16) * 257
    rng = np.random.default_rng(5)
    rgb = rgb + rng.integers(0, 257, rgb.shape, dtype=np.uint16)  # the low byte matters
    yy, xx = np.mgrid[0:96, 0:120]
    alpha = (20000 + 300 * xx + 100 * yy).astype(np.uint16)
    return np.dstack([rgb, alpha])


@pytest.mark.parametrize("kind", ["rgb", "rgba16", "grey16"])
def test_twenty_successive_edits_leave_every_never_masked_pixel_untouched(rgb_photo, tmp_path, kind):
    if kind == "rgb":
        first = rgb_photo[:96, :120].copy()
    elif kind == "rgba16":
        first = _photo_rgba16(rgb_photo)
    else:
        first = _photo_rgba16(rgb_photo)[..., 1].copy()
    h, w = first.shape[:2]
    rng = np.random.default_rng(11)
    ever = np.zeros((h, w), bool)
    path = io.save_png(tmp_path / "edit0.png", first)
    for k in range(1, 21):
        current = io.read(path).pixels  # each edit's output file is the next edit's input
        mask = _random_mask(rng, h, w)
        result = inpaint(current, mask, engine="telea", radius=3).image
        assert result.dtype == first.dtype and result.shape == first.shape
        assert np.array_equal(result[~mask], current[~mask]), k
        ever |= mask
        path = io.save_png(tmp_path / f"edit{k}.png", result)
    final = io.read(path).pixels
    assert 0.05 < ever.mean() < 0.95
    assert np.array_equal(final[~ever], first[~ever])
    assert not np.array_equal(final[ever], first[ever])
