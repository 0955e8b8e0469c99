"""The compositing contract and the quality of the seamless blend."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skimage import data

from pipelines import blend, masks, poisson, seams

CONTRACT = sorted(blend.CONTRACT_SAFE)


def _image(rng, h, w, mode):
    if mode == "L":
        return rng.integers(0, 256, (h, w), dtype=np.uint8)
    return rng.integers(0, 256, (h, w, 3 if mode == "RGB" else 4), dtype=np.uint8)


@st.composite
def scenes(draw):
    h = draw(st.integers(1, 40))
    w = draw(st.integers(1, 40))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    mode = draw(st.sampled_from(["RGB", "RGBA", "L"]))
    gen_mode = draw(st.sampled_from(["RGB", "RGBA", "L"]))
    kind = draw(st.sampled_from(["random", "single", "full", "border", "rect"]))
    mask = np.zeros((h, w), bool)
    if kind == "random":
        mask = rng.random((h, w)) < draw(st.floats(0.05, 0.9))
    elif kind == "single":
        mask[rng.integers(h), rng.integers(w)] = True
    elif kind == "full":
        mask[:] = True
    elif kind == "border":
        mask[:, : max(1, w // 3)] = True
    else:
        y0, x0 = rng.integers(h), rng.integers(w)
        mask[y0 : y0 + rng.integers(1, h + 1), x0 : x0 + rng.integers(1, w + 1)] = True
    if not mask.any():
        mask[0, 0] = True
    return dict(
        original=_image(rng, h, w, mode),
        generated=_image(rng, h, w, gen_mode),
        mask=mask,
        method=draw(st.sampled_from(CONTRACT)),
        feather=draw(st.one_of(st.none(), st.floats(0, 12))),
        grow=draw(st.integers(0, 3)),
        crop=draw(st.booleans()),
        seed=seed,
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenes())
def test_outside_pixels_are_byte_identical(scene):
    original, mask = scene["original"], scene["mask"]
    before = (original.copy(), scene["generated"].copy(), mask.copy())
    grown = masks.grow(mask, scene["grow"])
    generated, box = scene["generated"], None
    if scene["crop"]:
        # a crop of another size covering the grown mask's box
        x0, y0, x1, y1 = masks.bbox(grown)
        rng = np.random.default_rng(scene["seed"])
        gw, gh = int(rng.integers(1, 50)), int(rng.integers(1, 50))
        generated = generated[:1, :1] if generated.ndim == 2 else generated[:1, :1, :]
        generated = np.ascontiguousarray(np.broadcast_to(generated, (gh, gw) + generated.shape[2:]))
        generated = (generated.astype(np.int32) + rng.integers(0, 200, generated.shape)).clip(0, 255).astype(np.uint8)
        box = (x0, y0, x1, y1)
    result = blend.composite(
        original, generated, mask, method=scene["method"], feather=scene["feather"], grow=scene["grow"], box=box
    )
    assert result.shape == original.shape and result.dtype == np.uint8
    np.testing.assert_array_equal(result[~grown], original[~grown])
    # inputs are never modified
    np.testing.assert_array_equal(before[0], original)
    np.testing.assert_array_equal(before[2], mask)
    if not scene["crop"]:
        np.testing.assert_array_equal(before[1], scene["generated"])


@pytest.fixture(scope="module")
def image_8k():
    rng = np.random.default_rng(0)
    tile = rng.integers(0, 256, (432, 768, 3), dtype=np.uint8)
    return np.ascontiguousarray(np.tile(tile, (10, 10, 1)))  # 7680x4320


@pytest.mark.parametrize("method", CONTRACT)
def test_contract_on_an_8k_image(method, image_8k):
    original = image_8k
    mask = np.zeros(original.shape[:2], bool)
    mask[100:180, 7600:] = True  # touches the right border
    mask[4000:4100, 3000:3333] = True
    crop = np.random.default_rng(1).integers(0, 256, (100, 200, 3), dtype=np.uint8)
    x0, y0, x1, y1 = masks.bbox(mask)
    result = blend.composite(original, crop, mask, method=method, box=(x0, y0, x1, y1))
    restored = result.copy()
    restored[mask] = original[mask]
    assert np.array_equal(restored, original)  # every pixel outside the mask is the original's
    assert not np.array_equal(result[mask], original[mask])


def test_rgba_alpha_outside_kept_and_inside_opaque():
    rng = np.random.default_rng(1)
    original = rng.integers(0, 256, (20, 30, 4), dtype=np.uint8)
    original[..., 3] = 7
    mask = np.zeros((20, 30), bool)
    mask[5:15, 5:20] = True
    result = blend.composite(original, rng.integers(0, 256, (20, 30, 3), dtype=np.uint8), mask)
    assert (result[..., 3][~mask] == 7).all()
    assert (result[..., 3][mask] == 255).all()
    with_alpha = rng.integers(0, 256, (20, 30, 4), dtype=np.uint8)
    with_alpha[..., 3] = 99
    assert (blend.composite(original, with_alpha, mask, method="hard")[..., 3][mask] == 99).all()


def test_full_mask_is_the_generated_image():
    rng = np.random.default_rng(2)
    original = rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)
    generated = rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)
    for method in CONTRACT:
        out = blend.composite(original, generated, np.ones((9, 11), bool), method=method, feather=0)
        assert np.abs(out.astype(int) - generated).max() <= 1


def test_feather_is_labelled_honestly_it_changes_outside_pixels():
    img = data.astronaut()
    gen = np.clip(img.astype(int) + 40, 0, 255).astype(np.uint8)
    mask = np.zeros(img.shape[:2], bool)
    mask[200:300, 200:300] = True
    out = blend.composite(img, gen, mask, method="feather", feather=8)
    assert "feather" not in blend.CONTRACT_SAFE
    assert (out[~mask] != img[~mask]).any()


def test_crop_is_resized_back_into_its_box():
    img = np.zeros((64, 64, 3), np.uint8)
    mask = np.zeros((64, 64), bool)
    mask[20:40, 10:50] = True
    crop = np.full((10, 20, 3), 200, np.uint8)  # half resolution of the 40x20 box
    out = blend.composite(img, crop, mask, method="hard", box=(10, 20, 50, 40))
    assert (out[mask] == 200).all() and (out[~mask] == 0).all()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(method="poisson"), "unknown blend method"),
        (dict(feather=-1), "feather"),
        (dict(grow=-2), "grow"),
        (dict(box=(0, 0, 99, 10)), "does not lie inside"),
        (dict(box=(0, 0, 5, 5)), "outside the generated box"),
    ],
)
def test_bad_parameters_raise_concise_errors(kwargs, message):
    img = np.zeros((16, 16, 3), np.uint8)
    mask = np.zeros((16, 16), bool)
    mask[8:12, 8:12] = True
    gen = img if "box" not in kwargs else np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(ValueError, match=message):
        blend.composite(img, gen, mask, **kwargs)


def test_size_mismatch_names_both_sizes():
    with pytest.raises(ValueError, match="10x8 but the original is 16x12"):
        blend.composite(np.zeros((12, 16, 3), np.uint8), np.zeros((8, 10, 3), np.uint8), np.ones((12, 16), bool))
    with pytest.raises(ValueError, match="the mask is empty"):
        blend.composite(np.zeros((12, 16, 3), np.uint8), np.zeros((12, 16, 3), np.uint8), np.zeros((12, 16), bool))


# ---------------------------------------------------------------------------------------------------------
# Quality: the seamless blend against a naive paste, on real photos


def _shifted(img):
    return np.clip(img.astype(np.float32) * [1.10, 1.06, 0.95] + [3, -2, 4], 0, 255).astype(np.uint8)


@pytest.mark.parametrize("photo", ["astronaut", "coffee", "chelsea"])
def test_seamless_beats_naive_paste_on_real_photos(photo):
    img = getattr(data, photo)()
    h, w = img.shape[:2]
    yy, xx = np.mgrid[:h, :w]
    mask = ((yy - h * 0.5) / (h * 0.2)) ** 2 + ((xx - w * 0.45) / (w * 0.15)) ** 2 < 1
    gen = _shifted(img)
    naive = seams.seam_report(img, blend.composite(img, gen, mask, method="hard"), mask)
    ours = seams.seam_report(img, blend.composite(img, gen, mask, method="seamless"), mask)
    assert ours["outside_changed"] == 0
    assert ours["ring_delta_e"] < naive["ring_delta_e"] / 4
    assert ours["seam_excess"] < naive["seam_excess"]
    assert ours["passed"], ours
    assert not naive["passed"]


def _dark_photo(size=256):
    import cv2

    img = data.hubble_deep_field()  # a very dark photo: most pixels within 30 levels of black
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)


def test_an_additive_lift_on_a_dark_photo_is_an_offset_not_a_dimming_gain():
    # a VAE that lifts the blacks by 10-14 levels (additive) on a dark photo: the ring's mean ratio would read it
    # as a gain of ~0.6 and dim everything inside; the fitted tone curve reads gain ~1 and an offset of -lift
    img = _dark_photo()
    lift = np.array([12.0, 10.0, 14.0], np.float32)
    gen = np.clip(img + lift, 0, 255).astype(np.uint8)
    h, w = img.shape[:2]
    yy, xx = np.mgrid[:h, :w]
    mask = np.hypot(yy - h / 2, xx - w / 2) < h * 0.3
    lo_o, lo_g = blend._ring_lowpass(img.astype(np.float32), gen.astype(np.float32), ~mask,
                                     ~mask & (np.hypot(yy - h / 2, xx - w / 2) < h * 0.3 + blend.COLOUR_RING))
    assert np.all(lo_g.mean(0) > 0) and np.all(lo_o.mean(0) / lo_g.mean(0) < 0.75)  # the mean ratio would dim
    gain, offset = blend._ring_tone(lo_o, lo_g)
    np.testing.assert_allclose(gain, 1.0, atol=0.05)
    np.testing.assert_allclose(offset, -lift, atol=2.0)

    out = blend.composite(img, gen, mask, method="seamless")
    assert np.array_equal(out[~mask], img[~mask])
    deep = np.hypot(yy - h / 2, xx - w / 2) < h * 0.3 - 12  # away from the seam and the cross-fade
    got, want = out[deep].astype(np.float32), img[deep].astype(np.float32)
    assert np.abs(got.mean(0) - want.mean(0)).max() < 2.0  # the lift is removed
    np.testing.assert_allclose(got.std(0), want.std(0), rtol=0.06)  # and the detail keeps its contrast
    assert seams.seam_report(img, out, mask)["passed"]


def test_a_flat_ring_falls_back_to_the_mean_ratio_gain():
    # no tonal spread on the ring: a gain and an offset cannot be told apart, so the mean-ratio gain is kept
    rng = np.random.default_rng(3)
    lo_g = (125.0 + rng.normal(0, 0.3, (400, 3))).astype(np.float32)
    lo_o = (0.8 * lo_g).astype(np.float32)
    gain, offset = blend._ring_tone(lo_o, lo_g)
    np.testing.assert_allclose(gain, 0.8, atol=0.01)
    np.testing.assert_allclose(offset, 0.0, atol=1.0)
    assert blend._ring_tone(lo_o[:10], lo_g[:10]) is None  # too few ring pixels: no correction

    # end to end: a flat grey surround, generated 25% brighter, new content inside scaled by the same gain
    orig = np.full((96, 96, 3), 100, np.uint8)
    gen = np.full((96, 96, 3), 125, np.uint8)
    yy, xx = np.mgrid[:96, :96]
    mask = np.hypot(yy - 48, xx - 48) < 30
    inner = np.hypot(yy - 48, xx - 48) < 14
    gen[inner] = [200, 50, 150]
    out = blend.composite(orig, gen, mask, method="seamless")
    assert np.array_equal(out[~mask], orig[~mask])
    np.testing.assert_allclose(out[np.hypot(yy - 48, xx - 48) < 10].mean(0), [160, 40, 120], atol=2.0)


def test_the_tone_curve_is_the_identity_for_an_exact_generator():
    img = _dark_photo(128)
    h, w = img.shape[:2]
    mask = np.zeros((h, w), bool)
    mask[40:90, 30:100] = True
    lo_o, lo_g = blend._ring_lowpass(img.astype(np.float32), img.astype(np.float32), ~mask,
                                     ~mask & masks.grow(mask, blend.COLOUR_RING))
    gain, offset = blend._ring_tone(lo_o, lo_g)
    np.testing.assert_allclose(gain, 1.0, atol=1e-4)
    np.testing.assert_allclose(offset, 0.0, atol=1e-3)
    assert np.array_equal(blend.composite(img, img, mask, method="seamless"), img)


# ---------------------------------------------------------------------------------------------------------
# The solver


def _domain(n, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:n, :n]
    r = np.hypot(yy - n / 2, xx - n / 2)
    omega = r < n / 2 - 6 + 3 * np.sin(np.arctan2(yy - n / 2, xx - n / 2) * 5)
    return omega, rng


@pytest.mark.parametrize("channels", [1, 3])
def test_multigrid_matches_the_direct_solve(channels):
    omega, rng = _domain(150)
    boundary = rng.normal(0, 20, omega.shape + (channels,)) + np.linspace(0, 60, 150)[None, :, None]
    assert omega.sum() > poisson.DIRECT_MAX
    fast = poisson.solve_laplace(omega, boundary, (False,) * 4, tol=1e-6)
    old = poisson.DIRECT_MAX
    try:
        poisson.DIRECT_MAX = 10**9
        exact = poisson.solve_laplace(omega, boundary, (False,) * 4)
    finally:
        poisson.DIRECT_MAX = old
    assert np.abs(fast - exact)[omega].max() < 0.05


@pytest.mark.parametrize("n", [30, 150])
def test_linear_boundary_gives_the_linear_harmonic_function(n):
    omega, _ = _domain(n)
    yy, xx = np.mgrid[:n, :n]
    linear = (2.0 * xx - 1.5 * yy + 10.0)[..., None]
    out = poisson.solve_laplace(omega, linear, (False,) * 4, tol=1e-7)
    assert np.abs(out - linear)[omega].max() < 0.05


def test_a_domain_on_a_closed_edge_is_refused():
    omega = np.zeros((10, 10), bool)
    omega[0, 3:6] = True
    with pytest.raises(ValueError, match="ring of known pixels"):
        poisson.solve_laplace(omega, np.zeros((10, 10)), (False, True, True, True))


def test_open_image_edges_are_neumann():
    # a domain touching the image border on the left: the solution there follows the known pixels
    omega = np.zeros((20, 30), bool)
    omega[2:18, :20] = True
    boundary = np.full((20, 30, 1), 50.0)
    out = poisson.solve_laplace(omega, boundary, (True, True, True, True))
    assert np.allclose(out[omega], 50.0, atol=1e-6)


def test_a_solve_that_stops_at_the_cap_is_reported(monkeypatch, caplog):
    photo = data.astronaut()[100:260, 100:260]
    generated = np.clip(photo * np.float32(1.1), 0, 255).astype(np.uint8)
    yy, xx = np.mgrid[:160, :160]
    mask = np.hypot(yy - 80, xx - 80) < 60
    assert mask.sum() > poisson.DIRECT_MAX  # the iterative solver
    notes = []
    blend.composite(photo, generated, mask, notes=notes)
    assert notes == []  # a converged solve says nothing
    monkeypatch.setattr(poisson, "MAX_ITER", 1)
    with caplog.at_level("WARNING", logger="pipelines.poisson"):
        result = blend.composite(photo, generated, mask, notes=notes)
    assert len(notes) == 1 and "stopped at residual" in notes[0] and "after 1 iteration " in notes[0]
    assert any(r.levelname == "WARNING" and r.name == "pipelines.poisson" for r in caplog.records)
    np.testing.assert_array_equal(result[~mask], photo[~mask])  # the contract holds all the same


def test_composite_fails_closed_when_a_region_writes_outside_the_mask(monkeypatch):
    """The composite verifies its own outside before returning: a sabotaged region blend is refused."""
    from pipelines import blend as blend_mod
    from pipelines.errors import ContractViolation

    original = np.full((40, 50, 3), 100, np.uint8)
    generated = np.full((40, 50, 3), 180, np.uint8)
    mask = np.zeros((40, 50), bool)
    mask[10:20, 10:20] = True
    real = blend_mod._blend_region

    def leaky(original, result, *args, **kwargs):
        out = real(original, result, *args, **kwargs)
        result[0, 0] = 7  # one pixel outside the mask
        return out

    monkeypatch.setattr(blend_mod, "_blend_region", leaky)
    with pytest.raises(ContractViolation, match="outside the mask"):
        blend_mod.composite(original, generated, mask, method="hard")
