"""Media layer: paths under a media root, images, video probing/sampling/writing, Qwen3-VL metadata.

Videos are synthesised with write_video: each frame is a solid colour that encodes its index in
base 8 (one digit per channel, levels 32 apart), so a sampled frame tells which source frame it is
even after lossy H.264 compression.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import re
import wave

import av
import numpy as np
import pytest
from PIL import Image

from onethinker.data.media import (
    MediaError,
    VideoClip,
    VideoInfo,
    available_video_encoders,
    fit_pixels,
    load_image,
    probe_video,
    resolve_media,
    sample_video,
    write_video,
)
from onethinker.data import media as media_mod

W, H, FPS = 64, 48, 30


def index_frames(n: int, w: int = W, h: int = H):
    """Frame i is a solid colour encoding i (< 512) in base 8, one digit per channel."""
    for i in range(n):
        a = np.empty((h, w, 3), np.uint8)
        a[..., 0] = (i % 8) * 32 + 16
        a[..., 1] = ((i // 8) % 8) * 32 + 16
        a[..., 2] = (i // 64) * 32 + 16
        yield a


def decoded_index(frames: np.ndarray) -> np.ndarray:
    """Inverse of index_frames for a (T, H, W, 3) array (reads the mean colour of each frame)."""
    mean = frames.reshape(frames.shape[0], -1, 3).mean(axis=1)
    digits = np.clip(np.round((mean - 16) / 32), 0, 7).astype(int)
    return digits[:, 0] + 8 * digits[:, 1] + 64 * digits[:, 2]


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    d = tmp_path_factory.mktemp("videos")
    out = {}
    out["clip10"] = d / "clip10.mp4"  # 10 s, x264 defaults (one GOP: 250-frame keyint)
    write_video(out["clip10"], index_frames(300), FPS)
    out["gop12"] = d / "gop12.mp4"  # 10 s, a keyframe every 12 frames, 3 B-frames
    write_video(out["gop12"], index_frames(300), FPS, gop=12, bframes=3)
    out["short"] = d / "short.mp4"  # 1 s
    write_video(out["short"], index_frames(30), FPS)
    return out


# ---------------------------------------------------------------------------------------------
# write_video / probe_video
# ---------------------------------------------------------------------------------------------


def test_encoder_available_and_probe(videos):
    encoders = available_video_encoders()
    assert encoders, "PyAV has none of libx264/libopenh264/mpeg4"
    info = probe_video(videos["clip10"])
    assert isinstance(info, VideoInfo)
    assert (info.width, info.height, info.n_frames) == (W, H, 300)
    assert info.fps == pytest.approx(30.0)
    assert info.duration == pytest.approx(10.0, abs=1e-6)
    assert info.path == str(videos["clip10"])
    with av.open(str(videos["clip10"])) as c:
        assert c.streams.video[0].codec_context.name == {"libx264": "h264", "libopenh264": "h264"}.get(
            encoders[0], encoders[0])


def test_write_video_roundtrip_content_and_iterables(tmp_path):
    frames = np.stack(list(index_frames(40)))
    path = tmp_path / "arr.mp4"
    write_video(path, frames, 20)  # an array this time, 20 fps
    info = probe_video(path)
    assert (info.n_frames, info.fps) == (40, pytest.approx(20.0))
    clip = sample_video(path, fps=20, max_frames=64)
    assert np.array_equal(decoded_index(clip.frames), np.arange(40))
    assert np.abs(clip.frames.astype(int) - frames.astype(int)).max() <= 6  # near-lossless at crf 18


def test_write_video_odd_size_is_padded_and_fractional_fps(tmp_path):
    path = tmp_path / "odd.mp4"
    write_video(path, (np.full((25, 33, 3), 200, np.uint8) for _ in range(6)), 30000 / 1001)
    info = probe_video(path)
    assert (info.width, info.height) == (34, 26)
    assert info.fps == pytest.approx(30000 / 1001)
    clip = sample_video(path, fps=30, max_frames=8)
    assert np.abs(clip.frames.astype(int) - 200).max() <= 3  # the padding repeats the edge


def test_write_video_mpeg4_fallback_encoder(tmp_path):
    path = tmp_path / "mpeg4.mp4"
    assert write_video(path, index_frames(24), 12, codec="mpeg4") == "mpeg4"
    info = probe_video(path)
    assert (info.n_frames, info.fps, info.width) == (24, pytest.approx(12.0), W)
    clip = sample_video(path, fps=4)
    assert np.array_equal(decoded_index(clip.frames), np.arange(0, 24, 3))


def test_write_video_rejects_bad_frames(tmp_path):
    with pytest.raises(MediaError, match="no frames"):
        write_video(tmp_path / "empty.mp4", [], 10)
    with pytest.raises(MediaError, match="one size"):
        write_video(tmp_path / "mixed.mp4", [np.zeros((8, 8, 3), np.uint8), np.zeros((10, 8, 3), np.uint8)], 10)
    assert not (tmp_path / "mixed.mp4").exists()  # the partial file is removed
    with pytest.raises(MediaError, match="uint8"):
        write_video(tmp_path / "float.mp4", [np.zeros((8, 8, 3), np.float32)], 10)


def test_probe_counts_frames_when_container_has_no_count(videos, tmp_path):
    """Matroska and MPEG-TS store no frame count: probe counts packets; sampling still agrees."""
    ref = sample_video(videos["gop12"], method="sequential")
    for ext, fmt in (("mkv", "matroska"), ("ts", "mpegts")):
        dst = tmp_path / f"remux.{ext}"
        with av.open(str(videos["gop12"])) as src, av.open(str(dst), "w", format=fmt) as out:
            s = src.streams.video[0]
            o = out.add_stream_from_template(s)
            for pkt in src.demux(s):
                if pkt.dts is None:
                    continue
                pkt.stream = o
                out.mux(pkt)
        with av.open(str(dst)) as c:
            assert c.streams.video[0].frames == 0  # the premise: no count in the header
        info = probe_video(dst)
        assert (info.n_frames, info.width, info.height) == (300, W, H)
        assert info.duration == pytest.approx(10.0, abs=0.05)
        for method in ("sequential", "seek", "auto"):
            clip = sample_video(dst, method=method)
            assert np.array_equal(clip.frame_indices, ref.frame_indices)
            assert np.allclose(clip.timestamps, ref.timestamps, atol=1e-3)  # TS starts at pts 0.0667 s
            assert np.array_equal(clip.frames, ref.frames)
            part = sample_video(dst, method=method, start=6.0, fps=3)
            assert np.array_equal(part.frame_indices, np.arange(180, 300, 10))
            assert np.array_equal(decoded_index(part.frames), part.frame_indices)


# ---------------------------------------------------------------------------------------------
# sample_video: counts, times, indices, windows
# ---------------------------------------------------------------------------------------------


def test_sample_10s_at_2fps(videos):
    clip = sample_video(videos["clip10"], fps=2.0)
    assert isinstance(clip, VideoClip) and len(clip) == 20
    assert clip.frames.shape == (20, H, W, 3) and clip.frames.dtype == np.uint8
    assert clip.frame_indices.dtype == np.int64 and clip.timestamps.dtype == np.float64
    assert np.array_equal(clip.frame_indices, np.arange(0, 300, 15))
    assert np.allclose(clip.timestamps, np.arange(20) * 0.5)
    assert np.array_equal(decoded_index(clip.frames), clip.frame_indices)
    assert clip.sample_fps == pytest.approx(2.0)
    assert clip.window == (0, 299)


def test_max_frames_spreads_evenly(videos):
    clip = sample_video(videos["clip10"], fps=2.0, max_frames=8)
    assert len(clip) == 8
    assert np.array_equal(clip.frame_indices, np.floor(np.arange(8) * 37.5 + 0.5).astype(int))
    assert np.array_equal(decoded_index(clip.frames), clip.frame_indices)
    assert np.allclose(clip.timestamps, clip.frame_indices / 30)
    assert clip.sample_fps == pytest.approx(0.8)
    # an odd cap is rounded down to even; 1 is allowed as such
    assert len(sample_video(videos["clip10"], max_frames=7)) == 6
    assert len(sample_video(videos["clip10"], max_frames=1, min_frames=1)) == 1


def test_even_rounding_and_min_frames(videos):
    assert len(sample_video(videos["clip10"], fps=1.5)) == 14  # 15 -> 14
    assert len(sample_video(videos["clip10"], fps=1.3)) == 12  # 13 -> 12
    clip = sample_video(videos["clip10"], fps=0.1, min_frames=3)  # 1 frame by fps; at least 3 -> 4 (even)
    assert len(clip) == 4
    assert np.array_equal(clip.frame_indices, [0, 75, 150, 225])
    # more than the source has: every frame, and still an even count
    clip = sample_video(videos["short"], fps=60, max_frames=128)
    assert np.array_equal(clip.frame_indices, np.arange(30))
    assert np.array_equal(decoded_index(clip.frames), np.arange(30))


def test_start_end_window(videos):
    clip = sample_video(videos["clip10"], fps=2.0, start=2.0, end=6.0)
    # frames 60..180 (121 frames, 4.03 s) -> 8 frames from 2.0 s every 0.5 s
    assert np.array_equal(clip.frame_indices, np.arange(60, 180, 15))
    assert np.allclose(clip.timestamps, 2.0 + 0.5 * np.arange(8))
    assert np.array_equal(decoded_index(clip.frames), clip.frame_indices)
    assert clip.window == (60, 180)
    # a start between frames rounds up to the next frame (qwen-vl-utils' rule)
    clip = sample_video(videos["clip10"], start=2.01, end=3.0, fps=2)
    assert clip.frame_indices[0] == 61
    # only a start / only an end
    assert sample_video(videos["clip10"], start=9.0).frame_indices.tolist() == [270, 285]
    assert sample_video(videos["clip10"], end=1.0).frame_indices.tolist() == [0, 15]
    # a single-frame window gives one frame
    clip = sample_video(videos["clip10"], start=5.0, end=5.0)
    assert clip.frame_indices.tolist() == [150] and decoded_index(clip.frames).tolist() == [150]
    # the end is clamped to the video
    assert sample_video(videos["clip10"], start=8.0, end=99.0).frame_indices.tolist() == [240, 255, 270, 285]


def test_window_errors_name_the_file(videos):
    with pytest.raises(MediaError, match=re.escape(str(videos["clip10"])) + ".*past the end"):
        sample_video(videos["clip10"], start=10.0)
    with pytest.raises(MediaError, match="before its start"):
        sample_video(videos["clip10"], start=5.0, end=4.0)
    with pytest.raises(ValueError, match="method"):
        sample_video(videos["clip10"], method="fast")
    with pytest.raises(ValueError, match="fps"):
        sample_video(videos["clip10"], fps=0)


@pytest.mark.parametrize("kwargs", [
    {},
    {"fps": 2.0, "start": 3.3, "end": 7.9},
    {"fps": 0.5},
    {"fps": 2.0, "max_frames": 6},
    {"fps": 6.0, "start": 1.1},
    {"fps": 30.0, "max_frames": 300},
])
def test_sequential_equals_seek(videos, kwargs):
    for name in ("gop12", "clip10"):
        seq = sample_video(videos[name], method="sequential", **kwargs)
        seek = sample_video(videos[name], method="seek", **kwargs)
        auto = sample_video(videos[name], method="auto", **kwargs)
        assert seq.method == "sequential" and seek.method == "seek" and auto.method in ("sequential", "seek")
        for other in (seek, auto):
            assert np.array_equal(seq.frames, other.frames)
            assert np.array_equal(seq.frame_indices, other.frame_indices)
            assert np.array_equal(seq.timestamps, other.timestamps)
        assert np.array_equal(decoded_index(seq.frames), seq.frame_indices)


def test_auto_rule(videos):
    """auto seeks when wanted frames are sparse relative to the GOP, decodes straight through otherwise."""
    kf = list(range(0, 300, 12))
    assert media_mod._choose_method([0, 150], kf) == "seek"  # 2 far-apart frames, short GOPs
    assert media_mod._choose_method(list(range(300)), kf) == "sequential"  # every frame
    assert media_mod._choose_method(list(range(0, 300, 15)), [0]) == "sequential"  # one GOP: nothing to skip
    costs = media_mod._plan_costs([0, 150], kf)
    assert costs["sequential"] == (151, 0) and costs["seek"] == (8, 1)  # frames 0 and 144..150
    assert sample_video(videos["gop12"], fps=0.2).method == "seek"
    assert sample_video(videos["clip10"], fps=2).method == "sequential"


# ---------------------------------------------------------------------------------------------
# resizing
# ---------------------------------------------------------------------------------------------


def test_fit_pixels_rules():
    assert fit_pixels(640, 360) == (640, 360)
    assert fit_pixels(641, 359, factor=1) == (641, 359)
    assert fit_pixels(640, 360, factor=32) == (640, 352)  # nearest multiples
    w, h = fit_pixels(1920, 1080, max_pixels=640 * 360, factor=16)
    assert w % 16 == 0 and h % 16 == 0 and w * h <= 640 * 360 and abs(w / h - 16 / 9) < 0.05
    w, h = fit_pixels(64, 48, min_pixels=128 * 32 * 32, factor=32)
    assert w % 32 == 0 and h % 32 == 0 and w * h >= 128 * 32 * 32 and (w, h) == (448, 320)
    assert fit_pixels(10, 10, factor=28) == (28, 28)  # at least one factor per side
    with pytest.raises(ValueError):
        fit_pixels(0, 10)
    with pytest.raises(ValueError):
        fit_pixels(10, 10, min_pixels=100, max_pixels=50)


def test_fit_pixels_matches_qwen_smart_resize():
    """Same rule as qwen-vl-utils' smart_resize (which takes and returns height, width)."""
    qwen = pytest.importorskip("qwen_vl_utils.vision_process")
    rng = np.random.default_rng(0)
    for _ in range(300):
        w, h = (int(x) for x in rng.integers(28, 4000, 2))
        if max(w, h) / min(w, h) > 150:
            continue
        factor = int(rng.choice([14, 28, 32]))
        lo = int(rng.integers(4, 256)) * factor * factor
        hi = lo + int(rng.integers(0, 16384)) * factor * factor
        qh, qw = qwen.smart_resize(h, w, factor=factor, min_pixels=lo, max_pixels=hi)
        assert fit_pixels(w, h, min_pixels=lo, max_pixels=hi, factor=factor) == (qw, qh)
        fw, fh = fit_pixels(w, h, min_pixels=lo, max_pixels=hi, factor=factor)
        rounded = max(factor, round(w / factor) * factor) * max(factor, round(h / factor) * factor)
        if rounded > hi:  # scaled down and floored: within max_pixels (min_pixels may be missed if tight)
            assert fw * fh <= hi or min(fw, fh) == factor
        elif rounded < lo:  # scaled up and ceiled: at least min_pixels
            assert fw * fh >= lo
        else:
            assert fw * fh == rounded


def test_sample_video_resizes(videos):
    clip = sample_video(videos["clip10"], max_pixels=1000, factor=8)
    assert fit_pixels(W, H, max_pixels=1000, factor=8) == (32, 24)
    assert clip.frames.shape[1:3] == (24, 32)
    assert np.array_equal(decoded_index(clip.frames), clip.frame_indices)  # solid colours survive resizing
    big = sample_video(videos["clip10"], min_pixels=128 * 32 * 32, factor=32, max_frames=4)
    assert big.frames.shape[1:3] == (320, 448)
    assert sample_video(videos["clip10"], factor=1).frames.shape[1:3] == (H, W)  # untouched


# ---------------------------------------------------------------------------------------------
# images
# ---------------------------------------------------------------------------------------------


def test_load_image_modes(tmp_path):
    rgba = Image.new("RGBA", (4, 2), (255, 0, 0, 255))
    rgba.putpixel((0, 0), (0, 0, 255, 0))  # fully transparent -> white
    rgba.save(tmp_path / "rgba.png")
    img = load_image(tmp_path / "rgba.png")
    assert img.mode == "RGB" and img.getpixel((0, 0)) == (255, 255, 255) and img.getpixel((1, 0)) == (255, 0, 0)

    Image.new("L", (3, 3), 77).save(tmp_path / "grey.png")
    assert load_image(tmp_path / "grey.png").getpixel((1, 1)) == (77, 77, 77)

    pal = Image.new("P", (2, 1))
    pal.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    pal.putpixel((0, 0), 0)
    pal.putpixel((1, 0), 1)
    pal.info["transparency"] = 0
    pal.save(tmp_path / "pal.png", transparency=0)
    img = load_image(tmp_path / "pal.png")
    assert img.mode == "RGB" and img.getpixel((0, 0)) == (255, 255, 255) and img.getpixel((1, 0)) == (200, 100, 50)

    Image.new("P", (2, 1), 1).save(tmp_path / "pal_opaque.gif")
    assert load_image(tmp_path / "pal_opaque.gif").mode == "RGB"

    deep = Image.fromarray(np.full((2, 2), 65535, np.uint16))
    deep.save(tmp_path / "deep.png")
    assert load_image(tmp_path / "deep.png").getpixel((0, 0)) == (255, 255, 255)
    half = Image.fromarray(np.full((2, 2), 32768, np.uint16))
    half.save(tmp_path / "half.png")
    assert load_image(tmp_path / "half.png").getpixel((0, 0)) == (128, 128, 128)

    Image.new("CMYK", (2, 2), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg")
    r, g, b = load_image(tmp_path / "cmyk.jpg").getpixel((0, 0))
    assert r > 200 and g < 60 and b < 60


def test_load_image_resize_bounds(tmp_path):
    Image.new("RGB", (1000, 500), (1, 2, 3)).save(tmp_path / "wide.png")
    img = load_image(tmp_path / "wide.png", max_pixels=50_000, factor=28)
    w, h = img.size
    assert w * h <= 50_000 and w % 28 == 0 and h % 28 == 0 and abs(w / h - 2) < 0.25
    img = load_image(tmp_path / "wide.png", min_pixels=2_000_000, factor=14)
    assert img.size[0] * img.size[1] >= 2_000_000 and img.size == fit_pixels(1000, 500, min_pixels=2_000_000, factor=14)
    assert load_image(tmp_path / "wide.png").size == (1000, 500)
    assert load_image(tmp_path / "wide.png", min_pixels=1000, max_pixels=10**7).size == (1000, 500)


# ---------------------------------------------------------------------------------------------
# resolve_media
# ---------------------------------------------------------------------------------------------


def test_resolve_media(tmp_path, monkeypatch):
    root = tmp_path / "root"
    (root / "videos").mkdir(parents=True)
    (root / "videos" / "a.mp4").write_bytes(b"x")
    outside = tmp_path / "secret.txt"
    outside.write_text("no")

    assert resolve_media("videos/a.mp4", root) == (root / "videos" / "a.mp4").resolve()
    assert resolve_media("videos/../videos/a.mp4", root) == (root / "videos" / "a.mp4").resolve()
    assert resolve_media("missing/b.mp4", root) == (root / "missing" / "b.mp4").resolve()  # existence not checked

    with pytest.raises(MediaError, match="resolves outside the media root"):
        resolve_media("../secret.txt", root)
    with pytest.raises(MediaError, match=re.escape("videos/../../secret.txt")):
        resolve_media("videos/../../secret.txt", root)

    with pytest.raises(MediaError, match="absolute"):
        resolve_media(str(outside), root)
    assert resolve_media(str(outside), root, allow_absolute=True) == outside.resolve()

    (root / "escape.txt").symlink_to(outside)
    with pytest.raises(MediaError, match="resolves outside the media root"):
        resolve_media("escape.txt", root)
    (root / "inside.mp4").symlink_to(root / "videos" / "a.mp4")
    assert resolve_media("inside.mp4", root) == (root / "videos" / "a.mp4").resolve()
    (tmp_path / "linkroot").symlink_to(root)  # a symlinked root is resolved first
    assert resolve_media("videos/a.mp4", tmp_path / "linkroot") == (root / "videos" / "a.mp4").resolve()

    monkeypatch.chdir(root)
    assert resolve_media("videos/a.mp4", None) == (root / "videos" / "a.mp4").resolve()
    with pytest.raises(MediaError):
        resolve_media("../secret.txt", None)
    with pytest.raises(MediaError, match="empty"):
        resolve_media("", root)


# ---------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------


def test_video_errors_name_the_file(tmp_path, videos):
    missing = tmp_path / "missing.mp4"
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 10)
    data = videos["clip10"].read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    cut_header = tmp_path / "cut_header.mp4"
    cut_header.write_bytes(data[:600])
    sound = tmp_path / "sound.wav"
    with wave.open(str(sound), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * 800)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    cases = [(missing, "no such file"), (empty, "empty file"), (text, "not a readable video"), (cut, "truncated"),
             (cut_header, "truncated"), (sound, "no video stream"), (tmp_path, "not a regular file")]
    for path, what in cases:
        for fn in (probe_video, sample_video):
            with pytest.raises(MediaError, match=re.escape(str(path)) + ": .*" + what):
                fn(path)


def test_image_errors_name_the_file(tmp_path, videos):
    text = tmp_path / "photo.png"
    text.write_text("not an image")
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "full.jpg")
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    for path, what in [(tmp_path / "nope.jpg", "no such file"), (text, "not a readable image"),
                       (tmp_path / "cut.jpg", "not a readable image"), (videos["clip10"], "not a readable image")]:
        with pytest.raises(MediaError, match=re.escape(str(path)) + ": .*" + what):
            load_image(path)
    assert issubclass(MediaError, ValueError)


# ---------------------------------------------------------------------------------------------
# transformers' Qwen3-VL processor and qwen-vl-utils
# ---------------------------------------------------------------------------------------------


def _offline_qwen3vl_processor():
    """A Qwen3VLProcessor built by hand: byte-level tokenizer (decodes back to the exact text) plus
    Qwen's vision special tokens, default Qwen3-VL image/video processors. Nothing is downloaded."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen3VLProcessor, Qwen3VLVideoProcessor
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import Qwen2VLImageProcessor

    vocab = {ch: i for i, ch in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        additional_special_tokens=["<|vision_start|>", "<|vision_end|>", "<|video_pad|>", "<|image_pad|>"])
    video_processor = Qwen3VLVideoProcessor(cap_pixels_per_frame=True)
    return Qwen3VLProcessor(image_processor=Qwen2VLImageProcessor(), tokenizer=tokenizer,
                            video_processor=video_processor)


def test_metadata_drives_qwen3vl_processor_timestamps(videos):
    pytest.importorskip("transformers.models.qwen3_vl")
    from transformers.video_utils import VideoMetadata

    processor = _offline_qwen3vl_processor()
    for kwargs in ({"start": 1.0}, {"max_frames": 6}):
        clip = sample_video(videos["clip10"], max_pixels=64 * 64 * 4, factor=32, **kwargs)
        meta = clip.metadata()
        assert set(meta) == {f.name for f in dataclasses.fields(VideoMetadata)}
        vm = VideoMetadata(**meta)
        assert np.allclose(vm.timestamps, clip.timestamps)  # frames_indices / fps == our pts times
        assert vm.sampled_fps == pytest.approx(clip.sample_fps)
        out = processor(text=["<|video_pad|>Describe."], videos=[clip.to_tensor()], video_metadata=[meta],
                        do_sample_frames=False, return_metadata=True)
        assert out["video_grid_thw"][0].tolist()[0] == len(clip) // 2  # temporal patches of 2 frames
        text = processor.tokenizer.decode(out["input_ids"][0])
        stamps = re.findall(r"<([0-9.]+) seconds>", text)
        # one timestamp per temporal patch (2 frames): the mean of the pair's times, one decimal
        expected = [f"{(a + b) / 2:.1f}" for a, b in zip(clip.timestamps[0::2], clip.timestamps[1::2])]
        assert stamps == expected
        assert out["video_metadata"][0].frames_indices == clip.frame_indices.tolist()


def test_to_tensor(videos):
    torch = pytest.importorskip("torch")
    clip = sample_video(videos["clip10"], max_frames=4)
    x = clip.to_tensor()
    assert x.dtype == torch.uint8 and tuple(x.shape) == (4, 3, H, W)
    assert np.array_equal(x.permute(0, 2, 3, 1).numpy(), clip.frames)


def _qwen_backend_available() -> bool:
    return any(importlib.util.find_spec(m) is not None for m in ("decord", "torchcodec"))


@pytest.mark.skipif(not _qwen_backend_available(),
                    reason="qwen-vl-utils needs decord or torchcodec (torchvision>=0.24 has no read_video)")
def test_qwen_vl_utils_reads_written_video(videos):
    qwen = pytest.importorskip("qwen_vl_utils")
    torch = pytest.importorskip("torch")
    video, meta = qwen.fetch_video({"video": str(videos["clip10"]), "fps": 2.0, "min_frames": 2, "max_frames": 128,
                                    "min_pixels": 16 * 32 * 32, "max_pixels": 768 * 32 * 32},
                                   image_patch_size=16, return_video_metadata=True)
    w, h = fit_pixels(W, H, min_pixels=16 * 32 * 32, max_pixels=768 * 32 * 32, factor=32)
    assert tuple(video.shape) == (20, 3, h, w) == (20, 3, 128, 160)
    assert meta["total_num_frames"] == 300 and meta["fps"] == pytest.approx(30.0)
    frames = video.round().clamp(0, 255).to(dtype=torch.uint8).permute(0, 2, 3, 1).numpy()
    assert np.array_equal(decoded_index(frames), np.asarray(meta["frames_indices"]))
    ours = sample_video(videos["clip10"], min_pixels=16 * 32 * 32, max_pixels=768 * 32 * 32, factor=32)
    assert ours.frames.shape[1:3] == tuple(video.shape[2:]) and len(ours) == len(video)


# ---------------------------------------------------------------------------------------------
# slow: a realistic clip (moving shapes, B-frames, default GOP) at 640x360
# ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_sequential_equals_seek_realistic(tmp_path):
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(1)
    base = rng.integers(0, 255, (360, 640, 3), dtype=np.uint8)

    def frames():
        for i in range(900):
            f = base.copy()
            cv2.circle(f, ((7 * i) % 640, (3 * i) % 360), 40, (255, 255, 0), -1)
            cv2.putText(f, str(i), (20, 60), cv2.FONT_HERSHEY_SIMPLEX, 2, (255, 255, 255), 3)
            yield f

    for gop in (None, 48):
        path = tmp_path / f"real{gop}.mp4"
        write_video(path, frames(), 30, gop=gop)
        for kwargs in ({"fps": 2.0}, {"fps": 0.3}, {"fps": 4.0, "start": 7.7, "end": 21.2, "max_pixels": 200_000,
                                                        "factor": 28}):
            a = sample_video(path, method="sequential", **kwargs)
            b = sample_video(path, method="seek", **kwargs)
            assert np.array_equal(a.frames, b.frames) and np.array_equal(a.frame_indices, b.frame_indices)
            assert math.isclose(a.sample_fps, b.sample_fps)


def test_resolve_media_refuses_what_cannot_be_a_path(tmp_path):
    """Malformed records: a number, a name too long for the file system, a lone surrogate, a symlink loop -
    each a MediaError naming the path, never a TypeError or OSError from deeper down."""
    for bad, words in [(7, "must be a string, got int"), (None, "must be a string, got NoneType"),
                       (["a.png"], "must be a string, got list"), ("y" * 300, "File name too long"),
                       ("a/" * 3000, "File name too long"), ("\ud800.png", "surrogates not allowed"),
                       ("", "empty media path"), ("a\x00b", "NUL byte")]:
        with pytest.raises(MediaError, match=re.escape(words)):
            resolve_media(bad, tmp_path)
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    with pytest.raises(MediaError, match="unusable media path"):
        resolve_media("loop/x.png", tmp_path)
    with pytest.raises(MediaError, match="unusable path"):
        load_image(tmp_path / ("z" * 300))


def test_a_video_stream_without_a_decoder_is_a_media_error(tmp_path):
    """The first 410 bytes of an mp4 named .webm: FFmpeg finds a video stream but no codec context (it once
    raised AttributeError; found by tests/test_fuzz.py)."""
    src = tmp_path / "a.mp4"
    write_video(src, np.zeros((4, 32, 32, 3), np.uint8), fps=8)
    cut = tmp_path / "cut.webm"
    cut.write_bytes(src.read_bytes()[:410])
    for fn in (probe_video, sample_video):
        with pytest.raises(MediaError, match=re.escape(str(cut))):
            fn(cut)


# ---------------------------------------------------------------------------------------------
# PyAV < 16 (lmms-eval's environment pins it): no Stream.index_entries
# ---------------------------------------------------------------------------------------------


def test_without_index_entries_keyframes_are_scanned_and_frames_are_the_same(videos, monkeypatch, tmp_path):
    """With a PyAV whose streams have no ``index_entries``, the reader skips the index checks and finds the
    keyframes by demuxing the packets: the keyframe table, the method auto picks and every frame are
    those of the normal path. A file cut short then passes the probe, but sampling it still fails with a
    MediaError naming the file."""
    from onethinker.data.media import video as video_mod

    def keyframes(path):
        container, stream = video_mod._open_video(path)
        try:
            info = video_mod._probe(container, stream, path)
            return video_mod._keyframe_indices(container, stream, video_mod._Clock(stream, info.fps), path)
        finally:
            container.close()

    cases = [{"fps": 2.0}, {"fps": 0.2}, {"fps": 2.0, "start": 3.3, "end": 7.9}]
    normal = {(name, i, m): sample_video(videos[name], method=m, **kw) for name in ("gop12", "clip10")
              for i, kw in enumerate(cases) for m in ("auto", "seek", "sequential")}
    normal_kf = {name: keyframes(videos[name]) for name in ("gop12", "clip10")}
    normal_info = {name: probe_video(videos[name]) for name in normal_kf}
    assert len(normal_kf["gop12"]) > 10 and normal_kf["clip10"][0] == 0  # short GOPs, and one long one

    class OldStream:  # the stream as PyAV 15 shows it: everything but index_entries
        def __init__(self, stream):
            self._stream = stream

        def __getattr__(self, name):
            if name == "index_entries":
                raise AttributeError(f"'av.video.stream.VideoStream' object has no attribute {name!r}")
            return getattr(self._stream, name)

    real = video_mod._index_entries
    calls = []

    def old_pyav(stream):
        calls.append(1)
        return real(OldStream(stream))

    monkeypatch.setattr(video_mod, "_index_entries", old_pyav)
    assert {name: keyframes(videos[name]) for name in normal_kf} == normal_kf  # scanned, the same table
    for (name, i, m), clip in normal.items():
        old = sample_video(videos[name], method=m, **cases[i])
        assert old.method == clip.method, (name, cases[i], m)
        assert np.array_equal(old.frames, clip.frames) and np.array_equal(old.frame_indices, clip.frame_indices)
        assert np.array_equal(old.timestamps, clip.timestamps)
    assert {name: probe_video(videos[name]) for name in normal_kf} == normal_info
    assert calls  # the fallback ran
    data = videos["clip10"].read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    assert probe_video(cut).n_frames == 300  # the header's word: no index to check it against
    with pytest.raises(MediaError, match=re.escape(str(cut)) + ": .*truncated"):
        sample_video(cut)
