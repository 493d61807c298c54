"""The view recipe (``infopo view RUN_DIR [--step N ...]``): writes ``RUN_DIR/view.html``, the run's
conversations with each turn's information gain and advantage (the page is ``runtime/view.py``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from infopo_cli.runtime.view import MAX_DEFAULT_STEPS, build_view


def view_cli(argv: list[str]) -> None:
    """``infopo view RUN_DIR [--step N ...] [--out FILE]``."""
    parser = argparse.ArgumentParser(
        prog="infopo view",
        description="Write RUN_DIR/view.html: conversations with each turn's information gain "
        "and advantage, grouped as trained.",
    )
    parser.add_argument(
        "run_dir", metavar="RUN_DIR", help="a training run dir (with rollouts/step_N.jsonl)"
    )
    parser.add_argument(
        "--step",
        type=int,
        nargs="+",
        metavar="N",
        action="extend",
        help=f"steps to show (default: up to {MAX_DEFAULT_STEPS} spread over the run)",
    )
    parser.add_argument("--out", default=None, help="the page's path (default: RUN_DIR/view.html)")
    args = parser.parse_args(argv)
    path = build_view(Path(args.run_dir), args.step, args.out and Path(args.out))
    print(f"wrote {path}")
