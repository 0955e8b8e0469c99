"""The GrabCut fallback: click-to-segment without weights (OpenCV GrabCut seeded by the same clicks and box), with
the Segmenter interface, a time budget and a clear answer on flat pictures. Formats: pipelines.segment's docstring.
"""

from __future__ import annotations

import heapq
import logging
import math
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

import cv2
import numpy as np
from scipy import ndimage
from skimage import graph as sk_graph
from skimage import segmentation as sk_segmentation

from .. import masks as mask_ops
from ..errors import UserError
from . import ranking
from .checkpoints import ProgressCallback
from .prompts import Prompts, Segmentation, _check_previous, _frozen, check_image, check_prompts, image_key

logger = logging.getLogger(__name__)

FALLBACK_REASON = "no SAM 2.1 or SAM weights on disk"
"""Why a segmenter made without a choice (engine "auto") is the GrabCut fallback."""

GRABCUT_CLICK_ITERATIONS = 5
GRABCUT_BOX_ITERATIONS = 8
GRABCUT_MAX_ITERATIONS = 10
"""The most iterations a GrabCutSegmenter takes: each one is a colour-model fit and a max-flow solve."""

GRABCUT_MAX_SIDE = 512
"""GrabCut solves regions at most this many px on a side (downscaled with INTER_AREA, the mask upscaled back)."""

GRABCUT_MAX_SIDE_LIMIT = 1024
"""The largest ``max_side`` a GrabCutSegmenter accepts (the max-flow time grows faster than the pixel count)."""

GRABCUT_TIME_BUDGET = 5.0
"""Seconds one GrabCut segmentation may run; then it returns its best mask so far, with a note, instead of going on."""

FLAT_MESSAGE = "nothing to separate around the click: the picture is flat there; draw the mask by hand or add a box"
FLAT_NEGATIVE_MESSAGE = (
    "nothing separates the positive and negative clicks: they are on one flat area; draw the mask by hand or add a box"
)

_SEED_REACH = 0.25  # click seeds reach at most this fraction of the image's long side ...
_SEED_DELTA_E = 20.0  # ... through pixels within this Lab distance (or 3x the clicked spot's own spread)
_RING = 0.3  # background ring around a rectangle, as a fraction of its long side (at least _RING_MIN px)
_RING_MIN = 20
_BOX_BAND = 2  # a box's own edge, this many px wide at the working scale, is probable background (boxes are loose)
_FEATURE_BLUR = 1.5  # the colour GrabCut models is Lab smoothed this much (px, working scale) ...
_TEXTURE_SCALE = 3.0  # ... with the local spread of lightness at this scale (px) as a texture feature
_REFINE_BAND = 4  # then the edge is redrawn on the raw colours within this many px of the feature one (px of the
# working scale; for a user's box once more in the photo's own px, see _FULL_EDGE_MIN_SCALE)
_LOCAL_SIGMA = 4.0  # ... by local colour models: Gaussian-weighted (this sigma, px) means and variances of the sides
_LOCAL_SMOOTH = 0.7  # ... of Lab smoothed this much (px) ...
_LOCAL_VAR_FLOOR = 4.0  # ... with at least this variance per channel (8-bit Lab units squared)
_MID_BAND = 1.5  # last, a user's box: pixels within this many px of the edge go to the side whose local mean colour ...
_MID_GAP = 2.0  # ... (of that side's pixels at least this many px from the edge) ...
_MID_SIGMA = 2.0  # ... Gaussian-weighted with this sigma (px) ...
_MID_MIN_CONTRAST = 5.0  # ... is nearer along the line between the two means (skipped where they are closer in Lab)
_FINISH_MARGIN = 16  # a click's answer has its edge redrawn on the photo's pixels in its box grown by this many px
_FULL_EDGE_MIN_SCALE = 0.5  # a user's box: the edge is redrawn at full resolution too when solved at least this scale
_RECT_SCALE = 0.75  # a box's region is solved at this fraction of max_side (smoothed features need fewer pixels, and
# one max-flow solve, which the time budget cannot interrupt, grows faster than the pixel count)
_PASS1_SCALE = 0.625  # pass 1 (clicks only, on the whole picture) works at this fraction of max_side
_PASS2_COLLAPSE = 0.1  # pass 2 keeping less than this share of pass 1's answer has lost the object
_CANDIDATES = 5  # at most this many growing boxes when the clicks-only pass collapses or spills
_SP_SEGMENTS = 250  # clicks: pass 1 grows a region of about this many SLIC superpixels from the clicked one ...
_SP_BINS = ranking.HIST_BINS  # ... comparing their feature histograms (this many bins per channel) ...
_SP_STOP = 0.65  # ... adding the most similar neighbour until its Hellinger distance exceeds this ...
_SP_MAX_SHARE = 0.5  # ... or the region would cover more than this share of the picture
_SHARE_PENALTY = 0.5  # a hypothesis' separation score loses this much per share of the picture it covers
_HYPOTHESIS_MARGIN = 0.05  # ... and must beat the colour-seeded one by this much
_WIDE_GROWTH = 1.5  # clicks: a last hypothesis is the box recipe on pass 2's bounding box grown this much, ...
_WIDE_VOTES = ((0.3, False),)  # ... started from the ring vote ((threshold, sides) pairs: one start each), ...
_WIDE_SHARE_PENALTY = 0.25  # ... scored by its separation less this much per share of the picture it covers
_SQUARES = (0.2, 0.3, 0.4, 0.55)  # clicks: the box recipe also runs on squares this share of the long side ...
_SQUARE_SCALE = 0.4  # ... solved at this fraction of max_side ...
_SQUARE_ITERATIONS = 2  # ... with at most this many iterations ...
_SQUARE_EDGE = 0.1  # ... (an answer covering more of its square's edge than this is cut off or spilled)
_REGIONS = 3  # clicks: the box recipe also runs on the boxes of this many regions of the merge hierarchy
_AGREE_IOU = ranking.AGREE_IOU  # two answers agree at this IoU (regions whose boxes are both solved agree less)
_VOTE_BINS = 16  # boxes: _ring_vote's feature histograms have this many bins per channel ...
_VOTE_BLUR = 2.0  # ... its score map is smoothed this much (px, working scale) ...
_VOTE_THRESHOLDS = (0.45, 0.3)  # ... a score above a threshold starts a pixel as probable background (one start
# per threshold, the better separated answer wins) ...
_VOTE_MIN_FG = 0.1  # ... unless that leaves less than this fraction of the box probable foreground
_VOTE_SIDE_MIN = 30  # a user's box: each side's edge band with at least this many px is a reference of its own
_PLAIN_VOTES = tuple((threshold, False) for threshold in _VOTE_THRESHOLDS)  # (threshold, sides) per start: a box
_BOX_VOTES = tuple((threshold, True) for threshold in _VOTE_THRESHOLDS)  # ... of a click's pass, one the user drew
_USER_BOX_THRESHOLDS = (0.45, 0.3, 0.2, 0.6)  # a user's box: one start per threshold, the fitted box ranker picks
_USER_BOX_VOTES = tuple((threshold, True) for threshold in _USER_BOX_THRESHOLDS)
_DISCRIMINANT_MIN = 16  # _texture_features' discriminant needs at least this many pixels on either side
_SOLVE_THREADS = 2  # independent GrabCut starts are solved side by side in this many threads
_START_MIN_CHANGE = 0.01  # a further start is solved only when it differs from the first in this share of pixels
_FLAT_STEP = 2  # neighbours (working image, blurred) closer than this in every channel belong to one flat area ...
_FLAT_COVER = 0.98  # ... and a flat area around the click covering this much of the picture leaves nothing to separate;
_FLAT_AREA = 0.25  # one covering this much is the answer (GrabCut's max-flow crawls on a large flat area)
_FLAT_SPREAD = 20.0  # ... when 90% of it lies within this Lab distance of its median colour
_SMOOTH_RESIDUAL = 8.0  # a flat area is smooth when a quadratic colour surface explains 99% of it to this (RGB levels)


class GrabCutSegmenter:
    """Click-to-segment without weights: OpenCV GrabCut seeded by the same clicks and box. Always labelled fallback.

    What GrabCut models is not the raw colour but _texture_features: Lab smoothed a little plus the local spread of
    lightness, projected to 3 channels, so that a textured object whose colours overlap its surroundings' separates
    by its mean colour and texture (for a user's box the 3 channels keep the direction that best tells the box from
    the background around it, _texture_features' discriminant); a box's answer then has its edge redrawn on the raw
    colours in a narrow band by local colour models of the two sides (_refine_edge), and a user's box's edge is then
    put where the soft edge crosses half way between the two sides' local colours (_midpoint_edge).
    Box: outside the box is definite background (learnt from a ring around it, _RING of its long side), the box's
    own edge is probable background (a box is drawn loosely around the object), inside is probable foreground,
    positive/negative clicks are definite foreground/background discs; before GrabCut, the inside starts as probable
    background where its features are about as common in the ring (and the box's edge, or any one side of it) as
    inside (_ring_vote: a box is mostly background for a thin or holed object, and a foreground model started from the
    whole box keeps it); the vote runs at four thresholds (_USER_BOX_THRESHOLDS), each distinct start is solved, and
    a fitted ranker (_pick_box, ranking.box_features: separation, whether it reaches every side of the box,
    background kept along the box's edge, edges along its outline, parts, agreement) picks the answer. (The box recipe a
    click's pass runs uses two thresholds and the better separated answer, _separation.)
    (A box around the whole image, with positive clicks, is treated as clicks only.)
    Clicks only: pass 1 marks the whole image probable background and, around each positive click, the pixels
    connected to it through similar colours probable foreground (so the foreground colour model starts from what was
    clicked); a second pass-1 hypothesis starts from a region of SLIC superpixels grown from the clicked one by
    feature-histogram similarity (_superpixel_region: it takes in the parts of a textured or multi-coloured object
    unlike the clicked spot), and a third from the seeds on features that keep Fisher's discriminant of the seeds
    against the rest of the picture (_texture_features' ``inside``); another hypothesis wins when its answer stands
    apart from a ring around it clearly better (_separation on the principal-component features, less
    _SHARE_PENALTY per share of the picture, by _HYPOTHESIS_MARGIN); pass 2 re-runs the box
    recipe on pass 1's bounding box, grown by 15%, started from pass 1's mask; then the box recipe from the ring vote
    (_WIDE_VOTES) on pass 2's bounding box grown by half (_WIDE_GROWTH: it takes in parts of a textured object
    unlike the clicked one) is the last hypothesis, and wins when it scores better (_click_score: separation less
    _WIDE_SHARE_PENALTY per share of the picture). When pass 1 collapses onto the click or spills over most of the
    image, boxes around the seeds grow by half until one's result neither collapses nor reaches its edge. Last, the
    recipe of a user's box runs on squares of several sizes around the clicks (_SQUARES of the long side: a box the
    click does not give) and on the boxes of the best regions of a merge hierarchy of pass 1's superpixels that hold
    the clicks (_merged_regions, _REGIONS of them: a many-coloured object's parts are often more like each other
    than like what surrounds it), and of all these answers the one a fitted ranker scores highest wins
    (_best_answer, pipelines/segment/ranking.py: separation from two rings around it, size, edges along its outline,
    agreement with the other answers, whether a larger answer holding it separates better, the chain's choice;
    fitted by bench/grabcut_ranker.py on development scenes).
    Clicks are cumulative (pass all of them), so ``previous`` is only checked to belong to the same image: GrabCut
    starts again from all the clicks, which lets a negative click fully undo a region. Only the parts of the mask
    that a positive click touches are kept.
    GrabCut models colours: it works on objects whose colours differ from their surroundings and fails where they
    do not, and with a box it keeps other things that lie wholly inside the box (add a negative click on them).
    Same prepare()/segment() API as Segmenter; nothing to load. Results are repeatable (OpenCV's RNG is reseeded).

    Bounded work (a max-flow solve on a flat picture is slow): regions are solved at most ``max_side`` px on a side
    (<= GRABCUT_MAX_SIDE_LIMIT) and the mask is scaled back; each solve runs at most ``click_iterations`` /
    ``box_iterations`` (<= GRABCUT_MAX_ITERATIONS; the edge is then redrawn without GrabCut) and stops
    early once the mask no longer changes; at most _CANDIDATES growing boxes, len(_SQUARES) squares and _REGIONS
    regions' boxes (at _SQUARE_SCALE, _SQUARE_ITERATIONS) are tried; independent starts are solved
    side by side in two threads. A click on a flat picture (the area of near-equal colours around it covers the
    whole picture: a uniform image, a smooth gradient) is the UserError FLAT_MESSAGE, answered before any GrabCut;
    one on a large flat area of one colour (a quarter of the picture or more) gives that area, with a note; a box
    that holds nothing to separate gives the box itself, with a note. After ``time_budget`` seconds
    (None: no limit) no further iteration or pass starts and the best mask so far is returned, with a note
    (Segmentation.note); the one solve running at that moment finishes first.
    """

    loaded = True

    def __init__(
        self,
        *,
        reason: str = FALLBACK_REASON,
        click_iterations: int = GRABCUT_CLICK_ITERATIONS,
        box_iterations: int = GRABCUT_BOX_ITERATIONS,
        click_radius: int | None = None,
        max_side: int = GRABCUT_MAX_SIDE,
        time_budget: float | None = GRABCUT_TIME_BUDGET,
    ) -> None:
        _check_grabcut_settings(click_iterations, box_iterations, max_side, time_budget)
        self.reason = reason
        self.click_iterations = int(click_iterations)
        self.box_iterations = int(box_iterations)
        self.click_radius = click_radius
        self.max_side = int(max_side)
        self.time_budget = None if time_budget is None else float(time_budget)

    @property
    def engine(self) -> str:
        return f"grabcut (fallback: {self.reason})"

    def load(self, progress: ProgressCallback | None = None) -> "GrabCutSegmenter":
        """Nothing to load (API parity with Segmenter)."""
        return self

    def close(self) -> None:
        """Nothing to release (API parity with Segmenter)."""

    def prepare(self, image: np.ndarray) -> str:
        """Nothing to precompute; validates the image and returns its key."""
        return image_key(check_image(image))

    def segment(
        self,
        image: np.ndarray,
        *,
        points: Any = None,
        labels: Any = None,
        positive: Any = None,
        negative: Any = None,
        box: Any = None,
        previous: Segmentation | None = None,
        multimask: bool = True,
    ) -> Segmentation:
        """Same arguments and formats as Segmenter.segment; returns one candidate (score NaN: no estimate).

        A click on a flat picture is the UserError FLAT_MESSAGE; a compromise mask carries a ``note``.
        """
        image = check_image(image)
        prompts = check_prompts(
            image.shape[:2], points=points, labels=labels, positive=positive, negative=negative, box=box
        )
        key = image_key(image)
        if previous is not None:
            _check_previous(previous, key)  # GrabCut starts again from all the clicks: they are cumulative
        mask, note = _grabcut(
            image, prompts, click_iterations=self.click_iterations, box_iterations=self.box_iterations,
            click_radius=self.click_radius, max_side=self.max_side, budget=_Budget(self.time_budget),
        )
        return Segmentation(
            masks=_frozen(mask[None]),
            scores=_frozen(np.array([np.nan], np.float32)),
            best=0,
            logits=None,
            engine=self.engine,
            image_key=key,
            prompts=prompts,
            note=note,
        )


def _check_grabcut_settings(click_iterations: Any, box_iterations: Any, max_side: Any, time_budget: Any) -> None:
    for name, value in (("click_iterations", click_iterations), ("box_iterations", box_iterations)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
                or not 1 <= value <= GRABCUT_MAX_ITERATIONS:
            raise UserError(f"{name} must be a whole number from 1 to {GRABCUT_MAX_ITERATIONS}, got {value!r}")
    if isinstance(max_side, bool) or not isinstance(max_side, (int, np.integer)) \
            or not 64 <= max_side <= GRABCUT_MAX_SIDE_LIMIT:
        raise UserError(f"max_side must be a whole number of px from 64 to {GRABCUT_MAX_SIDE_LIMIT}, got {max_side!r}")
    if time_budget is not None and (isinstance(time_budget, bool) or not isinstance(time_budget, (int, float))
                                    or not 0 < time_budget < math.inf):
        raise UserError(f"time_budget must be a number of seconds > 0 (or None for no limit), got {time_budget!r}")


class _Budget:
    """The wall-clock guard of one GrabCut segmentation (``seconds`` from its creation; None: no limit).

    over() turns True, for good, once the time is up; allows(pixels) also says no (and turns over() True) when a
    GrabCut iteration on that many pixels, at the slowest rate seen so far in this segmentation, would end past it.
    """

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self._deadline = math.inf if seconds is None else time.monotonic() + seconds
        self._rate = 0.0  # the slowest seconds per pixel of an iteration so far
        self.hit = False

    def over(self) -> bool:
        if not self.hit and time.monotonic() >= self._deadline:
            self.hit = True
        return self.hit

    def allows(self, pixels: int) -> bool:
        if not self.over() and time.monotonic() + self._rate * pixels > self._deadline:
            self.hit = True
        return not self.hit

    def spent(self, seconds: float, pixels: int) -> None:
        self._rate = max(self._rate, seconds / max(1, pixels))

    def note(self) -> str:
        if not self.hit:
            return ""
        return f"GrabCut stopped at its {self.seconds:g} s time budget: the mask is the best found by then"


def grabcut_mask(
    image: np.ndarray,
    prompts: Prompts,
    *,
    click_iterations: int = GRABCUT_CLICK_ITERATIONS,
    box_iterations: int = GRABCUT_BOX_ITERATIONS,
    click_radius: int | None = None,
    max_side: int = GRABCUT_MAX_SIDE,
    time_budget: float | None = GRABCUT_TIME_BUDGET,
) -> np.ndarray:
    """GrabCut seeded by validated ``prompts`` (see check_prompts) on ``image`` (HWC uint8 RGB) -> HW bool mask.

    See GrabCutSegmenter for the recipe, the bounds on the work and ``time_budget``; a click on a flat picture is
    the UserError FLAT_MESSAGE, and a compromise mask is logged (GrabCutSegmenter.segment returns it as the note).
    RGB becomes BGR only at the cv2.grabCut call.
    """
    _check_grabcut_settings(click_iterations, box_iterations, max_side, time_budget)
    mask, note = _grabcut(
        image, prompts, click_iterations=click_iterations, box_iterations=box_iterations,
        click_radius=click_radius, max_side=max_side, budget=_Budget(time_budget),
    )
    if note:
        logger.info("%s", note)
    return mask


def _grabcut(
    image: np.ndarray,
    prompts: Prompts,
    *,
    click_iterations: int,
    box_iterations: int,
    click_radius: int | None,
    max_side: int,
    budget: _Budget,
) -> tuple[np.ndarray, str]:
    """grabcut_mask's steps; returns (mask, note), the note "" unless the mask is a compromise."""
    h, w = image.shape[:2]
    radius = int(click_radius) if click_radius is not None else max(3, round(0.008 * max(h, w)))
    pos, neg = prompts.positive, prompts.negative
    if prompts.box is not None:
        rect = _clip_rect(*prompts.box, h, w)
        if rect != (0, 0, w, h) or not len(pos):
            if _flat_box(image, rect, pos, max_side):
                x0, y0, x1, y1 = rect
                mask = np.zeros((h, w), bool)
                mask[y0:y1, x0:x1] = True
                return mask, "the picture is flat in and around the box: nothing to separate, so the mask is the box"
            mask = _grabcut_rect(image, rect, pos, neg, None, radius, box_iterations, max_side, budget,
                                 _USER_BOX_VOTES, discriminant=True, ranked=True)
            return mask, budget.note()
        # a box around the whole image says nothing about the background: segment from the clicks alone
    # 1. the flat area around the positive clicks: the whole picture is nothing to separate; a large part of it is
    # the answer (GrabCut's max-flow crawls there and has no edge to find but the area's own)
    work, sx, sy = _downscale(image, max_side)
    flat = _flat_area(work, pos * (sx, sy))
    share = float(np.count_nonzero(flat)) / flat.size
    smooth = share >= _FLAT_AREA and _smooth(work, flat)
    if share >= _FLAT_COVER and smooth:
        raise UserError(FLAT_MESSAGE)
    if smooth and _one_colour(work, flat):
        fh, fw = flat.shape
        if any(flat[min(fh - 1, int(y * sy)), min(fw - 1, int(x * sx))] for x, y in neg):
            raise UserError(FLAT_NEGATIVE_MESSAGE)
        return _keep_clicked(_upscale(flat, w, h), pos), "the click is on a large flat area: the mask is that area"
    # 2. pass 1, on a coarser picture: clicks and colour-connected seeds; then pass 2 (_pass2)
    mask, seeds, picture = _grabcut_seeded(image, pos, neg, radius, click_iterations, round(max_side * _PASS1_SCALE),
                                           budget)
    first, wide_next = _pass2(image, mask, seeds, pos, neg, radius, click_iterations, max_side, budget)
    if budget.over():
        return _finish_edge(image, first, pos, neg, radius, max_side), budget.note()
    # 3. the box recipe on the boxes of the merge hierarchy's best regions and on squares of several sizes around the
    # clicks (before the rest of the chain: under the time budget they are worth more per second), then the rest of
    # the chain; the fitted ranker picks one of all these answers
    extra = _boxed_answers(image, _region_rects(image, picture, pos, neg) + _square_rects(image, pos, radius), pos,
                           neg, radius, click_iterations, max_side, budget)
    answers, choice = _click_chain(image, first, wide_next, seeds, picture.feats, pos, neg, radius, click_iterations,
                                   max_side, budget)
    best = _best_answer(picture, answers, choice, extra, radius, pos)
    return _finish_edge(image, best, pos, neg, radius, max_side), budget.note()


def _finish_edge(
    image: np.ndarray, mask: np.ndarray, pos: np.ndarray, neg: np.ndarray, radius: int, max_side: int
) -> np.ndarray:
    """A click's answer (HW bool, solved on a coarser picture and scaled up) with its edge redrawn on the photo's own
    pixels: _refine_edge, then _midpoint_edge, on the answer's box grown by _FINISH_MARGIN px, the clicks' discs
    definite. Only where that crop is at most (max_side / _FULL_EDGE_MIN_SCALE)^2 pixels, so memory stays bounded on a
    large photo. Dev seeds 3 / 4 (150 clicks each, no budget): mean IoU 0.854 -> 0.871, 0.835 -> 0.851, IoU >= 0.8
    127 -> 127, 118 -> 119; better by more than 0.01 in 83 / 78 scenes, worse in 1 / 4."""
    if not mask.any():
        return mask
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    x0, y0, x1, y1 = _clip_rect(xs.min() - _FINISH_MARGIN, ys.min() - _FINISH_MARGIN, xs.max() + 1 + _FINISH_MARGIN,
                                ys.max() + 1 + _FINISH_MARGIN, h, w)
    if (x1 - x0) * (y1 - y0) > (max_side / _FULL_EDGE_MIN_SCALE) ** 2:
        return mask
    crop, part = image[y0:y1, x0:x1], mask[y0:y1, x0:x1]
    gc = np.where(part, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    _draw_clicks(gc, pos, neg, radius, (1.0, 1.0), (x0, y0))
    out = mask.copy()
    out[y0:y1, x0:x1] = _midpoint_edge(crop, gc, _refine_edge(crop, gc, part))
    return _keep_clicked(out, pos) if out.any() else mask


def _pass2(
    image: np.ndarray, mask: np.ndarray, seeds: np.ndarray, pos: np.ndarray, neg: np.ndarray, radius: int,
    iterations: int, max_side: int, budget: _Budget,
) -> tuple[np.ndarray, bool]:
    """From pass 1's answer ``mask`` (and its colour ``seeds``, HW bool): the chain's first answer, and whether the
    chain goes on with the wide hypothesis (True) or with the fallback's growing boxes (False; see _click_chain).
    Where pass 1 neither collapsed nor spilled, pass 2 runs the box recipe on its bounding box, grown by 15%, started
    from it (when the budget allows)."""
    h, w = image.shape[:2]
    area = int(mask.sum())
    if not (area >= 0.5 * seeds.sum() and area < 0.6 * h * w):
        return (mask if area else seeds), False
    rect = _grow_rect(mask_ops.bbox(mask), 1.15, 0.02 * max(h, w), h, w)
    if budget.allows(_work_pixels(_ring_rect(rect, h, w), max_side)):
        second = _grabcut_rect(image, rect, pos, neg, mask, radius, iterations, max_side, budget)
        if np.count_nonzero(second) >= _PASS2_COLLAPSE * area:
            mask = second  # (else pass 2 lost what pass 1 found, as its ring held the object's colours: pass 1 stands)
    return mask, True


def _click_chain(
    image: np.ndarray, first: np.ndarray, wide_next: bool, seeds: np.ndarray, feats: np.ndarray, pos: np.ndarray,
    neg: np.ndarray, radius: int, iterations: int, max_side: int, budget: _Budget,
) -> tuple[list[np.ndarray], int]:
    """The rest of the click's chain after _pass2 (``first``, ``wide_next``; ``seeds`` HW bool): its answers (HW
    bool, ``first`` among them) and the index of the one it chooses. Stops early (with what it has) when the budget
    does not allow the next solve."""
    h, w = image.shape[:2]
    if wide_next:
        # one more hypothesis: the box recipe (ring vote, no start from pass 1) on pass 2's bounding box grown by
        # _WIDE_GROWTH, which takes in what pass 1 left out; the one that stands apart from the ring around it better
        # (_separation less _WIDE_SHARE_PENALTY per share of the picture) is the chain's choice
        rect = _grow_rect(mask_ops.bbox(first), _WIDE_GROWTH, 0.02 * max(h, w), h, w) if first.any() else None
        if rect is None or not budget.allows(_work_pixels(_ring_rect(rect, h, w), max_side)):
            return [first], 0
        wide = _grabcut_rect(image, rect, pos, neg, None, radius, iterations, max_side, budget, _WIDE_VOTES)
        better = _click_score(feats, wide, _WIDE_SHARE_PENALTY) > _click_score(feats, first, _WIDE_SHARE_PENALTY)
        return [first, wide], int(better)
    # Pass 1 collapsed onto the click (the object's colours also fill the background model) or spilled over most of
    # the image: fall back to boxes around the seeds, growing by half until one neither collapses nor reaches its
    # own edge (then the background outside it is clean, which is what GrabCut needs). Of pass 1's answer (or the
    # seeds) and the boxes' answers, the one that stands apart from the ring around it best, less _SHARE_PENALTY per
    # share of the picture, is the chain's choice (a growing box can end in a spill whose ring is unlike it too).
    rect = _grow_rect(mask_ops.bbox(seeds), 1.5, 0.02 * max(h, w), h, w)
    answers = [first]
    for _ in range(_CANDIDATES):
        if not budget.allows(_work_pixels(_ring_rect(rect, h, w), max_side)):
            break
        candidate = _grabcut_rect(image, rect, pos, neg, None, radius, iterations, max_side, budget)
        fill = candidate.sum() / max(1, (rect[2] - rect[0]) * (rect[3] - rect[1]))
        if fill >= 0.08:  # (one that collapsed onto the click is no answer)
            answers.append(candidate)
            if _edge_fraction(candidate, rect) < 0.05:
                break
        bigger = _grow_rect(rect, 1.5, 0.01 * max(h, w), h, w)
        if bigger == rect:
            break
        rect = bigger
    scores = [_click_score(feats, answer, _SHARE_PENALTY) for answer in answers]
    return answers, int(np.argmax(scores))


def _square_rects(image: np.ndarray, pos: np.ndarray, radius: int) -> list[tuple]:
    """Squares (XYXY, clipped to the image) centred on the positive clicks, _SQUARES of the picture's long side:
    those that hold every click with room to spare."""
    h, w = image.shape[:2]
    cx, cy = pos.mean(axis=0)
    spread = float(np.ptp(pos, axis=0).max()) if len(pos) > 1 else 0.0
    rects = []
    for size in _SQUARES:
        half = size * max(h, w) / 2
        if half >= 0.6 * spread + 2 * radius:
            rects.append(_clip_rect(cx - half, cy - half, cx + half, cy + half, h, w))
    return rects


def _region_rects(image: np.ndarray, picture: "_Picture", pos: np.ndarray, neg: np.ndarray) -> list[tuple]:
    """The boxes (grown by 15%, XYXY in the image's pixels) of the _REGIONS regions of the merge hierarchy
    (_merged_regions on pass 1's ``picture``) that score best (_click_score, _WIDE_SHARE_PENALTY) and differ from
    each other (IoU < _AGREE_IOU)."""
    h, w = image.shape[:2]
    feats = picture.feats
    fh, fw = feats.shape[:2]
    if _REGIONS <= 0:
        return []
    scale = np.array([fw / w, fh / h])
    regions = _merged_regions(picture, pos * scale, neg * scale)
    scores = [_click_score(feats, region, _WIDE_SHARE_PENALTY) for region in regions]
    chosen: list[np.ndarray] = []
    for k in np.argsort(scores)[::-1]:
        region = regions[k]
        if not any(_agree(region, c) for c in chosen):
            chosen.append(region)
        if len(chosen) == _REGIONS:
            break
    rects = []
    for region in chosen:
        x0, y0, x1, y1 = mask_ops.bbox(region)
        rects.append(_grow_rect((x0 / scale[0], y0 / scale[1], x1 / scale[0], y1 / scale[1]), 1.15,
                                0.02 * max(h, w), h, w))
    return rects


def _boxed_answers(
    image: np.ndarray, rects: list[tuple], pos: np.ndarray, neg: np.ndarray, radius: int, iterations: int,
    max_side: int, budget: _Budget,
) -> list[np.ndarray]:
    """The box recipe of a user's box (side votes, the discriminant) on each of ``rects`` (XYXY), solved at
    _SQUARE_SCALE x max_side with at most _SQUARE_ITERATIONS, two boxes side by side (_SOLVE_THREADS: a box's second
    start is often not solved, and one solve keeps one core busy); the answers (HW bool) that do not reach their
    box's edge (more than _SQUARE_EDGE of it: the box cut the object off, or the answer spilled to it), in the
    order of ``rects``. A box starts only while the budget allows it."""
    h, w = image.shape[:2]
    side = round(max_side * _SQUARE_SCALE / _RECT_SCALE)  # _grabcut_rect solves at _RECT_SCALE of what it is given

    def solve(rect: tuple) -> np.ndarray | None:
        if not budget.allows(_work_pixels(_ring_rect(rect, h, w), side)):
            return None
        answer = _grabcut_rect(image, rect, pos, neg, None, radius, min(iterations, _SQUARE_ITERATIONS), side, budget,
                               _BOX_VOTES, discriminant=True)
        return answer if _edge_fraction(answer, rect) <= _SQUARE_EDGE else None

    if len(rects) <= 1:
        answers = [solve(rect) for rect in rects]
    else:
        with ThreadPoolExecutor(max_workers=_SOLVE_THREADS, thread_name_prefix="grabcut-box") as pool:
            answers = list(pool.map(solve, rects))
    return [answer for answer in answers if answer is not None]


def _best_answer(
    picture: "_Picture", chain: list[np.ndarray], choice: int, extra: list[np.ndarray], radius: int,
    pos: np.ndarray,
) -> np.ndarray:
    """Of a click's answers (HW bool at the image's size: the ``chain``'s, whose own choice is ``chain[choice]``, and
    the ``extra`` ones of the squares and the regions), the one the fitted ranker scores highest
    (ranking.answer_features on pass 1's ``picture``, ranking.rank_scores). Answers no larger than twice the clicked
    discs (collapsed onto the clicks) take no part; when none is larger, the chain's choice stands. The chain's
    choice, or else its best scored answer, that agrees with the pick (IoU >= _AGREE_IOU on the grid) stands for it:
    the chain solves at a finer scale than the squares and regions (dev seeds 3 / 4, offline: the same 127 / 118 at
    IoU >= 0.8, mean IoU 0.846 / 0.825 -> 0.854 / 0.835). ``pos``: the positive clicks, (x, y) in the image's
    pixels."""
    answers = chain + extra
    small, live, features = _answer_table(picture, answers, choice, radius, pos)
    if not live:
        return chain[choice]
    scores = dict(zip(live, ranking.rank_scores(features)))
    best = max(live, key=lambda k: scores[k])

    # the chain's choice, or else its best scored answer, that agrees with the pick stands for it: the chain solves
    # at a finer scale than the boxes
    if _agree(small[choice], small[best]):
        return chain[choice]
    near = [k for k in live if k < len(chain) and _agree(small[k], small[best])]
    return answers[max(near, key=lambda k: scores[k]) if near else best]


def _agree(a: np.ndarray, b: np.ndarray) -> bool:
    """Two answers (HW bool, one grid) agree: IoU >= _AGREE_IOU (two empty ones do too)."""
    return np.count_nonzero(a & b) >= _AGREE_IOU * np.count_nonzero(a | b)


def _answer_table(
    picture: "_Picture", answers: list[np.ndarray], choice: int, radius: int, pos: np.ndarray,
) -> tuple[list[np.ndarray], list[int], np.ndarray]:
    """The ranker's view of a click's ``answers`` (HW bool at the image's size; ``answers[choice]`` the chain's
    choice): the answers on pass 1's grid, the indices of the live ones (larger than twice the clicked discs of
    ``radius`` px around the positive clicks ``pos``) and their ranking.answer_features (empty when none is live)."""
    feats = picture.feats
    fh, fw = feats.shape[:2]
    h, w = answers[0].shape
    small = [_on_grid(feats, a) for a in answers]
    collapsed = 2 * len(pos) * math.pi * radius * radius * (fh * fw) / (h * w)
    live = [k for k, a in enumerate(small) if np.count_nonzero(a) > collapsed]
    if not live:
        return small, live, np.zeros((0, len(ranking.ANSWER_FEATURES)))
    features = ranking.answer_features(feats, picture.gradient, small, [float(a.mean()) for a in answers], choice,
                                       live, pos * (fw / w, fh / h))
    return small, live, features


def _edge_fraction(mask: np.ndarray, rect: tuple[int, int, int, int]) -> float:
    """Fraction of the rectangle's inner border that the mask covers (sides on the image border excluded)."""
    x0, y0, x1, y1 = rect
    h, w = mask.shape
    sides = []
    if x0 > 0:
        sides.append(mask[y0:y1, x0])
    if x1 < w:
        sides.append(mask[y0:y1, x1 - 1])
    if y0 > 0:
        sides.append(mask[y0, x0:x1])
    if y1 < h:
        sides.append(mask[y1 - 1, x0:x1])
    border = np.concatenate(sides) if sides else np.zeros(0, bool)
    return float(border.mean()) if border.size else 0.0


def _clip_rect(x0: float, y0: float, x1: float, y1: float, h: int, w: int) -> tuple[int, int, int, int]:
    return (max(0, int(math.floor(x0))), max(0, int(math.floor(y0))),
            min(w, int(math.ceil(x1))), min(h, int(math.ceil(y1))))


def _grow_rect(rect: Sequence[float], factor: float, pad: float, h: int, w: int) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = (float(v) for v in rect)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    hw, hh = (x1 - x0) / 2 * factor + pad, (y1 - y0) / 2 * factor + pad
    return _clip_rect(cx - hw, cy - hh, cx + hw, cy + hh, h, w)


def _ring_rect(rect: tuple[int, int, int, int], h: int, w: int) -> tuple[int, int, int, int]:
    """``rect`` plus the background ring _grabcut_rect learns the background from, clipped to the image."""
    x0, y0, x1, y1 = rect
    ring = max(_RING_MIN, int(_RING * max(x1 - x0, y1 - y0)))
    return max(0, x0 - ring), max(0, y0 - ring), min(w, x1 + ring), min(h, y1 + ring)


def _work_pixels(rect: tuple[int, int, int, int], max_side: int) -> int:
    """How many pixels GrabCut works on for the region ``rect`` (see _downscale; _grabcut_rect's scale)."""
    x0, y0, x1, y1 = rect
    scale = min(1.0, round(max_side * _RECT_SCALE) / max(x1 - x0, y1 - y0))
    return max(2, round((y1 - y0) * scale)) * max(2, round((x1 - x0) * scale))


def _downscale(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float, float]:
    """``image`` shrunk (INTER_AREA) so that its long side is at most ``max_side``; returns (small, sx, sy), the
    scale factors from image to small pixel coordinates."""
    h, w = image.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale == 1.0:
        return image, 1.0, 1.0
    sh, sw = max(2, round(h * scale)), max(2, round(w * scale))
    return cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA), sw / w, sh / h


def _upscale(mask: np.ndarray, w: int, h: int) -> np.ndarray:
    """A working-resolution HW bool mask back to (h, w): bilinear on 0/255, then halfway."""
    if mask.shape == (h, w):
        return mask
    return cv2.resize(mask.astype(np.uint8) * 255, (w, h), interpolation=cv2.INTER_LINEAR) >= 128


def _flat_area(small: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The flat area around ``points`` ((x, y) in small's pixels) in ``small`` (HWC uint8 RGB, working resolution),
    HW bool: the pixels reached from them through 4-neighbours that differ by at most _FLAT_STEP in every channel,
    after a light blur (noise and a smooth gradient do not stop it; an edge does)."""
    h, w = small.shape[:2]
    blurred = cv2.GaussianBlur(small, (0, 0), 1.0)
    reached = np.zeros((h + 2, w + 2), np.uint8)
    step = (_FLAT_STEP,) * 3
    for x, y in points:
        cx, cy = min(w - 1, max(0, int(x))), min(h - 1, max(0, int(y)))
        if not reached[cy + 1, cx + 1]:
            cv2.floodFill(blurred, reached, (cx, cy), (0, 0, 0), step, step,
                          4 | cv2.FLOODFILL_MASK_ONLY | (1 << 8))
    return reached[1:-1, 1:-1].astype(bool)


def _one_colour(small: np.ndarray, area: np.ndarray) -> bool:
    """True when ``area`` (HW bool) of ``small`` (HWC uint8 RGB) is of one colour: 90% of its pixels within
    _FLAT_SPREAD (Lab distance) of its median colour. A flood of small steps also crosses a low-contrast object's
    soft edge where the object's colour meets the background's, and then holds both colours."""
    lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB).astype(np.float32)[area]
    lab = lab[:: max(1, len(lab) // 20000)]
    spread = np.linalg.norm(lab - np.median(lab, axis=0), axis=1)
    return float(np.percentile(spread, 90)) <= _FLAT_SPREAD


def _smooth(small: np.ndarray, area: np.ndarray) -> bool:
    """True when the colours of ``area`` (HW bool) of ``small`` (HWC uint8 RGB), blurred as _flat_area sees them,
    are a smooth surface: a quadratic in (x, y) per RGB channel (least squares) explains 99% of its pixels to
    _SMOOTH_RESIDUAL. A flood of small steps also runs along the soft edge of a low-contrast object and through a
    picture's gentle texture; a uniform picture, noise, shading and a linear ramp stay within about 1.5 levels, a
    dE 12 ring on the moon or the moon's own craters leave residuals of 35 levels and more."""
    h, w = area.shape
    ys, xs = np.nonzero(area)
    step = max(1, len(ys) // 20000)
    ys, xs = ys[::step], xs[::step]
    colours = cv2.GaussianBlur(small, (0, 0), 1.0)[ys, xs].astype(np.float64)
    u, v = xs / w - 0.5, ys / h - 0.5
    terms = np.stack([np.ones_like(u), u, v, u * u, u * v, v * v], axis=1)
    coef, *_ = np.linalg.lstsq(terms, colours, rcond=None)
    residual = np.linalg.norm(colours - terms @ coef, axis=1)
    return float(np.percentile(residual, 99)) <= _SMOOTH_RESIDUAL


def _flat_box(image: np.ndarray, rect: tuple[int, int, int, int], pos: np.ndarray, max_side: int) -> bool:
    """True when the box and its background ring are one flat, smooth area (_flat_area, _smooth): nothing to
    separate."""
    h, w = image.shape[:2]
    rx0, ry0, rx1, ry1 = _ring_rect(rect, h, w)
    small, sx, sy = _downscale(image[ry0:ry1, rx0:rx1], max_side)
    x0, y0, x1, y1 = rect
    starts = np.concatenate([[((x0 + x1) / 2, (y0 + y1) / 2)], pos.reshape(-1, 2)])
    flat = _flat_area(small, (starts - (rx0, ry0)) * (sx, sy))
    return np.mean(flat) >= _FLAT_COVER and _smooth(small, flat)


def _draw_clicks(gc: np.ndarray, pos: np.ndarray, neg: np.ndarray, radius: int, scale_xy, offset_xy=(0, 0)) -> None:
    sx, sy = scale_xy
    ox, oy = offset_xy
    gh, gw = gc.shape
    for points, value in ((neg, cv2.GC_BGD), (pos, cv2.GC_FGD)):
        for x, y in points:
            cx, cy = int((x - ox) * sx), int((y - oy) * sy)
            if 0 <= cx < gw and 0 <= cy < gh:
                cv2.circle(gc, (cx, cy), radius, int(value), thickness=-1)


def _grabcut_seeded(
    image: np.ndarray, pos: np.ndarray, neg: np.ndarray, radius: int, iterations: int, max_side: int,
    budget: _Budget,
) -> tuple[np.ndarray, np.ndarray, "_Picture"]:
    """Clicks-only pass 1: everything probably background except colour-connected seeds around positive clicks.
    Returns (mask, seeds, picture): mask and seeds HW bool at the image's size, picture the _Picture at pass 1's
    scale (its feats are what the answers are compared on, here and by _click_score)."""
    h, w = image.shape[:2]
    small, sx, sy = _downscale(image, max_side)
    sh, sw = small.shape[:2]
    r = max(1, int(round(radius * sx)))
    gc = np.full((sh, sw), cv2.GC_PR_BGD, np.uint8)
    stack = _feature_stack(small)  # projected twice: on the principal components and on the seeds' discriminant
    feats = _project_features(stack, small.shape)
    seeds = _click_seeds(small, pos * (sx, sy), r)
    gc[seeds] = cv2.GC_PR_FGD
    _draw_clicks(gc, pos, neg, r, (sx, sy))
    picture = _Picture(small, feats)
    region = _superpixel_region(picture, pos * (sx, sy))
    jobs = [(feats, gc)]
    if np.count_nonzero(region & ~seeds) > 0.5 * np.count_nonzero(seeds):
        # one more hypothesis, solved alongside: GrabCut started from the superpixel region
        grown = gc.copy()
        grown[region & (grown == cv2.GC_PR_BGD)] = cv2.GC_PR_FGD
        jobs.append((feats, grown))
    # and one from the seeds on features that keep Fisher's discriminant of the seeds against the rest of the picture
    # (the principal components drop the direction of least variance, which can be the one that tells the clicked
    # object apart)
    if _DISCRIMINANT_MIN <= np.count_nonzero(seeds) <= seeds.size - _DISCRIMINANT_MIN:
        jobs.append((_project_features(stack, small.shape, seeds), gc.copy()))
    fg, *others = _solve_all(jobs, iterations, budget)
    # the one that separates better from the ring around it (on the common features) wins
    for other in others:
        if _click_score(feats, other, _SHARE_PENALTY) > _click_score(feats, fg, _SHARE_PENALTY) + _HYPOTHESIS_MARGIN:
            fg = other
    if (sh, sw) != (h, w):
        fg = _upscale(fg, w, h)
        seeds = cv2.resize(seeds.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
    return _keep_clicked(fg, pos), seeds, picture


class _Picture:
    """Pass 1's working picture as the rest of a click uses it: ``feats`` (HWC uint8, its principal-component
    _texture_features), its SLIC superpixels (``labels``) with their feature histograms, sizes, feature sums and
    adjacency (the click's region growth and the merge hierarchy), and its ``gradient`` (ranking.edge_strength, for
    ranking the answers). ``rgb`` HWC uint8 RGB."""

    def __init__(self, rgb: np.ndarray, feats: np.ndarray) -> None:
        h, w = rgb.shape[:2]
        self.feats = feats
        self.gradient = ranking.edge_strength(rgb)
        self.labels = sk_segmentation.slic(rgb, n_segments=_SP_SEGMENTS, compactness=10, max_num_iter=5,
                                           start_label=0)
        n, nb = int(self.labels.max()) + 1, _SP_BINS ** 3
        idx = ranking.histogram_index(feats)
        self.hist = np.bincount((self.labels * nb + idx).ravel(), minlength=n * nb).reshape(n, nb).astype(np.float64)
        self.size = self.hist.sum(axis=1)
        flat = self.labels.ravel()
        self.sums = np.stack([np.bincount(flat, feats[..., c].ravel().astype(np.float64), minlength=n)
                              for c in range(feats.shape[2])], axis=1)
        if n == 1:  # SLIC can merge a picture of per-pixel noise into one segment: nothing is adjacent
            self.neighbours: list[set[int]] = [set()]
        else:
            rag = sk_graph.rag_boundary(self.labels, np.zeros((h, w)))
            self.neighbours = [set(rag.neighbors(v)) for v in range(n)]

    def at(self, points: np.ndarray) -> list[int]:
        """The superpixels under ``points`` ((x, y) in the working picture's pixels)."""
        h, w = self.labels.shape
        return [int(self.labels[min(h - 1, max(0, int(y))), min(w - 1, max(0, int(x)))]) for x, y in points]


def _hellinger(total: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Hellinger distances between one histogram ``total`` (counts) and each row of ``others`` (counts)."""
    p = total / max(total.sum(), 1e-12)
    q = others / np.maximum(others.sum(axis=-1, keepdims=True), 1e-12)
    return np.sqrt(np.maximum(0.0, 1.0 - np.sqrt(q * p).sum(axis=-1)))


def _superpixel_region(sp: _Picture, pos: np.ndarray) -> np.ndarray:
    """The region a click most likely lies in, HW bool: from the superpixel under each click (``pos``, (x, y) in the
    working picture's pixels), the adjacent superpixel of ``sp`` whose feature histogram is closest to the region's
    (Hellinger distance) joins it, until the closest is farther than _SP_STOP or the region would cover more than
    _SP_MAX_SHARE of the picture. Unlike the colour seeds, it takes in the parts of a textured or multi-coloured
    object that look unlike the clicked spot."""
    n = len(sp.size)
    region = np.zeros(n, bool)
    limit = _SP_MAX_SHARE * sp.labels.size
    for start in sp.at(pos):
        if region[start]:
            continue
        grown = np.zeros(n, bool)
        grown[start] = True
        total, area = sp.hist[start].copy(), sp.size[start]
        front = set(sp.neighbours[start])
        while front:
            cand = np.fromiter(front, int)
            dist = _hellinger(total, sp.hist[cand])
            k = int(np.argmin(dist))
            v = int(cand[k])
            if dist[k] > _SP_STOP or area + sp.size[v] > limit:
                break
            grown[v] = True
            total += sp.hist[v]
            area += sp.size[v]
            front.discard(v)
            front.update(u for u in sp.neighbours[v] if not grown[u])
        region |= grown
    return region[sp.labels]


def _merged_regions(sp: _Picture, pos: np.ndarray, neg: np.ndarray) -> list[np.ndarray]:
    """The regions of a merge hierarchy that hold every positive click and no negative one, smallest first (HW
    bool, the working picture): the two adjacent regions of ``sp`` whose feature histograms are closest (Hellinger)
    merge, again and again, from the superpixels up to _SP_MAX_SHARE of the picture. An object of several colours
    or textures is one of them, often, where the region growth from the click stops at its first inner edge: its
    parts are more like each other than like what surrounds it, or at least more like each other than like
    everything around. ``pos``, ``neg``: (x, y) in the working picture's pixels."""
    n = len(sp.size)
    hist, size = sp.hist.copy(), sp.size.copy()
    neighbours = [set(v) for v in sp.neighbours]
    parent = np.arange(n)
    wanted, unwanted = set(sp.at(pos)), set(sp.at(neg))
    sums = sp.sums.copy()

    def distance(a: int, b: int) -> tuple[float, float]:
        # the histograms' Hellinger distance; ties (1: no bin in common) go to the closer mean features
        gap = float(np.linalg.norm(sums[a] / size[a] - sums[b] / size[b]))
        return round(float(_hellinger(hist[a], hist[b][None])[0]), 6), gap

    version = np.zeros(n, int)  # a heap entry is stale once either region has merged since it was pushed
    heap = [(*distance(a, b), a, b, 0, 0) for a in range(n) for b in neighbours[a] if a < b]
    heapq.heapify(heap)
    alive = np.ones(n, bool)
    limit = _SP_MAX_SHARE * sp.labels.size
    regions = []
    while heap:
        _, _, a, b, va, vb = heapq.heappop(heap)
        if not (alive[a] and alive[b]) or version[a] != va or version[b] != vb:
            continue
        hist[a] += hist[b]
        size[a] += size[b]
        sums[a] += sums[b]
        alive[b] = False
        version[a] += 1
        parent[parent == b] = a
        neighbours[a] = (neighbours[a] | neighbours[b]) - {a, b}
        for c in neighbours[a]:
            neighbours[c].discard(b)
            neighbours[c].add(a)
            lo, hi = min(a, c), max(a, c)
            heapq.heappush(heap, (*distance(lo, hi), lo, hi, version[lo], version[hi]))
        members = parent == a
        if all(members[v] for v in wanted):
            if size[a] > limit or any(members[v] for v in unwanted):
                break
            regions.append(members[sp.labels])
    return regions


def _separation(feats: np.ndarray, mask: np.ndarray) -> float:
    """How well ``mask`` (HW bool) stands apart from a ring around it in ``feats`` (HWC uint8): 1 - the
    Bhattacharyya coefficient of their feature histograms (_SP_BINS per channel); the ring is as wide as a quarter
    of the square root of the mask's area (at least 3 px). 0 for an empty mask or one without a ring."""
    return ranking.ring_separations(ranking.histogram_index(feats), mask)[0]


def _click_score(feats: np.ndarray, mask: np.ndarray, penalty: float) -> float:
    """A click's answer ``mask`` (HW bool, the image's size or feats') scored on ``feats`` (HWC uint8, pass 1's
    picture): its _separation there less ``penalty`` per share of the picture it covers (pass 1's starts and the
    fallback's boxes: _SHARE_PENALTY; the wide hypothesis: _WIDE_SHARE_PENALTY)."""
    return _separation(feats, _on_grid(feats, mask)) - penalty * float(mask.mean())


def _on_grid(feats: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``mask`` (HW bool) on ``feats``' grid (pass 1's picture; nearest neighbour), or itself when already there."""
    fh, fw = feats.shape[:2]
    if mask.shape == (fh, fw):
        return mask
    return cv2.resize(mask.astype(np.uint8), (fw, fh), interpolation=cv2.INTER_NEAREST).astype(bool)


def _click_seeds(image: np.ndarray, pos: np.ndarray, radius: int) -> np.ndarray:
    """Probable-foreground seeds: around each click, the pixels within _SEED_REACH of the long side that connect to
    it through colours close to the clicked spot's median colour, so seeds stop at colour edges."""
    h, w = image.shape[:2]
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    reach = max(2, int(round(_SEED_REACH * max(h, w))))
    seeds = np.zeros((h, w), bool)
    for x, y in pos:
        cx, cy = min(w - 1, int(x)), min(h - 1, int(y))
        x0, y0, x1, y1 = max(0, cx - reach), max(0, cy - reach), min(w, cx + reach + 1), min(h, cy + reach + 1)
        patch = lab[y0:y1, x0:x1]
        yy, xx = np.ogrid[y0:y1, x0:x1]
        d2 = (xx - cx) ** 2 + (yy - cy) ** 2
        core = d2 <= radius * radius
        ref = np.median(patch[core], axis=0)
        spread = float(np.median(np.linalg.norm(patch[core] - ref, axis=1)))
        close = (np.linalg.norm(patch - ref, axis=2) <= max(_SEED_DELTA_E, 3.0 * spread)) & (d2 <= reach * reach)
        close |= core
        _, labels = cv2.connectedComponents(close.astype(np.uint8), connectivity=8)
        seeds[y0:y1, x0:x1] |= labels == labels[cy - y0, cx - x0]
    return seeds


def _grabcut_rect(
    image: np.ndarray,
    rect: tuple[int, int, int, int],
    pos: np.ndarray,
    neg: np.ndarray,
    previous: np.ndarray | None,
    radius: int,
    iterations: int,
    max_side: int,
    budget: _Budget,
    votes: Sequence[tuple[float, bool]] = _PLAIN_VOTES,
    discriminant: bool = False,
    ranked: bool = False,
) -> np.ndarray:
    """GrabCut with everything outside ``rect`` as background, solved on the rectangle plus a background ring.

    Inside the rectangle: probable foreground (or, with ``previous``, probable foreground where previous is set and
    probable background elsewhere); clicks are definite discs. Without ``previous``, one start per ring vote
    (``votes``: (threshold, sides) pairs for _ring_vote; sides suit a box drawn close around the object, _BOX_VOTES),
    solved side by side, the best separated answer kept. With ``discriminant`` (a box the user drew) the features
    GrabCut models keep the direction that best tells the rectangle from its ring (_texture_features' ``inside``),
    and the edge found at the working scale is redrawn by _refine_edge once more on the photo's own pixels. With
    ``ranked`` (a user's box, _USER_BOX_VOTES) every distinct start is solved and the fitted box ranker
    (_pick_box) picks the answer instead of the separation alone.
    """
    h, w = image.shape[:2]
    x0, y0, x1, y1 = rect
    rx0, ry0, rx1, ry1 = _ring_rect(rect, h, w)
    crop = image[ry0:ry1, rx0:rx1]
    ch, cw = crop.shape[:2]
    small, sx, sy = _downscale(crop, round(max_side * _RECT_SCALE))
    sh, sw = small.shape[:2]

    gc = np.full((sh, sw), cv2.GC_BGD, np.uint8)
    ix0, iy0 = int(round((x0 - rx0) * sx)), int(round((y0 - ry0) * sy))
    ix1, iy1 = max(ix0 + 1, int(round((x1 - rx0) * sx))), max(iy0 + 1, int(round((y1 - ry0) * sy)))
    gc[iy0:iy1, ix0:ix1] = cv2.GC_PR_FGD
    # the box's own edge is probable background (a box is drawn around the object), except on the image border
    b = _BOX_BAND
    if x0 > 0:
        gc[iy0:iy1, ix0:ix0 + b] = cv2.GC_PR_BGD
    if x1 < w:
        gc[iy0:iy1, max(ix0, ix1 - b):ix1] = cv2.GC_PR_BGD
    if y0 > 0:
        gc[iy0:iy0 + b, ix0:ix1] = cv2.GC_PR_BGD
    if y1 < h:
        gc[max(iy0, iy1 - b):iy1, ix0:ix1] = cv2.GC_PR_BGD
    if previous is not None:
        prev = cv2.resize(previous[ry0:ry1, rx0:rx1].astype(np.uint8), (sw, sh), interpolation=cv2.INTER_NEAREST)
        gc[(gc == cv2.GC_PR_FGD) & (prev == 0)] = cv2.GC_PR_BGD
    r = max(1, int(round(radius * sx)))
    inside = None
    if discriminant and np.any(gc == cv2.GC_BGD):
        # what the box holds against what is known background: the ring and the negative clicks
        known = gc.copy()
        _draw_clicks(known, pos, neg, r, (sx, sy), (rx0, ry0))
        inside = known != cv2.GC_BGD
    feats = _texture_features(small, inside)
    starts = [gc]
    if previous is None:
        # one start per vote: a box holds more or less background like the ring (or like one of its sides)
        starts = [gc.copy() for _ in votes]
        for start, (threshold, sides) in zip(starts, votes):
            _ring_vote(feats, start, threshold, sides)
    for start in starts:
        _draw_clicks(start, pos, neg, r, (sx, sy), (rx0, ry0))
        if not np.any((start == cv2.GC_BGD) | (start == cv2.GC_PR_BGD)):
            # The rectangle is the whole image: let the image's outer frame stand for the background.
            frame = np.zeros_like(start, bool)
            frame[[0, -1], :] = frame[:, [0, -1]] = True
            start[frame & (start != cv2.GC_FGD)] = cv2.GC_PR_BGD
    # a start is solved (side by side with the others) only where it differs from every start before it
    kept = []
    for k, start in enumerate(starts):
        if all(np.count_nonzero(start != starts[j]) >= _START_MIN_CHANGE * start.size for j in kept):
            kept.append(k)
    answers = _solve_all([(feats, starts[k].copy()) for k in kept], iterations, budget)
    if ranked and len(kept) > 1:
        # a user's box: the fitted box ranker picks among the refined answers
        refined = [_refine_edge(small, starts[k], fg) for k, fg in zip(kept, answers)]
        pick = _pick_box(small, feats, refined, (ix0, iy0, ix1, iy1), (x0 > 0, y0 > 0, x1 < w, y1 < h),
                         [votes[k][0] for k in kept])
        gc, fg = starts[kept[pick]], refined[pick]
    else:
        # the answer that stands apart from the ring around it best wins (_separation; the first on a tie)
        pick = max(range(len(kept)), key=lambda j: _separation(feats, answers[j]))
        gc = starts[kept[pick]]
        fg = _refine_edge(small, gc, answers[pick])
    full = discriminant and (sw, sh) != (cw, ch) and min(sx, sy) >= _FULL_EDGE_MIN_SCALE
    if discriminant and not full:
        fg = _midpoint_edge(small, gc, fg)
    fg = _upscale(fg, cw, ch)
    if full:
        # a user's box: the edge redrawn once more on the crop's own pixels (the upscaled edge is a working pixel
        # coarse); only where the crop is at most 4 times the working size, so memory stays bounded on a large photo
        gc_full = cv2.resize(gc, (cw, ch), interpolation=cv2.INTER_NEAREST)
        fg = _midpoint_edge(crop, gc_full, _refine_edge(crop, gc_full, fg))
    out = np.zeros((h, w), bool)
    out[ry0:ry1, rx0:rx1] = fg
    return _keep_clicked(out, pos)


def _pick_box(
    small: np.ndarray, feats: np.ndarray, answers: list[np.ndarray], rect: tuple[int, int, int, int],
    open_sides: tuple[bool, bool, bool, bool], thresholds: list[float],
) -> int:
    """The index of the answer (HW bool, on the working crop ``small``, HWC uint8 RGB, whose features are
    ``feats``) the fitted box ranker scores highest (ranking.box_features, ranking.BOX_MODEL). ``rect``: the user's
    box in the crop's pixels (XYXY); ``open_sides``: (left, top, right, bottom) is not the picture's border;
    ``thresholds``: each answer's ring-vote threshold. Empty answers are never picked while another is not."""
    live, x = _box_table(small, feats, answers, rect, open_sides, thresholds)
    if x is None:
        return live[0] if live else 0
    return live[int(np.argmax(ranking.rank_scores(x, ranking.BOX_MODEL)))]


def _box_table(
    small: np.ndarray, feats: np.ndarray, answers: list[np.ndarray], rect: tuple[int, int, int, int],
    open_sides: tuple[bool, bool, bool, bool], thresholds: list[float],
) -> tuple[list[int], np.ndarray | None]:
    """_pick_box's table (its arguments as there): the indices of the non-empty answers and, when there are two or
    more, their ranking.box_features (else None). bench/grabcut_ranker.py --kind box records the same table."""
    live = [k for k, answer in enumerate(answers) if answer.any()]
    if len(live) <= 1:
        return live, None
    return live, ranking.box_features(feats, ranking.edge_strength(small), [answers[k] for k in live], rect,
                                      open_sides, [thresholds[k] for k in live])


def _ring_vote(
    feats: np.ndarray, gc: np.ndarray, threshold: float = _VOTE_THRESHOLDS[0], sides: bool = False
) -> None:
    """Relabel ``gc``'s probable foreground (in place) as probable background where the features (``feats``, HWC
    uint8) are about as common in the definite-background ring as inside: a box holds background too, and GrabCut's
    foreground model, started from the whole box, keeps it. Per quantised feature bin, bg = ring share / (ring share
    + inside share) (both histograms normalised, lightly smoothed); a feature found only on the object scores 0, one
    of background with a fraction a of the box scores 1 / (1 + a) >= 0.5. The score map is smoothed, and the vote is
    skipped when it would leave too little foreground (a low-contrast object whose features the ring also has).

    With ``sides`` (a box the user drew close around the object) each side of the box's own edge band (gc's probable
    background, _BOX_BAND px) is also a reference of its own, and a pixel's score is the highest of them: the
    background inside a box continues the background along one of its sides (the floor along the bottom), which a
    ring clipped by the picture's border, or mostly of other things, under-represents."""
    ring = gc == cv2.GC_BGD
    inside = gc == cv2.GC_PR_FGD
    band = gc == cv2.GC_PR_BGD  # the box's own edge band is mostly background too
    ring |= band
    if ring.sum() < 50 or inside.sum() < 50:
        return
    q = (feats // (256 // _VOTE_BINS)).astype(np.int32)
    idx = (q[..., 0] * _VOTE_BINS + q[..., 1]) * _VOTE_BINS + q[..., 2]
    n = _VOTE_BINS ** 3
    shape = (_VOTE_BINS,) * 3

    def histogram(where: np.ndarray) -> np.ndarray:
        counts = np.bincount(idx[where], minlength=n).reshape(shape).astype(np.float32)
        return ndimage.uniform_filter(counts, 3) / np.count_nonzero(where)

    h_in = histogram(inside)
    references = [ring]
    if sides and band.any():
        ys, xs = np.nonzero(band | inside)
        x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
        yy, xx = np.ogrid[: gc.shape[0], : gc.shape[1]]
        for side in (xx < x0 + _BOX_BAND, xx >= x1 - _BOX_BAND, yy < y0 + _BOX_BAND, yy >= y1 - _BOX_BAND):
            part = band & side
            if np.count_nonzero(part) >= _VOTE_SIDE_MIN:
                references.append(part)
    score = np.zeros(gc.shape, np.float32)
    for where in references:
        h_ref = histogram(where)
        np.maximum(score, (h_ref / np.maximum(h_ref + h_in, 1e-12)).ravel()[idx], out=score)
    score = cv2.GaussianBlur(score, (0, 0), _VOTE_BLUR)
    bg = inside & (score > threshold)
    if np.count_nonzero(inside & ~bg) >= _VOTE_MIN_FG * inside.sum():
        gc[bg] = cv2.GC_PR_BGD


def _refine_edge(rgb: np.ndarray, gc: np.ndarray, fg: np.ndarray) -> np.ndarray:
    """Redraw the edge of ``fg`` (the smoothed-feature answer, HW bool) on the raw colours of ``rgb`` (HWC uint8
    RGB): within _REFINE_BAND px of the edge, where ``gc`` (the labels GrabCut started from: the ring and the clicks
    are definite) is not definite, a pixel goes to the side whose local colour model explains it better. The models
    are the Gaussian-weighted (_LOCAL_SIGMA) mean and variance per channel of Lab (smoothed _LOCAL_SMOOTH) over each
    side's pixels beyond the band, so each band pixel is compared with the object and the background next to it, not
    with the whole picture's; a 3 x 3 median then drops single pixels. The smoothed features round off thin parts
    and corners and let the answer bulge into a busy background by a pixel or two; local colours put the edge back (a
    colour GrabCut in the band instead followed the background's own texture edges just outside the object)."""
    _, _, band = _edge_band(gc, fg, _REFINE_BAND)
    if not band.any():
        return fg
    lab = cv2.GaussianBlur(cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32), (0, 0), _LOCAL_SMOOTH)

    def cost(side: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(the negative log-likelihood of each pixel's colour under ``side``'s local model, the model's weight)."""
        weight = side.astype(np.float32)
        total = cv2.GaussianBlur(weight, (0, 0), _LOCAL_SIGMA) + 1e-6
        mean = cv2.GaussianBlur(lab * weight[..., None], (0, 0), _LOCAL_SIGMA) / total[..., None]
        square = cv2.GaussianBlur(lab * lab * weight[..., None], (0, 0), _LOCAL_SIGMA) / total[..., None]
        var = np.maximum(square - mean * mean, 0.0) + _LOCAL_VAR_FLOOR
        return ((lab - mean) ** 2 / var + np.log(var)).sum(axis=2), total

    cost_fg, weight_fg = cost(fg & ~band)
    cost_bg, weight_bg = cost(~fg & ~band)
    decided = band & (weight_fg > 1e-3) & (weight_bg > 1e-3)  # both sides have pixels near enough to model
    out = fg.copy()
    out[decided] = cost_fg[decided] < cost_bg[decided]
    out = cv2.medianBlur(out.astype(np.uint8), 3).astype(bool)
    return np.where(band, out, fg)


def _edge_band(gc: np.ndarray, fg: np.ndarray, width: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(each pixel's distance into ``fg`` (HW bool), its distance outside it, the pixels within ``width`` px of the
    edge on either side where ``gc`` is not definite): what _refine_edge and _midpoint_edge may move."""
    inside = cv2.distanceTransform(fg.astype(np.uint8), cv2.DIST_L2, 3)
    outside = cv2.distanceTransform((~fg).astype(np.uint8), cv2.DIST_L2, 3)
    free = (gc == cv2.GC_PR_FGD) | (gc == cv2.GC_PR_BGD)
    return inside, outside, np.where(fg, inside <= width, outside <= width) & free


def _midpoint_edge(rgb: np.ndarray, gc: np.ndarray, fg: np.ndarray) -> np.ndarray:
    """Put the edge of ``fg`` (HW bool) where the photo's soft edge crosses half way: each pixel of ``rgb`` (HWC uint8
    RGB) within _MID_BAND px of the edge, where ``gc`` is not definite, is a blend a F + (1 - a) B of the object's and
    the background's colours next to it (Gaussian-weighted, _MID_SIGMA, Lab means of each side's pixels at least
    _MID_GAP px from the edge), and goes to the object when a > 0.5 (its projection on the line from B to F). A
    truth drawn at the matte's half level is what a user's mask means; _refine_edge's variance-weighted models leave
    the edge about a pixel out on the side of the busier texture (a 1% object's outline is a large part of its area:
    on dev seeds 3 and 4 the boxes' mean IoU rose by 0.010, 130 scenes better by more than 0.01, 9 worse). Where the
    two means are closer than _MID_MIN_CONTRAST in Lab, or a side has no pixels near, the pixel keeps its side."""
    inside, outside, band = _edge_band(gc, fg, _MID_BAND)
    if not band.any():
        return fg
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)

    def mean(side: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        weight = side.astype(np.float32)
        total = cv2.GaussianBlur(weight, (0, 0), _MID_SIGMA) + 1e-6
        return cv2.GaussianBlur(lab * weight[..., None], (0, 0), _MID_SIGMA) / total[..., None], total

    mean_fg, weight_fg = mean(fg & (inside > _MID_GAP))
    mean_bg, weight_bg = mean(~fg & (outside > _MID_GAP))
    step = mean_fg - mean_bg
    length2 = (step * step).sum(axis=2)
    alpha = ((lab - mean_bg) * step).sum(axis=2) / np.maximum(length2, 1e-6)
    decided = band & (weight_fg > 1e-2) & (weight_bg > 1e-2) & (length2 > _MID_MIN_CONTRAST ** 2)
    out = fg.copy()
    out[decided] = alpha[decided] > 0.5
    return out


def _texture_features(rgb: np.ndarray, inside: np.ndarray | None = None) -> np.ndarray:
    """The 3-channel image GrabCut models (cv2.grabCut takes 3 channels of 8 bits), from ``rgb`` (HWC uint8 RGB):
    Lab smoothed by _FEATURE_BLUR and the local spread (standard deviation) of lightness at _TEXTURE_SCALE, each
    standardised over the picture, projected on 3 directions and stretched to 0-255 (1st-99th percentile). A
    textured object whose mean colour is close to its surroundings' separates by its texture and its smoothed colour
    where raw colours overlap.

    The directions: the 3 principal components; or, with ``inside`` (HW bool: a user's box against its ring and the
    negative clicks, a click's seeds against the rest), Fisher's linear discriminant of inside against outside (the
    pooled covariance's inverse applied to the difference of the means, scaled like the next direction) and the 2
    principal components of what is left. Four features go into 3 channels, and the direction principal components
    drop, the one of least variance, is often the one that tells a low-contrast object from its surroundings (a
    lavender arc through orange fur, whose a* and b* move together): the discriminant keeps it.
    """
    return _project_features(_feature_stack(rgb), rgb.shape, inside)


def _feature_stack(rgb: np.ndarray) -> np.ndarray:
    """_texture_features' 4 features of ``rgb`` (HWC uint8 RGB) before the projection: (H * W, 4) float32, smoothed
    Lab and the spread of lightness, each standardised over the picture. Computed once where one picture is
    projected more than once (_project_features does not change it)."""
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    mean = cv2.GaussianBlur(lab, (0, 0), _FEATURE_BLUR)
    light = lab[..., 0]
    m1 = cv2.GaussianBlur(light, (0, 0), _TEXTURE_SCALE)
    m2 = cv2.GaussianBlur(light * light, (0, 0), _TEXTURE_SCALE)
    spread = np.sqrt(np.maximum(m2 - m1 * m1, 0.0))
    feats = np.concatenate([mean, spread[..., None]], axis=2).reshape(-1, 4)
    feats -= feats.mean(axis=0)
    feats /= feats.std(axis=0) + 1e-6
    return feats


def _project_features(feats: np.ndarray, shape: tuple[int, ...], inside: np.ndarray | None = None) -> np.ndarray:
    """_texture_features' projection of a _feature_stack ``feats`` to the HWC uint8 image of ``shape`` (see there
    for the directions and ``inside``)."""

    def sample(x: np.ndarray) -> np.ndarray:
        return x[:: max(1, len(x) // 20000)]

    if inside is None or min(np.count_nonzero(inside), np.count_nonzero(~inside)) < _DISCRIMINANT_MIN:
        _, _, vt = np.linalg.svd(sample(feats), full_matrices=False)
        proj = feats @ vt[:3].T
    else:
        a, b = feats[inside.ravel()], feats[~inside.ravel()]
        pooled = 0.5 * (np.cov(sample(a), rowvar=False) + np.cov(sample(b), rowvar=False)) + 1e-3 * np.eye(4)
        d = np.linalg.solve(pooled, a.mean(axis=0) - b.mean(axis=0))
        d /= np.linalg.norm(d) + 1e-12
        _, _, vt = np.linalg.svd(sample(feats - np.outer(feats @ d, d)), full_matrices=False)
        proj = feats @ np.stack([d, vt[0], vt[1]]).T
        proj[:, 0] *= proj[:, 1].std() / (proj[:, 0].std() + 1e-6)
    lo, hi = np.percentile(proj, (1, 99))
    out = np.clip((proj - lo) * (255.0 / max(hi - lo, 1e-6)), 0, 255)
    return np.ascontiguousarray(out.reshape(shape).astype(np.uint8))


def _solve_all(jobs: list[tuple[np.ndarray, np.ndarray]], iterations: int, budget: _Budget) -> list[np.ndarray]:
    """_run_grabcut for each (features, start) job (the start changed in place), side by side in up to
    _SOLVE_THREADS threads: cv2.grabCut releases the GIL, and the starts are independent (two 5-iteration solves of
    a 400 px picture on 2 cores: 5.0 s one after the other, 2.9 s side by side, the same answers). Returns the
    foregrounds in the jobs' order."""
    if len(jobs) == 1:
        return [_run_grabcut(jobs[0][0], jobs[0][1], iterations, budget)]
    with ThreadPoolExecutor(max_workers=min(len(jobs), _SOLVE_THREADS), thread_name_prefix="grabcut") as pool:
        return list(pool.map(lambda job: _run_grabcut(job[0], job[1], iterations, budget), jobs))


def _run_grabcut(rgb: np.ndarray, gc: np.ndarray, iterations: int, budget: _Budget) -> np.ndarray:
    """cv2.grabCut on an RGB image with an initial label map ``gc`` (changed in place); returns the foreground.

    One iteration at a time (cv2.GC_EVAL continues from the fitted models, exactly as grabCut's own loop does): it
    stops after ``iterations``, once no pixel changes side, or when ``budget`` does not allow another iteration (the
    first iteration always runs).
    """
    fg_seed = (gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)
    bg_seed = (gc == cv2.GC_BGD) | (gc == cv2.GC_PR_BGD)
    if not fg_seed.any() or not bg_seed.any():
        return fg_seed
    bgd = np.zeros((1, 65), np.float64)
    fgd = np.zeros((1, 65), np.float64)
    bgr = np.ascontiguousarray(rgb[..., ::-1])  # RGB -> BGR at the OpenCV boundary
    fg = fg_seed
    try:
        # GrabCut seeds its k-means from OpenCV's RNG (per thread): reseed it so that results are repeatable.
        cv2.setRNGSeed(0)
        mode = cv2.GC_INIT_WITH_MASK
        for done in range(max(1, int(iterations))):
            if done and not budget.allows(gc.size):
                break
            start = time.monotonic()
            cv2.grabCut(bgr, gc, None, bgd, fgd, 1, mode)
            budget.spent(time.monotonic() - start, gc.size)
            mode = cv2.GC_EVAL
            new = (gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)
            changed = np.count_nonzero(new != fg)
            fg = new
            if done and changed == 0:
                break
    except cv2.error as exc:
        # too few samples of one class to fit a colour model: keep the seeds
        logger.debug("GrabCut could not fit its colour models (%s); keeping the seeds", str(exc).strip()[:120])
        return fg_seed
    return fg


def _keep_clicked(mask: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Drop the parts of ``mask`` that no positive click touches (GrabCut picks up same-coloured stray regions).

    Without positive clicks (a box alone), or when no click lands on the mask, the mask is returned unchanged.
    """
    if len(pos) == 0 or not mask.any():
        return mask
    count, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    if count <= 2:
        return mask
    h, w = mask.shape
    hit = {int(labels[min(h - 1, int(y)), min(w - 1, int(x))]) for x, y in pos} - {0}
    return np.isin(labels, sorted(hit)) if hit else mask
