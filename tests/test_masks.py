"""Tests for pipelines.masks: tiny arrays, exact expectations, property-based checks with hypothesis."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image
from scipy import ndimage

from pipelines import masks
from pipelines.masks import (
    bbox,
    band,
    context_box,
    drop_specks,
    fill_holes,
    grow,
    groups,
    invert,
    shrink,
    signed_distance,
    to_mask,
)

FAST = settings(max_examples=40, deadline=None)

H, W = 6, 8
REGION = np.zeros((H, W), dtype=bool)
REGION[1:4, 2:5] = True  # the painted region used by most to_mask tests


def disc(radius: int) -> np.ndarray:
    """The digital disc {dx^2 + dy^2 <= r^2} as a (2r+1)^2 bool array (brute force, the reference)."""
    y, x = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return x * x + y * y <= radius * radius


def paint(value, background, region=REGION, channels=None) -> np.ndarray:
    """An array with ``value`` where region is True and ``background`` elsewhere."""
    shape = region.shape if channels is None else region.shape + (channels,)
    out = np.empty(shape, dtype=np.asarray(value).dtype)
    out[...] = background
    out[region] = value
    return out


small_masks = arrays(bool, st.tuples(st.integers(1, 14), st.integers(1, 14)))


# ----------------------------------------------------------------------------------------------------------
# to_mask: every input kind


def test_constants():
    assert masks.THRESHOLD_8BIT == 128
    assert masks.THRESHOLD_FLOAT == 0.5


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: Image.fromarray(REGION), id="PIL-1"),
        pytest.param(lambda: Image.fromarray(paint(np.uint8(255), 0)), id="PIL-L"),
        pytest.param(lambda: Image.fromarray(paint(np.uint8(200), 30, channels=3)), id="PIL-RGB"),
        # alpha decides, not colour: black paint on a transparent white canvas
        pytest.param(lambda: Image.fromarray(paint(np.uint8([0, 0, 0, 255]), [255, 255, 255, 0], channels=4)),
                     id="PIL-RGBA-alpha"),
        pytest.param(lambda: Image.fromarray(paint(np.uint8([0, 255]), [255, 0], channels=2), mode="LA"),
                     id="PIL-LA-alpha"),
        # fully opaque: luminance decides
        pytest.param(lambda: Image.fromarray(paint(np.uint8([255, 255, 255, 255]), [0, 0, 0, 255], channels=4)),
                     id="PIL-RGBA-opaque"),
        pytest.param(lambda: Image.fromarray(paint(np.uint8([255, 255]), [0, 255], channels=2), mode="LA"),
                     id="PIL-LA-opaque"),
        pytest.param(lambda: Image.fromarray(paint(np.uint16(65535), 0)), id="PIL-I;16"),
        pytest.param(lambda: Image.fromarray(paint(np.int32(40000), 100)), id="PIL-I"),
        pytest.param(lambda: Image.fromarray(paint(np.float32(0.75), 0.25)), id="PIL-F"),
        pytest.param(lambda: REGION.copy(), id="np-bool"),
        pytest.param(lambda: paint(np.uint8(255), 0), id="np-uint8"),
        pytest.param(lambda: paint(np.uint8(255), 0)[..., None], id="np-uint8-HW1"),
        pytest.param(lambda: paint(np.uint8([250, 250, 250]), [3, 3, 3], channels=3), id="np-RGB"),
        pytest.param(lambda: paint(np.uint8([9, 9, 9, 255]), [250, 250, 250, 0], channels=4), id="np-RGBA"),
        pytest.param(lambda: paint(np.uint16(50000), 10), id="np-uint16"),
        pytest.param(lambda: paint(np.int64(2**62), 0), id="np-int64"),
        pytest.param(lambda: paint(np.float32(1.0), 0.0), id="np-float32"),
        pytest.param(lambda: paint(np.float64(0.9), 0.1), id="np-float64"),
        pytest.param(lambda: paint(np.float64([0.9, 0.9, 0.9]), [0.1, 0.1, 0.1], channels=3), id="np-float-RGB"),
    ],
)
def test_to_mask_accepts(make):
    value = make()
    result = to_mask(value)
    assert result.dtype == bool and result.shape == (H, W)
    np.testing.assert_array_equal(result, REGION)


def test_pil_rgb_uses_luminance_weights():
    # pure green has luma 150 (repaint), pure red 76 and pure blue 29 (keep): the channels are not averaged
    rgb = np.zeros((1, 3, 3), dtype=np.uint8)
    rgb[0, 0] = (255, 0, 0)
    rgb[0, 1] = (0, 255, 0)
    rgb[0, 2] = (0, 0, 255)
    expected = np.array([[False, True, False]])
    np.testing.assert_array_equal(to_mask(Image.fromarray(rgb)), expected)
    np.testing.assert_array_equal(to_mask(rgb), expected)


def test_numpy_and_pil_rgb_agree_with_pil_luma():
    rgb = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    expected = np.asarray(Image.fromarray(rgb).convert("L")) >= 128
    np.testing.assert_array_equal(to_mask(rgb), expected)
    np.testing.assert_array_equal(to_mask(Image.fromarray(rgb)), expected)


def _palette_image(transparent: bool) -> Image.Image:
    image = Image.fromarray(REGION.astype(np.uint8), mode="P")  # index 1 in the region, 0 elsewhere
    # index 0: white, index 1: black; as L the region is black (keep) and the rest white (repaint)
    image.putpalette([255, 255, 255, 0, 0, 0] + [0] * 762)
    if transparent:
        image.info["transparency"] = 0  # the white background is transparent: the black region is the mask
    return image


def test_palette_without_transparency_uses_luminance():
    np.testing.assert_array_equal(to_mask(_palette_image(transparent=False)), ~REGION)


def test_palette_with_transparency_uses_alpha():
    np.testing.assert_array_equal(to_mask(_palette_image(transparent=True)), REGION)


def test_palette_with_transparency_from_png(tmp_path):
    path = tmp_path / "palette.png"
    _palette_image(transparent=True).save(path)
    with Image.open(path) as stored:
        assert stored.mode == "P"
    np.testing.assert_array_equal(to_mask(path), REGION)


@pytest.mark.parametrize("as_str", [False, True])
@pytest.mark.parametrize("mode", ["1", "L", "RGB", "RGBA", "LA", "I;16"])
def test_to_mask_reads_png_files(tmp_path, mode, as_str):
    base = Image.fromarray(paint(np.uint8(255), 0))
    image = Image.fromarray(paint(np.uint16(65535), 0)) if mode == "I;16" else base.convert(mode)
    if mode in ("RGBA", "LA"):
        image.putalpha(Image.fromarray(paint(np.uint8(255), 0)))
    path = tmp_path / f"mask_{mode.replace(';', '')}.png"
    image.save(path)
    np.testing.assert_array_equal(to_mask(str(path) if as_str else path), REGION)


def test_file_exif_orientation_is_applied(tmp_path):
    stored = np.zeros((2, 4), dtype=np.uint8)
    stored[0, 0] = 255  # top-left as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation 6: display rotated 90 degrees clockwise
    path = tmp_path / "rotated.png"
    Image.fromarray(stored).save(path, exif=exif)
    result = to_mask(path)
    assert result.shape == (4, 2)
    np.testing.assert_array_equal(result, np.rot90(stored, k=-1) >= 128)
    assert result[0, 1]  # the stored top-left pixel is now top-right


def test_missing_file_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="no such image file"):
        to_mask(tmp_path / "missing.png")


# ----------------------------------------------------------------------------------------------------------
# to_mask: thresholds


@pytest.mark.parametrize(
    "dtype, below, at",
    [(np.uint8, 127, 128), (np.uint16, 32767, 32768), (np.int8, 63, 64), (np.float32, 0.49, 0.5),
     (np.float64, 0.49, 0.5), (np.float64, np.nextafter(0.5, 0), 0.5)],
)
def test_threshold_exact(dtype, below, at):
    values = np.array([[below, at]], dtype=dtype)
    np.testing.assert_array_equal(to_mask(values), [[False, True]])


def test_threshold_exact_8bit_images():
    np.testing.assert_array_equal(to_mask(Image.fromarray(np.uint8([[127, 128]]))), [[False, True]])
    grey = np.uint8([[[127] * 3, [128] * 3]])
    np.testing.assert_array_equal(to_mask(grey), [[False, True]])
    np.testing.assert_array_equal(to_mask(Image.fromarray(grey)), [[False, True]])
    np.testing.assert_array_equal(to_mask(np.float64([[[0.49] * 3, [0.5] * 3]])), [[False, True]])
    alpha = np.uint8([[[255, 255, 255, 127], [0, 0, 0, 128]]])  # the colour says the opposite
    np.testing.assert_array_equal(to_mask(alpha), [[False, True]])
    np.testing.assert_array_equal(to_mask(Image.fromarray(alpha)), [[False, True]])


def test_float_alpha_within_rounding_of_one_is_opaque():
    rgba = paint(np.float32([1, 1, 1, 0.9999]), [0, 0, 0, 0.9999], channels=4)
    np.testing.assert_array_equal(to_mask(rgba), REGION)  # luminance decides, not the near-1 alpha


def test_float_slightly_outside_unit_range_is_rounding():
    np.testing.assert_array_equal(to_mask(np.array([[-1e-7, 1 + 1e-7]])), [[False, True]])


@pytest.mark.parametrize(
    "value, match",
    [
        (np.array([[0.0, 255.0]]), r"float mask must lie in \[0, 1\]"),
        (np.array([[-0.5, 1.0]]), r"float mask must lie in \[0, 1\]"),
        (np.array([[np.nan, 1.0]]), "NaN"),
        (np.array([[-1, 5]], dtype=np.int16), "negative"),
        (np.zeros((2, 2, 5), dtype=np.uint8), "shape"),
        (np.zeros((2, 2, 2, 2), dtype=np.uint8), "shape"),
        (np.array([["a"]]), "dtype"),
        (Image.fromarray(np.int32([[0, 70000]])), "16-bit"),
    ],
)
def test_bad_values_are_refused(value, match):
    with pytest.raises(ValueError, match=match):
        to_mask(value)


@pytest.mark.parametrize(
    "value, name",
    [([[0, 1]], "list"), (3, "int"), (None, "NoneType"), (b"mask.png", "bytes"), ({"a": 1}, "dict")],
)
def test_unsupported_types_name_the_type(value, name):
    with pytest.raises(ValueError) as info:
        to_mask(value)
    assert name in str(info.value) or (name == "dict" and "ImageEditor" in str(info.value))


# ----------------------------------------------------------------------------------------------------------
# to_mask: Gradio ImageEditor values


def _layer(region: np.ndarray, rgb=(255, 0, 0)) -> np.ndarray:
    layer = np.zeros(region.shape + (4,), dtype=np.uint8)
    layer[region] = (*rgb, 255)
    return layer


def _editor_value(tmp_path: Path | None = None) -> tuple[dict, np.ndarray]:
    first = np.zeros((H, W), dtype=bool)
    first[0:2, 0:2] = True
    second = np.zeros((H, W), dtype=bool)
    second[4:6, 5:8] = True
    white = np.full((H, W, 3), 255, dtype=np.uint8)  # background and composite would be "all repaint"
    second_layer = Image.fromarray(_layer(second, rgb=(0, 0, 0)))  # black paint: alpha decides
    if tmp_path is not None:
        second_layer.save(tmp_path / "layer.png")
        second_layer = str(tmp_path / "layer.png")
    value = {
        "background": Image.fromarray(white),
        "layers": [_layer(first), None, second_layer],
        "composite": white.copy(),
    }
    return value, first | second


def test_editor_value_is_the_union_of_layers():
    value, expected = _editor_value()
    np.testing.assert_array_equal(to_mask(value), expected)


def test_editor_value_with_file_path_layer(tmp_path):
    value, expected = _editor_value(tmp_path)
    np.testing.assert_array_equal(to_mask(value), expected)


def test_editor_layer_without_alpha_counts_by_luminance():
    layer = paint(np.uint8([255, 255, 255]), [0, 0, 0], channels=3)
    value = {"background": None, "layers": [layer], "composite": None}
    np.testing.assert_array_equal(to_mask(value), REGION)


def test_editor_without_paint_is_empty():
    white = np.full((H, W, 3), 255, dtype=np.uint8)
    value = {"background": white, "layers": [np.zeros((H, W, 4), dtype=np.uint8)], "composite": white}
    with pytest.raises(ValueError, match="the mask is empty"):
        to_mask(value)
    for layers in ([], None):
        value = {"background": white, "layers": layers, "composite": white}
        with pytest.raises(ValueError, match="the mask is empty"):
            to_mask(value)
        result = to_mask(value, allow_empty=True)
        assert result.shape == (H, W) and not result.any()


def test_editor_layer_alpha_decides_even_when_fully_opaque():
    # the user painted the whole layer black: alpha says "all repaint", luminance would say "nothing"
    layer = np.zeros((H, W, 4), dtype=np.uint8)
    layer[..., 3] = 255
    assert to_mask({"background": None, "layers": [layer], "composite": None}).all()
    # outside an editor value a fully opaque image counts by luminance
    assert not to_mask(layer, allow_empty=True).any()


def test_editor_layers_of_different_sizes_are_refused():
    value = {"background": None, "layers": [_layer(REGION), _layer(REGION[:, :5])], "composite": None}
    with pytest.raises(ValueError, match="different sizes"):
        to_mask(value)


def test_to_mask_never_modifies_its_input():
    value, _ = _editor_value()
    layers = [None if layer is None else layer.copy() for layer in value["layers"]]
    to_mask(value, size=(2 * W, 2 * H), resize=True)
    assert len(value["layers"]) == 3 and value["layers"][1] is None
    np.testing.assert_array_equal(value["layers"][0], layers[0])
    np.testing.assert_array_equal(value["composite"], 255)

    source = REGION.copy()
    source.flags.writeable = False
    result = to_mask(source)
    assert result is not source and not np.shares_memory(result, source)
    result[:] = False
    np.testing.assert_array_equal(source, REGION)


# ----------------------------------------------------------------------------------------------------------
# to_mask: size, resize, empty


def test_size_mismatch_names_both_sizes():
    mask = np.zeros((48, 64), dtype=bool)
    mask[10:20, 10:20] = True
    message = "the mask is 64x48 but the image is 80x60 (width x height); resize the mask or pass resize=True"
    with pytest.raises(ValueError) as info:
        to_mask(mask, size=(80, 60))
    assert str(info.value) == message
    np.testing.assert_array_equal(to_mask(mask, size=(64, 48)), mask)


def test_size_must_be_width_height():
    with pytest.raises(ValueError, match="width, height"):
        to_mask(REGION, size=(8,))
    with pytest.raises(ValueError, match="width"):
        to_mask(REGION, size=(0, 6))


def test_resize_scales_to_size():
    mask = np.zeros((10, 10), dtype=bool)
    mask[2:6, 4:8] = True
    up = to_mask(mask, size=(20, 30), resize=True)
    assert up.shape == (30, 20)
    assert bbox(up) == (8, 6, 16, 18)
    down = to_mask(up, size=(10, 10), resize=True)
    np.testing.assert_array_equal(down, mask)
    mixed = to_mask(mask, size=(5, 20), resize=True)  # narrower and taller at once
    assert mixed.shape == (20, 5) and bbox(mixed) == (2, 4, 4, 12)


def test_resize_is_not_blocky():
    small = np.tri(16, dtype=bool)  # a diagonal edge
    up = to_mask(small, size=(128, 128), resize=True)
    blocky = np.kron(small, np.ones((8, 8), dtype=bool))
    assert up.shape == blocky.shape
    widths = up.sum(axis=1)
    assert len(set(widths.tolist())) > 100  # a smooth staircase, not 16 steps of 8 px
    assert np.abs(up.astype(int) - blocky).sum() < blocky.size // 8


def test_resize_down_averages_areas():
    # in every 4x4 block, 9 of 16 pixels are set, none of them in the central 2x2 that a bilinear
    # sample would read: area averaging gives 9/16 >= 0.5 everywhere
    block = np.ones((4, 4), dtype=bool)
    block[1:3, 1:3] = False
    block[0, 0] = block[3, 3] = block[0, 3] = False
    assert block.sum() == 9
    tiled = np.tile(block, (5, 6))
    assert to_mask(tiled, size=(6, 5), resize=True).all()


def test_resize_uses_soft_values():
    # a uniform 128 stays repaint, a uniform 127 stays keep, whatever the scale
    assert to_mask(np.full((4, 4), 128, np.uint8), size=(7, 3), resize=True).all()
    assert not to_mask(np.full((4, 4), 127, np.uint8), size=(7, 3), resize=True, allow_empty=True).any()


def test_empty_mask():
    with pytest.raises(ValueError, match="^the mask is empty: paint the region to repaint$"):
        to_mask(np.zeros((3, 3), dtype=bool))
    result = to_mask(np.zeros((3, 3), dtype=np.uint8), allow_empty=True)
    assert result.dtype == bool and result.shape == (3, 3) and not result.any()


# ----------------------------------------------------------------------------------------------------------
# grow / shrink


def single(size: int = 15) -> np.ndarray:
    mask = np.zeros((size, size), dtype=bool)
    mask[size // 2, size // 2] = True
    return mask


@pytest.mark.parametrize("radius", [1, 2, 3, 5, 7])
def test_grow_single_pixel_is_the_digital_disc(radius):
    grown = grow(single(), radius)
    c = 15 // 2
    expected = np.zeros_like(grown)
    expected[c - radius : c + radius + 1, c - radius : c + radius + 1] = disc(radius)
    np.testing.assert_array_equal(grown, expected)
    np.testing.assert_array_equal(grown, grown[::-1])
    np.testing.assert_array_equal(grown, grown[:, ::-1])
    np.testing.assert_array_equal(grown, grown.T)


def test_grow_3_area():
    grown = grow(single(), 3)
    assert grown.sum() == 29  # integer points with x^2 + y^2 <= 9


@given(small_masks, st.integers(0, 6))
@FAST
def test_grow_equals_dilation_by_disc(mask, px):
    expected = ndimage.binary_dilation(mask, structure=disc(px)) if px else mask
    np.testing.assert_array_equal(grow(mask, px), expected)


@given(small_masks, st.integers(0, 6))
@FAST
def test_shrink_equals_erosion_by_disc_with_a_solid_border(mask, px):
    expected = ndimage.binary_erosion(mask, structure=disc(px), border_value=1) if px else mask
    np.testing.assert_array_equal(shrink(mask, px), expected)


def test_exact_float64_path_for_large_radii(monkeypatch):
    rng = np.random.default_rng(3)
    mask = ndimage.binary_dilation(rng.random((40, 40)) < 0.02, iterations=2)
    fast = [grow(mask, 9), shrink(mask, 2), groups(mask, 9)]
    monkeypatch.setattr(masks, "_CV2_EXACT_LIMIT", 0)
    slow = [grow(mask, 9), shrink(mask, 2), groups(mask, 9)]
    np.testing.assert_array_equal(fast[0], slow[0])
    np.testing.assert_array_equal(fast[1], slow[1])
    assert len(fast[2]) == len(slow[2])
    for a, b in zip(fast[2], slow[2]):
        np.testing.assert_array_equal(a, b)


def test_grow_and_shrink_zero_is_a_copy():
    mask = REGION.copy()
    for result in (grow(mask, 0), shrink(mask, 0)):
        np.testing.assert_array_equal(result, mask)
        assert not np.shares_memory(result, mask)


@pytest.mark.parametrize("fn", [grow, shrink])
@pytest.mark.parametrize("px", [-1, 1.5, "3", True])
def test_grow_and_shrink_refuse_bad_radii(fn, px):
    with pytest.raises(ValueError, match="px"):
        fn(REGION, px)


def test_shrink_keeps_border_touching_masks_at_the_border():
    mask = np.zeros((20, 30), dtype=bool)
    mask[:, :10] = True  # the left third, touching top, bottom and left borders
    result = shrink(mask, 3)
    expected = np.zeros_like(mask)
    expected[:, :7] = True
    np.testing.assert_array_equal(result, expected)
    corner = np.zeros((20, 30), dtype=bool)
    corner[:8, :8] = True
    shrunk = shrink(corner, 3)
    assert shrunk[0, 0] and bbox(shrunk) == (0, 0, 5, 5)
    assert shrink(np.ones((5, 5), dtype=bool), 2).all()


def test_shrink_removes_thin_parts():
    assert not shrink(single(), 1).any()
    line = np.zeros((9, 9), dtype=bool)
    line[4, 1:8] = True
    assert not shrink(line, 1).any()


# ----------------------------------------------------------------------------------------------------------
# fill_holes, drop_specks, invert, bbox


def test_fill_holes_fills_enclosed_holes_only():
    ring = grow(single(), 5) & ~grow(single(), 2)
    np.testing.assert_array_equal(fill_holes(ring), grow(single(), 5))
    cup = np.zeros((8, 8), dtype=bool)
    cup[3:, 2:7] = True
    cup[5:, 4] = False  # a notch open to the bottom border: not a hole
    np.testing.assert_array_equal(fill_holes(cup), cup)


@given(small_masks)
@FAST
def test_fill_holes_matches_scipy(mask):
    np.testing.assert_array_equal(fill_holes(mask), ndimage.binary_fill_holes(mask))


def test_drop_specks():
    mask = np.zeros((12, 12), dtype=bool)
    mask[0, 0] = True  # area 1
    mask[3:5, 3:5] = True  # area 4
    mask[8:11, 8:11] = True  # area 9
    mask[0, 10] = mask[1, 11] = True  # diagonal neighbours: one 8-connected component of area 2
    kept = drop_specks(mask, 4)
    expected = mask.copy()
    expected[0, 0] = expected[0, 10] = expected[1, 11] = False
    np.testing.assert_array_equal(kept, expected)
    assert drop_specks(mask, 2)[1, 11] and not drop_specks(mask, 2)[0, 0]
    np.testing.assert_array_equal(drop_specks(mask, 0), mask)
    assert not drop_specks(mask, 10).any()
    with pytest.raises(ValueError, match="min_area"):
        drop_specks(mask, -1)


def test_invert():
    np.testing.assert_array_equal(invert(REGION), ~REGION)
    np.testing.assert_array_equal(invert(REGION.astype(np.uint8)), ~REGION)


def test_bbox():
    assert bbox(REGION) == (2, 1, 5, 4)
    result = bbox(single(5))
    assert result == (2, 2, 3, 3) and all(type(v) is int for v in result)
    with pytest.raises(ValueError, match="^the mask is empty: "):
        bbox(np.zeros((3, 3), dtype=bool))


# ----------------------------------------------------------------------------------------------------------
# groups


def squares(*lefts: int, width: int = 3, shape=(10, 80)) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    for left in lefts:
        mask[3 : 3 + width, left : left + width] = True
    return mask


@pytest.mark.parametrize("gap", [2, 5, 16])
def test_groups_merge_iff_fewer_than_gap_pixels_between(gap):
    # 3x3 squares at x 0-2 and x (3 + between) onwards: `between` empty columns separate them
    merged = squares(0, 3 + gap - 1)
    apart = squares(0, 3 + gap)
    assert len(groups(merged, gap)) == 1
    assert len(groups(apart, gap)) == 2


def test_groups_use_euclidean_distance():
    mask = np.zeros((20, 20), dtype=bool)
    mask[0, 0] = mask[3, 4] = True  # distance 5
    assert len(groups(mask, 5)) == 1
    assert len(groups(mask, 4)) == 2


def test_groups_merge_near_and_keep_far_apart():
    mask = np.zeros((60, 200), dtype=bool)
    mask[10:20, 10:20] = True  # area 100
    mask[10:14, 30:34] = True  # area 16, 10 empty columns from the first
    mask[40:50, 150:170] = True  # area 200, far away
    mask[45, 120] = True  # area 1, 29 empty columns from the big one
    found = groups(mask, 16)
    assert [int(g.sum()) for g in found] == [200, 116, 1]
    assert found[1][15, 15] and found[1][12, 32]
    found = groups(mask, 30)
    assert [int(g.sum()) for g in found] == [201, 116]
    assert len(groups(mask, 1)) == 4
    ties = np.zeros((10, 10), dtype=bool)
    ties[3, 1] = ties[2, 8] = ties[2, 4] = True  # equal areas: top first, then left
    assert [bbox(g) for g in groups(ties, 2)] == [(4, 2, 5, 3), (8, 2, 9, 3), (1, 3, 2, 4)]
    assert len(groups(mask, 500)) == 1
    assert groups(np.zeros((4, 4), dtype=bool)) == []


def test_groups_ignore_a_far_component_whose_bbox_overlaps():
    mask = np.zeros((60, 60), dtype=bool)
    mask[0, 50] = True  # a speck
    mask[3:60, 0] = True  # an L far from the speck, though its bounding box covers it
    mask[59, :] = True
    # every flip and transpose, so that each labelling order of the two components is exercised
    for variant in (mask, mask[::-1], mask[:, ::-1], mask[::-1, ::-1]):
        for m in (variant, variant.T):
            assert len(groups(m, 3)) == 2
            assert len(groups(m, 50)) == 2
            assert len(groups(m, 51)) == 1  # the L's nearest pixel is 3 rows, 50 columns away: 50.09 px


def brute_groups(mask: np.ndarray, gap: int) -> set[frozenset]:
    labels, count = ndimage.label(mask, structure=np.ones((3, 3)))
    points = [np.argwhere(labels == i + 1) for i in range(count)]
    parent = list(range(count))

    def root(i):
        while parent[i] != i:
            i = parent[i]
        return i

    for i in range(count):
        for j in range(i + 1, count):
            d2 = ((points[i][:, None, :] - points[j][None, :, :]) ** 2).sum(-1).min()
            if d2 <= gap * gap:
                parent[root(j)] = root(i)
    out = {}
    for i in range(count):
        out.setdefault(root(i), set()).update(map(tuple, points[i]))
    return {frozenset(v) for v in out.values()}


@given(arrays(bool, st.tuples(st.integers(1, 16), st.integers(1, 16)), elements=st.booleans()),
       st.integers(0, 6))
@FAST
def test_groups_match_brute_force(mask, gap):
    found = groups(mask, gap)
    union = np.zeros_like(mask)
    for g in found:
        assert g.shape == mask.shape and g.dtype == bool and g.any()
        assert not (union & g).any()  # disjoint
        union |= g
    np.testing.assert_array_equal(union, mask)
    areas = [int(g.sum()) for g in found]
    assert areas == sorted(areas, reverse=True)
    assert {frozenset(map(tuple, np.argwhere(g))) for g in found} == brute_groups(mask, gap)


# ----------------------------------------------------------------------------------------------------------
# context_box


@st.composite
def box_cases(draw):
    width, height = draw(st.integers(1, 300)), draw(st.integers(1, 300))
    x0, y0 = draw(st.integers(0, width - 1)), draw(st.integers(0, height - 1))
    x1, y1 = draw(st.integers(x0 + 1, width)), draw(st.integers(y0 + 1, height))
    options = dict(
        margin=draw(st.integers(0, 40)),
        aspect=draw(st.sampled_from([1.0, 0.5, 0.75, 4 / 3, 16 / 9, 3.0])),
        multiple=draw(st.sampled_from([1, 8, 64])),
        min_size=draw(st.integers(0, 200)),
    )
    return (x0, y0, x1, y1), (width, height), options


def unconstrained_size(box, options) -> tuple[int, int]:
    """The box size in an image large enough that nothing is cut."""
    x0, y0, x1, y1 = box
    big = 10_000
    bx0, by0, bx1, by1 = context_box((x0 + big // 2, y0 + big // 2, x1 + big // 2, y1 + big // 2),
                                     (2 * big, 2 * big), **options)
    return bx1 - bx0, by1 - by0


@given(box_cases())
@settings(max_examples=150, deadline=None)
def test_context_box_properties(case):
    box, (width, height), options = case
    x0, y0, x1, y1 = box
    cx0, cy0, cx1, cy1 = result = context_box(box, (width, height), **options)
    assert all(type(v) is int for v in result)
    assert 0 <= cx0 < cx1 <= width and 0 <= cy0 < cy1 <= height  # inside the image
    assert cx0 <= x0 and cy0 <= y0 and cx1 >= x1 and cy1 >= y1  # contains the box
    w, h = cx1 - cx0, cy1 - cy0
    free_w, free_h = unconstrained_size(box, options)
    m, aspect = options["multiple"], options["aspect"]
    assert free_w % m == 0 and free_h % m == 0
    assert free_w >= max(x1 - x0 + 2 * options["margin"], options["min_size"])
    assert free_h >= max(y1 - y0 + 2 * options["margin"], options["min_size"])
    assert abs(free_w - aspect * free_h) <= m * max(aspect, 1) + 1  # the aspect, within one multiple
    # shifted, not cut: a dimension that fits keeps its full size; only one that does not fit is cut
    assert w == (free_w if free_w <= width else width)
    assert h == (free_h if free_h <= height else height)
    if w < width:
        assert w % m == 0


def test_context_box_is_shifted_at_borders_not_cut():
    assert context_box((0, 0, 4, 4), (100, 100), margin=8) == (0, 0, 24, 24)
    # 4x10 + 2*8 = 20x26 -> square 26x26 -> 32x32, pushed back inside at the bottom-right corner
    assert context_box((96, 90, 100, 100), (100, 100), margin=8) == (68, 68, 100, 100)
    assert context_box((40, 40, 44, 44), (100, 100), margin=8) == (30, 30, 54, 54)  # centred


def test_context_box_aspect_multiple_and_cut():
    # 10x20 box + 2*5 margin = 20x30; aspect 2 -> 60x30; multiple 8 -> 64x32
    assert context_box((50, 50, 60, 70), (400, 300), margin=5, aspect=2.0) == (23, 44, 87, 76)
    # min_size 512 in a 300x200 image: both dimensions cut to the image
    assert context_box((10, 10, 20, 20), (300, 200), min_size=512) == (0, 0, 300, 200)
    # only the height is cut: the width keeps its multiple of 8 and is shifted inside
    assert context_box((0, 0, 10, 10), (1000, 100), min_size=200) == (0, 0, 200, 100)


def test_context_box_accepts_a_mask():
    mask = np.zeros((100, 120), dtype=bool)
    mask[30:40, 50:60] = True
    assert context_box(mask, (120, 100), margin=4) == context_box((50, 30, 60, 40), (120, 100), margin=4)
    with pytest.raises(ValueError, match="the mask is 120x100 but the image is 100x120"):
        context_box(mask, (100, 120))


@pytest.mark.parametrize(
    "box, kwargs, match",
    [
        ((0, 0, 0, 5), {}, "empty or not inside"),
        ((0, 0, 200, 5), {}, "empty or not inside"),
        ((-1, 0, 5, 5), {}, "empty or not inside"),
        ((0.5, 0, 5, 5), {}, "integers"),
        ((0, 0, 5), {}, "XYXY"),
        ((0, 0, 5, 5), {"aspect": 0}, "aspect"),
        ((0, 0, 5, 5), {"aspect": float("nan")}, "aspect"),
        ((0, 0, 5, 5), {"multiple": 0}, "multiple"),
        ((0, 0, 5, 5), {"margin": -1}, "margin"),
        ((0, 0, 5, 5), {"min_size": 2.5}, "min_size"),
    ],
)
def test_context_box_refuses_bad_input(box, kwargs, match):
    with pytest.raises(ValueError, match=match):
        context_box(box, (100, 100), **kwargs)


def test_context_box_refuses_empty_mask():
    with pytest.raises(ValueError, match="the mask is empty"):
        context_box(np.zeros((10, 10), dtype=bool), (10, 10))


# ----------------------------------------------------------------------------------------------------------
# signed_distance, band


STRIPE = np.tile(np.arange(10) < 5, (3, 1))  # columns 0-4 inside, 5-9 outside


def test_signed_distance_conventions():
    sd = signed_distance(STRIPE)
    assert sd.dtype == np.float32 and sd.shape == STRIPE.shape
    np.testing.assert_array_equal(sd[1], [5, 4, 3, 2, 1, -1, -2, -3, -4, -5])  # the border is no edge
    assert (sd[STRIPE] >= 1).all() and (sd[~STRIPE] <= -1).all()
    sd = signed_distance(single(7))
    assert sd[3, 3] == 1
    assert sd[3, 4] == -1 and sd[4, 4] == np.float32(-math.sqrt(2)) and sd[3, 6] == -3


def test_signed_distance_uniform_masks():
    np.testing.assert_array_equal(signed_distance(np.ones((3, 5), dtype=bool)), np.full((3, 5), 8, np.float32))
    np.testing.assert_array_equal(signed_distance(np.zeros((3, 5), dtype=bool)), np.full((3, 5), -8, np.float32))


@given(small_masks)
@FAST
def test_signed_distance_matches_edt(mask):
    sd = signed_distance(mask)
    assert np.isfinite(sd).all() and (sd != 0).all()
    if mask.any() and not mask.all():
        expected = np.where(mask, ndimage.distance_transform_edt(mask), -ndimage.distance_transform_edt(~mask))
        np.testing.assert_allclose(sd, expected, rtol=1e-6)
        # growing by r takes exactly the outside pixels with sd >= -r
        np.testing.assert_array_equal(grow(mask, 2), sd >= -2)
        np.testing.assert_array_equal(shrink(mask, 2), sd > 2)


def test_band():
    result = band(STRIPE, 2, 3)
    expected = np.zeros_like(STRIPE)
    expected[:, 3:8] = True  # sd 2, 1 inside and -1, -2, -3 outside
    np.testing.assert_array_equal(result, expected)
    assert not band(STRIPE, 0, 0).any()
    np.testing.assert_array_equal(band(STRIPE, 100, 0), STRIPE)
    np.testing.assert_array_equal(band(STRIPE, 0, 100), ~STRIPE)
    np.testing.assert_array_equal(band(STRIPE, 0, math.inf), ~STRIPE)
    square = np.zeros((9, 9), dtype=bool)
    square[2:7, 2:7] = True
    np.testing.assert_array_equal(band(square, 1, 0), square & ~shrink(square, 1))  # the innermost ring
    np.testing.assert_array_equal(band(square, 0, 1), grow(square, 1) & ~square)  # the first ring outside
    ring = band(single(9), 1, math.sqrt(2))
    assert ring.sum() == 9  # the pixel and its 8 neighbours
    with pytest.raises(ValueError, match="inner"):
        band(STRIPE, -1, 2)
    with pytest.raises(ValueError, match="outer"):
        band(STRIPE, 1, float("nan"))


@given(arrays(bool, st.tuples(st.integers(1, 30), st.integers(1, 30))),
       st.floats(0, 8), st.sampled_from([0.0, 0.5, 1.0, math.sqrt(2), 2.0, 3.5, 7.0, 100.0]))
@FAST
def test_band_is_the_signed_distance_interval(mask, inner, outer):
    sd = signed_distance(mask)
    expected = (sd >= -np.float32(outer)) & (sd <= np.float32(inner))
    np.testing.assert_array_equal(band(mask, inner, outer), expected)


# ----------------------------------------------------------------------------------------------------------
# Shared behaviour of the array functions


ARRAY_FUNCTIONS = [
    pytest.param(lambda m: grow(m, 2), id="grow"),
    pytest.param(lambda m: shrink(m, 1), id="shrink"),
    pytest.param(fill_holes, id="fill_holes"),
    pytest.param(lambda m: drop_specks(m, 2), id="drop_specks"),
    pytest.param(invert, id="invert"),
    pytest.param(bbox, id="bbox"),
    pytest.param(groups, id="groups"),
    pytest.param(signed_distance, id="signed_distance"),
    pytest.param(lambda m: band(m, 2, 2), id="band"),
]


@pytest.mark.parametrize("fn", ARRAY_FUNCTIONS)
@pytest.mark.parametrize("shape", [(5,), (2, 3, 4), (0, 4)])
def test_array_functions_refuse_non_hw_input(fn, shape):
    with pytest.raises(ValueError, match="mask"):
        fn(np.zeros(shape, dtype=bool))


@pytest.mark.parametrize("fn", ARRAY_FUNCTIONS)
def test_array_functions_never_modify_input(fn):
    mask = np.zeros((12, 12), dtype=bool)
    mask[2:7, 3:9] = True
    mask[4, 5] = False
    mask[10, 10] = True
    frozen = mask.copy()
    frozen.flags.writeable = False  # any write into the input would raise
    result = fn(frozen)
    np.testing.assert_array_equal(frozen, mask)
    outputs = result if isinstance(result, list) else [result]
    for out in outputs:
        if isinstance(out, np.ndarray):
            assert not np.shares_memory(out, frozen)
            assert out.shape == mask.shape


@pytest.mark.parametrize("fn", ARRAY_FUNCTIONS)
def test_array_functions_accept_array_likes(fn):
    mask = np.zeros((6, 6), dtype=bool)
    mask[1:4, 1:4] = True
    expected = fn(mask)
    result = fn(mask.astype(np.uint8).tolist())
    if isinstance(expected, list):
        assert len(result) == len(expected)
        for a, b in zip(result, expected):
            np.testing.assert_array_equal(a, b)
    else:
        np.testing.assert_array_equal(result, expected)


def test_neighbourhoods_split_far_parts_and_keep_near_ones_together():
    mask = np.zeros((300, 400), bool)
    mask[10:20, 10:20] = True
    mask[10:20, 30:40] = True  # 10 px from the first: same group at margin 8
    mask[250:260, 350:360] = True  # far away: its own group
    regions = list(masks.neighbourhoods(mask, 8))
    assert len(regions) == 2
    covered = np.zeros_like(mask)
    for rows, cols, own in regions:
        part = mask[rows, cols] & own
        assert part.any() and own.shape == part.shape
        covered[rows, cols] |= part
    assert np.array_equal(covered, mask)
    boxes = sorted((r.start, r.stop, c.start, c.stop) for r, c, _ in regions)
    assert boxes == [(2, 28, 2, 48), (242, 268, 342, 368)]  # each group's box plus the margin
