"""Many users at once: 16 gradio_client clients (16 browser sessions) x 5 requests each, in threads, against one
launched app. Each request loads the client's own small photo (/load_photo) and inpaints it (/inpaint) with the
classical engine (telea) inside a mask of its own (no two of the 80 masks are equal), sent as its own canvas value
(editor.canvas.canvas_value, keyed by the photo it loaded). Every client must get its own results: the canvas
shows its own photo (its content hash and size), the result is for that photo, the changed pixels lie inside its
own mask, everything outside is byte-identical to its own photo, the mask download is its mask, and the result is
exactly what the same inpaint gives run alone. A mix-up of sessions (a photo, a mask or a result file served to
the wrong client) fails the test.
"""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("gradio")
pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402

from conftest import launched_app  # noqa: E402
from editor.canvas import canvas_value  # noqa: E402
from pipelines import io  # noqa: E402

CLIENTS = 16
REQUESTS = 5
H, W = 96, 128


@pytest.fixture(scope="module")
def app():
    with launched_app(engine="telea", device="cpu", segmenter="grabcut", concurrency=2, examples=False) as url:
        yield url


def client_jobs(k: int, folder: Path) -> list[tuple[Path, np.ndarray]]:
    """Client ``k``'s jobs: per request a distinct photo (its own colours and noise) and a distinct mask (a
    rectangle whose place depends on the client and the request)."""
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
        jobs.append((photo, mask))
    return jobs


def run_client(url: str, k: int, jobs, start: threading.Barrier) -> tuple[list[str], list[np.ndarray]]:
    """One user's session: load + inpaint REQUESTS times. Returns (the problems found, empty when all is well; the
    native results)."""
    client = Client(url, verbose=False)
    problems, results = [], []
    start.wait()
    for r, (photo, mask) in enumerate(jobs):
        where = f"client {k} request {r}"
        key = hashlib.sha256(photo.read_bytes()).hexdigest()
        value, status = client.predict(handle_file(str(photo)), api_name="/load_photo")
        if (value["key"], value["w"], value["h"]) != (key, W, H):
            problems.append(f"{where}: the canvas shows another photo ({value['key'][:12]}, {value['w']}x"
                            f"{value['h']})")
        out = client.predict(canvas_value(mask, value["key"], rev=r), "", "", "Replace", "telea", "", 1.0, -1, 0, 30,
                             7.5, 1, 1, "seamless", api_name="/inpaint")
        native = io.read(photo).pixels
        result = io.read(out[3]).pixels
        results.append(result)
        used = np.asarray(Image.open(out[4])) > 0
        if out[0]["op"] != "result" or out[0]["key"] != key:
            problems.append(f"{where}: the result shown is for another photo")
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
    return problems, results


@pytest.mark.slow  # about 70 s on 2 shared cores (80 load + inpaint pairs)
def test_sixteen_clients_get_their_own_results(app, tmp_path):
    from pipelines.inpaint import inpaint

    jobs = [client_jobs(k, tmp_path) for k in range(CLIENTS)]
    all_masks = [mask.tobytes() for client in jobs for _, mask in client]
    assert len(set(all_masks)) == CLIENTS * REQUESTS, "every request needs a mask of its own"
    start = threading.Barrier(CLIENTS)
    with ThreadPoolExecutor(CLIENTS) as pool:
        futures = [pool.submit(run_client, app, k, jobs[k], start) for k in range(CLIENTS)]
        answers = [f.result(timeout=600) for f in futures]
    problems = [p for found, _ in answers for p in found]
    assert not problems, "\n".join(problems[:20])
    # each result is exactly its own inpaint, run alone (telea is deterministic)
    for k, (_, results) in enumerate(answers):
        for r, ((photo, mask), result) in enumerate(zip(jobs[k], results)):
            alone = inpaint(io.read(photo).pixels, mask, "", "", engine="telea", grow=0, feather=None,
                            method="seamless").images[0]
            assert np.array_equal(result, alone), f"client {k} request {r}: not its own result"
