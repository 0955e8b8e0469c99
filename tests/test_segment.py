"""Click-to-segment (pipelines/segment/ and the segment command). Nothing here touches the network.

SAM: a tiny random SAM is built from segment_anything.modeling classes (64 px input, 8x8 embedding), seeded through a
local torch.Generator, saved with torch.save(state_dict) and loaded back through the same checkpoint code a user's
vit_b file takes (Segmenter.load -> resolve_checkpoint -> shared_sam -> load_sam). Its masks mean nothing; the
tests check the plumbing: caching, prompts reaching the model, candidates, refinement, threads, errors.

GrabCut: objects with a known matte pasted into real photos (scikit-image's and tests/data/segment's): a silhouette
(skimage's horse, an ellipse, a random blob) filled with another photo's texture in a colour distinct from its
surroundings. The 9 scenes below (one per photo) were fixed before they were first run. Set SEGMENT_SWEEP=1 to run
the full 9 photos x 3 shapes sweep on other draws and print the table (click 89%, box 74% when written: GrabCut is
a colour model; SAM is the real engine; click 93%, box 78% with issue 11's smoothed-colour-and-texture model).
"""

from __future__ import annotations

import io as _io
import json
import os
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data
import torch
from scipy import ndimage

from pipelines import cli
from pipelines import io as image_io
from pipelines import segment as S
from pipelines.errors import UserError
from pipelines.io import load_image
from pipelines.segment import checkpoints as CK
from pipelines.segment import grabcut as GC
from pipelines.segment import ranking

DATA = Path(__file__).parent / "data" / "segment"
TINY = "tiny-test"
TINY_INPUT = 64


# ----------------------------------------------------------------------------------------------------------------
# A tiny SAM
# ----------------------------------------------------------------------------------------------------------------


def build_tiny_sam():
    """SAM's architecture at toy size: 64 px input, patch 8 (an 8x8 embedding, 32x32 low-res masks), width 16."""
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    dim, patch = 16, 8
    grid = TINY_INPUT // patch
    return Sam(
        image_encoder=ImageEncoderViT(
            img_size=TINY_INPUT, patch_size=patch, embed_dim=16, depth=2, num_heads=2, mlp_ratio=2.0,
            out_chans=dim, qkv_bias=True, norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), use_rel_pos=True,
            window_size=4, global_attn_indexes=(1,),
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=dim, image_embedding_size=(grid, grid), input_image_size=(TINY_INPUT, TINY_INPUT),
            mask_in_chans=4,
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(depth=2, embedding_dim=dim, mlp_dim=32, num_heads=2),
            transformer_dim=dim, iou_head_depth=2, iou_head_hidden_dim=16,
        ),
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375],
    ).eval()


def seeded_tiny_sam(seed: int = 0):
    """A tiny SAM with weights drawn from a local generator (scaled so that masks are neither empty nor full)."""
    sam = build_tiny_sam()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in sam.state_dict().items():
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
    return sam


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any attempt to download in this module fails the test (download tests install their own fake)."""

    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to reach the network")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    builds = []

    def builder():
        builds.append(1)
        return build_tiny_sam()

    spec = S.SamModelSpec(TINY, builder, "sam_tiny_test.pth", url=None)
    S.register_sam_model(spec, replace=True)
    path = tmp_path_factory.mktemp("sam") / "tiny.pth"
    torch.save(seeded_tiny_sam().state_dict(), path)
    yield path, builds
    S.SAM_MODELS.pop(TINY, None)
    S.release_shared_models()


@pytest.fixture
def segmenter(tiny_checkpoint):
    seg = S.Segmenter(TINY, tiny_checkpoint[0], device="cpu").load()
    yield seg
    seg.close()


class Spy:
    """Counts image-encoder passes and records what the prompt encoder receives."""

    def __init__(self, model):
        self.encodes = 0
        self.prompts = []
        self._handles = [
            model.image_encoder.register_forward_hook(self._encoded),
            model.prompt_encoder.register_forward_pre_hook(self._prompted, with_kwargs=True),
        ]

    def _encoded(self, module, args, output):
        self.encodes += 1

    def _prompted(self, module, args, kwargs):
        self.prompts.append(kwargs)

    def remove(self):
        for h in self._handles:
            h.remove()


@pytest.fixture
def spy(segmenter):
    s = Spy(segmenter._model)
    yield s
    s.remove()


def photo(name: str, size=(96, 128)) -> np.ndarray:
    """A real photo from scikit-image, resized to (H, W) = ``size``, HWC uint8 RGB."""
    img = getattr(skimage.data, name)()
    return np.ascontiguousarray(cv2.resize(img, (size[1], size[0]), interpolation=cv2.INTER_AREA))


# ----------------------------------------------------------------------------------------------------------------
# SAM: lifecycle, loading, caching, prompts, refinement, threads
# ----------------------------------------------------------------------------------------------------------------


def test_lifecycle_and_weights_loaded_from_the_checkpoint(tiny_checkpoint):
    path, _ = tiny_checkpoint
    seg = S.Segmenter(TINY, path, device="cpu")  # builds and reads nothing
    assert not seg.loaded
    img = photo("astronaut")
    with pytest.raises(RuntimeError, match="load"):
        seg.segment(img, positive=[(10, 10)])
    with pytest.raises(RuntimeError, match="load"):
        seg.prepare(img)
    seg.load()
    saved = torch.load(path, weights_only=True)
    for name, value in seg._model.state_dict().items():
        assert torch.equal(value, saved[name]), name
    result = seg.segment(img, positive=[(10, 10)])
    assert result.engine == f"sam {TINY}" and not result.is_fallback
    seg.close()
    with pytest.raises(RuntimeError, match="closed"):
        seg.segment(img, positive=[(10, 10)])
    with pytest.raises(RuntimeError, match="closed"):
        seg.load()


def test_model_is_loaded_once_and_shared(tiny_checkpoint):
    path, builds = tiny_checkpoint
    S.release_shared_models()
    before = len(builds)
    segs = [S.Segmenter(TINY, path, device="cpu") for _ in range(4)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda s: s.load(), segs))
    assert len(builds) - before == 1
    assert all(s._model is segs[0]._model for s in segs)
    for s in segs:
        s.close()


def test_bad_checkpoints_are_one_clear_error(tiny_checkpoint, tmp_path):
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="garbage.pth is not a readable SAM checkpoint"):
        S.Segmenter(TINY, garbage).load()
    partial_state = dict(seeded_tiny_sam().state_dict())
    partial_state.pop(next(iter(partial_state)))
    wrong = tmp_path / "wrong.pth"
    torch.save(partial_state, wrong)
    with pytest.raises(ValueError, match=f"does not match SAM model type '{TINY}'"):
        S.Segmenter(TINY, wrong).load()
    with pytest.raises(ValueError, match="does not exist"):
        S.Segmenter(TINY, tmp_path / "missing.pth").load()
    with pytest.raises(ValueError, match="unknown SAM model type 'vit_x'"):
        S.Segmenter("vit_x")


def test_one_embedding_for_many_clicks_and_prepare_ahead(segmenter, spy):
    img = photo("coffee")
    key = segmenter.prepare(img)
    assert key == S.image_key(img) and spy.encodes == 1
    for x in range(5, 120, 12):
        segmenter.segment(img, positive=[(x, 40)])
    segmenter.segment(img.copy(), box=(10, 10, 90, 80))  # same pixels, another array: still cached
    assert spy.encodes == 1
    info = segmenter.cache_info()
    assert info.misses == 1 and info.hits == 11 and info.size == 1


def test_embedding_cache_is_a_small_lru(tiny_checkpoint):
    seg = S.Segmenter(TINY, tiny_checkpoint[0], device="cpu", cache_size=2).load()
    spy = Spy(seg._model)
    try:
        a, b, c = photo("astronaut"), photo("coffee"), photo("chelsea")
        for img in (a, b, a, c):  # a is used again before c arrives, so b is the one evicted
            seg.segment(img, positive=[(20, 20)])
        assert spy.encodes == 3
        seg.segment(a, positive=[(20, 20)])
        assert spy.encodes == 3
        seg.segment(b, positive=[(20, 20)])
        assert spy.encodes == 4
    finally:
        spy.remove()
        seg.close()


def test_multimask_candidates_scores_and_selection(segmenter):
    img = photo("astronaut")
    r = segmenter.segment(img, positive=[(60, 40)])
    assert r.masks.shape == (3, 96, 128) and r.masks.dtype == bool
    assert r.scores.shape == (3,) and r.logits.shape == (3, 32, 32)
    assert r.best == int(np.argmax(r.scores))
    assert np.array_equal(r.mask, r.masks[r.best])
    order = r.ranked()
    assert order[0] == r.best and list(r.scores[order]) == sorted(r.scores, reverse=True)
    other = r.select(order[-1])
    assert other.best == order[-1] and np.array_equal(other.mask, r.masks[order[-1]])
    with pytest.raises(ValueError, match="candidate 3 does not exist"):
        r.select(3)
    single = segmenter.segment(img, positive=[(60, 40)], multimask=False)
    assert single.masks.shape == (1, 96, 128) and single.best == 0
    assert not r.masks.flags.writeable  # results are shared with the UI: read-only


@pytest.mark.parametrize("size", [(96, 128), (17, 9), (300, 200)])
def test_probabilities_are_the_sigmoid_of_the_logits_the_masks_come_from(segmenter, size):
    """SAM 1: probabilities(i) > 0.5 is candidate i's mask (bar pixels whose logit is ~0), in [0, 1], computed with
    the padded square's frame; GrabCut has none."""
    from pipelines.segment.prompts import LogitsFrame, upscale_logits

    h, w = size
    img = cv2.resize(photo("astronaut"), (w, h), interpolation=cv2.INTER_AREA)
    r = segmenter.segment(img, positive=[(w // 2, h // 2)])
    assert isinstance(r.frame, LogitsFrame) and r.frame.pad_size is not None
    for i in range(len(r.masks)):
        p = r.probabilities(i)
        assert p.shape == (h, w) and p.dtype == np.float32 and 0 <= p.min() and p.max() <= 1
        logits = upscale_logits(r.logits[i:i + 1], (h, w), r.frame)[0]
        sure = np.abs(logits) > 1e-5
        assert np.array_equal((p > 0.5)[sure], r.masks[i][sure])
    assert np.array_equal(r.probabilities(), r.probabilities(r.best))
    with pytest.raises(UserError, match="candidate 3 does not exist"):
        r.probabilities(3)
    assert S.GrabCutSegmenter().segment(photo("astronaut"), box=(20, 10, 100, 90)).probabilities() is None


def test_prompts_reach_the_model_and_negative_clicks_change_the_mask(segmenter, spy):
    img = photo("chelsea")
    pos = segmenter.segment(img, positive=[(64, 48)])
    both = segmenter.segment(img, positive=[(64, 48)], negative=[(100, 20)])
    points, labels = spy.prompts[-1]["points"]
    assert labels.tolist() == [[1, 0]]
    # coordinates are scaled from the 128x96 image to the model's 64 px input
    assert np.allclose(points[0].numpy(), [[32.0, 24.0], [50.0, 10.0]])
    assert not np.array_equal(pos.mask, both.mask)
    assert not np.allclose(pos.logits, both.logits)
    assert both.prompts.labels.tolist() == [1, 0]
    # points + labels is the same request as positive/negative
    same = segmenter.segment(img, points=[(64, 48), (100, 20)], labels=[1, 0])
    assert np.array_equal(same.logits, both.logits)
    boxed = segmenter.segment(img, box=(20, 10, 110, 90))
    assert spy.prompts[-1]["points"] is None
    assert np.allclose(spy.prompts[-1]["boxes"].numpy(), [[10.0, 5.0, 55.0, 45.0]])
    assert boxed.masks.shape == (3, 96, 128)


def test_refinement_feeds_the_previous_best_logits_as_mask_input(segmenter, spy):
    img = photo("rocket")
    first = segmenter.segment(img, positive=[(64, 48)])
    assert spy.prompts[-1]["masks"] is None
    second = segmenter.segment(img, positive=[(64, 48)], negative=[(10, 10)], previous=first)
    given = spy.prompts[-1]["masks"]
    assert tuple(given.shape) == (1, 1, 32, 32)
    assert np.array_equal(given[0].numpy(), first.logits[first.best][None])
    assert not np.allclose(second.logits, segmenter.segment(img, positive=[(64, 48)], negative=[(10, 10)]).logits)
    # the candidate the user picked is the one that goes on
    picked = first.select(first.ranked()[-1])
    segmenter.segment(img, positive=[(64, 48)], negative=[(10, 10)], previous=picked)
    assert np.array_equal(spy.prompts[-1]["masks"][0].numpy(), first.logits[picked.best][None])
    with pytest.raises(ValueError, match="different image"):
        segmenter.segment(photo("coffee"), positive=[(5, 5)], previous=first)
    grabcut = S.GrabCutSegmenter().segment(img, positive=[(64, 48)])
    with pytest.raises(ValueError, match="cannot refine a SAM mask"):
        segmenter.segment(img, positive=[(64, 48)], previous=grabcut)


def test_concurrent_users_never_get_each_others_masks(tiny_checkpoint):
    names = ["astronaut", "coffee", "chelsea", "rocket"]
    images = [photo(n) for n in names]
    clicks = [[(30, 30)], [(90, 60)], [(64, 20)], [(100, 80)]]

    def session(seg, i):
        """One user: a click, then a refinement with a negative click."""
        first = seg.segment(images[i], positive=clicks[i])
        second = seg.segment(images[i], positive=clicks[i], negative=[(5, 90)], previous=first)
        return first, second

    ref = S.Segmenter(TINY, tiny_checkpoint[0], device="cpu").load()
    expected = [session(ref, i) for i in range(4)]
    ref.close()
    for i in range(4):  # the images' answers differ, so a mix-up would show
        for j in range(i + 1, 4):
            assert np.abs(expected[i][1].logits - expected[j][1].logits).max() > 1e-3

    seg = S.Segmenter(TINY, tiny_checkpoint[0], device="cpu", cache_size=2).load()  # evictions under load
    spy = Spy(seg._model)
    barrier = threading.Barrier(8)

    def user(k):
        barrier.wait()
        return [session(seg, k % 4) for _ in range(3)]

    try:
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(user, range(8)))
    finally:
        spy.remove()
        seg.close()
    for k, runs in enumerate(results):
        want = expected[k % 4]
        for got in runs:
            for g, w in zip(got, want):
                assert g.image_key == w.image_key
                np.testing.assert_allclose(g.logits, w.logits, rtol=1e-4, atol=1e-6)
                assert np.mean(g.masks != w.masks) < 1e-3
    assert spy.encodes >= 4


def test_an_embedding_in_progress_is_waited_for_not_recomputed(segmenter):
    img = photo("chelsea")
    model = segmenter._model
    calls = []

    def slow(module, args):
        calls.append(1)
        threading.Event().wait(0.2)

    handle = model.image_encoder.register_forward_pre_hook(slow)
    barrier = threading.Barrier(4)

    def user(_):
        barrier.wait()
        return segmenter.segment(img, positive=[(40, 40)])

    try:
        with ThreadPoolExecutor(4) as pool:
            out = list(pool.map(user, range(4)))
    finally:
        handle.remove()
    assert len(calls) == 1
    assert all(np.array_equal(o.logits, out[0].logits) for o in out)


# ----------------------------------------------------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "prompts, message",
    [
        (dict(positive=[(128, 10)]), r"positive click \(128, 10\) is outside the 128x96 image"),
        (dict(positive=[(-1, 10)]), "outside"),
        (dict(positive=[(10, 10)], negative=[(10, 96)]), r"negative click \(10, 96\) is outside"),
        (dict(negative=[(10, 10)]), "at least one positive click or a box"),
        (dict(), "at least one positive click or a box"),
        (dict(box=(50, 10, 50, 40)), "empty"),
        (dict(box=(60, 10, 50, 40)), "empty"),
        (dict(box=(10, 40, 50, 10)), "empty"),
        (dict(box=(10, 10, 129, 40)), "not inside the 128x96 image"),
        (dict(box=(-5, 10, 50, 40)), "not inside"),
        (dict(box=(1, 2, 3)), "four"),
        (dict(positive=[(float("nan"), 3)]), "non-finite"),
        (dict(positive=(10, 10)), "list of"),
        (dict(points=[(10, 10)], labels=[1, 0]), "1 points but 2 labels"),
        (dict(points=[(10, 10)], labels=[2]), "labels must be 1"),
        (dict(points=[(10, 10)], labels=[1], positive=[(3, 3)]), "not both"),
    ],
)
def test_bad_prompts_are_clear_value_errors(prompts, message, segmenter):
    img = photo("astronaut")
    with pytest.raises(ValueError, match=message):
        S.check_prompts(img.shape[:2], **prompts)
    with pytest.raises(ValueError, match=message):
        segmenter.segment(img, **prompts)
    with pytest.raises(ValueError, match=message):
        S.GrabCutSegmenter().segment(img, **prompts)


def test_bad_images_are_clear_value_errors(segmenter):
    for bad in (np.zeros((20, 20), np.uint8), np.zeros((20, 20, 4), np.uint8), np.zeros((20, 20, 3), np.float32),
                [[1, 2], [3, 4]]):
        with pytest.raises(ValueError, match="HWC uint8 RGB"):
            segmenter.segment(bad, positive=[(1, 1)])


def test_images_over_the_pixel_limit_are_refused(segmenter, monkeypatch):
    # 8001 x 8001 = 64.016 MP, a read-only view of one pixel: it costs no memory, so nothing may copy it first
    huge = np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (8001, 8001, 3))
    for call in (lambda: S.check_image(huge), lambda: segmenter.prepare(huge),
                 lambda: segmenter.segment(huge, positive=[(5, 5)]), lambda: S.GrabCutSegmenter().prepare(huge),
                 lambda: S.GrabCutSegmenter().segment(huge, box=(0, 0, 100, 100))):
        with pytest.raises(UserError, match=r"8001x8001.*megapixels"):
            call()
    monkeypatch.setattr(image_io, "MAX_PIXELS", 399)  # the project's limit, wherever it is set
    with pytest.raises(UserError, match="megapixels"):
        S.GrabCutSegmenter().segment(np.zeros((20, 20, 3), np.uint8), positive=[(5, 5)])
    assert S.check_image(np.zeros((19, 21, 3), np.uint8)).shape == (19, 21, 3)


# ----------------------------------------------------------------------------------------------------------------
# Checkpoints: cache folder, one download with progress, offline error
# ----------------------------------------------------------------------------------------------------------------


class FakeResponse(_io.BytesIO):
    def __init__(self, data: bytes, length: int | None = None):
        super().__init__(data)
        self.headers = {} if length is None else {"Content-Length": str(length)}


@pytest.fixture
def downloadable(tiny_checkpoint):
    """A model type whose 'official address' is served by a fake urlopen from the tiny checkpoint's bytes."""
    spec = S.SamModelSpec("tiny-dl", build_tiny_sam, "sam_tiny_dl_0000.pth", "https://example.invalid/sam.pth")
    S.register_sam_model(spec, replace=True)
    yield spec, tiny_checkpoint[0].read_bytes()
    S.SAM_MODELS.pop("tiny-dl", None)


def test_checkpoint_is_downloaded_once_atomically_with_progress(downloadable, tmp_path, monkeypatch):
    spec, data = downloadable
    calls, progress = [], []

    def fake_urlopen(url, timeout=None):
        calls.append(url)
        return FakeResponse(data, len(data))

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    monkeypatch.setattr(CK, "_DOWNLOAD_CHUNK", 4096)
    seg = S.Segmenter("tiny-dl", cache_dir=tmp_path, device="cpu")  # the constructor downloads nothing
    assert calls == []
    seg.load(progress=lambda done, total: progress.append((done, total)))
    target = tmp_path / spec.filename
    assert calls == [spec.url] and target.read_bytes() == data
    assert progress[0] == (0, len(data)) and progress[-1] == (len(data), len(data)) and len(progress) > 3
    assert [p.name for p in tmp_path.iterdir()] == [spec.filename]  # no temporary file left behind
    seg.segment(photo("coffee"), positive=[(3, 3)])
    seg.close()
    S.Segmenter("tiny-dl", cache_dir=tmp_path, device="cpu").load().close()
    assert len(calls) == 1  # cached


def test_offline_is_one_clear_error_naming_the_file_and_the_remedies(downloadable, tmp_path, monkeypatch):
    spec, _ = downloadable

    def offline(url, timeout=None):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(S.CheckpointUnavailable) as info:
        S.Segmenter("tiny-dl", cache_dir=tmp_path).load()
    message = str(info.value)
    assert isinstance(info.value, ValueError) and "\n" not in message
    for part in (spec.filename, str(tmp_path / spec.filename), spec.url, "--sam-checkpoint", "--engine grabcut"):
        assert part in message
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(S.CheckpointUnavailable, match="downloading is off"):
        S.Segmenter("tiny-dl", cache_dir=tmp_path, download=False).load()


def test_truncated_download_leaves_nothing(downloadable, tmp_path, monkeypatch):
    spec, data = downloadable
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout=None: FakeResponse(data[:1000], len(data)))
    with pytest.raises(S.CheckpointUnavailable, match="incomplete"):
        S.download_checkpoint("tiny-dl", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_cache_folder_and_official_models(monkeypatch, tmp_path):
    monkeypatch.setenv("INPAINT_APP_CACHE", str(tmp_path))
    assert S.default_cache_dir() == tmp_path / "sam"
    assert S.checkpoint_path("vit_b") == tmp_path / "sam" / "sam_vit_b_01ec64.pth"
    assert S.DEFAULT_MODEL == "vit_b"
    for name in ("vit_b", "vit_l", "vit_h"):
        spec = S.SAM_MODELS[name]
        assert spec.url == "https://dl.fbaipublicfiles.com/segment_anything/" + spec.filename
    # auto never downloads: without a checkpoint on disk it is the labelled fallback
    auto = S.make_segmenter("auto", cache_dir=tmp_path)
    assert isinstance(auto, S.GrabCutSegmenter) and auto.engine == "grabcut (fallback: no SAM 2.1 or SAM weights on disk)"


# ----------------------------------------------------------------------------------------------------------------
# Clean-up and growth
# ----------------------------------------------------------------------------------------------------------------


def test_clean_mask_drops_islands_and_fills_holes():
    m = np.zeros((100, 100), bool)
    m[20:80, 20:80] = True
    m[40:45, 40:45] = False  # a small hole
    m[5:7, 90:92] = True  # a speck
    out = S.clean_mask(m, min_area=10)
    assert out[42, 42] and not out[6, 91] and out[20:80, 20:80].all()
    ring = np.zeros((100, 100), bool)
    ring[10:90, 10:90] = True
    ring[30:70, 30:70] = False  # a real hole (1600 px)
    ring[15:17, 15:17] = False  # a small one
    kept = S.clean_mask(ring, max_hole_area=100)
    assert not kept[50, 50] and kept[15, 15]
    assert not S.clean_mask(ring, fill_holes=False)[15, 15]


def test_growth_presets():
    dot = np.zeros((61, 61), bool)
    dot[30, 30] = True
    for purpose, px in (("replacement", 15), ("removal", 10), (7, 7), ("4", 4)):
        grown = S.grow_mask(dot, purpose)
        cols = np.nonzero(grown[30])[0]
        assert (cols.min(), cols.max()) == (30 - px, 30 + px), purpose
    assert S.REPLACEMENT_GROW_PX == 15 and S.REMOVAL_GROW_PX == S.REMOVAL_MATTE_PX + S.REMOVAL_FEATHER_PX
    assert np.array_equal(S.grow_mask(dot, 0), dot)
    for bad in ("sideways", -1, 2.5):
        with pytest.raises(ValueError):
            S.growth_px(bad)


# ----------------------------------------------------------------------------------------------------------------
# GrabCut fallback on real photos with a pasted object of known matte
# ----------------------------------------------------------------------------------------------------------------

PHOTOS = ["astronaut", "coffee", "chelsea", "rocket", "motorcycle", "dog", "remove_bridge", "remove_boat",
          "remove_baseball"]
PALETTE = np.array([[220, 40, 40], [40, 200, 60], [40, 80, 230], [230, 210, 40], [210, 50, 210], [40, 210, 210],
                    [240, 130, 20], [120, 40, 200], [250, 250, 250], [25, 25, 25]], np.uint8)


def load_photo(name: str) -> np.ndarray:
    if name == "motorcycle":
        return skimage.data.stereo_motorcycle()[0]
    if hasattr(skimage.data, name):
        return getattr(skimage.data, name)()
    return load_image(DATA / f"{name}.jpg", keep_alpha=False)


def silhouettes(rng: np.random.Generator) -> dict[str, np.ndarray]:
    horse = ~skimage.data.horse()
    yy, xx = np.mgrid[-100:101, -150:151]
    ellipse = (xx / 150) ** 2 + (yy / 100) ** 2 <= 1
    noise = cv2.resize(ndimage.gaussian_filter(rng.normal(size=(40, 40)), 5), (240, 240),
                       interpolation=cv2.INTER_CUBIC)
    yy, xx = np.mgrid[-120:120, -120:120]
    blob = noise / noise.std() + 2.2 * (1 - np.hypot(xx, yy) / 120) > 1.0
    labels, _ = ndimage.label(blob)
    blob = ndimage.binary_fill_holes(labels == np.argmax(np.bincount(labels.ravel())[1:]) + 1)
    return {"horse": horse, "ellipse": ellipse, "blob": blob}


def paste(host: np.ndarray, shape: np.ndarray, texture: np.ndarray, frac: float, rng: np.random.Generator):
    """Paste ``shape`` (scaled to ``frac`` of the host's short side, at a random place) with a soft matte
    (Gaussian 0.8). Its pixels: a crop of ``texture`` at native scale, its luminance detail kept, its colour the
    palette colour farthest from the object's surroundings. Returns (image, ground truth = matte > 0.5)."""
    h, w = host.shape[:2]
    s = frac * min(h, w) / max(shape.shape)
    m = cv2.resize(shape.astype(np.uint8), (max(8, int(shape.shape[1] * s)), max(8, int(shape.shape[0] * s))),
                   interpolation=cv2.INTER_NEAREST).astype(bool)
    mh, mw = m.shape
    y0, x0 = rng.integers(0, h - mh + 1), rng.integers(0, w - mw + 1)
    full = np.zeros((h, w), bool)
    full[y0:y0 + mh, x0:x0 + mw] = m
    th, tw = texture.shape[:2]
    k = max(1.0, mh / th * 1.05, mw / tw * 1.05)
    if k > 1:
        texture = cv2.resize(texture, (int(tw * k) + 1, int(th * k) + 1))
        th, tw = texture.shape[:2]
    ty, tx = rng.integers(0, th - mh + 1), rng.integers(0, tw - mw + 1)
    lum = np.zeros((h, w), np.float32)
    lum[y0:y0 + mh, x0:x0 + mw] = texture[ty:ty + mh, tx:tx + mw].mean(axis=2)
    ring = ndimage.binary_dilation(full, iterations=12) & ~full
    lab_ring = cv2.cvtColor(host, cv2.COLOR_RGB2LAB).astype(np.float32)[ring]
    lab_pal = cv2.cvtColor(PALETTE[None], cv2.COLOR_RGB2LAB)[0].astype(np.float32)
    far = [np.percentile(np.linalg.norm(lab_ring - c, axis=1), 10) for c in lab_pal]
    colour = PALETTE[int(np.argmax(far))].astype(np.float32)
    obj = np.clip(colour * (0.65 + 0.35 * lum[..., None] / max(lum[full].mean(), 1.0)), 0, 255)
    matte = ndimage.gaussian_filter(full.astype(np.float32), 0.8)[..., None]
    image = np.clip(np.round(matte * obj + (1 - matte) * host.astype(np.float32)), 0, 255).astype(np.uint8)
    return image, matte[..., 0] > 0.5


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def centre_click(gt: np.ndarray) -> tuple[float, float]:
    """Where a user clicks: the object's most interior point."""
    dist = ndimage.distance_transform_edt(gt)
    y, x = np.unravel_index(np.argmax(dist), dist.shape)
    return float(x), float(y)


def loose_box(gt: np.ndarray, pad: int = 4) -> tuple[int, int, int, int]:
    """A box a user drags: the object's bounding box plus a few pixels."""
    ys, xs = np.nonzero(gt)
    h, w = gt.shape
    return max(0, xs.min() - pad), max(0, ys.min() - pad), min(w, xs.max() + 1 + pad), min(h, ys.max() + 1 + pad)


def scene(i: int, j: int, seed: int):
    """Photo i with silhouette j (horse, ellipse, blob) textured from the next photos; a fixed recipe per (i, j)."""
    rng = np.random.default_rng(seed)
    shape = list(silhouettes(rng).values())[j]
    host = load_photo(PHOTOS[i])
    texture = load_photo(PHOTOS[(i + 1 + j) % len(PHOTOS)])
    return paste(host, shape, texture, (0.3, 0.45, 0.6)[(i + j) % 3], rng)


# One scene per photo, the silhouettes in turn: 9 photos, 3 shapes x 3 sizes.
SCENES = [(i, i % 3) for i in range(len(PHOTOS))]
# Issue 11 (GrabCut models smoothed colour and texture, bench/grabcut.py): two horses on high-contrast scenes that
# the raw-colour recipe passed then missed: the smoothing rounds off thin legs (astronaut: click IoU 0.63, the legs
# cut off; remove_bridge: box IoU 0.70, the background between the legs kept). The astronaut's click passes again
# since clicks also try GrabCut from a superpixel region (2026-11-29); remove_bridge's box since boxes also try the
# ring vote at a lower threshold and keep the better separated answer (2026-11-29, late). Any case that fails again
# is listed here (strict xfail) with what it got.
_THIN_LEGS: dict[tuple[int, int], str] = {}
# (remove_bridge's box was listed from 2026-11-30, 0.837 since the edge is redrawn by local colour models; it passes
# again since a user's box keeps Fisher's discriminant among its features, later that day. rocket's horse click, 0.756
# when a click's squares first outvoted the chain's choice, 0.81 again since a chain answer that agrees with the
# winner stands for it: every answer keeps some of the lattice tower between the legs.)


@pytest.mark.parametrize("i, j", [
    pytest.param(i, j, id=f"{PHOTOS[i]}-{('horse', 'ellipse', 'blob')[j]}",
                 marks=[pytest.mark.xfail(strict=True, reason=_THIN_LEGS[i, j])] if (i, j) in _THIN_LEGS else [])
    for i, j in SCENES])
def test_grabcut_click_and_box_on_real_photos(i, j):
    image, gt = scene(i, j, seed=100 + i)
    gc = S.GrabCutSegmenter(time_budget=None)  # quality, not the budget: no wall-clock cut-off
    clicked = gc.segment(image, positive=[centre_click(gt)])
    boxed = gc.segment(image, box=loose_box(gt))
    assert clicked.engine == boxed.engine == "grabcut (fallback: no SAM 2.1 or SAM weights on disk)" and clicked.is_fallback
    assert clicked.masks.shape == (1,) + gt.shape and np.isnan(clicked.scores[0]) and clicked.logits is None
    assert iou(clicked.mask, gt) >= 0.8, f"click IoU {iou(clicked.mask, gt):.3f}"
    assert iou(boxed.mask, gt) >= 0.85, f"box IoU {iou(boxed.mask, gt):.3f}"


@pytest.mark.parametrize("host", ["coffee", "chelsea", "dog"])
def test_grabcut_box_keeps_a_distractor_inside_it_until_a_negative_click(host):
    """GrabCut learns the background from around the box, so a different thing wholly inside the box may be kept
    (whole: a disc either stays or goes, its rim is not left behind); one negative click on it takes it out, rim and
    all (the same remedy a user has in the UI)."""
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[-100:101, -150:151]
    ellipse = (xx / 150) ** 2 + (yy / 100) ** 2 <= 1
    image, gt = paste(load_photo(host), ellipse, load_photo("rocket"), 0.5, rng)
    box = x0, y0, x1, y1 = loose_box(gt)
    # a disc in the box's corner, clear of the ellipse, in a colour found neither around the box nor on the object
    r = 8
    cx, cy = x0 + 4 + r, y0 + 4 + r
    assert ndimage.distance_transform_edt(~gt)[cy, cx] > r + 2
    yy, xx = np.ogrid[: gt.shape[0], : gt.shape[1]]
    disc = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    outside = np.ones_like(gt)
    outside[y0:y1, x0:x1] = False
    lab_pal = cv2.cvtColor(PALETTE[None], cv2.COLOR_RGB2LAB)[0].astype(np.float32)
    obj = lab[gt].mean(axis=0)
    far = [min(np.percentile(np.linalg.norm(lab[outside][::7] - c, axis=1), 5), np.linalg.norm(obj - c))
           for c in lab_pal]
    image = image.copy()
    image[disc] = PALETTE[int(np.argmax(far))]
    gc = S.GrabCutSegmenter(time_budget=None)  # quality, not the budget: no wall-clock cut-off
    first = gc.segment(image, box=box)
    kept = first.mask[disc].mean()
    assert kept > 0.75 or kept < 0.05, kept  # the known limit (chelsea: kept; dog: its colour told apart)
    fixed = gc.segment(image, box=box, negative=[(cx, cy)], previous=first)
    assert fixed.mask[disc].mean() < 0.05 and iou(fixed.mask, gt) >= 0.85


def test_grabcut_is_repeatable_and_handles_a_whole_image_box():
    image, gt = scene(2, 1, seed=5)
    gc = S.GrabCutSegmenter(time_budget=None)  # quality, not the budget: no wall-clock cut-off
    a = gc.segment(image, positive=[centre_click(gt)])
    b = gc.segment(image, positive=[centre_click(gt)])
    assert np.array_equal(a.mask, b.mask)
    h, w = gt.shape
    whole = gc.segment(image, box=(0, 0, w, h), positive=[centre_click(gt)])  # no background to learn from
    assert np.array_equal(whole.mask, a.mask)


def texture_scene(seed: int = 3):
    """A 240x320 picture: a disc-like object whose mean colour equals its surroundings' and differs only by its
    texture (grain of sd 30 grey levels on the object, sd 4 around it). HWC uint8 RGB, truth HW bool."""
    rng = np.random.default_rng(seed)
    h, w = 240, 320
    yy, xx = np.mgrid[0:h, 0:w]
    truth = ((xx - 170) / 80.0) ** 2 + ((yy - 115) / 60.0) ** 2 <= 1
    grain = rng.normal(0, 1, (h, w)) * np.where(truth, 30.0, 4.0)
    image = np.clip(np.float32([120, 110, 100]) + grain[..., None], 0, 255).astype(np.uint8)
    return image, truth


def test_grabcut_separates_an_object_by_its_texture():
    """Same mean colour inside and outside, only the grain differs: the local spread of lightness in
    _texture_features (a pure function of the picture, 3 channels of uint8 for cv2.grabCut) carries the object."""
    image, truth = texture_scene()
    feats = GC._texture_features(image)
    assert feats.shape == image.shape and feats.dtype == np.uint8
    assert np.array_equal(feats, GC._texture_features(image.copy()))  # a pure function of the picture
    gc = S.GrabCutSegmenter(time_budget=None)  # quality, not the budget: no wall-clock cut-off
    boxed = gc.segment(image, box=loose_box(truth, pad=6))
    clicked = gc.segment(image, positive=[centre_click(truth)])
    assert iou(boxed.mask, truth) >= 0.85, iou(boxed.mask, truth)
    assert iou(clicked.mask, truth) >= 0.8, iou(clicked.mask, truth)


def test_grabcut_ring_vote_starts_a_boxes_background_as_background():
    """_ring_vote (a pure relabelling of the box's initial labels): inside a box, the pixels that look like the ring
    around it start as probable background and the object's stay probable foreground; when the ring holds the same
    features as the whole inside (nothing to tell apart), the labels are left as they were."""
    rng = np.random.default_rng(0)
    h, w = 60, 80
    feats = np.clip(rng.normal(60, 6, (h, w, 3)), 0, 255).astype(np.uint8)  # background everywhere ...
    bar = np.zeros((h, w), bool)
    bar[28:33, 20:60] = True  # ... but a thin bar of another colour inside the box
    feats[bar] = np.clip(rng.normal(190, 6, (int(bar.sum()), 3)), 0, 255).astype(np.uint8)
    gc = np.full((h, w), cv2.GC_BGD, np.uint8)
    gc[15:45, 15:65] = cv2.GC_PR_FGD
    voted = gc.copy()
    GC._ring_vote(feats, voted)
    inside = gc == cv2.GC_PR_FGD
    assert (voted[bar] == cv2.GC_PR_FGD).mean() > 0.95
    assert (voted[inside & ~ndimage.binary_dilation(bar, iterations=4)] == cv2.GC_PR_BGD).mean() > 0.95
    assert np.array_equal(voted[~inside], gc[~inside])
    flat = np.clip(rng.normal(60, 6, (h, w, 3)), 0, 255).astype(np.uint8)
    same = gc.copy()
    GC._ring_vote(flat, same)
    assert np.array_equal(same, gc)


def test_grabcut_ring_vote_with_sides_takes_background_that_runs_along_one_side_of_a_users_box():
    """A user's box (``sides``): background that fills much of the box but is found outside it only along one side
    (a floor under a large box whose ring is mostly something else) starts as probable background, because each side
    of the box's edge band votes on its own; without ``sides`` the whole ring's histogram under-represents it and it
    stays probable foreground. The object's own features stay probable foreground either way."""
    rng = np.random.default_rng(1)
    h, w = 80, 100

    def grain(mean, n):
        return np.clip(rng.normal(mean, 5, (n, 3)), 0, 255).astype(np.uint8)

    feats = np.zeros((h, w, 3), np.uint8)
    feats[...] = grain(60, h * w).reshape(h, w, 3)  # the wall: the ring around the box
    floor = np.zeros((h, w), bool)
    floor[45:72, 6:94] = True  # the floor: inside the box along its bottom side (and in the ring just below it)
    feats[floor] = grain(140, int(floor.sum()))
    obj = np.zeros((h, w), bool)
    obj[15:40, 35:65] = True
    feats[obj] = grain(220, int(obj.sum()))
    gc = np.full((h, w), cv2.GC_BGD, np.uint8)
    gc[6:70, 6:94] = cv2.GC_PR_FGD  # the box: its bottom band lies on the floor
    b = GC._BOX_BAND
    gc[6:70, 6:6 + b] = gc[6:70, 94 - b:94] = gc[6:6 + b, 6:94] = gc[70 - b:70, 6:94] = cv2.GC_PR_BGD
    inside = gc == cv2.GC_PR_FGD
    plain, sided = gc.copy(), gc.copy()
    GC._ring_vote(feats, plain, 0.45)
    GC._ring_vote(feats, sided, 0.45, sides=True)
    core = ndimage.binary_erosion(floor & inside, iterations=3)
    assert (plain[core] == cv2.GC_PR_FGD).mean() > 0.9  # the whole ring hardly has it
    assert (sided[core] == cv2.GC_PR_BGD).mean() > 0.9  # the bottom side is mostly floor
    centre = ndimage.binary_erosion(obj, iterations=3)
    assert (plain[centre] == cv2.GC_PR_FGD).all() and (sided[centre] == cv2.GC_PR_FGD).all()
    assert np.array_equal(sided[~inside], gc[~inside])


def test_grabcut_box_features_keep_the_direction_that_tells_a_low_contrast_object_from_its_surroundings():
    """An arc whose only difference from the speckled orange around it is a* up and b* down (the background's a* and
    b* move together, so that direction has the least variance in the picture): the 3 principal components of the
    4 features drop it (the arc's d' under 1 in every channel), the features of a user's box keep it as Fisher's
    discriminant of the box against its ring (d' above 3), and GrabCut from a loose box finds the arc."""
    rng = np.random.default_rng(3)
    h, w = 180, 200

    def field(sigma):
        f = ndimage.gaussian_filter(rng.normal(size=(h, w)), sigma)
        return f / f.std()

    light, chroma = field(2.0), field(3.0)
    yy, xx = np.mgrid[0:h, 0:w]
    truth = (np.abs(np.hypot(xx - 60, yy - 90) - 60) <= 6) & (xx >= 60)
    matte = cv2.GaussianBlur(truth.astype(np.float32), (0, 0), 0.8)
    lab = np.stack([55 + 10 * light, 15 + 6 * chroma + 8 * matte, 25 + 6 * chroma - 8 * matte], axis=2)
    image = (np.clip(cv2.cvtColor(lab.astype(np.float32), cv2.COLOR_LAB2RGB), 0, 1) * 255).round().astype(np.uint8)
    ys, xs = np.nonzero(truth)
    x0, y0, x1, y1 = xs.min() - 5, ys.min() - 5, xs.max() + 6, ys.max() + 6
    box = np.zeros((h, w), bool)
    box[y0:y1, x0:x1] = True
    around = box & ~ndimage.binary_dilation(truth, iterations=3)

    def dprime(feats):
        a, b = feats[truth].astype(float), feats[around].astype(float)
        return np.abs(a.mean(axis=0) - b.mean(axis=0)) / np.sqrt(0.5 * (a.var(axis=0) + b.var(axis=0)) + 1e-6)

    plain, boxed = GC._texture_features(image), GC._texture_features(image, box)
    assert plain.dtype == boxed.dtype == np.uint8 and plain.shape == boxed.shape == image.shape
    assert dprime(plain).max() < 1.0 and dprime(boxed)[0] > 3.0
    assert np.array_equal(GC._texture_features(image, np.ones((h, w), bool)), plain)  # no outside: no discriminant
    mask = np.asarray(S.GrabCutSegmenter(time_budget=None).segment(image, box=(x0, y0, x1, y1)).masks[0], bool)
    assert iou(mask, truth) >= 0.8, iou(mask, truth)


def _soft_object_on_grass(truth, top_left, colour, noise, sigma, rng):
    """An object (HW bool ``truth``) of one ``colour`` (RGB) with Gaussian ``noise`` from ``rng``, pasted with a
    matte blurred by ``sigma`` px on skimage's grass from ``top_left`` (row, column): (HWC uint8 RGB, matte HW)."""
    h, w = truth.shape
    y, x = top_left
    background = np.repeat(skimage.data.grass()[y:y + h, x:x + w, None], 3, axis=2).astype(np.float32)
    colour = np.array(colour, np.float32) + rng.normal(0, noise, (h, w, 1))
    matte = cv2.GaussianBlur(truth.astype(np.float32), (0, 0), sigma)[..., None]
    return np.clip(matte * colour + (1 - matte) * background, 0, 255).astype(np.uint8), matte[..., 0]


def test_grabcut_refine_edge_puts_a_bulging_or_shrunken_edge_back_on_the_object():
    """_refine_edge (a pure function of the picture, the solved labels and the answer): an answer 2 px too wide
    around an object on grass (a busy, high-contrast background: what the smoothed features give there) and one 2 px
    too narrow both come back to the object's edge, a thin leg included; definite labels are never changed."""
    rng = np.random.default_rng(2)
    h, w = 120, 160
    yy, xx = np.mgrid[0:h, 0:w]
    truth = ((xx - 80) / 45.0) ** 2 + ((yy - 60) / 30.0) ** 2 <= 1
    truth |= (np.abs(xx - 40) <= 2) & (yy >= 55) & (yy < 110)  # and a thin leg, 5 px wide
    image, _ = _soft_object_on_grass(truth, (100, 100), (120, 60, 200), 6, 0.8, rng)
    gc = np.full((h, w), cv2.GC_PR_BGD, np.uint8)
    gc[truth] = cv2.GC_PR_FGD
    gc[:4] = cv2.GC_BGD
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    wide = cv2.dilate(truth.astype(np.uint8), disk).astype(bool)
    narrow = cv2.erode(truth.astype(np.uint8), disk).astype(bool)
    assert iou(wide, truth) < 0.9 and iou(narrow, truth) < 0.9
    for start in (wide, narrow):
        refined = GC._refine_edge(image, gc, start)
        assert refined.dtype == bool and refined.shape == (h, w)
        assert np.array_equal(refined, GC._refine_edge(image.copy(), gc.copy(), start.copy()))
        assert iou(refined, truth) >= 0.95, iou(refined, truth)
    locked = gc.copy()
    locked[truth & (xx > 80)] = cv2.GC_FGD
    locked[~truth & (yy > 100)] = cv2.GC_BGD
    refined = GC._refine_edge(image, locked, wide)
    assert refined[locked == cv2.GC_FGD].all() and not refined[(locked == cv2.GC_BGD) & ~wide].any()
    assert np.array_equal(refined[(locked == cv2.GC_BGD) & wide], wide[(locked == cv2.GC_BGD) & wide])


def test_grabcut_midpoint_edge_puts_an_edge_a_pixel_out_back_where_the_soft_edge_is_half_way():
    """_midpoint_edge (pure): a small horse-like object with a soft edge (matte blur 1.2 px) on grass, the truth at
    the matte's half level. Answers one pixel too wide or too narrow (what variance-weighted colour models leave) come
    back to the truth with under 60% of their wrong pixels; the answer at the truth stays there (IoU >= 0.95); definite
    labels never change, and where object and background have the same colour nothing moves."""
    rng = np.random.default_rng(7)
    h, w = 90, 120
    yy, xx = np.mgrid[0:h, 0:w]
    truth = ((xx - 60) / 30.0) ** 2 + ((yy - 40) / 16.0) ** 2 <= 1
    for x in (40, 52, 70, 80):
        truth |= (np.abs(xx - x) <= 2) & (yy >= 45) & (yy < 75)  # legs 5 px wide
    image, matte = _soft_object_on_grass(truth, (200, 150), (200, 120, 60), 8, 1.2, rng)
    truth = matte > 0.5
    gc = np.full((h, w), cv2.GC_PR_BGD, np.uint8)
    gc[:3] = cv2.GC_BGD
    cross = np.ones((3, 3), np.uint8)
    wide = cv2.dilate(truth.astype(np.uint8), cross).astype(bool)
    narrow = cv2.erode(truth.astype(np.uint8), cross).astype(bool)
    assert iou(wide, truth) < 0.85 and iou(narrow, truth) < 0.85
    for start in (wide, narrow, truth):
        out = GC._midpoint_edge(image, gc, start)
        assert out.dtype == bool and out.shape == (h, w)
        assert np.array_equal(out, GC._midpoint_edge(image.copy(), gc.copy(), start.copy()))
        if start is truth:  # on grass single pixels flip either way (measured: 60 of 2100, IoU 0.97)
            assert iou(out, truth) >= 0.95, iou(out, truth)
        else:  # measured: 344 -> 150 and 336 -> 171 wrong pixels, IoU 0.85 -> 0.93 and 0.82 -> 0.91
            assert (out ^ truth).sum() <= 0.6 * (start ^ truth).sum() and iou(out, truth) >= 0.9, iou(out, truth)
    locked = gc.copy()
    locked[truth & (xx > 60)] = cv2.GC_FGD
    locked[~truth & (yy > 60)] = cv2.GC_BGD
    out = GC._midpoint_edge(image, locked, wide)
    free = (locked == cv2.GC_PR_BGD) | (locked == cv2.GC_PR_FGD)
    assert np.array_equal(out[~free], wide[~free]) and (out[free] != wide[free]).any()
    flat = np.full_like(image, 128)
    assert np.array_equal(GC._midpoint_edge(flat, gc, wide), wide)


def test_grabcut_click_answer_edge_is_finished_on_the_photos_pixels():
    """_finish_edge: a click's answer scaled up from a coarser picture (here 3 px too wide) comes back to the
    object's soft edge (IoU >= 0.95 from under 0.9); the clicked disc stays, a negative click's disc stays
    out; a crop larger than the bound (max_side / _FULL_EDGE_MIN_SCALE squared) is left as it is."""
    rng = np.random.default_rng(3)
    h, w = 200, 260
    yy, xx = np.mgrid[0:h, 0:w]
    truth = ((xx - 130) / 70.0) ** 2 + ((yy - 90) / 45.0) ** 2 <= 1
    image, matte = _soft_object_on_grass(truth, (0, 0), (60, 90, 210), 8, 1.0, rng)
    truth = matte > 0.5
    coarse = cv2.dilate(truth.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    pos, neg = np.array([[130.0, 90.0]]), np.array([[62.0, 90.0]])  # the negative one on the object's left edge
    coarse[86:95, 58:67] = False  # GrabCut held the negative click's disc (radius 3) out
    assert iou(coarse, truth) < 0.9
    out = GC._finish_edge(image, coarse, pos, neg, 3, 512)
    assert out.dtype == bool and out.shape == (h, w)
    assert iou(out, truth) >= 0.95 > iou(coarse, truth), iou(out, truth)
    assert out[87:94, 127:134].all() and not out[88:93, 60:65].any()
    assert np.array_equal(GC._finish_edge(image, coarse, pos, neg, 3, 64), coarse)  # 168 x 123 px > 128^2


def _thin_legged_scene(h: int = 700, w: int = 900):
    """An ellipse with two legs 5 px wide on grass (a busy background), about 420 x 360 px: its box and ring are
    solved at about 0.55 x, where a leg is under 3 working pixels wide."""
    rng = np.random.default_rng(5)
    grass = skimage.data.grass().astype(np.float32)
    background = np.repeat(cv2.resize(grass, (w, h), interpolation=cv2.INTER_LINEAR)[..., None], 3, axis=2)
    yy, xx = np.mgrid[0:h, 0:w]
    truth = ((xx - 450) / 200.0) ** 2 + ((yy - 300) / 120.0) ** 2 <= 1
    for x in (330, 570):
        truth |= (np.abs(xx - x) <= 2) & (yy >= 380) & (yy < 520)
    colour = np.array([120, 60, 200], np.float32) + rng.normal(0, 6, (h, w, 1))
    matte = cv2.GaussianBlur(truth.astype(np.float32), (0, 0), 0.8)[..., None]
    return np.clip(matte * colour + (1 - matte) * background, 0, 255).astype(np.uint8), truth


def test_grabcut_users_box_edge_is_redrawn_at_full_resolution(monkeypatch):
    """A user's box solved at about half the photo's resolution: the edge redrawn on the photo's own pixels fits the
    object better than the working-scale edge scaled up (measured with _midpoint_edge, session 24: 68 wrong pixels
    against 834, IoU 0.992 against 0.912 within 6 px of the edge; before it 453 against 814); on a photo more than
    twice the working size it is not redrawn (the full-resolution crop would be large), so its memory stays
    bounded."""
    image, truth = _thin_legged_scene()
    box = loose_box(truth, pad=6)
    gc = S.GrabCutSegmenter(time_budget=None)
    redrawn = gc.segment(image, box=box).mask
    monkeypatch.setattr(GC, "_FULL_EDGE_MIN_SCALE", 2.0)  # never
    scaled_up = gc.segment(image, box=box).mask
    disk = np.ones((13, 13), np.uint8)
    edge = cv2.dilate(truth.astype(np.uint8), disk).astype(bool) & ~cv2.erode(truth.astype(np.uint8), disk).astype(bool)
    wrong, wrong_before = int((redrawn ^ truth).sum()), int((scaled_up ^ truth).sum())
    assert wrong <= 0.7 * wrong_before, (wrong, wrong_before)
    assert iou(redrawn & edge, truth & edge) >= 0.94 and iou(redrawn, truth) >= 0.99
    monkeypatch.undo()
    shapes = []
    real = GC._refine_edge
    monkeypatch.setattr(GC, "_refine_edge",
                        lambda rgb, labels, fg: shapes.append(rgb.shape[:2]) or real(rgb, labels, fg))
    big = cv2.resize(image, (2700, 2100), interpolation=cv2.INTER_LINEAR)
    gc.segment(big, box=tuple(3 * v for v in box))
    assert shapes and max(max(s) for s in shapes) <= GC.GRABCUT_MAX_SIDE * GC._RECT_SCALE / GC._FULL_EDGE_MIN_SCALE


def test_grabcut_superpixel_region_takes_in_a_multicoloured_object_and_separation_prefers_the_whole():
    """_superpixel_region (a pure function of the picture, its features and the clicks): clicked on a square of
    fine-grained red and green on grainy grey, the region grown by feature histograms covers most of the square, where
    the colour seeds around the click stop at the click's own colour; it may take in some background, never more
    than _SP_MAX_SHARE of the picture. _separation scores the whole square above its clicked half and above the square
    with a slab of background, and 0 for an empty mask."""
    rng = np.random.default_rng(0)
    h, w = 96, 128
    image = np.clip(rng.normal(90, 12, (h, w, 3)), 0, 255).astype(np.uint8)
    square = np.zeros((h, w), bool)
    square[28:68, 34:94] = True
    green = rng.random((h, w)) < 0.5
    image[square & ~green] = (200, 60, 50)
    image[square & green] = (60, 170, 70)
    image = np.clip(image + rng.normal(0, 4, image.shape), 0, 255).astype(np.uint8)
    feats = GC._texture_features(image)
    click = np.array([[40.0, 48.0]])
    region = GC._superpixel_region(GC._Picture(image, feats), click)
    assert region.shape == (h, w) and region.dtype == bool
    assert np.array_equal(region, GC._superpixel_region(GC._Picture(image, feats), click))
    seeds = GC._click_seeds(image, click, 3)
    assert region[square].mean() > 0.7 and seeds[square].mean() < 0.4, (region[square].mean(), seeds[square].mean())
    assert region.mean() <= GC._SP_MAX_SHARE and region[~square].mean() < 0.25
    left = square.copy()
    left[:, 64:] = False
    spilled = square.copy()
    spilled[28:68, 94:120] = True
    whole = GC._separation(feats, square)
    assert whole > GC._separation(feats, left) and whole > GC._separation(feats, spilled)
    assert GC._separation(feats, np.zeros((h, w), bool)) == 0.0


def test_grabcut_click_keeps_pass_1_when_pass_2_loses_the_object(monkeypatch):
    """A click's pass 2 (the box recipe on pass 1's box) can lose what pass 1 found, when its ring holds the object's
    colours (bench/grabcut.py seed 1 scene 63: pass 1 0.96, pass 2 0.02); an answer of less than _PASS2_COLLAPSE of
    pass 1's is dropped and pass 1's stands. Here every box solve returns nothing."""
    image, gt = scene(2, 2, seed=102)
    real = S.GrabCutSegmenter(time_budget=None).segment(image, positive=[centre_click(gt)])
    assert iou(real.mask, gt) >= 0.8
    calls = []

    def lost(image, rect, pos, neg, previous, *args, **kwargs):
        calls.append(previous is not None)
        return np.zeros(image.shape[:2], bool)

    monkeypatch.setattr(GC, "_grabcut_rect", lost)
    kept = S.GrabCutSegmenter(time_budget=None).segment(image, positive=[centre_click(gt)])
    assert calls and calls[0]  # pass 2 ran (and lost everything)
    assert iou(kept.mask, gt) >= 0.8, iou(kept.mask, gt)


def test_grabcut_click_fallback_keeps_the_better_separated_answer_not_the_last_box(monkeypatch):
    """When pass 1's answer is small beside its colour seeds (the seeds ran out into the background), growing boxes
    are tried; their answers and pass 1's compete by _separation less _SHARE_PENALTY per share of the picture, so a
    last box that spills over half the picture does not replace a clean pass 1 (bench/grabcut.py seed 2 scene 65:
    pass 1 0.96, the answer 0.05)."""
    image, gt = scene(2, 2, seed=102)
    h, w = gt.shape
    seeds = np.zeros((h, w), bool)
    seeds[: h // 2] = True  # seeds that ran out over half the picture: pass 1's answer counts as collapsed
    small = GC._downscale(image, 320)[0]
    feats = GC._texture_features(small)
    spill = gt.copy()
    spill[: h // 2] = True

    def spilled(image, rect, *args, **kwargs):  # every box's answer spills to its edge, and over the upper half
        x0, y0, x1, y1 = rect
        out = spill.copy()
        out[y0:y1, x0:x1] = True
        return out

    picture = GC._Picture(small, feats)
    monkeypatch.setattr(GC, "_grabcut_seeded", lambda *args, **kwargs: (gt.copy(), seeds, picture))
    monkeypatch.setattr(GC, "_grabcut_rect", spilled)
    monkeypatch.setattr(GC, "_edge_fraction", lambda mask, rect: 1.0)  # every box reaches its edge: all are tried
    answer = S.GrabCutSegmenter(time_budget=None).segment(image, positive=[centre_click(gt)])
    assert iou(answer.mask, gt) == 1.0, iou(answer.mask, gt)
    assert GC._click_score(feats, gt, GC._SHARE_PENALTY) > GC._click_score(feats, spill, GC._SHARE_PENALTY)


def test_grabcut_click_answer_features_and_the_rankers_pick(monkeypatch):
    """ranking.answer_features describe each live answer (share, agreement, a part inside a larger answer that
    separates better, a spill holding a smaller one, the chain's choice); _best_answer returns the answer the ranker
    scores highest (or the chain's answer that agrees with it), leaves out answers collapsed onto the clicked disc,
    and keeps the chain's choice when every answer collapsed. With the fitted weights the whole object beats its
    half and a spill."""
    image, gt = scene(2, 2, seed=102)
    h, w = gt.shape
    small = GC._downscale(image, 320)[0]
    picture = GC._Picture(small, GC._texture_features(small))
    click = np.array([centre_click(gt)], float)
    part = gt.copy()
    part[:, : int(np.nonzero(gt)[1].mean())] = False  # half the object: what one click on one texture takes
    trimmed = ndimage.binary_erosion(gt, iterations=1)  # agrees with gt
    spill = gt.copy()
    ys, xs = np.nonzero(gt)
    spill[ys.min(): ys.max(), xs.max(): min(w, xs.max() + (xs.max() - xs.min()) // 2)] = True
    assert iou(trimmed, gt) >= 0.9 and iou(part, gt) < 0.8 and iou(spill, gt) < 0.8
    disc = np.zeros((h, w), np.uint8)
    cv2.circle(disc, tuple(int(v) for v in click[0]), 3, 1, -1)
    disc = disc.astype(bool)
    if not part[int(click[0, 1]), int(click[0, 0])]:
        part = gt & ~part  # the half that holds the click
    answers = [part, gt, trimmed, spill, disc]
    grid = [GC._on_grid(picture.feats, a) for a in answers]
    fh, fw = picture.feats.shape[:2]
    x = ranking.answer_features(picture.feats, picture.gradient, grid, [float(a.mean()) for a in answers], 0,
                                [0, 1, 2, 3], click * (fw / w, fh / h))
    f = {name: x[:, k] for k, name in enumerate(ranking.ANSWER_FEATURES)}
    assert x.shape == (4, len(ranking.ANSWER_FEATURES)) and np.all(np.isfinite(x))
    assert np.allclose(f["share"], [a.mean() for a in answers[:4]])
    assert list(f["votes"]) == [0, 1, 1, 0] and list(f["choice"]) == [1, 0, 0, 0]
    assert f["inbetter"][0] > -0.5 and f["nbig"][0] >= 2  # the part lies in gt, trimmed and the spill
    assert f["hasbetter"][3] > -0.5 and f["nsmall"][3] >= 2  # the spill holds gt, trimmed and the part
    assert np.all((f["clickdepth"] > 0) & (f["clickdepth"] <= 1)) and np.all((f["compact"] > 0) & (f["compact"] <= 1))
    assert f["sep1"][1] == pytest.approx(GC._separation(picture.feats, grid[1]))

    # the plumbing: the highest score among the live answers wins; the collapsed disc takes no part
    order = {}
    monkeypatch.setattr(ranking, "rank_scores", lambda features: np.array([order[k] for k in range(len(features))]))
    order.update({0: 0.0, 1: 1.0, 2: 3.0, 3: 2.0})
    assert GC._best_answer(picture, [part], 0, [gt, trimmed, spill, disc], 3, click) is trimmed
    assert GC._best_answer(picture, [disc], 0, [disc.copy()], 3, click) is disc
    # a pick that agrees with the chain's choice gives way to it (finer), else to the chain's best agreeing answer
    order.update({0: 0.0, 1: 5.0})
    assert GC._best_answer(picture, [gt], 0, [trimmed], 3, click) is gt
    order.update({0: 0.0, 1: 1.0, 2: 5.0})
    assert GC._best_answer(picture, [part, gt], 0, [trimmed], 3, click) is gt
    monkeypatch.undo()
    # the fitted ranker: the whole object over its half and over a spill, whichever the chain chose of the first two
    assert GC._best_answer(picture, [part], 0, [gt, spill], 3, click) is gt
    assert GC._best_answer(picture, [gt], 0, [part, spill], 3, click) is gt


def test_grabcut_box_features_and_the_box_rankers_pick():
    """ranking.box_features of a user's box's answers: the object reaches every open side of its box, its half
    leaves a gap, background kept along the box's edge covers the box's inner band; agreement counts, the start's
    threshold is carried. _pick_box never picks an empty answer, and with the fitted BOX_MODEL the whole object beats
    its half and the object with the box's background kept."""
    image, gt = scene(1, 1, seed=104)
    h, w = gt.shape
    x0, y0, x1, y1 = loose_box(gt, pad=4)
    rect = (x0, y0, x1, y1)
    half = gt.copy()
    half[:, : int(np.nonzero(gt)[1].mean())] = False
    kept = gt.copy()
    kept[y0:y1, x0:x1] |= ndimage.binary_dilation(gt, iterations=12)[y0:y1, x0:x1]  # background held around it
    kept[y0:y0 + 3, x0:x1] = True  # ... up to the box's top edge
    trimmed = ndimage.binary_erosion(gt, iterations=1)
    assert iou(half, gt) < 0.7 and iou(kept, gt) < 0.85 and iou(trimmed, gt) >= 0.9
    answers = [gt, half, kept, trimmed]
    feats = GC._texture_features(image)
    open_sides = (x0 > 0, y0 > 0, x1 < w, y1 < h)
    x = ranking.box_features(feats, ranking.edge_strength(image), answers, rect, open_sides, [0.45, 0.3, 0.2, 0.6])
    f = {name: x[:, k] for k, name in enumerate(ranking.BOX_FEATURES)}
    assert x.shape == (4, len(ranking.BOX_FEATURES)) and np.all(np.isfinite(x))
    assert f["gapmax"][0] <= 0.05 < f["gapmax"][1]
    assert f["bandcov"][2] > f["bandcov"][0] and f["sep1"][0] > f["sep1"][2]
    assert list(f["votes"]) == [1, 0, 0, 1] and list(f["threshold"]) == [0.45, 0.3, 0.2, 0.6]
    assert f["sep1"][0] == pytest.approx(ranking.ring_separations(ranking.histogram_index(feats), gt)[0])
    empty = np.zeros_like(gt)
    assert GC._pick_box(image, feats, [empty, half], rect, open_sides, [0.45, 0.3]) == 1
    assert GC._pick_box(image, feats, [empty, empty], rect, open_sides, [0.45, 0.3]) == 0
    for order in ([gt, half, kept], [half, kept, gt], [kept, gt, half]):
        assert order[GC._pick_box(image, feats, order, rect, open_sides, [0.45, 0.3, 0.2])] is gt


def test_grabcut_merge_hierarchy_holds_the_clicks_and_a_many_coloured_object():
    """_merged_regions: regions of the merge hierarchy, each holding every positive click and no negative one,
    nested and growing, at most _SP_MAX_SHARE of the picture; on a square of red and green cells on grey, one of
    them is the square. A negative click on the square stops the hierarchy before it takes the negative click. A
    picture of per-pixel noise, which SLIC makes one segment, has no hierarchy (and no error)."""
    rng = np.random.default_rng(0)
    h, w = 240, 320
    image = np.clip(rng.normal(90, 3, (h, w, 3)), 0, 255).astype(np.uint8)
    square = np.zeros((h, w), bool)
    square[60:150, 80:210] = True
    green = cv2.resize((rng.random((h // 8, w // 8)) < 0.5).astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
    green = green.astype(bool)  # cells of 8 px (SLIC merges per-pixel noise into few segments: see the end)
    image[square & ~green] = (200, 60, 50)
    image[square & green] = (60, 170, 70)
    image = np.clip(image + rng.normal(0, 4, image.shape), 0, 255).astype(np.uint8)
    picture = GC._Picture(image, GC._texture_features(image))
    click = np.array([[100.0, 100.0]])
    regions = GC._merged_regions(picture, click, np.zeros((0, 2)))
    assert regions and all(r.shape == (h, w) and r[100, 100] for r in regions)
    assert all(np.all(a <= b) and a.sum() < b.sum() for a, b in zip(regions, regions[1:]))
    assert max(r.mean() for r in regions) <= GC._SP_MAX_SHARE
    assert max(iou(r, square) for r in regions) >= 0.85, [round(iou(r, square), 2) for r in regions]
    rects = GC._region_rects(image, picture, click, np.zeros((0, 2)))
    assert 1 <= len(rects) <= GC._REGIONS and all(x0 < 100 < x1 and y0 < 100 < y1 for x0, y0, x1, y1 in rects)
    assert any(x0 <= 80 and y0 <= 60 and x1 >= 210 and y1 >= 150 for x0, y0, x1, y1 in rects)  # the square's box
    stopped = GC._merged_regions(picture, click, np.array([[190.0, 130.0]]))
    assert stopped and not any(r[130, 190] for r in stopped) and len(stopped) < len(regions)
    noise = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    one = GC._Picture(noise, GC._texture_features(noise))
    assert one.neighbours == [set()] and GC._merged_regions(one, click, np.zeros((0, 2))) == []
def test_grabcut_click_squares_hold_the_clicks_and_drop_answers_cut_off(monkeypatch):
    """_square_rects: squares of _SQUARES of the long side centred on the positive clicks, skipping squares that
    cannot hold every click; _boxed_answers solves each (two side by side) at _SQUARE_SCALE with at most
    _SQUARE_ITERATIONS, with a user's box votes and discriminant, and drops an answer covering more than
    _SQUARE_EDGE of its box's edge, keeping the order of the boxes."""
    h, w = 400, 600
    image = np.zeros((h, w, 3), np.uint8)
    seen = []

    def solve(image, rect, pos, neg, previous, radius, iterations, max_side, budget, votes, discriminant=False):
        seen.append((rect, iterations, max_side, votes, discriminant))
        x0, y0, x1, y1 = rect
        out = np.zeros((h, w), bool)
        if fill == "all":
            out[y0:y1, x0:x1] = True
        else:
            out[(y0 + y1) // 2 - 5:(y0 + y1) // 2 + 5, (x0 + x1) // 2 - 5:(x0 + x1) // 2 + 5] = True
        return out

    def squares(clicks):
        rects = GC._square_rects(image, clicks, 4)
        return rects, GC._boxed_answers(image, rects, clicks, np.zeros((0, 2)), 4, 5, 512, budget)

    monkeypatch.setattr(GC, "_grabcut_rect", solve)
    budget = GC._Budget(None)
    fill = "centre"
    one = np.array([[300.0, 200.0]])
    rects, answers = squares(one)
    assert len(rects) == len(answers) == len(GC._SQUARES)
    assert [a[(y0 + y1) // 2, (x0 + x1) // 2] for a, (x0, y0, x1, y1) in zip(answers, rects)] == [True] * len(rects)
    for (rect, iterations, max_side, votes, discriminant), size in zip(sorted(seen, key=lambda e: e[0][2] - e[0][0]),
                                                                       GC._SQUARES):
        x0, y0, x1, y1 = rect
        assert abs((x1 - x0) - size * w) <= 2 and (x0 + x1) / 2 == pytest.approx(300, abs=1)
        assert iterations == min(5, GC._SQUARE_ITERATIONS) and discriminant and votes == GC._BOX_VOTES
        assert round(max_side * GC._RECT_SCALE) == round(512 * GC._SQUARE_SCALE)
    # two clicks 200 px apart: only the squares that hold both (with room) are solved, centred between them
    seen.clear()
    two = np.array([[200.0, 200.0], [400.0, 200.0]])
    squares(two)
    assert seen and len(seen) < len(GC._SQUARES)
    assert all(r[0] < 200 and r[2] > 400 for r, *_ in seen)
    # answers that fill their square (cut off by it, or spilled to its edge) are no answers
    fill = "all"
    assert squares(one)[1] == []


@pytest.mark.skipif(os.environ.get("SEGMENT_SWEEP") != "1", reason="set SEGMENT_SWEEP=1 for the full sweep")
def test_grabcut_sweep_all_photos_and_shapes():
    rows = []
    gc = S.GrabCutSegmenter(time_budget=None)  # quality, not the budget: no wall-clock cut-off
    for i in range(len(PHOTOS)):
        for j in range(3):
            image, gt = scene(i, j, seed=1000 + 3 * i + j)
            c = iou(gc.segment(image, positive=[centre_click(gt)]).mask, gt)
            b = iou(gc.segment(image, box=loose_box(gt)).mask, gt)
            rows.append((PHOTOS[i], ("horse", "ellipse", "blob")[j], c, b))
            print(f"{PHOTOS[i]:16s} {rows[-1][1]:8s} click {c:.3f} box {b:.3f}")
    clicks = np.array([r[2] for r in rows])
    boxes = np.array([r[3] for r in rows])
    print(f"click >= 0.8: {np.mean(clicks >= 0.8):.0%}, box >= 0.85: {np.mean(boxes >= 0.85):.0%}")
    # Measured when this was written: click 24/27 (89%), box 20/27 (74%); the misses are mostly the horse (thin
    # legs: the box is mostly background) and objects whose texture has two far-apart tones (one click gets a part).
    # With the time budget (pass 1 at 320 px, the rest at 512, iterations stepped and stopped at a fixed point):
    # click 26/27, box 20/27.
    assert np.mean(clicks >= 0.8) >= 0.85 and np.mean(boxes >= 0.85) >= 0.7


# ----------------------------------------------------------------------------------------------------------------
# GrabCut's time budget: bounded work, flat pictures, the wall-clock guard (no test here measures time)
# ----------------------------------------------------------------------------------------------------------------


@pytest.fixture
def grabcut_calls(monkeypatch):
    """Spy on cv2.grabCut: records (image shape, iterCount, mode) of every call, then runs the real one."""
    calls = []
    real = cv2.grabCut

    def spy(img, mask, rect, bgd, fgd, iterations, mode):
        calls.append((img.shape, iterations, mode))
        return real(img, mask, rect, bgd, fgd, iterations, mode)

    monkeypatch.setattr(cv2, "grabCut", spy)
    return calls


def noisy(image: np.ndarray, sigma: float = 2.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(image + rng.normal(0, sigma, image.shape), 0, 255).astype(np.uint8)


def test_grabcut_work_is_bounded_on_a_large_photo(grabcut_calls):
    """A 2400 px photo is solved at most GRABCUT_MAX_SIDE px a side, with at most the configured iterations per
    solve and a bounded number of solves, and the mask (scaled back by OpenCV) still fits the object."""
    image, gt = scene(0, 1, seed=100)
    image = cv2.resize(image, (2400, 2400), interpolation=cv2.INTER_CUBIC)
    gt = cv2.resize(gt.astype(np.uint8), (2400, 2400), interpolation=cv2.INTER_NEAREST).astype(bool)
    gc = S.GrabCutSegmenter()
    for prompts, per_solve in ((dict(positive=[centre_click(gt)]), gc.click_iterations),
                               (dict(box=loose_box(gt, pad=12)), gc.box_iterations)):
        grabcut_calls.clear()
        result = gc.segment(image, **prompts)
        assert result.mask.shape == gt.shape and iou(result.mask, gt) >= 0.8, iou(result.mask, gt)
        assert grabcut_calls and all(max(shape[:2]) <= S.GRABCUT_MAX_SIDE for shape, _, _ in grabcut_calls)
        assert all(iterations == 1 for _, iterations, _ in grabcut_calls)  # one at a time, so the guard can act
        solves = sum(mode == cv2.GC_INIT_WITH_MASK for _, _, mode in grabcut_calls)
        # pass 1's three hypotheses, then pass 2 and a wider box, or the growing boxes, then the squares: each box a
        # start per vote (the edge is redrawn without GrabCut)
        boxes = (GC._CANDIDATES + len(GC._SQUARES)) * max(len(GC._VOTE_THRESHOLDS), len(GC._WIDE_VOTES))
        assert 1 <= solves <= 3 + boxes
        assert len(grabcut_calls) <= solves * per_solve
    # the caps are enforced on the settings too
    for bad in (dict(click_iterations=S.GRABCUT_MAX_ITERATIONS + 1), dict(box_iterations=0),
                dict(max_side=S.GRABCUT_MAX_SIDE_LIMIT + 1), dict(max_side=10), dict(time_budget=0),
                dict(time_budget=float("inf")), dict(click_iterations=2.5)):
        with pytest.raises(UserError, match="must be"):
            S.GrabCutSegmenter(**bad)


def test_grabcut_iterations_one_at_a_time_match_one_call():
    """_run_grabcut steps cv2.grabCut one iteration at a time (GC_EVAL continues from the fitted models): without
    a time limit the labels are those of one call with all the iterations, unless it stopped at a fixed point."""
    image, gt = scene(1, 1, seed=101)
    small = cv2.resize(image, (320, 240), interpolation=cv2.INTER_AREA)
    small_gt = cv2.resize(gt.astype(np.uint8), (320, 240), interpolation=cv2.INTER_NEAREST).astype(bool)
    gc = np.where(ndimage.binary_dilation(small_gt, iterations=6), cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    one = gc.copy()
    cv2.setRNGSeed(0)
    cv2.grabCut(np.ascontiguousarray(small[..., ::-1]), one, None, np.zeros((1, 65)), np.zeros((1, 65)), 5,
                cv2.GC_INIT_WITH_MASK)
    stepped = GC._run_grabcut(small, gc.copy(), 5, GC._Budget(None))
    assert np.array_equal(stepped, (one == cv2.GC_FGD) | (one == cv2.GC_PR_FGD))


class FakeClock:
    """Stands in for the time module in pipelines.segment: each cv2.grabCut call takes ``step`` seconds."""

    def __init__(self, step: float):
        self.now, self.step = 0.0, step

    def monotonic(self) -> float:
        return self.now


def test_grabcut_time_budget_returns_the_best_mask_so_far_with_a_note(monkeypatch, grabcut_calls):
    image, gt = scene(2, 2, seed=102)
    clock = FakeClock(step=2.0)
    monkeypatch.setattr(GC, "time", clock)
    real = cv2.grabCut  # the spy from grabcut_calls

    def slow(*args):
        clock.now += clock.step
        return real(*args)

    monkeypatch.setattr(cv2, "grabCut", slow)
    result = S.GrabCutSegmenter(time_budget=5).segment(image, positive=[centre_click(gt)])
    # iteration 1 ends at 2 s, 2 at 4 s; a third would end at 6 s, past the budget: none starts
    assert len(grabcut_calls) == 2 and clock.now == 4.0
    assert result.note == "GrabCut stopped at its 5 s time budget: the mask is the best found by then"
    assert result.mask.shape == gt.shape and result.mask[tuple(int(v) for v in centre_click(gt)[::-1])]
    assert iou(result.mask, gt) >= 0.5  # pass 1 alone, two iterations at the coarse scale

    grabcut_calls.clear()
    clock.now = 0.0
    unlimited = S.GrabCutSegmenter(time_budget=None).segment(image, positive=[centre_click(gt)])
    assert unlimited.note == "" and len(grabcut_calls) > 2 and iou(unlimited.mask, gt) >= 0.8
    with_logs = S.grabcut_mask(image, S.check_prompts(gt.shape, positive=[centre_click(gt)]), time_budget=5)
    assert with_logs.shape == gt.shape


@pytest.mark.parametrize("kind", ["uniform", "noise", "gradient"])
def test_a_click_on_a_flat_picture_is_one_clear_error_before_any_grabcut(kind, grabcut_calls):
    h, w = 768, 1024
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    picture = {
        "uniform": np.full((h, w, 3), 128, np.uint8),
        "noise": noisy(np.full((h, w, 3), 128.0)),
        "gradient": noisy(np.stack([xx / w * 255, yy / h * 255, np.full((h, w), 90.0)], axis=-1), 1.0),
    }[kind]
    gc = S.GrabCutSegmenter()
    for clicks in ([(512, 384)], [(3, 3), (1000, 700)]):
        with pytest.raises(UserError) as err:
            gc.segment(picture, positive=clicks)
        assert str(err.value) == S.FLAT_MESSAGE and "\n" not in str(err.value)
    # a box is an answer: the box itself, with a note
    boxed = gc.segment(picture, box=(300, 200, 500, 400))
    expected = np.zeros((h, w), bool)
    expected[200:400, 300:500] = True
    assert np.array_equal(boxed.mask, expected) and "flat" in boxed.note
    assert grabcut_calls == []


def test_a_click_on_a_large_flat_area_gives_that_area(grabcut_calls):
    """A flat background around a distinct object: a click on the background gives the background (GrabCut's
    max-flow crawls there: minutes before), one on the object goes to GrabCut as usual."""
    h, w = 768, 1024
    disc = np.zeros((h, w), np.uint8)
    cv2.circle(disc, (700, 400), 150, 1, -1)
    disc = disc.astype(bool)
    picture = noisy(np.where(disc[..., None], np.float32([200, 60, 60]), np.float32([128, 128, 128])))
    gc = S.GrabCutSegmenter()
    background = gc.segment(picture, positive=[(200, 200)])
    assert iou(background.mask, ~disc) >= 0.98 and "large flat area" in background.note
    assert grabcut_calls == []
    with pytest.raises(UserError, match="one flat area"):
        gc.segment(picture, positive=[(200, 200)], negative=[(100, 600)])
    obj = gc.segment(picture, positive=[(700, 400)])
    assert iou(obj.mask, disc) >= 0.95 and obj.note == "" and grabcut_calls


def test_a_soft_edged_low_contrast_object_is_not_a_flat_picture(grabcut_calls):
    """A faint ring with a soft edge on a plain grey picture: the flood of small steps crosses its edge and covers
    the whole picture, but no smooth colour surface explains the ring, so the click and the box go to GrabCut (the
    click was the flat-picture error and the box gave the box). Shading, noise and a ramp stay flat."""
    h, w = 480, 640
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    radius = np.hypot(xx - 320, yy - 240)
    ring = (radius <= 110) & (radius >= 60)
    soft = cv2.GaussianBlur(ring.astype(np.float32), (0, 0), 4.0)[..., None]
    picture = noisy(np.float32([128, 128, 128]) + soft * np.float32([-10, -22, 12]), sigma=1.0)
    work, sx, sy = GC._downscale(picture, GC.GRABCUT_MAX_SIDE)
    flood = GC._flat_area(work, np.array([[320 * sx, 155 * sy]]))
    assert flood.mean() >= GC._FLAT_COVER and not GC._smooth(work, flood)
    gc = S.GrabCutSegmenter(time_budget=None)
    clicked = gc.segment(picture, positive=[(320, 155)])
    boxed = gc.segment(picture, box=(200, 120, 440, 360))
    assert grabcut_calls and "flat" not in clicked.note + boxed.note
    assert iou(clicked.mask, ring) >= 0.85 and iou(boxed.mask, ring) >= 0.85
    shading = np.float32([150, 140, 120]) * (1.2 - 0.6 * ((xx / w - 0.3) ** 2 + (yy / h - 0.6) ** 2))[..., None]
    for smooth in (np.full((h, w, 3), 128, np.uint8), noisy(shading), noisy(np.stack([xx / w * 255, yy / h * 255,
                                                                                     np.full((h, w), 90.0)], -1))):
        everywhere = np.ones((h, w), bool)
        assert GC._smooth(smooth, everywhere)


def test_a_flat_area_that_crossed_into_an_object_is_not_the_answer(grabcut_calls):
    """A low-contrast object whose colour meets the background's along one side: the flood of small steps from a
    click on it crosses there and covers the background too, but holds two colours, so GrabCut decides."""
    h, w = 480, 640
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    disc = (xx - 420) ** 2 + (yy - 240) ** 2 <= 150 ** 2
    # inside the disc the colour ramps from the background's grey (its left edge) to pink (its right part)
    t = np.clip((xx - 270) / 200, 0, 1)[..., None]
    grey, pink = np.float32([128, 128, 128]), np.float32([215, 95, 150])
    picture = np.where(disc[..., None], grey + t * (pink - grey), grey)
    picture[40:200, 40:200] = (30, 40, 110)  # a dark square the flood does not reach: not the whole picture
    picture = noisy(picture, sigma=1.0)
    result = S.GrabCutSegmenter(time_budget=None).segment(picture, positive=[(520, 240)])
    assert grabcut_calls and "flat area" not in result.note
    assert result.mask[~disc].mean() < 0.05 and result.mask[240, 520]


# ----------------------------------------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scene_file(tmp_path_factory):
    image, gt = scene(1, 1, seed=11)
    folder = tmp_path_factory.mktemp("cli")
    path = folder / "scene.png"
    cv2.imwrite(str(path), image[..., ::-1])
    return path, gt


def test_cli_grabcut_writes_a_black_and_white_mask(scene_file, tmp_path, capsys):
    path, gt = scene_file
    out = tmp_path / "mask.png"
    x, y = centre_click(gt)
    code = cli.main(["segment", "--image", str(path), "--out", str(out), "--point", f"{x:g},{y:g}",
                     "--engine", "grabcut"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    mask = load_image(out)
    assert mask.dtype == np.uint8 and mask.shape == gt.shape and set(np.unique(mask)) <= {0, 255}
    assert iou(mask == 255, gt) >= 0.8
    assert report["fallback"] is True and "grabcut (fallback" in report["engine"]
    grown = tmp_path / "grown.png"
    assert cli.main(["segment", "--image", str(path), "--out", str(grown), "--box", ",".join(map(str, loose_box(gt))),
                     "--engine", "grabcut", "--grow", "removal"]) == 0
    assert json.loads(capsys.readouterr().out)["grow_px"] == 10
    assert (load_image(grown) == 255).sum() > (mask == 255).sum()


def test_cli_grow_auto_measures_the_soft_edge_and_reports_it(scene_file, tmp_path, capsys):
    pytest.importorskip("pymatting")
    from pipelines import blend, masks
    from pipelines.segment import matting

    path, gt = scene_file
    plain, auto = tmp_path / "plain.png", tmp_path / "auto.png"
    box = ",".join(map(str, loose_box(gt)))
    assert cli.main(["segment", "--image", str(path), "--out", str(plain), "--box", box, "--engine", "grabcut"]) == 0
    capsys.readouterr()
    assert cli.main(["segment", "--image", str(path), "--out", str(auto), "--box", box, "--engine", "grabcut",
                     "--grow", "auto"]) == 0
    report = json.loads(capsys.readouterr().out)
    given = load_image(plain) == 255
    expected = matting.auto_growth(load_image(path)[..., :3], given, feather=blend.default_feather("seamless"))
    assert report["grow_auto"]["px"] == report["grow_px"] == expected.px > 0
    assert report["grow_auto"]["feather_px"] == blend.default_feather("seamless")
    assert np.array_equal(load_image(auto) == 255, masks.grow(given, expected.px))


def test_cli_grow_auto_hands_sams_probabilities_to_the_matte(tiny_checkpoint, scene_file, tmp_path, capsys,
                                                              monkeypatch):
    """With SAM, --grow auto passes the chosen candidate's probabilities (the unsure pixels join the matte's unknown
    band) and grows by what the matte measured with them; GrabCut has none to pass."""
    pytest.importorskip("pymatting")
    from pipelines.segment import matting

    real, seen = matting.auto_growth, []

    def spy(image, mask, **kw):
        seen.append(kw.get("probabilities"))
        out = real(image, mask, **kw)
        seen.append(out)
        return out

    monkeypatch.setattr(matting, "auto_growth", spy)
    path, gt = scene_file
    out = tmp_path / "sam.png"
    assert cli.main(["segment", "--image", str(path), "--out", str(out), "--point", "100,80", "--sam-model", TINY,
                     "--sam-checkpoint", str(tiny_checkpoint[0]), "--device", "cpu", "--min-area", "0",
                     "--grow", "auto"]) == 0
    report = json.loads(capsys.readouterr().out)
    probabilities, measured = seen
    assert probabilities is not None and probabilities.shape == gt.shape and probabilities.dtype == np.float32
    assert 0 <= probabilities.min() and probabilities.max() <= 1
    assert report["grow_auto"]["px"] == report["grow_px"] == measured.px
    seen.clear()
    assert cli.main(["segment", "--image", str(path), "--out", str(out), "--box", ",".join(map(str, loose_box(gt))),
                     "--engine", "grabcut", "--grow", "auto"]) == 0
    assert seen[0] is None


def test_cli_sam_with_a_local_checkpoint(tiny_checkpoint, scene_file, tmp_path, capsys):
    path, _ = scene_file
    out = tmp_path / "sam.png"
    code = cli.main(["segment", "--image", str(path), "--out", str(out), "--point", "100,80", "--negative", "5,5",
                     "--sam-model", TINY, "--sam-checkpoint", str(tiny_checkpoint[0]), "--device", "cpu",
                     "--candidate", "2", "--min-area", "0"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["engine"] == f"sam {TINY}" and report["candidate"] == 2 and len(report["scores"]) == 3
    assert set(np.unique(load_image(out))) <= {0, 255}


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--point", "12"], "--point expects X,Y"),
        (["--point", "a,b"], "--point expects X,Y"),
        (["--point", "5000,10"], "outside the"),
        (["--negative", "10,10"], "at least one positive click or a box"),
        (["--box", "10,10,5,40"], "empty"),
        (["--box", "1,2,3"], "--box expects X0,Y0,X1,Y1"),
        (["--point", "10,10", "--grow", "lots"], "unknown growth"),
        (["--point", "10,10", "--sam-model", "vit_x"], "unknown SAM model type"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(extra, message, scene_file, tmp_path, capsys):
    path, _ = scene_file
    code = cli.main(["segment", "--image", str(path), "--out", str(tmp_path / "m.png")] + extra)
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1 and err.startswith("error: ")
    assert not (tmp_path / "m.png").exists()


def test_cli_sam_offline_without_checkpoint_is_one_line(scene_file, tmp_path, capsys, monkeypatch):
    path, _ = scene_file
    monkeypatch.setenv("INPAINT_APP_CACHE", str(tmp_path / "cache"))

    def offline(url, timeout=None):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    code = cli.main(["segment", "--image", str(path), "--out", str(tmp_path / "m.png"), "--point", "10,10"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "sam_vit_b_01ec64.pth" in err and "--sam-checkpoint" in err and "--engine grabcut" in err
    assert str(tmp_path / "cache" / "sam" / "sam_vit_b_01ec64.pth") in err


def test_cli_refuses_to_overwrite_the_image(scene_file, capsys):
    path, _ = scene_file
    copy = path.with_name("copy.png")
    copy.write_bytes(path.read_bytes())
    code = cli.main(["segment", "--image", str(copy), "--out", str(copy), "--point", "10,10", "--engine", "grabcut"])
    assert code == 2 and "refusing to overwrite" in capsys.readouterr().err
    assert copy.read_bytes() == path.read_bytes()


def test_cli_entry_point_bad_click_is_one_line(scene_file, tmp_path):
    import subprocess
    import sys

    path, _ = scene_file
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines", "segment", "--image", str(path), "--out", str(tmp_path / "m.png"),
         "--point=-3,10", "--engine", "grabcut"],
        cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "outside" in proc.stderr


def test_opencv_upscaling_matches_sam_predictor(segmenter):
    """segment() upscales SAM's low-res logits with OpenCV: the same masks as SamPredictor.predict."""
    from segment_anything import SamPredictor

    img = photo("astronaut")
    r = segmenter.segment(img, positive=[(60, 40)], negative=[(100, 80)], box=(20, 10, 110, 90))
    reference = SamPredictor(segmenter._require_model())
    reference.set_image(img)
    masks, scores, logits = reference.predict(
        point_coords=np.array([[60, 40], [100, 80]], float), point_labels=np.array([1, 0]),
        box=np.array([20, 10, 110, 90], float), multimask_output=True,
    )
    np.testing.assert_allclose(r.scores, scores, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(r.logits, logits, rtol=1e-4, atol=1e-5)
    assert (r.masks != masks).mean() < 1e-3  # bilinear in float32 either way: ties at the threshold only
