"""The pinned datasets of ``infopo data fetch``: where each comes from and what it must contain.

``manifest.json`` maps a dataset name to its ``sources`` (an archive at a fixed commit, or a single
file at a fixed revision) and its ``files``: the path in the installed folder, the source and the
path inside it (the archive's top folder left out), the conversion (``convert.py``) and the sha256
of the result. The checksums are over the files the tasks read, not over the archives, because
GitHub builds its archives on request and does not promise the same bytes twice. A file whose
sha256 is null is not pinned (its upstream bytes could not be read when the manifest was made):
the fetch records what it got and later checks compare against that record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from infopo_cli.data.convert import CONVERTERS

MANIFEST = Path(__file__).with_name("manifest.json")
KINDS = ("archive", "file")


@dataclass(frozen=True)
class Source:
    name: str
    url: str
    kind: str  # archive (tar.gz or zip; the top folder is dropped) | file (the download itself)
    revision: str  # the commit or hub revision the URL is pinned to, for the record


@dataclass(frozen=True)
class FileSpec:
    path: str  # inside the installed dataset folder
    source: str
    member: str  # inside the archive (after its top folder); "" for a file source
    convert: str
    sha256: str | None


@dataclass(frozen=True)
class Dataset:
    name: str
    description: str
    sources: dict[str, Source]
    files: tuple[FileSpec, ...]


def parse(raw: dict) -> dict[str, Dataset]:
    """Datasets from the manifest's JSON; a malformed manifest is a ValueError naming the entry."""
    out = {}
    for name, entry in raw.items():
        sources = {
            s: Source(s, v["url"], v.get("kind", "archive"), v.get("revision", ""))
            for s, v in entry["sources"].items()
        }
        files = tuple(
            FileSpec(
                f["path"],
                f["source"],
                f.get("member", ""),
                f.get("convert", "copy"),
                f.get("sha256"),
            )
            for f in entry["files"]
        )
        for s in sources.values():
            if s.kind not in KINDS:
                raise ValueError(
                    f"manifest: {name}: source {s.name} has kind {s.kind!r}; accepted: {KINDS}"
                )
        for f in files:
            if f.source not in sources:
                raise ValueError(f"manifest: {name}: {f.path} names unknown source {f.source!r}")
            if f.convert not in CONVERTERS:
                raise ValueError(f"manifest: {name}: {f.path} has unknown conversion {f.convert!r}")
            if Path(f.path).is_absolute() or ".." in Path(f.path).parts:
                raise ValueError(f"manifest: {name}: {f.path} must stay inside the dataset folder")
        out[name] = Dataset(name, entry.get("description", ""), sources, files)
    return out


def load(path: Path | None = None) -> dict[str, Dataset]:
    """The datasets of ``path`` (default: the package's ``manifest.json``)."""
    return parse(json.loads(Path(path or MANIFEST).read_text()))
