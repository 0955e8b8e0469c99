"""The headless CLI: python -m pipelines blend / seams, and the image I/O behind it.

Every test runs ``pipelines.cli.main`` in-process (the run_cli fixture) except one subprocess smoke test of
``python -m pipelines`` itself.
"""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT
from pipelines import io
from pipelines.io import load_image


@pytest.fixture()
def files(tmp_path, rgb_photo):
    img = rgb_photo  # 210x160, odd sizes on purpose
    h, w = img.shape[:2]
    gen = np.clip(img.astype(np.float32) * [1.1, 1.05, 0.9], 0, 255).astype(np.uint8)
    mask = np.zeros((h, w), np.uint8)
    mask[40:110, 60:150] = 255
    paths = {"original": tmp_path / "o.jpg", "generated": tmp_path / "g.png", "mask": tmp_path / "m.png"}
    Image.fromarray(img).save(paths["original"], quality=95)
    Image.fromarray(gen).save(paths["generated"])
    Image.fromarray(mask).save(paths["mask"])
    return paths


def blend_args(files, out, *extra):
    return ["blend", "--original", files["original"], "--generated", files["generated"], "--mask", files["mask"],
            "--out", out, *extra]


def test_python_dash_m_pipelines_runs_as_a_program(files, tmp_path):
    """The one subprocess test: the module entry point, its exit code and its output."""
    out = tmp_path / "r.png"
    proc = subprocess.run([sys.executable, "-m", "pipelines", *map(str, blend_args(files, out, "--method", "hard"))],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "wrote" in proc.stdout and out.is_file()
    proc = subprocess.run([sys.executable, "-m", "pipelines", "seams", "--reference", tmp_path / "nope.png",
                           "--result", out, "--mask", files["mask"]], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1


def test_help_lists_every_command(run_cli):
    run = run_cli(["--help"])
    assert run.code == 0
    for command in ("blend", "seams", "inpaint", "segment", "outpaint"):
        assert command in run.out


@pytest.mark.parametrize("method", ["seamless", "inward", "hard"])
def test_blend_writes_a_lossless_png_with_outside_untouched(files, tmp_path, run_cli, method):
    out = tmp_path / f"{method}.png"
    run = run_cli(blend_args(files, out, "--method", method, "--grow", "3", "--feather", "2"))
    assert run.code == 0, run.err
    original = load_image(files["original"])
    result = np.asarray(Image.open(out))
    grown = np.zeros(original.shape[:2], bool)
    grown[37:113, 57:153] = True  # the grown mask lies inside this box
    assert result.shape == original.shape
    assert np.array_equal(result[~grown], original[~grown])
    assert not np.array_equal(result[grown], original[grown])


def test_seams_prints_the_report_as_json(files, tmp_path, run_cli):
    out = tmp_path / "r.png"
    assert run_cli(blend_args(files, out)).code == 0
    run = run_cli(["seams", "--reference", files["original"], "--result", out, "--mask", files["mask"]])
    assert run.code == 0, run.err
    report = json.loads(run.out)
    assert report["outside_changed"] == 0 and report["passed"] is True
    assert set(report) >= {"ring_delta_e", "seam_excess", "noref_ratio", "outside_max_diff"}


def test_blend_with_a_crop_and_box(files, tmp_path, run_cli):
    crop = tmp_path / "crop.png"
    Image.fromarray(np.full((35, 45, 3), 77, np.uint8)).save(crop)
    out = tmp_path / "r.png"
    run = run_cli(["blend", "--original", files["original"], "--generated", crop, "--mask", files["mask"],
                   "--out", out, "--box", "60,40,150,110", "--method", "hard"])
    assert run.code == 0, run.err
    assert (np.asarray(Image.open(out))[40:110, 60:150] == 77).all()


def test_size_mismatch_is_one_line_naming_both_sizes(files, tmp_path, run_cli):
    small = tmp_path / "small.png"
    Image.fromarray(np.full((10, 12), 255, np.uint8)).save(small)
    msg = run_cli(["blend", "--original", files["original"], "--generated", files["generated"], "--mask", small,
                   "--out", tmp_path / "x.png"]).one_line_error()
    assert "12x10" in msg and "210x160" in msg and "--resize-mask" in msg
    assert not (tmp_path / "x.png").exists()


def test_resize_mask_accepts_a_mask_of_another_size(files, tmp_path, run_cli):
    half = tmp_path / "half.png"
    Image.open(files["mask"]).resize((105, 80), Image.NEAREST).save(half)
    out = tmp_path / "x.png"
    run = run_cli(["blend", "--original", files["original"], "--generated", files["generated"], "--mask", half,
                   "--out", out, "--resize-mask", "--method", "hard"])
    assert run.code == 0, run.err
    original = load_image(files["original"])
    result = load_image(out)
    assert np.array_equal(result[:30], original[:30]) and not np.array_equal(result, original)


def test_unreadable_file_and_missing_file(files, tmp_path, run_cli):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image at all")
    assert "cannot read" in run_cli(["blend", "--original", bad, "--generated", files["generated"],
                                     "--mask", files["mask"], "--out", tmp_path / "x.png"]).one_line_error()
    assert "no such image" in run_cli(["seams", "--reference", tmp_path / "nope.png", "--result",
                                       files["generated"], "--mask", files["mask"]]).one_line_error()


def test_refuses_to_overwrite_an_input(files, run_cli):
    before = files["generated"].read_bytes()
    msg = run_cli(blend_args(files, files["generated"])).one_line_error()
    assert "overwrite" in msg
    assert files["generated"].read_bytes() == before


def test_more_than_64_megapixels_is_refused(tmp_path, files, run_cli):
    huge = tmp_path / "huge.png"
    Image.new("1", (8001, 8001)).save(huge)  # 64.02 MP, a few kB on disk
    msg = run_cli(["seams", "--reference", huge, "--result", huge, "--mask", files["mask"]]).one_line_error()
    assert "megapixels" in msg


def test_exif_orientation_is_applied(tmp_path):
    img = np.zeros((20, 40, 3), np.uint8)
    img[:, :20] = 255  # left half white
    path = tmp_path / "rot.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    Image.fromarray(img).save(path, exif=exif, quality=95)
    loaded = load_image(path)
    assert loaded.shape == (40, 20, 3)
    assert loaded[:10].mean() > 200 and loaded[-10:].mean() < 50  # the white half is now on top


def test_unknown_method_is_an_argparse_error(files, tmp_path, run_cli):
    run = run_cli(blend_args(files, tmp_path / "x.png", "--method", "poisson"))
    assert run.code == 2 and "invalid choice" in run.err


def test_an_internal_error_is_exit_1_one_line_and_the_traceback_is_logged(files, tmp_path, run_cli, monkeypatch):
    from pipelines import blend

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(blend, "composite", broken)
    out = tmp_path / "x.png"
    run = run_cli(blend_args(files, out))
    assert run.code == 1 and len(run.err_lines) == 1, run.err
    line = run.err_lines[0]
    assert line.startswith("error: internal error (ZeroDivisionError: a bug)") and "Traceback" not in run.err
    from pipelines.cli import log_path

    assert "Traceback" in log_path().read_text() and "ZeroDivisionError" in log_path().read_text()
    assert not out.exists()


def test_blend_keeps_16_bit_and_alpha_outside(tmp_path, run_cli):
    rng = np.random.default_rng(3)
    native = rng.integers(0, 65536, (40, 50, 4), dtype=np.uint16)
    mask = np.zeros((40, 50), bool)
    mask[10:30, 15:35] = True
    io.save_png(tmp_path / "o.png", native)
    io.save_png(tmp_path / "g.png", rng.integers(0, 256, (40, 50, 3), dtype=np.uint8))
    io.save_png(tmp_path / "m.png", mask.astype(np.uint8) * 255)
    run = run_cli(["blend", "--original", tmp_path / "o.png", "--generated", tmp_path / "g.png",
                   "--mask", tmp_path / "m.png", "--out", tmp_path / "r.png"])
    assert run.code == 0, run.err
    result = io.read(tmp_path / "r.png").pixels
    assert result.dtype == np.uint16 and result.shape == native.shape
    assert np.array_equal(result[~mask], native[~mask])
