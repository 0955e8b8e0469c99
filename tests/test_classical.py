"""pipelines.generate.classical: OpenCV Telea / Navier-Stokes fills behind the inpaint() entry point."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from pipelines.generate import classical
from pipelines.inpaint import Cancelled, InpaintResult, inpaint


def _scene(width=97, height=61, seed=0):
    """A smooth colour gradient with mild noise, and a disc mask inside it."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    image = np.stack([60 + 120 * xx / width, 90 + 80 * yy / height, 150 - 60 * xx / width], axis=-1)
    image = np.clip(image + rng.normal(0, 2, image.shape), 0, 255).astype(np.uint8)
    mask = (xx - width * 0.45) ** 2 + (yy - height * 0.5) ** 2 <= (min(width, height) * 0.18) ** 2
    return image, mask


def test_fill_keeps_outside_and_uses_rgb_order():
    image = np.zeros((40, 50, 3), np.uint8)
    image[..., 0] = 200  # pure red surroundings
    image[..., 2] = 20
    mask = np.zeros((40, 50), bool)
    mask[12:28, 15:35] = True
    image[mask] = (0, 255, 0)  # a green object to remove
    for method in ("telea", "ns"):
        out = classical.fill(image, mask, method=method, radius=4)
        assert out.dtype == np.uint8 and out.shape == image.shape
        assert np.array_equal(out[~mask], image[~mask])
        inside = out[mask].astype(int)
        assert np.abs(inside - (200, 0, 20)).max() <= 4, f"{method}: the fill must be red like its surroundings"


def test_fill_checks_parameters():
    image, mask = _scene()
    with pytest.raises(ValueError):
        classical.fill(image, mask, method="lama")
    with pytest.raises(ValueError):
        classical.fill(image, mask, radius=0)
    with pytest.raises(ValueError):
        classical.fill(image, mask[:-1])
    assert np.array_equal(classical.fill(image, np.zeros_like(mask)), image)


@pytest.mark.parametrize("engine", ["telea", "ns"])
def test_engine_through_inpaint_keeps_outside_bytes_and_notes_the_prompt(engine):
    image, mask = _scene()
    result = inpaint(image, mask, "a red bicycle", engine=engine, grow=3)
    assert isinstance(result, InpaintResult)
    assert result.engine == engine and result.model is None
    assert any("prompt ignored" in note for note in result.notes)
    out = result.images[0]
    assert out.shape == image.shape and out.dtype == np.uint8
    assert np.array_equal(out[~result.mask], image[~result.mask])
    assert result.mask.sum() > mask.sum(), "grow must enlarge the mask"
    report = result.reports[0]
    assert report["outside_changed"] == 0 and report["outside_max_diff"] == 0
    assert set(result.timings) >= {"prepare", "generate", "composite", "report", "total"}


def test_no_prompt_no_note_and_ignored_parameters_noted():
    image, mask = _scene()
    result = inpaint(image, mask, engine="telea")
    assert not any("prompt" in note for note in result.notes)
    result = inpaint(image, mask, engine="telea", seed=3, variants=2)
    assert any("seed ignored" in note for note in result.notes)
    assert any("variants ignored" in note for note in result.notes)


def test_rgba_and_greyscale_inputs_keep_their_format():
    image, mask = _scene(64, 48)
    alpha = np.random.default_rng(1).integers(0, 256, mask.shape, dtype=np.uint8)
    rgba = np.dstack([image, alpha])
    out = inpaint(rgba, mask, engine="telea", grow=0).images[0]
    assert out.shape == rgba.shape and np.array_equal(out[~mask], rgba[~mask])
    assert (out[..., 3][mask] == 255).all()
    grey = image[..., 1].copy()
    out = inpaint(grey, mask, engine="ns", grow=0).images[0]
    assert out.shape == grey.shape and np.array_equal(out[~mask], grey[~mask])


def test_far_regions_are_separate_small_crops_on_a_large_image():
    image = np.full((1500, 2000, 3), 128, np.uint8)
    mask = np.zeros((1500, 2000), bool)
    mask[100:120, 100:130] = True
    mask[1300:1330, 1800:1820] = True
    steps = []
    result = inpaint(image, mask, engine="telea", grow=2, progress=lambda i, n: steps.append((i, n)))
    assert len(result.boxes) == 2 and steps == [(1, 2), (2, 2)]
    for x0, y0, x1, y1 in result.boxes:
        assert (x1 - x0) * (y1 - y0) < 200 * 200
    assert np.array_equal(result.images[0][~result.mask], image[~result.mask])


def test_cancel_and_bad_parameters():
    image, mask = _scene()
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        inpaint(image, mask, engine="telea", cancel=cancel)
    with pytest.raises(ValueError):
        inpaint(image, np.zeros_like(mask), engine="telea")
    with pytest.raises(ValueError):
        inpaint(image, mask[:, :-1], engine="telea")
    with pytest.raises(ValueError):
        inpaint(image, mask, engine="telea", radius=-1)
    with pytest.raises(ValueError):
        inpaint(image, mask, engine="telea", method="feather")
    with pytest.raises(ValueError, match="engine must be one of"):
        inpaint(image, mask, engine="dall-e")
