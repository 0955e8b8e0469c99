"""The engine driver (pipelines.generate): the contract every engine keeps, the registry of presets and
``python -m pipelines models``. Engines with their own weights have their contract runs in their own test files."""

from __future__ import annotations

import json
from contextlib import contextmanager

import numpy as np
import pytest

from engine_contract import check_engine_contract
from pipelines.errors import UserError
from pipelines.generate import driver, engines, registry
from pipelines.generate.classical import ClassicalEngine
from pipelines.generate.engine import Engine
from pipelines.generate.prepare import prepare


@contextmanager
def _classical(method):
    yield ClassicalEngine(method, radius=4)


@pytest.mark.parametrize("method", ["telea", "ns"])
def test_classical_engines_keep_the_contract(method):
    check_engine_contract(lambda: _classical(method))


@pytest.mark.parametrize("channels", [9, 4])
def test_diffusion_engine_keeps_the_contract(channels, tiny_model_folder, tiny_base_model_folder):
    from pipelines.generate import diffusion

    folder = tiny_model_folder if channels == 9 else tiny_base_model_folder
    check_engine_contract(lambda: diffusion.lease(folder, device="cpu", steps=2, guidance=1.0))


class _Stripes(Engine):
    """A toy engine with a native size: it paints stripes, so every crop's size and place can be checked."""

    name = "stripes"
    native_size = 48
    multiple = 16

    def __init__(self):
        self.calls = []

    def fill(self, crop, crop_mask, *, prompt, negative_prompt, seed, step):
        self.calls.append((crop.shape, int(crop_mask.sum()), prompt, seed))
        out = crop.copy()
        out[::2] = (seed or 0) % 256
        step()
        return out


def test_a_new_engine_needs_only_fill_and_a_native_size():
    eng = _Stripes()
    check_engine_contract(lambda: _classical_like(eng))
    assert all(shape[0] % 16 == 0 and shape[1] % 16 == 0 for shape, *_ in eng.calls)


@contextmanager
def _classical_like(engine):
    yield engine


def test_plan_groups_regions_and_sizes_crops_at_the_native_area():
    mask = np.zeros((400, 600), bool)
    mask[50:70, 50:70] = True
    mask[60:80, 100:120] = True  # 30 px away: the same group
    mask[300:350, 450:560] = True  # far away: its own crop
    crops = driver.plan_crops(mask, _Stripes(), context_margin=10)
    assert len(crops) == 2
    for crop in crops:
        x0, y0, x1, y1 = crop.box
        assert crop.group[y0:y1, x0:x1].sum() == crop.group.sum()  # the box holds its whole group
        assert crop.size[0] * crop.size[1] == pytest.approx(48 * 48, rel=0.6)
    assert sum(int(c.group.sum()) for c in crops) == int(mask.sum())


def test_the_seams_rank_the_variants_and_notes_name_what_is_ignored():
    eng = _Stripes()
    eng.uses_negative_prompt = False
    rgb = np.full((64, 64, 3), 120, np.uint8)
    mask = np.zeros((64, 64), bool)
    mask[20:40, 20:40] = True
    result = driver.run(prepare(rgb, mask), eng, prompt="p", negative_prompt="blurry", seeds=[120, 7])
    assert result.seeds == [120, 7]  # seed 120 paints the photo's own grey: the smaller seam comes first
    assert result.reports[0]["seam_excess"] <= result.reports[1]["seam_excess"]
    assert "negative prompt ignored by stripes (it takes none)" in result.notes
    assert result.engine == "stripes" and result.sizes and result.timings["total"] > 0


def test_engines_lease_refuses_unknown_engines_and_controls():
    with pytest.raises(UserError, match="engine must be one of"):
        engines.lease("dall-e")
    with pytest.raises(UserError, match="control 'depth' goes with the diffusers engine"):
        engines.lease("lama", control="depth")
    with pytest.raises(UserError, match="control must be one of"):
        engines.lease("diffusers", control="scribble")


# ---------------------------------------------------------------------------------------------------------
# The registry and `python -m pipelines models`


def test_presets_are_complete_and_resolve():
    ids = [p.id for p in registry.PRESETS]
    assert len(ids) == len(set(ids))
    for p in registry.PRESETS:
        assert p.engine in ("diffusers", "lama", "depth", "telea", "ns") and p.licence and p.use
        assert p.download_gb >= 0 and (p.source is None) == (p.download_gb == 0)
        assert p.native_size is None or p.native_size % 8 == 0
    assert registry.resolve_model("sdxl-inpaint") == "diffusers/stable-diffusion-xl-1.0-inpainting-0.1"
    assert registry.resolve_model("flux-fill") == "black-forest-labs/FLUX.1-Fill-dev"
    assert registry.resolve_model("some/other-model") == "some/other-model" and registry.resolve_model(None) is None
    assert registry.resolve_model("lama") == "lama"  # not a diffusers model: left for its own engine
    with pytest.raises(UserError, match="unknown model preset 'nope'"):
        registry.preset("nope")


def test_on_disk_never_goes_online(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("INPAINT_APP_CACHE", str(tmp_path / "app"))
    assert registry.on_disk(registry.preset("telea"))
    assert not registry.on_disk(registry.preset("lama"))
    (tmp_path / "app" / "weights").mkdir(parents=True)
    (tmp_path / "app" / "weights" / "big-lama.pt").write_bytes(b"x")
    assert registry.on_disk(registry.preset("lama"))


def test_models_cli_lists_the_presets(run_cli):
    table = run_cli(["models"])
    assert table.code == 0 and "flux-fill" in table.out and "on disk" in table.out
    listed = json.loads(run_cli(["models", "--json"]).out)["presets"]
    assert [row["id"] for row in listed] == [p.id for p in registry.PRESETS]
    assert {row["id"]: row["on_disk"] for row in listed}["telea"] is True
    assert "unknown model preset" in run_cli(["models", "--download", "nope"]).one_line_error()


def test_a_preset_id_is_a_model_and_downloads_stay_off(tiny_model_folder):
    from pipelines.inpaint import inpaint

    rgb = np.full((64, 64, 3), 100, np.uint8)
    mask = np.zeros((64, 64), bool)
    mask[10:20, 10:20] = True
    with pytest.raises(UserError, match="stable-diffusion-v1-5/stable-diffusion-inpainting.*downloads are disabled"):
        inpaint(rgb, mask, "x", model="sd15-inpaint", allow_download=False, device="cpu", steps=1)
