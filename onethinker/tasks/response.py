"""Reading a model response: tag normalisation, the format check, the answer block.

Every function here is linear in the length of the text, so a 100,000-character degenerate
rollout (long whitespace runs, thousands of unclosed tags) costs microseconds, not minutes. Each
one is defined by the regular expression of spec/rewards.md that it must equal; the tests check
the equality on arbitrary text.
"""

from __future__ import annotations

import re

# Spec definition: re.sub(r"\s*(<|>|/)\s*", r"\1", text), i.e. delete every whitespace run that
# touches a '<', '>' or '/'. That pattern is quadratic on long whitespace runs (the engine retries
# the run from every start position). Splitting on the three characters and trimming the pieces
# deletes exactly the same characters in linear time (str.strip and \s agree on what whitespace
# is), and str.split runs several times faster than any regular expression here.
_DELIMS = ("<", ">", "/")
_DELIM_RE = re.compile(r"([<>/])")

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"


def _split_keep(text: str) -> list[str]:
    """``re.split(r"([<>/])", text)``: text pieces at even indices, delimiters at odd ones."""
    parts = [text]
    for ch in _DELIMS:
        if ch not in text:
            continue
        out: list[str] = []
        for i, piece in enumerate(parts):
            if i % 2 or ch not in piece:
                out.append(piece)
                continue
            chunks = piece.split(ch)
            woven = [ch] * (2 * len(chunks) - 1)
            woven[0::2] = chunks
            out.extend(woven)
        parts = out
        if len(parts) > 64:  # a degenerate text: one regex pass beats Python loops over pieces
            return _DELIM_RE.split(text)
    return parts


def normalize(text: str) -> str:
    """Remove whitespace around '<', '>' and '/' everywhere (``< / think >`` -> ``</think>``)."""
    parts = _split_keep(text)
    last = len(parts) - 1
    if last == 0:
        return text
    # parts alternate: text, delimiter, text, ..., text
    parts[0] = parts[0].rstrip()
    parts[2:last:2] = [p.strip() for p in parts[2:last:2]]
    parts[last] = parts[last].lstrip()
    return "".join(parts)


def has_valid_format(text: str) -> bool:
    r"""Whole-string match of ``\A\s*<think>.*?</think>\s*<answer>.*?</answer>\s*\Z`` (DOTALL).

    Equivalently: the stripped text starts with ``<think>`` and ends with ``</answer>``, and some
    ``</think>`` after the opening tag is followed (after optional whitespace) by ``<answer>`` that
    ends before the final ``</answer>``.
    """
    t = text.strip()
    if not (t.startswith(THINK_OPEN) and t.endswith(ANSWER_CLOSE)):
        return False
    last = len(t) - len(ANSWER_CLOSE)  # where the final </answer> starts
    pos = t.find(THINK_CLOSE, len(THINK_OPEN))
    while pos != -1:
        after = pos + len(THINK_CLOSE)
        rest = t[after:]
        j = after + (len(rest) - len(rest.lstrip()))
        if t.startswith(ANSWER_OPEN, j) and j + len(ANSWER_OPEN) <= last:
            return True
        if j + len(ANSWER_OPEN) > last:
            return False  # later </think> tags leave even less room
        pos = t.find(THINK_CLOSE, pos + 1)
    return False


def extract_answer(text: str) -> str | None:
    r"""The stripped inside of the first ``<answer>...</answer>`` block, or None.

    Equals ``re.search(r"<answer>\s*(.*?)\s*</answer>", text, re.DOTALL).group(1).strip()``.
    """
    i = text.find(ANSWER_OPEN)
    if i < 0:
        return None
    j = text.find(ANSWER_CLOSE, i + len(ANSWER_OPEN))
    if j < 0:
        return None
    return text[i + len(ANSWER_OPEN) : j].strip()


def extract_think(text: str) -> str | None:
    """The stripped inside of the first ``<think>...</think>`` block, or None."""
    i = text.find(THINK_OPEN)
    if i < 0:
        return None
    j = text.find(THINK_CLOSE, i + len(THINK_OPEN))
    if j < 0:
        return None
    return text[i + len(THINK_OPEN) : j].strip()


def truth_answer(ground_truth: str) -> str:
    """The ground truth's answer text: the stripped inside of its first answer block if it has one."""
    inner = extract_answer(ground_truth)
    return ground_truth if inner is None else inner
