"""Downloading one URL to a file, with the bytes received printed as they come."""

from __future__ import annotations

import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

CHUNK = 1 << 20
REPORT_EVERY = 16 << 20  # without a terminal: one progress line per 16 MiB
TIMEOUT_S = 60


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def download(url: str, dest: Path, label: str, say: Callable[[str], None] = print) -> int:
    """Write ``url`` to ``dest``; the number of bytes. Raises OSError (``urllib.error.URLError``
    among them) when the source cannot be read."""
    request = urllib.request.Request(url, headers={"User-Agent": "infopo-data-fetch"})
    tty = sys.stdout.isatty()
    done, next_report = 0, REPORT_EVERY
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response, dest.open("wb") as out:
        total = int(response.headers.get("Content-Length") or 0)
        of = f" of {_mb(total)}" if total else ""
        while chunk := response.read(CHUNK):
            out.write(chunk)
            done += len(chunk)
            if tty:
                print(f"\r{label}: {_mb(done)}{of}", end="", flush=True)
            elif done >= next_report:
                say(f"{label}: {_mb(done)}{of}")
                next_report += REPORT_EVERY
    if tty:
        print()
    say(f"{label}: {done} bytes from {url}")
    return done


def describe(error: BaseException) -> str:
    """A short reason for a failed download (the HTTP status, or the socket error)."""
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code}"
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)
    return str(error) or type(error).__name__
