"""`onethinker eval compare`: two evaluation outputs paired by item, with a paired bootstrap CI."""

import json
import math
import shutil

import numpy as np
import pytest
from PIL import Image

from onethinker.cli import main
from onethinker.evaluate import compare as C
from onethinker.evaluate.compare import CompareError, compare_dirs, compare_table_html, paired_bootstrap
from onethinker.evaluate.runner import EvalConfig, evaluate
from onethinker.generate.scripted import ScriptedGenerator

N_PER_TASK = 12


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """A tiny benchmark file (multiple choice and numerical on one small image)."""
    root = tmp_path_factory.mktemp("bench")
    Image.new("RGB", (32, 24), (200, 30, 30)).save(root / "red.png")
    recs = []
    for i in range(N_PER_TASK):
        recs.append({"problem_id": i, "problem": f"Which colour is it? ({i})", "data_type": "image",
                     "problem_type": "multiple choice", "options": ["A. red", "B. blue", "C. green"],
                     "solution": "<answer>A</answer>", "path": "red.png"})
        recs.append({"problem_id": f"n{i}", "problem": f"How many? ({i})", "data_type": "image",
                     "problem_type": "numerical", "solution": f"<answer>{i}</answer>", "path": "red.png"})
    path = root / "eval_tiny.json"
    path.write_text(json.dumps(recs), encoding="utf-8")
    return path


def run_eval(bench, out, noise):
    """Real result rows: the evaluation runner with the scripted back-end."""
    evaluate(ScriptedGenerator(noise=noise, malformed=0.0), [bench], out, media_root=bench.parent, config=EvalConfig())
    return out


@pytest.fixture(scope="module")
def perfect(bench, tmp_path_factory):
    return run_eval(bench, tmp_path_factory.mktemp("perfect"), 0.0)


@pytest.fixture(scope="module")
def noisy(bench, tmp_path_factory):
    return run_eval(bench, tmp_path_factory.mktemp("noisy"), 0.6)


def read_rows(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def write_rows(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def copy_dir(src, dst):
    shutil.copytree(src, dst)
    return dst


# ---------------------------------------------------------------------------------------------
# the bootstrap
# ---------------------------------------------------------------------------------------------
def slow_paired_bootstrap(a, b, resamples, seed):
    """The method written out: one resample at a time, mean by hand, percentiles by linear interpolation."""
    rng = np.random.default_rng(seed)
    d = [y - x for x, y in zip(a, b)]
    n = len(d)
    means = []
    for _ in range(resamples):
        idx = rng.integers(0, n, size=n)
        total = 0.0
        for i in idx:
            total += d[int(i)]
        means.append(total / n)
    means.sort()

    def percentile(p):
        pos = p / 100 * (len(means) - 1)
        lo = math.floor(pos)
        hi = min(lo + 1, len(means) - 1)
        return means[lo] + (means[hi] - means[lo]) * (pos - lo)

    return percentile(2.5), percentile(97.5)


def test_bootstrap_matches_a_direct_loop():
    a = [0.0, 1.0, 1.0, 0.5, 0.0, 1.0, 0.25]
    b = [1.0, 1.0, 0.0, 0.75, 1.0, 1.0, 0.5]
    for resamples, seed in ((300, 3), (2000, 0), (1, 5)):
        fast = paired_bootstrap(a, b, resamples, seed)
        slow = slow_paired_bootstrap(a, b, resamples, seed)
        assert fast == pytest.approx(slow, abs=1e-12), (resamples, seed)


def test_bootstrap_is_the_same_when_drawn_in_blocks(monkeypatch):
    rng = np.random.default_rng(1)
    a, b = rng.random(50), rng.random(50) + 0.1
    whole = paired_bootstrap(a, b, 500, 0)
    monkeypatch.setattr(C, "_MAX_DRAWS", 7 * 50 + 3)  # 7 resamples per block, a short last block
    assert paired_bootstrap(a, b, 500, 0) == whole


def test_bootstrap_basics():
    assert paired_bootstrap([0.2, 0.7, 1.0], [0.2, 0.7, 1.0]) == (0.0, 0.0)
    lo, hi = paired_bootstrap([0.0] * 5, [0.5] * 5)
    assert lo == pytest.approx(0.5) and hi == pytest.approx(0.5)
    x = np.random.default_rng(2).random(40)
    assert paired_bootstrap(x, x + 0.3 * (x > 0.5)) == paired_bootstrap(x, x + 0.3 * (x > 0.5))  # fixed seed
    lo, hi = paired_bootstrap(x, x + 0.3 * (x > 0.5))
    assert 0 < lo < 0.3 * np.mean(x > 0.5) < hi
    with pytest.raises(ValueError):
        paired_bootstrap([1.0, 2.0], [1.0])
    with pytest.raises(ValueError):
        paired_bootstrap([], [])


# ---------------------------------------------------------------------------------------------
# compare_dirs
# ---------------------------------------------------------------------------------------------
def blocks(result):
    yield "all", result["all"]
    yield from result["benchmarks"].items()
    yield from result["tasks"].items()


def test_identical_folders_give_zero_difference(perfect, noisy):
    for folder in (perfect, noisy):
        result = compare_dirs(folder, folder)
        assert result["all"]["n"] == 2 * N_PER_TASK
        assert set(result["tasks"]) == {"multiple choice", "numerical"}
        for name, block in blocks(result):
            for m in ("reward", "accuracy"):
                assert block[m]["diff"] == 0.0 and block[m]["ci95"] == [0.0, 0.0], (name, m)
                assert block[m]["a"] == block[m]["b"]
        assert result["unpaired"] == {"a": 0, "b": 0, "by_benchmark": {}, "benchmarks_only_in_a": {},
                                      "benchmarks_only_in_b": {}}


def test_a_known_shift_gives_the_exact_difference_and_a_ci_without_zero(perfect, tmp_path):
    rows = read_rows(perfect / "eval_tiny.jsonl")
    assert all(r["reward"]["accuracy"] == 1.0 for r in rows)
    worse = []
    for r in rows:  # every multiple-choice item and the first 6 numerical ones become wrong
        if r["task"] == "multiple choice" or r["problem_id"] in {f"n{i}" for i in range(6)}:
            r = dict(r, reward=dict(r["reward"], accuracy=0.0, overall=r["reward"]["overall"] - 1.0))
        worse.append(r)
    write_rows(tmp_path / "worse" / "eval_tiny.jsonl", worse)
    result = compare_dirs(tmp_path / "worse", perfect)  # B - A: perfect minus worse
    n = 2 * N_PER_TASK
    assert result["all"]["n"] == n
    assert result["all"]["accuracy"]["diff"] == pytest.approx((N_PER_TASK + 6) / n)
    assert result["all"]["reward"]["diff"] == pytest.approx((N_PER_TASK + 6) / n)
    assert result["all"]["accuracy"]["a"] == pytest.approx(6 / n) and result["all"]["accuracy"]["b"] == 1.0
    assert result["benchmarks"]["eval_tiny"] == result["all"]
    mc, num = result["tasks"]["multiple choice"], result["tasks"]["numerical"]
    assert mc["accuracy"]["diff"] == 1.0 and mc["accuracy"]["ci95"] == pytest.approx([1.0, 1.0])
    assert num["accuracy"]["diff"] == pytest.approx(0.5)
    for block in (result["all"], num):
        lo, hi = block["accuracy"]["ci95"]
        assert 0 < lo < block["accuracy"]["diff"] < hi <= 1
    # the other way round: the same numbers with the sign flipped
    back = compare_dirs(perfect, tmp_path / "worse")
    assert back["all"]["accuracy"]["diff"] == pytest.approx(-result["all"]["accuracy"]["diff"])
    assert back["all"]["accuracy"]["ci95"][1] < 0


def test_means_agree_with_the_rows_and_held_out_summary(perfect, noisy):
    from onethinker.tasks.means import held_out_summary

    result = compare_dirs(perfect, noisy)
    a_rows, b_rows = read_rows(perfect / "eval_tiny.jsonl"), read_rows(noisy / "eval_tiny.jsonl")
    sa, sb = held_out_summary(a_rows), held_out_summary(b_rows)
    for key in ("multiple choice", "numerical", "all"):
        block = result["all"] if key == "all" else result["tasks"][key]
        assert block["n"] == sa[key]["items"]
        for m in ("reward", "accuracy"):
            assert block[m]["a"] == sa[key][m] and block[m]["b"] == sb[key][m]
            assert block[m]["diff"] == pytest.approx(sb[key][m] - sa[key][m])
            lo, hi = block[m]["ci95"]
            assert lo <= block[m]["diff"] <= hi
    assert sb["all"]["accuracy"] < 1.0  # the noisy run really is worse
    assert result["all"]["accuracy"]["ci95"][1] < 0


def test_ci_is_deterministic_and_follows_the_resamples(perfect, noisy):
    first, second = compare_dirs(perfect, noisy), compare_dirs(perfect, noisy)
    assert first == second
    assert first["method"] == "paired percentile bootstrap, 2000 resamples, seed 0"
    other = compare_dirs(perfect, noisy, resamples=500, seed=1)
    assert other["method"] == "paired percentile bootstrap, 500 resamples, seed 1"
    assert other["all"]["accuracy"]["diff"] == first["all"]["accuracy"]["diff"]


def test_unpaired_items_and_benchmarks_are_counted_and_left_out(perfect, noisy, tmp_path):
    a = copy_dir(perfect, tmp_path / "a")
    b = copy_dir(noisy, tmp_path / "b")
    rows_b = read_rows(b / "eval_tiny.jsonl")
    write_rows(b / "eval_tiny.jsonl", [r for r in rows_b if r["problem_id"] not in (0, 1, "n5")])  # 3 only in A
    rows_a = read_rows(a / "eval_tiny.jsonl")
    extra = dict(rows_a[0], problem_id="extra")
    write_rows(b / "eval_tiny.jsonl", read_rows(b / "eval_tiny.jsonl") + [extra])  # 1 only in B
    write_rows(a / "eval_other.jsonl", rows_a[:4])  # a benchmark only A has
    result = compare_dirs(a, b)
    un = result["unpaired"]
    assert un["a"] == 3 and un["b"] == 1
    assert un["by_benchmark"]["eval_tiny"] == {"a": 3, "b": 1, "a_ids": [0, 1, "n5"], "b_ids": ["extra"]}
    assert un["benchmarks_only_in_a"] == {"eval_other": 4} and un["benchmarks_only_in_b"] == {}
    assert set(result["benchmarks"]) == {"eval_tiny"}
    assert result["all"]["n"] == 2 * N_PER_TASK - 3
    assert result["tasks"]["multiple choice"]["n"] == N_PER_TASK - 2
    assert result["tasks"]["numerical"]["n"] == N_PER_TASK - 1


def test_errors_name_the_folder_or_file(perfect, tmp_path):
    with pytest.raises(CompareError, match="nowhere: no such folder"):
        compare_dirs(tmp_path / "nowhere", perfect)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CompareError, match="empty: no <bench>.jsonl"):
        compare_dirs(perfect, tmp_path / "empty")
    bad = copy_dir(perfect, tmp_path / "bad")
    with (bad / "eval_tiny.jsonl").open("a") as f:
        f.write('{"problem_id": 99, "reward": {"overa')
    with pytest.raises(CompareError, match=r"eval_tiny.jsonl:25: invalid JSON.*torn last line"):
        compare_dirs(perfect, bad)
    rows = read_rows(perfect / "eval_tiny.jsonl")
    write_rows(bad / "eval_tiny.jsonl", rows[:3] + [{"problem_id": 5, "reward": {"overall": "x"}}])
    with pytest.raises(CompareError, match=r"eval_tiny.jsonl:4: reward.overall is 'x'"):
        compare_dirs(perfect, bad)
    write_rows(bad / "eval_tiny.jsonl", rows[:3] + rows[:1])
    with pytest.raises(CompareError, match=r"eval_tiny.jsonl:4: problem_id 0 appears twice"):
        compare_dirs(perfect, bad)
    write_rows(bad / "eval_tiny.jsonl", [dict(rows[0], task="numerical")] + rows[1:])
    with pytest.raises(CompareError, match="problem_id 0 is task 'multiple choice'"):
        compare_dirs(perfect, bad)
    other = tmp_path / "other"
    write_rows(other / "eval_x.jsonl", rows)
    with pytest.raises(CompareError, match="no benchmark in both folders"):
        compare_dirs(perfect, other)


def test_compare_table_html(perfect, noisy):
    result = compare_dirs(perfect, noisy)
    page = compare_table_html(result, labels=("SFT", "<RL>"))
    assert page.startswith("<table>") and page.endswith("</table>")
    assert page.count("<tr>") == 1 + 2 + 1  # header, two tasks, all
    assert "multiple choice" in page and "<b>all</b>" in page and "&lt;RL&gt;" in page
    lo, hi = result["all"]["accuracy"]["ci95"]
    assert f"{result['all']['accuracy']['diff']:+.3f} [{lo:+.3f}, {hi:+.3f}]" in page
    assert "color:#d64545" in page  # B lower, the interval excludes 0
    assert "2000 resamples" in page


# ---------------------------------------------------------------------------------------------
# the command line
# ---------------------------------------------------------------------------------------------
def test_cli_writes_the_documented_json(perfect, noisy, tmp_path, capsys):
    out = tmp_path / "deep" / "cmp.json"
    assert main(["eval", "compare", str(perfect), str(noisy), "--json", str(out), "--resamples", "500"]) == 0
    data = json.loads(out.read_text())
    assert set(data) == {"method", "a", "b", "benchmarks", "tasks", "all", "unpaired"}
    assert data["method"] == "paired percentile bootstrap, 500 resamples, seed 0"
    assert data["a"] == str(perfect) and data["b"] == str(noisy)
    assert set(data["benchmarks"]) == {"eval_tiny"} and set(data["tasks"]) == {"multiple choice", "numerical"}
    for block in [data["all"], *data["benchmarks"].values(), *data["tasks"].values()]:
        assert set(block) == {"n", "reward", "accuracy"}
        for m in ("reward", "accuracy"):
            assert set(block[m]) == {"a", "b", "diff", "ci95"} and len(block[m]["ci95"]) == 2
    assert data == json.loads(json.dumps(compare_dirs(perfect, noisy, resamples=500)))
    err = capsys.readouterr().err
    assert "multiple choice" in err and "95% CI" in err and f"wrote {out}" in err


def test_cli_warns_about_unpaired_items(perfect, tmp_path, capsys):
    b = copy_dir(perfect, tmp_path / "b")
    write_rows(b / "eval_tiny.jsonl", read_rows(b / "eval_tiny.jsonl")[2:])
    write_rows(b / "eval_more.jsonl", read_rows(b / "eval_tiny.jsonl")[:2])
    assert main(["eval", "compare", str(perfect), str(b)]) == 0
    err = capsys.readouterr().err
    assert "eval_tiny: 2 items only in" in err and "not paired" in err
    assert "benchmark eval_more (2 items) is only in" in err and "skipped" in err


def test_cli_errors_exit_2_without_a_traceback(perfect, tmp_path, capsys):
    missing = tmp_path / "missing_run"
    assert main(["eval", "compare", str(perfect), str(missing)]) == 2
    err = capsys.readouterr().err
    assert f"{missing}: no such folder" in err and "Traceback" not in err
    (tmp_path / "empty").mkdir()
    assert main(["eval", "compare", str(tmp_path / "empty"), str(perfect)]) == 2
    assert "no <bench>.jsonl" in capsys.readouterr().err
    bad = copy_dir(perfect, tmp_path / "bad")
    (bad / "eval_tiny.jsonl").write_text("not json\n")
    assert main(["eval", "compare", str(perfect), str(bad)]) == 2
    assert "eval_tiny.jsonl:1: invalid JSON" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["eval", "compare", str(perfect), str(perfect), "--resamples", "0"])
    assert exc.value.code == 2


def test_plain_eval_is_unchanged(bench, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["eval", "--bench", str(bench), "--out", str(out), "--backend", "scripted", "--noise", "0"]) == 0
    assert len(read_rows(out / "eval_tiny.jsonl")) == 2 * N_PER_TASK
    for argv, missing in ((["eval"], "--bench, --out"), (["eval", "--bench", str(bench)], "--out"),
                          (["eval", "--out", str(out)], "--bench")):
        capsys.readouterr()
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert f"the following arguments are required: {missing}" in err
        assert "usage: onethinker eval [-h] --bench BENCH" in err
