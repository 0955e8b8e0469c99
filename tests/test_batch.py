"""Batch edits (pipelines.batch): 20 rows through the local pool and Ray, the gate and its retries, re-runs, a worker
killed mid-run, bad rows. No downloads: the classical engine and a tiny seeded SD inpainting model."""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from pipelines import io, masks
from pipelines.batch import Job, read_manifest, run_batch
from pipelines.batch.job import CRASH_ONCE_ENV
from pipelines.batch.manifest import parse_row

VOLATILE = ("started", "finished", "seconds", "output_sha256")  # the PNG holds its creation time
BAD = {  # row -> a piece of its reason
    15: "no such image file",
    16: "truncated or corrupt",
    17: "is empty",
    18: "megapixels",
    19: "mode must be one of",
}


def _photo(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    image = np.stack([40 + 150 * xx / w, 70 + 100 * yy / h, 180 - 90 * xx / w], axis=-1)
    image += 18 * np.sin(xx / (3.0 + seed % 3))[..., None] * np.cos(yy / 5.0)[..., None] + rng.normal(0, 5, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def _bomb_header(path: Path) -> None:
    """A PNG whose header claims 100000 x 100000 px (nothing to decode behind it)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def jobs(tmp_path_factory) -> Path:
    """A folder with inputs of several formats and a 20-row manifest (15 good rows, 5 bad ones)."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("batch-inputs")
    rows = []
    for k in range(15):
        h, w = (96, 128) if k % 2 else (112, 96)
        photo = _photo(h, w, k)
        name = f"photo{k}.png"
        y0, x0 = 20 + k % 4 * 5, 25 + k % 3 * 7
        if k == 7:  # an object to select with a box
            yy, xx = np.mgrid[0:h, 0:w]
            photo[(yy - y0 - 18) ** 2 + (xx - x0 - 17) ** 2 <= 15 ** 2] = (200, 30, 40)
        if k == 3:  # 16-bit colour with 16-bit alpha
            rgb16 = photo.astype(np.uint16) * 257 + np.uint16(k)
            io.save_png(folder / name, np.dstack([rgb16, np.full((h, w), 60000, np.uint16)]))
        elif k == 4:  # 16-bit grey
            io.save_png(folder / name, photo[..., 1].astype(np.uint16) * 257 + 3)
        elif k == 5:  # a palette PNG
            Image.fromarray(photo).quantize(32).save(folder / name)
        elif k == 6:  # an EXIF-rotated JPEG
            name = "photo6.jpg"
            exif = Image.Exif()
            exif[0x0112] = 6
            Image.fromarray(photo).save(folder / name, exif=exif, quality=92)
        else:
            io.save_png(folder / name, photo)
        width, height = io.read(folder / name).size
        mask = np.zeros((height, width), np.uint8)
        mask[y0:y0 + 30 + k % 5 * 4, x0:x0 + 34] = 255
        io.save_png(folder / f"mask{k}.png", mask)
        row = {"image": name, "mask": f"mask{k}.png", "prompt": f"a stone {k}",
               "mode": ("replace", "remove", "stage")[k % 3], "seed": 100 + k, "engine": "telea" if k % 2 else ""}
        if k == 7:  # no mask file: a box (GrabCut, no weights)
            row.update(mask="", box=f"{x0 - 4},{y0 - 4},{x0 + 38},{y0 + 40}")
        rows.append(row)
    io.save_png(folder / "odd_mask.png", np.zeros((96, 128), np.uint8))
    data = io.encode_png(_photo(96, 128, 0))
    (folder / "cut.png").write_bytes(data[: len(data) // 2])
    _bomb_header(folder / "bomb.png")
    rows += [
        {"image": "missing.png", "mask": "mask0.png", "prompt": "", "mode": "replace", "seed": 1},
        {"image": "cut.png", "mask": "mask1.png", "prompt": "", "mode": "replace", "seed": 1},
        {"image": "photo1.png", "mask": "odd_mask.png", "prompt": "", "mode": "replace", "seed": 1},
        {"image": "bomb.png", "mask": "mask0.png", "prompt": "", "mode": "replace", "seed": 1},
        {"image": "photo0.png", "mask": "mask0.png", "prompt": "", "mode": "paint", "seed": 1},
    ]
    columns = ["image", "mask", "box", "prompt", "mode", "seed", "engine"]
    lines = [",".join(columns)] + [",".join(f'"{r.get(c, "")}"' for c in columns) for r in rows]
    (folder / "jobs.csv").write_text("\n".join(lines) + "\n")
    return folder / "jobs.csv"


@pytest.fixture(scope="module")
def ray_session(tmp_path_factory):
    """One local Ray for the module (2 CPUs), started with the crash switch pointing at a file no test has made."""
    ray = pytest.importorskip("ray")
    marker = tmp_path_factory.mktemp("crash") / "crash-once"
    os.environ[CRASH_ONCE_ENV] = str(marker)
    root = str(Path(__file__).resolve().parents[1])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": root, CRASH_ONCE_ENV: str(marker)}})
    yield marker
    ray.shutdown()
    os.environ.pop(CRASH_ONCE_ENV, None)


def _rows(out: Path, volatile: tuple = VOLATILE) -> list[dict]:
    lines = (out / "results.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in volatile} for line in lines]


def _outputs(out: Path) -> dict[str, bytes]:
    """{file name: its pixels' bytes}: the pixels a backend wrote (the files differ in their creation time)."""
    return {p.name: io.read(p).pixels.tobytes() for p in sorted(out.glob("*.png"))}


def _check_outside(jobs_csv: Path, out: Path, rows: list[dict]) -> None:
    """Every written output equals its input outside the row's mask, at the input's own format."""
    written = 0
    for row in rows:
        if row["output"] is None:
            continue
        original = io.read(jobs_csv.parent / row["image"]).pixels
        result = io.read(out / row["output"]).pixels
        assert result.dtype == original.dtype and result.shape == original.shape, row["row"]
        given = row["given"]
        if given.get("mask"):
            mask = masks.to_mask(str(jobs_csv.parent / given["mask"]), size=(original.shape[1], original.shape[0]))
            mask = masks.grow(mask, row["params"]["grow"]) if row["params"]["grow"] else mask
            assert np.array_equal(result[~mask], original[~mask]), f"row {row['row']} changed its outside"
        assert row["outside_changed"] == 0.0
        written += 1
    assert written >= 15


def _subset(jobs_csv: Path, indices: tuple[int, ...], manifest: Path) -> Path:
    """A JSON Lines manifest at ``manifest`` of the rows ``indices`` of jobs.csv, its paths made absolute."""
    records = [dict(r.given) for r in read_manifest(jobs_csv)[0] if r.index in indices]
    for r in records:
        r.update({k: str(jobs_csv.parent / r[k]) for k in ("image", "mask") if r.get(k)})
    manifest.write_text("\n".join(json.dumps(r) for r in records))
    return manifest


def _check_table(rows: list[dict]) -> None:
    assert [r["row"] for r in rows] == list(range(20))
    for r in rows:
        for key in ("image", "output", "status", "reason", "outside_changed", "input_sha256", "output_sha256"):
            assert key in r
        if r["row"] in BAD:
            assert r["status"] == "failed" and BAD[r["row"]] in r["reason"], r
            assert r["output"] is None
        else:
            assert r["status"] in ("ok", "review"), r
            assert r["provenance"]["edited"] is True and len(r["output_sha256"]) == 64


# ----------------------------------------------------------------------------------------------------------------
# The manifest


def test_manifest_formats_read_the_same_rows(jobs, tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    rows, problems = read_manifest(jobs)
    assert len(rows) == 20 and set(problems) == {19}
    records = [dict(r.given) for r in rows]
    (jobs.parent / "jobs.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    pq.write_table(pa.Table.from_pylist(records), jobs.parent / "jobs.parquet")
    for other in ("jobs.jsonl", "jobs.parquet"):
        again, again_problems = read_manifest(jobs.parent / other)
        assert set(again_problems) == {19}
        assert [(r.image, r.mask, r.box, r.prompt, r.mode, r.seed) for r in again] == \
               [(r.image, r.mask, r.box, r.prompt, r.mode, r.seed) for r in rows]
    assert rows[7].selection == "box" and rows[0].mode == "replace" and rows[0].seed == 100
    assert rows[0].image == str(jobs.parent / "photo0.png")  # relative to the manifest's folder


@pytest.mark.parametrize("record, message", [
    ({"mask": "m.png"}, "image is empty"),
    ({"image": "a.png"}, "needs a mask, mask_text, clicks or a box"),
    ({"image": "a.png", "mask": "m.png", "seed": "x"}, "seed must be an int"),
    ({"image": "a.png", "mask": "m.png", "seed": "1.5"}, "seed must be an int"),
    ({"image": "a.png", "mask": "m.png", "mode": "paint"}, "mode must be one of"),
    ({"image": "a.png", "mask": "m.png", "colour": "red"}, "unknown column(s) colour"),
    ({"image": "a.png", "mask": "m.png", "mask_text": "the car"}, "give one of"),
    ({"image": "a.png", "clicks": "12;5"}, "each click is x,y"),
    ({"image": "a.png", "clicks": "-3,4"}, "at least one positive click"),
    ({"image": "a.png", "box": "5,5,2,9"}, "x0 < x1"),
    ({"image": "a.png", "box": "1,2,3"}, "XYXY"),
    ({"image": "a.png", "mask": "m.png", "params": "{bad"}, "params must be a JSON object"),
    ({"image": "a.png", "mask": "m.png", "params": '{"colour": 1}'}, "unknown params colour"),
    ({"image": "a.png", "mask": "m.png", "steps": "many"}, "steps must be an int"),
    ({"image": "a.png", "mask": "m.png", "strength": "nan"}, "strength must be a number"),
    ({"image": "a.png", "mode": "outpaint"}, "outpaint needs left, right, top or bottom"),
    ({"image": "a.png", "mode": "outpaint", "mask": "m.png", "right": 10}, "outpaint takes no mask"),
    ({"image": "a.png", "mask": "m.png", "right": 10}, "right goes with mode outpaint"),
    ({"image": "a.png", "mask": "m.png", "output": "../x.png"}, "output must be a .png file name"),
])
def test_a_bad_row_is_one_line_naming_its_column(record, message, tmp_path):
    from pipelines.errors import UserError

    with pytest.raises(UserError) as info:
        parse_row(0, record, tmp_path)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_clicks_box_and_params_are_parsed(tmp_path):
    row = parse_row(3, {"image": "a.png", "clicks": "10,20; -30,40;5.5,6", "box": "1,2,30,40",
                        "params": '{"steps": 4, "strength": 0.5}', "grow": "3"}, tmp_path)
    assert row.clicks == ((10, 20), (30, 40), (5.5, 6)) and row.labels == (1, 0, 1)
    assert row.box == (1, 2, 30, 40) and row.params == {"steps": 4, "strength": 0.5, "grow": 3}
    assert row.seed == 3 and row.output == "00003-a.png"
    out = parse_row(0, {"image": "s3://bucket/room.jpg", "mode": "outpaint", "params": {"right": 64}}, tmp_path)
    assert out.image == "s3://bucket/room.jpg" and out.params == {"right": 64} and out.selection == "none"


def test_a_manifest_that_cannot_be_read_is_a_user_error(tmp_path, run_cli):
    (tmp_path / "no_image.csv").write_text("mask,prompt\nm.png,x\n")
    (tmp_path / "jobs.txt").write_text("image\n")
    for name, message in (("absent.csv", "no such manifest"), ("no_image.csv", "no 'image' column"),
                          ("jobs.txt", "use .csv, .jsonl or .parquet")):
        result = run_cli(["batch", "--manifest", str(tmp_path / name), "--out", str(tmp_path / "o"),
                          "--engine", "telea"])
        assert result.code == 2 and message in result.err and result.err.count("\n") == 1, result.err
    result = run_cli(["batch", "--manifest", str(tmp_path / "no_image.csv"), "--out", str(tmp_path / "o"),
                      "--gate", "speed=3"])
    assert result.code == 2 and "--gate takes NAME=LIMIT" in result.err


# ----------------------------------------------------------------------------------------------------------------
# Classical engine: local (in process and a pool of 2) and Ray give the same outputs and rows


@pytest.fixture(scope="module")
def classical_local(jobs, tmp_path_factory):
    out = tmp_path_factory.mktemp("classical-local")
    summary = run_batch(jobs, out, Job(out=str(out), engine="telea"), show_progress=False)
    return out, summary


def test_classical_local_rows_and_outputs(jobs, classical_local):
    out, summary = classical_local
    rows = _rows(out, ())
    _check_table(rows)
    _check_outside(jobs, out, rows)
    assert summary.rows == 20 and summary.done == 20 and summary.reused == 0
    assert sum(summary.status.values()) == 20 and summary.status["failed"] == len(BAD)
    telea = [r for r in rows if r["status"] != "failed"]
    # telea has no seed: one attempt each, never retried
    assert all(r["attempts"] == 1 and r["seed"] is None for r in telea)
    assert all(r["status"] == "ok" or "has no seed: not retried" in r["reason"] for r in telea)
    assert rows[7]["selection"]["source"] == "box" and rows[7]["mask_sha256"]
    # the PNG carries its settings record
    from pipelines import provenance

    record = provenance.read_settings(out / rows[0]["output"])
    assert record["operation"] == "batch:replace" and record["extra"]["row"] == 0
    assert record["mask"]["sha256"] == rows[0]["mask_sha256"]


def test_classical_pool_of_two_matches(jobs, classical_local, tmp_path):
    out, _ = classical_local
    summary = run_batch(jobs, tmp_path, Job(out=str(tmp_path), engine="telea"), workers=2, show_progress=False)
    assert summary.done == 20
    assert _rows(tmp_path) == _rows(out)
    assert _outputs(tmp_path) == _outputs(out)


def test_a_rerun_does_nothing_and_a_killed_run_resumes(jobs, classical_local, tmp_path):
    import shutil

    out, _ = classical_local
    shutil.copytree(out, tmp_path, dirs_exist_ok=True)
    stamps = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*.png")}
    summary = run_batch(jobs, tmp_path, Job(out=str(tmp_path), engine="telea"), show_progress=False)
    assert summary.done == 0 and summary.reused == 20
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*.png")} == stamps
    assert _rows(tmp_path) == _rows(out)

    # a job killed after 8 rows: its journal holds 8 rows and half a line, one later output was half written
    lines = (out / "results.jsonl").read_text().splitlines()
    (tmp_path / "results.jsonl").write_text("\n".join(lines[:8]) + "\n" + lines[8][: len(lines[8]) // 2])
    later = json.loads(lines[9])["output"]
    (tmp_path / later).write_bytes(b"half a png")
    summary = run_batch(jobs, tmp_path, Job(out=str(tmp_path), engine="telea"), show_progress=False)
    assert summary.reused == 8 and summary.done == 12
    assert _rows(tmp_path) == _rows(out) and _outputs(tmp_path) == _outputs(out)

    # other settings are another job: every row is done again
    summary = run_batch(jobs, tmp_path, Job(out=str(tmp_path), engine="ns"), show_progress=False)
    assert summary.reused == 0 and summary.done == 20


def test_the_cli_runs_a_manifest(jobs, tmp_path, run_cli):
    result = run_cli(["batch", "--manifest", str(jobs), "--out", str(tmp_path / "o"), "--engine", "telea",
                      "--quiet"])
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert summary["rows"] == 20 and summary["status"]["failed"] == len(BAD)
    assert len(_rows(tmp_path / "o")) == 20


# ----------------------------------------------------------------------------------------------------------------
# A tiny random model: seeds, the gate's retries, Ray with a worker killed


def _tiny_job(out: Path, folder: Path, **kw) -> Job:
    return Job(out=str(out), engine="diffusers", model=str(folder), steps=2, device="cpu", allow_download=False,
               stage_control=None, threads=1, **kw)


@pytest.fixture(scope="module")
def mixed_local(jobs, tiny_model_folder, tmp_path_factory):
    """The manifest with the tiny model: even rows run it, odd rows ask for telea (engine column)."""
    out = tmp_path_factory.mktemp("tiny-local")
    summary = run_batch(jobs, out, _tiny_job(out, tiny_model_folder, retries=1, batch_size=4), show_progress=False)
    return out, summary


@pytest.mark.slow
def test_tiny_model_local_rows_and_outputs(jobs, mixed_local):
    out, summary = mixed_local
    rows = _rows(out, ())
    _check_table(rows)
    _check_outside(jobs, out, rows)
    good = [r for r in rows if r["status"] != "failed"]
    model_rows = [r for r in good if r["params"]["engine"] == "diffusers"]
    assert len(model_rows) == 8 and all(r["engine"] == "telea" and r["seed"] is None for r in good
                                        if r not in model_rows)
    for r in model_rows:
        best = min(r["tried"], key=lambda t: (t["seam_excess"], t["ring_delta_e"]))
        assert r["seed"] == (r["tried"][-1]["seed"] if r["status"] == "ok" else best["seed"])
        assert r["engine"] == "diffusers" and r["params"]["steps"] == 2 and r["attempts"] <= 2
        assert [t["seed"] for t in r["tried"]] == [int(r["given"]["seed"]) + k for k in range(r["attempts"])]
    stage = [r for r in model_rows if r["mode"] == "stage"]
    assert stage and all(r["params"]["control"] is None for r in stage)  # stage_control=None: no ControlNet here
    remove = [r for r in model_rows if r["mode"] == "remove"]
    assert remove and all(r["params"]["prefill"] and r["params"]["strength"] == 0.9 for r in remove)


@pytest.mark.slow
def test_ray_with_a_worker_killed_matches_local(jobs, mixed_local, tiny_model_folder, ray_session,
                                                           tmp_path):
    out, _ = mixed_local
    ray_session.write_text("the next generate call exits its worker")
    # the three-stage pipeline a GPU cluster runs (load actors -> generate actors -> finish tasks), here on CPUs
    summary = run_batch(jobs, tmp_path, _tiny_job(tmp_path, tiny_model_folder, retries=1, batch_size=4),
                        backend="ray", show_progress=False, ray_split=True)
    assert not ray_session.exists(), "no worker took the crash switch"
    assert summary.done == 20 and summary.facts["split"] is True
    assert _rows(tmp_path) == _rows(out)
    assert _outputs(tmp_path) == _outputs(out)


@pytest.mark.slow
def test_ray_without_gpus_runs_whole_chunks_like_the_local_pool(jobs, classical_local, ray_session, tmp_path):
    out, _ = classical_local
    manifest = _subset(jobs, (0, 3, 7, 15), tmp_path / "four.jsonl")  # RGB, 16-bit, box, missing
    summary = run_batch(manifest, tmp_path / "ray", Job(out=str(tmp_path / "ray"), engine="telea"), backend="ray",
                        show_progress=False)
    assert summary.facts["split"] is False and summary.done == 4
    local = {r["row"]: r for r in _rows(out)}
    for row, r in zip((0, 3, 7, 15), _rows(tmp_path / "ray")):
        assert r["status"] == local[row]["status"] and r["pixels_sha256"] == local[row]["pixels_sha256"]


@pytest.mark.slow
def test_a_failed_gate_retries_with_the_next_seed_and_keeps_the_best(jobs, tiny_model_folder, tmp_path):
    from pipelines import provenance

    manifest = _subset(jobs, (0, 2, 4), tmp_path / "three.jsonl")
    out = tmp_path / "out"
    job = _tiny_job(out, tiny_model_folder, retries=2, gate=(("outside_changed", 0.0), ("seam_excess", -1.0)))
    summary = run_batch(manifest, out, job, show_progress=False)
    good = _rows(out)
    assert summary.status == {"review": 3}
    for r in good:
        assert r["pixels_sha256"] and r["attempts"] == 3 and r["status"] == "review"
        assert "the gate failed after 3 attempt(s)" in r["reason"]
        seeds = [t["seed"] for t in r["tried"]]
        assert seeds == [int(r["given"]["seed"]) + k for k in range(3)]
        best = min(r["tried"], key=lambda t: t["seam_excess"])
        assert r["seed"] == best["seed"]
        assert provenance.read_settings(out / r["output"])["seed"] == best["seed"]
    assert len({tuple(t["seam_excess"] for t in r["tried"]) for r in good}) > 1


def test_the_staging_example_runs(tmp_path, run_cli):
    """examples/staging: the rooms rendered into a copy of the example, its manifest run with telea."""
    import shutil
    import sys

    example = Path(__file__).resolve().parents[1] / "examples" / "staging"
    shutil.copy(example / "jobs.csv", tmp_path / "jobs.csv")
    sys.path.insert(0, str(example))
    try:
        import make_rooms
    finally:
        sys.path.remove(str(example))
    assert make_rooms.main(["--out", str(tmp_path / "rooms")]) == 0
    result = run_cli(["batch", "--manifest", str(tmp_path / "jobs.csv"), "--out", str(tmp_path / "staged"),
                      "--engine", "telea", "--quiet"])
    assert result.code == 0, result.err
    rows = _rows(tmp_path / "staged", ())
    assert [r["status"] for r in rows][4] == "failed" and "no such image file" in rows[4]["reason"]
    for r in rows[:4]:
        assert r["status"] in ("ok", "review") and r["outside_changed"] == 0.0
        room = io.read(tmp_path / r["image"]).pixels
        floor = masks.to_mask(str(tmp_path / r["given"]["mask"]), size=(room.shape[1], room.shape[0]))
        staged = io.read(tmp_path / "staged" / r["output"]).pixels
        assert np.array_equal(staged[~floor], room[~floor]) and not np.array_equal(staged[floor], room[floor])


def test_rows_select_by_text_and_by_clicks(jobs, tmp_path, monkeypatch):
    """mask_text (a toy Grounding DINO built here, whose best box is moved onto the object as in test_grounding)
    and clicks become masks through the same segmenters the CLI uses (GrabCut: no SAM weights here)."""
    import test_grounding

    (tmp_path / "dino").mkdir()
    folder = test_grounding.tiny_grounding_dino(tmp_path / "dino")
    photo = io.read(jobs.parent / "photo7.png").pixels
    box = (31, 35, 68, 72)  # around the red disc of row 7's photo (centre (49, 53), radius 15)
    asked = test_grounding.pin_best_box(monkeypatch, box)
    image = str(jobs.parent / "photo7.png")
    manifest = tmp_path / "select.jsonl"
    manifest.write_text("\n".join(json.dumps(r) for r in [
        {"image": image, "mask_text": "the red car", "prompt": "grass", "seed": 3},
        {"image": image, "clicks": "49,53", "mode": "remove", "seed": 4},
        {"image": image, "mask_text": "the dog", "instances": "everything"},
    ]))
    out = tmp_path / "out"
    job = Job(out=str(out), engine="telea", text_model=str(folder), box_threshold=0.0, allow_download=False)
    run_batch(manifest, out, job, show_progress=False)
    rows = _rows(out, ())
    assert asked == ["the red car"]
    text, clicks, bad = rows
    assert text["status"] in ("ok", "review") and text["selection"]["source"] == "text"
    assert text["selection"]["boxes"] == [list(box)] and text["selection"]["phrase"] == "the red car."
    assert clicks["status"] in ("ok", "review") and clicks["selection"]["source"] == "clicks"
    assert bad["status"] == "failed" and "instances must be best or all" in bad["reason"]
    for r in (text, clicks):
        result = io.read(out / r["output"]).pixels
        changed = np.any(result != photo, axis=-1)
        ys, xs = np.nonzero(changed)
        assert changed.any() and xs.min() >= box[0] and xs.max() < box[2] and ys.min() >= box[1] and ys.max() < box[3]


@pytest.mark.slow
def test_a_chunk_goes_through_the_model_at_once_and_a_chunk_of_one_paints_as_inpaint(jobs, tiny_model_folder,
                                                                                     tmp_path, monkeypatch):
    from pipelines.generate.diffusion import DiffusionEngine
    from pipelines.inpaint import inpaint

    calls = []
    real = DiffusionEngine.fill_many

    def counted(self, items, step):
        calls.append(len(items))
        return real(self, items, step)

    monkeypatch.setattr(DiffusionEngine, "fill_many", counted)
    records = [dict(r.given) for r in read_manifest(jobs)[0] if r.index in (0, 2, 4, 6)]  # replace, stage, remove,
    for r in records:                                                                    # replace (a rotated JPEG)
        r.update(image=str(jobs.parent / r["image"]), mask=str(jobs.parent / r["mask"]))
    manifest = tmp_path / "four.jsonl"
    manifest.write_text("\n".join(json.dumps(r) for r in records))
    out = tmp_path / "four"
    run_batch(manifest, out, _tiny_job(out, tiny_model_folder, retries=0, batch_size=4), show_progress=False)
    # strength 1 rows (replace, stage without control) share one call; remove (pre-fill, 0.9) is its own
    assert sorted(calls) == [1, 3]
    rows = _rows(out)
    assert all(r["status"] in ("ok", "review") and r["outside_changed"] == 0.0 for r in rows)

    one = tmp_path / "one"
    run_batch(manifest, one, _tiny_job(one, tiny_model_folder, retries=0, batch_size=1), show_progress=False)
    first = _rows(one)[0]
    photo = io.read(jobs.parent / "photo0.png").pixels
    mask = masks.to_mask(str(jobs.parent / "mask0.png"), size=(photo.shape[1], photo.shape[0]))
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        direct = inpaint(photo, mask, "a stone 0", engine="diffusers", model=str(tiny_model_folder), steps=2,
                         seed=100, device="cpu", allow_download=False)
    finally:
        torch.set_num_threads(before)
    assert np.array_equal(io.read(one / first["output"]).pixels, direct.images[0])


def test_bad_parameters_of_a_batched_row_are_one_line(jobs, tiny_model_folder, tmp_path):
    image, mask = str(jobs.parent / "photo0.png"), str(jobs.parent / "mask0.png")
    manifest = tmp_path / "bad.jsonl"
    manifest.write_text("\n".join(json.dumps(r) for r in [
        {"image": image, "mask": mask, "steps": 0},
        {"image": image, "mask": mask, "strength": 2},
        {"image": image, "mask": mask, "method": "smear"},
        {"image": image, "mask": mask, "engine": "lama"},
    ]))
    out = tmp_path / "out"
    run_batch(manifest, out, _tiny_job(out, tiny_model_folder, retries=0, batch_size=4), show_progress=False)
    rows = _rows(out)
    assert [r["status"] for r in rows] == ["failed"] * 4
    for r, word in zip(rows, ("steps", "strength", "method", "lama")):
        assert word in r["reason"] and "internal error" not in r["reason"] and "\n" not in r["reason"], r["reason"]
