"""One verified download of a single weights file (SAM checkpoints, LaMa's TorchScript file).

    path = fetch(url, target, md5="e3aa...", fail=lambda why: UserError(f"cannot download it ({why})"))

The bytes go to a temporary ``.<name>.*.part`` file in the target's folder while progress is reported
(``progress(done_bytes, total_bytes or None)``, or a tqdm bar on stderr when no callback is given), then the length
and the md5 (when given) are checked and the file is renamed into place in one step: a failed, truncated or wrong
download leaves nothing behind, and never a partial file under the final name. Every failure is the exception
``fail(why)`` builds (one line for the user: the caller knows the remedy).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from .errors import one_line

ProgressCallback = Callable[[int, "int | None"], None]
"""progress(done_bytes, total_bytes or None) while a file downloads."""

CHUNK = 1 << 20


def file_md5(path: str | os.PathLike, chunk: int = CHUNK) -> str:
    """The md5 hex digest of the file at ``path``."""
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(url: str, target: str | os.PathLike, *, fail: Callable[[str], Exception], md5: str | None = None,
          progress: ProgressCallback | None = None, timeout: float = 60.0, chunk: int = CHUNK,
          md5_fail: Callable[[str], Exception] | None = None) -> Path:
    """Download ``url`` to ``target`` as the module docstring says; returns ``target`` as a Path. ``md5_fail(got)``
    builds the checksum-mismatch error (default: fail(...))."""
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise fail(f"cannot create {target.parent}: {exc.strerror or exc}") from None
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            done, total, got = _stream(url, out, progress, timeout, chunk, target.name, fail)
        if total is not None and done != total:
            raise fail(f"download incomplete: {done} of {total} bytes")
        if done == 0:
            raise fail("download was empty")
        if md5 is not None and got != md5:
            raise (md5_fail(got) if md5_fail is not None else fail(f"md5 {got}, expected {md5}"))
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def _stream(url: str, out, progress: ProgressCallback | None, timeout: float, chunk: int, name: str,
            fail: Callable[[str], Exception]) -> tuple[int, int | None, str]:
    """Stream ``url`` into the open file ``out``; (bytes, Content-Length or None, md5 of the bytes)."""
    digest = hashlib.md5()
    done, total, bar = 0, None, None
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and str(length).isdigit() else None
            if progress is None:
                from tqdm import tqdm  # the app's gr.Progress(track_tqdm=True) shows it too

                bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr,
                           desc=f"downloading {name}", leave=False)
            else:
                progress(0, total)
            while True:
                block = response.read(chunk)
                if not block:
                    break
                out.write(block)
                digest.update(block)
                done += len(block)
                if bar is not None:
                    bar.update(len(block))
                else:
                    progress(done, total)
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise fail(f"download failed: {one_line(reason, 100)}") from None
    finally:
        if bar is not None:
            bar.close()
    return done, total, digest.hexdigest()
