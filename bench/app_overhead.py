"""The web app's overhead against the CLI on the same 12 MP job.

    python bench/app_overhead.py [--repeat 3] [--size 4000x3000]

The job: a real photo (assets/examples/bench_dog.jpg) upscaled to ~4000x3000 with noise added (a camera JPEG,
quality 95), a ~600x400 px elliptical mask, engine telea.

  web  the app launched as its own process (python app.py --engine telea --segmenter grabcut), driven by
       gradio_client: /load_photo (upload + decode + display copy) then /inpaint with the canvas's value (the
       mask at the photo's full size in pipelines.maskcodec text, as the browser canvas sends it), timed end to
       end including the uploads and the download of every output (gradio_client fetches them).
  cli  python -m pipelines inpaint --engine telea as a subprocess, end to end (interpreter start included).

Runs are interleaved (web, cli, web, cli, ...) after one warm-up of each; medians compared; target web/CLI <= 1.2.
A breakdown of the web path (each endpoint, and the callbacks run in-process without gradio) is printed too.
Writes bench/out/app_overhead.json. Targets are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "bench" / "out"
PHOTO = ROOT / "assets" / "examples" / "bench_dog.jpg"


def make_job(folder: Path, width: int, height: int) -> tuple[Path, Path, np.ndarray]:
    """(photo.jpg, mask.png, mask HW bool), both at full size."""
    src = cv2.imread(str(PHOTO), cv2.IMREAD_COLOR)
    big = cv2.resize(src, (width, height), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    big += np.random.default_rng(0).normal(0, 4, big.shape).astype(np.float32)
    photo = folder / "photo.jpg"
    cv2.imwrite(str(photo), np.clip(big, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 95])
    mask = np.zeros((height, width), np.uint8)
    cv2.ellipse(mask, (width // 2, height // 2), (300, 200), 0, 0, 360, 255, -1)  # 600x400 px
    mask_png = folder / "mask.png"
    cv2.imwrite(str(mask_png), mask)
    return photo, mask_png, mask > 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_app(port: int, log: Path, command: list[str] | None = None) -> subprocess.Popen:
    """Start the app in its own process on 127.0.0.1:``port`` (``command``: its argv after the interpreter; default
    app.py with telea and GrabCut), its output in ``log``; return once the port answers (at most 180 s)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    command = command or ["app.py", "--engine", "telea", "--segmenter", "grabcut", "--port", str(port)]
    proc = subprocess.Popen([sys.executable, *command], cwd=ROOT, env=env, stdout=log.open("w"),
                            stderr=subprocess.STDOUT)
    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the app exited ({proc.returncode}); see {log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("the app did not start within 180 s")


def web_job(client, photo: Path, mask: np.ndarray) -> dict:
    from gradio_client import handle_file

    from editor.canvas import canvas_value

    t0 = time.perf_counter()
    loaded = client.predict(handle_file(str(photo)), api_name="/load_photo")
    t1 = time.perf_counter()
    value = canvas_value(mask, loaded[0]["key"])  # what the canvas sends: the full-size mask as text
    out = client.predict(value, "", "", "Replace", "telea", "", 1.0, -1, 0, 30, 7.5, 1, 1, "seamless",
                         api_name="/inpaint")
    t2 = time.perf_counter()
    return {"total": t2 - t0, "load_photo": t1 - t0, "inpaint": t2 - t1, "result": out[3], "info": out[5]}


def cli_job(photo: Path, mask: Path, out: Path) -> dict:
    t0 = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "pipelines", "inpaint", "--image", str(photo), "--mask", str(mask),
                          "--out", str(out), "--engine", "telea"], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    t1 = time.perf_counter()
    if run.returncode != 0:
        raise SystemExit(f"the CLI failed: {run.stderr.strip()}")
    return {"total": t1 - t0}


def in_process_breakdown(photo: Path, mask: np.ndarray) -> dict:
    """The web path's callbacks without gradio: decode + display copy (open_photo), the inpaint callback
    (run_inpaint: mask from the canvas value, engine, previews, heatmap, PNG encode), each timed once."""
    from editor import callbacks as cb
    from editor.canvas import canvas_value
    from editor.state import AppConfig, Resources

    resources = Resources(AppConfig(engine="telea", segmenter="grabcut"))
    try:
        t0 = time.perf_counter()
        session = cb.open_photo(str(photo), None, resources, "bench")
        t1 = time.perf_counter()
        out = cb.run_inpaint(canvas_value(mask, session.key), "", "", "Replace", "telea", "", 1.0, -1, 0, 30, 7.5,
                             1, 1, "seamless", session, folder=resources.session_dir("bench"))
        t2 = time.perf_counter()
        return {"open_photo": t1 - t0, "run_inpaint": t2 - t1, "engine_total": _engine_seconds(out["info"])}
    finally:
        resources.close()


def _engine_seconds(info: str) -> float | None:
    import re

    m = re.search(r"·\s*([\d.]+) s", info or "")
    return float(m.group(1)) if m else None


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--size", default="4000x3000")
    args = p.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    OUT.mkdir(parents=True, exist_ok=True)

    from gradio_client import Client

    from pipelines import io

    with tempfile.TemporaryDirectory(prefix="app-overhead-") as tmp:
        folder = Path(tmp)
        photo, mask_png, mask = make_job(folder, width, height)
        port = free_port()
        proc = launch_app(port, folder / "app.log")
        try:
            client = Client(f"http://127.0.0.1:{port}/", verbose=False)
            print(f"job: {width}x{height} JPEG ({photo.stat().st_size / 1e6:.1f} MB), mask 600x400 ellipse, telea")
            web_job(client, photo, mask)  # warm-up: imports, the segmenter, first writes
            cli_job(photo, mask_png, folder / "warm.png")
            web, cli = [], []
            for r in range(args.repeat):
                w = web_job(client, photo, mask)
                c = cli_job(photo, mask_png, folder / f"cli-{r}.png")
                web.append(w)
                cli.append(c)
                print(f"  repeat {r + 1}: web {w['total']:.2f} s (load_photo {w['load_photo']:.2f} + inpaint "
                      f"{w['inpaint']:.2f})   cli {c['total']:.2f} s")
            # both paths keep the outside byte-identical
            native = io.read(photo).pixels
            web_result = io.read(web[-1]["result"]).pixels
            cli_result = io.read(folder / f"cli-{args.repeat - 1}.png").pixels
            outside_ok = {"web": bool(np.array_equal(web_result[~mask], native[~mask])),
                          "cli": bool(np.array_equal(cli_result[~mask], native[~mask]))}
            info = web[-1]["info"]
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        breakdown = in_process_breakdown(photo, mask)

    med_web = statistics.median(w["total"] for w in web)
    med_cli = statistics.median(c["total"] for c in cli)
    ratio = med_web / med_cli
    med_load = statistics.median(w["load_photo"] for w in web)
    med_inp = statistics.median(w["inpaint"] for w in web)
    print()
    print(f"{'path':<34}{'median s':>10}")
    print(f"{'web (load_photo + inpaint)':<34}{med_web:>10.2f}")
    print(f"{'  /load_photo':<34}{med_load:>10.2f}")
    print(f"{'  /inpaint':<34}{med_inp:>10.2f}")
    print(f"{'cli (subprocess)':<34}{med_cli:>10.2f}")
    print(f"{'in-process open_photo':<34}{breakdown['open_photo']:>10.2f}")
    print(f"{'in-process run_inpaint':<34}{breakdown['run_inpaint']:>10.2f}")
    print(f"ratio web/CLI = {ratio:.2f} (target <= 1.2) · outside unchanged: {outside_ok}")
    print(f"app info: {info.splitlines()[0] if info else ''}")
    record = {
        "job": {"size": [width, height], "mask": "600x400 ellipse", "engine": "telea", "photo": PHOTO.name},
        "repeat": args.repeat, "web_s": [w["total"] for w in web], "web_load_photo_s": [w["load_photo"] for w in web],
        "web_inpaint_s": [w["inpaint"] for w in web], "cli_s": [c["total"] for c in cli],
        "median_web_s": med_web, "median_cli_s": med_cli, "ratio_web_cli": ratio, "target": 1.2,
        "in_process": breakdown, "outside_unchanged": outside_ok,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    (OUT / "app_overhead.json").write_text(json.dumps(record, indent=2))
    print(f"wrote {OUT / 'app_overhead.json'}")


if __name__ == "__main__":
    main()
