"""Fast checks of the seam benchmark's pure functions (bench/seams.py): the "flux" generator stand-in and the
anchors' composite recipes, on tiny images. The benchmark itself is not run here."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

_PATH = Path(__file__).resolve().parents[1] / "bench" / "seams.py"
_spec = importlib.util.spec_from_file_location("bench_seams", _PATH)
S = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(S)


# ---------------------------------------------------------------------------------------------------------
# The flux stand-in


def test_flux_is_seeded():
    img = np.random.default_rng(3).integers(0, 256, (31, 41, 3), dtype=np.uint8)
    a = S.degrade(img, "flux", np.random.default_rng(7))
    b = S.degrade(img, "flux", np.random.default_rng(7))
    c = S.degrade(img, "flux", np.random.default_rng(8))
    assert a.dtype == np.uint8 and a.shape == img.shape
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)  # another gradient direction


def test_flux_documented_amounts_on_grey():
    # a flat grey stays grey under the saturation change; the centre of an odd-sized image has t = 0
    v = 128
    img = np.full((41, 61, 3), v, np.uint8)
    out = S.flux_shift(img, np.random.default_rng(0)).astype(np.float64)
    assert S.FLUX == dict(contrast=0.92, saturation=0.90, value=1.04, white_balance=(1.04, 1.00, 0.95),
                          gradient_value=0.03, gradient_white_balance=0.02)
    x = 0.5 + 0.92 * (v / 255 - 0.5)
    centre = x * 1.04 * np.array([1.04, 1.00, 0.95]) * 255
    np.testing.assert_allclose(out[20, 30], centre, atol=0.51)
    # the gradient: the two extreme pixels along the direction differ by 2 * (0.03 + 0.02 * (1, 0, -1))
    ramp = out - out[20, 30]
    span = ramp.reshape(-1, 3)
    lo, hi = span[np.argmin(span[:, 1])], span[np.argmax(span[:, 1])]
    np.testing.assert_allclose(hi - lo, 2 * (0.03 + 0.02 * np.array([1, 0, -1])) * 255, atol=1.01)


def test_flux_saturation_alone_scales_chroma():
    img = np.random.default_rng(1).integers(40, 216, (9, 11, 3), dtype=np.uint8)
    only_sat = dict(contrast=1.0, value=1.0, white_balance=(1, 1, 1), gradient_value=0, gradient_white_balance=0)
    out = S.flux_shift(img, np.random.default_rng(0), only_sat).astype(np.float64)
    x = img.astype(np.float64)
    y = (x @ np.array([0.299, 0.587, 0.114]))[..., None]
    np.testing.assert_allclose(out, y + 0.90 * (x - y), atol=0.51)


# ---------------------------------------------------------------------------------------------------------
# The new anchors: alpha 1 keeps the (colour-fixed) generated pixel, alpha 0 the original


def _scene():
    rng = np.random.default_rng(5)
    orig = rng.integers(30, 226, (96, 128, 3), dtype=np.uint8)
    gen = rng.integers(30, 226, (96, 128, 3), dtype=np.uint8)
    mask = np.zeros((96, 128), bool)
    mask[8:24, 10:30] = True
    return orig, gen, mask


ANCHORS = {
    "InvokeAI": (S.invokeai, lambda o, g, m: S.invokeai_alpha(m), lambda o, g, m: g),
    "SwarmUI": (S.swarmui, lambda o, g, m: S.swarmui_alpha(m), lambda o, g, m: g),
    "SwarmUI+linear": (S.swarmui_linear, lambda o, g, m: S.swarmui_alpha(m), S.swarmui_linear_fix),
    "SD.Next": (S.sdnext, lambda o, g, m: S.sdnext_alpha(m), lambda o, g, m: g),
    "SD.Next+wavelet": (S.sdnext_wavelet, lambda o, g, m: S.sdnext_alpha(m),
                        lambda o, g, m: S.sdnext_wavelet_fix(o, g)),
    "Forge-soft": (S.forge_soft, S.forge_soft_alpha, lambda o, g, m: g),
}


@pytest.mark.parametrize("name", list(ANCHORS))
def test_anchor_alpha_ends(name):
    fn, alpha_fn, fix = ANCHORS[name]
    orig, gen, mask = _scene()
    res = fn(orig, gen, mask)
    alpha = alpha_fn(orig, gen, mask)
    fixed = np.clip(np.rint(np.asarray(fix(orig, gen, mask), np.float32)), 0, 255)
    assert res.dtype == np.uint8 and res.shape == orig.shape
    assert S.METHODS[name][0] is False  # none of them keeps the contract
    np.testing.assert_array_equal(res, S._alpha_blend(orig, fix(orig, gen, mask), alpha))
    zero, one = alpha == 0, alpha >= 1 - 1 / 512
    assert zero.any()
    assert one.any() or name == "Forge-soft"  # its blurred difference weight never quite reaches 1
    np.testing.assert_array_equal(res[zero], orig[zero])
    assert np.abs(res[one].astype(np.float32) - fixed[one]).max(initial=0) <= 1


@pytest.mark.parametrize("name, reach", [("InvokeAI", 16), ("SwarmUI", 10), ("SD.Next", 33)])
def test_anchor_reaches_outside(name, reach):
    # the documented reach: these recipes composite over original pixels beyond the mask
    _, alpha_fn, _ = ANCHORS[name]
    orig, gen, mask = _scene()
    alpha = alpha_fn(orig, gen, mask)
    dist = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    assert (alpha[(dist >= reach - 1) & (dist <= reach)] > 0).all()
    assert (alpha[mask] == 1).all()


def test_forge_soft_keeps_original_where_generated_matches():
    orig, gen, mask = _scene()
    res = S.forge_soft(orig, orig.copy(), mask)
    np.testing.assert_array_equal(res, orig)


def test_swarm_linear_fit_recovers_sv():
    orig, _, mask = _scene()
    hsv = cv2.cvtColor(orig.astype(np.float32) / 255, cv2.COLOR_RGB2HSV)
    hsv[..., 1] = hsv[..., 1] * 0.8 + 0.02
    hsv[..., 2] = hsv[..., 2] * 0.9 + 0.03
    gen = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB) * 255
    fixed = S.swarmui_linear_fix(orig, gen, mask)
    inside = S.swarmui_alpha(mask) > 0
    assert np.abs(fixed[inside] - orig[inside]).max() < 1.0
    assert np.abs(gen[inside] - orig[inside]).max() > 5  # there was something to fix


def test_wavelet_fix_removes_a_constant_shift():
    orig, _, _ = _scene()
    gen = orig.astype(np.float32) + np.array([9.0, -4.0, 6.0], np.float32)
    np.testing.assert_allclose(S.sdnext_wavelet_fix(orig, gen), orig, atol=1e-3)
