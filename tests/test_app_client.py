"""The app launched in-process on a free port and driven through gradio_client, as a remote user would.

The flow of the app: the photo is uploaded as a file (``/load_photo``) and decoded on the server by
pipelines.io.read into the client's session; the canvas gets a display copy (a JPEG data URL, at most 2048 px a
side) and holds the mask at the photo's full size. ``/inpaint`` takes the photo from the session and the mask from
the canvas value (editor.canvas.canvas_value: the mask as pipelines.maskcodec text), exactly as sent. The plain
``/inpaint_image`` takes an image file and a mask file, no session. Engines: the classical "telea" (no weights) and
a tiny diffusers model folder written by tests/tiny_models.py (loaded through the same path a user's --model takes).

Every result is checked at the uploaded file's own format: io.read of the result PNG equals io.read of the upload
outside the repainted mask, byte for byte (alpha and 16-bit included).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("gradio")
pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402

from conftest import data_url_pixels, launched_app, sha256  # noqa: E402
from editor.callbacks import display_size  # noqa: E402
from editor.canvas import canvas_value  # noqa: E402
from pipelines import io, maskcodec, masks  # noqa: E402


# ---------------------------------------------------------------------------------------------------------
# The app and the helpers a remote user would write


@pytest.fixture(scope="module")
def app(tiny_model_folder):
    """The app (classical engine by default, the tiny model as the configured model, GrabCut segmenter) on a free
    port; yields its URL."""
    import torch

    torch.set_num_threads(1)
    with launched_app(model=str(tiny_model_folder), engine="telea", device="cpu", segmenter="grabcut") as url:
        yield url


@pytest.fixture(scope="module")
def client(app):
    return Client(app, verbose=False)


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    """A 128x96 textured RGB PNG and a rectangle mask (HW bool) on it."""
    folder = tmp_path_factory.mktemp("client")
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[:96, :128].astype(np.float32)
    img = np.clip(np.dstack([50 + xx, 70 + yy, 140 - 0.4 * xx]) + rng.normal(0, 4, (96, 128, 3)), 0, 255)
    path = folder / "photo.png"
    Image.fromarray(img.astype(np.uint8)).save(path)
    mask = np.zeros((96, 128), bool)
    mask[36:60, 44:84] = True
    return path, mask


def load_photo(client, path) -> tuple[dict, str]:
    """Upload ``path``; returns (the canvas's load value, status markdown)."""
    value, status = client.predict(handle_file(str(path)), api_name="/load_photo")
    return value, status


def inpaint(client, value, engine="telea", model="", *, grow=0, steps=30, guidance=7.5, variants=1, seed=7):
    """/inpaint with the canvas value ``value`` (or None: no canvas value)."""
    return client.predict(value, "a cat", "", "Replace", engine, model, 1.0, -1, grow, steps, guidance, seed,
                          variants, "seamless", api_name="/inpaint")


def mask_in(value: dict, size: tuple[int, int]) -> np.ndarray:
    """The HW bool mask a canvas value from the server (op load / mask) puts on the canvas of ``size`` = (w, h)."""
    w, h = size
    return np.zeros((h, w), bool) if not value.get("mask") else maskcodec.decode(value["mask"], (h, w))


def check_load(value: dict, path: Path) -> tuple[int, int]:
    """The canvas's load value for the upload ``path``: the photo's displayed size, its content hash as the key,
    no mask, and a display copy (JPEG) of the displayed orientation, reduced to at most 2048 px a side. Returns
    the photo's (width, height)."""
    w, h = io.read(path).size
    assert value["op"] == "load" and (value["w"], value["h"]) == (w, h), (value["op"], value["w"], value["h"])
    assert value["key"] == sha256(path) and value["mask"] is None
    assert value["photo"].startswith("data:image/jpeg;base64,")
    shown = data_url_pixels(value["photo"])
    dw, dh = display_size(w, h)
    assert shown.shape == (dh, dw, 3), (shown.shape, (dh, dw))
    return w, h


def check_result(out, upload: Path, mask: np.ndarray, *, exact_mask: bool = True):
    """The contract on an /inpaint answer: result_png decodes (io.read) to the upload's own format, equal to the
    upload's decode outside the repainted mask and changed inside; the heatmap is black outside; the canvas gets
    the result's display copy for this photo. Returns (native result, repainted mask, gallery, info)."""
    view, gallery, heat, result_png, mask_png, info = out
    native = io.read(upload).pixels
    result = io.read(result_png).pixels
    repainted = np.asarray(Image.open(mask_png)) > 0
    assert result.dtype == native.dtype and result.shape == native.shape, (result.dtype, result.shape, native.shape)
    assert repainted.shape == native.shape[:2] and repainted[mask].all()
    if exact_mask:
        assert np.array_equal(repainted, mask), "the mask used is not the mask drawn"
    assert np.array_equal(result[~repainted], native[~repainted]), "pixels outside the mask changed"
    assert not np.array_equal(result[repainted], native[repainted]), "nothing was repainted"
    heat_px = np.asarray(Image.open(heat))
    if heat_px.shape[:2] == repainted.shape:
        assert not heat_px[~repainted].any(), "the heatmap shows a change outside the mask"
    h, w = native.shape[:2]
    dw, dh = display_size(w, h)
    assert view["op"] == "result" and view["key"] == sha256(upload)
    assert data_url_pixels(view["result"]).shape == (dh, dw, 3)
    assert heat_px.shape[:2] == (dh, dw)
    return result, repainted, gallery, info


def check_result_file(result_png, mask_png, upload: Path, mask: np.ndarray) -> np.ndarray:
    """The contract on an /inpaint_image answer: the mask used is ``mask``; the outside byte-identical at the
    upload's own format, the inside changed. Returns the native result."""
    native = io.read(upload).pixels
    result = io.read(result_png).pixels
    assert result.dtype == native.dtype and result.shape == native.shape, (result.dtype, result.shape, native.shape)
    assert np.array_equal(np.asarray(Image.open(mask_png)) > 0, mask), "the mask used is not the mask sent"
    assert np.array_equal(result[~mask], native[~mask]), "pixels outside the mask changed"
    assert not np.array_equal(result[mask], native[mask]), "nothing was repainted"
    return result


# ---------------------------------------------------------------------------------------------------------
# Inpaint


def test_load_photo_returns_the_display_copy_and_a_note(client, photo):
    path, mask = photo
    value, status = load_photo(client, path)
    assert check_load(value, path) == (128, 96)
    assert "128x96, RGB 8-bit" in status and "grabcut" in status


def test_inpaint_classical_through_the_api(client, photo):
    path, mask = photo
    before = sha256(path)
    value, _ = load_photo(client, path)
    out = inpaint(client, canvas_value(mask, value["key"]), "telea")
    result, repainted, gallery, info = check_result(out, path, mask)
    assert len(gallery) == 1 and "seam score" in gallery[0]["caption"] and "telea" in info
    assert "no growth" in info and "128x96, RGB 8-bit" in info
    assert sha256(path) == before


def test_growth_is_reported_and_in_the_mask_download(client, photo):
    path, mask = photo
    value, _ = load_photo(client, path)
    out = inpaint(client, canvas_value(mask, value["key"]), "ns", grow=6)
    result, repainted, gallery, info = check_result(out, path, mask, exact_mask=False)
    assert repainted.sum() > mask.sum() and "grown by 6 px" in info
    assert np.array_equal(repainted, masks.grow(mask, 6))


def test_inpaint_tiny_diffusion_model_through_the_api(client, photo, tiny_model_folder):
    path, mask = photo
    value, _ = load_photo(client, path)
    out = inpaint(client, canvas_value(mask, value["key"]), "diffusers", str(tiny_model_folder), steps=2,
                  guidance=2.0, variants=2)
    result, repainted, gallery, info = check_result(out, path, mask)
    assert len(gallery) == 2 and "seed" in gallery[0]["caption"] and tiny_model_folder.name in info


def test_inpaint_image_is_the_plain_session_less_endpoint(app, photo, tmp_path):
    """/inpaint_image from a fresh client (no photo loaded): an image file and a black/white mask file in, the
    result and the mask used out, the outside byte-identical."""
    path, mask = photo
    mask_png = io.save_png(tmp_path / "mask.png", mask.astype(np.uint8) * 255)
    fresh = Client(app, verbose=False)
    result_png, used_png, info = fresh.predict(
        handle_file(str(path)), handle_file(str(mask_png)), "", "", "Replace", "telea", "", 1.0, -1, 0, 30, 7.5, 7,
        1, "seamless", api_name="/inpaint_image")
    check_result_file(result_png, used_png, path, mask)
    assert "telea" in info and "no growth" in info
    # the same answer as the session's /inpaint on the same photo and mask
    value, _ = load_photo(fresh, path)
    out = inpaint(fresh, canvas_value(mask, value["key"]), "telea")
    assert np.array_equal(io.read(out[3]).pixels, io.read(result_png).pixels)


def test_rgba_photo_keeps_its_alpha_outside_the_mask(client, edge_cases):
    path = edge_cases / "bench_rgba.png"
    native = io.read(path).pixels
    assert native.ndim == 3 and native.shape[2] == 4 and len(np.unique(native[..., 3])) > 1
    value, status = load_photo(client, path)
    check_load(value, path)
    assert "RGBA 8-bit" in status
    mask = np.zeros(native.shape[:2], bool)
    mask[200:300, 150:330] = True
    result, repainted, _, _ = check_result(inpaint(client, canvas_value(mask, value["key"])), path, mask)
    assert np.array_equal(result[..., 3][~mask], native[..., 3][~mask])


def test_16bit_grey_photo_keeps_its_16bit_values_outside_the_mask(client, tmp_path):
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[:240, :320]
    grey = (300 * xx + 50 * yy + rng.integers(0, 257, (240, 320))).astype(np.uint16)  # every bit used
    path = io.save_png(tmp_path / "grey16.png", grey)
    native = io.read(path).pixels
    assert native.dtype == np.uint16 and native.ndim == 2 and np.array_equal(native, grey)
    value, status = load_photo(client, path)
    check_load(value, path)
    assert "L 16-bit" in status
    mask = np.zeros(native.shape, bool)
    mask[80:160, 100:220] = True
    out = inpaint(client, canvas_value(mask, value["key"]))
    result, _, _, _ = check_result(out, path, mask)
    assert result.dtype == np.uint16
    with Image.open(out[3]) as im:
        assert im.mode.startswith("I"), im.mode  # a 16-bit PNG, not an 8-bit one


def test_exif6_jpeg_comes_back_as_displayed_and_the_mask_lands_where_drawn(client, edge_cases):
    path = edge_cases / "dog_exif6.jpg"
    with Image.open(path) as im:
        assert im.size == (800, 534) and im.getexif().get(0x0112) == 6  # stored landscape
    native = io.read(path).pixels
    assert native.shape[:2] == (800, 534)  # displayed portrait
    value, status = load_photo(client, path)
    assert check_load(value, path) == (534, 800), "the canvas must show the displayed orientation"
    # an asymmetric stroke in the lower left of the displayed picture
    mask = np.zeros((800, 534), bool)
    mask[560:640, 60:220] = True
    out = inpaint(client, canvas_value(mask, value["key"]))
    result, repainted, _, _ = check_result(out, path, mask)
    assert result.shape[:2] == (800, 534)
    changed = np.any(result != native, axis=-1)
    ys, xs = np.nonzero(changed)
    assert ys.min() >= 560 and ys.max() < 640 and xs.min() >= 60 and xs.max() < 220


# ---------------------------------------------------------------------------------------------------------
# A photo larger than the display copy: the canvas shows it reduced, the mask travels at full size


@pytest.fixture(scope="module")
def big_photo(tmp_path_factory) -> Path:
    """A 4000x3000 textured RGB PNG: the canvas shows it at 2048x1536."""
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:3000, :4000].astype(np.float32)
    img = np.dstack([40 + xx / 25, 60 + yy / 20, 200 - xx / 40]) + 20 * np.sin(xx / 7)[..., None]
    img += rng.normal(0, 3, img.shape).astype(np.float32)
    path = tmp_path_factory.mktemp("big") / "big.png"
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path, compress_level=1)
    return path


def _big_mask() -> np.ndarray:
    """A rectangle and a disc at odd full-size places: no display pixel lines up with their edges."""
    mask = np.zeros((3000, 4000), bool)
    mask[1201:1467, 2003:2411] = True
    yy, xx = np.ogrid[:3000, :4000]
    mask |= (xx - 3101) ** 2 + (yy - 701) ** 2 <= 97 ** 2
    return mask


def test_a_full_size_mask_on_a_reduced_display_copy_comes_back_exact(client, big_photo):
    """A 4000x3000 photo: the canvas shows a 2048x1536 copy but holds the mask at full size; /grow_mask by 1 px
    gives exactly pipelines.masks.grow of the mask sent, and /inpaint with that mask repaints it pixel for pixel,
    the outside byte-identical at full size."""
    value, status = load_photo(client, big_photo)
    assert check_load(value, big_photo) == (4000, 3000) and "4000x3000" in status
    mask = _big_mask()
    grown = client.predict(canvas_value(mask, value["key"], rev=3), 1, api_name="/grow_mask")
    assert grown["op"] == "mask" and grown["key"] == value["key"] and grown["base"] == 3
    full = mask_in(grown, (4000, 3000))
    assert np.array_equal(full, masks.grow(mask, 1)) and full.sum() > mask.sum()
    check_result(inpaint(client, canvas_value(full, value["key"], rev=4)), big_photo, full)

    # the blend band preview comes at the display size, around the mask's place there
    band = client.predict(canvas_value(mask, value["key"]), 8, -1, "seamless", api_name="/preview")
    assert band["op"] == "band" and band["key"] == value["key"]
    overlay = data_url_pixels(band["band"])
    assert overlay.shape == (1536, 2048, 4)
    ys, xs = np.nonzero(overlay[..., 3])
    x0, y0, x1, y1 = (v * 2048 / 4000 for v in masks.bbox(mask))  # the mask's box on the display copy
    assert len(ys) and ys.min() >= y0 - 6 and ys.max() < y1 + 6 and xs.min() >= x0 - 6 and xs.max() < x1 + 6
    assert not overlay[:300, :900, 3].any()  # far from the mask: transparent


def test_one_pixel_detail_on_a_reduced_display_copy_is_kept_exactly(client, big_photo):
    """What the reduced copy cannot show (a diagonal stroke 1 px wide, isolated pixels 3 px apart: one display
    pixel covers about two photo pixels a side) is still the mask, exactly: nothing is scaled or thresholded."""
    value, _ = load_photo(client, big_photo)
    mask = np.zeros((3000, 4000), bool)
    k = np.arange(120)
    mask[1000 + k, 1500 + k] = True  # a 1-px diagonal
    mask[2000:2060:3, 2500:2560:3] = True  # a grid of single pixels (few: each one is its own region to fill)
    assert maskcodec.decode(canvas_value(mask)["mask"], (3000, 4000)).sum() == mask.sum()
    result, repainted, _, _ = check_result(inpaint(client, canvas_value(mask, value["key"])), big_photo, mask)
    assert repainted.sum() == mask.sum() == 120 + 20 * 20


# ---------------------------------------------------------------------------------------------------------
# Errors, tools, segmentation, outpaint


def assert_one_line(exc: BaseException, piece: str) -> str:
    text = str(exc).strip()
    assert piece in text, text
    assert "\n" not in text and "Traceback" not in text and "verbose error reporting" not in text, text
    return text


def test_user_errors_come_back_as_one_line_and_the_app_keeps_serving(app, client, photo, tmp_path):
    path, mask = photo
    fresh = Client(app, verbose=False)  # a new session: no photo yet
    with pytest.raises(Exception) as info:
        inpaint(fresh, canvas_value(mask))
    assert_one_line(info.value, "no photo")

    value, _ = load_photo(client, path)
    for empty in (None, canvas_value(np.zeros_like(mask), value["key"])):
        with pytest.raises(Exception) as info:
            inpaint(client, empty)
        assert_one_line(info.value, "the mask is empty")
    with pytest.raises(Exception) as info:  # the canvas still shows another photo (another size)
        inpaint(client, canvas_value(np.ones((48, 64), bool)))
    assert_one_line(info.value, "the canvas shows another photo")
    with pytest.raises(Exception) as info:  # ... or another photo of the same size
        inpaint(client, canvas_value(mask, "0" * 64))
    assert_one_line(info.value, "the canvas shows another photo")
    with pytest.raises(Exception) as info:
        inpaint(client, dict(canvas_value(mask, value["key"]), mask="r:not base64!"))
    assert_one_line(info.value, "damaged")

    text = tmp_path / "notes.png"
    text.write_text("not an image\n")
    with pytest.raises(Exception) as info:
        load_photo(client, text)
    assert_one_line(info.value, "not an image file")
    with pytest.raises(Exception) as info:
        inpaint(client, canvas_value(mask, value["key"]), "no-such-engine")
    assert "\n" not in str(info.value).strip()

    # the session still has the photo and the app still answers
    band = client.predict(canvas_value(mask, value["key"]), 6, -1, "seamless", api_name="/preview")
    assert band["op"] == "band" and data_url_pixels(band["band"]).shape == (96, 128, 4)
    check_result(inpaint(client, canvas_value(mask, value["key"])), path, mask)


def test_mask_tools_through_the_api(client, photo, tmp_path):
    path, mask = photo
    value, _ = load_photo(client, path)
    key = value["key"]
    sent = canvas_value(mask, key, rev=5)
    for tool, px, expected in [("grow", 4, masks.grow(mask, 4)), ("shrink", 3, masks.shrink(mask, 3)),
                               ("invert", 8, ~mask), ("clear", 8, np.zeros_like(mask))]:
        out = client.predict(sent, px, api_name=f"/{tool}_mask")
        assert out["op"] == "mask" and out["key"] == key, (tool, out)
        assert out["base"] == (None if tool == "clear" else 5), (tool, out["base"])
        assert np.array_equal(mask_in(out, (128, 96)), expected), tool
    assert mask_in(client.predict(sent, 4, api_name="/grow_mask"), (128, 96)).sum() > mask.sum()
    # invert takes an empty mask (everything is selected); grow does not
    everything = client.predict(canvas_value(np.zeros_like(mask), key), 1, api_name="/invert_mask")
    assert mask_in(everything, (128, 96)).all()
    with pytest.raises(Exception) as info:
        client.predict(canvas_value(np.zeros_like(mask), key), 4, api_name="/grow_mask")
    assert_one_line(info.value, "the mask is empty")

    mask_png = tmp_path / "mask_bw.png"
    Image.fromarray(mask.astype(np.uint8) * 255).save(mask_png)
    uploaded = client.predict(None, handle_file(str(mask_png)), api_name="/upload_mask")
    assert uploaded["op"] == "mask" and uploaded["key"] == key
    on_canvas = mask_in(uploaded, (128, 96))
    assert np.array_equal(on_canvas, mask)
    # the mask the server put on the canvas, sent back, is exactly that mask
    out = client.predict(canvas_value(on_canvas, key, rev=6), "", "", "Replace", "telea", "", 1.0, -1, 0, 30, 7.5,
                         1, 1, "seamless", api_name="/inpaint")
    check_result(out, path, mask)


def feather_lab(client, photo, value, widths, methods, colour="#00ff00", grow=0):
    """/feather_lab with a solid patch: returns (gallery [{image, caption}], the scrubber's update, the first panel,
    its seam enlarged 4x, its caption)."""
    return client.predict("patch", None if photo is None else handle_file(str(photo)), value, widths, methods,
                          colour, grow, api_name="/feather_lab")


def test_feather_lab_through_the_api(client, photo):
    path, mask = photo
    panels, scrub, full, zoom, caption = feather_lab(client, path, None, "0, 4, 12, 40", ["feather", "inward"])
    assert len(panels) == 8 and scrub["maximum"] == 8 and scrub["value"] == 1
    assert "not contract-safe" in panels[2]["caption"] and "outside unchanged" in panels[6]["caption"]
    assert caption.startswith("**1 of 8**") and panels[0]["caption"] in caption
    assert Image.open(full).size == (128, 96) and Image.open(zoom).size == (384, 384)  # 96 px of the seam, 4x
    # without a file: the session's photo and the canvas's mask
    value, _ = load_photo(client, path)
    panels, *_ = feather_lab(client, None, canvas_value(mask, value["key"]), "0, 8", ["seamless"])
    assert len(panels) == 2 and all("outside unchanged" in p["caption"] for p in panels)
    panel = np.asarray(Image.open(panels[0]["image"]).convert("RGB"))
    assert panel.shape == (96, 128, 3)
    # the patch lies exactly in the canvas's mask (hard: no blend), the photo elsewhere
    hard, *_ = feather_lab(client, None, canvas_value(mask, value["key"]), "0", ["hard"])
    assert len(hard) == 1
    panel = np.asarray(Image.open(hard[0]["image"]).convert("RGB")).astype(int)
    green = np.abs(panel - (0, 255, 0)).max(axis=2) <= 24  # the panels are JPEG: near the patch colour
    assert green[masks.shrink(mask, 2)].all() and not green[~masks.grow(mask, 2)].any()


def test_segment_through_the_api(client, photo, tmp_path):
    path, _ = photo
    scene = np.array(Image.open(path))
    yy, xx = np.mgrid[:96, :128]
    disc = (xx - 64) ** 2 + (yy - 48) ** 2 <= 20 ** 2
    scene[disc] = (230, 200, 40)  # an object to click on
    obj = tmp_path / "object.png"
    Image.fromarray(scene).save(obj)
    seg_mask, engine = client.predict(handle_file(str(obj)), "[[64, 48]]", "", "", api_name="/segment")
    seg = np.asarray(Image.open(seg_mask))
    seg = seg[..., 0] if seg.ndim == 3 else seg
    assert "grabcut" in engine and seg.shape == (96, 128)
    iou = (disc & (seg > 0)).sum() / (disc | (seg > 0)).sum()
    assert iou > 0.8, iou
    with pytest.raises(Exception) as info:
        client.predict(handle_file(str(path)), "[[64, 48", "", "", api_name="/segment")
    assert_one_line(info.value, "must be JSON")


def test_outpaint_classical_through_the_api(client, photo):
    path, _ = photo
    before, after, result_png, info = client.predict(
        handle_file(str(path)), 16, 16, 0, 8, "none (amounts per side)", "single", "", "", "telea", "", 10, 7.5, 1,
        api_name="/outpaint")
    result = io.read(result_png).pixels
    assert result.shape == (104, 160, 3)
    assert np.array_equal(result[:96, 16:144], io.read(path).pixels)  # the original byte-identical at its offset
    assert "telea" in info
