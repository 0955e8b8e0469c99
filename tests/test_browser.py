"""A real browser (Debian's chromium through Python Playwright) drives the app: upload a photo file into the Photo
box (the server decodes it and shows a display copy in the editor), paint a stroke on the editor's canvas with the
mouse, click on an object in the segmentation view, run Inpaint (classical engine), wait for the result, fetch the
downloads and check that pixels inside the stroke changed and those far outside are byte-identical to the
uploaded file's own decode (pipelines.io.read). A screenshot is saved under tests/out/.
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from conftest import launched_app  # noqa: E402

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
OUT = Path(__file__).parent / "out"
PHOTO = Path(__file__).resolve().parent.parent / "assets" / "examples" / "bench_dog.jpg"

if not (os.path.exists(CHROMIUM) and shutil.which(CHROMIUM)):
    pytest.skip(f"Debian chromium is not installed at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="Python Playwright is not installed (pip install playwright)")
pytest.importorskip("gradio")


@pytest.fixture(scope="module")
def server():
    with launched_app(engine="telea", segmenter="grabcut", examples=False) as url:
        yield url


@pytest.fixture(scope="module")
def page(server):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            pg = browser.new_page(viewport={"width": 1000, "height": 1200})
            pg.goto(server)
            pg.wait_for_selector("#editor", timeout=120_000)
            yield pg
        finally:
            browser.close()


def test_paint_click_run_and_check_pixels(page, tmp_path):
    OUT.mkdir(exist_ok=True)
    # a PNG of the example photo (small: the software-rendered canvas stays fast)
    photo = np.asarray(Image.open(PHOTO).convert("RGB").resize((256, 256), Image.LANCZOS))
    h, w = photo.shape[:2]
    png = tmp_path / "photo.png"
    Image.fromarray(photo).save(png)
    from pipelines import io as pio

    native = pio.read(png).pixels  # what the server decodes: the reference for "unchanged"
    assert np.array_equal(native, photo)

    # 1. upload the file into the Photo box; the server shows its display copy in the editor and the segmentation
    #    view (the status names the decoded photo)
    page.locator("#photo input[type=file]").first.set_input_files(str(png))
    page.wait_for_function(
        "() => document.querySelector('#seg-status') && document.querySelector('#seg-status').innerText.includes('256x256')",
        timeout=240_000)
    page.wait_for_selector("#seg-view img", timeout=60_000)
    page.wait_for_function(  # the editor's background image is in (its canvas is drawn)
        "() => document.querySelector('#editor canvas') && document.querySelector('#editor canvas').width > 0",
        timeout=60_000)
    page.wait_for_timeout(1000)
    canvas = page.locator("#editor canvas").first
    canvas.wait_for(state="visible")
    box = canvas.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2  # the photo is centred on the canvas

    # 2. paint a horizontal stroke through the middle with the brush (mouse down, moves, up)
    page.locator("#editor button[aria-label='Brush']").first.click()
    page.mouse.move(cx - 50, cy)
    page.mouse.down()
    page.mouse.move(cx + 50, cy, steps=4)  # few events: each one re-renders the WebGL canvas in software
    page.mouse.up()
    page.wait_for_timeout(500)

    # 3. click on the dog in the segmentation view (GrabCut fallback: no SAM checkpoint in tests)
    seg = page.locator("#seg-view img").first
    sb = seg.bounding_box()
    seg.click(position={"x": sb["width"] * 0.5, "y": sb["height"] * 0.45})
    page.wait_for_function(
        "() => document.querySelector('#seg-status') && document.querySelector('#seg-status').innerText.includes('candidate')",
        timeout=240_000)
    assert "fallback" in page.inner_text("#seg-status")

    # 4. run (classical engine) and wait for the result file
    page.locator("#run").click()
    link = page.locator("#result-file a[href]").first
    link.wait_for(timeout=240_000)
    page.wait_for_timeout(500)
    page.screenshot(path=str(OUT / "browser_app.png"), full_page=True)

    href = link.get_attribute("href")
    result = np.asarray(Image.open(io.BytesIO(page.request.get(href).body())))
    mask_href = page.locator("#mask-file a[href]").first.get_attribute("href")
    mask = np.asarray(Image.open(io.BytesIO(page.request.get(mask_href).body()))) > 0
    assert result.shape == native.shape and mask.shape == (h, w)

    # the stroke went through the photo's centre: there the pixels changed
    yc, xc = h // 2, w // 2
    assert mask[yc, xc - 20:xc + 20].all(), "the painted stroke did not reach the server as a mask"
    inside = np.abs(result[yc - 2:yc + 3, xc - 30:xc + 30].astype(int) - native[yc - 2:yc + 3, xc - 30:xc + 30])
    assert inside.mean() > 2, "pixels inside the stroke did not change"
    # far outside (rows more than 60 px from the stroke) nothing changed, byte for byte
    far = np.abs(np.arange(h) - yc)[:, None] > 60
    far = np.broadcast_to(far, (h, w))
    assert not mask[far].any()
    assert np.array_equal(result[far], native[far])
    # and everywhere outside the mask the result is the uploaded file's decode, byte for byte
    assert np.array_equal(result[~mask], native[~mask])
