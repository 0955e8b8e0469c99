"""Outpainting, 3 and 5: the run. The engine is leased once for the whole job; each window (tiled) or the whole
new area (single) is one join: generated through the engine driver (pipelines.generate.driver, the same crop ->
generate -> paste-back path as inpaint()), its drift corrected, then given ONE seam report against the canvas
before it. The original is verified untouched (fail closed) and the canvas goes back to the input's own format."""

from __future__ import annotations

import contextlib
import secrets
import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from .. import io, masks
from ..errors import UserError
from ..generate.checks import (
    ProgressFn,
    check_cancel,
    check_feather,
    check_float,
    check_generation,
    check_int,
    check_method,
)
from ..generate.engines import CLASSICAL
from ..generate.engines import NAMES as ENGINES
from ..generate.result import InpaintResult, jsonable
from .drift import DRIFT_STRENGTH, _anchor_correct_window, _lab_stats, colour_drift
from .plan import (
    CLASSICAL_WINDOW,
    DEFAULT_NEW_FRACTION,
    MODES,
    SIDES,
    _side_parts,
    _side_span,
    _touches_in_box,
    extension,
    plan_windows,
)
from .prefill import _as_rgb, _lab, border_ring, prefill, refill

DEFAULT_FEATHER = 1.0
"""Cross-fade width (px) of joins between generated strips when feather=None (method "seamless"). The
cross-fade hands texture over from the pixels under the mask, the pre-fill (stretch plus grain matched to
the ring): at a join with the original that grain bridges the original's texture and a smoother
generation, so those joins keep blend's default (4 px); between generated strips the ring is the smooth
generation itself and a 4 px hand-over left a line (chelsea, telea, tiled: noref_ratio 1.4-2.4 at later
joins, 0.97-1.04 with 1 px; 0 px left a step at the join with the original)."""


@dataclass
class OutpaintResult(InpaintResult):
    """What outpaint() returns: an InpaintResult for the new canvas, plus

    offset   (x, y) of the original's top-left pixel in the canvas
    pads     {"left", "right", "top", "bottom"} px added on each side
    joins    one dict per join: side, box (window XYXY), new_box, known_px (known pixels in the window),
             new_px, report (seams.seam_report against the canvas before the join, on the join's mask)
    drift    per extended side: Lab mean distance (dE76) between the outermost RING px of the new area
             and the original's border ring on that side
    mode     "tiled" or "single"

    ``reports[0]`` is the seam report of the whole new area against the pre-filled canvas; ``mask`` is
    the new area (HW bool, canvas size, True = generated).
    """

    offset: tuple[int, int] = (0, 0)
    pads: dict = field(default_factory=dict)
    joins: list[dict] = field(default_factory=list)
    drift: dict = field(default_factory=dict)
    mode: str = "tiled"

    def summary(self) -> dict:
        out = super().summary()
        out.update(
            mode=self.mode,
            offset=list(self.offset),
            pads=dict(self.pads),
            size=[int(self.images[0].shape[1]), int(self.images[0].shape[0])],
            joins=[
                {"side": j["side"], "box": list(j["box"]), "new_box": list(j["new_box"]),
                 "known_px": int(j["known_px"]), "new_px": int(j["new_px"]), "report": jsonable(j["report"])}
                for j in self.joins
            ],
            drift={k: round(float(v), 4) for k, v in self.drift.items()},
        )
        return out


def generate_window(
    window: np.ndarray, mask: np.ndarray, *, engine, prompt: str, negative_prompt: str, seed: int | None, method: str,
    feather: float | None, cancel=None,
) -> np.ndarray:
    """Generate the ``mask`` pixels of one window (HWC uint8 RGB, a canvas crop) with the job's leased ``engine``
    (a generate.engine.Engine) through the driver and composite them with the boundary engine; returns the window,
    changed only where ``mask`` is True (verified by the driver). The whole window is one crop (the context margin
    covers it), generated at the engine's native size; the mask is not grown (it would reach into known pixels).
    No seam report here: the join makes its one report after drift control."""
    from ..generate import driver
    from ..generate.prepare import prepare

    result = driver.run(prepare(window, mask), engine, prompt=prompt, negative_prompt=negative_prompt, seeds=[seed],
                        method=method, feather=feather, context_margin=max(window.shape[:2]), cancel=cancel,
                        reports=False)
    return result.images[0]


@dataclass
class Join:
    """One generation of an outpaint: ``mask`` (the new pixels, on the window ``box``) in the band ``new_box`` on
    ``side``; ``parts``: (side, box, mask on that box, span of the original's border it faces) for drift control;
    ``refresh``: pre-fill the window's unknown pixels again first (tiled windows after the first)."""

    index: int
    side: str
    box: tuple[int, int, int, int]
    new_box: tuple[int, int, int, int]
    mask: np.ndarray
    parts: list
    refresh: bool


@dataclass
class _Run:
    """What every join of one outpaint shares: the 8-bit original, the canvas (written in place), the leased engine
    and its settings, and what has been measured so far."""

    rgb: np.ndarray
    canvas: np.ndarray
    known: np.ndarray
    engine: object
    settings: dict
    seed: int
    drift_strength: float
    auto_feather: bool
    cancel: object = None
    progress: ProgressFn | None = None
    joins: list = field(default_factory=list)
    seconds: dict = field(default_factory=lambda: {"generate": 0.0, "drift": 0.0, "report": 0.0})

    def apply(self, join: Join, total: int, done: np.ndarray) -> None:
        """Generate one join, composite it, correct its drift and report its seam, in place on the canvas.
        ``done``: the pixels known before it (the window's others are pre-filled again when join.refresh). Every
        step reads and writes the window only, so a join costs what its window costs, whatever the canvas's
        size."""
        from .. import seams

        x0, y0, x1, y1 = join.box
        check_cancel(self.cancel, join.index, total)
        t0 = time.perf_counter()
        window_view = self.canvas[y0:y1, x0:x1]
        if join.refresh:  # pre-fill the window's unknown pixels again, from what is known now
            window_view[...] = refill(window_view, done[y0:y1, x0:x1], self.seed + join.index)
        settings = self.settings
        if self.auto_feather and not _touches_in_box(join.mask, join.box, self.known):
            settings = dict(settings, feather=DEFAULT_FEATHER)
        out = generate_window(window_view, join.mask, engine=self.engine, seed=self.seed + join.index, **settings)
        before = window_view.copy()
        window_view[join.mask] = np.asarray(out)[join.mask]  # only the window's new pixels are ever written
        del out
        self.seconds["generate"] += time.perf_counter() - t0
        if self.drift_strength > 0:
            t0 = time.perf_counter()
            for part_side, (px0, py0, px1, py1), part_mask, span in join.parts:
                target = _lab_stats(_lab(border_ring(self.rgb, part_side, span)))
                _anchor_correct_window(self.canvas[py0:py1, px0:px1], part_mask, target, self.drift_strength)
            self.seconds["drift"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        # the join's one report, after drift control, on the window: inside it the mask's edge is the join with
        # known pixels; the band beyond the window's along-edge ends is left to the next window (its own join)
        report = seams.seam_report(before, window_view, join.mask)
        del before
        self.seconds["report"] += time.perf_counter() - t0
        self.joins.append({
            "side": join.side, "box": tuple(int(v) for v in join.box),
            "new_box": tuple(int(v) for v in join.new_box), "known_px": int(join.mask.size - join.mask.sum()),
            "new_px": int(join.mask.sum()), "report": report,
        })
        if self.progress is not None:
            self.progress(join.index + 1, total)


def outpaint(
    image,
    left: int = 0,
    right: int = 0,
    top: int = 0,
    bottom: int = 0,
    *,
    aspect=None,
    anchor: str = "center",
    prompt: str = "",
    negative_prompt: str = "",
    mode: str = "tiled",
    engine: str = "diffusers",
    model=None,
    steps: int = 30,
    strength: float = 0.9,
    guidance: float | None = None,
    seed: int | None = None,
    window: int | None = None,
    context: int | None = None,
    max_new_fraction: float = DEFAULT_NEW_FRACTION,
    drift_control: bool | float = True,
    method: str = "seamless",
    feather: float | None = None,
    progress: ProgressFn | None = None,
    cancel=None,
    device: str | None = "auto",
    dtype=None,
    allow_download: bool = True,
) -> OutpaintResult:
    """Extend ``image`` by ``left``/``right``/``top``/``bottom`` px (or to ``aspect`` with ``anchor``).

    image             HWC uint8 RGB (RGBA, HW greyscale, LA, 16-bit and PIL accepted); it sits byte-identical
                      in the result, at its own format, at offset (left, top); the new area is generated on an
                      8-bit working copy and written at the input's depth
    aspect, anchor    instead of sizes: a target width/height ("16:9", "4/3", 1.5) and where the original
                      sits along the axis that grows ("center", "left", "right", "top", "bottom")
    prompt            what to paint in the new area (ignored by the classical engines; noted)
    mode              "tiled" (a band at a time, overlapping windows) or "single" (one generation)
    engine, model     "diffusers" with a models.LoadedModel / hub id / folder (None: the default model), or a
                      classical fill "telea" / "ns" (no weights)
    steps, strength, guidance, seed   as for inpaint(); strength < 1 (default 0.9) lets the model start from
                      the pre-filled canvas; window k (tiled) uses seed + k
    window            tiled: window side in canvas px (default: the model's native size, 512 for classical);
                      larger windows are resized down to the native size by inpaint()
    context           px of known pixels each window holds across the band (default window // 3; in
                      "single" the strip of the original given as context)
    max_new_fraction  tiled: the largest share of a window that is new (default 1/3), in (0, 0.9]
    drift_control     True (strength DRIFT_STRENGTH), False, or a strength in [0, 1]: anchor the Lab
                      statistics of each new strip to the original's border ring on that side
    method, feather   blend.composite settings for every join (contract-safe methods only; feather None:
                      blend's default at joins with the original, DEFAULT_FEATHER between generated
                      strips for "seamless")
    progress          progress(done, total) after each generation (window)
    cancel            a threading.Event; inpaint.Cancelled is raised before the next window when set

    Raises ValueError for bad parameters (no extension, negative sizes, a canvas over io.MAX_PIXELS,
    a bad aspect), inpaint.Cancelled when cancelled.
    """
    t_start = time.perf_counter()
    # 1. Checks.
    source = io.check_native(image, min_side=2)  # the input at its own format: it must come back byte-identical
    rgb, alpha, grey = _as_rgb(io.to_working(source))
    h, w = rgb.shape[:2]
    pads = extension((w, h), left, right, top, bottom, aspect=aspect, anchor=anchor)
    if mode not in MODES:
        raise UserError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if engine not in ENGINES:
        raise UserError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if not isinstance(prompt, str) or not isinstance(negative_prompt or "", str):
        raise UserError("prompt and negative_prompt must be strings")
    method = check_method(method)
    feather = check_feather(feather)
    auto_feather = feather is None and method == "seamless"
    strength, steps, guidance = check_generation(strength, steps, guidance)  # checked for every engine
    max_new_fraction = check_float(max_new_fraction, "max_new_fraction")
    if not 0.0 < max_new_fraction <= 0.9:
        raise UserError(f"max_new_fraction must be in (0, 0.9], got {max_new_fraction}")
    if isinstance(drift_control, bool):
        drift_strength = DRIFT_STRENGTH if drift_control else 0.0
    else:
        drift_strength = check_float(drift_control, "drift_control")
        if not 0.0 <= drift_strength <= 1.0:
            raise UserError(f"drift_control must be True, False or a strength in [0, 1], got {drift_control!r}")
    if seed is not None:
        seed = check_int(seed, "seed", 0, 2**62)
    else:
        seed = secrets.randbelow(2**31)
    if window is not None:
        window = check_int(window, "window", 16, 8192)
    if context is not None:
        context = check_int(context, "context", 1)
    check_cancel(cancel)

    with contextlib.ExitStack() as stack:  # holds the engine's lease for the whole job
        notes: list[str] = []
        t_load = 0.0
        t0 = time.perf_counter()
        if engine in CLASSICAL:
            from ..generate.classical import ClassicalEngine

            engine_ = ClassicalEngine(engine)
        else:
            from ..generate import engines

            engine_ = stack.enter_context(engines.lease(
                engine, model=model, device=device, dtype=dtype, allow_download=allow_download, strength=strength,
                steps=steps, guidance=guidance))
        t_load = time.perf_counter() - t0
        notes += engine_.prompt_notes(prompt, negative_prompt) + engine_.notes()
        native = engine_.native_size or CLASSICAL_WINDOW
        window = window or native
        if context is None:
            context = window // 3
        if mode == "tiled" and context >= window:
            raise UserError(f"context ({context} px) must be smaller than the window ({window} px)")

        # 2. Canvas and pre-fill.
        t0 = time.perf_counter()
        offset = (pads["left"], pads["top"])
        canvas = prefill(rgb, pads, seed)
        H, W = canvas.shape[:2]
        known = np.zeros((H, W), bool)
        known[offset[1]:offset[1] + h, offset[0]:offset[0] + w] = True
        new_area = ~known
        prefilled = canvas.copy()
        t_prepare = time.perf_counter() - t0

        job = _Run(
            rgb=rgb, canvas=canvas, known=known, engine=engine_, seed=seed, drift_strength=drift_strength,
            auto_feather=auto_feather, cancel=cancel, progress=progress,
            settings=dict(prompt=prompt, negative_prompt=negative_prompt, method=method, feather=feather,
                          cancel=cancel),
        )

        # 3-4. Generate (with drift control after each join).
        if mode == "single":
            nx0, ny0, nx1, ny1 = masks.bbox(new_area)
            box = (max(0, nx0 - context), max(0, ny0 - context), min(W, nx1 + context), min(H, ny1 + context))
            bx0, by0, bx1, by1 = box
            job.apply(Join(0, "+".join(s for s in SIDES if pads[s]), box, (nx0, ny0, nx1, ny1),
                           new_area[by0:by1, bx0:bx1], _side_parts(pads, offset, (w, h), (W, H)), False), 1, known)
            boxes = [box]
        else:
            plan = plan_windows((w, h), pads, window=window, context=context, max_new_fraction=max_new_fraction)
            done = known.copy()
            for k, win in enumerate(plan):
                nx0, ny0, nx1, ny1 = win.new_box
                x0, y0, x1, y1 = win.box
                # the window's mask, on the window: its band minus the pixels generated earlier
                sub_mask = np.zeros((y1 - y0, x1 - x0), bool)
                sub_mask[ny0 - y0:ny1 - y0, nx0 - x0:nx1 - x0] = True
                sub_mask &= ~done[y0:y1, x0:x1]
                if not sub_mask.any():
                    continue
                span = _side_span(win.side, win.box, offset, (w, h))
                job.apply(Join(k, win.side, win.box, win.new_box, sub_mask, [(win.side, win.box, sub_mask, span)],
                               k > 0), len(plan), done)
                done[y0:y1, x0:x1] |= sub_mask
            boxes = [win.box for win in plan]

        # 5. The original must still be there, untouched (fail closed); the overall report and the drift.
        from .. import contract, seams

        ox, oy = offset
        contract.verify_outside(rgb, canvas[oy:oy + h, ox:ox + w], np.zeros((h, w), bool),
                                what="the outpainted canvas")

        t0 = time.perf_counter()
        overall = seams.seam_report(prefilled, canvas, new_area)
        drift = colour_drift(canvas, rgb, pads, offset)
        t_report = job.seconds["report"] + time.perf_counter() - t0
        if grey:
            work = cv2.cvtColor(canvas, cv2.COLOR_RGB2GRAY)
        elif alpha is not None:
            a = np.full((H, W), 255, np.uint8)
            a[known] = alpha.reshape(-1)
            work = np.dstack([canvas, a])
        else:
            work = canvas
        # back to the input's own format: the original's pixels as given (16-bit, LA, alpha), the new area from
        # the 8-bit canvas; verified before it is returned
        base = np.zeros((H, W) + source.shape[2:], source.dtype)
        base[oy:oy + h, ox:ox + w] = source
        final = io.from_working(base, work, new_area)
        contract.verify_outside(base, final, new_area, what="the outpainted canvas")
        return OutpaintResult(
            images=[final],
            reports=[overall],
            seeds=[seed],
            boxes=[tuple(int(v) for v in b) for b in boxes],
            mask=new_area,
            timings={
                "load": t_load, "prepare": t_prepare, "generate": job.seconds["generate"],
                "drift": job.seconds["drift"], "report": t_report, "total": time.perf_counter() - t_start,
            },
            engine=engine_.name,
            model=engine_.model,
            notes=notes,
            sizes=[(b[2] - b[0], b[3] - b[1]) for b in boxes],
            params=engine_.settings(),
            offset=offset,
            pads=pads,
            joins=job.joins,
            drift=drift,
            mode=mode,
        )
