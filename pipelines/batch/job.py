"""One manifest row through the batch stages; the same functions run in the local pool and on Ray.

    task = new_task(row, job)
    task = load(task, job, selectors)   # CPU: decode the photo, make the mask (file, text, clicks or box)
    task = generate(task, job)          # the model: crops, generation, paste-back; outside verified (fail closed)
    task = finish(task, job)            # CPU: seam report, the outside checked again, the gate, the PNG written
    task.status                         # None: the gate failed and a retry is due (task.attempt was raised)
    result_row(task, job)               # the row of OUT/results.jsonl

Attempt k uses seed row.seed + k. A result passes the gate (Gate) when nothing outside the mask changed and the seam
thresholds hold; otherwise the row is retried with the next seed, up to ``job.retries`` more times, and then marked
"review" with its best attempt (by seam score) kept. Engines without a seed (classical, LaMa) are not retried: the
same input gives the same image. Any error in a row makes that row "failed" with a one-line reason; none stops the
job. Formats: images in their own format (pipelines.io), masks HW bool (True = repaint), boxes XYXY.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from ..errors import UserError, one_line
from ..provenance import file_sha256, mask_digest, pixels_digest
from .manifest import Row

log = logging.getLogger(__name__)

GATE = {"outside_changed": 0.0, "seam_excess": 0.25, "ring_delta_e": 2.0}
"""Default gate: the contract and BOUNDARIES.md's seam thresholds (a result passes when every value is <= its
limit). noref_ratio is reported but not gated: without a clean reference it also reacts to texture."""
WHERE_AND_HOW = ("out", "device", "dtype", "allow_download", "threads")
"""Job fields a result's key leaves out (Job.fingerprint)."""
CRASH_ONCE_ENV = "INPAINT_BATCH_CRASH_ONCE"
"""Fault injection for the recovery tests: when this names an existing file, the generate stage deletes it and its
process exits at once (a worker killed mid-run). Unset in normal use."""


@dataclass(frozen=True)
class Job:
    """Job-wide settings. strength None: the mode's default (remove 0.9 with pre-fill, else 1.0)."""

    out: str
    engine: str = "diffusers"
    model: str | None = None
    text_model: str | None = None
    segmenter: str = "auto"
    steps: int = 30
    strength: float | None = None
    guidance: float | None = None
    grow: int = 0
    method: str = "seamless"
    retries: int = 2
    gate: tuple[tuple[str, float], ...] = tuple(GATE.items())
    device: str = "auto"
    dtype: str | None = None
    allow_download: bool = True
    box_threshold: float = 0.35
    batch_size: int = 1
    """Rows whose crops are generated together: crops of one size (and one setting) from up to this many rows go
    through the model in one call. 1 (default): each row alone, exactly as python -m pipelines inpaint paints it;
    4-8 on a GPU (a batch of 4 SDXL crops costs 0.62x per crop, of SD 1.5 crops 0.29x, on an H200)."""
    threads: int | None = None
    """torch CPU threads for generation (None: as the process has it). A model's float sums depend on the thread
    count, so backends give bit-identical outputs on the CPU only with the same count."""
    stage_control: str | None = "depth"
    """The control of stage rows with the diffusers engine: "depth" (a depth ControlNet keeps the room's
    perspective) or None (plain inpainting with the row's prompt)."""

    def fingerprint(self) -> dict:
        """The settings a result depends on: every field but WHERE_AND_HOW (where it is written, which device ran
        it, whether weights may be fetched)."""
        return {k: v for k, v in asdict(self).items() if k not in WHERE_AND_HOW}


@dataclass
class Task:
    """A row on its way through the stages (pickled between them)."""

    row: Row
    key: str
    attempt: int = 0
    started: str = ""
    began: float = 0.0
    """When a worker began the row's first stage (time.time(); 0 until then): the backends' start-up is measured
    from it."""
    seconds: float = 0.0
    native: np.ndarray | None = None
    icc_profile: bytes | None = None
    notes: list = field(default_factory=list)
    mask: np.ndarray | None = None
    selection: dict | None = None
    input_sha256: str | None = None
    mask_sha256: str | None = None
    result: np.ndarray | None = None
    result_mask: np.ndarray | None = None
    offset: tuple[int, int] | None = None
    """Outpaint: (x, y) of the original's top-left pixel in the result."""
    engine: str | None = None
    model: str | None = None
    params: dict = field(default_factory=dict)
    generated: list | None = None
    """Batched generation: [((crop index, driver.Crop), the engine's answer)] for the finish stage's paste-back."""
    uses_seed: bool = True
    report: dict | None = None
    """Outpaint: its own seam report of the new area (the finish stage measures every other row itself)."""
    tried: list = field(default_factory=list)
    best: dict | None = None
    status: str | None = None
    reason: str = ""

    @property
    def seed(self) -> int:
        return self.row.seed + self.attempt


def new_task(row: Row, job: Job, problem: str | None = None) -> Task:
    task = Task(row=row, key=row.key(job.fingerprint()), started=_now())
    if problem:
        task.status, task.reason = "failed", problem
    return task


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def fail(task: Task, exc: BaseException, where: str) -> None:
    """Mark the row failed with one line for ``exc`` (a user's mistake as it is, a refused result as such, anything
    else as an internal error, logged with its traceback); a failed row carries no pixels further."""
    from ..contract import ContractViolation

    if isinstance(exc, UserError):
        task.reason = one_line(exc)
    elif isinstance(exc, ContractViolation):
        task.reason = f"refused: {one_line(exc)}"
    elif isinstance(exc, MemoryError):
        task.reason = "out of memory on this worker"
    else:  # a bug in one row must not stop the job; the traceback goes to the log
        log.error("batch row %d failed in %s", task.row.index, where, exc_info=exc)
        task.reason = f"internal error ({type(exc).__name__}: {one_line(exc, 200)})"
    task.status = "failed"
    task.result = task.native = task.generated = None


def guarded(stage):
    """Run ``stage(task, ...)`` unless the task is done; an error marks the row failed with one line (a user's
    mistake as it is, a refused result as such, anything else as an internal error, logged with its traceback)."""
    def run(task: Task, *args) -> Task:
        if task.status is not None:
            return task
        t0 = time.perf_counter()
        try:
            return stage(task, *args)
        except Exception as exc:  # a user's mistake, a refused result, a bug: see fail()
            fail(task, exc, stage.__name__)
        finally:
            task.seconds += time.perf_counter() - t0
        return task

    run.__name__ = stage.__name__
    return run


# ----------------------------------------------------------------------------------------------------------------
# Stage 1: decode and select


def _fetch(uri: str) -> Path:
    """A local path for ``uri``: a path as it is, a remote URI (fsspec) copied to a temporary file."""
    if "://" not in uri:
        return Path(uri)
    try:
        import fsspec
    except ImportError:
        raise UserError(f"{uri}: reading URIs needs fsspec (pip install fsspec)") from None
    suffix = Path(uri.split("?")[0]).suffix
    fd, tmp = tempfile.mkstemp(suffix=suffix)
    try:
        with fsspec.open(uri, "rb") as src, os.fdopen(fd, "wb") as dst:
            for block in iter(lambda: src.read(1 << 20), b""):
                dst.write(block)
    except (OSError, ValueError, ImportError) as exc:
        os.unlink(tmp)
        raise UserError(f"{uri} cannot be read: {one_line(exc)}") from None
    return Path(tmp)


@guarded
def load(task: Task, job: Job, selectors: "Selectors") -> Task:
    """Decode the row's photo (EXIF orientation, its own format kept) and make its mask."""
    from .. import io, masks

    row = task.row
    task.began = task.began or time.time()
    path = _fetch(row.image)
    try:
        picture = io.read(path)
        task.input_sha256 = file_sha256(path)
    finally:
        if path != Path(row.image):
            path.unlink(missing_ok=True)
    task.native, task.icc_profile, task.notes = picture.pixels, picture.icc_profile, list(picture.notes)
    if row.mode == "outpaint":
        return task
    if row.mask:
        mpath = _fetch(row.mask)
        try:
            mask = masks.to_mask(str(mpath), size=picture.size)
        finally:
            if mpath != Path(row.mask):
                mpath.unlink(missing_ok=True)
        task.selection = {"source": "file"}
    else:
        mask, task.selection = selectors.select(picture.rgb(), row, job)
    if not mask.any():
        raise UserError(f"the mask of row {row.index} is empty: nothing to edit")
    if mask.all():
        raise UserError(f"the mask of row {row.index} covers the whole image: nothing outside to keep")
    task.mask = mask
    task.mask_sha256 = mask_digest(mask)
    return task


class Selectors:
    """The models a worker uses to turn text, clicks or a box into a mask, loaded on first use and kept."""

    def __init__(self):
        self._segmenter = None
        self._text = None

    def segmenter(self, job: Job):
        if self._segmenter is None:
            from .. import segment

            self._segmenter = segment.make_segmenter(job.segmenter, download=job.allow_download)
        return self._segmenter

    def select(self, image: np.ndarray, row: Row, job: Job) -> tuple[np.ndarray, dict]:
        """(mask, report) for the row's mask_text, clicks or box on ``image`` (HWC uint8 RGB)."""
        from .. import segment

        segmenter = self.segmenter(job)
        if row.mask_text:
            if self._text is None:
                from ..segment.grounding import DEFAULT_TEXT_MODEL, TextSelector

                self._text = TextSelector(job.text_model or DEFAULT_TEXT_MODEL, box_threshold=job.box_threshold,
                                          download=job.allow_download)
                self._text.remedy = ("give the row a mask file, or --text-model a folder saved with "
                                     "save_pretrained")
                self._text.load()
            found = self._text.select(image, row.mask_text, segmenter,
                                      instances=row.params.get("instances", "best"))
            mask = segment.clean_mask(found.mask)
            report = {"source": "text", "phrase": found.phrase, "engine": found.engine,
                      "boxes": [list(map(int, b)) for b in found.boxes],
                      "box_scores": [round(float(s), 4) for s in found.box_scores]}
        else:
            positive = [p for p, label in zip(row.clicks, row.labels) if label == 1]
            negative = [p for p, label in zip(row.clicks, row.labels) if label == 0]
            segment.check_prompts(image.shape[:2], positive=positive, negative=negative, box=row.box)
            found = segmenter.segment(image, positive=positive, negative=negative, box=row.box)
            mask = segment.clean_mask(found.mask)
            report = {"source": row.selection, "engine": found.engine}
        return mask, report

    def close(self) -> None:
        for held in (self._text, self._segmenter):
            if held is not None:
                held.close()
        self._text = self._segmenter = None


# ----------------------------------------------------------------------------------------------------------------
# Stage 2: generate


def row_engine(row: Row, job: Job) -> str:
    """The row's engine: the job's, or a classical fill the row asks for (a worker holds the job's model only)."""
    engine = row.params.get("engine", job.engine)
    if engine != job.engine and engine not in ("telea", "ns"):
        raise UserError(f"engine {engine!r}: this job runs {job.engine}; a row may switch only to telea or ns")
    return engine


def mode_settings(row: Row, job: Job) -> dict:
    """The inpaint()/outpaint() arguments of the row's mode (engine, prompt, strength, prefill, control)."""
    from ..instructions import REMOVE_NEGATIVE, REMOVE_PROMPT

    p = row.params
    engine = row_engine(row, job)
    out = {"engine": engine, "prompt": row.prompt, "negative_prompt": row.negative_prompt, "prefill": False,
           "control": None, "strength": p.get("strength", job.strength)}
    if row.mode == "remove":
        out.update(prompt=row.prompt or REMOVE_PROMPT, negative_prompt=row.negative_prompt or REMOVE_NEGATIVE)
        if engine == "diffusers":
            out["prefill"] = True
            out["strength"] = 0.9 if out["strength"] is None else out["strength"]
    elif row.mode == "stage" and engine == "diffusers":
        out["control"] = job.stage_control
    if out["strength"] is None:
        out["strength"] = 0.9 if row.mode == "outpaint" else 1.0
    return out


def _crash_if_asked() -> None:
    marker = os.environ.get(CRASH_ONCE_ENV)
    if marker and os.path.exists(marker):
        try:
            os.unlink(marker)
        except FileNotFoundError:  # another worker took it
            return
        log.warning("%s: exiting this worker now (fault injection)", CRASH_ONCE_ENV)
        os._exit(17)


@guarded
def generate(task: Task, job: Job) -> Task:
    """The row's attempt ``task.attempt`` (seed row.seed + attempt) through pipelines.inpaint (or outpaint): the
    result comes back in the input's own format with its outside verified (fail closed)."""
    _crash_if_asked()
    row, p = task.row, task.row.params
    m = mode_settings(row, job)
    classical = m["engine"] in ("telea", "ns")
    common = dict(engine=m["engine"], model=None if classical else job.model, steps=p.get("steps", job.steps),
                  guidance=p.get("guidance", job.guidance), seed=None if classical else task.seed,
                  method=p.get("method", job.method),
                  feather=p.get("feather"), device=job.device, dtype=job.dtype, allow_download=job.allow_download)
    if row.mode == "outpaint":
        from ..outpaint import outpaint

        res = outpaint(task.native, p.get("left", 0), p.get("right", 0), p.get("top", 0), p.get("bottom", 0),
                       prompt=m["prompt"], negative_prompt=m["negative_prompt"], strength=m["strength"], **common)
        task.result, task.result_mask = res.images[0], res.mask
        task.offset = tuple(res.offset)
        task.report = dict(res.reports[0])  # the new area against the pre-filled canvas (outpaint's own measure)
    else:
        from ..inpaint import inpaint

        res = inpaint(task.native, task.mask, m["prompt"], m["negative_prompt"], strength=m["strength"],
                      grow=p.get("grow", job.grow), context_margin=_margin(task),
                      prefill=m["prefill"], control=m["control"], reports=False, **common)
        task.result, task.result_mask = res.images[0], res.mask
    task.engine, task.model = res.engine, res.model
    task.params = _params(task, job, m, res.params.get("guidance", common["guidance"]))
    task.notes = list(dict.fromkeys(task.notes + list(res.notes)))
    task.uses_seed = res.seeds[0] is not None
    return task


def generate_many(tasks: list[Task], job: Job) -> list[Task]:
    """Stage 2 for a chunk of rows (at most job.batch_size). Rows that run the diffusers engine with the same
    settings (and no control image or soft edge) are planned together and their crops of one size go through the
    model in one call (DiffusionEngine.fill_many; one crop alone paints exactly as inpaint() paints it); the
    paste-back then happens in the finish stage, on the CPU. Every other row (outpaint, a classical or LaMa row, a
    depth-staged row, crops whose context boxes overlap) goes through pipelines.inpaint alone (generate)."""
    _crash_if_asked()
    groups: dict[tuple, list[Task]] = {}
    for task in tasks:
        if task.status is not None:
            continue
        try:
            m = mode_settings(task.row, job)
        except UserError as exc:
            fail(task, exc, "generate")
            continue
        p = task.row.params
        if task.row.mode == "outpaint" or m["engine"] != "diffusers" or m["control"]:
            generate(task, job)
            continue
        key = (m["strength"], p.get("steps", job.steps), p.get("guidance", job.guidance), m["prefill"])
        groups.setdefault(key, []).append(task)
    for (strength, steps, guidance, prefill), group in groups.items():
        _generate_group(group, job, strength, steps, guidance, prefill)
    return tasks


def _generate_group(group: list[Task], job: Job, strength, steps, guidance, prefill) -> None:
    from ..generate import driver, engines
    from ..generate.prepare import prepare

    t0 = time.perf_counter()
    with engines.lease("diffusers", model=job.model, device=job.device, dtype=job.dtype,
                       allow_download=job.allow_download, strength=strength, steps=steps, guidance=guidance,
                       prefill=prefill) as engine:
        if not engine.batchable:
            for task in group:
                generate(task, job)
            return
        work: dict[tuple, list] = {}  # (crop size, negative prompt given) -> [(task, (index, crop), fill_many item)]
        for task in group:
            try:
                m = mode_settings(task.row, job)
                _check(task, job, m)
                prep = prepare(task.native, task.mask, task.row.params.get("grow", job.grow))
                crops = driver.plan_crops(prep.mask, engine, _margin(task))
                if not driver.disjoint(crops):
                    generate(task, job)
                    continue
                negative = m["negative_prompt"] or None
                for k, crop in enumerate(crops):
                    pixels, crop_mask = driver.crop_input(prep.rgb, crop)
                    work.setdefault((crop.size, negative is None), []).append(
                        (task, (k, crop), (pixels, crop_mask, m["prompt"], negative, task.seed)))
                task.generated = []
                task.engine, task.model, task.uses_seed = engine.name, engine.model, True
                task.notes = list(dict.fromkeys(task.notes + engine.prompt_notes(m["prompt"], negative)
                                                + engine.notes()))
                task.params = _params(task, job, m, engine.settings().get("guidance", guidance))
            except Exception as exc:  # noqa: BLE001 - recorded on the row, never stops the chunk
                fail(task, exc, "generate")
        for items in work.values():
            live = [it for it in items if it[0].status is None]
            if not live:
                continue
            try:
                outs = engine.fill_many([item for *_, item in live], step=lambda: None)
            except Exception as exc:  # noqa: BLE001 - every row of the call failed with it
                for task, *_ in live:
                    fail(task, exc, "generate")
                continue
            for (task, crop, _), out in zip(live, outs):
                task.generated.append((crop, out))
    share = (time.perf_counter() - t0) / max(1, len(group))
    for task in group:
        task.seconds += share


def _check(task: Task, job: Job, m: dict) -> None:
    """The checks inpaint() makes of a row's parameters, for the rows generated in a batch (a UserError each)."""
    from ..generate.checks import check_feather, check_generation, check_int, check_method

    p = task.row.params
    check_generation(m["strength"], p.get("steps", job.steps), p.get("guidance", job.guidance))
    check_int(_margin(task), "margin", 0)
    check_method(p.get("method", job.method))
    check_feather(p.get("feather"))


def _params(task: Task, job: Job, m: dict, guidance) -> dict:
    p = task.row.params
    return {"mode": task.row.mode, "engine": m["engine"], "strength": m["strength"], "steps": p.get("steps", job.steps),
            "guidance": guidance, "grow": p.get("grow", job.grow), "method": p.get("method", job.method),
            "feather": p.get("feather"), "prefill": m["prefill"], "control": m["control"],
            "margin": _margin(task), **{k: p[k] for k in ("left", "right", "top", "bottom") if k in p}}


def _margin(task: Task) -> int:
    """The row's context margin (px), driver.DEFAULT_MARGIN unless the row sets one. The driver is imported here,
    not at the top: importing pipelines.batch stays free of OpenCV and SciPy (the CLI's --help, Ray's driver)."""
    from ..generate.driver import DEFAULT_MARGIN

    return task.row.params.get("margin", DEFAULT_MARGIN)


def paste_back(task: Task, job: Job) -> None:
    """The batched crops pasted into the row's photo through the boundary engine, and the result back at the input's
    own format with its outside verified (Prepared.finish: fail closed), as the driver does for one row."""
    from .. import blend
    from ..generate import driver
    from ..generate.prepare import prepare

    p = task.row.params
    prep = prepare(task.native, task.mask, p.get("grow", job.grow))
    method = p.get("method", job.method)
    feather = p.get("feather")
    feather = feather if feather is not None else blend.default_feather(method, prep.grow)
    notes: list[str] = []
    current = prep.rgb
    for (_, crop), generated in sorted(task.generated, key=lambda item: item[0][0]):  # in the plan's order
        current = driver.paste(current, generated, crop, method, feather, notes)
    reports = [{}]
    (task.result,) = prep.finish([current], reports, what=f"row {task.row.index}'s result")
    task.result_mask, task.generated = prep.mask, None
    task.notes = list(dict.fromkeys(task.notes + notes))


# ----------------------------------------------------------------------------------------------------------------
# Stage 3: report, gate, write


def gate(report: dict, limits) -> list[str]:
    """The gate's failures for a seam report: "name value > limit" for every limit broken (a missing or NaN value
    breaks it); [] = passed."""
    failed = []
    for name, limit in limits:
        value = report.get(name)
        if value is None or not (float(value) <= float(limit)):
            failed.append(f"{name} {'missing' if value is None else round(float(value), 4)} > {limit}")
    return failed


def _score(report: dict) -> tuple:
    """Lower is better: the seam score the ranking of variants uses (seam_excess, then ring_delta_e)."""
    from ..generate.result import _nan_last

    return (_nan_last(report.get("outside_changed", 0.0)), _nan_last(report.get("seam_excess")),
            _nan_last(report.get("ring_delta_e")))


@guarded
def finish(task: Task, job: Job) -> Task:
    """Seam report of this attempt, the outside checked again at the input's own format, the gate; the PNG (with
    its settings record) written when the attempt is the row's best so far; then the row is done (status set) or
    due for a retry (attempt raised, status None)."""
    from .. import contract, io, provenance, seams

    row = task.row
    if task.generated is not None:
        paste_back(task, job)
    if row.mode == "outpaint":
        # the original's pixels sit unchanged at their place in the bigger canvas
        ox, oy = task.offset
        h, w = task.native.shape[:2]
        window = task.result[oy:oy + h, ox:ox + w]
        outside = contract.verify_outside(task.native, window, np.zeros((h, w), bool),
                                          what=f"row {row.index}'s original area")
        report = dict(task.report)
    else:
        # the repainted mask (grown only when the row asked) bounds what may change; checked here again, at the
        # input's own format, independently of the generate stage's own check
        outside = contract.verify_outside(task.native, task.result, task.result_mask,
                                          what=f"row {row.index}'s result")
        report = seams.seam_report(io.to_rgb(task.native), io.to_rgb(task.result),
                                   task.result_mask)
        if task.params.get("grow"):
            given = contract.outside_report(task.native, task.result, task.mask)
            report.update(outside_changed_given=given["outside_changed"],
                          outside_max_diff_given=given["outside_max_diff"])
    report.update(outside_changed=outside["outside_changed"], outside_max_diff=outside["outside_max_diff"])
    failures = gate(report, job.gate)
    attempt = {"attempt": task.attempt, "seed": task.seed if task.uses_seed else None, "passed": not failures,
               "gate": failures, "seam_excess": report.get("seam_excess"), "ring_delta_e": report.get("ring_delta_e")}
    task.tried.append(attempt)
    if task.best is None or _score(report) < _score(task.best["report"]):
        out = Path(job.out) / row.output
        m = mode_settings(row, job)
        record = provenance.settings_record(
            operation=f"batch:{row.mode}", engine=task.engine, model=task.model, prompt=m["prompt"],
            negative=m["negative_prompt"], seed=attempt["seed"],
            strength=task.params["strength"], steps=task.params["steps"], guidance=task.params["guidance"],
            grow=task.params["grow"], feather=task.params["feather"], method=task.params["method"],
            mask=task.mask, report=report,
            extra={"row": row.index, "attempt": task.attempt, "selection": task.selection, "edited": True},
        )
        io.save_png(out, task.result, protect=(row.image, row.mask), icc_profile=task.icc_profile,
                    text=provenance.png_text(record))
        task.best = {"attempt": task.attempt, "seed": attempt["seed"], "report": report, "gate": failures,
                     "output_sha256": file_sha256(out), "pixels_sha256": pixels_digest(task.result)}
    if not failures:
        task.status, task.reason = "ok", ""
    elif not task.uses_seed or task.attempt >= job.retries:
        task.status = "review"
        why = "; ".join(task.best["gate"]) or "a later attempt failed"
        more = "" if task.uses_seed else f" ({task.engine} has no seed: not retried)"
        task.reason = f"the gate failed after {len(task.tried)} attempt(s): best attempt {task.best['attempt']}: " \
                      f"{why}{more}"
    else:
        task.attempt += 1  # retry with the next seed
    if task.status is not None:
        task.result = task.native = None
    return task


def result_row(task: Task, job: Job) -> dict:
    """The row of OUT/results.jsonl for a finished task (see pipelines.batch's docstring)."""
    from ..provenance import _package_version

    row, best = task.row, task.best
    report = best["report"] if best else None
    from ..generate.result import jsonable

    return {
        "row": row.index,
        "image": row.given.get("image", row.image),
        "output": row.output if best else None,
        "status": task.status,
        "reason": task.reason,
        "outside_changed": report.get("outside_changed") if report else None,
        "input_sha256": task.input_sha256,
        "output_sha256": best["output_sha256"] if best else None,
        "pixels_sha256": best["pixels_sha256"] if best else None,
        "mask_sha256": task.mask_sha256,
        "selection": task.selection,
        "mode": row.mode,
        "prompt": row.prompt,
        "negative_prompt": row.negative_prompt,
        "seed": best["seed"] if best else None,
        "attempts": len(task.tried),
        "tried": task.tried,
        "params": task.params,
        "engine": task.engine,
        "model": task.model,
        "report": jsonable(report) if report else None,
        "gate": {"passed": bool(best) and not best["gate"], "failed": best["gate"] if best else None,
                 "limits": dict(job.gate)},
        "notes": task.notes,
        "provenance": {"edited": best is not None, "tool": "inpaint-app", "version": _package_version(),
                       "operation": f"batch:{row.mode}", "png_settings_key": "inpaint-app:settings"},
        "started": task.started,
        "finished": _now(),
        "seconds": round(task.seconds, 3),
        "key": task.key,
        "given": row.given,
    }
