"""Compositing generated pixels into the original: the boundary engine.

Formats: images are HWC uint8 RGB, HWC uint8 RGBA or HW uint8 (greyscale); masks are HW bool with
True = repaint (anything pipelines.masks.to_mask accepts is taken); boxes are XYXY with exclusive ends.

The contract: for every method in CONTRACT_SAFE, each pixel with mask == False is byte-identical to the
original, alpha included, whatever the sizes and modes. The result is built by copying the original and
writing only masked pixels, so the guarantee holds by construction, not by tolerance.

Methods
- ``hard``: generated pixels inside the mask, original outside.
- ``inward``: alpha feather that lies entirely inside the mask: alpha ramps from 0 at the mask edge to 1
  at ``feather`` px inside. Contract-safe, but a colour mismatch stays visible as a soft band.
- ``seamless`` (default): colour correction from the ring of pixels just outside the mask (a per-channel
  gain and offset, generated -> original: tone, exposure and white balance, fitted on low-passed copies of
  that ring; see _ring_tone), a detail match (the
  amplitude of grain and sharpness, also fitted on that ring), then a gradient-domain (Poisson) blend with
  the original as the Dirichlet boundary condition, solved only over the mask's bounding box (see
  pipelines.poisson), then an inward cross-fade of ``feather`` px that hands the texture (grain) over from
  the original to the generated content. The colour is matched exactly at the seam by the solve, so the
  cross-fade mixes textures, not colours.
- ``feather``: the textbook symmetric feather (blur the mask with a Gaussian of sigma = feather / 2, then
  ``soft * generated + (1 - soft) * original``). NOT contract-safe: it changes original pixels up to about
  ``feather`` px outside the mask. Kept for the feather lab and for comparison.
"""

from __future__ import annotations

import cv2
import numpy as np

from . import masks
from .io import as_image
from .poisson import solve_laplace
from .errors import UserError

METHODS = ("seamless", "inward", "feather", "hard")
CONTRACT_SAFE = frozenset({"seamless", "inward", "hard"})
DEFAULT_FEATHER = {"seamless": 4, "inward": 8, "feather": 8, "hard": 0}
"""Feather width in px per method when the caller passes feather=None."""

GROWTH_HEADROOM = 2
"""px of the growth band kept free of the cross-fade, for the object's anti-aliased fringe."""


def default_feather(method: str, grow: int = 0) -> float:
    """The feather width used when the caller gives none.

    With a growth band (grow > 0) the inward transition of "seamless" and "inward" fills that band, less
    GROWTH_HEADROOM px for the anti-aliased fringe of whatever the mask was drawn around: the band between the
    object and the grown edge holds original background, which is what the cross-fade hands over from, and
    a wider transition would bring the object's fringe back.
    """
    if method in ("seamless", "inward") and grow > 0:
        return float(max(1, grow - GROWTH_HEADROOM))
    return float(DEFAULT_FEATHER[method])


COLOUR_RING = 8
"""Width in px of the ring outside the mask whose statistics drive the seamless colour correction."""

_GAIN_LIMITS = (0.67, 1.5)
_MIN_RING_PIXELS = 24


def _colour_channels(array: np.ndarray, channels: int) -> np.ndarray:
    """float32 HWC with `channels` colour channels (1 or 3) from HW / RGB / RGBA input."""
    if array.ndim == 2:
        array = array[..., None]
    colour = array[..., :3] if array.shape[2] >= 3 else array
    if channels == 1 and colour.shape[2] == 3:
        # ITU-R 601 luma, the same weights as PIL's convert("L")
        colour = colour.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        return colour[..., None]
    if channels == 1 and colour.shape[2] == 2:  # luma + alpha
        colour = colour[..., :1]
    if channels == 3 and colour.shape[2] == 1:
        colour = np.repeat(colour, 3, axis=2)
    return colour.astype(np.float32)


def _resize(array: np.ndarray, width: int, height: int) -> np.ndarray:
    """High-quality resize of a float32 HWC array: area averaging down, Lanczos up."""
    h, w = array.shape[:2]
    if (w, h) == (width, height):
        return array
    shrinking = width < w and height < h
    out = cv2.resize(array, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LANCZOS4)
    return out.reshape(height, width, -1)


def _check_box(box, width: int, height: int) -> tuple[int, int, int, int]:
    try:
        x0, y0, x1, y1 = (int(v) for v in box)
    except (TypeError, ValueError):
        raise UserError(f"box must be four integers (x0, y0, x1, y1), got {box!r}") from None
    if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
        raise UserError(f"box {(x0, y0, x1, y1)} does not lie inside the {width}x{height} image")
    return x0, y0, x1, y1


def _smoothstep(t: np.ndarray) -> np.ndarray:
    return t * t * (3.0 - 2.0 * t)


def _inward_alpha(depth: np.ndarray, feather: float) -> np.ndarray:
    """0 outside, rising smoothly from the mask edge to 1 at `feather` px inside (depth = distance inside)."""
    if feather <= 0:
        return (depth > 0).astype(np.float32)
    return _smoothstep(np.clip(depth / (feather + 1.0), 0.0, 1.0)).astype(np.float32)


TONE_SIGMA = 3.0
"""Gaussian sigma (px) of the low-pass on which the seamless tone curve (gain and offset) is fitted."""
TONE_SPREAD = 4.0
"""Levels: the tonal spread (std of the low-passed generated ring) at which the fitted slope and the
mean-ratio gain weigh the same; a flatter ring keeps the mean-ratio gain."""
_OFFSET_LIMIT = 64.0
"""Levels: the most the tone curve's offset may move a channel (a quarter of full scale)."""


def _ring_lowpass(orig: np.ndarray, gen: np.ndarray, valid: np.ndarray, ring: np.ndarray):
    """The low-pass (Gaussian, sigma TONE_SIGMA) of both images at the ring's pixels: two (n, C) float32 arrays.

    Normalised convolution over ``valid`` (outside the mask, generated content known): the masked content
    (the removed object in the original, the new content in the generated image) never leaks into the
    ring's values. Low-passed, grain and a soft generator's blur no longer differ between the two, so a
    least-squares slope measures tone, not texture. One channel at a time: a few region-sized 2D buffers."""
    w = valid.astype(np.float32)
    norm = cv2.GaussianBlur(w, (0, 0), TONE_SIGMA)[ring]
    np.maximum(norm, 1e-6, out=norm)
    n, channels = int(ring.sum()), orig.shape[2]
    lo_o = np.empty((n, channels), np.float32)
    lo_g = np.empty((n, channels), np.float32)
    buf = np.empty_like(w)
    for c in range(channels):
        for src, dst in ((orig, lo_o), (gen, lo_g)):
            np.multiply(src[..., c], w, out=buf)
            dst[:, c] = cv2.GaussianBlur(buf, (0, 0), TONE_SIGMA)[ring] / norm
    return lo_o, lo_g


def _ring_tone(lo_o: np.ndarray, lo_g: np.ndarray):
    """Per-channel (gain, offset) mapping generated -> original, gain * g + offset, fitted on the ring's
    low-passed pixels (n, C): None when the ring is too small.

    A least-squares line per channel, shrunk towards the mean-ratio gain (von Kries style) like a ridge
    regression: slope = (cov(g, o) + s^2 * g0) / (var(g) + s^2), s = TONE_SPREAD, g0 = the mean-ratio gain.
    A ring with tonal spread well above s gets its fitted slope, so an additive change (a VAE lifting the
    blacks) is corrected as an offset rather than read as a gain that dims everything inside; a flat ring
    (var(g) << s^2), where gain and offset cannot be told apart, keeps the mean-ratio gain with no offset.
    The gain is clipped to _GAIN_LIMITS, then the offset puts the ring's means on each other (within
    +-_OFFSET_LIMIT levels)."""
    if lo_o.shape[0] < _MIN_RING_PIXELS:
        return None
    mo = lo_o.mean(axis=0, dtype=np.float64)
    mg = lo_g.mean(axis=0, dtype=np.float64)
    var_g = lo_g.var(axis=0, dtype=np.float64)
    cov = ((lo_g - mg) * (lo_o - mo)).mean(axis=0, dtype=np.float64)
    g0 = np.clip(np.where(mg > 4.0, mo / np.maximum(mg, 1e-6), 1.0), *_GAIN_LIMITS)
    s2 = TONE_SPREAD**2
    gain = np.clip((cov + s2 * g0) / (var_g + s2), *_GAIN_LIMITS)
    offset = np.clip(mo - gain * mg, -_OFFSET_LIMIT, _OFFSET_LIMIT)
    # a ring whose fit is the mean-ratio gain keeps exactly it (no rounding noise in the offset)
    offset = np.where(np.abs(offset) < 1e-3, 0.0, offset)
    return gain.astype(np.float32), offset.astype(np.float32)


DETAIL_SIGMA = 1.5
"""Gaussian sigma (px) splitting detail (grain, sharpness) from tone for the detail match."""
_DETAIL_LIMITS = (0.5, 2.0)


def _rms(x: np.ndarray) -> np.ndarray:
    return np.sqrt((x * x).mean(axis=0))


def _blur_into(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """dst = Gaussian blur (sigma DETAIL_SIGMA) of src; both HWC float32 of the same shape."""
    s2, d2 = (src[..., 0], dst[..., 0]) if src.shape[2] == 1 else (src, dst)
    out = cv2.GaussianBlur(s2, (0, 0), DETAIL_SIGMA, dst=d2)
    if out is not d2:
        d2[...] = out
    return dst


def _seamless(orig, gen, mask, known_gen, open_edges, feather, colour=True, detail=True, info=None):
    """The seamless blend on a region: float32 HWC result (meaningful inside the mask only).

    orig, gen: HWC float32; ``gen`` is the caller's work copy and is overwritten: the result is built in
    it (with one more region-sized float32 buffer for the blur and the solve, and a few region-sized 2D
    buffers for the ring's low-pass, _ring_lowpass). info: dict for the
    Poisson solve's report (poisson.solve_laplace)."""
    work = None
    if colour or detail:
        outside = cv2.distanceTransform((~mask).view(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        ring_all = (~mask) & (outside <= COLOUR_RING) & known_gen
        # detail is read away from the edge, where the blur does not mix in the masked content
        detail_ring = ring_all & (outside >= 3)
        near = (outside <= COLOUR_RING).view(np.uint8)  # the mask grown by the ring (outside is 0 inside)
        n_labels, labels, stats, _ = cv2.connectedComponentsWithStats(near, connectivity=8)
        del outside, near
        if colour:
            lo_o, lo_g = _ring_lowpass(orig, gen, (~mask) & known_gen, ring_all)
            if n_labels > 2:  # the ring's pixels grouped by part: part `label` is lo_*[starts[label]:starts[label + 1]]
                ring_labels = labels[ring_all]
                order = np.argsort(ring_labels, kind="stable")
                lo_o, lo_g = lo_o[order], lo_g[order]
                starts = np.searchsorted(ring_labels[order], np.arange(n_labels + 1))
                del ring_labels, order
        parts = []
        for label in range(1, n_labels):
            # each part is worked on in its own bounding box
            if n_labels > 2:
                x, y, w, h = (int(v) for v in stats[label, :4])
                box = (slice(y, y + h), slice(x, x + w))
                part = labels[box] == label
            else:
                box, part = (slice(None), slice(None)), slice(None)
            tone = None
            if colour:
                on = slice(None) if n_labels <= 2 else slice(starts[label], starts[label + 1])
                tone = _ring_tone(lo_o[on], lo_g[on])
            gain, offset = tone if tone is not None else (np.ones(gen.shape[2], np.float32), None)
            ring = detail_ring[box] if n_labels <= 2 else detail_ring[box] & part
            parts.append((box, part, gain, offset, ring))
        del labels, ring_all, detail_ring
        if colour:
            del lo_o, lo_g
        # the blur of the original is needed on the detail rings only
        work = _blur_into(orig, np.empty_like(orig))
        high_o = [orig[box][ring] - work[box][ring] for box, _, _, _, ring in parts]
        low_g = _blur_into(gen, work)
        high_g = np.subtract(gen, low_g, out=gen)
        for (box, part, gain, offset, ring), high_o_ring in zip(parts, high_o):
            k = np.ones_like(gain)
            if detail and ring.sum() >= _MIN_RING_PIXELS:
                eo, eg = _rms(high_o_ring), _rms(gain * high_g[box][ring])
                k = np.clip(np.where(eg > 0.25, eo / np.maximum(eg, 1e-6), 1.0), *_DETAIL_LIMITS).astype(np.float32)
            # the tone curve gain * g + offset on the detail-matched image, over the ring too: the solve reads
            # the corrected image's gradient across the edge, so it sees one consistent image
            if isinstance(part, slice):
                np.multiply(high_g, k, out=high_g)
                high_g += low_g
                high_g *= gain
                if offset is not None:
                    high_g += offset
            else:
                sub = high_g[box]
                sub[part] = gain * (low_g[box][part] + k * sub[part]) + (0.0 if offset is None else offset)
        del high_o, parts
    corrected = gen
    # harmonic correction h: h = original - corrected on the pixels next to the mask, laplacian(h) = 0 inside
    h = np.subtract(orig, corrected, out=work) if work is not None else orig - corrected
    solve_laplace(mask, h, open_edges, out=h, info=info)
    fused = np.add(corrected, h, out=corrected)
    del h, work
    depth = cv2.distanceTransform(mask.view(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    alpha = _inward_alpha(depth, feather)[..., None]
    del depth
    # orig + alpha * (fused - orig), in place
    np.subtract(fused, orig, out=fused)
    np.multiply(fused, alpha, out=fused)
    return np.add(orig, fused, out=fused)


def composite(
    original,
    generated,
    mask,
    *,
    method: str = "seamless",
    feather: float | None = None,
    grow: int = 0,
    box: tuple[int, int, int, int] | None = None,
    colour: bool = True,
    detail: bool = True,
    notes: list | None = None,
) -> np.ndarray:
    """Composite ``generated`` into ``original`` inside ``mask`` and return the full-resolution result.

    original: HWC uint8 RGB / RGBA or HW uint8. It is never modified.
    generated: HWC uint8 (RGB, RGBA, or 1 channel) or HW uint8. Either the full image (same width and
        height as original) or, with ``box``, the content of that box at any size: it is resized to the
        box with a high-quality filter (area averaging down, Lanczos up) and used only there.
    mask: HW bool, True = repaint (or anything masks.to_mask accepts), the original's size.
    method: one of METHODS. All but "feather" keep every pixel with mask == False byte-identical.
    feather: width in px of the transition band (default: default_feather(method, grow), which fills the
        growth band for "seamless" and "inward"). For "seamless" and "inward" it lies inside the mask; for
        "feather" it straddles the edge (sigma = feather / 2).
    grow: grow the mask by this many px (round element) before compositing.
    box: XYXY position of ``generated`` in the original; the (grown) mask must lie inside it.
    colour: seamless only: match tone, exposure and white balance (a per-channel gain and offset fitted on
        the ring, _ring_tone) before the gradient-domain solve.
    detail: seamless only: match the amplitude of fine detail (grain, sharpness: the image minus its
        Gaussian blur, sigma DETAIL_SIGMA) to the ring's, so a soft or noisy generator does not show a
        texture step at the seam. The gain is measured on the ring, where the generated image and the
        original show the same content, so it calibrates the generator, not the new content.
    notes: optional list to which one-line, user-visible notes are appended (a gradient-domain solve that
        stopped at its iteration cap before converging; it is also logged as a WARNING).

    RGBA originals: colour channels are blended; inside the mask alpha becomes the generated alpha when
    ``generated`` has one, else 255 (repainted pixels are opaque). Greyscale originals take the luma of an
    RGB ``generated``.
    """
    original = as_image(original, "original", limit=False)
    generated = as_image(generated, "generated", limit=False)
    if method not in METHODS:
        raise UserError(f"unknown blend method {method!r}; choose one of {', '.join(METHODS)}")
    feather = default_feather(method, grow) if feather is None else feather
    if not np.isfinite(feather) or feather < 0:
        raise UserError(f"feather must be >= 0 px, got {feather}")
    if int(grow) != grow or grow < 0:
        raise UserError(f"grow must be a whole number of px >= 0, got {grow}")
    height, width = original.shape[:2]
    mask = masks.to_mask(mask, size=(width, height))
    if grow:
        mask = masks.grow(mask, int(grow))

    if box is None:
        gh, gw = generated.shape[:2]
        if (gw, gh) != (width, height):
            raise UserError(
                f"the generated image is {gw}x{gh} but the original is {width}x{height} (width x height); "
                "pass box= to paste a crop"
            )
        box = (0, 0, width, height)
    bx0, by0, bx1, by1 = _check_box(box, width, height)
    my0, my1 = np.flatnonzero(mask.any(axis=1))[[0, -1]]
    mx0, mx1 = np.flatnonzero(mask.any(axis=0))[[0, -1]]
    if mx0 < bx0 or my0 < by0 or mx1 >= bx1 or my1 >= by1:
        raise UserError(
            f"the mask reaches outside the generated box {(bx0, by0, bx1, by1)}: "
            f"its bounding box is {(int(mx0), int(my0), int(mx1) + 1, int(my1) + 1)}"
        )

    reach = {"feather": 1.5 * feather, "seamless": COLOUR_RING}.get(method, 0)
    margin = 2 + int(np.ceil(reach))
    channels = 1 if original.ndim == 2 else 3
    if generated.shape[:2] != (by1 - by0, bx1 - bx0):
        # a crop at another resolution: resized once (crops are model-sized); full-size input is sliced lazily
        generated = _resize(generated.astype(np.float32).reshape(generated.shape[:2] + (-1,)), bx1 - bx0, by1 - by0)
    gen_box = generated
    gen_alpha = None
    if generated.ndim == 3 and generated.shape[2] == 4 and original.ndim == 3 and original.shape[2] == 4:
        gen_alpha = generated[..., 3:4]

    result = original.copy()
    # each group of nearby mask regions is blended in its own box, so far-apart regions never make
    # one huge solve; every group reads the original and writes only its own mask pixels
    for rows, cols, own in masks.neighbourhoods(mask, margin):
        part = mask[rows, cols] & own
        del own
        info: dict = {}
        _blend_region(
            original, result, part, rows, cols, method, feather, (colour, detail), channels,
            gen_box, gen_alpha, (bx0, by0, bx1, by1), info,
        )
        if not info.get("converged", True):
            message = (
                f"the gradient-domain solve stopped at residual {info['residual']:.1e} after "
                f"{info['iterations']} iteration{'s' if info['iterations'] != 1 else ''} ({info['unknowns']} px): "
                "the blend may show a faint seam"
            )
            if notes is not None:
                notes.append(message)
    if method in CONTRACT_SAFE:  # fail closed: a changed outside pixel is a bug, never a result
        from .contract import verify_outside

        verify_outside(original, result, mask, what=f"the {method} composite")
    return result


def _colour_into(dst: np.ndarray, src: np.ndarray, channels: int) -> None:
    """dst (HWC float32, `channels` colour channels) = the colour channels of src, converted on assignment."""
    if src.ndim == 3 and src.shape[2] >= 3 and channels == 3:
        dst[...] = src[..., :3]
    elif src.ndim == 2 and channels == 1:
        dst[..., 0] = src
    else:
        dst[...] = _colour_channels(src, channels)


def _blend_region(original, result, mask_r, rows, cols, method, feather, matching, channels, gen_box, gen_alpha, box,
                  info=None):
    """Blend one region (rows, cols) of the image, writing into ``result`` only where the method may.

    matching: (colour, detail) for the seamless method. info: dict for the Poisson solve's report.
    Memory: two region-sized float32 HWC arrays (original and generated), a third inside the seamless
    blend, and the solver's single-channel buffers."""
    height, width = original.shape[:2]
    bx0, by0, bx1, by1 = box
    y0, y1, x0, x1 = rows.start, rows.stop, cols.start, cols.stop
    orig_r = _colour_channels(original[y0:y1, x0:x1], channels)
    # generated content over the region; where the box does not cover the region, the original stands in
    known_gen = np.zeros((y1 - y0, x1 - x0), dtype=bool)
    ix0, iy0, ix1, iy1 = max(x0, bx0), max(y0, by0), min(x1, bx1), min(y1, by1)
    covers = ix0 == x0 and iy0 == y0 and ix1 == x1 and iy1 == y1
    gen_r = np.empty_like(orig_r) if covers else orig_r.copy()
    if ix0 < ix1 and iy0 < iy1:
        piece = gen_box[iy0 - by0 : iy1 - by0, ix0 - bx0 : ix1 - bx0]
        _colour_into(gen_r[iy0 - y0 : iy1 - y0, ix0 - x0 : ix1 - x0], piece, channels)
        known_gen[iy0 - y0 : iy1 - y0, ix0 - x0 : ix1 - x0] = True

    if method == "hard":
        blended = gen_r
        write = mask_r
    elif method == "inward":
        depth = cv2.distanceTransform(mask_r.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        alpha = _inward_alpha(depth, feather)[..., None]
        del depth
        # orig + alpha * (gen - orig), in place
        blended = np.subtract(gen_r, orig_r, out=gen_r)
        np.multiply(blended, alpha, out=blended)
        np.add(orig_r, blended, out=blended)
        write = mask_r
    elif method == "seamless":
        open_edges = (y0 == 0, y1 == height, x0 == 0, x1 == width)
        blended = _seamless(orig_r, gen_r, mask_r, known_gen, open_edges, feather, *matching, info=info)
        write = mask_r
    else:  # feather: the textbook symmetric blur, changes pixels outside the mask
        soft = mask_r.astype(np.float32)
        if feather > 0:
            soft = cv2.GaussianBlur(soft, (0, 0), sigmaX=feather / 2.0, borderType=cv2.BORDER_REPLICATE)
        soft = np.where(known_gen, soft, 0.0).astype(np.float32)
        blended = orig_r + soft[..., None] * (gen_r - orig_r)
        write = soft > 0
    del orig_r

    region = result[y0:y1, x0:x1]
    np.rint(blended, out=blended)
    np.clip(blended, 0, 255, out=blended)
    values = blended.astype(np.uint8)
    del blended, gen_r
    if original.ndim == 2:
        np.copyto(region, values[..., 0], where=write)
    else:
        np.copyto(region[..., :3], values, where=write[..., None])
        if original.shape[2] == 4:
            if gen_alpha is not None:
                alpha_r = original[y0:y1, x0:x1, 3:4].astype(np.float32)
                if ix0 < ix1 and iy0 < iy1:
                    alpha_r[iy0 - y0 : iy1 - y0, ix0 - x0 : ix1 - x0] = gen_alpha[
                        iy0 - by0 : iy1 - by0, ix0 - bx0 : ix1 - bx0
                    ]
                region[..., 3][mask_r] = np.clip(np.rint(alpha_r[..., 0]), 0, 255).astype(np.uint8)[mask_r]
            else:
                region[..., 3][mask_r] = 255
