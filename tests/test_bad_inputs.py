"""Every case of tests/bad_inputs.py through the CLI, in-process.

Failures: exit 2, exactly one stderr line "error: ...", no traceback, the inputs byte-identical afterwards, no output
(and no temporary file) left behind. Successes: exit 0 and the contract at the input's own format.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from bad_inputs import CASES, IMAGE_ROLE, cli_argv, make_files, materialize
from conftest import EDGE_CASES
from pipelines import io, masks


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    if not EDGE_CASES.is_dir():
        pytest.skip(f"{EDGE_CASES} is missing (CI puts ../shared beside the clone)")
    folder = tmp_path_factory.mktemp("bad_inputs")
    make_files(folder, EDGE_CASES)
    return folder


def _listing(*folders) -> dict:
    return {str(f): sorted(p.name for p in f.iterdir()) for f in folders if f.is_dir()}


def _check_ok(case, resolved, run):
    command = case["command"]
    files, out = resolved["files"], resolved["out"]
    picture = io.read(files[IMAGE_ROLE[command]])
    native = picture.pixels
    if command in ("inpaint", "blend"):
        result = io.read(out).pixels
        assert result.dtype == native.dtype and result.shape == native.shape, (result.shape, native.shape)
        mask = masks.to_mask(files["mask"], size=picture.size)
        grow = int(resolved["params"].get("grow", 0))
        if grow:
            mask = masks.grow(mask, grow)
        assert np.array_equal(result[~mask], native[~mask])
        if command == "inpaint":
            report = json.loads(run.out)
            assert report["report"]["outside_changed"] == 0 and report["report"]["outside_max_diff"] == 0
    elif command == "outpaint":
        result = io.read(out).pixels
        report = json.loads(run.out)
        ox, oy = report["offset"]
        h, w = native.shape[:2]
        assert result.dtype == native.dtype and result.shape[2:] == native.shape[2:], (result.shape, native.shape)
        assert result.shape[1] == w + int(resolved["params"].get("right", 0))
        assert np.array_equal(result[oy:oy + h, ox:ox + w], native)
    elif command == "segment":
        mask = io.read(out).pixels
        assert mask.shape == native.shape[:2] and set(np.unique(mask)) <= {0, 255}
    elif command == "seams":
        report = json.loads(run.out)
        assert report["outside_changed"] == 0


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_case(case, inputs, tmp_path, run_cli, hash_files):
    resolved = materialize(case, inputs, tmp_path)
    files = [p for p in resolved["files"].values() if p.is_file()]
    before = hash_files(*files)
    listing = _listing(inputs, tmp_path)
    out = resolved["out"]
    run = run_cli(cli_argv(case, resolved))
    assert "Traceback" not in run.err
    assert hash_files(*files) == before, "an input file changed"
    if case["expect"] == "ok":
        assert run.code == 0, run.err
        _check_ok(case, resolved, run)
        return
    line = run.one_line_error()
    assert case["message"] in line, line
    assert _listing(inputs, tmp_path) == listing, "a file was left behind"
    if out is not None and str(out) not in before:
        assert not out.exists()


def test_the_table_covers_every_command_and_both_outcomes():
    commands = {(c["command"], c["expect"]) for c in CASES}
    for command in ("inpaint", "blend", "seams", "segment", "outpaint"):
        assert (command, "ok") in commands and (command, "error") in commands, command
    assert len(CASES) > 150
