"""Learning-curve plots (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_training(rows: list[dict], out: Path, title: str = "") -> Path:
    """Success (train and eval), information gain and gate over steps, one PNG."""
    out.parent.mkdir(parents=True, exist_ok=True)
    train = [r for r in rows if "train/success" in r]
    evals = [r for r in rows if "eval/success" in r]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    ax = axes[0]
    if train:
        ax.plot(
            [r["step"] for r in train],
            [r["train/success"] for r in train],
            label="train (sampled)",
            alpha=0.6,
        )
    if evals:
        ax.plot(
            [r["step"] for r in evals],
            [r["eval/success"] for r in evals],
            "o-",
            label="test (held-out)",
        )
    ax.set(xlabel="step", ylabel="success", title="success", ylim=(-0.02, 1.02))
    ax.legend(loc="lower right")
    for ax, key, name in (
        (axes[1], "infogain/mean", "information gain (mean IG_t)"),
        (axes[2], "fusion/gate_mean", "variance gate"),
    ):
        pts = [(r["step"], r[key]) for r in train if key in r]
        if pts:
            ax.plot(*zip(*pts))
        ax.set(xlabel="step", title=name)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
