"""The one crop -> generate -> paste-back path every engine goes through.

    crops = plan_crops(prep.mask, engine, context_margin)
    result = run(prep, engine, prompt="a bench", seeds=[7, 8], method="seamless")

1. plan: the mask is split into groups of nearby regions (masks.groups); each group gets a context box
   (masks.context_box: bbox + margin, square, multiple of 8, inside the image) and the size the engine runs at
   (the box's aspect with the area of native_size squared, or the box itself for engines without a native size),
   so a small mask on a 4000x3000 photo is generated at full detail and no model ever runs at the photo's size;
2. for every seed (variant) and crop: resize the crop and its mask (Lanczos / any-pixel), engine.fill(), and
   composite the answer back at full resolution with the boundary engine (blend.composite(..., box=box)), one
   group after the other;
3. seam reports for every variant (seams.seam_report), ranked by seam score (seam_excess, then ring_delta_e);
4. every variant goes back to the input's own format with the outside verified against both the working copy and
   the input (Prepared.finish: a ContractViolation otherwise, fail closed).

Formats: images HWC uint8 RGB, masks HW bool (True = repaint), boxes XYXY ints with exclusive ends, sizes
(width, height).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .. import blend, masks, seams
from .engine import Engine, Steps
from .prepare import Prepared
from .result import InpaintResult, rank

DEFAULT_MARGIN = 32
"""Context pixels around each mask group, at full resolution, before the crop is squared and sized."""
GROUP_GAP = 64
"""Mask regions closer than this (px) share one crop; farther ones are generated separately."""


@dataclass(frozen=True)
class Crop:
    """One generation's place: ``group`` (HW bool, the image's size) the mask regions it fills, ``box`` XYXY its
    context box in image px, ``size`` (width, height) the engine runs at."""

    group: np.ndarray
    box: tuple[int, int, int, int]
    size: tuple[int, int]


def generation_size(box_w: int, box_h: int, native: int, multiple: int = 8) -> tuple[int, int]:
    """(width, height) to run the model at: the box's aspect, the area of native x native, multiples of ``multiple``."""
    scale = native / math.sqrt(box_w * box_h)
    w = max(multiple, int(round(box_w * scale / multiple)) * multiple)
    h = max(multiple, int(round(box_h * scale / multiple)) * multiple)
    return w, h


def resize_image(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize HWC uint8 to (width, height) with Lanczos (antialiased when shrinking); a copy at the same size."""
    if (array.shape[1], array.shape[0]) == tuple(size):
        return array.copy()
    return np.asarray(Image.fromarray(array).resize(size, Image.LANCZOS))


def resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an HW bool mask to (width, height); a target pixel is True when any source pixel under it is."""
    if (mask.shape[1], mask.shape[0]) == tuple(size):
        return mask.copy()
    shrinking = size[0] < mask.shape[1] or size[1] < mask.shape[0]
    im = Image.fromarray(mask.astype(np.uint8) * 255)
    return np.asarray(im.resize(size, Image.BOX if shrinking else Image.BILINEAR)) > 0


def plan_crops(mask: np.ndarray, engine: Engine, context_margin: int = DEFAULT_MARGIN) -> list[Crop]:
    """The crops that cover ``mask`` (HW bool) for ``engine``: one per group of regions closer than
    max(GROUP_GAP, 2 x context_margin) px, each with context_margin + engine.context_pad px of context."""
    height, width = mask.shape
    gap = max(GROUP_GAP, 2 * context_margin)
    margin = context_margin + engine.context_pad
    crops = []
    for group in masks.groups(mask, gap=gap):
        box = masks.context_box(group, (width, height), margin=margin, aspect=1.0, multiple=8,
                                min_size=engine.min_crop)
        x0, y0, x1, y1 = box
        if engine.native_size:
            size = generation_size(x1 - x0, y1 - y0, engine.native_size, engine.multiple)
        else:
            size = (x1 - x0, y1 - y0)
        crops.append(Crop(group, tuple(int(v) for v in box), size))
    return crops


def crop_input(image: np.ndarray, crop: Crop) -> tuple[np.ndarray, np.ndarray]:
    """(pixels, mask) an engine fills for ``crop``: the context box of ``image`` (HWC uint8 RGB) and of the crop's
    group, resized to the crop's size (Lanczos / any-pixel)."""
    x0, y0, x1, y1 = crop.box
    return resize_image(image[y0:y1, x0:x1], crop.size), resize_mask(crop.group[y0:y1, x0:x1], crop.size)


def paste(image: np.ndarray, generated: np.ndarray, crop: Crop, method: str, feather: float | None,
          notes: list[str]) -> np.ndarray:
    """``image`` with the crop's group taken from ``generated`` (the engine's answer at the crop's size) through the
    boundary engine (blend.composite at full resolution on the crop's box); only the group's pixels change."""
    return blend.composite(image, generated, crop.group, method=method, feather=feather, grow=0, box=crop.box,
                           notes=notes)


def disjoint(crops: list[Crop]) -> bool:
    """True when no two crops' context boxes overlap: each crop can then be cut from the untouched image (no crop's
    context holds another's paste-back), so the crops can be generated at once, in any order."""
    for i, a in enumerate(crops):
        for b in crops[i + 1:]:
            if a.box[0] < b.box[2] and b.box[0] < a.box[2] and a.box[1] < b.box[3] and b.box[1] < a.box[3]:
                return False
    return True


def run(
    prep: Prepared,
    engine: Engine,
    *,
    prompt: str = "",
    negative_prompt: str | None = None,
    seeds: list[int | None],
    method: str = "seamless",
    feather: float | None = None,
    context_margin: int = DEFAULT_MARGIN,
    progress=None,
    cancel=None,
    notes: list[str] | None = None,
    t_start: float | None = None,
    t_load: float = 0.0,
    reports: bool = True,
) -> InpaintResult:
    """Steps 1-4 of the module docstring for the checked inputs ``prep`` with a ready ``engine``; one variant per
    seed. ``feather`` None: blend.default_feather(method, prep.grow). ``notes`` are kept first in the result.
    ``reports`` False skips step 3 (a caller that measures the seam itself after further edits, as outpaint's
    joins do): the variants stay in seed order, their reports hold only the outside measurements."""
    t_start = time.perf_counter() if t_start is None else t_start
    notes = engine.prompt_notes(prompt, negative_prompt) + list(notes or []) + engine.notes()

    t0 = time.perf_counter()
    engine.prepare(prep.rgb)
    crops = plan_crops(prep.mask, engine, context_margin)
    t_prepare = time.perf_counter() - t0

    steps = Steps(engine.steps() * len(crops) * len(seeds), progress, cancel)
    # the cross-fade fills the growth band (less the fringe headroom) unless the caller set a width
    join_feather = feather if feather is not None else blend.default_feather(method, prep.grow)

    t_generate = t_composite = 0.0
    images = []
    for seed in seeds:
        current = prep.rgb
        for crop in crops:
            steps.check()
            t0 = time.perf_counter()
            pixels, crop_mask = crop_input(current, crop)
            engine.locate(crop.box)
            generated = engine.fill(pixels, crop_mask, prompt=prompt, negative_prompt=negative_prompt or None,
                                    seed=seed, step=steps.step)
            t_generate += time.perf_counter() - t0
            t0 = time.perf_counter()
            current = paste(current, generated, crop, method, join_feather, notes)
            t_composite += time.perf_counter() - t0
        images.append(current)

    t0 = time.perf_counter()
    if reports:
        found = [seams.seam_report(prep.rgb, img, prep.mask) for img in images]
        images, found, ranked_seeds = rank(images, found, list(seeds))
    else:
        found, ranked_seeds = [{} for _ in images], list(seeds)
    images = prep.finish(images, found)
    t_report = time.perf_counter() - t0

    return InpaintResult(
        images=images,
        reports=found,
        seeds=ranked_seeds,
        boxes=[crop.box for crop in crops],
        mask=prep.mask,
        given_mask=prep.given,
        grow=prep.grow,
        timings={
            "load": t_load, "prepare": t_prepare, "generate": t_generate, "composite": t_composite,
            "report": t_report, "total": time.perf_counter() - t_start,
        },
        engine=engine.name,
        model=engine.model,
        notes=list(dict.fromkeys(notes)),
        sizes=[crop.size for crop in crops],
        params=engine.settings(),
    )
