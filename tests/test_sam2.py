"""SAM 2.1 through transformers (pipelines/segment/sam2.py). Nothing here touches the network.

A tiny random Sam2Model is built from a Sam2Config (a 4-stage Hiera at 128 px input, widths 8-64, an FPN and decoder
of width 32: an 8x8 embedding, 32x32 low-res masks), its weights drawn from a local torch.Generator, saved with
save_pretrained next to a Sam2Processor (its image processor at the same size; SAM 2 has no tokenizer), and loaded
back through Sam2Segmenter(model_id=folder).load(), the code path a user's model takes. Its masks mean nothing; the
tests check the plumbing: sizes, candidates, the embedding cache, refinement, boxes, threads, errors.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
import skimage.data
import torch

from pipelines.segment import sam2 as S2
from pipelines import segment as S

SIDE = 128
WIDTH = 32


def tiny_sam2():
    """(Sam2Model, Sam2Processor) at toy size with seeded weights."""
    from transformers import Sam2Config, Sam2Model, Sam2Processor
    from transformers.models.sam2 import Sam2ImageProcessor

    config = Sam2Config(
        vision_config=dict(
            backbone_config=dict(
                model_type="sam2_hiera_det_model", image_size=[SIDE, SIDE], hidden_size=8,
                blocks_per_stage=[1, 1, 2, 1], embed_dim_per_stage=[8, 16, 32, 64],
                num_attention_heads_per_stage=[1, 1, 2, 2], window_size_per_stage=[4, 4, 4, 2],
                global_attention_blocks=[3], window_positional_embedding_background_size=[4, 4],
            ),
            backbone_channel_list=[64, 32, 16, 8],
            backbone_feature_sizes=[[SIDE // 4] * 2, [SIDE // 8] * 2, [SIDE // 16] * 2],
            fpn_hidden_size=WIDTH,
        ),
        prompt_encoder_config=dict(hidden_size=WIDTH, image_size=SIDE, patch_size=16, mask_input_channels=8),
        mask_decoder_config=dict(hidden_size=WIDTH, mlp_dim=64, num_attention_heads=2, iou_head_hidden_dim=16),
    )
    model = Sam2Model(config).eval()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if not t.dtype.is_floating_point:
                continue
            if name.endswith("weight") and t.ndim >= 2:
                t.copy_(torch.randn(t.shape, generator=g) / t[0].numel() ** 0.5)
            elif "norm" in name and name.endswith("weight"):
                t.copy_(1 + 0.1 * torch.randn(t.shape, generator=g))
            elif name.endswith("bias"):
                t.zero_()
            else:
                t.copy_(0.5 * torch.randn(t.shape, generator=g))
    image_processor = Sam2ImageProcessor(
        size={"height": SIDE, "width": SIDE}, mask_size={"height": SIDE // 4, "width": SIDE // 4}
    )
    return model, Sam2Processor(image_processor=image_processor)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("sam2.1-tiny-test")
    model, processor = tiny_sam2()
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def shared(folder):
    """One loaded segmenter for the read-only tests (loading costs ~0.1 s, but there is no need to repeat it)."""
    seg = S2.Sam2Segmenter(str(folder), device="cpu", download=False).load()
    yield seg
    seg.close()


@pytest.fixture
def seg(folder):
    s = S2.Sam2Segmenter(str(folder), device="cpu", download=False).load()
    yield s
    s.close()


class Spy:
    """Counts vision-encoder passes and records what the model's forward receives."""

    def __init__(self, model):
        self.encodes = 0
        self.calls = []
        self._handles = [
            model.vision_encoder.register_forward_hook(self._encoded),
            model.prompt_encoder.register_forward_pre_hook(self._prompted, with_kwargs=True),
        ]

    def _encoded(self, module, args, output):
        self.encodes += 1

    def _prompted(self, module, args, kwargs):
        self.calls.append(kwargs)

    def remove(self):
        for h in self._handles:
            h.remove()


def photo(name: str, size=(96, 128)) -> np.ndarray:
    img = getattr(skimage.data, name)()
    return np.ascontiguousarray(cv2.resize(img, (size[1], size[0]), interpolation=cv2.INTER_AREA))


def test_lifecycle_loads_the_saved_folder_and_nothing_before(folder):
    seg = S2.Sam2Segmenter(str(folder), device="cpu", download=False)
    assert not seg.loaded and seg._model is None
    with pytest.raises(RuntimeError, match="call load"):
        seg.segment(photo("astronaut"), positive=[(5, 5)])
    seg.load()
    assert seg.engine == "sam2.1 tiny-test0"  # the folder's name, pytest numbers it
    model, _ = tiny_sam2()
    want = model.state_dict()
    got = seg._model.state_dict()
    assert all(torch.equal(got[k], want[k]) for k in want)  # the seeded weights came back from the folder
    seg.close()
    with pytest.raises(RuntimeError, match="closed"):
        seg.prepare(photo("astronaut"))
    with pytest.raises(RuntimeError, match="closed"):
        seg.load()


def test_a_missing_model_is_one_line(tmp_path):
    with pytest.raises(ValueError, match="no SAM 2.1 model") as err:
        S2.Sam2Segmenter(str(tmp_path / "nothing-here"), download=False).load()
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="no SAM 2.1 model"):
        S2.Sam2Segmenter("facebook/sam2.1-hiera-tiny-not-cached", download=False).load()


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
def test_masks_have_the_image_size_candidates_and_scores(shared, size):
    img = photo("astronaut", size)
    r = shared.segment(img, positive=[(size[1] // 2, size[0] // 2)])
    assert r.masks.shape == (3, *size) and r.masks.dtype == bool
    assert r.scores.shape == (3,) and r.scores.dtype == np.float32
    assert r.logits.shape == (3, SIDE // 4, SIDE // 4) and r.logits.dtype == np.float32
    assert r.best == int(np.argmax(r.scores)) and r.mask.shape == size
    assert not r.is_fallback and r.engine.startswith("sam2.1")
    # the masks are the logits upscaled: thresholding a bilinear upscale by torch gives the same pixels
    up = torch.nn.functional.interpolate(torch.from_numpy(np.array(r.logits))[None], size, mode="bilinear")[0].numpy() > 0
    assert np.mean(up != r.masks) < 1e-3
    one = shared.segment(img, positive=[(size[1] // 2, size[0] // 2)], multimask=False)
    assert one.masks.shape == (1, *size) and one.scores.shape == (1,)
    assert r.masks.any() and not r.masks.all()  # the seeded weights give masks with something in them


def test_one_embedding_per_image_and_prepare_ahead(seg):
    spy = Spy(seg._model)
    try:
        img, other = photo("astronaut"), photo("coffee")
        key = seg.prepare(img)
        assert key == S.image_key(img) and spy.encodes == 1
        seg.segment(img, positive=[(30, 30)])
        seg.segment(img.copy(), positive=[(30, 30)], negative=[(90, 60)])  # same pixels, another array
        seg.segment(img, box=(10, 10, 60, 50))
        assert spy.encodes == 1
        seg.segment(other, positive=[(30, 30)])
        assert spy.encodes == 2
        assert seg.cache_info()[:3] == (3, 2, 2)
    finally:
        spy.remove()


def test_the_cache_is_an_lru_of_cache_size(folder):
    seg = S2.Sam2Segmenter(str(folder), device="cpu", cache_size=2).load()
    spy = Spy(seg._model)
    try:
        a, b, c = photo("astronaut"), photo("coffee"), photo("chelsea")
        for img in (a, b, a, c, a, b):  # b is dropped by c, a stays in use
            seg.prepare(img)
        assert spy.encodes == 4 and seg.cache_info().size == 2
    finally:
        spy.remove()
        seg.close()


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


def test_a_box_prompt_alone_and_with_clicks(seg):
    spy = Spy(seg._model)
    try:
        img = photo("chelsea")
        r = seg.segment(img, box=(16, 12, 80, 60))
        kw = spy.calls[-1]
        np.testing.assert_allclose(kw["input_boxes"][0, 0].numpy(), [16, 16, 80, 80])
        assert kw["input_points"] is None
        assert r.masks.shape == (3, 96, 128) and r.prompts.box is not None
        both = seg.segment(img, box=(16, 12, 80, 60), positive=[(40, 30)])
        assert spy.calls[-1]["input_points"].shape == (1, 1, 1, 2)
        assert not np.allclose(both.logits, r.logits)
    finally:
        spy.remove()


def test_refinement_feeds_the_previous_chosen_logits(seg):
    spy = Spy(seg._model)
    try:
        img = photo("rocket")
        first = seg.segment(img, positive=[(64, 48)])
        second = seg.segment(img, positive=[(64, 48)], negative=[(10, 10)], previous=first)
        given = spy.calls[-1]["input_masks"]
        assert tuple(given.shape) == (1, 1, SIDE // 4, SIDE // 4)
        assert np.array_equal(given[0].numpy(), first.logits[first.best][None])
        plain = seg.segment(img, positive=[(64, 48)], negative=[(10, 10)])
        assert not np.allclose(second.logits, plain.logits)
        picked = first.select(first.ranked()[-1])  # the candidate the user picked is the one that goes on
        seg.segment(img, positive=[(64, 48)], previous=picked)
        assert np.array_equal(spy.calls[-1]["input_masks"][0].numpy(), first.logits[picked.best][None])
    finally:
        spy.remove()
    with pytest.raises(ValueError, match="different image"):
        seg.segment(photo("coffee"), positive=[(5, 5)], previous=first)
    grabcut = S.GrabCutSegmenter().segment(img, positive=[(64, 48)])
    with pytest.raises(ValueError, match="cannot refine"):
        seg.segment(img, positive=[(64, 48)], previous=grabcut)
    with pytest.raises(ValueError, match="must be the Segmentation"):
        seg.segment(img, positive=[(64, 48)], previous=first.logits)


def test_threads_give_the_serial_answers(folder):
    images = [photo("astronaut"), photo("coffee")]
    clicks = [[(30, 30)], [(90, 60)]]

    def session(s, i):
        first = s.segment(images[i], positive=clicks[i])
        return first, s.segment(images[i], positive=clicks[i], negative=[(5, 90)], previous=first)

    ref = S2.Sam2Segmenter(str(folder), device="cpu").load()
    expected = [session(ref, i) for i in range(2)]
    ref.close()
    assert np.abs(expected[0][1].logits - expected[1][1].logits).max() > 1e-3  # a mix-up would show

    seg = S2.Sam2Segmenter(str(folder), device="cpu", cache_size=1).load()  # evictions under load
    calls = []
    handle = seg._model.vision_encoder.register_forward_pre_hook(lambda m, a: calls.append(threading.Event().wait(0.01)))
    barrier = threading.Barrier(4)

    def user(k):
        barrier.wait()
        return [session(seg, k % 2) for _ in range(2)]

    try:
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(user, range(4)))
    finally:
        handle.remove()
        seg.close()
    for k, runs in enumerate(results):
        for got in runs:
            for g, w in zip(got, expected[k % 2]):
                assert g.image_key == w.image_key
                np.testing.assert_allclose(g.logits, w.logits, rtol=1e-4, atol=1e-5)
                assert np.mean(g.masks != w.masks) < 1e-3
    assert len(calls) >= 2


def test_an_embedding_in_progress_is_waited_for(seg):
    calls = []
    handle = seg._model.vision_encoder.register_forward_pre_hook(
        lambda m, a: calls.append(threading.Event().wait(0.2))
    )
    barrier = threading.Barrier(4)
    img = photo("chelsea")

    def user(_):
        barrier.wait()
        return seg.segment(img, positive=[(40, 40)])

    try:
        with ThreadPoolExecutor(4) as pool:
            out = list(pool.map(user, range(4)))
    finally:
        handle.remove()
    assert len(calls) == 1
    assert all(np.array_equal(o.logits, out[0].logits) for o in out)


@pytest.mark.parametrize(
    "prompts, message",
    [
        (dict(positive=[(128, 10)]), r"positive click \(128, 10\) is outside the 128x96 image"),
        (dict(positive=[(10, 10)], negative=[(10, 96)]), r"negative click \(10, 96\) is outside"),
        (dict(negative=[(10, 10)]), "at least one positive click or a box"),
        (dict(), "at least one positive click or a box"),
        (dict(box=(50, 10, 50, 40)), "empty"),
        (dict(box=(10, 10, 129, 40)), "not inside the 128x96 image"),
        (dict(box=(1, 2, 3)), "four"),
        (dict(positive=[(float("nan"), 3)]), "non-finite"),
        (dict(positive=(10, 10)), "list of"),
        (dict(points=[(10, 10)], labels=[1, 0]), "1 points but 2 labels"),
        (dict(points=[(10, 10)], labels=[1], positive=[(3, 3)]), "not both"),
    ],
)
def test_bad_prompts_are_one_line_user_errors(prompts, message, shared):
    from pipelines.errors import UserError

    with pytest.raises(UserError, match=message) as err:
        shared.segment(photo("astronaut"), **prompts)
    assert "\n" not in str(err.value)


def test_bad_images_are_user_errors(shared):
    for bad in (np.zeros((20, 20), np.uint8), np.zeros((20, 20, 4), np.uint8), np.zeros((20, 20, 3), np.float32)):
        with pytest.raises(ValueError, match="HWC uint8 RGB"):
            shared.segment(bad, positive=[(1, 1)])


def test_from_model_and_import_is_light():
    import subprocess
    import sys

    code = "import sys, pipelines.segment.sam2; print('transformers' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
    model, processor = tiny_sam2()
    seg = S2.Sam2Segmenter.from_model(model, processor, name="toy")
    assert seg.engine == "sam2.1 toy" and seg.loaded
    assert seg.segment(photo("coffee"), positive=[(3, 3)]).masks.shape == (3, 96, 128)


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
