"""The Segmenter interface of the two transformers segmenters (pipelines/segment/base.py TransformersSegmenter):
SAM 2.1 (sam2.py) and HQ-SAM (samhq.py), one suite run for each. Nothing here touches the network.

Each engine gets a tiny random model built from its config (SAM 2.1: a 4-stage Hiera at 128 px input, widths 8-64,
an FPN and decoder of width 32; HQ-SAM: a 2-block ViT of width 32 at 128 px input, the second block global; both:
an 8x8 embedding, 32x32 low-res masks), its weights drawn from a local torch.Generator, saved with
save_pretrained next to its processor (at the same size) and loaded back through Cls(model_id=folder).load(), the
code path a user's model takes. Their masks mean nothing; the tests check the plumbing: sizes, candidates, the
probabilities, the embedding cache, refinement, boxes, threads, errors. What only one engine does (how prompts
are scaled to its input, its post-processing against its processor's, make_segmenter, the CLI) is tested in
test_sam2.py and test_samhq.py, which build their models with the builders here.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import cv2
import numpy as np
import pytest
import skimage.data
import torch

from pipelines import segment as S
from pipelines.errors import UserError
from pipelines.segment import prompts as P
from pipelines.segment import sam2 as S2
from pipelines.segment import samhq as HQ

SIDE = 128  # the tiny models' square input
WIDTH = 32
LOW = SIDE // 4  # the low-resolution logits' side


# --------------------------------------------------------------------------------------------------------------
# Tiny models, photos, a spy
# --------------------------------------------------------------------------------------------------------------


def seed_weights(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Draw ``model``'s floating-point weights from a local generator, scaled so that masks are neither empty nor
    full (the global torch generator is untouched)."""
    g = torch.Generator().manual_seed(seed)
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
    return model


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
    model = seed_weights(Sam2Model(config).eval())
    image_processor = Sam2ImageProcessor(
        size={"height": SIDE, "width": SIDE}, mask_size={"height": LOW, "width": LOW}
    )
    return model, Sam2Processor(image_processor=image_processor)


def tiny_samhq():
    """(SamHQModel, SamHQProcessor) at toy size with seeded weights (longest side 128, padded to 128x128)."""
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
    model = seed_weights(SamHQModel(config).eval())
    image_processor = SamImageProcessor(
        size={"longest_edge": SIDE}, pad_size={"height": SIDE, "width": SIDE},
        mask_size={"longest_edge": LOW}, mask_pad_size={"height": LOW, "width": LOW},
    )
    return model, SamHQProcessor(image_processor=image_processor)


def save_tiny(tmp_path_factory, build: Callable[[], tuple[Any, Any]], basename: str) -> Path:
    """A folder (``basename`` numbered by pytest) holding ``build()``'s model and processor, saved with
    save_pretrained."""
    path = tmp_path_factory.mktemp(basename)
    model, processor = build()
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


def photo(name: str, size=(96, 128)) -> np.ndarray:
    """skimage's ``name`` photo resized to ``size`` (H, W): HWC uint8 RGB."""
    img = getattr(skimage.data, name)()
    return np.ascontiguousarray(cv2.resize(img, (size[1], size[0]), interpolation=cv2.INTER_AREA))


class Spy:
    """Counts vision-encoder passes and records what the model's prompt encoder and mask decoder receive."""

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


# --------------------------------------------------------------------------------------------------------------
# The engines
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Engine:
    """What the shared tests need to know of one engine; the details in which the engines differ are fields."""

    id: str
    module: ModuleType
    cls: type
    build: Callable[[], tuple[Any, Any]]  # a tiny seeded (model, processor)
    folder: Path  # that model saved with save_pretrained
    family: str  # the model's name in messages
    prefix: str  # the engine name's first word
    folder_prefix: str  # what engine_name() strips off the saved folder's name
    default_attr: str  # the module's constant naming the default model
    default_model: str
    uncached_model: str  # a hub id that is not in the cache
    processor_side: Callable[[Any], bool]  # the saved processor's input side is SIDE
    sorts_candidates: bool  # the model answers with its candidates sorted by predicted IoU
    box_case: tuple  # (image size, box, click, the box as the model's input receives it)
    padded: bool  # the image is resized to fit the model's square and padded (else resized onto all of it)

    def frame(self, seg, image: np.ndarray) -> P.LogitsFrame:
        """Where ``seg``'s logits for ``image`` lie over it. SAM 2.1: the image is resized onto the whole square, no
        padding. HQ-SAM: its longest side is resized to the model's side S, to (h', w') = round(H * S / max(H, W)),
        round(W * S / max(H, W)), and padded bottom/right to S x S (checked against the processor's own sizes)."""
        if not self.padded:
            return P.LogitsFrame()
        h, w = image.shape[:2]
        inside = (int(h * SIDE / max(h, w) + 0.5), int(w * SIDE / max(h, w) + 0.5))
        reshaped = seg._processor(images=image, return_tensors="pt")["reshaped_input_sizes"][0]
        assert inside == tuple(int(s) for s in reshaped)  # the processor agrees
        return P.LogitsFrame((SIDE, SIDE), inside)

    def make(self, **kwargs):
        """A loaded segmenter on the saved folder (no download)."""
        return self.cls(str(self.folder), device="cpu", download=False, **kwargs).load()


ENGINES = {
    "sam2": dict(
        module=S2, cls=S2.Sam2Segmenter, build=tiny_sam2, basename="sam2.1-tiny-test", family="SAM 2.1",
        prefix="sam2.1", folder_prefix="sam2.1-", default_attr="DEFAULT_SAM2_MODEL",
        default_model="facebook/sam2.1-hiera-tiny",
        uncached_model="facebook/sam2.1-hiera-tiny-not-cached",
        processor_side=lambda p: p.image_processor.size == {"height": SIDE, "width": SIDE},
        sorts_candidates=False,
        # 128 x 96 -> 128 x 128: y is scaled by 4/3
        box_case=((96, 128), (16, 12, 80, 60), (40, 30), [16, 16, 80, 80]),
        padded=False,
    ),
    "sam-hq": dict(
        module=HQ, cls=HQ.SamHQSegmenter, build=tiny_samhq, basename="sam-hq-tiny-test", family="SAM-HQ",
        prefix="sam-hq", folder_prefix="sam-hq-", default_attr="DEFAULT_SAMHQ_MODEL",
        default_model="syscv-community/sam-hq-vit-base",
        uncached_model="syscv-community/sam-hq-vit-base-not-cached",
        processor_side=lambda p: p.image_processor.size["longest_edge"] == SIDE,
        sorts_candidates=True,
        # 256 x 192 -> 128 x 96: both halved
        box_case=((192, 256), (32, 24, 160, 120), (80, 60), [16, 12, 80, 60]),
        padded=True,
    ),
}


@pytest.fixture(scope="module", params=list(ENGINES))
def engine(request, tmp_path_factory) -> Engine:
    spec = dict(ENGINES[request.param])
    folder = save_tiny(tmp_path_factory, spec["build"], spec.pop("basename"))
    return Engine(id=request.param, folder=folder, **spec)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # toy-sized matrices: more threads on a 2-core runner only spin
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def shared(engine):
    """One loaded segmenter per engine for the read-only tests."""
    seg = engine.make()
    yield seg
    seg.close()


@pytest.fixture
def seg(engine):
    s = engine.make()
    yield s
    s.close()


# --------------------------------------------------------------------------------------------------------------
# Lifecycle
# --------------------------------------------------------------------------------------------------------------


def test_lifecycle_loads_the_saved_folder_and_nothing_before(engine):
    seg = engine.cls(str(engine.folder), device="cpu", download=False)
    assert not seg.loaded and seg._model is None
    with pytest.raises(RuntimeError, match="call load"):
        seg.segment(photo("astronaut"), positive=[(5, 5)])
    with pytest.raises(RuntimeError, match="call load"):
        seg.prepare(photo("astronaut"))
    assert seg.load() is seg and seg.load() is seg  # idempotent
    suffix = engine.folder.name.removeprefix(engine.folder_prefix)
    assert re.fullmatch(r"tiny-test\d+", suffix)  # the folder's name, pytest numbers it
    assert seg.engine == f"{engine.prefix} {suffix}"
    model, _ = engine.build()
    want = model.state_dict()
    got = seg._model.state_dict()
    assert all(torch.equal(got[k], want[k]) for k in want)  # the seeded weights came back from the folder
    assert engine.processor_side(seg._processor)
    seg.close()
    assert not seg.loaded and seg.cache_info().size == 0
    with pytest.raises(RuntimeError, match="closed"):
        seg.prepare(photo("astronaut"))
    with pytest.raises(RuntimeError, match="closed"):
        seg.segment(photo("astronaut"), positive=[(5, 5)])
    with pytest.raises(RuntimeError, match="closed"):
        seg.load()
    with engine.cls(str(engine.folder), device="cpu", download=False) as ctx:
        assert ctx.loaded
    assert not ctx.loaded


def test_a_missing_model_is_one_line(engine, tmp_path):
    family = re.escape(engine.family)
    with pytest.raises(UserError, match=f"no {family} model .*nothing-here") as err:
        engine.cls(str(tmp_path / "nothing-here"), download=False).load()
    assert "\n" not in str(err.value) and "--engine" in str(err.value)
    with pytest.raises(UserError, match=f"no {family} model") as err:
        engine.cls(engine.uncached_model, download=False).load()
    assert "\n" not in str(err.value)


def test_the_constructor_reads_nothing(engine, tmp_path):
    seg = engine.cls(str(tmp_path / "not-there-yet"))  # no error until load()
    assert not seg.loaded and seg.model_id.endswith("not-there-yet")
    assert engine.cls().model_id == getattr(engine.module, engine.default_attr) == engine.default_model


def test_from_model_and_import_is_light(engine):
    code = f"import sys, {engine.module.__name__}; print('transformers' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
    model, processor = engine.build()
    seg = engine.cls.from_model(model, processor, name="toy")
    assert seg.engine == f"{engine.prefix} toy" and seg.loaded
    assert seg.segment(photo("coffee"), positive=[(3, 3)]).masks.shape == (3, 96, 128)


# --------------------------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(96, 128), (300, 200), (17, 9)], ids="{0[0]}x{0[1]}".format)
def test_masks_have_the_image_size_candidates_and_scores(engine, shared, size):
    img = photo("astronaut", size)
    r = shared.segment(img, positive=[(size[1] // 2, size[0] // 2)])
    assert r.masks.shape == (3, *size) and r.masks.dtype == bool
    assert r.scores.shape == (3,) and r.scores.dtype == np.float32
    assert r.logits.shape == (3, LOW, LOW) and r.logits.dtype == np.float32
    assert r.best == int(np.argmax(r.scores)) and r.mask.shape == size
    assert r.ranked() == [int(i) for i in np.argsort(-r.scores, kind="stable")]
    if engine.sorts_candidates:
        assert r.ranked() == [0, 1, 2] and list(r.scores) == sorted(r.scores, reverse=True)  # the model sorts them
    assert not r.is_fallback and r.engine == shared.engine and r.engine.startswith(engine.prefix)
    assert not r.masks.flags.writeable and not r.logits.flags.writeable and not r.scores.flags.writeable
    one = shared.segment(img, positive=[(size[1] // 2, size[0] // 2)], multimask=False)
    assert one.masks.shape == (1, *size) and one.scores.shape == (1,) and one.logits.shape == (1, LOW, LOW)
    assert r.masks.any() and not r.masks.all()  # the seeded weights give masks with something in them


@pytest.mark.parametrize("multimask", [True, False], ids=["multimask", "single"])
@pytest.mark.parametrize("size", [(96, 128), (300, 200), (17, 9), (1000, 70), (128, 128)], ids="{0[0]}x{0[1]}".format)
def test_probabilities_are_the_masks_soft(engine, shared, size, multimask):
    """probabilities(i): HW float32 in [0, 1], the sigmoid of candidate i's logits upscaled in the result's frame;
    > 0.5 is masks[i] except at pixels whose upscaled logit is within float rounding of 0."""
    img = photo("coffee", size)
    r = shared.segment(img, positive=[(size[1] // 3, size[0] // 3)], multimask=multimask)
    assert isinstance(r.frame, P.LogitsFrame) and r.frame == engine.frame(shared, img)
    up = P.upscale_logits(r.logits, size, r.frame)
    assert np.array_equal(up > 0, r.masks)  # the frame is the one the masks were made in
    for i in range(len(r.masks)):
        p = r.probabilities(i)
        assert isinstance(p, np.ndarray) and p.shape == size and p.dtype == np.float32
        assert np.all((p >= 0) & (p <= 1))  # (a NaN fails this too)
        np.testing.assert_allclose(p, 1 / (1 + np.exp(-up[i].astype(np.float64))), rtol=0, atol=1e-6)
        sure = np.abs(up[i]) > 1e-5
        assert sure.mean() > 0.99  # the exclusion below is a few pixels at most
        assert np.array_equal((p > 0.5)[sure], r.masks[i][sure])
    assert np.array_equal(r.probabilities(), r.probabilities(r.best))  # the default is the chosen candidate
    picked = r.select(r.ranked()[-1])
    assert np.array_equal(picked.probabilities(), r.probabilities(picked.best))
    for bad in (len(r.masks), -1, 99):
        with pytest.raises(UserError, match=f"candidate {bad} does not exist") as err:
            r.probabilities(bad)
        assert "\n" not in str(err.value)
    assert dataclasses.replace(r, logits=None).probabilities() is None


# --------------------------------------------------------------------------------------------------------------
# The embedding cache
# --------------------------------------------------------------------------------------------------------------


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


def test_the_cache_is_an_lru_of_cache_size(engine):
    seg = engine.make(cache_size=2)
    spy = Spy(seg._model)
    try:
        a, b, c = photo("astronaut"), photo("coffee"), photo("chelsea")
        for img in (a, b, a, c, a, b):  # b is dropped by c, a stays in use
            seg.prepare(img)
        assert spy.encodes == 4 and seg.cache_info().size == 2
    finally:
        spy.remove()
        seg.close()


# --------------------------------------------------------------------------------------------------------------
# Prompts and refinement
# --------------------------------------------------------------------------------------------------------------


def test_a_box_prompt_alone_and_with_clicks(engine, seg):
    size, box, click, scaled = engine.box_case
    spy = Spy(seg._model)
    try:
        img = photo("chelsea", size)
        r = seg.segment(img, box=box)
        kw = spy.calls[-1]
        np.testing.assert_allclose(kw["input_boxes"][0, 0].numpy(), scaled)
        assert kw["input_points"] is None
        assert r.masks.shape == (3, *size) and r.prompts.box is not None
        both = seg.segment(img, box=box, positive=[click])
        assert spy.calls[-1]["input_points"].shape == (1, 1, 1, 2)
        assert spy.calls[-1]["input_boxes"].shape == (1, 1, 4)
        assert not np.allclose(both.logits, r.logits)
    finally:
        spy.remove()


def test_refinement_feeds_the_previous_chosen_logits(engine, seg):
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
    other = engine.cls.from_model(*engine.build(), name="other")  # another model of the family: another engine
    with pytest.raises(UserError, match="cannot refine"):
        other.segment(img, positive=[(64, 48)], previous=first)


def test_a_previous_result_of_another_size_is_refused(engine, seg):
    img = photo("rocket")
    first = seg.segment(img, positive=[(64, 48)])
    odd = dataclasses.replace(first, logits=np.zeros((3, 16, 16), np.float32))
    with pytest.raises(UserError, match=f"another {re.escape(engine.family)} model") as err:
        seg.segment(img, positive=[(64, 48)], previous=odd)
    assert "\n" not in str(err.value)


def test_a_result_of_one_transformers_engine_cannot_refine_the_other():
    """Both have logits of the same size (32x32 here, 256x256 for the released models): the engine must match."""
    sam2 = S2.Sam2Segmenter.from_model(*tiny_sam2(), name="toy")
    hq = HQ.SamHQSegmenter.from_model(*tiny_samhq(), name="toy")
    image = photo("astronaut")
    for a, b in ((sam2, hq), (hq, sam2)):
        first = a.segment(image, positive=[(60, 40)])
        assert first.logits.shape[1:] == b.segment(image, positive=[(60, 40)]).logits.shape[1:]
        with pytest.raises(UserError, match="cannot refine"):
            b.segment(image, positive=[(60, 40)], previous=first)


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
    with pytest.raises(UserError, match=message) as err:
        shared.segment(photo("astronaut"), **prompts)
    assert "\n" not in str(err.value)


def test_bad_images_are_user_errors(shared):
    for bad in (np.zeros((20, 20), np.uint8), np.zeros((20, 20, 4), np.uint8), np.zeros((20, 20, 3), np.float32)):
        with pytest.raises(UserError, match="HWC uint8 RGB"):
            shared.segment(bad, positive=[(1, 1)])
        with pytest.raises(UserError, match="HWC uint8 RGB"):
            shared.prepare(bad)


# --------------------------------------------------------------------------------------------------------------
# Threads
# --------------------------------------------------------------------------------------------------------------


def test_threads_give_the_serial_answers(engine):
    images = [photo("astronaut"), photo("coffee")]
    clicks = [[(30, 30)], [(90, 60)]]

    def session(s, i):
        first = s.segment(images[i], positive=clicks[i])
        return first, s.segment(images[i], positive=clicks[i], negative=[(5, 90)], previous=first)

    ref = engine.make()
    expected = [session(ref, i) for i in range(2)]
    ref.close()
    assert np.abs(expected[0][1].logits - expected[1][1].logits).max() > 1e-3  # a mix-up would show

    seg = engine.make(cache_size=1)  # evictions under load
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
