"""Typed config schemas, one dataclass per Hydra group, and validation before any work.

The YAML files under ``infopo_cli/conf`` give the values; these dataclasses give the types, the
documentation of every field, and the checks. ``task`` and ``simulator`` are instantiated from their
``_target_`` and validated by their constructors (each task has its own knobs).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from infopo_cli.errors import ConfigError

CONF_DIR = Path(__file__).parent / "conf"


LORA_DEFAULT_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj"]
LORA_SYNC_MODES = ("auto", "adapter", "merged")


ATTN_IMPLEMENTATIONS = ("eager", "sdpa", "flash_attention_2")


@dataclass
class LoraConfig:
    r: int = 0
    """LoRA rank; 0 trains the full model. Needs the ``lora`` extra (peft)."""
    alpha: float = 16.0
    """Scale numerator: the adapter's update is multiplied by alpha / r."""
    target_modules: list[str] = field(default_factory=lambda: list(LORA_DEFAULT_TARGETS))
    """Linear layers that get adapters (default: the attention q/k/v/o projections)."""
    dropout: float = 0.0
    """Dropout on the adapter's input during training."""
    sync: str = "auto"
    """How ``engine=vllm`` gets the policy after an update: ``adapter`` (the engine keeps the base
    weights and loads the adapter matrices alone, a few MB, as a LoRA request used by every
    generate), ``merged`` (the full weights with the adapter folded in, reloaded like a full
    fine-tune), or ``auto``: adapter on CUDA when vLLM serves LoRA for the model's architecture at
    this rank, merged otherwise (on CPU vLLM's LoRA kernels slow every generated token more than a
    merged push costs). ``engine=hf`` runs the PEFT model itself and ignores it."""

    def __post_init__(self):
        _check(self.r >= 0, "model.lora.r", self.r, "an integer >= 0 (0: off)")
        _check(self.alpha > 0, "model.lora.alpha", self.alpha, "a number > 0")
        _check(0 <= self.dropout < 1, "model.lora.dropout", self.dropout, "a number in [0, 1)")
        _check(
            self.sync in LORA_SYNC_MODES, "model.lora.sync", self.sync, ", ".join(LORA_SYNC_MODES)
        )
        _check(
            bool(self.target_modules),
            "model.lora.target_modules",
            self.target_modules,
            "a non-empty list of module names, e.g. [q_proj, v_proj]",
        )


@dataclass
class ModelConfig:
    name: str = "starter"
    """Built-in model: ``starter`` (default policy), ``starter-tracking`` (its variant that asks about
    unknown slots more often), ``tiny`` (tests), ``smollm2-135m`` (real LLM on CPU)."""
    path: str | None = None
    """A hub id or local Hugging Face folder; overrides ``name`` when set."""
    dtype: str = "float32"
    """Parameter dtype: float32 | bfloat16 | float16. Training the full model needs float32 (the
    master weights; ``trainer.autocast=bf16`` computes in bf16): in bf16 an AdamW step of lr 1e-5
    is below half a unit in the last place of most weights and rounds away. With LoRA the frozen
    base may be bf16 (the adapters are float32)."""
    max_len: int = 1024
    """Longest conversation in tokens; an episode that would exceed it stops (marked truncated)."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass: less memory, a little more time."""
    device: str = "auto"
    """auto (cuda when available, else cpu) | cpu | cuda | cuda:N. Under torchrun: cuda:LOCAL_RANK."""
    attn_implementation: str | None = None
    """Attention kernel of the policy (transformers' ``attn_implementation``): eager | sdpa |
    flash_attention_2 (needs the flash-attn package and a CUDA GPU); null lets transformers choose
    (sdpa where the model supports it)."""
    lora: LoraConfig = field(default_factory=LoraConfig)
    """LoRA adapters through PEFT (``lora.r`` > 0): only the adapters train."""
    chat_template_kwargs: dict[str, Any] = field(default_factory=dict)
    """Extra arguments of the tokenizer's chat template, e.g. ``{enable_thinking: false}`` for
    Qwen3's non-thinking prompt (its default thinks first, and 48 new tokens end mid-thought)."""
    tool_format: str = "auto"
    """How a task's tools reach the policy: ``text`` (listed in the system prompt, calls written as
    the task's text protocol), ``native`` (JSON schemas rendered by the chat template, calls read
    from ``<tool_call>`` blocks: Qwen2.5, Qwen3) or ``auto`` (native when the template supports it).
    docs/tasks.md, Tools."""

    def __post_init__(self):
        _check(
            self.dtype in ("float32", "bfloat16", "float16"),
            "model.dtype",
            self.dtype,
            "float32, bfloat16, float16",
        )
        _check(self.max_len >= 64, "model.max_len", self.max_len, "an integer >= 64")
        _check(
            self.tool_format in ("auto", "text", "native"),
            "model.tool_format",
            self.tool_format,
            "auto, text, native",
        )
        _check(
            self.attn_implementation in (None, *ATTN_IMPLEMENTATIONS),
            "model.attn_implementation",
            self.attn_implementation,
            "null, " + ", ".join(ATTN_IMPLEMENTATIONS),
        )


@dataclass
class EngineConfig:
    name: str = "hf"
    """Rollout engine: ``hf`` (transformers generate) or ``vllm``."""
    max_new_tokens: int = 48
    """Longest agent message per turn, in tokens."""
    temperature: float = 1.0
    """Sampling temperature of training rollouts (docs/method.md, One step: 1.0). Evaluation uses ``eval.temperature``."""
    top_p: float = 1.0
    batch_size: int = 64
    """Conversations generated together (hf engine)."""
    enable_prefix_caching: bool = True
    """Start each turn from the key/value cache of the conversation's previous turn, so only the
    new feedback runs through the model (both engines; same samples, less compute). hf: caches are
    kept for one call and dropped whenever a weight changes."""
    # vLLM options (engine=vllm); ignored by hf.
    dtype: str = "bfloat16"
    gpu_memory_utilization: float = 0.4
    enforce_eager: bool = True
    tensor_parallel_size: int = 1
    enable_sleep_mode: bool = False
    sync_every: int = 1
    """Push weights to the engine every N updates."""
    check_logprobs: bool = False
    """After a push, compare engine and trainer log-probs on a fixed sequence (``engine/logprob_diff``)."""
    logprob_warn_threshold: float = 0.05

    def __post_init__(self):
        _check(self.name in ("hf", "vllm"), "engine.name", self.name, "hf, vllm")
        _check(
            self.max_new_tokens >= 1,
            "engine.max_new_tokens",
            self.max_new_tokens,
            "an integer >= 1",
        )
        _check(self.temperature >= 0, "engine.temperature", self.temperature, "a number >= 0")
        _check(0 < self.top_p <= 1, "engine.top_p", self.top_p, "a number in (0, 1]")
        _check(self.sync_every >= 1, "engine.sync_every", self.sync_every, "an integer >= 1")


@dataclass
class FusionConfig:
    mode: str = "variance_gated"
    """variance_gated (InfoPO) | fixed (no gate) | ig_only | none (plain GRPO) | rloo (leave-one-out
    baseline) | reward_to_go | equalized (turn-level credit from per-turn rewards). docs/method.md,
    Advantages."""
    beta: float = 0.5
    """beta0, weight of the intrinsic advantage (UserGym 0.5, ColBench 0.3, tau2-bench 0.1)."""
    tau: float = 0.5
    """Gate temperature: gate = sigmoid(-std_g(S) / tau) (UserGym/ColBench 0.5, tau2-bench 0.05)."""
    normalize: bool = True
    """z-score the intrinsic rewards per group (false: raw IG values)."""
    decay: float = 0.0
    """beta = beta0 * exp(-decay * epoch), epoch = prompts seen / train split size."""
    gamma: float = 1.0
    """Turn discount of ``reward_to_go`` and ``equalized``: G_t = sum_{k >= t} gamma^(k - t) r_k
    (their configs use 0.8, UserRL's); the other modes ignore it."""

    def __post_init__(self):
        from infopo_cli.core.advantages import FUSION_MODES

        _check(self.mode in FUSION_MODES, "fusion.mode", self.mode, ", ".join(FUSION_MODES))
        _check(self.beta >= 0, "fusion.beta", self.beta, "a number >= 0")
        _check(self.tau > 0, "fusion.tau", self.tau, "a number > 0")
        _check(self.decay >= 0, "fusion.decay", self.decay, "a number >= 0")
        _check(0 < self.gamma <= 1, "fusion.gamma", self.gamma, "a number in (0, 1]")


@dataclass
class InfogainConfig:
    placeholder: str = "No information found."
    """Text of the masked counterfactual o~_t, forced to the feedback's token length."""
    impl: str = "fast"
    """naive (two passes per scored turn) | fast (reuses the old-log-prob pass; infopo_cli.core.infogain_fast)."""
    token_budget: int = 16384
    """Rows x longest row per forward batch: bounds memory on long trajectories."""
    parsed_only: bool = False
    """Credit IG only to messages in the task's protocol (``Task.parses``); off-protocol turns
    (empty or unreadable messages) get IG 0. False is the paper's formula."""

    def __post_init__(self):
        _check(self.impl in ("naive", "fast"), "infogain.impl", self.impl, "naive, fast")
        _check(
            self.token_budget >= 64, "infogain.token_budget", self.token_budget, "an integer >= 64"
        )
        _check(bool(self.placeholder), "infogain.placeholder", self.placeholder, "a non-empty text")


@dataclass
class TrainerConfig:
    steps: int = 60
    """Policy updates (each on prompts_per_step x group_size trajectories)."""
    prompts_per_step: int = 8
    """B: prompts sampled per step."""
    group_size: int = 8
    """G: rollouts per prompt (the GRPO group). Must be >= 2 unless fusion.mode=ig_only."""
    lr: float = 1e-5
    """AdamW peak learning rate. Reference: 3e-7 (UserGym 7B), 1e-6 (tau2-bench)."""
    lr_schedule: str = "constant"
    """constant | linear: ``linear`` decays the rate from ``lr`` to 0 over ``steps`` (a run then
    ends on a settled policy instead of wherever the last large step left it)."""
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    ppo_epochs: int = 1
    """Passes over the batch; each pass takes ``mini_batches`` optimizer steps."""
    mini_batches: int = 1
    """Optimizer steps per pass over the rollout batch (PPO-style; reference: batch / mini-batch, e.g.
    64 / 16 = 4): the batch is cut, in its fixed order (no shuffle), into this many consecutive
    mini-batches of near-equal size, each a token-mean loss and one AdamW step, with the old
    log-probs those of the rollout policy throughout. Under ddp/fsdp2 the batch is cut by prompt
    (whole groups), each rank playing an equal slice of every mini-batch, so a mini-batch is the
    same at any world size; several ranks need prompts_per_step to be a multiple of
    mini_batches x world size. 1: one step per pass over the whole batch."""
    clip_low: float = 0.2
    clip_high: float = 0.2
    dual_clip: float = 3.0
    entropy_coef: float = 0.001
    kl_coef: float = 0.0
    """KL(pi || pi_ref) penalty (k3) against the initial policy; 0 disables it (the reference)."""
    is_correction: str = "tis"
    """none | tis | mis: correction for the rollout engine's probabilities differing from the
    trainer's (docs/method.md, Sampler mismatch). Per agent token rho = exp(log pi_old -
    log pi_engine); tis multiplies the PPO token loss by min(rho, is_cap), mis by rho where
    rho <= is_cap and 0 elsewhere. Applies to engines with their own copy of the weights (vllm) at
    engine.temperature=1 and engine.top_p=1; elsewhere the weights are 1."""
    is_cap: float = 2.0
    """The cap C of ``is_correction`` (> 0; TIS truncates at it, MIS masks above it)."""
    micro_batch_tokens: int = 16384
    """Gradient accumulation: tokens per micro-batch of the update and its log-prob passes (rows x
    longest row when padded, the sum of row lengths when packed)."""
    packing: bool = False
    """Lay each micro-batch's rows end to end in one sequence (positions restarting at 0 per row,
    attention within a row only) instead of right-padding them to the longest: no compute on
    padding, same losses and gradients. Meant for a varlen kernel (flash_attention_2: attention
    within rows only, through the position ids; not yet timed on a GPU). eager and sdpa take a
    block mask but score the whole sequence densely: on the default clarify batch (5.8% padding)
    the update ran 1.3x slower packed (docs/benchmarks.md). Other kernels run padded, said once at
    start."""
    share_prefix: bool = False
    """Rows that begin alike (the rollouts of one prompt) run their common beginning once in the
    update and its log-prob passes: each group is one row, its prompt then every rollout's own
    tokens, each attending to the prompt and itself (``core/shared_prefix.py``); same losses and
    gradients as padded rows. Needs an attention that takes a block mask (eager, sdpa; others run
    padded). On by default for the starter (``conf/model_tuning/starter.yaml``), whose prompts are
    most of each dialogue; the dense mask's cost on long GPU contexts is not yet measured.
    Not combined with ``packing``."""
    dynamic_sampling_max_rounds: int = 0
    """DAPO-style dynamic sampling (docs/method.md, One step): groups whose outcomes all tie are
    dropped and as many new prompts are sampled and played in their place, for at most this many
    refill rounds; the step keeps ``prompts_per_step`` groups. When the cap is hit, the tied groups
    of the last round stay in the batch. 0: off."""
    autocast: str = "none"
    """none | bf16: bf16 autocast for rollouts, scoring and the update."""
    save_every: int = 0
    """Checkpoint every N steps (0: only at the end)."""
    eval_every: int = 0
    """Evaluate on the held-out split every N steps (0: only at the start and the end)."""
    eval_tasks: int = 100
    """Instances of the evaluation split used by start/end/periodic evaluation (0: skip evaluation)."""
    eval_temperature: float = 1.0
    """Decoding of those evaluations: 1.0 (default) samples as the policy is trained, 0 is greedy;
    above 0 each evaluation samples under the same seed (``seed``), so start and end see the same
    random stream, and training's stream is untouched. ``infopo eval run=`` reuses this value."""
    eval_samples: int = 1
    """Sampled episodes per evaluation task (needs ``eval_temperature`` > 0): ``eval/success`` is their
    mean and ``eval/pass_hat_k`` is pass^k at k = this. Each extra sample shrinks the sampling noise
    of a start-to-end comparison (200 tasks x 1 sample: +-0.065 at 95% on a success near 0.4)."""
    keep_checkpoints: int = 2
    """How many recent checkpoints to keep (older ones are deleted)."""
    strategy: str = "single"
    """single | ddp | fsdp2: trainer ranks under torchrun (docs/scaling.md). ddp/fsdp2 seed rollouts
    per prompt group, so a run gives the same result at any world size."""

    def __post_init__(self):
        _check(
            self.strategy in ("single", "ddp", "fsdp2"),
            "trainer.strategy",
            self.strategy,
            "single, ddp, fsdp2",
        )
        _check(self.steps >= 0, "trainer.steps", self.steps, "an integer >= 0")
        _check(
            self.prompts_per_step >= 1,
            "trainer.prompts_per_step",
            self.prompts_per_step,
            "an integer >= 1",
        )
        _check(self.group_size >= 1, "trainer.group_size", self.group_size, "an integer >= 1")
        _check(self.lr > 0, "trainer.lr", self.lr, "a number > 0")
        _check(
            self.lr_schedule in ("constant", "linear"),
            "trainer.lr_schedule",
            self.lr_schedule,
            "constant, linear",
        )
        _check(self.weight_decay >= 0, "trainer.weight_decay", self.weight_decay, "a number >= 0")
        _check(self.grad_clip > 0, "trainer.grad_clip", self.grad_clip, "a number > 0")
        _check(self.ppo_epochs >= 1, "trainer.ppo_epochs", self.ppo_epochs, "an integer >= 1")
        _check(self.mini_batches >= 1, "trainer.mini_batches", self.mini_batches, "an integer >= 1")
        _check(0 <= self.clip_low < 1, "trainer.clip_low", self.clip_low, "a number in [0, 1)")
        _check(self.clip_high >= 0, "trainer.clip_high", self.clip_high, "a number >= 0")
        _check(self.dual_clip > 1, "trainer.dual_clip", self.dual_clip, "a number > 1")
        _check(self.entropy_coef >= 0, "trainer.entropy_coef", self.entropy_coef, "a number >= 0")
        _check(self.kl_coef >= 0, "trainer.kl_coef", self.kl_coef, "a number >= 0")
        _check(
            self.is_correction in ("none", "tis", "mis"),
            "trainer.is_correction",
            self.is_correction,
            "none, tis, mis",
        )
        _check(self.is_cap > 0, "trainer.is_cap", self.is_cap, "a number > 0")
        _check(self.autocast in ("none", "bf16"), "trainer.autocast", self.autocast, "none, bf16")
        _check(self.save_every >= 0, "trainer.save_every", self.save_every, "an integer >= 0")
        _check(self.eval_every >= 0, "trainer.eval_every", self.eval_every, "an integer >= 0")
        _check(
            self.eval_temperature >= 0,
            "trainer.eval_temperature",
            self.eval_temperature,
            "a number >= 0",
        )
        _check(
            self.dynamic_sampling_max_rounds >= 0,
            "trainer.dynamic_sampling_max_rounds",
            self.dynamic_sampling_max_rounds,
            "an integer >= 0 (0: off)",
        )
        _check(self.eval_samples >= 1, "trainer.eval_samples", self.eval_samples, "an integer >= 1")
        _check(
            self.eval_samples == 1 or self.eval_temperature > 0,
            "trainer.eval_samples",
            self.eval_samples,
            "1 under greedy evaluation (trainer.eval_temperature=0), any integer >= 1 when sampling",
        )
        _check(
            self.micro_batch_tokens >= 64,
            "trainer.micro_batch_tokens",
            self.micro_batch_tokens,
            "an integer >= 64",
        )


@dataclass
class LoggerConfig:
    name: str = "wandb"
    """wandb | none. JSONL metrics and rollouts are always written to the run dir."""
    mode: str = "offline"
    """W&B mode: offline (default; `wandb sync` later) | online | disabled."""
    project: str = "infopo"
    group: str | None = None
    """W&B group; multiruns default to the sweep dir name."""
    log_rollouts: bool = True
    """Write rollouts/step_N.jsonl (every turn's text, reward, IG, advantage)."""
    table_every: int = 10
    """Log the step's turns (text, IG, advantage, gate) as a W&B Table every N steps; 0: never."""

    def __post_init__(self):
        _check(self.name in ("wandb", "none"), "logger.name", self.name, "wandb, none")
        _check(
            self.mode in ("offline", "online", "disabled"),
            "logger.mode",
            self.mode,
            "offline, online, disabled",
        )
        _check(self.table_every >= 0, "logger.table_every", self.table_every, "an integer >= 0")


@dataclass
class EvalConfig:
    num_tasks: int = 0
    """First N instances of the split (0: all)."""
    k: int | None = None
    """Trials per instance; pass^k over them. null: the run's ``trainer.eval_samples`` with
    ``run=`` (when its evaluation sampled), else 1."""
    temperature: float | None = None
    """Sampling temperature; 0 is greedy. null: the run's ``trainer.eval_temperature`` with
    ``run=``, else 1.0 (the same default as ``trainer.eval_temperature``)."""

    def __post_init__(self):
        _check(self.num_tasks >= 0, "eval.num_tasks", self.num_tasks, "an integer >= 0")
        _check(self.k is None or self.k >= 1, "eval.k", self.k, "an integer >= 1, or null")
        _check(
            self.temperature is None or self.temperature >= 0,
            "eval.temperature",
            self.temperature,
            "a number >= 0, or null",
        )


@dataclass
class SimulatorGuardConfig:
    """How much simulator failure a result may absorb. These keys sit in every ``simulator`` group
    (``simulator.max_failure_rate=...``) and are shared by all simulators."""

    max_failure_rate: float = 0.1
    """Largest share of episodes an evaluation or a training step may lose to simulator failures.
    Above it an evaluation exits non-zero ("N of M episodes excluded (simulator failures)") and a
    training step is skipped: the episodes that survive an outage are biased (those that never
    needed the user), so they are not a result."""
    max_failed_steps: int = 3
    """Consecutive training steps over ``max_failure_rate`` (each skipped with a warning) after
    which the run stops with a non-zero exit."""
    max_consecutive_failures: int = 8
    """Circuit breaker: failed requests in a row, across conversations, with one cause (connection
    refused, timeouts, one HTTP status). The same HTTP 4xx this often stops the run; a server that
    stops answering is no longer asked (every later call of the batch fails at once instead of
    paying the retry schedule) and the failure budget decides. 0 turns the breaker off."""
    connect_grace_s: float = 5.0
    """Connection refused before any request ever succeeded stops the run once this many seconds
    have passed since the first attempt (a wrong port, or a server that is not up)."""

    def __post_init__(self):
        _check(
            0 <= self.max_failure_rate <= 1,
            "simulator.max_failure_rate",
            self.max_failure_rate,
            "a number in [0, 1]",
        )
        _check(
            isinstance(self.max_failed_steps, int) and self.max_failed_steps >= 1,
            "simulator.max_failed_steps",
            self.max_failed_steps,
            "an integer >= 1",
        )
        _check(
            isinstance(self.max_consecutive_failures, int) and self.max_consecutive_failures >= 0,
            "simulator.max_consecutive_failures",
            self.max_consecutive_failures,
            "an integer >= 0 (0: off)",
        )
        _check(
            self.connect_grace_s >= 0,
            "simulator.connect_grace_s",
            self.connect_grace_s,
            "a number >= 0",
        )


GUARD_KEYS = tuple(f.name for f in fields(SimulatorGuardConfig))


def simulator_guard(node) -> SimulatorGuardConfig:
    """The guard keys of a ``simulator`` node (missing ones at their defaults), type-checked."""
    values = {k: node[k] for k in GUARD_KEYS if node is not None and k in node}
    for k, v in values.items():
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ConfigError(f"simulator.{k}={v!r} is not valid; accepted: a number")
    return SimulatorGuardConfig(**values)


SCHEMAS = {
    "model": ModelConfig,
    "engine": EngineConfig,
    "fusion": FusionConfig,
    "infogain": InfogainConfig,
    "trainer": TrainerConfig,
    "logger": LoggerConfig,
    "eval": EvalConfig,
}


def _check(ok: bool, key: str, value, accepted: str) -> None:
    if not ok:
        raise ConfigError(f"{key}={value!r} is not valid; accepted: {accepted}")


def typed(cfg: DictConfig, group: str):
    """The group's values as its dataclass, with types and values checked."""
    schema = SCHEMAS[group]
    node = cfg.get(group)
    if node is None:
        return schema()
    known = {f.name for f in fields(schema)}
    unknown = [k for k in node if k not in known]
    if unknown:
        raise ConfigError(unknown_key(f"{group}.{unknown[0]}", known))
    try:
        merged = OmegaConf.merge(OmegaConf.structured(schema), node)
        return OmegaConf.to_object(merged)
    except OmegaConfBaseException as e:
        msg = str(e).splitlines()[0]
        key = getattr(e, "full_key", None)
        raise ConfigError(f"{group}.{key}: {msg}" if key else f"{group}: {msg}") from None


def unknown_key(key: str, known) -> str:
    """``key is not a known key (did you mean <closest>?); accepted: ...``, one line."""
    import difflib

    known = sorted(known)
    prefix, _, last = key.rpartition(".")
    close = difflib.get_close_matches(last, known, n=1)
    hint = f" (did you mean {prefix + '.' if prefix else ''}{close[0]}?)" if close else ""
    return f"{key} is not a known key{hint}; accepted: {', '.join(known)}"


def group_options(group: str, searchpath: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The options of a config group: the package's, and those of the search-path folders
    (``--config-dir``, ``hydra.searchpath``: ``file://``, ``pkg://`` or plain paths)."""
    dirs = [CONF_DIR]
    for entry in searchpath:
        scheme, sep, rest = entry.partition("://")
        if not sep:
            dirs.append(Path(entry))
        elif scheme == "file":
            dirs.append(Path(rest))
        elif scheme == "pkg":
            try:
                from importlib.resources import files

                dirs.append(Path(str(files(rest.replace("/", ".")))))
            except Exception:  # an unknown package: Hydra's composition names it
                continue
    # options in subfolders are named by their path (``experiment=paper/usergym``)
    return sorted(
        {
            p.relative_to(d / group).with_suffix("").as_posix()
            for d in dirs
            for p in (d / group).rglob("*.yaml")
        }
    )


def validate(cfg: DictConfig) -> dict:
    """Every typed group of ``cfg`` as dataclasses; raises ConfigError with one line on the first problem."""
    out = {g: typed(cfg, g) for g in SCHEMAS if g in cfg}
    trainer, fusion = out.get("trainer"), out.get("fusion")
    if trainer and fusion and trainer.group_size < 2 and fusion.mode != "ig_only":
        raise ConfigError(
            f"trainer.group_size={trainer.group_size} gives GRPO nothing to compare; accepted: >= 2 "
            f"(or fusion=ig_only)"
        )
    if trainer and trainer.strategy != "single":
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if trainer.prompts_per_step % world:
            raise ConfigError(
                f"trainer.prompts_per_step={trainer.prompts_per_step} cannot be split over "
                f"{world} ranks; accepted: a multiple of the world size ({world})"
            )
        # every rank plays an equal slice of every mini-batch (runtime.distributed.shard)
        if world > 1 and trainer.prompts_per_step % (world * trainer.mini_batches):
            raise ConfigError(
                f"trainer.prompts_per_step={trainer.prompts_per_step} cannot be split into "
                f"trainer.mini_batches={trainer.mini_batches} over {world} ranks; accepted: a "
                f"multiple of mini_batches x world size ({trainer.mini_batches * world})"
            )
        engine, model = out.get("engine"), out.get("model")
        if (
            engine
            and engine.name == "vllm"
            and trainer.strategy == "fsdp2"
            and model
            and model.lora.r
        ):
            raise ConfigError(
                "engine=vllm with trainer.strategy=fsdp2 and model.lora.r>0 is not supported (the "
                "push reads whole adapter and base tensors); accepted: trainer.strategy=ddp (a LoRA "
                "policy's trainable part is small enough to keep whole on every rank), or engine=hf"
            )
        if engine and engine.name == "vllm" and engine.tensor_parallel_size != 1:
            raise ConfigError(
                f"engine.tensor_parallel_size={engine.tensor_parallel_size} with "
                f"trainer.strategy={trainer.strategy} is not supported (every rank runs its own "
                "engine replica); accepted: 1, or trainer.strategy=single for a tensor-parallel "
                "engine"
            )
    if cfg.get("simulator") is not None:
        simulator_guard(cfg.simulator)
    _check_master_weights(out.get("model"), trainer)
    for key in ("seed",):
        if key in cfg and not isinstance(cfg[key], int):
            raise ConfigError(f"{key}={cfg[key]!r} is not valid; accepted: an integer")
    return out


def _check_master_weights(model: ModelConfig | None, trainer: TrainerConfig | None) -> None:
    """Full fine-tuning (train, sft) of half-precision parameters: refused, because it silently
    does not learn (AdamW keeps bf16 weights; most lr-1e-5 updates round to zero)."""
    if model and trainer and model.lora.r == 0 and model.dtype != "float32":
        raise ConfigError(
            f"model.dtype={model.dtype} with full fine-tuning (model.lora.r=0) does not learn (its "
            "updates round away in half precision); accepted: model.dtype=float32 (fp32 master "
            "weights, with trainer.autocast=bf16 for bf16 compute), or model.lora.r>0"
        )


def field_docs(schema) -> dict[str, str]:
    """Docstrings of the dataclass fields (the string literal after each field), for --help."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(schema))
    docs, body = {}, tree.body[0].body
    for a, b in zip(body, body[1:]):
        if (
            isinstance(a, ast.AnnAssign)
            and isinstance(b, ast.Expr)
            and isinstance(b.value, ast.Constant)
        ):
            docs[a.target.id] = str(b.value.value)
    return docs
