"""engine=vllm: helpers (always), the engine against the trainer's model (vllm), a CLI run (slow).

The engine tests build one fp32 engine on the built-in ``tiny`` model. In float32 both sides run
the same arithmetic up to summation order (vLLM's oneDNN/packed GEMMs versus torch's), which
moves a log-prob of this 2-layer model by about 1e-6 (measured); the tests allow 1e-4, a hundred
times that, and still fail by orders of magnitude on a stale weight (a perturbation of 0.02 per
weight moves log-probs by > 0.1). bf16 engine weights (the default) are a rounding change: on
SmolLM2-135M the largest gap is 0.30, the same size as a bf16 copy of the trainer's model (0.38).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from infopo_cli.config import EngineConfig
from infopo_cli.engines.vllm import (
    CPU_KV_FLOOR_BYTES,
    ExpectedReloadFallbacks,
    configure_environment,
    cpu_kv_cache_bytes,
    kv_bytes_per_token,
    unique_state,
)
from infopo_cli.errors import ConfigError

HAS_VLLM = importlib.util.find_spec("vllm") is not None
needs_vllm = pytest.mark.skipif(
    not HAS_VLLM, reason="vllm is not installed (scripts/install_vllm_cpu.sh)"
)
TOL = 1e-4  # fp32 engine vs fp32 trainer, see the module docstring


# ---- helpers (no vllm needed) -------------------------------------------------------------------
def test_kv_bytes_per_token_counts_keys_and_values_of_every_layer():
    cfg = LlamaConfig(
        hidden_size=256, num_attention_heads=4, num_key_value_heads=2, num_hidden_layers=3
    )
    # 2 (k and v) * 3 layers * 2 kv heads * 64 head dim * 2 bytes
    assert kv_bytes_per_token(cfg, "bfloat16") == 1536
    assert kv_bytes_per_token(cfg, "float32") == 3072


def test_cpu_kv_cache_is_what_the_batch_needs_capped_by_free_memory():
    gib = 2**30
    # 4 KiB/token * 1024 tokens * 64 sequences = 256 MiB, well under 0.4 * 20 GiB
    assert cpu_kv_cache_bytes(4096, 1024, 64, 0.4, 20 * gib) == 256 * 2**20
    # the cap: 0.5 * 1 GiB
    assert cpu_kv_cache_bytes(4096, 2048, 1024, 0.5, gib) == gib // 2
    # never below one full-length sequence or the floor
    assert cpu_kv_cache_bytes(16, 128, 1, 0.4, 0) == CPU_KV_FLOOR_BYTES
    assert cpu_kv_cache_bytes(2**20, 1024, 4, 0.001, gib) == 2**30


def test_unique_state_keeps_the_embedding_name_of_tied_weights_and_casts():
    cfg = LlamaConfig(
        vocab_size=32,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(cfg)
    names = [n for n, _ in unique_state(model)]
    assert "model.embed_tokens.weight" in names
    assert "lm_head.weight" not in names
    assert len(names) == len(set(names)) == len(model.state_dict()) - 1
    cast = dict(unique_state(model, torch.bfloat16))
    assert all(t.dtype == torch.bfloat16 for t in cast.values())
    assert torch.equal(
        cast["model.norm.weight"], model.model.norm.weight.detach().to(torch.bfloat16)
    )


def _record(layer: str) -> logging.LogRecord:
    return logging.LogRecord(
        "x", logging.WARNING, "f", 1, "%s: Failed to load weights", (layer,), None
    )


def test_reload_filter_hides_only_layers_a_checkpoint_never_holds():
    tied, untied = ExpectedReloadFallbacks(True), ExpectedReloadFallbacks(False)
    assert not tied.filter(_record("RotaryEmbedding"))
    assert not tied.filter(_record("Llama3RotaryEmbedding"))
    assert not tied.filter(_record("ParallelLMHead"))
    assert untied.filter(_record("ParallelLMHead"))  # an untied head must load: keep the warning
    assert tied.filter(_record("QKVParallelLinear"))


def test_adapter_tokenizer_notice_is_dropped_and_nothing_else():
    from infopo_cli.engines.vllm import AdapterTokenizerNotice

    def rec(msg: str) -> logging.LogRecord:
        return logging.LogRecord("x", logging.WARNING, "f", 1, msg, None, None)

    notice = AdapterTokenizerNotice()
    assert not notice.filter(
        rec("vLLM has deprecated support for supporting different tokenizers for different LoRAs.")
    )
    assert notice.filter(rec("Got lora_request policy-1 but LoRA is not enabled!"))


def test_cpu_engine_refuses_multiprocessing(monkeypatch):
    monkeypatch.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", "1")
    with pytest.raises(ConfigError, match="VLLM_ENABLE_V1_MULTIPROCESSING"):
        configure_environment("cpu", 1)
    monkeypatch.delenv("VLLM_ENABLE_V1_MULTIPROCESSING")
    monkeypatch.delenv("VLLM_CPU_OMP_THREADS_BIND", raising=False)
    assert configure_environment("cpu", 1) is True
    assert os.environ["VLLM_CPU_OMP_THREADS_BIND"] == "nobind"


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("dtype", "int8", "engine.dtype"),
        ("gpu_memory_utilization", 1.5, "engine.gpu_memory_utilization"),
        ("tensor_parallel_size", 0, "engine.tensor_parallel_size"),
    ],
)
def test_bad_engine_values_are_config_errors(field, value, needle):
    from infopo_cli.engines.vllm import VLLMEngine

    ecfg = EngineConfig(name="vllm")
    setattr(ecfg, field, value)
    with pytest.raises(ConfigError, match=needle):
        VLLMEngine(ecfg, "/nonexistent", [2])


# ---- the engine (vllm) ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny():
    from infopo_cli.core.chat import ChatFormat
    from infopo_cli.runtime import models
    from infopo_cli.zoo.registry import resolve_path

    path = resolve_path("tiny", None)
    tok = models.load_tokenizer(path)
    return path, tok, ChatFormat(tok)


@pytest.fixture(scope="module")
def engine(tiny):
    from infopo_cli.engines.vllm import VLLMEngine

    path, _, chat = tiny
    ecfg = EngineConfig(name="vllm", dtype="float32", check_logprobs=True, batch_size=8)
    eng = VLLMEngine(ecfg, path, chat.stop_ids, max_model_len=1024)
    yield eng
    eng.close()


def _prompt(chat) -> list[int]:
    return chat.prompt_ids(
        [
            {"role": "system", "content": "You book tables. Ask one question per turn."},
            {"role": "user", "content": "I need a table for dinner."},
        ]
    )


def _perturb(model, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.02)


@pytest.mark.vllm
@needs_vllm
def test_push_makes_greedy_output_and_logprobs_match_the_updated_model(tiny, engine):
    from infopo_cli.engines.hf import HFEngine
    from infopo_cli.runtime import models

    path, tok, chat = tiny
    model = models.load_model(path, "float32", "cpu")
    prompt = _prompt(chat)
    before = engine.generate([prompt], max_new_tokens=12, temperature=0.0)[0]
    hf = HFEngine(model, tok, chat.stop_ids)
    assert (
        before.token_ids == hf.generate([prompt], max_new_tokens=12, temperature=0.0)[0].token_ids
    )

    _perturb(model, seed=1)  # the "update"
    seq = prompt + before.token_ids
    with pytest.warns(RuntimeWarning, match="logprob_warn_threshold"):
        stale = engine.check(model, seq)["engine/logprob_diff"]
    assert stale > 0.05  # the check sees a stale engine, and warns
    seconds = engine.update_weights(model)
    assert seconds > 0
    last = engine.last_check()  # check mode ran after the push
    assert last["engine/logprob_diff"] < TOL
    assert 0 <= last["engine/logprob_diff_mean"] <= last["engine/logprob_diff"]
    assert engine.check(model, seq)["engine/logprob_diff"] < TOL

    ours = engine.generate([prompt, prompt], max_new_tokens=12, temperature=0.0)
    theirs = hf.generate([prompt], max_new_tokens=12, temperature=0.0)[0]
    assert ours[0].token_ids == ours[1].token_ids == theirs.token_ids
    assert ours[0].token_ids != before.token_ids  # the new weights are in use
    assert len(ours[0].logprobs) == len(ours[0].token_ids) == 12
    assert max(abs(a - b) for a, b in zip(ours[0].logprobs, theirs.logprobs)) < TOL
    assert not ours[0].finished


@pytest.mark.vllm
@needs_vllm
def test_both_weight_paths_give_the_same_engine(tiny, engine):
    from infopo_cli.runtime import models

    path, _, chat = tiny
    model = models.load_model(path, "float32", "cpu")
    _perturb(model, seed=2)
    seq = _prompt(chat) + list(range(10, 30))
    for mode in ("files", "tensors"):
        engine.sync_mode = mode
        engine.update_weights(model)
        assert engine.check(model, seq)["engine/logprob_diff"] < TOL, mode
    assert engine.sync_mode == "tensors"


@pytest.mark.vllm
@needs_vllm
def test_generation_stops_at_a_stop_id_and_includes_it(tiny, engine):
    _, _, chat = tiny
    prompt = _prompt(chat)
    free = engine.generate([prompt], max_new_tokens=10, temperature=0.0)[0].token_ids
    stop = free[4]
    cut = free.index(stop) + 1
    saved = engine.stop_ids
    engine.stop_ids = [stop]
    try:
        g = engine.generate([prompt], max_new_tokens=10, temperature=0.0)[0]
    finally:
        engine.stop_ids = saved
    assert g.token_ids == free[:cut]
    assert g.finished
    assert len(g.logprobs) == cut


@pytest.mark.vllm
@needs_vllm
def test_vllm_and_hf_rollouts_build_the_same_trajectories(tiny, engine):
    from infopo_cli.core.rollout import rollout
    from infopo_cli.engines.hf import HFEngine
    from infopo_cli.runtime import models
    from infopo_cli.simulators.scripted import ScriptedSimulator
    from infopo_cli.tasks.clarify import ClarifyTask

    path, tok, chat = tiny
    model = models.load_model(path, "float32", "cpu")
    engine.update_weights(model)
    task = ClarifyTask(name="clarify", max_turns=3, seed=0)
    instances = task.instances("test")[:2]
    kw = dict(group_size=1, max_new_tokens=8, temperature=0.0, max_len=1024)
    sim = ScriptedSimulator()
    a = rollout(engine, chat, task, sim, instances, **kw)
    b = rollout(HFEngine(model, tok, chat.stop_ids), chat, task, sim, instances, **kw)
    assert len(a) == len(b) == 2
    for x, y in zip(a.trajectories, b.trajectories):
        assert x.input_ids == y.input_ids
        assert [(t.action, t.feedback) for t in x.turns] == [
            (t.action, t.feedback) for t in y.turns
        ]
        assert len(x.turns) == 3  # the tiny model never answers: every turn is played
        assert x.action_mask() == y.action_mask()
        assert max(abs(p - q) for p, q in zip(x.logprobs, y.logprobs)) < TOL
    ta, tb = a.tensors(pad_id=tok.pad_token_id), b.tensors(pad_id=tok.pad_token_id)
    assert torch.equal(ta["action_mask"], tb["action_mask"])
    assert torch.equal(ta["input_ids"], tb["input_ids"])


@pytest.mark.vllm
@needs_vllm
def test_seeded_requests_sample_the_same_whatever_else_is_in_flight(tiny, engine):
    """With per-request seeds drawn from the torch RNG, a prompt's samples depend only on the RNG
    state the caller sets, not on what was generated before it nor on the other prompts of the
    batch: what lets every trainer rank own an engine and still reproduce a one-process run."""
    _, _, chat = tiny
    a, b = _prompt(chat), _prompt(chat)[:-3]
    kw = dict(max_new_tokens=12, temperature=1.0)

    def draw(seed: int, prompts: list) -> list[list[int]]:
        torch.manual_seed(seed)
        return [g.token_ids for g in engine.generate(prompts, **kw)]

    engine.seed_requests = True
    try:
        alone = draw(7, [a, a])
        engine.generate([b, b, b], **kw)  # other work in between
        assert draw(7, [a, a]) == alone
        assert draw(7, [a, a, b])[:2] == alone  # batched with another prompt
        assert alone[0] != alone[1]  # two requests of one call draw different seeds
        assert draw(8, [a, a]) != alone
    finally:
        engine.seed_requests = False


# ---- LoRA: the adapter pushed alone, or merged into the weights ---------------------------------
# partial q/k/v and gate/up packs (vLLM fuses both), and an MLP projection
LORA_TARGETS = ["q_proj", "v_proj", "o_proj", "gate_proj", "down_proj"]


def _lora_model(path: str, seed: int):
    """tiny + an r=4 adapter whose matrices are all random (PEFT starts B at zero: a no-op)."""
    from infopo_cli.config import LoraConfig
    from infopo_cli.runtime import models
    from infopo_cli.runtime.lora import add_adapters

    base = models.load_model(path, "float32", "cpu")
    model = add_adapters(base, LoraConfig(r=4, alpha=8, target_modules=LORA_TARGETS))
    _perturb_adapter(model, seed)
    return model


def _perturb_adapter(model, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_" in n:
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)


def _adapter_bytes(model, r: int, itemsize: int) -> int:
    """r * (in + out) numbers per adapted linear layer (A is r x in, B is out x r)."""
    from peft.tuners.lora import Linear

    layers = [m for m in model.modules() if isinstance(m, Linear)]
    return sum(r * (m.in_features + m.out_features) for m in layers) * itemsize


def _spy_rpcs(monkeypatch, eng) -> list[str]:
    """The names of the worker calls the engine makes from now on."""
    calls: list[str] = []
    real = eng.llm.collective_rpc

    def spy(method, *args, **kwargs):
        calls.append(method if isinstance(method, str) else method.__name__)
        return real(method, *args, **kwargs)

    monkeypatch.setattr(eng.llm, "collective_rpc", spy)
    return calls


@pytest.fixture(scope="module")
def lora_engine(tiny):
    from infopo_cli.engines.vllm import VLLMEngine

    path, _, chat = tiny
    ecfg = EngineConfig(name="vllm", dtype="float32", check_logprobs=True, batch_size=8)
    eng = VLLMEngine(ecfg, path, chat.stop_ids, max_model_len=1024, lora_rank=4)
    yield eng
    eng.close()


@pytest.mark.vllm
@needs_vllm
def test_lora_adapter_push_matches_the_peft_model_and_reloads_no_weights(
    tiny, lora_engine, monkeypatch
):
    from infopo_cli.engines.hf import HFEngine
    from infopo_cli.recipes.setup import push_policy

    path, tok, chat = tiny
    eng = lora_engine
    model = _lora_model(path, seed=1)
    prompt = _prompt(chat)
    before = eng.generate([prompt], max_new_tokens=12, temperature=0.0)[0]  # base weights
    seq = prompt + before.token_ids
    with pytest.warns(RuntimeWarning, match="logprob_warn_threshold"):
        assert eng.check(model, seq)["engine/logprob_diff"] > 0.05  # no adapter yet

    rpcs = _spy_rpcs(monkeypatch, eng)
    monkeypatch.setattr(eng, "update_weights", lambda m: pytest.fail("full-weight push"))
    assert push_policy(eng, model) > 0
    assert "reload_weights" not in rpcs and rpcs == []  # the adapter went through add_lora alone
    assert eng.last_check()["engine/logprob_diff"] < TOL
    assert eng.check(model, seq)["engine/logprob_diff"] < TOL
    assert eng.push_stats() == {"engine/adapter_bytes": _adapter_bytes(model, 4, 4)}
    first = eng.lora_request
    assert (first.lora_int_id, first.lora_name) == (1, "policy-1")

    ours = eng.generate([prompt], max_new_tokens=12, temperature=0.0)[0]
    theirs = HFEngine(model.eval(), tok, chat.stop_ids).generate(
        [prompt], max_new_tokens=12, temperature=0.0
    )[0]
    assert ours.token_ids == theirs.token_ids != before.token_ids
    assert max(abs(a - b) for a, b in zip(ours.logprobs, theirs.logprobs)) < TOL

    # the next update: a new request id, the previous adapter gone from the engine and the disk
    _perturb_adapter(model, seed=2)
    with pytest.warns(RuntimeWarning, match="logprob_warn_threshold"):
        assert eng.check(model, seq)["engine/logprob_diff"] > 0.05  # stale adapter
    push_policy(eng, model)
    assert eng.lora_request.lora_int_id == 2
    assert eng.llm.llm_engine.list_loras() == {2}
    assert not Path(first.lora_path).exists() and Path(eng.lora_request.lora_path).is_dir()
    assert eng.last_check()["engine/logprob_diff"] < TOL
    assert eng.check(model, seq)["engine/logprob_diff"] < TOL
    assert rpcs == []


@pytest.mark.vllm
@needs_vllm
def test_lora_adapter_vllm_refuses_is_one_line_and_keeps_the_engine(tiny, lora_engine, monkeypatch):
    from infopo_cli.recipes.setup import push_policy

    path, _, chat = tiny
    eng = lora_engine
    model = _lora_model(path, seed=4)
    push_policy(eng, model)
    kept = eng.lora_request
    seq = _prompt(chat) + list(range(10, 30))

    def refuse(request):
        raise ValueError(f"While loading {request.lora_path}, expected target modules in ...")

    monkeypatch.setattr(eng.llm.llm_engine, "add_lora", refuse)
    _perturb_adapter(model, seed=5)
    with pytest.raises(ConfigError, match=r"^model.lora.sync=adapter: vLLM cannot load .*=merged$"):
        push_policy(eng, model)
    assert eng.lora_request is kept and Path(kept.lora_path).is_dir()
    assert sorted(p.name for p in Path(kept.lora_path).parent.iterdir()) == [
        Path(kept.lora_path).name
    ]  # the refused adapter's folder is gone
    monkeypatch.undo()
    _perturb_adapter(model, seed=4)  # the adapter the engine still holds
    assert eng.check(model, seq)["engine/logprob_diff"] < TOL


@pytest.mark.vllm
@needs_vllm
def test_lora_merged_push_matches_the_peft_model(tiny, engine, monkeypatch):
    from infopo_cli.recipes.setup import push_policy

    path, _, chat = tiny
    model = _lora_model(path, seed=3)
    seq = _prompt(chat) + list(range(10, 30))
    with pytest.warns(RuntimeWarning, match="logprob_warn_threshold"):
        assert engine.check(model, seq)["engine/logprob_diff"] > 0.05
    rpcs = _spy_rpcs(monkeypatch, engine)
    push_policy(engine, model)  # an engine without a LoRA slot gets the merged weights
    assert rpcs[0] == "reload_weights"
    assert engine.lora_request is None and engine.push_stats() == {}
    assert engine.check(model, seq)["engine/logprob_diff"] < TOL


@needs_vllm
def test_lora_slot_is_the_smallest_rank_vllm_accepts():
    from infopo_cli.engines.vllm import lora_slot_rank

    assert [lora_slot_rank(r) for r in (1, 4, 8, 16, 17, 512)] == [1, 8, 8, 16, 32, 512]
    assert lora_slot_rank(513) is None


@needs_vllm
def test_lora_sync_auto_takes_the_adapter_where_vllm_serves_it_on_cuda(tiny, tmp_path):
    from infopo_cli.engines.vllm import lora_sync_mode

    path = tiny[0]
    assert lora_sync_mode("auto", 4, path, "cuda") == "adapter"
    assert lora_sync_mode("auto", 4, path, "cpu") == "merged"  # vLLM's CPU LoRA path is slow
    assert lora_sync_mode("adapter", 4, path, "cpu") == "adapter"
    assert lora_sync_mode("merged", 4, path, "cuda") == "merged"
    assert lora_sync_mode("auto", 1024, path, "cuda") == "merged"
    with pytest.raises(ConfigError, match=r"^model.lora.sync=adapter: rank 1024 .*merged or auto$"):
        lora_sync_mode("adapter", 1024, path)
    # an architecture vLLM has no class for
    (tmp_path / "config.json").write_text(
        json.dumps({"model_type": "llama", "architectures": ["NoSuchForCausalLM"]})
    )
    assert lora_sync_mode("auto", 4, str(tmp_path)) == "merged"
    with pytest.raises(ConfigError, match="no LoRA support for the architecture"):
        lora_sync_mode("adapter", 4, str(tmp_path))


def test_lora_sync_values_are_checked():
    from infopo_cli.config import LoraConfig

    with pytest.raises(ConfigError, match=r"model.lora.sync='full' .*auto, adapter, merged$"):
        LoraConfig(r=4, sync="full")


# ---- CUDA: trainer and engine on one GPU ---------------------------------------------------------
@pytest.mark.vllm
@pytest.mark.gpu
@needs_vllm
@pytest.mark.skipif(not torch.cuda.is_available(), reason="sleep mode needs a CUDA device")
def test_sleep_frees_the_gpu_and_a_push_wakes_the_engine(tiny):
    from infopo_cli.engines.hf import HFEngine
    from infopo_cli.engines.vllm import VLLMEngine
    from infopo_cli.runtime import models

    path, tok, chat = tiny
    model = models.load_model(path, "float32", "cuda")
    ecfg = EngineConfig(
        name="vllm", dtype="float32", enable_sleep_mode=True, gpu_memory_utilization=0.3
    )
    eng = VLLMEngine(ecfg, path, chat.stop_ids, max_model_len=1024)
    try:
        prompt = _prompt(chat)
        eng.generate([prompt], max_new_tokens=8, temperature=0.0)
        free_awake = torch.cuda.mem_get_info()[0]
        eng.release_memory()
        assert eng.asleep
        assert torch.cuda.mem_get_info()[0] > free_awake + 2**30  # the KV cache is gone
        _perturb(model.cpu(), seed=3)
        model.cuda()
        eng.update_weights(model)
        assert not eng.asleep
        ours = eng.generate([prompt], max_new_tokens=8, temperature=0.0)[0]
        theirs = HFEngine(model, tok, chat.stop_ids).generate(
            [prompt], max_new_tokens=8, temperature=0.0
        )[0]
        assert ours.token_ids == theirs.token_ids
        assert eng.check(model, prompt + ours.token_ids)["engine/logprob_diff"] < 1e-3
    finally:
        eng.close()


# ---- the CLI -------------------------------------------------------------------------------------
@pytest.mark.vllm
@pytest.mark.slow
@needs_vllm
def test_two_step_training_run_with_the_vllm_engine(tmp_path):
    run = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "infopo_cli.cli",
        "train",
        "model=tiny",
        "engine=vllm",
        "logger=none",
        "trainer.steps=2",
        "trainer.prompts_per_step=2",
        "trainer.group_size=2",
        "trainer.eval_tasks=2",
        "engine.max_new_tokens=16",
        f"hydra.run.dir={run}",
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    syncs = {r["step"]: r["time/weight_sync_s"] for r in rows if "time/weight_sync_s" in r}
    assert sorted(syncs) == [1, 2]
    assert all(0 < s < 60 for s in syncs.values())
    train_rows = [r for r in rows if "train/success" in r]  # trainer.is_correction=tis (default)
    for r in train_rows:
        assert 0 <= r["is/logprob_diff_mean"] <= r["is/logprob_diff_max"]
        assert 0 <= r["is/capped_frac"] <= 1 and r["is/weight_mean"] > 0
    assert (run / "summary.json").exists()
    assert any((run / "checkpoints").iterdir())
    assert Path(json.loads((run / "summary.json").read_text())["run_dir"]) == run


@pytest.mark.vllm
@pytest.mark.slow
@needs_vllm
def test_two_step_lora_run_pushes_the_adapter(tmp_path):
    run = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "infopo_cli.cli",
        "train",
        "model=tiny",
        "engine=vllm",
        "engine.dtype=float32",
        "engine.check_logprobs=true",
        "model.lora.r=4",
        "model.lora.sync=adapter",
        "logger=none",
        "trainer.steps=2",
        "trainer.prompts_per_step=2",
        "trainer.group_size=2",
        "trainer.eval_tasks=0",
        "engine.max_new_tokens=16",
        f"hydra.run.dir={run}",
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "LoRA r=4 (pushed as adapter)" in res.stdout
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    pushes = {r["step"]: r for r in rows if "time/weight_sync_s" in r}
    assert sorted(pushes) == [1, 2]
    for r in pushes.values():
        assert r["engine/logprob_diff"] < TOL
        # q, k, v, o of 256 x 256 in 2 layers: 8 x 4 * (256 + 256) float32 numbers
        assert r["engine/adapter_bytes"] == 8 * 4 * 512 * 4


class _FakeLLM:
    """Records the sleep / wake calls an engine makes (no vLLM start needed)."""

    def __init__(self, calls: list):
        self.calls = calls

    def sleep(self, level: int = 1):
        self.calls.append(("sleep", level))

    def wake_up(self, tags=None):
        self.calls.append(("wake_up", tags))


@pytest.mark.parametrize("sync_every,lora_rank,level", [(1, 0, 2), (4, 0, 1), (1, 8, 1)])
def test_sleep_discards_weights_only_when_every_update_pushes(
    monkeypatch, sync_every, lora_rank, level
):
    from infopo_cli.engines.vllm import VLLMEngine

    calls: list = []
    eng = object.__new__(VLLMEngine)  # the sleep bookkeeping alone, without starting vLLM
    eng.cfg = EngineConfig(name="vllm", enable_sleep_mode=True, sync_every=sync_every)
    eng.lora_rank = lora_rank  # adapter pushes never bring the base weights back
    eng.sleep_mode, eng.asleep, eng.llm = True, False, _FakeLLM(calls)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: calls.append(("empty_cache",)))
    eng.release_memory()
    eng.release_memory()  # asleep already: nothing more
    eng._wake()
    assert calls == [("sleep", level), ("empty_cache",), ("wake_up", None)]
    assert not eng.asleep


def test_start_up_check_refuses_a_vllm_without_the_push_api(monkeypatch):
    pytest.importorskip("vllm")
    from vllm.v1.worker.gpu_model_runner import GPUModelRunner

    from infopo_cli.engines.vllm import check_push_api

    check_push_api()  # the installed build has it
    monkeypatch.setattr(GPUModelRunner, "reload_weights", lambda self, weights_path=None: None)
    with pytest.raises(ConfigError, match=r"has no reload_weights\(weights_iterator=.*vllm"):
        check_push_api()
