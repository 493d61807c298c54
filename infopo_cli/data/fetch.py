"""``infopo data fetch <name>``: download a pinned dataset into ``$INFOPO_CACHE/data/<name>``.

Everything happens in a temporary folder beside the destination: the downloads, the files laid out
the way the task reads them, and the check of every file against the manifest's sha256. Only a
dataset whose every file matched is renamed into place (one rename, so a reader never sees half a
dataset), with ``FETCHED.json`` recording where it came from and each file's checksum. On any
failure the temporary folder is removed and the destination is left as it was.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from infopo_cli.data import manifest as manifest_mod
from infopo_cli.data.archive import ArchiveError, read_members
from infopo_cli.data.convert import CONVERTERS, ConvertError, check_available
from infopo_cli.data.download import describe, download
from infopo_cli.data.locations import data_root
from infopo_cli.data.manifest import Dataset, Source
from infopo_cli.errors import ConfigError

STAMP = "FETCHED.json"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pick(datasets: dict[str, Dataset], name: str) -> Dataset:
    if name not in datasets:
        raise ConfigError(f"data fetch: unknown dataset {name!r}; accepted: {', '.join(datasets)}")
    return datasets[name]


def source_urls(ds: Dataset, overrides: list[str]) -> dict[str, str]:
    """Each source's URL, with ``--url`` overrides: ``SOURCE=URL``, or a bare URL when the dataset
    has a single source."""
    urls = {s.name: s.url for s in ds.sources.values()}
    for value in overrides:
        name, eq, url = value.partition("=")
        if eq and name in urls and "://" not in name:
            urls[name] = url
        elif len(urls) == 1 and "://" in value:
            urls[next(iter(urls))] = value
        else:
            raise ConfigError(
                f"data fetch {ds.name}: --url {value!r} names no source; accepted: "
                + ", ".join(f"{s}=URL" for s in urls)
                + (" or a bare URL" if len(urls) == 1 else "")
            )
    return urls


def check_installed(ds: Dataset, folder: Path) -> str | None:
    """None when ``folder`` holds a complete fetch of ``ds`` whose files match their pins (or, for
    unpinned files, the checksums recorded at fetch time); else what is wrong."""
    stamp = folder / STAMP
    if not stamp.is_file():
        return f"{folder} has no {STAMP} (not a completed fetch)"
    try:
        recorded = json.loads(stamp.read_text())["files"]
    except (ValueError, KeyError, TypeError):
        return f"{stamp} is not readable"
    for f in ds.files:
        path = folder / f.path
        if not path.is_file():
            return f"{f.path} is missing"
        expected = f.sha256 or recorded.get(f.path)
        if sha256(path.read_bytes()) != expected:
            return f"{f.path} does not match its checksum"
    return None


def build(
    ds: Dataset, downloads: dict[str, Path], urls: dict[str, str], out: Path
) -> dict[str, str]:
    """Lay out ``ds`` under ``out`` from the downloaded sources, checking every pinned file;
    ``{path: sha256}``. A ConfigError names the dataset and the first file that is wrong."""
    got: dict[str, str] = {}
    members: dict[str, dict[str, bytes]] = {}
    for src in ds.sources.values():
        if src.kind == "file":
            members[src.name] = {"": downloads[src.name].read_bytes()}
            continue
        wanted = {f.member for f in ds.files if f.source == src.name}
        try:
            members[src.name] = read_members(downloads[src.name], wanted)
        except ArchiveError as e:
            raise ConfigError(f"data fetch {ds.name}: {urls[src.name]}: {e}") from None
    for f in ds.files:
        raw = members[f.source].get(f.member)
        if raw is None:
            raise ConfigError(
                f"data fetch {ds.name}: {f.path}: the download from {urls[f.source]} has no {f.member}"
            )
        try:
            data = CONVERTERS[f.convert](raw)
        except ConvertError as e:
            raise ConfigError(f"data fetch {ds.name}: {f.path}: {f.member}: {e}") from None
        digest = sha256(data)
        if f.sha256 and digest != f.sha256:
            raise ConfigError(
                f"data fetch {ds.name}: {f.path} has sha256 {digest[:16]}..., pinned "
                f"{f.sha256[:16]}... (damaged download or changed upstream); nothing installed"
            )
        target = out / f.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        got[f.path] = digest
    return got


def fetch(
    name: str,
    *,
    urls: list[str] | None = None,
    force: bool = False,
    root: Path | None = None,
    datasets: dict[str, Dataset] | None = None,
    say: Callable[[str], None] = print,
) -> Path:
    """Install dataset ``name`` under ``root`` (default ``$INFOPO_CACHE/data``); its folder."""
    ds = pick(datasets if datasets is not None else manifest_mod.load(), name)
    root = Path(root) if root is not None else data_root()
    final = root / name
    source_url = source_urls(ds, urls or [])
    if final.exists() and not force:
        problem = check_installed(ds, final)
        if problem is None:
            say(f"{name}: already in {final}, every file verified; nothing to do")
            return final
        raise ConfigError(
            f"data fetch {name}: {final} exists but {problem}; fetch again with --force"
        )
    check_available({f.convert for f in ds.files}, name)
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root))
    try:
        downloads = {}
        for src in ds.sources.values():
            downloads[src.name] = _download(ds, src, source_url[src.name], tmp, say)
        out = tmp / name
        out.mkdir()
        got = build(ds, downloads, source_url, out)
        unpinned = sum(1 for f in ds.files if not f.sha256)
        (out / STAMP).write_text(json.dumps(_record(ds, source_url, got), indent=1) + "\n")
        if final.exists():  # --force: the old copy goes only once the new one is complete
            final.rename(tmp / "old")
        try:
            out.rename(final)
        except OSError as e:  # e.g. another fetch installed it meanwhile
            if (tmp / "old").exists() and not final.exists():
                (tmp / "old").rename(final)
            raise ConfigError(f"data fetch {name}: cannot install into {final} ({e})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    checked = (
        f"{len(got) - unpinned} of {len(got)} files verified"
        if unpinned
        else f"{len(got)} files verified"
    )
    note = f", {unpinned} not pinned (their checksums are recorded in {STAMP})" if unpinned else ""
    say(f"{name}: {checked}{note}, installed in {final}")
    return final


def _download(ds: Dataset, src: Source, url: str, tmp: Path, say: Callable[[str], None]) -> Path:
    dest = tmp / f"download-{src.name}"
    try:
        download(url, dest, f"{ds.name}/{src.name}", say)
    except (OSError, ValueError) as e:  # URLError, socket errors; ValueError: a malformed URL
        raise ConfigError(f"data fetch {ds.name}: cannot download {url} ({describe(e)})") from None
    return dest


def _record(ds: Dataset, urls: dict[str, str], got: dict[str, str]) -> dict:
    return {
        "dataset": ds.name,
        "sources": {
            s.name: {"url": urls[s.name], "revision": s.revision} for s in ds.sources.values()
        },
        "files": got,
    }
