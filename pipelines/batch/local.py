"""The local backend: the rows in this process (workers <= 1) or in a pool of worker processes, no Ray needed.

Each worker process runs a row's stages one after the other (load -> generate -> finish) and keeps its models
loaded between rows (the process-wide model cache, a segmenter and a text selector); a row whose gate failed is
handed out again for its next attempt. Workers split the machine's CPU threads between them.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Callable

from .job import Job, Selectors, Task, finish, generate, load

_SELECTORS: Selectors | None = None


def attempt(task: Task, job: Job) -> Task:
    """One attempt of a row in this process: load (once), generate, finish."""
    global _SELECTORS
    if _SELECTORS is None:
        _SELECTORS = Selectors()
    if task.native is None:
        task = load(task, job, _SELECTORS)
    return finish(generate(task, job), job)


def _init_worker(threads: int) -> None:
    import cv2
    import torch

    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)


def run(tasks: list[Task], job: Job, emit: Callable[[Task], None], workers: int = 1,
        progress: Callable[[], None] | None = None) -> None:
    """Every task to its end (ok, review or failed), ``emit`` called with each finished one in this process."""
    if workers <= 1:
        import torch

        before = torch.get_num_threads()
        if job.threads:
            torch.set_num_threads(job.threads)
        try:
            for task in tasks:
                while task.status is None:
                    task = attempt(task, job)
                emit(task)
                if progress:
                    progress()
        finally:
            torch.set_num_threads(before)
        return
    threads = job.threads or max(1, (os.cpu_count() or 1) // workers)
    # spawned, not forked: a fork of a process whose torch / OpenMP threads are running can hang in the child
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(threads,),
                             mp_context=context) as pool:
        running = {pool.submit(attempt, t, job) for t in tasks}
        while running:
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                task = future.result()
                if task.status is None:
                    running.add(pool.submit(attempt, task, job))
                else:
                    emit(task)
                    if progress:
                        progress()
