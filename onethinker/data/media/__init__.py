"""Media: resolve media paths under a root, load images, probe and sample videos, write videos.

Everything the model sees of an image or a video goes through here, so training, evaluation and
inference see the same pixels and the same frame timestamps.

- :func:`resolve_media` turns a record's relative media path into a file under the media root and
  refuses paths that escape it (``..``, symlinks) or absolute paths unless the user opted in.
- :func:`fit_pixels` is Qwen's ``smart_resize`` rule: keep the aspect ratio, make each side a multiple
  of ``factor`` and keep ``width * height`` within ``[min_pixels, max_pixels]``.
- :func:`load_image` opens an image as RGB (alpha composited on white, as qwen-vl-utils does) and
  resizes it with :func:`fit_pixels` when needed.
- :func:`probe_video` reads a video's size, frame rate, frame count and duration from the container.
- :func:`sample_video` decodes frames at a given rate with PyAV and returns a :class:`VideoClip`
  whose :meth:`VideoClip.metadata` is what transformers' Qwen3-VL video processor wants with
  pre-sampled frames (``do_sample_frames=False``).
- :func:`write_video` writes an H.264 mp4 (libx264, falling back to other encoders) that this module,
  decord/qwen-vl-utils and FFmpeg all read back; tests and benchmarks build their clips with it.

Frame indexing
--------------
Frame ``i`` of a video is the ``i``-th frame in presentation order. A decoded frame's index is derived
from its presentation timestamp (``round((pts - stream_start) * fps)``), which is exact for the
constant-frame-rate videos of the OneThinker corpora and identical in both decoding strategies, so
``method="sequential"`` and ``method="seek"`` return the same frames. If a wanted frame is missing
from the stream, both strategies return the first frame after it. Timestamps are seconds from the
start of the video stream (``(pts - stream_start) * time_base``).

Every error is a :class:`MediaError` (a ``ValueError``) whose message starts with the file's path.

Modules: ``files`` (errors, paths), ``images`` (sizes, images), ``video`` (probing, sampling),
``writing`` (writing videos); this package re-exports their names.
"""

# the private names stay reachable here for benchmarks/video_sampling.py, models.inputs and the tests
from .files import MediaError, _existing_file, _resolved, resolve_media  # noqa: F401
from .images import _to_rgb, fit_pixels, load_image  # noqa: F401
from .video import (SEEK_PENALTY_FRAMES, VideoClip, VideoInfo, _av_msg, _check_index_within_file, _choose_method,  # noqa: F401
                    _Clock, _count_decoded, _count_packets, _decode_frames, _Decoder, _frame_count, _frame_window,
                    _keyframe_indices, _open_video, _plan_costs, _probe, blank_clip, probe_video, sample_video)
from .writing import VIDEO_ENCODERS, _chain, available_video_encoders, write_video  # noqa: F401

__all__ = [
    "MediaError",
    "VideoClip",
    "VideoInfo",
    "available_video_encoders",
    "blank_clip",
    "fit_pixels",
    "load_image",
    "probe_video",
    "resolve_media",
    "sample_video",
    "write_video",
    "SEEK_PENALTY_FRAMES",
    "VIDEO_ENCODERS",
]
