#!/usr/bin/env bash
# GPU check of the memory and precision fixes (docs/gpu.md): skips with one line without a GPU.
#   bash scripts/gpu_check.sh            # ~2-3 minutes on one 80 GB card
# Needs python3 with torch (CUDA) and transformers; no hydra, omegaconf, vllm or network.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! command -v nvidia-smi >/dev/null 2>&1 || ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  echo "gpu_check: skipped (no CUDA GPU)"
  exit 0
fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
# 1. peak memory of a 16,384-token update micro-batch (old full logits vs chunked head), bf16 full
#    fine-tuning with and without fp32 master weights, HF prefill logits for one position
PYTHONPATH=$PWD "$PY" scripts/gpu_proof.py --device cuda

# 2. the RL path on the GPU (needs the project installed with vLLM: pip install -e ".[vllm]"):
#    qwen2.5-0.5b for 3 steps with engine=vllm on one GPU, then on every GPU with trainer.strategy=fsdp2
#    (each rank with its own colocated engine). The model comes from the hub, or from a local folder
#    given as GPU_CHECK_MODEL_PATH on a machine without network. Prints, per run: generation tokens/s,
#    step time, peak GPU memory, the sampler mismatch and the engine/trainer log-prob gap after a push.
if ! "$PY" -c "import infopo_cli, vllm" 2>/dev/null; then
  echo "gpu_check: RL path skipped (infopo_cli or vllm not importable: pip install -e '.[vllm]')"
  exit 0
fi
OUT=${GPU_CHECK_OUT:-$(mktemp -d /tmp/infopo-gpu-check-XXXX)}
NGPU=$("$PY" -c "import torch; print(torch.cuda.device_count())")
MODEL=(model=qwen2.5-0.5b)
[ -n "${GPU_CHECK_MODEL_PATH:-}" ] && MODEL+=("model.path=$GPU_CHECK_MODEL_PATH")
RL=("${MODEL[@]}" engine=vllm engine.check_logprobs=true engine.enable_sleep_mode=true
    trainer.autocast=bf16 trainer.steps=3 trainer.prompts_per_step=8 trainer.group_size=4
    trainer.eval_tasks=0 logger=none)
"$PY" -m infopo_cli.cli train "${RL[@]}" hydra.run.dir="$OUT/one_gpu" > "$OUT/one_gpu.log" 2>&1 \
  || { tail -n 30 "$OUT/one_gpu.log"; echo "gpu_check: FAILED (one GPU, vllm); log $OUT/one_gpu.log"; exit 1; }
if [ "$NGPU" -gt 1 ]; then
  "$PY" -m torch.distributed.run --standalone --nproc_per_node="$NGPU" -m infopo_cli.cli train \
    "${RL[@]}" trainer.strategy=fsdp2 trainer.prompts_per_step=$((8 * NGPU)) \
    hydra.run.dir="$OUT/fsdp2" > "$OUT/fsdp2.log" 2>&1 \
    || { tail -n 30 "$OUT/fsdp2.log"; echo "gpu_check: FAILED ($NGPU GPUs, fsdp2 + vllm); log $OUT/fsdp2.log"; exit 1; }
fi
"$PY" - "$OUT" <<'PY'
import json, sys
from pathlib import Path

for run in sorted(p for p in Path(sys.argv[1]).iterdir() if (p / "metrics.jsonl").exists()):
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    for r in (r for r in rows if "train/success" in r):
        gen = r.get("rollout/action_tokens", 0) / max(r.get("time/rollout_s", 0), 1e-9)
        print(
            f"{run.name} step {r['step']}: {gen:,.0f} agent tokens/s in rollouts | "
            f"step {r.get('time/step_s', 0):.1f} s | peak {r.get('memory/peak_gib', 0):.1f} GiB | "
            f"mismatch max {r.get('is/logprob_diff_max', float('nan')):.3f} "
            f"(capped {r.get('is/capped_frac', float('nan')):.3f}) | "
            f"push gap {r.get('engine/logprob_diff', float('nan')):.3f}"
        )
PY
echo "gpu_check: RL path done; runs under $OUT"
