"""Several trainer processes (``trainer.strategy=ddp|fsdp2`` under ``torchrun``): the process group,
model wrapping, the few collectives a step needs, and rank-0-only output.

Why it is shaped this way:

- Rollouts, old log-probs and information-gain scoring run on the *unwrapped* module (DDP) or with
  the FSDP2 parameters gathered once for the whole phase (``gathered``), so those forward passes
  issue no collectives and ranks may make different numbers of them (their trajectories differ in
  length and turn count). The only collectives of a step are, per mini-batch, the global agent-token
  count and the micro-batch count (max over ranks); gradient synchronisation in the update, and the gathering of
  metrics, rollout records and evaluation results.
- Each rank's loss is ``sum over its agent tokens / global agent-token count``. DDP and FSDP2 average
  gradients over ranks, so every micro-batch loss is multiplied by the world size: the synchronised
  gradient is then exactly the gradient of the token-mean over the global batch.
- Rollout groups are generated one group at a time under a torch RNG seeded from
  ``(seed, step, global prompt index)`` (``group_seed``), so the trajectories do not depend on which
  rank plays a group nor on what else is generated alongside: a 2-rank run and a 1-rank run sample
  the same trajectories.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from infopo_cli.errors import ConfigError

STRATEGIES = ("single", "ddp", "fsdp2")


@dataclass(frozen=True)
class World:
    """This process's place among the trainer ranks (a world of 1 for ``single``)."""

    strategy: str = "single"
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True when a process group is up (several ranks, or ``torchrun --nproc_per_node=1``)."""
        return dist.is_available() and dist.is_initialized()

    @property
    def group_seeded(self) -> bool:
        """Rollouts are seeded per group whenever a parallel strategy was asked for, so that a run
        reproduces across world sizes (including the world-of-1 fallback)."""
        return self.strategy != "single"

    # ---- collectives (identity in a world of 1) ---------------------------------------------------
    def sum(self, value: float) -> float:
        if not self.distributed:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=self.comm_device)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return float(t.item())

    def max(self, value: int) -> int:
        if not self.distributed:
            return value
        t = torch.tensor([value], dtype=torch.int64, device=self.comm_device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return int(t.item())

    def gather(self, obj) -> list:
        """``obj`` of every rank, in rank order (on every rank)."""
        if not self.distributed:
            return [obj]
        out: list = [None] * self.size
        dist.all_gather_object(out, obj)
        return out

    def broadcast(self, obj):
        """Rank 0's ``obj`` on every rank."""
        if not self.distributed:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    @property
    def comm_device(self) -> torch.device:
        if self.distributed and dist.get_backend() == "nccl":
            return torch.device("cuda", self.local_rank)
        return torch.device("cpu")


def init_world(strategy: str, device: str, note=print) -> World:
    """Join the ``torchrun`` process group for ``ddp``/``fsdp2`` (gloo on CPU, NCCL on CUDA).

    Without torchrun's environment (``WORLD_SIZE`` unset) a parallel strategy runs as a world of 1:
    no process group, no wrapping, but the same per-group rollout seeding, so its result equals a
    multi-rank run's. ``note`` reports that fallback.
    """
    if strategy not in STRATEGIES:
        raise ConfigError(
            f"trainer.strategy={strategy!r} is not valid; accepted: {', '.join(STRATEGIES)}"
        )
    if strategy == "single":
        return World()
    _export_slurm_env()
    if "WORLD_SIZE" not in os.environ:
        note(
            f"trainer.strategy={strategy} without torchrun (WORLD_SIZE unset): running as a world of "
            "1 with per-group rollout seeding; launch with `torchrun --nproc_per_node=N -m "
            "infopo_cli.cli train ...` for several ranks"
        )
        return World(strategy=strategy)
    rank, size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    use_cuda = device != "cpu" and torch.cuda.is_available()
    if not dist.is_initialized():
        if use_cuda:
            torch.cuda.set_device(local_rank)
        dist.init_process_group(
            backend="nccl" if use_cuda else "gloo", timeout=timedelta(minutes=60)
        )
    return World(strategy=strategy, rank=rank, size=size, local_rank=local_rank)


def _export_slurm_env() -> None:
    """A SLURM job from Hydra's submitit launcher with several tasks (``tasks_per_node`` > 1) has no
    torchrun: derive MASTER_ADDR/PORT, RANK, WORLD_SIZE and LOCAL_RANK from SLURM through submitit,
    so each task is one rank. Every task keeps all the node's GPUs visible (cuda:LOCAL_RANK)."""
    if "WORLD_SIZE" in os.environ or not _submitit_tasks():
        return
    from submitit.helpers import TorchDistributedEnvironment

    # overwrite: a MASTER_PORT (or MASTER_ADDR, RANK) exported in the job's environment, as batch
    # scripts for torchrun often do, would otherwise make export() refuse; the port is still taken
    # from MASTER_PORT when set, and the rest belongs to this job's SLURM allocation.
    TorchDistributedEnvironment().export(set_cuda_visible_devices=False, overwrite=True)


def launch_rank() -> int:
    """This process's global rank as its launcher tells it, before any process group exists:
    torchrun's ``RANK``, or ``SLURM_PROCID`` for a task of a multi-task submitit job (which gets
    ``RANK`` only in ``init_world``); 0 for a plain process. On several nodes ``LOCAL_RANK`` is 0
    once per node, so it cannot say which process owns the shared run dir: this does."""
    if "WORLD_SIZE" in os.environ:  # as init_world reads it: RANK alone is no launcher's
        return int(os.environ.get("RANK", "0"))
    if _submitit_tasks():
        return int(os.environ.get("SLURM_PROCID", "0"))
    return 0


def _submitit_tasks() -> bool:
    """A SLURM job of several tasks started by submitit (each task one rank, no torchrun)."""
    return (
        os.environ.get("SUBMITIT_EXECUTOR") == "slurm"
        and int(os.environ.get("SLURM_NTASKS", "1")) > 1
    )


def shutdown(world: World, finished: bool = True, last: Callable[[], None] | None = None) -> None:
    """Tear the process group down. After a finished run every rank waits for the others first:
    a rank that destroys its gloo group while another still sends on it can abort at exit
    ("terminate called without an active exception"). After an error there is no barrier, since
    the failed rank would never reach it. ``last`` runs after the barrier: a colocated vLLM engine's
    close, which destroys the group itself."""
    if world.distributed and finished:
        dist.barrier()
    if last is not None:
        last()
    if world.distributed:  # still up unless ``last`` took it down
        dist.destroy_process_group()


def rank_device(world: World, device: str) -> str:
    """Each rank on its own GPU (``cuda:LOCAL_RANK``) under torchrun; anything else unchanged."""
    if world.size > 1 and device in ("auto", "cuda") and torch.cuda.is_available():
        return f"cuda:{world.local_rank}"
    return device


def shard(items: list, world: World, parts: int = 1) -> tuple[list[int], list]:
    """(global indices, items) of this rank's share of ``items`` (the step's prompts): the list is
    cut into ``parts`` consecutive runs (the mini-batches, ``trainer.mini_batches``), and the rank
    takes its contiguous slice of every run. So mini-batch i is the same set of prompts at any world
    size, every rank holds whole groups of it and as many of them as the others (``validate``
    requires ``world size x parts`` to divide the prompts under several ranks). ``parts=1``: one
    contiguous slice of the whole list."""
    n, r, w = len(items), world.rank, world.size
    indices = []
    for i in range(parts):
        lo, hi = n * i // parts, n * (i + 1) // parts
        indices += range(lo + (hi - lo) * r // w, lo + (hi - lo) * (r + 1) // w)
    return indices, [items[k] for k in indices]


def group_seed(seed: int, step: int, index: int) -> int:
    """A 63-bit seed for prompt ``index`` (global, within the step) of ``step``: the same on any rank."""
    digest = hashlib.sha256(f"infopo-rollout:{seed}:{step}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run the block under a torch RNG (CPU and every CUDA device) seeded with ``seed``, then give
    the caller's RNG state back untouched."""
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


# ---- model wrapping ---------------------------------------------------------------------------


def wrap(model, world: World):
    """The module the update runs through: DDP, FSDP2 (``fully_shard`` per decoder layer, then the
    root) or the model itself in a world of 1.

    FSDP2 gathers the float32 shards as they are and the update runs under the same bf16 autocast as
    DDP's (``trainer.autocast=bf16``), so both strategies compute the same update. A bf16
    ``MixedPrecisionPolicy`` would halve the gathered copy but moved a LoRA update by 1.4% against
    DDP's (tests/test_distributed.py), so it is not used."""
    if not world.distributed:
        return model
    if world.strategy == "ddp":
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [world.local_rank] if world.comm_device.type == "cuda" else None
        # No buffers to keep in step (no batch norm); broadcasting them would add a collective to
        # every forward pass.
        return DDP(model, device_ids=ids, broadcast_buffers=False)
    from torch.distributed.fsdp import fully_shard

    for layer in decoder_layers(model):
        fully_shard(layer)
    # The root is the HF causal LM itself, also under PEFT: generation calls its forward directly,
    # and the root must be the first FSDP module any forward enters.
    root = model.get_base_model() if hasattr(model, "get_base_model") else model
    fully_shard(root)
    # FSDP2 sets its modules up on the first forward, taking the module it enters as the root.
    # Enter through the root once now: with a vLLM engine, the first forward of a run can be the
    # scorer's, which may call the decoder without the head.
    with torch.no_grad():
        device = next(root.parameters()).device
        root(input_ids=torch.zeros((1, 1), dtype=torch.long, device=device), use_cache=False)
    root.reshard()  # the root stays unsharded after a forward; the optimizer must see the shards
    return model


def decoder_layers(model) -> list[torch.nn.Module]:
    """The transformer blocks (the ``ModuleList`` named ``layers`` or ``h``) of an HF causal LM,
    plain or inside a PEFT wrapper."""
    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.ModuleList) and name.split(".")[-1] in ("layers", "h"):
            return list(mod)
    raise ConfigError(
        "trainer.strategy=fsdp2 found no decoder layer list (model.layers or transformer.h); "
        "accepted: a Llama/Qwen/GPT-style causal LM, or trainer.strategy=ddp"
    )


def unwrap(model):
    """The plain (or PEFT) model under a DDP wrapper; an FSDP2 model is its own module."""
    return model.module if hasattr(model, "module") and hasattr(model, "no_sync") else model


def fsdp_root(model):
    """The outermost FSDP2 module in ``model`` (the model itself, or the LM inside a PEFT model)."""
    from torch.distributed.fsdp import FSDPModule

    return next((m for m in model.modules() if isinstance(m, FSDPModule)), None)


def is_fsdp(model) -> bool:
    return fsdp_root(model) is not None


@contextlib.contextmanager
def gathered(model) -> Iterator[None]:
    """FSDP2: all-gather every shard once and keep the full parameters for the whole block, so the
    forward passes inside (generation, scoring) issue no collectives; reshard afterwards. A no-op
    for anything else. Every rank must enter and leave it together."""
    if not is_fsdp(model):
        yield
        return
    from torch.distributed.fsdp import FSDPModule

    mods = [m for m in model.modules() if isinstance(m, FSDPModule)]
    for m in mods:
        m.set_reshard_after_forward(False, recurse=False)
        m.unshard()
    try:
        yield
    finally:
        for m in mods:
            m.reshard()
            m.set_reshard_after_forward(True, recurse=False)


@contextlib.contextmanager
def grad_sync(model, sync: bool) -> Iterator[None]:
    """Skip the gradient all-reduce / reduce-scatter on all but the last micro-batch."""
    if hasattr(model, "no_sync") and not sync:
        with model.no_sync():
            yield
        return
    root = fsdp_root(model)
    if root is not None:
        root.set_requires_gradient_sync(sync)
    yield


# ---- checkpoint state --------------------------------------------------------------------------


def full_model_state(model) -> dict[str, torch.Tensor] | None:
    """FSDP2: the full, unsharded state dict on CPU (rank 0; other ranks get an empty dict). Every
    rank must call it. None for other strategies (the plain model saves itself)."""
    if not is_fsdp(model):
        return None
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    full = get_model_state_dict(
        model, options=StateDictOptions(full_state_dict=True, cpu_offload=True)
    )
    # A tied weight (the output head sharing the input embedding) is written once, as the plain
    # model's save_pretrained does.
    unique = {n for n, _ in model.named_parameters()}
    tied = {n for n, _ in model.named_parameters(remove_duplicate=False)} - unique
    return {k: v for k, v in full.items() if k not in tied}


def trainable_names(model) -> list[str]:
    """Names of the parameters the optimizer holds, in its order."""
    return [n for n, p in unwrap(model).named_parameters() if p.requires_grad]


def optimizer_state(model, optimizer) -> dict:
    """The optimizer state in ``torch.optim``'s own index-keyed form, full and unsharded, so a run
    of any strategy and world size can load it. Every rank must call it under FSDP2."""
    if not is_fsdp(model):
        return optimizer.state_dict()
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

    full = get_optimizer_state_dict(
        model, optimizer, options=StateDictOptions(full_state_dict=True, cpu_offload=True)
    )
    index = {n: i for i, n in enumerate(trainable_names(model))}
    return {
        "state": {index[n]: s for n, s in full.get("state", {}).items()},
        "param_groups": [
            {**g, "params": [index[n] for n in g["params"]]} for g in full.get("param_groups", [])
        ],
    }


def load_optimizer_state(model, optimizer, state: dict) -> None:
    """Load an index-keyed full optimizer state (as ``optimizer_state`` writes) into any strategy."""
    if not is_fsdp(model):
        optimizer.load_state_dict(state)
        return
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

    names = trainable_names(model)
    by_name = {
        "state": {names[i]: s for i, s in state["state"].items()},
        "param_groups": [
            {**g, "params": [names[i] for i in g["params"]]} for g in state["param_groups"]
        ],
    }
    set_optimizer_state_dict(
        model, optimizer, by_name, options=StateDictOptions(full_state_dict=True)
    )


# ---- metrics -------------------------------------------------------------------------------------

# Already divided by the global token count (or counts): the global value is the sum over ranks.
SUMMED = ("loss/", "simulator/", "rollout/action_tokens", "infogain/scored_turns")


def reduce_metrics(per_rank: list[tuple[dict, int]]) -> dict[str, float]:
    """One metrics row from every rank's (metrics, kept trajectories): sums for counts and for
    losses already scaled by the global token count, the maximum for timings, memory and maxima, the mean weighted by
    kept trajectories for per-trajectory rates and the sampler mismatch, the plain mean for the rest (fusion statistics are
    means over groups, and every rank holds the same number of groups)."""
    if len(per_rank) == 1:
        return dict(per_rank[0][0])
    keys = list(dict.fromkeys(k for m, _ in per_rank for k in m))
    total_kept = sum(n for _, n in per_rank)
    out: dict[str, float] = {}
    for k in keys:
        vals = [(m[k], n) for m, n in per_rank if k in m]
        if k.startswith(SUMMED):
            out[k] = sum(v for v, _ in vals)
        elif k.startswith(("time/", "memory/")) or k in (
            "train/grad_norm",
            "is/logprob_diff_max",
            "engine/logprob_diff",  # the largest gap of any rank's engine
        ):
            out[k] = max(v for v, _ in vals)
        elif k.startswith(("train/", "rollout/", "is/")) and total_kept:
            out[k] = sum(v * n for v, n in vals) / total_kept
        else:
            out[k] = sum(v for v, _ in vals) / len(vals)
    return out


class QuietLogger:
    """The logger of ranks other than 0: the same methods as ``RunLogger``, writing nothing."""

    def print(self, *args, **kw) -> None:
        pass

    def log(self, step: int, metrics: dict, advance: bool = True) -> None:
        pass

    def rollouts(self, step: int, records: list[dict]) -> None:
        pass

    def summary(self, evals: dict[str, dict]) -> None:
        pass

    def close(self) -> None:
        pass
