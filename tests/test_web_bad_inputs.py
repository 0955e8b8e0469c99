"""The web half of the bad-input suite: the files of tests/bad_inputs.py (and the edge cases beside the clone) sent
to the launched app through gradio_client, as a remote user would, and bad canvas values (editor.canvas: the mask
at the photo's full size as pipelines.maskcodec text) sent to every endpoint that reads one.

Every failure must come back as one line (no traceback, no "verbose error reporting", no "internal error"); the
uploaded files are unchanged (the local file and the server's copy that the app decoded); the server is alive
afterwards (a good load + inpaint still works). Every supported format works, with the outside of the mask
byte-identical at the file's own format (io.read of the result PNG against io.read of the upload).

Endpoints (ALL_ENDPOINTS, each with cases of both outcomes): /load_photo (+ /inpaint with a canvas value),
/inpaint, /inpaint_image (image and mask files, no session), the mask tools /grow_mask, /shrink_mask, /invert_mask,
/clear_mask, /upload_mask, /preview, /feather_lab, /segment and /outpaint. The CLI-only cases of the table (blend,
seams, output paths, a missing file or a folder, which a browser cannot upload) are not repeated here.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("gradio")
pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402

import bad_inputs  # noqa: E402
from conftest import EDGE_CASES, data_url_pixels, launched_app  # noqa: E402
from editor.callbacks import display_size  # noqa: E402
from editor.canvas import canvas_value  # noqa: E402
from pipelines import io, maskcodec, masks  # noqa: E402

GOOD = "photo.png"  # 128x96 RGB, written by bad_inputs.make_files
H, W = 96, 128
WEB_UNREADABLE = [(name, message) for name, message in bad_inputs.UNREADABLE
                  if name not in ("missing.png", "folder.png")]  # a browser cannot upload these
FILE_ENDPOINTS = ("load_photo", "upload_mask", "segment", "outpaint", "feather_lab", "inpaint_image")
"""The endpoints that take an uploaded image file."""
SESSION_ENDPOINTS = ("inpaint", "grow_mask", "shrink_mask", "invert_mask", "clear_mask", "upload_mask", "preview",
                     "feather_lab")
"""The endpoints that work on the client session's photo (and, but for /upload_mask, read a canvas value)."""
ALL_ENDPOINTS = ("load_photo", "inpaint", "inpaint_image", "grow_mask", "shrink_mask", "invert_mask", "clear_mask",
                 "upload_mask", "preview", "feather_lab", "segment", "outpaint")
TOOL_PX = {"grow_mask": 4, "shrink_mask": 2, "invert_mask": 8, "clear_mask": 8}
REV = 7
"""The rev the test's canvas values carry: the mask tools echo it as ``base``."""

ANOTHER_PHOTO = "the canvas shows another photo"
EMPTY = "the mask is empty"


# ---------------------------------------------------------------------------------------------------------
# The case table (web form)


def _cases() -> list[dict]:
    cases: list[dict] = []

    def add(case: dict) -> None:
        assert case["endpoint"] in ALL_ENDPOINTS, case
        cases.append(case)

    # files that cannot be read, on every endpoint that takes a file (/inpaint_image: as the image and the mask)
    for name, message in WEB_UNREADABLE:
        for endpoint in FILE_ENDPOINTS:
            case = {"id": f"{endpoint}-{name}", "kind": endpoint, "endpoint": endpoint, "file": name,
                    "expect": "error", "message": message}
            if endpoint == "upload_mask":
                case["photo"] = GOOD
            if endpoint == "inpaint_image":
                case["files"] = {"image": name}
            add(case)
        add({"id": f"inpaint_image-mask-{name}", "kind": "inpaint_image", "endpoint": "inpaint_image",
             "files": {"mask": name}, "expect": "error", "message": message})

    # images that work at their own format
    web_commands = {"inpaint": "photo", "segment": "segment", "outpaint": "outpaint"}
    for name, commands in bad_inputs.WORKING_IMAGES.items():
        for command in commands:
            if command in web_commands:
                kind = web_commands[command]
                add({"id": f"{command}-works-{name}", "kind": kind,
                     "endpoint": "load_photo" if kind == "photo" else kind, "file": name, "expect": "ok"})
            if command == "inpaint":
                add({"id": f"inpaint_image-works-{name}", "kind": "inpaint_image", "endpoint": "inpaint_image",
                     "files": {"image": name}, "expect": "ok"})
    for name in ("thin_1x1.png", "thin_row.png", "thin_column.png"):  # loaded fine, too small to inpaint
        add({"id": f"inpaint-thin-{name}", "kind": "photo", "endpoint": "inpaint", "file": name, "expect": "error",
             "message": bad_inputs.THIN["inpaint"]})
        add({"id": f"inpaint_image-thin-{name}", "kind": "inpaint_image", "endpoint": "inpaint_image",
             "files": {"image": name}, "expect": "error", "message": bad_inputs.THIN["inpaint"]})
    for name in ("la.png", "cmyk.jpg", "rgba16.png", "palette_alpha.png", "exif6.png"):
        add({"id": f"feather_lab-works-{name}", "kind": "feather_lab", "endpoint": "feather_lab", "file": name,
             "expect": "ok"})
    for name in ("thin_row.png", "thin_column.png"):  # its default mask (a centred ellipse) is empty there
        add({"id": f"feather_lab-{name}", "kind": "feather_lab", "endpoint": "feather_lab", "file": name,
             "expect": "error", "message": EMPTY})
    add({"id": "outpaint-thin_1x1", "kind": "outpaint", "endpoint": "outpaint", "file": "thin_1x1.png",
         "expect": "error", "message": "too small"})

    # masks as /upload_mask files (scaled to the photo when their size differs: that is the web's contract)
    for name, photo in [("mask_full.png", GOOD), ("mask_grey_noise.png", GOOD), ("mask_layer_rgba.png", GOOD),
                        ("mask_small.png", GOOD), ("mask_noisy.jpg", "photo320.png"),
                        ("mask_pal.png", "photo320.png"), ("grey16.png", "photo320.png")]:
        add({"id": f"upload_mask-works-{name}", "kind": "upload_mask", "endpoint": "upload_mask", "file": name,
             "photo": photo, "expect": "ok"})
    for name in ("mask_empty.png", "mask_grey127.png"):
        add({"id": f"upload_mask-{name}", "kind": "upload_mask", "endpoint": "upload_mask", "file": name,
             "photo": GOOD, "expect": "error", "message": EMPTY})

    # masks as /inpaint_image files: as the CLI takes them (same size as the image, no scaling)
    for name, image, message in [
        ("mask_empty.png", GOOD, EMPTY), ("mask_grey127.png", GOOD, EMPTY),
        ("mask_small.png", GOOD, "the mask is 50x40 but the image is 128x96"),
        ("mask_full.png", GOOD, "ok"), ("mask_grey_noise.png", GOOD, "ok"), ("mask_layer_rgba.png", GOOD, "ok"),
        ("mask_noisy.jpg", "photo320.png", "ok"), ("mask_pal.png", "photo320.png", "ok"),
    ]:
        add({"id": f"inpaint_image-mask-works-{name}" if message == "ok" else f"inpaint_image-mask-{name}",
             "kind": "inpaint_image", "endpoint": "inpaint_image", "files": {"image": image, "mask": name},
             "expect": "ok" if message == "ok" else "error", "message": message})

    # canvas values (what the browser sends; the mask at full size) on every endpoint that reads one
    canvas_table = {
        "inpaint": [("middle", "ok"), ("full", "ok"), ("one-pixel", "ok"), ("comb-bits", "ok"),
                    ("two-shapes", "ok"), ("no-key", "ok"),
                    ("none", EMPTY), ("empty", EMPTY), ("no-text", EMPTY),
                    ("other-size", ANOTHER_PHOTO), ("other-key", ANOTHER_PHOTO), ("size-as-text", ANOTHER_PHOTO),
                    ("damaged-base64", "not base64"), ("cut-off", "cut off"),
                    ("wrong-total", "another picture size"), ("bits-wrong-length", "another picture size"),
                    ("unknown-kind", "not in the canvas's format"), ("not-text", "not in the canvas's format"),
                    ("huge-run", "longer than 2^63"), ("wrapping-runs", "another picture size"),
                    ("updating", "still updating")],
        "grow_mask": [("middle", "ok"), ("one-pixel", "ok"), ("comb-bits", "ok"), ("none", EMPTY),
                      ("empty", EMPTY), ("other-size", ANOTHER_PHOTO), ("damaged-base64", "not base64"),
                      ("updating", "still updating")],
        "shrink_mask": [("middle", "ok"), ("two-shapes", "ok"), ("empty", EMPTY), ("other-key", ANOTHER_PHOTO),
                        ("wrong-total", "another picture size")],
        "invert_mask": [("middle", "ok"), ("empty", "ok"), ("none", "ok"), ("other-size", ANOTHER_PHOTO),
                        ("cut-off", "cut off")],
        # Clear ignores the canvas's mask: a canvas in any state can be cleared
        "clear_mask": [("middle", "ok"), ("damaged-base64", "ok"), ("other-size", "ok")],
        "preview": [("middle", "ok"), ("one-pixel", "ok"), ("empty", EMPTY), ("other-size", ANOTHER_PHOTO),
                    ("bits-wrong-length", "another picture size")],
        # the lab without a file: the session's photo and the canvas's mask (a centred ellipse when it is empty)
        "feather_lab": [("middle", "ok"), ("empty", "ok"), ("none", "ok"), ("other-size", ANOTHER_PHOTO),
                        ("damaged-base64", "not base64")],
    }
    for endpoint, rows in canvas_table.items():
        for value, message in rows:
            case = {"id": f"{endpoint}-canvas-{value}", "kind": "canvas", "endpoint": endpoint, "value": value,
                    "photo": GOOD, "expect": "ok" if message == "ok" else "error", "message": message}
            add(case)

    # no photo in the session yet (a fresh client)
    for endpoint in SESSION_ENDPOINTS:
        add({"id": f"{endpoint}-no-photo", "kind": "no_photo", "endpoint": endpoint, "expect": "error",
             "message": "no photo"})

    # parameters out of range: /inpaint (telea; the diffusion-only ones with the tiny model)
    for params, message in [
        ({"grow": -1}, "minimum value 0"), ({"grow": 65}, "maximum value 64"), ({"feather": -2}, "minimum value -1"),
        ({"engine": "bogus"}, "bogus is not in the list of choices"),
        ({"method": "feather"}, "feather is not in the list of choices"),  # not contract-safe: not offered
        ({"method": "bogus"}, "bogus is not in the list of choices"),
        ({"engine": "diffusers", "steps": 0}, "minimum value 1"),
        ({"engine": "diffusers", "strength": 2}, "maximum value 1"),
        ({"engine": "diffusers", "strength": 0}, "minimum value 0.05"),
        ({"engine": "diffusers", "variants": 0}, "minimum value 1"),
        ({"engine": "diffusers", "guidance": -1}, "minimum value 0"),
        ({"engine": "diffusers", "model": "/no/such/model"}, "no such folder or file"),
    ]:
        key = "-".join(f"{k}{v}" for k, v in params.items()).replace("/", "_")
        add({"id": f"inpaint-param-{key}", "kind": "inpaint_params", "endpoint": "inpaint", "params": params,
             "photo": GOOD, "expect": "error", "message": message})
    # /inpaint_image shares those controls
    for params, message in [
        ({"grow": 65}, "maximum value 64"), ({"method": "feather"}, "feather is not in the list of choices"),
        ({"engine": "bogus"}, "bogus is not in the list of choices"),
        ({"engine": "diffusers", "model": "/no/such/model"}, "no such folder or file"),
    ]:
        key = "-".join(f"{k}{v}" for k, v in params.items()).replace("/", "_")
        add({"id": f"inpaint_image-param-{key}", "kind": "inpaint_image", "endpoint": "inpaint_image",
             "params": params, "expect": "error", "message": message})
    # /segment
    for params, message in [
        ({"box": "[1, 2, 3]"}, "four finite numbers"), ({"box": "[100, 80, 20, 10]"}, "is empty"),
        ({"box": "[0, 0, 500, 500]"}, "not inside the 128x96 image"),
        ({"positive": "[[500, 500]]"}, "outside the 128x96 image"), ({"positive": "[[1, 2, 3]]"}, "(x, y) pairs"),
        ({"positive": "[[1, 2"}, "must be JSON"),
        ({"negative": "[[10, 10]]", "box": ""}, "positive"), ({"box": ""}, "positive"),
    ]:
        key = "-".join(f"{k}{v}" for k, v in params.items()).replace(" ", "").replace(",", "_")
        add({"id": f"segment-param-{key}", "kind": "segment", "endpoint": "segment", "file": GOOD,
             "params": params, "expect": "error", "message": message})
    # /outpaint
    for params, message in [
        ({"right": -5}, "right must be >= 0"), ({"right": 0}, "nothing to outpaint"),
        ({"aspect": "0:9"}, "not in the list of choices"), ({"aspect": "wide"}, "not in the list of choices"),
        ({"right": 100000, "bottom": 100000}, "megapixels"), ({"mode": "bogus"}, "not in the list of choices"),
    ]:
        key = "-".join(f"{k}{v}" for k, v in params.items())
        add({"id": f"outpaint-param-{key}", "kind": "outpaint", "endpoint": "outpaint", "file": GOOD,
             "params": params, "expect": "error", "message": message})
    # /feather_lab, /preview and the mask tools
    for params, message in [
        ({"widths": "-1"}, "[0, 500]"), ({"widths": "abc"}, "numbers"), ({"widths": ""}, "at least one"),
        ({"widths": "nan"}, "[0, 500]"), ({"methods": []}, "at least one"), ({"colour": "#zz"}, "#rrggbb"),
        ({"widths": " ".join(str(i) for i in range(30))}, "at most"), ({"grow": -1}, "minimum value 0"),
    ]:
        key = "-".join(f"{k}{v}" for k, v in params.items())[:40].replace(" ", "_")
        add({"id": f"feather_lab-param-{key}", "kind": "feather_lab", "endpoint": "feather_lab", "file": GOOD,
             "params": params, "expect": "error", "message": message})
    for params, message in [({"grow": -1}, "minimum value 0"), ({"feather": -2}, "minimum value -1"),
                            ({"method": "bogus"}, "bogus is not in the list of choices")]:
        key = "-".join(f"{k}{v}" for k, v in params.items())
        add({"id": f"preview-param-{key}", "kind": "canvas", "endpoint": "preview", "value": "middle",
             "params": params, "photo": GOOD, "expect": "error", "message": message})
    for tool, px, message in [("grow", -3, "minimum value 1"), ("shrink", 1000, "maximum value 64"),
                               ("grow", 0, "minimum value 1"), ("invert", 65, "maximum value 64"),
                               ("clear", 0, "minimum value 1")]:
        add({"id": f"tool-{tool}-{px}", "kind": "canvas", "endpoint": f"{tool}_mask", "value": "middle",
             "params": {"px": px}, "photo": GOOD, "expect": "error", "message": message})
    ids = [c["id"] for c in cases]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    return cases


CASES = _cases()


# ---------------------------------------------------------------------------------------------------------
# Canvas values


def middle_mask(h: int, w: int) -> np.ndarray:
    return bad_inputs._middle_mask(h, w) > 0


def _runs_text(lengths) -> str:
    return "r:" + base64.b64encode(maskcodec.varints(np.asarray(lengths, np.int64))).decode("ascii")


def canvas_case(name: str, key: str) -> tuple[dict | None, np.ndarray]:
    """(the canvas value, the HW bool mask it means) of a named canvas case for the 128x96 photo with content hash
    ``key``. Values that mean no mask (empty, refused) come with an empty one."""
    none = np.zeros((H, W), bool)
    middle = middle_mask(H, W)
    if name == "none":  # no canvas value at all (an API client that sends null)
        return None, none
    if name == "empty":
        return canvas_value(none, key, REV), none
    if name == "no-text":
        return dict(canvas_value(none, key, REV), mask=None), none
    if name == "middle":
        return canvas_value(middle, key, REV), middle
    if name == "no-key":  # an API client that does not know the photo's hash: the size must still match
        return canvas_value(middle, None, REV), middle
    if name == "full":
        return canvas_value(~none, key, REV), ~none
    if name == "one-pixel":
        m = none.copy()
        m[50, 60] = True
        return canvas_value(m, key, REV), m
    if name == "comb-bits":  # one connected region of 1-px teeth: more runs than bits, so sent as "b:" text
        m = none.copy()
        m[20, 10:118] = True
        m[20:80, 10:118:2] = True
        value = canvas_value(m, key, REV)
        assert value["mask"].startswith("b:")
        return value, m
    if name == "two-shapes":
        m = none.copy()
        m[10:30, 10:40] = True
        m[50:90, 70:120] = True
        return canvas_value(m, key, REV), m
    if name == "other-size":  # the canvas still shows another (smaller) photo
        return canvas_value(middle_mask(48, 64), key, REV), none
    if name == "other-key":  # ... or another photo of the same size
        return canvas_value(middle, "0" * 64, REV), none
    if name == "size-as-text":
        return dict(canvas_value(middle, key, REV), w=str(W), h=str(H)), none
    damaged = {
        "damaged-base64": "r:@@not base64@@",
        "cut-off": "r:" + base64.b64encode(b"\x05\x80").decode("ascii"),  # the last varint has its "more" bit set
        "wrong-total": maskcodec.encode(middle_mask(48, 64)),  # the runs of a 64x48 mask under w=128, h=96
        "bits-wrong-length": "b:" + base64.b64encode(bytes(W * H // 8 - 1)).decode("ascii"),
        "unknown-kind": "x:AAAA",
        "not-text": 12345,
        "huge-run": "r:" + base64.b64encode(b"\xff" * 10 + b"\x01").decode("ascii"),
        "wrapping-runs": _runs_text([2 ** 62] * 3 + [2 ** 62 + W * H]),  # totals W*H modulo 2^64
    }
    if name in damaged:
        return dict(canvas_value(middle, key, REV), mask=damaged[name]), none
    if name == "updating":  # a value to the canvas that it has not applied yet
        return dict(canvas_value(middle, key, REV), op="mask"), none
    raise AssertionError(name)


# ---------------------------------------------------------------------------------------------------------
# The app, the files, and what the server decoded


class ReadLog:
    """Wraps pipelines.io.read to record the server-side paths the app decodes (the uploaded copies)."""

    def __init__(self, inner):
        self.inner = inner
        self.paths: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, path, *args, **kwargs):
        with self.lock:
            self.paths.append(str(path))
        return self.inner(path, *args, **kwargs)


@pytest.fixture(scope="module")
def read_log():
    log = ReadLog(io.read)
    io.read = log
    try:
        yield log
    finally:
        io.read = log.inner


@pytest.fixture(scope="module")
def app(tiny_model_folder, read_log):
    import torch

    torch.set_num_threads(1)
    with launched_app(model=str(tiny_model_folder), engine="telea", device="cpu", segmenter="grabcut",
                      examples=False) as url:
        yield url


@pytest.fixture(scope="module")
def client(app):
    return Client(app, verbose=False)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    if not EDGE_CASES.is_dir():
        pytest.skip(f"{EDGE_CASES} is missing (CI puts ../shared beside the clone)")
    folder = tmp_path_factory.mktemp("web_bad_inputs")
    bad_inputs.make_files(folder, EDGE_CASES)
    return folder


def _sha(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


INPAINT_DEFAULTS = dict(prompt="", negative="", mode="Replace", engine="telea", model="", strength=1.0, feather=-1,
                        grow=0, steps=2, guidance=2.0, seed=1, variants=1, method="seamless")


def inpaint(client, value, **params):
    p = {**INPAINT_DEFAULTS, **params}
    return client.predict(value, *p.values(), api_name="/inpaint")


def load(client, path) -> tuple[dict, str]:
    value, status = client.predict(handle_file(str(path)), api_name="/load_photo")
    return value, status


def check_files(result_png, mask_png, upload: Path, mask: np.ndarray) -> None:
    """The contract at the upload's own format: the mask used is ``mask``; outside it io.read(result) ==
    io.read(upload)."""
    native = io.read(upload).pixels
    result = io.read(result_png).pixels
    repainted = np.asarray(Image.open(mask_png)) > 0
    assert result.dtype == native.dtype and result.shape == native.shape, (result.dtype, result.shape, native.shape)
    assert np.array_equal(repainted, mask), "the mask used is not the mask sent"
    assert np.array_equal(result[~mask], native[~mask]), "pixels outside the mask changed"


def check_inpaint(out, upload: Path, mask: np.ndarray) -> None:
    """An /inpaint answer: the file contract, and the canvas gets the result's display copy for this photo."""
    check_files(out[3], out[4], upload, mask)
    w, h = io.read(upload).size
    dw, dh = display_size(w, h)
    assert out[0]["op"] == "result" and out[0]["key"] == _sha(upload)
    assert data_url_pixels(out[0]["result"]).shape == (dh, dw, 3)


def mask_of(value: dict, w: int = W, h: int = H) -> np.ndarray:
    """The mask a canvas value from the server (op mask) puts on the canvas."""
    assert value["op"] == "mask", value.get("op")
    return np.zeros((h, w), bool) if not value.get("mask") else maskcodec.decode(value["mask"], (h, w))


LOADED: dict = {}
"""The photo the module's client session holds now (a failed load keeps the previous one): saves a load per case."""


def load_once(client, path: Path) -> None:
    if LOADED.get(id(client)) != str(path):
        LOADED.pop(id(client), None)
        load(client, path)
        LOADED[id(client)] = str(path)


def assert_alive(client, inputs, full: bool = False) -> None:
    """A good request after a failure: loading the good photo (decode, display copy, session) works; ``full``:
    and inpainting it, with its outside byte-identical."""
    LOADED.pop(id(client), None)
    value, status = load(client, inputs / GOOD)
    assert "128x96" in status and value["op"] == "load" and value["key"] == _sha(inputs / GOOD)
    LOADED[id(client)] = str(inputs / GOOD)
    if full:
        mask = middle_mask(H, W)
        check_inpaint(inpaint(client, canvas_value(mask, value["key"])), inputs / GOOD, mask)


# ---------------------------------------------------------------------------------------------------------
# Running one case


def run_case(case: dict, client, app: str, inputs: Path, tmp: Path) -> list[Path]:
    """Send the case; check a success's contract. Returns the local files it uploaded."""
    kind = case["kind"]
    params = case.get("params", {})
    uploaded: list[Path] = []

    def up(path: Path):
        uploaded.append(Path(path))
        return handle_file(str(path))

    if "photo" in case:  # the session's photo first
        uploaded.append(inputs / case["photo"])
        load_once(client, inputs / case["photo"])
    elif kind in ("photo", "load_photo"):
        LOADED.pop(id(client), None)

    if kind in ("photo", "load_photo"):
        path = inputs / case["file"]
        value, status = client.predict(up(path), api_name="/load_photo")
        w, h = io.read(path).size
        assert value["op"] == "load" and (value["w"], value["h"]) == (w, h) and value["key"] == _sha(path)
        dw, dh = display_size(w, h)
        assert data_url_pixels(value["photo"]).shape == (dh, dw, 3), "the canvas shows the photo as displayed"
        mask = middle_mask(h, w)
        check_inpaint(inpaint(client, canvas_value(mask, value["key"])), path, mask)
    elif kind == "upload_mask":
        path = inputs / case["file"]
        photo = inputs / case["photo"]
        w, h = io.read(photo).size
        value = client.predict(None, up(path), api_name="/upload_mask")
        expected = masks.to_mask(str(path), size=(w, h), resize=True)
        assert value["key"] == _sha(photo) and np.array_equal(mask_of(value, w, h), expected)
        check_inpaint(inpaint(client, canvas_value(mask_of(value, w, h), value["key"])), photo, expected)
    elif kind == "inpaint_image":
        files = {"image": GOOD, "mask": None, **case.get("files", {})}
        image = inputs / files["image"]
        if files["mask"] is None:  # a middle rectangle of the image's displayed size
            try:
                w, h = io.read(image).size
            except ValueError:  # an unreadable image: a mask of photo.png's size
                w, h = W, H
            mask_path = io.save_png(tmp / "middle_mask.png", bad_inputs._middle_mask(h, w))
        else:
            mask_path = inputs / files["mask"]
        p = {**INPAINT_DEFAULTS, **params}
        result_png, mask_png, info = client.predict(up(image), up(mask_path), *p.values(),
                                                    api_name="/inpaint_image")
        check_files(result_png, mask_png, image, masks.to_mask(str(mask_path), size=io.read(image).size))
        assert "outside changed 0.00%" in info
    elif kind == "canvas":
        run_canvas_case(case, client, inputs / case["photo"])
    elif kind == "no_photo":
        run_canvas_case(case, Client(app, verbose=False), None, mask_file=inputs / "mask_layer_rgba.png")
    elif kind == "inpaint_params":
        inpaint(client, canvas_value(middle_mask(H, W), _sha(inputs / case["photo"])), **params)
    elif kind == "segment":
        path = inputs / case["file"]
        w, h = (W, H) if case["expect"] == "error" else io.read(path).size
        p = {"positive": "", "negative": "", "box": f"[{w // 4}, {h // 4}, {max(w // 4 + 1, 3 * w // 4)}, "
                                                   f"{max(h // 4 + 1, 3 * h // 4)}]", **params}
        seg, engine = client.predict(up(path), p["positive"], p["negative"], p["box"], api_name="/segment")
        m = np.asarray(Image.open(seg))
        m = m[..., 0] if m.ndim == 3 else m
        assert m.shape == (h, w) and set(np.unique(m)) <= {0, 255} and "grabcut" in engine
    elif kind == "outpaint":
        path = inputs / case["file"]
        p = {"left": 0, "right": 24, "top": 0, "bottom": 0, "aspect": "none (amounts per side)", "mode": "single",
             **params}
        before, after, png, info = client.predict(up(path), p["left"], p["right"], p["top"], p["bottom"],
                                                  p["aspect"], p["mode"], "", "", "telea", "", 2, 2.0, 1,
                                                  api_name="/outpaint")
        native = io.read(path).pixels  # the file's own format (16-bit, LA, alpha kept)
        result = io.read(png).pixels
        h, w = native.shape[:2]
        assert result.dtype == native.dtype and result.shape == (h, w + 24) + native.shape[2:]
        assert np.array_equal(result[:, :w], native)
    elif kind == "feather_lab":
        path = inputs / case["file"]
        p = {"widths": "0, 4", "methods": ["seamless"], "colour": "#00ff00", "grow": 0, **params}
        panels = client.predict("patch", up(path), None, p["widths"], p["methods"], p["colour"], p["grow"],
                                api_name="/feather_lab")[0]  # the gallery (then the scrubber's outputs)
        assert len(panels) == 2 and all("outside unchanged" in x["caption"] for x in panels)
    else:
        raise AssertionError(kind)
    return uploaded


def run_canvas_case(case: dict, client, photo: Path | None, mask_file: Path | None = None) -> None:
    """A canvas value on one endpoint, against ``photo`` in the client's session (None: no photo loaded);
    /upload_mask sends ``mask_file``."""
    endpoint = case["endpoint"]
    params = case.get("params", {})
    key = _sha(photo) if photo is not None else "0" * 64
    value, mask = canvas_case(case.get("value", "middle"), key)
    if endpoint == "inpaint":
        out = inpaint(client, value, **params)
        check_inpaint(out, photo, mask)
    elif endpoint in TOOL_PX:
        out = client.predict(value, params.get("px", TOOL_PX[endpoint]), api_name=f"/{endpoint}")
        px = TOOL_PX[endpoint]
        expected = {"grow_mask": lambda m: masks.grow(m, px), "shrink_mask": lambda m: masks.shrink(m, px),
                    "invert_mask": lambda m: ~m, "clear_mask": np.zeros_like}[endpoint](mask)
        base = REV if isinstance(value, dict) and endpoint != "clear_mask" else None  # the rev it was made from
        assert out["key"] == key and out["base"] == base, out
        assert np.array_equal(mask_of(out), expected)
    elif endpoint == "upload_mask":  # only as a no-photo case: a good mask file
        client.predict(value, handle_file(str(mask_file)), api_name="/upload_mask")
        raise AssertionError("no photo: the upload must be refused")
    elif endpoint == "preview":
        p = {"grow": 6, "feather": -1, "method": "seamless", **params}
        out = client.predict(value, p["grow"], p["feather"], p["method"], api_name="/preview")
        assert out["op"] == "band" and out["key"] == key
        overlay = data_url_pixels(out["band"])
        assert overlay.shape == (H, W, 4)  # the display copy's size (the photo's here)
        shown = overlay[..., 3] > 0
        assert shown.any() and not shown[~masks.grow(mask, p["grow"] + 1)].any(), "the band is off the mask"
    elif endpoint == "feather_lab":
        panels = client.predict("patch", None, value, "0, 4", ["seamless"], "#00ff00", 0,
                                api_name="/feather_lab")[0]
        assert len(panels) == 2 and all("outside unchanged" in x["caption"] for x in panels)
        assert np.asarray(Image.open(panels[0]["image"]).convert("RGB")).shape == (H, W, 3)
    else:
        raise AssertionError(endpoint)


# ---------------------------------------------------------------------------------------------------------
# Tests


def assert_one_line(text: str, piece: str) -> None:
    text = text.strip()
    assert text, "an empty error message"
    assert "\n" not in text, text
    for bad in ("Traceback", "verbose error reporting", "internal error", "show_error"):
        assert bad not in text, text
    assert piece in text, f"{piece!r} not in {text!r}"


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_case(case, app, client, inputs, read_log, tmp_path, request):
    if "xfail" in case:
        request.applymarker(pytest.mark.xfail(strict=True, reason=case["xfail"]))
    files = {str(p): _sha(p) for p in inputs.iterdir() if p.is_file()}
    start = len(read_log.paths)
    if case["expect"] == "ok":
        run_case(case, client, app, inputs, tmp_path)
    else:
        with pytest.raises(Exception) as info:
            run_case(case, client, app, inputs, tmp_path)
        assert type(info.value).__name__ == "AppError", repr(info.value)
        assert_one_line(str(info.value), case["message"])
    # the uploaded files are unchanged: the local ones and the server's copies the app decoded
    assert {str(p): _sha(p) for p in inputs.iterdir() if p.is_file()} == files, "an input file changed"
    by_name = {Path(p).name: sha for p, sha in files.items()}
    for server_path in read_log.paths[start:]:
        name = Path(server_path).name
        if name in by_name and Path(server_path).is_file() and not server_path.startswith(str(inputs)):
            assert _sha(server_path) == by_name[name], f"the server's copy of {name} changed"
    if case["expect"] == "error":
        assert_alive(client, inputs)


def test_the_web_table_covers_every_endpoint_and_both_outcomes():
    outcomes = {(c["endpoint"], c["expect"]) for c in CASES}
    for endpoint in ALL_ENDPOINTS:
        assert (endpoint, "error") in outcomes, endpoint
        assert (endpoint, "ok") in outcomes, endpoint
    for endpoint in FILE_ENDPOINTS:  # every unreadable file on every endpoint that takes a file
        for name, _ in WEB_UNREADABLE:
            assert f"{endpoint}-{name}" in {c["id"] for c in CASES}, (endpoint, name)
    for endpoint in SESSION_ENDPOINTS:
        assert f"{endpoint}-no-photo" in {c["id"] for c in CASES}, endpoint
    canvas = {(c["endpoint"], c["value"]) for c in CASES if c["kind"] == "canvas"}
    for value in ("other-size", "damaged-base64", "empty", "comb-bits", "one-pixel", "none", "updating"):
        assert ("inpaint", value) in canvas, value
    assert len(CASES) > 200


def test_bombs_are_refused_from_their_header_without_decoding(client, inputs, tmp_path, monkeypatch):
    """Both bombs on every upload endpoint, with PIL's Image.load watched: no bomb's pixels are ever decoded."""
    sizes = []
    inner = Image.Image.load

    def watched(self, *args, **kwargs):
        sizes.append(self.size)
        return inner(self, *args, **kwargs)

    load(client, inputs / GOOD)  # a photo in the session, so /upload_mask gets as far as reading the mask
    LOADED[id(client)] = str(inputs / GOOD)
    mask_png = io.save_png(tmp_path / "middle.png", bad_inputs._middle_mask(H, W))
    plain = list(INPAINT_DEFAULTS.values())
    monkeypatch.setattr(Image.Image, "load", watched)
    for name in ("bomb_full_14200x14200_L.png", "bomb_header_100k.png"):
        for call in (lambda p: load(client, p),
                     lambda p: client.predict(None, handle_file(str(p)), api_name="/upload_mask"),
                     lambda p: client.predict(handle_file(str(p)), "[[5, 5]]", "", "", api_name="/segment"),
                     lambda p: client.predict(handle_file(str(p)), 0, 8, 0, 0, "none (amounts per side)", "single",
                                              "", "", "telea", "", 2, 2.0, 1, api_name="/outpaint"),
                     lambda p: client.predict("patch", handle_file(str(p)), None, "0, 4", ["seamless"], "#00ff00",
                                              0, api_name="/feather_lab"),
                     lambda p: client.predict(handle_file(str(p)), handle_file(str(mask_png)), *plain,
                                              api_name="/inpaint_image"),
                     lambda p: client.predict(handle_file(str(inputs / GOOD)), handle_file(str(p)), *plain,
                                              api_name="/inpaint_image")):
            with pytest.raises(Exception) as info:
                call(inputs / name)
            assert_one_line(str(info.value), "megapixels")
    assert not [s for s in sizes if s[0] * s[1] > 64e6], "a bomb was decoded"
    monkeypatch.undo()
    assert_alive(client, inputs, full=True)


def test_after_every_failure_a_full_inpaint_still_works(client, inputs):
    assert_alive(client, inputs, full=True)
