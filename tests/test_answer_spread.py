"""The demo's diagnostic of greedy answers: how varied they are per task key, and which keys RL turned
into one constant answer."""

from onethinker.report.training import answer_spread, collapsed_keys


def _row(task_type: str, answer, data_type: str = "image") -> dict:
    return {"problem_type": task_type, "data_type": data_type, "answer": answer}


def test_spread_counts_distinct_and_top_answers_with_the_vote_normalisation():
    rows = [_row("numerical", a) for a in ("1", "1.0", "2", "3")] + [_row("multiple choice", a) for a in ("A", "a", "B")]
    rows.append(_row("numerical", None))  # unparsed: its own value
    s = answer_spread(rows)
    assert s["numerical"]["items"] == 5
    assert s["numerical"]["top_share"] == 2 / 5  # "1" and "1.0" are the same count
    assert s["numerical"]["distinct_frac"] == 4 / 5
    assert s["multiple choice"]["top_answer"] == "a" and s["multiple choice"]["top_share"] == 2 / 3


def test_collapsed_keys_flags_only_keys_that_became_constant():
    varied = [_row("numerical", str(i % 4 + 1)) for i in range(20)]
    constant = [_row("numerical", "1") for _ in range(20)]
    mc_const = [_row("multiple choice", "C") for _ in range(20)]
    before = answer_spread(varied + mc_const)
    after = answer_spread(constant + mc_const)
    assert collapsed_keys(before, after) == ["numerical"]  # multiple choice was constant already
    assert collapsed_keys(before, answer_spread(varied + mc_const)) == []
    assert collapsed_keys(answer_spread(varied[:5]), answer_spread(constant[:5])) == []  # too few items to say
