"""The local backend: the rows in this process (workers <= 1) or in a pool of worker processes, no Ray needed.

Rows go in chunks of job.batch_size (in row order, as the Ray backend cuts them, so both give the same outputs):
each chunk runs its stages one after the other (load -> generate, batched -> finish) in one process, which keeps its
models loaded between chunks (the process-wide model cache, a segmenter and a text selector). Rows whose gate failed
go round again with their next seed, in chunks cut the same way. Workers split the machine's CPU threads.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Callable, Iterator

from .job import Job, Selectors, Task, finish, generate_many, load

_SELECTORS: Selectors | None = None


def chunks(tasks: list[Task], size: int) -> list[list[Task]]:
    """The tasks in row order, cut into chunks of ``size`` (the last one shorter)."""
    ordered = sorted(tasks, key=lambda t: t.row.index)
    size = max(1, int(size))
    return [ordered[i:i + size] for i in range(0, len(ordered), size)]


def sort_out(chunk: list[Task], retry: list[Task], emit: Callable[[Task], None],
             progress: Callable[[], None] | None) -> None:
    """After a chunk's attempt: its finished rows to ``emit`` (and progress), the rows due for a retry to ``retry``."""
    for task in chunk:
        if task.status is None:
            retry.append(task)
        else:
            emit(task)
            if progress:
                progress()


def attempt(tasks: list[Task], job: Job) -> list[Task]:
    """One attempt of a chunk of rows in this process: load (once), generate (batched), finish."""
    global _SELECTORS
    if _SELECTORS is None:
        _SELECTORS = Selectors()
    tasks = [load(t, job, _SELECTORS) if t.native is None else t for t in tasks]
    return [finish(t, job) for t in generate_many(tasks, job)]


def _init_worker(threads: int) -> None:
    import cv2
    import torch

    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)


def run(tasks: list[Task], job: Job, emit: Callable[[Task], None], workers: int = 1,
        progress: Callable[[], None] | None = None) -> int:
    """Every task to its end (ok, review or failed), ``emit`` called with each finished one in this process.
    Returns the number of rounds (1 + the retries any row needed)."""
    rounds = 0
    pending = list(tasks)
    with _Runner(job, workers) as runner:
        while pending:
            rounds += 1
            retry = []
            for chunk in runner.map(chunks(pending, job.batch_size)):
                sort_out(chunk, retry, emit, progress)
            pending = retry
    return rounds


class _Runner:
    """Chunks through attempt(): here (workers <= 1, torch threads set to job.threads for the run) or in spawned
    worker processes (not forked: a fork of a process whose torch / OpenMP threads run can hang in the child)."""

    def __init__(self, job: Job, workers: int):
        self.job, self.workers = job, workers
        self.pool = None
        self.threads_before = None

    def __enter__(self) -> "_Runner":
        if self.workers > 1:
            threads = self.job.threads or max(1, (os.cpu_count() or 1) // self.workers)
            self.pool = ProcessPoolExecutor(max_workers=self.workers, initializer=_init_worker, initargs=(threads,),
                                            mp_context=multiprocessing.get_context("spawn"))
        elif self.job.threads:
            import torch

            self.threads_before = torch.get_num_threads()
            torch.set_num_threads(self.job.threads)
        return self

    def map(self, work: list[list[Task]]) -> Iterator[list[Task]]:
        if self.pool is None:
            for chunk in work:
                yield attempt(chunk, self.job)
            return
        running = {self.pool.submit(attempt, chunk, self.job) for chunk in work}
        while running:
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
        if self.threads_before is not None:
            import torch

            torch.set_num_threads(self.threads_before)
