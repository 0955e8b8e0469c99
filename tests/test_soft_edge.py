"""The soft inner edge (pipelines.generate.soft_edge): the change map, the latents it holds step by step, and
inpaint(soft_edge=N) end to end on tiny SD models (9-channel and blended 4-channel)."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.errors import UserError
from pipelines.generate import soft_edge as S

torch = pytest.importorskip("torch")


def test_change_map_ramps_from_the_edge_inward():
    mask = np.zeros((40, 60), bool)
    mask[5:35, 10:50] = True
    m = S.change_map(mask, 10)
    assert m.dtype == np.float32 and m.shape == mask.shape
    assert np.all(m[~mask] == 0) and m[mask].min() == pytest.approx(0.1)  # the edge pixel: distance 1
    assert m[20, 30] == 1.0  # 15 px inside: past the ramp
    row = m[20, 10:21]
    assert np.all(np.diff(row) >= 0) and row[0] == pytest.approx(0.1) and row[-1] == 1.0
    assert np.array_equal(S.change_map(mask, 0), mask.astype(np.float32))
    assert np.all(S.change_map(np.ones((8, 8), bool), 5) == 1)


class _Scheduler:
    def add_noise(self, original, noise, t):
        return original + 0 * noise + float(t[0])  # the timestep, so each step's target is visible


def test_hold_frees_each_latent_for_the_last_fraction_m_of_the_steps():
    soft = S.SoftEdge.__new__(S.SoftEdge)
    soft.n = 4
    soft.timesteps = [900, 600, 300, 100]
    soft.values = torch.tensor([0.0, 0.25, 0.5, 1.0]).reshape(1, 1, 1, 4)
    soft.original = torch.zeros(1, 1, 1, 4)
    soft.noise = torch.zeros(1, 1, 1, 4)
    soft.scheduler = _Scheduler()
    calls = []
    soft.step = lambda: calls.append(1)
    held = [soft.hold(i).flatten().tolist() for i in range(3)]
    # after step i a latent with value m is held unless m >= 1 - (i + 1) / n
    assert held == [[1, 1, 1, 0], [1, 1, 0, 0], [1, 0, 0, 0]]
    latents = torch.full((1, 1, 1, 4), -5.0)
    out = soft(None, 0, 900, {"latents": latents})["latents"]
    assert out.flatten().tolist() == [600, 600, 600, -5]  # held at the original noised to the next timestep
    assert soft(None, 3, 100, {"latents": latents}) == {}  # after the last step nothing is held
    assert len(calls) == 2


def _scene(h=64, w=64):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    image = np.stack([60 + 2 * xx, 80 + 2 * yy, 200 - xx - yy], -1) + rng.normal(0, 4, (h, w, 3))
    mask = np.zeros((h, w), bool)
    mask[12:52, 12:52] = True
    return np.clip(image, 0, 255).astype(np.uint8), mask


@pytest.mark.parametrize("channels", [9, 4])
def test_a_soft_edge_keeps_the_edge_closer_to_the_original(channels, tiny_model_folder, tiny_base_model_folder):
    from pipelines.inpaint import inpaint

    folder = tiny_model_folder if channels == 9 else tiny_base_model_folder
    image, mask = _scene()
    kw = dict(model=folder, device="cpu", steps=6, guidance=1.0, seed=3, method="hard")
    hard = inpaint(image, mask, "x", **kw)
    soft = inpaint(image, mask, "x", soft_edge=24, **kw)
    for r in (hard, soft):
        assert np.array_equal(r.image[~mask], image[~mask]) and r.report["outside_changed"] == 0
    assert soft.params["soft_edge"] == 24 and "soft_edge" not in hard.params
    inner = mask.copy()
    inner[12:52, 12:52] = False
    inner[14:50, 14:50] = True
    inner[18:46, 18:46] = False  # a band 2-6 px inside the edge
    diff = lambda r: np.abs(r.image[inner].astype(int) - image[inner].astype(int)).mean()  # noqa: E731
    assert diff(soft) < 0.8 * diff(hard), (diff(soft), diff(hard))
    again = inpaint(image, mask, "x", soft_edge=24, **kw)
    assert np.array_equal(again.image, soft.image)  # deterministic per seed


def test_soft_edge_checks(tiny_model_folder):
    from pipelines.inpaint import inpaint

    image, mask = _scene()
    with pytest.raises(UserError, match="soft_edge must be >= 0"):
        inpaint(image, mask, "x", model=tiny_model_folder, soft_edge=-1)
    with pytest.raises(UserError, match="soft_edge goes with the diffusers engine"):
        inpaint(image, mask, engine="telea", soft_edge=8)


def test_cli_soft_edge_is_recorded(tiny_model_folder, tmp_path, run_cli):
    from pipelines import io, provenance

    image, mask = _scene()
    io.save_png(tmp_path / "in.png", image)
    io.save_png(tmp_path / "m.png", mask.astype(np.uint8) * 255)
    run = run_cli(["inpaint", "--image", str(tmp_path / "in.png"), "--mask", str(tmp_path / "m.png"), "--out",
                   str(tmp_path / "out.png"), "--model", str(tiny_model_folder), "--device", "cpu", "--steps", "2",
                   "--seed", "1", "--soft-edge", "12"])
    assert run.code == 0, run.err
    settings = provenance.read_settings(tmp_path / "out.png")
    assert settings["extra"]["soft_edge"] == 12
    assert "soft edge" in run_cli(["inpaint", "--image", str(tmp_path / "in.png"), "--mask", str(tmp_path / "m.png"),
                                   "--out", str(tmp_path / "o2.png"), "--engine", "telea",
                                   "--soft-edge", "4"]).one_line_error().replace("_", " ")
