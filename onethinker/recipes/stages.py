"""The stages the recipes (``recipes.demo``, ``recipes.ablation``) are made of: the demo's corpus plan, the
base model, SFT, RL, held-out evaluation, the probe and paired comparisons. Each stage is skipped when its
output is already complete, and the long ones resume, so running the same command again continues."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Sequence

from ..config import load_config
from ..ui import console


def recipe(name: str) -> Path:
    """A YAML recipe shipped with the package (``configs/`` in the repository links to the same files)."""
    path = Path(str(resources.files("onethinker") / "configs" / name))
    if not path.is_file():
        raise FileNotFoundError(f"recipe {name!r} not found in {path.parent}")
    return path


def _stage(name: str, timing: dict[str, float]) -> Callable[[], None]:
    console.print(f"[bold]{name}[/bold]")
    t0 = time.perf_counter()

    def done() -> None:
        timing[name] = round(time.perf_counter() - t0, 1)
        console.print(f"  {name}: {timing[name]:.0f} s")

    return done


# ---------------------------------------------------------------------------------------------
# stages
# ---------------------------------------------------------------------------------------------
#: The task keys the demo's RL trains (SFT and the held-out set cover every key). Chosen by the probe of
#: the SFT checkpoint (docs/experiments.md): image questions whose samples disagree often enough for GRPO
#: to learn from, where greedy accuracy is below the best of 8 samples.
DEMO_RL_TASKS: tuple[str, ...] = ("multiple choice", "numerical", "regression", "spatial grounding")


@dataclass
class DemoCorpus:
    """The demo's corpus: three pools of disjoint scenes. RL prompts and held-out items lean on the keys
    RL trains (``weight`` times the records of any other key, mostly images) so that at least 400
    held-out items measure RL's effect, and every key keeps records for the majority baseline."""

    sft: int = 1600
    rl: int = 1600
    heldout: int = 640
    rl_tasks: tuple[str, ...] = DEMO_RL_TASKS
    weight: int = 3
    # RL trains every key of its pool, as the paper does (the ``rl_tasks`` keep ``weight`` times their prompts
    # and are reported as RL's focus keys); False: only ``rl_tasks`` (docs/experiments.md D1-D2, X1-X9).
    rl_mix: bool = True
    video_share: float = 0.5  # SFT conversations
    heldout_video_share: float = 0.15  # RL prompts and held-out items
    # One shape in many colours: the tiny vision tower learns colours and places within the demo's budget
    # but not the six shapes (docs/experiments.md E1-E3, V1-V2), so objects are told apart by colour.
    shapes: tuple[str, ...] = ("circle",)

    def synth_config(self, seed: int, workers: int):
        from ..synthetic.corpus import SynthConfig
        from ..tasks import TASKS

        weighted = [k for k in TASKS for _ in range(self.weight if k in self.rl_tasks else 1)]
        return SynthConfig(seed=seed, workers=workers, sft=self.sft, rl=self.rl, heldout=self.heldout,
                           video_share=self.video_share, rl_video_share=self.heldout_video_share,
                           heldout_video_share=self.heldout_video_share, rl_tasks=weighted, heldout_tasks=weighted,
                           shapes=list(self.shapes))


def rl_data_filter(plan: DemoCorpus) -> str:
    """The RL recipe's ``data.tasks`` override for ``plan``: every key of the RL pool, or only the RL keys."""
    keys = [] if plan.rl_mix else list(plan.rl_tasks)
    return f"data.tasks=[{','.join(json.dumps(t) for t in keys)}]"


def build_corpus(out: Path, *, plan: DemoCorpus, seed: int, workers: int) -> Path:
    from ..synthetic.corpus import synthesize

    corpus = out / "corpus"
    cfg = plan.synth_config(seed, workers)
    manifest = corpus / "manifest.json"
    if manifest.is_file():
        old = json.loads(manifest.read_text()).get("config", {})
        want = json.loads(json.dumps(asdict(cfg)))  # tuples as the manifest's lists
        if {k: v for k, v in old.items() if k != "workers"} == {k: v for k, v in want.items() if k != "workers"}:
            return corpus
    synthesize(cfg, corpus)
    return corpus


#: The perception-pretrained tiny model shipped with the package (``onethinker model pretrain``; see
#: onethinker/assets/README.md): the demo's stand-in for Qwen3-VL-Instruct.
SHIPPED_BASE = "assets/demo-base"
DEMO_SIZE = "tiny"
DEMO_PRETRAIN_STEPS = 2000
_BOX_MIX: dict[str, Any] = {"box_weight": 1.0, "qa_share": 0.7, "lr": 3e-4,
                            "qa_tasks": ("multiple choice", "numerical", "regression", "math", "OCR")
                            + ("spatial grounding",) * 6}
_BOXES_ONLY: dict[str, Any] = {"box_weight": 1.0, "qa_share": 1.0, "qa_tasks": ("spatial grounding",)}
#: The perception stages that follow the first and teach boxes (docs/experiments.md E8, E11, E12, E13, E14, E15;
#: the shipped base ran them at 600 steps each after 2,000): its name, its steps as a share of the first stage's,
#: and the settings that differ from PretrainConfig's defaults. Stage 1 gives the vision tower a 2-D sine-cosine
#: position table and a patch head that regresses each object patch's box; stage 2 asks box questions only, so
#: that the decoder learns to write them; stage 3 brings the other question kinds back with boxes still half of
#: them. Stages 4-6 ask stage 3's, stage 2's and stage 3's questions again in the tasks' own OneThinker form
#: (question, reasoning instruction, ``<think>...</think><answer>...</answer>``), so that SFT starts from a model
#: that already answers the tasks' prompts with boxes: held-out task-form box mIoU 0.089 after stage 4, 0.109
#: after stage 6 (the majority box's 0.034), and boxes beat the majority after SFT and RL on every seed (F0-F2).
BOX_STAGES: tuple[tuple[str, float, dict[str, Any]], ...] = (
    ("boxes-1-positions", 0.3, {"pos_embed": "sincos", "box_weight": 1.0, "qa_share": 0.5}),
    ("boxes-2-questions", 0.3, _BOXES_ONLY),
    ("boxes-3-mix", 0.3, _BOX_MIX),
    ("task-form-1-mix", 0.3, {**_BOX_MIX, "qa_format": "onethinker"}),
    ("task-form-2-boxes", 0.3, {**_BOXES_ONLY, "qa_format": "onethinker"}),
    ("task-form-3-mix", 0.3, {**_BOX_MIX, "qa_format": "onethinker"}),
)


def shipped_base() -> Path | None:
    path = Path(str(resources.files("onethinker") / SHIPPED_BASE))
    return path if (path / "config.json").is_file() else None


def build_model(out: Path, corpus: Path, seed: int, size: str = "tiny") -> Path:
    from ..models.tiny import build_tiny

    tiny = out / "tiny"
    if not (tiny / "config.json").is_file():
        build_tiny(tiny, corpus_dir=corpus, size=size, seed=seed)
    return tiny


def base_model(out: Path, corpus: Path, seed: int, *, fresh: bool, pretrain_steps: int = DEMO_PRETRAIN_STEPS,
               threads: int = 2, shapes: Sequence[str] = (), box_stages: bool = True) -> Path:
    """The model SFT starts from: the shipped perception-pretrained base, or (``fresh``, or none shipped)
    one made here as the shipped one was: a tiny model built on the corpus, ``pretrain_steps`` of the perception
    stage (out/base), then the :data:`BOX_STAGES` (out/base-<name>; ``box_stages`` False: not them).
    ``pretrain_steps`` 0: the random model, as before the perception stage existed. Each stage resumes."""
    from ..models.pretrain import PretrainConfig, pretrain

    if not fresh and shipped_base() is not None:
        return shipped_base()  # type: ignore[return-value]
    model = build_model(out, corpus, seed, size=DEMO_SIZE)
    if pretrain_steps <= 0:
        return model
    # warm-up: 5% of the first stage (E4: 100 of 2,000), 1/12 of each box stage (50 of 600)
    stages: list[tuple[str, int, int, dict[str, Any]]] = [("base", pretrain_steps, round(0.05 * pretrain_steps), {})]
    if box_stages:
        for name, share, settings in BOX_STAGES:
            steps = max(1, round(share * pretrain_steps))
            stages.append((f"base-{name}", steps, round(steps / 12), settings))
    for name, steps, warmup, settings in stages:
        final = out / name / "final"
        if not (final / "config.json").is_file():
            pretrain(PretrainConfig(model=str(model), out=str(out / name), steps=steps, warmup=warmup, seed=seed,
                                    threads=threads, shapes=tuple(shapes), **settings))
        model = final
    return model


def run_sft(out: Path, overrides: Sequence[str]) -> Path:
    from ..sft.config import SFTConfig
    from ..sft.trainer import train_sft

    final = out / "sft" / "final"
    if (final / "config.json").is_file():
        return final
    cfg = load_config(SFTConfig, recipe("demo-sft.yaml"), [f"root={out}", "format_check.file=", *overrides])
    train_sft(cfg, resume="auto")
    return final


def run_rl(out: Path, overrides: Sequence[str], *, output_dir: str = "rl",
           progress: Callable[[int, int, dict], None] | None = None) -> Path:
    from ..rl.config import RLConfig
    from ..rl.trainer import train_rl

    final = out / output_dir / "final"
    if (final / "config.json").is_file():
        return final
    cfg = load_config(RLConfig, recipe("demo-rl.yaml"), [f"root={out}", f"run.output_dir={output_dir}", *overrides])
    has_ckpt = any((out / output_dir / "checkpoints").glob("step-*"))
    train_rl(cfg, resume="latest" if has_ckpt else None, progress=progress)
    return final


def evaluate_checkpoint(model: Path, corpus: Path, out: Path, *, limit: int | None, max_new_tokens: int,
                        batch_size: int = 16, threads: int = 2, temperature: float = 0.0,
                        bench: Path | None = None, seed: int = 0) -> list[dict]:
    """Held-out evaluation with the runner (resumable); returns the result rows. ``temperature`` > 0:
    one sample per item at that temperature (seeded) instead of the greedy answer. ``threads`` cores: as many
    generation batches at once, each in a process of one thread (the tiny model gains little from a second
    thread per process; the outputs are the same)."""
    import torch

    from ..evaluate.runner import EvalConfig, evaluate
    from ..evaluate.store import ResultStore
    from ..generate import SamplingConfig, build_generator

    if threads:
        torch.set_num_threads(threads)
    bench = bench or corpus / "eval_synthetic.json"
    gen = build_generator("transformers", str(model))
    evaluate(gen, [bench], out, media_root=corpus,
             config=EvalConfig(batch_size=batch_size, limit=limit, segmenter="grabcut", workers=max(1, threads)),
             sampling=SamplingConfig(max_new_tokens=max_new_tokens, temperature=temperature, seed=seed))
    return ResultStore(out / f"{bench.stem}.jsonl").rows()


def _official(out: Path) -> dict[str, dict[str, float]]:
    path = out / "eval_synthetic.metrics.json"
    if not path.is_file():
        return {}
    m = json.loads(path.read_text())
    return {fam: fm["metrics"] for fam, fm in m["families"].items()}


def rl_bench(corpus: Path, out: Path, tasks: Sequence[str]) -> Path:
    """The held-out items of the task keys RL trains, as their own benchmark file (for sampled evaluation)."""
    from ..data.records import read_records, write_records
    from ..tasks import task_key

    path = out / "eval_rl_tasks.json"
    if not path.is_file():
        recs = [r for r in read_records(corpus / "eval_synthetic.json") if task_key(r.get("problem_type"), r.get("data_type")) in tasks]
        write_records(path, recs)
    return path


def paired(a_dir: Path, b_dir: Path, *, tasks: Sequence[str] | None = None) -> dict[str, Any]:
    """``eval compare`` of two evaluation folders (B - A per task key and over all items), plus the same
    pooled over ``tasks`` (``"rl_tasks"``)."""
    from ..evaluate.compare import compare_dirs

    return compare_dirs(a_dir, b_dir, pools={"rl_tasks": list(tasks)} if tasks else None)


def run_probe(out: Path, model: Path, corpus: Path, *, prompts_per_task: int, threads: int, n: int | None = None,
              seed: int = 0, rl_overrides: Sequence[str] = ()) -> dict[str, Any]:
    """``onethinker probe`` of ``model`` on ``prompts_per_task`` RL prompts of each task key (``n`` samples,
    default the RL recipe's group size, at its rollout temperature, its online filter predicting which groups
    carry signal); written to OUT/probe/probe.json."""
    import torch

    from ..data.records import read_records
    from ..evaluate.probe import ProbeConfig, config_dict, probe, token_counter
    from ..reward import RewardConfig
    from ..generate import build_generator
    from ..tasks import task_key

    path = out / "probe" / "probe.json"
    if path.is_file():
        return json.loads(path.read_text())
    if threads:
        torch.set_num_threads(threads)
    train = list(read_records(corpus / "onethinker_rl_train.json"))
    picked: list[dict] = []
    seen: dict[str, int] = {}
    for r in train:
        k = task_key(r.get("problem_type"), r.get("data_type"))
        if seen.get(k, 0) < prompts_per_task:
            seen[k] = seen.get(k, 0) + 1
            picked.append(r)
    from ..rl.config import RLConfig

    rl = load_config(RLConfig, recipe("demo-rl.yaml"), [f"root={out}", *rl_overrides])
    a = rl.algorithm
    gen = build_generator("transformers", str(model))
    # the rollouts' own settings: temperature, top-p and length (an answer longer than RL allows is cut there)
    config = ProbeConfig(n=rl.rollout.n if n is None else n, temperature=rl.rollout.temperature, top_p=rl.rollout.top_p,
                         max_new_tokens=rl.rollout.max_new_tokens, seed=seed,
                         filter_low=a.filter_low if a.filter_groups else 0.0,
                         filter_high=a.filter_high if a.filter_groups else 1.0,
                         drop_equal_scores=a.drop_equal_scores and a.filter_groups,
                         workers=max(1, threads))  # ``threads`` cores: batches at once, one thread each
    if not a.filter_groups:  # every group is kept: mean accuracy 0 or 1 included
        config.filter_low, config.filter_high = -1.0, 2.0
    what, count = token_counter(gen)
    result, _ = probe(gen, picked, train_records=train, config=config, media_root=corpus, count_tokens=count,
                      tokenizer_counts=what == "tokenizer")
    result["config"] = config_dict(config, RewardConfig(), model=str(model), token_count=what,
                                   run=result["config"]["run"])  # as `onethinker probe` writes it
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return result
