"""The evaluation runner: prompts through the registry, generation, parsing, official metrics, and
results that survive interruption.

For each benchmark file (evaluation format, spec/data-format.md) the runner appends one JSON row per
finished item to ``OUT/<bench>.jsonl``. Running the same command again skips the items already there
(by problem_id) and redoes a line torn by a kill. When a file is done it writes
``OUT/<bench>.metrics.json`` (the family's official metrics, the metric variant, a per-task
breakdown); after all files, ``OUT/summary.md`` and ``OUT/report.html``.
"""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..data.chat import RecordError, media_of, record_messages
from ..data.records import read_records
from ..generate.base import GenerationRequest, Generator, SamplingConfig
from ..tasks.response import extract_answer, normalize, truth_answer
from ..reward.core import score_task
from ..tasks import Task, find_task
from ..tasks.means import task_means
from .. import parallel as _parallel
from . import families as F
from .store import ResultStore, item_key


ORDERS = ("task", "file")


class EvalError(ValueError):
    pass


@dataclass
class EvalConfig:
    """Settings of an evaluation run (``onethinker eval`` flags map onto these)."""

    batch_size: int = 8
    limit: int | None = None  # first N items of each file
    video_fps: float = 2.0
    max_frames: int = 128
    video_max_pixels: int | None = None
    image_max_pixels: int | None = None
    family: dict[str, str] = field(default_factory=dict)  # bench name -> family, overriding the default
    segmenter: str = "auto"  # auto | grabcut | sam2
    sam2_config: str | None = None
    sam2_checkpoint: str | None = None
    device: str = "cpu"
    allow_absolute: bool = False
    # "task": the items still to do, batched by task key and the truth answer's length, so a batch's replies
    # end at about the same step (a batch runs until its longest reply ends); "file": the file's order
    order: str = "task"
    # generation batches decoded at once, each in its own process of one torch thread (onethinker.parallel; a
    # back-end that can run so: the transformers one on a CPU); the same outputs as 1. For a small model on CPU
    # cores, where a second thread per process buys little
    workers: int = 1

    def __post_init__(self) -> None:
        if self.order not in ORDERS:
            raise EvalError(f"order must be one of {', '.join(ORDERS)}, got {self.order!r}")
        for name in ("batch_size", "workers"):
            if getattr(self, name) < 1:
                raise EvalError(f"{name} must be >= 1, got {getattr(self, name)}")


def family_of(record: dict, override: str | None = None, task: Task | None = None) -> str:
    """The metric family of a record: the benchmark's override, else the one its task declares."""
    if override:
        if override not in F.FAMILIES:
            raise EvalError(f"unknown metric family {override!r}; expected one of {', '.join(F.FAMILIES)}")
        return override
    task = task or find_task(record.get("problem_type"), record.get("data_type"))
    if task is None:
        raise EvalError(f"no benchmark family for problem_type {record.get('problem_type')!r}, data_type {record.get('data_type')!r}")
    return task.metric


@dataclass(frozen=True)
class ResolvedItem:
    """A record resolved once, before generation: its task, the truth's answer text and parsed value,
    and its metric family."""

    task: Task
    truth_text: str
    truth: Any
    family: str
    solution_is_text: bool = True


def resolve(record: dict, override: str | None = None, *, where: str = "") -> ResolvedItem:
    """Find the record's task and parse its ground truth (raises EvalError naming the record)."""
    task = find_task(record.get("problem_type"), record.get("data_type"))
    if task is None:
        raise EvalError(f"{where}problem_type {record.get('problem_type')!r} with data_type "
                        f"{record.get('data_type')!r} is not a known task")
    solution = record.get("solution", "")
    truth_text = truth_answer(str(solution))
    parsed = task.parse(truth_text)
    if not parsed.ok:
        raise EvalError(f"{where}solution does not parse: {parsed.error}")
    return ResolvedItem(task, truth_text, parsed.value, family_of(record, override, task), isinstance(solution, str))


def media_facts(record: dict, media_root: Path | None, allow_absolute: bool) -> dict:
    """Size (and duration for video) of the item's main medium, for pixel coordinates."""
    from ..data.media import probe_video, resolve_media

    facts: dict[str, Any] = {}
    res = record.get("resolution")
    media = media_of(record)
    if not media:
        return facts
    kind, rel = media[0]
    path = resolve_media(rel, media_root, allow_absolute=allow_absolute)
    if kind == "video":
        info = probe_video(path)
        facts["size"] = [info.width, info.height]
        facts["duration"] = info.duration
    else:
        from PIL import Image

        with Image.open(path) as im:
            facts["size"] = list(im.size)
    if _stated_size(record):
        facts["size"] = _stated_size(record)
    return facts


def score_output(record: dict, output: str | None, family: str | ResolvedItem, ctx: F.ItemContext, *, bench: str,
                 index: int, allow_absolute: bool = False) -> dict:
    """One result row for a record and the model's output (None when generation failed). ``family``:
    the record resolved by ``resolve`` (or, for callers that have not, the name of its metric family)."""
    if isinstance(family, ResolvedItem):
        item = family
    else:
        item = resolve(record, family, where=f"{bench}: record {index} (problem_id {record.get('problem_id')!r}): ")
    task, fam = item.task, F.get_family(item.family)
    row: dict[str, Any] = {
        "problem_id": record.get("problem_id"), "index": index, "bench": bench,
        "problem_type": record.get("problem_type"), "data_type": record.get("data_type"),
        "task": task.key, "family": item.family, "question": record.get("problem"),
        "options": record.get("options") or [], "media": [{"kind": k, "path": p} for k, p in media_of(record)],
        "output": output, "answer": None, "parse_error": None, "error": None,
    }
    row.update(fam.extra_fields(record))
    reward_truth = item.truth_text if item.solution_is_text else None
    pred = None
    if output is not None:
        answer = extract_answer(normalize(output))
        row["answer"] = answer
        if answer is None:
            row["parse_error"] = "no <answer>...</answer> block"
        else:
            parsed = task.parse(answer)
            if parsed.ok:
                pred = parsed.value
            else:
                row["parse_error"] = parsed.error
        row["reward"] = score_task(task, output, reward_truth).to_dict()
    else:
        row["reward"] = {"overall": 0.0, "format": 0.0, "accuracy": 0.0, "structure": 0.0}
    try:
        row.update(media_facts(record, ctx.media_root, allow_absolute))
    except Exception as e:  # a missing or unreadable medium: the item scores 0, the run goes on
        row["error"] = f"media: {e}"
    if row["error"] is not None and fam.reads_media:
        # Scored as no answer (0, in the denominator). The truth side is still filled in for the family's
        # aggregate; without the medium's size, boxes are in the 0..1000 answer frame (the record's
        # resolution when it has one): an IoU with no prediction is 0 in any frame.
        pred = None
        row.setdefault("size", _stated_size(record) or [1000, 1000])
    try:
        F.score_item(item.family, task, record, pred, item.truth, ctx, row, truth_text=reward_truth)
    except Exception as e:  # a bug or bad media while scoring one item must not stop the run
        row["error"] = f"scoring: {type(e).__name__}: {e}"
        try:  # the truth side, for the aggregate (no medium is read without a prediction)
            row.setdefault("size", _stated_size(record) or [1000, 1000])
            F.score_item(item.family, task, record, None, item.truth, ctx, row, truth_text=reward_truth)
        except Exception:
            pass
        row["pred"], row["score"] = None, 0.0
    return row


def _stated_size(record: dict) -> list[int] | None:
    res = record.get("resolution")
    if isinstance(res, dict):
        w, h = res.get("width"), res.get("height")
        if all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (w, h)):
            return [w, h]
    return None


@dataclass
class BenchResult:
    bench: str
    items: int
    metrics: dict[str, Any]
    path: Path


def _check_media_exist(messages: list[dict]) -> None:
    for m in messages:
        for item in m["content"] if isinstance(m.get("content"), list) else []:
            kind = item.get("type")
            if kind in ("image", "video") and not Path(item[kind]).is_file():
                raise FileNotFoundError(f"{kind} not found: {item[kind]}")


def batch_order(todo: list[int], items: list[ResolvedItem]) -> list[int]:
    """``todo`` (record indices) grouped by task key, shortest truth answers first within a key: a batch
    decodes until its longest reply ends, so batching replies of like length saves most of the steps that
    finished rows would otherwise wait through. Stable: equal keys keep the file's order."""
    return sorted(todo, key=lambda i: (items[i].task.key, len(items[i].truth_text)))


def _generate(generator: Generator, requests: list[GenerationRequest], sampling: SamplingConfig
              ) -> tuple[list[list[str] | None], list[str | None]]:
    """Outputs per request; if the batch fails, each request alone, so one bad item costs only itself."""
    if not requests:
        return [], []
    try:
        return list(generator.generate(requests, sampling)), [None] * len(requests)
    except Exception as batch_error:  # noqa: F841 - retried one by one below
        if len(requests) == 1:
            return [None], [f"{type(batch_error).__name__}: {batch_error}"]
    outputs: list[list[str] | None] = []
    failures: list[str | None] = []
    for req in requests:
        try:
            outputs.append(generator.generate([req], sampling)[0])
            failures.append(None)
        except Exception as e:
            outputs.append(None)
            failures.append(f"{type(e).__name__}: {e}")
    return outputs, failures


def _prompts(chunk: list[int], records: list[dict], items: list[ResolvedItem], root: Path | None, cfg: EvalConfig,
             video_options: dict, ctx: Any, bench: str) -> tuple[list[GenerationRequest], list[int], dict[int, dict], list[int]]:
    """A batch's generation requests, the record index of each, and the rows of the items whose prompt could not be
    built (missing media, bad placeholders: they score 0)."""
    requests, slots, rows = [], [], {}
    for i in chunk:
        rec = records[i]
        try:
            msgs = record_messages(rec, root, allow_absolute=cfg.allow_absolute, video_options=video_options)
            _check_media_exist(msgs)
        except Exception as e:  # media missing, bad placeholders: the item scores 0
            row = score_output(rec, None, items[i], ctx, bench=bench, index=i, allow_absolute=cfg.allow_absolute)
            row["error"] = f"prompt: {e}"
            rows[i] = row
            continue
        requests.append(GenerationRequest(msgs, rec))
        slots.append(i)
    return requests, slots, rows, chunk


def _timed_generate(generator: Generator, requests: list[GenerationRequest], sampling: SamplingConfig
                    ) -> tuple[list[list[str] | None], list[str | None], float]:
    """:func:`_generate` and its seconds per request."""
    t0 = time.perf_counter()
    outputs, failures = _generate(generator, requests, sampling)
    return outputs, failures, (time.perf_counter() - t0) / max(1, len(requests))


def _check_solutions(path: Path, records: list[dict], override: str | None = None) -> list[ResolvedItem]:
    """Every ground truth must parse (true masks included) and media fields have their types before any
    generation starts (bad input is a clear error naming each bad record). Returns each record resolved."""
    bad, resolved = [], []
    for i, r in enumerate(records):
        where = f"record {i} (problem_id {r.get('problem_id')!r}): "
        task = find_task(r.get("problem_type"), r.get("data_type"))
        if task is None:
            bad.append(f"{where}problem_type {r.get('problem_type')!r} "
                       f"with data_type {r.get('data_type')!r} is not a known task")
            continue
        parsed = task.parse(truth_answer(str(r.get("solution", ""))))
        if not parsed.ok:
            bad.append(f"{where}solution: {parsed.error}")
        else:
            resolved.append((r, task, truth_answer(str(r.get("solution", ""))), parsed.value))
        try:
            media_of(r)
        except RecordError as e:  # a media field of the wrong type (a missing file only costs its item)
            bad.append(f"{where}{e}")
        if task.mask_truth:  # the true masks are part of the ground truth
            from ..data.check import segmentation_truth_problems

            bad += [f"{where}{p}" for p in segmentation_truth_problems(r, "video" in task.data_types)]
    if bad:
        n_records = len({b.split(" (problem_id", 1)[0] for b in bad})
        more = f" (and {len(bad) - 10} more problems)" if len(bad) > 10 else ""
        raise EvalError(f"{path}: {n_records} records cannot be evaluated{more}:\n  " + "\n  ".join(bad[:10]))
    return [ResolvedItem(task, text, value, family_of(r, override, task), isinstance(r.get("solution", ""), str))
            for r, task, text, value in resolved]


def _bench_name(path: Path) -> str:
    return path.stem


def evaluate(
    generator: Generator,
    bench_files: list[str | Path],
    out_dir: str | Path,
    *,
    media_root: str | Path | None = None,
    config: EvalConfig | None = None,
    sampling: SamplingConfig | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    segmenter_factory: Callable[[], Any] | None = None,
) -> list[BenchResult]:
    """Evaluate ``generator`` on each benchmark file; resumable (see the module docstring)."""
    cfg = config or EvalConfig()
    sampling = sampling or SamplingConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    root = Path(media_root) if media_root is not None else None
    if segmenter_factory is None:
        def segmenter_factory() -> Any:
            from ..segment import build_segmenter

            return build_segmenter(cfg.segmenter, sam2_config=cfg.sam2_config, sam2_checkpoint=cfg.sam2_checkpoint,
                                   device=cfg.device)
    ctx = F.ItemContext(root, segmenter_factory, cfg.video_fps)
    video_options = {"fps": cfg.video_fps, "max_frames": cfg.max_frames}
    if cfg.video_max_pixels:
        video_options["max_pixels"] = cfg.video_max_pixels
    results = []
    for bench_file in bench_files:
        path = Path(bench_file)
        bench = _bench_name(path)
        records = list(read_records(path))
        if not records:
            raise EvalError(f"{path}: no records to evaluate")
        if cfg.limit is not None:
            records = records[: cfg.limit]
        seen: dict[str, int] = {}
        for i, r in enumerate(records):
            k = item_key(r.get("problem_id"))
            if k in seen:
                raise EvalError(f"{path}: records {seen[k]} and {i} share problem_id {r.get('problem_id')!r}; "
                                "resuming needs unique ids (run `onethinker data check`)")
            seen[k] = i
        # every bad record named before anything else; each record resolved once (task, truth, family)
        items = _check_solutions(path, records, cfg.family.get(bench))
        store = ResultStore(out / f"{bench}.jsonl")
        done = store.load()
        todo = [i for i, r in enumerate(records) if item_key(r.get("problem_id")) not in done]
        if cfg.order == "task":
            todo = batch_order(todo, items)
        if progress:
            progress(bench, len(records) - len(todo), len(records))
        batches = (todo[start : start + cfg.batch_size] for start in range(0, len(todo), cfg.batch_size))
        workers = cfg.workers if getattr(generator, "forkable", False) else 1
        done_count = len(records) - len(todo)
        prompts = (_prompts(chunk, records, items, root, cfg, video_options, ctx, bench) for chunk in batches)
        for (requests, slots, rows, chunk), (outputs, failures, per_item) in _parallel.windowed_map(
                lambda p: _timed_generate(generator, p[0], sampling), prompts, workers):
            for i, outs, failure in zip(slots, outputs, failures):
                row = score_output(records[i], outs[0] if outs else None, items[i], ctx, bench=bench, index=i,
                                   allow_absolute=cfg.allow_absolute)
                if failure:
                    row["error"] = f"generation: {failure}"
                row["gen_seconds"] = round(per_item, 3)
                rows[i] = row
            store.append(rows[i] for i in chunk)
            done_count += len(chunk)
            if progress:
                progress(bench, done_count, len(records))
        all_rows = store.load()
        ordered = [all_rows[item_key(r.get("problem_id"))] for r in records]
        metrics = bench_metrics(bench, ordered, generator=generator.name, segmenter=ctx._segmenter, media_root=root,
                                config=cfg, sampling=sampling, source=path)
        (out / f"{bench}.metrics.json").write_text(json.dumps(metrics, indent=2, default=str), encoding="utf-8")
        results.append(BenchResult(bench, len(records), metrics, out / f"{bench}.jsonl"))
    write_summary(out, [r.metrics for r in results])
    try:
        from ..report.evaluation import write_report

        write_report(out, [r.metrics for r in results], media_root=root)
    except ImportError:  # pragma: no cover - the report module ships with the package
        pass
    return results


def bench_metrics(bench: str, rows: list[dict], *, generator: str, segmenter: Any, media_root: Path | None,
                  config: EvalConfig, sampling: SamplingConfig, source: Path) -> dict:
    """The metrics file: official metrics per family, per-task breakdown, and how they were computed."""
    by_family: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_family[r["family"]].append(r)
    fam_metrics = {}
    for fam, fam_rows in by_family.items():
        fam_metrics[fam] = {"items": len(fam_rows), "metrics": F.aggregate(fam, fam_rows), "variant": F.variant(fam)}
    tasks = task_means(rows, {"score": lambda r: r.get("score", 0.0), "reward": lambda r: r["reward"]["overall"],
                              "format": lambda r: r["reward"]["format"], "accuracy": lambda r: r["reward"]["accuracy"]},
                       sums={"unparsed": lambda r: r.get("pred") is None, "errors": lambda r: bool(r.get("error"))})
    seg_name = getattr(segmenter, "name", None)
    if seg_name is None and any(F.get_family(f).uses_segmenter for f in by_family if f in F.FAMILIES):
        seg_name = "(segmentation items were scored in an earlier run)"
    return {
        "bench": bench,
        "source": str(source),
        "media_root": str(media_root) if media_root else None,
        "items": len(rows),
        "model": generator,
        "families": fam_metrics,
        "by_task": tasks,
        "unparsed": sum(r.get("pred") is None for r in rows),
        "errors": sum(bool(r.get("error")) for r in rows),
        "segmenter": seg_name,
        "sampling": asdict(sampling),
        "config": {k: v for k, v in asdict(config).items()},
        "written": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.4f}"
    return str(v)


def write_summary(out: Path, all_metrics: list[dict]) -> Path:
    from .metrics import upgrade_metric_names

    lines = ["# Evaluation summary", ""]
    for m in map(upgrade_metric_names, all_metrics):
        lines += [f"## {m['bench']}", "", f"{m['items']} items, model `{m['model']}`"
                  + (f", segmenter `{m['segmenter']}`" if m.get("segmenter") else "")
                  + f"; {m['unparsed']} unparsed answers, {m['errors']} items with errors.", ""]
        lines += ["| family | items | metric | value |", "|---|---|---|---|"]
        for fam, fm in m["families"].items():
            for name, value in fm["metrics"].items():
                lines.append(f"| {fam} | {fm['items']} | {name} | {_fmt(value)} |")
        lines += ["", "| task | items | score | reward | format | accuracy | unparsed |", "|---|---|---|---|---|---|---|"]
        for task, t in m["by_task"].items():
            lines.append(f"| {task} | {t['items']} | {_fmt(t['score'])} | {_fmt(t['reward'])} | {_fmt(t['format'])} | "
                         f"{_fmt(t['accuracy'])} | {t['unparsed']} |")
        lines += ["", "Metric variants:", ""]
        for fam, fm in m["families"].items():
            lines.append(f"- {fam}: {fm['variant']}")
        lines.append("")
    path = out / "summary.md"
    path.write_text("\n".join(lines), encoding="utf-8", errors="backslashreplace")
    return path

