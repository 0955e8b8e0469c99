"""Reading and writing images at the edges of the program (CLI, app, benchmarks).

Two forms of an image:

- native: the file's own pixels, as decoded: HW (L), HWC with 2 (LA), 3 (RGB) or 4 (RGBA) channels, uint8 or
  uint16 (16-bit PNG/TIFF). The contract (pixels outside the mask byte-identical) holds on this form.
- working: the 8-bit copy the engines work on: HWC uint8 RGB, HWC uint8 RGBA, or HW uint8 (L). LA becomes RGBA
  (grey repeated); 16-bit values become round(v / 257).

``read(path)`` decodes a file into a Picture (native pixels, EXIF orientation applied, the ICC profile kept as
bytes, notes for the user); ``to_working`` makes the 8-bit copy; ``from_working`` writes an edited working copy
back into the native form, touching only the mask's pixels. ``save_png`` writes either form losslessly, with
optional text (PNG iTXt chunks, e.g. a result's settings: see pipelines.provenance); ``read`` gives a PNG's text
back as ``Picture.text``.

Limits apply before any pixel is decoded: the header's size against MAX_PIXELS, and Pillow's own decompression
bomb guard, which stays on for the whole process (it is never switched off here). Every failure to read is a
one-line UserError.
"""

from __future__ import annotations

import logging
import os
import struct
import tempfile
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import UserError

log = logging.getLogger(__name__)

MAX_PIXELS = 64_000_000
"""Largest image we accept (64 megapixels); larger ones are refused with a clear error."""

PNG_COMPRESSION = 1
"""zlib level for the PNGs we write: level 1 encodes a 12 MP photo several times faster than PIL's default 6
for files ~10-20% larger (bench/memory.py measures the encode)."""

_READ_ERRORS = (OSError, SyntaxError, ValueError, EOFError, zlib.error, struct.error, IndexError, KeyError,
                TypeError, Image.DecompressionBombError)

# EXIF orientation -> numpy operations (the same transforms as PIL's ImageOps.exif_transpose)
_ORIENT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],
    8: lambda a: np.rot90(a, 1),
}


def check_pixels(width: int, height: int, what: str = "image") -> None:
    """Raise UserError when ``width * height`` exceeds MAX_PIXELS."""
    if width * height > MAX_PIXELS:
        raise UserError(
            f"the {what} is {width}x{height} = {width * height / 1e6:.1f} megapixels; "
            f"the limit is {MAX_PIXELS / 1e6:.0f} megapixels"
        )


# ----------------------------------------------------------------------------------------------------------
# Arrays: native and working forms


def to_array(image: Image.Image, keep_alpha: bool = True) -> np.ndarray:
    """A PIL image as a working array: HWC uint8 RGB, HWC uint8 RGBA (when it has alpha and keep_alpha), or HW
    uint8 (L). 16-bit greyscale is scaled (v / 257), not stretched."""
    return to_working(native_array(image), keep_alpha=keep_alpha)


def native_array(image: Image.Image) -> np.ndarray:
    """A decoded PIL image's pixels in their own format (see the module docstring). Palette images become RGB or
    RGBA (their colours, exactly); CMYK, YCbCr and other colour spaces become RGB (PIL's conversion)."""
    mode = image.mode
    if mode in ("L", "LA", "RGB", "RGBA"):
        return np.asarray(image).copy()
    if mode == "1":
        return np.asarray(image.convert("L")).copy()
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        return np.asarray(image).astype(np.uint16)
    if mode == "I":
        a = np.asarray(image)
        if a.size and (a.min() < 0 or a.max() > 65535):
            raise UserError("32-bit integer images are not supported; save it as a 16-bit PNG or TIFF")
        return a.astype(np.uint16)
    if mode == "F":
        raise UserError("32-bit float images are not supported; save it as a 16-bit PNG or TIFF")
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in image.info
        return np.asarray(image.convert("RGBA" if has_alpha else "RGB")).copy()
    if mode in ("RGBa", "La"):
        return np.asarray(image.convert("RGBA" if mode == "RGBa" else "LA")).copy()
    has_alpha = any(band in ("A", "a") for band in image.getbands())
    try:
        return np.asarray(image.convert("RGBA" if has_alpha else "RGB")).copy()
    except ValueError:
        raise UserError(f"images in mode {mode} are not supported; save it as PNG or JPEG") from None


def check_native(image, name: str = "image", *, min_side: int = 1, limit: bool = True,
                 working: bool = False) -> np.ndarray:
    """An image array in its native form (PIL images are converted), checked: uint8 or uint16; HW, HWC with 1
    (taken as HW), 2, 3 or 4 channels; sides >= ``min_side``; at most MAX_PIXELS with ``limit``. With
    ``working`` only the working forms pass: uint8 HW, RGB or RGBA."""
    if isinstance(image, Image.Image):
        image = to_array(image) if working else native_array(image)
    a = np.asarray(image)
    dtypes, channels = ((np.uint8,), (3, 4)) if working else ((np.uint8, np.uint16), (2, 3, 4))
    if a.dtype not in dtypes:
        raise UserError(f"{name} must be {' or '.join(np.dtype(d).name for d in dtypes)}, got {a.dtype}")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in channels):
        kinds = "HWC RGB or HWC RGBA" if working else "HWC LA, RGB or RGBA"
        raise UserError(f"{name} must be HW, {kinds}, got shape {a.shape}")
    if min(a.shape[:2]) < min_side:
        raise UserError(f"{name} is too small ({a.shape[1]}x{a.shape[0]}; at least {min_side} px a side)")
    if limit:
        check_pixels(a.shape[1], a.shape[0], what=name)
    return a


def as_image(image, name: str = "image", *, min_side: int = 1, limit: bool = True) -> np.ndarray:
    """Check an image given as an array or a PIL image and return it as a working array.

    Returns HWC uint8 RGB / RGBA or HW uint8 (an HxWx1 array is taken as HW). Raises a one-line UserError
    naming ``name`` for another dtype or shape, a side shorter than ``min_side`` px, or (with ``limit``)
    more than MAX_PIXELS. uint16 and LA arrays are refused here: entry points that take them convert with
    to_working first.
    """
    return check_native(image, name, min_side=min_side, limit=limit, working=True)


def _to8(a: np.ndarray) -> np.ndarray:
    if a.dtype == np.uint8:
        return a
    return ((a.astype(np.uint32) + 128) // 257).astype(np.uint8)  # round(v / 257)


def to_working(native: np.ndarray, keep_alpha: bool = True) -> np.ndarray:
    """The 8-bit working copy of a native array: HW uint8, HWC uint8 RGB or RGBA (LA -> RGBA, grey repeated;
    uint16 -> round(v / 257)). Without ``keep_alpha`` the alpha channel is dropped (RGB or L). An array that is
    already in working form is returned as is (not copied): callers must not write to the result."""
    a = np.asarray(native)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim == 3 and a.shape[2] == 2:
        if not keep_alpha:
            return _to8(a[..., 0]).copy()
        grey, alpha = _to8(a[..., 0]), _to8(a[..., 1])
        return np.dstack([grey, grey, grey, alpha])
    if a.ndim == 3 and a.shape[2] == 4 and not keep_alpha:
        a = np.ascontiguousarray(a[..., :3])
    return _to8(a)


def to_rgb(native: np.ndarray) -> np.ndarray:
    """The 8-bit working copy as HWC uint8 RGB, what engines, segmenters and the seam report see: to_working with
    the alpha channel dropped and grey repeated in three channels. Not copied when already so: do not write to it."""
    work = to_working(native, keep_alpha=False)
    return np.repeat(work[:, :, None], 3, axis=2) if work.ndim == 2 else work


def from_working(native: np.ndarray, working: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``native`` with the pixels where ``mask`` (HW bool) is True taken from ``working`` (an edited working copy
    of the same size, the channels to_working gives); every other pixel is the native pixel, byte for byte.

    Channels are converted as to_working made them (RGBA -> LA takes the ITU-R 601 luma of the colour and the
    alpha); 8-bit values go to 16 bits as v * 257.
    """
    native = np.asarray(native)
    working = np.asarray(working)
    if native.shape[:2] != working.shape[:2] or mask.shape != native.shape[:2]:
        raise ValueError(f"shapes differ: native {native.shape}, working {working.shape}, mask {mask.shape}")
    if native.dtype == np.uint8 and native.shape == working.shape:
        out = native.copy()
        out[mask] = working[mask]
        return out
    values = working[mask]
    if native.ndim == 2 and values.ndim == 2:  # colour working copy into greyscale: luma
        values = _luma(values[:, :3])
    elif native.ndim == 3 and native.shape[2] == 2:
        if values.ndim == 1:
            values = np.stack([values, np.full_like(values, 255)], axis=1)
        else:
            alpha = values[:, 3] if values.shape[1] == 4 else np.full(len(values), 255, np.uint8)
            values = np.stack([_luma(values[:, :3]), alpha], axis=1)
    elif native.ndim == 3 and values.ndim == 1:
        values = np.repeat(values[:, None], native.shape[2], axis=1)
        if native.shape[2] == 4:
            values[:, 3] = 255
    elif native.ndim == 3 and values.shape[1] != native.shape[2]:
        if native.shape[2] == 4:  # RGB into RGBA: repainted pixels are opaque
            values = np.concatenate([values, np.full((len(values), 1), 255, np.uint8)], axis=1)
        else:
            values = values[:, :3]
    if native.dtype == np.uint16:
        values = values.astype(np.uint16) * np.uint16(257)
    out = native.copy()
    out[mask] = values
    return out


def _luma(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma of N x 3 uint8 RGB (OpenCV's RGB2GRAY rounding), uint8."""
    import cv2

    if not len(rgb):  # an empty mask: OpenCV refuses empty arrays
        return np.zeros(0, np.uint8)
    return cv2.cvtColor(np.ascontiguousarray(rgb.reshape(-1, 1, 3)), cv2.COLOR_RGB2GRAY).reshape(-1)


# ----------------------------------------------------------------------------------------------------------
# Reading files


@dataclass
class Picture:
    """A decoded image file.

    pixels       the native array (see the module docstring), EXIF orientation applied
    name         the file's name, for messages
    mode         the file's PIL mode ("RGB", "I;16", "P", "CMYK", ...; "RGB;16" for 16-bit colour)
    orientation  the EXIF orientation that was applied (1 = none)
    icc_profile  the embedded ICC profile as bytes (kept for the output), or None; pixels are never converted
    notes        what was done to read it, for the user (e.g. "CMYK converted to RGB")
    text         a PNG's text chunks (tEXt, zTXt, iTXt) as {keyword: text}; empty for other formats or none.
                 16-bit colour PNGs (decoded by OpenCV) give the chunks before the image data, where
                 encode_png writes them
    """

    pixels: np.ndarray
    name: str = "image"
    mode: str = ""
    orientation: int = 1
    icc_profile: bytes | None = None
    notes: list[str] = field(default_factory=list)
    text: dict[str, str] = field(default_factory=dict)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return self.pixels.shape[1], self.pixels.shape[0]

    def working(self, keep_alpha: bool = True) -> np.ndarray:
        """The 8-bit working copy (to_working)."""
        return to_working(self.pixels, keep_alpha=keep_alpha)

    def rgb(self) -> np.ndarray:
        """The 8-bit working copy as HWC uint8 RGB (to_rgb)."""
        return to_rgb(self.pixels)


def _check_file(path: Path) -> None:
    if not path.exists():
        raise UserError(f"no such image file: {path}")
    if not path.is_file():
        raise UserError(f"not a file: {path}")
    if path.stat().st_size == 0:
        raise UserError(f"{path.name} is empty (0 bytes)")


def _open(path: Path) -> Image.Image:
    """Open (header only) with the bomb guard on and our own limit checked before any decode."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise UserError(f"{path.name} is refused: {_bomb_size(exc)}the limit is {MAX_PIXELS / 1e6:.0f} megapixels "
                        "(a decompression bomb or a very large image)") from None
    except UnidentifiedImageError:
        raise UserError(f"cannot read {path.name}: not an image file Pillow knows (PNG, JPEG, TIFF, WebP ...)") from None
    except _READ_ERRORS as exc:
        raise UserError(f"cannot read {path.name} ({type(exc).__name__}: {_short(exc)})") from None
    try:
        check_pixels(*image.size, what=f"image {path.name}")
    except UserError:
        image.close()
        raise
    return image


def _bomb_size(exc: BaseException) -> str:
    import re

    found = re.search(r"\((\d+) pixels\)", str(exc))
    return f"its header claims {int(found.group(1)) / 1e6:,.0f} megapixels; " if found else ""


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _rawmode(image: Image.Image) -> str:
    try:
        args = image.tile[0][3]
    except (IndexError, TypeError, AttributeError):
        return ""
    return str(args[0] if isinstance(args, tuple) and args else args)


def _orientation(image: Image.Image) -> int:
    value = image.getexif().get(0x0112, 1)
    return int(value) if isinstance(value, int) and 1 <= value <= 8 else 1


def _png_text(image: Image.Image) -> dict[str, str]:
    """A PNG's text chunks as {keyword: text} ({} for other formats), never decoding pixels for them: a decoded
    image gives every chunk (Image.text); one not decoded yet gives those Pillow's chunk reader met so far (all
    the chunks before the image data)."""
    if image.format != "PNG":
        return {}
    stream = getattr(image, "png", None)  # Pillow's chunk reader; dropped once a still image is decoded
    text = stream.im_text if stream is not None and hasattr(stream, "im_text") else image.text
    return {str(k): str(v) for k, v in text.items()}


def _decode_16bit_colour(path: Path) -> np.ndarray:
    """16-bit RGB/RGBA (Pillow reads these as 8-bit): OpenCV keeps all 16 bits. The size was checked already."""
    import cv2

    data = np.fromfile(path, dtype=np.uint8)
    a = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if a is None:
        raise UserError(f"cannot read {path.name} (a 16-bit colour image OpenCV cannot decode)")
    if a.ndim == 3 and a.shape[2] == 3:
        return cv2.cvtColor(a, cv2.COLOR_BGR2RGB)
    if a.ndim == 3 and a.shape[2] == 4:
        return cv2.cvtColor(a, cv2.COLOR_BGRA2RGBA)
    return a


def read(path: str | os.PathLike) -> Picture:
    """Decode an image file into a Picture: native pixels, EXIF orientation applied, nothing else changed.

    Refused with a one-line UserError: a missing, empty or non-image file; a header over MAX_PIXELS (checked
    before any decode; Pillow's bomb guard stays on); a truncated or corrupt file; 32-bit float images.
    """
    path = Path(path)
    _check_file(path)
    image = _open(path)
    notes: list[str] = []
    try:
        with image:
            mode = image.mode
            raw = _rawmode(image)
            if mode in ("RGB", "RGBA", "LA") and ";16" in raw:
                text = _png_text(image)
                orientation = _orientation(image)
                pixels = _decode_16bit_colour(path)
                mode = f"{mode};16"
                if pixels.ndim == 3 and pixels.shape[2] == 4 and mode == "LA;16":
                    notes.append("16-bit grey with alpha is read as 16-bit RGBA")
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("error", Image.DecompressionBombWarning)
                    image.load()
                # EXIF only after a full decode: a failed decode inside getexif() would leave a blank image
                # that a later load() returns without complaint
                orientation = _orientation(image)
                text = _png_text(image)
                pixels = native_array(image)
                if mode in ("CMYK", "YCbCr", "LAB", "HSV"):
                    notes.append(f"{mode} converted to RGB")
                elif mode in ("P", "PA"):
                    notes.append("palette colours expanded to " + ("RGBA" if pixels.shape[-1] == 4 else "RGB"))
                elif mode == "1":
                    notes.append("1-bit image read as greyscale 0/255")
            icc = image.info.get("icc_profile")
    except UserError:
        raise
    except _READ_ERRORS as exc:
        log.debug("cannot decode %s", path, exc_info=True)
        raise UserError(f"cannot read {path.name}: the file is truncated or corrupt "
                        f"({type(exc).__name__}: {_short(exc)})") from None
    if orientation in _ORIENT:
        pixels = np.ascontiguousarray(_ORIENT[orientation](pixels))
        notes.append(f"EXIF orientation {orientation} applied")
    return Picture(pixels=pixels, name=path.name, mode=mode, orientation=orientation, icc_profile=icc, notes=notes,
                   text=text)


def open_image(path: str | os.PathLike) -> Image.Image:
    """Open an image file with EXIF orientation applied, refusing unreadable files and images over MAX_PIXELS
    (checked from the header, before decoding). Returns a loaded PIL image in the file's own mode."""
    path = Path(path)
    _check_file(path)
    image = _open(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
        image = ImageOps.exif_transpose(image)
    except _READ_ERRORS as exc:
        raise UserError(f"cannot read {path.name}: the file is truncated or corrupt "
                        f"({type(exc).__name__}: {_short(exc)})") from None
    return image


def load_image(path: str | os.PathLike, keep_alpha: bool = True) -> np.ndarray:
    """Load an image file as a working array (see to_working), EXIF orientation applied."""
    return read(path).working(keep_alpha=keep_alpha)


# ----------------------------------------------------------------------------------------------------------
# Writing files


MAX_TEXT_BYTES = 1 << 20
"""Largest text value encode_png writes (UTF-8 bytes): Pillow refuses to read back larger compressed text."""

_COMPRESS_TEXT_FROM = 1024  # UTF-8 bytes; shorter values are stored uncompressed


def _check_text(text) -> dict[bytes, bytes]:
    """{keyword: text} -> {Latin-1 keyword: UTF-8 text}, checked as the PNG spec asks: keywords of 1-79 printable
    Latin-1 characters without leading, trailing or double spaces; str values up to MAX_TEXT_BYTES."""
    out = {}
    for key, value in dict(text).items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"PNG text must map str to str, got {type(key).__name__} -> {type(value).__name__}")
        try:
            raw = key.encode("latin-1")
        except UnicodeEncodeError:
            raw = b""
        printable = all(32 <= c <= 126 or 161 <= c <= 255 for c in raw)
        if not 1 <= len(raw) <= 79 or not printable or key != key.strip(" ") or "  " in key:
            raise ValueError(f"PNG text keyword {key!r} must be 1-79 printable Latin-1 characters without leading, "
                             "trailing or double spaces")
        data = value.encode("utf-8")
        if len(data) > MAX_TEXT_BYTES:
            raise ValueError(f"PNG text {key!r} is {len(data)} bytes; the limit is {MAX_TEXT_BYTES}")
        out[raw] = data
    return out


def _chunk(kind: bytes, body: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC-32 of type + data."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _with_text(png: bytes, text: dict[bytes, bytes]) -> bytes:
    """``png`` (PNG file bytes) with one iTXt chunk per item inserted right after IHDR (so a reader meets them
    before the image data); values of _COMPRESS_TEXT_FROM bytes or more are zlib-compressed. The other chunks,
    the pixels among them, are kept byte for byte."""
    if not text:
        return png
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise RuntimeError("the encoder did not produce a PNG that starts with IHDR")
    end = 8 + 12 + struct.unpack(">I", png[8:12])[0]  # signature, then IHDR's length + type + data + CRC
    chunks = []
    for key, data in text.items():
        compressed = len(data) >= _COMPRESS_TEXT_FROM
        if compressed:
            data = zlib.compress(data, 9)
        # keyword, NUL, compression flag and method, empty language tag and translated keyword (NUL each), text
        chunks.append(_chunk(b"iTXt", key + b"\0" + bytes([int(compressed), 0]) + b"\0\0" + data))
    return png[:end] + b"".join(chunks) + png[end:]


def encode_png(array: np.ndarray, icc_profile: bytes | None = None, text: dict[str, str] | None = None) -> bytes:
    """Lossless PNG bytes of a native or working array (uint8: L, LA, RGB, RGBA; uint16: L, RGB, RGBA; 16-bit LA
    is written as 16-bit RGBA; an HW bool mask as a 1-bit black/white PNG). ``icc_profile`` is embedded for 8-bit
    and 16-bit greyscale output. ``text`` ({keyword: text}, str -> str) is written as iTXt chunks (UTF-8; zlib
    for long values) in every kind of PNG, right after IHDR; keywords are 1-79 printable Latin-1 characters
    (ValueError otherwise; TypeError for a key or value that is not a str). Text never changes the pixels: read()
    decodes the same array with or without it."""
    checked = _check_text(text) if text else {}
    return _with_text(_encode_pixels(array, icc_profile), checked)


def _encode_pixels(array: np.ndarray, icc_profile: bytes | None) -> bytes:
    """encode_png without text."""
    import io as _io

    a = np.asarray(array)
    if a.dtype == bool and a.ndim == 2:  # a mask: a 1-bit PNG (white = True), 8x less to compress
        buf = _io.BytesIO()
        Image.fromarray(a).save(buf, format="PNG", compress_level=PNG_COMPRESSION)
        return buf.getvalue()
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    ok_shape = a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (2, 3, 4))
    if a.dtype not in (np.uint8, np.uint16) or not ok_shape:
        raise ValueError(f"cannot save an array of shape {a.shape} and dtype {a.dtype} as PNG")
    if a.dtype == np.uint16 and a.ndim == 3:
        import cv2

        if a.shape[2] == 2:
            a = np.dstack([a[..., 0], a[..., 0], a[..., 0], a[..., 1]])
        bgr = cv2.cvtColor(a, cv2.COLOR_RGB2BGR if a.shape[2] == 3 else cv2.COLOR_RGBA2BGRA)
        ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION])
        if not ok:
            raise RuntimeError("OpenCV could not encode the 16-bit PNG")
        return buf.tobytes()
    if a.dtype == np.uint16:
        image = Image.fromarray(a.astype("<u2", copy=False))
    else:
        image = Image.fromarray(np.ascontiguousarray(a))
    buf = _io.BytesIO()
    kwargs = {"icc_profile": icc_profile} if icc_profile else {}
    image.save(buf, format="PNG", compress_level=PNG_COMPRESSION, **kwargs)
    return buf.getvalue()


def save_png(path: str | os.PathLike, array: np.ndarray, protect: tuple[str | os.PathLike, ...] = (),
             icc_profile: bytes | None = None, text: dict[str, str] | None = None) -> Path:
    """Write ``array`` (see encode_png) as a lossless PNG, atomically (a temporary file, then a rename), with
    ``icc_profile`` and ``text`` as encode_png writes them.

    ``protect`` lists input files that must never be overwritten: writing onto one is a UserError.
    """
    path = Path(path)
    target = path.resolve()
    for p in protect:
        if p is not None and Path(p).exists() and Path(p).resolve() == target:
            raise UserError(f"refusing to overwrite the input {p}: choose another --out")
    if not target.parent.is_dir():
        raise UserError(f"the output folder {target.parent} does not exist")
    data = encode_png(array, icc_profile, text)
    fd, tmp = tempfile.mkstemp(suffix=".png", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return target
