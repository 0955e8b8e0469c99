"""pipelines.segment.matting: trimaps, the closed-form matte on the band only, the fringe width and the auto growth.

Scenes are synthetic with a known alpha: a flat-coloured disc whose edge falls linearly from alpha 1 at radius R
to 0 at R + k px, composited over a smooth random texture; the binary mask is the disc's opaque core (d <= R),
as a tight segmentation gives it.
"""

from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np
import pymatting
import pytest

from pipelines.segment import matting
from pipelines.errors import UserError


FG = np.array([230.0, 200.0, 60.0], np.float32)


def scene(k: float, n: int = 128, radius: float = 30, seed: int = 0, cell: int = 0):
    """(image HWC uint8 RGB, mask HW bool, true alpha HW float32) of a disc with a k px linear soft edge."""
    rng = np.random.default_rng(seed)
    if cell:  # coarse random values upsampled: cheap texture for big images
        small = rng.integers(40, 160, (n // cell + 1, n // cell + 1, 3), dtype=np.uint8)
        bg = cv2.resize(small, (n, n), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    else:
        bg = cv2.GaussianBlur(rng.random((n, n, 3)).astype(np.float32), (0, 0), 2)
        bg = 40 + 120 * (bg - bg.min()) / (bg.max() - bg.min())
    yy, xx = np.ogrid[:n, :n]
    d = np.sqrt((yy - n / 2 + 0.5) ** 2 + (xx - n / 2 + 0.5) ** 2)
    alpha = (d <= radius).astype(np.float32) if k == 0 else np.clip(1 - (d - radius) / k, 0, 1).astype(np.float32)
    image = np.rint(alpha[..., None] * FG + (1 - alpha[..., None]) * bg).astype(np.uint8)
    return image, d <= radius, alpha


@pytest.fixture
def spy(monkeypatch):
    """Records the shape of every image pymatting.estimate_alpha_cf is given."""
    calls = []
    real = pymatting.estimate_alpha_cf

    def estimate_alpha_cf(image, trimap, *args, **kwargs):
        assert image.dtype == np.float64 and 0 <= image.min() and image.max() <= 1
        calls.append(image.shape)
        return real(image, trimap, *args, **kwargs)

    monkeypatch.setattr(pymatting, "estimate_alpha_cf", estimate_alpha_cf)
    return calls


# ----------------------------------------------------------------------------------------------------------
# trimap


def test_trimap_band_around_the_edge():
    _, mask, _ = scene(0)
    t = matting.trimap(mask, unknown=5)
    assert t.dtype == np.uint8 and t.shape == mask.shape
    assert set(np.unique(t)) == {0, 128, 255}
    sd = cv2.distanceTransform((~mask).view(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    inside = cv2.distanceTransform(mask.view(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    assert (t[(~mask) & (sd <= 5)] == 128).all() and (t[(~mask) & (sd > 5)] == 0).all()
    assert (t[mask & (inside <= 5)] == 128).all() and (t[mask & (inside > 5)] == 255).all()
    assert not (matting.trimap(mask, unknown=0) == 128).any()


def test_trimap_default_width_follows_object_size_within_bounds():
    lo, hi = matting.UNKNOWN_DEFAULT_RANGE
    assert matting.default_unknown(10) == lo and matting.default_unknown(10**8) == hi
    _, mask, _ = scene(0)
    t = matting.trimap(mask)
    assert (t == 128).sum() == (matting.trimap(mask, unknown=matting.default_unknown(int(mask.sum()))) == 128).sum()


def test_trimap_thin_object_keeps_foreground_and_full_mask_has_no_band():
    mask = np.zeros((40, 40), bool)
    mask[10:30, 18:22] = True  # 4 px wide
    t = matting.trimap(mask, unknown=8)
    assert (t == 255).any() and (t[~mask] != 255).all()
    assert (matting.trimap(np.ones((8, 8), bool)) == 255).all()


def test_trimap_probabilities_add_uncertain_pixels_near_the_edge():
    _, mask, _ = scene(0)
    p = mask.astype(np.float32)
    p[10:14, 60:70] = 0.5  # uncertain, 6+ px outside the disc's top edge (y = 34)
    p[0:3, 0:3] = 0.5  # uncertain but far from the edge: ignored
    base = matting.trimap(mask, unknown=3)
    t = matting.trimap(mask, unknown=3, probabilities=p)
    assert (t[10:14, 60:70] == 128).all() and (base[10:14, 60:70] == 0).all()
    assert (t[0:3, 0:3] == 0).all()
    assert ((t == 128) >= (base == 128)).all()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"unknown": -1}, "unknown must be"),
        ({"unknown": 2.5}, "unknown must be"),
        ({"unknown": matting.UNKNOWN_MAX + 1}, "unknown must be"),
        ({"probabilities": np.zeros((3, 3))}, "shape"),
        ({"probabilities": np.full((16, 16), 2.0)}, "sigmoid"),
        ({"probabilities": np.full((16, 16), np.nan)}, "NaN"),
    ],
)
def test_trimap_bad_input(kwargs, message):
    mask = np.zeros((16, 16), bool)
    mask[4:12, 4:12] = True
    with pytest.raises(UserError, match=message):
        matting.trimap(mask, **kwargs)


def test_trimap_empty_mask():
    with pytest.raises(UserError, match="empty"):
        matting.trimap(np.zeros((8, 8), bool))


# ----------------------------------------------------------------------------------------------------------
# alpha_matte and fringe_width


@pytest.mark.parametrize("k", [0, 3, 8])
def test_matte_and_fringe_recover_a_known_soft_edge(k):
    image, mask, truth = scene(k)
    before = image.copy(), mask.copy()
    tri = matting.trimap(mask, unknown=12)
    alpha = matting.alpha_matte(image, tri)
    assert alpha.dtype == np.float32 and alpha.shape == mask.shape
    assert 0 <= alpha.min() and alpha.max() <= 1
    assert (alpha[tri == 255] == 1).all() and (alpha[tri == 0] == 0).all()
    band = tri == 128
    assert np.abs(alpha - truth)[band].mean() < 0.03
    fringe = matting.fringe_width(mask, alpha)
    assert fringe == pytest.approx(k, abs=1.0)
    assert fringe == pytest.approx(matting.fringe_width(mask, truth), abs=0.6)
    assert np.array_equal(image, before[0]) and np.array_equal(mask, before[1])


def test_fringe_width_hard_edge_is_zero():
    _, mask, truth = scene(0)
    assert matting.fringe_width(mask, truth) == 0.0
    assert matting.fringe_width(mask, np.zeros(mask.shape, np.float32)) == 0.0
    # scattered specks of matting noise are not an edge
    rng = np.random.default_rng(1)
    noise = np.where(mask, 1.0, rng.random(mask.shape) * 0.12).astype(np.float32)
    assert matting.fringe_width(mask, noise) == 0.0


def test_fringe_width_counts_a_soft_edge_on_part_of_the_outline():
    _, mask, soft = scene(6)
    _, _, hard = scene(0)
    alpha = hard.copy()
    alpha[:, 64:] = soft[:, 64:]  # soft on the right half of the outline only
    assert matting.fringe_width(mask, alpha) == pytest.approx(6, abs=1.0)


def test_fringe_width_bad_alpha():
    _, mask, _ = scene(0)
    with pytest.raises(UserError, match="alpha"):
        matting.fringe_width(mask, np.zeros((3, 3)))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"method": "knn"}, "unknown matting method"),
        ({"trimap": np.full((128, 128), 7, np.uint8)}, "only 0, 128 and 255"),
        ({"trimap": np.zeros((64, 128), np.uint8)}, "the trimap is 128x64"),
        ({"trimap": np.zeros((128, 128), np.float32)}, "HW uint8"),
        ({"image": np.zeros((128, 128, 3), np.float32)}, "uint8"),
    ],
)
def test_alpha_matte_bad_input(kwargs, message):
    image, mask, _ = scene(0)
    args = {"image": image, "trimap": matting.trimap(mask), **kwargs}
    method = args.pop("method", "cf")
    with pytest.raises(UserError, match=message):
        matting.alpha_matte(args["image"], args["trimap"], method=method)


def test_alpha_matte_without_unknown_pixels_is_the_trimap(spy):
    image, mask, _ = scene(0)
    tri = matting.trimap(mask, unknown=0)
    assert np.array_equal(matting.alpha_matte(image, tri), (tri == 255).astype(np.float32))
    assert spy == []


def test_large_photo_only_the_band_is_matted(spy):
    image, mask, truth = scene(3, n=3000, radius=150, cell=16)
    tri = matting.trimap(mask)
    alpha = matting.alpha_matte(image, tri)
    assert alpha.shape == (3000, 3000) and alpha.dtype == np.float32
    side = matting.TILE + 2 * matting.MATTE_MARGIN
    assert spy and all(h <= side and w <= side for h, w, _ in spy)
    box = 2 * (150 + matting.default_unknown(int(mask.sum())) + matting.MATTE_MARGIN) + 2
    assert sum(h * w for h, w, _ in spy) < 1.6 * box * box  # the band's box (tiles overlap), not 9 MP
    assert np.abs(alpha - truth)[tri == 128].mean() < 0.03


def test_tiles_without_both_sides_widen_then_take_the_side_that_is_there(spy):
    """A band wider than a tile's reach (e.g. a segmenter unsure over a wide area): the closed-form matte needs
    foreground and background in its window, so the window widens (up to KNOWN_REACH) and a tile still one-sided
    takes that side's alpha (0.5 with neither) instead of failing."""
    h, w = 64, 1000
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    tri = np.full((h, w), 128, np.uint8)
    tri[:, :100] = 255
    tri[:, 900:] = 0
    alpha = matting.alpha_matte(image, tri)
    assert alpha.dtype == np.float32 and 0 <= alpha.min() and alpha.max() <= 1
    # the crop is the band's box + MATTE_MARGIN: x 84..916, tiles 84-340, 340-596, 596-852, 852-916
    assert np.all(alpha[:, 100:340] == 1.0)  # foreground only within reach
    assert np.all(alpha[:, 340:596] == 0.5)  # no known pixel within reach
    assert np.all(alpha[:, 596:900] == 0.0)  # background only within reach
    assert spy == []  # nothing was solvable
    tri[:] = 128
    tri[:, :100] = 255
    tri[:, 380:] = 0  # crop 84..396: tile 84-340 reaches the background once widened by 64 px
    alpha = matting.alpha_matte(image, tri)
    assert len(spy) == 1 and spy[0][1] == 396 - 84 > matting.TILE + 2 * matting.MATTE_MARGIN
    assert 0 < alpha[:, 100:340].mean() < 1 and np.all(alpha[:, 340:380] == 0.0)


def test_too_many_tiles_downscale_the_crop(spy, monkeypatch):
    monkeypatch.setattr(matting, "MAX_TILES", 1)
    image, mask, truth = scene(4, n=600, radius=200, cell=16)
    growth = matting.auto_growth(image, mask, feather=0, unknown=10)
    assert len(spy) == 1 and max(spy[0][:2]) <= matting.TILE + 2 * matting.MATTE_MARGIN
    assert "resolution" in growth.note
    alpha = matting.alpha_matte(image, matting.trimap(mask, unknown=10))
    assert alpha.shape == mask.shape
    assert np.abs(alpha - truth)[matting.trimap(mask, unknown=10) == 128].mean() < 0.06
    assert growth.fringe == pytest.approx(4, abs=1.5)


# ----------------------------------------------------------------------------------------------------------
# auto_growth


@pytest.mark.parametrize("feather", [0.0, 4.0, 8.0])
def test_auto_growth_is_fringe_plus_feather(feather, capsys):
    image, mask, _ = scene(3)
    g = matting.auto_growth(image, mask, feather=feather)
    assert isinstance(g.px, int) and g.px == math.ceil(g.fringe + feather)
    assert g.fringe == pytest.approx(3, abs=1.0) and g.feather == feather
    assert f"grow {g.px} px" in g.note
    assert capsys.readouterr().out == ""  # nothing on stdout (the CLI writes JSON there)
    with pytest.raises(dataclasses.FrozenInstanceError):
        g.px = 0


def test_auto_growth_hard_edge_is_the_feather():
    image, mask, _ = scene(0)
    g = matting.auto_growth(image, mask, feather=4)
    assert g.fringe < 0.5 and g.px == 4


def test_auto_growth_with_probabilities_and_cap(monkeypatch):
    image, mask, truth = scene(3)
    p = np.clip(truth, 0, 1)  # a segmenter unsure over the soft edge
    g = matting.auto_growth(image, mask, feather=4, probabilities=p)
    assert g.fringe == pytest.approx(3, abs=1.0)
    monkeypatch.setattr(matting, "MAX_GROWTH_PX", 5)
    g = matting.auto_growth(image, mask, feather=4)
    assert g.px == 5 and "capped" in g.note


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"feather": -1}, "feather"),
        ({"feather": float("nan")}, "feather"),
        ({"feather": "wide"}, "feather"),
        ({"feather": 4, "mask": np.ones((5, 5), bool)}, "the mask is 5x5"),
    ],
)
def test_auto_growth_bad_input(kwargs, message):
    image, mask, _ = scene(0)
    kwargs = {"mask": mask, **kwargs}
    with pytest.raises(UserError, match=message):
        matting.auto_growth(image, kwargs.pop("mask"), **kwargs)
