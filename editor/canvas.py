"""The mask canvas: one gr.HTML component with its own JavaScript (editor/static/mask_canvas.js), and the values the
server and the canvas exchange.

The canvas holds the mask at the photo's full size (one alpha byte a pixel, 0 or 255) and shows the photo as a
picture only (a display-size JPEG): the mask the server reads is exactly the mask the canvas shows, and nothing
the browser renders is ever used as pixels of the original. Masks travel as pipelines.maskcodec text.

Values (JSON objects):
- from the canvas (an event's input): ``{"w", "h", "key", "rev", "mask", "area"}``; ``None`` before a photo.
- to the canvas (an event's output), each with an ``op``:
  ``load`` (photo data URL, w, h, key, optional mask: a new photo, history cleared), ``mask`` (the whole mask
  replaced, one undo step; ``base`` = the rev it was computed from: a canvas edited since ignores it and says so),
  ``proposal`` (segmentation candidates [{label, mask}], best, info, seq: shown in blue until the user adds,
  subtracts or discards), ``band`` (blend band overlay data URL or None), ``result`` (the result's display copy
  for the before/after view), ``frame`` (outpaint: the new canvas around the photo, pads [l, t, r, b] or None),
  ``notice`` (a status line).
Every value to the canvas carries ``key`` (the photo's content hash) and a fresh ``seq``/``nonce`` so that two
equal outputs still reach the canvas.
"""

from __future__ import annotations

import base64
import itertools
from pathlib import Path

import cv2
import gradio as gr
import numpy as np

from pipelines import maskcodec
from pipelines.errors import UserError

STATIC = Path(__file__).resolve().parent / "static"
_nonce = itertools.count(1)


def _read(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


class MaskCanvas(gr.HTML):
    """The mask canvas. Custom events (from the JavaScript): ``segment`` (data: points [[x, y]], labels [1|0], box
    XYXY or None, seq), ``band`` (the user turned the blend band on) and ``frame`` (data: pads [left, top, right,
    bottom] after dragging an outpaint edge)."""

    def __init__(self, **kwargs):
        super().__init__(
            value=None,
            html_template=_read("mask_canvas.html"),
            css_template=_read("mask_canvas.css"),
            js_on_load=_read("mask_canvas.js"),
            apply_default_css=False,
            **kwargs,
        )

    def api_info(self):
        return {"type": "object", "description": "mask canvas value: {w, h, key, rev, mask (pipelines.maskcodec "
                                                 "text), area}; outputs carry an op (load, mask, proposal, band, "
                                                 "result, notice)"}

    def example_payload(self):
        return None

    def example_value(self):
        return None


# ---------------------------------------------------------------------------------------------------------
# Values to the canvas


def data_url(image: np.ndarray, fmt: str = "jpeg", quality: int = 90) -> str:
    """A data URL of an HWC uint8 RGB (jpeg, png) or RGBA (png) image."""
    a = np.ascontiguousarray(image)
    if a.ndim == 3 and a.shape[2] == 4:
        bgr, fmt = cv2.cvtColor(a, cv2.COLOR_RGBA2BGRA), "png"
    elif a.ndim == 3:
        bgr = cv2.cvtColor(a, cv2.COLOR_RGB2BGR)
    else:
        bgr = a
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if fmt == "jpeg" else [cv2.IMWRITE_PNG_COMPRESSION, 1]
    ok, buf = cv2.imencode("." + ("jpg" if fmt == "jpeg" else "png"), bgr, params)
    if not ok:
        raise RuntimeError(f"OpenCV could not encode the {fmt} preview")
    return f"data:image/{fmt};base64," + base64.b64encode(buf.tobytes()).decode("ascii")


def load_value(display: np.ndarray, size: tuple[int, int], key: str, mask: np.ndarray | None = None) -> dict:
    """A new photo on the canvas: ``display`` (its display copy, HWC uint8 RGB), ``size`` = (width, height) of the
    photo itself, ``key`` its content hash, ``mask`` (HW bool at full size) to start from."""
    w, h = size
    value = {"op": "load", "photo": data_url(display), "w": int(w), "h": int(h), "key": key,
             "nonce": next(_nonce), "mask": None}
    if mask is not None and mask.any():
        value["mask"] = maskcodec.encode(_full(mask, h, w))
    return value


def mask_value(mask: np.ndarray, key: str, base: int | None = None, note: str = "") -> dict:
    """Replace the canvas's mask by ``mask`` (HW bool, full size): one undo step on the canvas. ``base``: the rev
    of the canvas value the mask was computed from (None: apply whatever the user did meanwhile)."""
    return {"op": "mask", "mask": maskcodec.encode(np.asarray(mask, bool)), "key": key, "base": base,
            "note": note, "nonce": next(_nonce)}


def proposal_value(candidates: list[tuple[str, np.ndarray]], best: int, key: str, seq, info: str = "",
                   colour: tuple[int, int, int] | None = None) -> dict:
    """Segmentation candidates (label, HW bool mask at full size) shown over the mask (in ``colour``, RGB; blue by
    default) until the user adds, subtracts or discards; ``seq`` echoes the canvas's request so a stale answer is
    ignored (None: always shown)."""
    return {"op": "proposal", "candidates": [{"label": label, "mask": maskcodec.encode(m)} for label, m in candidates],
            "best": int(best), "key": key, "seq": seq, "info": info, "nonce": next(_nonce),
            "colour": None if colour is None else [int(c) for c in colour]}


def band_value(overlay: np.ndarray | None, key: str, seq=None) -> dict:
    """The blend band overlay (HWC uint8 RGBA at display size, transparent off the bands) or None to hide it.
    ``seq`` echoes the Band button's request (a late answer to a request taken back is ignored); None when the
    sliders moved."""
    return {"op": "band", "band": None if overlay is None else data_url(overlay, "png"), "key": key,
            "seq": seq, "nonce": next(_nonce)}


def result_value(display: np.ndarray, key: str) -> dict:
    """The result's display copy (HWC uint8 RGB): the canvas turns to its before/after view."""
    return {"op": "result", "result": data_url(display), "key": key, "nonce": next(_nonce)}


def frame_value(pads: dict | None, key: str, note: str = "") -> dict:
    """The outpaint frame: ``pads`` {"left", "top", "right", "bottom"} px around the photo (None: back to the mask
    canvas). The canvas shows the new canvas, its edges draggable (each drag sends a "frame" event)."""
    order = ("left", "top", "right", "bottom")
    return {"op": "frame", "pads": None if pads is None else [int(pads[k]) for k in order], "key": key,
            "note": note, "nonce": next(_nonce)}


def notice_value(text: str, key: str | None = None) -> dict:
    return {"op": "notice", "text": text, "key": key, "nonce": next(_nonce)}


def _full(mask: np.ndarray, h: int, w: int) -> np.ndarray:
    m = np.asarray(mask, bool)
    if m.shape != (h, w):
        raise ValueError(f"the mask is {m.shape[1]}x{m.shape[0]}, the photo {w}x{h}")
    return m


# ---------------------------------------------------------------------------------------------------------
# Values from the canvas


def read_mask(value, size: tuple[int, int], key: str | None = None, *, allow_empty: bool = False) -> np.ndarray:
    """The HW bool mask (True = repaint) in a canvas value, for the photo of ``size`` = (width, height) and content
    hash ``key``. A value for another photo, a damaged one or an empty mask (unless ``allow_empty``) is a one-line
    UserError."""
    from pipelines import masks

    w, h = size
    if value is not None and not isinstance(value, dict):
        raise UserError(f"not a canvas value (a JSON object with w, h and mask), got {type(value).__name__}: "
                        "see editor.canvas.canvas_value")
    if not value or value.get("op") not in (None, ""):
        if value and isinstance(value, dict) and value.get("op"):
            raise UserError("the canvas is still updating: try again in a moment")
        if allow_empty:
            return np.zeros((h, w), bool)
        raise UserError(masks.EMPTY_MESSAGE)
    if (value.get("w"), value.get("h")) != (w, h) or (key is not None and value.get("key") not in (None, key)):
        raise UserError("the canvas shows another photo than the one loaded: upload the photo again")
    text = value.get("mask")
    mask = np.zeros((h, w), bool) if not text else maskcodec.decode(text, (h, w))
    if not allow_empty and not mask.any():
        raise UserError(masks.EMPTY_MESSAGE)
    return mask


def canvas_value(mask: np.ndarray, key: str | None = None, rev: int = 0) -> dict:
    """What the canvas sends for ``mask`` (HW bool): for API clients and tests that drive the endpoints without a
    browser."""
    m = np.asarray(mask, bool)
    return {"w": int(m.shape[1]), "h": int(m.shape[0]), "key": key, "rev": int(rev), "mask": maskcodec.encode(m),
            "area": int(m.sum())}
