"""Many users at once: 16 gradio_client clients (16 browser sessions) x 5 requests each, in threads, against one
launched app. Each request loads the client's own small photo and inpaints it with the classical engine (telea)
inside a client-specific mask. Every client must get its own results: the changed pixels lie inside its own mask,
everything outside is byte-identical to its own photo, the result has its photo's size, and the mask download is
its mask. A mix-up of sessions (a photo, a mask or a result file served to the wrong client) fails the test.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("gradio")
pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402

from pipelines import io  # noqa: E402
from conftest import launched_app  # noqa: E402

CLIENTS = 16
REQUESTS = 5
H, W = 96, 128


@pytest.fixture(scope="module")
def app():
    with launched_app(engine="telea", device="cpu", segmenter="grabcut", concurrency=2, examples=False) as url:
        yield url


def client_files(k: int, folder: Path) -> list[tuple[Path, Path, np.ndarray]]:
    """Client ``k``'s jobs: per request a distinct photo (its own colours and noise) and a distinct mask (a
    rectangle whose place depends on the client and the request), with the mask as an editor layer file."""
    jobs = []
    for r in range(REQUESTS):
        rng = np.random.default_rng(1000 * k + r)
        yy, xx = np.mgrid[:H, :W].astype(np.float32)
        base = np.array([(37 * k) % 200 + 20, (53 * r + 11 * k) % 200 + 20, (71 * k + 29 * r) % 200 + 20])
        img = np.clip(base + 0.4 * xx[..., None] - 0.3 * yy[..., None] + rng.normal(0, 6, (H, W, 3)), 0, 255)
        photo = folder / f"photo-{k}-{r}.png"
        Image.fromarray(img.astype(np.uint8)).save(photo)
        mask = np.zeros((H, W), bool)
        x0, y0 = 4 + (7 * k) % 90, 4 + (5 * r + 3 * k) % 60
        mask[y0:y0 + 20, x0:x0 + 28] = True
        layer = np.zeros((H, W, 4), np.uint8)
        layer[mask] = (255, 59, 48, 255)
        layer_path = folder / f"layer-{k}-{r}.png"
        Image.fromarray(layer).save(layer_path)
        jobs.append((photo, layer_path, mask))
    return jobs


def run_client(url: str, k: int, folder: Path, start: threading.Barrier) -> list[str]:
    """One user's session: load + inpaint REQUESTS times; returns the problems found (empty when all is well)."""
    client = Client(url, verbose=False)
    jobs = client_files(k, folder)
    problems = []
    start.wait()
    for r, (photo, layer, mask) in enumerate(jobs):
        client.predict(handle_file(str(photo)), api_name="/load_photo")
        out = client.predict({"background": None, "layers": [handle_file(str(layer))], "composite": None,
                              "id": None}, "", "", "Replace", "telea", "", 1.0, -1, 0, 30, 7.5, 1, 1, "seamless",
                             api_name="/inpaint")
        native = io.read(photo).pixels
        result = io.read(out[3]).pixels
        used = np.asarray(Image.open(out[4])) > 0
        where = f"client {k} request {r}"
        if result.shape != native.shape:
            problems.append(f"{where}: result {result.shape}, photo {native.shape}")
            continue
        if not np.array_equal(used, mask):
            problems.append(f"{where}: the mask used is not this client's mask")
        changed = np.any(result != native, axis=-1)
        if changed[~mask].any():
            problems.append(f"{where}: {int(changed[~mask].sum())} pixels changed outside this client's mask")
        if not changed[mask].any():
            problems.append(f"{where}: nothing changed inside this client's mask")
    return problems


@pytest.mark.slow  # about 70 s on 2 shared cores (160 load + inpaint pairs)
def test_sixteen_clients_get_their_own_results(app, tmp_path):
    start = threading.Barrier(CLIENTS)
    with ThreadPoolExecutor(CLIENTS) as pool:
        futures = [pool.submit(run_client, app, k, tmp_path, start) for k in range(CLIENTS)]
        problems = [p for f in futures for p in f.result(timeout=600)]
    assert not problems, "\n".join(problems[:20])
