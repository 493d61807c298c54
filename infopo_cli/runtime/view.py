"""``infopo view RUN_DIR [--step N ...]``: the run's conversations with each turn's credit, as one
self-contained page, ``RUN_DIR/view.html``.

The page answers "which turns got credit": per step, the rollouts of a group side by side; each turn
shows the agent's action (shaded by its final advantage) and the user's reply (shaded by the turn's
information gain), with the numbers on hover; the group header has its outcomes, variance gate and
tied flag. It needs no server and no network (inline CSS and JS, the data embedded once as JSON),
so it opens from disk and can be attached to a report.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

from infopo_cli.errors import ConfigError
from infopo_cli.runtime.credit import group_records, turn_text
from infopo_cli.runtime.logging import read_jsonl

MAX_DEFAULT_STEPS = 8  # without --step: this many steps spread over the run, first and last kept
# Shading: rgba(colour, MAX_ALPHA * min(1, |value| / scale)); scale = the page's largest |value|.
COLORS = {
    "ig_pos": [22, 140, 80],
    "ig_neg": [150, 60, 170],
    "adv_pos": [40, 100, 220],
    "adv_neg": [210, 60, 50],
}
MAX_ALPHA = 0.8
STEP_FILE = re.compile(r"step_(\d+)\.jsonl$")


def rollout_steps(run_dir: Path) -> dict[int, Path]:
    """step -> its rollouts file, for every ``rollouts/step_N.jsonl`` of the run."""
    files = (run_dir / "rollouts").glob("step_*.jsonl") if (run_dir / "rollouts").is_dir() else []
    found = {int(m.group(1)): p for p in files if (m := STEP_FILE.search(p.name))}
    return dict(sorted(found.items()))


def choose_steps(available: list[int], asked: list[int] | None) -> list[int]:
    """The asked steps (each must exist), or up to MAX_DEFAULT_STEPS spread over the run."""
    if asked:
        missing = [s for s in asked if s not in available]
        if missing:
            raise ConfigError(
                f"view: --step {' '.join(map(str, missing))} has no rollouts; "
                f"accepted: {_ranges(available)}"
            )
        return sorted(set(asked))
    if len(available) <= MAX_DEFAULT_STEPS:
        return available
    n = MAX_DEFAULT_STEPS - 1
    return sorted({available[round(i * (len(available) - 1) / n)] for i in range(n + 1)})


def _ranges(steps: list[int]) -> str:
    if steps == list(range(steps[0], steps[-1] + 1)):
        return f"steps {steps[0]}-{steps[-1]}"
    return "steps " + ", ".join(map(str, steps))


def run_settings(run_dir: Path) -> dict:
    """The run's fusion mode and tau (the gate's temperature) from its saved config."""
    from omegaconf import OmegaConf

    from infopo_cli.config import FusionConfig

    path = run_dir / "config.yaml"
    cfg = OmegaConf.to_container(OmegaConf.load(path), resolve=False) if path.is_file() else {}
    fusion = (cfg or {}).get("fusion") or {}
    task = (cfg or {}).get("task") or {}
    return {
        "tau": float(fusion.get("tau", FusionConfig.tau)),
        "fusion": str(fusion.get("mode", "?")),
        "task": str(task.get("name", "?")),
    }


def step_data(step: int, records: list[dict], tau: float) -> dict:
    """One step's groups as the page draws them (text, IG, advantage; no token ids)."""
    groups = []
    for g in group_records(records, tau):
        rollouts = []
        for r in g["records"]:
            turns = []
            for turn in r.get("turns") or []:
                action, reply = turn_text(turn)
                turns.append(
                    {
                        "action": action,
                        "reply": reply,
                        "ig": float(turn.get("ig") or 0.0),
                        "adv": float(turn.get("advantage") or 0.0),
                        "reward": float(turn.get("reward") or 0.0),
                        "error": str(turn.get("error") or ""),
                    }
                )
            rollouts.append(
                {
                    "outcome": float(r.get("outcome") or 0.0),
                    "success": bool(r.get("success")),
                    "failed": bool(r.get("failed")),
                    "truncated": bool(r.get("truncated")),
                    "turns": turns,
                }
            )
        keep = ("task_id", "outcomes", "gate", "tied", "failed")
        groups.append({**{k: g[k] for k in keep}, "rollouts": rollouts})
    return {"step": step, "groups": groups}


def page_data(run_dir: Path, steps: list[int] | None = None) -> dict:
    """Everything the page shows, for the chosen steps; ConfigError when there is nothing to show."""
    files = rollout_steps(run_dir)
    if not files:
        raise ConfigError(
            f"view: {run_dir} has no rollouts/step_N.jsonl (was it run with logger.log_rollouts=false?)"
        )
    settings = run_settings(run_dir)
    chosen = choose_steps(list(files), steps)
    data = [step_data(s, read_jsonl(files[s]), settings["tau"]) for s in chosen]
    turns = [t for s in data for g in s["groups"] for r in g["rollouts"] for t in r["turns"]]
    return {
        "run": str(run_dir),
        **settings,
        "available_steps": list(files),
        "steps": data,
        "scale": {
            "ig": max((abs(t["ig"]) for t in turns), default=0.0),
            "adv": max((abs(t["adv"]) for t in turns), default=0.0),
        },
        "colors": COLORS,
        "max_alpha": MAX_ALPHA,
    }


def embed_json(data: dict) -> str:
    """JSON safe inside a ``<script>`` element: no ``<``, ``>`` or ``&`` can end it early."""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render(data: dict) -> str:
    template = resources.files("infopo_cli.runtime").joinpath("view_template.html").read_text()
    return template.replace("/*DATA*/", embed_json(data), 1)


def build_view(run_dir: Path, steps: list[int] | None = None, out: Path | None = None) -> Path:
    """Write the page (default ``RUN_DIR/view.html``) and return its path."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"view: {run_dir} is not a directory; accepted: a training run dir")
    out = Path(out) if out else run_dir / "view.html"
    out.write_text(render(page_data(run_dir, steps)))
    return out


def write_run_view(run_dir: Path) -> Path | None:
    """The page at the end of a training run; None when the run kept no rollouts."""
    try:
        return build_view(run_dir)
    except ConfigError:
        return None
