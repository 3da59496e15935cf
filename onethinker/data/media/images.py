"""Image sizes (Qwen's smart_resize rule) and image loading."""

from __future__ import annotations

import math
import os

import numpy as np
from PIL import Image

from .files import MediaError, _existing_file

__all__ = ["fit_pixels", "load_image"]

# -------------------------------------------------------------------------------------------------
# Sizes and images
# -------------------------------------------------------------------------------------------------


def fit_pixels(width: int, height: int, *, min_pixels: int | None = None, max_pixels: int | None = None,
               factor: int = 1) -> tuple[int, int]:
    """New ``(width, height)`` for an image of ``width`` x ``height``: Qwen's ``smart_resize`` rule.

    Each side is rounded to the nearest multiple of ``factor`` (at least ``factor``); if the area is
    then above ``max_pixels`` both sides are scaled by ``sqrt(area / max_pixels)`` and floored to the
    factor, if below ``min_pixels`` scaled up and ceiled. The aspect ratio is kept as closely as the
    factor allows. Rounding can leave the area outside the bounds only when they are too tight for
    the factor and the aspect ratio (e.g. ``max_pixels < factor**2``). With no limits and
    ``factor=1`` the input is returned. The argument order is (width, height), as PIL's ``size``;
    qwen-vl-utils' ``smart_resize`` takes and returns (height, width).
    """
    if int(width) != width or int(height) != height or width < 1 or height < 1:
        raise ValueError(f"fit_pixels: width and height must be positive integers, got {width}x{height}")
    if int(factor) != factor or factor < 1:
        raise ValueError(f"fit_pixels: factor must be a positive integer, got {factor}")
    if min_pixels is not None and max_pixels is not None and min_pixels > max_pixels:
        raise ValueError(f"fit_pixels: min_pixels {min_pixels} > max_pixels {max_pixels}")
    width, height, factor = int(width), int(height), int(factor)
    w = max(factor, round(width / factor) * factor)
    h = max(factor, round(height / factor) * factor)
    if max_pixels is not None and w * h > max_pixels:
        beta = math.sqrt(width * height / max_pixels)
        w = max(factor, math.floor(width / beta / factor) * factor)
        h = max(factor, math.floor(height / beta / factor) * factor)
    elif min_pixels is not None and w * h < min_pixels:
        beta = math.sqrt(min_pixels / (width * height))
        w = math.ceil(width * beta / factor) * factor
        h = math.ceil(height * beta / factor) * factor
    return w, h


def _to_rgb(img: Image.Image) -> Image.Image:
    """RGB copy of ``img``: transparency composited on white (as qwen-vl-utils' ``to_rgb``), 16-bit scaled."""
    mode = img.mode
    if mode == "RGB":
        return img
    if mode == "P" or mode == "PA":
        img = img.convert("RGBA")  # a palette may carry transparency ("transparency" info or PA)
        mode = "RGBA"
    if mode in ("RGBA", "LA", "RGBa", "La"):
        img = img.convert("RGBA")
        out = Image.new("RGB", img.size, (255, 255, 255))
        out.paste(img, mask=img.getchannel("A"))
        return out
    if mode.startswith("I") or mode == "F":
        # 16/32-bit integer or float greyscale: PIL's convert() would clip at 255 (a white picture).
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or (mode == "I" and arr.max(initial=0) > 255) else 255.0
        arr = np.clip(arr * (255.0 / top), 0, 255).round().astype(np.uint8)
        return Image.fromarray(arr, mode="L").convert("RGB")
    return img.convert("RGB")


def load_image(path: str | os.PathLike, *, min_pixels: int | None = None, max_pixels: int | None = None,
               factor: int = 1) -> Image.Image:
    """Open ``path`` as an RGB :class:`PIL.Image.Image`, resized with :func:`fit_pixels` when needed.

    Alpha (RGBA, LA, palette transparency) is composited on white, as qwen-vl-utils does; 16-bit
    greyscale is scaled to 8 bits. EXIF orientation is not applied (qwen-vl-utils does not either, so
    the model sees what it was trained on). Resizing is bicubic and happens only when the size changes.
    Raises :class:`MediaError` naming the file if it is missing, not an image, truncated or corrupt.
    """
    p = _existing_file(path)
    try:
        with Image.open(p) as img:
            img.load()  # decode now: truncated or corrupt data fails here, not later
            rgb = _to_rgb(img)
            if rgb is img:
                rgb = img.copy()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        # UnidentifiedImageError is an OSError; truncated data raises OSError; bad headers SyntaxError.
        raise MediaError(f"not a readable image ({type(e).__name__}: {e})", path=p) from e
    size = fit_pixels(*rgb.size, min_pixels=min_pixels, max_pixels=max_pixels, factor=factor)
    if size != rgb.size:
        rgb = rgb.resize(size, Image.Resampling.BICUBIC)
    return rgb
