"""The data engine (``onethinker data annotate``): chain-of-thought SFT data from RL-format records, written by
any VLM and kept only where OneThinker's reward says the answer is right.

For each record: the task's own prompt (the registry's, as training uses) with its images, or its video's
sampled frames with their times as the back-end sends them; K samples; each scored with
``onethinker.rewards.score`` against the record's answer; the best sample whose format is right and whose
accuracy reaches the task's threshold becomes an SFT conversation in the release's SFT format (the user turn
is the prompt without any hint, the assistant turn the model's reply).

Thresholds apply to the reward's accuracy (``--min-accuracy`` sets one for all): discrete answers (multiple
choice, numerical, math) 1.0; transcriptions (OCR, 1 - WER) 0.9; free text (open-ended, ROUGE) 0.5; continuous
answers 0.5 (regression's MRA; the IoUs of grounding and tracking; for segmentation the reward's weighted sum
of box IoU, point similarities and, for video, key time: the box alone does not decide).

Files in the output folder:

- ``annotations.jsonl``: one line per answered record, appended as each finishes (flushed and synced; a
  ``failed`` record asked again later gets another line, and the newest counts): every sample
  with its reward parts, whether it was kept and why not, the record's status (``kept``, ``rejected``,
  ``failed``: the request still failed after the back-end's retries, ``invalid``: the record cannot be
  asked), token counts. A killed run resumes: records already on file are not asked again (a torn last
  line is cut off); those whose requests were in flight at the kill (at most ``concurrency``) and the
  ``failed`` ones are asked again; the newest line of a record counts.
- ``onethinker_sft_image.json``, ``onethinker_sft_video.json``: the kept conversations, rebuilt from
  ``annotations.jsonl`` at the end of every run (written whole, then renamed), media paths as the input
  records give them (relative to the input's media root).
- ``summary.json``: per task key, asked / kept / rejected by reason / failed / invalid and tokens used.
"""

from __future__ import annotations

import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from ..evaluate.store import ResultStore, item_key

#: the accuracy a sample needs to be kept, by the task's answer form (``Task.answer_form``)
DEFAULT_MIN_ACCURACY = {"discrete": 1.0, "text": 0.9, "free text": 0.5, "continuous": 0.5}
SFT_FILES = {"image": "onethinker_sft_image.json", "video": "onethinker_sft_video.json"}
HINT = ("\nThe correct final answer is: {answer}\nReason step by step from what you see to this answer, without "
        "saying that it was given, and end with it in the answer tags.")


class AnnotateError(ValueError):
    """Input that cannot be annotated at all (files, duplicate problem_ids); the message names them."""


@dataclass
class AnnotateConfig:
    n: int = 4
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 2048
    min_accuracy: float | None = None  # None: DEFAULT_MIN_ACCURACY by answer form
    concurrency: int = 4
    limit: int | None = None
    hint_answer: bool = False
    media_root: str | None = None  # None: each file's folder
    allow_absolute: bool = False
    video_fps: float = 2.0
    max_frames: int = 128
    seed: int = 0


def threshold(task: Any, cfg: AnnotateConfig) -> float:
    if cfg.min_accuracy is not None:
        return float(cfg.min_accuracy)
    return DEFAULT_MIN_ACCURACY.get(task.answer_form, 1.0)


# -------------------------------------------------------------------------------------------------
# records
# -------------------------------------------------------------------------------------------------
@dataclass
class Item:
    source: str
    index: int
    record: dict
    root: Path
    task: Any = None
    truth: str = ""
    error: str | None = None

    @property
    def problem_id(self) -> Any:
        return self.record.get("problem_id")


def _prepare(item: Item, cfg: AnnotateConfig) -> None:
    """Resolve the task, the truth and the media; an unusable record gets ``error`` naming the field."""
    from ..data.chat import RecordError, media_of
    from ..data.media import resolve_media
    from ..data.records import EVAL, SFT, kind_of
    from ..tasks import UnknownTaskError, get_task

    r = item.record
    try:
        kind = kind_of(r)
        if kind == SFT:
            raise RecordError("messages: an SFT record already has its answer; annotate RL-format records")
        field = "solution" if kind == EVAL else "answer"
        if not isinstance(r.get(field), str) or not r[field].strip():
            raise RecordError(f"{field}: expected the ground truth as a non-empty string")
        if not isinstance(r.get("problem"), str):
            raise RecordError("problem: expected a string")
        item.task = get_task(r.get("problem_type"), r.get("data_type"))
        item.truth = r[field]
        media = media_of(r)
        if not media:
            raise RecordError("images/videos: the record has no media")
        for kind_, path in media:
            p = resolve_media(path, item.root, allow_absolute=cfg.allow_absolute)
            if not Path(p).is_file():
                raise RecordError(f"{'images' if kind_ == 'image' else 'videos'}: {path}: no such file under {item.root}")
    except (RecordError, UnknownTaskError, ValueError) as e:
        item.error = str(e)


def load_items(files: Sequence[str | Path], cfg: AnnotateConfig) -> list[Item]:
    from ..data.records import read_records

    items: list[Item] = []
    seen: dict[str, str] = {}
    for f in files:
        path = Path(f)
        root = Path(cfg.media_root) if cfg.media_root is not None else path.parent
        try:
            records = list(read_records(path))
        except (OSError, ValueError) as e:
            raise AnnotateError(f"{path}: cannot read records ({e})") from e
        for i, r in enumerate(records):
            if not isinstance(r, dict):
                raise AnnotateError(f"{path}: record {i}: expected an object")
            if "problem_id" not in r:
                raise AnnotateError(f"{path}: record {i}: problem_id: missing (annotations resume by problem_id)")
            key = item_key(r["problem_id"])
            if key in seen:
                raise AnnotateError(f"{path}: record {i}: problem_id {r['problem_id']!r} is also in {seen[key]}; "
                                    f"annotations resume by problem_id, so each must be unique")
            seen[key] = f"{path} (record {i})"
            items.append(Item(str(path), i, r, root))
    return items[: cfg.limit] if cfg.limit is not None else items


def _messages(item: Item, cfg: AnnotateConfig) -> list[dict]:
    from ..data.chat import user_message
    from ..tasks.response import truth_answer

    msg = user_message(item.record, item.root, allow_absolute=cfg.allow_absolute,
                       video_options={"fps": cfg.video_fps, "max_frames": cfg.max_frames})
    if cfg.hint_answer:
        content = list(msg["content"])
        hint = HINT.format(answer=truth_answer(item.truth))
        texts = [i for i, c in enumerate(content) if c.get("type") == "text"]
        if texts:  # after the question's last text
            content[texts[-1]] = {"type": "text", "text": content[texts[-1]]["text"] + hint}
        else:
            content.append({"type": "text", "text": hint.lstrip()})
        msg = {"role": "user", "content": content}
    return [msg]


def sft_record(item: Item, reply: str) -> dict:
    """The kept conversation in the release's SFT format: the prompt as training builds it (no hint), the
    reply, the record's media."""
    from ..data.chat import media_of

    r = item.record
    options = r.get("options") if item.task.has_options else None
    problem = r["problem"]
    media = media_of(r)
    if "<image>" not in problem and "<video>" not in problem:  # evaluation records carry no placeholder
        problem = "".join(f"<{k}>" for k, _ in media) + problem
    out: dict[str, Any] = {"messages": [{"role": "user", "content": item.task.prompt(problem, options or None)},
                                        {"role": "assistant", "content": reply.strip()}]}
    for kind in ("image", "video"):
        paths = [p for k, p in media if k == kind]
        if paths:
            out[kind + "s"] = paths
    return out


# -------------------------------------------------------------------------------------------------
# one record's samples -> its annotation row
# -------------------------------------------------------------------------------------------------
def judge_samples(item: Item, replies: Sequence[str], cfg: AnnotateConfig) -> dict:
    """Score every reply; keep the best one that passes (right format, accuracy >= the threshold)."""
    from ..rewards import score

    thr = threshold(item.task, cfg)
    samples = []
    for i, reply in enumerate(replies):
        res = score(reply if isinstance(reply, str) else "", item.truth, item.record.get("problem_type"),
                    item.record.get("data_type"))
        parts = res.to_dict()
        if parts["format"] < 1.0:
            why = "format: not <think>...</think><answer>...</answer> with a parsable answer"
        elif parts["accuracy"] < thr:
            why = f"accuracy {parts['accuracy']:.3f} < {thr:g}"
        else:
            why = ""
        samples.append({"index": i, "response": reply, "reward": parts, "passes": not why, "why": why})
    passing = [s for s in samples if s["passes"]]
    best = max(passing, key=lambda s: (s["reward"]["accuracy"], s["reward"]["overall"], -len(s["response"])),
               default=None)
    for s in samples:
        s["kept"] = s is best
        if s["passes"] and not s["kept"]:
            s["why"] = f"passes, but sample {best['index']} is better or shorter"
        del s["passes"]
    row: dict[str, Any] = {"problem_id": item.problem_id, "source": item.source, "record": item.index,
                           "task": item.task.key, "problem_type": item.record.get("problem_type"),
                           "data_type": item.record.get("data_type"), "threshold": thr, "hint": cfg.hint_answer,
                           "samples": samples}
    if best is not None:
        row.update(status="kept", reason="kept", sft=sft_record(item, best["response"]))
    else:
        reasons = [s["why"] for s in samples]
        row.update(status="rejected", reason="format" if all(w.startswith("format") for w in reasons) else "accuracy")
    return row


def _failed_row(item: Item, error: str, status: str = "failed") -> dict:
    from ..tasks import task_key

    return {"problem_id": item.problem_id, "source": item.source, "record": item.index,
            "task": item.task.key if item.task is not None else task_key(item.record.get("problem_type"),
                                                                        item.record.get("data_type")),
            "problem_type": item.record.get("problem_type"), "data_type": item.record.get("data_type"),
            "status": status, "reason": error, "samples": []}


# -------------------------------------------------------------------------------------------------
# the run
# -------------------------------------------------------------------------------------------------
def annotate(generator: Any, files: Sequence[str | Path], out_dir: str | Path, cfg: AnnotateConfig | None = None,
             progress: Callable[[int, int], None] | None = None) -> dict:
    """Annotate the records of ``files`` with ``generator`` into ``out_dir`` (module docstring); resumable.
    Returns the summary (also written to ``summary.json``)."""
    from ..generate.base import GenerationRequest, SamplingConfig

    cfg = cfg or AnnotateConfig()
    if cfg.n < 1 or cfg.concurrency < 1:
        raise AnnotateError("--n and --concurrency must be at least 1")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    items = load_items(files, cfg)
    store = ResultStore(out / "annotations.jsonl")
    on_file = store.load()
    todo = [it for it in items if on_file.get(item_key(it.problem_id), {}).get("status") in (None, "failed")]
    total, done = len(items), len(items) - len(todo)
    if progress:
        progress(done, total)
    lock = threading.Lock()
    sampling = SamplingConfig(max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature, top_p=cfg.top_p,
                              n=cfg.n, seed=cfg.seed)

    def finish(item: Item, row: dict) -> None:
        nonlocal done
        with lock:
            store.append([row])
            done += 1
            if progress:
                progress(done, total)

    def run_batch(batch: list[Item]) -> None:
        ready = []
        for it in batch:
            _prepare(it, cfg)
            if it.error:
                finish(it, _failed_row(it, it.error, "invalid"))
            else:
                ready.append(it)
        if not ready:
            return
        reqs = [GenerationRequest(_messages(it, cfg), it.record) for it in ready]
        started = time.perf_counter()
        try:
            outs = generator.generate(reqs, sampling)
        except Exception as e:  # noqa: BLE001 - recorded per record, retried on the next run
            if len(ready) > 1:  # find which record fails
                for it in ready:
                    run_batch([it])
                return
            finish(ready[0], _failed_row(ready[0], f"request failed: {type(e).__name__}: {e}"))
            return
        seconds = (time.perf_counter() - started) / len(ready)
        for it, req, replies in zip(ready, reqs, outs):
            row = judge_samples(it, list(replies), cfg)
            row["usage"] = dict(req.usage) or None
            row["seconds"] = round(seconds, 3)
            finish(it, row)

    remote = bool(getattr(generator, "base_url", None))  # HTTP back-ends: one request per record, C at once
    if remote:
        with ThreadPoolExecutor(max_workers=cfg.concurrency) as ex:
            list(ex.map(lambda it: run_batch([it]), todo))
    else:  # one model in this process: batches of C records
        for start in range(0, len(todo), cfg.concurrency):
            run_batch(todo[start:start + cfg.concurrency])
    return write_outputs(out, items, store, cfg)


def write_outputs(out: Path, items: Sequence[Item], store: ResultStore, cfg: AnnotateConfig) -> dict:
    """Rebuild the SFT files and the summary from ``annotations.jsonl`` (the newest line of each record)."""
    rows = store.load()
    wanted = [item_key(it.problem_id) for it in items]
    sft: dict[str, list[dict]] = {"image": [], "video": []}
    per_task: dict[str, dict[str, Any]] = {}
    for key in wanted:
        row = rows.get(key)
        if row is None:
            continue
        t = per_task.setdefault(row["task"], {"asked": 0, "kept": 0, "rejected": {}, "failed": 0, "invalid": 0,
                                              "samples": 0, "prompt_tokens": 0, "completion_tokens": 0})
        t["asked"] += 1
        t["samples"] += len(row.get("samples") or [])
        for k in ("prompt_tokens", "completion_tokens"):
            t[k] += int((row.get("usage") or {}).get(k) or 0)
        status = row.get("status")
        if status == "kept":
            t["kept"] += 1
            sft["video" if "videos" in row["sft"] else "image"].append(row["sft"])
        elif status == "rejected":
            t["rejected"][row["reason"]] = t["rejected"].get(row["reason"], 0) + 1
        elif status in ("failed", "invalid"):
            t[status] += 1
    for kind, name in SFT_FILES.items():
        tmp = out / (name + ".tmp")
        tmp.write_text(json.dumps(sft[kind], ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, out / name)
    keys = ("asked", "kept", "failed", "invalid", "samples", "prompt_tokens", "completion_tokens")
    total = {k: sum(t[k] for t in per_task.values()) for k in keys}
    total["rejected"] = {}
    for t in per_task.values():
        for reason, c in t["rejected"].items():
            total["rejected"][reason] = total["rejected"].get(reason, 0) + c
    summary = {"records": len(items), "annotated": sum(1 for k in wanted if k in rows), "tasks": per_task,
               "all": total, "sft_files": {k: str(out / v) for k, v in SFT_FILES.items()},
               "media_roots": sorted({str(it.root) for it in items}), "config": asdict(cfg),
               "thresholds": DEFAULT_MIN_ACCURACY if cfg.min_accuracy is None else {"all": cfg.min_accuracy}}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary
