"""Write the sha256 of every file of a dataset into ``infopo_cli/data/manifest.json``.

    python scripts/pin_data_manifest.py usergym userrl=UserRL.tar.gz taubench=tau-bench.tar.gz

Each ``SOURCE=PATH`` is the downloaded archive (or file) of one of the dataset's sources, at the
commit the manifest names. The files are laid out exactly as ``infopo data fetch`` lays them out,
and their checksums replace the manifest's; review the diff before committing it.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from infopo_cli.data import manifest
from infopo_cli.data.fetch import build


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        sys.exit(__doc__)
    name, pairs = argv[0], dict(a.split("=", 1) for a in argv[1:])
    raw = json.loads(manifest.MANIFEST.read_text())
    ds = manifest.parse({name: raw[name]})[name]
    unpinned = manifest.parse(
        {name: {**raw[name], "files": [{**f, "sha256": None} for f in raw[name]["files"]]}}
    )[name]
    missing = set(ds.sources) - set(pairs)
    if missing:
        sys.exit(f"give SOURCE=PATH for: {', '.join(sorted(missing))}")
    with tempfile.TemporaryDirectory() as tmp:
        got = build(unpinned, {s: Path(p) for s, p in pairs.items()}, pairs, Path(tmp))
    for f in raw[name]["files"]:
        if f["sha256"] and f["sha256"] != got[f["path"]]:
            print(f"changed: {f['path']}")
        f["sha256"] = got[f["path"]]
    manifest.MANIFEST.write_text(json.dumps(raw, indent=1) + "\n")
    print(f"{name}: {len(got)} checksums written to {manifest.MANIFEST}")


if __name__ == "__main__":
    main(sys.argv[1:])
