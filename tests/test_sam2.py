"""SAM 2.1 through transformers (pipelines/segment/sam2.py): what only this engine does. Nothing here touches the
network.

The interface every transformers segmenter shares (lifecycle, sizes, candidates, probabilities, the embedding cache,
boxes, refinement, threads, errors) is tested for SAM 2.1 and HQ-SAM alike in test_transformers_segmenters.py,
which also builds the tiny seeded Sam2Model used here (tiny_sam2: a 4-stage Hiera at 128 px input, 32x32 low-res
masks), saved with save_pretrained next to its Sam2Processor and loaded back through
Sam2Segmenter(model_id=folder).load(). Here: prompts scaled to the model's square input, the masks as torch's
bilinear upscale of the logits, make_segmenter and auto, the CLI, and a SAM 1 segmenter refusing a SAM 2.1 result.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from test_transformers_segmenters import SIDE, Spy, photo, save_tiny, tiny_sam2  # test_app imports tiny_sam2 here

from pipelines import segment as S
from pipelines.segment import sam2 as S2


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return save_tiny(tmp_path_factory, tiny_sam2, "sam2.1-tiny-test")


@pytest.fixture(scope="module")
def shared(folder):
    """One loaded segmenter for the read-only tests."""
    seg = S2.Sam2Segmenter(str(folder), device="cpu", download=False).load()
    yield seg
    seg.close()


@pytest.fixture
def seg(folder):
    s = S2.Sam2Segmenter(str(folder), device="cpu", download=False).load()
    yield s
    s.close()


def test_make_segmenter_sam2_branch(folder):
    seg = S.make_segmenter("sam2", checkpoint=str(folder), device="cpu", download=False)
    try:
        assert isinstance(seg, S2.Sam2Segmenter) and seg.loaded
        assert seg.segment(photo("coffee"), positive=[(40, 40)]).engine == seg.engine
    finally:
        seg.close()
    with pytest.raises(ValueError, match="sam2"):
        S.make_segmenter("sam3")
    assert S2.engine_name("facebook/sam2.1-hiera-tiny") == "sam2.1 hiera-tiny"


def test_auto_prefers_sam2_on_disk_and_never_downloads(folder, tmp_path, monkeypatch):
    """auto: SAM 2.1 when the default model is on disk (here: the default pointed at the saved folder), else SAM 1's
    cached checkpoint, else the GrabCut fallback; no download either way."""
    monkeypatch.setattr(S2, "DEFAULT_SAM2_MODEL", str(folder))
    assert S.sam2_on_disk()
    seg = S.make_segmenter("auto", cache_dir=tmp_path, device="cpu")
    try:
        assert isinstance(seg, S2.Sam2Segmenter) and seg.loaded and not seg.download
    finally:
        seg.close()
    monkeypatch.setattr(S2, "DEFAULT_SAM2_MODEL", str(tmp_path / "not-there"))
    assert not S.sam2_on_disk()
    fallback = S.make_segmenter("auto", cache_dir=tmp_path)
    assert isinstance(fallback, S.GrabCutSegmenter) and "no SAM 2.1 or SAM weights on disk" in fallback.engine


@pytest.mark.parametrize("size", [(96, 128), (300, 200), (17, 9)])
def test_masks_are_the_logits_upscaled_as_torch_does(shared, size):
    """SAM 2.1's logits cover the image itself (resized, not padded): thresholding torch's bilinear upscale of them
    gives the same pixels as the masks."""
    img = photo("astronaut", size)
    r = shared.segment(img, positive=[(size[1] // 2, size[0] // 2)])
    assert r.logits.shape == (3, SIDE // 4, SIDE // 4)
    logits = torch.from_numpy(np.array(r.logits))[None]
    up = torch.nn.functional.interpolate(logits, size, mode="bilinear")[0].numpy() > 0
    assert np.mean(up != r.masks) < 1e-3


def test_prompts_reach_the_model_scaled_to_its_input(seg):
    spy = Spy(seg._model)
    try:
        img = photo("rocket")  # 128 x 96 -> 128 x 128: y is scaled by 4/3
        seg.segment(img, positive=[(64, 48)], negative=[(10, 90)])
        kw = spy.calls[-1]
        np.testing.assert_allclose(kw["input_points"][0, 0].numpy(), [[64, 64], [10, 120]])
        assert kw["input_labels"][0, 0].tolist() == [1, 0]
        assert kw["input_boxes"] is None and kw["input_masks"] is None
        a = seg.segment(img, positive=[(64, 48)])
        b = seg.segment(img, positive=[(64, 48)], negative=[(10, 90)])
        assert not np.allclose(a.logits, b.logits)  # the negative click changes the answer
    finally:
        spy.remove()


def test_segment_cli_with_sam2(folder, tmp_path, run_cli):
    from pipelines import io

    image = tmp_path / "photo.png"
    io.save_png(image, photo("astronaut"))
    run = run_cli(["segment", "--image", str(image), "--out", str(tmp_path / "mask.png"), "--point", "60,40",
                   "--engine", "sam2", "--sam-checkpoint", str(folder)])
    assert run.code == 0, run.err
    assert json.loads(run.out)["engine"].startswith("sam2.1")
    assert io.read(tmp_path / "mask.png").pixels.shape == (96, 128)


def test_a_sam2_result_cannot_refine_a_sam1_mask(shared):
    """Both have 256x256 logits, so the engine itself must match, not just the logits' size."""
    from test_segment import seeded_tiny_sam

    from pipelines.errors import UserError
    from pipelines.segment import Segmenter

    image = photo("astronaut")
    first = shared.segment(image, positive=[(60, 40)])
    sam1 = Segmenter.from_model(seeded_tiny_sam(), name="tiny")
    with pytest.raises(UserError, match="cannot refine"):
        sam1.segment(image, positive=[(60, 40)], previous=first)
