"""The built-in model names (``model.name``) and what a ``model`` config resolves to.

Each built-in is built once into a cache folder (``$INFOPO_CACHE`` or ``~/.cache/infopo``) and loaded
from there afterwards:

- ``tiny``: a random small Llama for tests (``zoo/tiny.py``).
- ``smollm2-135m``: SmolLM2-135M-Instruct, the real-LLM path on CPU (``zoo/smollm2.py``).
- ``starter``: a small policy that already speaks the configured task's protocol, built by supervised
  fine-tuning on that task's demonstrations: clarify's with its own curriculum (``zoo/starter.py``),
  every other task's by one recipe (``zoo/task_starter.py``); ``starter-tracking`` is clarify's
  variant whose demonstrations ask about slots not yet known more often (the learning comparison's
  tracking setting).

Any other value of ``model.path`` (a hub id or a local folder) is loaded with ``from_pretrained``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from infopo_cli.errors import ConfigError
from infopo_cli.zoo.smollm2 import smollm2_path
from infopo_cli.zoo.starter import clarify_setting, starter_path
from infopo_cli.zoo.task_starter import is_clarify, task_starter_path
from infopo_cli.zoo.tiny import tiny_path


def starter_tracking_path(**overrides) -> Path:
    """The starter warm-started on demonstrations whose questions track the replies: half of their
    task-slot questions pick a slot not yet known (``ClarifyTask.demo_action(ask_unknown=...)``)."""
    return starter_path(ask_unknown=0.5, **overrides)


CLARIFY_STARTERS = ("starter", "starter-tracking")
BUILTIN: dict[str, Callable[..., Path]] = {
    "tiny": tiny_path,
    "smollm2-135m": smollm2_path,
    "starter": starter_path,
    "starter-tracking": starter_tracking_path,
}


def resolve_path(name: str, path: str | None, task: Mapping[str, Any] | None = None) -> str:
    """The folder or hub id to load: ``path`` when given, else the built-in model ``name``
    (``starter`` is the starter of ``task``, the composed task config; clarify's when None)."""
    if path:
        p = Path(path).expanduser()
        if p.exists():
            if not (p / "config.json").exists():
                raise ConfigError(
                    f"model.path {path!r} is a folder without config.json (not a Hugging Face model)"
                )
            return str(p)
        if path.startswith((".", "/", "~")) or path.count("/") != 1:
            raise ConfigError(
                f"model.path {path!r} does not exist (give a local model folder or a hub id org/name)"
            )
        check_hub(path, "model.path")
        return path
    if name not in BUILTIN:
        raise ConfigError(
            f"model.name {name!r} is not built in ({', '.join(BUILTIN)}); set model.path for other models"
        )
    if name == "starter" and not is_clarify(task):
        return str(task_starter_path(task))
    setting = clarify_setting(task) if name in CLARIFY_STARTERS else {}
    # a clarify setting's starter learns on its dialogues (vague replies, follow-ups, echoes)
    return str(BUILTIN[name](**({"setting": setting} if setting else {})))


HUB_PROBE_TIMEOUT_S = 5.0


def check_hub(repo_id: str, key: str) -> None:
    """A hub id that is neither in the local Hugging Face cache nor reachable fails here, in one line
    and within seconds (``from_pretrained`` would retry for about a minute and print a traceback).

    Offline (``HF_HUB_OFFLINE=1``) a cached id passes and an uncached one is refused at once;
    otherwise the hub's endpoint (``HF_ENDPOINT``) is probed with a short TCP connection.
    """
    import socket
    import threading
    from urllib.parse import urlparse

    from huggingface_hub import constants, try_to_load_from_cache

    try:
        cached = try_to_load_from_cache(repo_id, "config.json")
    except Exception:  # an id the cache cannot hold (bad characters): let the loader say why
        return
    if isinstance(cached, str):
        return
    if constants.HF_HUB_OFFLINE:
        raise ConfigError(
            f"{key}={repo_id!r} is not in the Hugging Face cache and HF_HUB_OFFLINE is set; "
            "accepted: a local model folder, or a hub id downloaded before (with network access)"
        )
    endpoint = constants.ENDPOINT
    url = urlparse(endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    result: list[BaseException | None] = []

    def probe() -> None:  # in a thread: name resolution has no timeout of its own
        try:
            socket.create_connection((url.hostname, port), timeout=HUB_PROBE_TIMEOUT_S).close()
            result.append(None)
        except OSError as e:
            result.append(e)

    t = threading.Thread(target=probe, daemon=True)
    t.start()
    t.join(HUB_PROBE_TIMEOUT_S + 1)
    error = result[0] if result else TimeoutError("timed out")
    if error is not None:
        reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
        raise ConfigError(
            f"{key}={repo_id!r} is not in the Hugging Face cache and the hub ({endpoint}) cannot be "
            f"reached ({reason}); accepted: a local model folder, a cached hub id, or network "
            "access (HF_ENDPOINT for a mirror, HF_HUB_OFFLINE=1 to use the cache only)"
        )
