"""Shared fixtures: real photos, the edge-case files, a free port, the tiny saved diffusion model, the CLI run
in-process, and small spies.

Photos come from the scikit-image wheel (always there) and ../shared/images (beside the clone in CI; tests that
need it are skipped when it is missing). Nothing here downloads anything.
"""

from __future__ import annotations

import contextlib
import hashlib
import io as _stdio
import logging
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
SHARED_IMAGES = ROOT.parent / "shared" / "images"
EDGE_CASES = SHARED_IMAGES / "edge_cases"

if str(TESTS) not in sys.path:  # tiny_models, bad_inputs
    sys.path.insert(0, str(TESTS))


# ---------------------------------------------------------------------------------------------------------
# Photos and files


def skimage_photo(name: str = "astronaut", box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """A photo from the scikit-image wheel (astronaut, coffee, chelsea, rocket, ...) as HWC uint8 RGB (a grey one
    as HW uint8), cropped to the XYXY ``box`` when given. A fresh, writable copy."""
    from skimage import data

    image = np.asarray(getattr(data, name)())
    if box is not None:
        x0, y0, x1, y1 = box
        image = image[y0:y1, x0:x1]
    return np.ascontiguousarray(image).copy()


@pytest.fixture
def rgb_photo() -> np.ndarray:
    """A 210x160 crop of skimage's astronaut (odd sizes on purpose): HWC uint8 RGB."""
    return skimage_photo("astronaut", (120, 100, 330, 260))


@pytest.fixture(scope="session")
def shared_images() -> Path:
    """../shared/images (dog.jpg, bench_dog.png + mask, remove_*.jpg); skipped when it is not beside the clone."""
    if not SHARED_IMAGES.is_dir():
        pytest.skip(f"{SHARED_IMAGES} is missing (CI puts ../shared beside the clone)")
    return SHARED_IMAGES


@pytest.fixture(scope="session")
def edge_cases() -> Path:
    """The folder of edge-case files (../shared/images/edge_cases, see its README); skipped when missing."""
    if not EDGE_CASES.is_dir():
        pytest.skip(f"{EDGE_CASES} is missing (CI puts ../shared beside the clone)")
    return EDGE_CASES


def sha256(path: str | Path) -> str:
    """The file's sha256 hex digest."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def hash_files() -> Callable[..., dict[str, str]]:
    """hash_files(*paths) -> {path: sha256} of the files that exist (to check inputs are untouched)."""

    def hashes(*paths) -> dict[str, str]:
        return {str(p): sha256(p) for p in paths if p is not None and Path(p).is_file()}

    return hashes


def data_url_pixels(url: str) -> np.ndarray:
    """The pixels of a data URL the app sends to the canvas ("data:image/jpeg;base64,..." or PNG): HWC uint8, RGB
    for a JPEG, RGB or RGBA for a PNG as it was written."""
    import base64

    from PIL import Image

    head, _, data = str(url).partition(",")
    assert head in ("data:image/jpeg;base64", "data:image/png;base64"), head[:40]
    with Image.open(_stdio.BytesIO(base64.b64decode(data, validate=True))) as im:
        return np.asarray(im).copy()


# ---------------------------------------------------------------------------------------------------------
# Network and models


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def free_port() -> Callable[[], int]:
    """free_port() -> a TCP port on 127.0.0.1 that was free a moment ago (call it once per server)."""
    return _free_port


@contextlib.contextmanager
def launched_app(**config):
    """``with launched_app(engine="telea", ...) as url``: the app (editor.layout.build_demo with AppConfig(**config))
    served on a free port of 127.0.0.1 for the block's duration; yields its URL."""
    from editor.layout import build_demo
    from editor.state import AppConfig

    demo = build_demo(AppConfig(**config))
    port = _free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@pytest.fixture(scope="session")
def tiny_model_folder(tmp_path_factory) -> Path:
    """A tiny seeded SD inpainting pipeline (9-channel UNet, 64x64 native) saved as a diffusers folder, built once
    per session (tests/tiny_models.py; shared with every module that asks tiny_models for it)."""
    pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    import tiny_models

    return tiny_models.tiny_pipeline_folder(tmp_path_factory, 9)


@pytest.fixture(scope="session")
def tiny_base_model_folder(tmp_path_factory) -> Path:
    """The same with a 4-channel (text-to-image base) UNet: loaded as blended latent diffusion."""
    pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    import tiny_models

    return tiny_models.tiny_pipeline_folder(tmp_path_factory, 4)


# ---------------------------------------------------------------------------------------------------------
# The CLI, in-process


@dataclass
class CliRun:
    """What one in-process ``python -m pipelines`` run gave: exit code, stdout, stderr."""

    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return self.err.strip().splitlines()

    def one_line_error(self) -> str:
        """Assert the run failed as a user error (exit 2, exactly one stderr line "error: ...", no traceback)
        and return that line."""
        assert self.code == 2, f"exit {self.code}; stderr: {self.err!r}; stdout: {self.out[-500:]!r}"
        assert "Traceback" not in self.err, self.err
        lines = self.err_lines
        assert len(lines) == 1 and lines[0].startswith("error: "), self.err
        return lines[0]


@pytest.fixture
def run_cli(tmp_path_factory, monkeypatch) -> Callable[[list], CliRun]:
    """run_cli(argv) runs ``pipelines.cli.main(argv)`` in this process and returns a CliRun.

    stdout and stderr are captured (neither is a terminal, as in CI); argparse's SystemExit becomes the exit code;
    the CLI's log goes to a temporary $INPAINT_APP_CACHE, and the log handler a run adds is removed afterwards.
    Arguments may be paths or numbers (str() is applied).
    """
    from pipelines import cli

    monkeypatch.setenv("INPAINT_APP_CACHE", str(tmp_path_factory.mktemp("app_cache")))

    def run(argv) -> CliRun:
        root = logging.getLogger()
        handlers = list(root.handlers)
        level = root.level
        out, err = _stdio.StringIO(), _stdio.StringIO()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    code = cli.main([str(a) for a in argv])
                except SystemExit as exc:  # argparse
                    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        finally:
            for handler in root.handlers[:]:
                if handler not in handlers:
                    root.removeHandler(handler)
                    handler.close()
            root.setLevel(level)
        return CliRun(code=int(code), out=out.getvalue(), err=err.getvalue())

    return run


# ---------------------------------------------------------------------------------------------------------
# Spies


@dataclass
class Spy:
    """Wraps a callable; records each call's args and kwargs (and what it returned), then delegates, unless
    ``replace`` is given: then that is called instead."""

    inner: Callable
    replace: Callable | None = None
    calls: list[tuple[tuple, dict]] = field(default_factory=list)
    returned: list[Any] = field(default_factory=list)

    def __call__(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        value = (self.replace or self.inner)(*args, **kwargs)
        self.returned.append(value)
        return value

    @property
    def count(self) -> int:
        return len(self.calls)


@pytest.fixture
def spy_on(monkeypatch) -> Callable[..., Spy]:
    """spy_on(target, "name", replace=None) puts a Spy on ``target.name`` for this test (undone afterwards)."""

    def install(target, name: str, replace: Callable | None = None) -> Spy:
        s = Spy(getattr(target, name), replace)
        monkeypatch.setattr(target, name, s)
        return s

    return install
