"""``infopo data fetch <name> [--url SOURCE=URL] [--force]``: benchmark data into the cache."""

from __future__ import annotations

import argparse
import textwrap

from infopo_cli.data import manifest
from infopo_cli.data.fetch import fetch, pick
from infopo_cli.data.locations import data_root
from infopo_cli.errors import ConfigError


def data_cli(argv: list[str]) -> None:
    datasets = manifest.load()
    parser = argparse.ArgumentParser(
        prog="infopo data",
        description=textwrap.fill(
            "Benchmark data. `fetch NAME` downloads the pinned upstream release into "
            f"{data_root()}/NAME (set $INFOPO_CACHE to move it), lays it out as the task reads "
            "it and checks every file's sha256; the tasks look there by default.",
            width=100,
        ),
        epilog="datasets:\n" + "\n".join(f"  {n:<9} {d.description}" for n, d in datasets.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="action", metavar="fetch")
    f = sub.add_parser("fetch", help="download, verify and install one dataset")
    f.add_argument("name", help=", ".join(datasets))
    f.add_argument(
        "--url",
        action="append",
        default=[],
        metavar="[SOURCE=]URL",
        help="fetch a source from this URL instead (a mirror, or a local server); repeatable",
    )
    f.add_argument("--force", action="store_true", help="fetch again over an installed copy")
    args = parser.parse_args(argv)
    if args.action is None:
        raise ConfigError("data: missing action; accepted: fetch (see infopo data --help)")
    pick(datasets, args.name)  # an unknown name fails before anything is created
    fetch(args.name, urls=args.url, force=args.force, datasets=datasets)
