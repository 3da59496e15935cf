"""Writing videos: H.264 mp4s that PyAV, decord/qwen-vl-utils and FFmpeg all read back."""

from __future__ import annotations

import os
import pathlib
from fractions import Fraction
from typing import Iterable, Iterator

import av
import numpy as np

from .files import MediaError
from .video import _av_msg

__all__ = ["VIDEO_ENCODERS", "available_video_encoders", "write_video"]

# -------------------------------------------------------------------------------------------------
# Video: writing
# -------------------------------------------------------------------------------------------------

# Encoders tried in order by write_video(codec=None). libx264 is the H.264 everyone reads (decord,
# torchcodec, browsers, FFmpeg) and what the corpora use; libopenh264 is the H.264 encoder of
# FFmpeg builds without GPL parts; mpeg4 (MPEG-4 Part 2) is FFmpeg's built-in encoder, always present.
VIDEO_ENCODERS = ("libx264", "libopenh264", "mpeg4")


def available_video_encoders() -> list[str]:
    """The encoders of :data:`VIDEO_ENCODERS` that the installed PyAV/FFmpeg build has, in order."""
    found = []
    for name in VIDEO_ENCODERS:
        try:
            av.codec.Codec(name, "w")
        except (av.error.FFmpegError, ValueError):  # UnknownCodecError is a ValueError
            continue
        found.append(name)
    return found


def write_video(path: str | os.PathLike, frames: np.ndarray | Iterable[np.ndarray], fps: float | Fraction, *,
                codec: str | None = None, crf: int = 18, preset: str = "medium", gop: int | None = None,
                bframes: int | None = None, options: dict[str, str] | None = None) -> str:
    """Write RGB frames to an mp4 at ``path``; return the encoder's name.

    ``frames``: a (T, H, W, 3) uint8 array or an iterable of (H, W, 3) uint8 arrays, all one size.
    ``fps``: frame rate (a float such as 29.97 becomes the nearest fraction with denominator <= 1001,
    so 30000/1001 stays exact). ``codec``: an encoder name, or None for the first available of
    :data:`VIDEO_ENCODERS` (libx264 with this PyAV wheel). libx264 uses constant quality ``crf``
    (0 = lossless, 18 = visually lossless) and ``preset``; ``gop`` sets the keyframe interval (x264's
    default is 250 frames), ``bframes`` the number of B-frames (x264's default 3); ``options`` are
    passed to the encoder as-is. The pixel format is yuv420p, which needs even sides: an odd width or
    height is padded by repeating the last column/row (so the video is up to one pixel larger).
    The moov atom is written first (``+faststart``). A partial file is removed on error.
    """
    p = pathlib.Path(os.fspath(path))
    rate = fps if isinstance(fps, Fraction) else Fraction(fps).limit_denominator(1001)
    if rate <= 0:
        raise ValueError(f"write_video: fps must be positive, got {fps}")
    names = [codec] if codec else available_video_encoders()
    if not names:
        raise MediaError(f"no video encoder available (tried {', '.join(VIDEO_ENCODERS)})", path=p)
    name = names[0]
    if isinstance(frames, np.ndarray) and frames.ndim != 4:
        raise MediaError(f"frames must be a (T, H, W, 3) array or an iterable of (H, W, 3) arrays, got shape "
                         f"{frames.shape}", path=p)
    it = iter(frames)
    first = next(it, None)
    if first is None:
        raise MediaError("no frames to write", path=p)

    def check(a: np.ndarray, i: int) -> np.ndarray:
        a = np.asarray(a)
        if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
            raise MediaError(f"frame {i} must be (H, W, 3) uint8 RGB, got {a.shape} {a.dtype}", path=p)
        if a.shape != first_shape:
            raise MediaError(f"frame {i} is {a.shape[1]}x{a.shape[0]}, frame 0 is "
                             f"{first_shape[1]}x{first_shape[0]}: all frames must be one size", path=p)
        if pad_h or pad_w:
            a = np.pad(a, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
        return np.ascontiguousarray(a)

    first_shape = np.asarray(first).shape
    if len(first_shape) != 3:
        raise MediaError(f"frame 0 must be (H, W, 3) uint8 RGB, got shape {first_shape}", path=p)
    h, w = first_shape[:2]
    pad_h, pad_w = h % 2, w % 2

    opts: dict[str, str] = {}
    if name in ("libx264", "h264"):
        opts.update({"crf": str(crf), "preset": preset})
        if bframes is not None:
            opts["bf"] = str(bframes)
    elif name == "libopenh264":
        opts.update({"rc_mode": "quality", "allow_skip_frames": "0"})
    opts.update(options or {})

    try:
        container = av.open(str(p), mode="w", format="mp4", options={"movflags": "+faststart"})
    except (av.error.FFmpegError, OSError) as e:
        raise MediaError(f"cannot create video file ({e})", path=p) from e
    try:
        stream = container.add_stream(name, rate=rate, options=opts)
        stream.width, stream.height = w + pad_w, h + pad_h
        stream.pix_fmt = "yuv420p"
        if gop is not None:
            stream.codec_context.gop_size = int(gop)
        if name == "mpeg4":
            # No constant-quality knob through PyAV: a generous bitrate (about 0.25 bit per pixel).
            stream.codec_context.bit_rate = int(max(200_000, (w + pad_w) * (h + pad_h) * float(rate) * 0.25))
        if name == "libopenh264":
            stream.codec_context.bit_rate = int(max(200_000, (w + pad_w) * (h + pad_h) * float(rate) * 0.25))
        stream.codec_context.thread_type = "AUTO"
        for i, a in enumerate(_chain(first, it)):
            frame = av.VideoFrame.from_ndarray(check(a, i), format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
        container.close()
    except BaseException as e:
        try:
            container.close()
        except Exception:
            pass
        p.unlink(missing_ok=True)
        if isinstance(e, av.error.FFmpegError):
            raise MediaError(f"encoding with {name} failed ({_av_msg(e)})", path=p) from e
        raise
    return name


def _chain(first: np.ndarray, rest: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    yield first
    yield from rest
