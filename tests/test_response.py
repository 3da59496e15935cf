"""The linear-time readers of a response equal the regular expressions of spec/rewards.md."""

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from onethinker.tasks.response import extract_answer, extract_think, has_valid_format, normalize, truth_answer

SPEC_NORMALIZE = re.compile(r"\s*(<|>|/)\s*")
SPEC_FORMAT = re.compile(r"\A\s*<think>.*?</think>\s*<answer>.*?</answer>\s*\Z", re.DOTALL)
SPEC_ANSWER = re.compile(r"<answer>\s*(.*?)\s*</answer>", re.DOTALL)

# Pieces that make the interesting cases likely: tags, broken tags, every kind of whitespace
# (including the separators \x1c-\x1f and Unicode spaces that str.strip and \s both treat as space).
PIECES = st.sampled_from(
    ["<think>", "</think>", "<answer>", "</answer>", "<", ">", "/", " ", "\n", "\t", "\x1c", "\u2003", "\xa0",
     "\x85", "a", "B", "x y", " < / think > ", "< answer >", "{\"time\": [1, 2]}", "ans"]
)
TEXTS = st.one_of(st.text(max_size=60), st.lists(PIECES, max_size=25).map("".join))


def spec_answer(text):
    m = SPEC_ANSWER.search(text)
    return m.group(1).strip() if m else None


@settings(max_examples=1000)
@given(TEXTS)
def test_normalize_equals_spec_regex(text):
    assert normalize(text) == SPEC_NORMALIZE.sub(r"\1", text)


@settings(max_examples=1000)
@given(TEXTS)
def test_format_equals_spec_regex(text):
    assert has_valid_format(text) == bool(SPEC_FORMAT.fullmatch(text))
    norm = normalize(text)
    assert has_valid_format(norm) == bool(SPEC_FORMAT.fullmatch(norm))


@settings(max_examples=1000)
@given(TEXTS)
def test_answer_equals_spec_regex(text):
    assert extract_answer(text) == spec_answer(text)


def test_degenerate_inputs_are_read_correctly():
    # Shapes that make the spec's regular expressions backtrack for a long time.
    cases = [
        " " * 5000 + "x",
        "<think>" + "</think><answer>" * 500,
        "<answer>" * 3000,
        "<think>a</think>" + " \n" * 2000 + "<answer>b</answer>",
        "/ " * 3000,
    ]
    for text in cases:
        assert normalize(text) == SPEC_NORMALIZE.sub(r"\1", text)
        assert extract_answer(text) == spec_answer(text)
    assert has_valid_format("<think>a</think>" + " \n" * 2000 + "<answer>b</answer>")
    assert not has_valid_format("<think>" + "</think><answer>" * 500)


def test_examples_from_the_spec():
    assert normalize("< / think >") == "</think>"
    assert normalize("<answer> a / b </answer>") == "<answer>a/b</answer>"
    # a whole-string match lets the lazy .*? run over a second answer block
    assert has_valid_format("<think>a</think><answer>b</answer><answer>c</answer>")
    assert extract_answer("<think>a</think><answer> b </answer><answer>c</answer>") == "b"
    assert extract_think("<think> why </think><answer>b</answer>") == "why"
    assert extract_answer("<answer>unclosed") is None


def test_truth_answer():
    assert truth_answer("<answer> B </answer>") == "B"
    assert truth_answer("B") == "B"
    assert truth_answer("  B ") == "  B "  # the ground truth is not stripped or normalised outside tags
    assert truth_answer("<answer></answer>") == ""
