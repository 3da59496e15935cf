"""The command line: `onethinker reward score` and the demo."""

import json
import subprocess
import sys

from onethinker.cli import main

GOOD = {"response": "<think>t</think><answer>B</answer>", "ground_truth": "<answer>B</answer>",
        "problem_type": "multiple choice", "data_type": "image"}


def write_lines(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def test_reward_score_keeps_one_result_per_line_and_reports_bad_lines(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    write_lines(src, [
        json.dumps(GOOD),
        "{not json",
        json.dumps({"response": "x", "problem_type": "math", "data_type": "image"}),
        json.dumps([1, 2]),
        json.dumps(dict(GOOD, response="<think>t</think><answer>C</answer>")),
        json.dumps(dict(GOOD, problem_type="segmentation", data_type="video", response="no tags")),
    ])
    out = tmp_path / "out.jsonl"
    code = main(["reward", "score", str(src), "-o", str(out), "--workers", "0"])
    assert code == 1
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 6
    assert rows[0] == {"overall": 1.5, "format": 1.0, "accuracy": 1.0, "structure": 0.5}
    assert rows[4]["accuracy"] == 0.0 and rows[4]["overall"] == 0.6
    assert rows[1]["overall"] is None and "in.jsonl:2: invalid JSON" in rows[1]["error"]
    assert "in.jsonl:3: missing field(s) 'ground_truth'" in rows[2]["error"]
    assert "expected a JSON object" in rows[3]["error"]
    err = capsys.readouterr().err
    assert "in.jsonl:2: invalid JSON" in err and "3 scored, 3 malformed" in err
    assert "multiple choice" in err and "segmentation/video" in err


def test_reward_score_clean_file_exits_zero_and_reads_config(tmp_path):
    src = tmp_path / "in.jsonl"
    write_lines(src, [json.dumps(GOOD)] * 3)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("reward:\n  format_weight: 0.5\n")
    out = tmp_path / "out.jsonl"
    assert main(["reward", "score", str(src), "-o", str(out), "--config", str(cfg), "--workers", "0"]) == 0
    assert json.loads(out.read_text().splitlines()[0])["overall"] == 0.5 * 1.0 + 0.5 * 1.0 + 0.5


def test_reward_score_errors(tmp_path, capsys):
    assert main(["reward", "score", str(tmp_path / "nope.jsonl")]) == 2
    assert "no such file" in capsys.readouterr().err
    src = tmp_path / "in.jsonl"
    write_lines(src, [json.dumps(GOOD)])
    assert main(["reward", "score", str(src), "--set", "judge.backend=gpt"]) == 2


def test_console_script_and_stdin(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "onethinker.cli", "reward", "score", "-", "--workers", "0"],
        input=json.dumps(GOOD) + "\n", capture_output=True, text=True, check=True,
    )
    assert json.loads(proc.stdout) == {"overall": 1.5, "format": 1.0, "accuracy": 1.0, "structure": 0.5}


def test_reward_score_line_that_is_not_utf8_is_reported_and_the_rest_scored(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    good = json.dumps(GOOD).encode()
    # a lone surrogate as another tool writes it (CESU-8 bytes ED A0 80), and a stray Latin-1 byte
    surrogate = good.replace(b"<answer>B", b"<answer>\xed\xa0\x80", 1)
    latin1 = good.replace(b"<answer>B", b"<answer>\xe9", 1)
    src.write_bytes(b"\xef\xbb\xbf" + good + b"\n" + surrogate + b"\n" + good + b"\n" + latin1 + b"\n" + good + b"\n")
    out = tmp_path / "out.jsonl"
    assert main(["reward", "score", str(src), "-o", str(out), "--workers", "0"]) == 1
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 5
    for i in (0, 2, 4):  # a byte-order mark before the first line is not an error
        assert rows[i] == {"overall": 1.5, "format": 1.0, "accuracy": 1.0, "structure": 0.5}
    assert rows[1]["overall"] is None and rows[1]["error"].startswith(f"{src}:2: not valid UTF-8")
    assert rows[3]["overall"] is None and rows[3]["error"].startswith(f"{src}:4: not valid UTF-8")
    err = capsys.readouterr().err
    assert "3 scored, 2 malformed" in err and f"{src}:2: not valid UTF-8" in err


def test_reward_score_text_that_looks_like_markup_is_printed_as_is(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    write_lines(src, [json.dumps(dict(GOOD, problem_type="[/red] [bold]")), "[/x] not json"])
    out = tmp_path / "out.jsonl"
    assert main(["reward", "score", str(src), "-o", str(out), "--workers", "0"]) == 1
    err = capsys.readouterr().err
    assert "[/red] [bold]" in err and "1 scored, 1 malformed" in err


def test_reward_score_unwritable_output_is_a_clean_error(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    write_lines(src, [json.dumps(GOOD)])
    assert main(["reward", "score", str(src), "-o", str(tmp_path / "no" / "dir" / "out.jsonl"), "--workers", "0"]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_eval_family_help_example_names_a_release_file_and_a_family(capsys):
    """The `--family BENCH=FAMILY` example in `onethinker eval --help` is one that works: BENCH is the stem of
    a release eval file of the paper's suite, FAMILY a metric family."""
    import re
    from pathlib import Path

    import pytest

    from onethinker.evaluate.families import FAMILIES
    from onethinker.evaluate.suite import PAPER_SUITE

    with pytest.raises(SystemExit) as e:
        main(["eval", "--help"])
    assert e.value.code == 0
    help_text = " ".join(capsys.readouterr().out.split())
    bench, family = re.search(r"--family BENCH=FAMILY [^-]*?e\.g\. ([\w.-]+)=(\w+)", help_text).groups()
    stems = {Path(p.file).stem for b in PAPER_SUITE for p in b.parts if p.file}
    assert bench in stems and family in FAMILIES
