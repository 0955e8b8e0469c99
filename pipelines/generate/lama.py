"""The LaMa engine: prompt-free object removal with big-lama, the TorchScript file LaMa's authors' weights are
distributed as (the registry's "lama" preset), loaded and called the way IOPaint does.

    with lease() as engine:                        # the preset's file in registry.weights_dir(), fetched once
        result = driver.run(prep, engine, seeds=[None])
    with lease("/models/big-lama.pt", device="cpu") as engine: ...   # a local TorchScript file
    download_weights("lama")                       # what `python -m pipelines models --download lama` runs

The model is called as ``model(image, mask)``: image float32 (1, 3, H, W) RGB in [0, 1], mask float32 (1, 1, H, W)
in {0, 1} (1 = fill), H and W multiples of 8 (the crop is padded symmetrically at its bottom and right, as IOPaint
pads, and the answer cropped back); it answers (1, 3, H, W) RGB in [0, 1]. One call per crop, no randomness: the
same crop gives the same fill, and a seed changes nothing.

Sharing: one loaded module per (file, device) in this process, loaded once even when several jobs ask for it at
the same time, used read-only (inference only) by every job. Calls into one module are serialised by its lock:
TorchScript's forward is safe to call concurrently only while nothing in the module mutates, which a file we did
not write cannot promise, and on a CPU one call already uses every core.

Checksums: the preset's file is checked against its md5 after every download and once when it is first loaded
(a damaged or replaced file is a one-line UserError naming both digests); a file the user names is loaded as it
is. A download goes to a temporary file beside the final one and is renamed only once complete and verified.

Formats: crops HWC uint8 RGB, masks HW bool (True = fill).
"""

from __future__ import annotations

import os
import threading
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ..errors import UserError, one_line
from . import registry
from .engine import Engine

PRESET = "lama"
"""The registry preset whose file is the default model."""
PAD_MOD = 8
"""The model's H and W must be multiples of this (IOPaint's pad_mod for LaMa)."""
DOWNLOAD_HINT = "`python -m pipelines models --download lama`"

ProgressCallback = Callable[[int, "int | None"], None]
"""progress(done_bytes, total_bytes or None) while the weights download."""

_DOWNLOAD_CHUNK = 1 << 20


# ---------------------------------------------------------------------------------------------------------
# 1. Where the weights are, and one verified download


def default_path(preset: registry.Preset | None = None) -> Path:
    """Where the preset's file lives: registry.weights_dir() / its filename (whether or not it exists yet)."""
    p = preset or registry.preset(PRESET)
    return registry.weights_dir() / p.extra.get("filename", Path(p.source).name)


def file_md5(path: str | os.PathLike) -> str:
    """The md5 hex digest of the file at ``path``."""
    from ..download import file_md5 as md5_of

    return md5_of(path, _DOWNLOAD_CHUNK)


_DOWNLOAD_LOCK = threading.Lock()


def download_weights(preset: registry.Preset | str | None = None, *, progress: ProgressCallback | None = None,
                     timeout: float = 60.0) -> Path:
    """Fetch the preset's file (default: "lama") into registry.weights_dir() and return its path.

    A file already there whose md5 matches is returned without going online; anything else there is replaced.
    The bytes go to a temporary ``.<name>.*.part`` file in the same folder while a progress bar runs on stderr
    (or ``progress(done, total)`` is called instead, when given), then the md5 is checked and the file renamed
    into place in one step: a failed, truncated or wrong download leaves nothing behind, and never a partial file
    under the final name. Failures are one-line UserErrors (offline, incomplete, checksum mismatch).
    """
    p = registry.preset(preset or PRESET) if not isinstance(preset, registry.Preset) else preset
    if p.engine != "lama" or not p.source:
        raise UserError(f"preset {p.id!r} has no LaMa weights to download")
    target = default_path(p)
    expected = p.extra.get("md5")
    with _DOWNLOAD_LOCK:  # concurrent first uses download once
        if target.is_file() and (expected is None or file_md5(target) == expected):
            return target
        from ..download import fetch

        fetch(p.source, target, md5=expected, progress=progress, timeout=timeout, chunk=_DOWNLOAD_CHUNK,
              fail=lambda why: _download_failed(p, target, why),
              md5_fail=lambda got: UserError(
                  f"the downloaded {target.name} has md5 {got}, expected {expected} (a damaged or changed file; "
                  f"nothing was saved): try {DOWNLOAD_HINT} again"))
    return target


def _download_failed(p: registry.Preset, target: Path, why: str) -> UserError:
    # the remedies before the long URL: a one-line error is cut at errors.one_line's limit
    return UserError(f"cannot download {target.name} ({why}): retry {DOWNLOAD_HINT} online or save it as {target} "
                     f"(from {p.source})")


# ---------------------------------------------------------------------------------------------------------
# 2. The shared model


@dataclass
class LoadedLama:
    """One loaded LaMa TorchScript module: ``module`` (eval mode, read-only), ``path``, ``device``, ``name`` (its
    display name), and ``lock``, which every call into the module holds."""

    module: object
    path: Path
    device: str
    name: str
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __call__(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Fill ``mask`` (HW bool, True = fill) in ``image`` (HWC uint8 RGB): pad to multiples of 8 (symmetric,
        bottom and right), one model call under inference_mode, crop back, clip and round; HWC uint8 RGB of the
        image's size."""
        import torch

        height, width = mask.shape
        pad = ((0, (-height) % PAD_MOD), (0, (-width) % PAD_MOD))
        padded = np.pad(image, pad + ((0, 0),), mode="symmetric")
        padded_mask = np.pad(mask, pad, mode="symmetric")
        with self.lock, torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(padded)).permute(2, 0, 1)[None].to(self.device)
            x = x.to(torch.float32) / 255.0
            m = torch.from_numpy(padded_mask.astype(np.float32))[None, None].to(self.device)
            try:
                out = self.module(x, m)
            except torch.jit.Error as exc:  # the file's own code refused the call
                lines = [s for s in str(exc).splitlines() if s.strip()]
                raise UserError(f"LaMa model {self.name} failed on a {x.shape[3]}x{x.shape[2]} crop: "
                                f"{one_line(lines[-1] if lines else exc, 160)}") from None
            if not isinstance(out, torch.Tensor) or tuple(out.shape) != (1, 3) + tuple(x.shape[2:]):
                shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                raise UserError(f"LaMa model {self.name} answered {shape} for a (1, 3, {x.shape[2]}, {x.shape[3]}) "
                                "image: a LaMa file takes (image, mask) and returns (1, 3, H, W) RGB in [0, 1]")
            out = out[0, :, :height, :width].to(torch.float32).permute(1, 2, 0).cpu().numpy()
        if not np.isfinite(out).all():
            raise RuntimeError(f"LaMa model {self.name} produced NaN/inf pixels")
        return (np.clip(out, 0.0, 1.0) * 255.0).round().astype(np.uint8)


_SHARED_LOCK = threading.Lock()
_SHARED: dict[tuple, LoadedLama] = {}


def shared_model(path: str | os.PathLike, device: str = "cpu", *, name: str | None = None,
                 md5: str | None = None) -> LoadedLama:
    """The LaMa module in ``path`` on ``device``, loaded once per (file, its mtime and size, device) in this
    process and shared by every caller. With ``md5``, the file is checked against it before it is loaded (once:
    a checked, loaded file is not read again). One lock makes concurrent first calls load once (and keeps
    torch.jit.load, whose type registry is process-global, from running concurrently)."""
    path = Path(path).resolve()
    try:
        stat = path.stat()
    except OSError:
        raise UserError(f"LaMa model {path} does not exist") from None
    key = (str(path), stat.st_mtime_ns, stat.st_size, str(device))
    with _SHARED_LOCK:
        loaded = _SHARED.get(key)
        if loaded is None:
            if md5 is not None:
                got = file_md5(path)
                if got != md5:
                    raise UserError(f"{path.name} has md5 {got}, expected {md5} (damaged or not big-lama): run "
                                    f"{DOWNLOAD_HINT} to fetch it again ({path})")
            module = _load_module(path, device)
            loaded = _SHARED[key] = LoadedLama(module, path, str(device), name or path.name)
        return loaded


def _load_module(path: Path, device: str):
    """torch.jit.load(path, map_location=device).eval(), with a forward that takes (image, mask); a file that is
    not such a TorchScript module is a one-line UserError."""
    import torch

    try:
        with warnings.catch_warnings():  # torch >= 2.9 calls TorchScript deprecated; big-lama only exists as one
            warnings.filterwarnings("ignore", message=r".*torch\.jit.*deprecated", category=FutureWarning)
            module = torch.jit.load(str(path), map_location=device)
    except Exception as exc:  # zip, pickle and TorchScript errors all mean "not a TorchScript file"
        lines = [s for s in str(exc).splitlines() if s.strip()]
        raise UserError(f"{path.name} is not a LaMa TorchScript file ({type(exc).__name__}: "
                        f"{one_line(lines[0] if lines else exc, 100)}); use big-lama.pt as IOPaint distributes it: "
                        f"{path}") from None
    try:
        inputs = list(module.forward.schema.arguments)[1:]  # the first is the module itself
        required = sum(not a.has_default_value() for a in inputs)
    except (AttributeError, RuntimeError):  # no schema to read: the first call will tell
        inputs, required = None, 2
    if inputs is not None and (len(inputs) < 2 or required > 2):
        raise UserError(f"{path.name} is not a LaMa model: its forward takes {required} inputs, LaMa's takes "
                        f"(image, mask): {path}")
    return module.eval()


def release_shared_models() -> None:
    """Forget every module shared_model() loaded (engines that hold one keep it while they live)."""
    with _SHARED_LOCK:
        _SHARED.clear()


# ---------------------------------------------------------------------------------------------------------
# 3. The engine


class LamaEngine(Engine):
    """A LoadedLama behind the driver: crops sized to the area of 512 x 512 (multiples of 8), one model call per
    crop, no prompt and no seed."""

    name = "lama"
    native_size = 512
    multiple = PAD_MOD
    description = "LaMa"
    uses_prompt = False
    uses_negative_prompt = False
    uses_seed = False

    def __init__(self, loaded: LoadedLama):
        self.loaded = loaded
        self.model = loaded.name

    def fill(self, crop, crop_mask, *, prompt, negative_prompt, seed, step):
        out = self.loaded(crop, np.asarray(crop_mask, dtype=bool))
        step()
        return out


def resolve_device(device: str | None = "auto") -> str:
    from ..models import resolve_device as _resolve

    return _resolve(device)


def resolve_file(model=None, *, allow_download: bool = True,
                 progress: ProgressCallback | None = None) -> tuple[Path, str, str | None]:
    """(file, display name, md5 to check or None) for ``model``: None or a "lama" preset id -> the preset's file in
    registry.weights_dir() (downloaded first when missing and ``allow_download``), checked against its md5; a
    path -> that file, loaded without a checksum."""
    if model is None or registry.is_preset(model):
        p = registry.preset(model or PRESET)
        if p.engine != "lama":
            raise UserError(f"model preset {p.id!r} runs on the {p.engine} engine, not lama: give a LaMa .pt file "
                            "or leave the model out")
        target = default_path(p)
        if not target.is_file():
            if not allow_download:
                raise UserError(f"no LaMa weights here and downloading is off: run {DOWNLOAD_HINT} or save "
                                f"{target.name} as {target} (from {p.source})")
            download_weights(p, progress=progress)
        return target, Path(target.name).stem, p.extra.get("md5")
    if not isinstance(model, (str, os.PathLike)):
        raise UserError(f"the lama engine takes a TorchScript .pt file or the preset 'lama' as its model, "
                        f"got {type(model).__name__}")
    path = Path(model).expanduser()
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise UserError(f"LaMa model {path} {what}: give a TorchScript file such as big-lama.pt, or leave the "
                        "model out for the preset's")
    default = default_path()
    if default.is_file() and path.resolve() == default.resolve():  # the preset's own file: checked as such
        return default, Path(default.name).stem, registry.preset(PRESET).extra.get("md5")
    return path, path.name, None


@contextmanager
def lease(model=None, *, device: str | None = "auto", allow_download: bool = True,
          progress: ProgressCallback | None = None, **_ignored) -> Iterator[LamaEngine]:
    """``with lease(model) as engine:`` a LamaEngine on ``device`` ("auto": cuda, mps or cpu) whose module is the
    process-wide shared one (never evicted, so it stays loaded for the whole block). ``model``: see
    resolve_file. ``progress(done, total)`` reports a first use's download (a bar on stderr otherwise)."""
    path, name, md5 = resolve_file(model, allow_download=allow_download, progress=progress)
    yield LamaEngine(shared_model(path, resolve_device(device), name=name, md5=md5))
