"""What the page's Run button does, without Gradio: check the inputs, ask the model through
:func:`onethinker.evaluate.infer.infer_one` (generation, parsing, segmentation), and draw the answer with
:mod:`onethinker.report` (boxes, points, masks; for a video, every sampled frame with its timeline).

Every failure comes back as a message in :class:`Outcome` (unreadable media, an unknown task, an answer
that does not parse, a generation error): never an exception. The traceback goes to the log."""

from __future__ import annotations

import itertools
import logging
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..evaluate.infer import VIDEO_SUFFIXES
from ..generate.base import Generator

log = logging.getLogger(__name__)


@dataclass
class AppSettings:
    """Settings of the page's runs (``onethinker app`` flags map onto these)."""

    max_new_tokens: int = 1024
    temperature: float = 0.0
    video_fps: float = 2.0  # frames per second the model sees, and the annotated video shows
    max_frames: int = 128
    segmenter: str = "auto"  # for segmentation answers: auto, grabcut, sam2 (built on first use, then kept)
    sam2_config: str | None = None
    sam2_checkpoint: str | None = None
    device: str = "cpu"
    picture_side: int = 640  # longer side of the drawn pictures and video, in pixels
    work_dir: str | None = None  # where the pictures are written (None: a new temporary folder)
    keep_runs: int = 32  # the pictures of the last runs kept there; older ones are removed


@dataclass
class Outcome:
    """One run, as the page shows it. ``message`` (Markdown) is empty when all went well; it says what
    went wrong otherwise (then the other fields hold whatever could still be shown)."""

    message: str = ""
    picture: str | None = None  # PNG: the image with the answer drawn, or a filmstrip of key video frames
    video: str | None = None  # MP4: every sampled frame with the answer drawn and its timeline
    answer: str = ""  # the parsed answer (JSON), or why it did not parse
    reasoning: str = ""
    stats: str = ""  # generation time, token counts
    output: str = ""  # the model's whole reply
    parsed: bool = False
    result: dict[str, Any] = field(default_factory=dict, repr=False)  # infer_one's dict

    def values(self) -> list[Any]:
        """In the order of the page's outputs (:data:`onethinker.app.page.OUTPUTS`)."""
        return [self.message, self.picture, self.video, self.answer, self.reasoning, self.stats, self.output]


def parse_options(text: Any) -> list[str]:
    """Options typed into the page: one per line (blank lines dropped); a JSON list is read as such."""
    import json

    if isinstance(text, (list, tuple)):
        return [str(o).strip() for o in text if str(o).strip()]
    text = str(text or "").strip()
    if text.startswith("["):
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if isinstance(value, list):
            return [str(o).strip() for o in value if str(o).strip()]
    return [line.strip() for line in text.splitlines() if line.strip()]


def data_type_of(path: str | Path) -> str:
    """"video" for the video suffixes :func:`infer_one` knows, else "image"."""
    return "video" if Path(path).suffix.lower() in VIDEO_SUFFIXES else "image"


def _error(text: str) -> str:
    return f"**Error:** {text}"


def _code(text: str) -> str:
    """``text`` as a Markdown code span: shown as typed (``<answer>`` included), on the page and through the API."""
    text = " ".join(str(text).split()) or "?"
    return "`" + (text if len(text) < 600 else text[:600] + " ...").replace("`", "'") + "`"


class AppRunner:
    """Runs the page's questions on one generator, one at a time."""

    def __init__(self, generator: Generator, settings: AppSettings | None = None) -> None:
        self.generator = generator
        self.settings = settings or AppSettings()
        self._own_dir = self.settings.work_dir is None
        self.work_dir = Path(self.settings.work_dir or tempfile.mkdtemp(prefix="onethinker-app-"))
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._segmenter: Any = None
        self._lock = threading.Lock()
        self._counter = itertools.count(1)

    # -- the segmenter: built on the first mask answer, then reused ---------------------------------
    def segmenter(self) -> Any:
        if self._segmenter is None:
            from ..segment import build_segmenter

            s = self.settings
            self._segmenter = build_segmenter(s.segmenter, sam2_config=s.sam2_config, sam2_checkpoint=s.sam2_checkpoint,
                                              device=s.device)
        return self._segmenter

    # -- one run ---------------------------------------------------------------------------------------
    def run(self, media: Any, problem_type: Any, question: Any = "", options: Any = "", max_new_tokens: Any = None,
            temperature: Any = None) -> Outcome:
        """Ask the question about ``media`` (a file path) as task ``problem_type``; see :class:`Outcome`."""
        try:
            return self._run(media, problem_type, question, options, max_new_tokens, temperature)
        except Exception as e:  # noqa: BLE001 - the page shows a message, never a traceback
            log.exception("app: run failed")
            return Outcome(message=_error(_code(f"{type(e).__name__}: {e}")))

    def _check(self, media: Any, problem_type: Any, options: Any) -> tuple[Path, Any, list[str]] | str:
        """The media path, task and options, or an error message."""
        from ..data.media import load_image, probe_video
        from ..tasks import PROBLEM_TYPES, find_task

        if isinstance(media, dict):  # a FileData dict from an API call without handle_file
            media = media.get("path")
        if not media:
            return _error("upload an image or a video first (or pick an example).")
        path = Path(str(media))
        if not path.is_file():
            return _error(f"`{path.name}`: no such file.")
        data_type = data_type_of(path)
        task = find_task(str(problem_type or ""), data_type)
        if task is None:
            return _error(f"unknown task {_code(str(problem_type))}; the tasks are: {', '.join(PROBLEM_TYPES)}.")
        if data_type not in task.data_types:
            needs = " or ".join(d for d in task.data_types if d in ("image", "video"))
            return _error(f"{task.problem_type} takes {'an' if needs[0] in 'aeiou' else 'a'} {needs}; "
                          f"`{path.name}` is {'an' if data_type == 'image' else 'a'} {data_type}.")
        opts = parse_options(options) if task.has_options else []
        if task.has_options and not opts:
            return _error(f"{task.problem_type} needs options, one per line (e.g. `A. cat`).")
        try:  # a clear message before any generation when the file cannot be read
            if data_type == "image":
                load_image(path)
            else:
                info = probe_video(path)
                if info.n_frames < 1:
                    return _error(f"`{path.name}` has no video frames.")
        except (ValueError, OSError) as e:
            why = str(e).removeprefix(f"{path}: ").replace(str(path), path.name)  # no server paths
            return _error(f"cannot read `{path.name}` as {'an image' if data_type == 'image' else 'a video'}: {_code(why)}")
        return path, task, opts

    def _run(self, media: Any, problem_type: Any, question: Any, options: Any, max_new_tokens: Any,
             temperature: Any) -> Outcome:
        from ..evaluate.infer import infer_one

        checked = self._check(media, problem_type, options)
        if isinstance(checked, str):
            return Outcome(message=checked)
        path, task, opts = checked
        s = self.settings
        tokens = int(max_new_tokens) if max_new_tokens not in (None, "") else s.max_new_tokens
        temp = float(temperature) if temperature not in (None, "") else s.temperature
        if tokens < 1 or not 0 <= temp <= 5:
            return Outcome(message=_error("max new tokens must be at least 1 and temperature within 0..5."))
        start = time.perf_counter()
        try:
            seg = self.segmenter() if task.mask_truth else s.segmenter
        except Exception as e:  # noqa: BLE001 - e.g. sam2 without a checkpoint
            log.warning("app: cannot build the %s segmenter: %s", s.segmenter, e)
            return Outcome(message=_error(f"cannot build the {s.segmenter} segmenter: {_code(f'{type(e).__name__}: {e}')}"))
        try:
            with self._lock:
                result = infer_one(self.generator, path, task.problem_type, str(question or ""), opts, out_dir=None,
                                   max_new_tokens=tokens, temperature=temp, video_fps=s.video_fps,
                                   max_frames=s.max_frames, segmenter=seg, device=s.device)
        except Exception as e:  # noqa: BLE001
            log.exception("app: generation failed")
            why = f"{type(e).__name__}: {e}".replace(str(path.parent), "")  # no server paths
            return Outcome(message=_error(f"generation failed: {_code(why)}"))
        out = Outcome(reasoning=result.get("reasoning") or "", output=result.get("output") or "",
                      parsed=bool(result.get("parsed")), result=result)
        messages = []
        if out.parsed:
            import json

            out.answer = json.dumps(result["answer"], ensure_ascii=False)
        else:
            why = result.get("parse_error") or "not parsed"
            raw = result.get("answer_text")
            out.answer = f"(not parsed: {why})" + (f"\n{raw}" if raw else "")
            messages.append(f"**The answer did not parse:** {_code(why)}. The whole reply is under *Raw output*.")
        try:
            out.picture, out.video = self._draw(result["row"], Path(result["media"]))
        except Exception as e:  # noqa: BLE001
            log.exception("app: drawing failed")
            messages.append(_error(f"cannot draw the picture: {_code(f'{type(e).__name__}: {e}')}"))
        out.stats = self._stats(result, time.perf_counter() - start)
        out.message = "\n\n".join(messages)
        return out

    # -- pictures --------------------------------------------------------------------------------------
    def _run_dir(self, path: Path) -> Path:
        """A new folder for one run's pictures; the oldest beyond ``keep_runs`` are removed."""
        import re

        stem = re.sub(r"[^A-Za-z0-9._-]+", "-", path.stem)[:60] or "media"
        d = self.work_dir / f"{next(self._counter):05d}-{stem}"
        d.mkdir(parents=True, exist_ok=True)
        runs = sorted(p for p in self.work_dir.iterdir() if p.is_dir())
        for old in runs[:max(0, len(runs) - max(1, self.settings.keep_runs))]:
            shutil.rmtree(old, ignore_errors=True)
        return d

    def _draw(self, row: dict, path: Path) -> tuple[str, str | None]:
        """The picture (PNG) and, for a video, the annotated video (MP4) of a result row."""
        from ..report.codecs import encode_mp4, encode_png
        from ..report.draw import legend_strip, vstack
        from ..report.render import render_frames

        s = self.settings
        r = render_frames(row, path.parent, max_side=s.picture_side, fps=s.video_fps, max_frames=s.max_frames)
        # no ground truth here, and no prediction when the answer did not parse: the legend names what is drawn
        r.legend = [e for e in r.legend if not e[0].startswith(("truth", "true"))] if row.get("pred") is not None else []
        d = self._run_dir(path)
        picture = d / "answer.png"
        if r.kind == "image":
            picture.write_bytes(encode_png(r.still()))
            return str(picture), None
        picture.write_bytes(encode_png(r.still(5, height=min(r.frames[0].shape[0], 240))))
        legend = (legend_strip(r.frames[0].shape[1], r.legend, size=12 if r.frames[0].shape[1] >= 400 else 11)
                  if r.legend else None)
        video = d / "answer.mp4"
        video.write_bytes(encode_mp4([vstack([f, legend]) for f in r.frames], r.fps))
        return str(picture), str(video)

    def _stats(self, result: dict, total_s: float) -> str:
        usage = result.get("usage") or {}
        parts = [f"generation {result.get('generation_s', 0.0):.2f} s"]
        prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
        if isinstance(prompt, int) or isinstance(completion, int):
            parts.append(f"{prompt if prompt is not None else '?'} prompt tokens")
            parts.append(f"{completion if completion is not None else '?'} completion tokens")
            gen = float(result.get("generation_s") or 0.0)
            if isinstance(completion, int) and gen > 0:
                parts.append(f"{completion / gen:.1f} tokens/s")
        else:
            parts.append("token counts not reported by this back-end")
        if result.get("segmenter"):
            parts.append(f"segmenter {result['segmenter']}")
        parts.append(f"total {total_s:.2f} s")
        return " · ".join(parts)

    def close(self) -> None:
        if self._own_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)
