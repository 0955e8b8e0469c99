"""Results carry their settings: PNG text (iTXt) through io.encode_png / io.read for every kind of PNG we write,
pipelines.provenance's record and mask digest, and the CLI commands that write one."""

from __future__ import annotations

import io as stdio
import json
import struct
import zlib
from datetime import UTC, datetime

import numpy as np
import pytest
from PIL import Image, ImageCms

from pipelines import io, masks, provenance
from pipelines.errors import UserError

TEXT = {"inpaint-app:settings": '{"prompt": "a café ☕ at dusk"}', "Comment": "plain ASCII",
        "long": "a long value, stored zlib-compressed; " * 60}


def _arrays() -> dict[str, np.ndarray]:
    """One small array of each kind encode_png writes (odd sizes, seeded)."""
    rng = np.random.default_rng(0)
    u8 = rng.integers(0, 256, (7, 9, 4), dtype=np.uint8)
    u16 = rng.integers(0, 65536, (7, 9, 4), dtype=np.uint16)
    return {"L": u8[..., 0], "LA": u8[..., :2], "RGB": u8[..., :3], "RGBA": u8, "L16": u16[..., 0],
            "RGB16": u16[..., :3], "RGBA16": u16, "mask": rng.random((7, 9)) > 0.5}


def _chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    """(type, data) of every chunk, each chunk's CRC checked."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    out, pos = [], 8
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos:pos + 4])
        kind, data = png[pos + 4:pos + 8], png[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", png[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + data), kind
        out.append((kind, data))
        pos += 12 + length
    return out


@pytest.mark.parametrize("kind", list(_arrays()))
def test_text_round_trips_with_the_pixels_untouched(tmp_path, kind):
    array = _arrays()[kind]
    plain, with_text = io.encode_png(array), io.encode_png(array, text=TEXT)
    chunks = _chunks(with_text)
    assert chunks[0][0] == b"IHDR" and [c[0] for c in chunks[1:4]] == [b"iTXt"] * 3
    assert [c for c in chunks if c[0] != b"iTXt"] == _chunks(plain)  # every other chunk byte for byte
    flags = {data.split(b"\0", 1)[0]: data.split(b"\0", 1)[1][0] for kind_, data in chunks if kind_ == b"iTXt"}
    assert flags == {b"inpaint-app:settings": 0, b"Comment": 0, b"long": 1}  # only the long value is compressed

    path = io.save_png(tmp_path / f"{kind}.png", array, text=TEXT)
    picture = io.read(path)
    expected = io.read(io.save_png(tmp_path / f"{kind}-plain.png", array)).pixels
    assert picture.pixels.dtype == expected.dtype and np.array_equal(picture.pixels, expected)
    if kind != "mask":
        assert np.array_equal(picture.pixels, array)
    assert picture.text == TEXT
    assert {k: str(v) for k, v in Image.open(path).text.items()} == TEXT  # Pillow reads it on its own too


def test_text_and_icc_profile_together(tmp_path, rgb_photo):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    picture = io.read(io.save_png(tmp_path / "x.png", rgb_photo, icc_profile=icc, text={"k": "v"}))
    assert picture.icc_profile == icc and picture.text == {"k": "v"}
    assert np.array_equal(picture.pixels, rgb_photo)


def test_files_without_text_give_an_empty_dict(tmp_path, rgb_photo):
    Image.fromarray(rgb_photo).save(tmp_path / "x.jpg")
    assert io.read(tmp_path / "x.jpg").text == {}
    assert io.read(io.save_png(tmp_path / "x.png", rgb_photo)).text == {}
    assert io.read(io.save_png(tmp_path / "m.png", np.zeros((4, 4), bool), text={})).text == {}


@pytest.mark.parametrize("text", [{"": "v"}, {"x" * 80: "v"}, {" lead": "v"}, {"two  spaces": "v"},
                                  {"snow☃": "v"}, {"tab\t": "v"}, {"k": 3}, {1: "v"}])
def test_bad_text_is_refused(text):
    with pytest.raises((ValueError, TypeError), match="PNG text"):
        io.encode_png(np.zeros((2, 2), np.uint8), text=text)


def test_keywords_of_79_latin1_characters_are_fine():
    key = "é" + "k" * 78
    data = io.encode_png(np.zeros((2, 2), np.uint8), text={key: "v"})
    assert Image.open(stdio.BytesIO(data)).text == {key: "v"}


# ----------------------------------------------------------------------------------------------------------
# The record


def _mask(h=12, w=17):
    mask = np.zeros((h, w), bool)
    mask[3:9, 4:13] = True
    return mask


def _record(**changes):
    kwargs = {"operation": "inpaint", "engine": "diffusers", "model": "tiny", "prompt": "a bench ☕",
              "negative": "blur", "seed": np.int64(7), "strength": 1, "steps": np.int32(2), "guidance": np.float32(7.5),
              "grow": 0, "feather": None, "method": "seamless", "mask": _mask(),
              "report": {"ring_delta_e": np.float64(1.23456789), "outside_changed": np.int64(0), "passed": np.True_,
                         "noref_ratio": float("nan"), "failed": ["seam_excess"]},
              "extra": {"rank": 1, "box": (1, 2, 3, 4)}}
    kwargs.update(changes)
    return provenance.settings_record(**kwargs)


def test_settings_record_contents():
    record = _record()
    assert record["version"] == provenance.RECORD_VERSION and "app_version" in record
    created = datetime.fromisoformat(record["created"])
    assert created.tzinfo is not None and created.utcoffset().total_seconds() == 0
    assert abs((datetime.now(UTC) - created).total_seconds()) < 60
    assert {k: record[k] for k in ("operation", "engine", "model", "prompt", "negative", "seed", "strength", "steps",
                                   "guidance", "grow", "feather", "method")} == {
        "operation": "inpaint", "engine": "diffusers", "model": "tiny", "prompt": "a bench ☕", "negative": "blur",
        "seed": 7, "strength": 1.0, "steps": 2, "guidance": 7.5, "grow": 0, "feather": None, "method": "seamless"}
    assert type(record["seed"]) is int and type(record["strength"]) is float
    assert record["mask"] == {"shape": [12, 17], "pixels": 54, "sha256": provenance.mask_digest(_mask())}
    assert record["report"] == {"ring_delta_e": 1.234568, "outside_changed": 0, "passed": True, "noref_ratio": None,
                                "failed": ["seam_excess"]}
    assert record["extra"] == {"rank": 1, "box": [1, 2, 3, 4]}
    text = provenance.png_text(record)
    assert list(text) == [provenance.KEY] == ["inpaint-app:settings"]
    assert json.loads(text[provenance.KEY]) == record
    assert "☕" in text[provenance.KEY]  # UTF-8, not escaped
    assert _record(mask=None, report=None, extra=None)["mask"] is None


@pytest.mark.parametrize("change", [{"seed": 1.5}, {"strength": "high"}, {"prompt": 3}, {"operation": ""},
                                    {"guidance": float("inf")}, {"extra": {"f": object()}}, {"mask": _mask() * 1}])
def test_settings_record_refuses_what_json_cannot_hold(change):
    with pytest.raises((ValueError, TypeError)):
        _record(**change)


def test_mask_digest_is_the_same_from_a_1bit_and_an_8bit_file_and_changes_with_one_pixel(tmp_path):
    mask = _mask()
    Image.fromarray(mask).save(tmp_path / "m1.png")  # mode 1
    Image.fromarray(mask.astype(np.uint8) * 255).save(tmp_path / "m8.png")  # mode L
    Image.fromarray(np.dstack([np.zeros_like(mask, np.uint8)] * 3 + [mask.astype(np.uint8) * 255])).save(
        tmp_path / "mA.png")  # RGBA, the alpha decides
    assert Image.open(tmp_path / "m1.png").mode == "1" and Image.open(tmp_path / "m8.png").mode == "L"
    digests = {provenance.mask_digest(masks.to_mask(tmp_path / name)) for name in ("m1.png", "m8.png", "mA.png")}
    assert digests == {provenance.mask_digest(mask)}
    moved = mask.copy()
    moved[0, 0] = True
    assert provenance.mask_digest(moved) != provenance.mask_digest(mask)
    assert len(provenance.mask_digest(mask)) == 64


def test_read_settings_from_a_path_or_a_picture(tmp_path, rgb_photo):
    record = _record()
    path = io.save_png(tmp_path / "r.png", rgb_photo, text=provenance.png_text(record))
    assert provenance.read_settings(path) == record
    assert provenance.read_settings(str(path)) == record
    assert provenance.read_settings(io.read(path)) == record
    assert provenance.read_settings(io.save_png(tmp_path / "none.png", rgb_photo)) is None
    Image.fromarray(rgb_photo).save(tmp_path / "x.jpg")
    assert provenance.read_settings(tmp_path / "x.jpg") is None


@pytest.mark.parametrize("bad", ['{"seed": 7', "not json\nat all", "[1, 2]"])
def test_bad_json_is_a_one_line_user_error(tmp_path, bad):
    path = io.save_png(tmp_path / "bad.png", np.zeros((3, 3), np.uint8), text={provenance.KEY: bad})
    with pytest.raises(UserError) as info:
        provenance.read_settings(path)
    message = str(info.value)
    assert "\n" not in message and "bad.png" in message and provenance.KEY in message


# ----------------------------------------------------------------------------------------------------------
# The CLI


@pytest.fixture()
def small_files(tmp_path):
    rng = np.random.default_rng(1)
    image = (rng.random((40, 56, 3)) * 64 + np.linspace(0, 180, 56)[None, :, None]).astype(np.uint8)
    mask = np.zeros((40, 56), bool)
    mask[12:26, 18:37] = True
    paths = {"image": tmp_path / "in.png", "mask1": tmp_path / "mask1.png", "mask8": tmp_path / "mask8.png"}
    io.save_png(paths["image"], image)
    io.save_png(paths["mask1"], mask)  # 1-bit
    io.save_png(paths["mask8"], mask.astype(np.uint8) * 255)  # 8-bit
    return paths, mask


def test_cli_inpaint_writes_its_settings(small_files, tmp_path, run_cli):
    paths, mask = small_files
    out = tmp_path / "out.png"
    run = run_cli(["inpaint", "--image", paths["image"], "--mask", paths["mask1"], "--out", out, "--engine", "telea",
                   "--prompt", "ignored", "--grow", "1", "--variants", "1"])
    assert run.code == 0, run.err
    summary = json.loads(run.out)
    record = provenance.read_settings(out)
    assert record["operation"] == "inpaint" and record["engine"] == "telea" == summary["engine"]
    assert record["seed"] == summary["seeds"][0] and record["model"] == summary["model"]
    assert record["prompt"] == "ignored" and record["grow"] == 1 and record["method"] == "seamless"
    assert record["mask"]["sha256"] == provenance.mask_digest(mask) == provenance.mask_digest(
        masks.to_mask(paths["mask8"]))
    assert record["mask"]["shape"] == [40, 56]
    assert set(record["report"]) == set(summary["report"])
    for key, value in summary["report"].items():
        assert record["report"][key] == (pytest.approx(value, abs=1e-6) if isinstance(value, float) else value)
    outside = ~masks.grow(mask, 1)  # the settings sit beside the pixels: outside the grown mask nothing changed
    assert np.array_equal(io.read(out).pixels[outside], io.read(paths["image"]).pixels[outside])


def test_cli_blend_and_outpaint_write_their_settings(small_files, tmp_path, run_cli):
    paths, mask = small_files
    out = tmp_path / "blend.png"
    run = run_cli(["blend", "--original", paths["image"], "--generated", paths["image"], "--mask", paths["mask8"],
                   "--out", out, "--method", "hard"])
    assert run.code == 0, run.err
    record = provenance.read_settings(out)
    assert record["operation"] == "blend" and record["method"] == "hard" and record["report"] is None
    assert record["mask"]["sha256"] == provenance.mask_digest(mask)

    out = tmp_path / "wide.png"
    run = run_cli(["outpaint", "--image", paths["image"], "--out", out, "--right", "16", "--engine", "telea",
                   "--seed", "5", "--window", "32"])
    assert run.code == 0, run.err
    summary = json.loads(run.out)
    record = provenance.read_settings(out)
    assert record["operation"] == "outpaint" and record["seed"] == summary["seeds"][0] == 5
    assert record["mask"]["shape"] == [40, 72] and record["mask"]["pixels"] == 40 * 16
    assert record["extra"]["pads"] == summary["pads"]
