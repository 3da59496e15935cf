"""Pictures of evaluation results (onethinker.report) and the HTML report (onethinker.report.evaluation).

One small synthetic corpus is evaluated with the scripted model as two benchmarks (image items and
video items); the tests draw its rows, check the drawn colours where the boxes are, decode every file
written, and check that the report is one self-contained, escaped page.
"""

from __future__ import annotations

import html
import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from onethinker.data.media import probe_video, sample_video, write_video
from onethinker.synthetic.corpus import SynthConfig, synthesize
from onethinker import report as viz
from onethinker.report import evaluation as report
from onethinker.evaluate.runner import EvalConfig, evaluate
from onethinker.generate.scripted import ScriptedGenerator

PRED, TRUTH = viz.PRED_COLOR, viz.TRUTH_COLOR
EVIL = "<script>alert('pwned')</script><img src=x onerror=alert(1)>"


def _has_segmenter() -> bool:
    try:
        import onethinker.segment  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """(corpus, out, rows by bench): 48 records, half held out, evaluated as bench_images and bench_videos."""
    base = tmp_path_factory.mktemp("vizreport")
    corpus = base / "corpus"
    synthesize(SynthConfig(n=48, seed=3, workers=1, held_out=0.5), corpus)
    records = json.loads((corpus / "eval_synthetic.json").read_text())
    if not _has_segmenter():
        records = [r for r in records if r["problem_type"] != "segmentation"]
    for name, dt in (("bench_images", "image"), ("bench_videos", "video")):
        (corpus / f"{name}.json").write_text(json.dumps([r for r in records if r["data_type"] == dt]))
    out = base / "out"
    evaluate(ScriptedGenerator(noise=0.4), [corpus / "bench_images.json", corpus / "bench_videos.json"], out,
             media_root=corpus, config=EvalConfig(segmenter="grabcut"))
    rows = {b: viz.read_results(out / f"{b}.jsonl") for b in ("bench_images", "bench_videos")}
    return corpus, out, rows


def _near(img: np.ndarray, x: float, y: float, color, r: int = 4) -> bool:
    """Whether ``color`` is exactly at some pixel within ``r`` of (x, y)."""
    h, w = img.shape[:2]
    xi, yi = int(round(x)), int(round(y))
    win = img[max(0, yi - r): min(h, yi + r + 1), max(0, xi - r): min(w, xi + r + 1)]
    return bool((win == np.array(color, np.uint8)).all(axis=-1).any())


def _rle(mask: np.ndarray) -> dict:
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}


# -------------------------------------------------------------------------------------------------
# drawing primitives
# -------------------------------------------------------------------------------------------------
def test_boxes_are_drawn_in_their_colours_where_they_are():
    img = np.zeros((100, 120, 3), np.uint8)
    viz.draw_box(img, [10, 20, 50, 60], TRUTH, thickness=2)
    viz.draw_box(img, [70, 30, 110, 90], PRED, thickness=2)
    assert tuple(img[40, 10]) == TRUTH and tuple(img[20, 30]) == TRUTH  # left and top edges
    assert tuple(img[90, 90]) == PRED and tuple(img[60, 110]) == PRED  # bottom and right edges
    assert not img[40, 30].any() and not img[60, 90].any()  # insides untouched
    viz.draw_box(img, [math.nan, 0, 5, 5], PRED)  # bad model output: nothing drawn, no error
    viz.draw_box(img, None, PRED)
    viz.draw_box(img, [1e12, -1e12, 3, 4], PRED)


def test_points_masks_and_paths():
    img = np.zeros((80, 80, 3), np.uint8)
    viz.draw_points(img, [[20, 20]], TRUTH, positive=True, radius=4)
    viz.draw_points(img, [[60, 60]], PRED, positive=False, radius=4)
    assert tuple(img[20, 20]) == TRUTH and tuple(img[20, 23]) == TRUTH  # a filled disc
    assert tuple(img[60, 60]) == PRED  # the centre of the cross ...
    assert tuple(img[60, 63]) != PRED  # ... which, unlike a disc, leaves its sides open
    assert tuple(img[57, 57]) == PRED  # along the diagonal

    img = np.zeros((60, 60, 3), np.uint8)
    mask = np.zeros((30, 30), bool)  # half the size: resized onto the image
    mask[5:25, 5:25] = True
    viz.overlay_mask(img, mask, PRED, alpha=0.5, thickness=2)
    inside = img[30, 30]
    assert inside[0] == inside[2] == round(255 * 0.5) and inside[1] == 0  # semi-transparent fill
    assert tuple(img[30, 10]) == PRED  # contour
    assert not img[2, 2].any() and not img[55, 55].any()  # outside untouched

    img = np.zeros((50, 50, 3), np.uint8)
    viz.draw_path(img, [[5, 5], [25, 25], [45, 5]], TRUTH, thickness=1)
    assert _near(img, 15, 15, TRUTH, 1) and _near(img, 35, 15, TRUTH, 1)


def test_timeline_shows_both_spans_and_the_time():
    strip = viz.timeline_strip(400, 10.0, t=5.0, truth_span=[2, 4], pred_span=[6, 9], height=30)
    x = lambda s: 4 + 392 * s / 10  # noqa: E731
    assert tuple(strip[8, int(x(3))]) == TRUTH and tuple(strip[20, int(x(7.5))]) == PRED
    assert tuple(strip[20, int(x(3))]) != PRED and tuple(strip[8, int(x(7.5))]) != TRUTH
    assert tuple(strip[15, int(round(x(5))) - 1]) == (255, 255, 255)  # the time cursor
    viz.timeline_strip(100, 0.0, t=None, pred_span=[math.nan, 1])  # degenerate input: no error


def test_legend_and_text_panel_wrap():
    strip = viz.legend_strip(200, viz.legend_entries({"task": "segmentation/image"}))
    assert strip.shape[1] == 200 and strip.shape[0] > 20  # four entries wrapped onto more rows
    assert (strip == np.array(PRED, np.uint8)).all(-1).any() and (strip == np.array(TRUTH, np.uint8)).all(-1).any()
    lines = viz.wrap_text("word " * 200, 300, 13, max_lines=3)
    assert len(lines) == 3 and lines[-1].endswith("…")
    panel = viz.text_panel(300, [("x" * 500, viz.TEXT_COLOR, 2)])
    assert panel.shape[1] == 300


# -------------------------------------------------------------------------------------------------
# rows drawn onto media
# -------------------------------------------------------------------------------------------------
def test_annotate_image_puts_boxes_where_the_0_1000_coordinates_say():
    row = {"task": "spatial grounding", "pred": [600, 200, 900, 800], "truth": [100, 100, 500, 500]}
    img = np.full((100, 200, 3), 90, np.uint8)
    out = viz.annotate_image(row, img)
    assert not (img != 90).any()  # a copy is drawn on
    assert _near(out, 20, 30, TRUTH) and _near(out, 100, 30, TRUTH)  # truth x = 20, 100 (200 px wide)
    assert _near(out, 120, 50, PRED) and _near(out, 150, 80, PRED)  # pred x1 = 120, y2 = 80
    assert not _near(out, 60, 30, TRUTH, 2) and not _near(out, 150, 50, PRED, 2)


def test_segmentation_rows_draw_masks_and_prompts():
    h, w = 60, 80
    truth_mask = np.zeros((h, w), bool)
    truth_mask[10:30, 10:30] = True
    pred_mask = np.zeros((h, w), bool)
    pred_mask[35:55, 45:75] = True
    prompt = {"box": [125, 167, 375, 500], "positive": [[250, 333]] * 3, "negative": [[900, 900]] * 3, "time": None}
    pred = dict(prompt, box=[560, 580, 940, 920], positive=[[700, 800]] * 3)
    row = {"task": "segmentation/image", "pred": pred, "truth": prompt,
           "truth_masks": {"0": _rle(truth_mask)}, "pred_masks": {"0": _rle(pred_mask)}}
    out = viz.annotate_image(row, np.zeros((h * 2, w * 2, 3), np.uint8))  # masks resized to the picture
    fill_t, fill_p = out[40, 30], out[90, 120]
    assert fill_t[1] > 0 and fill_t[0] == 0  # green tint inside the true mask
    assert fill_p[0] > 0 and fill_p[2] > 0 and fill_p[1] == 0  # magenta tint inside the predicted mask
    assert tuple(out[40, 40]) == TRUTH  # the true positive point at (250, 333) of 160 x 120
    assert tuple(out[96, 112]) == PRED  # a predicted positive point at (700, 800)
    row_unparsed = dict(row, pred=None, pred_masks=None)
    viz.annotate_image(row_unparsed, np.zeros((h, w, 3), np.uint8))


@pytest.fixture(scope="module")
def small_video(tmp_path_factory):
    """A 3 s, 4 fps, 80 x 60 grey video and an image, under one media root."""
    root = tmp_path_factory.mktemp("media")
    frames = np.full((12, 60, 80, 3), 100, np.uint8)
    write_video(root / "clip.mp4", frames, 4)
    Image.fromarray(np.full((40, 50, 3), 200, np.uint8)).save(root / "still.png")
    return root


def test_video_segmentation_and_video_image_rows_render(small_video):
    h, w = 60, 80
    masks = {}
    for i in range(12):
        m = np.zeros((h, w), bool)
        m[10:30, 5 + 3 * i: 25 + 3 * i] = True
        masks[str(i)] = _rle(m)
    prompt = {"box": [100, 100, 400, 500], "positive": [[200, 300]] * 3, "negative": [[900, 900]] * 3, "time": 1.0}
    row = {"bench": "b", "problem_id": "seg/1", "task": "segmentation/video", "data_type": "video", "pred": None,
           "truth": prompt, "truth_masks": masks, "pred_masks": None, "score": 0.0, "output": "no tags",
           "parse_error": "no <answer>...</answer> block", "media": [{"kind": "video", "path": "clip.mp4"}],
           "size": [w, h], "duration": 3.0, "question": "<video>Segment the thing."}
    r = viz.render_frames(row, small_video, max_side=320, min_side=None)
    assert r.kind == "video" and len(r.frames) == 6 and r.times[:3] == [0.0, 0.5, 1.0]
    assert r.key == list(range(6))  # every sampled frame has a true mask
    assert all(f.shape == r.frames[0].shape for f in r.frames)
    files = dict(viz.render_item(row, small_video, video_format="gif"))
    assert set(files) == {"b_seg-1.gif", "b_seg-1.filmstrip.png"}
    assert Image.open(__import__("io").BytesIO(files["b_seg-1.gif"])).n_frames == 6

    vi = dict(row, task="multiple choice", data_type="video-image", pred="A", truth="B", options=["A. x", "B. y"],
              media=[{"kind": "video", "path": "clip.mp4"}, {"kind": "image", "path": "still.png"}])
    r = viz.render_frames(vi, small_video, max_side=320, min_side=None)
    assert len(r.extras) == 1
    strip = r.still(3)
    assert strip.shape[1] > 3 * r.frames[0].shape[1]  # the extra image follows the frames


def test_tracking_frames_show_the_box_of_each_second(run):
    corpus, _, rows = run
    row = next(r for r in rows["bench_videos"] if r["task"] == "tracking" and r["pred"])
    r = viz.render_frames(row, corpus, max_side=640, min_side=384)
    w, h = viz.fit_size(*row["size"], 640, 384)
    for sec in ("1", "2"):
        i = r.times.index(float(sec))
        frame = r.frames[i][:h]  # the picture above the timeline
        x1, y1, x2, y2 = viz.to_px(row["truth"][sec], (w, h))
        assert _near(frame, x1, (y1 + y2) / 2, TRUTH), sec
        if sec in row["pred"]:
            px1, py1, px2, py2 = viz.to_px(row["pred"][sec], (w, h))
            assert _near(frame, px1, (py1 + py2) / 2, PRED) or _near(frame, px2, (py1 + py2) / 2, PRED), sec
    assert 0 in r.key and 1 not in r.key  # the t = 0.5 s frame has no box of its own second


# -------------------------------------------------------------------------------------------------
# visualize: files for each task kind
# -------------------------------------------------------------------------------------------------
def test_visualize_writes_a_decodable_file_for_every_image_item(run, tmp_path):
    _, out, rows = run
    paths = viz.visualize(out / "bench_images.jsonl", tmp_path, select="all")
    assert not paths.skipped and len(paths) == len(rows["bench_images"])
    by_name = {p.name: p for p in paths}
    for row in rows["bench_images"]:
        p = by_name[f"bench_images_{row['problem_id']}.png"]
        with Image.open(p) as im:
            im.load()
            assert im.format == "PNG" and im.width >= 360
    tasks = {r["task"] for r in rows["bench_images"]}
    assert {"spatial grounding", "multiple choice", "OCR"} <= tasks
    assert ("segmentation/image" in tasks) == _has_segmenter()
    # the spatial grounding picture has the true box where the row says (picture scaled to >= 384 px)
    row = next(r for r in rows["bench_images"] if r["task"] == "spatial grounding")
    img = np.asarray(Image.open(by_name[f"bench_images_{row['problem_id']}.png"]).convert("RGB"))
    w, h = viz.fit_size(*row["size"], 640, 384)
    x1, y1, x2, y2 = viz.to_px(row["truth"], (w, h))
    assert _near(img, x1, (y1 + y2) / 2, TRUTH) and _near(img, x2, (y1 + y2) / 2, TRUTH)


def test_visualize_writes_videos_and_filmstrips(run, tmp_path):
    _, out, rows = run
    vids = rows["bench_videos"]
    paths = viz.visualize(out / "bench_videos.jsonl", tmp_path / "mp4", select="all")
    assert not paths.skipped and len(paths) == len(vids) == len(paths.filmstrips)
    for p in paths:
        assert p.suffix == ".mp4" and p.stat().st_size > 0
        info = probe_video(p)
        assert info.n_frames >= 2 and info.width >= 384
    for p in paths.filmstrips:
        with Image.open(p) as im:
            im.load()
            assert im.format == "PNG"
    tasks = {r["task"] for r in vids}
    assert {"tracking", "temporal grounding", "spatial-temporal grounding"} <= tasks
    # a decoded frame still shows the colours (lossy: nearly magenta / green somewhere)
    row = next(r for r in vids if r["task"] == "tracking")
    clip = sample_video(tmp_path / "mp4" / f"bench_videos_{row['problem_id']}.mp4", fps=1, max_frames=4)
    f = clip.frames[1].astype(int)
    assert (np.abs(f - np.array(TRUTH)).sum(-1) < 90).any()

    gifs = viz.visualize(out / "bench_videos.jsonl", tmp_path / "gif", n=3, select="best", video_format="gif")
    assert len(gifs) == 3
    for p in gifs:
        with Image.open(p) as im:
            assert im.format == "GIF" and im.n_frames > 1


def test_selection(run):
    rows = run[2]["bench_images"] + run[2]["bench_videos"]
    scores = [viz.item_score(r) for r in rows]
    assert min(scores) < viz.SUCCESS <= max(scores)
    mixed = viz.select_rows(rows, 6, "mixed")
    assert len(mixed) == 6 and {viz.item_score(r) >= viz.SUCCESS for r in mixed} == {True, False}
    assert len({r["task"] for r in mixed}) >= 4  # tasks take turns
    best, worst = viz.select_rows(rows, 5, "best"), viz.select_rows(rows, 5, "worst")
    assert [viz.item_score(r) for r in best] == sorted(scores, reverse=True)[:5]
    assert [viz.item_score(r) for r in worst] == sorted(scores)[:5]
    assert viz.select_rows(rows, 4, "random", seed=1) == viz.select_rows(rows, 4, "random", seed=1)
    assert len(viz.select_rows(rows, 1, "all")) == len(rows)
    with pytest.raises(viz.VizError):
        viz.select_rows(rows, 3, "nice")


def test_missing_media_is_skipped_with_a_reason(run, tmp_path):
    corpus, out, rows = run
    res = tmp_path / "res"
    res.mkdir()
    shutil.copy(out / "bench_images.jsonl", res / "bench_images.jsonl")
    # no metrics file next to the results and no media root: a clear error
    with pytest.raises(ValueError, match="media root"):
        viz.visualize(res / "bench_images.jsonl", tmp_path / "x")
    # a media root without the files: every item skipped, counted, nothing raised
    empty = tmp_path / "empty"
    empty.mkdir()
    paths = viz.visualize(res / "bench_images.jsonl", tmp_path / "x", media_root=empty, n=5)
    assert list(paths) == [] and len(paths.skipped) == 5
    assert all("no such file" in why for _, why in paths.skipped)
    # one file gone: that item alone is skipped
    media = tmp_path / "media"
    shutil.copytree(corpus / "media", media / "media")
    gone = rows["bench_images"][0]
    (media / gone["media"][0]["path"]).unlink()
    paths = viz.visualize(res / "bench_images.jsonl", tmp_path / "y", media_root=media, select="all")
    expected_skips = sum(r["media"][0]["path"] == gone["media"][0]["path"] for r in rows["bench_images"])
    assert len(paths.skipped) == expected_skips and len(paths) == len(rows["bench_images"]) - expected_skips
    assert viz.item_name(gone) in {name for name, _ in paths.skipped}
    # the report says so in the card instead of failing
    metrics = json.loads((out / "bench_images.metrics.json").read_text())
    page = report.write_report(res, [metrics], media_root=empty, gallery=4).read_text()
    assert "media unavailable" in page


# -------------------------------------------------------------------------------------------------
# the report
# -------------------------------------------------------------------------------------------------
def test_report_is_one_self_contained_escaped_page(run, tmp_path):
    _, out, rows = run
    assert (out / "report.html").is_file()  # written by evaluate()
    work = tmp_path / "out"
    shutil.copytree(out, work)
    # a model output with HTML in it
    lines = (work / "bench_images.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    first["output"] = "<think>" + EVIL + "</think><answer>" + EVIL + "</answer>"
    first["answer"] = EVIL
    first["question"] = "<image>" + EVIL
    lines[0] = json.dumps(first)
    (work / "bench_images.jsonl").write_text("\n".join(lines) + "\n")
    metrics = [json.loads((work / f"{b}.metrics.json").read_text()) for b in ("bench_images", "bench_videos")]
    path = report.write_report(work, metrics, gallery=100)  # every item in the gallery
    page = path.read_text(encoding="utf-8")
    assert path == work / "report.html"
    # self-contained
    assert "http://" not in page and "https://" not in page and 'src="file' not in page
    assert "<script" not in page.lower() and "<link" not in page.lower()
    srcs = re.findall(r'src="([^"]*)"', page)
    assert srcs and all(s.startswith("data:image/") for s in srcs)
    # escaped
    assert "alert('pwned')" not in page and html.escape(EVIL) in page
    assert "<img src=x" not in page
    # contents: header, every bench and metric, variants, tasks, a chart, successes and failures
    assert "scripted (noise 0.4" in page and "grabcut" in page
    for m in metrics:
        assert m["bench"] in page
        for fam, fm in m["families"].items():
            assert html.escape(fam) in page and html.escape(fm["variant"]) in page
            for name in fm["metrics"]:
                assert html.escape(name) in page, name
        for task in m["by_task"]:
            assert html.escape(task) in page
    assert page.count("<svg") == 2 and "Successes" in page and "Failures" in page
    n_items = sum(len(v) for v in rows.values())
    assert page.count('<div class="card') == n_items
    assert 'src="data:image/gif' in page and 'src="data:image/jpeg' in page
    assert len(page) < 10_000_000
    assert_well_formed(page)


_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


def assert_well_formed(page: str) -> None:
    """Every element that is opened is closed, in order (html.parser itself accepts anything)."""
    from html.parser import HTMLParser

    class Balance(HTMLParser):
        def __init__(self):
            super().__init__()
            self.stack, self.errors = [], []

        def handle_starttag(self, tag, attrs):
            if tag not in _VOID:
                self.stack.append(tag)

        def handle_startendtag(self, tag, attrs):
            pass

        def handle_endtag(self, tag):
            if not self.stack or self.stack[-1] != tag:
                self.errors.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
            else:
                self.stack.pop()

    b = Balance()
    b.feed(page)
    b.close()
    assert not b.errors and b.stack == [], (b.errors[:5], b.stack[-5:])


def test_well_formed_check_catches_broken_pages():
    assert_well_formed("<!DOCTYPE html><html><body><p>a<br><img src=x></p></body></html>")
    for broken in ("<div><span></div>", "<table><tr><td>x</table>", "<p>unclosed"):
        with pytest.raises(AssertionError):
            assert_well_formed(broken)


def test_report_without_media_or_rows(tmp_path):
    metrics = {"bench": "lonely", "items": 0, "model": "m", "families": {"exact": {"items": 0, "metrics": {"accuracy": 0.0},
               "variant": "v"}}, "by_task": {}, "unparsed": 0, "errors": 0, "segmenter": None, "media_root": None}
    page = report.write_report(tmp_path, [metrics]).read_text()
    assert "lonely" in page and "no gallery" in page
    assert report.write_report(tmp_path, []).is_file()
