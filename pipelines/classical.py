"""The classical engine: OpenCV's Telea (fast marching) and Navier-Stokes fills. No weights needed.

    result = inpaint(image, mask, method="telea")        # same result type as pipelines.inpaint.inpaint
    filled = fill(image, mask, method="ns", radius=5)    # the bare fill, HWC uint8 RGB

It is how the app and the CLI work with no model downloaded, and the pre-fill for object removal
before diffusion (inpaint(..., prefill=True)). A prompt is ignored; the result says so in its notes.

Formats: HWC uint8 RGB images, HW bool masks (True = repaint), XYXY boxes. OpenCV wants BGR: the
conversion happens at the cv2 call and nowhere else.
"""

from __future__ import annotations

import time

import cv2
import numpy as np

from . import masks
from .errors import UserError
from .inpaint import (
    DEFAULT_GROW,
    DEFAULT_MARGIN,
    GROUP_GAP,
    InpaintResult,
    ProgressFn,
    check_float,
    check_int,
    check_cancel,
    check_feather,
    check_method,
    prepare,
)

METHODS = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}


def fill(image: np.ndarray, mask: np.ndarray, method: str = "telea", radius: float = 5.0) -> np.ndarray:
    """Fill the True pixels of ``mask`` in ``image`` (HWC uint8 RGB) with OpenCV; returns a new HWC uint8 RGB.

    method: "telea" (Telea 2004, fast marching) or "ns" (Navier-Stokes, Bertalmio 2001).
    radius: px of neighbourhood each filled pixel draws from (> 0).
    Pixels outside the mask are returned unchanged.
    """
    if method not in METHODS:
        raise UserError(f"classical method must be one of {', '.join(METHODS)}, got {method!r}")
    radius = check_float(radius, "radius")
    if radius <= 0:
        raise UserError(f"radius must be > 0, got {radius}")
    image = np.asarray(image)
    mask = np.asarray(mask, dtype=bool)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise UserError(f"fill needs HWC uint8 RGB, got shape {image.shape} and dtype {image.dtype}")
    if mask.shape != image.shape[:2]:
        raise UserError(f"the mask is {mask.shape[1]}x{mask.shape[0]} but the image is {image.shape[1]}x{image.shape[0]}")
    if not mask.any():
        return image.copy()
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    out = cv2.inpaint(bgr, mask.astype(np.uint8) * 255, float(radius), METHODS[method])
    out = cv2.cvtColor(out, cv2.COLOR_BGR2RGB)
    out[~mask] = image[~mask]  # cv2 leaves them alone; make it a guarantee
    return out


def inpaint(
    image,
    mask,
    prompt: str = "",
    negative_prompt: str = "",
    *,
    method: str = "telea",
    radius: float = 5.0,
    grow: int = DEFAULT_GROW,
    feather: float | None = None,
    blend_method: str = "seamless",
    context_margin: int = DEFAULT_MARGIN,
    progress: ProgressFn | None = None,
    cancel=None,
    ignored: dict | None = None,
) -> InpaintResult:
    """Inpaint with a classical fill; same result type as pipelines.inpaint.inpaint.

    Each group of nearby mask regions is filled inside its context box (so a small mask on a large photo
    costs little), then composited with blend.composite(method=blend_method); pixels outside the mask are
    byte-identical. ``prompt``/``negative_prompt`` are ignored (noted in the result); ``ignored`` lists
    diffusion-only parameters the caller set, for the notes. progress(step, total) is called per group.
    """
    from . import blend, seams

    t_start = time.perf_counter()
    if method not in METHODS:
        raise UserError(f"classical method must be one of {', '.join(METHODS)}, got {method!r}")
    radius = check_float(radius, "radius")
    if radius <= 0:
        raise UserError(f"radius must be > 0, got {radius}")
    blend_method = check_method(blend_method)
    feather = check_feather(feather)
    context_margin = check_int(context_margin, "context_margin", 0)
    prep = prepare(image, mask, grow)
    check_cancel(cancel)

    notes = []
    if (prompt or "").strip() or (negative_prompt or "").strip():
        notes.append(f"prompt ignored by the classical engine ({method})")
    defaults = {"model": None, "seed": None, "variants": 1, "prefill": False}
    for name, value in (ignored or {}).items():
        if value is not None and value != defaults.get(name):
            notes.append(f"{name} ignored by the classical engine ({method})")

    t0 = time.perf_counter()
    width, height = prep.size
    pad = context_margin + int(np.ceil(radius)) * 2
    jobs = []
    for group in masks.groups(prep.mask, gap=GROUP_GAP):
        jobs.append((group, masks.context_box(group, (width, height), margin=pad, aspect=1.0, multiple=8)))
    t_prepare = time.perf_counter() - t0

    t_fill = t_composite = 0.0
    current = prep.rgb
    join_feather = feather if feather is not None else blend.default_feather(blend_method, grow)
    for k, (group, box) in enumerate(jobs):
        check_cancel(cancel, k, len(jobs))
        x0, y0, x1, y1 = box
        t0 = time.perf_counter()
        filled = fill(current[y0:y1, x0:x1], group[y0:y1, x0:x1], method=method, radius=radius)
        t_fill += time.perf_counter() - t0
        t0 = time.perf_counter()
        current = blend.composite(current, filled, group, method=blend_method, feather=join_feather, grow=0, box=box,
                                  notes=notes)
        t_composite += time.perf_counter() - t0
        if progress is not None:
            progress(k + 1, len(jobs))

    t0 = time.perf_counter()
    report = seams.seam_report(prep.rgb, current, prep.mask)
    images = prep.finish([current], [report])
    t_report = time.perf_counter() - t0
    return InpaintResult(
        images=images,
        reports=[report],
        seeds=[None],
        boxes=[box for _, box in jobs],
        mask=prep.mask,
        given_mask=prep.given,
        grow=prep.grow,
        timings={
            "load": 0.0, "prepare": t_prepare, "generate": t_fill, "composite": t_composite,
            "report": t_report, "total": time.perf_counter() - t_start,
        },
        engine=method,
        model=None,
        notes=list(dict.fromkeys(notes)),
        sizes=[(x1 - x0, y1 - y0) for _, (x0, y0, x1, y1) in jobs],
    )
