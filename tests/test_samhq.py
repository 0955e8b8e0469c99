"""HQ-SAM through transformers (pipelines/segment/samhq.py): what only this engine does. Nothing here touches the
network.

The interface every transformers segmenter shares (lifecycle, sizes, candidates, probabilities, the embedding cache,
boxes, refinement, threads, errors) is tested for HQ-SAM and SAM 2.1 alike in test_transformers_segmenters.py,
which also builds the tiny seeded SamHQModel used here (tiny_samhq: a 2-block ViT of width 32 at 128 px input, the
second block global; 32x32 low-res masks), saved with save_pretrained next to its SamHQProcessor (longest side 128,
padded to 128x128) and loaded back through SamHQSegmenter(model_id=folder).load(). Here: engine names, the
post-processing against the processor's own, the cached path against the model's own forward, the early embedding
HQ's decoder gets, prompts scaled to the model's input, refusals across engines, threshold_logits over a padded
square, make_segmenter and the CLI.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_transformers_segmenters import SIDE, WIDTH, Spy, photo, save_tiny, tiny_samhq

from pipelines import segment as S
from pipelines.errors import UserError
from pipelines.segment import samhq as HQ
from pipelines.segment.prompts import LogitsFrame, threshold_logits


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return save_tiny(tmp_path_factory, tiny_samhq, "sam-hq-tiny-test")


@pytest.fixture(scope="module")
def shared(folder):
    """One loaded segmenter for the read-only tests."""
    seg = HQ.SamHQSegmenter(str(folder), device="cpu", download=False).load()
    yield seg
    seg.close()


@pytest.fixture
def seg(folder):
    s = HQ.SamHQSegmenter(str(folder), device="cpu", download=False).load()
    yield s
    s.close()


def test_engine_names():
    assert HQ.engine_name("syscv-community/sam-hq-vit-base") == "sam-hq vit_b"
    assert HQ.engine_name("syscv-community/sam-hq-vit-large") == "sam-hq vit_l"
    assert HQ.engine_name("/models/sam-hq-vit-huge/") == "sam-hq vit_h"
    assert HQ.engine_name("/models/mine") == "sam-hq mine"
    assert [HQ.engine_name(m) for m in HQ.SAMHQ_MODELS] == ["sam-hq vit_b", "sam-hq vit_l", "sam-hq vit_h"]


@pytest.mark.parametrize("size", [(96, 128), (300, 200), (17, 9), (1000, 70), (128, 128)])
def test_masks_are_the_processors_post_processing(shared, size):
    """The OpenCV upscale gives the pixels SamHQProcessor.post_process_masks gives (pad, crop, resize, > 0)."""
    img = photo("coffee", size)
    r = shared.segment(img, positive=[(size[1] // 3, size[0] // 3)])
    processor = shared._processor
    inputs = processor(images=img, return_tensors="pt")
    want = processor.post_process_masks(
        torch.from_numpy(np.array(r.logits))[None, None], inputs["original_sizes"], inputs["reshaped_input_sizes"]
    )[0][0].numpy()
    assert want.shape == r.masks.shape
    assert np.mean(want != r.masks) < 1e-4  # float rounding may flip a pixel whose logit is ~0


def test_the_cached_path_is_the_models_own_forward(shared):
    """Prompts scaled as SamHQProcessor scales them, fed with the cached embeddings, give what the processor's
    inputs give through SamHQModel.forward(pixel_values=...) (which runs the encoder and passes all its
    intermediate embeddings)."""
    img = photo("rocket", (150, 100))
    clicks, neg, box = [(40, 70)], [(90, 10)], (10, 20, 80, 130)
    r = shared.segment(img, positive=clicks, negative=neg, box=box)
    processor, model = shared._processor, shared._model
    inputs = processor(images=img, input_points=[[clicks + neg]], input_labels=[[[1, 0]]], input_boxes=[[list(box)]],
                       return_tensors="pt")
    with torch.inference_mode():
        out = model(pixel_values=inputs["pixel_values"], input_points=inputs["input_points"].float(),
                    input_labels=inputs["input_labels"], input_boxes=inputs["input_boxes"].float())
    np.testing.assert_allclose(r.logits, out.pred_masks[0, 0].numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(r.scores, out.iou_scores[0, 0].numpy(), rtol=1e-4, atol=1e-5)


def test_the_decoder_gets_the_cached_early_embedding(seg):
    """HQ-SAM's extra decoder input, the first global-attention block's output, comes from the cache too."""
    spy = Spy(seg._model)
    try:
        img, other = photo("astronaut"), photo("coffee")
        seg.prepare(img)
        seg.segment(img, positive=[(30, 30)])
        seg.segment(other, positive=[(30, 30)])
        seg.segment(img, box=(10, 10, 60, 50))
        assert spy.encodes == 2 and len(spy.decoded) == 3
        for kw in spy.decoded:
            early = kw["intermediate_embeddings"]
            assert len(early) == 1 and tuple(early[0].shape) == (1, SIDE // 16, SIDE // 16, WIDTH)
    finally:
        spy.remove()


def test_prompts_reach_the_model_scaled_to_its_input(seg):
    spy = Spy(seg._model)
    try:
        img = photo("rocket")  # 128 x 96: longest side already 128, nothing rescaled, padded below
        seg.segment(img, positive=[(64, 48)], negative=[(10, 90)])
        kw = spy.calls[-1]
        np.testing.assert_allclose(kw["input_points"][0, 0].numpy(), [[64, 48], [10, 90]])
        assert kw["input_labels"][0, 0].tolist() == [1, 0]
        assert kw["input_boxes"] is None and kw["input_masks"] is None
        big = photo("rocket", (192, 256))  # 256 x 192 -> 128 x 96: both halved
        seg.segment(big, positive=[(64, 48)], negative=[(10, 90)])
        np.testing.assert_allclose(spy.calls[-1]["input_points"][0, 0].numpy(), [[32, 24], [5, 45]])
        odd = photo("rocket", (100, 130))  # -> 128 x 98 (round(100 * 128 / 130)): x by 128/130, y by 98/100
        seg.segment(odd, positive=[(65, 50)])
        np.testing.assert_allclose(spy.calls[-1]["input_points"][0, 0].numpy(), [[64, 49]], rtol=1e-6)
        a = seg.segment(img, positive=[(64, 48)])
        b = seg.segment(img, positive=[(64, 48)], negative=[(10, 90)])
        assert not np.allclose(a.logits, b.logits)  # the negative click changes the answer
    finally:
        spy.remove()


def test_sam1_and_hq_results_cannot_refine_each_other(shared):
    """(SAM 2.1 and HQ-SAM: test_transformers_segmenters.py.)"""
    from test_segment import seeded_tiny_sam

    image = photo("astronaut")
    sam1 = S.Segmenter.from_model(seeded_tiny_sam(), name="tiny")
    first = sam1.segment(image, positive=[(60, 40)])
    with pytest.raises(UserError, match="cannot refine"):
        shared.segment(image, positive=[(60, 40)], previous=first)
    hq = shared.segment(image, positive=[(60, 40)])
    with pytest.raises(UserError, match="cannot refine"):
        sam1.segment(image, positive=[(60, 40)], previous=hq)


def test_threshold_logits_pads_crops_and_resizes():
    """A logit map that is positive exactly on the image's part of the padded square gives a full mask; the part
    over the padding never reaches the image."""
    low = -np.ones((1, 8, 8), np.float32)
    low[0, :4, :] = 1  # the top half of the padded square
    frame = LogitsFrame((32, 32), (16, 32))
    masks = threshold_logits(low, (50, 100), frame)  # a 2:1 image fills the top half
    assert masks.shape == (1, 50, 100) and masks.all()
    low[0, :4, :] = -1
    low[0, 4:, :] = 1  # only the padding is positive
    masks = threshold_logits(low, (50, 100), frame)
    assert not masks[0, :-1].any()  # bilinear reaches at most the last row


def test_make_segmenter_and_the_segment_cli_take_sam_hq(folder, tmp_path, run_cli):
    import json

    from pipelines import io

    seg = S.make_segmenter("sam-hq", checkpoint=str(folder), device="cpu", download=False)
    try:
        assert isinstance(seg, HQ.SamHQSegmenter) and seg.loaded and seg.engine.startswith("sam-hq")
    finally:
        seg.close()
    image = tmp_path / "photo.png"
    io.save_png(image, (np.random.default_rng(0).random((96, 128, 3)) * 255).astype(np.uint8))
    run = run_cli(["segment", "--image", str(image), "--out", str(tmp_path / "mask.png"), "--point", "60,40",
                   "--engine", "sam-hq", "--sam-checkpoint", str(folder)])
    assert run.code == 0, run.err
    assert json.loads(run.out)["engine"].startswith("sam-hq")
    assert io.read(tmp_path / "mask.png").pixels.shape == (96, 128)
