"""The contract every engine keeps behind the driver, as one function each engine's tests call.

    from engine_contract import check_engine_contract
    def test_my_engine_keeps_the_contract():
        check_engine_contract(lambda: my_module.lease(folder, device="cpu"))

``lease`` is a no-argument callable returning a context manager that yields a ready generate.engine.Engine (the
same lease a user's job takes). Checked through pipelines.generate.driver.run, on photos in several formats:
- pixels outside the mask are byte-identical at the input's own format (RGB, RGBA, 16-bit grey), the result has
  the input's size, shape and dtype, and its report says outside_changed == 0;
- every crop runs at the engine's size: the box's aspect with native_size^2 area in multiples of ``multiple``
  (the box itself without a native size), and fill() answers at the size it was given;
- the same seed gives the same image, and (for engines that use a seed) another seed another image;
- progress(done, total) counts up to total = engine.steps() x crops x variants; a cancel event set during the
  job stops it with Cancelled within one step.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from pipelines.generate import driver
from pipelines.generate.checks import Cancelled
from pipelines.generate.prepare import prepare


def _photo(h: int = 128, w: int = 192, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    base = np.stack([60 + 120 * xx / w, 80 + 100 * yy / h, 150 - 60 * xx / w], -1)
    return np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)


def _mask(h: int = 128, w: int = 192) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    mask = (xx - 40) ** 2 + (yy - 50) ** 2 <= 14**2
    mask[100:112, 150:175] = True  # a second group, more than driver.GROUP_GAP away
    return mask


def _formats(rgb: np.ndarray) -> dict[str, np.ndarray]:
    alpha = np.full(rgb.shape[:2], 200, np.uint8)
    alpha[:, :20] = 0
    grey16 = (rgb.mean(axis=2) * 257).astype(np.uint16)
    return {"rgb": rgb, "rgba": np.dstack([rgb, alpha]), "grey16": grey16}


def check_engine_contract(lease, *, variants: int = 2) -> None:
    rgb, mask = _photo(), _mask()
    with lease() as engine:
        seeds = [11, 12][:variants] if engine.uses_seed else [None]
        sizes_seen: list[tuple[int, int]] = []
        real_fill = engine.fill

        def spy(crop, crop_mask, **kw):
            out = real_fill(crop, crop_mask, **kw)
            assert crop.dtype == np.uint8 and crop.ndim == 3 and crop.shape[2] == 3
            assert crop_mask.dtype == bool and crop_mask.shape == crop.shape[:2] and crop_mask.any()
            assert out.shape == crop.shape and out.dtype == np.uint8, "fill() answers at the size it was given"
            sizes_seen.append((crop.shape[1], crop.shape[0]))
            return out

        engine.fill = spy
        try:
            for name, image in _formats(rgb).items():
                prep = prepare(image, mask)
                steps: list[tuple[int, int]] = []
                result = driver.run(prep, engine, prompt="a red brick wall", seeds=seeds,
                                    progress=lambda d, t: steps.append((d, t)))
                crops = driver.plan_crops(prep.mask, engine)
                assert len(result.boxes) == len(crops) == 2
                for crop in crops:
                    x0, y0, x1, y1 = crop.box
                    if engine.native_size:
                        scale = engine.native_size / np.sqrt((x1 - x0) * (y1 - y0))
                        assert all(s % engine.multiple == 0 for s in crop.size)
                        assert abs(crop.size[0] - (x1 - x0) * scale) <= engine.multiple
                        assert abs(crop.size[1] - (y1 - y0) * scale) <= engine.multiple
                    else:
                        assert crop.size == (x1 - x0, y1 - y0)
                assert sizes_seen[-len(crops):] == [c.size for c in crops]
                total = engine.steps() * len(crops) * len(seeds)
                assert steps and steps[-1] == (total, total) and [d for d, _ in steps] == list(range(1, total + 1))
                assert len(result.images) == len(seeds)
                for out, report in zip(result.images, result.reports):
                    assert out.shape == image.shape and out.dtype == image.dtype, name
                    assert np.array_equal(out[~mask], image[~mask]), f"{name}: pixels outside the mask changed"
                    assert report["outside_changed"] == 0
                    assert not np.array_equal(out[mask], image[mask]), f"{name}: nothing was filled"

            prep = prepare(rgb, mask)
            first = driver.run(prep, engine, prompt="a red brick wall", seeds=seeds[:1])
            again = driver.run(prep, engine, prompt="a red brick wall", seeds=seeds[:1])
            assert np.array_equal(first.images[0], again.images[0]), "the same seed must give the same image"
            if engine.uses_seed:
                other = driver.run(prep, engine, prompt="a red brick wall", seeds=[seeds[0] + 100])
                assert not np.array_equal(first.images[0], other.images[0]), "another seed, another image"

            cancel = threading.Event()
            done: list[int] = []

            def stop_after_first(d, t):
                done.append(d)
                cancel.set()

            with pytest.raises(Cancelled):
                driver.run(prep, engine, prompt="x", seeds=seeds, progress=stop_after_first, cancel=cancel)
            assert done == [1], "a cancelled job stops within one step"
        finally:
            del engine.fill
