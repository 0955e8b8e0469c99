"""Text-to-mask with Grounding DINO (pipelines/segment/grounding.py) and its CLI wiring. Nothing here touches the network.

A tiny random GroundingDinoForObjectDetection is built from a GroundingDinoConfig (a 4-stage Swin of width 8 at
64 px, a 1-layer BERT of width 32 whose vocabulary the test writes into vocab.txt, d_model 32, 10 queries), its
weights drawn from a local torch.Generator, saved with save_pretrained next to a GroundingDinoProcessor (image
processor at 64-96 px + that BertTokenizer), and loaded back through TextSelector(folder).load(), the code path a
user's model takes. Its boxes mean nothing; the tests check the plumbing: formats, order, thresholds, select() with
the GrabCut segmenter, errors, and the segment / edit commands with --text-model.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from conftest import skimage_photo  # noqa: E402
from pipelines.segment import grounding as G  # noqa: E402
from pipelines import segment as S  # noqa: E402
from pipelines.errors import UserError  # noqa: E402

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", "the", "a", "car", "dog", "cat", "red", "bus", "rocket",
         "person", "sky"]


def tiny_grounding_dino(folder):
    """Save a toy Grounding DINO (seeded weights) and its processor into ``folder``."""
    from transformers import BertTokenizer, GroundingDinoConfig, GroundingDinoForObjectDetection, GroundingDinoProcessor
    from transformers.models.grounding_dino import GroundingDinoImageProcessor

    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(WORDS) + "\n")
    tokenizer = BertTokenizer(str(vocab))
    config = GroundingDinoConfig(
        backbone_config=dict(model_type="swin", embed_dim=8, depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 1],
                             window_size=2, image_size=64, out_indices=[2, 3, 4]),
        text_config=dict(model_type="bert", vocab_size=len(WORDS), hidden_size=32, num_hidden_layers=1,
                         num_attention_heads=2, intermediate_size=32, max_position_embeddings=64),
        num_queries=10, d_model=32, encoder_layers=1, decoder_layers=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_n_points=2, decoder_n_points=2,
        max_text_len=32,
    )
    model = GroundingDinoForObjectDetection(config).eval()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if t.dtype.is_floating_point and name.endswith("weight") and t.ndim >= 2:
                t.copy_(torch.randn(t.shape, generator=g) / t[0].numel() ** 0.5)
    model.save_pretrained(folder)
    image_processor = GroundingDinoImageProcessor(size={"shortest_edge": 64, "longest_edge": 96})
    GroundingDinoProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: on a shared 2-core runner, two threads on toy-sized matrices are ~50x slower (spinning)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tiny_grounding_dino(tmp_path_factory.mktemp("grounding-dino-test"))


@pytest.fixture(scope="module")
def photo():
    """An 80x60 crop of skimage's rocket: HWC uint8 RGB."""
    return skimage_photo("rocket", (150, 80, 230, 140))


@pytest.fixture(scope="module")
def finder(folder):
    """Loaded once, threshold 0: every query's box counts."""
    selector = G.TextSelector(str(folder), box_threshold=0.0, download=False).load()
    yield selector
    selector.close()


def grabcut():
    return S.GrabCutSegmenter(reason="test", time_budget=None)


def test_normalise_phrase():
    assert G.normalise_phrase("  The  Car ") == "the car."
    assert G.normalise_phrase("a red bus.") == "a red bus."
    with pytest.raises(UserError, match="empty"):
        G.normalise_phrase(" . ")


def test_constructor_reads_nothing_and_misuse_is_a_runtime_error(photo, tmp_path):
    selector = G.TextSelector(tmp_path / "not-there")  # nothing is read yet
    assert not selector.loaded
    with pytest.raises(RuntimeError, match="load"):
        selector.boxes(photo, "car")
    selector.close()
    with pytest.raises(RuntimeError, match="closed"):
        selector.load()
    with pytest.raises(UserError, match="box_threshold"):
        G.TextSelector(box_threshold=1.5)


def test_a_missing_model_is_a_one_line_user_error(tmp_path):
    with pytest.raises(UserError) as info:
        G.TextSelector(str(tmp_path / "no-such-model"), download=False).load()
    message = str(info.value)
    assert "no-such-model" in message and "\n" not in message


def test_boxes_are_xyxy_ints_inside_the_image_best_first(finder, photo):
    found = finder.boxes(photo, "the rocket")
    assert found, "threshold 0 keeps every query"
    h, w = photo.shape[:2]
    for box, score in found:
        assert len(box) == 4 and all(type(v) is int for v in box)
        x0, y0, x1, y1 = box
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
        assert 0.0 <= score <= 1.0
    scores = [s for _, s in found]
    assert scores == sorted(scores, reverse=True)
    for i, (a, _) in enumerate(found):  # near-duplicates were dropped
        assert all(G._iou(a, b) <= G.NMS_IOU for b, _ in found[i + 1:])


def test_threshold_filters(finder, photo, monkeypatch):
    found = finder.boxes(photo, "rocket")
    cut = found[len(found) // 2][1]
    monkeypatch.setattr(finder, "box_threshold", cut)
    kept = finder.boxes(photo, "rocket")
    assert all(s > cut for _, s in kept) and len(kept) < len(found)
    monkeypatch.setattr(finder, "box_threshold", 1.0)
    assert finder.boxes(photo, "rocket") == []
    with pytest.raises(UserError) as info:
        finder.select(photo, "the Car.", grabcut())
    assert str(info.value) == ("no 'the Car' found in the photo (threshold 1): try another phrase or click on it")


def test_select_best_is_the_best_box_mask(finder, photo):
    result = finder.select(photo, "rocket", grabcut())
    assert isinstance(result, G.TextSelection) and isinstance(result, S.Segmentation)
    assert result.mask.shape == photo.shape[:2] and result.mask.dtype == bool
    assert result.is_fallback and result.instances == "best" and result.phrase == "rocket."
    best_box, best_score = finder.boxes(photo, "rocket")[0]
    assert result.boxes == (best_box,) and result.box_scores == (best_score,)
    direct = grabcut().segment(photo, box=best_box)
    assert np.array_equal(result.mask, direct.mask)
    assert result.image_key == S.image_key(photo)


class BoxFill:
    """A stand-in segmenter with the Segmenter interface: the mask is the box itself (exact, instant)."""

    engine = "box fill"

    def __init__(self):
        self.boxes = []

    def segment(self, image, *, box=None, **_):
        self.boxes.append(tuple(box))
        prompts = S.check_prompts(image.shape[:2], box=box)
        mask = np.zeros((1, *image.shape[:2]), bool)
        x0, y0, x1, y1 = box
        mask[0, y0:y1, x0:x1] = True
        return S.Segmentation(masks=mask, scores=np.ones(1, np.float32), best=0, logits=None, engine=self.engine,
                              image_key=S.image_key(image), prompts=prompts)


def test_select_all_unites_the_masks(finder, photo):
    found = finder.boxes(photo, "rocket")[: G.MAX_INSTANCES]
    fill = BoxFill()
    result = finder.select(photo, "rocket", fill, instances="all")
    assert fill.boxes == [b for b, _ in found] and result.boxes == tuple(fill.boxes)
    assert result.masks.shape == (1, *photo.shape[:2]) and result.logits is None and result.instances == "all"
    union = np.zeros(photo.shape[:2], bool)
    for x0, y0, x1, y1 in fill.boxes:
        union[y0:y1, x0:x1] = True
    assert np.array_equal(result.mask, union)
    best = finder.select(photo, "rocket", BoxFill())
    assert best.mask.sum() <= result.mask.sum() and not (best.mask & ~result.mask).any()
    with pytest.raises(UserError, match="best or all"):
        finder.select(photo, "rocket", fill, instances="some")


@pytest.fixture
def files(tmp_path, photo):
    image = tmp_path / "photo.png"
    Image.fromarray(photo).save(image)
    return image, tmp_path / "mask.png", tmp_path / "result.png"


def test_segment_cli_by_text(run_cli, folder, files, photo):
    image, out, _ = files
    run = run_cli(["segment", "--image", image, "--out", out, "--text", "the rocket", "--engine", "grabcut",
                   "--text-model", folder, "--box-threshold", "0", "--instances", "all", "--device", "cpu"])
    assert run.code == 0, run.err
    report = json.loads(run.out)
    assert report["fallback"] and report["text"]["phrase"] == "the rocket."
    assert report["text"]["instances"] == "all" and report["text"]["boxes"]
    mask = np.asarray(Image.open(out))
    assert mask.shape == photo.shape[:2] and set(np.unique(mask)) <= {0, 255}


def test_segment_cli_text_errors(run_cli, folder, files, tmp_path):
    image, out, _ = files
    line = run_cli(["segment", "--image", image, "--out", out, "--text", "car", "--engine", "grabcut",
                    "--text-model", folder, "--box-threshold", "1"]).one_line_error()
    assert "no 'car' found in the photo (threshold 1)" in line
    line = run_cli(["segment", "--image", image, "--out", out, "--text", "car", "--point", "3,4",
                    "--engine", "grabcut"]).one_line_error()
    assert "--text" in line
    line = run_cli(["segment", "--image", image, "--out", out, "--text", "car", "--engine", "grabcut",
                    "--text-model", tmp_path / "missing"]).one_line_error()
    assert "no text model" in line and "missing" in line
    assert not out.exists()


ROCKET_BOX = (22, 4, 58, 56)  # XYXY around the rocket in the 80x60 crop


def pin_best_box(monkeypatch, box) -> list[str]:
    """Run the toy model for real, then move its best box onto ``box`` (its score kept): the toy model's boxes mean
    nothing and differ between CPUs. Returns the list the phrases asked are appended to."""
    real_boxes = G.TextSelector.boxes
    asked = []

    def boxes_on_it(self, image, phrase):
        found = real_boxes(self, image, phrase)
        asked.append(phrase)
        return [(box, found[0][1])] if found else found

    monkeypatch.setattr(G.TextSelector, "boxes", boxes_on_it)
    return asked


def test_edit_cli_selects_by_text(run_cli, folder, files, photo, monkeypatch):
    """edit without --mask: the plan's object -> the text model -> the segmenter -> the mask that is repainted.

    The toy model's boxes mean nothing and differ between CPUs (its best box was a sliver on the CI runner, whose
    GrabCut mask came out empty), so the model runs for real and its best box is then moved onto the rocket.
    """
    seen = pin_best_box(monkeypatch, ROCKET_BOX)
    image, _, result = files
    run = run_cli(["edit", "--image", image, "--out", result, "--instruction", "remove the rocket",
                   "--engine", "telea", "--text-model", folder, "--box-threshold", "0", "--device", "cpu"])
    assert run.code == 0, run.err
    report = json.loads(run.out)
    assert seen == ["rocket"]
    selection = report["selection"]
    assert selection["phrase"] == "rocket." and selection["boxes"] == [list(ROCKET_BOX)]
    assert 0 < selection["area_px"] < (ROCKET_BOX[2] - ROCKET_BOX[0]) * (ROCKET_BOX[3] - ROCKET_BOX[1])
    out = np.asarray(Image.open(result))
    assert out.shape == photo.shape
    x0, y0, x1, y1 = ROCKET_BOX  # GrabCut keeps to the box, so nothing outside it is repainted
    outside = np.ones(photo.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(out[outside], photo[outside]) and not np.array_equal(out, photo)


def test_edit_cli_nothing_found_is_one_line(run_cli, folder, files):
    image, _, result = files
    line = run_cli(["edit", "--image", image, "--out", result, "--instruction", "remove the car",
                    "--engine", "telea", "--text-model", folder, "--box-threshold", "1"]).one_line_error()
    assert "no 'car' found" in line
    assert not result.exists()
