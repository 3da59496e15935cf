"""The one sampling engine (onethinker.models.sampling) gives RL rollouts token-identical to the trainer's
former loop (transformers generate called with the trainer's own stop/pad/suppress tokens and seeding),
and text generation identical to the former models.generate."""

import torch

from onethinker.data.chat import record_messages
from onethinker.data.records import read_records
from onethinker.models import generate, load
from onethinker.models.inputs import build_inputs
from onethinker.models.sampling import VISION_TOKENS, SamplingEngine


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
    got = [engine.cut(ids) for ids in engine.sample(batch, n=3, max_new_tokens=20, temperature=1.0, seed=1234)
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
