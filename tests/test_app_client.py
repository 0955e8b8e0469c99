"""The app launched in-process on a free port and driven through gradio_client, as a remote user would.

The flow of the app: the photo is uploaded as a file (``/load_photo``) and decoded on the server by
pipelines.io.read into the client's session; ``/inpaint`` takes the photo from the session and the mask from the
editor payload's layers (its background is ignored). Engines: the classical "telea" (no weights) and a tiny
diffusers model folder written by tests/tiny_models.py (loaded through the same path a user's --model takes).

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

from conftest import sha256  # noqa: E402
from pipelines import io  # noqa: E402
from conftest import launched_app  # noqa: E402

LAYER_RGBA = (255, 59, 48, 166)  # the editor's brush: translucent red, alpha >= 128 counts as mask


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


def layer_file(mask: np.ndarray, folder: Path, name: str = "layer.png", alpha: int = LAYER_RGBA[3]) -> Path:
    """The editor's mask layer for ``mask`` (HW bool, display size): an RGBA PNG, brush colour where painted."""
    layer = np.zeros(mask.shape + (4,), np.uint8)
    layer[mask] = LAYER_RGBA[:3] + (alpha,)
    path = Path(folder) / name
    Image.fromarray(layer).save(path)
    return path


def editor_payload(layer: Path | None) -> dict:
    """An ImageEditor value as the browser sends it; the background is ignored by the app (the session has the
    photo), so none is sent."""
    return {"background": None, "layers": [handle_file(str(layer))] if layer else [], "composite": None, "id": None}


def load_photo(client, path):
    """Upload ``path``; returns (editor value, segmentation view path, status)."""
    return client.predict(handle_file(str(path)), api_name="/load_photo")


def inpaint(client, layer, engine="telea", model="", *, grow=0, steps=30, guidance=7.5, variants=1, seed=7):
    return client.predict(editor_payload(layer), "a cat", "", "Replace", engine, model, 1.0, -1, grow, steps,
                          guidance, seed, variants, "seamless", api_name="/inpaint")


def check_result(out, upload: Path, mask: np.ndarray, *, exact_mask: bool = True):
    """The contract on an /inpaint answer: result_png decodes (io.read) to the upload's own format, equal to the
    upload's decode outside the repainted mask and changed inside; the heatmap is black outside; the slider shows
    display previews of the same size. Returns (native result, repainted mask, gallery, info)."""
    before_after, gallery, heat, result_png, mask_png, info = out
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
    before, after = (np.asarray(Image.open(p).convert("RGB")) for p in before_after)
    assert before.shape == after.shape and max(before.shape[:2]) <= 2048
    return result, repainted, gallery, info


# ---------------------------------------------------------------------------------------------------------
# Inpaint


def test_load_photo_returns_the_display_copy_and_a_note(client, photo):
    path, mask = photo
    value, view, status = load_photo(client, path)
    assert value["layers"] == [] and Path(value["background"]).suffix == ".jpg"
    assert Image.open(value["background"]).size == (128, 96) and Image.open(view).size == (128, 96)
    assert "128x96, RGB 8-bit" in status and "grabcut" in status


def test_inpaint_classical_through_the_api(client, photo, tmp_path):
    path, mask = photo
    before = sha256(path)
    load_photo(client, path)
    out = inpaint(client, layer_file(mask, tmp_path), "telea")
    result, repainted, gallery, info = check_result(out, path, mask)
    assert len(gallery) == 1 and "seam excess" in gallery[0]["caption"] and "telea" in info
    assert "no growth" in info and "128x96, RGB 8-bit" in info
    assert sha256(path) == before


def test_growth_is_reported_and_in_the_mask_download(client, photo, tmp_path):
    path, mask = photo
    load_photo(client, path)
    out = inpaint(client, layer_file(mask, tmp_path), "ns", grow=6)
    result, repainted, gallery, info = check_result(out, path, mask, exact_mask=False)
    assert repainted.sum() > mask.sum() and "grown by 6 px" in info


def test_inpaint_tiny_diffusion_model_through_the_api(client, photo, tiny_model_folder, tmp_path):
    path, mask = photo
    load_photo(client, path)
    out = inpaint(client, layer_file(mask, tmp_path), "diffusers", str(tiny_model_folder), steps=2, guidance=2.0,
                  variants=2)
    result, repainted, gallery, info = check_result(out, path, mask)
    assert len(gallery) == 2 and "seed" in gallery[0]["caption"] and tiny_model_folder.name in info


def test_rgba_photo_keeps_its_alpha_outside_the_mask(client, edge_cases, tmp_path):
    path = edge_cases / "bench_rgba.png"
    native = io.read(path).pixels
    assert native.ndim == 3 and native.shape[2] == 4 and len(np.unique(native[..., 3])) > 1
    value, view, status = load_photo(client, path)
    assert "RGBA 8-bit" in status
    mask = np.zeros(native.shape[:2], bool)
    mask[200:300, 150:330] = True
    result, repainted, _, _ = check_result(inpaint(client, layer_file(mask, tmp_path)), path, mask)
    assert np.array_equal(result[..., 3][~mask], native[..., 3][~mask])


def test_16bit_grey_photo_keeps_its_16bit_values_outside_the_mask(client, tmp_path):
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[:240, :320]
    grey = (300 * xx + 50 * yy + rng.integers(0, 257, (240, 320))).astype(np.uint16)  # every bit used
    path = io.save_png(tmp_path / "grey16.png", grey)
    native = io.read(path).pixels
    assert native.dtype == np.uint16 and native.ndim == 2 and np.array_equal(native, grey)
    value, view, status = load_photo(client, path)
    assert "L 16-bit" in status
    mask = np.zeros(native.shape, bool)
    mask[80:160, 100:220] = True
    out = inpaint(client, layer_file(mask, tmp_path))
    result, _, _, _ = check_result(out, path, mask)
    assert result.dtype == np.uint16
    with Image.open(out[3]) as im:
        assert im.mode.startswith("I"), im.mode  # a 16-bit PNG, not an 8-bit one


def test_exif6_jpeg_comes_back_as_displayed_and_the_mask_lands_where_drawn(client, edge_cases, tmp_path):
    path = edge_cases / "dog_exif6.jpg"
    with Image.open(path) as im:
        assert im.size == (800, 534) and im.getexif().get(0x0112) == 6  # stored landscape
    native = io.read(path).pixels
    assert native.shape[:2] == (800, 534)  # displayed portrait
    value, view, status = load_photo(client, path)
    assert Image.open(value["background"]).size == (534, 800), "the editor must show the displayed orientation"
    assert Image.open(view).size == (534, 800)
    # an asymmetric stroke in the lower left of the displayed picture
    mask = np.zeros((800, 534), bool)
    mask[560:640, 60:220] = True
    out = inpaint(client, layer_file(mask, tmp_path))
    result, repainted, _, _ = check_result(out, path, mask)
    assert result.shape[:2] == (800, 534)
    changed = np.any(result != native, axis=-1)
    ys, xs = np.nonzero(changed)
    assert ys.min() >= 560 and ys.max() < 640 and xs.min() >= 60 and xs.max() < 220


def _wide_photo(folder: Path) -> Path:
    rng = np.random.default_rng(3)
    big = np.clip(rng.normal(128, 30, (120, 4096, 3)), 0, 255).astype(np.uint8)
    path = folder / "wide.png"
    Image.fromarray(big).save(path)
    return path


def _scaled_masks() -> tuple[np.ndarray, np.ndarray]:
    """A stroke on the 2048x60 display copy of a 4096x120 photo, and where it lies at full size."""
    shown = np.zeros((60, 2048), bool)
    shown[20:40, 1000:1100] = True
    full = np.zeros((120, 4096), bool)
    full[40:80, 2000:2200] = True
    return shown, full


def test_a_mask_on_a_reduced_display_copy_is_scaled_up(client, tmp_path):
    """A photo wider than the display limit (2048): the editor shows it reduced; a layer painted on the reduced copy
    is scaled to the photo's size and the outside stays byte-identical at full size."""
    path = _wide_photo(tmp_path)
    value, view, status = load_photo(client, path)
    assert Image.open(value["background"]).size == (2048, 60) and "shown at 2048x60" in status
    shown, full = _scaled_masks()
    check_result(inpaint(client, layer_file(shown, tmp_path, alpha=255)), path, full)


def test_a_translucent_brush_on_a_reduced_display_copy_keeps_its_edges(client, tmp_path):
    """The app's brush is translucent (alpha 166): the mask is what the canvas shows (alpha >= 128), scaled up, so
    no edge pixel is lost (it was, while the soft alpha itself was scaled)."""
    path = _wide_photo(tmp_path)
    load_photo(client, path)
    shown, full = _scaled_masks()
    check_result(inpaint(client, layer_file(shown, tmp_path)), path, full)


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
        inpaint(fresh, layer_file(mask, tmp_path))
    assert_one_line(info.value, "no photo")

    load_photo(client, path)
    with pytest.raises(Exception) as info:
        inpaint(client, None)
    assert_one_line(info.value, "the mask is empty")

    text = tmp_path / "notes.png"
    text.write_text("not an image\n")
    with pytest.raises(Exception) as info:
        load_photo(client, text)
    assert_one_line(info.value, "not an image file")
    with pytest.raises(Exception) as info:
        inpaint(client, layer_file(mask, tmp_path), "no-such-engine")
    assert "\n" not in str(info.value).strip()

    # the session still has the photo and the app still answers
    band = client.predict(editor_payload(layer_file(mask, tmp_path)), 6, -1, "seamless", api_name="/preview")
    assert np.asarray(Image.open(band)).shape == (96, 128, 3)
    check_result(inpaint(client, layer_file(mask, tmp_path)), path, mask)


def test_mask_tools_through_the_api(client, photo, tmp_path):
    path, mask = photo
    load_photo(client, path)
    grown = client.predict(editor_payload(layer_file(mask, tmp_path)), 4, api_name="/grow_mask")
    layer = np.asarray(Image.open(grown["layers"][0]))
    assert layer.shape == (96, 128, 4) and (layer[..., 3] >= 128).sum() > mask.sum()
    mask_png = tmp_path / "mask_bw.png"
    Image.fromarray(mask.astype(np.uint8) * 255).save(mask_png)
    uploaded = client.predict(editor_payload(None), handle_file(str(mask_png)), api_name="/upload_mask")
    assert np.array_equal(np.asarray(Image.open(uploaded["layers"][0]))[..., 3] >= 128, mask)
    # the layer the server made maps back to exactly that mask
    out = client.predict({"background": None, "layers": [handle_file(uploaded["layers"][0])], "composite": None,
                          "id": None}, "", "", "Replace", "telea", "", 1.0, -1, 0, 30, 7.5, 1, 1, "seamless",
                         api_name="/inpaint")
    check_result(out, path, mask)


def test_feather_lab_through_the_api(client, photo, tmp_path):
    path, mask = photo
    panels = client.predict("patch", handle_file(str(path)), editor_payload(None), "0, 4, 12, 40",
                            ["feather", "inward"], "#00ff00", 0, api_name="/feather_lab")
    assert len(panels) == 8
    assert "not contract-safe" in panels[2]["caption"] and "outside unchanged" in panels[6]["caption"]
    # without a file: the session's photo and the editor's mask
    load_photo(client, path)
    panels = client.predict("patch", None, editor_payload(layer_file(mask, tmp_path)), "0, 8", ["seamless"],
                            "#00ff00", 0, api_name="/feather_lab")
    assert len(panels) == 2 and all("outside unchanged" in p["caption"] for p in panels)
    panel = np.asarray(Image.open(panels[0]["image"]).convert("RGB"))
    assert panel.shape == (96, 128, 3)


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
