"""The one sampling engine (onethinker.models.sampling) gives RL rollouts token-identical to the trainer's
former loop (transformers generate called with the trainer's own stop/pad/suppress tokens and seeding),
and text generation identical to the former models.generate."""

import contextlib

import torch

from onethinker.data.chat import record_messages
from onethinker.data.records import read_records
from onethinker.models import generate, load
from onethinker.models.inputs import build_inputs
from onethinker.models.sampling import VISION_TOKENS, SamplingEngine, _DecodeStep

from model_helpers import recomputed_logprobs


def _old_rl_samples(model, tok, batch, n, max_new_tokens, seed):
    """The RL trainer's rollout loop before the engine (kept here as the reference)."""
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    stops = {tok.convert_tokens_to_ids("<|im_end|>")}
    if tok.eos_token_id is not None:
        stops.add(tok.eos_token_id)
    stop_ids = sorted(s for s in stops if isinstance(s, int) and s >= 0)
    unk = getattr(tok, "unk_token_id", None)
    suppress = sorted({i for i in (tok.convert_tokens_to_ids(t) for t in VISION_TOKENS)
                       if isinstance(i, int) and i >= 0 and i != unk})
    plen = batch["input_ids"].shape[1]
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        seqs = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=True, num_return_sequences=n,
                              eos_token_id=stop_ids, pad_token_id=pad_id, use_cache=True,
                              suppress_tokens=suppress or None, temperature=1.0, top_p=1.0, top_k=0)
    out = []
    for ids in seqs[:, plen:].tolist():
        cut = next((t + 1 for t, tid in enumerate(ids) if tid in stop_ids), len(ids))
        out.append(ids[:cut])
    return out


def test_rl_rollouts_token_identical_to_the_former_loop(tiny_model_dir, corpus):
    model, processor = load(str(tiny_model_dir))
    model.eval()
    records = [r for r in read_records(corpus / "onethinker_rl_train.json")][:2]
    msgs = [record_messages(r, corpus) for r in records]
    batch = dict(build_inputs(processor, msgs, add_generation_prompt=True, padding_side="left"))
    engine = SamplingEngine.for_model(model, processor, from_generation_config=False, suppress_vision=True)
    before = torch.random.get_rng_state()
    got = [engine.cut(ids) for ids in engine.sample(batch, n=3, max_new_tokens=20, temperature=1.0, seed=1234,
                                                    sampler="generate")
           .sequences.tolist()]
    assert torch.equal(before, torch.random.get_rng_state())  # the caller's stream is untouched
    want = _old_rl_samples(model, getattr(processor, "tokenizer", processor), batch, 3, 20, 1234)
    assert got == want and len(got) == 6


def test_generate_greedy_repeats_one_reply_and_seeded_sampling_repeats(tiny_model_dir, corpus):
    model, processor = load(str(tiny_model_dir))
    records = [r for r in read_records(corpus / "onethinker_rl_train.json")][:2]
    msgs = [record_messages(r, corpus) for r in records]
    greedy = generate(model, processor, msgs, max_new_tokens=8, num_return_sequences=2)
    assert all(len(g) == 2 and g[0] == g[1] for g in greedy)
    a = generate(model, processor, msgs, max_new_tokens=8, temperature=1.0, num_return_sequences=2, seed=3)
    b = generate(model, processor, msgs, max_new_tokens=8, temperature=1.0, num_return_sequences=2, seed=3)
    assert a == b


# -------------------------------------------------------------------------------------------------
# the fast sampler: prefill once per prompt, n samples from the repeated cache, finished rows dropped
# -------------------------------------------------------------------------------------------------
from onethinker.tasks import task_key  # noqa: E402


def _one_per_task(corpus):
    """One RL-train record per task key of the synthetic corpus (image and video prompts of many lengths)."""
    by_task: dict = {}
    for r in read_records(corpus / "onethinker_rl_train.json"):
        by_task.setdefault(task_key(r["problem_type"], r["data_type"]), r)
    return by_task


def _rl_setup(tiny_model_dir, corpus, keys=None):
    model, processor = load(str(tiny_model_dir))
    model.eval()
    recs = _one_per_task(corpus)
    keys = keys or sorted(recs)
    msgs = [record_messages(recs[k], corpus) for k in keys]
    batch = dict(build_inputs(processor, msgs, add_generation_prompt=True, padding_side="left"))
    engine = SamplingEngine.for_model(model, processor, from_generation_config=False, suppress_vision=True)
    return model, processor, engine, batch, msgs, keys


def _compare_greedy(engine, batch, max_new_tokens, keys):
    """Fast greedy vs generate's greedy, row by row; a differing token is allowed only where generate's two
    best logits are within 1e-4 (a near-tie that batch shapes may flip); such rows are compared up to it."""
    ref = engine.sample(batch, n=1, max_new_tokens=max_new_tokens, sampler="generate", keep_scores=True)
    got = engine.sample(batch, n=1, max_new_tokens=max_new_tokens, sampler="fast").sequences
    want = ref.sequences
    flips = []
    for i in range(want.shape[0]):
        a, b = want[i].tolist(), got[i].tolist() + [engine.pad_id] * (want.shape[1] - got.shape[1])
        t = next((t for t, (x, y) in enumerate(zip(a, b)) if x != y), None)
        if t is None:
            continue
        top2 = torch.topk(ref.scores[t][i].float(), 2).values
        gap = float(top2[0] - top2[1])
        flips.append((keys[i], t, gap))
        assert gap < 1e-4, f"{keys[i]}: fast greedy differs from generate at token {t} (logit gap {gap:.2e})"
    print(f"near-tie flips: {flips or 'none'}")
    return want, got


def test_fast_greedy_equals_generate_for_every_task(tiny_model_dir, corpus):
    """Every task key of the corpus in one batch (image and video prompts, 146 to 379 tokens, left padded)."""
    _, _, engine, batch, _, keys = _rl_setup(tiny_model_dir, corpus)
    assert len(keys) >= 10 and len(set(batch["attention_mask"].sum(1).tolist())) > 5
    want, got = _compare_greedy(engine, batch, 24, keys)
    assert got.shape == want.shape


def test_fast_greedy_equals_generate_when_rows_stop_at_different_steps(tiny_model_dir, corpus):
    """Stop tokens chosen from generate's own greedy output so that rows end at different steps and leave
    the batch while the others go on (their cache rows, masks and rope positions are then selected)."""
    _, _, engine, batch, _, keys = _rl_setup(tiny_model_dir, corpus)
    free = engine.sample(batch, n=1, max_new_tokens=16, sampler="generate").sequences
    # the token of row 1 at step 0, of row 5 at step 9...: rows ending early and late
    extra = {int(free[i, t]) for i, t in ((1, 0), (5, 9), (7, 3))} - set(engine.stop_ids)
    engine.stop_ids = engine.stop_ids + sorted(extra)
    want, got = _compare_greedy(engine, batch, 16, keys)
    lengths = [len(engine.cut(r)) for r in got.tolist()]
    assert min(lengths) < max(lengths), lengths  # rows did stop at different steps


def test_text_generation_greedy_uses_the_fast_sampler_and_matches_generate(tiny_model_dir, corpus):
    """models.generate (evaluation's transformers back-end, infer, probe...) with either sampler."""
    model, processor = load(str(tiny_model_dir))
    recs = list(_one_per_task(corpus).values())[:4]
    msgs = [record_messages(r, corpus) for r in recs]
    msgs.append([{"role": "user", "content": [{"type": "text", "text": "How many circles are there?"}]}])  # text only
    usage_fast: list = []
    usage_gen: list = []
    fast = generate(model, processor, msgs, max_new_tokens=12, usage=usage_fast)
    old = generate(model, processor, msgs, max_new_tokens=12, usage=usage_gen, sampler="generate")
    assert fast == old and usage_fast == usage_gen


def test_fast_sampler_logprobs_equal_a_fresh_forward_pass(tiny_model_dir, corpus):
    """Sampled tokens' log-probabilities (image and video prompts of different lengths, 3 samples each,
    rows stopping at different steps) equal an unbatched recomputation to 1e-5: the repeated cache, the
    dropped rows and the rope positions of every row are right."""
    model, processor, engine, batch, msgs, keys = _rl_setup(
        tiny_model_dir, corpus, keys=["multiple choice", "temporal grounding", "OCR", "tracking"])
    free = engine.sample(batch, n=3, max_new_tokens=12, temperature=1.3, seed=7, sampler="fast").sequences
    engine.stop_ids = engine.stop_ids + sorted({int(free[r, 2]) for r in (0, 4, 8)} - set(engine.stop_ids))
    out = engine.sample(batch, n=3, max_new_tokens=12, temperature=1.3, seed=7, keep_logprobs=True)
    rows = [engine.cut(r) for r in out.sequences.tolist()]
    assert len(rows) == 12 and len({len(r) for r in rows}) > 1
    ref = recomputed_logprobs(model, processor, engine, msgs, rows, 3, 1.3)
    worst = 0.0
    for i, resp in enumerate(rows):
        worst = max(worst, float((out.logprobs[i, : len(resp)] - ref[i]).abs().max()))
        assert torch.all(out.logprobs[i, len(resp):] == 0)
    print(f"largest log-probability difference {worst:.2e}")
    assert worst < 1e-5, worst


def test_fast_sampler_seeding_stops_lengths_and_suppression(tiny_model_dir, corpus):
    _, _, engine, batch, _, _ = _rl_setup(tiny_model_dir, corpus, keys=["math", "OCR", "tracking"])
    before = torch.random.get_rng_state()
    kw = dict(n=4, max_new_tokens=10, temperature=1.5)
    a = engine.sample(batch, seed=3, **kw).sequences
    assert torch.equal(before, torch.random.get_rng_state())  # the caller's stream is untouched
    assert torch.equal(a, engine.sample(batch, seed=3, **kw).sequences)
    assert not torch.equal(a, engine.sample(batch, seed=4, **kw).sequences)
    assert a.shape[0] == 12 and a.shape[1] <= 10
    # stop tokens: a row ends at its first stop token, pad after it; max_new_tokens bounds every row
    common = torch.bincount(a.flatten()).argsort(descending=True)[:3].tolist()
    engine.stop_ids = engine.stop_ids + [t for t in common if t not in engine.stop_ids]
    b = engine.sample(batch, seed=3, **kw).sequences
    for row in b.tolist():
        cut = engine.cut(row)
        assert len(cut) <= 10
        if cut[-1] in engine.stop_ids:
            assert all(t == engine.pad_id for t in row[len(cut):])
        else:
            assert len(cut) == b.shape[1] == 10
    assert any(engine.cut(r)[-1] in engine.stop_ids for r in b.tolist())
    # suppressed ids are never sampled: suppress the tokens sampled most often, at a high temperature
    engine.stop_ids = engine.stop_ids[:2]
    engine.suppress_ids = sorted(set(engine.suppress_ids) | set(common))
    c = engine.sample(batch, n=4, max_new_tokens=10, temperature=3.0, seed=5).sequences
    assert not torch.isin(c, torch.tensor(engine.suppress_ids)).any()


def test_fast_sampler_top_k_and_top_p(tiny_model_dir, corpus):
    """top_k=1 and a tiny top_p leave the best token only: sampling then equals greedy decoding."""
    _, _, engine, batch, _, _ = _rl_setup(tiny_model_dir, corpus, keys=["math", "OCR"])
    greedy = engine.sample(batch, n=1, max_new_tokens=8).sequences.repeat_interleave(2, dim=0)
    assert torch.equal(engine.sample(batch, n=2, max_new_tokens=8, temperature=1.0, top_k=1, seed=1).sequences, greedy)
    assert torch.equal(engine.sample(batch, n=2, max_new_tokens=8, temperature=0.7, top_p=1e-6, seed=1).sequences,
                       greedy)


def test_checkpoint_processing_the_fast_sampler_lacks_goes_to_generate(tiny_model_dir, corpus):
    """Text generation keeps honouring a checkpoint's generation config (here a repetition penalty) by
    sampling with generate; RL's engine ignores it (its distribution is the one the update recomputes)."""
    model, processor = load(str(tiny_model_dir))
    msgs = [record_messages(r, corpus) for r in list(_one_per_task(corpus).values())[:2]]
    plain = generate(model, processor, msgs, max_new_tokens=10)
    model.generation_config.repetition_penalty = 5.0
    text_engine = SamplingEngine.for_model(model, processor)
    assert text_engine.unsupported_options(0.0) == ["repetition_penalty"]
    penalised = generate(model, processor, msgs, max_new_tokens=10)
    assert penalised == generate(model, processor, msgs, max_new_tokens=10, sampler="generate") != plain
    rl_engine = SamplingEngine.for_model(model, processor, from_generation_config=False, suppress_vision=True)
    batch = dict(build_inputs(processor, msgs, add_generation_prompt=True, padding_side="left"))
    model.generation_config.repetition_penalty = None
    unpenalised = rl_engine.sample(batch, max_new_tokens=10).sequences
    model.generation_config.repetition_penalty = 5.0
    assert torch.equal(rl_engine.sample(batch, max_new_tokens=10).sequences, unpenalised)


def test_transformers_backend_takes_the_sampler(tiny_model_dir, corpus):
    from onethinker.generate import SamplingConfig, build_generator
    from onethinker.generate.base import GenerationRequest

    msgs = [record_messages(r, corpus) for r in list(_one_per_task(corpus).values())[:2]]
    fast = build_generator("transformers", str(tiny_model_dir))
    old = build_generator("transformers", str(tiny_model_dir), sampler="generate")
    assert (fast.sampler, old.sampler) == ("fast", "generate")
    sampling = SamplingConfig(max_new_tokens=8)
    assert fast.generate([GenerationRequest(m) for m in msgs], sampling) == \
        old.generate([GenerationRequest(m) for m in msgs], sampling)


def test_fast_sampler_on_a_qwen2_5_vl(tiny_model_dir, corpus, tmp_path):
    """Qwen2.5-VL (patch 14, seconds-per-grid temporal rope): greedy equals generate's with rows ending at
    different steps, and sampled log-probabilities equal a fresh forward pass, for image and video prompts."""
    from model_helpers import save_tiny_qwen2_5_vl

    save_tiny_qwen2_5_vl(load(str(tiny_model_dir))[1].tokenizer, tmp_path / "q25")
    model, processor = load(tmp_path / "q25")
    assert model.config.model_type == "qwen2_5_vl"
    recs = _one_per_task(corpus)
    keys = ["multiple choice", "temporal grounding", "OCR", "tracking", "spatial grounding"]
    msgs = [record_messages(recs[k], corpus) for k in keys]
    opts = dict(add_generation_prompt=True, padding_side="left", video_max_pixels=28 * 28 * 4, max_frames=4)
    batch = dict(build_inputs(processor, msgs, **opts))
    assert "second_per_grid_ts" in batch and len(set(batch["attention_mask"].sum(1).tolist())) == len(keys)
    engine = SamplingEngine.for_model(model, processor, from_generation_config=False, suppress_vision=True)
    assert _DecodeStep.for_model(model) is None  # not a model the own decode step mirrors: its forward runs
    free = engine.sample(batch, n=1, max_new_tokens=12, sampler="generate").sequences
    engine.stop_ids = engine.stop_ids + sorted({int(free[0, 2]), int(free[3, 6])} - set(engine.stop_ids))
    _, got = _compare_greedy(engine, batch, 12, keys)
    assert len({len(engine.cut(r)) for r in got.tolist()}) > 1
    out = engine.sample(batch, n=2, max_new_tokens=8, temperature=1.3, seed=2, keep_logprobs=True)
    rows = [engine.cut(r) for r in out.sequences.tolist()]
    worst = 0.0
    for i, resp in enumerate(rows):
        feats = dict(build_inputs(processor, [msgs[i // 2]], **opts))
        plen, r = feats["input_ids"].shape[1], torch.tensor([resp])
        feats["input_ids"] = torch.cat([feats["input_ids"], r], dim=1)
        feats["attention_mask"] = torch.cat([feats["attention_mask"], torch.ones_like(r)], dim=1)
        feats["mm_token_type_ids"] = torch.cat([feats["mm_token_type_ids"],
                                                torch.zeros_like(r, dtype=feats["mm_token_type_ids"].dtype)], dim=1)
        with torch.no_grad():
            logits = model(**feats, use_cache=False).logits[0, plen - 1: plen - 1 + len(resp)].float() / 1.3
        logits[:, engine.suppress_ids] = float("-inf")
        ref = torch.log_softmax(logits, dim=-1).gather(-1, r[0, :, None]).squeeze(-1)
        worst = max(worst, float((out.logprobs[i, : len(resp)] - ref).abs().max()))
    print(f"Qwen2.5-VL: largest log-probability difference {worst:.2e}")
    assert worst < 1e-5, worst


def test_reserved_cache_drops_the_padding_a_finished_long_prompt_leaves(tiny_model_dir, corpus, monkeypatch):
    """The decode loop writes into a reserved cache and, when the longest prompt's row ends, drops the leading
    positions that are padding for every row left: greedy output still equals generate's, and sampled tokens and
    log-probabilities equal those of the plain (concatenating) cache."""
    import onethinker.models.sampling as S

    _, _, engine, batch, _, keys = _rl_setup(tiny_model_dir, corpus)
    lengths = batch["attention_mask"].sum(1)
    longest = int(lengths.argmax())
    free = engine.sample(batch, n=1, max_new_tokens=16, sampler="generate").sequences
    stop = int(free[longest, 1])  # the longest prompt's row ends at step 1 (other rows may end with it)
    engine.stop_ids = engine.stop_ids + ([stop] if stop not in engine.stop_ids else [])
    fronts = []
    real = S.select_cache_rows

    def spy(cache, rows, drop_front=0):
        fronts.append(drop_front)
        return real(cache, rows, drop_front)

    monkeypatch.setattr(S, "select_cache_rows", spy)
    _compare_greedy(engine, batch, 16, keys)
    assert fronts and max(fronts) > 0, fronts
    kw = dict(n=2, max_new_tokens=16, temperature=1.0, seed=3, keep_logprobs=True, sampler="fast")
    reserved = engine.sample(batch, **kw)
    monkeypatch.setattr(S, "reserve_cache", lambda cache, room: False)
    plain = engine.sample(batch, **kw)
    assert torch.equal(reserved.sequences, plain.sequences)
    assert float((reserved.logprobs - plain.logprobs).abs().max()) < 1e-5


def test_own_decode_step_equals_the_models_forward(tiny_model_dir, corpus, monkeypatch):
    """The fast sampler's own decode step (Qwen3-VL's modules run directly) gives the model forward's logits bit
    for bit: every task key in one left-padded batch, 2 samples each, rows ending at different steps (rows and
    leading padding dropped from the cache); the same tokens and log-probabilities with and without it."""
    import onethinker.models.sampling as S

    model, _, engine, batch, _, keys = _rl_setup(tiny_model_dir, corpus)
    assert _DecodeStep.for_model(model) is not None
    engine.short_prefill = False  # the prefill as the model's forward runs it on both sides: decode steps compared
    kw = dict(n=2, max_new_tokens=16, temperature=1.0, seed=5, keep_logprobs=True, sampler="fast")
    free = engine.sample(batch, **kw).sequences  # stop tokens drawn from its own samples: rows end early and late
    engine.stop_ids = engine.stop_ids + sorted({int(free[i, t]) for i, t in ((1, 0), (5, 9), (7, 3))}
                                               - set(engine.stop_ids))
    calls = []
    real = S._DecodeStep.__call__
    monkeypatch.setattr(S._DecodeStep, "__call__", lambda self, *a: calls.append(1) or real(self, *a))
    own = engine.sample(batch, **kw)
    n_calls = len(calls)
    assert n_calls > 0, "the own decode step did not run"
    engine.own_step = False
    ref = engine.sample(batch, **kw)
    assert len(calls) == n_calls  # own_step False: the model's forward ran instead
    assert torch.equal(own.sequences, ref.sequences)
    assert torch.equal(own.logprobs, ref.logprobs)
    assert len({len(engine.cut(r)) for r in own.sequences.tolist()}) > 1


def test_short_prefill_gives_the_forwards_logits_and_cache(tiny_model_dir, corpus):
    """The prefill with the last layer at the last position only (``last_layer_at_last_position``): every task
    key in one left-padded batch (the padding mask sliced to the last query), the last position's logits equal
    the full forward's to 1e-5, every layer's keys and values bit for bit; the layer's own forward afterwards."""
    from transformers import DynamicCache

    from onethinker.models.sampling import last_layer_at_last_position

    model, _, _, batch, _, keys = _rl_setup(tiny_model_dir, corpus)
    assert len(set(batch["attention_mask"].sum(1).tolist())) > 5  # left padding in play
    feats = dict(batch)
    ids, mask = feats.pop("input_ids"), feats.pop("attention_mask")
    pos = model._prepare_position_ids_for_generation(ids, {"input_ids": ids, "attention_mask": mask, **feats})
    runs = []
    for short in (False, True):
        cache = DynamicCache(config=model.config.get_text_config(decoder=True))
        with torch.no_grad(), (last_layer_at_last_position(model) if short else contextlib.nullcontext()):
            out = model(input_ids=ids, attention_mask=mask, position_ids=pos, cache=cache, use_cache=True,
                        logits_to_keep=1, **feats)
        runs.append((out.logits[:, -1], cache))
    (full, cache_full), (short, cache_short) = runs
    assert short.shape == full.shape == (len(keys), model.config.get_text_config().vocab_size)
    assert float((short - full).abs().max()) < 1e-5
    assert torch.equal(short.argmax(-1), full.argmax(-1))
    for a, b in zip(cache_full.layers, cache_short.layers):
        assert torch.equal(a.keys, b.keys) and torch.equal(a.values, b.values)
    assert "forward" not in vars(model.get_decoder().layers[-1])  # the layer's class forward is back
