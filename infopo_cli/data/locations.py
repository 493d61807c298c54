"""Where benchmark data is looked for: an explicit path, else an environment variable, else the
cache folder that ``infopo data fetch <name>`` fills (``$INFOPO_CACHE/data/<name>``).

Nothing here looks beside the checkout: a dataset the user has not named or fetched is an error
that says which command fetches it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from infopo_cli.errors import ConfigError


def cache_root() -> Path:
    """``$INFOPO_CACHE``, else ``~/.cache/infopo`` (built models live here too)."""
    return Path(os.environ.get("INFOPO_CACHE", Path.home() / ".cache" / "infopo"))


def data_root() -> Path:
    return cache_root() / "data"


def fetched_dir(name: str) -> Path:
    """The folder ``infopo data fetch <name>`` installs into."""
    return data_root() / name


def resolve_dataset(
    name: str,
    explicit: str | Path | None,
    env_var: str,
    looks_right: Callable[[Path], bool],
    field: str,
    layout: str,
) -> Path:
    """The data folder for dataset ``name``: ``explicit`` (a config value), else ``$env_var``, else
    the fetched copy. A relative path is taken from the working directory. The first of those
    that is set decides: a wrong explicit path is reported, not silently replaced by the cache."""
    if explicit:
        chosen, how = Path(str(explicit)).expanduser(), ""
    elif os.environ.get(env_var):
        chosen, how = Path(os.environ[env_var]).expanduser(), f"${env_var}="
    else:
        cached = fetched_dir(name)
        if looks_right(cached):
            return cached.resolve()
        raise ConfigError(
            f"{field}: no {name} data (not set, ${env_var} not set, nothing at {cached}); "
            f"run `infopo data fetch {name}` or set {field}=<folder>"
        )
    if looks_right(chosen):
        return chosen.resolve()
    raise ConfigError(f"{field}: {how}{chosen} is not {layout}")
