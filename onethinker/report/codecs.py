"""Encoding pictures: PNG, JPEG, GIF and MP4 from (H, W, 3) uint8 RGB arrays."""

from __future__ import annotations

import io
import json
import logging
import math
import os
import random
import re
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

# -------------------------------------------------------------------------------------------------
# encoding
# -------------------------------------------------------------------------------------------------
def encode_png(img: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def encode_jpeg(img: np.ndarray, quality: int = 82) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=quality, optimize=True)
    return buf.getvalue()


def encode_gif(frames: Sequence[np.ndarray], fps: float, *, colors: int = 128) -> bytes:
    """An animated GIF (looping) of RGB frames, each with its own adaptive palette."""
    from PIL import Image

    if not frames:
        raise ValueError("encode_gif: no frames")
    ims = [Image.fromarray(f).quantize(colors=colors, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
           for f in frames]
    buf = io.BytesIO()
    ims[0].save(buf, format="GIF", save_all=True, append_images=ims[1:], duration=max(20, int(round(1000 / fps))),
                loop=0, disposal=1)
    return buf.getvalue()


def encode_mp4(frames: Sequence[np.ndarray], fps: float) -> bytes:
    """An H.264 mp4 (through :func:`onethinker.data.media.write_video`)."""
    from ..data.media import write_video

    fd, tmp = tempfile.mkstemp(suffix=".mp4")
    os.close(fd)
    try:
        write_video(tmp, frames, fps, crf=23, preset="veryfast")
        return Path(tmp).read_bytes()
    finally:
        Path(tmp).unlink(missing_ok=True)


