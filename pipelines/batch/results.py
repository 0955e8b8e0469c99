"""OUT/results.jsonl: one JSON object per manifest row; written as a journal while the job runs, so a killed job
resumes where it stopped.

While a job runs each finished row is appended (and flushed) as one line; at the end the file is rewritten
atomically with one line per manifest row, in manifest order (the last entry of each row wins). A re-run reuses a
row's entry, without doing the row again, when the row's key (its settings and the job's) is the same and

- the row succeeded or went to review, its output file exists with the recorded sha256, and its input file (a
  local path) still has the recorded sha256; or
- the row failed for a reason in the row itself (a bad file, a bad column): the same row fails the same way.
  Rows that failed by an internal error or a refused result are done again.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

from ..provenance import file_sha256

log = logging.getLogger(__name__)

NAME = "results.jsonl"
RETRIED_FAILURES = ("internal error", "refused:", "out of memory")


def read(out: str | Path) -> dict[int, dict]:
    """{row index: the row's last entry} from OUT/results.jsonl ({} when there is none). A line cut short by a
    killed job is skipped."""
    path = Path(out) / NAME
    entries: dict[int, dict] = {}
    if not path.is_file():
        return entries
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            entries[int(entry["row"])] = entry
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            log.warning("%s line %d is not a results row (a job killed while writing it?): ignored", path, n)
    return entries


def reusable(entry: dict, key: str, image: str, out: str | Path) -> bool:
    """Whether ``entry`` (a previous run's row) stands for the row with ``key`` now (see the module docstring)."""
    if entry.get("key") != key:
        return False
    status = entry.get("status")
    if status == "failed":
        return not str(entry.get("reason", "")).startswith(RETRIED_FAILURES)
    if status not in ("ok", "review") or not entry.get("output"):
        return False
    output = Path(out) / entry["output"]
    if not output.is_file() or file_sha256(output) != entry.get("output_sha256"):
        return False
    if "://" not in image:
        return Path(image).is_file() and file_sha256(image) == entry.get("input_sha256")
    return True


class Journal:
    """Appends finished rows to OUT/results.jsonl, one flushed line each; ``close`` rewrites it in manifest order."""

    def __init__(self, out: str | Path, rows: int):
        self.path = Path(out) / NAME
        self.rows = rows
        cut = self.path.is_file() and self.path.stat().st_size and not self.path.read_bytes().endswith(b"\n")
        self._fh = self.path.open("a", encoding="utf-8")
        if cut:  # a job killed mid-line: end that line so the next row starts a line of its own
            self._fh.write("\n")

    def write(self, entry: dict) -> None:
        self._fh.write(json.dumps(entry, ensure_ascii=False, allow_nan=False, default=str) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> dict[int, dict]:
        """Rewrite the file with each row's last entry, in row order (atomically); those entries."""
        self._fh.close()
        entries = read(self.path.parent)
        fd, tmp = tempfile.mkstemp(suffix=".jsonl", dir=self.path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for index in sorted(entries):
                fh.write(json.dumps(entries[index], ensure_ascii=False, allow_nan=False, default=str) + "\n")
        os.replace(tmp, self.path)
        return entries

    def __enter__(self) -> "Journal":
        return self

    def __exit__(self, *exc) -> None:
        if not self._fh.closed:
            self.close()
