"""Batch manifests: one edit per row, read from CSV, JSON Lines or Parquet.

    rows, problems = read_manifest("jobs.csv")     # rows: list[Row]; problems: {row index: one-line reason}

The schema (CSV header names; JSON Lines keys; Parquet columns). Only ``image`` is required; paths are relative to
the manifest's folder unless absolute or a URI:

    image            the photo: a path, a file:// URI, or any URI fsspec opens (s3://, gs://, https://, ...)
    mask             a mask image (white = repaint, the image's size): the contract, byte for byte
    mask_text        a phrase, "the floor": Grounding DINO finds it, SAM (or GrabCut) outlines it
    clicks           points on the object, "x,y;x,y" in image px; a leading '-' marks a negative click:
                     "120,80;-300,40" (JSON: [[120, 80], [-300, 40]] or [[x, y, label], ...])
    box              the object's box "x0,y0,x1,y1" (XYXY, image px)
    prompt           what to paint (replace, stage, outpaint)
    negative_prompt  what not to paint
    mode             replace (default) | remove | stage | outpaint
    seed             int; default: the row's index (so a job is reproducible); retries use seed + 1, seed + 2, ...
    strength, steps, guidance, grow, feather, method, margin
                     per-row parameters (defaults: the job's); also accepted inside ``params``
    left, right, top, bottom
                     outpaint: px to add on each side (also inside ``params``)
    instances        mask_text: "best" (default) or "all" matches
    engine           the job's engine (default) or a classical fill, telea or ns, for this row (no model needed)
    params           a JSON object of the per-row parameters above
    output           the output file's name inside OUT (default: <row, 5 digits>-<image stem>.png)

Every row except outpaint needs one of mask, mask_text, clicks or box. A row that breaks the schema is recorded in
``problems`` with one line naming the column, and never stops the job; a manifest that cannot be read at all (or
has no ``image`` column) is a UserError.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import UserError

MODES = ("replace", "remove", "stage", "outpaint")
PARAMS = {
    "strength": float, "steps": int, "guidance": float, "grow": int, "feather": float, "method": str,
    "margin": int, "left": int, "right": int, "top": int, "bottom": int, "instances": str, "engine": str,
}
"""Per-row parameters and their types."""
COLUMNS = ("image", "mask", "mask_text", "clicks", "box", "prompt", "negative_prompt", "mode", "seed", "params",
           "output", *PARAMS)
FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".parquet": "parquet",
           ".pq": "parquet"}


@dataclass(frozen=True)
class Row:
    """One manifest row, checked. index: its 0-based place among the manifest's rows; image: the path or URI as
    resolved against the manifest's folder; clicks: ((x, y), ...) and labels (1 positive, 0 negative); box XYXY."""

    index: int
    image: str
    mask: str | None = None
    mask_text: str | None = None
    clicks: tuple[tuple[float, float], ...] = ()
    labels: tuple[int, ...] = ()
    box: tuple[float, float, float, float] | None = None
    prompt: str = ""
    negative_prompt: str = ""
    mode: str = "replace"
    seed: int = 0
    params: dict = field(default_factory=dict)
    output: str = ""
    given: dict = field(default_factory=dict)
    """The row as it was written (for the results table)."""

    @property
    def selection(self) -> str:
        """Where the mask comes from: "file", "text", "clicks", "box" or "none" (outpaint)."""
        if self.mask:
            return "file"
        if self.mask_text:
            return "text"
        if self.clicks:
            return "clicks"
        return "box" if self.box else "none"

    def key(self, job: dict) -> str:
        """sha256 of the row's settings and the job's: a re-run with the same key may reuse the row's result."""
        payload = {k: v for k, v in asdict(self).items() if k != "given"}
        return hashlib.sha256(json.dumps([payload, job], sort_keys=True, default=str).encode()).hexdigest()


def read_manifest(path: str | Path) -> tuple[list[Row], dict[int, str]]:
    """The checked rows of the manifest at ``path`` and {index: reason} for the rows that break the schema.

    The format comes from the suffix: .csv, .jsonl/.ndjson/.json (JSON Lines), .parquet/.pq."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no such manifest file: {path}")
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise UserError(f"manifest {path.name}: use .csv, .jsonl or .parquet (got {path.suffix or 'no suffix'})")
    records = _read_records(path, kind)
    if not records:
        raise UserError(f"manifest {path.name} has no rows")
    if not any("image" in r for r in records):
        raise UserError(f"manifest {path.name} has no 'image' column (columns: {', '.join(records[0]) or 'none'})")
    base = path.resolve().parent
    rows, problems = [], {}
    outputs: dict[str, int] = {}
    for index, record in enumerate(records):
        try:
            row = parse_row(index, record, base)
            if row.output in outputs:
                raise UserError(f"output {row.output!r} is also row {outputs[row.output]}'s")
            outputs[row.output] = index
            rows.append(row)
        except UserError as exc:
            problems[index] = str(exc)
            rows.append(Row(index=index, image=str(record.get("image") or ""), given=_plain(record)))
    return rows, problems


def _read_records(path: Path, kind: str) -> list[dict]:
    try:
        if kind == "csv":
            with path.open(newline="", encoding="utf-8-sig") as fh:
                return [{k.strip(): v for k, v in r.items() if k is not None} for r in csv.DictReader(fh)]
        if kind == "jsonl":
            records = []
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except json.JSONDecodeError as exc:
                    value = {"__error__": f"line {n} is not JSON ({exc.msg})"}
                records.append(value if isinstance(value, dict) else {"__error__": f"line {n} is not an object"})
            return records
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    except UnicodeDecodeError:
        raise UserError(f"manifest {path.name} is not UTF-8 text") from None
    except ImportError:
        raise UserError("reading a Parquet manifest needs pyarrow (pip install pyarrow)") from None
    except (OSError, csv.Error, ValueError) as exc:
        raise UserError(f"manifest {path.name} cannot be read: {exc}") from None


def _plain(record: dict) -> dict:
    """The record with JSON-able values (for the results table)."""
    return json.loads(json.dumps(record, default=str))


def _empty(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or (isinstance(value, str)
                                                                                  and not value.strip())


def parse_row(index: int, record: dict, base: Path) -> Row:
    """One record -> Row; a UserError names the column at fault."""
    if "__error__" in record:
        raise UserError(record["__error__"])
    unknown = sorted(k for k in record if k not in COLUMNS)
    if unknown:
        raise UserError(f"unknown column(s) {', '.join(unknown)} (known: {', '.join(COLUMNS)})")
    values = {k: v for k, v in record.items() if not _empty(v)}
    image = values.get("image")
    if image is None:
        raise UserError("image is empty")
    mode = str(values.get("mode", "replace")).strip().lower()
    if mode not in MODES:
        raise UserError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    params = _params(values, mode)
    clicks, labels = _clicks(values.get("clicks"))
    box = _box(values.get("box"))
    mask = values.get("mask")
    sources = [name for name in ("mask", "mask_text", "clicks", "box") if name in values]
    if mode == "outpaint":
        if sources:
            raise UserError(f"outpaint takes no {sources[0]}: the new area is the mask")
        if not any(params.get(side, 0) for side in ("left", "right", "top", "bottom")):
            raise UserError("outpaint needs left, right, top or bottom (px to add)")
    elif not sources:
        raise UserError("the row needs a mask, mask_text, clicks or a box")
    elif len(sources) > 1 and not (set(sources) == {"clicks", "box"}):
        raise UserError(f"give one of mask, mask_text, clicks/box, not {' and '.join(sources)}")
    seed = values.get("seed", index)
    try:
        seed_f = float(seed)
        if seed_f != int(seed_f) or not 0 <= seed_f < 2**31:
            raise ValueError
        seed = int(seed_f)
    except (TypeError, ValueError):
        raise UserError(f"seed must be an int in [0, 2^31), got {seed!r}") from None
    image = _resolve(str(image), base)
    stem = Path(str(image).split("?")[0].rstrip("/")).stem or "image"
    output = str(values.get("output") or f"{index:05d}-{stem}.png")
    if Path(output).name != output or not output.lower().endswith(".png"):
        raise UserError(f"output must be a .png file name inside OUT, got {output!r}")
    return Row(
        index=index, image=image, mask=_resolve(str(mask), base) if mask is not None else None,
        mask_text=str(values["mask_text"]).strip() if "mask_text" in values else None,
        clicks=clicks, labels=labels, box=box, prompt=str(values.get("prompt", "")),
        negative_prompt=str(values.get("negative_prompt", "")), mode=mode, seed=seed, params=params,
        output=output, given=_plain(record),
    )


def _resolve(value: str, base: Path) -> str:
    if value.startswith("file://"):
        return value[len("file://"):]
    if "://" in value:
        return value
    p = Path(value).expanduser()
    return str(p if p.is_absolute() else base / p)


def _params(values: dict, mode: str) -> dict:
    params: dict = {}
    given = values.get("params")
    if given is not None:
        if isinstance(given, str):
            try:
                given = json.loads(given)
            except json.JSONDecodeError:
                raise UserError(f"params must be a JSON object, got {given!r}") from None
        if not isinstance(given, dict):
            raise UserError(f"params must be a JSON object, got {given!r}")
        unknown = sorted(set(given) - set(PARAMS))
        if unknown:
            raise UserError(f"unknown params {', '.join(unknown)} (known: {', '.join(PARAMS)})")
        params.update({k: v for k, v in given.items() if not _empty(v)})
    for name in PARAMS:
        if name in values:
            params[name] = values[name]
    out = {}
    for name, value in params.items():
        kind = PARAMS[name]
        try:
            if kind is int:
                f = float(value)
                if f != int(f):
                    raise ValueError
                value = int(f)
            elif kind is float:
                value = float(value)
                if not math.isfinite(value):
                    raise ValueError
            else:
                value = str(value)
        except (TypeError, ValueError):
            raise UserError(f"{name} must be {'an int' if kind is int else 'a number' if kind is float else 'text'}, "
                            f"got {value!r}") from None
        out[name] = value
    for side in ("left", "right", "top", "bottom"):
        if out.get(side, 0) < 0:
            raise UserError(f"{side} must be >= 0 px, got {out[side]}")
        if side in out and mode != "outpaint":
            raise UserError(f"{side} goes with mode outpaint")
    if out.get("engine", "telea") not in ("telea", "ns", "diffusers", "lama"):
        raise UserError(f"engine must be diffusers, lama, telea or ns, got {out['engine']!r}")
    if out.get("instances", "best") not in ("best", "all"):
        raise UserError(f"instances must be best or all, got {out['instances']!r}")
    return out


def _numbers(text: str, what: str) -> list[float]:
    try:
        values = [float(v) for v in text.replace(" ", "").split(",") if v != ""]
    except ValueError:
        raise UserError(f"{what} must be numbers, got {text!r}") from None
    if not all(math.isfinite(v) for v in values):
        raise UserError(f"{what} must be finite numbers, got {text!r}")
    return values


def _clicks(value) -> tuple[tuple[tuple[float, float], ...], tuple[int, ...]]:
    if value is None:
        return (), ()
    items: list = []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                raise UserError(f"clicks must be 'x,y;x,y' or a JSON list, got {value!r}") from None
        else:
            for part in filter(None, (p.strip() for p in text.split(";"))):
                negative = part.startswith("-")
                xy = _numbers(part.lstrip("-+"), "clicks")
                if len(xy) != 2:
                    raise UserError(f"each click is x,y; got {part!r}")
                items.append((xy[0], xy[1], 0 if negative else 1))
    if not isinstance(value, str):
        for item in value:
            if not isinstance(item, (list, tuple)) or len(item) not in (2, 3):
                raise UserError(f"each click is [x, y] or [x, y, label]; got {item!r}")
            x, y = float(item[0]), float(item[1])
            label = int(item[2]) if len(item) == 3 else (0 if x < 0 else 1)
            items.append((abs(x), y, label))
    if not items:
        raise UserError("clicks is empty")
    if any(x < 0 or y < 0 for x, y, _ in items):
        raise UserError("clicks must be >= 0 px")
    if not any(label == 1 for _, _, label in items):
        raise UserError("clicks need at least one positive click")
    return tuple((x, y) for x, y, _ in items), tuple(label for _, _, label in items)


def _box(value) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise UserError(f"box must be 'x0,y0,x1,y1', got {value!r}") from None
    numbers = _numbers(value, "box") if isinstance(value, str) else [float(v) for v in value]
    if len(numbers) != 4:
        raise UserError(f"box must be x0,y0,x1,y1 (XYXY), got {value!r}")
    x0, y0, x1, y1 = numbers
    if x1 <= x0 or y1 <= y0 or min(numbers) < 0:
        raise UserError(f"box must be x0,y0,x1,y1 with x0 < x1, y0 < y1, all >= 0; got {value!r}")
    return (x0, y0, x1, y1)
