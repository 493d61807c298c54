"""scripts/gpu_proof.py at tiny shapes on the CPU: every check runs, prints its JSON line, and the
numbers that do not depend on the device hold (same loss both ways, bf16 rounding)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_proof_small_on_cpu():
    p = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gpu_proof.py"), "--small", "--device", "cpu"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=600,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    lines = [json.loads(x) for x in p.stdout.splitlines() if x.startswith("{")]
    checks = {r["check"]: r for r in lines[:-1]}
    assert list(checks) == ["update_memory", "bf16_full_ft", "hf_prefill"]
    mem = checks["update_memory"]
    assert mem["tokens"] == 256 and mem["vocab"] == 512
    assert abs(mem["loss_old"] - mem["loss_new"]) < 1e-6  # the chunked head changes no number
    ft = checks["bf16_full_ft"]
    assert ft["fp32_master_changed"] > 0.99 and ft["fp32_master_norms_changed"] == 1.0
    assert ft["pure_bf16_norms_changed"] == 0.0 and ft["pure_bf16_changed"] < 0.5
    summary = lines[-1]
    assert summary == {**summary, "summary": "gpu_proof", "small": True, "passed": 3, "ok": True}
