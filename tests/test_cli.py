"""The headless CLI: python -m pipelines blend / seams, and the image I/O behind it."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from pipelines.io import load_image

ROOT = Path(__file__).resolve().parents[1]


def cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "pipelines", *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


@pytest.fixture()
def files(tmp_path):
    img = data.astronaut()[100:260, 120:330]  # 210x160, odd sizes on purpose
    h, w = img.shape[:2]
    gen = np.clip(img.astype(np.float32) * [1.1, 1.05, 0.9], 0, 255).astype(np.uint8)
    mask = np.zeros((h, w), np.uint8)
    mask[40:110, 60:150] = 255
    paths = {"original": tmp_path / "o.jpg", "generated": tmp_path / "g.png", "mask": tmp_path / "m.png"}
    Image.fromarray(img).save(paths["original"], quality=95)
    Image.fromarray(gen).save(paths["generated"])
    Image.fromarray(mask).save(paths["mask"])
    return paths


def _one_line_error(proc):
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


@pytest.mark.parametrize("method", ["seamless", "inward", "hard"])
def test_blend_writes_a_lossless_png_with_outside_untouched(files, tmp_path, method):
    out = tmp_path / f"{method}.png"
    proc = cli("blend", "--original", files["original"], "--generated", files["generated"], "--mask", files["mask"],
               "--out", out, "--method", method, "--grow", "3", "--feather", "2")
    assert proc.returncode == 0, proc.stderr
    original = load_image(files["original"])
    result = np.asarray(Image.open(out))
    grown = np.zeros(original.shape[:2], bool)
    grown[37:113, 57:153] = True  # the grown mask lies inside this box
    assert result.shape == original.shape
    assert np.array_equal(result[~grown], original[~grown])
    assert not np.array_equal(result[grown], original[grown])


def test_seams_prints_the_report_as_json(files, tmp_path):
    out = tmp_path / "r.png"
    assert cli("blend", "--original", files["original"], "--generated", files["generated"], "--mask", files["mask"],
               "--out", out).returncode == 0
    proc = cli("seams", "--reference", files["original"], "--result", out, "--mask", files["mask"])
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["outside_changed"] == 0 and report["passed"] is True
    assert set(report) >= {"ring_delta_e", "seam_excess", "noref_ratio", "outside_max_diff"}


def test_blend_with_a_crop_and_box(files, tmp_path):
    crop = tmp_path / "crop.png"
    Image.fromarray(np.full((35, 45, 3), 77, np.uint8)).save(crop)
    out = tmp_path / "r.png"
    proc = cli("blend", "--original", files["original"], "--generated", crop, "--mask", files["mask"], "--out", out,
               "--box", "60,40,150,110", "--method", "hard")
    assert proc.returncode == 0, proc.stderr
    assert (np.asarray(Image.open(out))[40:110, 60:150] == 77).all()


def test_size_mismatch_is_one_line_naming_both_sizes(files, tmp_path):
    small = tmp_path / "small.png"
    Image.fromarray(np.full((10, 12), 255, np.uint8)).save(small)
    msg = _one_line_error(cli("blend", "--original", files["original"], "--generated", files["generated"],
                              "--mask", small, "--out", tmp_path / "x.png"))
    assert "12x10" in msg and "210x160" in msg and "--resize-mask" in msg
    assert not (tmp_path / "x.png").exists()


def test_unreadable_file_and_missing_file(files, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image at all")
    assert "cannot read" in _one_line_error(cli("blend", "--original", bad, "--generated", files["generated"],
                                                 "--mask", files["mask"], "--out", tmp_path / "x.png"))
    assert "no such image" in _one_line_error(cli("seams", "--reference", tmp_path / "nope.png", "--result",
                                                  files["generated"], "--mask", files["mask"]))


def test_refuses_to_overwrite_an_input(files):
    before = files["generated"].read_bytes()
    msg = _one_line_error(cli("blend", "--original", files["original"], "--generated", files["generated"],
                              "--mask", files["mask"], "--out", files["generated"]))
    assert "overwrite" in msg
    assert files["generated"].read_bytes() == before


def test_more_than_64_megapixels_is_refused(tmp_path, files):
    huge = tmp_path / "huge.png"
    Image.new("1", (8001, 8001)).save(huge)  # 64.02 MP, a few kB on disk
    msg = _one_line_error(cli("seams", "--reference", huge, "--result", huge, "--mask", files["mask"]))
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


def test_unknown_method_is_an_argparse_error(files, tmp_path):
    proc = cli("blend", "--original", files["original"], "--generated", files["generated"], "--mask", files["mask"],
               "--out", tmp_path / "x.png", "--method", "poisson")
    assert proc.returncode == 2 and "invalid choice" in proc.stderr
