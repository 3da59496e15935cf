"""Self-contained HTML pages about training runs: the demo (SFT then RL, held-out metrics before and
after) and estimator ablations (several estimators x seeds, mean and spread). Charts are inline SVG."""

from __future__ import annotations

import html
import json
import math
import time
from pathlib import Path
from typing import Any, Sequence

from ..tasks.means import row_task_key
from .style import CSS as _CSS

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf",
           "#7f7f7f", "#bcbd22", "#393b79", "#637939"]


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _f(x: Any, d: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.{d}f}" if isinstance(x, (int, float)) else _e(x)


def read_log(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    return rows


def line_chart(series: dict[str, list[tuple[float, float]]], *, title: str, width: int = 560, height: int = 260,
               bands: dict[str, list[tuple[float, float, float]]] | None = None, ylabel: str = "") -> str:
    """An SVG line chart of named (x, y) series; ``bands``: (x, low, high) shaded around a series."""
    pts = [p for s in series.values() for p in s if math.isfinite(p[1])]
    for b in (bands or {}).values():
        pts += [(x, lo) for x, lo, _ in b] + [(x, hi) for x, _, hi in b]
    if not pts:
        return f'<div class="chart"><b>{_e(title)}</b><p class="meta">no data</p></div>'
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    y0, y1 = min(p[1] for p in pts), max(p[1] for p in pts)
    if x1 == x0:
        x1 = x0 + 1
    if y1 - y0 < 1e-9:
        y0, y1 = y0 - 0.5, y1 + 0.5
    pad_l, pad_r, pad_t, pad_b = 48, 12, 26, 30
    w, h = width - pad_l - pad_r, height - pad_t - pad_b

    def sx(x: float) -> float:
        return pad_l + (x - x0) / (x1 - x0) * w

    def sy(y: float) -> float:
        return pad_t + (1 - (y - y0) / (y1 - y0)) * h

    parts = [f'<svg width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg" font-size="11">',
             f'<text x="{pad_l}" y="16" font-weight="bold" font-size="13">{_e(title)}</text>']
    for i in range(5):
        yv = y0 + (y1 - y0) * i / 4
        parts.append(f'<line x1="{pad_l}" x2="{pad_l + w}" y1="{sy(yv):.1f}" y2="{sy(yv):.1f}" stroke="#e4e4ea"/>')
        parts.append(f'<text x="{pad_l - 4}" y="{sy(yv) + 4:.1f}" text-anchor="end">{yv:.3g}</text>')
    for i in range(5):
        xv = x0 + (x1 - x0) * i / 4
        parts.append(f'<text x="{sx(xv):.1f}" y="{pad_t + h + 16}" text-anchor="middle">{xv:.3g}</text>')
    if ylabel:
        parts.append(f'<text x="12" y="{pad_t + h / 2}" transform="rotate(-90 12 {pad_t + h / 2})" '
                     f'text-anchor="middle">{_e(ylabel)}</text>')
    for k, (name, s) in enumerate(series.items()):
        colour = PALETTE[k % len(PALETTE)]
        band = (bands or {}).get(name)
        if band:
            up = " ".join(f"{sx(x):.1f},{sy(hi):.1f}" for x, _, hi in band)
            down = " ".join(f"{sx(x):.1f},{sy(lo):.1f}" for x, lo, _ in reversed(band))
            parts.append(f'<polygon points="{up} {down}" fill="{colour}" opacity="0.15"/>')
        good = [(x, y) for x, y in s if math.isfinite(y)]
        if good:
            path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in good)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.8"/>')
        parts.append(f'<rect x="{pad_l + w - 150}" y="{pad_t + 4 + 14 * k}" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{pad_l + w - 136}" y="{pad_t + 13 + 14 * k}">{_e(name)}</text>')
    parts.append("</svg>")
    return f'<div class="chart">{"".join(parts)}</div>'


def _series(log: list[dict], key: str, smooth: int = 1) -> list[tuple[float, float]]:
    pts = [(float(r["step"]), float(r[key])) for r in log if isinstance(r.get(key), (int, float))]
    if smooth > 1 and pts:
        out = []
        for i in range(len(pts)):
            window = [p[1] for p in pts[max(0, i - smooth + 1) : i + 1]]
            out.append((pts[i][0], sum(window) / len(window)))
        return out
    return pts


def _page(title: str, body: str) -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{_e(title)}</title><style>{_CSS}</style></head>"
            f"<body><header><h1>{_e(title)}</h1><div class='meta'>written {time.strftime('%Y-%m-%d %H:%M')}</div>"
            f"</header><main>{body}</main></body></html>")


def demo_report(out: Path, summary: dict, *, sft_log: list[dict], rl_log: list[dict], eval_dirs: dict[str, Path]) -> Path:
    """DIR/report.html for `onethinker demo`: held-out metrics per task before (SFT) and after RL,
    official metrics, and the training curves (SFT loss, RL reward per task, EMA std per task)."""
    tasks = [t for t in summary["sft"] if t != "all"] + ["all"]
    rows = []
    for t in tasks:
        s, r = summary["sft"].get(t, {}), summary["rl"].get(t, {})
        delta = (r.get("reward", float("nan")) - s.get("reward", float("nan"))) if s and r else float("nan")
        cls = "" if not math.isfinite(delta) else (' style="color:#1f9d55"' if delta > 0 else ' style="color:#d64545"' if delta < 0 else "")
        rows.append(f"<tr><td>{'<b>all</b>' if t == 'all' else _e(t)}</td><td class='num'>{s.get('items', '')}</td>"
                    + "".join(f"<td class='num'>{_f(s.get(k))}</td><td class='num'>{_f(r.get(k))}</td>" for k in ("reward", "format", "accuracy"))
                    + f"<td class='num'{cls}>{_f(delta)}</td></tr>")
    table = ("<table><tr><th>task</th><th>items</th><th>reward SFT</th><th>reward RL</th><th>format SFT</th><th>format RL</th>"
             "<th>accuracy SFT</th><th>accuracy RL</th><th>reward RL - SFT</th></tr>" + "".join(rows) + "</table>")
    official = []
    for stage in ("sft", "rl"):
        fams = summary.get("official", {}).get(stage, {})
        for fam, metrics in fams.items():
            official.append((stage, fam, metrics))
    off_rows = "".join(f"<tr><td>{_e(st)}</td><td>{_e(f)}</td><td>{_e(', '.join(f'{k} {v:.3f}' for k, v in m.items()))}</td></tr>"
                       for st, f, m in official)
    charts = []
    if sft_log:
        charts.append(line_chart({"train loss": [(float(r.get("step", i)), float(r["loss"])) for i, r in enumerate(sft_log) if "loss" in r]},
                                 title="SFT: training loss", ylabel="loss"))
    if rl_log:
        keys = sorted({k[len("reward/"):] for r in rl_log for k in r if k.startswith("reward/") and k != "reward/all"})
        charts.append(line_chart({"all": _series(rl_log, "reward/all", 3)}, title="RL: mean rollout reward (3-step average)", ylabel="reward"))
        charts.append(line_chart({k: _series(rl_log, f"reward/{k}", 3) for k in keys}, title="RL: rollout reward per task", ylabel="reward"))
        ema = sorted({k[len("ema/std/"):] for r in rl_log for k in r if k.startswith("ema/std/")})
        if ema:
            charts.append(line_chart({k: _series(rl_log, f"ema/std/{k}") for k in ema}, title="EMA-GRPO: running reward std per task", ylabel="std"))
        charts.append(line_chart({"kept groups": _series(rl_log, "sampling/kept_groups"),
                                  "filtered share x10": [(x, 10 * y) for x, y in _series(rl_log, "sampling/filtered_frac")]},
                                 title="RL: groups kept per step, and filtered share"))
    links = "".join(f'<li><a href="{_e(p.name)}/report.html">{_e(name)} evaluation report</a></li>' for name, p in eval_dirs.items())
    paired = ""
    if summary.get("compare"):
        from ..evaluate.compare import compare_table_html

        c = summary["compare"]
        paired = ("<h2>Paired comparisons on the held-out items</h2>"
                  + (f"<p class='meta'>RL trains every task key of its pool, {_e(', '.join(summary.get('rl_tasks', [])))} "
                     "(its focus keys, pooled as the RL keys below) with 3x the prompts of the others; "
                     if summary.get("rl_mix") else
                     f"<p class='meta'>RL trains the task keys {_e(', '.join(summary.get('rl_tasks', [])))}; ")
                  + (f"in RL's prompt stream {_e(', '.join(f'{k} {w}x' for k, w in summary['rl_task_weights'].items()))}; "
                     if summary.get("rl_task_weights") else "")
                  + "SFT covered every key. Majority = the best single answer per task key on the RL prompts.</p>"
                  "<h3>RL checkpoint vs SFT checkpoint</h3>" + compare_table_html(c["rl_vs_sft"], ("SFT", "RL"))
                  + "<h3>SFT checkpoint vs majority baseline</h3>" + compare_table_html(c["sft_vs_majority"], ("majority", "SFT"))
                  + "<h3>RL checkpoint vs majority baseline</h3>" + compare_table_html(c["rl_vs_majority"], ("majority", "RL")))
    sampled = ""
    if summary.get("sampled_t1"):
        st = summary["sampled_t1"]
        keys = sorted({k for v in st.values() for k in v if k != "all"}) + ["all"]
        srows = "".join(f"<tr><td>{_e(k)}</td>" + "".join(
            f"<td class='num'>{_f(st.get(m, {}).get(k, {}).get(x))}</td>" for m in ("sft", "rl") for x in ("reward", "accuracy"))
            + "</tr>" for k in keys)
        sampled = ("<h3>Held-out samples at temperature 1.0 (task keys RL trains)</h3><table><tr><th>task</th>"
                   "<th>reward SFT</th><th>accuracy SFT</th><th>reward RL</th><th>accuracy RL</th></tr>" + srows + "</table>")
    spread = ""
    if summary.get("greedy_answers"):
        ga = summary["greedy_answers"]
        keys = sorted({k for v in ga.values() for k in v})
        arow = "".join(
            f"<tr><td>{_e(k)}</td>" + "".join(
                f"<td class='num'>{_f(ga.get(m, {}).get(k, {}).get('distinct_frac'))}</td>"
                f"<td class='num'>{_f(ga.get(m, {}).get(k, {}).get('top_share'))}</td>"
                f"<td>{_e(ga.get(m, {}).get(k, {}).get('top_answer', ''))}</td>" for m in ("sft", "rl")) + "</tr>"
            for k in keys)
        warn = ("<p class='meta'><b>RL's greedy answers collapsed to one constant on: "
                f"{_e(', '.join(summary['collapsed']))}</b></p>" if summary.get("collapsed") else "")
        spread = ("<h3>Greedy answers: how varied (held-out)</h3><p class='meta'>distinct answers / items, and the most "
                  "common answer with its share; a share near 1 is a constant answer.</p>" + warn
                  + "<table><tr><th>task</th><th>SFT distinct</th><th>SFT top share</th><th>SFT top answer</th>"
                  "<th>RL distinct</th><th>RL top share</th><th>RL top answer</th></tr>" + arow + "</table>")
    probe = ""
    if summary.get("probe"):
        pt = summary["probe"]["tasks"]
        prow = "".join(
            f"<tr><td>{_e(k)}</td><td class='num'>{v.get('prompts')}</td><td class='num'>{_f(v['greedy']['accuracy'])}</td>"
            f"<td class='num'>{_f(v['sampled']['accuracy'])}</td><td class='num'>{_f(v.get('pass_at_k'))}</td>"
            f"<td class='num'>{_f(v.get('maj_at_k'))}</td><td class='num'>{_f(v.get('no_signal_frac'))}</td>"
            f"<td class='num'>{_f((v.get('majority_baseline') or {}).get('accuracy'))}</td>"
            f"<td class='num'>{_f(v.get('distinct_frac'))}</td></tr>" for k, v in sorted(pt.items()))
        probe = ("<h2>Probe of the SFT checkpoint on RL prompts (before RL)</h2><p class='meta'>n samples at temperature "
                 "1.0 per prompt: where pass@k is above greedy accuracy and few prompts give no signal (all samples "
                 "scoring the same), GRPO has something to learn from.</p><table><tr><th>task</th><th>prompts</th>"
                 "<th>greedy acc</th><th>sampled acc</th><th>pass@k</th><th>maj@k</th><th>no signal</th>"
                 "<th>majority acc</th><th>distinct greedy</th></tr>" + prow + "</table>")
    body = (f"<h2>Held-out results: SFT checkpoint vs RL checkpoint</h2><p class='meta'>{_e(summary.get('note', ''))}</p>{table}"
            f"{paired}{sampled}{spread}{probe}"
            f"<h3>Official metrics (held-out)</h3><table><tr><th>stage</th><th>family</th><th>metrics</th></tr>{off_rows}</table>"
            f"<h2>Training curves</h2>{''.join(charts)}<h2>Details</h2><ul>{links}</ul>"
            f"<pre>{_e(json.dumps(summary.get('timing', {}), indent=1))}</pre>")
    path = out / "report.html"
    path.write_text(_page("OneThinker demo: tiny model, SFT then EMA-GRPO", body), encoding="utf-8")
    return path


def _group_table(blocks: dict[str, dict[str, dict]], heads: list[str], cells: Any) -> str:
    """One row per task key of ``blocks`` (name -> group -> figures; then the RL keys and all), two columns per name:
    ``heads`` (a "{}" takes the name) over ``cells(figures)``; "–" where a name lacks the group."""
    groups = sorted({g for v in blocks.values() for g in v if g not in ("all", "rl_tasks")}) + ["rl_tasks", "all"]
    head = "".join(f"<th>{h.format(_e(name))}</th>" for name in blocks for h in heads)
    rows = []
    for g in groups:
        row = "".join(cells(blocks[name][g]) if g in blocks[name] else "<td>–</td>" * len(heads) for name in blocks)
        n = next((blocks[name][g]["n"] for name in blocks if g in blocks[name]), "")
        label = "<b>task keys RL trains</b>" if g == "rl_tasks" else "<b>all</b>" if g == "all" else _e(g)
        rows.append(f"<tr><td>{label}</td><td class='num'>{n}</td>{row}</tr>")
    return f"<table><tr><th>task</th><th>n</th>{head}</tr>{''.join(rows)}</table>"


def ablation_report(out: Path, results: dict[str, list[dict]], logs: dict[str, list[list[dict]]],
                    vs_sft: dict[str, dict[str, Any]] | None = None,
                    vs_estimators: dict[str, dict[str, Any]] | None = None) -> Path:
    """Estimators side by side: held-out reward / accuracy per task against the SFT start and (``vs_estimators``)
    against each other, with paired CIs; their mean and spread over seeds; mean reward curves with a min-max
    band."""
    import numpy as np

    estimators = list(results)
    tasks = sorted({t for runs in results.values() for r in runs for t in r if t != "all"}) + ["all"]
    head = "".join(f"<th colspan=2>{_e(e)}</th>" for e in estimators)
    sub = "".join("<th>reward</th><th>accuracy</th>" for _ in estimators)
    rows = []
    for t in tasks:
        cells = []
        for e in estimators:
            for k in ("reward", "accuracy"):
                vals = [r[t][k] for r in results[e] if t in r]
                cells.append(f"<td class='num'>{np.mean(vals):.3f} ± {np.std(vals):.3f}</td>" if vals else "<td>–</td>")
        rows.append(f"<tr><td>{'<b>all</b>' if t == 'all' else _e(t)}</td>{''.join(cells)}</tr>")
    table = f"<table><tr><th>task</th>{head}</tr><tr><th></th>{sub}</tr>{''.join(rows)}</table>"
    series, bands = {}, {}
    for e, runs in logs.items():
        curves = [dict(_series(log, "reward/all")) for log in runs if log]
        steps = sorted(set.intersection(*(set(c) for c in curves))) if curves else []
        if steps:
            vals = np.array([[c[s] for s in steps] for c in curves])
            series[e] = list(zip(steps, vals.mean(0).tolist()))
            bands[e] = list(zip(steps, vals.min(0).tolist(), vals.max(0).tolist()))
    charts = [line_chart(series, bands=bands, title="all tasks: rollout reward per step (mean over seeds, min-max band)",
                         ylabel="reward")]
    task_keys = sorted({k[len("reward/"):] for runs in logs.values() for log in runs for r in log
                        for k in r if k.startswith("reward/") and k != "reward/all"})
    for t in task_keys:  # per task, estimators side by side (5-step average: a task has few prompts per step)
        per = {}
        for e, runs in logs.items():
            curves = [dict(_series(log, f"reward/{t}", 5)) for log in runs if log]
            steps = sorted(set.union(*(set(c) for c in curves))) if curves else []
            pts = [(s, float(np.mean([c[s] for c in curves if s in c]))) for s in steps]
            if pts:
                per[e] = pts
        charts.append(line_chart(per, title=f"{t}: rollout reward (5-step average, mean over seeds)", ylabel="reward",
                                 width=420, height=220))
    from ..evaluate.compare import diff_cell

    ci_table = ""
    if vs_sft:
        ci_table = ("<h2>Held-out reward against the SFT start (per item averaged over seeds; paired bootstrap 95% CI)</h2>"
                    + _group_table({e: vs_sft.get(e, {}) for e in estimators}, ["{}: reward", "{} - SFT [95% CI]"],
                                   lambda m: f"<td class='num'>{m['rl']:.3f}</td>" + diff_cell(m)))
    pair_table = ""
    if vs_estimators:
        pair_table = ("<h2>Estimators against each other (\"a vs b\": b - a; per item averaged over seeds; paired "
                      "bootstrap 95% CI)</h2>"
                      + _group_table(vs_estimators, ["{}: reward [95% CI]", "accuracy [95% CI]"],
                                     lambda m: diff_cell(m) + diff_cell({"diff": m["diff_acc"], "ci95": m["ci95_acc"]})))
    body = (f"{ci_table}{pair_table}<h2>Held-out metrics (mean ± std over seeds)</h2>{table}<h2>Reward curves</h2>{''.join(charts)}")
    path = out / "report.html"
    path.write_text(_page("Advantage estimator ablation", body), encoding="utf-8")
    return path


def answer_spread(rows: Sequence[dict]) -> dict[str, dict[str, Any]]:
    """Per task key: how varied the greedy answers are. ``distinct_frac`` = distinct answers / items, and the
    most common answer with its share (answers normalised as the probe's votes are; an unparsed answer
    counts as its own value). A checkpoint that answers one constant per key has ``top_share`` near 1:
    RL drifting to a key's majority answer shows here first (docs/experiments.md X2-X3)."""
    from ..evaluate.probe import answer_key

    by: dict[str, list[str]] = {}
    for r in rows:
        ans = r.get("answer")
        by.setdefault(row_task_key(r), []).append("<none>" if ans is None else answer_key(row_task_key(r), str(ans)))
    out: dict[str, dict[str, Any]] = {}
    for key in sorted(by):
        answers = by[key]
        top, count = max(((a, answers.count(a)) for a in dict.fromkeys(answers)), key=lambda x: x[1])
        out[key] = {"items": len(answers), "distinct_frac": len(set(answers)) / len(answers),
                    "top_answer": top[:80], "top_share": count / len(answers)}
    return out


def collapsed_keys(spread_before: dict[str, dict[str, Any]], spread_after: dict[str, dict[str, Any]], *,
                   share: float = 0.9, min_items: int = 10) -> list[str]:
    """Task keys (with at least ``min_items`` items) whose greedy answers became one constant: the most
    common answer's share rose to ``share`` or more from below it."""
    return [k for k, v in spread_after.items()
            if v["items"] >= min_items and v["top_share"] >= share and spread_before.get(k, {}).get("top_share", 1.0) < share]
