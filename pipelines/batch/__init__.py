"""Batch edits: a manifest in, verified results out, with a quality gate and provenance.

    summary = run_batch("jobs.csv", "out/", Job(out="out/", engine="telea"), backend="local")
    summary = run_batch("jobs.csv", "out/", job, backend="ray", ray_address="ray://head:10001")

The manifest's schema is in pipelines.batch.manifest (CSV, JSON Lines or Parquet; at least the columns image,
mask, prompt, mode, seed). Each row goes through the stages of pipelines.batch.job: load (decode, mask) -> generate
(the model: crops, generation, paste-back) -> finish (seam report, the outside checked at the input's own format,
the gate, the lossless PNG with its settings record). The gate passes a result when nothing outside the mask
changed and the seam thresholds hold; otherwise the row is retried with the next seed up to ``job.retries`` times
and then marked "review" with its best attempt kept.

OUT/results.jsonl has one JSON object per manifest row, in manifest order (pipelines.batch.results), with the keys

    row, image, output, status ("ok", "review" or "failed"), reason, outside_changed, input_sha256, output_sha256,
    mask_sha256, selection, mode, prompt, negative_prompt, seed, attempts, tried, params, engine, model, report
    (the seam report), gate, notes, provenance ({"edited": true, ...}), started, finished, seconds, key, given

A re-run skips the rows whose outputs exist with matching hashes (and the rows that failed on their own bad input);
a killed run resumes from the rows it finished. Bad rows are recorded with a reason and never stop the job.

Backends: "local" (this process, or a pool of worker processes; no Ray needed) and "ray" (Ray Data: CPU stages
around an actor pool that holds one loaded model per actor, a GPU each where there are GPUs). Both run the same
stage functions on the same chunks of job.batch_size rows (crops of one size from a chunk go through the model in
one call), so they give the same outputs and the same rows.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError
from . import results
from .job import GATE, Job, Task, new_task, result_row
from .manifest import MODES, Row, read_manifest

__all__ = ["GATE", "Job", "MODES", "Row", "Summary", "read_manifest", "run_batch"]

log = logging.getLogger(__name__)
BACKENDS = ("local", "ray")


@dataclass
class Summary:
    """What a batch run did: rows per status, rows done now and reused from an earlier run, wall seconds."""

    rows: int = 0
    done: int = 0
    reused: int = 0
    status: dict = field(default_factory=dict)
    seconds: float = 0.0
    backend: str = "local"
    facts: dict = field(default_factory=dict)
    results: str = ""

    def as_dict(self) -> dict:
        return {"rows": self.rows, "done": self.done, "reused": self.reused, "status": self.status,
                "seconds": round(self.seconds, 3), "backend": self.backend, "facts": self.facts,
                "results": self.results}


def run_batch(manifest: str | Path, out: str | Path, job: Job | None = None, *, backend: str = "local",
              workers: int = 1, ray_address: str | None = None, actors: int | None = None,
              show_progress: bool = True, ray_split: bool | None = None) -> Summary:
    """Run every row of ``manifest`` into folder ``out`` (created if missing) and write OUT/results.jsonl.
    ``ray_split``: the Ray pipeline's shape (ray_backend.run's ``split``; None: three stages where there are GPUs)."""
    if backend not in BACKENDS:
        raise UserError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    t0, t0_wall = time.perf_counter(), time.time()
    out = Path(out)
    job = job or Job(out=str(out))
    if Path(job.out) != out:
        raise ValueError("job.out and out differ")
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file, not a folder")
    rows, problems = read_manifest(manifest)
    manifest_path = Path(manifest).resolve()
    if out.resolve() == manifest_path.parent and any((out / r.output).resolve() == Path(r.image).resolve()
                                                     for r in rows):
        raise UserError("an output would overwrite its input: choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    previous = results.read(out)
    summary = Summary(rows=len(rows), backend=backend, results=str(out / results.NAME))
    todo: list[Task] = []
    with results.Journal(out, len(rows)) as journal:
        for row in rows:
            task = new_task(row, job, problems.get(row.index))
            entry = previous.get(row.index)
            if entry is not None and results.reusable(entry, task.key, row.image, out):
                summary.reused += 1
                continue
            if task.status is not None:  # a bad row: recorded, never stops the job
                journal.write(result_row(task, job))
                summary.done += 1
            else:
                todo.append(task)

        bar = _bar(len(todo), show_progress and backend == "local")

        began = []

        def emit(task: Task) -> None:
            journal.write(result_row(task, job))
            summary.done += 1
            if task.began:
                began.append(task.began)

        if todo:
            if backend == "local":
                from . import local

                summary.facts = {"rounds": local.run(todo, job, emit, workers=workers,
                                                     progress=bar.update if bar else None)}
            else:
                from . import ray_backend

                summary.facts = ray_backend.run(todo, job, emit, address=ray_address, actors=actors,
                                                show_progress=show_progress, split=ray_split)
        if began:  # the backend's start-up: from the call until a worker began the first row
            summary.facts["first_row_s"] = round(min(began) - t0_wall, 3)
        if bar:
            bar.close()
        entries = journal.close()
    for entry in entries.values():
        summary.status[entry["status"]] = summary.status.get(entry["status"], 0) + 1
    summary.seconds = time.perf_counter() - t0
    return summary


def _bar(total: int, enabled: bool):
    if not enabled or not total:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="row", desc="batch", leave=False)
