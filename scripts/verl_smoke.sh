#!/usr/bin/env bash
# First run of onethinker on verl, for a GPU machine: the synthetic corpus, the tiny Qwen3-VL, the verl
# parquet, then a few steps of EMA-GRPO training on verl (FSDP actor, vLLM rollout, Ray on this machine),
# then a resume from the last checkpoint (the EMA state must come back). Prints where the logs are.
#
#   bash scripts/verl_smoke.sh              # all GPUs of this machine
#   GPUS=1 STEPS=4 OUT=runs/smoke bash scripts/verl_smoke.sh
#
# Needs .venv-verl built for GPUs (`make verl-env VERL_GPU=1`: verl 0.9.1 with its tested torch/vLLM); the
# script builds it when it is missing. The tiny model cannot learn anything in a few steps, so the accuracy
# filter is off here (with it on, every group of a random model is filtered and the step never fills).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-runs/verl-smoke}
STEPS=${STEPS:-3}
GPUS=${GPUS:-$(nvidia-smi -L 2>/dev/null | wc -l)}
VENV=${VENV:-.venv-verl}
if [ "${GPUS}" -lt 1 ]; then
  echo "verl_smoke: no GPU found (nvidia-smi -L); set GPUS=N to override" >&2
  exit 1
fi
if [ ! -x "$VENV/bin/onethinker" ]; then
  make verl-env VERL_GPU=1 VERL_VENV="$VENV"
fi
OT="$VENV/bin/onethinker"
"$VENV/bin/python" -m onethinker.integrations.verl.plugin --check
OUT=$(mkdir -p "$OUT" && cd "$OUT" && pwd)

echo "== data and model in $OUT"
[ -f "$OUT/corpus/onethinker_rl_train.json" ] || "$OT" data synth --out "$OUT/corpus" --n 400 --workers 2
[ -f "$OUT/model/config.json" ] || "$OT" model tiny --out "$OUT/model" --corpus "$OUT/corpus"
"$OT" data convert "$OUT/corpus/onethinker_rl_train.json" --to verl --out "$OUT/data/train.parquet"

# The paper's recipe with small numbers: 8 prompts x 4 rollouts per step, mini-batches of 4 prompts.
cat > "$OUT/rl.yaml" <<EOF
model: {path: $OUT/model, gradient_checkpointing: false}
data: {train_files: [$OUT/data/train.parquet]}
rollout: {prompts_per_step: 8, n: 4, max_new_tokens: 256}
optim: {mini_batch_prompts: 4, lr: 1.0e-5}
algorithm: {estimator: ema_grpo, filter_groups: false}
reward: {workers: 1}
run: {output_dir: $OUT/run, max_steps: $STEPS, save_every: 2, keep_checkpoints: 2, tensorboard: true}
EOF

# Small-machine settings for verl, applied after the launcher's own (no flash-attn needed: SDPA, padded
# batches; eager vLLM starts faster; short prompts for the tiny model).
export ONETHINKER_VERL_OVERRIDES="data.max_prompt_length=2048 data.dataloader_num_workers=2 \
actor_rollout_ref.model.use_remove_padding=false +actor_rollout_ref.model.override_config.attn_implementation=sdpa \
actor_rollout_ref.rollout.gpu_memory_utilization=0.3 actor_rollout_ref.rollout.enforce_eager=true \
actor_rollout_ref.rollout.agent.num_workers=2 reward.num_workers=2"

echo "== the verl command"
"$OT" train rl --engine verl --config "$OUT/rl.yaml" --gpus-per-node "$GPUS" --dry-run

echo "== train $STEPS steps"
"$OT" train rl --engine verl --config "$OUT/rl.yaml" --gpus-per-node "$GPUS"

echo "== resume from the last checkpoint for 2 more steps (the EMA state is restored)"
"$OT" train rl --engine verl --config "$OUT/rl.yaml" --gpus-per-node "$GPUS" --resume \
  --set run.max_steps=$((STEPS + 2))

LAST=$(cat "$OUT/run/checkpoints/latest_checkpointed_iteration.txt")
echo
echo "verl smoke run done (last checkpoint: step $LAST)"
echo "  verl's log:     $OUT/run/verl.log   (resolved verl config: $OUT/run/hydra/.hydra/config.yaml)"
echo "  TensorBoard:    $OUT/run/tensorboard   (tensorboard --logdir $OUT/run/tensorboard)"
echo "  checkpoints:    $OUT/run/checkpoints/global_step_$LAST (actor/, data.pt, ema_state.json)"
echo "  command:        $OUT/run/verl_command.sh"
echo "  EMA-GRPO state: $(head -c 400 "$OUT/run/checkpoints/global_step_$LAST/ema_state.json" | tr -d '\n')"
