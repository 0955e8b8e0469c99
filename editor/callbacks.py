"""The app's callbacks: plain values in, plain values out, so they are unit-testable without a server.

Formats: images HWC uint8 RGB; masks HW bool, True = repaint; editor values are Gradio ImageEditor dicts
{"background": image, "layers": [image, ...], "composite": image} (the mask is the union of the layers' alpha,
pipelines.masks.to_mask); points are (x, y) pixel coordinates; boxes XYXY with exclusive ends.

The photo is the uploaded file, decoded once on the server by pipelines.io.read (EXIF orientation, alpha, 16-bit
and palette kept, size limits checked before any decode) and kept in the Session. The editor only shows a display
copy (at most DISPLAY_MAX px a side, a JPEG file) and carries the mask: nothing the browser renders is ever used as
pixels of the original. A mask painted on a reduced display copy is scaled up to the photo's size (smoothly, then
thresholded), and the result says so.

User mistakes (an empty mask, no photo, bad numbers, a model that cannot load) become gr.Error with a one-line
message (``user_errors``); anything else is logged with its traceback and shown as a one-line internal error. The
app keeps serving. No model code lives here: everything is a call into pipelines/.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import secrets
from pathlib import Path

import cv2
import gradio as gr
import numpy as np

from pipelines import blend, masks, seams
from pipelines.errors import UserError
from pipelines.errors import one_line as _one_line

from .state import CLASSICAL_ENGINES, Resources, Session

log = logging.getLogger(__name__)

MASK_RGBA = (255, 59, 48, 160)
"""Colour of the mask layer the app writes into the editor: translucent red, alpha >= 128 (counts as mask)."""

REMOVE_PROMPT = "empty background, clean seamless continuation of the surroundings, nothing there"
REMOVE_NEGATIVE = "object, person, animal, text, watermark, frame, blurry"
DEFAULT_WIDTHS = "0, 4, 12, 40"
HEATMAP_GAIN = 4.0
MAX_LAB_PANELS = 24
DISPLAY_MAX = 2048
"""Longest side, in px, of the images sent to the browser (the editor's photo, previews); downloads are full size."""


# ---------------------------------------------------------------------------------------------------------
# Errors


def one_line(exc: BaseException) -> str:
    """The exception's message on one line (whitespace collapsed, at most 300 characters)."""
    return _one_line(exc)


def user_errors(fn):
    """Turn the pipelines' UserError (bad input, empty mask, ModelLoadError, CheckpointUnavailable) and Cancelled
    into gr.Error with one line; anything else is an internal error: logged with its traceback, shown as one line."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from pipelines.inpaint import Cancelled

        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except (UserError, FileNotFoundError) as exc:
            raise gr.Error(one_line(exc), print_exception=False) from None
        except Cancelled as exc:
            raise gr.Error(one_line(exc), print_exception=False) from None
        except Exception as exc:
            log.exception("internal error in %s", getattr(fn, "__name__", fn))
            raise gr.Error(f"internal error ({type(exc).__name__}: {_one_line(exc, 160)}); it has been logged",
                           print_exception=False) from None

    return wrapper


# ---------------------------------------------------------------------------------------------------------
# The photo: decoded on the server, shown as a display copy


def to_rgb(image) -> np.ndarray:
    """HWC uint8 RGB from a file path (decoded by pipelines.io.read, alpha dropped) or an array (greyscale repeated,
    alpha dropped). For the feather lab and previews; the contract paths use the Session's picture."""
    if image is None:
        raise UserError("no image: upload a photo first")
    if isinstance(image, (str, os.PathLike)):
        from pipelines import io

        image = io.read(image).working(keep_alpha=False)
    a = np.asarray(image)
    if a.dtype != np.uint8:
        raise UserError(f"the image must be 8-bit, got {a.dtype}")
    if a.ndim == 2:
        return np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim == 3 and a.shape[2] in (3, 4):
        return np.ascontiguousarray(a[:, :, :3])
    raise UserError(f"the image must be RGB, RGBA or greyscale, got shape {a.shape}")


def display_size(width: int, height: int, limit: int | None = None) -> tuple[int, int]:
    """(width, height) scaled so the longest side is at most ``limit`` (default DISPLAY_MAX; unchanged when it
    already is)."""
    scale = min(1.0, (limit or DISPLAY_MAX) / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def shrink_for_display(image: np.ndarray, limit: int | None = None) -> np.ndarray:
    """An HWC uint8 image reduced (area averaging) so its longest side is at most ``limit`` (default DISPLAY_MAX)."""
    h, w = image.shape[:2]
    size = display_size(w, h, limit)
    if size == (w, h):
        return image
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def display_copy(working: np.ndarray) -> np.ndarray:
    """What the browser shows of a working array: HWC uint8 RGB at display size; transparency over a grey
    checkerboard (the pixels themselves are never changed: this is a picture of them)."""
    a = working
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    if a.shape[2] == 4:
        h, w = a.shape[:2]
        yy, xx = np.ogrid[:h, :w]
        checker = np.where(((yy // 16) + (xx // 16)) % 2 == 0, 204, 153).astype(np.float32)[..., None]
        alpha = a[..., 3:4].astype(np.float32) / 255.0
        a = np.round(a[..., :3] * alpha + checker * (1.0 - alpha)).astype(np.uint8)
    return shrink_for_display(np.ascontiguousarray(a))


def file_sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def open_photo(path, session: Session | None, resources: Resources, key: str | None = None) -> Session:
    """Decode the uploaded file ``path`` into ``session`` (pipelines.io.read: one-line UserError for anything it
    cannot read) and write the display copy the editor shows. ``key``: the browser session, for the file folder."""
    if path is None:
        raise UserError("no photo: upload an image file")
    from pipelines import io

    picture = io.read(path)
    session = Session() if session is None else session
    session.picture = picture
    session.key = file_sha256(path)
    session.image = picture.working(keep_alpha=False)
    if session.image.ndim == 2:
        session.image = np.repeat(session.image[:, :, None], 3, axis=2)
    session.display = display_copy(picture.working())
    target = resources.session_dir(key) / f"photo-{session.key[:16]}.jpg"
    cv2.imwrite(str(target), cv2.cvtColor(session.display, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
    session.display_path = str(target)
    session.mask = None
    session.reset_prompts()
    session.result_input = session.result = session.result_mask = None
    return session


def require_photo(session: Session | None) -> Session:
    if session is None or session.picture is None:
        raise UserError("no photo: upload one first (the Photo box above the editor)")
    return session


def photo_note(session: Session) -> str:
    """One line about the photo: size, format and what reading it did."""
    pic = session.picture
    w, h = pic.size
    depth = "16-bit" if pic.pixels.dtype == np.uint16 else "8-bit"
    kind = "L" if pic.pixels.ndim == 2 else {2: "LA", 3: "RGB", 4: "RGBA"}[pic.pixels.shape[2]]
    text = f"{pic.name}: {w}x{h}, {kind} {depth}"
    if session.scale < 1:
        dw, dh = session.display.shape[1], session.display.shape[0]
        text += f"; shown at {dw}x{dh} (a mask painted there is scaled up to {w}x{h})"
    if pic.notes:
        text += "; " + "; ".join(pic.notes)
    return text


# ---------------------------------------------------------------------------------------------------------
# The mask: the editor's layers at display size, the photo's size on the server


def mask_layer(mask: np.ndarray) -> np.ndarray:
    """An RGBA editor layer showing ``mask`` (HW bool) in translucent red; alpha 0 elsewhere."""
    layer = np.zeros(mask.shape + (4,), np.uint8)
    layer[mask] = MASK_RGBA
    return layer


def to_display_mask(mask: np.ndarray, session: Session) -> np.ndarray:
    """A full-size mask at the display copy's size (area averaging, then >= 0.5)."""
    dh, dw = session.display.shape[:2]
    if mask.shape == (dh, dw):
        return mask
    return masks.to_mask(mask.astype(np.float32), size=(dw, dh), resize=True, allow_empty=True)


def editor_value(session: Session, mask: np.ndarray | None = None) -> dict:
    """An ImageEditor value: the display copy's file as background and ``mask`` (full size, if any) as the layer.
    The session remembers ``mask`` so that an unedited layer maps back to it exactly."""
    require_photo(session)
    session.mask = None if mask is None or not mask.any() else np.asarray(mask, bool)
    layers = [] if session.mask is None else [mask_layer(to_display_mask(session.mask, session))]
    return {"background": session.display_path, "layers": layers, "composite": None}


def _as_layer(layer):
    """A layer as the mask reads it: an array (a file path, as the editor hands layers over, is read by our
    reader). The editor makes every layer RGBA; one that is opaque everywhere and grey (R = G = B, give or take
    JPEG noise) is a black/white image without alpha (a JPEG mask), not paint, so its luminance decides, as
    pipelines.masks.to_mask reads such an image. Paint keeps the alpha rule."""
    if isinstance(layer, (str, os.PathLike)):
        from pipelines import io

        layer = io.read(layer).pixels
    a = np.asarray(layer)
    if a.ndim == 3 and a.shape[2] == 4 and a.size and a[..., 3].min() == 255:
        rgb = a[..., :3]
        if int((rgb.max(axis=2).astype(np.int16) - rgb.min(axis=2)).max()) <= 12:
            return np.ascontiguousarray(rgb)
    return layer


def editor_mask(value, session: Session, *, allow_empty: bool = False) -> np.ndarray:
    """The mask in an ImageEditor value at the photo's full size: the union of the layers' alpha >= 128. When the
    layers are exactly the last mask the server put there, that mask itself; else the painted layers, scaled up
    (smoothly, then thresholded) when the editor shows a reduced copy."""
    require_photo(session)
    h, w = session.image.shape[:2]
    layers = [_as_layer(layer) for layer in ((value or {}).get("layers") or []) if layer is not None]
    if not layers:
        if allow_empty:
            return np.zeros((h, w), bool)
        raise UserError(masks.EMPTY_MESSAGE)
    shown = masks.to_mask({"background": None, "layers": layers, "composite": None}, allow_empty=True)
    if session.mask is not None and shown.shape == session.display.shape[:2]:
        if np.array_equal(shown, to_display_mask(session.mask, session)):
            return session.mask.copy()
    # what the canvas shows as mask (alpha >= 128 on the display copy), scaled up as a 0/1 picture: a translucent
    # brush's soft alpha is not a weight, so its edges stay where they are shown
    mask = shown if shown.shape == (h, w) else masks.to_mask(
        shown.astype(np.float32), size=(w, h), resize=True, allow_empty=True)
    if not allow_empty and not mask.any():
        raise UserError(masks.EMPTY_MESSAGE)
    return mask


def mask_from_upload(upload, size: tuple[int, int]) -> np.ndarray:
    """A mask from an uploaded black/white or alpha image file (decoded by our reader: palette, 16-bit and limits
    handled), scaled to ``size`` = (width, height) when it differs."""
    if upload is None:
        raise UserError("no mask file: upload a black/white or transparent PNG")
    return masks.to_mask(upload, size=size, resize=True)


# ---------------------------------------------------------------------------------------------------------
# Overlays


def _tint(image: np.ndarray, where: np.ndarray, colour, alpha: float) -> None:
    if where.any():
        image[where] = np.round(image[where] * (1 - alpha) + np.array(colour, np.float32) * alpha).astype(np.uint8)


def _outline(image: np.ndarray, mask: np.ndarray, colour, thickness: int = 1) -> None:
    if mask.any():
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(image, contours, -1, tuple(int(c) for c in colour), thickness)


def blend_band_preview(image: np.ndarray, mask: np.ndarray, grow: int, feather: float | None,
                       method: str) -> np.ndarray:
    """The blend band drawn over the photo, before running: red = the mask, yellow = the growth band (grown
    mask minus mask), blue = the feather band (inside the grown edge for the contract-safe methods, straddling
    it for the textbook feather). Returns HWC uint8 RGB."""
    if method not in blend.METHODS:
        raise UserError(f"unknown blend method {method!r}; choose one of {', '.join(blend.METHODS)}")
    grow = int(grow)
    if grow < 0:
        raise UserError(f"growth must be >= 0 px, got {grow}")
    width = blend.default_feather(method, grow) if feather is None else float(feather)
    grown = masks.grow(mask, grow) if grow else mask.copy()
    if method == "feather":
        feather_band = masks.band(grown, width, width) if width > 0 else np.zeros_like(grown)
    else:
        feather_band = masks.band(grown, width, 0) & grown if width > 0 else np.zeros_like(grown)
    out = (image.astype(np.float32) * 0.75).astype(np.uint8)  # dim, so the bands read
    _tint(out, mask, (255, 40, 40), 0.55)
    _tint(out, grown & ~mask, (255, 220, 0), 0.6)
    _tint(out, feather_band, (40, 140, 255), 0.6)
    _outline(out, grown, (255, 255, 255))
    return out


def difference_heatmap(before: np.ndarray, after: np.ndarray, gain: float = HEATMAP_GAIN,
                       limit: int | None = None) -> np.ndarray:
    """|after - before| (max over channels, in 8-bit levels for 16-bit images) x ``gain`` as an inferno heatmap;
    pixels that did not change are exactly black, so an unchanged unmasked area shows as zero. With ``limit`` the
    map is reduced to that longest side, and a display pixel is black only where no pixel under it changed.
    HWC uint8 RGB."""
    if before.shape != after.shape:
        raise UserError(f"the images differ in shape: {before.shape} and {after.shape}")
    diff = np.abs(after.astype(np.int32) - before.astype(np.int32))
    if before.dtype == np.uint16:
        diff = (diff + 128) // 257
    diff = diff.max(axis=2) if diff.ndim == 3 else diff
    level = np.clip(diff.astype(np.float32) * gain, 0, 255).astype(np.uint8)
    changed = (diff > 0).astype(np.uint8) * 255
    if limit is not None:
        level = shrink_for_display(level, limit)
        changed = shrink_for_display(changed, limit)
        level = np.where(changed > 0, np.maximum(level, 1), 0).astype(np.uint8)
    heat = cv2.cvtColor(cv2.applyColorMap(level, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)
    heat[changed == 0] = 0
    return heat


def change_map(before: np.ndarray, after: np.ndarray, repainted: np.ndarray) -> np.ndarray:
    """difference_heatmap at display size, computed on the repainted mask's bounding box only: the result's
    outside was verified unchanged already (pipelines.contract), so everything else is exactly black."""
    h, w = before.shape[:2]
    dw, dh = display_size(w, h)
    x0, y0, x1, y1 = masks.bbox(repainted)
    # the box in display pixels, widened to whole display pixels so no change is cut off
    sx, sy = dw / w, dh / h
    X0, Y0 = int(np.floor(x0 * sx)), int(np.floor(y0 * sy))
    X1, Y1 = min(dw, int(np.ceil(x1 * sx))), min(dh, int(np.ceil(y1 * sy)))
    fx0, fy0 = int(np.floor(X0 / sx)), int(np.floor(Y0 / sy))
    fx1, fy1 = min(w, int(np.ceil(X1 / sx))), min(h, int(np.ceil(Y1 / sy)))
    part = difference_heatmap(before[fy0:fy1, fx0:fx1], after[fy0:fy1, fx0:fx1])
    out = np.zeros((dh, dw, 3), np.uint8)
    if (X1 - X0, Y1 - Y0) != (fx1 - fx0, fy1 - fy0):
        changed = cv2.resize((part.any(axis=2)).astype(np.uint8) * 255, (X1 - X0, Y1 - Y0),
                             interpolation=cv2.INTER_AREA) > 0
        part = cv2.resize(part, (X1 - X0, Y1 - Y0), interpolation=cv2.INTER_AREA)
        part[~changed] = 0
        part[changed & ~part.any(axis=2)] = 1
    out[Y0:Y1, X0:X1] = part
    return out


def segmentation_overlay(session: Session, mask: np.ndarray | None = None) -> np.ndarray:
    """The display copy with the current mask (blue, ``mask`` at full size), the clicks (green +, red -) and the
    box (yellow) drawn over it."""
    out = session.display.copy()
    s = session.scale
    if mask is not None:
        shown = to_display_mask(mask, session)
        _tint(out, shown, (30, 144, 255), 0.45)
        _outline(out, shown, (255, 255, 255), 2)
    r = max(4, round(max(out.shape[:2]) / 120))
    for x, y, label in session.points:
        colour = (0, 220, 0) if label == 1 else (230, 0, 0)
        centre = (int(round(x * s)), int(round(y * s)))
        cv2.circle(out, centre, r + 2, (255, 255, 255), -1, cv2.LINE_AA)
        cv2.circle(out, centre, r, colour, -1, cv2.LINE_AA)
    if session.box is not None:
        x0, y0, x1, y1 = (int(round(v * s)) for v in session.box)
        cv2.rectangle(out, (x0, y0), (max(x0, x1 - 1), max(y0, y1 - 1)), (255, 215, 0), 2)
    if session.corner is not None:
        x, y = (int(round(v * s)) for v in session.corner)
        cv2.drawMarker(out, (x, y), (255, 215, 0), cv2.MARKER_CROSS, 3 * r, 2)
    return out


# ---------------------------------------------------------------------------------------------------------
# Parameters


def parse_seed(seed) -> int:
    """A seed from the UI: -1 (or empty) draws a random one; else a whole number >= 0."""
    if seed is None or seed == "" or (isinstance(seed, (int, float)) and seed < 0):
        return secrets.randbelow(2**31)
    if isinstance(seed, float):
        if not seed.is_integer():
            raise UserError(f"the seed must be a whole number, got {seed}")
        seed = int(seed)
    try:
        return int(seed)
    except (TypeError, ValueError):
        raise UserError(f"the seed must be a whole number, got {seed!r}") from None


def random_seed() -> int:
    return secrets.randbelow(2**31)


def parse_widths(text: str) -> list[float]:
    """Feather widths from "0, 4, 12, 40" (commas or spaces), each a number >= 0."""
    parts = [p for p in str(text or "").replace(",", " ").split() if p]
    if not parts:
        raise UserError("give at least one feather width, e.g. 0, 4, 12, 40")
    widths = []
    for p in parts:
        try:
            w = float(p)
        except ValueError:
            raise UserError(f"feather widths must be numbers, got {p!r}") from None
        if not np.isfinite(w) or w < 0 or w > 500:
            raise UserError(f"feather widths must be in [0, 500] px, got {p}")
        widths.append(w)
    return widths


def quick_mode(mode: str, prompt: str, negative: str, strength: float):
    """Replace keeps the user's prompt; Remove switches to a background prompt, pre-fill and strength <= 0.9
    (pre-fill only matters below strength 1). Returns (prompt, negative, strength) for the UI to show."""
    if mode == "Remove":
        return REMOVE_PROMPT, REMOVE_NEGATIVE, min(float(strength), 0.9)
    if prompt == REMOVE_PROMPT:
        prompt, negative = "", ""
    return prompt, negative, strength


def _caption(k: int, seed, report: dict) -> str:
    verdict = "passes" if report.get("passed") else "fails " + ", ".join(report.get("failed") or [])
    seed_text = "" if seed is None else f"seed {seed} · "
    return (f"#{k + 1} · {seed_text}seam excess {report['seam_excess']:.3f} · ring ΔE {report['ring_delta_e']:.2f}"
            f" · outside changed {report['outside_changed']:.2%} · {verdict}")


def save_png(array: np.ndarray, folder: Path, name: str, icc_profile: bytes | None = None) -> str:
    """Write ``array`` (any format pipelines.io.save_png takes: 16-bit and alpha too) as a lossless PNG in the
    session's ``folder`` under a fresh name; return its path (for gr.File). The one PNG encode of a result."""
    from pipelines import io

    stem, suffix = os.path.splitext(name)
    path = Path(folder) / f"{stem}-{secrets.token_hex(4)}{suffix or '.png'}"
    return str(io.save_png(path, array, icc_profile=icc_profile))


# ---------------------------------------------------------------------------------------------------------
# Inpaint tab


def load_photo(path, session: Session | None, resources: Resources, key: str | None = None, progress=None):
    """api_name "load_photo": an uploaded photo file. Decodes it (one-line UserError for anything unreadable or too
    large), shows the display copy in the editor, resets the clicks and starts the segmenter's embedding so the
    first click is fast. Returns (editor value, segmentation view, session, status)."""
    session = open_photo(path, session, resources, key)
    status = "Click on the object (positive), on what is not part of it (negative), or two corners of a box."
    seg = resources.segmenter()
    if progress is not None:
        progress(0.1, desc=f"computing the image embedding ({seg.engine})")
    seg.prepare(session.image)
    status = f"{photo_note(session)}  \nSegmenter: {seg.engine}. " + status
    return editor_value(session, None), segmentation_overlay(session), session, status


@user_errors
def preview(editor, grow, feather, method, session: Session | None):
    """api_name "preview": the blend band over the photo (see blend_band_preview), at display size; growth and
    feather are scaled with the display copy."""
    session = require_photo(session)
    mask = editor_mask(editor, session)
    feather = None if feather is None or float(feather) < 0 else float(feather)
    s = session.scale
    shown = to_display_mask(mask, session)
    grow_px = int(round(int(grow) * s))
    width = None if feather is None else feather * s
    return blend_band_preview(session.display, shown, grow_px, width, method)


def preview_quiet(editor, grow, feather, method, session: Session | None):
    """The preview for slider moves: None instead of an error while there is no photo or mask yet."""
    try:
        return preview.__wrapped__(editor, grow, feather, method, session)
    except UserError:
        return None


def run_inpaint(editor, prompt, negative, mode, engine, model, strength, feather, grow, steps, guidance, seed,
                variants, method, session: Session | None = None, *, progress=None, device: str = "auto",
                default_model: str | None = None, cancel=None, folder: Path | None = None, config=None):
    """Inpaint the session's photo (the uploaded file as decoded: alpha and 16-bit kept) where the editor's mask is
    painted. Returns a dict: before_after (display previews), gallery [(preview, caption)], heatmap (display
    size), result_png (the one lossless PNG at the photo's own format), mask_png, info (markdown), session.
    ``feather`` < 0 means the method's default. ``progress(step, total)`` is called every denoising step.
    ``config`` (AppConfig) decides which models a visitor may use and whether they may be downloaded."""
    from pipelines.inpaint import inpaint

    session = require_photo(session)
    mask = editor_mask(editor, session)
    if engine not in ("diffusers",) + CLASSICAL_ENGINES:
        raise UserError(f"unknown engine {engine!r}: choose diffusers, telea or ns")
    feather = None if feather is None or float(feather) < 0 else float(feather)
    try:
        grow = int(grow)
    except (TypeError, ValueError):
        raise UserError(f"growth must be a whole number of px, got {grow!r}") from None
    kwargs = dict(engine=engine, grow=grow, feather=feather, method=method, progress=progress, cancel=cancel)
    if engine == "diffusers":
        name = (model or "").strip() or default_model
        if config is not None:
            name = config.check_model(name)
            kwargs["allow_download"] = config.allow_downloads
        kwargs.update(
            model=name, strength=float(strength), steps=int(steps),
            guidance=float(guidance), seed=parse_seed(seed), variants=int(variants), prefill=mode == "Remove",
            device=device,
        )
    if mode == "Remove" and engine == "diffusers" and not (prompt or "").strip():
        prompt, negative = REMOVE_PROMPT, REMOVE_NEGATIVE
    native = session.picture.pixels
    result = inpaint(native, mask, prompt or "", negative or "", **kwargs)

    from pipelines import io

    best = result.images[0]
    best_work = io.to_working(best, keep_alpha=True)
    previews = [display_copy(io.to_working(img)) for img in result.images]
    gallery = [(img, _caption(k, s, r)) for k, (img, s, r) in enumerate(zip(previews, result.seeds, result.reports))]
    heat = change_map(native, best, result.mask)
    report = result.reports[0]
    folder = folder or Path(session.display_path).parent
    growth = result.growth()
    lines = [
        f"**{result.engine}**" + (f" · {result.model}" if result.model else "")
        + f" · {result.timings.get('total', 0):.1f} s · " + (
            f"mask grown by {growth['px']} px ({growth['pixels']:,} px added, shown in the mask download)"
            if growth["px"] else "mask used as painted (no growth)"),
        f"best: seam excess {report['seam_excess']:.3f} (≤ 0.25), ring ΔE {report['ring_delta_e']:.2f} (≤ 2), "
        f"outside changed {report['outside_changed']:.2%} (must be 0, checked at the file's own format)",
    ]
    if growth["px"]:
        lines.append(f"outside the mask as painted: {report.get('outside_changed_given', 0):.2%} changed "
                     "(the growth band)")
    lines.append(photo_note(session))
    lines += [f"note: {n}" for n in result.notes]
    rgb_in = session.image
    session.result_input, session.result_mask = rgb_in, result.mask
    session.result = best_work if best_work.ndim == 3 and best_work.shape[2] == 3 else to_rgb(best_work)
    return {
        "before_after": (session.display, previews[0]),
        "gallery": gallery,
        "heatmap": heat,
        "result_png": save_png(best, folder, "result.png", session.picture.icc_profile),
        "mask_png": save_png(result.mask, folder, "mask.png"),
        "info": "  \n".join(lines),
        "session": session,
    }


# ---------------------------------------------------------------------------------------------------------
# Mask tools (each returns a new editor value: the same display file as background, the new mask as the layer)


@user_errors
def mask_tool(editor, tool: str, session: Session | None, px: int = 8, upload=None):
    """api_name "<tool>_mask": grow / shrink by ``px`` (full-size pixels), invert, clear, or replace by an uploaded
    mask file. Returns the new editor value."""
    session = require_photo(session)
    h, w = session.image.shape[:2]
    if tool == "upload":
        return editor_value(session, mask_from_upload(upload, (w, h)))
    if tool == "clear":
        return editor_value(session, None)
    mask = editor_mask(editor, session, allow_empty=tool == "invert")
    try:
        px = int(px)
    except (TypeError, ValueError):
        raise UserError(f"px must be a whole number, got {px!r}") from None
    if tool == "grow":
        mask = masks.grow(mask, px)
    elif tool == "shrink":
        mask = masks.shrink(mask, px)
    elif tool == "invert":
        mask = masks.invert(mask)
    else:
        raise UserError(f"unknown mask tool {tool!r}")
    return editor_value(session, mask)


# ---------------------------------------------------------------------------------------------------------
# Click-to-segment


def candidate_choices(segmentation) -> list[tuple[str, int]]:
    """Radio choices for the multimask candidates: (label with score and area, index), best score first."""
    out = []
    for i in segmentation.ranked():
        score = float(segmentation.scores[i])
        area = float(segmentation.masks[i].mean())
        label = f"candidate {i + 1}: " + ("score n/a (GrabCut)" if not np.isfinite(score) else f"score {score:.3f}")
        out.append((label + f", {area:.1%} of the image", i))
    return out


def segment_click(session: Session, mode: str, x: float, y: float, resources: Resources):
    """One click on the segmentation view at (x, y) in the view's (display) pixels. mode: "positive", "negative" or
    "box" (two clicks: the corners). Returns (overlay, session, choices, chosen index or None, status)."""
    session = require_photo(session)
    h, w = session.image.shape[:2]
    s = session.scale
    x, y = float(min(max(x / s, 0), w - 1)), float(min(max(y / s, 0), h - 1))
    if mode == "box":
        if session.corner is None:
            session.corner = (x, y)
            return (segmentation_overlay(session, _current_mask(session)), session,
                    None, None, "Box: now click the opposite corner.")
        (cx, cy), session.corner = session.corner, None
        x0, x1 = sorted((cx, x))
        y0, y1 = sorted((cy, y))
        session.box = (int(x0), int(y0), min(w, int(x1) + 1), min(h, int(y1) + 1))
    else:
        session.points.append((x, y, 1 if mode == "positive" else 0))
    return run_segment(session, resources)


def run_segment(session: Session, resources: Resources):
    seg = resources.segmenter()
    pts = [(px, py) for px, py, _ in session.points]
    labels = [label for _, _, label in session.points]
    if not any(labels) and session.box is None:
        return (segmentation_overlay(session, _current_mask(session)), session, None, None,
                "Add a positive click or a box: a negative click alone does not say which object.")
    previous = session.segmentation
    if previous is not None and (getattr(previous, "logits", None) is None) != (seg.engine.startswith("grabcut")):
        previous = None
    result = seg.segment(session.image, points=pts or None, labels=labels or None, box=session.box,
                         previous=previous, multimask=True)
    session.segmentation = result
    choices = candidate_choices(result)
    status = f"{result.engine}: {len(result.masks)} candidate(s); pick one and press “Use as mask”."
    if getattr(result, "note", ""):
        status += f"  \nnote: {result.note}"
    return segmentation_overlay(session, result.mask), session, choices, int(result.best), status


def _current_mask(session: Session):
    return None if session.segmentation is None else session.segmentation.mask


def choose_candidate(session: Session, index):
    """Select multimask candidate ``index``; returns (overlay, session)."""
    if session is None or session.segmentation is None or index is None:
        return (None if session is None or session.display is None else segmentation_overlay(session), session)
    session.segmentation = session.segmentation.select(int(index))
    return segmentation_overlay(session, session.segmentation.mask), session


def use_segmentation(session: Session, editor, grow_preset: str = "none"):
    """Put the chosen candidate into the editor as its mask layer, grown by the preset (replacement/removal) when
    one is chosen: the growth is visible on the canvas before anything is repainted."""
    if session is None or session.segmentation is None:
        raise UserError("no segmentation yet: click on the object first")
    from pipelines import segment

    mask = np.asarray(session.segmentation.mask, bool)
    if grow_preset and grow_preset != "none":
        mask = segment.grow_mask(mask, grow_preset)
    return editor_value(session, mask)


def clear_clicks(session: Session):
    session = Session() if session is None else session
    session.reset_prompts()
    overlay = None if session.display is None else segmentation_overlay(session)
    return overlay, session, "Clicks cleared."


def segment_api(path, positive, negative, box, resources: Resources):
    """api_name "segment": segment the image file ``path`` (decoded by our reader, size-limited) from JSON lists of
    (x, y) clicks and an optional XYXY box. Returns (mask as HW uint8 0/255, engine name)."""
    import json

    rgb = to_rgb(path)

    def parse(text, what):
        if text is None or str(text).strip() in ("", "null", "[]"):
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            raise UserError(f"{what} must be JSON, e.g. [[120, 80]]") from None

    seg = resources.segmenter()
    result = seg.segment(rgb, positive=parse(positive, "positive") or [], negative=parse(negative, "negative") or [],
                         box=parse(box, "box"))
    return result.mask.astype(np.uint8) * 255, result.engine


# ---------------------------------------------------------------------------------------------------------
# Feather lab


def solid_patch(image: np.ndarray, colour: str = "#ff00ff") -> np.ndarray:
    """A full-size "generated" image of one colour (hex "#rrggbb"): the no-model stand-in for the lab."""
    c = str(colour or "#ff00ff").strip()
    if c.startswith("rgb"):
        vals = [float(v) for v in c[c.index("(") + 1:c.index(")")].split(",")[:3]]
    else:
        c = c.lstrip("#")
        if len(c) != 6:
            raise UserError(f"the patch colour must be #rrggbb, got {colour!r}")
        vals = [int(c[i:i + 2], 16) for i in (0, 2, 4)]
    out = np.empty_like(image)
    out[...] = np.array(vals, np.float32).round().astype(np.uint8)
    return out


def default_lab_mask(image: np.ndarray) -> np.ndarray:
    """A centred ellipse covering about a tenth of the picture (when the editor has no mask)."""
    h, w = image.shape[:2]
    yy, xx = np.mgrid[:h, :w]
    return ((xx - w / 2) / (w * 0.2)) ** 2 + ((yy - h / 2) / (h * 0.18)) ** 2 <= 1


def feather_lab(original: np.ndarray, generated: np.ndarray, mask: np.ndarray, widths, methods,
                grow: int = 0):
    """Composite ``generated`` into ``original`` at every feather width x method. Returns [(image, caption)],
    one per (method, width), methods in the order given. Captions carry the seam score; the textbook "feather"
    method is labelled with the share of pixels it changed outside the mask (it is not contract-safe)."""
    if isinstance(widths, str):
        widths = parse_widths(widths)
    methods = [m for m in (methods or []) if m]
    if not methods:
        raise UserError("choose at least one blend method")
    for m in methods:
        if m not in blend.METHODS:
            raise UserError(f"unknown blend method {m!r}; choose from {', '.join(blend.METHODS)}")
    if len(widths) * len(methods) > MAX_LAB_PANELS:
        raise UserError(f"at most {MAX_LAB_PANELS} panels: fewer widths or methods please")
    grow = int(grow)
    mask = masks.grow(mask, grow) if grow else mask
    out = []
    for method in methods:
        for width in widths:
            if method == "hard" and width != widths[0]:
                continue  # hard has no width: one panel is enough
            res = blend.composite(original, generated, mask, method=method, feather=width)
            report = seams.seam_report(original, res, mask)
            changed = report["outside_changed"]
            label = "hard" if method == "hard" else f"{method} {width:g} px"
            safety = (f"CHANGES {changed:.1%} OF THE PIXELS OUTSIDE THE MASK (not contract-safe)" if changed > 0
                      else "outside unchanged")
            out.append((res, f"{label} · seam excess {report['seam_excess']:.3f} · ring ΔE "
                             f"{report['ring_delta_e']:.2f} · {safety}"))
    return out


def run_feather_lab(source: str, photo, editor, session: Session | None, widths, methods, colour, grow):
    """api_name "feather_lab". source "patch": a solid patch of ``colour`` pasted on ``photo`` (a file; or the
    session's photo) inside the editor's mask (a centred ellipse if none); "result": the last inpaint result
    composited back over its input at each width (where the removed object shows through). Panels are display
    size previews."""
    if source == "result":
        if session is None or session.result is None:
            raise UserError("no result yet: run Inpaint first, or use the solid patch")
        panels = feather_lab(session.result_input, session.result, session.result_mask, widths, methods, grow)
    else:
        if photo is not None:
            image, mask = to_rgb(photo), None
        else:
            session = require_photo(session)
            image = session.image
            mask = editor_mask(editor, session, allow_empty=True)
            mask = mask if mask.any() else None
        if mask is None:
            mask = default_lab_mask(image)
        panels = feather_lab(image, solid_patch(image, colour), mask, widths, methods, grow)
    return [(shrink_for_display(img), caption) for img, caption in panels]


# ---------------------------------------------------------------------------------------------------------
# Outpaint tab

ASPECTS = {"none (amounts per side)": None, "1:1": "1:1", "4:3": "4:3", "3:2": "3:2", "16:9": "16:9",
           "9:16": "9:16", "2:3": "2:3"}


def run_outpaint(path, left, right, top, bottom, aspect, mode, prompt, negative, engine, model, steps, guidance,
                 seed, *, progress=None, device="auto", default_model=None, cancel=None, folder: Path | None = None,
                 config=None):
    """api_name "outpaint": extend the image file ``path`` (decoded by our reader) by px per side, or to an aspect
    preset (original centred). Returns (original preview, result preview, result PNG path, info markdown)."""
    from pipelines import io
    from pipelines.outpaint import outpaint

    if path is None:
        raise UserError("no photo: upload an image file")
    picture = io.read(path)
    ratio = ASPECTS.get(aspect, aspect)
    kwargs = dict(prompt=prompt or "", negative_prompt=negative or "", mode=mode, engine=engine, progress=progress,
                  cancel=cancel)
    if engine == "diffusers":
        name = (model or "").strip() or default_model
        if config is not None:
            name = config.check_model(name)
        kwargs.update(model=name, steps=int(steps), guidance=float(guidance), seed=parse_seed(seed), device=device,
                      allow_download=config.allow_downloads if config is not None else True)
    image = picture.pixels  # outpaint returns the file's own format (16-bit, alpha), the original byte-identical
    try:
        pads = [int(v or 0) for v in (left, right, top, bottom)]
    except (TypeError, ValueError):
        raise UserError("the amounts per side must be whole numbers of px") from None
    if ratio:
        res = outpaint(image, aspect=ratio, anchor="center", **kwargs)
    else:
        res = outpaint(image, *pads, **kwargs)
    out = res.image
    r = res.reports[0]
    h, w = image.shape[:2]
    pads_text = ", ".join(f"{k} {v}" for k, v in res.pads.items() if v)
    lines = [f"**{res.engine}** · {res.mode} · {w}x{h} → {out.shape[1]}x{out.shape[0]} "
             f"({pads_text}) · {len(res.joins)} join(s) · {res.timings.get('total', 0):.1f} s",
             f"seam excess {r['seam_excess']:.3f} · ring ΔE {r['ring_delta_e']:.2f}"]
    lines += [f"note: {n}" for n in picture.notes + list(res.notes)]
    folder = Path(folder) if folder is not None else Path(path).parent
    png = save_png(out, folder, "outpaint.png", picture.icc_profile)
    return display_copy(io.to_working(image)), display_copy(io.to_working(out)), png, "  \n".join(lines)
