"""Videos: probing (size, frame rate, frame count, duration) and sampling frames at a rate with PyAV
(sequential decoding or seeking, whichever decodes less; see the package docstring on frame indexing)."""

from __future__ import annotations

import bisect
import math
import os
import pathlib
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Iterator

import av
import numpy as np

from .files import MediaError, _existing_file
from .images import fit_pixels

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["SEEK_PENALTY_FRAMES", "VideoClip", "VideoInfo", "probe_video", "sample_video"]

# -------------------------------------------------------------------------------------------------
# Video: probing
# -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VideoInfo:
    """What a video container says about its (first non-cover-art) video stream.

    ``fps`` is the average frame rate, ``n_frames`` the number of frames, ``duration`` seconds.
    """

    path: str
    width: int
    height: int
    fps: float
    n_frames: int
    duration: float


def _open_video(p: pathlib.Path) -> tuple[Any, Any]:
    """Open ``p`` with PyAV and pick its video stream; MediaError if unreadable or without video."""
    if p.stat().st_size == 0:
        raise MediaError("empty file (0 bytes)", path=p)
    try:
        container = av.open(str(p), mode="r")
    except av.error.EOFError as e:
        raise MediaError(f"truncated: the file ends inside the container header ({_av_msg(e)})", path=p) from e
    except av.error.FFmpegError as e:
        raise MediaError(f"not a readable video ({_av_msg(e)})", path=p) from e
    except (OSError, ValueError, UnicodeDecodeError) as e:  # pragma: no cover - FFmpeg errors above cover it
        raise MediaError(f"not a readable video ({e})", path=p) from e
    streams = [s for s in container.streams.video if not (s.disposition & av.stream.Disposition.attached_pic)]
    if not streams:
        kinds = sorted({s.type for s in container.streams}) or ["none"]
        container.close()
        raise MediaError(f"no video stream (streams: {', '.join(kinds)})", path=p)
    return container, streams[0]


def _av_msg(e: Exception) -> str:
    msg = getattr(e, "strerror", None) or str(e)
    return f"{type(e).__name__}: {msg}"


def _count_packets(p: pathlib.Path, stream_index: int) -> tuple[int, float | None]:
    """Count the video stream's packets without decoding (one packet is one frame for all
    common codecs); also return the end time in seconds of the last packet, if known."""
    container = av.open(str(p))
    try:
        stream = container.streams[stream_index]
        n, end = 0, None
        tb = stream.time_base
        for pkt in container.demux(stream):
            if pkt.size == 0 or pkt.is_discard:
                continue
            n += 1
            if pkt.pts is not None and tb is not None:
                t = float((pkt.pts + (pkt.duration or 0) - (stream.start_time or 0)) * tb)
                end = t if end is None else max(end, t)
        return n, end
    finally:
        container.close()


def _count_decoded(p: pathlib.Path, stream_index: int) -> int:
    container = av.open(str(p))
    try:
        return sum(1 for _ in container.decode(container.streams[stream_index]))
    finally:
        container.close()


def _probe(container: Any, stream: Any, p: pathlib.Path) -> VideoInfo:
    cc = stream.codec_context
    if cc is None:  # a stream FFmpeg has no decoder for
        raise MediaError("no decoder for the video stream (unsupported or corrupt stream)", path=p)
    width, height = int(cc.width or 0), int(cc.height or 0)
    if width <= 0 or height <= 0:
        raise MediaError("video stream has no frame size (unsupported or corrupt stream)", path=p)
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate else 0.0
    n_frames = int(stream.frames or 0)
    duration = None
    if stream.duration and stream.time_base:
        duration = float(stream.duration * stream.time_base)
    elif container.duration:
        duration = container.duration / av.time_base
    try:
        if n_frames <= 0:  # e.g. Matroska/WebM and MPEG-TS store no frame count: count packets
            n_frames, end = _count_packets(p, stream.index)
            if duration is None:
                duration = end
        if n_frames <= 0:  # packets were unusable: decode and count
            n_frames = _count_decoded(p, stream.index)
    except av.error.FFmpegError as e:
        raise MediaError(f"unreadable video data while counting frames ({_av_msg(e)})", path=p) from e
    if n_frames <= 0:
        raise MediaError("video stream has no frames", path=p)
    _check_index_within_file(container, stream, n_frames, p)
    if fps <= 0:
        if not duration:
            raise MediaError("video stream has neither a frame rate nor a duration", path=p)
        fps = n_frames / duration
    if not duration:
        duration = n_frames / fps
    return VideoInfo(path=str(p), width=width, height=height, fps=fps, n_frames=n_frames, duration=duration)


def _index_entries(stream: Any) -> Any:
    """The stream's container index (PyAV >= 16: ``Stream.index_entries``), or None with an older PyAV
    (lmms-eval's environment pins av<16): the checks that need it are then skipped, keyframes scanned."""
    try:
        return stream.index_entries
    except AttributeError:
        return None


def _check_index_within_file(container: Any, stream: Any, n_frames: int, p: pathlib.Path) -> None:
    """MediaError if the container's index (mp4/mov sample table, Matroska cues) points past the end
    of the file, or an mp4/mov header announces frames but has no sample table: the file was cut
    short (an interrupted download or copy). Skipped with a PyAV that does not expose the index."""
    entries = _index_entries(stream)
    if entries is None:
        return
    if not len(entries):
        if n_frames > 0 and stream.frames > 0 and container.format.name.startswith("mov"):
            raise MediaError(f"truncated or corrupt: the mp4 header announces {n_frames} frames but has no "
                             f"sample table", path=p)
        return
    end = max(e.pos + e.size for e in entries)
    size = p.stat().st_size
    if end > size:
        raise MediaError(f"truncated: the container's index points to byte {end} but the file has {size} bytes",
                         path=p)


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Size, average frame rate, frame count and duration of the video at ``path``.

    Fast: it reads the container's header. Containers without a frame count (Matroska, WebM, MPEG-TS)
    have their packets counted (demuxed, not decoded), and decoded only if that fails; a missing
    duration falls back to the last packet's end or ``n_frames / fps``. Raises :class:`MediaError`
    for a missing or unreadable file, or one without a video stream.
    """
    p = _existing_file(path)
    container, stream = _open_video(p)
    try:
        return _probe(container, stream, p)
    finally:
        container.close()


# -------------------------------------------------------------------------------------------------
# Video: sampling
# -------------------------------------------------------------------------------------------------


@dataclass
class VideoClip:
    """Frames sampled from a video.

    ``frames`` (T, H, W, 3) uint8 RGB, already resized; ``timestamps`` (T,) float64 seconds from the
    start of the video (presentation time of each frame); ``frame_indices`` (T,) int64 indices into
    the source's frame sequence; ``sample_fps`` the sampling rate used (frames kept per second of
    video in the sampled window); ``info`` the source's :class:`VideoInfo`. ``method`` is the decoding
    strategy that was used ("sequential" or "seek"); ``window`` the (first, last) source frame of the
    sampled window.
    """

    frames: np.ndarray
    timestamps: np.ndarray
    frame_indices: np.ndarray
    sample_fps: float
    info: VideoInfo
    method: str = ""
    window: tuple[int, int] = (0, 0)

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    def metadata(self) -> dict:
        """Metadata for transformers' video processors when passing these pre-sampled frames.

        Pass it as ``video_metadata=[clip.metadata()]`` with ``do_sample_frames=False`` (and
        ``return_metadata=True`` when calling the video processor alone). It has exactly the fields
        of ``transformers.video_utils.VideoMetadata``. The Qwen3-VL processor writes
        ``frames_indices[i] / fps`` as each frame's time, averaged over the two frames of a temporal
        patch (``<t seconds>`` per pair); these equal ``clip.timestamps`` for constant-frame-rate
        videos. As in qwen-vl-utils, ``total_num_frames`` counts the source frames of the sampled
        window (the whole video unless ``start``/``end`` were given) while ``frames_indices`` are
        absolute, so ``VideoMetadata.sampled_fps`` (used by Qwen2.5-VL) equals ``clip.sample_fps``.
        """
        first, last = self.window
        total = last - first + 1
        return {
            "total_num_frames": int(total),
            "fps": float(self.info.fps),
            "width": int(self.info.width),
            "height": int(self.info.height),
            "duration": float(total / self.info.fps),
            "video_backend": "pyav",
            "frames_indices": [int(i) for i in self.frame_indices],
        }

    def to_tensor(self) -> "torch.Tensor":
        """The frames as a (T, 3, H, W) uint8 torch tensor (what Qwen's processors take)."""
        import torch

        return torch.from_numpy(self.frames).permute(0, 3, 1, 2).contiguous()


class _Clock:
    """Maps presentation timestamps (stream time base) to frame indices and back, at a constant fps."""

    def __init__(self, stream: Any, fps: float):
        self.start = int(stream.start_time or 0)
        self.tb = stream.time_base or Fraction(1, 1_000_000)
        self.fps = fps
        self._k = float(self.tb) * fps  # frames per pts tick

    def index(self, pts: int) -> int:
        return math.floor((pts - self.start) * self._k + 0.5)

    def pts(self, index: int) -> int:
        return self.start + math.floor(index / self._k + 0.5)

    def seconds(self, pts: int) -> float:
        return float((pts - self.start) * self.tb)


# Cost of one seek (container seek, decoder flush, the frame-threaded decoder refilling its pipeline),
# in frames decoded. `python benchmarks/video_sampling.py --calibrate` fits
# time = a * frames decoded + b * seeks over both strategies on 640x360 H.264 clips (GOP 250 and 30,
# 6 frame patterns, output resized to 640x352): b / a came out 10.3 (no resize), 15.1, 12.2 and 12.5
# frames on the shared 2-core development machine (6-9 at 160x90 and 1280x720). Near the break-even
# point both strategies cost the same, so the exact value matters little.
SEEK_PENALTY_FRAMES = 12.0


def _keyframe_indices(container: Any, stream: Any, clock: _Clock, p: pathlib.Path, *,
                      allow_scan: bool = True) -> list[int] | None:
    """Frame indices of the keyframes, ascending.

    From the container's sample index when it lists every frame (mp4/mov: free, read with the
    header); otherwise, if ``allow_scan``, by demuxing the packets (no decoding; Matroska, MPEG-TS...).
    ``None`` when unknown (no full index and no scan).
    """
    entries = _index_entries(stream)
    kf: list[int] = []
    if entries is not None and len(entries) and len(entries) == stream.frames:
        # One entry per sample, in decode order. In a closed GOP the keyframe is the earliest frame of
        # its GOP, so its presentation index is its decode position.
        pos = 0
        for e in entries:
            if e.is_discard:
                continue
            if e.is_keyframe:
                kf.append(pos)
            pos += 1
    elif allow_scan:
        scan = av.open(str(p))
        try:
            s = scan.streams[stream.index]
            for pkt in scan.demux(s):
                if pkt.size and pkt.is_keyframe and pkt.pts is not None and not pkt.is_discard:
                    kf.append(clock.index(pkt.pts))
        except av.error.FFmpegError as e:
            raise MediaError(f"unreadable video data while indexing keyframes ({_av_msg(e)})", path=p) from e
        finally:
            scan.close()
    else:
        return None
    kf = sorted(set(max(0, k) for k in kf))
    if not kf or kf[0] != 0:
        kf.insert(0, 0)
    return kf


def _plan_costs(targets: list[int], keyframes: list[int]) -> dict[str, tuple[int, int]]:
    """(frames decoded, seeks) for each strategy, from the keyframe table.

    sequential: one seek to the keyframe before the first target (none if that is frame 0), then
    decode through the last target. seek: for each target whose keyframe lies beyond the last
    decoded frame, seek to that keyframe; otherwise keep decoding forward.
    """
    def kf_of(t: int) -> int:
        return keyframes[bisect.bisect_right(keyframes, t) - 1]

    k0 = kf_of(targets[0])
    seq = (targets[-1] - k0 + 1, int(k0 > 0))
    decoded, seeks, pos = 0, 0, -1
    for t in targets:
        k = kf_of(t)
        if k > pos:
            seeks += int(not (pos < 0 and k == 0))
            decoded += t - k + 1
        else:
            decoded += max(0, t - pos)
        pos = max(pos, t)
    return {"sequential": seq, "seek": (decoded, seeks)}


def _choose_method(targets: list[int], keyframes: list[int] | None, penalty: float = SEEK_PENALTY_FRAMES) -> str:
    """Pick the cheaper strategy: cost = frames decoded + penalty x seeks (penalty in frame units).

    Decoding dominates both strategies and costs about the same per frame; a seek adds a roughly
    constant overhead (demuxer seek, decoder flush, and the frame-threaded decoder's pipeline
    refilling, which wastes about a thread count of frames). Seeking therefore wins when wanted
    frames are sparse relative to the GOP: e.g. 2 fps from a 30 fps clip with a 250-frame GOP decodes
    every frame either way (sequential), while 8 frames spread over a long video with 1-s GOPs skips
    most of them (seek).
    """
    if keyframes is None:
        return "sequential"
    costs = _plan_costs(targets, keyframes)
    seq = costs["sequential"][0] + penalty * costs["sequential"][1]
    seek = costs["seek"][0] + penalty * costs["seek"][1]
    return "seek" if seek < seq else "sequential"


class _Decoder:
    """Decodes one video stream forward, seeking when told; hands out the first frame at or after a
    wanted index. Used identically by both strategies, which differ only in when they seek."""

    def __init__(self, container: Any, stream: Any, clock: _Clock, p: pathlib.Path):
        self.container, self.stream, self.clock, self.p = container, stream, clock, p
        self._it: Iterator[Any] | None = None
        self.cur: Any = None  # the last frame pulled from the decoder, not yet passed
        self.cur_index = -1
        self.seeks = 0
        self.decoded = 0

    def _frames(self) -> Iterator[Any]:
        for frame in self.container.decode(self.stream):
            self.decoded += 1
            yield frame

    def _pull(self) -> Any:
        assert self._it is not None
        try:
            frame = next(self._it, None)
        except av.error.FFmpegError as e:
            raise MediaError(f"corrupt or truncated video data ({_av_msg(e)})", path=self.p) from e
        if frame is not None:
            pts = frame.pts if frame.pts is not None else frame.dts
            if pts is None:
                raise MediaError("decoded frames carry no timestamps; cannot index them", path=self.p)
            self.cur, self.cur_index = frame, self.clock.index(pts)
        else:
            self.cur = None
        return frame

    def start(self) -> None:
        """Decode from the beginning of the stream."""
        self._it = self._frames()
        self._pull()

    def seek(self, target: int) -> None:
        """Position the decoder at a keyframe at or before frame ``target``.

        FFmpeg seeks by timestamp to a keyframe; in some containers the index holds decode times, so
        the keyframe found can lie after ``target`` in presentation order. Then back off by a
        second, two, four... (and finally to the stream's start) until the first frame decoded is at
        or before ``target``.
        """
        clock = self.clock
        want = clock.pts(target)
        back = max(1, int(round(1 / float(clock.tb))))  # one second in pts ticks
        ts = want
        while True:
            try:
                self.container.seek(max(ts, clock.start), stream=self.stream, backward=True, any_frame=False)
            except av.error.FFmpegError as e:
                raise MediaError(f"cannot seek to frame {target} ({_av_msg(e)})", path=self.p) from e
            self.seeks += 1
            self._it = self._frames()
            frame = self._pull()
            if frame is not None and self.cur_index <= target or ts <= clock.start:
                return
            ts -= back
            back *= 2

    def frame_at(self, target: int) -> Any:
        """The first frame whose index is >= ``target`` (decoding forward)."""
        while self.cur is not None and self.cur_index < target:
            self._pull()
        if self.cur is None:
            raise MediaError(f"video ended before frame {target} could be decoded "
                             f"(the container promises more frames than it holds: truncated?)", path=self.p)
        return self.cur


def _decode_frames(container: Any, stream: Any, clock: _Clock, p: pathlib.Path, targets: list[int],
                   method: str, keyframes: list[int] | None, size: tuple[int, int] | None):
    """Decode the frames at ``targets`` (ascending frame indices) with the given strategy."""
    dec = _Decoder(container, stream, clock, p)
    frames, pts_list, idx_list = [], [], []
    last_frame, last_array = None, None

    def kf_of(t: int) -> int:
        if keyframes is None:  # unknown GOPs: let FFmpeg's seek find the keyframe
            return t
        return keyframes[bisect.bisect_right(keyframes, t) - 1]

    for i, t in enumerate(targets):
        if i == 0:
            if kf_of(t) > 0:
                dec.seek(t)
            else:
                dec.start()
        elif method == "seek" and kf_of(t) > dec.cur_index:
            dec.seek(t)
        frame = dec.frame_at(t)
        if frame is not last_frame:
            try:
                if size is None:
                    arr = frame.to_ndarray(format="rgb24")
                else:
                    arr = frame.to_ndarray(format="rgb24", width=size[0], height=size[1], interpolation="BICUBIC")
            except (av.error.FFmpegError, ValueError) as e:
                raise MediaError(f"cannot convert frame {t} to RGB ({e})", path=p) from e
            last_frame, last_array = frame, arr
        frames.append(last_array)
        pts_list.append(frame.pts if frame.pts is not None else frame.dts)
        idx_list.append(dec.cur_index)
    return frames, pts_list, idx_list, dec


def _frame_window(info: VideoInfo, start: float | None, end: float | None, p: pathlib.Path) -> tuple[int, int]:
    """First and last source frame of the window [start, end] seconds (qwen-vl-utils' rule:
    first = ceil(start * fps), last = min(floor(end * fps), n_frames - 1))."""
    n, fps = info.n_frames, info.fps
    length = n / fps
    if start is not None and end is not None and end < start:
        raise MediaError(f"window end {end} s is before its start {start} s", path=p)
    if start is not None and start >= length:
        raise MediaError(f"window start {start} s is at or past the end of the video ({length:.3f} s, "
                         f"{n} frames at {fps:g} fps)", path=p)
    first = 0 if start is None else max(0, math.ceil(max(0.0, start) * fps - 1e-6))
    last = n - 1 if end is None else min(n - 1, math.floor(max(0.0, end) * fps + 1e-6))
    if last < first:
        raise MediaError(f"window [{start}, {end}] s holds no frame ({length:.3f} s video, {n} frames at "
                         f"{fps:g} fps)", path=p)
    return first, last


def _frame_count(window_frames: int, src_fps: float, fps: float, min_frames: int, max_frames: int
                 ) -> tuple[int, float]:
    """How many frames to take from a window of ``window_frames`` source frames, and the spacing
    between them in source frames.

    Like qwen-vl-utils' ``smart_nframes``: ``window seconds x fps``, clamped to
    [min_frames rounded up to even, max_frames rounded down to even] and to the window's frame count,
    then floored to an even number (Qwen's temporal patch is 2) - unless fewer than 2 frames are
    possible or allowed. When that count is the plain ``fps`` count the frames are exactly
    ``1 / fps`` apart; when min/max_frames or the window's size changed it, they are spread evenly
    over the window.
    """
    nominal = window_frames / src_fps * fps
    lo = min_frames + (min_frames % 2)
    hi = max_frames - (max_frames % 2) if max_frames >= 2 else 1
    n = math.floor(min(max(nominal, lo), hi, window_frames) + 1e-6)
    if n >= 2:
        n -= n % 2
    n = max(n, 1)
    plain = math.floor(nominal + 1e-6)
    plain -= plain % 2 if plain >= 2 else 0
    step = src_fps / fps
    if n != plain or step < 1:
        step = window_frames / n
    return n, step


def _frame_plan(info: VideoInfo, p: pathlib.Path, *, fps: float, max_frames: int, min_frames: int,
                start: float | None, end: float | None) -> tuple[int, int, list[int]]:
    """The sampled window's first and last source frame and the source frames wanted in it (see
    :func:`sample_video`): the one rule for both :func:`sample_video` and :func:`blank_clip`."""
    first, last = _frame_window(info, start, end, p)
    window = last - first + 1
    n, step = _frame_count(window, info.fps, fps, min_frames, max_frames)
    offsets = np.floor(np.arange(n) * step + 0.5).astype(np.int64)
    return first, last, [int(first + o) for o in np.minimum(offsets, window - 1)]


def blank_clip(path: str | os.PathLike, *, fps: float = 2.0, max_frames: int = 128, min_frames: int = 2,
               min_pixels: int | None = None, max_pixels: int | None = None, factor: int = 1,
               start: float | None = None, end: float | None = None) -> VideoClip:
    """The :class:`VideoClip` that :func:`sample_video` would return with the same arguments, with black
    frames and nothing decoded: same frame count, size, frame indices, window and metadata, read from the
    container's header (:func:`probe_video`). For counting tokens without decoding (the SFT length
    estimate). Frame indices are the wanted ones; :func:`sample_video` returns the same for the
    constant-frame-rate videos of the OneThinker corpora (see the module's "Frame indexing")."""
    if not (fps > 0 and math.isfinite(fps)):
        raise ValueError(f"blank_clip: fps must be a positive number, got {fps}")
    if min_frames < 1 or max_frames < 1 or min_frames > max_frames:
        raise ValueError(f"blank_clip: need 1 <= min_frames <= max_frames, got {min_frames}, {max_frames}")
    p = _existing_file(path)
    info = probe_video(p)
    first, last, targets = _frame_plan(info, p, fps=fps, max_frames=max_frames, min_frames=min_frames,
                                       start=start, end=end)
    out_w, out_h = fit_pixels(info.width, info.height, min_pixels=min_pixels, max_pixels=max_pixels, factor=factor)
    idx = np.array(targets, dtype=np.int64)
    return VideoClip(
        frames=np.zeros((len(targets), out_h, out_w, 3), dtype=np.uint8),
        timestamps=idx / info.fps,
        frame_indices=idx,
        sample_fps=len(targets) / (last - first + 1) * info.fps,
        info=info,
        method="blank",
        window=(first, last),
    )


def sample_video(path: str | os.PathLike, *, fps: float = 2.0, max_frames: int = 128, min_frames: int = 2,
                 min_pixels: int | None = None, max_pixels: int | None = None, factor: int = 1,
                 start: float | None = None, end: float | None = None, method: str = "auto",
                 threads: int = 0) -> VideoClip:
    """Sample frames from the video at ``path`` at ``fps`` frames per second.

    Window: [``start``, ``end``] seconds (default: the whole video); its first frame is
    ``ceil(start * src_fps)`` and its last ``floor(end * src_fps)``, as in qwen-vl-utils.
    Count: ``window seconds x fps``, at least ``min_frames`` and at most ``max_frames`` (and never
    more than the window's frames), floored to an even number for Qwen's temporal patch of 2 unless
    the window has a single frame or ``max_frames`` is 1. Times: frame ``k`` is wanted at
    ``window start + k / fps``; when ``max_frames``/``min_frames``/the window size changed the count,
    the frames are instead spread evenly over the window (``k x window / count``). Each wanted time
    is converted to the nearest source frame index.

    Frames are converted to RGB and resized in one swscale pass (bicubic) to
    ``fit_pixels(width, height, min_pixels=..., max_pixels=..., factor=...)``.

    ``method``: "sequential" decodes forward from the keyframe before the first wanted frame and
    keeps the wanted frames; "seek" seeks to the keyframe before each wanted frame unless it is
    already decoding that GOP; "auto" estimates both costs from the container's keyframe index
    (frames decoded + SEEK_PENALTY_FRAMES per seek) and takes the cheaper. All return identical
    frames. ``threads``: decoder threads (0: FFmpeg's choice, one per core; use 1 inside DataLoader
    workers).

    Raises :class:`MediaError` (naming the file) for missing, unreadable, truncated or non-video
    files and for a window outside the video.
    """
    if not (fps > 0 and math.isfinite(fps)):
        raise ValueError(f"sample_video: fps must be a positive number, got {fps}")
    if min_frames < 1 or max_frames < 1 or min_frames > max_frames:
        raise ValueError(f"sample_video: need 1 <= min_frames <= max_frames, got {min_frames}, {max_frames}")
    if method not in ("auto", "sequential", "seek"):
        raise ValueError(f"sample_video: method must be 'auto', 'sequential' or 'seek', got {method!r}")
    p = _existing_file(path)
    container, stream = _open_video(p)
    try:
        info = _probe(container, stream, p)
        first, last, targets = _frame_plan(info, p, fps=fps, max_frames=max_frames, min_frames=min_frames,
                                           start=start, end=end)
        window = last - first + 1
        n = len(targets)

        clock = _Clock(stream, info.fps)
        # The keyframe table costs a packet scan for containers without a full index (not mp4/mov):
        # "sequential" does without it.
        keyframes = _keyframe_indices(container, stream, clock, p, allow_scan=method != "sequential")
        chosen = _choose_method(targets, keyframes) if method == "auto" else method

        out_w, out_h = fit_pixels(info.width, info.height, min_pixels=min_pixels, max_pixels=max_pixels,
                                  factor=factor)
        size = None if (out_w, out_h) == (info.width, info.height) else (out_w, out_h)

        cc = stream.codec_context
        cc.thread_type = "AUTO"
        cc.thread_count = int(threads)
        frames, pts_list, idx_list, _ = _decode_frames(container, stream, clock, p, targets, chosen, keyframes, size)
    except av.error.FFmpegError as e:
        raise MediaError(f"corrupt or truncated video data ({_av_msg(e)})", path=p) from e
    finally:
        container.close()

    return VideoClip(
        frames=np.stack(frames).astype(np.uint8, copy=False),
        timestamps=np.array([clock.seconds(t) for t in pts_list], dtype=np.float64),
        frame_indices=np.array(idx_list, dtype=np.int64),
        sample_fps=n / window * info.fps,
        info=info,
        method=chosen,
        window=(first, last),
    )
