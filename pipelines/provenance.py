"""The settings a result was made with, written into the result's PNG as one iTXt chunk.

    record = settings_record(operation="inpaint", engine="diffusers", model=result.model, prompt="a bench",
                             negative="", seed=result.seeds[0], strength=1.0, steps=30, guidance=7.5, grow=0,
                             feather=None, method="seamless", mask=mask, report=result.reports[0])
    io.save_png("result.png", result.images[0], text=png_text(record))
    read_settings("result.png")   # -> the record (a dict), or None for a file without one

The chunk's keyword is KEY ("inpaint-app:settings"); its text is the record as one JSON object (UTF-8):

    version      RECORD_VERSION, the version of this format (an int)
    app_version  pipelines.__version__, or null when the package has none
    created      UTC time of the record, ISO 8601 to the second ("2025-01-31T12:00:00+00:00")
    operation    "inpaint", "edit", "outpaint", "blend", ...
    engine, model, prompt, negative, seed, strength, steps, guidance, grow, feather, method
                 the settings as given to the operation (null = not set: the operation's default; seed is the
                 seed actually used, null for engines without one)
    mask         {"shape": [height, width], "pixels": True pixels, "sha256": mask_digest(mask)}, or null: the
                 mask as given, before any grow (outpaint: the new area of the canvas)
    report       the seam report (pipelines.seams.seam_report) with floats rounded to 6 digits, non-finite
                 values as null; or null
    extra        the operation's other settings (a JSON object), or null

Everything here is a pure function of its arguments (the timestamp aside); nothing is logged.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import math
import os
from datetime import UTC, datetime

import numpy as np

from .errors import UserError

KEY = "inpaint-app:settings"
"""The PNG text keyword the record is written under."""

RECORD_VERSION = 1
"""The version of the record format above; raised when a field changes meaning."""

_DIGITS = 6  # report floats are rounded to this many decimals


def mask_digest(mask: np.ndarray) -> str:
    """sha256 hex digest of ``np.packbits(mask)``: mask HW bool (True = repaint), packed in C (row-major) order,
    8 pixels a byte, the first pixel in the high bit, the last byte padded with zeros. The same mask gives the
    same digest whatever file it came from (1-bit, 8-bit, alpha); the shape is recorded beside it. A mask that is
    not a 2-D bool array is a TypeError (convert with masks.to_mask first)."""
    mask = np.asarray(mask)
    if mask.dtype != bool or mask.ndim != 2:
        raise TypeError(f"mask must be an HW bool array, got shape {mask.shape} and dtype {mask.dtype}")
    return hashlib.sha256(np.packbits(mask).tobytes()).hexdigest()


def file_sha256(path) -> str:
    """sha256 hex digest of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pixels_digest(array: np.ndarray) -> str:
    """sha256 of an image's pixels (its shape, dtype and C-order bytes): the same pixels give the same digest
    whatever the file around them (the PNG's settings record holds its creation time)."""
    array = np.ascontiguousarray(array)
    digest = hashlib.sha256(f"{array.shape}{array.dtype.str}".encode())
    digest.update(array.tobytes())
    return digest.hexdigest()


def settings_record(*, operation, engine, model, prompt, negative, seed, strength, steps, guidance, grow, feather,
                    method, mask, report, extra=None) -> dict:
    """The settings record of one result (the format is in the module docstring): a JSON-ready dict.

    operation: str; engine, model, prompt, negative, method: str or None; seed, steps, grow: int or None;
    strength, guidance, feather: float or None; mask: HW bool array (True = repaint) or None; report: the seam
    report dict or None; extra: a dict of JSON-able values (numpy scalars and tuples are converted) or None.
    A value of another type (or one JSON cannot hold) is a TypeError; a non-finite float setting, a fractional
    int setting or an empty operation is a ValueError.
    """
    if not isinstance(operation, str) or not operation:
        raise ValueError(f"operation must be a non-empty str, got {operation!r}")
    record = {
        "version": RECORD_VERSION,
        "app_version": _package_version(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "operation": operation,
    }
    for name, value, kind in (
        ("engine", engine, str), ("model", model, str), ("prompt", prompt, str), ("negative", negative, str),
        ("seed", seed, int), ("strength", strength, float), ("steps", steps, int), ("guidance", guidance, float),
        ("grow", grow, int), ("feather", feather, float), ("method", method, str),
    ):
        record[name] = _setting(name, value, kind)
    if mask is None:
        record["mask"] = None
    else:
        digest = mask_digest(mask)
        record["mask"] = {"shape": [int(n) for n in np.shape(mask)], "pixels": int(np.count_nonzero(mask)),
                          "sha256": digest}
    record["report"] = None if report is None else _plain(dict(report), "report", digits=_DIGITS)
    record["extra"] = None if extra is None else _plain(dict(extra), "extra")
    return record


def png_text(record: dict) -> dict[str, str]:
    """{KEY: the record as compact JSON (UTF-8, not ASCII-escaped)}, the ``text`` argument of io.save_png."""
    try:
        return {KEY: json.dumps(record, ensure_ascii=False, separators=(",", ":"), allow_nan=False)}
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the settings record cannot be written as JSON: {exc}") from None


def read_settings(path_or_picture) -> dict | None:
    """The settings record of an image: a path (str or os.PathLike; read with io.read) or an io.Picture.

    Returns the record as a dict, or None when the image has no KEY text (not a PNG, or not written with one).
    A KEY text that is not a JSON object is a one-line UserError naming the file.
    """
    from . import io

    if isinstance(path_or_picture, (str, os.PathLike)):
        picture = io.read(path_or_picture)
    elif isinstance(path_or_picture, io.Picture):
        picture = path_or_picture
    else:
        raise TypeError(f"read_settings takes a path or an io.Picture, got {type(path_or_picture).__name__}")
    raw = picture.text.get(KEY)
    if raw is None:
        return None
    try:
        record = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise UserError(f"{picture.name}: its {KEY} text is not valid JSON ({exc.msg}, char {exc.pos})") from None
    if not isinstance(record, dict):
        raise UserError(f"{picture.name}: its {KEY} text is not a JSON object (got {type(record).__name__})")
    return record


# ----------------------------------------------------------------------------------------------------------
# Helpers


def _package_version() -> str | None:
    version = getattr(importlib.import_module(__package__ or "pipelines"), "__version__", None)
    return None if version is None else str(version)


def _setting(name: str, value, kind: type):
    """``value`` as a plain ``kind`` (numpy scalars converted; an int stands for a float), or None."""
    if value is None:
        return None
    if kind is str:
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a str or None, got {type(value).__name__}")
        return value
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number or None, got {value!r}")
    if kind is int:
        if isinstance(value, (float, np.floating)) and not float(value).is_integer():
            raise ValueError(f"{name} must be a whole number, got {value!r}")
        return int(value)
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def _plain(value, where: str, digits: int | None = None):
    """``value`` with numpy types, tuples and nested dicts made JSON-ready; floats rounded to ``digits`` when given,
    non-finite floats as None. Anything else JSON cannot hold is a ValueError naming ``where``."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if not math.isfinite(value):
            return None
        return round(value, digits) if digits is not None else value
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{where} keys must be str, got {k!r}")
            out[k] = _plain(v, f"{where}.{k}", digits)
        return out
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v, f"{where}[]", digits) for v in (value.tolist() if isinstance(value, np.ndarray) else value)]
    raise TypeError(f"{where} holds a {type(value).__name__}, which JSON cannot hold")
