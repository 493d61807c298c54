"""The RL recipe (``infopo train``): setup, the step loop, evaluate, save.

One step (docs/method.md), as ``TrainRecipe.step`` reads:
  1. sample B prompts
  2. roll out G trajectories each against the task and the simulated user (outcome scores S_i)
  3. old log-probs of the batch and the masked-counterfactual information gain IG_t
  4. token-level advantages by fusion
  5. PPO-clip update on agent tokens
  6. push the new weights to the rollout engine

Under ``trainer.strategy=ddp|fsdp2`` (torchrun) every rank draws the same prompts and plays its own
contiguous slice of them, each prompt group whole and seeded from (seed, step, global prompt index);
the loss, metrics, rollout records, evaluation and checkpoints are global (runtime/distributed.py).
"""

from __future__ import annotations

import copy
import json
import random
import re
import time
from collections import Counter
from contextlib import nullcontext
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from infopo_cli.config import validate
from infopo_cli.core.advantages import (
    INFOGAIN_MODES,
    decayed_beta,
    fuse_advantages_with_stats,
    tied_groups,
)
from infopo_cli.core.evaluation import (
    aggregate,
    cannot_play,
    run_eval,
    summary_line,
    truncation_line,
    unparsed_share,
)
from infopo_cli.core.infogain import parsed_only
from infopo_cli.core.rollout import rollout
from infopo_cli.core.scoring import score
from infopo_cli.core.trajectory import Batch
from infopo_cli.core.update import PolicyTrainer, mini_batch_of
from infopo_cli.errors import ConfigError
from infopo_cli.recipes.setup import (
    build_engine,
    build_simulator,
    build_task,
    load_policy,
    push_policy,
    resume_point,
    seed_everything,
)
from infopo_cli.runtime import checkpoint, lora
from infopo_cli.runtime.distributed import (
    QuietLogger,
    World,
    full_model_state,
    gathered,
    group_seed,
    init_world,
    rank_device,
    reduce_metrics,
    seeded,
    shard,
    shutdown,
    wrap,
)
from infopo_cli.runtime.logging import RunLogger, read_jsonl
from infopo_cli.runtime.plots import plot_training
from infopo_cli.runtime.preemption import preemptible
from infopo_cli.runtime.sweep import sweep_group
from infopo_cli.runtime.view import write_run_view
from infopo_cli.simulators.base import FatalSimulatorError, budget_message, over_budget
from infopo_cli.zoo.task_starter import starter_task


def train_main(cfg: DictConfig, run_dir: Path) -> dict:
    typed = validate(cfg)
    world = init_world(typed["trainer"].strategy, typed["model"].device)
    finished, recipe = False, None
    try:
        if world.size > 1:  # the world size is known now (a SLURM task has no torchrun env before)
            validate(cfg)
        recipe = TrainRecipe(cfg, run_dir, typed, world)
        out = recipe.run()
        finished = True
        return out
    finally:
        # a colocated vLLM engine destroys the shared process group when it shuts down: last
        engine = getattr(recipe, "engine", None)
        shared = engine if engine is not None and engine.shares_process_group else None
        shutdown(world, finished, last=shared.close if shared else None)


class TrainRecipe:
    """Setup in ``__init__``; ``run`` evaluates, steps, saves; ``step`` is one InfoPO step."""

    def __init__(self, cfg: DictConfig, run_dir: Path, typed: dict, world: World):
        self.cfg, self.world = cfg, world
        self.said_truncated = False
        self.mcfg, self.ecfg, self.fcfg, self.icfg, self.tcfg, self.lcfg = (
            typed[k] for k in ("model", "engine", "fusion", "infogain", "trainer", "logger")
        )
        # ranks may have stamped other times: rank 0's run dir is everyone's
        own, run_dir = run_dir, Path(world.broadcast(str(run_dir)))
        if own != run_dir:
            drop_if_empty(own)
        self.run_dir, ckpt = resume_point(cfg.get("resume"), run_dir)
        seed_everything(cfg.seed)
        self.task = build_task(cfg)
        # Each rank keeps its own simulator reply cache (no two writers on one file).
        self.simulator = build_simulator(
            cfg, self.run_dir if world.is_main else self.run_dir / "ranks" / f"rank_{world.rank}"
        )
        self._setup_policy(ckpt)
        self.placeholder_ids = self.chat.encode(self.icfg.placeholder)
        self.sampler = random.Random(cfg.seed)
        self.start = 0
        note = self._restore(ckpt) if ckpt is not None else None
        self.logger = self._setup_logger()
        if note:
            self.logger.print(note)
        self._print_header()
        self.n_train = len(self.task.instances(self.task.train_split))
        n_eval = self.tcfg.eval_tasks
        self.eval_instances = self.task.instances(self.task.split)[:n_eval] if n_eval else []
        self.evals: dict[str, dict] = {}
        self.failed_steps = 0  # consecutive steps over simulator.max_failure_rate
        self.warned_is = False  # the sampler-mismatch correction was skipped (said once)

    # ---- setup -------------------------------------------------------------------------------
    def _setup_policy(self, ckpt: Path | None) -> None:
        """Policy (LoRA-wrapped when asked), frozen reference, DDP/FSDP2 wrapper, trainer, engine."""
        mcfg, tcfg, world = self.mcfg, self.tcfg, self.world
        model, self.tok, self.chat, self.model_path = load_policy(
            mcfg,
            str(ckpt) if ckpt else None,
            device=rank_device(world, mcfg.device),
            task=self.cfg.task,
        )
        if mcfg.lora.r > 0 and not lora.is_peft(model):
            if mcfg.gradient_checkpointing:  # checkpointed blocks need an input that requires grad
                model.enable_input_require_grads()
            model = lora.add_adapters(model, mcfg.lora)
        ref = copy.deepcopy(model).eval().requires_grad_(False) if tcfg.kl_coef > 0 else None
        self.model = model  # the plain module; `policy` is what the update runs through
        self.policy = wrap(model, world)  # DDP wrapper or FSDP2
        self.trainer = PolicyTrainer(self.policy, tcfg, ref, world)
        self.engine = build_engine(
            self.ecfg,
            model,
            self.tok,
            self.chat,
            self.model_path,
            tcfg,
            max_len=mcfg.max_len,
            seed=self.cfg.seed,
            world=world,
            lora_sync=mcfg.lora.sync,
        )

    def _restore(self, ckpt: Path) -> str:
        meta, state = checkpoint.load_checkpoint(ckpt)
        if meta.get("seed") != self.cfg.seed:
            raise ConfigError(
                f"resume: checkpoint was trained with seed={meta.get('seed')}, "
                f"this run has seed={self.cfg.seed}"
            )
        self.trainer.load_state_dict(state)
        checkpoint.set_rng_state(state["rng"])
        self.sampler.setstate(state["sampler"])
        self.start = meta["step"]
        return (
            f"resumed from {ckpt}: step {self.start}, model weights, optimizer, RNG states and "
            "data position restored"
        )

    def _setup_logger(self):
        if not self.world.is_main:  # metrics, rollouts, W&B and progress come from rank 0 only
            return QuietLogger()
        (self.run_dir / "config.yaml").write_text(OmegaConf.to_yaml(self.cfg, resolve=True))
        if self.lcfg.group is None:  # W&B runs of one sweep share a group
            self.lcfg.group = sweep_group()
        config = OmegaConf.to_container(self.cfg, resolve=True)
        return RunLogger(self.run_dir, config, self.lcfg, self.tcfg.steps, self.start)

    def _print_header(self) -> None:
        tcfg = self.tcfg
        self.logger.print(
            f"run dir {self.run_dir} | task {self.task.name} | model {self.model_path} "
            f"| engine {self.ecfg.name} | fusion {self.fcfg.mode}"
            + (
                f" | dynamic sampling <= {tcfg.dynamic_sampling_max_rounds} rounds"
                if tcfg.dynamic_sampling_max_rounds
                else ""
            )
            + (f" | {tcfg.strategy} x {self.world.size} ranks" if tcfg.strategy != "single" else "")
            + (
                f" | LoRA r={self.mcfg.lora.r}{self._lora_push()}"
                if lora.is_peft(self.model)
                else ""
            )
        )
        if tcfg.packing and not self.trainer.packing:
            attn = getattr(self.model.config, "_attn_implementation", None)
            self.logger.print(
                f"trainer.packing: {attn} attention runs no packed rows; updates run right-padded"
            )

    def _lora_push(self) -> str:
        """How the engine gets the adapter (vLLM only: the HF engine runs the PEFT model)."""
        if self.ecfg.name != "vllm":
            return ""
        return (
            " (pushed as adapter)" if getattr(self.engine, "lora_rank", 0) else " (pushed merged)"
        )

    # ---- the loop ----------------------------------------------------------------------------
    def run(self) -> dict:
        """Evaluate, train ``trainer.steps`` steps (evaluating and saving on schedule), save,
        evaluate. SIGTERM / SIGUSR1 stop the run after the step in progress, saved."""
        with preemptible() as stop:
            try:
                if self.start == 0:
                    self.evaluate(0, "start")
                for step in range(self.start + 1, self.tcfg.steps + 1):
                    self.step(step)
                    if step < self.tcfg.steps and self.world.max(int(stop.requested)):
                        return self._preempted(step, stop.signal_name)  # every rank stops
                    self._on_schedule(step)
                if self.tcfg.steps > self.start:
                    self.save(self.tcfg.steps)
                self.evaluate(self.tcfg.steps, "end")
            finally:
                self.logger.close()
                self.simulator.close()
                if not self.engine.shares_process_group:
                    self.engine.close()  # a colocated engine is closed with the process group
        return self._finish()

    def _on_schedule(self, step: int) -> None:
        """The periodic evaluation and checkpoint (the last step's come after the loop)."""
        tcfg = self.tcfg
        if step == tcfg.steps:
            return
        if tcfg.eval_every and step % tcfg.eval_every == 0:
            self.evaluate(step, f"step {step}")
        if tcfg.save_every and step % tcfg.save_every == 0:
            self.save(step)

    def step(self, step: int) -> None:
        """One InfoPO step: the six lines of the method, then the step's metrics and records."""
        t_step = time.time()
        instances = self.task.sample(
            self.task.train_split, self.tcfg.prompts_per_step, self.sampler
        )
        kept, groups, metrics = self.roll_out(step, instances)
        t_rollout = metrics.pop("time/rollout_s")
        if not self._within_budget(step, kept, metrics, t_step):
            return
        if not self._has_work(step, kept, metrics, t_step):
            return
        tensors = kept.tensors(pad_id=self.tok.pad_token_id)
        if not self._sampler_comparable():  # the update then weighs every token 1
            del tensors["sampler_logprobs"], tensors["sampler_mask"]
        scores = self.score(kept, tensors)
        adv, fstats = self.advantages(step, tensors, groups, kept)
        t0 = time.time()
        metrics.update(
            self.trainer.update(tensors, adv, scores.old_logprobs, step, self._mini_batches(groups))
        )
        t_update = time.time() - t0
        metrics.update(self.push_weights(step))
        timings = {
            **fstats,
            "time/rollout_s": t_rollout,
            "time/old_logprob_s": scores.oldlp_s,  # 0 when the fast scorer produced them
            "time/infogain_s": scores.infogain_s,
            "time/update_s": t_update,
        }
        if torch.cuda.is_available():  # trainer and an in-process engine share the allocator
            timings["memory/peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
        self._log_step(step, metrics, kept, tensors, t_step, timings, adv, groups)

    def _mini_batches(self, groups: list) -> list[int] | None:
        """Each row's mini-batch under ``ddp``/``fsdp2``, from its global prompt index (its group
        key): the same whole groups at any world size. ``single`` cuts its rows in order."""
        if not self.world.group_seeded:
            return None
        return mini_batch_of(groups, self.tcfg.prompts_per_step, self.tcfg.mini_batches)

    def _sampler_comparable(self) -> bool:
        """Whether the engine's log-probs can be set against the trainer's old log-probs
        (``trainer.is_correction``, docs/method.md, Sampler mismatch). The engine reports
        log pi_sampler(a_t) of the distribution it sampled from (vLLM: processed log-probs, after
        temperature and top-p); the trainer's old log-probs are at temperature 1 over the whole
        vocabulary. They measure the same thing only at engine.temperature=1 and engine.top_p=1;
        otherwise the correction is skipped, with one warning. An engine that runs the trainer's
        own model (hf: ``separate_weights`` False) has nothing to correct."""
        ecfg = self.ecfg
        if not self.engine.separate_weights:
            return False
        if ecfg.temperature == 1.0 and ecfg.top_p == 1.0:
            return True
        if not self.warned_is and self.tcfg.is_correction != "none":
            self.logger.print(
                f"warning: trainer.is_correction={self.tcfg.is_correction} is skipped: the engine "
                f"samples at engine.temperature={ecfg.temperature}, engine.top_p={ecfg.top_p}, so "
                "its log-probs are not the trainer's (temperature 1, top_p 1); weights are 1"
            )
            self.warned_is = True
        return False

    def roll_out(self, step: int, instances: list) -> tuple[Batch, list, dict]:
        """This rank's trajectories that reached the loss, their group keys, and rollout metrics.

        Trajectories whose simulator calls failed are excluded here: they never reach the loss.
        With ``trainer.dynamic_sampling_max_rounds`` > 0, groups whose outcomes tie are replaced
        (``_refill_tied``).
        """
        t0 = time.time()
        # the hf engine samples from the policy itself (FSDP2: gathered for the phase); a vLLM
        # engine has its own weights and needs nothing gathered
        gather = gathered(self.policy) if not self.engine.separate_weights else nullcontext()
        with gather:
            kept, groups, draws, played = self._round(step, instances, 0)
            extra = {}
            if self.tcfg.dynamic_sampling_max_rounds:
                kept, groups, n_played, extra = self._refill_tied(
                    step, len(instances), kept, groups, draws
                )
                played += n_played
        t_rollout = time.time() - t0
        self.engine.release_memory()  # a GPU-sharing engine sleeps while the trainer works
        metrics = {
            **self.simulator.pop_stats(),
            "simulator/excluded": played - len(kept) - extra.pop("dropped_episodes", 0),
            "simulator/episodes": played,
            **extra,
            "time/rollout_s": t_rollout,
        }
        return kept, groups, metrics

    def _round(self, step: int, instances: list, base: int) -> tuple[Batch, list, dict, int]:
        """Play ``instances`` (prompts ``base``, ``base + 1``, ... of the step): the trajectories
        that reached the loss, their group keys, the prompt draws each key holds, and how many
        episodes were played."""
        batch, groups = self._play(step, instances, base)
        kept = batch.kept()
        groups = [g for g, t in zip(groups, batch.trajectories) if not t.failed]
        if self.world.group_seeded:  # one key per prompt index
            draws = dict.fromkeys(groups, 1)
        else:  # one key per task id: a prompt drawn twice in a round is one group
            ids = Counter(inst.id for inst in instances)
            draws = {g: ids[g if base == 0 else g[1]] for g in groups}
        return kept, groups, draws, len(batch)

    def _refill_tied(
        self, step: int, drawn: int, kept: Batch, groups: list, draws: dict
    ) -> tuple[Batch, list, int, dict]:
        """DAPO-style dynamic sampling (``trainer.dynamic_sampling_max_rounds`` = R).

        The groups whose kept outcomes all tie (zero variance; GRPO has no signal there) are
        dropped, and as many prompts as they held are drawn anew from the train split (the same
        draw on every rank, from the run's prompt sampler) and played as prompts ``drawn``,
        ``drawn + 1``, ... of the step: under ddp/fsdp2 each is seeded by ``group_seed`` from that
        index, so the refills, like the first prompts, are the same at any world size, and a resumed
        run draws them again. This repeats while groups tie, for at most R refill rounds. The step
        then trains on ``prompts_per_step`` groups; when the cap is hit, the tied groups of the
        last round stay in the batch (the batch keeps its size; under plain GRPO they carry a zero
        outcome advantage, as they would without dynamic sampling).

        Returns the batch, its group keys, the episodes played by the refills, and the metrics
        ``rollout/tied_groups_dropped`` (prompts dropped), ``rollout/groups_refilled`` (prompts
        drawn in their place), ``rollout/sampling_rounds`` (refill rounds run) and
        ``rollout/tied_groups_kept`` (tied prompts kept at the cap), counted over all ranks (the same
        value on each).
        """
        cap = self.tcfg.dynamic_sampling_max_rounds
        trajs, keys = [], []
        played = dropped_episodes = dropped = rounds = 0
        while True:
            outcomes = torch.tensor([t.score for t in kept.trajectories])
            tied = set(tied_groups(outcomes, groups))
            lost = int(self.world.sum(sum(draws[g] for g in tied)))
            if lost == 0 or rounds == cap:  # nothing tied, or the cap: this round stays whole
                trajs += kept.trajectories
                keys += groups
                break
            for t, g in zip(kept.trajectories, groups):
                if g in tied:
                    dropped_episodes += 1
                else:
                    trajs.append(t)
                    keys.append(g)
            dropped += lost
            rounds += 1
            refill = self.task.sample(self.task.train_split, lost, self.sampler)
            kept, groups, draws, n = self._round(step, refill, drawn)
            drawn += lost
            played += n
        return (
            Batch(trajs),
            keys,
            played,
            {
                "rollout/tied_groups_dropped": dropped,
                "rollout/groups_refilled": dropped,
                "rollout/sampling_rounds": rounds,
                "rollout/tied_groups_kept": lost,
                "dropped_episodes": dropped_episodes,
            },
        )

    def _within_budget(self, step: int, kept: Batch, metrics: dict, t_step: float) -> bool:
        """False (the step is skipped, with a warning) when simulator failures took more of the
        step's episodes than ``simulator.max_failure_rate``: the survivors of an outage are the
        episodes that never needed the user, and updating on them teaches the wrong thing.
        ``simulator.max_failed_steps`` such steps in a row stop the run."""
        guard = self.simulator.guard
        excluded = int(self.world.sum(metrics["simulator/excluded"]))
        total = int(self.world.sum(metrics["simulator/episodes"]))
        if not over_budget(excluded, total, guard.max_failure_rate):
            self.failed_steps = 0
            return True
        self.failed_steps += 1
        message = budget_message(self.simulator, excluded, total, f"step {step}: ")
        metrics.update({"train/skipped": 1.0, "time/step_s": time.time() - t_step})
        if self.world.size > 1:
            metrics = reduce_metrics([(m, 0) for m in self.world.gather(metrics)])
        self.logger.log(step, metrics)
        if self.failed_steps >= guard.max_failed_steps:
            raise FatalSimulatorError(
                f"{message}; {self.failed_steps} steps in a row over the budget "
                f"(simulator.max_failed_steps={guard.max_failed_steps}): stopping"
            )
        self.logger.print(
            f"warning: {message}: skipping the update "
            f"({self.failed_steps} of simulator.max_failed_steps={guard.max_failed_steps})"
        )
        return False

    def _play(self, step: int, instances: list, base: int = 0) -> tuple[Batch, list]:
        """``single``: one rollout over all prompts under the run's RNG, grouped by task id (by
        (``base``, task id) for prompts refilled at ``base`` > 0, so a refill never joins an earlier
        group). ``ddp``/``fsdp2``: this rank's slice of every mini-batch's prompts (``shard``), one
        group at a time under an RNG seeded from (seed, step, global prompt index ``base`` + i),
        grouped by that index:
        trajectories and groups are then the same whichever rank plays a prompt, and so at any
        world size."""
        if not self.world.group_seeded:
            batch = self._rollout(instances)
            return batch, batch.groups if base == 0 else [(base, g) for g in batch.groups]
        indices, mine = shard(instances, self.world, self.tcfg.mini_batches)
        trajs, groups = [], []
        for k, inst in zip(indices, mine, strict=True):
            index = base + k
            with seeded(group_seed(self.cfg.seed, step, index)):
                part = self._rollout([inst])
            trajs += part.trajectories
            groups += [index] * len(part)
        return Batch(trajs), groups

    def _rollout(self, instances: list) -> Batch:
        ecfg = self.ecfg
        return rollout(
            self.engine,
            self.chat,
            self.task,
            self.simulator,
            instances,
            group_size=self.tcfg.group_size,
            max_new_tokens=ecfg.max_new_tokens,
            temperature=ecfg.temperature,
            max_len=self.mcfg.max_len,
            top_p=ecfg.top_p,
        )

    def _has_work(self, step: int, kept: Batch, metrics: dict, t_step: float) -> bool:
        """False when this rank has nothing to update on. With no trajectory left on any rank the
        update is skipped; a rank without trajectories joins the others' update with none."""
        if int(self.world.sum(len(kept))) == 0:
            self.logger.print(
                f"step {step}: every trajectory was excluded (simulator failures); skipping the update"
            )
            metrics.update({"train/success": 0.0, "time/step_s": time.time() - t_step})
            self.logger.log(step, metrics)
            return False
        if len(kept) == 0:
            none = torch.zeros((0, 0))
            tensors = {
                "input_ids": none.long(),
                "attention_mask": none.long(),
                "action_mask": none,
                "outcomes": torch.zeros(0),
            }
            metrics.update(self.trainer.update(tensors, none, none, step))
            self._log_step(step, metrics, kept, None, t_step, {})
            return False
        return True

    def score(self, kept: Batch, tensors: dict):
        """Old log-probs and, when the fusion uses it, each turn's information gain."""
        with_ig = self.fcfg.mode in INFOGAIN_MODES  # the others never read the counterfactual
        with gathered(self.policy):  # FSDP2: full parameters for the scoring passes
            scores = score(
                self.trainer,
                kept.trajectories,
                tensors,
                self.placeholder_ids,
                impl=self.icfg.impl,
                token_budget=self.icfg.token_budget,
                with_info_gain=with_ig,
                # a batch used once needs no separate pass: the update's own are the old ones
                need_old=not self.trainer.single_pass or "sampler_logprobs" in tensors,
            )
        if scores.info_gain is not None:
            for tr, g in zip(kept.trajectories, scores.info_gain):
                if self.icfg.parsed_only:
                    logs = tr.info.get("turns") or [{}] * len(g)  # hand-built: all in protocol
                    g = parsed_only(g, [log.get("parsed", True) for log in logs])
                tr.info_gain = g
            tensors["intrinsic"] = kept.intrinsic()  # only this field depends on IG
        return scores

    def advantages(self, step: int, tensors: dict, groups: list, kept: Batch):
        """[N, L] token advantages by the configured fusion, and the fusion's statistics."""
        fcfg, tcfg = self.fcfg, self.tcfg
        beta = decayed_beta(
            fcfg.beta, fcfg.decay, (step - 1) * tcfg.prompts_per_step / self.n_train
        )
        trajs = kept.trajectories
        return fuse_advantages_with_stats(
            tensors["outcomes"],
            groups,
            tensors["intrinsic"],
            tensors["action_mask"],
            mode=fcfg.mode,
            beta=beta,
            tau=fcfg.tau,
            normalize=fcfg.normalize,
            gamma=fcfg.gamma,
            turn_rewards=[t.turn_rewards() for t in trajs],
            turn_spans=[[turn.action for turn in t.turns] for t in trajs],
        )

    def push_weights(self, step: int) -> dict:
        """The updated policy into the rollout engine (a LoRA policy: its adapter or its merged
        weights, see ``push_policy``), every ``sync_every``."""
        if step % self.ecfg.sync_every:
            return {}
        return {
            "time/weight_sync_s": push_policy(self.engine, self.model),
            **self.engine.push_stats(),
            **self.engine.last_check(),
        }

    # ---- evaluate, log, save -----------------------------------------------------------------
    def evaluate(self, step: int, name: str) -> None:
        """Evaluation on the first ``trainer.eval_tasks`` instances of the test split (sampled at
        ``trainer.eval_temperature``), sharded: rank r plays instances r, r + W, ...; gathered."""
        if not self.eval_instances:
            return
        tcfg, world = self.tcfg, self.world
        t0 = time.time()
        mine = self.eval_instances[world.rank :: world.size]
        results = []
        with seeded(self.cfg.seed + world.rank), gathered(self.policy):
            if mine:
                results, _ = run_eval(
                    self.engine,
                    self.chat,
                    self.task,
                    self.simulator,
                    mine,
                    k=tcfg.eval_samples,
                    temperature=tcfg.eval_temperature,
                    max_new_tokens=self.ecfg.max_new_tokens,
                    max_len=self.mcfg.max_len,
                )
        if world.size > 1:
            results = [r for part in world.gather(results) for r in part]
        agg = aggregate(results, tcfg.eval_samples)
        self.evals[name] = agg
        keys = ("success", "mean_reward", "pass_hat_k", "mean_turns", "n_tasks", "n_trials")
        keys += ("unparsed", "truncated")
        metrics = {f"eval/{k}": agg[k] for k in keys}
        metrics["eval/excluded"] = agg["n_excluded_trials"]
        metrics["eval/success_with_failures"] = agg["success_with_failures"]
        metrics.update(self._eval_simulator_stats())
        self.logger.log(step, {**metrics, "time/eval_s": time.time() - t0}, advance=False)
        samples = f" x {tcfg.eval_samples} samples" if tcfg.eval_samples > 1 else ""
        self.logger.print(
            f"eval ({name}, step {step}, {self.task.split} split, {agg['n_tasks']} tasks{samples}): "
            f"{summary_line(agg)}"
        )
        built_for = starter_task(self.model_path) if name == "start" else None
        for line in (
            cannot_play(agg, self.task.name, built_for),
            truncation_line(agg, self.mcfg.max_len),
        ):
            if line:
                self.logger.print(line)
        excluded, total = agg["n_excluded_trials"], agg["n_episodes"]
        if over_budget(excluded, total, self.simulator.guard.max_failure_rate):
            raise FatalSimulatorError(
                budget_message(self.simulator, excluded, total, f"evaluation ({name}): ")
            )

    def _eval_simulator_stats(self) -> dict:
        """The simulator calls of this evaluation, summed over ranks, under ``eval/simulator/``:
        they belong to the evaluation, not to the training step logged next."""
        stats = self.simulator.pop_stats()
        if self.world.size > 1:
            parts = self.world.gather(stats)
            stats = {k: sum(p.get(k, 0) for p in parts) for k in stats}
        return {f"eval/{k}": v for k, v in stats.items()}

    def _log_step(self, step, metrics, kept, tensors, t_step, extra, adv=None, groups=None) -> None:
        """The step's metrics over the global batch (rank 0 logs them) and its rollout records, in
        the global prompt order (``groups``: each record's prompt index under several ranks)."""
        world, trajs = self.world, kept.trajectories
        ig_vals = [tr.info_gain[t] for tr in trajs if tr.info_gain for t in tr.scored_turns()]
        outcomes = [float(t.score) for t in trajs]
        n = max(len(trajs), 1)
        metrics.update(
            {
                "train/success": sum(t.success for t in trajs) / n,
                "train/outcome_mean": 0.0,  # the global values are filled in below
                "train/outcome_std": 0.0,
                "rollout/turns_mean": sum(len(t.turns) for t in trajs) / n,
                "rollout/action_tokens": float(tensors["action_mask"].sum()) if trajs else 0.0,
                "rollout/truncated": sum(t.info["truncated"] for t in trajs) / n,
                "rollout/unparsed": unparsed_share([t.info["turns"] for t in trajs]),
                "infogain/mean": 0.0,
                "infogain/abs_mean": 0.0,
                "infogain/scored_turns": len(ig_vals),
                **extra,
                "time/step_s": time.time() - t_step,
            }
        )
        if world.size > 1:
            parts = world.gather((metrics, len(trajs), outcomes, ig_vals))
            metrics = reduce_metrics([(m, k) for m, k, _, _ in parts])
            outcomes = [o for _, _, os_, _ in parts for o in os_]
            ig_vals = [v for _, _, _, vs in parts for v in vs]
        t = torch.tensor(outcomes)
        metrics["train/outcome_mean"] = t.mean().item()
        metrics["train/outcome_std"] = t.std().item() if len(outcomes) > 1 else 0.0
        n_ig = max(len(ig_vals), 1)
        metrics["infogain/mean"] = sum(ig_vals) / n_ig
        metrics["infogain/abs_mean"] = sum(abs(v) for v in ig_vals) / n_ig
        self.logger.log(step, metrics)
        if metrics["rollout/truncated"] and not self.said_truncated:  # once a run: it is in the log
            self.said_truncated = True
            self.logger.print(
                f"note: from step {step}, {metrics['rollout/truncated']:.0%} of training episodes "
                f"are cut at model.max_len={self.mcfg.max_len} tokens before they end "
                "(logged as rollout/truncated)"
            )
        records = rollout_records(kept, adv) if adv is not None else []
        if world.size > 1:  # a rank holds a slice of every mini-batch: back to the prompts' order
            parts = world.gather(list(zip(groups or [], records, strict=True)))
            pairs = sorted((p for part in parts for p in part), key=lambda p: p[0])
            records = [r for _, r in pairs]
        self.logger.rollouts(step, records)

    def save(self, step: int) -> None:
        """Rank 0 writes the full model and optimizer state (gathered first under FSDP2)."""
        meta = {"seed": self.cfg.seed, "model_path": self.model_path, "task": self.task.name}
        state = {**self.trainer.state_dict(), "sampler": self.sampler.getstate()}
        full = full_model_state(self.policy)
        if self.world.is_main:
            checkpoint.save_checkpoint(
                self.run_dir,
                step,
                self.model,
                self.tok,
                state,
                meta,
                keep=self.tcfg.keep_checkpoints,
                model_state=full,
            )
        self.world.barrier()

    def _preempted(self, step: int, signal_name: str) -> dict:
        """A scheduler asked the run to stop: the finished step is saved and the run says how to
        continue it (exit 0, so a requeueing scheduler sees a clean stop)."""
        self.save(step)
        self.logger.print(
            f"{signal_name or 'stop requested'} after step {step}: checkpoint saved; continue with "
            f"infopo train resume={self.run_dir} (or resume=auto)"
        )
        return {"run_dir": str(self.run_dir), "evals": self.evals, "steps": step, "preempted": True}

    def _finish(self) -> dict:
        """summary.json, the training plot and the summary table (rank 0)."""
        run_dir = self.run_dir
        summary = {"run_dir": str(run_dir), "evals": self.evals, "steps": self.tcfg.steps}
        if not self.world.is_main:
            return summary
        rows = read_jsonl(run_dir / "metrics.jsonl")
        title = f"{self.task.name}, fusion={self.fcfg.mode}"
        plot = plot_training(rows, run_dir / "plots" / "training.png", title=title)
        self.logger.summary(self.evals)
        self.logger.print(
            f"wrote {run_dir / 'metrics.jsonl'}, {plot}, checkpoints under {run_dir / 'checkpoints'}"
        )
        (run_dir / "summary.json").write_text(json.dumps(summary, indent=1))
        if page := write_run_view(run_dir):  # None when logger.log_rollouts=false
            self.logger.print(f"credit view (IG and advantage per turn): {page}")
        return summary


def drop_if_empty(run_dir: Path) -> None:
    """Remove the folder Hydra made for a rank other than 0 whose timestamped run dir differs from
    rank 0's (nodes start a second apart), with its dated parent if that is left empty. Such a rank
    writes nothing there, so the folder is empty; a folder that is not is left alone."""
    try:
        run_dir.rmdir()
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", run_dir.parent.name):
            run_dir.parent.rmdir()
    except OSError:  # not empty (rank 0's run is there too), or already gone
        pass


def rollout_records(batch: Batch, adv: torch.Tensor) -> list[dict]:
    """Per trajectory and per turn: text, token counts, reward, IG and the turn's mean advantage;
    plus the token ids and spans, so any record rebuilds the exact Trajectory that was trained on."""
    out = []
    for i, tr in enumerate(batch.trajectories):
        turns = []
        for t, (turn, log) in enumerate(zip(tr.turns, tr.info["turns"])):
            s, e = turn.action
            turns.append(
                {
                    **log,
                    "feedback_tokens": turn.feedback_len,
                    "ig": tr.info_gain[t] if tr.info_gain else 0.0,
                    "advantage": adv[i, s:e].mean().item() if i < adv.shape[0] else 0.0,
                }
            )
        spans = [[list(t.action), list(t.feedback) if t.feedback else None] for t in tr.turns]
        out.append(
            {
                "task_id": tr.group,
                "outcome": tr.score,
                "success": tr.success,
                "failed": tr.failed,
                "truncated": tr.info.get("truncated", False),
                "turns": turns,
                "input_ids": tr.input_ids,
                "spans": spans,
            }
        )
    return out
