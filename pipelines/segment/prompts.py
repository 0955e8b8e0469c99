"""What every segmenter takes and gives: checked images and prompts, the Segmentation result, and the check of a
refinement's previous result. Formats: pipelines.segment's docstring.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import Any, NamedTuple

import cv2
import numpy as np

from ..errors import UserError
from ..io import check_pixels


class Prompts(NamedTuple):
    """Validated prompts: points (N, 2) float64 (x, y); labels (N,) int64 of 1/0; box (4,) float64 XYXY or None."""

    points: np.ndarray
    labels: np.ndarray
    box: np.ndarray | None

    @property
    def positive(self) -> np.ndarray:
        return self.points[self.labels == 1]

    @property
    def negative(self) -> np.ndarray:
        return self.points[self.labels == 0]


def check_image(image: Any) -> np.ndarray:
    """Return ``image`` as a C-contiguous HWC uint8 RGB array, or raise ValueError saying what is wrong.

    Images over the project's pixel limit (pipelines.io.MAX_PIXELS, 64 MP) are refused before anything is copied.
    """
    if not isinstance(image, np.ndarray):
        raise UserError(f"the image must be a numpy array (HWC uint8 RGB), got {type(image).__name__}")
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise UserError(f"the image must be HWC uint8 RGB, got shape {image.shape} and dtype {image.dtype}")
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise UserError(f"the image is too small to segment ({image.shape[1]}x{image.shape[0]})")
    check_pixels(image.shape[1], image.shape[0])
    return np.ascontiguousarray(image)


def image_key(image: np.ndarray) -> str:
    """Content hash of an image (shape, dtype and pixels): the embedding cache key."""
    image = np.ascontiguousarray(image)
    h = hashlib.sha256()  # hardware-accelerated on current CPUs: ~2.5x faster than blake2b here
    h.update(f"{image.shape}|{image.dtype.str}|".encode())
    h.update(memoryview(image).cast("B"))
    return h.hexdigest()[:32]


def _as_points(value: Any, what: str) -> np.ndarray:
    if value is None:
        return np.zeros((0, 2), dtype=np.float64)
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise UserError(f"{what} must be (x, y) pairs of numbers") from None
    if arr.size == 0:
        return np.zeros((0, 2), dtype=np.float64)
    if arr.ndim == 1 and arr.shape[0] == 2:
        raise UserError(f"{what} must be a list of (x, y) pairs, e.g. [({arr[0]:g}, {arr[1]:g})]")
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise UserError(f"{what} must be (x, y) pairs, got an array of shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise UserError(f"{what} contain a non-finite coordinate")
    return arr


def check_prompts(
    size: tuple[int, int],
    *,
    points: Any = None,
    labels: Any = None,
    positive: Any = None,
    negative: Any = None,
    box: Any = None,
) -> Prompts:
    """Validate click and box prompts against an image of ``size`` = (H, W).

    Clicks come either as ``points`` + ``labels`` (1 positive, 0 negative), or as ``positive`` and ``negative``
    lists of (x, y); not both. Raises ValueError for: a click outside the image, mismatched labels, no positive click
    and no box, a degenerate box (x1 <= x0 or y1 <= y0) or one that is not inside the image.
    """
    h, w = int(size[0]), int(size[1])
    if points is not None or labels is not None:
        if positive is not None or negative is not None:
            raise UserError("give clicks either as points + labels or as positive/negative, not both")
        pts = _as_points(points, "points")
        lab = np.asarray([] if labels is None else labels).reshape(-1)
        if lab.shape[0] != pts.shape[0]:
            raise UserError(f"{pts.shape[0]} points but {lab.shape[0]} labels")
        if lab.size and not np.all(np.isin(lab, (0, 1))):
            raise UserError("labels must be 1 (positive click) or 0 (negative click)")
        lab = lab.astype(np.int64)
    else:
        pos = _as_points(positive, "positive clicks")
        neg = _as_points(negative, "negative clicks")
        pts = np.concatenate([pos, neg], axis=0)
        lab = np.concatenate([np.ones(len(pos), np.int64), np.zeros(len(neg), np.int64)])
    for (x, y), label in zip(pts, lab):
        if not (0 <= x < w and 0 <= y < h):
            kind = "positive" if label == 1 else "negative"
            raise UserError(f"the {kind} click ({x:g}, {y:g}) is outside the {w}x{h} image")
    bx = None
    if box is not None:
        try:
            bx = np.asarray(box, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise UserError("the box must be four numbers X0, Y0, X1, Y1") from None
        if bx.shape != (4,) or not np.all(np.isfinite(bx)):
            raise UserError("the box must be four finite numbers X0, Y0, X1, Y1")
        x0, y0, x1, y1 = bx
        if x1 <= x0 or y1 <= y0:
            raise UserError(f"the box ({x0:g}, {y0:g}, {x1:g}, {y1:g}) is empty: it needs x0 < x1 and y0 < y1")
        if x0 < 0 or y0 < 0 or x1 > w or y1 > h:
            raise UserError(f"the box ({x0:g}, {y0:g}, {x1:g}, {y1:g}) is not inside the {w}x{h} image")
    if bx is None and not np.any(lab == 1):
        raise UserError("give at least one positive click or a box")
    pts.setflags(write=False)
    lab.setflags(write=False)
    if bx is not None:
        bx.setflags(write=False)
    return Prompts(pts, lab, bx)


# --------------------------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Segmentation:
    """The answer to one segment() call.

    masks   (C, H, W) bool candidates (SAM: 3 with multimask, else 1; GrabCut: 1), in the model's order
    scores  (C,) float32, the model's predicted IoU of each candidate (GrabCut: NaN, it has no estimate)
    best    index of the chosen candidate (highest score unless select() picked another)
    logits  (C, h, w) float32 low-resolution logits (SAM: 256x256 for the official models), or None (GrabCut);
            the chosen one goes back in as mask_input when this result is passed as ``previous``
    engine  which segmenter made it, e.g. "sam vit_b" or "grabcut (fallback: no SAM 2.1 or SAM weights on disk)"
    image_key, prompts: the image (content hash) and the validated prompts it answers
    note    one line for the user when the mask is a compromise (GrabCut: its time budget ran out, or the box held
            nothing to separate); "" otherwise
    frame   how ``logits`` lie over the image (LogitsFrame), so probabilities() can bring them to its size; None
            when there are no logits
    """

    masks: np.ndarray
    scores: np.ndarray
    best: int
    logits: np.ndarray | None
    engine: str
    image_key: str
    prompts: Prompts
    note: str = ""
    frame: "LogitsFrame | None" = None

    @property
    def mask(self) -> np.ndarray:
        """The chosen candidate, HW bool."""
        return self.masks[self.best]

    @property
    def is_fallback(self) -> bool:
        """True when the mask comes from the no-weights fallback rather than SAM."""
        return "fallback" in self.engine

    @property
    def mask_input(self) -> np.ndarray | None:
        """(1, h, w) low-resolution logits of the chosen candidate, for the next refinement (None for GrabCut)."""
        return None if self.logits is None else self.logits[self.best][None]

    def probabilities(self, index: int | None = None) -> np.ndarray | None:
        """HW float32 in [0, 1]: the model's probability that each pixel is the object, for candidate ``index`` (the
        chosen one by default): the sigmoid of its logits brought to the image's size the way its mask was (so
        probabilities > 0.5 is the mask, up to float rounding at the threshold). None without logits (GrabCut).
        Computed on demand: 4 bytes a pixel."""
        if self.logits is None or self.frame is None:
            return None
        i = self.best if index is None else index
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= i < len(self.logits):
            raise UserError(f"candidate {i!r} does not exist; there are {len(self.logits)}")
        h, w = self.masks.shape[1:]
        up = upscale_logits(self.logits[i:i + 1], (h, w), self.frame)[0]
        # the sigmoid in place (a 24 MP float64 copy from scipy.special.expit is avoided); the logits are clipped
        # first so exp() cannot overflow (|x| > 80 is 0 or 1 in float32 anyway)
        np.clip(up, -80.0, 80.0, out=up)
        np.negative(up, out=up)
        np.exp(up, out=up)
        up += 1.0
        np.reciprocal(up, out=up)
        return up

    def ranked(self) -> list[int]:
        """Candidate indices, highest score first."""
        return [int(i) for i in np.argsort(-np.nan_to_num(self.scores, nan=-np.inf), kind="stable")]

    def select(self, index: int) -> "Segmentation":
        """The same result with candidate ``index`` chosen (so a later refinement continues from it)."""
        if not 0 <= index < len(self.masks):
            raise UserError(f"candidate {index} does not exist; there are {len(self.masks)}")
        return dataclasses.replace(self, best=int(index))


class LogitsFrame(NamedTuple):
    """Where a segmenter's low-resolution logits lie over the image.

    pad_size    (S, S): the model's square input the logits cover, padded at the bottom and right; None when the
                image was resized onto the whole square instead (SAM 2.1), so the logits cover the image itself
    input_size  (h', w'): the resized image inside the padded square (None with pad_size None)
    """

    pad_size: tuple[int, int] | None = None
    input_size: tuple[int, int] | None = None


def upscale_logits(low: np.ndarray, size: tuple[int, int], frame: LogitsFrame) -> np.ndarray:
    """(C, h0, w0) low-resolution logits -> (C, H, W) float32 at the image's ``size`` (H, W), as the transformers
    and segment-anything post-processing do it: bilinear with half-pixel centres (F.interpolate's
    align_corners=False) to ``frame.pad_size``, cropped to ``frame.input_size``, bilinear to (H, W); or straight to
    (H, W) when the frame has no padding. By OpenCV (several times faster than torch on a CPU), one candidate at a
    time. Thresholding the answer at the model's mask threshold (0) gives its masks."""
    h, w = size
    out = np.empty((low.shape[0], h, w), np.float32)
    for i, logits in enumerate(low):
        logits = np.ascontiguousarray(logits, dtype=np.float32)
        if frame.pad_size is not None:
            (ph, pw), (rh, rw) = frame.pad_size, frame.input_size
            logits = np.ascontiguousarray(cv2.resize(logits, (pw, ph), interpolation=cv2.INTER_LINEAR)[:rh, :rw])
        out[i] = cv2.resize(logits, (w, h), interpolation=cv2.INTER_LINEAR)
    return out


def threshold_logits(low: np.ndarray, size: tuple[int, int], frame: LogitsFrame,
                     threshold: float = 0.0) -> np.ndarray:
    """(C, H, W) bool masks: upscale_logits(...) > ``threshold``, without holding all C float candidates at once."""
    masks = np.empty((low.shape[0],) + tuple(size), bool)
    for i in range(low.shape[0]):
        np.greater(upscale_logits(low[i:i + 1], size, frame)[0], threshold, out=masks[i])
    return masks


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


def _check_previous(previous: Any, key: str) -> None:
    if not isinstance(previous, Segmentation):
        raise UserError(f"previous must be the Segmentation of the last click, got {type(previous).__name__}")
    if previous.image_key != key:
        raise UserError("the previous result belongs to a different image; start again without previous")


def refinement_input(previous: Any, key: str, engine: str, size: tuple[int, int], *, target: str,
                     family: str) -> np.ndarray:
    """The mask prompt a refinement feeds back: ``previous``'s chosen low-resolution logits, (1, h, w) float32,
    writable. ``previous`` must be the Segmentation of the last click of ``engine`` on the image ``key``, with
    logits of ``size`` (h, w); anything else is a one-line UserError (``target``: what cannot be refined, e.g.
    "SAM"; ``family``: the model family, e.g. "SAM 2.1"). Shared by every SAM-like segmenter."""
    _check_previous(previous, key)
    if previous.logits is None or previous.engine != engine:
        raise UserError(f"a {previous.engine} result cannot refine a {target} mask; start again without previous")
    mask_input = np.array(previous.mask_input, dtype=np.float32)
    if tuple(mask_input.shape[-2:]) != tuple(size):
        raise UserError(f"the previous result comes from another {family} model; start again without previous")
    return mask_input
