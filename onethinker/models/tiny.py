"""A tiny Qwen3-VL, built offline: random weights, a byte-level BPE tokenizer trained on the synthetic
corpus, the real Qwen3-VL processor classes and a chat template in Qwen3-VL's layout.

``onethinker model tiny --out DIR`` calls :func:`build_tiny`. The result is an ordinary Hugging Face
checkpoint folder (``config.json``, ``model.safetensors``, ``generation_config.json``,
``tokenizer.json`` + ``tokenizer_config.json``, ``processor_config.json`` (image and video processor
settings), ``chat_template.jinja``, ``tiny_model.json`` and a README) that :func:`onethinker.models.load` and
``transformers``' Auto classes read with ``HF_HUB_OFFLINE=1``. The whole pipeline (SFT, RL, evaluation)
can therefore be run end to end on a laptop CPU; only the config changes for the 8B model.

What is the same as Qwen3-VL-8B: the architecture (``Qwen3VLForConditionalGeneration``: vision tower
with 2D rotary and learned position embeddings, DeepStack mergers, text decoder with interleaved
M-RoPE), the special tokens and their roles, the processor classes, patch 16 / merge 2 / temporal patch
2, the ``<t seconds>`` video timestamps, the chat layout. What differs: sizes, a vocabulary of a few
thousand tokens, pixel limits suited to the 320x240 images and 256x192 videos of the synthetic corpus,
and ``<think>`` ``</think>`` ``<answer>`` ``</answer>`` as single tokens.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

__all__ = [
    "CHAT_TEMPLATE",
    "FORMAT_TOKENS",
    "SPECIAL_TOKENS",
    "SIZES",
    "TinySize",
    "PIXELS",
    "build_tiny",
    "corpus_texts",
    "train_tokenizer",
    "make_processor",
    "make_config",
]

#: Qwen's special tokens, in Qwen's order (ids follow the BPE vocabulary, as in Qwen's tokenizer).
#: The processor and the model config reference <|vision_start|>, <|vision_end|>, <|image_pad|>,
#: <|video_pad|>; <|vision_pad|> and the box/quad/object markers are kept so prompts written for Qwen
#: tokenize the same way (as one token each).
SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

#: Added as single, non-special tokens: decoding with ``skip_special_tokens=True`` keeps them (as Qwen3
#: does with <think>/</think>), and the answer format costs four tokens to learn.
FORMAT_TOKENS: tuple[str, ...] = ("<think>", "</think>", "<answer>", "</answer>")

#: Chat template in Qwen3-VL's layout (written for this project): ``<|im_start|>role\\n...<|im_end|>\\n``
#: per message; in a content list an image is ``<|vision_start|><|image_pad|><|vision_end|>``, a video
#: ``<|vision_start|><|video_pad|><|vision_end|>`` (the processor expands the pad token: per image
#: one pad per merged patch; per video, for each temporal patch, ``<t seconds>`` then
#: ``<|vision_start|>`` pads ``<|vision_end|>``), text is copied. Assistant turns are marked with
#: ``{% generation %}`` so ``return_assistant_tokens_mask`` works. ``add_generation_prompt`` appends
#: ``<|im_start|>assistant\\n``.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' -}}"
    "{%- if message['role'] == 'assistant' -%}{%- generation -%}"
    "{%- if message['content'] is string -%}{{- message['content'] -}}"
    "{%- else -%}{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'text' or item['text'] is defined -%}{{- item['text'] -}}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{{- '<|im_end|>' -}}"
    "{%- endgeneration -%}"
    "{%- else -%}"
    "{%- if message['content'] is string -%}{{- message['content'] -}}"
    "{%- else -%}{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'image' or item['image'] is defined or item['image_url'] is defined -%}"
    "{{- '<|vision_start|><|image_pad|><|vision_end|>' -}}"
    "{%- elif item['type'] == 'video' or item['video'] is defined -%}"
    "{{- '<|vision_start|><|video_pad|><|vision_end|>' -}}"
    "{%- elif item['text'] is defined -%}{{- item['text'] -}}"
    "{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{{- '<|im_end|>' -}}"
    "{%- endif -%}"
    "{{- '\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)

#: Pixel limits of the tiny processor. Images: at most 256x192 (49,152 px), i.e. the corpus' 320x240
#: images become 8x6 = 48 vision tokens. Video frames: at most 96x96 px each (9 merged patches), i.e.
#: the corpus' 256x192 frames become 96x64 = 6 tokens per temporal patch (2 frames): at 2 fps a 6-10 s
#: clip is 36-60 vision tokens. Lower bounds: 2x2 merged patches (64x64 px).
PIXELS = {
    "image_min_pixels": 64 * 64,
    "image_max_pixels": 256 * 192,
    "video_min_pixels": 64 * 64,
    "video_max_pixels": 96 * 96,
    "video_fps": 2.0,
    "video_max_frames": 64,
}


@dataclass(frozen=True)
class TinySize:
    """Sizes of a tiny Qwen3-VL. ``deepstack`` lists the vision layers whose features are merged and
    added to the first ``len(deepstack)`` text layers (Qwen3-VL-8B: layers 8, 16, 24 of 27)."""

    # BPE target before the special and format tokens: an upper bound. The synthetic corpus has about a
    # thousand distinct words, so training stops earlier, when every corpus word is one token (~1.1-1.3k).
    vocab_size: int = 4096
    text_layers: int = 4
    text_hidden: int = 256
    text_heads: int = 4
    text_kv_heads: int = 2
    head_dim: int = 64
    text_intermediate: int = 768
    vision_depth: int = 2
    vision_hidden: int = 128
    vision_heads: int = 2
    vision_intermediate: int = 256
    deepstack: tuple[int, ...] = (0,)
    num_position_embeddings: int = 256  # a 16x16 grid of learned positions, interpolated per image
    tie_word_embeddings: bool = True


SIZES: dict[str, TinySize] = {
    "tiny": TinySize(),
    "small": TinySize(
        vocab_size=8192, text_layers=6, text_hidden=384, text_heads=6, text_kv_heads=2, head_dim=64,
        text_intermediate=1152, vision_depth=4, vision_hidden=192, vision_heads=3, vision_intermediate=512,
        deepstack=(1, 2), num_position_embeddings=576,
    ),
}

# -------------------------------------------------------------------------------------------------
# Tokenizer
# -------------------------------------------------------------------------------------------------


_NOT_TEXT = frozenset({"images", "videos", "path", "additional_path", "image", "video", "masks", "mask",
                       "segmentation_output", "segmentation_rle", "counts"})


def _strings(obj: Any) -> Iterator[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            if k in _NOT_TEXT:
                continue  # media paths and RLE masks are not language
            yield from _strings(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _strings(v)


def corpus_texts(corpus_dir: str | os.PathLike) -> list[str]:
    """Text of a corpus folder for tokenizer training: every string in its record JSON files
    (questions, prompts with their task instructions, options, answers, reasoning), plus the prompt of
    each RL/evaluation record as the model will see it (through ``onethinker.data.chat``), plus video
    timestamps in the processor's ``<t seconds>`` form."""
    from ..data.chat import record_messages

    root = Path(corpus_dir)
    files = sorted(p for p in root.glob("*.json") if p.name != "manifest.json")
    if not files:
        raise FileNotFoundError(f"{root}: no record JSON files (*.json) to train the tokenizer on")
    texts: list[str] = []
    for f in files:
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"{f}: cannot read records for tokenizer training ({e})") from e
        records = data if isinstance(data, list) else [data]
        for rec in records:
            texts.extend(_strings(rec))
            if isinstance(rec, dict) and "messages" not in rec:
                try:
                    msgs = record_messages(rec, root, with_answer=True)
                except Exception:  # a record the registry does not know: its raw strings are enough
                    continue
                for m in msgs:
                    texts.extend(c["text"] for c in m["content"] if c.get("type") == "text")
    texts.extend(f"<{t / 10:.1f} seconds>" for t in range(0, 1200, 3))
    texts.extend(["system", "user", "assistant", "You are a helpful assistant."])
    return texts


def _synth_texts(seed: int) -> list[str]:
    """A small synthetic corpus (in a temporary folder) to train the tokenizer when none is given."""
    from ..synthetic.corpus import SynthConfig, synthesize

    with tempfile.TemporaryDirectory(prefix="onethinker-tok-") as tmp:
        synthesize(SynthConfig(n=240, seed=seed, workers=1), tmp)
        return corpus_texts(tmp)


def train_tokenizer(texts: Iterable[str], vocab_size: int = 4096):
    """Train a Qwen2-style byte-level BPE on ``texts`` and wrap it as a transformers ``Qwen2Tokenizer``.

    The pipeline is exactly ``Qwen2Tokenizer``'s (NFC, Qwen's pre-tokenisation regex, byte-level BPE),
    so the saved ``tokenizer.json`` and the class rebuilt from it by ``AutoTokenizer`` agree. Regular
    tokens come first, then :data:`SPECIAL_TOKENS` (special), then :data:`FORMAT_TOKENS` (not special).
    eos is ``<|im_end|>``, pad ``<|endoftext|>``, no bos/unk (as Qwen3-VL).
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=1, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[])
    strip = (*FORMAT_TOKENS, *SPECIAL_TOKENS)

    def cleaned() -> Iterator[str]:
        for t in texts:
            for s in strip:  # these become added tokens: no merges wasted on them
                t = t.replace(s, " ")
            yield t

    tok.train_from_iterator(cleaned(), trainer=trainer)
    model = json.loads(tok.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    hf = Qwen2Tokenizer(vocab=model["vocab"], merges=merges, unk_token=None, bos_token=None, eos_token=None,
                        pad_token=None, model_max_length=32768, clean_up_tokenization_spaces=False)
    hf.add_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS], special_tokens=True)
    hf.add_tokens([AddedToken(t, special=False, normalized=False) for t in FORMAT_TOKENS])
    hf.eos_token = "<|im_end|>"
    hf.pad_token = "<|endoftext|>"
    return hf


# -------------------------------------------------------------------------------------------------
# Processor and model config
# -------------------------------------------------------------------------------------------------


def make_processor(tokenizer, pixels: dict | None = None):
    """Qwen3VLProcessor around ``tokenizer``: Qwen2-VL image processor and Qwen3-VL video processor with
    patch 16, merge 2, temporal patch 2, mean/std 0.5 (as Qwen3-VL), the limits of :data:`PIXELS`, and
    :data:`CHAT_TEMPLATE`.

    Image limits are per image. The Qwen3-VL video processor counts pixels over all frames; with
    ``cap_pixels_per_frame`` and ``max_video_tokens`` it also caps each frame, which is how the per-frame
    limit of :data:`PIXELS` is expressed, so calling the processor directly on raw frames gives the
    same sizes as :func:`onethinker.models.inputs.build_inputs`.
    """
    from transformers import Qwen2VLImageProcessor, Qwen3VLProcessor, Qwen3VLVideoProcessor

    px = dict(PIXELS, **(pixels or {}))
    patch, merge, tpatch = 16, 2, 2
    factor = patch * merge
    common = dict(patch_size=patch, merge_size=merge, temporal_patch_size=tpatch,
                  image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])
    image_processor = Qwen2VLImageProcessor(
        size={"shortest_edge": int(px["image_min_pixels"]), "longest_edge": int(px["image_max_pixels"])}, **common)
    max_frames = int(px["video_max_frames"])
    video_processor = Qwen3VLVideoProcessor(
        size={"shortest_edge": int(px["video_min_pixels"]),
              "longest_edge": int(px["video_max_pixels"]) * max_frames},
        cap_pixels_per_frame=True, max_video_tokens=max(1, int(px["video_max_pixels"]) // (factor * factor)),
        fps=float(px["video_fps"]), min_frames=2, max_frames=max_frames, **common)
    return Qwen3VLProcessor(image_processor=image_processor, tokenizer=tokenizer, video_processor=video_processor,
                            chat_template=CHAT_TEMPLATE)


def make_config(tokenizer, size: TinySize):
    """A Qwen3VLConfig of ``size`` whose vocabulary and token ids are the tokenizer's."""
    from transformers import Qwen3VLConfig

    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    if size.text_hidden % size.text_heads or size.text_heads % size.text_kv_heads:
        raise ValueError(f"text sizes: heads {size.text_heads} must divide hidden {size.text_hidden} and be a "
                         f"multiple of kv heads {size.text_kv_heads}")
    if size.vision_hidden % size.vision_heads:
        raise ValueError(f"vision heads {size.vision_heads} must divide hidden {size.vision_hidden}")
    if any(not 0 <= i < size.vision_depth for i in size.deepstack) or len(size.deepstack) > size.text_layers:
        raise ValueError(f"deepstack {size.deepstack} must index vision layers 0..{size.vision_depth - 1} and "
                         f"be at most {size.text_layers} long")
    # Interleaved M-RoPE over head_dim/2 frequencies, split t:h:w as Qwen3-VL's 24:20:20.
    half = size.head_dim // 2
    h = w = round(half * 20 / 64)
    mrope = [half - h - w, h, w]
    text = dict(
        vocab_size=len(tokenizer), hidden_size=size.text_hidden, intermediate_size=size.text_intermediate,
        num_hidden_layers=size.text_layers, num_attention_heads=size.text_heads,
        num_key_value_heads=size.text_kv_heads, head_dim=size.head_dim, max_position_embeddings=32768,
        rope_parameters={"rope_type": "default", "rope_theta": 500000.0, "mrope_section": mrope,
                         "mrope_interleaved": True},
        pad_token_id=ids["<|endoftext|>"], tie_word_embeddings=size.tie_word_embeddings,
        bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"],
    )
    vision = dict(
        depth=size.vision_depth, hidden_size=size.vision_hidden, intermediate_size=size.vision_intermediate,
        num_heads=size.vision_heads, patch_size=16, spatial_merge_size=2, temporal_patch_size=2,
        out_hidden_size=size.text_hidden, num_position_embeddings=size.num_position_embeddings,
        deepstack_visual_indexes=list(size.deepstack),
    )
    return Qwen3VLConfig(
        text_config=text, vision_config=vision,
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=size.tie_word_embeddings,
    )


def _count_tokens(processor) -> dict:
    """Vision tokens the tiny processor gives the synthetic corpus' media (pure arithmetic)."""
    from ..data.media import fit_pixels

    factor = processor.image_processor.patch_size * processor.image_processor.merge_size
    iw, ih = fit_pixels(320, 240, min_pixels=PIXELS["image_min_pixels"], max_pixels=PIXELS["image_max_pixels"],
                        factor=factor)
    vw, vh = fit_pixels(256, 192, min_pixels=PIXELS["video_min_pixels"], max_pixels=PIXELS["video_max_pixels"],
                        factor=factor)
    per_patch = (vw // factor) * (vh // factor)
    return {
        "image_320x240": {"resized": [iw, ih], "tokens": (iw // factor) * (ih // factor)},
        "video_256x192_frame": {"resized": [vw, vh], "tokens_per_temporal_patch": per_patch,
                                "tokens_per_second_at_2fps": per_patch,
                                "tokens_6s_to_10s": [per_patch * 6, per_patch * 10]},
    }


# -------------------------------------------------------------------------------------------------
# Build
# -------------------------------------------------------------------------------------------------


def build_tiny(out_dir: str | os.PathLike, corpus_dir: str | os.PathLike | None = None, size: str = "tiny",
               seed: int = 0) -> dict:
    """Build a randomly initialised tiny Qwen3-VL with tokenizer and processor in ``out_dir``.

    ``corpus_dir``: a synthetic (or any record-format) corpus whose JSON text trains the tokenizer;
    ``None`` synthesises a small one in a temporary folder. ``size``: a key of :data:`SIZES`
    ("tiny": about 4.7M parameters; "small": about 15M). ``seed`` seeds the weights (and the fallback corpus).
    Returns the note also written to ``out_dir/tiny_model.json`` (sizes, parameter count, token ids,
    vision tokens per corpus image/video). Nothing is downloaded.
    """
    import torch
    import transformers
    from transformers import GenerationConfig, Qwen3VLForConditionalGeneration

    if size not in SIZES:
        raise ValueError(f"unknown tiny model size {size!r}; choose one of {', '.join(SIZES)}")
    spec = SIZES[size]
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out}: exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()

    texts = corpus_texts(corpus_dir) if corpus_dir is not None else _synth_texts(seed)
    tokenizer = train_tokenizer(texts, vocab_size=spec.vocab_size)
    processor = make_processor(tokenizer)
    config = make_config(tokenizer, spec)
    config.dtype = "float32"

    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = Qwen3VLForConditionalGeneration(config)
    finally:
        torch.random.set_rng_state(state)
    model.eval()
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in (*SPECIAL_TOKENS, *FORMAT_TOKENS)}
    model.generation_config = GenerationConfig(
        bos_token_id=ids["<|endoftext|>"], eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]],
        pad_token_id=ids["<|endoftext|>"], do_sample=False,
    )
    model.save_pretrained(out, safe_serialization=True)
    processor.save_pretrained(out)

    n_params = sum(p.numel() for p in model.parameters())
    n_vision = sum(p.numel() for p in model.model.visual.parameters())
    note = {
        "what": "onethinker tiny Qwen3-VL: random weights, BPE tokenizer trained on the synthetic corpus; "
                "for tests and CPU demos only",
        "size": size,
        "sizes": asdict(spec),
        "parameters": n_params,
        "parameters_vision": n_vision,
        "parameters_text": n_params - n_vision,
        "vocab_size": len(tokenizer),
        "token_ids": ids,
        "pixels": PIXELS,
        "vision_tokens": _count_tokens(processor),
        "tokenizer_corpus": str(corpus_dir) if corpus_dir is not None else "synthesised (n=240)",
        "tokenizer_texts": len(texts),
        "seed": seed,
        "versions": {"transformers": transformers.__version__, "torch": torch.__version__,
                     "python": platform.python_version()},
        "build_seconds": round(time.perf_counter() - t0, 2),
    }
    (out / "tiny_model.json").write_text(json.dumps(note, indent=2) + "\n", encoding="utf-8")
    (out / "README.md").write_text(_readme(note), encoding="utf-8")
    return note


def _readme(note: dict) -> str:
    s = note["sizes"]
    vt = note["vision_tokens"]
    return (
        f"# onethinker tiny Qwen3-VL ({note['size']})\n\n"
        "Randomly initialised `Qwen3VLForConditionalGeneration` built offline by `onethinker model tiny` "
        "(`onethinker.models.tiny.build_tiny`). For tests and CPU demos of the OneThinker pipeline; it knows "
        "nothing until trained.\n\n"
        f"- parameters: {note['parameters']:,} (vision {note['parameters_vision']:,})\n"
        f"- text: {s['text_layers']} layers, hidden {s['text_hidden']}, {s['text_heads']} heads "
        f"({s['text_kv_heads']} kv) of {s['head_dim']}, MLP {s['text_intermediate']}\n"
        f"- vision: depth {s['vision_depth']}, hidden {s['vision_hidden']}, {s['vision_heads']} heads, "
        f"patch 16, merge 2, temporal patch 2, DeepStack layers {list(s['deepstack'])}\n"
        f"- tokenizer: byte-level BPE, {note['vocab_size']} tokens, Qwen special tokens; "
        "`<think>` `</think>` `<answer>` `</answer>` are single (non-special) tokens\n"
        f"- a 320x240 image: {vt['image_320x240']['tokens']} vision tokens; a 256x192 video at 2 fps: "
        f"{vt['video_256x192_frame']['tokens_per_second_at_2fps']} vision tokens per second\n\n"
        "Load with `onethinker.models.load(path)` (works with `HF_HUB_OFFLINE=1`). Details: `tiny_model.json`.\n"
    )
