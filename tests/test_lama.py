"""The LaMa engine (pipelines.generate.lama) with a tiny TorchScript stand-in for big-lama.pt: the real file's call
signature (image (1,3,H,W) RGB in [0,1], mask (1,1,H,W) in {0,1} -> (1,3,H,W) RGB in [0,1]), a seeded conv net
whose fill depends on the image, and a refusal of any side that is not a multiple of 8. It is scripted, saved to a
temporary folder and loaded through lease(path), the code a user's file takes. Nothing here goes online:
downloads are served by a fake urlopen and any other attempt fails the test. The real big-lama.pt is never loaded.
"""

from __future__ import annotations

import hashlib
import io as _io
import json
import threading
import time
import urllib.error
import urllib.request
import warnings

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")

from conftest import skimage_photo  # noqa: E402
from engine_contract import check_engine_contract  # noqa: E402

from pipelines.errors import UserError, one_line  # noqa: E402
from pipelines.generate import engines, lama, registry  # noqa: E402


class TinyLama(torch.nn.Module):
    """big-lama's call, tiny: keeps the unmasked pixels, fills the mask with the mean colour of the unmasked ones
    plus a seeded conv net's texture (so the fill depends on the image), refuses sides that are not multiples of 8
    (as a model that downsamples 3 times would fail)."""

    def __init__(self, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.conv1 = torch.nn.Conv2d(4, 8, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(8, 3, 3, padding=1)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if image.size(2) % 8 != 0 or image.size(3) % 8 != 0:
            raise RuntimeError("image sides must be multiples of 8")
        if mask.size(1) != 1 or image.size(1) != 3:
            raise RuntimeError("image is (1, 3, H, W) and mask (1, 1, H, W)")
        keep = 1.0 - mask
        mean = (image * keep).sum((2, 3), keepdim=True) / keep.sum((2, 3), keepdim=True).clamp_min(1.0)
        texture = 0.15 * torch.tanh(self.conv2(torch.relu(self.conv1(torch.cat([image * keep, mask], 1)))))
        fill = (mean + texture).clamp(0.0, 1.0)
        return image * keep + fill * mask


class Wrong(torch.nn.Module):
    """A TorchScript file with the right inputs and the wrong answer (one channel)."""

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return image[:, :1]


class OneInput(torch.nn.Module):
    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return image


def _save_script(module: torch.nn.Module, path):
    with warnings.catch_warnings():  # torch >= 2.9 calls TorchScript deprecated
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.script(module.eval()).save(str(path))
    return path


@pytest.fixture(scope="module")
def tiny_lama(tmp_path_factory):
    """The stand-in saved as a TorchScript file: its path."""
    return _save_script(TinyLama(), tmp_path_factory.mktemp("lama") / "tiny-lama.pt")


@pytest.fixture(autouse=True)
def offline_and_fresh(monkeypatch, tmp_path):
    """No network (download tests install their own fake), a temporary weights folder, no shared model kept
    between tests."""

    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to reach the network")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setenv("INPAINT_APP_CACHE", str(tmp_path / "app-cache"))
    lama.release_shared_models()
    yield
    lama.release_shared_models()


@pytest.fixture
def lama_md5(monkeypatch):
    """set_md5(digest): the "lama" preset's md5 for this test."""
    extra = registry.preset("lama").extra
    return lambda digest: monkeypatch.setitem(extra, "md5", digest)


def _md5(path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _scene(h: int = 96, w: int = 128):
    image = skimage_photo("coffee", (100, 80, 100 + w, 80 + h))
    mask = np.zeros((h, w), bool)
    mask[30:60, 40:90] = True
    return image, mask


def _one_line(exc_info) -> str:
    """The error as the CLI and the app show it (errors.one_line: one line, cut at 300 characters)."""
    assert isinstance(exc_info.value, UserError) and "\n" not in str(exc_info.value), exc_info.value
    return one_line(exc_info.value)


# ---------------------------------------------------------------------------------------------------------
# The engine


def test_lama_keeps_the_engine_contract(tiny_lama):
    check_engine_contract(lambda: lama.lease(tiny_lama, device="cpu"))


def test_engine_attributes_and_the_engines_dispatch(tiny_lama):
    with engines.lease("lama", model=tiny_lama, device="cpu", dtype="fp16", steps=30, strength=1.0) as engine:
        assert isinstance(engine, lama.LamaEngine)
        assert (engine.name, engine.model, engine.native_size, engine.multiple) == ("lama", "tiny-lama.pt", 512, 8)
        assert not engine.uses_prompt and not engine.uses_seed and engine.description == "LaMa"
        assert engine.steps() == 1
        assert engine.prompt_notes("a bench", None) == ["prompt ignored by LaMa (lama)"]


@pytest.mark.parametrize("size", [(61, 45), (8, 8), (13, 3), (64, 40), (1, 1)])
def test_fill_pads_to_multiples_of_8_symmetrically_and_crops_back(tiny_lama, size):
    width, height = size
    rng = np.random.default_rng(width * 100 + height)
    crop = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    mask = np.zeros((height, width), bool)
    mask[height // 3: height // 3 + max(1, height // 2), width // 4: width // 4 + max(1, width // 2)] = True
    if width % 8 or height % 8:  # the stand-in refuses such a size: the engine must pad
        with pytest.raises(Exception, match="multiples of 8"):
            _standin()(torch.zeros(1, 3, height, width), torch.zeros(1, 1, height, width))

    seen = []
    with lama.lease(tiny_lama, device="cpu") as engine:
        real = engine.loaded.module

        def spy(image, m):
            seen.append((image.clone(), m.clone()))
            return real(image, m)

        calls = []
        spied = lama.LamaEngine(lama.LoadedLama(spy, engine.loaded.path, "cpu", "spy"))
        out = spied.fill(crop, mask, prompt="", negative_prompt=None, seed=None, step=lambda: calls.append(1))
        again = engine.fill(crop, mask, prompt="x", negative_prompt=None, seed=5, step=lambda: None)

    assert calls == [1], "one step per fill"
    assert out.shape == crop.shape and out.dtype == np.uint8
    assert np.array_equal(out, again), "deterministic, whatever the seed"
    assert np.array_equal(out[~mask], crop[~mask]), "the stand-in keeps unmasked pixels: exact after rounding"
    (image_t, mask_t), = seen
    ph, pw = -(-height // 8) * 8, -(-width // 8) * 8
    assert image_t.dtype == torch.float32 and tuple(image_t.shape) == (1, 3, ph, pw)
    assert mask_t.dtype == torch.float32 and tuple(mask_t.shape) == (1, 1, ph, pw)
    assert set(np.unique(mask_t.numpy())) <= {0.0, 1.0} and float(image_t.min()) >= 0 and float(image_t.max()) <= 1
    # IOPaint's pad_img_to_modulo: np.pad(..., ((0, ph - h), (0, pw - w), (0, 0)), mode="symmetric"), RGB order
    padded = np.pad(crop, ((0, ph - height), (0, pw - width), (0, 0)), mode="symmetric")
    padded_mask = np.pad(mask, ((0, ph - height), (0, pw - width)), mode="symmetric")
    assert np.allclose(image_t[0].permute(1, 2, 0).numpy() * 255, padded, atol=1e-3)
    assert np.array_equal(mask_t[0, 0].numpy() > 0, padded_mask)
    with torch.inference_mode():
        ref = _standin()(torch.from_numpy(padded).permute(2, 0, 1)[None].float() / 255,
                         torch.from_numpy(padded_mask.astype(np.float32))[None, None])
    expected = (ref[0, :, :height, :width].permute(1, 2, 0).clamp(0, 1).numpy() * 255).round().astype(np.uint8)
    assert np.array_equal(out, expected)


def _standin():
    return TinyLama().eval()


def test_the_fill_follows_the_image_in_rgb_order(tiny_lama):
    mask = np.zeros((64, 64), bool)
    mask[20:40, 24:44] = True
    red = np.zeros((64, 64, 3), np.uint8)
    red[..., 0] = 220
    blue = red[..., ::-1].copy()
    with lama.lease(tiny_lama, device="cpu") as engine:
        filled_red = engine.fill(red, mask, prompt="", negative_prompt=None, seed=None, step=lambda: None)
        filled_blue = engine.fill(blue, mask, prompt="", negative_prompt=None, seed=None, step=lambda: None)
    inside_red = filled_red[mask].astype(float).mean(axis=0)
    inside_blue = filled_blue[mask].astype(float).mean(axis=0)
    assert inside_red[0] > 150 and inside_red[2] < 100, inside_red
    assert inside_blue[2] > 150 and inside_blue[0] < 100, inside_blue


def test_a_file_answering_the_wrong_shape_is_one_line(tmp_path):
    path = _save_script(Wrong(), tmp_path / "wrong.pt")
    image, mask = _scene()
    with lama.lease(path, device="cpu") as engine:
        with pytest.raises(UserError) as info:
            engine.fill(image, mask, prompt="", negative_prompt=None, seed=None, step=lambda: None)
    assert "wrong.pt answered (1, 1, 96, 128)" in _one_line(info)


# ---------------------------------------------------------------------------------------------------------
# Files, checksums and the shared model


def test_the_default_file_is_checked_against_the_presets_md5(tiny_lama, lama_md5, spy_on):
    target = lama.default_path()
    assert target == registry.weights_dir() / "big-lama.pt"
    target.parent.mkdir(parents=True)
    target.write_bytes(tiny_lama.read_bytes())
    got = _md5(target)

    real = registry.preset("lama").extra["md5"]
    assert real == "e3aa4aaa15225a33ec84f9f4bc47e500"
    with pytest.raises(UserError) as info:  # the stand-in is not big-lama: refused
        with lama.lease(None, device="cpu", allow_download=False):
            pass
    message = _one_line(info)
    assert f"md5 {got}, expected {real}" in message and "python -m pipelines models --download lama" in message

    lama_md5(got)  # a file whose md5 matches is accepted, checked once
    md5s = spy_on(lama, "file_md5")
    for model in (None, "lama", target):
        with lama.lease(model, device="cpu", allow_download=False) as engine:
            assert engine.model == "big-lama" and engine.loaded.path == target.resolve()
    assert md5s.count == 1


def test_a_users_file_is_loaded_without_a_checksum(tiny_lama, spy_on):
    md5s = spy_on(lama, "file_md5")
    with lama.lease(str(tiny_lama), device="cpu") as engine:
        assert engine.model == "tiny-lama.pt"
    assert md5s.count == 0


def test_missing_weights_with_downloads_off_is_one_line_with_the_remedy():
    target = lama.default_path()
    with pytest.raises(UserError) as info:
        with lama.lease(device="cpu", allow_download=False):
            pass
    message = _one_line(info)
    assert str(target) in message and "python -m pipelines models --download lama" in message
    assert not target.parent.exists() or list(target.parent.iterdir()) == []


@pytest.mark.parametrize("kind", ["garbage", "state dict", "one input", "missing", "folder"])
def test_bad_files_are_one_line_errors(tmp_path, kind):
    path = tmp_path / "model.pt"
    if kind == "garbage":
        path.write_bytes(b"not a model at all")
    elif kind == "state dict":
        torch.save(TinyLama().state_dict(), path)
    elif kind == "one input":
        _save_script(OneInput(), path)
    elif kind == "folder":
        path.mkdir()
    with pytest.raises(UserError) as info:
        with lama.lease(path, device="cpu"):
            pass
    message = _one_line(info)
    assert "model.pt" in message
    if kind == "one input":
        assert "takes 1 inputs" in message and "(image, mask)" in message


def test_models_that_are_not_lamas_are_refused():
    with pytest.raises(UserError, match="runs on the diffusers engine, not lama"):
        with lama.lease("sd15-inpaint"):
            pass
    with pytest.raises(UserError, match="takes a TorchScript .pt file"):
        with lama.lease(42):
            pass


def test_the_model_is_loaded_once_under_8_concurrent_first_uses(tiny_lama, monkeypatch):
    loads = []
    real_load = torch.jit.load

    def slow_load(*args, **kwargs):
        loads.append(threading.get_ident())
        time.sleep(0.2)  # widen the window for a second load
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch.jit, "load", slow_load)
    image, mask = _scene()
    barrier = threading.Barrier(8)
    loaded, outputs, errors = [], [], []

    def job():
        try:
            barrier.wait()
            with lama.lease(tiny_lama, device="cpu") as engine:
                loaded.append(engine.loaded)
                outputs.append(engine.fill(image, mask, prompt="", negative_prompt=None, seed=None,
                                           step=lambda: None))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=job) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert len(loads) == 1 and len(loaded) == 8 and all(x is loaded[0] for x in loaded)
    assert all(np.array_equal(o, outputs[0]) for o in outputs), "shared, read-only: every job the same fill"
    with lama.lease(tiny_lama, device="cpu") as engine:
        assert engine.loaded is loaded[0] and len(loads) == 1


# ---------------------------------------------------------------------------------------------------------
# Downloads (a fake urlopen; the real file is never fetched)


class FakeResponse(_io.BytesIO):
    """What urlopen returns: the bytes, a Content-Length header, and a hook run before every read."""

    def __init__(self, data: bytes, length: int | None = None, before_read=None):
        super().__init__(data)
        self.headers = {} if length is None else {"Content-Length": str(length)}
        self.before_read = before_read

    def read(self, n=-1):
        if self.before_read is not None:
            self.before_read(self.tell())
        return super().read(n)


@pytest.fixture
def serve(monkeypatch):
    """serve(data, length=..., before_read=None) -> the list of URLs a fake urlopen was asked for."""

    def install(data: bytes, length: int | None = -1, before_read=None):
        calls = []

        def fake_urlopen(url, timeout=None):
            calls.append(url)
            return FakeResponse(data, len(data) if length == -1 else length, before_read)

        monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
        return calls

    monkeypatch.setattr(lama, "_DOWNLOAD_CHUNK", 512)
    return install


def test_download_verifies_the_md5_and_renames_atomically(tiny_lama, serve, lama_md5, capsys):
    data = tiny_lama.read_bytes()
    lama_md5(hashlib.md5(data).hexdigest())
    target = lama.default_path()
    seen_parts, fresh = [], [True]

    def before_read(offset):
        if fresh[0]:
            assert not target.exists(), "a partial file under the final name"
            seen_parts.extend(p.name for p in target.parent.iterdir())

    calls = serve(data, before_read=before_read)
    progress = []
    assert lama.download_weights("lama", progress=lambda d, t: progress.append((d, t))) == target
    assert calls == [registry.preset("lama").source] and target.read_bytes() == data
    assert progress[0] == (0, len(data)) and progress[-1] == (len(data), len(data)) and len(progress) > 3
    assert seen_parts and all(n.startswith(".big-lama.pt.") and n.endswith(".part") for n in seen_parts)
    assert [p.name for p in target.parent.iterdir()] == ["big-lama.pt"]  # no temporary file left

    assert lama.download_weights() == target and len(calls) == 1  # there and verified: no network

    fresh[0] = False
    target.write_bytes(b"a damaged copy")  # replaced by a fresh download, with a progress bar on stderr
    capsys.readouterr()
    lama.download_weights()
    assert len(calls) == 2 and target.read_bytes() == data
    assert "big-lama.pt" in capsys.readouterr().err


def test_a_download_with_the_wrong_md5_leaves_nothing(tiny_lama, serve):
    data = tiny_lama.read_bytes()
    serve(data)
    with pytest.raises(UserError) as info:
        lama.download_weights("lama")
    message = _one_line(info)
    assert f"md5 {hashlib.md5(data).hexdigest()}, expected e3aa4aaa15225a33ec84f9f4bc47e500" in message
    assert list(registry.weights_dir().iterdir()) == []


def test_a_truncated_or_broken_download_leaves_nothing(tiny_lama, serve, lama_md5):
    data = tiny_lama.read_bytes()
    lama_md5(hashlib.md5(data).hexdigest())
    serve(data[:1000], length=len(data))
    with pytest.raises(UserError, match="incomplete: 1000 of"):
        lama.download_weights("lama")
    assert list(registry.weights_dir().iterdir()) == []

    def drop(offset):
        if offset >= 1024:
            raise ConnectionResetError("connection reset by peer")

    serve(data, before_read=drop)
    with pytest.raises(UserError) as info:
        lama.download_weights("lama")
    assert "connection reset by peer" in _one_line(info)
    assert list(registry.weights_dir().iterdir()) == []


def test_offline_is_one_line_naming_the_file_and_the_remedies(monkeypatch):
    def offline(url, timeout=None):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(UserError) as info:
        lama.download_weights("lama")
    message = _one_line(info)
    for part in ("Temporary failure in name resolution", "python -m pipelines models --download lama",
                 str(lama.default_path())):
        assert part in message
    assert list(registry.weights_dir().iterdir()) == []


def test_first_use_downloads_then_loads(tiny_lama, serve, lama_md5):
    data = tiny_lama.read_bytes()
    lama_md5(hashlib.md5(data).hexdigest())
    calls = serve(data)
    progress = []
    with lama.lease(device="cpu", progress=lambda d, t: progress.append(d)) as engine:
        assert engine.model == "big-lama" and progress[-1] == len(data)
    with lama.lease("lama", device="cpu") as engine:
        assert engine.model == "big-lama"
    assert len(calls) == 1


def test_models_cli_downloads_lama(tiny_lama, serve, lama_md5, run_cli):
    data = tiny_lama.read_bytes()
    lama_md5(hashlib.md5(data).hexdigest())
    serve(data)
    run = run_cli(["models", "--download", "lama", "--json"])
    assert run.code == 0, run.err
    assert lama.default_path().read_bytes() == data
    rows = {row["id"]: row for row in json.loads(run.out)["presets"]}
    assert rows["lama"]["on_disk"]


def test_models_cli_offline_is_one_line(run_cli, monkeypatch):
    def offline(url, timeout=None):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    line = run_cli(["models", "--download", "lama"]).one_line_error()
    assert "no route to host" in line and "big-lama.pt" in line


# ---------------------------------------------------------------------------------------------------------
# End to end: inpaint() and the CLI


def test_inpaint_with_lama_keeps_the_outside(tiny_lama):
    from pipelines.inpaint import inpaint

    image, mask = _scene()
    rgba = np.dstack([image, np.full(mask.shape, 180, np.uint8)])
    result = inpaint(rgba, mask, "remove the cup", engine="lama", model=tiny_lama, device="cpu")
    out = result.images[0]
    assert out.shape == rgba.shape and out.dtype == np.uint8
    assert np.array_equal(out[~mask], rgba[~mask]) and not np.array_equal(out[mask], rgba[mask])
    assert result.engine == "lama" and result.model == "tiny-lama.pt"
    assert result.reports[0]["outside_changed"] == 0
    assert "prompt ignored by LaMa (lama)" in result.notes


def test_cli_inpaint_with_lama(tiny_lama, tmp_path, run_cli):
    from pipelines import io

    image, mask = _scene()
    Image.fromarray(image).save(tmp_path / "photo.png")
    Image.fromarray(mask.astype(np.uint8) * 255).save(tmp_path / "mask.png")
    out = tmp_path / "out.png"
    run = run_cli(["inpaint", "--image", tmp_path / "photo.png", "--mask", tmp_path / "mask.png", "--out", out,
                   "--engine", "lama", "--model", tiny_lama, "--device", "cpu"])
    assert run.code == 0, run.err
    summary = json.loads(run.out)
    assert summary["engine"] == "lama" and summary["model"] == "tiny-lama.pt"
    assert summary["report"]["outside_changed"] == 0
    result = io.read(out).pixels
    assert np.array_equal(result[~mask], image[~mask]) and not np.array_equal(result[mask], image[mask])


def test_cli_lama_without_weights_offline_is_one_line(tmp_path, run_cli, monkeypatch):
    def offline(url, timeout=None):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    image, mask = _scene()
    Image.fromarray(image).save(tmp_path / "photo.png")
    Image.fromarray(mask.astype(np.uint8) * 255).save(tmp_path / "mask.png")
    line = run_cli(["inpaint", "--image", tmp_path / "photo.png", "--mask", tmp_path / "mask.png",
                    "--out", tmp_path / "out.png", "--engine", "lama", "--device", "cpu"]).one_line_error()
    assert "python -m pipelines models --download lama" in line and "no route to host" in line
    assert not (tmp_path / "out.png").exists()
