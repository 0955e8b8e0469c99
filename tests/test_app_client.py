"""The app launched in-process on a free port and driven through gradio_client, as a remote user would.

Engines: the classical "telea" (no weights) and a tiny diffusers model folder written by tests/tiny_models.py
(loaded through the same path a user's --model takes). Checks that pixels outside the mask are byte-identical.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    import tiny_models

    return tiny_models.tiny_pipeline_folder(tmp_path_factory, 9)


@pytest.fixture(scope="module")
def client(model_folder):
    import torch

    from editor.layout import build_demo
    from editor.state import AppConfig

    torch.set_num_threads(1)
    demo = build_demo(AppConfig(model=str(model_folder), engine="telea", device="cpu", segmenter="grabcut"))
    port = free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True)
    try:
        yield Client(f"http://127.0.0.1:{port}/", verbose=False)
    finally:
        demo.close()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A photo (96x128 RGB PNG) and a mask layer (RGBA, alpha on a rectangle) as the editor would send them."""
    folder = tmp_path_factory.mktemp("client")
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[:96, :128].astype(np.float32)
    img = np.clip(np.dstack([50 + xx, 70 + yy, 140 - 0.4 * xx]) + rng.normal(0, 4, (96, 128, 3)), 0, 255)
    img = img.astype(np.uint8)
    layer = np.zeros((96, 128, 4), np.uint8)
    layer[36:60, 44:84] = (255, 59, 48, 166)
    Image.fromarray(img).save(folder / "photo.png")
    Image.fromarray(layer).save(folder / "layer.png")
    return img, layer[..., 3] >= 128, folder / "photo.png", folder / "layer.png"


def editor_payload(photo: Path, layer: Path | None) -> dict:
    return {"background": handle_file(str(photo)), "layers": [handle_file(str(layer))] if layer else [],
            "composite": handle_file(str(photo)), "id": None}


def inpaint(client, payload, engine, model="", steps=30, guidance=7.5, variants=1):
    return client.predict(payload, "a cat", "", "Replace", engine, model, 1.0, -1, 6, steps, guidance, 7, variants,
                          "seamless", api_name="/inpaint")


def check_result(out, img, mask):
    before_after, gallery, heat, result_png, mask_png, info = out
    result = np.asarray(Image.open(result_png))
    repainted = np.asarray(Image.open(mask_png)) > 0
    assert result.shape == img.shape and repainted[mask].all()
    assert np.array_equal(result[~repainted], img[~repainted])  # byte-identical outside the mask
    assert not np.array_equal(result[mask], img[mask])
    after = np.asarray(Image.open(before_after[1]).convert("RGB"))
    assert np.array_equal(after, result)  # the slider shows the lossless result
    assert not np.asarray(Image.open(heat))[~repainted].any()
    return result, gallery, info


def test_inpaint_classical_through_the_api(client, files):
    img, mask, photo, layer = files
    result, gallery, info = check_result(inpaint(client, editor_payload(photo, layer), "telea"), img, mask)
    assert len(gallery) == 1 and "seam excess" in gallery[0]["caption"] and "telea" in info


def test_inpaint_tiny_diffusion_model_through_the_api(client, files, model_folder):
    img, mask, photo, layer = files
    out = inpaint(client, editor_payload(photo, layer), "diffusers", str(model_folder), steps=2, guidance=2.0,
                  variants=2)
    result, gallery, info = check_result(out, img, mask)
    assert len(gallery) == 2 and "seed" in gallery[0]["caption"] and model_folder.name in info


def test_user_error_comes_back_as_one_line_and_the_app_keeps_serving(client, files):
    img, mask, photo, layer = files
    with pytest.raises(Exception, match="the mask is empty") as info:
        inpaint(client, editor_payload(photo, None), "telea")
    assert "\n" not in str(info.value).strip()
    heat_free = client.predict(editor_payload(photo, layer), 6, -1, "seamless", api_name="/preview")
    assert np.asarray(Image.open(heat_free)).shape == img.shape


def test_feather_lab_and_segment_through_the_api(client, files):
    img, mask, photo, layer = files
    panels = client.predict("patch", None, editor_payload(photo, layer), "0, 4, 12, 40", ["feather", "inward"],
                            "#00ff00", 0, api_name="/feather_lab")
    assert len(panels) == 8
    assert "not contract-safe" in panels[2]["caption"] and "outside unchanged" in panels[6]["caption"]
    pytest.importorskip("pipelines.segment")
    seg_mask, engine = client.predict(handle_file(str(photo)), "[[64, 48]]", "", "", api_name="/segment")
    assert "grabcut" in engine and np.asarray(Image.open(seg_mask)).shape[:2] == img.shape[:2]


def test_outpaint_classical_through_the_api(client, files):
    pytest.importorskip("pipelines.outpaint")
    img, mask, photo, layer = files
    before, after, result_png, info = client.predict(
        handle_file(str(photo)), 16, 16, 0, 8, "none (amounts per side)", "single", "", "", "telea", "", 10, 7.5, 1,
        api_name="/outpaint")
    result = np.asarray(Image.open(result_png))
    assert result.shape == (104, 160, 3)
    assert np.array_equal(result[:96, 16:144], img)  # the original sits byte-identical at its offset
    assert "telea" in info
