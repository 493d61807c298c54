"""One setting's comparison as `docs/results/<setting>.json` and `<setting>.md`, from its run folders.

    python scripts/setting_results.py outputs/compare/clarify_vague --out docs/results

The JSON is the record other tools read:
``{"setting": ..., "steps": N, "methods": {"<method>": {"<seed>": final_test_success, ...}, ...}}``
(the method is the run's fusion mode, ``+dynamic_sampling`` when that was on, ``+parsed_only`` when
information gain credited only messages in the task's protocol). The Markdown adds,
per method: mean ± standard error over seeds; the paired difference InfoPO minus the method by seed
(mean ± standard error of the differences, and how many standard errors that is); the first step at
which the method's held-out success reached GRPO's final mean; the share of tied groups over
training; and, for runs that logged rollouts, the mean information gain and advantage by turn
position over the last 20 steps (where the credit lands). Evaluations of the untrained starter
(``starter/``) and the oracle (``oracle/``) in the setting folder become rows of their own. Where
``scripts/compare.py --shifted`` evaluated the runs against another user (``<run>/shifted/``,
``starter_shifted/``, the overrides in ``shift.txt``), the JSON gets ``"shifted": {"<method>":
{"<seed>": success}}`` and the Markdown a table of success with the trained-with and the shifted
user, and the change by seed. A plan
written into the Markdown file before the runs (between ``<!-- plan -->`` and ``<!-- /plan -->``)
is kept as it was.
A method with fewer seeds than another is reported with what it has; nothing is dropped.
"""

from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict
from pathlib import Path

import yaml

INFOPO = "variance_gated"
GRPO = "none"


def mean_se(xs: list[float]) -> tuple[float, float]:
    """Mean and standard error (sample standard deviation / sqrt(n); 0 for one value)."""
    n = len(xs)
    m = sum(xs) / n
    if n < 2:
        return m, 0.0
    return m, math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1) / n)


def read_jsonl(path: Path) -> list[dict]:
    return (
        [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.exists() else []
    )


def load_runs(setting_dir: Path) -> list[dict]:
    """Every finished training run under the setting folder: method, seed, steps, final success,
    the held-out success curve, tied groups, and per-turn credit of the last 20 steps."""
    runs = []
    for summary in sorted(setting_dir.glob("train*/**/summary.json")):
        run = summary.parent
        cfg = yaml.safe_load((run / "config.yaml").read_text())
        evals = json.loads(summary.read_text())["evals"]
        if "end" not in evals:
            continue
        method = cfg["fusion"]["mode"]
        if cfg["trainer"].get("dynamic_sampling_max_rounds", 0):
            method += "+dynamic_sampling"
        if cfg.get("infogain", {}).get("parsed_only"):
            method += "+parsed_only"
        rows = read_jsonl(run / "metrics.jsonl")
        curve = {r["step"]: r["eval/success"] for r in rows if "eval/success" in r}
        tied = [r["fusion/tied_groups"] for r in rows if "fusion/tied_groups" in r]
        credit, off_protocol = credit_by_turn(run, int(cfg["trainer"]["steps"]))
        shifted = run / "shifted" / "eval.json"
        runs.append(
            {
                "method": method,
                "seed": int(cfg["seed"]),
                "steps": int(cfg["trainer"]["steps"]),
                "final": float(evals["end"]["success"]),
                "curve": curve,
                "tied": sum(tied) / len(tied) if tied else None,
                "credit": credit,
                "off_protocol": off_protocol,
                "shifted": (
                    json.loads(shifted.read_text())["aggregate"]["success"]
                    if shifted.exists()
                    else None
                ),
            }
        )
    return runs


def credit_by_turn(
    run: Path, steps: int, last: int = 20
) -> tuple[dict[int, tuple[float, float]], float | None]:
    """Turn position -> (mean IG, mean advantage) over the rollouts of the last ``last`` steps, and
    the share of those turns whose message was outside the task's protocol (None: no records)."""
    acc: dict[int, list[tuple[float, float]]] = defaultdict(list)
    off = n = 0
    for step in range(max(1, steps - last + 1), steps + 1):
        for rec in read_jsonl(run / "rollouts" / f"step_{step:04d}.jsonl"):
            for t, turn in enumerate(rec.get("turns", [])):
                acc[t].append((float(turn.get("ig", 0.0)), float(turn.get("advantage", 0.0))))
                off += not turn.get("parsed", True)
                n += 1
    credit = {
        t: (sum(i for i, _ in v) / len(v), sum(a for _, a in v) / len(v))
        for t, v in sorted(acc.items())
    }
    return credit, (off / n if n else None)


def first_reach(curve: dict[int, float], target: float) -> int | None:
    """The first evaluated step whose success is at least ``target`` (None: never)."""
    return next((s for s, v in sorted(curve.items()) if s > 0 and v >= target), None)


def eval_row(setting_dir: Path, name: str) -> float | None:
    """Success of an ``infopo eval`` run in the setting folder (``eval.json``), if there is one."""
    path = setting_dir / name / "eval.json"
    return json.loads(path.read_text())["aggregate"]["success"] if path.exists() else None


PLAN = ("<!-- plan -->", "<!-- /plan -->")


def kept_plan(md_path: Path) -> list[str]:
    """The plan block (written before the runs, between the plan markers) of an existing results
    file, kept verbatim above the results."""
    if not md_path.exists():
        return []
    text = md_path.read_text()
    if PLAN[0] not in text or PLAN[1] not in text:
        return []
    start, end = text.index(PLAN[0]), text.index(PLAN[1]) + len(PLAN[1])
    return text[start:end].splitlines() + [""]


def write(setting_dir: Path, out: Path) -> tuple[Path, Path]:
    setting = setting_dir.name
    runs = load_runs(setting_dir)
    if not runs:
        raise SystemExit(f"setting_results: no finished training runs under {setting_dir}")
    by_method: dict[str, dict[int, dict]] = defaultdict(dict)
    for r in runs:
        by_method[r["method"]][r["seed"]] = r
    steps = max(r["steps"] for r in runs)
    record = {
        "setting": setting,
        "steps": steps,
        "methods": {
            m: {str(s): r["final"] for s, r in sorted(seeds.items())}
            for m, seeds in sorted(by_method.items())
        },
    }
    shifted = {
        m: {str(s): r["shifted"] for s, r in sorted(seeds.items()) if r["shifted"] is not None}
        for m, seeds in sorted(by_method.items())
    }
    if any(shifted.values()):
        record["shifted"] = {m: v for m, v in shifted.items() if v}
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / f"{setting}.json"
    json_path.write_text(json.dumps(record, indent=1) + "\n")

    md_path = out / f"{setting}.md"
    plan = kept_plan(md_path)
    grpo_final = (
        mean_se([r["final"] for r in by_method[GRPO].values()])[0] if GRPO in by_method else None
    )
    lines = [
        f"# {setting}: final test success by method",
        "",
        *plan,
        "## Results",
        "",
        f"{steps} training steps; final success is the held-out evaluation at the last step. "
        "Mean ± standard error over seeds. Paired: InfoPO (`variance_gated`) minus the method, by "
        "seed, over the seeds both have. Reaches GRPO: the first evaluated step at which the run's "
        "held-out success was at least GRPO's final mean (median over seeds; `-` if under half the "
        "seeds got there). Off-protocol: the share of training messages outside the task's "
        "protocol (`Task.parses`: empty or unreadable) over the last 20 steps. Raw numbers: "
        f"[{json_path.name}]({json_path.name}).",
        "",
        "| method | seeds | final success | InfoPO minus method (paired) | reaches GRPO's final at step | tied groups | off-protocol |",
        "|---|---|---|---|---|---|---|",
    ]
    for m, seeds in sorted(by_method.items(), key=lambda kv: (kv[0] != INFOPO, kv[0])):
        finals = [r["final"] for r in seeds.values()]
        mu, se = mean_se(finals)
        paired = "-"
        if m != INFOPO and INFOPO in by_method:
            common = sorted(set(seeds) & set(by_method[INFOPO]))
            if common:
                d = [by_method[INFOPO][s]["final"] - seeds[s]["final"] for s in common]
                dm, dse = mean_se(d)
                z = f", {dm / dse:+.1f} SE" if dse > 0 else ""
                paired = f"{dm:+.3f} ± {dse:.3f} (n={len(common)}{z})"
        reach = "-"
        if grpo_final is not None:
            hits = sorted(
                x for x in (first_reach(r["curve"], grpo_final) for r in seeds.values()) if x
            )
            if len(hits) * 2 >= len(seeds):
                reach = str(hits[len(hits) // 2])
        tied = [r["tied"] for r in seeds.values() if r["tied"] is not None]
        tied_s = f"{sum(tied) / len(tied):.2f}" if tied else "-"
        off = [r["off_protocol"] for r in seeds.values() if r["off_protocol"] is not None]
        off_s = f"{sum(off) / len(off):.1%}" if off else "-"
        lines.append(
            f"| {m} | {len(seeds)} | {mu:.3f} ± {se:.3f} | {paired} | {reach} | {tied_s} | {off_s} |"
        )
    for name in ("starter", "oracle"):
        v = eval_row(setting_dir, name)
        if v is not None:
            lines.append(f"| {name} (no training) | - | {v:.3f} | - | - | - | - |")

    if "shifted" in record:
        lines += shifted_table(setting_dir, by_method)
    lines += ["", "## Where the credit lands (last 20 steps, mean over seeds)", ""]
    for m, seeds in sorted(by_method.items()):
        per_turn: dict[int, list[tuple[float, float]]] = defaultdict(list)
        for r in seeds.values():
            for t, v in r["credit"].items():
                per_turn[t].append(v)
        if not per_turn:
            continue
        lines.append(f"**{m}**: turn: mean IG / mean advantage")
        lines.append("")
        lines.append(
            ", ".join(
                f"{t + 1}: {sum(i for i, _ in v) / len(v):+.3f} / {sum(a for _, a in v) / len(v):+.3f}"
                for t, v in sorted(per_turn.items())
            )
        )
        lines.append("")
    md_path.write_text("\n".join(lines).rstrip() + "\n")
    return json_path, md_path


def shifted_table(setting_dir: Path, by_method: dict[str, dict[int, dict]]) -> list[str]:
    """Success with the user each policy was trained with and with the shifted one (mean ± standard
    error over the seeds evaluated both ways), and the change, paired by seed."""
    shift_file = setting_dir / "shift.txt"
    shift = shift_file.read_text().strip() if shift_file.exists() else "(overrides not recorded)"
    lines = [
        "",
        "## Under a shifted user",
        "",
        f"Every trained policy's last checkpoint, evaluated on the same test tasks against a user it "
        f"was not trained with: `{shift}`.",
        "",
        "| method | seeds | trained-with user | shifted user | change (paired) |",
        "|---|---|---|---|---|",
    ]
    for m, seeds in sorted(by_method.items(), key=lambda kv: (kv[0] != INFOPO, kv[0])):
        both = [r for r in seeds.values() if r["shifted"] is not None]
        if not both:
            continue
        (mu, se), (smu, sse) = (mean_se([r[k] for r in both]) for k in ("final", "shifted"))
        dm, dse = mean_se([r["shifted"] - r["final"] for r in both])
        lines.append(
            f"| {m} | {len(both)} | {mu:.3f} ± {se:.3f} | {smu:.3f} ± {sse:.3f} | "
            f"{dm:+.3f} ± {dse:.3f} |"
        )
    base, moved = eval_row(setting_dir, "starter"), eval_row(setting_dir, "starter_shifted")
    if base is not None and moved is not None:
        lines.append(
            f"| starter (no training) | - | {base:.3f} | {moved:.3f} | {moved - base:+.3f} |"
        )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("setting_dir", type=Path, help="a setting folder of scripts/compare.py")
    ap.add_argument("--out", type=Path, default=Path("docs/results"))
    args = ap.parse_args()
    for p in write(args.setting_dir, args.out):
        print(f"wrote {p}")


if __name__ == "__main__":
    main()
