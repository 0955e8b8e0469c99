"""Masks: turning user input into masks, morphology, grouping, crop boxes and signed distances.

Formats: a mask is an HW numpy bool array, True = repaint. Images are HWC uint8 RGB/RGBA or HW uint8.
Boxes are XYXY ints with exclusive ends ``(x0, y0, x1, y1)``. Sizes are ``(width, height)``.

Every function here is pure: it accepts anything ``np.asarray(..., bool)`` can turn into an HW array
(``to_mask`` accepts more, see there), never modifies its input and returns a new array.

Distances are Euclidean between pixel centres. The "round" structuring element of radius ``px`` is the
digital disc ``{(dx, dy): dx*dx + dy*dy <= px*px}``; it is applied through a distance transform, so large
radii cost no more than small ones.
"""

from __future__ import annotations

import math
import operator
import os
from collections.abc import Mapping

import cv2
import numpy as np
from PIL import Image
from scipy import ndimage

from .io import open_image
from .errors import UserError

__all__ = [
    "THRESHOLD_8BIT",
    "THRESHOLD_FLOAT",
    "to_mask",
    "grow",
    "shrink",
    "fill_holes",
    "drop_specks",
    "invert",
    "bbox",
    "groups",
    "context_box",
    "signed_distance",
    "band",
]

THRESHOLD_8BIT = 128
"""An 8-bit value >= 128 counts as "repaint" (for any integer dtype: the top half of its range)."""

THRESHOLD_FLOAT = 0.5
"""A float value >= 0.5 counts as "repaint"."""

EMPTY_MESSAGE = "the mask is empty: paint the region to repaint"

_FLOAT_TOLERANCE = 1e-3
"""How far outside [0, 1] a float mask may stray (rounding) before it is refused."""

_CV2_EXACT_LIMIT = 2048
"""cv2.distanceTransform returns float32 distances; above this radius float32 can no longer tell
sqrt(r*r) from sqrt(r*r + 1), so larger radii use scipy's float64 transform to stay exact."""

_PIL_AS_IS = {"1", "L", "LA", "RGB", "RGBA", "F", "I;16", "I;16L", "I;16B", "I;16N"}


# ----------------------------------------------------------------------------------------------------------
# Validation helpers


def _check_mask(mask, name: str = "mask") -> np.ndarray:
    """``mask`` as an HW bool array (possibly the input itself: callers must not write to it)."""
    m = np.asarray(mask, dtype=bool)
    if m.ndim != 2:
        raise UserError(f"the {name} must be an HW (2-D) array, got shape {m.shape}")
    if m.size == 0:
        raise UserError(f"the {name} has no pixels (shape {m.shape})")
    return m


def _check_int(value, name: str, minimum: int = 0) -> int:
    if isinstance(value, (bool, np.bool_)):
        raise UserError(f"{name} must be an integer >= {minimum}, got {value!r}")
    try:
        number = operator.index(value)
    except TypeError:
        raise UserError(f"{name} must be an integer >= {minimum}, got {value!r}") from None
    if number < minimum:
        raise UserError(f"{name} must be an integer >= {minimum}, got {number}")
    return number


def _check_size(size, name: str = "size") -> tuple[int, int]:
    try:
        width, height = size
    except (TypeError, ValueError):
        raise UserError(f"{name} must be (width, height), got {size!r}") from None
    return _check_int(width, f"the {name} width", 1), _check_int(height, f"the {name} height", 1)


def _type_name(value) -> str:
    cls = type(value)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


# ----------------------------------------------------------------------------------------------------------
# to_mask


def _luma(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601-2 luma of HWC RGB, the same integer formula (and rounding) as PIL's convert("L")."""
    if rgb.dtype == np.uint8:  # PIL itself: exact by definition, and light on memory for large images
        return np.asarray(Image.fromarray(np.ascontiguousarray(rgb), mode="RGB").convert("L"))
    if rgb.dtype.kind == "f":
        r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
        return (r * 19595 + g * 38470 + b * 7471) / 65536
    if rgb.dtype.itemsize <= 4:
        r, g, b = (rgb[..., i].astype(np.int64) for i in range(3))
        return (r * 19595 + g * 38470 + b * 7471 + 32768) >> 16
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    return np.floor((r * 19595 + g * 38470 + b * 7471) / 65536 + 0.5)


def _levels(array: np.ndarray, layer: bool) -> tuple[np.ndarray, int | float]:
    """Reduce an HW / HWC array to an HW level map and its full-scale value (1 for bool, 1.0 for float,
    the dtype max for integers). ``layer``: an editor layer, where alpha always decides."""
    a = array
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (2, 3, 4)) or a.size == 0:
        raise UserError(f"a mask must be HW or HWC with 1 to 4 channels, got shape {a.shape}")
    if a.dtype == bool:
        if a.ndim == 2:
            return a, 1
        a = a.astype(np.uint8) * np.uint8(255)
    kind = a.dtype.kind
    if kind in "ui":
        full: int | float = int(np.iinfo(a.dtype).max)
        if kind == "i" and a.min() < 0:
            raise UserError(f"a {a.dtype} mask must not have negative values")
        opaque = full
    elif kind == "f":
        full = 1.0
        if not np.isfinite(a).all():
            raise UserError("a float mask must not contain NaN or infinity")
        lo, hi = float(a.min()), float(a.max())
        if lo < -_FLOAT_TOLERANCE or hi > 1 + _FLOAT_TOLERANCE:
            raise UserError(f"a float mask must lie in [0, 1], got values from {lo:g} to {hi:g}")
        if lo < 0 or hi > 1:
            a = np.clip(a, 0.0, 1.0)
        opaque = 1 - _FLOAT_TOLERANCE
    else:
        raise UserError(f"cannot make a mask from an array of dtype {a.dtype}")
    if a.ndim == 2:
        return a, full
    if a.shape[2] in (2, 4):
        alpha = a[..., -1]
        if layer or alpha.min() < opaque:
            return alpha, full
        a = a[..., :-1]
    if a.shape[2] == 1:
        return a[..., 0], full
    return _luma(a), full


def _threshold(level: np.ndarray, full: int | float) -> np.ndarray:
    if level.dtype == bool:
        return level
    if isinstance(full, float):
        return level >= THRESHOLD_FLOAT
    return level >= (full + 1) // 2  # 128 for uint8, 32768 for uint16: the top half of the range


def _soft(level: np.ndarray, full: int | float) -> np.ndarray:
    return level.astype(np.float32) / np.float32(full)


def _pil_array(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode in _PIL_AS_IS:
        return np.asarray(image)
    if mode == "I":
        a = np.asarray(image)
        if a.size and (a.min() < 0 or a.max() > 65535):
            raise UserError(f"a mode I mask must hold 16-bit values (0 to 65535), got {a.min()} to {a.max()}")
        return a.astype(np.uint16)
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in image.info
        return np.asarray(image.convert("RGBA" if has_alpha else "L"))
    target = "RGBA" if any(band in ("A", "a") for band in image.getbands()) else "RGB"
    try:
        return np.asarray(image.convert(target))
    except ValueError:
        raise UserError(f"cannot make a mask from a PIL image in mode {mode}") from None


def _item_array(item) -> np.ndarray:
    """A PIL image, numpy array or image file path as an array (files: EXIF orientation applied)."""
    if isinstance(item, (str, os.PathLike)):
        item = open_image(item)
    if isinstance(item, Image.Image):
        return _pil_array(item)
    if isinstance(item, np.ndarray):
        return item
    raise UserError(f"cannot make a mask from a {_type_name(item)}")


def _editor_levels(value: Mapping) -> list[tuple[np.ndarray, int | float]]:
    layers = value["layers"]
    if layers is None:
        layers = []
    if not isinstance(layers, (list, tuple)):
        raise UserError(f"the editor value's layers must be a list, got a {_type_name(layers)}")
    parts = [_levels(_item_array(layer), layer=True) for layer in layers if layer is not None]
    if not parts:  # nothing painted: an empty mask the size of the picture
        for key in ("background", "composite"):
            if value.get(key) is not None:
                shape = _item_array(value[key]).shape[:2]
                return [(np.zeros(shape, dtype=bool), 1)]
        raise UserError("the editor value has no layers and no background")
    shapes = {level.shape for level, _ in parts}
    if len(shapes) > 1:
        sizes = ", ".join(f"{w}x{h}" for h, w in sorted(shapes))
        raise UserError(f"the editor layers have different sizes: {sizes}")
    return parts


def _resize_soft(soft: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize soft values in [0, 1]: area averaging along an axis that shrinks, bilinear along one that grows."""
    def method(new: int, old: int) -> int:
        return cv2.INTER_AREA if new <= old else cv2.INTER_LINEAR

    h, w = soft.shape
    if (width <= w) != (height <= h):  # one axis shrinks, the other grows: one axis at a time
        soft = cv2.resize(soft, (width, h), interpolation=method(width, w))
        return cv2.resize(soft, (width, height), interpolation=method(height, h))
    return cv2.resize(soft, (width, height), interpolation=method(width, w))


def to_mask(value, size=None, *, resize: bool = False, allow_empty: bool = False) -> np.ndarray:
    """Turn anything a user or the UI can hand us into a mask: HW bool, True = repaint.

    Accepted ``value``:

    - PIL images. Modes 1, L, LA, RGB, RGBA: the alpha channel decides when there is one and it is not
      fully opaque (alpha >= 128 -> True); otherwise luminance >= 128 (ITU-R 601-2 luma, exactly as PIL's
      ``convert("L")`` computes it). Mode P: its transparency if it has any (as RGBA), else converted to L.
      Mode I;16: 16-bit values, >= 32768 -> True. Mode I: must hold 16-bit values (0..65535, which is how
      16-bit files come in) and is read as I;16. Mode F: read as a float array (below). Other modes
      (CMYK, YCbCr, RGBa, ...) are converted to RGB or RGBA first.
    - numpy arrays: bool HW as is; integer HW or HWC (1 channel: that channel; 2 or 4 channels: the alpha
      rule above; 3 channels: luminance) with value >= the top half of the dtype's range -> True (128 for
      uint8, 32768 for uint16, i.e. "scaled by the dtype max, then >= 0.5"; negative values are refused);
      float HW/HWC in [0, 1] with >= 0.5 -> True (values more than 1e-3 outside [0, 1], NaN or inf are
      refused with ValueError).
    - a ``str`` or ``os.PathLike`` path to an image file, opened with PIL (EXIF orientation applied).
    - a Gradio ImageEditor value: a mapping with keys "background", "layers", "composite", each item a
      PIL image, numpy array or file path, possibly None. The mask is the union over ALL layers of
      alpha >= 128. In a layer, alpha always decides, even where it is fully opaque (the user painted
      everything); a layer without an alpha channel counts by luminance. The background and composite
      are not the mask; they only give the size when there are no layers.

    ``size``: ``(width, height)`` of the image the mask belongs to. A mask of another size raises
    ValueError naming both sizes, unless ``resize=True``: then the soft values (alpha, luminance or
    value scaled to [0, 1]) are resized (area averaging when shrinking, bilinear when enlarging) and
    thresholded at 0.5, so an enlarged mask has smooth, not blocky, edges.

    An empty result raises ValueError("the mask is empty: ...") unless ``allow_empty``. Unsupported types
    raise ValueError naming the type. The input object is never modified; the result is a new array.
    """
    if size is not None:
        size = _check_size(size)
    if isinstance(value, Mapping):
        if "layers" not in value:
            raise UserError("a dict must be a Gradio ImageEditor value with 'background', 'layers', 'composite'")
        parts = _editor_levels(value)
    else:
        parts = [_levels(_item_array(value), layer=False)]

    height, width = parts[0][0].shape
    if size is not None and size != (width, height):
        if not resize:
            raise UserError(
                f"the mask is {width}x{height} but the image is {size[0]}x{size[1]} (width x height); "
                "resize the mask or pass resize=True"
            )
        soft = np.maximum.reduce([_soft(level, full) for level, full in parts])
        mask = _resize_soft(soft, *size) >= THRESHOLD_FLOAT
    else:
        # reducing a list stacks it into a new array: the result never shares memory with the input
        mask = np.logical_or.reduce([_threshold(level, full) for level, full in parts])

    if not allow_empty and not mask.any():
        raise UserError(EMPTY_MESSAGE)
    return mask


# ----------------------------------------------------------------------------------------------------------
# Morphology


def _distance(nonzero: np.ndarray, exact_up_to: float = 0) -> np.ndarray:
    """Euclidean distance from each True pixel of ``nonzero`` to the nearest False pixel inside the array
    (0 on False pixels). The array border is not a False pixel. Needs at least one False pixel.
    Distances are exact when compared with radii up to ``exact_up_to``."""
    if exact_up_to > _CV2_EXACT_LIMIT:
        return ndimage.distance_transform_edt(nonzero)
    return cv2.distanceTransform(np.ascontiguousarray(nonzero, dtype=np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def _bbox_slices(m: np.ndarray, pad: int) -> tuple[slice, slice]:
    x0, y0, x1, y1 = bbox(m)
    h, w = m.shape
    return slice(max(y0 - pad, 0), min(y1 + pad, h)), slice(max(x0 - pad, 0), min(x1 + pad, w))


def grow(mask, px: int) -> np.ndarray:
    """Dilate an HW bool mask by ``px`` pixels with a round element (the digital disc of radius ``px``).

    ``px = 0`` returns a copy; negative ``px`` raises ValueError.
    """
    m = _check_mask(mask)
    px = _check_int(px, "px")
    if px == 0 or not m.any() or m.all():
        return m.copy()
    rows, cols = _bbox_slices(m, px)  # nothing farther than px from the bbox can be reached
    out = np.zeros(m.shape, dtype=bool)
    out[rows, cols] = _distance(~m[rows, cols], exact_up_to=px) <= px
    return out


def shrink(mask, px: int) -> np.ndarray:
    """Erode an HW bool mask by ``px`` pixels with a round element (the digital disc of radius ``px``).

    The image border does not erode: pixels beyond it count as inside the mask, so a mask touching the
    border keeps touching it. ``px = 0`` returns a copy; negative ``px`` raises ValueError.
    """
    m = _check_mask(mask)
    px = _check_int(px, "px")
    if px == 0 or not m.any() or m.all():
        return m.copy()
    rows, cols = _bbox_slices(m, 1)  # the 1 px ring outside the bbox holds the nearest outside pixels
    out = np.zeros(m.shape, dtype=bool)
    out[rows, cols] = _distance(m[rows, cols], exact_up_to=px) > px
    return out


def fill_holes(mask) -> np.ndarray:
    """Fill the holes of an HW bool mask: background regions that do not reach the image border
    (4-connected background, matching 8-connected foreground; scipy.ndimage.binary_fill_holes)."""
    m = _check_mask(mask)
    if not m.any():
        return m.copy()
    rows, cols = _bbox_slices(m, 0)  # holes lie inside the bbox; all outside it is one background
    out = np.zeros(m.shape, dtype=bool)
    out[rows, cols] = ndimage.binary_fill_holes(m[rows, cols])
    return out


def _components(m: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """8-connected components: (count including background label 0, int32 labels, cv2 stats)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(m.view(np.uint8), connectivity=8)
    return count, labels, stats


def drop_specks(mask, min_area: int) -> np.ndarray:
    """Remove the 8-connected components of an HW bool mask whose area is below ``min_area`` pixels."""
    m = _check_mask(mask)
    min_area = _check_int(min_area, "min_area")
    if min_area <= 1 or not m.any():
        return m.copy()
    _, labels, stats = _components(m)
    keep = stats[:, cv2.CC_STAT_AREA] >= min_area
    keep[0] = False
    return keep[labels]


def invert(mask) -> np.ndarray:
    """The complement of an HW bool mask (a new array)."""
    return ~_check_mask(mask)


def bbox(mask) -> tuple[int, int, int, int]:
    """The bounding box of an HW bool mask: XYXY ints, exclusive ends. An empty mask raises ValueError."""
    m = _check_mask(mask)
    rows = np.flatnonzero(m.any(axis=1))
    if rows.size == 0:
        raise UserError(EMPTY_MESSAGE)
    cols = np.flatnonzero(m.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def groups(mask, gap: int = 64) -> list[np.ndarray]:
    """Split an HW bool mask into groups of nearby 8-connected components.

    Two components belong to the same group when fewer than ``gap`` background pixels separate them, i.e.
    the Euclidean distance between their nearest pixel centres is at most ``gap``; groups are the
    transitive closure of that. ``gap`` 0 or 1 gives the plain connected components.

    Returns full-size HW bool masks: disjoint, their union is the mask, sorted by area descending (ties:
    the group whose bounding box starts higher, then further left). An empty mask gives [].
    Each group is a full-size array: drop specks first (drop_specks) when a mask may hold thousands.
    """
    m = _check_mask(mask)
    gap = _check_int(gap, "gap")
    if not m.any():
        return []
    # labelled on the mask's bounding box only: a small mask on a large photo costs what its box costs
    x0, y0, x1, y1 = bbox(m)
    out = []
    for part in _groups_in_box(m[y0:y1, x0:x1], gap):
        full = np.zeros(m.shape, dtype=bool)  # calloc: untouched pages cost no memory
        full[y0:y1, x0:x1] = part
        out.append(full)
    return out


def _groups_in_box(m: np.ndarray, gap: int) -> list[np.ndarray]:
    """groups() on a mask cropped to its bounding box; same order, crop-sized results."""
    count, labels, stats = _components(m)
    left, top = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_TOP]
    right, bottom = left + stats[:, cv2.CC_STAT_WIDTH], top + stats[:, cv2.CC_STAT_HEIGHT]
    parent = np.arange(count)

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    if gap >= 2 and count > 2:  # distinct components are at least 2 px apart
        h, w = m.shape
        for i in range(1, count - 1):
            x0, y0 = max(left[i] - gap, 0), max(top[i] - gap, 0)
            x1, y1 = min(right[i] + gap, w), min(bottom[i] + gap, h)
            later = slice(i + 1, count)  # pairs with earlier labels were checked from their side
            if not np.any((left[later] < x1) & (right[later] > x0) & (top[later] < y1) & (bottom[later] > y0)):
                continue
            crop = labels[y0:y1, x0:x1]  # holds every pixel within gap of component i
            dist = _distance(crop != i, exact_up_to=gap)  # distance to component i
            for j in np.unique(crop[(dist <= gap) & (crop != 0)]):
                if j != i:
                    parent[root(int(j))] = root(i)

    roots = np.array([root(i) for i in range(count)])[1:]
    ids = np.unique(roots)
    areas = np.bincount(roots, weights=stats[1:, cv2.CC_STAT_AREA], minlength=count)[ids]
    gx0, gy0 = np.full(count, m.shape[1]), np.full(count, m.shape[0])
    gx1, gy1 = np.zeros(count, dtype=int), np.zeros(count, dtype=int)
    np.minimum.at(gx0, roots, left[1:])
    np.minimum.at(gy0, roots, top[1:])
    np.maximum.at(gx1, roots, right[1:])
    np.maximum.at(gy1, roots, bottom[1:])
    order = sorted(range(len(ids)), key=lambda k: (-areas[k], gy0[ids[k]], gx0[ids[k]]))
    result = []
    for k in order:
        g = ids[k]
        lut = np.zeros(count, dtype=bool)
        lut[1:] = roots == g
        rows, cols = slice(gy0[g], gy1[g]), slice(gx0[g], gx1[g])
        out = np.zeros(m.shape, dtype=bool)
        out[rows, cols] = lut[labels[rows, cols]]
        result.append(out)
    return result


# ----------------------------------------------------------------------------------------------------------
# Crop boxes


def _box_of(mask_or_box, width: int, height: int) -> tuple[int, int, int, int]:
    a = np.asarray(mask_or_box)
    if a.ndim == 2:
        if a.shape != (height, width):
            raise UserError(
                f"the mask is {a.shape[1]}x{a.shape[0]} but the image is {width}x{height} (width x height)"
            )
        return bbox(a)
    if a.shape != (4,):
        raise UserError(f"expected an HW mask or an XYXY box, got shape {a.shape}")
    if a.dtype.kind not in "iu":
        raise UserError(f"box coordinates must be integers, got {a.tolist()}")
    x0, y0, x1, y1 = (int(v) for v in a)
    if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
        raise UserError(f"the box {(x0, y0, x1, y1)} is empty or not inside the {width}x{height} image")
    return x0, y0, x1, y1


def _place(lo: int, hi: int, length: int, limit: int) -> tuple[int, int]:
    """Centre ``length`` on [lo, hi) and shift it inside [0, limit); cut it to the whole range if longer."""
    if length >= limit:
        return 0, limit
    start = lo - (length - (hi - lo)) // 2
    start = min(max(start, 0), limit - length)
    return start, start + length


def context_box(
    mask_or_box,
    image_size,
    *,
    margin: int = 32,
    aspect: float = 1.0,
    multiple: int = 8,
    min_size: int = 0,
) -> tuple[int, int, int, int]:
    """The crop to hand a model: a box around the mask with context. Returns XYXY ints, exclusive ends.

    ``mask_or_box``: an HW bool mask of the image's size, or an XYXY box inside the image.
    ``image_size``: ``(width, height)``.

    Steps: (1) the mask's bbox plus ``margin`` px on each side; (2) each side grown to at least
    ``min_size``; (3) expanded, never shrunk, to the aspect ratio width / height = ``aspect``; (4) width
    and height rounded UP to a multiple of ``multiple``; (5) centred on the bbox and fitted in the image:
    a box crossing a border is shifted back inside, keeping its size. Only a dimension larger than the
    image is cut, to the full image dimension; then that dimension is the image's (possibly not a
    multiple of ``multiple``, and the aspect ratio no longer holds). The aspect ratio after step (4) is
    within one ``multiple`` of ``aspect``. The result always contains the bbox and lies inside the image.
    """
    width, height = _check_size(image_size, "image size")
    margin = _check_int(margin, "margin")
    multiple = _check_int(multiple, "multiple", 1)
    min_size = _check_int(min_size, "min_size")
    try:
        aspect = float(aspect)
    except (TypeError, ValueError):
        raise UserError(f"aspect must be a positive number, got {aspect!r}") from None
    if not (math.isfinite(aspect) and aspect > 0):
        raise UserError(f"aspect must be a positive number, got {aspect!r}")
    x0, y0, x1, y1 = _box_of(mask_or_box, width, height)

    w = max(x1 - x0 + 2 * margin, min_size)
    h = max(y1 - y0 + 2 * margin, min_size)
    w, h = max(w, math.ceil(h * aspect - 1e-9)), max(h, math.ceil(w / aspect - 1e-9))
    w, h = -(-w // multiple) * multiple, -(-h // multiple) * multiple

    bx0, bx1 = _place(x0, x1, w, width)
    by0, by1 = _place(y0, y1, h, height)
    return bx0, by0, bx1, by1


def neighbourhoods(mask, margin: int):
    """Work regions around the groups of mask parts closer than 2 * ``margin`` px to each other.

    Yields (rows, cols, own) per group: the slices of the group's bounding box plus ``margin`` px (inside the
    image), and HW bool ``own`` over that region: the pixels within ``margin`` px of this group, which no
    other group reaches. Far-apart parts never make one huge box; ``mask[rows, cols] & own`` is the group.
    """
    mask = _check_mask(mask)
    margin = _check_int(margin, "margin")
    h, w = mask.shape
    x0, y0, x1, y1 = bbox(mask)
    sub = mask[y0:y1, x0:x1].astype(np.uint8)
    near = cv2.dilate(cv2.copyMakeBorder(sub, margin, margin, margin, margin, cv2.BORDER_CONSTANT, value=0),
                      cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1,) * 2))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(near, connectivity=8)
    for k in range(1, n):
        bx, by, bw, bh = (int(v) for v in stats[k, :4])
        ry0, rx0 = max(y0 + by - margin, 0), max(x0 + bx - margin, 0)
        ry1, rx1 = min(y0 + by + bh - margin, h), min(x0 + bx + bw - margin, w)
        own = labels[ry0 - y0 + margin : ry1 - y0 + margin, rx0 - x0 + margin : rx1 - x0 + margin] == k
        yield slice(ry0, ry1), slice(rx0, rx1), own


# ----------------------------------------------------------------------------------------------------------
# Signed distance


def signed_distance(mask) -> np.ndarray:
    """Signed Euclidean distance to the mask edge: float32 HW, in px, positive inside, negative outside.

    Inside: the distance to the nearest outside pixel (the first pixel inside is +1); outside: minus the
    distance to the nearest inside pixel (the first pixel outside is -1). Never 0. The image border is
    not an edge. An all-True mask is ``H + W`` everywhere, an all-False mask ``-(H + W)``.
    """
    m = _check_mask(mask)
    h, w = m.shape
    if m.all():
        return np.full(m.shape, h + w, dtype=np.float32)
    if not m.any():
        return np.full(m.shape, -(h + w), dtype=np.float32)
    inside = _distance(m)
    outside = _distance(~m)
    return np.where(m, inside, -outside).astype(np.float32, copy=False)


def band(mask, inner: float, outer: float) -> np.ndarray:
    """The seam band of an HW bool mask: ``inner`` px inside and ``outer`` px outside the edge.

    Returns HW bool: pixels whose signed_distance ``sd`` lies in [-outer, inner] (sd is never 0), so
    ``band(m, 2, 3)`` is the 2 innermost rings of the mask and the 3 rings just outside it.
    """
    m = _check_mask(mask)
    limits = []
    for name, value in (("inner", inner), ("outer", outer)):
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise UserError(f"{name} must be a number >= 0, got {value!r}") from None
        if not value >= 0:
            raise UserError(f"{name} must be a number >= 0, got {value!r}")
        limits.append(value)
    inner, outer = limits
    h, w = m.shape
    if not m.any() or m.all() or outer >= h + w:
        sd = signed_distance(m)
    else:  # nothing farther than outer from the bbox is in the band; the crop keeps every distance exact
        rows, cols = _bbox_slices(m, math.ceil(outer) + 1)
        sd = np.full(m.shape, -np.inf, dtype=np.float32)
        sd[rows, cols] = signed_distance(m[rows, cols])
    # compare in float32 like the distances, so that limits such as sqrt(2) match exactly
    return (sd >= -np.float32(outer)) & (sd <= np.float32(inner))
