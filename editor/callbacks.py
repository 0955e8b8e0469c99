"""The app's callbacks: plain values in, plain values out, so they are unit-testable without a server.

Formats: images HWC uint8 RGB; masks HW bool, True = repaint; canvas values are editor.canvas's JSON objects (the
mask at the photo's full size in pipelines.maskcodec text); points are (x, y) pixel coordinates of the photo; boxes
XYXY with exclusive ends.

The photo is the uploaded file, decoded once on the server by pipelines.io.read (EXIF orientation, alpha, 16-bit
and palette kept, size limits checked before any decode) and kept in the Session. The canvas shows only a display
copy (at most DISPLAY_MAX px a side) and holds the mask at full size: the mask the server uses is exactly the mask
the canvas shows, and nothing the browser renders is ever used as pixels of the original.

User mistakes (an empty mask, no photo, bad numbers, a model that cannot load) become gr.Error with a one-line
message (``user_errors``); anything else is logged with its traceback and shown as a one-line internal error. The
app keeps serving. No model code lives here: everything is a call into pipelines/.
"""

from __future__ import annotations

import functools
import logging
import os
import secrets
import tempfile
from pathlib import Path
from typing import Callable

import cv2
import gradio as gr
import numpy as np

from pipelines import blend, masks, seams
from pipelines.errors import UserError
from pipelines.errors import one_line as _one_line
from pipelines.provenance import file_sha256

from . import canvas
from .state import CLASSICAL_ENGINES, ENGINES, PROMPTLESS_ENGINES, Resources, Session

log = logging.getLogger(__name__)

REMOVE_PROMPT = "empty background, clean seamless continuation of the surroundings, nothing there"
REMOVE_NEGATIVE = "object, person, animal, text, watermark, frame, blurry"
DEFAULT_WIDTHS = "0, 4, 12, 40"
HEATMAP_GAIN = 4.0
MAX_LAB_PANELS = 24
SHADOW_RGB = (170, 60, 230)
"""The colour a suggested shadow is drawn in on the canvas (the mask is red, a selection blue)."""
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


def open_photo(path, session: Session | None, resources: Resources, key: str | None = None) -> Session:
    """Decode the uploaded file ``path`` into ``session`` (pipelines.io.read: one-line UserError for anything it
    cannot read) and make the display copy the canvas shows. ``key``: the browser session (unused here; kept for the
    callers' symmetry)."""
    if path is None:
        raise UserError("no photo: upload an image file")
    from pipelines import io

    picture = io.read(path)
    session = Session() if session is None else session
    session.history = []
    set_picture(session, picture, file_sha256(path))
    return session


def set_picture(session: Session, picture, key: str) -> None:
    """Make ``picture`` (pipelines.io.Picture) the session's photo: working and display copies, prompts reset."""
    session.picture = picture
    session.key = key
    session.image = picture.rgb()
    session.display = display_copy(picture.working())
    session.mask = None
    session.reset_prompts()
    session.result_input = session.result = session.result_mask = None
    session.last = None


def require_photo(session: Session | None) -> Session:
    if session is None or session.picture is None:
        raise UserError("no photo: upload one first (the Photo box beside the canvas)")
    return session


def photo_note(session: Session) -> str:
    """One line about the photo: size, format and what reading it did."""
    pic = session.picture
    w, h = pic.size
    depth = "16-bit" if pic.pixels.dtype == np.uint16 else "8-bit"
    kind = "L" if pic.pixels.ndim == 2 else {2: "LA", 3: "RGB", 4: "RGBA"}[pic.pixels.shape[2]]
    text = f"{pic.name}: {w}x{h}, {kind} {depth}; the mask is painted at full size"
    if pic.notes:
        text += "; " + "; ".join(pic.notes)
    return text


# ---------------------------------------------------------------------------------------------------------
# The mask: held by the canvas at the photo's full size


def canvas_mask(value, session: Session, *, allow_empty: bool = False) -> np.ndarray:
    """The mask in a canvas value (HW bool at the photo's full size), exactly as the canvas shows it."""
    require_photo(session)
    return canvas.read_mask(value, session.picture.size, session.key, allow_empty=allow_empty)


def canvas_load(session: Session, mask: np.ndarray | None = None) -> dict:
    """The canvas value that shows the session's photo with ``mask`` (or none)."""
    require_photo(session)
    session.mask = None if mask is None else np.asarray(mask, bool)
    return canvas.load_value(session.display, session.picture.size, session.key, session.mask)


def to_display_mask(mask: np.ndarray, session: Session) -> np.ndarray:
    """A full-size mask at the display copy's size (area averaging, then >= 0.5)."""
    dh, dw = session.display.shape[:2]
    if mask.shape == (dh, dw):
        return mask
    return masks.to_mask(mask.astype(np.float32), size=(dw, dh), resize=True, allow_empty=True)


def mask_from_upload(upload, size: tuple[int, int]) -> np.ndarray:
    """A mask from an uploaded black/white or alpha image file (decoded by our reader: palette, 16-bit and limits
    handled), scaled to ``size`` = (width, height) when it differs."""
    if upload is None:
        raise UserError("no mask file: upload a black/white or transparent PNG")
    return masks.to_mask(upload, size=size, resize=True)


# ---------------------------------------------------------------------------------------------------------
# Overlays


def band_overlay(mask: np.ndarray, grow: int, feather: float | None, method: str) -> np.ndarray:
    """The blend band as an overlay for the canvas (the canvas draws the mask itself): yellow = the growth band
    (grown mask minus mask), blue = the feather band (inside the grown edge for the contract-safe methods,
    straddling it for the textbook feather), white = the grown edge. ``mask`` HW bool at the overlay's size,
    ``grow``/``feather`` in its pixels. Returns HWC uint8 RGBA, transparent off the bands."""
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
    out = np.zeros(mask.shape + (4,), np.uint8)
    out[grown & ~mask] = (255, 220, 0, 170)
    out[feather_band] = (40, 140, 255, 170)
    if grown.any():
        contours, _ = cv2.findContours(grown.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(out, contours, -1, (255, 255, 255, 255), 1)
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
    """Replace and Stage keep the user's prompt; Remove switches to a background prompt, pre-fill and strength
    <= 0.9 (used by the diffusers engine: pre-fill only matters below strength 1). Returns (prompt, negative,
    strength) for the UI to show."""
    if mode == "Remove":
        return REMOVE_PROMPT, REMOVE_NEGATIVE, min(float(strength), 0.9)
    if prompt == REMOVE_PROMPT:
        prompt, negative = "", ""
    return prompt, negative, strength


def mode_engine(mode: str, engine: str) -> str:
    """The engine a mode switches to: Remove -> removal_engine() (LaMa when here, else Telea); Stage and Replace
    -> diffusers when the current engine takes no prompt; otherwise the engine stays."""
    if mode == "Remove":
        return removal_engine()
    if mode in ("Stage", "Replace") and engine in PROMPTLESS_ENGINES:
        return "diffusers"
    return engine


def lama_on_disk() -> bool:
    """Whether LaMa's weights are on this machine (never goes online)."""
    from pipelines.generate import registry

    return registry.on_disk(registry.preset("lama"))


def removal_engine() -> str:
    """The engine Remove switches to: LaMa when its weights are here, else Telea (LaMa is never downloaded by a
    mode switch: `python -m pipelines models --download lama` fetches it)."""
    return "lama" if lama_on_disk() else "telea"


STAGE_MODEL = "depth-staging"
"""The model Stage runs when the model box holds a model with no depth ControlNet preset of its own."""


def engine_status(engine: str, model: str | None, config=None, mode: str = "Replace") -> str:
    """One line saying what will run: the engine, the model and whether its weights are here."""
    from .state import model_in_local_cache

    if engine in CLASSICAL_ENGINES:
        note = ""
        if mode == "Remove" and not lama_on_disk():
            note = " LaMa (better removal) is not here: `python -m pipelines models --download lama` fetches it."
        return f"Will run **{engine}** (OpenCV, classical: no weights, no prompt).{note}"
    if engine == "lama":
        here = "weights present" if lama_on_disk() else (
            "weights not here yet: the first run downloads them (200 MB)"
            if config is None or config.allow_downloads else "weights not here and downloads are off: choose telea")
        return f"Will run **LaMa** (prompt-free removal) · big-lama · {here}."
    name = (model or "").strip() or (config.model_name() if config is not None else "")
    if mode == "Stage":
        from pipelines.generate import registry

        if registry.is_preset(name) and registry.preset(name).engine == "depth":
            here = registry.on_disk(registry.preset(name))
        else:
            here = model_in_local_cache(name)
        weights = "weights present" if here else (
            "weights not here yet: the first run downloads them" if config is None or config.allow_downloads
            else "weights not here and downloads are off on this server")
        return (f"Will run **diffusers + depth ControlNet** (staging: the depth of the photo keeps the room's "
                f"perspective) · `{name}` · {weights}.")
    if model_in_local_cache(name):
        weights = "weights present"
    elif config is None or config.allow_downloads:
        weights = "weights not here yet: the first run downloads them"
    else:
        weights = "weights not here and downloads are off on this server: choose telea"
    return f"Will run **diffusers** · `{name}` · {weights}."


def models_table() -> str:
    """The registry's presets as a markdown table (engine, native size, licence, download, on this machine?)."""
    from pipelines.generate import registry

    lines = ["| preset | engine | native | download | here | for | licence |", "|---|---|---|---|---|---|---|"]
    for row in registry.rows():
        size = f"~{row['download_gb']:g} GB" if row["download_gb"] else "none"
        lines.append(f"| `{row['id']}` | {row['engine']} | {row['native_size'] or '-'} | {size} | "
                     f"{'yes' if row['on_disk'] else 'no'} | {', '.join(row['use'])} | {row['licence']} |")
    lines.append("\nA preset id works in the Model box. `python -m pipelines models --download ID` fetches one.")
    return "\n".join(lines)


def engine_controls(engine: str) -> tuple:
    """Updates for (prompt, negative, strength, steps, guidance, variants, seed, model): an engine that takes no
    prompt (LaMa, telea, ns) ignores them, so they are disabled with a word on why."""
    on = engine not in PROMPTLESS_ENGINES
    why = None if on else f"{engine} ignores this"
    return (gr.update(interactive=on, placeholder="what to paint in the mask" if on else f"{engine} needs no prompt"),
            gr.update(interactive=on), gr.update(interactive=on, info=why), gr.update(interactive=on, info=why),
            gr.update(interactive=on, info=why), gr.update(interactive=on, info=why), gr.update(interactive=on),
            gr.update(interactive=on))


def _caption(k: int, seed, report: dict) -> str:
    verdict = "passes" if report.get("passed") else "fails " + ", ".join(report.get("failed") or [])
    seed_text = "" if seed is None else f"seed {seed} · "
    return (f"#{k + 1} · {seed_text}seam score {report['seam_excess']:.3f} · ring ΔE {report['ring_delta_e']:.2f}"
            f" · outside changed {report['outside_changed']:.2%} · {verdict}")


def save_png(array: np.ndarray, folder: Path, name: str, icc_profile: bytes | None = None,
             text: dict | None = None) -> str:
    """Write ``array`` (any format pipelines.io.save_png takes: 16-bit and alpha too) as a lossless PNG in the
    session's ``folder`` under a fresh name, with ``text`` chunks; return its path (for gr.File). The one PNG encode
    of a result."""
    from pipelines import io

    stem, suffix = os.path.splitext(name)
    path = Path(folder) / f"{stem}-{secrets.token_hex(4)}{suffix or '.png'}"
    return str(io.save_png(path, array, icc_profile=icc_profile, text=text))


# ---------------------------------------------------------------------------------------------------------
# Inpaint tab


def load_photo(path, session: Session | None, resources: Resources, key: str | None = None, progress=None):
    """api_name "load_photo": an uploaded photo file. Decodes it (one-line UserError for anything unreadable or too
    large), shows the display copy on the canvas and starts the segmenter's embedding so the first click is fast.
    Returns (canvas value, session, status markdown)."""
    session = open_photo(path, session, resources, key)
    seg = resources.segmenter()
    if progress is not None:
        progress(0.1, desc=f"computing the image embedding ({seg.engine})")
    seg.prepare(session.image)
    status = (f"{photo_note(session)}  \nSegmenter: {seg.engine}. Paint, lasso, or use Select (click the object) "
              "and Box; a selection is added to the mask only when you press “Add to mask”.")
    return canvas_load(session), session, status


def band(value, grow, feather, method, session: Session | None, *, quiet: bool = False, seq=None):
    """api_name "preview": the blend band for the canvas's mask at this growth / feather / method (see
    band_overlay), at display size. ``quiet``: hide the band instead of an error while there is no photo or mask."""
    try:
        session = require_photo(session)
        mask = canvas_mask(value, session)
    except UserError:
        if quiet:
            value = canvas.band_value(None, None if session is None else session.key, seq)
            value["note"] = "paint a mask first: the band is drawn around it"
            return value
        raise
    feather = None if feather is None or float(feather) < 0 else float(feather)
    s = session.scale
    shown = to_display_mask(mask, session)
    overlay = band_overlay(shown, int(round(int(grow) * s)), None if feather is None else feather * s, method)
    return canvas.band_value(overlay, session.key, seq)


def inpaint_picture(picture, mask: np.ndarray, prompt, negative, mode, engine, model, strength, feather, grow, steps,
                    guidance, seed, variants, method, *, folder: Path, progress=None, device: str = "auto",
                    default_model: str | None = None, cancel=None, config=None) -> dict:
    """Inpaint ``picture`` (pipelines.io.Picture: native pixels, alpha and 16-bit kept) where ``mask`` (HW bool, its
    full size) is True. Returns a dict: result (the InpaintResult), gallery [(display preview, caption)], heatmap
    (display size), result_png (the one lossless PNG at the picture's own format, its settings in a text chunk),
    mask_png, info lines (list of markdown), previews (display copies of the variants). ``feather`` < 0 means the
    method's default; ``progress(step, total)`` is called every step; ``config`` (AppConfig) decides which models a
    visitor may use and whether they may be downloaded."""
    from pipelines import io, provenance
    from pipelines.inpaint import inpaint

    if engine not in ENGINES:
        raise UserError(f"unknown engine {engine!r}: choose one of {', '.join(ENGINES)}")
    if mode == "Stage" and engine != "diffusers":
        raise UserError("Stage needs the diffusers engine (a depth ControlNet): choose it under Advanced")
    feather = None if feather is None or float(feather) < 0 else float(feather)
    try:
        grow = int(grow)
    except (TypeError, ValueError):
        raise UserError(f"growth must be a whole number of px, got {grow!r}") from None
    kwargs = dict(engine=engine, grow=grow, feather=feather, method=method, progress=progress, cancel=cancel)
    settings = dict(operation="inpaint", engine=engine, model=None, prompt=None, negative=None, seed=None,
                    strength=None, steps=None, guidance=None, grow=grow, feather=feather, method=method)
    if config is not None and engine not in CLASSICAL_ENGINES:
        kwargs["allow_download"] = config.allow_downloads
    if engine == "diffusers":
        name = (model or "").strip() or default_model
        if mode == "Stage":
            from pipelines.generate import registry

            if not (registry.is_preset(name) and registry.preset(name).engine == "depth") and (
                    name == (default_model or "") or not name):
                name = STAGE_MODEL  # the configured inpainting model has no depth ControlNet of its own here
            kwargs["control"] = "depth"
            if not (prompt or "").strip():
                raise UserError("Stage needs a prompt: say what to put in the room, e.g. a grey sofa and a rug")
        if config is not None:
            name = config.check_model(name)
        kwargs.update(
            model=name, strength=float(strength), steps=int(steps),
            guidance=float(guidance), seed=parse_seed(seed), variants=int(variants), prefill=mode == "Remove",
            device=device,
        )
    elif engine == "lama":
        kwargs["device"] = device
    if mode == "Remove" and engine == "diffusers" and not (prompt or "").strip():
        prompt, negative = REMOVE_PROMPT, REMOVE_NEGATIVE
    native = picture.pixels
    result = inpaint(native, mask, prompt or "", negative or "", **kwargs)

    best = result.images[0]
    previews = [display_copy(io.to_working(img)) for img in result.images]
    gallery = [(img, _caption(k, s, r)) for k, (img, s, r) in enumerate(zip(previews, result.seeds, result.reports))]
    heat = change_map(native, best, result.mask)
    report = result.reports[0]
    growth = result.growth()
    if engine == "diffusers":
        settings.update(model=result.model, prompt=prompt or "", negative=negative or "", seed=result.seeds[0],
                        strength=kwargs["strength"], steps=kwargs["steps"],
                        guidance=result.params.get("guidance", kwargs["guidance"]))
    elif engine == "lama":
        settings.update(model=result.model)
    record = provenance.settings_record(**settings, mask=mask, report=report,
                                        extra={"mode": mode, "source": picture.name, "growth": growth})
    lines = [
        f"**{result.engine}**" + (f" · {result.model}" if result.model else "")
        + f" · {result.timings.get('total', 0):.1f} s · " + (
            f"mask grown by {growth['px']} px ({growth['pixels']:,} px added, shown in the mask download)"
            if growth["px"] else "mask used as painted (no growth)"),
        f"best: seam score {report['seam_excess']:.3f} (≤ 0.25: how visible the seam is, not whether the fill is "
        f"plausible), ring ΔE {report['ring_delta_e']:.2f} (≤ 2), outside changed {report['outside_changed']:.2%} "
        "(must be 0, checked at the file's own format)",
    ]
    if growth["px"]:
        lines.append(f"outside the mask as painted: {report.get('outside_changed_given', 0):.2%} changed "
                     "(the growth band)")
    lines += [f"note: {n}" for n in result.notes]
    return {
        "result": result,
        "gallery": gallery,
        "heatmap": heat,
        "previews": previews,
        "result_png": save_png(best, folder, "result.png", picture.icc_profile, text=provenance.png_text(record)),
        "mask_png": save_png(result.mask, folder, "mask.png"),
        "info": lines,
    }


def run_inpaint(value, prompt, negative, mode, engine, model, strength, feather, grow, steps, guidance, seed,
                variants, method, session: Session | None = None, *, progress=None, device: str = "auto",
                default_model: str | None = None, cancel=None, folder: Path | None = None, config=None):
    """api_name "inpaint": inpaint the session's photo where the canvas's mask (``value``) is painted. Returns a
    dict: canvas (the before/after view), gallery, heatmap, result_png, mask_png, info (markdown), session. The
    session remembers the result, so "Continue from this result" can make it the next edit's photo."""
    session = require_photo(session)
    mask = canvas_mask(value, session)
    folder = folder or Path(tempfile.mkdtemp(prefix="inpaint-result-"))  # the app passes the session's folder
    out = inpaint_picture(session.picture, mask, prompt, negative, mode, engine, model, strength, feather, grow,
                          steps, guidance, seed, variants, method, folder=folder, progress=progress, device=device,
                          default_model=default_model, cancel=cancel, config=config)
    from pipelines import io

    result = out["result"]
    best_work = io.to_working(result.images[0], keep_alpha=True)
    session.result_input, session.result_mask = session.image, result.mask
    session.result = best_work if best_work.ndim == 3 and best_work.shape[2] == 3 else to_rgb(best_work)
    session.mask = mask
    session.last = {"pixels": result.images[0], "png": out["result_png"], "mask": mask}
    info = out["info"] + [photo_note(session)]
    if session.history:
        info.append(f"edit {len(session.history) + 1} of a chain: its contract is against the previous result")
    return {
        "canvas": canvas.result_value(out["previews"][0], session.key),
        "gallery": out["gallery"],
        "heatmap": out["heatmap"],
        "result_png": out["result_png"],
        "mask_png": out["mask_png"],
        "info": "  \n".join(info),
        "session": session,
    }


def inpaint_files(image, mask_file, prompt, negative, mode, engine, model, strength, feather, grow, steps, guidance,
                  seed, variants, method, *, folder: Path, **kwargs):
    """api_name "inpaint_image": the plain endpoint for API clients: an image file and a black/white (or alpha) mask
    file of the same size in; (result PNG path, mask PNG path, info markdown) out. No session is involved."""
    from pipelines import io

    if image is None:
        raise UserError("no image: give an image file")
    picture = io.read(image)
    if mask_file is None:
        raise UserError("no mask: give a black/white mask file of the image's size")
    mask = masks.to_mask(mask_file, size=picture.size)
    out = inpaint_picture(picture, mask, prompt, negative, mode, engine, model, strength, feather, grow, steps,
                          guidance, seed, variants, method, folder=folder, **kwargs)
    return out["result_png"], out["mask_png"], "  \n".join(out["info"])


def continue_from_result(session: Session | None):
    """api_name False: the last result becomes the photo the next edit works on (its contract is against the
    result); the photo it replaced goes on the history. Returns (canvas value, session, status)."""
    session = require_photo(session)
    if session.last is None:
        raise UserError("no result yet: run Inpaint first")
    from pipelines import io

    last = session.last
    before = (session.picture, session.key, session.display, session.image, last["mask"])
    picture = io.read(last["png"])  # the result as its file stores it: exactly what the next contract is against
    history = session.history + [before]
    set_picture(session, picture, file_sha256(last["png"]))
    session.history = history
    return (canvas_load(session), session,
            f"Continuing from the result (edit {len(history) + 1}); “Undo result” goes back to the previous photo.")


def undo_result(session: Session | None):
    """Back to the photo before the last "Continue from this result", with the mask that edit used. Returns
    (canvas value, session, status)."""
    session = require_photo(session)
    if not session.history:
        raise UserError("nothing to undo: no result has been continued from")
    picture, key, _display, _image, mask = session.history[-1]
    history = session.history[:-1]
    set_picture(session, picture, key)
    session.history = history
    return canvas_load(session, mask), session, f"Back to edit {len(history) + 1}, with the mask it used."


# ---------------------------------------------------------------------------------------------------------
# Mask tools (each returns a canvas value that replaces the mask: one undo step on the canvas)


@user_errors
def mask_tool(value, tool: str, session: Session | None, px: int = 8, upload=None):
    """api_name "<tool>_mask": grow / shrink by ``px`` (full-size pixels), invert, clear, or replace by an uploaded
    mask file. Returns the canvas value that replaces the canvas's mask (one undo step there)."""
    session = require_photo(session)
    w, h = session.picture.size
    base = value.get("rev") if isinstance(value, dict) else None
    if tool == "upload":
        return canvas.mask_value(mask_from_upload(upload, (w, h)), session.key)
    if tool == "clear":
        return canvas.mask_value(np.zeros((h, w), bool), session.key)
    mask = canvas_mask(value, session, allow_empty=tool == "invert")
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
    return canvas.mask_value(mask, session.key, base)


# ---------------------------------------------------------------------------------------------------------
# Click-to-segment


def candidate_label(segmentation, i: int) -> str:
    score = float(segmentation.scores[i])
    area = float(segmentation.masks[i].mean())
    return ("GrabCut" if not np.isfinite(score) else f"{score:.2f}") + f" · {area:.1%}"


GROW_PRESETS = ("none", "auto", "replacement", "removal")
"""How a selection grows before it is proposed: not at all, by its measured soft edge + the blend's feather band
(pipelines.segment.matting.auto_growth), or by the fixed presets of pipelines.segment.grow_mask."""


def grow_selection(image: np.ndarray, mask: np.ndarray, preset: str, method: str = "seamless",
                   probabilities: Callable[[], np.ndarray | None] | None = None):
    """(grown HW bool mask, a few words saying how) for a selection: see GROW_PRESETS. The growth is shown on the
    canvas as part of the proposal before anything is repainted. ``probabilities``: for "auto", a function giving
    the segmenter's HW probabilities for this mask (Segmentation.probabilities; called only when needed): the pixels
    it was unsure of join the matte's unknown band."""
    from pipelines import segment

    if not preset or preset == "none" or not mask.any():
        return mask, ""
    if preset == "auto":
        from pipelines.segment import matting

        feather = blend.default_feather(method if method in blend.METHODS else "seamless")
        soft = None if probabilities is None else probabilities()
        auto = matting.auto_growth(image, mask, feather=feather, probabilities=soft)
        how = f"auto {auto.px} px (soft edge {auto.fringe:.1f} + feather {auto.feather:g})"
        if auto.note:
            how += f"; {auto.note}"
        return (masks.grow(mask, auto.px) if auto.px else mask.copy()), how
    if preset not in GROW_PRESETS:
        raise UserError(f"unknown growth {preset!r}: choose one of {', '.join(GROW_PRESETS)}")
    return segment.grow_mask(mask, preset), f"grown {segment.growth_px(preset)} px for {preset}"


def segment_prompts(session: Session | None, data: dict, preset: str, resources: Resources,
                    method: str = "seamless") -> dict:
    """The canvas's Select / Box tools: ``data`` = {points: [[x, y], ...], labels: [1|0, ...], box: XYXY | None,
    seq} in the photo's pixels. Segments the photo (refining the previous result of the same engine) and returns a
    canvas "proposal" value: the candidates, best first, each grown by ``preset`` (none, replacement, removal) so
    the growth is visible before the user adds it to the mask."""
    session = require_photo(session)
    data = data or {}
    w, h = session.picture.size
    points = [(float(min(max(x, 0), w - 1)), float(min(max(y, 0), h - 1))) for x, y in data.get("points") or []]
    labels = [int(v) for v in data.get("labels") or []]
    box = data.get("box")
    if box is not None:
        box = tuple(int(v) for v in box)
    seq = data.get("seq")
    if len(labels) != len(points):
        raise UserError("each click needs a label (1 = object, 0 = not)")
    if not any(labels) and box is None:
        return canvas.notice_value("add a click on the object or a box: a negative click alone does not say which "
                                   "object", session.key)
    seg = resources.segmenter()
    previous = session.segmentation
    if not points and box is None or (previous is not None
                                      and (getattr(previous, "logits", None) is None)
                                      != seg.engine.startswith("grabcut")):
        previous = None
    if previous is not None and len(points) <= len(previous.prompts.points if previous.prompts else ()):
        previous = None  # a new selection (or fewer clicks): start over
    result = seg.segment(session.image, points=points or None, labels=labels or None, box=box, previous=previous,
                         multimask=True)
    session.segmentation = result
    order = list(result.ranked())
    candidates, hows = [], []
    for i in order:
        m, how = grow_selection(session.image, np.asarray(result.masks[i], bool), preset, method,
                                probabilities=lambda i=i: result.probabilities(i))
        candidates.append((candidate_label(result, i), m))
        hows.append(how)
    info = f"{result.engine}" + (f"; best {hows[0]}" if hows and hows[0] else "")
    if getattr(result, "note", ""):
        info += f"; {result.note}"
    return canvas.proposal_value(candidates, 0, session.key, seq, info)


def select_by_text(session: Session | None, phrase: str, preset: str, resources: Resources,
                   method: str = "seamless") -> dict:
    """"Select by text": Grounding DINO finds boxes for ``phrase``, the shared segmenter outlines each; the canvas
    gets a proposal with one candidate per instance (best first) and, when there are several, all of them united.
    Nothing is added to the mask until the user says so. No match is a one-line UserError."""
    from pipelines.segment import grounding

    session = require_photo(session)
    if not (phrase or "").strip():
        raise UserError("type what to select, e.g. the dog")
    selector = resources.text_selector()
    found = selector.boxes(session.image, phrase)
    if not found:
        raise UserError(f"no {phrase.strip()!r} found in the photo (threshold {selector.box_threshold:g}): try "
                        "another phrase or click on it")
    seg = resources.segmenter()
    candidates = []
    for box, score in found[:grounding.MAX_INSTANCES]:
        m = np.asarray(seg.segment(session.image, box=box).mask, bool)
        if m.any():
            candidates.append((f"{score:.2f} · {m.mean():.1%}", m))
    if not candidates:
        raise UserError(f"the outline of {phrase.strip()!r} came out empty: click on it instead")
    if len(candidates) > 1:
        union = np.logical_or.reduce([m for _, m in candidates])
        candidates.append((f"all {len(candidates)} · {union.mean():.1%}", union))
    grown = [(label, *grow_selection(session.image, m, preset, method)) for label, m in candidates]
    candidates = [(label, m) for label, m, _ in grown]
    info = f"{selector.name} + {seg.engine}: {len(found)} match(es) for {grounding.normalise_phrase(phrase)!r}"
    if grown[0][2]:
        info += f"; best {grown[0][2]}"
    return canvas.proposal_value(candidates, 0, session.key, None, info)


def plan_instruction(session: Session | None, sentence: str, preset: str, resources: Resources):
    """The instruction box: one sentence ("replace the car with a red bus", "remove the person", "make the walls
    light blue") -> mode and prompt filled in, and the object selected by text as a proposal on the canvas (added to
    the mask when the user says so). When the text model cannot be had, mode and prompt are still filled and the
    canvas says to select the object by clicking. Returns (canvas value, mode, prompt, negative, status)."""
    from pipelines import instructions

    session = require_photo(session)
    plan = instructions.parse(sentence or "")
    if plan.mode == "remove":
        mode, prompt, negative = "Remove", REMOVE_PROMPT, REMOVE_NEGATIVE
    else:
        mode, prompt, negative = "Replace", plan.prompt, ""
    status = f"Plan: {plan.mode} **{plan.select}**" + (f" → “{plan.prompt}”" if plan.prompt else "")
    try:
        value = select_by_text(session, plan.select, preset, resources)
        status += "; the selection is on the canvas: press “Add to mask”, then Inpaint."
    except UserError as exc:
        value = canvas.notice_value(f"select the {plan.select} by clicking: {one_line(exc)}", session.key)
        status += f"; select the {plan.select} on the canvas (Select or Box), then Inpaint."
    return value, mode, prompt, negative, status


def suggest_shadow(value, session: Session | None, resources: Resources | None = None) -> dict:
    """"Find its shadow": the cast shadow of the object in the canvas's mask (pipelines.segment.effects.suggest_shadow),
    proposed on the canvas in another colour, to add to the mask with one click (or discard). No shadow found is a
    status line, not an error."""
    from pipelines.segment import effects

    session = require_photo(session)
    mask = canvas_mask(value, session)
    shadow = effects.suggest_shadow(session.image, mask)
    if not shadow.area:
        return canvas.notice_value(f"no shadow suggested: {shadow.reason}", session.key)
    label = f"shadow · {shadow.score:.2f} · {shadow.mask.mean():.1%}"
    return canvas.proposal_value([(label, shadow.mask)], 0, session.key, None, shadow.reason, colour=SHADOW_RGB)


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
    """A centred ellipse covering about a tenth of the picture (when the canvas has no mask)."""
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
            out.append((res, f"{label} · seam score {report['seam_excess']:.3f} · ring ΔE "
                             f"{report['ring_delta_e']:.2f} · {safety}"))
    return out


def seam_point(mask: np.ndarray) -> tuple[int, int]:
    """(x, y) of a point on the mask's edge: the leftmost mask pixel of the row through its centroid (the first
    edge pixel in reading order when that row has none)."""
    ys, xs = np.nonzero(mask)
    cy = int(round(ys.mean()))
    row = np.flatnonzero(mask[cy])
    if row.size:
        return int(row[0]), cy
    edge = mask & ~masks.shrink(mask, 1)
    ey, ex = np.nonzero(edge)
    return int(ex[0]), int(ey[0])


def seam_crop(image: np.ndarray, point: tuple[int, int], size: int = 96, zoom: int = 4) -> np.ndarray:
    """A ``size`` px square of ``image`` (HWC uint8) centred on ``point`` = (x, y), enlarged ``zoom`` times with
    nearest-neighbour pixels, so single-pixel seams stay visible."""
    h, w = image.shape[:2]
    x, y = point
    half = size // 2
    x0, y0 = min(max(0, x - half), max(0, w - size)), min(max(0, y - half), max(0, h - size))
    crop = image[y0:y0 + size, x0:x0 + size]
    return cv2.resize(crop, (crop.shape[1] * zoom, crop.shape[0] * zoom), interpolation=cv2.INTER_NEAREST)


def run_feather_lab(source: str, photo, value, session: Session | None, widths, methods, colour, grow):
    """api_name "feather_lab". source "patch": a solid patch of ``colour`` pasted on ``photo`` (a file; or the
    session's photo) inside the canvas's mask (a centred ellipse if none); "result": the last inpaint result
    composited back over its input at each width (where the removed object shows through). Returns (gallery of
    display-size panels with captions, panels for the scrubber: [{"full", "crop", "caption"}] where crop is the
    seam enlarged 4x at one point of the mask's edge, the same point in every panel)."""
    if source == "result":
        if session is None or session.result is None:
            raise UserError("no result yet: run Inpaint first, or use the solid patch")
        mask = session.result_mask
        panels = feather_lab(session.result_input, session.result, mask, widths, methods, grow)
    else:
        if photo is not None:
            image, mask = to_rgb(photo), None
        else:
            session = require_photo(session)
            image = session.image
            mask = canvas_mask(value, session, allow_empty=True)
            mask = mask if mask.any() else None
        if mask is None:
            mask = default_lab_mask(image)
        panels = feather_lab(image, solid_patch(image, colour), mask, widths, methods, grow)
    point = seam_point(masks.grow(mask, int(grow)) if int(grow) else mask)
    scrub = [{"full": shrink_for_display(img), "crop": seam_crop(img, point), "caption": caption}
             for img, caption in panels]
    return [(p["full"], p["caption"]) for p in scrub], scrub


def scrub_panel(index, panels):
    """The scrubber: panel ``index`` (1-based) of run_feather_lab's panels -> (full, seam crop, caption)."""
    if not panels:
        raise UserError("press Composite first")
    k = min(max(int(index or 1), 1), len(panels)) - 1
    p = panels[k]
    return p["full"], p["crop"], f"**{k + 1} of {len(panels)}** · {p['caption']}"


# ---------------------------------------------------------------------------------------------------------
# Outpaint on the canvas


def frame(session: Session | None, left, right, top, bottom, aspect=None):
    """The outpaint frame for the session's photo: px per side, or an aspect preset (the photo centred). Sizes are
    checked here (whole numbers >= 0, the new canvas within the size limit) so the frame on the canvas is one the
    run accepts. Returns (canvas frame value, left, right, top, bottom)."""
    from pipelines.outpaint import extension

    session = require_photo(session)
    ratio = ASPECTS.get(aspect, aspect) if aspect else None
    try:
        sizes = [0, 0, 0, 0] if ratio else [int(v or 0) for v in (left, right, top, bottom)]
    except (TypeError, ValueError):
        raise UserError("the amounts per side must be whole numbers of px") from None
    pads = extension(session.picture.size, *sizes, aspect=ratio)
    return (canvas.frame_value(pads, session.key), pads["left"], pads["right"], pads["top"], pads["bottom"])


def run_outpaint_canvas(session: Session | None, left, right, top, bottom, aspect, mode, prompt, negative, engine,
                        model, steps, guidance, seed, *, folder: Path, **kwargs):
    """Outpaint the session's photo (as decoded: alpha, 16-bit kept; it stays byte-identical in the result) by the
    frame on the canvas. Returns (canvas result value, result PNG path, info markdown, session); the result can be
    continued from like an inpaint result."""
    session = require_photo(session)
    ratio = ASPECTS.get(aspect, aspect) if aspect else None
    before, after, png, info = run_outpaint(session.picture, left, right, top, bottom, aspect if ratio else None, mode,
                                            prompt, negative, engine, model, steps, guidance, seed, folder=folder,
                                            **kwargs)
    session.last = {"pixels": None, "png": png, "mask": None}
    return canvas.result_value(after, session.key), png, info, session


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
    picture = path if isinstance(path, io.Picture) else io.read(path)  # the canvas passes its decoded photo
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
             f"seam score {r['seam_excess']:.3f} · ring ΔE {r['ring_delta_e']:.2f}"]
    lines += [f"note: {n}" for n in picture.notes + list(res.notes)]
    folder = Path(folder) if folder is not None else Path(path).parent
    from pipelines import provenance

    new_area = np.ones(out.shape[:2], bool)
    new_area[res.pads["top"]:res.pads["top"] + h, res.pads["left"]:res.pads["left"] + w] = False
    seed_used = kwargs.get("seed")
    record = provenance.settings_record(
        operation="outpaint", engine=engine, model=kwargs.get("model") if engine == "diffusers" else None,
        prompt=prompt or "", negative=negative or "", seed=seed_used, strength=None,
        steps=kwargs.get("steps"), guidance=kwargs.get("guidance"), grow=0, feather=None, method="seamless",
        mask=new_area, report=r, extra={"pads": dict(res.pads), "mode": res.mode, "source": picture.name})
    png = save_png(out, folder, "outpaint.png", picture.icc_profile, text=provenance.png_text(record))
    return display_copy(io.to_working(image)), display_copy(io.to_working(out)), png, "  \n".join(lines)
