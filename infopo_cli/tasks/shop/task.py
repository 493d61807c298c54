"""``task=shop``: find and buy the product an instruction describes, in a generated web-shop.

The opening message is the instruction (type, some attributes, colour, size, price cap). Each turn
the agent sends one action (see ``actions``); the shop answers with a results page, an item page or
an explanation of what was wrong, never an error. ``buy`` ends the episode with the purchase score
(``scoring``); running out of turns without buying scores 0. Per-turn reward is 0 until the buy.

The catalogue depends only on (seed, catalogue_size) and is shared by both splits, as a real shop
would be; instructions are split by a hash of what they ask for, so no instruction of the test
split appears in train.
"""

from __future__ import annotations

import random

from infopo_cli.errors import ConfigError
from infopo_cli.tasks.base import Environment, StepResult, Task, TaskInstance
from infopo_cli.tasks.shop.actions import HELP, parse_action, parse_buy
from infopo_cli.tasks.shop.catalogue import Item, generate_catalogue
from infopo_cli.tasks.shop.goals import Goal, draw_goal
from infopo_cli.tasks.shop.scoring import fulfils, score_purchase
from infopo_cli.tasks.shop.search import SearchIndex, matches, parse_filters

SPLITS = ("train", "test")


def system_prompt(max_turns: int) -> str:
    return (
        "You are shopping in an online store for the user. Find the product that matches the "
        "instruction and buy it with the right options within the budget. Reply each turn with "
        f"exactly one action. {HELP} You have {max_turns} turns; buying ends the session."
    )


def item_page(item: Item) -> str:
    return (
        f"Item {item.id}: {item.title}\n"
        f"type: {item.type} | category: {item.category} | brand: {item.brand} | "
        f"material: {item.material} | features: {', '.join(item.features)}\n"
        f"colors: {', '.join(item.colors)} | sizes: {', '.join(item.sizes)}\n"
        f"price: ${item.price:.2f}"
    )


class ShopEnv(Environment):
    """One shopping session: the current result list, page and open item."""

    def __init__(self, instance: TaskInstance, max_turns: int, index: SearchIndex, page_size: int):
        super().__init__(instance, max_turns)
        self.goal: Goal = instance.hidden["goal"]
        self.index = index
        self.page_size = page_size
        self.results: list[Item] | None = None
        self.heading = ""
        self.page = 1
        self.opened: Item | None = None
        self.bought: tuple[Item, dict[str, str]] | None = None
        self.score = 0.0

    def step(self, action: str) -> StepResult:
        self.turn += 1
        if self.bought is not None:
            return StepResult(feedback=None, done=True, info={"error": "episode already over"})
        parsed = parse_action(action)
        reward = 0.0
        if parsed is None:
            text = f"Invalid action: no action found. {HELP}"
        elif parsed.verb == "buy":
            text, reward = self._buy(parsed.arg)
        else:
            text = getattr(self, f"_{parsed.verb}")(parsed.arg)
        self.rewards.append(reward)
        done = self.bought is not None or self.turn >= self.max_turns
        info = {"verb": parsed.verb if parsed else None, "score": self.score}
        return StepResult(feedback=text, role="user", reward=reward, done=done, info=info)

    def _search(self, query: str) -> str:
        if not query:
            return "Invalid action: search needs keywords, e.g. search[blue wool sweater]."
        self.results = self.index.search(query)
        self.heading = f'Results for "{query}"'
        self.page, self.opened = 1, None
        return self.results_page()

    def _filter(self, arg: str) -> str:
        filters, error = parse_filters(arg)
        if error is not None:
            return f"Invalid action: {error}."
        pool = self.results if self.results is not None else list(self.index.items)
        self.results = [it for it in pool if matches(it, filters)]
        self.heading += (
            " filtered by " if self.heading else "Catalogue filtered by "
        ) + arg.strip()
        self.page, self.opened = 1, None
        return self.results_page()

    def _page(self, arg: str) -> str:
        if self.results is None:
            return "Invalid action: there are no results yet; use search[...] first."
        pages = self.num_pages()
        if not arg.isdigit() or not 1 <= int(arg) <= pages:
            return f"Invalid action: page must be a number from 1 to {pages}."
        self.page, self.opened = int(arg), None
        return self.results_page()

    def _open(self, arg: str) -> str:
        item = self.index.by_id.get(arg.strip().upper())
        if item is None:
            return f"Invalid action: there is no item {arg.strip()!r}; item ids look like P00123."
        self.opened = item
        return item_page(item)

    def _buy(self, arg: str) -> tuple[str, float]:
        item_id, chosen, error = parse_buy(arg)
        item = self.index.by_id.get(item_id)
        if error is None and item is None:
            error = f"there is no item {item_id!r}"
        if error is None:
            for key, available in (("color", item.colors), ("size", item.sizes)):
                if key in chosen and chosen[key] not in available:
                    error = f"{item_id} has no {key} {chosen[key]!r}; it has {', '.join(available)}"
                    break
        if error is not None:
            return f"Invalid action: {error}.", 0.0
        result = score_purchase(self.goal, item, chosen)
        self.bought, self.score = (item, chosen), result.reward
        options = ", ".join(f"{k}={v}" for k, v in chosen.items()) or "no options"
        return (
            f"You bought {item.id} ({item.title}) with {options} for ${item.price:.2f}.",
            result.reward,
        )

    def num_pages(self) -> int:
        return max(1, -(-len(self.results or []) // self.page_size))

    def page_items(self) -> list[Item]:
        start = (self.page - 1) * self.page_size
        return (self.results or [])[start : start + self.page_size]

    def results_page(self) -> str:
        if not self.results:
            return f"{self.heading}: no items found."
        lines = [
            f"{self.heading} (page {self.page} of {self.num_pages()}, {len(self.results)} items):"
        ]
        lines += [f"{it.id} | {it.title} | ${it.price:.2f}" for it in self.page_items()]
        return "\n".join(lines)

    def outcome(self) -> float:
        return self.score

    def success(self) -> bool:
        return self.score == 1.0


class ShopTask(Task):
    """Generated catalogue and instructions; deterministic given ``seed``."""

    name = "shop"

    def __init__(
        self,
        name: str = "shop",
        max_turns: int = 10,
        seed: int = 0,
        train_split: str = "train",
        split: str = "test",
        catalogue_size: int = 3000,
        page_size: int = 5,
        brand_share: float = 0.5,
        train_size: int = 2000,
        test_size: int = 200,
    ):
        super().__init__(max_turns=max_turns, seed=seed)
        if max_turns < 1:
            raise ConfigError(f"task.max_turns must be >= 1, got {max_turns}")
        if not 100 <= catalogue_size <= 100_000:
            raise ConfigError(f"task.catalogue_size must be in 100..100000, got {catalogue_size}")
        if not 1 <= page_size <= 50:
            raise ConfigError(f"task.page_size must be in 1..50, got {page_size}")
        if not 0.0 <= brand_share <= 1.0:
            raise ConfigError(f"task.brand_share must be in [0, 1], got {brand_share}")
        for key, s in (("train_split", train_split), ("split", split)):
            if s not in SPLITS:
                raise ConfigError(f"task.{key} {s!r} is not one of {', '.join(SPLITS)}")
        for key, n in (("train_size", train_size), ("test_size", test_size)):
            if n < 1:
                raise ConfigError(f"task.{key} must be >= 1, got {n}")
        self.name = name
        self.train_split, self.split = train_split, split
        self.catalogue_size, self.page_size, self.brand_share = (
            catalogue_size,
            page_size,
            brand_share,
        )
        self.sizes = {"train": train_size, "test": test_size}
        self._index: SearchIndex | None = None
        self._cache: dict[str, list[TaskInstance]] = {}

    @property
    def index(self) -> SearchIndex:
        if self._index is None:
            self._index = SearchIndex(generate_catalogue(self.seed, self.catalogue_size))
        return self._index

    def instances(self, split: str) -> list[TaskInstance]:
        if split not in self.sizes:
            raise ConfigError(f"task split {split!r} is not one of {', '.join(SPLITS)}")
        if split not in self._cache:
            rng = random.Random(f"shop-goals-{self.seed}-{split}")
            out: list[TaskInstance] = []
            seen: set[str] = set()
            for _ in range(self.sizes[split] * 50):
                if len(out) == self.sizes[split]:
                    break
                goal = draw_goal(rng, self.index.items, self.brand_share)
                if goal.split() == split and goal.id() not in seen:
                    seen.add(goal.id())
                    out.append(self._instance(goal))
            self._cache[split] = out
        return self._cache[split]

    def _instance(self, goal: Goal) -> TaskInstance:
        return TaskInstance(
            id=goal.id(),
            messages=[
                {"role": "system", "content": system_prompt(self.max_turns)},
                {"role": "user", "content": goal.instruction()},
            ],
            hidden={"goal": goal},
        )

    def make_env(self, instance: TaskInstance) -> ShopEnv:
        return ShopEnv(instance, self.max_turns, self.index, self.page_size)

    def parses(self, action: str) -> bool:
        """One of the shop's ``verb[argument]`` actions."""
        return parse_action(action) is not None

    def oracle_action(self, env: ShopEnv) -> str:
        """Search with every word of the goal, page to the first fulfilling result, open it, buy it
        with the goal's options. The source item shares all query words, so it is always found."""
        goal = env.goal
        position = next((i for i, it in enumerate(env.results or []) if fulfils(goal, it)), None)
        if position is None:
            return f"search[{goal.query()}]"
        item = env.results[position]
        if env.opened is not None and env.opened.id == item.id:
            options = ", ".join(f"{k}={v}" for k, v in goal.options)
            return f"buy[{item.id}, {options}]"
        page = position // env.page_size + 1
        if env.page != page:
            return f"page[{page}]"
        return f"open[{item.id}]"

    def demo_action(self, env: ShopEnv, rng: random.Random, slip: float = 0.3) -> str:
        """An imperfect demonstrator for the starter's warm start: the oracle, except that with
        probability ``slip`` a search leaves out one of the goal's words, an item opened or bought
        is the first result rather than the first fulfilling one, and a purchase names one option
        wrong. Its value is the action syntax and the shape of a session, not the skill."""
        action = self.oracle_action(env)
        if rng.random() >= slip:
            return action
        goal = env.goal
        if action.startswith("search["):
            words = goal.query().split()
            words.pop(rng.randrange(len(words)))
            return f"search[{' '.join(words)}]"
        if action.startswith("open[") and env.results:
            first = min((env.page - 1) * env.page_size, len(env.results) - 1)
            return f"open[{env.results[first].id}]"
        if action.startswith("buy[") and env.opened is not None:
            key = rng.choice([k for k, _ in goal.options])
            pool = env.opened.colors if key == "color" else env.opened.sizes
            options = dict(goal.options)
            options[key] = rng.choice(pool)
            listed = ", ".join(f"{k}={v}" for k, v in options.items())
            return f"buy[{env.opened.id}, {listed}]"
        return action
