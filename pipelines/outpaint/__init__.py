"""Outpainting: extend the canvas in any direction, in one shot or a window at a time, without seams or drift.

    result = outpaint(image, right=512, prompt="a sandy beach", seed=7)             # tiled (default)
    result = outpaint(image, aspect="16:9", anchor="left", engine="telea")         # classical, no weights
    result.image      # HWC uint8, the new canvas; the original sits byte-identical at result.offset
    result.joins      # one dict per join (window): side, box, new_box, known_px, seam report
    result.drift      # per side: Lab mean distance of the far new strip from the original's border ring

Formats: images are HWC uint8 RGB (RGBA and HW greyscale accepted: the new area is opaque, greyscale
comes back greyscale); masks are HW bool, True = new (generated) pixels; boxes are XYXY ints with
exclusive ends in canvas pixel coordinates; offsets and sizes are (x, y) / (width, height).

Steps:
  1. check the parameters; the extension comes from explicit sizes (left/right/top/bottom px) or from a
     target aspect ratio and an anchor; the new canvas must stay under io.MAX_PIXELS;
  2. build the canvas with the original at its offset and pre-fill the new area (prefill/refill): the
     border stretched outward (nearest known pixel), blurred with a sigma that grows with the distance
     from the border, plus Gaussian grain matched to the high-pass amplitude of the border ring, so a
     model that starts from the canvas (strength < 1, blended latent diffusion) starts from plausible
     colours; in tiled mode every window is pre-filled again from the pixels known at that moment;
  3. generate, with the engine leased once for the whole job (pipelines.generate.engines):
     - "single": one join over the whole new area with a strip of ``context`` px of the original as
       context (the driver resizes the crop to the engine's native resolution);
     - "tiled": left, right, top, bottom in turn, a band of at most ``max_new_fraction`` of a window at a
       time; each window (``window`` px, the engine's native size by default) holds at least ``context`` px
       of known pixels (original or generated earlier); long edges are covered by several overlapping
       windows along the edge. plan_windows() lists the windows in advance.
     Every join goes through the engine driver (pipelines.generate.driver: the boundary engine's
     blend.composite, "seamless" by default, and the outside check) and gets ONE seams.seam_report against
     the canvas before it, after drift control;
  4. drift control: after each join the Lab mean/std of the new pixels are pulled towards those of the
     original's border ring on that side (the part facing the window), with a weight that rises from 0 at
     the known pixels to ``drift_strength`` at the far side, so joins stay continuous and a long extension
     does not wander in tone;
  5. the original is written back (it is never touched, the assignment only makes it explicit) and the
     far-strip colour drift per side is measured.

The package: plan.py (sizes, aspect, windows), prefill.py (pre-fill and refill), drift.py (drift control and its
measure), run.py (outpaint(), one join at a time).
"""

from .drift import DRIFT_STRENGTH, anchor_correct, colour_drift, far_strip
from .plan import (
    ANCHORS,
    CLASSICAL_WINDOW,
    DEFAULT_NEW_FRACTION,
    MODES,
    SIDES,
    Window,
    extension,
    parse_aspect,
    plan_windows,
)
from .prefill import PREFILL_MAX_SIGMA, REFILL_REACH, RING, border_ring, prefill, refill
from .run import DEFAULT_FEATHER, ENGINES, Join, OutpaintResult, generate_window, outpaint

__all__ = [
    "ANCHORS", "CLASSICAL_WINDOW", "DEFAULT_FEATHER", "DEFAULT_NEW_FRACTION", "DRIFT_STRENGTH", "ENGINES", "Join",
    "MODES", "OutpaintResult", "PREFILL_MAX_SIGMA", "REFILL_REACH", "RING", "SIDES", "Window", "anchor_correct",
    "border_ring", "colour_drift", "extension", "far_strip", "generate_window", "outpaint", "parse_aspect",
    "plan_windows", "prefill", "refill",
]
