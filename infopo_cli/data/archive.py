"""Reading chosen members out of a downloaded tar.gz or zip archive.

GitHub's archives hold one top folder (``<repo>-<commit>/``); member names are given without it,
so a mirror that names its top folder differently still works. Only the named members are read,
into memory: nothing from the archive is written to disk under a name the archive chose.
"""

from __future__ import annotations

import tarfile
import zipfile
import zlib
from pathlib import Path


class ArchiveError(ValueError):
    """The download is not a readable archive."""


def _strip_top(name: str) -> str:
    return name.partition("/")[2]


def read_members(path: Path, wanted: set[str]) -> dict[str, bytes]:
    """``{member: bytes}`` for the wanted members that the archive holds (the caller reports the
    missing ones)."""
    found: dict[str, bytes] = {}
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                for info in z.infolist():
                    name = _strip_top(info.filename)
                    if name in wanted and not info.is_dir():
                        found[name] = z.read(info)
            return found
        with tarfile.open(path, mode="r:*") as t:
            for member in t:
                name = _strip_top(member.name)
                if name in wanted and member.isfile():
                    found[name] = t.extractfile(member).read()
    except (tarfile.TarError, zipfile.BadZipFile, zlib.error, EOFError, OSError) as e:
        raise ArchiveError(f"not a readable tar.gz or zip archive ({e})") from None
    return found
