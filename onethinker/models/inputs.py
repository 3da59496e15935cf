"""Chat conversations -> Qwen-VL model inputs, and batched generation.

:func:`build_inputs` is the one place where conversations meet the processor: the evaluation runner,
the SFT collator and the RL rollouts all call it, so they all see the same pixels, the same frames
and the same ``<t seconds>`` timestamps.

Conversations are lists of messages in the Qwen-VL chat format that :mod:`onethinker.data.chat`
builds: ``{"role": ..., "content": str | [items]}`` with items ``{"type": "text", "text": ...}``,
``{"type": "image", "image": path | PIL.Image}`` and ``{"type": "video", "video": path | VideoClip}``.
Media items may carry per-item options in qwen-vl-utils' names, which win over the call's arguments:
images ``min_pixels``, ``max_pixels``; videos ``fps``, ``max_frames``, ``min_frames``, ``min_pixels``,
``max_pixels`` (per frame), ``video_start``, ``video_end`` (seconds).

How media reach the processor
-----------------------------
- Images are loaded with :func:`onethinker.data.media.load_image`, resized (bicubic) to sides that are
  multiples of ``patch_size * merge_size`` with the pixel count within [``image_min_pixels``,
  ``image_max_pixels``] (default: the image processor's own ``size`` limits), as qwen-vl-utils does;
  the image processor then only normalises and patchifies (``do_resize=False``).
- Videos are decoded with :func:`onethinker.data.media.sample_video` at ``video_fps`` (at most
  ``max_frames``, an even count). With per-frame limits (``video_min_pixels``/``video_max_pixels`` or
  the item's) frames are resized while decoding to multiples of ``patch_size * merge_size`` and the
  video processor does not resize again; without them the frames keep their size and the video
  processor applies its own limits (Qwen3-VL: a pixel budget over all frames, optionally capped per
  frame). The frames go to the processor with ``video_metadata=clip.metadata()`` and
  ``do_sample_frames=False``: the processor does not resample, and the Qwen3-VL processor writes each
  temporal patch's time as the mean of its two frames' ``frames_indices / fps``, which are the clip's
  decoded presentation times (so the ``<t seconds>`` in the prompt are the true times of the frames
  the model sees); Qwen2.5-VL takes ``sampled_fps`` from the same metadata for its temporal rope.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, Sequence

from .sampling import SamplingEngine, input_device

__all__ = ["MediaItemError", "assistant_mask", "build_inputs", "collect_media", "frame_pixel_limits", "generate",
           "input_device", "patch_factor", "pixel_limits"]


class MediaItemError(ValueError):
    """A content item that cannot be turned into model input; the message names the conversation."""


# -------------------------------------------------------------------------------------------------
# Media
# -------------------------------------------------------------------------------------------------


def _is_image(item: dict) -> bool:
    return item.get("type") == "image" or "image" in item or "image_url" in item


def _is_video(item: dict) -> bool:
    return item.get("type") == "video" or "video" in item


def collect_media(conversation: Sequence[dict]) -> list[tuple[str, dict]]:
    """The media items of one conversation in the order the chat template emits their placeholders:
    ``[("image" | "video", item), ...]`` (messages in order, items in order, text skipped)."""
    out: list[tuple[str, dict]] = []
    for msg in conversation:
        content = msg.get("content") if isinstance(msg, dict) else None
        if not isinstance(content, list):
            continue
        for item in content:
            if not isinstance(item, dict):
                continue
            if _is_image(item):
                out.append(("image", item))
            elif _is_video(item):
                out.append(("video", item))
    return out


def _source(item: dict, kind: str) -> Any:
    """The item's media: ``item[kind]``, else transformers' ``path``/``url`` keys, else OpenAI's ``image_url``."""
    src = item.get(kind)
    if src is None:
        src = item.get("path", item.get("url"))
    if src is None and kind == "image":
        src = item.get("image_url")
        if isinstance(src, dict):
            src = src.get("url")
    if isinstance(src, str) and src.startswith("file://"):
        src = src[len("file://"):]
    if isinstance(src, str) and src.startswith(("http://", "https://", "data:")):
        raise MediaItemError(f"{kind} {src[:80]!r}: URLs are not fetched; download the file and give its path")
    return src


def _load_image(item: dict, min_pixels: int | None, max_pixels: int | None, factor: int, blank: bool = False):
    from PIL import Image

    from ..data.media import MediaError, _existing_file, _to_rgb, fit_pixels, load_image

    lo = item.get("min_pixels", min_pixels)
    hi = item.get("max_pixels", max_pixels)
    src = _source(item, "image")
    if blank:  # the size load_image would give, from the header; nothing decoded
        if isinstance(src, Image.Image):
            size = src.size
        elif isinstance(src, (str, os.PathLike)):
            p = _existing_file(src)
            try:
                with Image.open(p) as img:
                    size = img.size
            except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
                raise MediaError(f"not a readable image ({type(e).__name__}: {e})", path=p) from e
        else:
            raise MediaItemError(f"image item {item!r}: expected a file path or a PIL image")
        return Image.new("RGB", fit_pixels(*size, min_pixels=lo, max_pixels=hi, factor=factor))
    if isinstance(src, Image.Image):
        img = _to_rgb(src)
        size = fit_pixels(*img.size, min_pixels=lo, max_pixels=hi, factor=factor)
        return img.resize(size, Image.Resampling.BICUBIC) if size != img.size else img
    if isinstance(src, (str, os.PathLike)):
        return load_image(src, min_pixels=lo, max_pixels=hi, factor=factor)
    raise MediaItemError(f"image item {item!r}: expected a file path or a PIL image")


def _load_video(item: dict, *, fps: float, max_frames: int, min_frames: int, min_pixels: int | None,
                max_pixels: int | None, factor: int, threads: int, blank: bool = False):
    """(clip, resized_by_us); with ``blank``, :func:`~onethinker.data.media.blank_clip` (nothing decoded)."""
    from ..data.media import VideoClip, blank_clip, sample_video

    src = _source(item, "video")
    if isinstance(src, VideoClip):
        return src, False
    if not isinstance(src, (str, os.PathLike)):
        raise MediaItemError(f"video item {item!r}: expected a file path or a VideoClip (lists of frames are not "
                             f"supported)")
    lo = item.get("min_pixels", min_pixels)
    hi = item.get("max_pixels", max_pixels)
    resize = lo is not None or hi is not None
    kw = dict(fps=float(item.get("fps", fps)), max_frames=int(item.get("max_frames", max_frames)),
              min_frames=int(item.get("min_frames", min_frames)), min_pixels=lo, max_pixels=hi,
              factor=factor if resize else 1, start=item.get("video_start"), end=item.get("video_end"))
    clip = blank_clip(src, **kw) if blank else sample_video(src, threads=threads, **kw)
    return clip, resize


# -------------------------------------------------------------------------------------------------
# Processor limits (the one definition: build_inputs here, the SFT length estimate)
# -------------------------------------------------------------------------------------------------
def patch_factor(proc: Any, default: int = 28) -> int:
    """``patch_size * merge_size`` of an image or video processor: the side of one merged patch, so
    resized media sides are multiples of it; ``default`` when the processor does not say."""
    patch = getattr(proc, "patch_size", None)
    merge = getattr(proc, "merge_size", None)
    return int(patch * merge) if patch and merge else default


def pixel_limits(proc: Any, min_pixels: int | None = None, max_pixels: int | None = None) -> tuple[int | None, int | None]:
    """The (min, max) pixel count of one image: the given values, else the processor's own ``size``
    limits (``shortest_edge`` / ``longest_edge``, which Qwen-VL processors use as pixel counts)."""
    size = getattr(proc, "size", None)
    get = size.get if isinstance(size, dict) else (lambda k: getattr(size, k, None))
    return (min_pixels if min_pixels is not None else get("shortest_edge"),
            max_pixels if max_pixels is not None else get("longest_edge"))


def frame_pixel_limits(proc: Any, min_pixels: int | None = None,
                       max_pixels: int | None = None) -> tuple[int | None, int | None]:
    """The (min, max) pixel count of one video frame: the given values; without either, about what the
    video processor's own limits leave a frame (its budget over all frames / its ``max_frames``; no
    minimum), as an estimate: build_inputs then leaves the frames to the processor."""
    if min_pixels is not None or max_pixels is not None:
        return min_pixels, max_pixels
    _, hi = pixel_limits(proc)
    return None, (hi // max(int(getattr(proc, "max_frames", 1) or 1), 1) if hi else None)


# -------------------------------------------------------------------------------------------------
# Inputs
# -------------------------------------------------------------------------------------------------


def build_inputs(
    processor: Any,
    messages_batch: Sequence[Sequence[dict]] | Sequence[dict],
    *,
    add_generation_prompt: bool = True,
    video_fps: float = 2.0,
    max_frames: int = 128,
    min_frames: int = 2,
    image_min_pixels: int | None = None,
    image_max_pixels: int | None = None,
    video_min_pixels: int | None = None,
    video_max_pixels: int | None = None,
    padding_side: str = "left",
    return_assistant_mask: bool = False,
    chat_template_kwargs: dict | None = None,
    video_threads: int = 0,
    return_tensors: str = "pt",
    blank_media: bool = False,
):
    """Turn a batch of conversations into model inputs (a transformers ``BatchFeature``).

    Args:
        processor: a Qwen2-VL / Qwen2.5-VL / Qwen3-VL processor (from :func:`onethinker.models.load`).
        messages_batch: a list of conversations (each a list of messages); a single conversation is
            accepted too. Items can mix images, videos and text-only conversations freely.
        add_generation_prompt: end each prompt with ``<|im_start|>assistant\\n`` (inference, rollouts);
            False for training on complete conversations.
        video_fps: frames sampled per second of video (an item's ``fps`` wins).
        max_frames, min_frames: bounds on the number of frames per video (an item's wins).
        image_min_pixels, image_max_pixels: pixel count bounds per image; None: the image processor's
            ``size`` (``shortest_edge``/``longest_edge``).
        video_min_pixels, video_max_pixels: pixel count bounds per video frame; None (both): the video
            processor resizes with its own limits.
        padding_side: "left" for generation (prompts end together), "right" for training.
        return_assistant_mask: add ``assistant_masks`` (1 on the tokens of assistant turns, their
            ``<|im_end|>`` included; see :func:`assistant_mask`) for loss masking.
        chat_template_kwargs: extra variables for the chat template.
        video_threads: decoder threads per video (0: FFmpeg's choice; 1 inside DataLoader workers).
        return_tensors: "pt" (default) or "np".
        blank_media: black images and frames of the sizes, frame counts and frame times the media would
            have, read from file headers (nothing decoded): the same tokens for counting lengths.

    Returns:
        ``BatchFeature`` with ``input_ids``, ``attention_mask`` and, when the batch has them,
        ``pixel_values`` + ``image_grid_thw`` (images of all conversations, concatenated in order),
        ``pixel_values_videos`` + ``video_grid_thw`` (videos likewise), and what the processor adds for
        the model (``mm_token_type_ids`` for Qwen3-VL's rope, ``second_per_grid_ts`` for Qwen2.5-VL).

    Raises:
        MediaItemError: an item whose media cannot be used (the message names the conversation), or a
            chat template whose placeholders do not match the media of a conversation.
        onethinker.data.media.MediaError: a missing or unreadable file (naming it).
    """
    if padding_side not in ("left", "right"):
        raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
    if isinstance(messages_batch, dict):
        raise TypeError("messages_batch: expected a list of conversations (lists of messages), got one message")
    batch = list(messages_batch)
    if not batch:
        raise ValueError("messages_batch is empty")
    if all(isinstance(m, dict) for m in batch):  # one conversation
        batch = [batch]

    image_proc = getattr(processor, "image_processor", None)
    video_proc = getattr(processor, "video_processor", None)
    img_factor = patch_factor(image_proc, 28)
    vid_factor = patch_factor(video_proc, img_factor)
    lo_img, hi_img = pixel_limits(image_proc, image_min_pixels, image_max_pixels)

    texts = processor.apply_chat_template(batch, tokenize=False, add_generation_prompt=add_generation_prompt,
                                          **(chat_template_kwargs or {}))
    if isinstance(texts, str):
        texts = [texts]
    image_token = getattr(processor, "image_token", "<|image_pad|>")
    video_token = getattr(processor, "video_token", "<|video_pad|>")

    images: list = []
    videos: list = []
    metadata: list[dict] = []
    all_resized = True
    for i, conv in enumerate(batch):
        media = collect_media(conv)
        n_img = sum(k == "image" for k, _ in media)
        n_vid = len(media) - n_img
        if texts[i].count(image_token) != n_img or texts[i].count(video_token) != n_vid:
            raise MediaItemError(
                f"conversation {i}: the chat template wrote {texts[i].count(image_token)} image and "
                f"{texts[i].count(video_token)} video placeholders for {n_img} image and {n_vid} video items")
        for kind, item in media:
            try:
                if kind == "image":
                    images.append(_load_image(item, lo_img, hi_img, img_factor, blank_media))
                else:
                    clip, resized = _load_video(item, fps=video_fps, max_frames=max_frames, min_frames=min_frames,
                                                min_pixels=video_min_pixels, max_pixels=video_max_pixels,
                                                factor=vid_factor, threads=video_threads, blank=blank_media)
                    all_resized &= resized
                    videos.append(clip.to_tensor())
                    metadata.append(clip.metadata())
            except MediaItemError as e:
                raise MediaItemError(f"conversation {i}: {e}") from e

    kwargs: dict[str, Any] = {
        "text": texts,
        "return_tensors": return_tensors,
        "text_kwargs": {"padding": True, "padding_side": padding_side},
    }
    if images:
        kwargs["images"] = images
        kwargs["images_kwargs"] = {"do_resize": False}
    if videos:
        kwargs["videos"] = videos
        kwargs["videos_kwargs"] = {"video_metadata": metadata, "do_sample_frames": False, "return_metadata": True}
        if all_resized:
            kwargs["videos_kwargs"]["do_resize"] = False
            if hasattr(type(video_proc), "cap_pixels_per_frame"):
                # no resizing happens; say so, or transformers warns about its per-frame cap default
                kwargs["videos_kwargs"]["cap_pixels_per_frame"] = False
    out = processor(**kwargs)
    out.pop("video_metadata", None)
    if return_assistant_mask:
        out["assistant_masks"] = assistant_mask(out["input_ids"], processor)
    return out


def assistant_mask(input_ids: Any, processor_or_tokenizer: Any):
    """1 on the tokens of assistant turns, 0 elsewhere, same shape and type as ``input_ids``.

    An assistant turn starts after ``<|im_start|>assistant\\n`` and ends with its ``<|im_end|>``
    (included, so the model learns to stop); the newline after it and all other turns are 0. A turn
    without ``<|im_end|>`` (truncated) runs to the end of the row. Padding is never inside a turn.
    """
    import numpy as np
    import torch

    tok = getattr(processor_or_tokenizer, "tokenizer", processor_or_tokenizer)
    start = tok.convert_tokens_to_ids("<|im_start|>")
    end = tok.convert_tokens_to_ids("<|im_end|>")
    header = tok("<|im_start|>assistant\n", add_special_tokens=False)["input_ids"][1:]
    ids = input_ids.tolist() if hasattr(input_ids, "tolist") else [list(r) for r in input_ids]
    mask = np.zeros((len(ids), len(ids[0]) if ids else 0), dtype=np.int64)
    h = len(header)
    for r, row in enumerate(ids):
        j, n = 0, len(row)
        while j < n:
            if row[j] == start and row[j + 1:j + 1 + h] == header:
                k = j + 1 + h
                while k < n and row[k] != end:
                    mask[r, k] = 1
                    k += 1
                if k < n:
                    mask[r, k] = 1  # the <|im_end|>
                j = k + 1
            else:
                j += 1
    if isinstance(input_ids, torch.Tensor):
        return torch.from_numpy(mask).to(input_ids.device)
    return mask


# -------------------------------------------------------------------------------------------------
# Generation
# -------------------------------------------------------------------------------------------------


def generate(
    model: Any,
    processor: Any,
    messages_batch: Sequence[Sequence[dict]] | Sequence[dict],
    *,
    max_new_tokens: int = 1024,
    temperature: float = 0.0,
    top_p: float = 1.0,
    top_k: int = 0,
    num_return_sequences: int = 1,
    seed: int | None = None,
    usage: list | None = None,
    sampler: str = "fast",
    **input_kwargs: Any,
) -> list[list[str]]:
    """Generate replies for a batch of conversations: one list of ``num_return_sequences`` strings per
    conversation.

    ``usage``: a list to which one ``{"prompt_tokens", "completion_tokens"}`` dict per conversation is
    appended (completion tokens summed over its replies, each counted up to and including its stop token).

    Greedy when ``temperature`` is 0 (then ``top_p``/``top_k`` are ignored and the one greedy reply is
    repeated ``num_return_sequences`` times), otherwise sampling with
    ``temperature``, ``top_p`` and ``top_k`` (0: off); the checkpoint's own sampling defaults are not
    used, only its stop and pad tokens (``generation_config``; ``<|im_end|>`` is always a stop token).
    ``seed`` makes sampling reproducible without touching the global RNG state. Only the new tokens
    are decoded, with special tokens skipped: ``<think>``/``</think>``/``<answer>``/``</answer>`` are
    text (or non-special tokens) and stay. The model is run in eval mode and put back as it was.
    ``sampler``: the sampling engine's ``"fast"`` (prefill once, finished rows leave the batch) or
    ``"generate"`` (transformers generate), see :mod:`onethinker.models.sampling`.
    ``input_kwargs`` go to :func:`build_inputs` (``video_fps``, ``max_frames``, pixel limits...);
    prompts are left-padded.
    """
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    if num_return_sequences < 1:
        raise ValueError(f"num_return_sequences must be >= 1, got {num_return_sequences}")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    input_kwargs.pop("add_generation_prompt", None)
    input_kwargs["padding_side"] = "left"
    inputs = build_inputs(processor, messages_batch, add_generation_prompt=True, **input_kwargs)
    inputs = inputs.to(input_device(model))
    n_prompts = int(inputs["input_ids"].shape[0])

    engine = SamplingEngine.for_model(model, processor, sampler=sampler)
    sample = temperature > 0
    k = int(num_return_sequences)
    out = engine.sample(inputs, n=k if sample else 1,  # greedy replies are all the same: compute one
                        max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, top_k=top_k, seed=seed)
    texts = engine.decode_batch(out.sequences)
    if usage is not None:
        mask = inputs.get("attention_mask")
        rows = out.sequences.tolist()
        per = k if sample else 1
        for i in range(n_prompts):
            prompt = int(mask[i].sum()) if mask is not None else int(inputs["input_ids"].shape[1])
            made = sum(len(engine.cut(rows[j])) for j in range(i * per, (i + 1) * per)) * (1 if sample else k)
            usage.append({"prompt_tokens": prompt, "completion_tokens": made})
    if not sample:
        return [[t] * k for t in texts]
    return [texts[i * k:(i + 1) * k] for i in range(n_prompts)]

