"""`onethinker probe` and the majority baseline: exact numbers on hand-made records and a fake model,
the vectorised baseline reward against the reward itself, the CLI end to end (scripted back-end, the
tiny transformers model) and located errors for bad records."""

import json
import random
import time

import pytest

from onethinker.cli import main
from onethinker.data.records import read_records, write_records
from onethinker.evaluate.baseline import (
    VECTORISED,
    candidate_answers,
    constant_response,
    majority_answers,
    majority_baseline,
    score_constant,
    truth_of,
    vector_rewards,
)
from onethinker.evaluate.probe import (
    ANSWER_FORMS,
    ProbeConfig,
    answer_key,
    majority_index,
    pass_at_k,
    probe,
    risk_lines,
    risks,
)
from onethinker.generate.base import Generator
from onethinker.tasks.response import truth_answer
from onethinker.rewards import RewardConfig, score
from onethinker.tasks import TASKS, find_task, task_key

W = 0.1  # format weight


def right(acc):  # reward of a well-formatted unstructured answer with this accuracy
    return (1 - W) * acc + W + 0.5


@pytest.fixture(autouse=True)
def one_torch_thread():
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def rl(pid, ptype, answer, dtype="image", **extra):
    return {"problem_id": pid, "problem": f"question {pid}?", "data_type": dtype, "problem_type": ptype,
            "answer": f"<answer>{answer}</answer>", **extra}


def box(b):
    return json.dumps({"boxes": b})


# ---------------------------------------------------------------------------------------------
# majority baseline
# ---------------------------------------------------------------------------------------------
def test_majority_baseline_picks_the_best_constant_per_task():
    train = (
        [rl(i, "multiple choice", a) for i, a in enumerate("AABACA")]
        + [rl(10 + i, "numerical", a) for i, a in enumerate(["3", "2", "2.004", "3.0", "2"])]
        + [rl(20 + i, "spatial grounding", box(b)) for i, b in
           enumerate([[0, 0, 100, 100], [0, 0, 100, 100], [0, 0, 100, 110], [500, 500, 600, 600]])]
    )
    chosen = majority_baseline(train)
    assert majority_answers(train) == {k: b.answer for k, b in chosen.items()}
    assert chosen["multiple choice"].answer == "A"
    assert chosen["multiple choice"].accuracy == pytest.approx(4 / 6)
    assert chosen["multiple choice"].reward == pytest.approx((4 * right(1) + 2 * right(0)) / 6)
    # "2", "2.004" and "2" all round to 2.00: three right against two for "3"
    assert chosen["numerical"].answer == "2" and chosen["numerical"].accuracy == pytest.approx(3 / 5)
    # the repeated box beats the others and the per-coordinate median [0, 0, 100, 105]
    iou = (1 + 1 + 100 / 110 + 0) / 4
    assert json.loads(chosen["spatial grounding"].answer) == {"boxes": [0, 0, 100, 100]}
    assert chosen["spatial grounding"].accuracy == pytest.approx(iou)
    assert chosen["spatial grounding"].reward == pytest.approx((1 - W) * iou + W + 0.5)
    assert {"boxes": [0, 0, 100, 105]} in [json.loads(c) for c in candidate_answers("spatial grounding",
                                                                                   [truth_answer(truth_of(r)) for r in train[11:]])]

    probed = [rl(100, "multiple choice", "A"), rl(101, "multiple choice", "B"), rl(102, "numerical", "2.0"),
              rl(103, "spatial grounding", box([0, 0, 100, 50])), rl(104, "OCR", "EXIT")]
    rows = score_constant(probed, majority_answers(train))
    assert [r["answer"] for r in rows] == ["A", "A", "2", chosen["spatial grounding"].answer, None]
    assert [r["accuracy"] for r in rows[:4]] == pytest.approx([1.0, 0.0, 1.0, 0.5])
    assert [r["reward"] for r in rows[:4]] == pytest.approx([right(1), right(0), right(1), (1 - W) * 0.5 + W + 0.5])
    assert rows[4]["reward"] is None and rows[4]["task"] == "OCR" and rows[3]["problem_id"] == 103


def test_vectorised_baseline_reward_equals_the_reward(corpus):
    recs = list(read_records(corpus / "onethinker_rl_train.json")) + list(read_records(corpus / "eval_synthetic.json"))
    by_key = {}
    for r in recs:
        by_key.setdefault(task_key(r["problem_type"], r["data_type"]), []).append(r)
    broken = ['{"boxes": [1, 2, 3]}', "no json", '{"time": [3, 1], "boxes": {"1": [0, 0, 10, 10], "2": 3}}',
              '{"boxes": {}}', '{"time": 2.5, "boxes": [10, 10, 20, 20], "positive_points": [[1, 2]]}']
    for key in VECTORISED:
        group = by_key[key]
        truths = [truth_answer(truth_of(r)) for r in group]
        cands = candidate_answers(key, truths) + broken
        rewards, accs = vector_rewards(key, cands, truths)
        for i, c in enumerate(cands):
            for j, r in enumerate(group):
                s = score(constant_response(c), truth_of(r), r["problem_type"], r["data_type"])
                assert rewards[i, j] == pytest.approx(s.overall, abs=1e-9), (key, c, truths[j])
                assert accs[i, j] == pytest.approx(s.accuracy, abs=1e-9), (key, c, truths[j])


def test_majority_baseline_takes_seconds_for_2000_continuous_records(corpus):
    from onethinker.synthetic.rollouts import perturb

    recs = [r for r in read_records(corpus / "onethinker_rl_train.json") if r["problem_type"] in ("tracking", "segmentation")]
    rng = random.Random(0)
    train = []
    for i in range(2000):
        r = dict(rng.choice(recs))
        task = find_task(r["problem_type"], r["data_type"])
        value = perturb(task, task.parse(truth_answer(r["answer"])).value, rng, "near")
        train.append(dict(r, problem_id=i, answer=task.wrap(value)))
    t0 = time.perf_counter()
    chosen = majority_baseline(train)
    took = time.perf_counter() - t0
    assert took < 30, f"majority baseline took {took:.1f} s for 2,000 records"
    assert {"tracking", "segmentation/image"} <= set(chosen)
    assert chosen["tracking"].candidates == 257  # 256 sampled answers + the median


# ---------------------------------------------------------------------------------------------
# pass@k, maj@k, no-signal on a model with known outputs
# ---------------------------------------------------------------------------------------------
def ans(text):
    return f"<think>x</think><answer>{text}</answer>"


class Fixed(Generator):
    """Greedy and sampled outputs looked up by problem_id."""

    name = "fixed"

    def __init__(self, table):
        self.table = table
        self.calls = []

    def generate(self, requests, sampling):
        self.calls.append((len(requests), sampling.n, sampling.temperature))
        out = []
        for req in requests:
            greedy, samples = self.table[req.record["problem_id"]]
            out.append([greedy] if sampling.temperature == 0 else list(samples[: sampling.n]))
        return out


def test_probe_numbers_on_known_outputs():
    records = [
        rl(1, "multiple choice", "B"), rl(2, "multiple choice", "C"), rl(3, "multiple choice", "A"),
        rl(4, "spatial grounding", box([0, 0, 100, 100])), rl(5, "spatial grounding", box([0, 0, 100, 100])),
    ]
    table = {
        1: (ans("A"), [ans("B"), ans(" b "), ans("C"), ans("B")]),  # 3 right; majority B (" b " votes with B)
        2: (ans("C"), [ans("A"), ans("A"), ans("D"), "no tags"]),  # none right; majority A
        3: (ans("A"), [ans("D")] * 4),  # all the same reward: no signal
        4: (ans(box([0, 0, 100, 50])), [ans(box(b)) for b in ([0, 0, 100, 100], [0, 0, 100, 50], [0, 0, 50, 50],
                                                                [200, 200, 300, 300])]),
        5: (ans(box([0, 0, 50, 100])), [ans(box([0, 0, 50, 100]))] * 4),  # IoU 0.5 four times: no signal
    }
    gen = Fixed(table)
    result, rows = probe(gen, records, config=ProbeConfig(n=4, batch_size=2), reward=RewardConfig(workers=0))
    assert gen.calls == [(2, 1, 0.0), (2, 4, 1.0), (2, 1, 0.0), (2, 4, 1.0), (1, 1, 0.0), (1, 4, 1.0)]
    mc, sg, all_ = result["tasks"]["multiple choice"], result["tasks"]["spatial grounding"], result["all"]
    assert set(result["tasks"]) == {"multiple choice", "spatial grounding"}

    assert mc["prompts"] == 3 and sg["prompts"] == 2 and all_["prompts"] == 5
    assert mc["greedy"]["accuracy"] == pytest.approx(2 / 3)
    assert mc["greedy"]["reward"] == pytest.approx((right(0) + 2 * right(1)) / 3)
    assert mc["sampled"]["accuracy"] == pytest.approx(3 / 12)
    assert mc["sampled"]["format"] == pytest.approx(11 / 12)
    assert mc["pass_at_k"] == pytest.approx(1 / 3)  # k = n: prompts with a right sample
    assert mc["maj_at_k"] == pytest.approx(1 / 3)
    assert mc["no_signal_frac"] == pytest.approx(1 / 3)
    assert mc["distinct_frac"] == pytest.approx(2 / 3)  # greedy A, C, A
    # whitespace words: a tagged answer is one word, " b " makes it three, "no tags" is two
    assert mc["mean_tokens"] == pytest.approx((6 + 5 + 4) / 12)

    assert sg["greedy"]["accuracy"] == pytest.approx(0.5)
    assert sg["sampled"]["accuracy"] == pytest.approx((1 + 0.5 + 0.25 + 0 + 4 * 0.5) / 8)
    assert sg["pass_at_k"] == pytest.approx((1.0 + 0.5) / 2)  # mean best IoU
    assert sg["maj_at_k"] is None  # continuous answers: no vote
    assert sg["no_signal_frac"] == pytest.approx(0.5)
    assert sg["distinct_frac"] == pytest.approx(1.0)

    assert all_["pass_at_k"] == pytest.approx((1 + 0 + 0 + 1 + 0.5) / 5)
    assert all_["maj_at_k"] == pytest.approx(1 / 3)  # over the prompts that have a vote
    assert all_["no_signal_frac"] == pytest.approx(2 / 5)
    assert all_["greedy"]["accuracy"] == pytest.approx((0 + 1 + 1 + 0.5 + 0.5) / 5)

    # majority baseline chosen on the probed records themselves (no train_records): B, C, A tie -> B
    assert mc["majority_baseline"] == pytest.approx({"answer": "B", "reward": (right(1) + 2 * right(0)) / 3,
                                                     "accuracy": 1 / 3})
    assert json.loads(sg["majority_baseline"]["answer"]) == {"boxes": [0, 0, 100, 100]}
    assert sg["majority_baseline"]["accuracy"] == pytest.approx(1.0)
    assert set(all_["majority_baseline"]) == {"reward", "accuracy"}
    assert all_["majority_baseline"]["accuracy"] == pytest.approx((1 / 3 * 3 + 1 * 2) / 5)
    assert [r.no_signal for r in rows] == [False, False, True, False, True]
    # RL's filter (mean accuracy strictly inside (0.01, 0.99)): prompt 2 has no right sample, 3 none either,
    # 5's IoU 0.5 passes the accuracy test (its equal rewards are dropped only with drop_equal_scores)
    assert [r.filter_kept for r in rows] == [True, False, False, True, True]
    assert mc["filter_kept_frac"] == pytest.approx(1 / 3) and sg["filter_kept_frac"] == 1.0
    # samples (3 right of 12) score below the constant B (right on 1 of 3 prompts): collapse risk
    assert mc["risks"] == ["below_constant"] and "multiple choice: samples score" in risk_lines(result)[0]
    strict, _ = probe(Fixed(table), records, config=ProbeConfig(n=4, batch_size=2, drop_equal_scores=True,
                                                                filter_low=0.3), reward=RewardConfig(workers=0))
    assert strict["tasks"]["multiple choice"]["filter_kept_frac"] == pytest.approx(1 / 3)
    assert strict["tasks"]["spatial grounding"]["filter_kept_frac"] == pytest.approx(0.5)


def test_probe_risks_predict_collapse_and_missing_gradient():
    block = {"prompts": 8, "sampled": {"reward": 0.40}, "majority_baseline": {"reward": 0.55}, "filter_kept_frac": 0.0}
    assert risks(block) == ["below_constant", "no_gradient"]
    assert risks({**block, "sampled": {"reward": 0.60}, "filter_kept_frac": 0.25}) == []
    assert risks({"prompts": 0, "sampled": {"reward": None}, "majority_baseline": {}, "filter_kept_frac": None}) == []
    lines = risk_lines({"tasks": {"numerical": {**block, "risks": risks(block)}, "OCR": {**block, "risks": []}}})
    assert len(lines) == 2 and all(ln.startswith("numerical: ") for ln in lines)
    assert "0.400" in lines[0] and "0.550" in lines[0] and "no gradient" in lines[1]
    assert risk_lines({"tasks": {"numerical": {**block, "risks": risks(block)}}}, keys=["OCR"]) == []
    cut = {**block, "sampled": {"reward": 0.60}, "filter_kept_frac": 0.5, "cut_frac": 0.75}
    assert risks(cut) == ["cut"] and risks({**cut, "cut_frac": 0.05}) == [] and risks({**cut, "cut_frac": None}) == []
    line = risk_lines({"config": {"max_new_tokens": 128}, "tasks": {"tracking": {**cut, "risks": ["cut"]}}})
    assert line == ["tracking: 75% of the samples reached max_new_tokens (128 tokens) and were cut off (no closing "
                    "tag, reward 0): raise rollout.max_new_tokens above this key's answers"]


def test_probe_counts_samples_cut_at_max_new_tokens():
    """With the model's tokens counted, a sample within CUT_SLACK tokens of max_new_tokens counts as cut; a key
    whose samples are mostly cut gets the "cut" risk; with whitespace words nothing is claimed."""
    records = [rl(1, "multiple choice", "B"), rl(2, "spatial grounding", box([0, 0, 100, 100]))]
    long = "<think>" + "word " * 40 + "</think><answer>"  # cut: no closing tag
    table = {1: (ans("B"), [ans("B"), ans("A")]), 2: (ans(box([0, 0, 50, 50])), [long, long])}
    count = lambda text: len(text.split())  # noqa: E731 - stands in for a tokenizer
    config = ProbeConfig(n=2, batch_size=2, max_new_tokens=40)
    result, rows = probe(Fixed(table), records, config=config, reward=RewardConfig(workers=0), count_tokens=count,
                         tokenizer_counts=True)
    assert [r.cut for r in rows] == [0, 2]
    assert result["tasks"]["spatial grounding"]["cut_frac"] == 1.0 and "cut" in result["tasks"]["spatial grounding"]["risks"]
    assert result["tasks"]["multiple choice"]["cut_frac"] == 0.0 and result["all"]["cut_frac"] == 0.5
    words, rows = probe(Fixed(table), records, config=config, reward=RewardConfig(workers=0), count_tokens=count)
    assert rows[1].cut is None and words["tasks"]["spatial grounding"]["cut_frac"] is None
    assert "cut" not in words["tasks"]["spatial grounding"]["risks"]


def test_pass_at_k_majority_and_answer_keys():
    assert pass_at_k(5, 2, 2) == pytest.approx(1 - 3 / 10)
    assert pass_at_k(4, 0, 4) == 0.0 and pass_at_k(4, 1, 4) == 1.0 and pass_at_k(8, 3, 1) == pytest.approx(3 / 8)
    with pytest.raises(ValueError):
        pass_at_k(3, 4, 1)
    assert majority_index(["b", "a", "a", "b", "c"]) == 0  # tie: the key seen first
    assert majority_index(["c", "a", "a"]) == 1
    assert answer_key("multiple choice", " b ") == answer_key("multiple choice", "B")
    assert answer_key("numerical", "2.004") == answer_key("numerical", "2") != answer_key("numerical", "2.01")
    assert answer_key("numerical", "1,000") == answer_key("numerical", "1000")
    assert answer_key("OCR", "EXIT  Road") == answer_key("OCR", "EXIT Road") != answer_key("OCR", "exit road")
    assert answer_key("tracking", '{"boxes": {"2": [1,2,3,4], "1": [1,2,3,4]}}') == \
        answer_key("tracking", '{"boxes": {"1": [1, 2, 3, 4], "2": [1, 2, 3, 4]}}')
    assert set(ANSWER_FORMS) == set(TASKS)  # a new task family must say how its answers are compared


# ---------------------------------------------------------------------------------------------
# the command line
# ---------------------------------------------------------------------------------------------
BLOCK_KEYS = {"prompts", "greedy", "sampled", "pass_at_k", "maj_at_k", "no_signal_frac", "majority_baseline",
              "distinct_frac", "mean_tokens", "filter_kept_frac", "cut_frac"}


def check_layout(result, n_records):
    assert set(result) == {"tasks", "all", "config"}
    for key, b in result["tasks"].items():
        assert key in TASKS and set(b) == BLOCK_KEYS | {"risks"}, key
        assert set(b["risks"]) <= {"below_constant", "no_gradient", "cut"}
        assert set(b["greedy"]) == set(b["sampled"]) == {"reward", "accuracy", "format"}
        assert set(b["majority_baseline"]) == {"answer", "reward", "accuracy"}
        for v in (b["greedy"]["accuracy"], b["sampled"]["accuracy"], b["pass_at_k"], b["no_signal_frac"],
                  b["distinct_frac"], b["majority_baseline"]["accuracy"]):
            assert 0.0 <= v <= 1.0
        assert (b["maj_at_k"] is None) == (ANSWER_FORMS[key] in ("continuous", "free text"))
        assert b["pass_at_k"] >= b["sampled"]["accuracy"] - 1e-9
    assert set(result["all"]) == BLOCK_KEYS and set(result["all"]["majority_baseline"]) == {"reward", "accuracy"}
    assert result["all"]["prompts"] == sum(b["prompts"] for b in result["tasks"].values()) == n_records


def test_probe_cli_scripted_end_to_end(corpus, tmp_path, capsys):
    data = corpus / "eval_synthetic.json"
    train = corpus / "onethinker_rl_train.json"
    out = tmp_path / "probe"
    code = main(["probe", "--backend", "scripted", "--noise", "0.5", "--data", str(data), "--train", str(train),
                 "--n", "3", "--out", str(out), "--reward-workers", "0", "--batch-size", "4"])
    err = capsys.readouterr().err
    assert code == 0, err
    result = json.loads((out / "probe.json").read_text())
    recs = list(read_records(data))
    check_layout(result, len(recs))
    assert set(result["tasks"]) == {task_key(r["problem_type"], r["data_type"]) for r in recs}
    cfg = result["config"]
    assert cfg["n"] == cfg["k"] == 3 and cfg["temperature"] == 1.0 and cfg["backend"] == "scripted"
    assert cfg["train"] == str(train) and cfg["baseline_in_sample"] is False and cfg["token_count"] == "whitespace words"
    assert cfg["run"]["generation_errors"] == 0
    # the baseline's answer is the training choice, scored on the probed items
    chosen = majority_answers(list(read_records(train)))
    for key, b in result["tasks"].items():
        assert b["majority_baseline"]["answer"] == chosen[key]
    items = [json.loads(line) for line in (out / "probe_items.jsonl").read_text().splitlines()]
    assert len(items) == len(recs) and all(len(i["sample_outputs"]) == 3 for i in items)
    # noisy scripted answers: some prompts disagree across samples, and sampling finds more than greedy
    assert result["all"]["no_signal_frac"] < 1.0 and result["all"]["pass_at_k"] > result["all"]["greedy"]["accuracy"]
    assert "multiple choice" in err and "maj" in err and "probe.json" in err


def test_probe_cli_limit_and_rl_records_as_data(corpus, tmp_path, capsys):
    out = tmp_path / "probe"
    code = main(["probe", "--backend", "scripted", "--data", str(corpus / "onethinker_rl_train.json"), "--n", "2",
                 "--limit", "7", "--out", str(out), "--reward-workers", "0", "--temperature", "0.7"])
    assert code == 0, capsys.readouterr().err
    result = json.loads((out / "probe.json").read_text())
    check_layout(result, 7)
    assert result["config"]["baseline_in_sample"] is True and result["config"]["temperature"] == 0.7


def test_probe_cli_bad_records_are_located_errors(corpus, tmp_path, capsys):
    good = next(iter(read_records(corpus / "onethinker_rl_train.json")))
    bad = tmp_path / "bad.jsonl"
    no_answer = {k: v for k, v in good.items() if k != "answer"}
    write_records(bad, [good, dict(no_answer, problem_id="p-1"),
                        dict(good, problem_id="p-2", problem_type="spatial grounding", answer="<answer>[1, 2]</answer>"),
                        dict(good, problem_id="p-3", problem_type="counting")])
    args = ["probe", "--backend", "scripted", "--out", str(tmp_path / "o"), "--media-root", str(corpus)]
    assert main([*args, "--data", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "bad.jsonl" in err
    assert "record 1 (problem_id 'p-1'): answer: missing" in err
    assert "record 2 (problem_id 'p-2'): answer: does not parse" in err
    assert "record 3 (problem_id 'p-3'): problem_type:" in err
    # the same checks guard --train
    assert main([*args, "--data", str(corpus / "eval_synthetic.json"), "--train", str(bad)]) == 2
    assert "record 1 (problem_id 'p-1')" in capsys.readouterr().err
    # missing media
    gone = tmp_path / "gone.json"
    write_records(gone, [dict(good, images=["media/none.png"])])
    assert main([*args, "--data", str(gone)]) == 2
    err = capsys.readouterr().err
    assert "record 0" in err and "images/videos: image not found" in err and "none.png" in err
    # SFT records have no ground truth; an unreadable file names itself
    assert main([*args, "--data", str(corpus / "onethinker_sft_image.json")]) == 2
    assert "SFT record" in capsys.readouterr().err
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps(good) + "\n{oops\n")
    assert main([*args, "--data", str(broken)]) == 2
    err = capsys.readouterr().err
    assert "broken.jsonl:2: invalid JSON" in err and "Traceback" not in err
    assert not (tmp_path / "o" / "probe.json").exists()


@pytest.fixture(scope="module")
def tiny_model(corpus, tmp_path_factory):
    from onethinker.models.tiny import build_tiny

    out = tmp_path_factory.mktemp("tiny")
    build_tiny(out, corpus_dir=corpus, size="tiny", seed=0)
    return out


def test_probe_cli_transformers_tiny_model(tiny_model, corpus, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    recs = list(read_records(corpus / "eval_synthetic.json"))
    picks = [next(r for r in recs if r["problem_type"] == t) for t in ("multiple choice", "numerical", "spatial grounding")]
    picks.append(next(r for r in recs if r["data_type"] == "video"))
    data = tmp_path / "tiny.json"
    write_records(data, picks)
    out = tmp_path / "probe"
    code = main(["probe", "--model", str(tiny_model), "--data", str(data), "--media-root", str(corpus), "--train",
                 str(corpus / "onethinker_rl_train.json"), "--n", "2", "--max-new-tokens", "16", "--batch-size", "2",
                 "--out", str(out), "--reward-workers", "0"])
    err = capsys.readouterr().err
    assert code == 0, err
    result = json.loads((out / "probe.json").read_text())
    check_layout(result, 4)
    assert result["config"]["token_count"] == "tokenizer" and result["config"]["run"]["generation_errors"] == 0
    # a random model rarely stops within 16 tokens: its samples are cut there, and the probe says so
    assert "reached max_new_tokens (16 tokens)" in " ".join(err.split())
    assert result["all"]["cut_frac"] > 0.5 and all("cut" in b["risks"] for b in result["tasks"].values()
                                                    if b["cut_frac"] >= 0.1)
    items = [json.loads(line) for line in (out / "probe_items.jsonl").read_text().splitlines()]
    assert all(isinstance(i["greedy_output"], str) and len(i["sample_outputs"]) == 2 for i in items)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    lengths = [len(tok(o, add_special_tokens=False)["input_ids"]) for i in items for o in i["sample_outputs"]]
    assert result["all"]["mean_tokens"] == pytest.approx(sum(lengths) / len(lengths)) and sum(lengths) > 0
    print(err)  # the table, for the record (pytest -s)


def test_baseline_written_as_an_evaluation_output_pairs_with_eval_compare(corpus, tmp_path):
    from onethinker.evaluate.baseline import write_baseline_results
    from onethinker.evaluate.compare import compare_dirs

    train = list(read_records(corpus / "onethinker_rl_train.json"))
    bench = corpus / "eval_synthetic.json"
    rows = write_baseline_results(train, bench, tmp_path / "base")
    held = list(read_records(bench))
    assert len(rows) == len(held)  # every held-out task key has training answers in this corpus
    answers = json.loads((tmp_path / "base" / "baseline.json").read_text())["answers"]
    expected = score_constant(held, answers)
    assert [r["reward"]["overall"] for r in rows] == [e["reward"] for e in expected]
    assert all(r["prediction"] == answers[r["task"]] for r in rows)
    same = compare_dirs(tmp_path / "base", tmp_path / "base")
    assert same["all"]["n"] == len(held) and same["all"]["reward"]["diff"] == 0.0
    assert same["all"]["accuracy"]["a"] == pytest.approx(sum(e["accuracy"] for e in expected) / len(held))
