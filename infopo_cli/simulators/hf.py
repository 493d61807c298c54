"""``simulator=hf``: a local transformers causal LM plays the user, in the training process.

No server is needed, which suits small user models and machines without a GPU server. The prompt
is the one ``simulator=openai`` sends (task instructions as system prompt, roles flipped), rendered
with the tokenizer's chat template, so switching between the two changes only the model. Queries
are generated in left-padded batches; sampling above temperature 0 draws from its own seeded RNG
stream, so the simulator neither disturbs nor depends on the trainer's random state.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from infopo_cli.errors import ConfigError
from infopo_cli.simulators.base import SimulatorError, UserQuery
from infopo_cli.simulators.cache import CachedSimulator, check_int, check_number
from infopo_cli.simulators.messages import chat_messages
from infopo_cli.zoo import registry

DTYPES = {
    "auto": "auto",
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}


class HFSimulator(CachedSimulator):
    name = "hf"

    def __init__(
        self,
        *,
        model_path: str = "",
        temperature: float = 0.0,
        max_tokens: int = 128,
        batch_size: int = 16,
        device: str = "auto",
        dtype: str = "auto",
        seed: int = 0,
        cache: bool | str = "auto",
        cache_path: str | None = None,
        replay_only: bool = False,
        run_dir: str | None = None,
        **guard,
    ) -> None:
        if not isinstance(model_path, str | Path) or not str(model_path).strip():
            raise ConfigError(
                "simulator.model_path must be a model folder, a hub id or a built-in model "
                "(e.g. simulator.model_path=smollm2-135m)"
            )
        check_number("temperature", temperature, minimum=0.0)
        check_int("max_tokens", max_tokens, minimum=1)
        check_int("batch_size", batch_size, minimum=1)
        check_int("seed", seed, minimum=0)
        if dtype not in DTYPES:
            raise ConfigError(f"simulator.dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
        if device != "auto" and not isinstance(device, str):
            raise ConfigError(f"simulator.device must be auto, cpu, cuda or cuda:N, got {device!r}")
        self.model_path = _check_model_path(str(model_path))
        super().__init__(
            model_id=self.model_path,
            cache=cache,
            cache_path=cache_path,
            replay_only=replay_only,
            temperature=float(temperature),
            run_dir=run_dir,
            **guard,
        )
        self.temperature = float(temperature)
        self.max_tokens = int(max_tokens)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.device = _pick_device(device)
        self.dtype = DTYPES[dtype]
        self._draws = 0
        self.model = None
        self.tokenizer = None
        if not self.replay_only:  # a replay-only run never needs the model: it stays offline
            self._load()

    def _params(self) -> dict[str, Any]:
        return {"temperature": self.temperature, "max_tokens": self.max_tokens}

    def _load(self) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = self.model_path
        if path in registry.BUILTIN:
            path = registry.resolve_path(path, None)
        elif not Path(path).expanduser().exists():
            registry.check_hub(path, "simulator.model_path")
        try:
            tokenizer = AutoTokenizer.from_pretrained(path)
            model = AutoModelForCausalLM.from_pretrained(path, dtype=self.dtype)
        except (OSError, ValueError) as e:
            raise ConfigError(
                f"simulator.model_path={self.model_path!r} could not be loaded: {_first_line(e)}"
            ) from None
        if not tokenizer.chat_template:
            raise ConfigError(
                f"simulator.model_path={self.model_path!r}: the tokenizer has no chat template; "
                "the simulated user needs a chat (instruct) model"
            )
        stops = _stop_ids(tokenizer, model)
        if not stops:
            raise ConfigError(
                f"simulator.model_path={self.model_path!r}: no end-of-turn token "
                "(tokenizer eos_token or generation_config.eos_token_id)"
            )
        model.to(self.device).eval().requires_grad_(False)
        self.model, self.tokenizer, self.stop_ids = model, tokenizer, stops
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stops[0]

    def prompt_ids(self, query: UserQuery) -> list[int]:
        """The token ids of one query: chat template with a generation prompt for the user turn."""
        text = self.tokenizer.apply_chat_template(
            chat_messages(query), add_generation_prompt=True, tokenize=False
        )
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _answer(self, queries: list[UserQuery]) -> list[str | SimulatorError]:
        if self.model is None:
            self._load()
        out: list[str | SimulatorError] = []
        for i in range(0, len(queries), self.batch_size):
            out += self._generate([self.prompt_ids(q) for q in queries[i : i + self.batch_size]])
        return out

    @torch.no_grad()
    def _generate(self, prompts: list[list[int]]) -> list[str]:
        start = time.perf_counter()
        width = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        attn = torch.zeros((len(prompts), width), dtype=torch.long)
        for r, p in enumerate(prompts):
            ids[r, width - len(p) :] = torch.tensor(p, dtype=torch.long)
            attn[r, width - len(p) :] = 1
        sample = self.temperature > 0
        devices: list[int] = []
        if self.device.type == "cuda":
            devices = [
                self.device.index if self.device.index is not None else torch.cuda.current_device()
            ]
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.seed * 1_000_003 + self._draws)
            self._draws += 1
            new = self.model.generate(
                input_ids=ids.to(self.device),
                attention_mask=attn.to(self.device),
                max_new_tokens=self.max_tokens,
                do_sample=sample,
                temperature=self.temperature if sample else None,
                top_p=1.0 if sample else None,
                top_k=0 if sample else None,
                eos_token_id=self.stop_ids,
                pad_token_id=self.pad_id,
            )[:, width:].cpu()
        replies, n_out = [], 0
        stop = set(self.stop_ids)
        for row in new.tolist():
            n = next((k for k, t in enumerate(row) if t in stop), len(row))
            self.stats["truncated"] += n == len(row)  # no end-of-turn: cut at max_tokens
            n_out += min(n + 1, len(row))
            replies.append(self.tokenizer.decode(row[:n], skip_special_tokens=True).strip())
        self.stats["calls"] += len(prompts)
        self.stats["tokens_in"] += sum(len(p) for p in prompts)
        self.stats["tokens_out"] += n_out
        self.stats["latency_s"] += time.perf_counter() - start
        return replies


def _check_model_path(model_path: str) -> str:
    """A built-in model name (``tiny``, ``smollm2-135m``: built on first load) or a hub id stays as
    is; a local folder becomes absolute; something that looks like a path but is no model folder
    stops here."""
    if model_path in registry.BUILTIN:
        return model_path
    path = Path(model_path).expanduser()
    if path.is_dir() and (path / "config.json").is_file():
        return str(path.resolve())
    if path.exists() or model_path.startswith(("/", ".", "~")) or model_path.count("/") != 1:
        raise ConfigError(
            f"simulator.model_path={model_path!r} is not a model folder, a hub id (org/name) or "
            f"a built-in model ({', '.join(registry.BUILTIN)})"
        )
    return model_path


def _pick_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ConfigError(
            f"simulator.device must be auto, cpu, cuda or cuda:N, got {device!r}"
        ) from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"simulator.device={device!r} but no CUDA device is available")
    return dev


def _stop_ids(tokenizer, model) -> list[int]:
    ids: list[int] = []
    for value in (tokenizer.eos_token_id, getattr(model.generation_config, "eos_token_id", None)):
        for t in value if isinstance(value, list) else [value]:
            if t is not None and t not in ids:
                ids.append(int(t))
    return ids


def _first_line(e: Exception) -> str:
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__
