"""The web half of the bad-input suite: the files of tests/bad_inputs.py (and the edge cases beside the clone) sent
to the launched app through gradio_client, as a remote user would.

Every failure must come back as one line (no traceback, no "verbose error reporting", no "internal error"); the
uploaded files are unchanged (the local file and the server's copy that the app decoded); the server is alive
afterwards (a good load + inpaint still works). Every supported format works, with the outside of the mask
byte-identical at the file's own format (io.read of the result PNG against io.read of the upload).

Endpoints: /load_photo (+ /inpaint with a mask layer), /upload_mask, /segment, /outpaint, /feather_lab and the
parameters of /inpaint and the mask tools. The CLI-only cases of the table (blend, seams, output paths, a missing
file or a folder, which a browser cannot upload) are not repeated here.
"""

from __future__ import annotations

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
from conftest import EDGE_CASES  # noqa: E402
from pipelines import io, masks  # noqa: E402
from conftest import launched_app  # noqa: E402

LAYER_RGBA = (255, 59, 48, 255)
GOOD = "photo.png"  # 128x96 RGB, written by bad_inputs.make_files
WEB_UNREADABLE = [(name, message) for name, message in bad_inputs.UNREADABLE
                  if name not in ("missing.png", "folder.png")]  # a browser cannot upload these
ENDPOINTS = ("load_photo", "upload_mask", "segment", "outpaint", "feather_lab")


# ---------------------------------------------------------------------------------------------------------
# The case table (web form)


def _cases() -> list[dict]:
    cases: list[dict] = []
    for name, message in WEB_UNREADABLE:
        for endpoint in ENDPOINTS:
            case = {"id": f"{endpoint}-{name}", "kind": endpoint, "file": name, "expect": "error",
                    "message": message}
            if endpoint == "upload_mask":
                case["photo"] = GOOD
            cases.append(case)
    web_commands = {"inpaint": "photo", "segment": "segment", "outpaint": "outpaint"}
    for name, commands in bad_inputs.WORKING_IMAGES.items():
        for command in commands:
            if command in web_commands:
                cases.append({"id": f"{command}-works-{name}", "kind": web_commands[command], "file": name,
                              "expect": "ok"})
    for name in ("la.png", "cmyk.jpg", "rgba16.png", "palette_alpha.png", "exif6.png"):
        cases.append({"id": f"feather_lab-works-{name}", "kind": "feather_lab", "file": name, "expect": "ok"})
    for name in ("thin_row.png", "thin_column.png"):  # its default mask (a centred ellipse) is empty there
        cases.append({"id": f"feather_lab-{name}", "kind": "feather_lab", "file": name, "expect": "error",
                      "message": "the mask is empty"})
    cases.append({"id": "outpaint-thin_1x1", "kind": "outpaint", "file": "thin_1x1.png", "expect": "error",
                  "message": "too small"})

    # masks as /upload_mask files (scaled to the photo when their size differs: that is the web's contract)
    for name, photo in [("mask_full.png", GOOD), ("mask_grey_noise.png", GOOD), ("mask_layer_rgba.png", GOOD),
                        ("mask_small.png", GOOD), ("mask_noisy.jpg", "photo320.png"),
                        ("mask_pal.png", "photo320.png"), ("grey16.png", "photo320.png")]:
        cases.append({"id": f"upload_mask-works-{name}", "kind": "upload_mask", "file": name, "photo": photo,
                      "expect": "ok"})
    for name in ("mask_empty.png", "mask_grey127.png"):
        cases.append({"id": f"upload_mask-{name}", "kind": "upload_mask", "file": name, "photo": GOOD,
                      "expect": "error", "message": "the mask is empty"})

    # masks as editor layers (what the browser sends; display size)
    for layer, expect in [("empty", "the mask is empty"), ("alpha127", "the mask is empty"), ("full", "ok"),
                          ("one-pixel", "ok"), ("jpeg-noisy", "ok"), ("mismatched", "ok"), ("two-layers", "ok")]:
        # jpeg-noisy: a layer without alpha arrives as opaque RGBA; its luminance must decide (only the white part)
        cases.append({"id": f"layer-{layer}", "kind": "layer", "layer": layer, "photo": GOOD,
                      "expect": "ok" if expect == "ok" else "error", "message": expect})

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
        cases.append({"id": f"inpaint-param-{key}", "kind": "inpaint_params", "params": params, "photo": GOOD,
                      "expect": "error", "message": message})
    # /segment
    for params, message in [
        ({"box": "[1, 2, 3]"}, "four finite numbers"), ({"box": "[100, 80, 20, 10]"}, "is empty"),
        ({"box": "[0, 0, 500, 500]"}, "not inside the 128x96 image"),
        ({"positive": "[[500, 500]]"}, "outside the 128x96 image"), ({"positive": "[[1, 2, 3]]"}, "(x, y) pairs"),
        ({"positive": "[[1, 2"}, "must be JSON"),
        ({"negative": "[[10, 10]]", "box": ""}, "positive"), ({"box": ""}, "positive"),
    ]:
        key = "-".join(f"{k}{v}" for k, v in params.items()).replace(" ", "").replace(",", "_")
        cases.append({"id": f"segment-param-{key}", "kind": "segment", "file": GOOD, "params": params,
                      "expect": "error", "message": message})
    # /outpaint
    for params, message in [
        ({"right": -5}, "right must be >= 0"), ({"right": 0}, "nothing to outpaint"),
        ({"aspect": "0:9"}, "not in the list of choices"), ({"aspect": "wide"}, "not in the list of choices"), ({"right": 100000, "bottom": 100000}, "megapixels"),
        ({"mode": "bogus"}, "not in the list of choices"),
    ]:
        key = "-".join(f"{k}{v}" for k, v in params.items())
        cases.append({"id": f"outpaint-param-{key}", "kind": "outpaint", "file": GOOD, "params": params,
                      "expect": "error", "message": message})
    # /feather_lab and the mask tools
    for params, message in [
        ({"widths": "-1"}, "[0, 500]"), ({"widths": "abc"}, "numbers"), ({"widths": ""}, "at least one"),
        ({"widths": "nan"}, "[0, 500]"), ({"methods": []}, "at least one"), ({"colour": "#zz"}, "#rrggbb"),
        ({"widths": " ".join(str(i) for i in range(30))}, "at most"), ({"grow": -1}, "minimum value 0"),
    ]:
        key = "-".join(f"{k}{v}" for k, v in params.items())[:40].replace(" ", "_")
        cases.append({"id": f"feather_lab-param-{key}", "kind": "feather_lab", "file": GOOD, "params": params,
                      "expect": "error", "message": message})
    for tool, px, message in [("grow", -3, "minimum value 1"), ("shrink", 1000, "maximum value 64"),
                               ("grow", 0, "minimum value 1")]:
        cases.append({"id": f"tool-{tool}-{px}", "kind": "tool", "tool": tool, "px": px, "photo": GOOD,
                      "expect": "error", "message": message})
    ids = [c["id"] for c in cases]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    return cases


CASES = _cases()


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


def layer_file(mask: np.ndarray, folder: Path, name: str = "layer.png") -> Path:
    layer = np.zeros(mask.shape + (4,), np.uint8)
    layer[mask] = LAYER_RGBA
    path = Path(folder) / name
    Image.fromarray(layer).save(path)
    return path


def editor(*layers) -> dict:
    return {"background": None, "layers": [handle_file(str(p)) for p in layers], "composite": None, "id": None}


def middle_mask(h: int, w: int) -> np.ndarray:
    return bad_inputs._middle_mask(h, w) > 0


INPAINT_DEFAULTS = dict(prompt="", negative="", mode="Replace", engine="telea", model="", strength=1.0, feather=-1,
                        grow=0, steps=2, guidance=2.0, seed=1, variants=1, method="seamless")


def inpaint(client, value, **params):
    p = {**INPAINT_DEFAULTS, **params}
    return client.predict(value, *p.values(), api_name="/inpaint")


def load(client, path):
    return client.predict(handle_file(str(path)), api_name="/load_photo")


def check_inpaint(out, upload: Path, mask: np.ndarray) -> None:
    """The contract at the upload's own format: outside the (repainted) mask io.read(result) == io.read(upload)."""
    native = io.read(upload).pixels
    result = io.read(out[3]).pixels
    repainted = np.asarray(Image.open(out[4])) > 0
    assert result.dtype == native.dtype and result.shape == native.shape, (result.dtype, result.shape, native.shape)
    assert np.array_equal(repainted, mask), "the mask used is not the mask sent"
    assert np.array_equal(result[~mask], native[~mask]), "pixels outside the mask changed"


LOADED: dict = {}
"""The photo the module's client session holds now (a failed load keeps the previous one): saves a load per case."""


def load_once(client, path: Path) -> None:
    if LOADED.get(id(client)) != str(path):
        LOADED.pop(id(client), None)
        load(client, path)
        LOADED[id(client)] = str(path)


def assert_alive(client, inputs, tmp_path, full: bool = False) -> None:
    """A good request after a failure: loading the good photo (decode, display copy, session) works; ``full``:
    and inpainting it, with its outside byte-identical."""
    LOADED.pop(id(client), None)
    value, view, status = load(client, inputs / GOOD)
    assert "128x96" in status
    LOADED[id(client)] = str(inputs / GOOD)
    if full:
        mask = middle_mask(96, 128)
        check_inpaint(inpaint(client, editor(layer_file(mask, tmp_path, "alive.png"))), inputs / GOOD, mask)


# ---------------------------------------------------------------------------------------------------------
# Running one case


def run_case(case: dict, client, inputs: Path, tmp: Path) -> list[Path]:
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
        value, view, status = client.predict(up(path), api_name="/load_photo")
        w, h = io.read(path).size
        assert Image.open(value["background"]).size == (w, h), "the editor shows the photo as displayed"
        mask = middle_mask(h, w)
        check_inpaint(inpaint(client, editor(layer_file(mask, tmp))), path, mask)
    elif kind == "upload_mask":
        path = inputs / case["file"]
        value = client.predict(editor(), up(path), api_name="/upload_mask")
        photo = inputs / case["photo"]
        w, h = io.read(photo).size
        expected = masks.to_mask(str(path), size=(w, h), resize=True)
        layer = np.asarray(Image.open(value["layers"][0]))
        assert np.array_equal(layer[..., 3] >= 128, expected)
        out = inpaint(client, {"background": None, "layers": [handle_file(value["layers"][0])], "composite": None,
                               "id": None})
        check_inpaint(out, photo, expected)
    elif kind == "layer":
        mask, files = layer_case(case["layer"], tmp)
        out = inpaint(client, editor(*files))
        check_inpaint(out, inputs / case["photo"], mask)
    elif kind == "inpaint_params":
        mask = middle_mask(96, 128)
        inpaint(client, editor(layer_file(mask, tmp)), **params)
    elif kind == "segment":
        path = inputs / case["file"]
        w, h = (128, 96) if case["expect"] == "error" else io.read(path).size
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
        panels = client.predict("patch", up(path), editor(), p["widths"], p["methods"], p["colour"], p["grow"],
                                api_name="/feather_lab")
        assert len(panels) == 2 and all("outside unchanged" in x["caption"] for x in panels)
    elif kind == "tool":
        mask = middle_mask(96, 128)
        client.predict(editor(layer_file(mask, tmp)), case["px"], api_name=f"/{case['tool']}_mask")
    else:
        raise AssertionError(kind)
    return uploaded


def layer_case(name: str, tmp: Path) -> tuple[np.ndarray, list[Path]]:
    """(the mask at the photo's size, the layer files) for the editor-layer cases on the 128x96 photo."""
    mask = np.zeros((96, 128), bool)
    if name == "empty":
        return mask, [layer_file(mask, tmp)]
    if name == "alpha127":
        layer = np.zeros((96, 128, 4), np.uint8)
        layer[20:70, 30:90] = (255, 59, 48, 127)
        Image.fromarray(layer).save(tmp / "alpha127.png")
        return mask, [tmp / "alpha127.png"]
    if name == "full":
        return ~mask, [layer_file(~mask, tmp)]
    if name == "one-pixel":
        mask[50, 60] = True
        return mask, [layer_file(mask, tmp)]
    if name == "jpeg-noisy":  # a layer without alpha: luminance decides; JPEG noise at the edges
        mask[30:60, 40:90] = True
        Image.fromarray(mask.astype(np.uint8) * 255).save(tmp / "layer.jpg", quality=60)
        return masks.to_mask(str(tmp / "layer.jpg")), [tmp / "layer.jpg"]
    if name == "mismatched":  # a layer at half the size: scaled to the photo like a reduced display copy's
        small = np.zeros((48, 64), bool)
        small[12:36, 16:48] = True
        mask[24:72, 32:96] = True
        return mask, [layer_file(small, tmp)]
    if name == "two-layers":
        a, b = mask.copy(), mask.copy()
        a[10:30, 10:40] = True
        b[50:90, 70:120] = True
        return a | b, [layer_file(a, tmp, "a.png"), layer_file(b, tmp, "b.png")]
    raise AssertionError(name)


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
def test_case(case, client, inputs, read_log, tmp_path, request):
    if "xfail" in case:
        request.applymarker(pytest.mark.xfail(strict=True, reason=case["xfail"]))
    files = {str(p): _sha(p) for p in inputs.iterdir() if p.is_file()}
    start = len(read_log.paths)
    if case["expect"] == "ok":
        run_case(case, client, inputs, tmp_path)
    else:
        with pytest.raises(Exception) as info:
            run_case(case, client, inputs, tmp_path)
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
        assert_alive(client, inputs, tmp_path)


def test_the_web_table_covers_every_endpoint_and_both_outcomes():
    kinds = {(c["kind"], c["expect"]) for c in CASES}
    for kind in ENDPOINTS:
        assert (kind, "error") in kinds, kind
    for kind in ("photo", "upload_mask", "layer", "segment", "outpaint", "feather_lab"):
        assert (kind, "ok") in kinds, kind
    assert len(CASES) > 100


def test_bombs_are_refused_from_their_header_without_decoding(client, inputs, tmp_path, monkeypatch):
    """Both bombs on every upload endpoint, with PIL's Image.load watched: no bomb's pixels are ever decoded."""
    sizes = []
    inner = Image.Image.load

    def watched(self, *args, **kwargs):
        sizes.append(self.size)
        return inner(self, *args, **kwargs)

    load(client, inputs / GOOD)  # a photo in the session, so /upload_mask gets as far as reading the mask
    monkeypatch.setattr(Image.Image, "load", watched)
    for name in ("bomb_full_14200x14200_L.png", "bomb_header_100k.png"):
        for call in (lambda p: load(client, p),
                     lambda p: client.predict(editor(), handle_file(str(p)), api_name="/upload_mask"),
                     lambda p: client.predict(handle_file(str(p)), "[[5, 5]]", "", "", api_name="/segment"),
                     lambda p: client.predict(handle_file(str(p)), 0, 8, 0, 0, "none (amounts per side)", "single",
                                              "", "", "telea", "", 2, 2.0, 1, api_name="/outpaint")):
            with pytest.raises(Exception) as info:
                call(inputs / name)
            assert_one_line(str(info.value), "megapixels")
    assert not [s for s in sizes if s[0] * s[1] > 64e6], "a bomb was decoded"
    monkeypatch.undo()
    assert_alive(client, inputs, tmp_path, full=True)


def test_after_every_failure_a_full_inpaint_still_works(client, inputs, tmp_path):
    assert_alive(client, inputs, tmp_path, full=True)
