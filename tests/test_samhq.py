"""HQ-SAM through transformers (pipelines/segment/samhq.py). Nothing here touches the network.

A tiny random SamHQModel is built from a SamHQConfig (a 2-block ViT of width 32 at 128 px input, the second block
global: an 8x8 embedding, 32x32 low-res masks; prompt encoder and decoder of width 32), its weights drawn from a
local torch.Generator, saved with save_pretrained next to a SamHQProcessor (its SamImageProcessor at the same
size: longest side 128, padded to 128x128), and loaded back through SamHQSegmenter(model_id=folder).load(), the
code path a user's model takes. Its masks mean nothing; the tests check the plumbing: sizes, candidates, the
post-processing against the processor's own, the embedding cache, refinement, boxes, threads, errors.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
import skimage.data
import torch

from pipelines.segment import samhq as HQ
from pipelines.segment.prompts import LogitsFrame, threshold_logits
from pipelines import segment as S
from pipelines.errors import UserError

SIDE = 128
WIDTH = 32
LOW = SIDE // 4  # the low-resolution logits' side


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_samhq():
    """(SamHQModel, SamHQProcessor) at toy size with seeded weights."""
    from transformers import SamHQConfig, SamHQModel, SamHQProcessor
    from transformers.models.sam import SamImageProcessor

    config = SamHQConfig(
        vision_config=dict(
            hidden_size=WIDTH, output_channels=WIDTH, num_hidden_layers=2, num_attention_heads=2, image_size=SIDE,
            patch_size=16, window_size=4, global_attn_indexes=[1], num_pos_feats=WIDTH // 2, mlp_dim=64,
        ),
        prompt_encoder_config=dict(hidden_size=WIDTH, image_size=SIDE, patch_size=16, mask_input_channels=8),
        mask_decoder_config=dict(hidden_size=WIDTH, mlp_dim=64, num_attention_heads=2, iou_head_hidden_dim=16,
                                 vit_dim=WIDTH),
    )
    model = SamHQModel(config).eval()
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
    image_processor = SamImageProcessor(
        size={"longest_edge": SIDE}, pad_size={"height": SIDE, "width": SIDE},
        mask_size={"longest_edge": LOW}, mask_pad_size={"height": LOW, "width": LOW},
    )
    return model, SamHQProcessor(image_processor=image_processor)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("sam-hq-tiny-test")
    model, processor = tiny_samhq()
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


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


class Spy:
    """Counts vision-encoder passes and records what the model's prompt encoder and decoder receive."""

    def __init__(self, model):
        self.encodes = 0
        self.calls = []
        self.decoded = []
        self._handles = [
            model.vision_encoder.register_forward_hook(self._encoded),
            model.prompt_encoder.register_forward_pre_hook(self._prompted, with_kwargs=True),
            model.mask_decoder.register_forward_pre_hook(self._decoding, with_kwargs=True),
        ]

    def _encoded(self, module, args, output):
        self.encodes += 1

    def _prompted(self, module, args, kwargs):
        self.calls.append(kwargs)

    def _decoding(self, module, args, kwargs):
        self.decoded.append(kwargs)

    def remove(self):
        for h in self._handles:
            h.remove()


def photo(name: str, size=(96, 128)) -> np.ndarray:
    img = getattr(skimage.data, name)()
    return np.ascontiguousarray(cv2.resize(img, (size[1], size[0]), interpolation=cv2.INTER_AREA))


def test_lifecycle_loads_the_saved_folder_and_nothing_before(folder):
    seg = HQ.SamHQSegmenter(str(folder), device="cpu", download=False)
    assert not seg.loaded and seg._model is None
    with pytest.raises(RuntimeError, match="call load"):
        seg.segment(photo("astronaut"), positive=[(5, 5)])
    with pytest.raises(RuntimeError, match="call load"):
        seg.prepare(photo("astronaut"))
    assert seg.load() is seg and seg.load() is seg  # idempotent
    assert seg.engine == "sam-hq tiny-test0"  # the folder's name, pytest numbers it
    model, _ = tiny_samhq()
    want = model.state_dict()
    got = seg._model.state_dict()
    assert all(torch.equal(got[k], want[k]) for k in want)  # the seeded weights came back from the folder
    assert seg._processor.image_processor.size["longest_edge"] == SIDE
    seg.close()
    assert not seg.loaded and seg.cache_info().size == 0
    with pytest.raises(RuntimeError, match="closed"):
        seg.prepare(photo("astronaut"))
    with pytest.raises(RuntimeError, match="closed"):
        seg.segment(photo("astronaut"), positive=[(5, 5)])
    with pytest.raises(RuntimeError, match="closed"):
        seg.load()
    with HQ.SamHQSegmenter(str(folder), device="cpu") as ctx:
        assert ctx.loaded
    assert not ctx.loaded


def test_a_missing_model_is_one_line(tmp_path):
    with pytest.raises(UserError, match="no SAM-HQ model .*nothing-here") as err:
        HQ.SamHQSegmenter(str(tmp_path / "nothing-here"), download=False).load()
    assert "\n" not in str(err.value) and "--engine" in str(err.value)
    with pytest.raises(UserError, match="no SAM-HQ model") as err:
        HQ.SamHQSegmenter("syscv-community/sam-hq-vit-base-not-cached", download=False).load()
    assert "\n" not in str(err.value)


def test_the_constructor_reads_nothing(tmp_path):
    seg = HQ.SamHQSegmenter(str(tmp_path / "not-there-yet"))  # no error until load()
    assert not seg.loaded and seg.model_id.endswith("not-there-yet")
    assert HQ.SamHQSegmenter().model_id == HQ.DEFAULT_SAMHQ_MODEL == "syscv-community/sam-hq-vit-base"


def test_engine_names():
    assert HQ.engine_name("syscv-community/sam-hq-vit-base") == "sam-hq vit_b"
    assert HQ.engine_name("syscv-community/sam-hq-vit-large") == "sam-hq vit_l"
    assert HQ.engine_name("/models/sam-hq-vit-huge/") == "sam-hq vit_h"
    assert HQ.engine_name("/models/mine") == "sam-hq mine"
    assert [HQ.engine_name(m) for m in HQ.SAMHQ_MODELS] == ["sam-hq vit_b", "sam-hq vit_l", "sam-hq vit_h"]


@pytest.mark.parametrize("size", [(96, 128), (300, 200), (17, 9)])
def test_masks_have_the_image_size_candidates_and_scores(shared, size):
    img = photo("astronaut", size)
    r = shared.segment(img, positive=[(size[1] // 2, size[0] // 2)])
    assert r.masks.shape == (3, *size) and r.masks.dtype == bool
    assert r.scores.shape == (3,) and r.scores.dtype == np.float32
    assert r.logits.shape == (3, LOW, LOW) and r.logits.dtype == np.float32
    assert r.best == int(np.argmax(r.scores)) and r.mask.shape == size
    assert r.ranked() == [0, 1, 2] and list(r.scores) == sorted(r.scores, reverse=True)  # the model sorts them
    assert not r.is_fallback and r.engine == shared.engine
    assert not r.masks.flags.writeable and not r.logits.flags.writeable
    one = shared.segment(img, positive=[(size[1] // 2, size[0] // 2)], multimask=False)
    assert one.masks.shape == (1, *size) and one.scores.shape == (1,) and one.logits.shape == (1, LOW, LOW)
    assert r.masks.any() and not r.masks.all()  # the seeded weights give masks with something in them


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
        early = spy.decoded[-1]["intermediate_embeddings"]
        assert len(early) == 1 and tuple(early[0].shape) == (1, SIDE // 16, SIDE // 16, WIDTH)  # HQ's extra input
    finally:
        spy.remove()


def test_the_cache_is_an_lru_of_cache_size(folder):
    seg = HQ.SamHQSegmenter(str(folder), device="cpu", cache_size=2).load()
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


def test_a_box_prompt_alone_and_with_clicks(seg):
    spy = Spy(seg._model)
    try:
        img = photo("chelsea", (192, 256))
        r = seg.segment(img, box=(32, 24, 160, 120))
        kw = spy.calls[-1]
        np.testing.assert_allclose(kw["input_boxes"][0, 0].numpy(), [16, 12, 80, 60])
        assert kw["input_points"] is None
        assert r.masks.shape == (3, 192, 256) and r.prompts.box is not None
        both = seg.segment(img, box=(32, 24, 160, 120), positive=[(80, 60)])
        assert spy.calls[-1]["input_points"].shape == (1, 1, 1, 2)
        assert spy.calls[-1]["input_boxes"].shape == (1, 1, 4)
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
        assert tuple(given.shape) == (1, 1, LOW, LOW)
        assert np.array_equal(given[0].numpy(), first.logits[first.best][None])
        plain = seg.segment(img, positive=[(64, 48)], negative=[(10, 10)])
        assert not np.allclose(second.logits, plain.logits)
        picked = first.select(first.ranked()[-1])  # the candidate the user picked is the one that goes on
        seg.segment(img, positive=[(64, 48)], previous=picked)
        assert np.array_equal(spy.calls[-1]["input_masks"][0].numpy(), first.logits[picked.best][None])
    finally:
        spy.remove()
    with pytest.raises(UserError, match="different image"):
        seg.segment(photo("coffee"), positive=[(5, 5)], previous=first)
    grabcut = S.GrabCutSegmenter().segment(img, positive=[(64, 48)])
    with pytest.raises(UserError, match="cannot refine"):
        seg.segment(img, positive=[(64, 48)], previous=grabcut)
    with pytest.raises(UserError, match="must be the Segmentation"):
        seg.segment(img, positive=[(64, 48)], previous=first.logits)
    other = HQ.SamHQSegmenter.from_model(*tiny_samhq(), name="other")  # another HQ model: another engine name
    with pytest.raises(UserError, match="cannot refine"):
        other.segment(img, positive=[(64, 48)], previous=first)


def test_a_previous_result_of_another_size_is_refused(seg):
    import dataclasses

    img = photo("rocket")
    first = seg.segment(img, positive=[(64, 48)])
    odd = dataclasses.replace(first, logits=np.zeros((3, 16, 16), np.float32))
    with pytest.raises(UserError, match="another SAM-HQ model"):
        seg.segment(img, positive=[(64, 48)], previous=odd)


def test_a_sam2_or_sam_result_cannot_refine_an_hq_mask(shared):
    from test_segment import seeded_tiny_sam

    image = photo("astronaut")
    sam1 = S.Segmenter.from_model(seeded_tiny_sam(), name="tiny")
    first = sam1.segment(image, positive=[(60, 40)])
    with pytest.raises(UserError, match="cannot refine"):
        shared.segment(image, positive=[(60, 40)], previous=first)
    hq = shared.segment(image, positive=[(60, 40)])
    with pytest.raises(UserError, match="cannot refine"):
        sam1.segment(image, positive=[(60, 40)], previous=hq)


def test_threads_give_the_serial_answers(folder):
    images = [photo("astronaut"), photo("coffee")]
    clicks = [[(30, 30)], [(90, 60)]]

    def session(s, i):
        first = s.segment(images[i], positive=clicks[i])
        return first, s.segment(images[i], positive=clicks[i], negative=[(5, 90)], previous=first)

    ref = HQ.SamHQSegmenter(str(folder), device="cpu").load()
    expected = [session(ref, i) for i in range(2)]
    ref.close()
    assert np.abs(expected[0][1].logits - expected[1][1].logits).max() > 1e-3  # a mix-up would show

    seg = HQ.SamHQSegmenter(str(folder), device="cpu", cache_size=1).load()  # evictions under load
    calls = []
    handle = seg._model.vision_encoder.register_forward_pre_hook(
        lambda m, a: calls.append(threading.Event().wait(0.01))
    )
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
        (dict(negative=[(10, 10)]), "at least one positive click or a box"),
        (dict(box=(50, 10, 50, 40)), "empty"),
        (dict(box=(10, 10, 129, 40)), "not inside the 128x96 image"),
        (dict(points=[(10, 10)], labels=[1, 0]), "1 points but 2 labels"),
    ],
)
def test_bad_prompts_are_one_line_user_errors(prompts, message, shared):
    with pytest.raises(UserError, match=message) as err:
        shared.segment(photo("astronaut"), **prompts)
    assert "\n" not in str(err.value)


def test_bad_images_are_user_errors(shared):
    for bad in (np.zeros((20, 20), np.uint8), np.zeros((20, 20, 4), np.uint8), np.zeros((20, 20, 3), np.float32)):
        with pytest.raises(UserError, match="HWC uint8 RGB"):
            shared.segment(bad, positive=[(1, 1)])
        with pytest.raises(UserError, match="HWC uint8 RGB"):
            shared.prepare(bad)


def test_from_model_and_import_is_light():
    import subprocess
    import sys

    code = "import sys, pipelines.segment.samhq; print('transformers' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
    model, processor = tiny_samhq()
    seg = HQ.SamHQSegmenter.from_model(model, processor, name="toy")
    assert seg.engine == "sam-hq toy" and seg.loaded
    assert seg.segment(photo("coffee"), positive=[(3, 3)]).masks.shape == (3, 96, 128)


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
    from pipelines import segment as S

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
