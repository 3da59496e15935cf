"""The task registry: lookup, prompts, answer parsing and formatting, perfect answers score 1."""

import random

import pytest

from onethinker.rewards import score
from onethinker.synthetic.rollouts import sample_truth
from onethinker.tasks import PROBLEM_TYPES, QUESTION_TEMPLATE, TASKS, UnknownTaskError, find_task, get_task, task_key


def test_every_problem_type_is_registered():
    assert set(PROBLEM_TYPES) == {
        "multiple choice", "numerical", "regression", "math", "OCR", "open-ended", "temporal grounding",
        "spatial grounding", "spatial-temporal grounding", "tracking", "segmentation",
    }
    assert len(TASKS) == 12


def test_lookup_is_case_insensitive_without_stripping():
    assert get_task("Multiple Choice").key == "multiple choice"
    assert get_task("ocr").key == "OCR"
    assert get_task("SEGMENTATION", "Video").key == "segmentation/video"
    assert find_task(" multiple choice") is None
    assert find_task("segmentation", "audio") is None
    with pytest.raises(UnknownTaskError, match="expected one of"):
        get_task("captioning")
    with pytest.raises(UnknownTaskError, match="needs data_type 'image' or 'video'"):
        get_task("segmentation")
    assert task_key("segmentation", "image") == "segmentation/image"
    assert task_key("Something Else", "image") == "something else"


def test_prompt_is_question_options_common_instruction_and_answer_form():
    t = get_task("multiple choice")
    text = t.prompt("<image>What colour is the circle?", ["A. red", "B. blue"])
    assert text.startswith("<image>What colour is the circle?\nOptions:\nA. red\nB. blue\n")
    assert text == QUESTION_TEMPLATE.format(question="<image>What colour is the circle?\nOptions:\nA. red\nB. blue") + t.instruction
    assert "<answer>A</answer>" in text
    assert get_task("segmentation", "video").instruction != get_task("segmentation", "image").instruction
    for task in TASKS.values():
        assert "<answer>" in task.instruction and "Example" in task.instruction


@pytest.mark.parametrize("key", list(TASKS))
def test_formatted_truths_parse_back_and_score_one(key):
    task = TASKS[key]
    rng = random.Random(key)
    for _ in range(20):
        value = sample_truth(task, rng)
        text = task.format_answer(value)
        parsed = task.parse(text)
        assert parsed.ok, parsed.error
        assert task.format_answer(parsed.value) == text
        truth = task.wrap(value)
        r = score(f"<think>because</think><answer>{text}</answer>", truth, task.problem_type, task.data_types[0])
        assert r.accuracy == pytest.approx(1.0) and r.format == 1.0, (text, r)


def test_parse_errors_say_why():
    assert "not valid JSON" in get_task("temporal grounding").parse("{time: [1, 2]}").error
    assert "'time' must be a list of 2 numbers" in get_task("temporal grounding").parse('{"time": [1]}').error
    assert "4 numbers" in get_task("spatial grounding").parse('{"boxes": [1, 2, 3]}').error
    assert "integer second" in get_task("tracking").parse('{"boxes": {"a": [1, 2, 3, 4]}}').error
    assert "3 points" in get_task("segmentation", "image").parse(
        '{"boxes": [1, 2, 3, 4], "positive_points": [[1, 2]], "negative_points": []}').error
    assert "JSON number" in get_task("segmentation", "video").parse(
        '{"time": "3", "boxes": [1, 2, 3, 4], "positive_points": [[1, 2], [1, 2], [1, 2]], '
        '"negative_points": [[1, 2], [1, 2], [1, 2]]}').error
    assert get_task("multiple choice").parse("(b) a dog").value == "B"
    assert not get_task("numerical").parse("about ten").ok
    assert get_task("numerical").parse("1,200").value == 1200.0
