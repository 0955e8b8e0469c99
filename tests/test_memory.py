"""Memory stays linear in the pixels with a small constant, whatever the mask's depth.

tracemalloc traces numpy's allocations, so the peak of traced bytes during a call measures its working set.
The images are small (the big cases are in bench/memory.py); the masks are deep, so an implementation
that keeps one array per px of depth (as seam_report once did: ~355 bytes per region pixel here) or copies
the canvas per join would exceed the bounds by far. No timing is asserted.
"""

import tracemalloc

import cv2
import numpy as np
import pytest
from skimage import data

from pipelines import blend, seams
from pipelines.outpaint import outpaint


def _peak(fn) -> int:
    fn()  # warm-up: lazy imports and caches are not the call's working set
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.fixture(scope="module")
def deep_scene():
    photo = cv2.resize(data.astronaut(), (600, 600), interpolation=cv2.INTER_AREA)
    yy, xx = np.mgrid[:600, :600]
    mask = np.hypot(yy - 300, xx - 300) < 280  # 280 px deep
    generated = np.clip(photo * np.float32(1.08) + 3, 0, 255).astype(np.uint8)
    return photo, generated, mask


def test_seam_report_memory_does_not_grow_with_mask_depth(deep_scene):
    photo, generated, mask = deep_scene
    peak = _peak(lambda: seams.seam_report(photo, generated, mask))
    assert peak < 150 * mask.size, f"{peak / mask.size:.0f} bytes per pixel"


def test_composite_memory_is_a_few_float_copies_of_the_region(deep_scene):
    photo, generated, mask = deep_scene
    peak = _peak(lambda: blend.composite(photo, generated, mask))
    assert peak < 150 * mask.size, f"{peak / mask.size:.0f} bytes per pixel"


def test_long_outpaint_memory_is_linear_in_the_canvas():
    image = cv2.resize(data.chelsea(), (40, 30), interpolation=cv2.INTER_AREA)
    right = 1500
    canvas_px = (40 + right) * 30
    peak = _peak(lambda: outpaint(image, right=right, engine="telea", seed=0))
    assert peak < 400 * canvas_px, f"{peak / canvas_px:.0f} bytes per canvas pixel"
