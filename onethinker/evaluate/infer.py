"""One question about one image or video: the model's reasoning, its parsed answer, and a picture of it."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from ..generate.base import GenerationRequest, Generator, SamplingConfig
from ..tasks.response import extract_answer, extract_think, normalize
from ..tasks import get_task

VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".ts"}


def infer_one(
    generator: Generator,
    media: str | Path,
    problem_type: str,
    question: str = "",
    options: list[str] | None = None,
    *,
    out_dir: str | Path | None = "runs/infer",
    max_new_tokens: int = 1024,
    temperature: float = 0.0,
    video_fps: float = 2.0,
    max_frames: int = 128,
    segmenter: Any = "auto",
    sam2_config: str | None = None,
    sam2_checkpoint: str | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """Ask ``generator`` one question about ``media`` (an image, or a video by its suffix) as task
    ``problem_type`` and return a dict: ``output`` (the reply), ``reasoning``, ``answer_text``, ``parsed``,
    ``parse_error``, ``answer`` (the parsed value, JSON-ready), ``usage`` (``prompt_tokens`` and
    ``completion_tokens`` where the back-end reports them), ``generation_s``, ``segmenter`` (mask tasks),
    ``files`` and ``row`` (the result row the pictures are drawn from, as ``onethinker.report`` reads it).

    ``out_dir``: where ``answer.json`` and the pictures go; None writes nothing (``files`` stays empty).
    ``segmenter``: a kind for ``build_segmenter`` or an already built ``Segmenter`` (reused across calls).
    Raises ValueError (missing or unreadable media, unknown task) and whatever the back-end raises."""
    from ..data.chat import user_message
    from .families import jsonable_value, rle_encode
    from .runner import media_facts

    media = Path(media).resolve()
    if not media.is_file():
        raise ValueError(f"{media}: no such file")
    data_type = "video" if media.suffix.lower() in VIDEO_SUFFIXES else "image"
    task = get_task(problem_type, data_type)
    record = {"problem_id": media.name, "problem": question, "problem_type": task.problem_type, "data_type": data_type,
              "options": options or [], "solution": "", "path": str(media)}
    msg = user_message(record, media.parent, allow_absolute=True, video_options={"fps": video_fps, "max_frames": max_frames})
    sampling = SamplingConfig(max_new_tokens=max_new_tokens, temperature=temperature)
    request = GenerationRequest([msg], record)
    start = time.perf_counter()
    output = generator.generate([request], sampling)[0][0]
    generation_s = time.perf_counter() - start
    text = normalize(output)
    answer_text = extract_answer(text)
    parsed = task.parse(answer_text) if answer_text is not None else None
    result: dict[str, Any] = {
        "media": str(media), "problem_type": task.problem_type, "data_type": data_type, "question": question,
        "output": output, "reasoning": extract_think(text), "answer_text": answer_text,
        "parsed": bool(parsed and parsed.ok), "parse_error": None if parsed is None else parsed.error,
        "answer": jsonable_value(parsed.value) if parsed is not None and parsed.ok else None, "files": [],
        "usage": dict(request.usage), "generation_s": round(generation_s, 3),
    }
    if parsed is None:
        result["parse_error"] = "no <answer>...</answer> block"
    row: dict[str, Any] = {"bench": "infer", "problem_id": media.stem, "index": 0, "problem_type": task.problem_type,
                           "data_type": data_type, "task": task.key, "question": question, "options": options or [],
                           "media": [{"kind": data_type, "path": media.name}], "output": output, "answer": answer_text,
                           "pred": result["answer"], "truth": None, "score": None, **media_facts(record, media.parent, True)}
    if result["parsed"] and task.mask_truth:  # the answer is a prompt: its masks are the picture
        from ..segment import build_segmenter

        seg = segmenter if not isinstance(segmenter, str) else build_segmenter(
            segmenter, sam2_config=sam2_config, sam2_checkpoint=sam2_checkpoint, device=device)
        if data_type == "image":
            import numpy as np

            from ..data.media import load_image

            mask = seg.segment_image(np.asarray(load_image(media)), parsed.value)
            row["pred_masks"] = {"0": rle_encode(mask)}
        else:
            from ..data.media import probe_video, sample_video

            info = probe_video(media)
            clip = sample_video(media, fps=info.fps, max_frames=max(2, info.n_frames), min_frames=1)
            masks = seg.segment_video(clip.frames, clip.timestamps, parsed.value)
            row["pred_masks"] = {str(int(i)): rle_encode(m) for i, m in zip(clip.frame_indices, masks)}
        result["segmenter"] = seg.name
    if out_dir is None:
        result["row"] = row
        return result
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "answer.json").write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    result["files"].append(str(out / "answer.json"))
    from ..report.render import render_item

    for name, data in render_item(row, media.parent):
        (out / name).write_bytes(data)
        result["files"].append(str(out / name))
    result["row"] = row
    return result
