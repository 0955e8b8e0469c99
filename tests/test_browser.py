"""A real browser (Debian's chromium through Python Playwright) drives the app's mask canvas.

The invariant: the mask the server uses is the mask the canvas shows, pixel for pixel at the photo's full size,
after every kind of edit (brush and eraser strokes at 1x and zoomed, lasso and polygon, select by click with the
candidate added, grow/shrink on the server, undo/redo, an example's mask). Three readings are compared each time:
the canvas's state (``maskCanvas.mask()``), what it draws (``maskCanvas.shown()``, read back from the drawn pixels)
and what the server decodes (a spy on editor.canvas.read_mask, fed by the Band button, which asks the server).

And the contract: on landscape, EXIF-6 portrait, alpha, gAMA, ICC-tagged and 16-bit photos the downloaded result
is byte-identical outside the mask to the uploaded file's own decode (pipelines.io.read); a full flow (upload,
select, grow, inpaint, continue from the result, inpaint again, undo the result) keeps every edit's outside exact.
Screenshots of each state go to tests/out/ (and a strip of the flow, used in the README).
"""

from __future__ import annotations

import hashlib
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
SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "images"
API = "document.querySelector('#canvas .mc').maskCanvas"

if not (os.path.exists(CHROMIUM) and shutil.which(CHROMIUM)):
    pytest.skip(f"Debian chromium is not installed at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="Python Playwright is not installed (pip install playwright)")
pytest.importorskip("gradio")

from pipelines import io as pio  # noqa: E402
from pipelines import maskcodec, masks  # noqa: E402


def shared(name: str) -> Path:
    path = SHARED / name
    if not path.is_file():
        pytest.skip(f"{path} is missing (CI puts ../shared beside the clone)")
    return path


@pytest.fixture(scope="module")
def spy():
    """Every mask the server decoded from a canvas value, in order (HW bool)."""
    from editor import canvas

    seen = []
    real = canvas.read_mask

    def recording(value, size, key=None, *, allow_empty=False):
        seen.append(real(value, size, key, allow_empty=True).copy())  # an empty mask too (then refused below)
        return real(value, size, key, allow_empty=allow_empty)

    mp = pytest.MonkeyPatch()
    mp.setattr(canvas, "read_mask", recording)
    yield seen
    mp.undo()


@pytest.fixture(scope="module")
def server(spy):
    with launched_app(engine="telea", segmenter="grabcut", examples=True) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser, server):
    """A fresh tab (its own session) on the app."""
    pg = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(server)
    pg.wait_for_selector("#canvas .mc", timeout=120_000)
    pg.wait_for_function(f"() => !!{API}", timeout=60_000)
    yield pg
    pg.close()
    assert not errors, errors


# ---------------------------------------------------------------------------------------------------- helpers


def shot(page, name: str, canvas_only: bool = False) -> Path:
    OUT.mkdir(exist_ok=True)
    path = OUT / f"browser_{name}.png"
    (page.locator("#canvas") if canvas_only else page).screenshot(path=str(path))
    return path


def state(page) -> dict:
    return page.evaluate(f"{API}.state()")


def upload(page, path: Path) -> dict:
    """Upload ``path`` into the Photo box and wait until the canvas shows it."""
    key = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    page.locator("#photo input[type=file]").first.set_input_files(str(path))
    page.wait_for_function(f"() => {API}.state().key === '{key}' && {API}.state().W > 0", timeout=240_000)
    return state(page)


def page_mask(page) -> np.ndarray:
    st = state(page)
    return maskcodec.decode(page.evaluate(f"{API}.mask()"), (st["H"], st["W"]))


def shown_mask(page) -> np.ndarray:
    st = state(page)
    return maskcodec.decode(page.evaluate(f"{API}.shown()"), (st["H"], st["W"]))


def server_mask(page, spy) -> np.ndarray:
    """The mask the server decodes from the canvas now: the Band button asks the server for the blend band."""
    n = len(spy)
    band = page.locator(".mc [data-act=band]")
    band.click()
    for _ in range(600):
        if len(spy) > n:
            break
        page.wait_for_timeout(50)
    assert len(spy) > n, "the server never read the canvas's mask"
    mask = spy[-1]
    if mask.any():  # the band arrives and shows; then off again (no request)
        page.wait_for_function(f"() => {API}.state().band", timeout=60_000)
        band.click()
    else:  # an empty mask has no band: the answer turns the button off
        page.wait_for_function(f"() => !{API}.state().bandOn", timeout=60_000)
    assert not state(page)["bandOn"]
    return mask


def check(page, spy) -> np.ndarray:
    """The invariant: state == drawn == what the server decodes. Returns the mask."""
    mine, drawn, theirs = page_mask(page), shown_mask(page), server_mask(page, spy)
    assert np.array_equal(mine, drawn), f"the canvas draws {int((mine != drawn).sum())} px unlike its mask"
    assert np.array_equal(mine, theirs), f"the server reads {int((mine != theirs).sum())} px unlike the canvas"
    return mine


def at(page, x: float, y: float) -> tuple[float, float]:
    """Page coordinates of the centre of image pixel (x, y) at the canvas's zoom."""
    return tuple(page.evaluate(f"{API}.client({x}, {y})"))


def drag(page, points, steps: int = 6) -> None:
    """Press at the first image point, move through the others, release."""
    rev = state(page)["rev"]
    page.mouse.move(*at(page, *points[0]))
    page.mouse.down()
    for p in points[1:]:
        page.mouse.move(*at(page, *p), steps=steps)
    page.mouse.up()
    page.wait_for_function(f"() => {API}.state().rev > {rev}", timeout=30_000)


def tool(page, name: str) -> None:
    page.locator(f".mc [data-tool={name}]").click()


def run_and_fetch(page, photo_h: int, photo_w: int):
    """Press Inpaint, wait for the new result, return (result native pixels, mask used) from the downloads."""
    old = page.locator("#result-file a[href]").first.get_attribute("href") if page.locator(
        "#result-file a[href]").count() else None
    page.locator("#run").click()
    page.wait_for_function(
        "old => { const a = document.querySelector('#result-file a[href]'); return a && a.getAttribute('href') !== old; }",
        arg=old, timeout=240_000)
    page.wait_for_function(f"() => {API}.state().compare", timeout=60_000)
    href = page.locator("#result-file a[href]").first.get_attribute("href")
    mask_href = page.locator("#mask-file a[href]").first.get_attribute("href")
    tmp = OUT / "_download.png"
    OUT.mkdir(exist_ok=True)
    tmp.write_bytes(page.request.get(href).body())
    result = pio.read(tmp).pixels
    tmp.unlink()
    mask = np.asarray(Image.open(io.BytesIO(page.request.get(mask_href).body()))) > 0
    assert mask.shape == (photo_h, photo_w)
    return result, mask


# ---------------------------------------------------------------------------------------------------- tests


def test_every_kind_of_edit_reaches_the_server_pixel_for_pixel(page, spy):
    st = upload(page, shared("dog.jpg"))
    W, H = st["W"], st["H"]
    assert (W, H) == (800, 534)
    assert not check(page, spy).any()

    tool(page, "brush")
    page.evaluate(f"{API}.setSize(30)")
    drag(page, [(150, 100), (300, 140), (420, 120)])
    stroke = check(page, spy)
    assert stroke[100, 150] and stroke[120, 420] and not stroke[400, 700]
    shot(page, "01_stroke")

    # zoomed in 4x on a spot: the pixel under the cursor is the one painted
    page.evaluate(f"{API}.zoomTo(4, 600, 380)")
    page.evaluate(f"{API}.setSize(3)")
    drag(page, [(596, 380), (604, 380)], steps=4)
    zoomed = check(page, spy)
    assert zoomed[380, 596:605].all() and not zoomed[376, 600] and (zoomed & ~stroke).sum() < 60
    shot(page, "02_zoomed")
    page.evaluate(f"{API}.fit()")

    tool(page, "eraser")
    page.evaluate(f"{API}.setSize(20)")
    drag(page, [(300, 60), (300, 200)])
    erased = check(page, spy)
    assert not erased[140, 300] and erased.sum() < zoomed.sum()

    tool(page, "lasso")  # a dragged loop
    drag(page, [(500, 60), (700, 60), (700, 200), (500, 200), (500, 62)], steps=8)
    lassoed = check(page, spy)
    assert lassoed[130, 600] and abs(int((lassoed & ~erased).sum()) - 200 * 140) < 0.05 * 200 * 140

    rev = state(page)["rev"]  # a polygon: four clicks, then Enter
    for x, y in [(100, 300), (250, 300), (250, 450), (100, 450)]:
        page.mouse.click(*at(page, x, y))
    page.keyboard.press("Enter")
    page.wait_for_function(f"() => {API}.state().rev > {rev}")
    polygoned = check(page, spy)
    assert polygoned[375, 175] and abs(int((polygoned & ~lassoed).sum()) - 150 * 150) < 0.05 * 150 * 150
    shot(page, "03_lasso_polygon")

    rev = state(page)["rev"]
    page.locator("#grow-mask").click()  # on the server, by the "by px" slider (8)
    page.wait_for_function(f"() => {API}.state().rev > {rev}", timeout=60_000)
    grown = check(page, spy)
    assert np.array_equal(grown, masks.grow(polygoned, 8))
    rev = state(page)["rev"]
    page.locator("#shrink-mask").click()
    page.wait_for_function(f"() => {API}.state().rev > {rev}", timeout=60_000)
    shrunk = check(page, spy)
    assert np.array_equal(shrunk, masks.shrink(grown, 8))

    tool(page, "click")  # select the dog (GrabCut here); nothing changes until "Add to mask"
    page.mouse.click(*at(page, 400, 250))
    page.wait_for_function(f"() => {API}.state().candidates > 0", timeout=240_000)
    assert np.array_equal(check(page, spy), shrunk)
    shot(page, "04_selection")
    page.locator(".mc [data-act=add]").click()
    added = check(page, spy)
    assert added.sum() > shrunk.sum() and added[shrunk].all() and added[250, 400]

    page.keyboard.press("Control+z")
    assert np.array_equal(check(page, spy), shrunk)
    page.keyboard.press("Control+Shift+z")
    assert np.array_equal(check(page, spy), added)
    for _ in range(3):
        page.locator(".mc [data-act=undo]").click()
    assert np.array_equal(check(page, spy), polygoned)
    shot(page, "05_undo")


def test_an_examples_mask_lands_on_the_canvas_exactly(page, spy):
    from editor.layout import ASSETS

    page.get_by_text("a white cat sitting on a park bench, photo").first.click()
    page.wait_for_function(f"() => {API}.state().area > 0", timeout=240_000)
    st = state(page)
    expected = masks.to_mask(str(ASSETS / "bench_dog_mask.png"), size=(st["W"], st["H"]), resize=True)
    assert np.array_equal(check(page, spy), expected)
    shot(page, "06_example")


@pytest.mark.parametrize("name", ["dog.jpg", "edge_cases/dog_exif6.jpg", "edge_cases/bench_rgba.png",
                                  "bench_dog.png", "edge_cases/dog_p3icc.jpg", "edge_cases/grey16.png"])
def test_the_result_outside_the_mask_is_the_files_own_decode(page, spy, name):
    path = shared(name)
    native = pio.read(path).pixels  # the reference: our decoder, EXIF applied, alpha and 16-bit kept
    h, w = native.shape[:2]
    st = upload(page, path)
    assert (st["W"], st["H"]) == (w, h)
    tool(page, "brush")
    page.evaluate(f"{API}.setSize({max(8, w // 25)})")
    drag(page, [(w * 0.3, h * 0.5), (w * 0.6, h * 0.55)])
    painted = check(page, spy)
    result, used = run_and_fetch(page, h, w)
    assert np.array_equal(used, painted)  # the mask used is the mask shown
    assert result.dtype == native.dtype and result.shape == native.shape
    assert np.array_equal(result[~painted], native[~painted]), f"{name}: pixels outside the mask changed"
    assert not np.array_equal(result[painted], native[painted]), f"{name}: nothing was repainted"
    if name == "edge_cases/dog_exif6.jpg":
        assert h > w  # shown and edited upright


def test_a_full_flow_keeps_every_edits_outside_exact(page, spy):
    path = shared("dog.jpg")
    original = pio.read(path).pixels
    h, w = original.shape[:2]
    frames = []
    st = upload(page, path)
    key0 = st["key"]
    frames.append(shot(page, "flow_1_upload", canvas_only=True))

    tool(page, "click")
    page.mouse.click(*at(page, 250, 450))  # on the dog
    page.wait_for_function(f"() => {API}.state().candidates > 0", timeout=240_000)
    page.locator(".mc [data-act=add]").click()
    rev = state(page)["rev"]
    page.locator("#grow-mask").click()
    page.wait_for_function(f"() => {API}.state().rev > {rev}", timeout=60_000)
    mask1 = check(page, spy)
    assert mask1[450, 250]
    frames.append(shot(page, "flow_2_selected_grown", canvas_only=True))

    result1, used1 = run_and_fetch(page, h, w)
    assert np.array_equal(used1, mask1) and np.array_equal(result1[~mask1], original[~mask1])
    frames.append(shot(page, "flow_3_result", canvas_only=True))

    page.locator("#continue").click()  # the result becomes the photo; the next contract is against it
    page.wait_for_function(f"() => {API}.state().key !== '{key0}' && !{API}.state().compare", timeout=60_000)
    assert not check(page, spy).any()
    tool(page, "brush")
    page.evaluate(f"{API}.setSize(40)")
    drag(page, [(80, 80), (260, 120)])
    mask2 = check(page, spy)
    result2, used2 = run_and_fetch(page, h, w)
    assert np.array_equal(used2, mask2) and np.array_equal(result2[~mask2], result1[~mask2])
    frames.append(shot(page, "flow_4_second_result", canvas_only=True))

    page.locator("#undo-result").click()  # back to the original photo, with the first edit's mask
    page.wait_for_function(f"() => {API}.state().key === '{key0}'", timeout=60_000)
    assert np.array_equal(check(page, spy), mask1)
    frames.append(shot(page, "flow_5_undo_result", canvas_only=True))

    # the strip for the README: the five states side by side, each reduced
    tiles = [Image.open(f).convert("RGB") for f in frames]
    tiles = [t.resize((560, round(560 * t.height / t.width))) for t in tiles]
    strip = Image.new("RGB", (sum(t.width for t in tiles) + 8 * (len(tiles) - 1), max(t.height for t in tiles)),
                      "white")
    x = 0
    for t in tiles:
        strip.paste(t, (x, 0))
        x += t.width + 8
    strip.save(OUT / "browser_flow_strip.jpg", quality=85)


def test_outpaint_on_the_canvas_drag_an_edge_and_run(page, spy):
    path = shared("remove_bridge.jpg")
    native = pio.read(path).pixels
    h, w = native.shape[:2]
    upload(page, path)
    page.locator("#mode label", has_text="Outpaint").click()
    page.wait_for_function(f"() => {API}.state().pads !== null", timeout=60_000)
    assert state(page)["pads"] == [0, 0, 256, 0]  # the number boxes' default: 256 px on the right
    # drag the right edge out to 300 px past the photo
    page.mouse.move(*at(page, w + 100, h / 2))
    page.mouse.down()
    page.mouse.move(*at(page, w + 300, h / 2), steps=5)
    page.mouse.up()
    page.wait_for_function(f"() => {API}.state().pads[2] > 256", timeout=60_000)
    right = state(page)["pads"][2]
    assert abs(right - 300) <= 1 and state(page)["pads"][:2] == [0, 0]
    number = page.locator(".block", has_text="Right px").locator("input[type=number]").first
    page.wait_for_function("([e, v]) => +e.value === v", arg=[number.element_handle(), right], timeout=60_000)
    shot(page, "07_outpaint_frame")
    old = page.locator("#result-file a[href]").count()
    page.locator("#run-outpaint").click()
    page.wait_for_function(f"() => {API}.state().compare", timeout=240_000)
    href = page.locator("#result-file a[href]").first.get_attribute("href")
    assert old == 0 and href
    tmp = OUT / "_outpaint.png"
    tmp.write_bytes(page.request.get(href).body())
    result = pio.read(tmp).pixels
    tmp.unlink()
    assert result.shape[:2] == (h, w + right)
    assert np.array_equal(result[:, :w], native)  # the photo sits byte-identical in the new canvas
    shot(page, "08_outpaint_result")


def test_grow_and_shrink_on_the_canvas_equal_pipelines_masks(page):
    """The canvas grows and shrinks in its own JavaScript (no round trip): pixel for pixel what pipelines.masks
    does, on seeded random masks (discs, specks, a mask touching the border)."""
    upload(page, shared("dog.jpg"))
    h, w = 534, 800
    rng = np.random.default_rng(7)
    yy, xx = np.ogrid[:h, :w]
    for trial in range(8):
        m = np.zeros((h, w), bool)
        for _ in range(int(rng.integers(1, 5))):
            x, y, r = rng.integers(0, w), rng.integers(0, h), rng.integers(1, 90)
            m |= (xx - x) ** 2 + (yy - y) ** 2 <= r * r
        if trial % 2:
            m |= rng.random((h, w)) < 0.001
        if trial == 3:
            m[:, :4] = True
        px = int(rng.integers(1, 48))
        for op, expected in (("grow", masks.grow(m, px)), ("shrink", masks.shrink(m, px))):
            page.evaluate(f"(t) => {API}.setMask(t)", maskcodec.encode(m))
            page.evaluate(f"{API}.{op}({px})")
            assert np.array_equal(page_mask(page), expected), f"{op} {px} px differs from pipelines.masks"
    page.evaluate(f"(t) => {API}.setMask(t)", maskcodec.encode(m))
    page.evaluate(f"{API}.invert()")
    assert np.array_equal(page_mask(page), ~m)
    page.evaluate(f"{API}.clear()")
    assert not page_mask(page).any()
