"""The canvas's mask text form (pipelines/maskcodec.py): exact round trips, both kinds, and damaged input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pipelines import maskcodec
from pipelines.errors import UserError


@settings(max_examples=200, deadline=None)
@given(arrays(bool, st.tuples(st.integers(1, 40), st.integers(1, 40))))
def test_round_trip_is_exact(mask):
    text = maskcodec.encode(mask)
    assert text[:2] in ("r:", "b:")
    assert np.array_equal(maskcodec.decode(text, mask.shape), mask)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 2**40), max_size=50))
def test_varints_round_trip(values):
    assert maskcodec.read_varints(maskcodec.varints(np.array(values, np.int64))).tolist() == values


def test_shapes_use_runs_and_noise_uses_bits():
    h, w = 3000, 4000
    mask = np.zeros((h, w), bool)
    mask[1000:2000, 500:3500] = True
    text = maskcodec.encode(mask)
    assert text.startswith("r:") and len(text) < 6000
    assert np.array_equal(maskcodec.decode(text, (h, w)), mask)
    noise = np.random.default_rng(0).random((300, 400)) < 0.5
    text = maskcodec.encode(noise)
    assert text.startswith("b:") and len(text) <= 4 * ((300 * 400 // 8 + 2) // 3) + 2
    assert np.array_equal(maskcodec.decode(text, noise.shape), noise)


def test_known_encoding():
    # runs of [[0 1 1] [1 0 0]] row-major: 1 False, 3 True, 2 False -> varints 1, 3, 2
    mask = np.array([[0, 1, 1], [1, 0, 0]], bool)
    assert maskcodec.runs(mask).tolist() == [1, 3, 2]
    assert maskcodec.runs(np.ones((1, 2), bool)).tolist() == [0, 2]
    assert maskcodec.varints(np.array([1, 300])) == bytes([1, 0xAC, 0x02])


@pytest.mark.parametrize("text", ["", "x:AAAA", "r:@@@", "r:" + "gA==", "b:AA=="])
def test_damaged_or_foreign_text_is_one_line(text):
    with pytest.raises(UserError) as info:
        maskcodec.decode(text, (4, 4))
    assert "\n" not in str(info.value)


def test_another_size_is_refused():
    text = maskcodec.encode(np.ones((4, 5), bool))
    with pytest.raises(UserError, match="another picture size"):
        maskcodec.decode(text, (5, 4 + 1))


def test_runs_whose_sum_wraps_around_are_refused():
    """Runs near 2^62 sum to h*w modulo 2^64: refused before summing (np.repeat would take the process down)."""
    import base64

    text = "r:" + base64.b64encode(maskcodec.varints(np.array([2**62] * 3 + [2**62 + 16], np.int64))).decode()
    with pytest.raises(UserError, match="another picture size"):
        maskcodec.decode(text, (4, 4))
