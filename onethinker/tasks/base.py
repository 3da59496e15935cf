"""The task object: everything about one problem type in one place.

A task owns
- its instruction (the answer form and an example), appended to every prompt of that type;
- its answer parser: answer text -> typed value, or the reason it failed (evaluation, data checks);
- ``format_answer``: typed value -> answer text (the inverse; synthetic data, scripted models);
- its reward parts: ``accuracy`` and ``structure`` exactly as spec/rewards.md defines them;
- its bindings, which the later layers look up instead of testing task keys: ``metric`` (the metric family
  that scores it in evaluation, a record of ``onethinker.evaluate.families``), ``picture`` (what a
  picture of an item draws, see ``PICTURE_KINDS``) and ``judged`` (RL may send its accuracy to a model
  judge).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Sequence

if TYPE_CHECKING:  # pragma: no cover
    from ..reward.scorers import TextScorers
    from .vectorised import Columns

#: The common instruction: reasoning in <think>, the answer in <answer>. Kept character for character
#: as in the prompts OneThinker was trained with (the released model answers best to them).
QUESTION_TEMPLATE = (
    "{question}\n"
    "Please answer this question based on the visual content."
    "Provide your thinking process between the <think> and </think> tags, and then give your final "
    "answer between the <answer> and </answer> tags."
    "At the end, you must output the final answer in the format:\n"
    "<answer><your_answer_here></answer>\n"
)


#: what a picture of an item draws (onethinker.report): a box in the picture ("box"), a time span on a
#: timeline ("span"), one box per second with the box given at t = 0 and the path of the centres
#: ("track"), one box per second inside a time span ("tube"), masks with the box/points prompt ("mask");
#: a task whose answer is text has no picture (None)
PICTURE_KINDS = ("box", "span", "track", "tube", "mask")


@dataclass(frozen=True)
class Parsed:
    """Result of parsing an answer: a typed ``value``, or ``error`` saying why it failed."""

    value: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @classmethod
    def fail(cls, reason: str) -> "Parsed":
        return cls(None, reason)


class Task:
    """Base class of a task family. Subclasses set the class attributes and override the methods."""

    #: registry key; the problem_type itself, except segmentation ("segmentation/image", ...)
    key: ClassVar[str]
    #: problem_type as it appears in the data files
    problem_type: ClassVar[str]
    #: data types this task is defined for
    data_types: ClassVar[tuple[str, ...]] = ("image", "video")
    #: answer form instruction with an example, appended after the common instruction
    instruction: ClassVar[str]
    #: the answer is a JSON object
    structured: ClassVar[bool] = False
    #: accuracy runs symbolic checks (sympy) that can take milliseconds or hang: a worker pool runs it
    expensive: ClassVar[bool] = False

    # -- bindings (looked up by evaluation, reports, pictures and the reward) ------------------
    #: the metric family that scores this task in evaluation (a name in onethinker.evaluate.families)
    metric: ClassVar[str]
    #: what a picture of an item draws: one of PICTURE_KINDS, or None when the answer is text
    picture: ClassVar[str | None] = None
    #: the accuracy of this task can go to a model judge in batches (RewardConfig.judge)
    judged: ClassVar[bool] = False
    #: how the pre-RL probe counts its answers (onethinker.evaluate.probe.ANSWER_FORMS): "discrete",
    #: "text", "free text" or "continuous"
    answer_form: ClassVar[str] = "continuous"
    #: the question comes with options (the record's ``options`` list), shown in the prompt and checked
    has_options: ClassVar[bool] = False
    #: the ground truth includes masks (``segmentation_output``); an answer is a prompt for a segmenter
    mask_truth: ClassVar[bool] = False
    #: the majority baseline ranks constant answers with a numpy copy of this task's reward
    #: (``vector_parse``, ``vector_parts``, ``median_answer``; see ``onethinker.tasks.vectorised``);
    #: False: its candidates are scored exactly with the batch scorer
    vectorised: ClassVar[bool] = False

    # -- prompts -----------------------------------------------------------------------------
    def prompt(self, question: str, options: Sequence[str] | None = None) -> str:
        """The user turn's text: question (+ options), the common instruction, the answer form."""
        if options:
            question = f"{question}\nOptions:\n" + "\n".join(options)
        return QUESTION_TEMPLATE.format(question=question) + self.instruction

    # -- answers -----------------------------------------------------------------------------
    def parse(self, answer: str) -> Parsed:  # pragma: no cover - abstract
        raise NotImplementedError

    def format_answer(self, value: Any) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def wrap(self, value: Any) -> str:
        """``<answer>...</answer>`` around the formatted value (the ground-truth form of the data)."""
        return f"<answer>{self.format_answer(value)}</answer>"

    # -- data checks ---------------------------------------------------------------------------
    def check_value(self, value: Any) -> list[str]:
        """Problems with a parsed ground-truth value (ranges, ordering); [] when it is sound."""
        return []

    def times(self, value: Any) -> list[float]:
        """The times (seconds) a parsed value refers to, so data checks can compare them with the video."""
        return []

    # -- reward parts (spec/rewards.md sections 4 and 5) --------------------------------------
    def accuracy(self, answer: str, truth: str, scorers: "TextScorers") -> float:  # pragma: no cover
        raise NotImplementedError

    def structure(self, answer: str, truth: str) -> float:
        """Structure score, given that the format check passed. Unstructured types: 0.5."""
        return 0.5

    # -- the reward in numpy, for the majority baseline (``vectorised`` tasks) ----------------
    def vector_parse(self, texts: Sequence[str], table_keys: Sequence[str] | None = None) -> "Columns":
        """Answer texts parsed into arrays (``onethinker.tasks.vectorised.Columns``); ``table_keys``:
        the columns of per-second box tables (default: every key the texts use)."""
        raise NotImplementedError(f"task {self.key!r} has no vectorised reward")

    def vector_parts(self, cand: "Columns", i: int, truth: "Columns") -> tuple[Any, Any]:
        """(accuracy, structure) of candidate ``i`` of ``cand`` against every truth, (N,) arrays (the
        structure may be a scalar), equal to ``accuracy`` / ``structure`` answer by answer."""
        raise NotImplementedError(f"task {self.key!r} has no vectorised reward")

    def median_answer(self, texts: Sequence[str]) -> str | None:
        """The per-coordinate median of these answers written in the answer form, or None."""
        raise NotImplementedError(f"task {self.key!r} has no vectorised reward")

    # -- votes -------------------------------------------------------------------------------
    def vote_key(self, text: str) -> str:
        """An answer text normalised for votes and distinct counts (the pre-RL probe): answers with the
        same key score the same. By ``answer_form``: transcriptions by their words, free text by its
        lower-cased words, structured answers by their JSON with sorted keys."""
        return default_vote_key(self.answer_form, text)

    def __repr__(self) -> str:
        return f"<Task {self.key!r}>"


# ---------------------------------------------------------------------------------------------
# JSON helpers shared by the structured tasks
# ---------------------------------------------------------------------------------------------
def json_object(text: Any) -> dict | None:
    """``json.loads(text)`` when it is a JSON object, else None (never raises)."""
    if not isinstance(text, str):
        return None
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return obj if isinstance(obj, dict) else None


def parse_json_object(text: str) -> tuple[dict | None, str | None]:
    """Strict parse for evaluation and data checks: (object, None) or (None, reason)."""
    if not isinstance(text, str):
        return None, f"expected a string, got {type(text).__name__}"
    try:
        obj = json.loads(text)
    except RecursionError:
        return None, "JSON nested too deeply"
    except ValueError as e:
        return None, f"not valid JSON ({e})"
    if not isinstance(obj, dict):
        return None, f"expected a JSON object, got {type(obj).__name__}"
    return obj, None


def default_vote_key(form: str | None, text: str) -> str:
    """``Task.vote_key`` by answer form (None: a key that names no task)."""
    text = text.strip()
    if form == "text":
        return " ".join(text.split())
    if form == "free text":
        return " ".join(text.lower().split())
    obj = json_object(text)
    return json.dumps(obj, sort_keys=True) if obj is not None else "text:" + text


def dumps(value: Any) -> str:
    """Compact-but-readable JSON as the answers use it: ``{"time": [1.5, 3.0]}``."""
    return json.dumps(value, ensure_ascii=False)


def clean_number(x: float, ndigits: int = 3) -> int | float:
    """A float rounded for display in answers; integral values become ints."""
    x = round(float(x), ndigits)
    if not math.isfinite(x):
        raise ValueError(f"not a finite number: {x}")
    return int(x) if x == int(x) else x


COORD_MAX = 1000.0  # boxes and points live in a 0..1000 frame (spec/data-format.md)


def check_box(box: Any, where: str = "box") -> list[str]:
    x1, y1, x2, y2 = box
    out = []
    if min(box) < 0 or max(box) > COORD_MAX:
        out.append(f"{where} {list(box)} is outside the 0..1000 frame")
    if x2 <= x1 or y2 <= y1:
        out.append(f"{where} {list(box)} has no area (expected x1 < x2 and y1 < y2)")
    return out


def check_point(point: Any, where: str = "point") -> list[str]:
    if min(point) < 0 or max(point) > COORD_MAX:
        return [f"{where} {list(point)} is outside the 0..1000 frame"]
    return []


def check_span(span: Any, where: str = "time") -> list[str]:
    s, e = span
    out = []
    if s < 0:
        out.append(f"{where} {list(span)} starts before 0")
    if e <= s:
        out.append(f"{where} {list(span)} does not end after it starts")
    return out


def clip01(x: float) -> float:
    return max(0.0, min(1.0, x))
