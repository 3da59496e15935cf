"""``OUT/report.html``: one self-contained page about an evaluation run.

The page has no external files: CSS is inline, charts are inline SVG, pictures are base64 data URIs.
It shows

- a header: model(s), date, segmenter, media root, sampling and evaluation settings;
- an overview table: every benchmark with its official metrics;
- per benchmark: the metric table per family (with the metric variant text), the per-task table
  (score, reward, format, accuracy, unparsed, errors) and a bar chart of it;
- per benchmark, a gallery of successes and failures (``gallery`` items, about half each, the tasks
  taking turns): each card shows the task, the question, the parsed prediction, the truth, the score,
  the reward and the raw model output, with a thumbnail from :mod:`onethinker.report` (images:
  the picture with boxes / points / masks; videos: a filmstrip, and for tracking, spatio-temporal
  grounding and video segmentation a small animated GIF when it stays under :data:`GIF_BUDGET`).

Every text from the data or the model is HTML-escaped (model output is untrusted). Thumbnails are
downscaled (JPEG) so that a page with 12 gallery items per benchmark stays around a few MB. Items
whose media are missing get a card without a picture, saying why; the report never fails because of
one item.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import re
import time
from pathlib import Path
from typing import Any, Sequence

from . import codecs, gallery, pictures, render
from .pictures import picture_kind
from .style import CSS

GIF_BUDGET = 300_000  # bytes: an animated thumbnail larger than this is left out (the filmstrip stays)
THUMB_SIDE = 360  # longest side of image thumbnails
VIDEO_SIDE = 240  # longest side of video frames in filmstrips and GIFs
OUTPUT_CHARS = 4000  # model output shown per card (the rest is cut, with a note)

#: picture kinds whose video items get an animated thumbnail
_ANIMATED = ("track", "tube", "mask")
#: picture kinds drawn at one frame per second (their boxes are per second)
_PER_SECOND = ("track", "tube")

_CSS = CSS  # the shared stylesheet (onethinker.report.style)


def _e(value: Any) -> str:
    """HTML-escaped text (quotes too, so it is safe in attributes)."""
    return html.escape("" if value is None else str(value), quote=True)


def _fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.{digits}f}"
    return str(v)


def _anchor(name: str) -> str:
    return "b-" + re.sub(r"[^A-Za-z0-9_-]+", "-", str(name))


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def _short(text: str, limit: int) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -------------------------------------------------------------------------------------------------
# charts (inline SVG)
# -------------------------------------------------------------------------------------------------
_SERIES = (("score", "#3b6fd8"), ("accuracy", "#2ca02c"), ("format", "#9a9aa6"), ("reward", "#e08a1e"))


def task_chart(by_task: dict[str, dict], *, width: int = 680) -> str:
    """A horizontal grouped bar chart (inline SVG) of each task's score, reward accuracy, reward format
    and overall reward."""
    tasks = list(by_task)
    if not tasks:
        return ""
    values = {t: {k: _num(by_task[t].get(k)) for k, _ in _SERIES} for t in tasks}
    vmax = max([1.0] + [v for d in values.values() for v in d.values() if v is not None])
    vmax = math.ceil(vmax * 4) / 4
    label_w, bar_h, gap, top = 190, 7, 10, 26
    plot_w = width - label_w - 50
    group_h = bar_h * len(_SERIES) + gap
    height = top + group_h * len(tasks) + 22
    x0 = label_w

    def sx(v: float) -> float:
        return x0 + plot_w * max(0.0, v) / vmax

    parts = [f'<svg class="chart-svg" role="img" aria-label="per-task scores" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" font-size="11">']
    lx = x0
    for name, color in _SERIES:  # legend
        parts.append(f'<rect x="{lx}" y="6" width="10" height="10" fill="{color}"/>'
                     f'<text x="{lx + 14}" y="15">{_e("reward (overall)" if name == "reward" else name)}</text>')
        lx += 110
    k = 0.0
    while k <= vmax + 1e-9:  # grid
        x = sx(k)
        parts.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{height - 18}" stroke="#e2e2e8"/>'
                     f'<text x="{x:.1f}" y="{height - 6}" text-anchor="middle" fill="#666">{k:g}</text>')
        k += 0.25 if vmax <= 2 else 0.5
    for i, t in enumerate(tasks):
        y = top + i * group_h
        n = by_task[t].get("items")
        parts.append(f'<text x="{x0 - 8}" y="{y + group_h / 2}" text-anchor="end">{_e(_short(t, 28))}'
                     f'<tspan fill="#888"> ({_e(n)})</tspan></text>')
        for j, (name, color) in enumerate(_SERIES):
            v = values[t][name]
            yy = y + j * bar_h
            if v is None:
                continue
            w = max(0.0, sx(v) - x0)
            parts.append(f'<rect x="{x0}" y="{yy}" width="{w:.1f}" height="{bar_h - 1}" fill="{color}">'
                         f'<title>{_e(t)}: {_e(name)} {v:.4f}</title></rect>')
            parts.append(f'<text x="{x0 + w + 3:.1f}" y="{yy + bar_h - 1}" font-size="8" fill="#555">{v:.2f}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


# -------------------------------------------------------------------------------------------------
# tables
# -------------------------------------------------------------------------------------------------
def _family_table(m: dict) -> str:
    rows = ['<table class="families"><tr><th>family</th><th>items</th><th>metric</th><th>value</th>'
            '<th>metric variant</th></tr>']
    for fam, fm in (m.get("families") or {}).items():
        metrics = list((fm.get("metrics") or {}).items()) or [("-", None)]
        span = len(metrics)
        for i, (name, value) in enumerate(metrics):
            cells = ""
            if i == 0:
                cells += f'<td rowspan="{span}">{_e(fam)}</td><td class="num" rowspan="{span}">{_e(fm.get("items"))}</td>'
            cells += f'<td>{_e(name)}</td><td class="num">{_e(_fmt(value))}</td>'
            if i == 0:
                cells += f'<td class="variant" rowspan="{span}">{_e(fm.get("variant"))}</td>'
            rows.append(f"<tr>{cells}</tr>")
    rows.append("</table>")
    return "".join(rows)


def _task_table(m: dict) -> str:
    cols = ("items", "score", "reward", "format", "accuracy", "unparsed", "errors")
    rows = ["<table class=\"tasks\"><tr><th>task</th>" + "".join(f"<th>{c}</th>" for c in cols) + "</tr>"]
    for task, t in (m.get("by_task") or {}).items():
        rows.append(f"<tr><td>{_e(task)}</td>" + "".join(f'<td class="num">{_e(_fmt(t.get(c)))}</td>' for c in cols)
                    + "</tr>")
    rows.append("</table>")
    return "".join(rows)


def _overview(all_metrics: Sequence[dict]) -> str:
    rows = ["<table class=\"overview\"><tr><th>benchmark</th><th>items</th><th>model</th><th>metrics</th>"
            "<th>unparsed</th><th>errors</th></tr>"]
    for m in all_metrics:
        bench = m.get("bench", "?")
        metrics = "<br>".join(
            f"{_e(fam)}: " + ", ".join(f"{_e(n)} <b>{_e(_fmt(v))}</b>" for n, v in (fm.get("metrics") or {}).items())
            for fam, fm in (m.get("families") or {}).items())
        rows.append(f'<tr><td><a href="#{_anchor(bench)}">{_e(bench)}</a></td><td class="num">{_e(m.get("items"))}</td>'
                    f"<td>{_e(m.get('model'))}</td><td>{metrics}</td><td class=\"num\">{_e(m.get('unparsed'))}</td>"
                    f"<td class=\"num\">{_e(m.get('errors'))}</td></tr>")
    rows.append("</table>")
    return "".join(rows)


# -------------------------------------------------------------------------------------------------
# gallery
# -------------------------------------------------------------------------------------------------
def _thumbnails(row: dict, root: Any, allow_absolute: bool) -> str:
    """The card's pictures as HTML (raises MediaError when the media are missing)."""
    if row.get("data_type") == "image" or not any((m or {}).get("kind") == "video" for m in row.get("media") or []):
        r = render.render_frames(row, root, max_side=THUMB_SIDE, min_side=240, allow_absolute=allow_absolute)
        still = r.still()
        return f'<img alt="{_e(r.name)}" src="{_data_uri(codecs.encode_jpeg(still, 80), "image/jpeg")}">'
    kind = picture_kind(row.get("task"))
    fps = 1.0 if kind in _PER_SECOND else 2.0
    r = render.render_frames(row, root, max_side=VIDEO_SIDE, min_side=None, fps=fps, max_frames=64,
                          allow_absolute=allow_absolute)
    strip = r.still(5, height=min(150, r.frames[0].shape[0]))
    out = f'<img alt="{_e(r.name)} filmstrip" src="{_data_uri(codecs.encode_jpeg(strip, 78), "image/jpeg")}">'
    if kind in _ANIMATED and len(r.frames) > 1:
        frames = r.frames
        step = 1
        while True:
            gif = codecs.encode_gif(frames[::step], r.fps / step, colors=64)
            if len(gif) <= GIF_BUDGET or len(frames[::step]) <= 4:
                break
            step *= 2
        if len(gif) <= GIF_BUDGET:
            out = f'<img alt="{_e(r.name)} animation" src="{_data_uri(gif, "image/gif")}">' + out
    return out


def _card(row: dict, root: Any, allow_absolute: bool) -> str:
    score = gallery.item_score(row)
    ok = score >= gallery.SUCCESS
    video = any((m or {}).get("kind") == "video" for m in row.get("media") or [])
    if root is None:
        pics = '<div class="nomedia">no media root recorded: no picture</div>'
    else:
        try:
            pics = _thumbnails(row, root, allow_absolute)
        except (ValueError, OSError) as e:  # MediaError is a ValueError
            pics = f'<div class="nomedia">media unavailable: {_e(_short(str(e), 300))}</div>'
            video = False
        except Exception as e:  # a drawing bug must not lose the report
            pics = f'<div class="nomedia">could not draw this item: {_e(type(e).__name__)}: {_e(_short(str(e), 300))}</div>'
            video = False
    q = pictures.question_text(row)
    reward = row.get("reward") or {}
    parts = [f'<div class="card {"ok" if ok else "bad"}{" video" if video else ""}">', pics,
             f'<div class="head"><span>{_e(row.get("task"))} <span class="meta">({_e(row.get("data_type"))}, '
             f'id {_e(row.get("problem_id"))})</span></span><span class="score">{score:.3f}</span></div>']
    if len(q) > 500:
        parts.append(f'<p><span class="lab">question</span>{_e(q[:500])}… <details><summary>full question</summary>'
                     f'<pre>{_e(q)}</pre></details></p>')
    else:
        parts.append(f'<p><span class="lab">question</span>{_e(q)}</p>')
    if row.get("options"):
        parts.append("<ul>" + "".join(f"<li>{_e(o)}</li>" for o in row["options"]) + "</ul>")
    parts.append(f'<p class="pred"><span class="lab">prediction</span>{_e(_short(pictures.prediction_text(row), 800))}</p>')
    parts.append(f'<p class="truth"><span class="lab">truth</span>'
                 f'{_e(_short(pictures.format_value(row.get("truth"), row.get("task")), 800))}</p>')
    if reward:
        parts.append(f'<p class="meta">reward {_e(_fmt(_num(reward.get("overall")), 3))} (format '
                     f'{_e(_fmt(_num(reward.get("format")), 2))}, accuracy {_e(_fmt(_num(reward.get("accuracy")), 3))})</p>')
    if row.get("error"):
        parts.append(f'<p class="err"><span class="lab">error</span>{_e(_short(row["error"], 500))}</p>')
    output = row.get("output")
    if output is not None:
        text = str(output)
        more = f"\n… ({len(text) - OUTPUT_CHARS} more characters)" if len(text) > OUTPUT_CHARS else ""
        parts.append(f"<details><summary>model output ({len(text)} characters)</summary>"
                     f"<pre>{_e(text[:OUTPUT_CHARS] + more)}</pre></details>")
    parts.append("</div>")
    return "".join(parts)


def _gallery(m: dict, out: Path, media_root: Any, n: int) -> str:
    bench = m.get("bench", "")
    results = out / f"{bench}.jsonl"
    if n <= 0:
        return ""
    if not results.is_file():
        return f'<p class="meta">no gallery: {_e(results.name)} is not in the output folder.</p>'
    rows = gallery.read_results(results)
    root = media_root if media_root is not None else m.get("media_root")
    allow_abs = bool((m.get("config") or {}).get("allow_absolute", False))
    succ, fail = gallery.split_gallery(rows, n)
    html_parts = []
    for title, items in (("Successes", succ), ("Failures", fail)):
        html_parts.append(f"<h3>{title} <span class=\"meta\">({len(items)} shown; score "
                          f"{'&ge;' if title == 'Successes' else '&lt;'} {gallery.SUCCESS:g})</span></h3>")
        if not items:
            html_parts.append('<p class="meta">none</p>')
            continue
        html_parts.append('<div class="gallery">' + "".join(_card(r, root, allow_abs) for r in items) + "</div>")
    return "".join(html_parts)


# -------------------------------------------------------------------------------------------------
# the page
# -------------------------------------------------------------------------------------------------
def _unique(values: Sequence[Any]) -> list[str]:
    return list(dict.fromkeys(str(v) for v in values if v not in (None, "")))


def _header(all_metrics: Sequence[dict], media_root: Any, title: str) -> str:
    models = _unique([m.get("model") for m in all_metrics]) or ["-"]
    segs = _unique([m.get("segmenter") for m in all_metrics]) or ["- (no segmentation items)"]
    roots = _unique([media_root] if media_root is not None else [m.get("media_root") for m in all_metrics]) or ["-"]
    first = all_metrics[0] if all_metrics else {}
    sampling = first.get("sampling") or {}
    config = first.get("config") or {}
    samp = ", ".join(f"{k} {_fmt(v, 3) if isinstance(v, float) else v}" for k, v in sampling.items()) or "-"
    conf = ", ".join(f"{k} {config[k]}" for k in ("video_fps", "max_frames", "video_max_pixels", "image_max_pixels",
                                                  "segmenter", "limit") if k in config and config[k] is not None) or "-"
    facts = [("model", "; ".join(models)), ("date", time.strftime("%Y-%m-%d %H:%M:%S %Z")),
             ("segmenter", "; ".join(segs)), ("benchmarks", ", ".join(_unique([m.get("bench") for m in all_metrics])) or "-"),
             ("media root", "; ".join(roots)), ("sampling", samp), ("evaluation", conf)]
    dl = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts)
    return f"<header><h1>{_e(title)}</h1><dl class=\"facts\">{dl}</dl></header>"


def _bench_section(m: dict, out: Path, media_root: Any, gallery: int) -> str:
    bench = m.get("bench", "?")
    meta = [f"{_e(m.get('items'))} items", f"model {_e(m.get('model'))}"]
    if m.get("segmenter"):
        meta.append(f"segmenter {_e(m.get('segmenter'))}")
    meta.append(f"{_e(m.get('unparsed'))} unparsed answers, {_e(m.get('errors'))} items with errors")
    if m.get("source"):
        meta.append(f"source {_e(m.get('source'))}")
    if m.get("written"):
        meta.append(f"scored {_e(m.get('written'))}")
    parts = [f'<section id="{_anchor(bench)}"><h2>{_e(bench)}</h2><p class="meta">{" &middot; ".join(meta)}</p>',
             "<h3>Metrics by family</h3>", _family_table(m), "<h3>By task</h3>", _task_table(m)]
    chart = task_chart(m.get("by_task") or {})
    if chart:
        parts.append(f'<div class="chart">{chart}</div>')
    try:
        parts.append(_gallery(m, out, media_root, gallery))
    except Exception as e:  # the metrics above are what matters: never lose them to a gallery problem
        parts.append(f'<p class="err">gallery failed: {_e(type(e).__name__)}: {_e(_short(str(e), 300))}</p>')
    parts.append("</section>")
    return "".join(parts)


def render_report(out_dir: str | os.PathLike, all_metrics: Sequence[dict], *, media_root: Any = None,
                  gallery: int = 12, title: str = "OneThinker evaluation report") -> str:
    """The report page as a string (see :func:`write_report`)."""
    from ..evaluate.metrics import upgrade_metric_names

    out = Path(out_dir)
    all_metrics = [upgrade_metric_names(m) for m in all_metrics if isinstance(m, dict)]
    nav = " ".join(f'<a href="#{_anchor(m.get("bench", "?"))}">{_e(m.get("bench", "?"))}</a>' for m in all_metrics)
    body = [_header(all_metrics, media_root, title), "<main>"]
    if nav:
        body.append(f"<nav>{nav}</nav>")
    body += ["<h2>Overview</h2>", _overview(all_metrics) if all_metrics else '<p class="meta">no benchmarks</p>',
             '<p class="key meta">Pictures: <span style="background:#ff00ff"></span>prediction'
             '<span style="background:#00e600"></span>truth<span style="background:#ffd700"></span>box given in a '
             "tracking question; discs are positive points, crosses negative points; the bar under video frames "
             "is the timeline (true span above, predicted span below, dots where boxes or key times are).</p>"]
    body += [_bench_section(m, out, media_root, gallery) for m in all_metrics]
    body.append("</main><footer>Written by onethinker.report.evaluation; self-contained (no external files).</footer>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>" + "".join(body) + "</body></html>\n")


def write_report(out_dir: str | os.PathLike, all_metrics: Sequence[dict], *, media_root: Any = None,
                 gallery: int = 12, title: str = "OneThinker evaluation report") -> Path:
    """Write ``OUT/report.html`` for the benchmarks whose metrics (``<bench>.metrics.json`` contents) are
    given; galleries read ``OUT/<bench>.jsonl``. ``media_root``: where the media are (default: each
    benchmark's recorded media_root); ``gallery``: items per benchmark (0: none). Returns the path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    page = render_report(out, all_metrics, media_root=media_root, gallery=gallery, title=title)
    path = out / "report.html"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(page, encoding="utf-8", errors="xmlcharrefreplace")  # (a lone surrogate in a question)
    os.replace(tmp, path)
    return path


def load_metrics(out_dir: str | os.PathLike) -> list[dict]:
    """The ``*.metrics.json`` files of an output folder (for rebuilding a report); metric names written by
    earlier versions are renamed (:func:`onethinker.evaluate.metrics.upgrade_metric_names`)."""
    from ..evaluate.metrics import upgrade_metric_names

    found = []
    for p in sorted(Path(out_dir).glob("*.metrics.json")):
        try:
            found.append(upgrade_metric_names(json.loads(p.read_text(encoding="utf-8"))))
        except (OSError, ValueError, RecursionError):
            continue
    return found
