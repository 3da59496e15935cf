"""Property-based fuzzing of every door that reads untrusted input.

Doors: ``reward score``; ``data check`` and the record readers (JSON, JSONL, parquet); ``data convert``;
``eval`` (the runner, scripted back-end) on broken benchmark records and broken media; the data loading
of ``train sft`` and ``train rl``; ``infer`` on corrupt media (scripted back-end); the model judge on
malformed server replies. Each door's outcome must be one of: a result, a located error that the
command counts and reports, or a clean exit with a message. An exception escaping a command is a
traceback for the user, and fails the test.

The default suite tries ``FAST`` examples per door (seconds in all, the same examples every run). The
deep run, marked slow, tries ``DEEP`` random examples per door:

    OMP_NUM_THREADS=1 python -m pytest -m slow tests/test_fuzz.py --hypothesis-show-statistics

(``ONETHINKER_FUZZ_DEEP=N`` changes the deep run's number of examples per door.)
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import os
import shutil
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from onethinker.cli import main
from onethinker.data.records import RecordFileError, read_records, scan_records, write_records

FAST = 12  # examples per door in the default suite
DEEP = int(os.environ.get("ONETHINKER_FUZZ_DEEP", "2000"))  # examples per door in the deep run

# No shrinking: one example costs up to a second, and the labelled draws of a failure already say what it was.
_COMMON = dict(deadline=None, database=None, print_blob=True, phases=[Phase.explicit, Phase.generate],
               suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                      HealthCheck.data_too_large, HealthCheck.large_base_example])
fast = settings(max_examples=FAST, derandomize=True, **_COMMON)
deep = settings(max_examples=DEEP, **_COMMON)


# ---------------------------------------------------------------------------------------------
# values
# ---------------------------------------------------------------------------------------------
def _nested(depth: int) -> list:
    v: list = []
    for _ in range(depth):
        v = [v]
    return v


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=24),
                    st.text(st.characters(exclude_categories=()), max_size=6))  # lone surrogates too
JSON = st.recursive(SCALARS, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
                    max_leaves=8)
class _Short:
    """Keeps a failing example's report readable: a huge value shows as its type and size."""

    def __repr__(self) -> str:
        return f"<{type(self).__bases__[-1].__name__} of size {len(self)}>"


class BigStr(_Short, str):
    pass


class BigList(_Short, list):
    pass


class BigDict(_Short, dict):
    pass


#: huge and deeply nested values (each JSON type at its extremes)
HUGE_VALUES = [BigStr("x" * 200_000), BigStr("<answer>" * 20_000), BigStr("<think>" + "(" * 50_000), 10**40, -(2**70),
               1e308, -0.0, float("nan"), float("inf"), BigList(_nested(300)), BigDict({"a": _nested(200)}),
               BigList(["y" * 10_000] * 20), "[/red] [bold]markup", "\x00\x01\u202e", "\ud800 lone surrogate",
               BigDict({str(i): i for i in range(5000)})]
HUGE = st.sampled_from(HUGE_VALUES)
#: media-ish strings
PATHS = st.sampled_from(["", ".", "..", "/", "/etc/passwd", "../../etc/passwd", "media", "nope.png", "a\x00b.png",
                         "media/images/../../../x.png", "~/x.png", "C:\\x.png", "http://example.com/x.png"])


def value(data) -> object:
    """Any JSON value, a huge one or a path-like string (a copy: mutations must not reach HUGE_VALUES)."""
    return copy.deepcopy(data.draw(st.one_of(JSON, HUGE, PATHS), label="value"))


@contextlib.contextmanager
def quiet_console():
    """The CLI's rich console writes to a buffer (returned) while a door runs."""
    from onethinker.ui import console

    buf = io.StringIO()
    old = console._file  # None: the console follows sys.stderr (which pytest's capsys swaps); keep it so
    console.file = buf
    try:
        yield buf
    finally:
        console.file = old


def run_cli(argv: list[str]) -> tuple[int, str]:
    """Exit status and console text of ``onethinker ARGV``; an escaping exception fails the caller."""
    with quiet_console() as buf:
        try:
            rc = main(argv)
        except SystemExit as e:  # argparse: a usage error is a clean exit with a message
            rc = e.code
            assert rc == 2, f"SystemExit({rc!r})"
    return rc, buf.getvalue()


# ---------------------------------------------------------------------------------------------
# a media root: the session corpus plus broken media
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def root(corpus, tmp_path_factory) -> Path:
    from onethinker.data.media import write_video

    out = tmp_path_factory.mktemp("fuzz") / "root"
    shutil.copytree(corpus, out)
    broken = out / "broken"
    broken.mkdir()
    good_png = next((out / "media" / "images").glob("*.png"))
    good_mp4 = next((out / "media" / "videos").glob("*.mp4"))
    (broken / "zero.png").write_bytes(b"")
    (broken / "zero.mp4").write_bytes(b"")
    png = good_png.read_bytes()
    (broken / "truncated.png").write_bytes(png[: len(png) // 2])
    (broken / "header_only.png").write_bytes(png[:40])
    mp4 = good_mp4.read_bytes()
    (broken / "truncated.mp4").write_bytes(mp4[: len(mp4) // 2])
    (broken / "head.mp4").write_bytes(mp4[:2000])
    (broken / "junk.png").write_bytes(bytes(range(256)) * 4)
    (broken / "junk.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    (broken / "png_named.mp4").write_bytes(png)
    (broken / "mp4_named.png").write_bytes(mp4)
    (broken / "dir.png").mkdir()
    # a video far shorter than any answer (4 frames at 8 fps: half a second)
    frames = np.zeros((4, 32, 32, 3), dtype=np.uint8)
    write_video(broken / "short.mp4", frames, fps=8)
    (broken / "one_frame.mp4").write_bytes(b"")
    write_video(broken / "one_frame.mp4", frames[:1], fps=1)
    return out


def media_pool(root: Path) -> list[str]:
    good = [p.relative_to(root).as_posix() for p in sorted((root / "media").rglob("*.*"))[:6]]
    broken = sorted(p.relative_to(root).as_posix() for p in (root / "broken").iterdir())
    return good + broken + ["broken/missing.png", "broken/missing.mp4", "../outside.png", str(root / "broken/zero.png")]


class _Templates(dict):
    def __repr__(self) -> str:  # the report of a failing example prints the test's arguments
        return f"<templates: {', '.join(f'{k} {len(v)}' for k, v in self.items())}>"


@pytest.fixture(scope="module")
def templates(root) -> dict[str, list[dict]]:
    return _Templates({
        "rl": list(read_records(root / "onethinker_rl_train.json")),
        "eval": list(read_records(root / "eval_synthetic.json")),
        "sft": list(read_records(root / "onethinker_sft_image.json")) + list(read_records(root / "onethinker_sft_video.json")),
    })


FIELD_NAMES = ("problem_id", "problem", "problem_reserved_text", "data_type", "problem_type", "options", "answer",
               "solution", "images", "videos", "path", "additional_path", "messages", "resolution", "fps",
               "segmentation_output", "video_id", "role", "content", "frames", "segmentation_rle", "counts", "size")


def _slots(obj, out):
    """Every (container, key) in a JSON tree."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.append((obj, k))
            _slots(v, out)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.append((obj, i))
            _slots(v, out)
    return out


def mutate(data, record: dict, pool: list[str], max_mutations: int = 3) -> object:
    """A copy of ``record`` with up to ``max_mutations`` changes anywhere in its tree: a value replaced by
    any JSON value, a huge one or a media path (good, broken, missing, outside the root), a key
    deleted, a field added; or, rarely, the whole record replaced by another JSON value."""
    rec = copy.deepcopy(record)
    if data.draw(st.integers(0, 19), label="not a record") == 0:
        return value(data)
    media = st.sampled_from(pool)
    for _ in range(data.draw(st.integers(0, max_mutations), label="mutations")):
        slots = _slots(rec, [])
        action = data.draw(st.sampled_from(["value", "media", "media_list", "delete", "add"]), label="action")
        if action == "add" or not slots:
            rec[data.draw(st.sampled_from(FIELD_NAMES) | st.text(max_size=6), label="new key")] = value(data)
            continue
        parent, key = data.draw(st.sampled_from(slots), label="where")
        if action == "delete":
            del parent[key]  # works for dict keys and list indices alike
        elif action == "value":
            parent[key] = value(data)
        elif action == "media":
            parent[key] = data.draw(media, label="media")
        else:
            parent[key] = data.draw(st.lists(media | JSON, max_size=3), label="media list")
    return rec


def write_file(data, directory: Path, records: list, stem: str = "records") -> tuple[Path, bool]:
    """The records as .json, .jsonl or .parquet; sometimes with its bytes damaged (returns whether)."""
    suffix = data.draw(st.sampled_from([".json", ".jsonl", ".parquet"]), label="container")
    path = directory / f"{stem}{suffix}"
    if suffix == ".parquet":
        records = [r for r in records if isinstance(r, dict)]
    if suffix == ".jsonl":
        path.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in records))
    else:
        write_records(path, records)
    damage = data.draw(st.sampled_from(["none"] * 6 + ["truncate", "junk", "bad_utf8", "empty", "deep"]),
                       label="damage")
    raw = path.read_bytes()
    if damage == "deep":  # a record nested deeper than any reader should recurse
        depth = data.draw(st.sampled_from([900, 5_000, 100_000]), label="depth")
        deep_record = b'{"problem_id": "deep", "problem": ' + b"[" * depth + b"]" * depth + b"}"
        if suffix == ".jsonl":
            path.write_bytes(raw + deep_record + b"\n")
        elif suffix == ".json":
            path.write_bytes(b"[" + b",".join([json.dumps(r).encode() for r in records] + [deep_record]) + b"]")
        else:
            damage = "none"
    if damage == "truncate":
        path.write_bytes(raw[: data.draw(st.integers(0, max(0, len(raw) - 1)), label="cut")])
    elif damage == "junk":
        at = data.draw(st.integers(0, len(raw)), label="at")
        path.write_bytes(raw[:at] + data.draw(st.binary(min_size=1, max_size=64), label="junk") + raw[at:])
    elif damage == "bad_utf8":
        at = data.draw(st.integers(0, len(raw)), label="at")
        path.write_bytes(raw[:at] + data.draw(st.sampled_from([b"\xff", b"\xed\xa0\x80", b"\xc3", b"\x80\x80"])) + raw[at:])
    elif damage == "empty":
        path.write_bytes(b"")
    return path, damage != "none"


# =============================================================================================
# reward score
# =============================================================================================
ITEM_FIELDS = ("response", "ground_truth", "problem_type", "data_type", "problem_id", "problem")


def reward_items(templates) -> list[dict]:
    return [{"response": f"<think>looking</think>{r['answer']}", "ground_truth": r["answer"],
             "problem_type": r["problem_type"], "data_type": r["data_type"], "problem_id": r["problem_id"],
             "problem": r["problem"]} for r in templates["rl"]]


def reward_line(data, items: list[dict]) -> bytes:
    kind = data.draw(st.sampled_from(["item", "item", "item", "huge", "junk", "bad_utf8", "truncated", "deep",
                                      "blank", "text"]), label="line kind")
    item = dict(data.draw(st.sampled_from(items), label="item"))
    if kind in ("item", "huge"):
        for f in data.draw(st.lists(st.sampled_from(ITEM_FIELDS), max_size=3, unique=True), label="fields"):
            how = data.draw(st.sampled_from(["delete", "value"]), label="how") if kind == "item" else "huge"
            if how == "delete":
                item.pop(f, None)
            else:
                item[f] = copy.deepcopy(data.draw(HUGE, label="huge")) if how == "huge" else value(data)
        return json.dumps(item).encode()
    if kind == "junk":
        return data.draw(st.binary(max_size=200), label="junk")
    if kind == "text":
        return data.draw(st.text(max_size=200), label="text").encode("utf-8", "surrogatepass")
    line = json.dumps(item).encode()
    if kind == "bad_utf8":
        at = data.draw(st.integers(0, len(line)), label="at")
        bad = data.draw(st.sampled_from([b"\xff", b"\xed\xa0\x80", b"\xe9", b"\xc3", b"\xf4\x90\x80\x80"]), label="bad")
        return line[:at] + bad + line[at:]
    if kind == "truncated":
        return line[: data.draw(st.integers(0, len(line) - 1), label="cut")]
    if kind == "deep":
        d = data.draw(st.sampled_from([50, 900, 5_000, 200_000]), label="depth")
        inner = "[" * d + "]" * d
        if data.draw(st.booleans(), label="inside an item"):
            return json.dumps(dict(item, response="@@")).replace('"@@"', inner).encode()
        return inner.encode()
    return b"   "


def reward_door(data, templates, workdir: Path) -> None:
    items = reward_items(templates)
    lines = data.draw(st.lists(st.builds(lambda: None), min_size=0, max_size=6), label="n lines")
    content = b"".join(reward_line(data, items) + b"\n" for _ in lines)
    if data.draw(st.booleans(), label="no final newline") and content:
        content = content[:-1]
    src, out = workdir / "in.jsonl", workdir / "out.jsonl"
    src.write_bytes(content)
    rc, text = run_cli(["reward", "score", str(src), "-o", str(out), "--workers", "0"])
    n_lines = len(list(io.BytesIO(content)))
    rows = [json.loads(r) for r in out.read_bytes().split(b"\n")[:-1]]
    assert len(rows) == n_lines  # one result per line, in order: nothing lost
    malformed = 0
    for lineno, row in enumerate(rows, 1):
        if row.get("error") is not None:
            malformed += 1
            assert row["error"].startswith(f"{src}:{lineno}: ")  # located
            assert row["overall"] is None
        else:
            for part in ("format", "accuracy", "structure"):
                assert 0.0 <= row[part] <= 1.0
            assert math.isfinite(row["overall"])
    assert rc == (1 if malformed else 0)
    assert f"{n_lines - malformed} scored, {malformed} malformed" in text  # counted and reported


@fast
@given(data=st.data())
def test_reward_score(data, templates, tmp_path):
    reward_door(data, templates, tmp_path)


@pytest.mark.slow
@deep
@given(data=st.data())
def test_reward_score_deep(data, templates, tmp_path):
    reward_door(data, templates, tmp_path)


def test_reward_score_worker_pool_takes_hostile_items(templates, tmp_path):
    """The same hostile values through the worker pool (pickled to the workers, scored under a time limit)."""
    items = reward_items(templates)[:4]
    lines = [dict(items[0], response="x" * 200_000), dict(items[1], ground_truth=_nested(300)),
             dict(items[2], problem_type={"a": [1, 2]}, response=None), dict(items[3], response="<think>" + "(" * 50_000)]
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("".join(json.dumps(x) + "\n" for x in lines) + "[" * 100_000 + "\n")
    rc, text = run_cli(["reward", "score", str(src), "-o", str(out), "--workers", "1"])
    rows = [json.loads(r) for r in out.read_bytes().split(b"\n")[:-1]]
    assert rc == 1 and len(rows) == 5 and rows[4]["error"].startswith(f"{src}:5: invalid JSON")
    assert all(r["overall"] is not None for r in rows[:4]) and "4 scored, 1 malformed" in text


# =============================================================================================
# data check and the record readers
# =============================================================================================
def record_file(data, templates, root: Path, workdir: Path, kinds=("rl", "eval", "sft"), stem="records"):
    pool = media_pool(root)
    records = []
    for _ in range(data.draw(st.integers(1, 4), label="records")):
        kind = data.draw(st.sampled_from(kinds), label="kind")
        records.append(mutate(data, data.draw(st.sampled_from(templates[kind]), label="template"), pool))
    path, damaged = write_file(data, workdir, records, stem)
    return path, records, damaged


def check_door(data, templates, root: Path, workdir: Path) -> None:
    path, records, damaged = record_file(data, templates, root, workdir)
    # the readers: records, or a RecordFileError naming the file
    try:
        read = list(read_records(path))
        assert all(isinstance(r, dict) for r in read)
    except RecordFileError as e:
        assert str(path) in str(e)
    try:
        for index, rec, err in scan_records(path):
            assert (rec is None) != (err is None) and (err is None or str(path) in err)
    except RecordFileError as e:
        assert str(path) in str(e)
    report = workdir / "report.json"
    report.unlink(missing_ok=True)
    argv = ["data", "check", str(path), "--media-root", str(root), "--json", str(report)]
    if data.draw(st.booleans(), label="no media"):
        argv.append("--no-media")
    rc, text = run_cli(argv)
    [rep] = json.loads(report.read_text())
    assert rc == (1 if rep["errors"] else 0)
    assert f"{rep['errors']} errors" in text
    for p in rep["problems"]:
        assert isinstance(p["index"], int) and p["field"] and p["message"] and p["severity"] in ("error", "warning")
    if not damaged:
        assert rep["records"] == len(records if path.suffix != ".parquet" else [r for r in records if isinstance(r, dict)])
    wrong_type = [i for i, r in enumerate(records) if isinstance(r, dict) and any(
        name in r and not (isinstance(r[name], list) and all(isinstance(x, str) for x in r[name]))
        for name in ("images", "videos"))]
    if not damaged and path.suffix != ".parquet":
        for i in wrong_type:  # a media list holding anything but paths is a located problem
            assert any(p["index"] == i and p["field"] in ("images", "videos") for p in rep["problems"])


@fast
@given(data=st.data())
def test_data_check_and_readers(data, templates, root, tmp_path):
    check_door(data, templates, root, tmp_path)


@pytest.mark.slow
@deep
@given(data=st.data())
def test_data_check_and_readers_deep(data, templates, root, tmp_path):
    check_door(data, templates, root, tmp_path)


@pytest.mark.parametrize("kind", ["rl", "eval"])
@pytest.mark.parametrize("options", ["A. cat", 3, {"A": "cat"}, ["A. cat", 2]])
def test_data_check_names_mistyped_options_on_every_task(kind, options, templates, root, tmp_path):
    """``options`` that is not a list of strings is an error on every task, not only multiple choice."""
    from onethinker.tasks import task_key

    records = copy.deepcopy(templates[kind])
    for r in records:
        r["options"] = options
    path, report = tmp_path / "records.json", tmp_path / "report.json"
    write_records(path, records)
    rc, text = run_cli(["data", "check", str(path), "--media-root", str(root), "--no-media", "--json", str(report)])
    assert rc == 1
    problems = json.loads(report.read_text())[0]["problems"]
    flagged = {p["index"] for p in problems if p["field"] == "options" and p["severity"] == "error"
               and "expected a list of strings" in p["message"]}
    assert flagged == set(range(len(records)))
    assert len({task_key(r["problem_type"], r["data_type"]) for r in records}) > 3  # several tasks, not one
    assert f"{path}: record 0" in text and "options: expected a list of strings" in text


# =============================================================================================
# data convert
# =============================================================================================
def convert_door(data, templates, root: Path, workdir: Path) -> None:
    path, records, damaged = record_file(data, templates, root, workdir)
    to = data.draw(st.sampled_from(["verl", "llamafactory"]), label="to")
    out = workdir / f"out-{to}"
    shutil.rmtree(out, ignore_errors=True)
    argv = ["data", "convert", str(path), "--to", to, "--out", str(out), "--media-root", str(root)]
    if data.draw(st.booleans(), label="relative"):
        argv.append("--relative-paths")
    rc, text = run_cli(argv)
    assert rc in (0, 1)
    if rc == 0:
        summary = json.loads(text[text.index("{"):])
        assert all(Path(p).is_file() for p in summary["outputs"])
    else:
        assert "error:" in text and str(path) in text  # names the file (and the record, when it is one)


@fast
@given(data=st.data())
def test_data_convert(data, templates, root, tmp_path):
    convert_door(data, templates, root, tmp_path)


@pytest.mark.slow
@deep
@given(data=st.data())
def test_data_convert_deep(data, templates, root, tmp_path):
    convert_door(data, templates, root, tmp_path)


# =============================================================================================
# the evaluation runner (scripted back-end) on broken records and broken media
# =============================================================================================
def eval_door(data, templates, root: Path, workdir: Path) -> None:
    pool = media_pool(root)
    records = []
    for i in range(data.draw(st.integers(1, 3), label="records")):
        rec = copy.deepcopy(data.draw(st.sampled_from(templates["eval"]), label="template"))
        rec["problem_id"] = f"item-{i}"
        if data.draw(st.booleans(), label="broken media"):
            rec["path"] = data.draw(st.sampled_from(pool), label="media")
        records.append(mutate(data, rec, pool, max_mutations=2) if data.draw(st.booleans(), label="mutate") else rec)
    path, damaged = write_file(data, workdir, records, "eval_fuzz")
    out = workdir / "out"
    shutil.rmtree(out, ignore_errors=True)
    rc, text = run_cli(["eval", "--bench", str(path), "--out", str(out), "--backend", "scripted", "--media-root",
                        str(root), "--segmenter", "grabcut", "--batch-size", "2", "--max-frames", "8"])
    assert rc in (0, 1)
    if rc == 0:
        rows = (out / "eval_fuzz.jsonl").read_bytes().split(b"\n")[:-1]  # (not splitlines: U+0085 is no line end)
        n = len(list(read_records(path)))
        assert len(rows) == n  # every item has a result (a broken one scores 0 with its error)
        rows = [json.loads(r) for r in rows]
        for row in rows:
            assert math.isfinite(row["score"])
            if row["error"] and row["family"] in ("rec", "stvg", "got10k", "referring_segmentation", "vos"):
                assert row["score"] == 0.0  # no medium, no score (the scripted model reads none itself)
        metrics = json.loads((out / "eval_fuzz.metrics.json").read_text())
        assert metrics["errors"] == sum(bool(r["error"]) for r in rows)  # counted
        assert (out / "report.html").is_file()
    else:
        assert "error:" in text and str(path) in text


@fast
@given(data=st.data())
def test_eval_runner(data, templates, root, tmp_path):
    eval_door(data, templates, root, tmp_path)


@pytest.mark.slow
@deep
@given(data=st.data())
def test_eval_runner_deep(data, templates, root, tmp_path):
    eval_door(data, templates, root, tmp_path)


# =============================================================================================
# train sft / train rl: data loading (a clear error or a counted skip, never a silent drop)
# =============================================================================================
def train_door(data, templates, root: Path, workdir: Path) -> None:
    from onethinker.rl.config import RLDataConfig
    from onethinker.rl.data import RLDataError, load_rl_records
    from onethinker.sft.data import SFTDataError, load_sft_dataset

    stage = data.draw(st.sampled_from(["sft", "rl"]), label="stage")
    kinds = ("sft",) * 4 + ("rl", "eval") if stage == "sft" else ("rl",) * 4 + ("sft", "eval")
    path, records, damaged = record_file(data, templates, root, workdir, kinds=kinds)
    skip = data.draw(st.booleans(), label="skip_bad_records")
    if stage == "sft":
        try:
            ds = load_sft_dataset([path], root, skip_bad_records=skip)
        except SFTDataError as e:
            assert str(path) in str(e) or "no usable SFT records" in str(e)
            return
        read = sum(ds.report.files.values())
        assert len(ds) + len(ds.report.skipped) == read  # nothing dropped without being counted
        assert skip or not ds.report.skipped
        assert all(s.startswith(f"{path}#") for s in ds.report.skipped)
    else:
        try:
            got = load_rl_records(RLDataConfig(train_files=[str(path)], media_root=str(root), skip_bad_records=skip))
        except RLDataError as e:
            assert str(path) in str(e)
            return
        assert len(got.records) + len(got.skipped) + got.other_tasks == got.read
        assert skip or not got.skipped
        assert all(s.startswith(f"{path}: record ") for s in got.skipped)


@fast
@given(data=st.data())
def test_train_data_loading(data, templates, root, tmp_path):
    train_door(data, templates, root, tmp_path)


@pytest.mark.slow
@deep
@given(data=st.data())
def test_train_data_loading_deep(data, templates, root, tmp_path):
    train_door(data, templates, root, tmp_path)


@pytest.mark.parametrize("stage", ["sft", "rl"])
def test_train_command_bad_data_is_a_clean_exit(stage, templates, root, tmp_path):
    """`onethinker train sft|rl` with a bad record: exit 1 and a message naming file and record, before
    any model is loaded (the model path does not even exist)."""
    recs = copy.deepcopy(templates[stage][:3])
    recs[1]["images" if "images" in recs[1] else "videos"] = [7]
    data_file = tmp_path / "train.json"
    write_records(data_file, recs)
    cfg = tmp_path / "cfg.yaml"
    if stage == "sft":
        cfg.write_text(f"model:\n  path: {tmp_path / 'no-model'}\noutput_dir: {tmp_path / 'out'}\n"
                       f"data:\n  files: [{data_file}]\n  media_root: {root}\n")
    else:
        cfg.write_text(f"model:\n  path: {tmp_path / 'no-model'}\nrun:\n  output_dir: {tmp_path / 'out'}\n"
                       f"data:\n  train_files: [{data_file}]\n  media_root: {root}\n")
    rc, text = run_cli(["train", stage, "--config", str(cfg)])
    assert rc == 1, text
    assert str(data_file) in text and ("#1" in text or "record 1" in text)
    assert "images" in text or "videos" in text


# =============================================================================================
# train sft / train rl, the whole door: broken configs, model paths that do not exist, broken records
# =============================================================================================
def _config_fields(cls, prefix: str = "") -> tuple[list[str], list[tuple[str, object]]]:
    """The sections (dataclass-typed keys, "" for the top) and the typed leaf keys of a config class; leaves
    typed Any or dict (free-form mappings) are left out."""
    import dataclasses
    import typing

    hints = typing.get_type_hints(cls)
    sections, leaves = [prefix.rstrip(".")], []
    for f in dataclasses.fields(cls):
        tp, key = hints[f.name], prefix + f.name
        if dataclasses.is_dataclass(tp):
            more_sections, more_leaves = _config_fields(tp, key + ".")
            sections += more_sections
            leaves += more_leaves
        elif tp is not typing.Any and tp is not dict and typing.get_origin(tp) is not dict:
            leaves.append((key, tp))
    return sections, leaves


def _wrong_value(data, tp) -> object:
    """A value no field of type ``tp`` accepts (a mapping fits none of bool, int, float, str, list, Literal)."""
    import typing

    import types

    union = typing.get_origin(tp) in (typing.Union, types.UnionType)
    args = [a for a in typing.get_args(tp) if a is not type(None)] if union else []
    plain = args[0] if len(args) == 1 else tp  # Optional[X]: X
    wrong = [{"wrong": [1]}]
    if plain in (int, float, bool):
        wrong += ["many", [1, 2]]
    if plain is int:
        wrong += [1.5, True]
    if plain is str:
        wrong += [[1], 5]
    if typing.get_origin(plain) is list:
        wrong += [7]
    return data.draw(st.sampled_from(wrong), label="wrong value")


def _set(cfg: dict, dotted: str, v: object) -> None:
    *parents, last = dotted.split(".")
    for p in parents:
        cfg = cfg.setdefault(p, {})
    cfg[last] = v


def train_command_door(data, templates, root: Path, workdir: Path, capsys) -> None:
    """``onethinker train sft|rl --config FILE``, the config or its inputs broken in one way: exit 2 for a
    config error (unreadable YAML, an unknown key, a wrong type: the file and key named), 1 for an unusable
    set-up or bad data (the model, checkpoint or data file named); never a traceback, never training."""
    import yaml

    from onethinker.rl.config import RLConfig
    from onethinker.sft.config import SFTConfig

    capsys.readouterr()
    stage = data.draw(st.sampled_from(["sft", "rl"]), label="stage")
    shutil.rmtree(workdir / "out", ignore_errors=True)
    model, records = workdir / "no-model", workdir / "train.json"
    write_records(records, copy.deepcopy(templates[stage][:4]))
    if stage == "sft":
        cfg: dict = {"root": str(workdir), "output_dir": str(workdir / "out"), "model": {"path": str(model)},
                     "data": {"files": [str(records)], "media_root": str(root), "max_records": 8},
                     "train": {"max_steps": 1, "threads": 1}}
        files_key, cls = "data.files", SFTConfig
    else:
        cfg = {"root": str(workdir), "model": {"path": str(model), "threads": 1},
               "data": {"train_files": [str(records)], "media_root": str(root)},
               "run": {"output_dir": str(workdir / "out"), "max_steps": 1}, "reward": {"workers": 0}}
        files_key, cls = "data.train_files", RLConfig
    sections, leaves = _config_fields(cls)
    path = workdir / "config.yaml"
    argv = ["train", stage, "--config", str(path)]
    kind = data.draw(st.sampled_from(["unknown key", "wrong type", "wrong type (--set)", "bad yaml", "no config",
                                      "missing data file", "no model", "missing --resume", "broken records"]),
                     label="kind")
    named: tuple[str, ...] = ()
    if kind == "unknown key":
        section = data.draw(st.sampled_from(sections), label="section")
        key = data.draw(st.sampled_from(["bogus", "lr", "epochs", "path2", "Model"]), label="key")
        dotted = f"{section}.{key}" if section else key
        _set(cfg, dotted, data.draw(st.sampled_from([1, "x", [1, 2], {"a": 1}, None, True, 2.5]), label="value"))
        code, named = 2, (str(path), dotted)
    elif kind.startswith("wrong type"):
        dotted, tp = data.draw(st.sampled_from(leaves), label="key")
        wrong = _wrong_value(data, tp)
        if kind == "wrong type":
            _set(cfg, dotted, wrong)
            code, named = 2, (str(path), dotted)
        else:
            argv += ["--set", f"{dotted}={json.dumps(wrong)}"]
            code, named = 2, (dotted,)
    elif kind == "missing data file":
        missing = workdir / data.draw(st.sampled_from(["missing.json", "missing.jsonl", "missing.parquet"]), label="file")
        _set(cfg, files_key, [str(records), str(missing)] if data.draw(st.booleans(), label="with a good one") else [str(missing)])
        code, named = 1, (str(missing),)
    elif kind == "no model":
        code, named = 1, (str(model),)
    elif kind == "missing --resume":
        argv += ["--resume"] + ([str(workdir / "no-checkpoint")] if data.draw(st.booleans(), label="with a path") else [])
        code, named = 1, ("--resume",)
    elif kind == "broken records":
        pool = media_pool(root)
        recs = [mutate(data, r, pool) for r in copy.deepcopy(templates[stage][:3])]
        records_path, _ = write_file(data, workdir, recs, "broken")
        _set(cfg, files_key, [str(records_path)])
        code, named = 1, ()  # the records file when a record is bad, else the model that does not exist
    if kind == "bad yaml":
        path.write_bytes(data.draw(st.sampled_from([b"model: [\n", b"- a\n- b\n", b"model: {path: \xff\xfe}\n", b"12",
                                                    b"a: " + b"[" * 5000 + b"]" * 5000, b"model:\n\tpath: x\n"]),
                                   label="yaml"))
        code, named = 2, (str(path),)
    elif kind != "no config":
        path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    else:
        path.unlink(missing_ok=True)
        code, named = 2, (str(path),)
    rc, text = run_cli(argv)
    captured = capsys.readouterr()
    everything = text + captured.out + captured.err
    assert "Traceback" not in everything
    assert rc == code, (kind, everything)
    assert "error:" in text
    for name in named:
        assert name in text, (kind, name, text)
    if kind == "broken records":
        assert "broken" in text or str(model) in text
    assert not (workdir / "out" / "final").exists()  # nothing trained


@fast
@given(data=st.data())
def test_train_command(data, templates, root, tmp_path, capsys):
    train_command_door(data, templates, root, tmp_path, capsys)


@pytest.mark.slow
@deep
@given(data=st.data())
def test_train_command_deep(data, templates, root, tmp_path, capsys):
    train_command_door(data, templates, root, tmp_path, capsys)


# =============================================================================================
# infer on corrupt media (scripted back-end)
# =============================================================================================
def infer_door(data, root: Path, workdir: Path) -> None:
    from onethinker.tasks import PROBLEM_TYPES

    source = data.draw(st.sampled_from(media_pool(root) + ["random"]), label="media")
    suffix = data.draw(st.sampled_from([".png", ".jpg", ".mp4", ".webm", ".gif", ".txt", ""]), label="suffix")
    media = workdir / f"input{suffix}"
    if media.is_dir():
        shutil.rmtree(media)
    media.unlink(missing_ok=True)
    src = root / source
    if source == "random" or not src.exists():
        media.write_bytes(data.draw(st.binary(max_size=512), label="bytes"))
    elif src.is_dir():
        media.mkdir()
    else:
        raw = src.read_bytes()
        media.write_bytes(raw[: data.draw(st.integers(0, len(raw)), label="cut")] if data.draw(st.booleans()) else raw)
    ptype = data.draw(st.sampled_from(PROBLEM_TYPES) | st.text(max_size=12), label="problem type")
    question = data.draw(st.text(max_size=40), label="question")
    # (an option that starts with "-" would be read as a flag: argparse's business, not the door's)
    options = data.draw(st.lists(st.text(max_size=10).filter(lambda o: not o.startswith("-")), max_size=3),
                        label="options")
    out = workdir / "out"
    rc, text = run_cli(["infer", "--media", str(media), f"--problem-type={ptype}", f"--question={question}",
                        "--out", str(out), "--backend", "scripted", "--max-frames", "8", "--options", *options])
    assert rc in (0, 1, 2)
    if rc == 1:
        assert "error:" in text


@fast
@given(data=st.data())
def test_infer(data, root, tmp_path):
    infer_door(data, root, tmp_path)


@pytest.mark.slow
@deep
@given(data=st.data())
def test_infer_deep(data, root, tmp_path):
    infer_door(data, root, tmp_path)


# =============================================================================================
# the model judge on malformed server replies
# =============================================================================================
class RawReply(BaseHTTPRequestHandler):
    """Reads the request, then writes ``server.reply`` (raw bytes: status line, headers, body) and closes."""

    def do_POST(self):  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.server.requests += 1
        self.wfile.write(self.server.reply)
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def judge_server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), RawReply)
    srv.reply, srv.requests = b"", 0
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.shutdown()


def _http(status: bytes, body: bytes, length: int | None = None, extra: bytes = b"") -> bytes:
    n = len(body) if length is None else length
    return status + b"\r\nContent-Type: application/json\r\n" + extra + f"Content-Length: {n}\r\n\r\n".encode() + body


def judge_reply(data, n: int) -> bytes:
    kind = data.draw(st.sampled_from(["payload", "payload", "payload", "json", "junk", "status", "length",
                                      "nothing", "chunked"]), label="reply kind")
    entry = st.fixed_dictionaries({"index": JSON, "data": st.lists(st.lists(JSON | HUGE, max_size=2), max_size=3)}) \
        | JSON | HUGE
    if kind == "payload":  # the vLLM pooling shape, with anything inside
        good = [{"index": i, "data": [[0.0], [float(i)]]} for i in range(n)]
        entries = data.draw(st.lists(entry, min_size=max(0, n - 1), max_size=n + 1), label="entries")
        if data.draw(st.booleans(), label="mostly good") and entries:
            good[data.draw(st.integers(0, n - 1))] = entries[0]
            entries = good
        body = json.dumps({"object": "list", "data": entries}).encode()
        return _http(b"HTTP/1.1 200 OK", body)
    if kind == "json":
        return _http(b"HTTP/1.1 200 OK", json.dumps(value(data)).encode())
    if kind == "junk":
        return _http(b"HTTP/1.1 200 OK", data.draw(st.binary(max_size=300), label="junk"))
    if kind == "status":
        line = data.draw(st.sampled_from([b"HTTP/1.1 500 Internal Server Error", b"HTTP/1.1 404 Not Found",
                                          b"HTTP/1.1 301 Moved", b"HTTP/1.1 999 What", b"HTTP/9.9 200 OK",
                                          b"garbage", b"HTTP/1.1 abc OK", b""]), label="status")
        return _http(line, b'{"data": []}')
    if kind == "length":  # Content-Length larger than the body: an incomplete read
        body = json.dumps({"data": [{"data": [[1.0]]}] * n}).encode()
        return _http(b"HTTP/1.1 200 OK", body, length=len(body) + data.draw(st.integers(1, 1000)))
    if kind == "chunked":
        return (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                + data.draw(st.sampled_from([b"zz\r\nabc\r\n", b"5\r\nab", b"0\r\n\r\n", b"ffffffffffffffffff\r\n"])))
    return b""  # the connection closes without a reply


def judge_door(data, server) -> None:
    from onethinker.reward.judge import JudgeConfig, JudgeItem, PolarJudge

    n = data.draw(st.integers(1, 4), label="items")
    server.reply = judge_reply(data, n)
    cfg = JudgeConfig(backend="polar", url=server.url, retries=0, backoff_s=0.0, timeout_s=2.0, batch_size=8)
    judge = PolarJudge(cfg, fallback=lambda ref, out: 0.25)
    items = [JudgeItem(prompt="q", reference="r", output=f"o{i}", group=data.draw(st.sampled_from([0, 1])))
             for i in range(n)]
    scores = judge.score(items)
    assert len(scores) == n and all(0.0 <= s <= 1.0 and math.isfinite(s) for s in scores)
    st_ = judge.stats
    assert st_.batches == 1 and st_.fallback_batches in (0, 1)
    if st_.fallback_batches:
        assert st_.fallback_items == n and len(st_.errors) == 1  # counted, with the reason


@fast
@given(data=st.data())
def test_judge_replies(data, judge_server):
    judge_door(data, judge_server)


@pytest.mark.slow
@deep
@given(data=st.data())
def test_judge_replies_deep(data, judge_server):
    judge_door(data, judge_server)


@pytest.mark.parametrize("reply, error", [
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n", "IncompleteRead"),  # once a traceback
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n", "OverflowError"),  # once a traceback
    (b"garbage\r\n\r\n", "BadStatusLine"),  # once a traceback
    (_http(b"HTTP/1.1 200 OK", b'{"data": [{"data": [[1]]}, {"data": [[' + b"9" * 400 + b"]]}]}"),
     "OverflowError"),  # once a traceback
    (_http(b"HTTP/1.1 200 OK", b"[" * 100_000), "JudgeError: reply nested too deeply"),
    (_http(b"HTTP/1.1 200 OK", b'{"data": [{"data": [[1e999]]}, {"data": [[1]]}]}'), "not a finite float32"),
    (_http(b"HTTP/1.1 200 OK", b'{"data": [{"data": [[1e39]]}, {"data": [[1]]}]}'), "not a finite float32"),
    (_http(b"HTTP/1.1 200 OK", b"\xff\xfe"), "UnicodeDecodeError"),
    (_http(b"HTTP/1.1 500 Oops", b"{}"), "HTTPError"),
    (b"", "RemoteDisconnected"),
])
def test_judge_malformed_replies_fall_back_and_are_counted(judge_server, reply, error):
    from onethinker.reward.judge import JudgeConfig, JudgeItem, PolarJudge

    judge_server.reply = reply
    cfg = JudgeConfig(backend="polar", url=judge_server.url, retries=1, backoff_s=0.0, timeout_s=2.0)
    judge = PolarJudge(cfg, fallback=lambda ref, out: 0.25)
    assert judge.score([JudgeItem("q", "r", "o", group=None), JudgeItem("q", "r", "p", group=None)]) == [1.0, 1.0]
    assert judge.stats.requests == judge.stats.failed_requests == 2 and judge.stats.fallback_items == 2
    assert error in judge.stats.errors[0]


def test_judge_server_that_never_answers_falls_back(tmp_path):
    """A server that accepts the connection and says nothing: the timeout, then ROUGE (counted)."""
    from onethinker.reward.judge import JudgeConfig, JudgeItem, PolarJudge

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    try:
        cfg = JudgeConfig(backend="polar", url=f"http://127.0.0.1:{sock.getsockname()[1]}", retries=0, timeout_s=0.3)
        judge = PolarJudge(cfg, fallback=lambda ref, out: 0.5)
        assert judge.score([JudgeItem("q", "r", "o", group=None)]) == [1.0]  # one item: normalised to 1
        assert judge.stats.fallback_items == 1 and "timed out" in judge.stats.errors[0]
    finally:
        sock.close()
