"""The app's callbacks: plain values in, plain values out, so they are unit-testable without a server.

Formats: images HWC uint8 RGB; masks HW bool, True = repaint; editor values are Gradio ImageEditor dicts
{"background": image, "layers": [image, ...], "composite": image} with numpy images (the mask is the union of the
layers' alpha, pipelines.masks.to_mask); points are (x, y) pixel coordinates; boxes XYXY with exclusive ends.

User mistakes (an empty mask, no image, bad numbers, a model that cannot load) become gr.Error with a one-line
message (``user_errors``); the app keeps serving. No model code lives here: everything is a call into pipelines/.
"""

from __future__ import annotations

import functools
import os
import secrets
import tempfile
from pathlib import Path

import cv2
import gradio as gr
import numpy as np

from pipelines import blend, masks, seams
from pipelines.errors import UserError

from .state import CLASSICAL_ENGINES, Resources, Session

MASK_RGBA = (255, 59, 48, 160)
"""Colour of the mask layer the app writes into the editor: translucent red, alpha >= 128 (counts as mask)."""

REMOVE_PROMPT = "empty background, clean seamless continuation of the surroundings, nothing there"
REMOVE_NEGATIVE = "object, person, animal, text, watermark, frame, blurry"
DEFAULT_WIDTHS = "0, 4, 12, 40"
HEATMAP_GAIN = 4.0
MAX_LAB_PANELS = 24


# ---------------------------------------------------------------------------------------------------------
# Errors


def one_line(exc: BaseException) -> str:
    """The exception's message on one line (whitespace collapsed, at most 300 characters)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def user_errors(fn):
    """Turn the pipelines' ValueError (bad input, empty mask, ModelLoadError, CheckpointUnavailable) and their
    Cancelled into gr.Error with one line; anything else is a bug and propagates."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except (ValueError, FileNotFoundError) as exc:
            raise gr.Error(one_line(exc), print_exception=False) from None
        except Exception as exc:
            from pipelines.inpaint import Cancelled

            if isinstance(exc, Cancelled):
                raise gr.Error(one_line(exc), print_exception=False) from None
            raise

    return wrapper


# ---------------------------------------------------------------------------------------------------------
# Images and masks from UI values


def to_rgb(image) -> np.ndarray:
    """HWC uint8 RGB from a numpy image (RGBA is composited on white, greyscale repeated) or a file path."""
    if image is None:
        raise UserError("no image: upload a photo first")
    if isinstance(image, (str, os.PathLike)):
        from pipelines import io

        image = io.load_image(image)
    a = np.asarray(image)
    if a.dtype != np.uint8:
        a = np.clip(a, 0, 255).astype(np.uint8)
    if a.ndim == 2:
        return np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim == 3 and a.shape[2] == 4:
        alpha = a[:, :, 3:4].astype(np.float32) / 255.0
        if alpha.min() >= 1.0:
            return np.ascontiguousarray(a[:, :, :3])
        rgb = a[:, :, :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
        return np.round(rgb).astype(np.uint8)
    if a.ndim == 3 and a.shape[2] == 3:
        return np.ascontiguousarray(a)
    raise UserError(f"the image must be RGB, RGBA or greyscale, got shape {a.shape}")


def editor_image(value) -> np.ndarray:
    """The photo inside an ImageEditor value (its background; the composite when there is no background)."""
    if not isinstance(value, dict):
        raise UserError("no image: upload a photo into the editor first")
    image = value.get("background")
    if image is None:
        image = value.get("composite")
    if image is None:
        raise UserError("no image: upload a photo into the editor first")
    return to_rgb(image)


def editor_mask(value, *, allow_empty: bool = False) -> np.ndarray:
    """The mask painted in an ImageEditor value: union of the layers' alpha >= 128, the photo's size."""
    image = editor_image(value)
    layers = [layer for layer in (value.get("layers") or []) if layer is not None]
    h, w = image.shape[:2]
    if not layers:
        if allow_empty:
            return np.zeros((h, w), bool)
        raise UserError(masks.EMPTY_MESSAGE)
    return masks.to_mask({"background": None, "layers": layers, "composite": None}, size=(w, h),
                         resize=True, allow_empty=allow_empty)


def mask_layer(mask: np.ndarray) -> np.ndarray:
    """An RGBA editor layer showing ``mask`` (HW bool) in translucent red; alpha 0 elsewhere."""
    layer = np.zeros(mask.shape + (4,), np.uint8)
    layer[mask] = MASK_RGBA
    return layer


def editor_value(image: np.ndarray, mask: np.ndarray | None = None) -> dict:
    """An ImageEditor value: ``image`` as background and ``mask`` (if any) as the one layer."""
    layers = [] if mask is None or not mask.any() else [mask_layer(mask)]
    composite = image.copy()
    if layers:
        a = MASK_RGBA[3] / 255.0
        tint = np.array(MASK_RGBA[:3], np.float32)
        composite[mask] = np.round(composite[mask] * (1 - a) + tint * a).astype(np.uint8)
    return {"background": image, "layers": layers, "composite": composite}


def mask_from_upload(upload, size: tuple[int, int]) -> np.ndarray:
    """A mask from an uploaded black/white or alpha image (array or path), resized to ``size`` = (width, height)."""
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


def difference_heatmap(before: np.ndarray, after: np.ndarray, gain: float = HEATMAP_GAIN) -> np.ndarray:
    """|after - before| (max over channels) x ``gain`` as an inferno heatmap; pixels that did not change are
    exactly black, so an unchanged unmasked area shows as zero. HWC uint8 RGB."""
    if before.shape != after.shape:
        raise UserError(f"the images differ in shape: {before.shape} and {after.shape}")
    diff = np.abs(after.astype(np.int16) - before.astype(np.int16))
    diff = diff.max(axis=2) if diff.ndim == 3 else diff
    level = np.clip(diff.astype(np.float32) * gain, 0, 255).astype(np.uint8)
    heat = cv2.cvtColor(cv2.applyColorMap(level, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)
    heat[diff == 0] = 0
    return heat


def segmentation_overlay(image: np.ndarray, session: Session, mask: np.ndarray | None = None) -> np.ndarray:
    """The photo with the current mask (blue), the clicks (green +, red -) and the box (yellow) drawn over it."""
    out = image.copy()
    if mask is not None:
        _tint(out, mask, (30, 144, 255), 0.45)
        _outline(out, mask, (255, 255, 255), 2)
    r = max(4, round(max(image.shape[:2]) / 120))
    for x, y, label in session.points:
        colour = (0, 220, 0) if label == 1 else (230, 0, 0)
        cv2.circle(out, (int(round(x)), int(round(y))), r + 2, (255, 255, 255), -1, cv2.LINE_AA)
        cv2.circle(out, (int(round(x)), int(round(y))), r, colour, -1, cv2.LINE_AA)
    if session.box is not None:
        x0, y0, x1, y1 = (int(v) for v in session.box)
        cv2.rectangle(out, (x0, y0), (x1 - 1, y1 - 1), (255, 215, 0), 2)
    if session.corner is not None:
        x, y = (int(v) for v in session.corner)
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


def _out_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="inpaint-app-"))


def save_png(array: np.ndarray, name: str) -> str:
    """Write ``array`` as a lossless PNG in a fresh temporary folder; return its path (for gr.File)."""
    from pipelines import io

    return str(io.save_png(_out_dir() / name, array))


# ---------------------------------------------------------------------------------------------------------
# Inpaint tab


@user_errors
def preview(editor, grow, feather, method):
    """api_name "preview": the blend band over the photo (see blend_band_preview)."""
    image = editor_image(editor)
    mask = editor_mask(editor)
    feather = None if feather is None or float(feather) < 0 else float(feather)
    return blend_band_preview(image, mask, int(grow), feather, method)


def preview_quiet(editor, grow, feather, method):
    """The preview for slider moves: None instead of an error while there is no photo or mask yet."""
    try:
        return preview.__wrapped__(editor, grow, feather, method)
    except ValueError:
        return None


def run_inpaint(editor, prompt, negative, mode, engine, model, strength, feather, grow, steps, guidance, seed,
                variants, method, session: Session | None = None, *, progress=None, device: str = "auto",
                default_model: str | None = None, cancel=None):
    """Inpaint the editor's photo where its mask is painted. Returns a dict:
    before_after (input, best), gallery [(image, caption)], heatmap, result_png, mask_png, info (markdown), session.
    ``feather`` < 0 means the method's default. ``progress(step, total)`` is called every denoising step."""
    from pipelines.inpaint import inpaint

    image = editor_image(editor)
    mask = editor_mask(editor)
    if engine not in ("diffusers",) + CLASSICAL_ENGINES:
        raise UserError(f"unknown engine {engine!r}: choose diffusers, telea or ns")
    feather = None if feather is None or float(feather) < 0 else float(feather)
    kwargs = dict(engine=engine, grow=int(grow), feather=feather, method=method, progress=progress, cancel=cancel)
    if engine == "diffusers":
        kwargs.update(
            model=(model or "").strip() or default_model, strength=float(strength), steps=int(steps),
            guidance=float(guidance), seed=parse_seed(seed), variants=int(variants), prefill=mode == "Remove",
            device=device,
        )
    if mode == "Remove" and engine == "diffusers" and not (prompt or "").strip():
        prompt, negative = REMOVE_PROMPT, REMOVE_NEGATIVE
    result = inpaint(image, mask, prompt or "", negative or "", **kwargs)

    best = result.images[0]
    gallery = [(img, _caption(k, s, r)) for k, (img, s, r) in enumerate(zip(result.images, result.seeds, result.reports))]
    heat = difference_heatmap(image, best)
    report = result.reports[0]
    lines = [
        f"**{result.engine}**" + (f" · {result.model}" if result.model else "")
        + f" · {result.timings.get('total', 0):.1f} s · mask grown by {int(grow)} px",
        f"best: seam excess {report['seam_excess']:.3f} (≤ 0.25), ring ΔE {report['ring_delta_e']:.2f} (≤ 2), "
        f"outside changed {report['outside_changed']:.2%} (must be 0)",
    ]
    lines += [f"note: {n}" for n in result.notes]
    if session is None:
        session = Session()
    session.result_input, session.result, session.result_mask = image, best, result.mask
    return {
        "before_after": (image, best),
        "gallery": gallery,
        "heatmap": heat,
        "result_png": save_png(best, "result.png"),
        "mask_png": save_png(result.mask.astype(np.uint8) * 255, "mask.png"),
        "info": "  \n".join(lines),
        "session": session,
    }


# ---------------------------------------------------------------------------------------------------------
# Mask tools (each returns a new editor value; the mask lives in the editor's layer)


@user_errors
def mask_tool(editor, tool: str, px: int = 8, upload=None):
    """api_name "mask_tool": grow / shrink by ``px``, invert, clear, or replace by an uploaded mask."""
    image = editor_image(editor)
    h, w = image.shape[:2]
    if tool == "upload":
        return editor_value(image, mask_from_upload(upload, (w, h)))
    if tool == "clear":
        return editor_value(image, None)
    mask = editor_mask(editor, allow_empty=tool == "invert")
    px = int(px)
    if tool == "grow":
        mask = masks.grow(mask, px)
    elif tool == "shrink":
        mask = masks.shrink(mask, px)
    elif tool == "invert":
        mask = masks.invert(mask)
    else:
        raise UserError(f"unknown mask tool {tool!r}")
    return editor_value(image, mask)


# ---------------------------------------------------------------------------------------------------------
# Click-to-segment


def new_image(editor, session: Session | None, resources: Resources | None = None, progress=None):
    """A photo arrived in the editor (upload or example): keep it in the session, reset the clicks, and start the
    SAM embedding (resources.segmenter().prepare) so the first click is fast. Returns (overlay, session, status)."""
    session = Session() if session is None else session
    try:
        image = editor_image(editor)
    except ValueError:
        session.image = None
        session.reset_prompts()
        return None, session, "Upload a photo to click on it."
    session.image = image
    session.reset_prompts()
    status = "Click on the object (positive), on what is not part of it (negative), or two corners of a box."
    if resources is not None:
        seg = resources.segmenter()
        if progress is not None:
            progress(0.1, desc=f"computing the image embedding ({seg.engine})")
        seg.prepare(image)
        status = f"Segmenter: {seg.engine}. " + status
    return segmentation_overlay(image, session), session, status


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
    """One click on the segmentation view. mode: "positive", "negative" or "box" (two clicks: the corners).
    Returns (overlay, session, choices, chosen index or None, status)."""
    if session is None or session.image is None:
        raise UserError("no image: upload a photo into the editor first")
    image = session.image
    h, w = image.shape[:2]
    x, y = float(min(max(x, 0), w - 1)), float(min(max(y, 0), h - 1))
    if mode == "box":
        if session.corner is None:
            session.corner = (x, y)
            return (segmentation_overlay(image, session, _current_mask(session)), session,
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
        return (segmentation_overlay(session.image, session, _current_mask(session)), session, None, None,
                "Add a positive click or a box: a negative click alone does not say which object.")
    previous = session.segmentation
    if previous is not None and (getattr(previous, "logits", None) is None) != (seg.engine.startswith("grabcut")):
        previous = None
    result = seg.segment(session.image, points=pts or None, labels=labels or None, box=session.box,
                         previous=previous, multimask=True)
    session.segmentation = result
    choices = candidate_choices(result)
    status = f"{result.engine}: {len(result.masks)} candidate(s); pick one and press “Use as mask”."
    return segmentation_overlay(session.image, session, result.mask), session, choices, int(result.best), status


def _current_mask(session: Session):
    return None if session.segmentation is None else session.segmentation.mask


def choose_candidate(session: Session, index):
    """Select multimask candidate ``index``; returns (overlay, session)."""
    if session is None or session.segmentation is None or index is None:
        return (None if session is None or session.image is None else segmentation_overlay(session.image, session),
                session)
    session.segmentation = session.segmentation.select(int(index))
    return segmentation_overlay(session.image, session, session.segmentation.mask), session


def use_segmentation(session: Session, editor, grow_preset: str = "none"):
    """Put the chosen candidate into the editor as its mask layer (optionally grown for replacement/removal)."""
    if session is None or session.segmentation is None:
        raise UserError("no segmentation yet: click on the object first")
    from pipelines import segment

    mask = np.asarray(session.segmentation.mask, bool)
    if grow_preset and grow_preset != "none":
        mask = segment.grow_mask(mask, grow_preset)
    image = session.image
    try:
        current = editor_image(editor)
        if current.shape == image.shape:
            image = current
    except ValueError:
        pass
    return editor_value(image, mask)


def clear_clicks(session: Session):
    session = Session() if session is None else session
    session.reset_prompts()
    overlay = None if session.image is None else segmentation_overlay(session.image, session)
    return overlay, session, "Clicks cleared."


def segment_api(image, positive, negative, box, resources: Resources):
    """api_name "segment": segment ``image`` from JSON lists of (x, y) clicks and an optional XYXY box.
    Returns (mask as HW uint8 0/255, engine name)."""
    import json

    rgb = to_rgb(image)

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
    """api_name "feather_lab". source "patch": a solid patch of ``colour`` pasted on ``photo`` (or the editor's
    photo) inside the editor's mask (a centred ellipse if none); "result": the last inpaint result composited
    back over its input at each width (where the removed object shows through)."""
    if source == "result":
        if session is None or session.result is None:
            raise UserError("no result yet: run Inpaint first, or use the solid patch")
        return feather_lab(session.result_input, session.result, session.result_mask, widths, methods, grow)
    if photo is not None:
        image = to_rgb(photo)
        mask = None
    else:
        image = editor_image(editor)
        mask = editor_mask(editor, allow_empty=True)
        mask = mask if mask.any() else None
    if mask is None:
        mask = default_lab_mask(image)
    return feather_lab(image, solid_patch(image, colour), mask, widths, methods, grow)


# ---------------------------------------------------------------------------------------------------------
# Outpaint tab

ASPECTS = {"none (amounts per side)": None, "1:1": "1:1", "4:3": "4:3", "3:2": "3:2", "16:9": "16:9",
           "9:16": "9:16", "2:3": "2:3"}


def run_outpaint(image, left, right, top, bottom, aspect, mode, prompt, negative, engine, model, steps, guidance,
                 seed, *, progress=None, device="auto", default_model=None, cancel=None):
    """api_name "outpaint": extend ``image`` by px per side, or to an aspect preset (original centred).
    Returns (original, result, result PNG path, info markdown)."""
    from pipelines.outpaint import outpaint

    rgb = to_rgb(image)
    ratio = ASPECTS.get(aspect, aspect)
    kwargs = dict(prompt=prompt or "", negative_prompt=negative or "", mode=mode, engine=engine, progress=progress,
                  cancel=cancel)
    if engine == "diffusers":
        kwargs.update(model=(model or "").strip() or default_model, steps=int(steps), guidance=float(guidance),
                      seed=parse_seed(seed), device=device)
    if ratio:
        res = outpaint(rgb, aspect=ratio, anchor="center", **kwargs)
    else:
        res = outpaint(rgb, *(int(v or 0) for v in (left, right, top, bottom)), **kwargs)
    out = res.image
    r = res.reports[0]
    pads = ", ".join(f"{k} {v}" for k, v in res.pads.items() if v)
    lines = [f"**{res.engine}** · {res.mode} · {rgb.shape[1]}x{rgb.shape[0]} → {out.shape[1]}x{out.shape[0]} "
             f"({pads}) · {len(res.joins)} join(s) · {res.timings.get('total', 0):.1f} s",
             f"seam excess {r['seam_excess']:.3f} · ring ΔE {r['ring_delta_e']:.2f}"]
    lines += [f"note: {n}" for n in res.notes]
    return rgb, out, save_png(out, "outpaint.png"), "  \n".join(lines)
