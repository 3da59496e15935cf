"""The lmms-eval plugin's answer extraction and question routing (no lmms-eval needed)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from onethinker.integrations.lmms_eval.answers import (answer_text, clean_context, harness_answer, has_option_lines,
                                                       prompt_text, question_type, split_visuals, unwrap_latex)


@pytest.mark.parametrize("reply, want", [
    ("<think>The dog is on the left.</think><answer>B</answer>", "B"),
    ("<think>a</think>\n<answer> 12.5 </answer>\nI hope this helps!", "12.5"),            # extra text after
    ("< think >a</ think >< answer >C</ answer >", "C"),                                 # spaced tags
    ("<think>counting: 3</think> The answer is 3.", "The answer is 3."),                # no answer block
    ("<think>counting ... 1, 2, 3, and", ""),                                            # cut off in reasoning
    ("<think>x</think><answer>Paris is the", "Paris is the"),                            # cut off in answer
    ("B", "B"),                                                                          # answered directly
    ("", ""),
    ("<answer>first</answer><answer>second</answer>", "first"),
])
def test_answer_text(reply, want):
    assert answer_text(reply) == want


@pytest.mark.parametrize("answer, want", [
    (r"\boxed{42}", "42"),
    (r"$\boxed{\frac{1}{2}}$", r"\frac{1}{2}"),
    (r"$$-\dfrac{3}{2}$$", r"-\dfrac{3}{2}"),
    (r"\(x^2\)", "x^2"),
    (r"\[ 7 \]", "7"),
    (r"\text{B}", "B"),
    (r"so \boxed{3} or \boxed{4}", "4"),                  # the last box
    (r"\boxed{\sqrt{2}+1}", r"\sqrt{2}+1"),               # nested braces
    (r"\frac{1}{2}", r"\frac{1}{2}"),                     # inner LaTeX stays
    (r"\boxed{12", r"\boxed{12"),                         # unclosed: left alone
    ("$5 and $6", "$5 and $6"),                           # does not end with "$": not one math span
])
def test_unwrap_latex(answer, want):
    assert unwrap_latex(answer) == want


@pytest.mark.parametrize("reply, ptype, want", [
    ("<think>r</think><answer>(B)</answer>", "multiple choice", "B"),
    ("<think>r</think><answer>C. a red cube</answer>", "multiple choice", "C"),
    ("<think>r</think><answer>D) fish</answer>", "multiple choice", "D"),
    ("<think>r</think><answer>A cat on a mat</answer>", "multiple choice", "A cat on a mat"),  # not a letter
    ("<think>r</think><answer>$\\boxed{B}$</answer>", "multiple choice", "B"),
    ("<think>r</think><answer>\\boxed{3.5}</answer>", "numerical", "3.5"),
    ("<think>r</think><answer>A. not a letter here</answer>", "open-ended", "A. not a letter here"),
])
def test_harness_answer(reply, ptype, want):
    assert harness_answer(reply, ptype) == want


@settings(max_examples=300, deadline=None)
@given(st.text(), st.sampled_from([None, "multiple choice", "numerical", "math", "OCR", "open-ended"]))
def test_harness_answer_never_raises(reply, ptype):
    assert isinstance(harness_answer(reply, ptype), str)


def test_harness_answer_non_string():
    assert harness_answer(None) == "" and harness_answer(3, "numerical") == ""


def test_question_type_routing():
    mc = "What is shown?\nA. cat\nB. dog\nC. fish\nAnswer with the option's letter from the given choices directly."
    assert has_option_lines(mc)
    assert question_type("mmstar", mc) == "multiple choice"
    assert question_type("mmmu_val", "Compute the area.", {"question_type": "open"}) == "open-ended"
    assert question_type("mmmu_val", "Which?", {"question_type": "multiple-choice"}) == "multiple choice"
    assert question_type("mathvista_testmini", "What is x?", {"question_type": "free_form"}) == "math"
    assert question_type("mathvista_testmini", "Which?\n(A) 1\n(B) 2", {"question_type": "multi_choice"}) == "multiple choice"
    assert question_type("ocrbench", "What is written?") == "OCR"
    assert question_type("local_task", "How many?", {"answer_type": "integer"}) == "numerical"
    assert question_type("chartqa", "What is the highest value?") == "open-ended"
    assert question_type("anything", "A question", choice="numerical") == "numerical"
    with pytest.raises(Exception):
        question_type("anything", "q", choice="no such type")
    # "A. " inside prose is not a list of options
    assert not has_option_lines("See Fig. A. It shows a cat.")


def test_prompt_replaces_bare_answer_instruction():
    ctx = "What colour is the cube?\nA. red\nB. blue\nAnswer with the option's letter from the given choices directly."
    text = prompt_text(ctx, "multiple choice")
    assert "directly" not in text and "A. red\nB. blue" in text
    assert "<think>" in text and "<answer>" in text and "single option letter" in text
    assert clean_context("Q?\nAnswer the question using a single word or phrase.") == "Q?"


def test_split_visuals(tmp_path):
    from PIL import Image

    img = Image.new("RGB", (4, 4))
    got = split_visuals([img, "/x/clip.MP4", "/x/photo.jpg"])
    assert [k for k, _ in got] == ["image", "video", "image"]
    assert split_visuals(None) == []
    with pytest.raises(ValueError, match="visual 0: dict"):
        split_visuals([{"array": [0.0], "sampling_rate": 16000}])
