"""The Ray backend: the same stages as a Ray Data pipeline, on this machine or on a cluster.

    load      ds.map_batches(LoadStage)      CPU actors (half a CPU each): decode, mask from file / text / clicks / box;
                                             each actor keeps its segmenter and text model loaded
    generate  ds.map_batches(GenerateStage)  an autoscaling actor pool, each actor holding one loaded model and a
                                             GPU (num_gpus=1); restarted and its rows retried when a worker dies
    finish    ds.map_batches(finish_batch)   CPU tasks (half a CPU each): paste-back of batched crops, seam report,
                                             outside check, gate, PNG written
On a cluster without GPUs the three run in one autoscaling pool of CPU actors (WholeStage: a chunk's stages one
after the other, as the local backend runs them), which spares the hand-offs between stages.
and the driver appends each finished row to OUT/results.jsonl. Rows whose gate failed go through the pipeline
again with their next seed (one more round per retry). Rows travel between stages as pickled Task objects (a
binary column: images of any shape and format), in chunks of job.batch_size rows cut in row order as the local
backend cuts them, so that both batch the same crops together and give the same outputs.

Without --ray-address, ray.init starts a local Ray with this machine's CPUs (and GPUs), and shuts it down after the
job; with one, the job joins that cluster (its workers need this package importable: install it on the nodes or
pass a runtime_env with a working_dir). Ray's own progress bars show each stage; a cluster's dashboard shows the
actors and their resources.
"""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path
from typing import Callable

from .job import Job, Selectors, Task, finish, generate_many, load
from .local import chunks, sort_out

log = logging.getLogger(__name__)

ROOT = str(Path(__file__).resolve().parents[2])
BLOCKS_PER_ACTOR = 4
"""Without GPUs: the chunks of a round go to the actors in this many blocks per actor."""


def _chunks(batch: dict) -> list[list[Task]]:
    return [pickle.loads(b) for b in batch["chunk"]]


def _batch(chunks_: list[list[Task]]) -> dict:
    import numpy as np

    return {"chunk": np.array([pickle.dumps(c, protocol=5) for c in chunks_], dtype=object)}


class LoadStage:
    """Decode and select; keeps its segmenter and text model between batches."""

    def __init__(self, job: Job):
        self.job = job
        self.selectors = Selectors()

    def __call__(self, batch: dict) -> dict:
        return _batch([[t if t.native is not None else load(t, self.job, self.selectors) for t in chunk]
                       for chunk in _chunks(batch)])


class GenerateStage:
    """Generation with the job's model, loaded once when the actor starts."""

    def __init__(self, job: Job, threads: int | None = None):
        self.job = job
        if threads:  # the actor's share of the CPUs, for torch and OpenCV alike (as the local pool's workers)
            from .local import _init_worker

            _init_worker(threads)
        if job.engine == "diffusers":
            from .. import models
            from ..generate.registry import resolve_model

            models.load_model(resolve_model(job.model), device=job.device, dtype=job.dtype,
                              allow_download=job.allow_download)

    def __call__(self, batch: dict) -> dict:
        return _batch([generate_many(chunk, self.job) for chunk in _chunks(batch)])


class WholeStage(GenerateStage):
    """Without GPUs: a chunk's three stages in one CPU actor. Nothing is gained by splitting CPU work from CPU work,
    and one pool saves the hand-offs between stages (on 2 cores the three-stage pipeline took about 3x the local
    pool's time for the classical engine; see bench/batch.py)."""

    def __init__(self, job: Job, threads: int | None = None):
        super().__init__(job, threads)
        self.selectors = Selectors()

    def __call__(self, batch: dict) -> dict:
        out = []
        for chunk in _chunks(batch):
            chunk = [t if t.native is not None else load(t, self.job, self.selectors) for t in chunk]
            out.append([finish(t, self.job) for t in generate_many(chunk, self.job)])
        return _batch(out)


def finish_batch(batch: dict, job: Job) -> dict:
    return _batch([[finish(t, job) for t in chunk] for chunk in _chunks(batch)])


def run(tasks: list[Task], job: Job, emit: Callable[[Task], None], address: str | None = None,
        actors: int | None = None, progress: Callable[[], None] | None = None, show_progress: bool = True,
        split: bool | None = None) -> dict:
    """Every task to its end through Ray Data; ``emit`` is called in this process with each finished one.
    ``split``: the three-stage pipeline (True), one whole-chunk stage (False), or None: split where the job's
    actors get GPUs. Returns facts about the run (Ray's start-up time, rounds, resources, split)."""
    import time

    try:
        import ray
    except ImportError:
        from ..errors import UserError

        raise UserError("the ray backend needs Ray: pip install 'ray[data]' (or use --backend local)") from None

    facts: dict = {}
    started = False
    t0 = time.perf_counter()
    if not ray.is_initialized():
        path = os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))
        if address is None:
            # a Ray started here: its workers inherit this environment. Cheaper than a runtime_env, whose workers
            # cannot be the ones Ray prestarts (on 2 cores the actors were ready about 2 s later with one)
            _init_here(ray, path)
        else:
            ray.init(address=address, log_to_driver=False, runtime_env={"env_vars": {"PYTHONPATH": path}},
                     logging_level=logging.WARNING)
        started = True
    facts["ray_start_s"] = round(time.perf_counter() - t0, 3)
    try:
        resources = ray.cluster_resources()
        cpus, gpus = int(resources.get("CPU", 1)), int(resources.get("GPU", 0))
        facts.update(cpus=cpus, gpus=gpus)
        per_actor_gpu = 1 if gpus and job.device in ("auto", "cuda") or str(job.device).startswith("cuda") else 0
        if actors is None:
            actors = max(1, gpus if per_actor_gpu else cpus)
        # with GPUs: the load actors and finish tasks take half a CPU each, the generate actors a GPU (and a CPU)
        # each; without: whole-chunk actors share the CPUs
        actor_cpus = 1 if per_actor_gpu else max(1, cpus // actors)
        split = bool(per_actor_gpu) if split is None else split
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = show_progress
        ctx.enable_operator_progress_bars = show_progress
        rounds = 0
        pending = list(tasks)
        while pending:
            rounds += 1
            work = chunks(pending, job.batch_size)  # cut as the local backend cuts them: the same batches
            # a block per chunk where the stages stream into GPU actors; without GPUs a few blocks per actor, each
            # handed to an actor whole (fewer hand-offs; the chunks, and so the outputs, stay the same)
            blocks = len(work) if split else min(len(work), BLOCKS_PER_ACTOR * actors)
            ds = ray.data.from_items([{"chunk": pickle.dumps(c, protocol=5)} for c in work],
                                     override_num_blocks=blocks)
            kwargs = {"job": job, "threads": job.threads or actor_cpus}
            pool = ray.data.ActorPoolStrategy(min_size=1, max_size=actors, initial_size=actors)  # all from the start
            if split:
                ds = ds.map_batches(LoadStage, fn_constructor_kwargs={"job": job}, batch_size=1, num_cpus=0.5,
                                    compute=ray.data.ActorPoolStrategy(min_size=1, max_size=max(1, cpus // 2)))
                ds = ds.map_batches(GenerateStage, fn_constructor_kwargs=kwargs, batch_size=1, num_cpus=actor_cpus,
                                    num_gpus=per_actor_gpu, compute=pool, max_restarts=-1, max_task_retries=-1)
                ds = ds.map_batches(finish_batch, fn_kwargs={"job": job}, batch_size=1, num_cpus=0.5)
            else:
                ds = ds.map_batches(WholeStage, fn_constructor_kwargs=kwargs, batch_size=None, num_cpus=actor_cpus,
                                    compute=pool, max_restarts=-1, max_task_retries=-1)
            pending = []
            for item in ds.iter_rows():
                sort_out(pickle.loads(item["chunk"]), pending, emit, progress)
        facts.update(rounds=rounds, actors=actors, actor_cpus=actor_cpus, actor_gpus=per_actor_gpu, split=split)
    finally:
        if started:
            t1 = time.perf_counter()
            ray.shutdown()
            facts["ray_stop_s"] = round(time.perf_counter() - t1, 3)
    return facts


def _init_here(ray, pythonpath: str) -> None:
    """ray.init of a Ray on this machine (its CPUs and GPUs), whose workers find this package on PYTHONPATH."""
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = pythonpath
    try:
        ray.init(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    finally:
        if before is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = before
