"""What the lmms-eval plugin hands to a benchmark's own scoring: the answer, taken out of OneThinker's reply,
and the question type that chooses OneThinker's prompt. Nothing here imports lmms-eval, so the main
environment tests it.

A reply is ``<think>reasoning</think><answer>answer</answer>``. lmms-eval's tasks score short answers (an
option letter, a number, a word) with their own parsers, so the plugin returns only the answer:

- the inside of the first ``<answer>...</answer>`` block (whitespace inside the tags tolerated);
- no closed block: the text after an unclosed ``<answer>`` (a reply cut off in its answer), else the text
  after the last ``</think>``, else, when the reply has no tags at all, the whole reply (a model that
  answered directly). A reply cut off inside its reasoning (``<think>`` never closed, no answer) gives an
  empty answer: it is scored wrong rather than a letter picked out of the reasoning;
- LaTeX wrappers around the whole answer are removed, as a grader reading the number would:
  ``\\boxed{..}`` (the last one, braces balanced), ``$..$``, ``$$..$$``, ``\\(..\\)``, ``\\[..\\]``,
  ``\\text{..}``, ``\\textbf{..}``, ``\\mathrm{..}``; LaTeX inside the answer (``\\frac{1}{2}``) stays;
- for multiple choice, an answer that parses as an option (``(B)``, ``B.``, ``B) cat``) becomes its letter.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

from ...tasks import get_task
from ...tasks.response import ANSWER_CLOSE, ANSWER_OPEN, THINK_CLOSE, THINK_OPEN, extract_answer, normalize

#: an option letter alone or marked as one: "B", "(B)", "(B) cat", "B.", "B) cat", "B: cat" (not "A cat")
_LETTER = re.compile(r"^(?:\(([A-Z])\)|([A-Z])(?:[.):]|$))")
_TAGS = re.compile(r"</?(?:think|answer)>")
_WRAPPERS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"))
_COMMANDS = ("\\boxed", "\\text", "\\textbf", "\\mathrm", "\\mathbf")


def _braced(text: str, start: int) -> tuple[str, int] | None:
    """The inside of the brace group opening at ``text[start] == '{'`` and the index after it; None when the
    group never closes."""
    depth = 0
    for i in range(start, len(text)):
        c = text[i]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1:i], i + 1
    return None


def _last_boxed(text: str) -> str | None:
    i = text.rfind("\\boxed")
    while i >= 0:
        j = i + len("\\boxed")
        while j < len(text) and text[j] == " ":
            j += 1
        if j < len(text) and text[j] == "{":
            got = _braced(text, j)
            if got is not None:
                return got[0]
        i = text.rfind("\\boxed", 0, i)
    return None


def unwrap_latex(answer: str) -> str:
    """Remove LaTeX wrappers around the whole answer (repeatedly): ``\\boxed{}`` anywhere (the last one
    wins), whole-string math delimiters and text commands."""
    text = answer.strip()
    boxed = _last_boxed(text)
    if boxed is not None:
        text = boxed.strip()
    for _ in range(8):  # nested wrappers: $\boxed{\text{B}}$
        before = text
        for left, right in _WRAPPERS:
            if len(text) >= len(left) + len(right) and text.startswith(left) and text.endswith(right):
                inner = text[len(left):len(text) - len(right)].strip()
                if inner:
                    text = inner
                    break
        for cmd in _COMMANDS:
            if text.startswith(cmd):
                j = len(cmd)
                while j < len(text) and text[j] == " ":
                    j += 1
                if j < len(text) and text[j] == "{":
                    got = _braced(text, j)
                    if got is not None and got[1] == len(text):
                        text = got[0].strip()
                        break
        if text == before:
            break
    return text


def answer_text(reply: Any) -> str:
    """The answer part of a reply (module docstring), before LaTeX unwrapping; "" when there is none."""
    if not isinstance(reply, str):
        return ""
    text = normalize(reply)
    inside = extract_answer(text)
    if inside is None:
        open_at = text.rfind(ANSWER_OPEN)
        think_end = text.rfind(THINK_CLOSE)
        if open_at >= 0:
            inside = text[open_at + len(ANSWER_OPEN):]
        elif think_end >= 0:
            inside = text[think_end + len(THINK_CLOSE):]
        elif THINK_OPEN in text:
            return ""  # cut off inside the reasoning
        else:
            inside = text
    return _TAGS.sub("", inside).replace(ANSWER_CLOSE, "").strip()


def harness_answer(reply: Any, problem_type: str | None = None, data_type: str = "image") -> str:
    """The string lmms-eval's scoring receives for ``reply`` (module docstring). Never raises."""
    try:
        text = unwrap_latex(answer_text(reply))
        if problem_type is not None and text and get_task(problem_type, data_type).has_options:
            m = _LETTER.match(text)
            if m:
                return m.group(1) or m.group(2)
        return text
    except Exception:  # model output is untrusted: the harness gets the plain text instead
        return reply.strip() if isinstance(reply, str) else ""


# -------------------------------------------------------------------------------------------------
# question types: which of OneThinker's prompts a benchmark question gets
# -------------------------------------------------------------------------------------------------
#: lmms-eval task-name prefixes whose questions are of one type (checked after an explicit choice and
#: before the options / document heuristics). The first matching prefix wins.
TASK_TYPES: tuple[tuple[str, str], ...] = (
    ("ocrbench", "OCR"),
    ("mathverse", "math"),
    ("mathvision", "math"),
    ("mathvista", "math"),
    ("mmsci", "open-ended"),
    ("caption", "open-ended"),
    ("coco_cap", "open-ended"),
    ("nocaps", "open-ended"),
    ("flickr30k", "open-ended"),
)

#: an option line in a question: "A. cat", "(B) dog", "C) fish", "D: bird"
_OPTION_LINE = re.compile(r"^\s*(?:\(([A-Z])\)|([A-Z])[.):：])\s*\S", re.MULTILINE)
#: instructions that ask for a bare answer, which OneThinker's own answer instruction replaces
_DIRECT = re.compile(
    r"^\s*(?:answer with the option'?s letter[^\n]*|answer the question (?:using|with) a single (?:word|number)[^\n]*"
    r"|answer with a single (?:word|letter|number|character)[^\n]*|please answer directly[^\n]*"
    r"|answer directly[^\n]*|answer the question directly[^\n]*)$",
    re.IGNORECASE | re.MULTILINE,
)

MC_DOC_TYPES = {"multi_choice", "multiple-choice", "multiple_choice", "multiple choice", "mc"}


def has_option_lines(text: str) -> bool:
    """Two or more option lines lettered in order from A."""
    letters = [a or b for a, b in _OPTION_LINE.findall(text)]
    return len(letters) >= 2 and letters[0] == "A" and letters[1] == "B"


def question_type(task_name: str, context: str, doc: Mapping[str, Any] | None = None, *, choice: str = "auto") -> str:
    """The OneThinker problem type for one benchmark question: ``choice`` unless "auto"; else the task-name
    table; else "multiple choice" when the document says so or the question lists options A, B, ...; else
    "numerical" when the document's answer type is a number; else "open-ended"."""
    if choice and choice != "auto":
        return get_task(choice, "image").problem_type  # validates the name
    name = (task_name or "").lower()
    doc = doc if isinstance(doc, Mapping) else {}
    qtype = str(doc.get("question_type", "")).lower()
    for prefix, kind in TASK_TYPES:
        if name.startswith(prefix) or f"_{prefix}" in name:
            if kind == "math" and (qtype in MC_DOC_TYPES or has_option_lines(context)):
                return "multiple choice"
            return kind
    if qtype in MC_DOC_TYPES or has_option_lines(context or ""):
        return "multiple choice"
    if str(doc.get("answer_type", "")).lower() in {"integer", "float", "number", "numeric"}:
        return "numerical"
    return "open-ended"


def clean_context(context: str) -> str:
    """The benchmark's question without its bare-answer instruction lines (OneThinker's prompt says how to
    answer); blank runs collapsed."""
    text = _DIRECT.sub("", context or "")
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def prompt_text(context: str, problem_type: str, data_type: str = "image") -> str:
    """The user turn's text: the benchmark's question (its options included, as the benchmark wrote them)
    with OneThinker's reasoning instruction and the answer form of the question type."""
    return get_task(problem_type, data_type).prompt(clean_context(context))


def split_visuals(visuals: Sequence[Any] | None) -> list[tuple[str, Any]]:
    """lmms-eval's ``doc_to_visual`` output as (kind, value) pairs: PIL images are images; path strings are
    videos when their suffix is a video container's, else images. Raises ValueError naming what it cannot
    use (audio, other objects)."""
    from PIL import Image

    from ...evaluate.infer import VIDEO_SUFFIXES

    out: list[tuple[str, Any]] = []
    for i, v in enumerate(visuals or []):
        if isinstance(v, Image.Image):
            out.append(("image", v))
        elif isinstance(v, str):
            suffix = "." + v.rsplit(".", 1)[-1].lower() if "." in v else ""
            out.append(("video" if suffix in VIDEO_SUFFIXES else "image", v))
        else:
            raise ValueError(f"visual {i}: {type(v).__name__} is not an image or a video path (audio and other "
                             f"media are not supported)")
    return out
