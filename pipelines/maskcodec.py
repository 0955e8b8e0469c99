"""A compact, exact text form of a mask, for moving masks between the server and the browser canvas.

Format (the browser's editor/static/mask_canvas.js reads and writes the same):

- ``"r:" + base64(runs)``: the mask read row-major (y, then x) as alternating runs of False and True pixels, the
  first run False (0 when the first pixel is True), each run length an unsigned LEB128 varint (7 bits a byte, low
  bits first, high bit set on every byte but the last). A photo-sized mask of a few shapes is a few kB.
- ``"b:" + base64(np.packbits(mask.ravel()))``: one bit a pixel, most significant bit first; the bound for masks
  with many runs (noise), never more than width x height / 8 bytes.

``encode`` writes whichever is shorter; ``decode`` reads both and checks the total against the shape, so a mask of
another size or a truncated text is a UserError, never a silently shifted mask. Masks are HW bool, True = repaint.
"""

from __future__ import annotations

import base64
import binascii

import numpy as np

from .errors import UserError

__all__ = ["encode", "decode", "runs", "varints", "read_varints"]


def runs(mask: np.ndarray) -> np.ndarray:
    """Alternating False/True run lengths of ``mask`` (any shape, read in C order), the first run False. int64."""
    flat = np.asarray(mask, bool).ravel()
    if flat.size == 0:
        return np.zeros(0, np.int64)
    edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], edges, [flat.size]))
    lengths = np.diff(bounds)
    if flat[0]:
        lengths = np.concatenate(([0], lengths))
    return lengths.astype(np.int64)


def varints(values: np.ndarray) -> bytes:
    """Unsigned LEB128 bytes of non-negative integers (vectorised: one pass per 7-bit group)."""
    v = np.asarray(values, np.int64)
    if v.size and v.min() < 0:
        raise ValueError("varints must be non-negative")
    nbytes = np.ones(v.size, np.int64)
    rest = v >> 7
    while rest.any():
        nbytes += rest > 0
        rest >>= 7
    out = np.empty(int(nbytes.sum()), np.uint8)
    starts = np.concatenate(([0], np.cumsum(nbytes)[:-1]))
    for k in range(int(nbytes.max()) if v.size else 0):
        has = nbytes > k
        byte = (v[has] >> (7 * k)) & 0x7F
        more = nbytes[has] > k + 1
        out[starts[has] + k] = (byte | (more.astype(np.int64) << 7)).astype(np.uint8)
    return out.tobytes()


def read_varints(data: bytes) -> np.ndarray:
    """The integers of unsigned LEB128 ``data``; a UserError when the last one is cut off. int64."""
    b = np.frombuffer(data, np.uint8)
    if b.size == 0:
        return np.zeros(0, np.int64)
    last = (b & 0x80) == 0
    if not last[-1]:
        raise UserError("the mask data is cut off: draw the mask again")
    ends = np.flatnonzero(last)
    index = np.repeat(np.arange(ends.size), np.diff(np.concatenate(([-1], ends))))  # which value each byte is in
    position = np.arange(b.size) - np.concatenate(([0], ends[:-1] + 1))[index]
    if position.max() > 8:
        raise UserError("the mask data is damaged (a run longer than 2^63): draw the mask again")
    parts = (b & 0x7F).astype(np.int64) << (7 * position)
    return np.add.reduceat(parts, np.concatenate(([0], ends[:-1] + 1)))


def encode(mask: np.ndarray) -> str:
    """The text form of an HW bool mask ("r:" runs or "b:" bits, whichever is shorter)."""
    m = np.asarray(mask, bool)
    if m.ndim != 2:
        raise ValueError(f"a mask is HW, got shape {m.shape}")
    run_bytes = varints(runs(m))
    if len(run_bytes) <= (m.size + 7) // 8:
        return "r:" + base64.b64encode(run_bytes).decode("ascii")
    return "b:" + base64.b64encode(np.packbits(m.ravel()).tobytes()).decode("ascii")


def decode(text: str, shape: tuple[int, int]) -> np.ndarray:
    """The HW bool mask of ``shape`` = (height, width) in ``text`` (see the module docstring). A text of another
    size, damaged or of an unknown kind is a one-line UserError."""
    h, w = (int(v) for v in shape)
    if not isinstance(text, str) or text[:2] not in ("r:", "b:"):
        raise UserError("the mask is not in the canvas's format: reload the page and draw it again")
    try:
        data = base64.b64decode(text[2:], validate=True)
    except (binascii.Error, ValueError):
        raise UserError("the mask data is damaged (not base64): draw the mask again") from None
    n = h * w
    if text[0] == "b":
        if len(data) != (n + 7) // 8:
            raise UserError(f"the mask is for another picture size (expected {w}x{h}): draw the mask again")
        return np.unpackbits(np.frombuffer(data, np.uint8), count=n).astype(bool).reshape(h, w)
    lengths = read_varints(data)
    if lengths.size and int(lengths.max()) > n:  # before summing: huge runs would wrap the int64 sum around
        raise UserError(f"the mask is for another picture size (expected {w}x{h}): draw the mask again")
    if int(lengths.sum()) != n:  # each run <= n < 2^27: the sum cannot wrap
        raise UserError(f"the mask is for another picture size (expected {w}x{h}): draw the mask again")
    values = np.zeros(lengths.size, bool)
    values[1::2] = True
    return np.repeat(values, lengths).reshape(h, w)
