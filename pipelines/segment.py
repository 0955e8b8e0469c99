"""Click-to-segment: Segment Anything (SAM) behind our own class, and a GrabCut fallback that needs no weights.

Formats (everywhere in this module):
    image   HWC uint8 RGB (3 channels; drop alpha before calling)
    point   (x, y) pixel coordinates, x to the right in [0, W), y down in [0, H)
    label   1 = positive click (part of the object), 0 = negative click (not part of it)
    box     XYXY pixel coordinates with exclusive ends: 0 <= x0 < x1 <= W, 0 <= y0 < y1 <= H
    mask    HW bool, True = the object (= "you may repaint here" once it is used as an inpainting mask)

Lifecycle (STYLE.md rules 2 and 3):
    seg = Segmenter("vit_b")              # builds nothing, downloads nothing
    seg.load(progress=cb)                 # resolves the checkpoint (local path, cache, or one download) and loads it
    key = seg.prepare(image)              # optional: compute the image embedding ahead of time (on upload)
    r1 = seg.segment(image, positive=[(x, y)])
    r2 = seg.segment(image, positive=[(x, y)], negative=[(u, v)], previous=r1)   # refinement
    mask = grow_mask(clean_mask(r2.mask), "removal")
    seg.close()                           # releases the model and the embedding cache; later use is a RuntimeError

Without a checkpoint, GrabCutSegmenter offers the same prepare/segment API; its results say so in ``engine``.

Concurrency: a Segmenter is thread-safe and may be shared by all users; or give each user session its own Segmenter
(its own embedding cache): the weights are loaded once per process and shared read-only (shared_sam). No predictor
state is ever shared: every call builds its own light SamPredictor and installs the cached embedding of *its* image
into it, so concurrent clicks on different images cannot see each other's embedding. The only shared mutable state is
the embedding LRU, guarded by a lock; an image whose embedding one thread is computing is waited for, not recomputed.

Nothing is imported from torch/segment_anything, built, read or downloaded when this module is imported.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import logging
import math
import os
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, NamedTuple, Sequence

import cv2
import numpy as np

from . import masks as mask_ops
from .errors import UserError
from .io import check_pixels

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from segment_anything.modeling import Sam

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, "int | None"], None]
"""progress(done_bytes, total_bytes or None) while a checkpoint downloads."""

REPLACEMENT_GROW_PX = 15
"""Growth before *replacing* an object (the textbook inpainting recipe): room for the new content's outline."""

REMOVAL_MATTE_PX = 2
"""The anti-aliased fringe a tight object mask leaves outside (a soft matte is ~2 px wide on photos)."""

REMOVAL_FEATHER_PX = 8
"""The blend band the compositor needs inside the mask (BOUNDARIES.md: d >= 6 is where seam fixes start to pass)."""

REMOVAL_GROW_PX = REMOVAL_MATTE_PX + REMOVAL_FEATHER_PX
"""Growth before *removing* an object: cover the fringe plus the feather band, or every method re-creates a rim."""

GROW_PRESETS = {"replacement": REPLACEMENT_GROW_PX, "removal": REMOVAL_GROW_PX}

FALLBACK_REASON = "no SAM 2.1 or SAM weights on disk"


# --------------------------------------------------------------------------------------------------------------
# Model registry and checkpoints
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SamModelSpec:
    """One SAM architecture: how to build it with random weights, and where its official checkpoint lives.

    ``builder()`` returns an eval-mode ``segment_anything.modeling.Sam`` with random weights and must not touch the
    disk or the network; weights are loaded by ``load_sam`` as a separate step.
    """

    name: str
    builder: Callable[[], "Sam"]
    filename: str
    url: str | None = None


def _build_vit_b() -> "Sam":
    from segment_anything import build_sam_vit_b

    return build_sam_vit_b(checkpoint=None)


def _build_vit_l() -> "Sam":
    from segment_anything import build_sam_vit_l

    return build_sam_vit_l(checkpoint=None)


def _build_vit_h() -> "Sam":
    from segment_anything import build_sam_vit_h

    return build_sam_vit_h(checkpoint=None)


_OFFICIAL = "https://dl.fbaipublicfiles.com/segment_anything/"

SAM_MODELS: dict[str, SamModelSpec] = {
    "vit_b": SamModelSpec("vit_b", _build_vit_b, "sam_vit_b_01ec64.pth", _OFFICIAL + "sam_vit_b_01ec64.pth"),
    "vit_l": SamModelSpec("vit_l", _build_vit_l, "sam_vit_l_0b3195.pth", _OFFICIAL + "sam_vit_l_0b3195.pth"),
    "vit_h": SamModelSpec("vit_h", _build_vit_h, "sam_vit_h_4b8939.pth", _OFFICIAL + "sam_vit_h_4b8939.pth"),
}
"""Registry of SAM model types. vit_b (375 MB) is the default; vit_l (1.2 GB) and vit_h (2.6 GB) are slower."""

DEFAULT_MODEL = "vit_b"


def register_sam_model(spec: SamModelSpec, *, replace: bool = False) -> None:
    """Add a model type to SAM_MODELS (for fine-tuned variants, and for tests' tiny models)."""
    if spec.name in SAM_MODELS and not replace:
        raise UserError(f"SAM model type {spec.name!r} is already registered")
    SAM_MODELS[spec.name] = spec


def get_sam_spec(model_type: str) -> SamModelSpec:
    """The registry entry for ``model_type``, or a ValueError listing the known types."""
    try:
        return SAM_MODELS[model_type]
    except KeyError:
        known = ", ".join(sorted(SAM_MODELS))
        raise UserError(f"unknown SAM model type {model_type!r}; choose one of: {known}") from None


def default_cache_dir() -> Path:
    """Where downloaded checkpoints live: $INPAINT_APP_CACHE/sam, else $XDG_CACHE_HOME (or ~/.cache)/inpaint-app/sam."""
    root = os.environ.get("INPAINT_APP_CACHE")
    if root:
        return Path(root).expanduser() / "sam"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "inpaint-app" / "sam"


def checkpoint_path(model_type: str = DEFAULT_MODEL, cache_dir: str | os.PathLike | None = None) -> Path:
    """The path of ``model_type``'s checkpoint in the cache folder (whether or not it exists yet)."""
    spec = get_sam_spec(model_type)
    folder = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    return folder / spec.filename


class CheckpointUnavailable(UserError):
    """The SAM checkpoint is neither on disk nor downloadable. The message names the file and the remedies."""


def _unavailable(spec: SamModelSpec, target: Path, why: str) -> CheckpointUnavailable:
    # the remedies before the long paths: a one-line error is cut at errors.one_line's limit
    source = f" {spec.url}" if spec.url else " it"
    return CheckpointUnavailable(
        f"no SAM checkpoint {spec.filename} ({why}): use --sam-checkpoint PATH or --engine grabcut, "
        f"or save{source} as {target}"
    )


_DOWNLOAD_CHUNK = 1 << 20


def download_checkpoint(
    model_type: str = DEFAULT_MODEL,
    cache_dir: str | os.PathLike | None = None,
    *,
    progress: ProgressCallback | None = None,
    timeout: float = 30.0,
) -> Path:
    """Download ``model_type``'s official checkpoint into the cache folder once and return its path.

    The file is written to a temporary name in the same folder and renamed when complete, so a partial download is
    never mistaken for a checkpoint. ``progress(done_bytes, total_bytes or None)`` is called as bytes arrive.
    An existing cached file is returned without any network access. Raises CheckpointUnavailable when offline.
    """
    spec = get_sam_spec(model_type)
    target = checkpoint_path(model_type, cache_dir)
    if target.is_file():
        return target
    if not spec.url:
        raise _unavailable(spec, target, f"model type {spec.name!r} has no download address")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _unavailable(spec, target, f"cannot create {target.parent}: {exc.strerror or exc}") from None
    fd, tmp = tempfile.mkstemp(prefix=f".{spec.filename}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(spec.url, timeout=timeout) as response:
                    length = response.headers.get("Content-Length")
                    total = int(length) if length and length.isdigit() else None
                    done = 0
                    if progress is not None:
                        progress(0, total)
                    while True:
                        chunk = response.read(_DOWNLOAD_CHUNK)
                        if not chunk:
                            break
                        out.write(chunk)
                        done += len(chunk)
                        if progress is not None:
                            progress(done, total)
            except (urllib.error.URLError, OSError, ValueError) as exc:
                reason = getattr(exc, "reason", None) or exc
                raise _unavailable(spec, target, f"download failed: {reason}") from None
        if total is not None and done != total:
            raise _unavailable(spec, target, f"download incomplete: {done} of {total} bytes")
        if done == 0:
            raise _unavailable(spec, target, "download was empty")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def resolve_checkpoint(
    model_type: str = DEFAULT_MODEL,
    checkpoint: str | os.PathLike | None = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    download: bool = True,
    progress: ProgressCallback | None = None,
) -> Path:
    """The checkpoint file to load: ``checkpoint`` if given (must exist), else the cached file, else a download.

    With ``download=False`` a missing cached file raises CheckpointUnavailable instead of going to the network.
    """
    spec = get_sam_spec(model_type)
    if checkpoint is not None:
        path = Path(checkpoint).expanduser()
        if not path.is_file():
            raise UserError(f"SAM checkpoint {path} does not exist")
        return path
    target = checkpoint_path(model_type, cache_dir)
    if target.is_file():
        return target
    if not download:
        raise _unavailable(spec, target, "not in the cache and downloading is off")
    return download_checkpoint(model_type, cache_dir, progress=progress)


def load_sam(model_type: str, checkpoint: str | os.PathLike, device: "str | torch.device" = "cpu") -> "Sam":
    """Build ``model_type`` (random weights) and load the state dict in ``checkpoint`` into it, strictly.

    A file that is not a checkpoint of this architecture is a ValueError naming the file.
    """
    import torch

    spec = get_sam_spec(model_type)
    path = Path(checkpoint)
    try:
        with open(path, "rb") as fh:
            state = torch.load(fh, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserError(f"SAM checkpoint {path} does not exist") from None
    except Exception as exc:  # pickle, zip and torch errors all mean "not a checkpoint"
        raise UserError(
            f"{path} is not a readable SAM checkpoint ({type(exc).__name__}); delete it and download it again"
        ) from None
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]  # some fine-tuning scripts wrap the weights
    if not isinstance(state, dict):
        raise UserError(f"{path} is not a SAM state dict")
    sam = spec.builder()
    try:
        sam.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise UserError(f"{path} does not match SAM model type {model_type!r} ({first.strip()})") from None
    return sam.to(device).eval()


_SHARED_LOCK = threading.Lock()
_SHARED: dict[tuple[str, str, int, str], "Sam"] = {}


def shared_sam(model_type: str, checkpoint: str | os.PathLike, device: "str | torch.device" = "cpu") -> "Sam":
    """``load_sam`` once per (model type, checkpoint file, device) in this process; later calls share the model.

    The model is used read-only (inference only), so every Segmenter and every user can share it; each Segmenter
    keeps its own embedding cache. The lock makes concurrent first calls load once. ``release_shared_models()``
    forgets them all.
    """
    path = Path(checkpoint).resolve()
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        raise UserError(f"SAM checkpoint {path} does not exist") from None
    key = (model_type, str(path), stamp, str(device))
    with _SHARED_LOCK:
        model = _SHARED.get(key)
        if model is None:
            model = _SHARED[key] = load_sam(model_type, path, device)
        return model


def release_shared_models() -> None:
    """Forget every model shared_sam() loaded (Segmenters that hold one keep it until they are closed)."""
    with _SHARED_LOCK:
        _SHARED.clear()


# --------------------------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------------------------


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
    """

    masks: np.ndarray
    scores: np.ndarray
    best: int
    logits: np.ndarray | None
    engine: str
    image_key: str
    prompts: Prompts
    note: str = ""

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

    def ranked(self) -> list[int]:
        """Candidate indices, highest score first."""
        return [int(i) for i in np.argsort(-np.nan_to_num(self.scores, nan=-np.inf), kind="stable")]

    def select(self, index: int) -> "Segmentation":
        """The same result with candidate ``index`` chosen (so a later refinement continues from it)."""
        if not 0 <= index < len(self.masks):
            raise UserError(f"candidate {index} does not exist; there are {len(self.masks)}")
        return dataclasses.replace(self, best=int(index))


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


# --------------------------------------------------------------------------------------------------------------
# SAM
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Embedding:
    features: "torch.Tensor"  # (1, C, h, w)
    original_size: tuple[int, int]
    input_size: tuple[int, int]


class CacheInfo(NamedTuple):
    hits: int
    misses: int
    size: int
    capacity: int


class EmbeddingCache:
    """A thread-safe LRU of image embeddings keyed by content (image_key), shared by the SAM segmenters.

    ``get(key, compute)`` returns the cached embedding or computes it once: a thread asking for an embedding that
    another thread is computing waits for that one instead of computing it again. Nothing is kept of a failed
    compute (the waiters then try themselves)."""

    def __init__(self, size: int):
        if int(size) < 1:
            raise UserError("cache_size must be at least 1")
        self.size = int(size)
        self._cond = threading.Condition()
        self._items: collections.OrderedDict[str, Any] = collections.OrderedDict()
        self._pending: set[str] = set()
        self._hits = 0
        self._misses = 0

    def info(self) -> CacheInfo:
        with self._cond:
            return CacheInfo(self._hits, self._misses, len(self._items), self.size)

    def clear(self) -> None:
        with self._cond:
            self._items.clear()

    def get(self, key: str, compute: Callable[[], Any]) -> Any:
        with self._cond:
            while True:
                item = self._items.get(key)
                if item is not None:
                    self._items.move_to_end(key)
                    self._hits += 1
                    return item
                if key not in self._pending:
                    self._pending.add(key)
                    self._misses += 1
                    break
                self._cond.wait()  # another thread is computing this very embedding
        try:
            item = compute()
        except BaseException:
            with self._cond:
                self._pending.discard(key)
                self._cond.notify_all()
            raise
        with self._cond:
            self._pending.discard(key)
            self._items[key] = item
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
            self._cond.notify_all()
        return item


class Segmenter:
    """Segment Anything behind an explicit lifecycle: construct (cheap), load(), prepare()/segment(), close().

    ``model_type`` is a key of SAM_MODELS (vit_b by default). ``checkpoint`` is a local file; without one the
    checkpoint is taken from the cache folder (``cache_dir``, default default_cache_dir()) or, if ``download``,
    downloaded there once by load(). ``cache_size`` image embeddings are kept (LRU, keyed by a hash of the pixels).
    One instance is meant to be shared by all users: it is thread-safe.
    """

    def __init__(
        self,
        model_type: str = DEFAULT_MODEL,
        checkpoint: str | os.PathLike | None = None,
        *,
        device: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        download: bool = True,
        cache_size: int = 4,
    ) -> None:
        get_sam_spec(model_type)  # fail early on a typo; nothing is built or read here
        self._embeddings = EmbeddingCache(cache_size)
        self.model_type = model_type
        self.checkpoint = None if checkpoint is None else Path(checkpoint)
        self.device = device
        self.cache_dir = cache_dir
        self.download = download
        self.cache_size = int(cache_size)
        self._model: "Sam | None" = None
        self._closed = False
        self._load_lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------------------------

    @classmethod
    def from_model(cls, sam: "Sam", *, name: str = "custom", cache_size: int = 4) -> "Segmenter":
        """A loaded Segmenter around an already built ``Sam`` (benchmarks, callers that manage weights themselves)."""
        seg = cls.__new__(cls)
        Segmenter.__init__(seg, DEFAULT_MODEL, cache_size=cache_size)
        seg.model_type = name
        seg._model = sam.eval()
        return seg

    @property
    def engine(self) -> str:
        return f"sam {self.model_type}"

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self, progress: ProgressCallback | None = None) -> "Segmenter":
        """Resolve the checkpoint (downloading it once if allowed) and load the model. Idempotent and thread-safe."""
        if self._closed:
            raise RuntimeError("this Segmenter was closed; create a new one")
        with self._load_lock:
            if self._model is None:
                import torch

                device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
                path = resolve_checkpoint(
                    self.model_type, self.checkpoint, cache_dir=self.cache_dir, download=self.download,
                    progress=progress,
                )
                self._model = shared_sam(self.model_type, path, device)
        return self

    def close(self) -> None:
        """Release the model and the cached embeddings. Using the Segmenter afterwards is a RuntimeError."""
        with self._load_lock:
            self._model = None
            self._closed = True
        self.clear_cache()

    def __enter__(self) -> "Segmenter":
        return self.load()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _require_model(self) -> "Sam":
        model = self._model
        if model is None:
            if self._closed:
                raise RuntimeError("this Segmenter was closed; create a new one")
            raise RuntimeError("the SAM model is not loaded: call load() before prepare() or segment()")
        return model

    # -- embedding cache -------------------------------------------------------------------------------------

    def cache_info(self) -> CacheInfo:
        return self._embeddings.info()

    def clear_cache(self) -> None:
        self._embeddings.clear()

    def _encode(self, model: "Sam", image: np.ndarray) -> _Embedding:
        from segment_anything import SamPredictor

        predictor = SamPredictor(model)  # a private predictor: its per-image state is never shared
        predictor.set_image(image, image_format="RGB")
        return _Embedding(predictor.features, tuple(predictor.original_size), tuple(predictor.input_size))

    def _embedding(self, model: "Sam", image: np.ndarray, key: str) -> _Embedding:
        return self._embeddings.get(key, lambda: self._encode(model, image))

    # -- work ------------------------------------------------------------------------------------------------

    def prepare(self, image: np.ndarray) -> str:
        """Compute (or find in the cache) the embedding of ``image`` (HWC uint8 RGB); return its key. Slow on CPU."""
        model = self._require_model()
        image = check_image(image)
        key = image_key(image)
        self._embedding(model, image, key)
        return key

    def segment(
        self,
        image: np.ndarray,
        *,
        points: Sequence[tuple[float, float]] | np.ndarray | None = None,
        labels: Sequence[int] | np.ndarray | None = None,
        positive: Sequence[tuple[float, float]] | np.ndarray | None = None,
        negative: Sequence[tuple[float, float]] | np.ndarray | None = None,
        box: Sequence[float] | np.ndarray | None = None,
        previous: Segmentation | None = None,
        multimask: bool = True,
    ) -> Segmentation:
        """Segment the object the prompts point at.

        image     HWC uint8 RGB
        points    (x, y) pixel coordinates with ``labels`` (1 positive, 0 negative); or ``positive``/``negative``
        box       XYXY, exclusive ends, inside the image
        previous  the last result on this image: its chosen low-resolution logits go in as mask_input, so each
                  click refines the previous mask. Pass *all* clicks so far (as SAM was trained), not just the new one.
        multimask True: 3 candidates (SAM's ambiguity-aware output), best = highest predicted IoU; False: 1.
        Returns a Segmentation. The embedding is computed once per image and cached.
        """
        model = self._require_model()
        image = check_image(image)
        prompts = check_prompts(
            image.shape[:2], points=points, labels=labels, positive=positive, negative=negative, box=box
        )
        key = image_key(image)
        mask_input = None
        if previous is not None:  # torch wants a writable array: refinement_input returns a copy
            size = tuple(4 * s for s in model.prompt_encoder.image_embedding_size)
            mask_input = refinement_input(previous, key, self.engine, size, target="SAM", family="SAM")
        emb = self._embedding(model, image, key)

        from segment_anything import SamPredictor

        predictor = SamPredictor(model)  # per call: the per-image state below is never shared between threads
        predictor.features = emb.features
        predictor.original_size = emb.original_size
        predictor.input_size = emb.input_size
        predictor.is_image_set = True
        masks, scores, logits = _sam_predict(
            predictor,
            point_coords=prompts.points.copy() if len(prompts.points) else None,
            point_labels=prompts.labels.copy() if len(prompts.labels) else None,
            box=None if prompts.box is None else prompts.box.copy(),
            mask_input=mask_input,
            multimask_output=multimask,
        )
        scores = scores.astype(np.float32)
        return Segmentation(
            masks=_frozen(masks.astype(bool)),
            scores=_frozen(scores),
            best=int(np.argmax(scores)),
            logits=_frozen(logits.astype(np.float32)),
            engine=self.engine,
            image_key=key,
            prompts=prompts,
        )


def _sam_predict(predictor, *, point_coords, point_labels, box, mask_input, multimask_output):
    """SamPredictor.predict with the masks upscaled by OpenCV instead of torch.

    Same prompt transforms, prompt encoder and mask decoder as SamPredictor.predict; the low-resolution
    logits are resized with the same bilinear, half-pixel-centred resampling as Sam.postprocess_masks
    (to the encoder's square input, cropped to the resized image, then to the original size), which
    OpenCV does several times faster on a CPU. Returns (masks CxHxW bool, scores C, low-res logits Cx256x256).
    """
    import torch

    model = predictor.model
    device = model.device
    coords = labels = boxes = masks_in = None
    if point_coords is not None:
        pts = predictor.transform.apply_coords(point_coords, predictor.original_size)
        coords = torch.as_tensor(pts, dtype=torch.float, device=device)[None]
        labels = torch.as_tensor(point_labels, dtype=torch.int, device=device)[None]
    if box is not None:
        b = predictor.transform.apply_boxes(box, predictor.original_size)
        boxes = torch.as_tensor(b, dtype=torch.float, device=device)[None]
    if mask_input is not None:
        masks_in = torch.as_tensor(mask_input, dtype=torch.float, device=device)[None]
    with torch.no_grad():
        sparse, dense = model.prompt_encoder(points=None if coords is None else (coords, labels), boxes=boxes,
                                             masks=masks_in)
        low, iou = model.mask_decoder(
            image_embeddings=predictor.features,
            image_pe=model.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=multimask_output,
        )
    low_np = low[0].float().cpu().numpy()  # C x 256 x 256 logits
    c = low_np.shape[0]
    side = model.image_encoder.img_size
    (in_h, in_w), (h, w) = predictor.input_size, predictor.original_size
    up = cv2.resize(np.ascontiguousarray(low_np.transpose(1, 2, 0)), (side, side), interpolation=cv2.INTER_LINEAR)
    up = np.ascontiguousarray(up.reshape(side, side, c)[:in_h, :in_w])
    full = cv2.resize(up, (w, h), interpolation=cv2.INTER_LINEAR).reshape(h, w, c)
    masks = (full > model.mask_threshold).transpose(2, 0, 1)
    return masks, iou[0].float().cpu().numpy(), low_np


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


# --------------------------------------------------------------------------------------------------------------
# GrabCut fallback
# --------------------------------------------------------------------------------------------------------------

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
_REFINE_BAND = 4  # then the colour GrabCut redraws the edge within this many px (working scale) of the feature one
_REFINE_ITERATIONS = 2
_RECT_SCALE = 0.75  # a box's region is solved at this fraction of max_side (smoothed features need fewer pixels, and
# one max-flow solve, which the time budget cannot interrupt, grows faster than the pixel count)
_PASS1_SCALE = 0.625  # pass 1 (clicks only, on the whole picture) works at this fraction of max_side
_CANDIDATES = 5  # at most this many growing boxes when the clicks-only pass collapses or spills
_FLAT_STEP = 2  # neighbours (working image, blurred) closer than this in every channel belong to one flat area ...
_FLAT_COVER = 0.98  # ... and a flat area around the click covering this much of the picture leaves nothing to separate;
_FLAT_AREA = 0.25  # one covering this much is the answer (GrabCut's max-flow crawls on a large flat area)


class GrabCutSegmenter:
    """Click-to-segment without weights: OpenCV GrabCut seeded by the same clicks and box. Always labelled fallback.

    What GrabCut models is not the raw colour but _texture_features: Lab smoothed a little plus the local spread of
    lightness, projected to 3 channels, so that a textured object whose colours overlap its surroundings' separates
    by its mean colour and texture; a box's answer then has its edge redrawn on the raw colours in a narrow band
    (_refine_edge).
    Box: outside the box is definite background (learnt from a ring around it, _RING of its long side), the box's
    own edge is probable background (a box is drawn loosely around the object), inside is probable foreground,
    positive/negative clicks are definite foreground/background discs. (A box around the whole image, with positive
    clicks, is treated as clicks only.)
    Clicks only: pass 1 marks the whole image probable background and, around each positive click, the pixels
    connected to it through similar colours probable foreground (so the foreground colour model starts from what was
    clicked); pass 2 re-runs the box recipe on pass 1's bounding box, grown by 15%. When pass 1 collapses onto the
    click or spills over most of the image, boxes around the seeds grow by half until one's result neither collapses
    nor reaches its edge.
    Clicks are cumulative (pass all of them), so ``previous`` is only checked to belong to the same image: GrabCut
    starts again from all the clicks, which lets a negative click fully undo a region. Only the parts of the mask
    that a positive click touches are kept.
    GrabCut models colours: it works on objects whose colours differ from their surroundings and fails where they
    do not, and with a box it keeps other things that lie wholly inside the box (add a negative click on them).
    Same prepare()/segment() API as Segmenter; nothing to load. Results are repeatable (OpenCV's RNG is reseeded).

    Bounded work (a max-flow solve on a flat picture is slow): regions are solved at most ``max_side`` px on a side
    (<= GRABCUT_MAX_SIDE_LIMIT) and the mask is scaled back; each solve runs at most ``click_iterations`` /
    ``box_iterations`` (<= GRABCUT_MAX_ITERATIONS; a box's edge redrawn with _REFINE_ITERATIONS more) and stops
    early once the mask no longer changes; at most _CANDIDATES growing boxes are tried. A click on a flat picture (the area of near-equal colours around it covers
    the whole picture: a uniform image, a smooth gradient) is the UserError FLAT_MESSAGE, answered before any
    GrabCut; a box that holds nothing to separate gives the box itself, with a note. After ``time_budget`` seconds
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
            mask = _grabcut_rect(image, rect, pos, neg, None, radius, box_iterations, max_side, budget)
            return mask, budget.note()
        # a box around the whole image says nothing about the background: segment from the clicks alone
    # 1. the flat area around the positive clicks: the whole picture is nothing to separate; a large part of it is
    # the answer (GrabCut's max-flow crawls there and has no edge to find but the area's own)
    work, sx, sy = _downscale(image, max_side)
    flat = _flat_area(work, pos * (sx, sy))
    share = float(np.count_nonzero(flat)) / flat.size
    if share >= _FLAT_AREA:
        if share >= _FLAT_COVER:
            raise UserError(FLAT_MESSAGE)
        fh, fw = flat.shape
        if any(flat[min(fh - 1, int(y * sy)), min(fw - 1, int(x * sx))] for x, y in neg):
            raise UserError(FLAT_NEGATIVE_MESSAGE)
        return _keep_clicked(_upscale(flat, w, h), pos), "the click is on a large flat area: the mask is that area"
    # 2. pass 1, on a coarser picture: clicks and colour-connected seeds
    mask, seeds = _grabcut_seeded(image, pos, neg, radius, click_iterations, round(max_side * _PASS1_SCALE), budget)
    area = int(mask.sum())
    if area >= 0.5 * seeds.sum() and area < 0.6 * h * w:
        # 3. pass 2: the box recipe on pass 1's bounding box, grown by 15%
        rect = _grow_rect(mask_ops.bbox(mask), 1.15, 0.02 * max(h, w), h, w)
        if not budget.allows(_work_pixels(_ring_rect(rect, h, w), max_side)):
            return mask, budget.note()
        return _grabcut_rect(image, rect, pos, neg, mask, radius, click_iterations, max_side, budget), budget.note()
    # 4. Pass 1 collapsed onto the click (the object's colours also fill the background model) or spilled over most of
    # the image: fall back to boxes around the seeds, growing by half until one neither collapses nor reaches its
    # own edge (then the background outside it is clean, which is what GrabCut needs).
    rect = _grow_rect(mask_ops.bbox(seeds), 1.5, 0.02 * max(h, w), h, w)
    best = mask if area else seeds
    for _ in range(_CANDIDATES):
        if not budget.allows(_work_pixels(_ring_rect(rect, h, w), max_side)):
            break
        candidate = _grabcut_rect(image, rect, pos, neg, None, radius, click_iterations, max_side, budget)
        fill = candidate.sum() / max(1, (rect[2] - rect[0]) * (rect[3] - rect[1]))
        if fill >= 0.08:
            if _edge_fraction(candidate, rect) < 0.05:
                return candidate, budget.note()
            best = candidate
        bigger = _grow_rect(rect, 1.5, 0.01 * max(h, w), h, w)
        if bigger == rect:
            break
        rect = bigger
    return best, budget.note()


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


def _flat_box(image: np.ndarray, rect: tuple[int, int, int, int], pos: np.ndarray, max_side: int) -> bool:
    """True when the box and its background ring are one flat area (see _flat_share): nothing to separate."""
    h, w = image.shape[:2]
    rx0, ry0, rx1, ry1 = _ring_rect(rect, h, w)
    small, sx, sy = _downscale(image[ry0:ry1, rx0:rx1], max_side)
    x0, y0, x1, y1 = rect
    starts = np.concatenate([[((x0 + x1) / 2, (y0 + y1) / 2)], pos.reshape(-1, 2)])
    return np.mean(_flat_area(small, (starts - (rx0, ry0)) * (sx, sy))) >= _FLAT_COVER


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
) -> tuple[np.ndarray, np.ndarray]:
    """Clicks-only pass 1: everything probably background except colour-connected seeds around positive clicks.
    Returns (mask, seeds), both HW bool at the image's size."""
    h, w = image.shape[:2]
    small, sx, sy = _downscale(image, max_side)
    sh, sw = small.shape[:2]
    r = max(1, int(round(radius * sx)))
    gc = np.full((sh, sw), cv2.GC_PR_BGD, np.uint8)
    seeds = _click_seeds(small, pos * (sx, sy), r)
    gc[seeds] = cv2.GC_PR_FGD
    _draw_clicks(gc, pos, neg, r, (sx, sy))
    fg = _run_grabcut(_texture_features(small), gc, iterations, budget)
    if (sh, sw) != (h, w):
        fg = _upscale(fg, w, h)
        seeds = cv2.resize(seeds.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
    return _keep_clicked(fg, pos), seeds


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
) -> np.ndarray:
    """GrabCut with everything outside ``rect`` as background, solved on the rectangle plus a background ring.

    Inside the rectangle: probable foreground (or, with ``previous``, probable foreground where previous is set and
    probable background elsewhere); clicks are definite discs.
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
    _draw_clicks(gc, pos, neg, max(1, int(round(radius * sx))), (sx, sy), (rx0, ry0))
    if not np.any((gc == cv2.GC_BGD) | (gc == cv2.GC_PR_BGD)):
        # The rectangle is the whole image: let the image's outer frame stand for the background.
        frame = np.zeros_like(gc, bool)
        frame[[0, -1], :] = frame[:, [0, -1]] = True
        gc[frame & (gc != cv2.GC_FGD)] = cv2.GC_PR_BGD
    fg = _run_grabcut(_texture_features(small), gc.copy(), iterations, budget)
    if budget.allows(gc.size):
        fg = _refine_edge(small, gc, fg, budget)
    fg = _upscale(fg, cw, ch)
    out = np.zeros((h, w), bool)
    out[ry0:ry1, rx0:rx1] = fg
    return _keep_clicked(out, pos)


def _refine_edge(rgb: np.ndarray, gc: np.ndarray, fg: np.ndarray, budget: _Budget) -> np.ndarray:
    """Colour GrabCut on ``rgb`` around the edge of ``fg`` (the smoothed-feature answer, HW bool): pixels farther
    than _REFINE_BAND px from its edge keep their side for certain, those near it start on their side as probable,
    ``gc``'s definite labels stay. The smoothed features round off thin parts and corners; the colours put them back."""
    inside = cv2.distanceTransform(fg.astype(np.uint8), cv2.DIST_L2, 3)
    outside = cv2.distanceTransform((~fg).astype(np.uint8), cv2.DIST_L2, 3)
    free = (gc == cv2.GC_PR_FGD) | (gc == cv2.GC_PR_BGD)
    labels = np.where(fg, np.where(inside > _REFINE_BAND, cv2.GC_FGD, cv2.GC_PR_FGD),
                      np.where(outside > _REFINE_BAND, cv2.GC_BGD, cv2.GC_PR_BGD)).astype(np.uint8)
    refined = gc.copy()
    refined[free] = labels[free]
    return _run_grabcut(rgb, refined, _REFINE_ITERATIONS, budget)


def _texture_features(rgb: np.ndarray) -> np.ndarray:
    """The 3-channel image GrabCut models (cv2.grabCut takes 3 channels of 8 bits), from ``rgb`` (HWC uint8 RGB):
    Lab smoothed by _FEATURE_BLUR and the local spread (standard deviation) of lightness at _TEXTURE_SCALE, each
    standardised over the picture, projected on their 3 principal components and stretched to 0-255 (1st-99th
    percentile). A textured object whose mean colour is close to its surroundings' separates by its texture and its
    smoothed colour where raw colours overlap."""
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    mean = cv2.GaussianBlur(lab, (0, 0), _FEATURE_BLUR)
    light = lab[..., 0]
    m1 = cv2.GaussianBlur(light, (0, 0), _TEXTURE_SCALE)
    m2 = cv2.GaussianBlur(light * light, (0, 0), _TEXTURE_SCALE)
    spread = np.sqrt(np.maximum(m2 - m1 * m1, 0.0))
    feats = np.concatenate([mean, spread[..., None]], axis=2).reshape(-1, 4)
    feats -= feats.mean(axis=0)
    feats /= feats.std(axis=0) + 1e-6
    _, _, vt = np.linalg.svd(feats[:: max(1, len(feats) // 20000)], full_matrices=False)
    proj = feats @ vt[:3].T
    lo, hi = np.percentile(proj, (1, 99))
    out = np.clip((proj - lo) * (255.0 / max(hi - lo, 1e-6)), 0, 255)
    return np.ascontiguousarray(out.reshape(rgb.shape).astype(np.uint8))


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


# --------------------------------------------------------------------------------------------------------------
# Clean-up and growth
# --------------------------------------------------------------------------------------------------------------


def clean_mask(
    mask: np.ndarray,
    *,
    min_area: int | None = None,
    max_hole_area: int | None = None,
    fill_holes: bool = True,
) -> np.ndarray:
    """Tidy a segmentation mask (HW bool): drop islands smaller than ``min_area`` px and fill holes.

    ``min_area`` defaults to 0.05% of the image (at least 16 px). Holes are filled when ``fill_holes``; with
    ``max_hole_area`` only holes up to that many px are filled (a donut keeps its real hole). Returns a new mask.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise UserError(f"the mask must be HW bool, got shape {mask.shape}")
    if min_area is None:
        min_area = max(16, int(0.0005 * mask.size))
    if min_area < 0 or (max_hole_area is not None and max_hole_area < 0):
        raise UserError("areas must be >= 0")
    out = mask_ops.drop_specks(mask, int(min_area)) if min_area > 0 else mask.copy()
    if fill_holes:
        filled = mask_ops.fill_holes(out)
        if max_hole_area is not None:
            holes = filled & ~out
            big = mask_ops.drop_specks(holes, int(max_hole_area) + 1)
            filled = filled & ~big
        out = filled
    return np.asarray(out, dtype=bool)


def grow_mask(mask: np.ndarray, purpose: str | int = "replacement") -> np.ndarray:
    """Grow a mask (HW bool) for inpainting.

    purpose: "replacement" (REPLACEMENT_GROW_PX = 15, the textbook recipe), "removal" (REMOVAL_GROW_PX = matte fringe
    + feather band = 10; see BOUNDARIES.md: a tight mask leaves the object's anti-aliased fringe outside and every
    compositor then re-creates a rim), or a number of pixels (>= 0).
    """
    px = growth_px(purpose)
    mask = np.asarray(mask, dtype=bool)
    return mask.copy() if px == 0 else np.asarray(mask_ops.grow(mask, px), dtype=bool)


def growth_px(purpose: str | int) -> int:
    """Pixels of growth for a preset name ("replacement", "removal") or a number (>= 0)."""
    if isinstance(purpose, str):
        key = purpose.strip().lower()
        if key in GROW_PRESETS:
            return GROW_PRESETS[key]
        try:
            purpose = int(key)
        except ValueError:
            raise UserError(
                f"unknown growth {purpose!r}: use a number of pixels or one of {', '.join(GROW_PRESETS)}"
            ) from None
    if isinstance(purpose, bool) or not isinstance(purpose, (int, np.integer)) or purpose < 0:
        raise UserError(f"growth must be a whole number of pixels >= 0, got {purpose!r}")
    return int(purpose)


# --------------------------------------------------------------------------------------------------------------
# Choosing an engine
# --------------------------------------------------------------------------------------------------------------


def sam2_on_disk() -> bool:
    """True when the default SAM 2.1 model (pipelines.sam2.DEFAULT_SAM2_MODEL: a hub id or a folder) can be loaded
    without a download. Never goes online."""
    from . import sam2

    name = str(sam2.DEFAULT_SAM2_MODEL)
    if Path(name).expanduser().is_dir():
        return (Path(name).expanduser() / "config.json").is_file()
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(name, "config.json"), str)
    except (ImportError, ValueError, OSError):
        return False


def make_segmenter(
    engine: str = "auto",
    *,
    model_type: str = DEFAULT_MODEL,
    checkpoint: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    device: str | None = None,
    download: bool = True,
    progress: ProgressCallback | None = None,
) -> "Segmenter | GrabCutSegmenter":
    """A loaded segmenter.

    engine "sam": SAM (the checkpoint from ``checkpoint``, the cache, or one download; CheckpointUnavailable if
    none can be had). "grabcut": the fallback, labelled "chosen by the user". "auto" never downloads: SAM when
    ``checkpoint`` is given; else SAM 2.1 (the default model) when it is on disk (sam2_on_disk); else SAM when its
    cached file exists; else the GrabCut fallback labelled with FALLBACK_REASON.
    "sam2": SAM 2.1 through transformers (pipelines.sam2.Sam2Segmenter); "sam-hq": HQ-SAM through transformers
    (pipelines.samhq.SamHQSegmenter, for thin structures); ``checkpoint`` is then a hub id or a folder saved with
    save_pretrained (defaults facebook/sam2.1-hiera-tiny, syscv-community/sam-hq-vit-base).
    """
    if engine == "grabcut":
        return GrabCutSegmenter(reason="chosen by the user")
    if engine == "sam2":
        from . import sam2

        model_id = sam2.DEFAULT_SAM2_MODEL if checkpoint is None else checkpoint
        return sam2.Sam2Segmenter(model_id, device=device, download=download).load(progress=progress)
    if engine == "sam-hq":
        from .samhq import DEFAULT_SAMHQ_MODEL, SamHQSegmenter

        model_id = DEFAULT_SAMHQ_MODEL if checkpoint is None else checkpoint
        return SamHQSegmenter(model_id, device=device, download=download).load(progress=progress)
    if engine == "auto":
        if checkpoint is not None:
            engine = "sam"  # a checkpoint that was named but is missing is an error, not a reason to fall back
        elif sam2_on_disk():
            from . import sam2

            return sam2.Sam2Segmenter(sam2.DEFAULT_SAM2_MODEL, device=device, download=False).load(progress=progress)
        elif checkpoint_path(model_type, cache_dir).is_file():
            engine = "sam"
        else:
            return GrabCutSegmenter(reason=FALLBACK_REASON)
    if engine != "sam":
        raise UserError(f"unknown engine {engine!r}: use sam2, sam, sam-hq, grabcut or auto")
    seg = Segmenter(model_type, checkpoint, cache_dir=cache_dir, device=device, download=download)
    return seg.load(progress=progress)
