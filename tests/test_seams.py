"""Seam metrics: each one moves the way its definition says."""

import numpy as np
import pytest
from skimage import data
from skimage.color import rgb2lab

from pipelines import blend, masks, seams


def _scene():
    img = data.chelsea()
    h, w = img.shape[:2]
    yy, xx = np.mgrid[:h, :w]
    mask = ((yy - h / 2) / 70) ** 2 + ((xx - w / 2) / 90) ** 2 < 1
    return img, mask


def test_identical_images_score_zero_and_pass():
    img, mask = _scene()
    rep = seams.seam_report(img, img.copy(), mask)
    assert rep["outside_changed"] == 0 and rep["outside_max_diff"] == 0
    assert rep["ring_delta_e"] == pytest.approx(0, abs=1e-9)
    assert rep["seam_excess"] == pytest.approx(0, abs=1e-9)
    assert rep["noref_ratio"] == pytest.approx(1.0)
    assert rep["passed"] and rep["failed"] == []


def test_outside_change_is_counted_exactly():
    img, mask = _scene()
    res = img.copy()
    ys, xs = np.nonzero(~mask)
    res[ys[0], xs[0], 1] ^= 9
    res[ys[-1], xs[-1], 2] ^= 1
    rep = seams.seam_report(img, res, mask)
    assert rep["outside_changed"] == pytest.approx(2 / (~mask).sum())
    assert rep["outside_max_diff"] == max(abs(int(img[ys[0], xs[0], 1]) - int(res[ys[0], xs[0], 1])), 1)
    assert "outside_changed" in rep["failed"]


def test_alpha_counts_as_outside_change():
    rgba = np.dstack([data.chelsea(), np.full(data.chelsea().shape[:2], 255, np.uint8)])
    _, mask = _scene()
    res = rgba.copy()
    res[0, 0, 3] = 0
    assert seams.seam_report(rgba, res, mask)["outside_max_diff"] == 255


def test_ring_delta_e_of_a_uniform_colour_step():
    flat = np.full((80, 80, 3), 120, np.uint8)
    mask = np.zeros((80, 80), bool)
    mask[20:60, 20:60] = True
    res = flat.copy()
    res[mask] = (150, 110, 100)
    expected = np.linalg.norm(rgb2lab(np.array([[[150, 110, 100]]]) / 255.0) - rgb2lab(np.array([[[120, 120, 120]]]) / 255.0))
    assert seams.seam_report(flat, res, mask)["ring_delta_e"] == pytest.approx(expected, rel=1e-6)


def test_seam_excess_sees_a_step_but_not_a_uniform_interior_change():
    img, mask = _scene()
    shifted = np.clip(img.astype(int) + 25, 0, 255).astype(np.uint8)
    hard = seams.seam_report(img, np.where(mask[..., None], shifted, img), mask)
    smooth = seams.seam_report(img, blend.composite(img, shifted, mask), mask)
    assert hard["seam_excess"] > 1.0
    assert smooth["seam_excess"] < 0.1


def test_noref_ratio_rises_with_an_edge_at_the_seam():
    img, mask = _scene()
    res = img.copy()
    edge = masks.band(mask, 1, 0)
    res[edge] = 255
    assert seams.seam_report(img, res, mask)["noref_ratio"] > 1.5


def test_ghost_is_one_for_the_object_and_zero_for_the_generated_fill():
    clean, mask = _scene()
    rng = np.random.default_rng(0)
    with_obj = clean.copy()
    with_obj[mask] = rng.integers(0, 256, (mask.sum(), 3))
    gen = clean
    assert seams.ghost_report(with_obj, gen, with_obj, mask)["ghost"] == pytest.approx(1.0)
    assert seams.ghost_report(gen, gen, with_obj, mask)["ghost"] == pytest.approx(0.0)
    half = ((with_obj.astype(float) + gen) / 2).round().astype(np.uint8)
    assert 0.4 < seams.ghost_report(half, gen, with_obj, mask)["ghost"] < 0.6


def test_size_mismatch_is_an_error():
    img, mask = _scene()
    with pytest.raises(ValueError, match="width x height"):
        seams.seam_report(img, img[:-1], mask)


def test_far_apart_regions_are_scored_together_without_one_huge_box():
    flat = np.full((1500, 2000, 3), 120, np.uint8)
    one = np.zeros((1500, 2000), bool)
    one[100:140, 100:150] = True
    two = one.copy()
    two[1300:1340, 1800:1850] = True
    res = flat.copy()
    res[two] = (150, 110, 100)
    single = seams.seam_report(flat, np.where(one[..., None], res, flat), one)
    both = seams.seam_report(flat, res, two)
    assert both["ring_delta_e"] == pytest.approx(single["ring_delta_e"], rel=1e-9)
    assert both["seam_excess"] == pytest.approx(single["seam_excess"], rel=1e-6)
    assert both["outside_changed"] == 0
