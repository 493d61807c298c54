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
