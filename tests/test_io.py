"""pipelines.io: reading every edge-case file at its own format, EXIF, lossless round trips, bombs refused from the
header, the bomb guard left on, from_working writing only the mask's pixels, protected inputs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile, ImageOps

from pipelines import io, masks
from pipelines.errors import UserError

# file -> (shape, dtype, mode, a note that must be there or None) or the error text
EDGE_CASES = {
    "bench_rgba.png": ((512, 512, 4), np.uint8, "RGBA", None),
    "cmyk.jpg": ((240, 320, 3), np.uint8, "CMYK", "CMYK converted to RGB"),
    "dog_exif6.jpg": ((800, 534, 3), np.uint8, "RGB", "EXIF orientation 6 applied"),
    "dog_p3icc.jpg": ((534, 800, 3), np.uint8, "RGB", None),
    "grey16.png": ((240, 320), np.uint16, "I;16", None),
    "la.png": ((240, 320, 2), np.uint8, "LA", None),
    "mask_noisy.jpg": ((240, 320), np.uint8, "L", None),
    "mask_pal.png": ((240, 320, 3), np.uint8, "P", "palette colours expanded to RGB"),
    "corrupt.jpg": "truncated or corrupt",
    "corrupt_zlib.png": "truncated or corrupt",
    "bomb_full_14200x14200_L.png": "202 megapixels",
    "bomb_header_100k.png": "10,000 megapixels",
}


@pytest.mark.parametrize("name", sorted(EDGE_CASES))
def test_read_every_edge_case(edge_cases, name):
    expected = EDGE_CASES[name]
    if isinstance(expected, str):
        with pytest.raises(UserError) as info:
            io.read(edge_cases / name)
        message = str(info.value)
        assert expected in message and name in message and "\n" not in message
        return
    shape, dtype, mode, note = expected
    picture = io.read(edge_cases / name)
    assert picture.pixels.shape == shape and picture.pixels.dtype == dtype and picture.mode == mode
    assert picture.pixels.flags.c_contiguous and picture.name == name
    if note:
        assert note in picture.notes
    else:
        assert not [n for n in picture.notes if "orientation" in n or "converted" in n]


def test_the_edge_cases_decode_as_pillow_decodes_them(edge_cases):
    """The native pixels are the file's own decode (no colour management, no re-rendering)."""
    for name in ("bench_rgba.png", "dog_p3icc.jpg", "la.png", "mask_noisy.jpg"):
        with Image.open(edge_cases / name) as im:
            assert np.array_equal(io.read(edge_cases / name).pixels, np.asarray(im)), name
    with Image.open(edge_cases / "grey16.png") as im:
        assert np.array_equal(io.read(edge_cases / "grey16.png").pixels, np.asarray(im).astype(np.uint16))
    with Image.open(edge_cases / "dog_exif6.jpg") as im:
        assert np.array_equal(io.read(edge_cases / "dog_exif6.jpg").pixels, np.asarray(ImageOps.exif_transpose(im)))


def test_the_icc_profile_is_kept_and_written_back(edge_cases, tmp_path):
    picture = io.read(edge_cases / "dog_p3icc.jpg")
    assert isinstance(picture.icc_profile, bytes) and len(picture.icc_profile) > 100
    out = io.save_png(tmp_path / "p3.png", picture.pixels, icc_profile=picture.icc_profile)
    again = io.read(out)
    assert again.icc_profile == picture.icc_profile and np.array_equal(again.pixels, picture.pixels)


def _asymmetric(h=6, w=9, channels=3) -> np.ndarray:
    """Every pixel different, so any flip or rotation shows."""
    values = np.arange(h * w * channels, dtype=np.int64).reshape(h, w, channels) * 7 % 251
    return values.astype(np.uint8)


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("fmt", ["png", "jpg"])
def test_exif_orientations_match_pillow(tmp_path, orientation, fmt):
    path = tmp_path / f"o{orientation}.{fmt}"
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(_asymmetric(24, 40)).save(path, exif=exif, **({"quality": 95} if fmt == "jpg" else {}))
    picture = io.read(path)
    with Image.open(path) as im:
        expected = np.asarray(ImageOps.exif_transpose(im))
    assert np.array_equal(picture.pixels, expected)
    assert picture.orientation == orientation
    assert picture.pixels.shape[:2] == ((40, 24) if orientation >= 5 else (24, 40))
    assert any(f"orientation {orientation}" in n for n in picture.notes) == (orientation > 1)


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_on_16_bit_grey(tmp_path, orientation):
    native = (np.arange(12 * 20, dtype=np.uint32).reshape(12, 20) * 263).astype(np.uint16)
    path = tmp_path / "g16.png"
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(native).save(path, exif=exif)
    picture = io.read(path)
    with Image.open(path) as im:
        expected = np.asarray(ImageOps.exif_transpose(im)).astype(np.uint16)
    assert picture.pixels.dtype == np.uint16 and np.array_equal(picture.pixels, expected)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("channels", [None, 2, 3, 4])
def test_png_round_trips_are_exact(tmp_path, dtype, channels):
    rng = np.random.default_rng(channels or 1)
    shape = (17, 23) if channels is None else (17, 23, channels)
    native = rng.integers(0, np.iinfo(dtype).max + 1, shape, dtype=dtype)
    native[0, 0] = 0
    native[-1, -1] = np.iinfo(dtype).max
    picture = io.read(io.save_png(tmp_path / "x.png", native))
    if dtype == np.uint16 and channels == 2:  # 16-bit LA is written (and read) as 16-bit RGBA
        expected = np.dstack([native[..., 0]] * 3 + [native[..., 1]])
    else:
        expected = native
    assert picture.pixels.dtype == dtype and np.array_equal(picture.pixels, expected)


def test_the_edge_case_files_round_trip_exactly(edge_cases, tmp_path):
    for name in ("grey16.png", "la.png", "bench_rgba.png"):
        native = io.read(edge_cases / name).pixels
        again = io.read(io.save_png(tmp_path / name, native)).pixels
        assert again.dtype == native.dtype and np.array_equal(again, native), name


def test_palette_mask_is_read_as_black_and_white_not_indices(edge_cases):
    path = edge_cases / "mask_pal.png"
    with Image.open(path) as im:
        assert im.mode == "P"
        indices = np.asarray(im)
        luma = np.asarray(im.convert("L"))
    mask = masks.to_mask(path)
    assert mask.dtype == bool and mask.any() and not mask.all()
    assert np.array_equal(mask, luma >= 128)
    assert indices.max() < 128  # read as indices it would be empty


def test_noisy_jpeg_mask_is_thresholded_to_a_clean_mask(edge_cases):
    mask = masks.to_mask(edge_cases / "mask_noisy.jpg")
    level = io.read(edge_cases / "mask_noisy.jpg").pixels
    assert mask.any() and not mask.all() and np.array_equal(mask, level >= 128)


@pytest.fixture
def no_decoding(monkeypatch):
    """Any full decode (ImageFile.load) fails the test."""

    def refuse(self, *args, **kwargs):
        raise AssertionError(f"decoded {self.size} pixels: the header check came too late")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


@pytest.mark.parametrize("name", ["bomb_full_14200x14200_L.png", "bomb_header_100k.png"])
def test_bombs_are_refused_from_the_header_without_decoding(edge_cases, no_decoding, name):
    for reader in (io.read, io.load_image, io.open_image, masks.to_mask):
        with pytest.raises(UserError, match="megapixels"):
            reader(edge_cases / name)


def test_just_over_our_limit_is_refused_before_decoding_under_pillows(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    Image.new("1", (8001, 8001)).save(path)  # 64.02 MP: under Pillow's guard, over ours
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self, *a, **k: pytest.fail("decoded"))
    with pytest.raises(UserError, match="8001x8001"):
        io.read(path)


def test_the_bomb_guard_stays_on(edge_cases, tmp_path):
    before = Image.MAX_IMAGE_PIXELS
    assert before is not None
    for name in EDGE_CASES:
        try:
            io.read(edge_cases / name)
        except UserError:
            pass
    io.read(io.save_png(tmp_path / "x.png", np.zeros((4, 4), np.uint16)))
    assert Image.MAX_IMAGE_PIXELS == before


@pytest.mark.parametrize("content, message", [
    (b"", r"empty \(0 bytes\)"),
    (b"just some text, not an image\n", "not an image file"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "cannot read"),
])
def test_unreadable_files_are_one_line_user_errors(tmp_path, content, message):
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    with pytest.raises(UserError, match=message) as info:
        io.read(path)
    assert "\n" not in str(info.value)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(UserError, match="no such image file"):
        io.read(tmp_path / "nope.png")
    with pytest.raises(UserError, match="not a file"):
        io.read(tmp_path)


def test_truncated_png_is_refused_not_half_read(tmp_path, rgb_photo):
    data = io.encode_png(rgb_photo)
    path = tmp_path / "cut.png"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="truncated or corrupt"):
        io.read(path)


@st.composite
def native_and_mask(draw):
    dtype = draw(st.sampled_from([np.uint8, np.uint16]))
    channels = draw(st.sampled_from([1, 2, 3, 4]))
    h, w = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    shape = (h, w) if channels == 1 else (h, w, channels)
    native = rng.integers(0, np.iinfo(dtype).max + 1, shape, dtype=dtype)
    density = draw(st.sampled_from([0.0, 0.1, 0.5, 1.0]))
    mask = rng.random((h, w)) < density
    return native, mask, rng


@settings(max_examples=120, deadline=None)
@given(native_and_mask())
def test_from_working_writes_only_the_masks_pixels(case):
    native, mask, rng = case
    working = io.to_working(native)
    edited = rng.integers(0, 256, working.shape, dtype=np.uint8)
    out = io.from_working(native, edited, mask)
    assert out.dtype == native.dtype and out.shape == native.shape
    assert np.array_equal(out[~mask], native[~mask])
    assert np.array_equal(native, native.copy())  # the input is not written to
    if native.dtype == np.uint8 and native.shape == edited.shape:
        assert np.array_equal(out[mask], edited[mask])
    # an unedited working copy puts back what to_working shows, at the native depth
    back = io.to_working(io.from_working(native, working, mask))
    if native.ndim == 2 or native.shape[2] != 2:
        assert np.array_equal(back, working)


@settings(max_examples=60, deadline=None)
@given(native_and_mask())
def test_from_working_with_an_rgb_working_copy(case):
    """The engines hand back HWC RGB whatever the input was: alpha and grey inputs keep their outside."""
    native, mask, rng = case
    rgb = rng.integers(0, 256, native.shape[:2] + (3,), dtype=np.uint8)
    out = io.from_working(native, rgb, mask)
    assert out.dtype == native.dtype and out.shape == native.shape
    assert np.array_equal(out[~mask], native[~mask])
    if native.ndim == 3 and native.shape[2] in (2, 4):
        assert (out[mask][:, -1] == np.iinfo(native.dtype).max).all()  # repainted pixels are opaque


def test_save_png_refuses_to_overwrite_a_protected_input(tmp_path, rgb_photo):
    src = io.save_png(tmp_path / "in.png", rgb_photo)
    before = src.read_bytes()
    for target in (src, tmp_path / "." / "in.png"):
        with pytest.raises(UserError, match="refusing to overwrite"):
            io.save_png(target, np.zeros((3, 3), np.uint8), protect=(src,))
    assert src.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png"]  # no temporary file left


def test_save_png_into_a_missing_folder_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        io.save_png(tmp_path / "no" / "x.png", np.zeros((3, 3), np.uint8))


@pytest.mark.parametrize("shape", [(20, 30), (20, 30, 3), (20, 30, 4)])
def test_16_bit_tiff_keeps_every_bit(tmp_path, shape):
    tifffile = pytest.importorskip("tifffile")
    a = np.random.default_rng(0).integers(0, 65536, shape, dtype=np.uint16)
    tifffile.imwrite(tmp_path / "t16.tif", a, photometric="minisblack" if len(shape) == 2 else "rgb")
    picture = io.read(tmp_path / "t16.tif")
    assert picture.pixels.dtype == np.uint16 and np.array_equal(picture.pixels, a)
