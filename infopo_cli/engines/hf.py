"""``engine=hf``: batched sampling with transformers models, on the policy model itself.

The engine holds the trainer's model object, so a weight push is free. Its sampling loop is its own
(a key/value cache, one forward per new token) so that a conversation's next turn can start from the
cache of its previous one: with ``prefix_cache`` the engine keeps, after each call, every row's keys
and values for the tokens it fed, and a later prompt that extends one of those token sequences only
runs its new tokens (the feedback and the turn glue) through the model. Multi-turn rollouts re-read
the whole dialogue every turn otherwise, which is most of their cost on a CPU. Stored caches are
dropped as soon as any weight changes (parameter version counters), so no stale cache is ever used.
Rows with the same prompt (a group's G samples of one task, at its first turn) prefill it once and
share its cache (``share_prompts``).

Sampled-token log-probs are those of the tempered distribution (before top-p), as the trainer
recomputes them.

Memory: the prefill asks the model for the last position's logits only (``logits_to_keep=1``): a
64-row batch of 2k-token prompts would otherwise make [64, 2k, 152k] logits (40 GB in bf16) to use
one column of. ``release_memory()`` drops the stored caches before the trainer's scoring and update.
"""

from __future__ import annotations

import inspect

import torch

from infopo_cli.engines.base import Engine, Generation


class HFEngine(Engine):
    separate_weights = False  # samples with the trainer's own model object

    def __init__(
        self,
        model,
        tokenizer,
        stop_ids: list[int],
        batch_size: int = 64,
        autocast: bool = False,
        prefix_cache: bool = True,
        share_prompts: bool = True,
    ):
        self.model = model
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stop_ids[0]
        self.stop_ids = list(stop_ids)
        self.batch_size = batch_size
        self.autocast = autocast
        self.prefix_cache = prefix_cache
        self.share_prompts = share_prompts
        # token ids fed through the model -> per-layer (keys [H, n, D], values [H, n, D])
        self._store: dict[tuple[int, ...], list[tuple[torch.Tensor, torch.Tensor]]] = {}
        self._weights_version: tuple | None = None
        self.stats = {"prompt_tokens": 0, "reused_tokens": 0, "shared_tokens": 0}
        self._last_only = _accepts_logits_to_keep(model)

    def release_memory(self) -> None:
        """Drop every stored key/value cache (they would be dropped at the next weight change anyway,
        and the trainer's passes need the memory now)."""
        self._store = {}
        self._weights_version = None

    @torch.no_grad()
    def generate(self, prompts, *, max_new_tokens, temperature, top_p=1.0):
        version = tuple((id(p), p._version) for p in self.model.parameters())
        if version != self._weights_version:
            self._store = {}
            self._weights_version = version
        old, new = self._store, {}
        lengths = sorted({len(k) for k in old}, reverse=True)  # longest prefix first
        out: list[Generation] = []
        was_training = self.model.training
        self.model.eval()
        try:
            for i in range(0, len(prompts), self.batch_size):
                chunk = prompts[i : i + self.batch_size]
                out += self._generate(chunk, old, lengths, new, max_new_tokens, temperature, top_p)
        finally:
            self.model.train(was_training)
        # a conversation only ever extends its latest turn: keep this call's caches, drop the rest
        self._store = new
        return out

    @staticmethod
    def _lookup(prompt: list[int], store, lengths: list[int]) -> tuple[int, list | None]:
        """The longest stored prefix of ``prompt`` that leaves at least one token to run."""
        for n in lengths:
            if n < len(prompt):
                kv = store.get(tuple(prompt[:n]))
                if kv is not None:
                    return n, kv
        return 0, None

    def _forward(self, ids, attn, pos, cache):
        """Logits [B, V] (float32) of the last position of every row, and the grown cache."""
        device = ids.device
        extra = {"logits_to_keep": 1} if self._last_only else {}
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=self.autocast):
            out = self.model(
                input_ids=ids,
                attention_mask=attn,
                position_ids=pos,
                past_key_values=cache,
                use_cache=True,
                **extra,
            )
        return out.logits[:, -1].float(), out.past_key_values

    def _generate(self, prompts, store, lengths, new_store, max_new_tokens, temperature, top_p):
        """One batch: reuse ``store`` caches, sample, and put each row's fed caches in ``new_store``."""
        device = next(self.model.parameters()).device
        hits = [
            self._lookup(p, store, lengths) if self.prefix_cache else (0, None) for p in prompts
        ]
        # A group's rows share their prompt (G samples of one task): prefill each distinct prompt
        # once, then give its logits and cache to every row that has it.
        rows = list(range(len(prompts)))  # row -> its distinct prompt, numbered as first seen
        if self.share_prompts:
            distinct: dict[tuple[int, ...], int] = {}
            rows = [distinct.setdefault(tuple(p), len(distinct)) for p in prompts]
        firsts = [rows.index(u) for u in range(max(rows) + 1)]  # the first row of each
        ids, attn, cache, C, M = self._prefill_inputs(
            [prompts[r] for r in firsts], [hits[r] for r in firsts]
        )
        run = sum(len(prompts[r]) - hits[r][0] for r in firsts)
        self.stats["prompt_tokens"] += sum(len(p) for p in prompts)
        self.stats["reused_tokens"] += sum(n for n, _ in hits)
        self.stats["shared_tokens"] += sum(len(p) - n for p, (n, _) in zip(prompts, hits)) - run
        attn = attn.to(device)
        pos = (attn.cumsum(-1) - 1).clamp(min=0)[:, C:]  # real-token positions of the new columns
        logits, cache = self._forward(ids.to(device), attn, pos, cache)
        if len(firsts) < len(prompts):
            expand = torch.tensor(rows, device=device)
            logits, attn, pos = logits[expand], attn[expand], pos[expand]
            cache.reorder_cache(expand)
        new, lp, attn, cache = self._sample(
            logits, attn, pos[:, -1], cache, max_new_tokens, temperature, top_p
        )
        out = []
        stop_set = set(self.stop_ids)
        for r in range(len(prompts)):
            row = new[r].tolist()
            n, finished = len(row), False
            for k, t in enumerate(row):
                if t in stop_set:
                    n, finished = k + 1, True
                    break
            out.append(Generation(row[:n], lp[r, :n].tolist(), finished))
        self._keep_caches(prompts, out, attn, cache, C + M, new_store)
        return out

    def _prefill_inputs(self, prompts, hits):
        """Input ids [B, M], attention mask [B, C + M] and the batch key/value cache of C columns.

        Row r: [pad][its n_r cached tokens] | [pad][its m_r new tokens], right-aligned in each part.
        """
        from transformers import DynamicCache

        B = len(prompts)
        cached = [n for n, _ in hits]
        C = max(cached)  # cached columns
        M = max(len(p) - n for p, n in zip(prompts, cached))  # new prompt columns
        ids = torch.full((B, M), self.pad_id, dtype=torch.long)
        attn = torch.zeros((B, C + M), dtype=torch.long)
        for r, (p, n) in enumerate(zip(prompts, cached)):
            m = len(p) - n
            ids[r, M - m :] = torch.tensor(p[n:])
            attn[r, C - n : C] = 1
            attn[r, C + M - m :] = 1
        if not C:
            return ids, attn, DynamicCache(config=self.model.config), C, M
        layers = []
        for li, (k0, v0) in enumerate(hits[cached.index(C)][1]):  # shapes from a full row
            K = k0.new_zeros((B, k0.shape[0], C, k0.shape[2]))
            V = v0.new_zeros((B, v0.shape[0], C, v0.shape[2]))
            for r, (n, kv) in enumerate(hits):
                if n:
                    K[r, :, C - n :] = kv[li][0]
                    V[r, :, C - n :] = kv[li][1]
            layers.append((K, V))
        return ids, attn, DynamicCache(ddp_cache_data=layers, config=self.model.config), C, M

    def _sample(self, logits, attn, last_pos, cache, max_new_tokens, temperature, top_p):
        """Sample up to ``max_new_tokens`` per row from the prefill's last-position ``logits``
        [B, V]; returns tokens [B, T] and their log-probs [B, T] (CPU), the grown mask and cache."""
        device = logits.device
        stop = torch.tensor(self.stop_ids, device=device)
        done = torch.zeros(logits.shape[0], dtype=torch.bool, device=device)
        toks, lps = [], []
        for t in range(max_new_tokens):
            if temperature > 0:
                logp = torch.log_softmax(logits / temperature, dim=-1)  # [B, V]
                probs = _top_p(logp.exp(), top_p) if top_p < 1.0 else logp.exp()
                nxt = torch.multinomial(probs, 1).squeeze(-1)
            else:
                logp = torch.log_softmax(logits, dim=-1)
                nxt = logp.argmax(-1)
            was_done = done
            nxt = torch.where(was_done, torch.full_like(nxt, self.pad_id), nxt)
            toks.append(nxt)
            lps.append(logp.gather(-1, nxt.unsqueeze(-1)).squeeze(-1))
            done = was_done | torch.isin(nxt, stop)
            if t == max_new_tokens - 1 or _all_done(done, t):
                break
            # feed the sampled tokens; rows that had already finished feed a masked pad
            attn = torch.cat([attn, (~was_done).long().unsqueeze(-1)], dim=-1)
            last_pos = last_pos + 1
            logits, cache = self._forward(nxt.unsqueeze(-1), attn, last_pos.unsqueeze(-1), cache)
        new = torch.stack(toks, dim=1).cpu()  # [B, T]
        return new, torch.stack(lps, dim=1).float().cpu(), attn, cache

    def _keep_caches(self, prompts, out, attn, cache, prompt_cols, new_store) -> None:
        """Each row's keys/values of the tokens it fed, keyed by those tokens, for the next turn."""
        from transformers.cache_utils import DynamicLayer

        if not self.prefix_cache or not all(type(ly) is DynamicLayer for ly in cache.layers):
            return
        device = attn.device
        keep = attn.bool().cpu()  # [B, cache columns]: the real tokens each row fed
        for r, (p, g) in enumerate(zip(prompts, out)):
            fed = p + g.token_ids[: keep[r, prompt_cols:].sum().item()]
            cols = keep[r].nonzero().squeeze(-1).to(device)
            new_store[tuple(fed)] = [
                (layer.keys[r].index_select(1, cols), layer.values[r].index_select(1, cols))
                for layer in cache.layers
            ]


def _accepts_logits_to_keep(model) -> bool:
    """Whether the causal LM's forward takes ``logits_to_keep`` (transformers >= 4.50 models)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    try:
        return "logits_to_keep" in inspect.signature(base.forward).parameters
    except (TypeError, ValueError):
        return False


def _all_done(done: torch.Tensor, t: int) -> bool:
    """Whether every row has stopped. On an accelerator the check (a host sync) runs every 8th
    token only: a few steps of masked pads at the end cost less than a stall per token. On CPU
    there is no stall to save, and checking every token keeps the random stream as it was."""
    if done.device.type != "cpu" and t % 8 != 7:
        return False
    return bool(done.all())


def _top_p(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """Nucleus filter over [B, V] probabilities: the smallest top set with mass >= top_p (at least
    one token), renormalised by ``torch.multinomial``."""
    sorted_p, order = probs.sort(dim=-1, descending=True)
    outside = sorted_p.cumsum(-1) - sorted_p >= top_p  # mass before this token already enough
    sorted_p = sorted_p.masked_fill(outside, 0.0)
    return torch.zeros_like(probs).scatter(-1, order, sorted_p)
