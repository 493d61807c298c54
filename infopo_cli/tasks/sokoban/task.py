"""``task=sokoban``: push every box onto a target on a generated board; the environment answers.

Each turn the agent sends one line with one or several moves:

    MOVE: up right right

(``up``/``down``/``left``/``right``, or ``u``/``d``/``l``/``r``; at most ``moves_per_turn`` are
played, the rest are ignored and the feedback says so). The feedback is the board after the moves
(only a window around the player when ``view_radius`` is set) plus a status line. A move into a
wall or into a box that cannot move is blocked: the player stays and the move still counts. Text
without a readable ``MOVE:`` line gets an explanation and the board again, never an error.

Per-turn reward = change in boxes on targets / number of boxes (levels start with no box on a
target, so the episode outcome is the share of boxes placed); success = all boxes on targets. The
episode ends when solved, after ``max_steps`` moves, or after ``max_turns`` turns.

Splits are disjoint by construction: a level belongs to the test split when a hash of its layout
falls in one fifth of the hash space, otherwise to train; each split's generator keeps only its
own levels. Level ``i`` of a split depends only on (seed, split, i), so levels are generated
lazily, and two tasks with the same config produce the same levels.
"""

from __future__ import annotations

import hashlib
import random
import re

from infopo_cli.errors import ConfigError
from infopo_cli.tasks.base import Environment, StepResult, Task, TaskInstance
from infopo_cli.tasks.sokoban.board import (
    ALIASES,
    LEGEND,
    Level,
    State,
    boxes_on_targets,
    move,
    render,
    solved,
)
from infopo_cli.tasks.sokoban.generate import Puzzle, make_puzzle
from infopo_cli.tasks.sokoban.solver import solve

DIRECTIONS = ("up", "down", "left", "right")
MOVE_RE = re.compile(r"MOVES?[ \t]*:[ \t]*([^\n]*)", re.IGNORECASE)
SPLITS = ("train", "test")


def parse_moves(text: str) -> tuple[list[str] | None, str | None]:
    """(moves, None) from the first ``MOVE:`` line, or (None, reason) when there is none or when
    a word on it is not a move."""
    m = MOVE_RE.search(text)
    if m is None:
        return None, "no 'MOVE:' line found"
    words = [w for w in re.split(r"[\s,;.]+", m.group(1).strip().lower()) if w]
    if not words:
        return None, "the 'MOVE:' line lists no moves"
    bad = [w for w in words if w not in ALIASES]
    if bad:
        return None, f"{bad[0]!r} is not a move"
    return [ALIASES[w] for w in words], None


def split_of(level: Level) -> str:
    """Test for one fifth of the layout-hash space, train for the rest."""
    return "test" if int(hashlib.sha1(level.key().encode()).hexdigest(), 16) % 5 == 0 else "train"


def system_prompt(
    num_boxes: int, max_steps: int, moves_per_turn: int, view_radius: int | None
) -> str:
    view = (
        f" You only see the cells within {view_radius} steps of you (rows and columns); '?' is "
        "outside the board."
        if view_radius is not None
        else ""
    )
    return (
        f"You play Sokoban. Push all {num_boxes} box(es) onto the targets. Legend: {LEGEND}.{view} "
        "You can push one box at a time by walking into it; you cannot pull boxes or walk through "
        "walls. Each turn reply with one line 'MOVE: ' followed by up to "
        f"{moves_per_turn} moves among up, down, left, right, for example 'MOVE: up right right'. "
        f"You have {max_steps} moves in total."
    )


def observe(level: Level, state: State, steps: int, max_steps: int, view_radius: int | None) -> str:
    """What the agent sees: the (windowed) board and a status line."""
    board = render(level, state, view_radius)
    placed, total = boxes_on_targets(level, state), len(level.targets)
    return f"{board}\nBoxes on targets: {placed}/{total}. Moves used: {steps}/{max_steps}."


class SokobanEnv(Environment):
    """One episode on one level; the board state lives here, the rules in ``board``."""

    def __init__(
        self,
        instance: TaskInstance,
        max_turns: int,
        level: Level,
        max_steps: int,
        moves_per_turn: int,
        view_radius: int | None,
    ):
        super().__init__(instance, max_turns)
        self.level = level
        self.state: State = level.start
        self.max_steps = max_steps
        self.moves_per_turn = moves_per_turn
        self.view_radius = view_radius
        self.steps = 0
        self.history: list[str] = []  # every move played, blocked ones included
        self.num_boxes = len(level.targets)
        self.finished = False

    def observation(self) -> str:
        return observe(self.level, self.state, self.steps, self.max_steps, self.view_radius)

    def step(self, action: str) -> StepResult:
        self.turn += 1
        if self.finished:
            return StepResult(feedback=None, done=True, info={"error": "episode already over"})
        moves, error = parse_moves(action)
        before = boxes_on_targets(self.level, self.state)
        notes: list[str] = []
        played: list[str] = []
        if moves is None:
            notes.append(
                f"Invalid action: {error}. Reply like 'MOVE: up left left' using up, down, left, right."
            )
        else:
            allowed = min(self.moves_per_turn, self.max_steps - self.steps)
            if len(moves) > allowed:
                notes.append(f"Only the first {allowed} of your {len(moves)} moves were played.")
            for name in moves[:allowed]:
                self.state, moved = move(self.level, self.state, name)
                self.steps += 1
                self.history.append(name)
                played.append(name if moved else f"{name} (blocked)")
                if solved(self.level, self.state):
                    break
        after = boxes_on_targets(self.level, self.state)
        reward = (after - before) / self.num_boxes
        self.rewards.append(reward)
        done_solved = solved(self.level, self.state)
        self.finished = done_solved or self.steps >= self.max_steps or self.turn >= self.max_turns
        if played:
            notes.insert(0, "Moves: " + ", ".join(played) + ".")
        if done_solved:
            notes.append("All boxes are on targets: puzzle solved.")
        elif self.steps >= self.max_steps:
            notes.append("No moves left.")
        text = "\n".join([*notes, self.observation()])
        info = {"moves": played, "boxes_on_targets": after, "steps": self.steps}
        return StepResult(feedback=text, role="user", reward=reward, done=self.finished, info=info)

    def success(self) -> bool:
        return solved(self.level, self.state)


class SokobanTask(Task):
    """Generated, verified-solvable Sokoban levels; deterministic given ``seed``."""

    name = "sokoban"

    def __init__(
        self,
        name: str = "sokoban",
        max_turns: int = 8,
        seed: int = 0,
        train_split: str = "train",
        split: str = "test",
        size: int = 6,
        num_boxes: int = 1,
        max_steps: int = 40,
        moves_per_turn: int = 5,
        min_solution_moves: int = 3,
        view_radius: int | None = None,
        train_size: int = 2000,
        test_size: int = 100,
    ):
        super().__init__(max_turns=max_turns, seed=seed)
        if max_turns < 1:
            raise ConfigError(f"task.max_turns must be >= 1, got {max_turns}")
        if not 5 <= size <= 12:
            raise ConfigError(
                f"task.size must be in 5..12 (board side including walls), got {size}"
            )
        most_boxes = min(4, max(1, (size - 2) ** 2 // 8))  # beyond this, rooms rarely fit them
        if not 1 <= num_boxes <= most_boxes:
            raise ConfigError(
                f"task.num_boxes must be in 1..{most_boxes} for size {size}, got {num_boxes}"
            )
        if max_steps < 1:
            raise ConfigError(f"task.max_steps must be >= 1, got {max_steps}")
        if moves_per_turn < 1:
            raise ConfigError(f"task.moves_per_turn must be >= 1, got {moves_per_turn}")
        if min_solution_moves < 1:
            raise ConfigError(f"task.min_solution_moves must be >= 1, got {min_solution_moves}")
        if view_radius is not None and view_radius < 1:
            raise ConfigError(
                f"task.view_radius must be null (full board) or >= 1, got {view_radius}"
            )
        for key, s in (("train_split", train_split), ("split", split)):
            if s not in SPLITS:
                raise ConfigError(f"task.{key} {s!r} is not one of {', '.join(SPLITS)}")
        for key, n in (("train_size", train_size), ("test_size", test_size)):
            if n < 1:
                raise ConfigError(f"task.{key} must be >= 1, got {n}")
        # the oracle must be able to finish within both budgets
        self.max_solution = min(max_steps, max_turns * moves_per_turn)
        if min_solution_moves > self.max_solution:
            raise ConfigError(
                f"task.min_solution_moves ({min_solution_moves}) exceeds the moves an episode allows "
                f"(min(max_steps, max_turns * moves_per_turn) = {self.max_solution})"
            )
        self.name = name
        self.train_split, self.split = train_split, split
        self.size, self.num_boxes = size, num_boxes
        self.max_steps, self.moves_per_turn = max_steps, moves_per_turn
        self.min_solution_moves, self.view_radius = min_solution_moves, view_radius
        self.sizes = {"train": train_size, "test": test_size}
        self._levels: dict[tuple[str, int], TaskInstance] = {}
        self._unique: dict[str, list[TaskInstance]] = {}

    def level(self, split: str, index: int) -> TaskInstance:
        """Level ``index`` of ``split``, generated on first use from (seed, split, index) only."""
        key = (split, index)
        if key not in self._levels:
            rng = random.Random(f"sokoban-{self.seed}-{split}-{index}")
            puzzle = make_puzzle(
                rng,
                self.size,
                self.num_boxes,
                max_moves=self.max_solution,
                min_moves=self.min_solution_moves,
                accept=lambda lv: split_of(lv) == split,
            )
            if puzzle is None:
                raise ConfigError(
                    f"task=sokoban: no level with a {self.min_solution_moves}..{self.max_solution}-move "
                    f"solution found for size {self.size} with {self.num_boxes} box(es); raise "
                    "task.max_steps / task.max_turns or lower task.min_solution_moves / task.num_boxes"
                )
            self._levels[key] = self._instance(split, index, puzzle)
        return self._levels[key]

    def _instance(self, split: str, index: int, puzzle: Puzzle) -> TaskInstance:
        level = puzzle.level
        prompt = system_prompt(
            self.num_boxes, self.max_steps, self.moves_per_turn, self.view_radius
        )
        return TaskInstance(
            id=hashlib.sha1(level.key().encode()).hexdigest()[:12],
            messages=[
                {"role": "system", "content": prompt},
                {
                    "role": "user",
                    "content": "Here is the board.\n"
                    + observe(level, level.start, 0, self.max_steps, self.view_radius),
                },
            ],
            hidden={"level": level, "solution": puzzle.solution, "split": split, "index": index},
        )

    def instances(self, split: str) -> list[TaskInstance]:
        """The first ``<split>_size`` distinct levels of the split (small boards repeat layouts;
        repeats are skipped, so a tiny board may yield fewer)."""
        if split not in self.sizes:
            raise ConfigError(f"task split {split!r} is not one of {', '.join(SPLITS)}")
        if split not in self._unique:
            out: list[TaskInstance] = []
            seen: set[str] = set()
            for i in range(self.sizes[split] * 3):
                if len(out) == self.sizes[split]:
                    break
                inst = self.level(split, i)
                if inst.id not in seen:
                    seen.add(inst.id)
                    out.append(inst)
            self._unique[split] = out
        return self._unique[split]

    def sample(self, split: str, n: int, rng: random.Random) -> list[TaskInstance]:
        """Like ``Task.sample`` but generates only the drawn levels (the train split is large);
        draws level indices, so a repeated layout is as likely as its number of indices."""
        if split not in self.sizes:
            raise ConfigError(f"task split {split!r} is not one of {', '.join(SPLITS)}")
        return [self.level(split, rng.randrange(self.sizes[split])) for _ in range(n)]

    def make_env(self, instance: TaskInstance) -> SokobanEnv:
        return SokobanEnv(
            instance,
            self.max_turns,
            instance.hidden["level"],
            self.max_steps,
            self.moves_per_turn,
            self.view_radius,
        )

    def parses(self, action: str) -> bool:
        """A ``MOVE:`` line of known moves."""
        return parse_moves(action)[0] is not None

    def oracle_action(self, env: SokobanEnv) -> str:
        """The next ``moves_per_turn`` moves of a shortest solution from the current state (the
        stored one while the episode follows it, else solved afresh)."""
        solution = self._solution_from(env)
        if solution is None:
            return "MOVE: up"  # a dead position: any legal text, the episode cannot be won
        return "MOVE: " + " ".join(solution[: env.moves_per_turn])

    def demo_action(self, env: SokobanEnv, rng: random.Random, slip: float = 0.25) -> str:
        """An imperfect demonstrator for the starter's warm start: the oracle's next moves, each
        replaced by a random direction with probability ``slip`` (the next turn plans again from
        wherever that left the board, so some slips are repaired and some push a box into a
        corner). Its value is the protocol and the feel of the board, not the skill."""
        solution = self._solution_from(env) or []
        moves = solution[: env.moves_per_turn] or [rng.choice(DIRECTIONS)]
        moves = [rng.choice(DIRECTIONS) if rng.random() < slip else m for m in moves]
        return "MOVE: " + " ".join(moves)

    def _solution_from(self, env: SokobanEnv) -> list[str] | None:
        planned = list(env.instance.hidden["solution"])
        if env.history == planned[: len(env.history)]:
            return planned[len(env.history) :]
        return solve(env.level, env.state)
