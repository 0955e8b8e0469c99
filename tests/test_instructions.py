"""The instruction parser (pipelines.instructions) and ``python -m pipelines edit``; no model, no download."""

import json

import numpy as np
import pytest
from PIL import Image

from pipelines.errors import UserError
from pipelines.instructions import REMOVE_PROMPT, Plan, parse

SENTENCES = [
    # remove
    ("remove the car", "car", "remove", ""),
    ("erase the person on the left", "person on the left", "remove", ""),
    ("get rid of the trash can", "trash can", "remove", ""),
    ("delete the watermark", "watermark", "remove", ""),
    ("take out the power lines", "power lines", "remove", ""),
    ("Remove the car.", "car", "remove", ""),
    ("Please remove the car!", "car", "remove", ""),
    ("could you erase the person on the left, please?", "person on the left", "remove", ""),
    ("REMOVE THE TRASH CAN", "trash can", "remove", ""),
    ("remove a bird", "bird", "remove", ""),
    ("remove the car from the photo", "car", "remove", ""),
    ("  delete   this   sign  ", "sign", "remove", ""),
    ("take away the cables, thanks", "cables", "remove", ""),
    ("I'd like you to remove the tourist in the background", "tourist in the background", "remove", ""),
    # replace
    ("replace the car with a red bus", "car", "replace", "a red bus"),
    ("Replace the car with a red bus.", "car", "replace", "a red bus"),
    ("swap the sofa for a leather armchair", "sofa", "replace", "a leather armchair"),
    ("swap out the sofa for a leather armchair", "sofa", "replace", "a leather armchair"),
    ("change the sky to a sunset", "sky", "replace", "a sunset"),
    ("turn the dog into a cat", "dog", "replace", "a cat"),
    ("put a vase of flowers where the lamp is", "lamp", "replace", "a vase of flowers"),
    ("put some books where the vase used to be", "vase", "replace", "some books"),
    ("place a bench in place of the bin", "bin", "replace", "a bench"),
    ("please replace the man on the right with a statue", "man on the right", "replace", "a statue"),
    ("Replace the sky with \u201ca dramatic stormy sky\u201d", "sky", "replace", "a dramatic stormy sky"),
    ("transform the car into a horse-drawn carriage", "car", "replace", "a horse-drawn carriage"),
    ("make the puddle into a pond", "puddle", "replace", "a pond"),
    # recolour
    ("make the car red", "car", "recolour", "a red car"),
    ("make the walls light blue", "walls", "recolour", "light blue walls"),
    ("paint the door green", "door", "recolour", "a green door"),
    ("recolour the shirt navy", "shirt", "recolour", "a navy shirt"),
    ("recolor the shirt navy", "shirt", "recolour", "a navy shirt"),
    ("Make the car RED.", "car", "recolour", "a red car"),
    ("colour the umbrella orange", "umbrella", "recolour", "an orange umbrella"),
    ("change the car to red", "car", "recolour", "a red car"),
    ("change the colour of the car to dark green", "car", "recolour", "a dark green car"),
    ("turn the jacket red and white", "jacket", "recolour", "a red and white jacket"),
    ("paint the fence on the right dark blue-green", "fence on the right", "recolour",
     "a dark blue-green fence on the right"),
    ("can you make the grass golden, please", "grass", "recolour", "golden grass"),
    ("make my bag pink", "bag", "recolour", "a pink bag"),
]

UNPARSEABLE = [
    "",
    "   ",
    "hello",
    "make it better",
    "make the car bigger",
    "remove",
    "replace the car",
    "please",
    "remove it",
    "the car is red",
    "add more contrast",
]


@pytest.mark.parametrize("sentence,select,mode,prompt", SENTENCES)
def test_sentence_gives_its_plan(sentence, select, mode, prompt):
    assert parse(sentence) == Plan(select, mode, prompt)


def test_the_table_covers_every_mode_and_35_sentences():
    assert len(SENTENCES) >= 35
    assert {mode for _, _, mode, _ in SENTENCES} == {"remove", "replace", "recolour"}


@pytest.mark.parametrize("sentence", UNPARSEABLE)
def test_unparseable_sentence_is_a_one_line_user_error_naming_the_forms(sentence):
    with pytest.raises(UserError) as info:
        parse(sentence)
    message = str(info.value)
    assert "\n" not in message
    assert "remove the X" in message and "replace the X with Y" in message and "make the X <colour>" in message


def test_plan_is_frozen_and_its_json_has_exactly_three_keys():
    plan = parse("replace the car with a red bus")
    with pytest.raises(AttributeError):
        plan.select = "bus"
    assert json.loads(plan.as_json()) == {"select": "car", "mode": "replace", "prompt": "a red bus"}


# ---------------------------------------------------------------------------------------------------------
# python -m pipelines edit


@pytest.fixture()
def photo(tmp_path):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    mask = np.zeros((48, 64), np.uint8)
    mask[12:30, 20:44] = 255
    paths = {"image": tmp_path / "photo.png", "mask": tmp_path / "mask.png", "out": tmp_path / "result.png"}
    Image.fromarray(image).save(paths["image"])
    Image.fromarray(mask).save(paths["mask"])
    return image, mask > 0, paths


@pytest.mark.parametrize("sentence", ["remove the car", "replace the car with a red bus", "make the car red"])
def test_dry_run_prints_one_json_plan_and_reads_no_image(sentence, run_cli, tmp_path):
    missing = tmp_path / "no-such-image.jpg"
    run = run_cli(["edit", "--image", missing, "--out", tmp_path / "o.png", "--instruction", sentence, "--dry-run"])
    assert run.code == 0, run.err
    plan = json.loads(run.out)
    assert set(plan) == {"select", "mode", "prompt"}
    assert plan == json.loads(parse(sentence).as_json())
    assert not (tmp_path / "o.png").exists()


def test_dry_run_of_an_unparseable_sentence_is_a_one_line_error(run_cli):
    line = run_cli(["edit", "--instruction", "make it better", "--dry-run"]).one_line_error()
    assert "remove the X" in line


def test_without_mask_and_without_a_text_model_is_a_one_line_error_naming_mask(run_cli, photo, tmp_path):
    _, _, paths = photo
    run = run_cli(["edit", "--image", paths["image"], "--out", paths["out"], "--instruction", "remove the car",
                   "--text-model", tmp_path / "no-such-model"])
    line = run.one_line_error()
    assert "'car' cannot be selected by text" in line and "--mask" in line
    assert not paths["out"].exists()


@pytest.mark.parametrize("sentence", ["remove the car", "replace the car with a red bus", "make the car red"])
def test_with_mask_and_telea_writes_a_result_untouched_outside(sentence, run_cli, photo):
    image, mask, paths = photo
    run = run_cli(["edit", "--image", paths["image"], "--mask", paths["mask"], "--out", paths["out"],
                   "--instruction", sentence, "--engine", "telea"])
    assert run.code == 0, run.err
    report = json.loads(run.out)
    assert report["plan"] == json.loads(parse(sentence).as_json())
    assert report["outputs"] == [str(paths["out"])]
    assert report["report"]["outside_changed"] == 0
    result = np.asarray(Image.open(paths["out"]))
    assert result.shape == image.shape and result.dtype == np.uint8
    assert np.array_equal(result[~mask], image[~mask])
    assert not np.array_equal(result[mask], image[mask])


def test_remove_uses_prefill_strength_and_the_background_prompt(run_cli, photo, monkeypatch):
    import pipelines.inpaint

    image, mask, paths = photo
    calls = []
    real = pipelines.inpaint.inpaint

    def spy(*args, **kwargs):
        calls.append((args, kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(pipelines.inpaint, "inpaint", spy)
    run = run_cli(["edit", "--image", paths["image"], "--mask", paths["mask"], "--out", paths["out"],
                   "--instruction", "erase the person on the left", "--engine", "telea"])
    assert run.code == 0, run.err
    (args, kwargs), = calls
    assert args[2] == REMOVE_PROMPT and kwargs["prefill"] is True and kwargs["strength"] == 0.9


def test_out_must_not_be_the_input(run_cli, photo):
    _, _, paths = photo
    line = run_cli(["edit", "--image", paths["image"], "--mask", paths["mask"], "--out", paths["image"],
                    "--instruction", "remove the car", "--engine", "telea"]).one_line_error()
    assert "overwrite" in line
