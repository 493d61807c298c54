"""Differential replay: the same UserGym episodes through UserRL's own gyms and through this project.

For every task of the test split (or the first ``--per-gym N``) of FunctionGym, IntentionGym,
TelepathyGym, TurtleGym, PersuadeGym and TauGym, scripted episodes are played on both
implementations with the same agent messages and the same canned simulator/judge replies, and
compared turn by turn: the turn's reward and whether the episode ended there. The episodes, built
from each task record:

* function: the right answer at once; test inputs fetched, a probe, a wrong answer, then right;
  the test inputs as a probe, decimal inputs, an answer with text around the number, one off by
  4e-3, one within 1e-6, a fraction, content already prefixed ``[answer]``; an unknown choice; a
  turn without a tool call; wrong answers until the turn limit;
* telepathy / turtle: questions (Yes/No), ``search`` asked as a question, wrong then right guesses,
  partial, improving, worsening, above-one and negative judge scores (turtle), a judge reply that
  is not JSON or lacks a field, a lower-case verdict, a score list of the wrong length,
  ``finish``, a turn without a tool call, the turn limit;
* intention: details covered one by one in both orders (the judge's indices as UserRL numbers
  them, from 0), two at once, the same index twice, a question marked not task-related,
  out-of-range, string, float and boolean indices, ``answer`` and ``search`` asked as questions,
  an unknown choice, ``finish``, the turn limit;
* persuasion: the stance moving one step at a time to Strongly Disagree, jumping there, moving
  back, off-list labels ("Somewhat Disagree", lower case, a trailing space), a reply without a
  stance, an unreadable reply, an unknown choice, ``finish``, the turn limit;
* tau: the gold actions as tool calls, the required outputs told to the customer, then the
  customer's ``###STOP###``; the same without the outputs; then ``finish``; then a transfer to a
  human; the last gold action left out; invalid call forms, an unknown tool and bad arguments
  first; a turn without a tool call; the turn limit.

Episodes marked with a row of docs/fidelity.md play a documented difference: their disagreement
is expected and counted apart from the others.

UserRL's side runs its gym classes (``gyms/<Name>Gym``) configured as its training tool does
(``verl/tools/env_manager.py``), each message mapped to ``[choice] content`` as
``verl/tools/interact_tool.py`` does (an exception in ``step`` ends the episode with 0), and a turn
without a readable tool call ends the episode with 0, as its rollout does. Its LLM calls go to a
stand-in ``OpenAI`` client (TauGym: tau-bench's user's litellm ``completion``) that returns the
canned reply, so its own reply parsing and reward code run. Neither UserRL nor tau-bench is a
dependency of this project: run with their checkouts named by ``--userrl`` and ``--tau-bench``
(put on ``sys.path``; or have ``functiongym`` etc. and ``tau_bench`` importable through
``PYTHONPATH``) and the gyms' requirements installed (``gymnasium``, ``numpy``, ``openai``,
``pyyaml``; ``litellm`` is stubbed when absent), e.g. in a separate virtual environment that also
sees this project's packages::

    PYTHONPATH=. INFOPO_USERGYM_DATA=../shared/data/usergym \\
        python scripts/usergym_upstream_diff.py --userrl <UserRL> --tau-bench <tau-bench> \\
        [--gym G] [--per-gym N]

UserRL's gyms read their tasks from their own ``data`` folders; PersuadeGym's statement file is
stored outside git objects, so its records come from this project's data. Without tau-bench the
tau gym is skipped with a note. The full run takes about 15 minutes on two cores, most of it
tau-bench's database hashing.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

from infopo_cli.tasks.usergym import UserGymTask
from infopo_cli.tasks.usergym.protocol import format_call

GYMS = ("function", "intention", "telepathy", "turtle", "persuasion", "tau")
STANCES = (
    "Strongly Agree",
    "Agree",
    "Partly Agree",
    "Neutral",
    "Partly Disagree",
    "Disagree",
    "Strongly Disagree",
)
NO_CALL = "I would rather just talk this through."


@dataclass
class Turn:
    """One agent message: a tool call (``choice`` None: a message without one) and the canned
    replies to the LLM calls it causes, by purpose ("user", "judge")."""

    choice: str | None
    content: str = ""
    replies: dict[str, str] = field(default_factory=dict)


@dataclass
class Episode:
    name: str
    turns: list[Turn]
    documented: str | None = None  # the docs/fidelity.md row whose difference this plays


def fenced(obj: dict) -> str:
    """A reply as UserRL's prompts ask for it: JSON in a ```json fence (Python literals only, so
    its literal_eval reads it)."""
    return "```json\n" + json.dumps(obj) + "\n```"


# ----- episode scripts --------------------------------------------------------------------------
def function_episodes(record: dict, max_turns: int) -> list[Episode]:
    exp = float(record["expected_result"])
    tc = [int(v) for v in record["test_case"]]
    right = repr(exp)
    probe = " ".join(str(v + 1) for v in tc)
    ans = lambda s: Turn("answer", s)  # noqa: E731
    return [
        Episode("right_at_once", [ans(right)]),
        Episode(
            "search_probe_wrong_right",
            [Turn("search", "test"), Turn("action", probe), ans(repr(exp + 1)), ans(right)],
        ),
        Episode(
            "test_inputs_decimals_forms",
            [
                Turn("action", " ".join(map(str, tc))),
                Turn("action", "1.5 2 3 4"),
                Turn("action", "1 2 3"),
                ans(f"x = {right}"),
                ans(repr(exp + 0.004)),
                ans(repr(exp + 5e-7)),
                ans(f"{int(exp * 3)}/3"),
                ans(f"[answer] {right}"),
                Turn("finish", ""),
            ],
        ),
        Episode("unknown_choice_then_right", [Turn("guess", right), ans(right)], "3b"),
        Episode("no_call", [Turn("search", "test"), Turn(None, NO_CALL), ans(right)]),
        Episode("turn_limit", [ans(repr(exp + 2)) for _ in range(max_turns)]),
    ]


def _yes_no(word: str) -> str:
    return fenced({"thought": "...", "response": word})


def _verdict(word: str) -> str:
    return fenced({"thought": "...", "judgment": word, "feedback": "..."})


def telepathy_episodes(record: dict, max_turns: int) -> list[Episode]:
    title = record["title"]
    q = lambda text, word="Yes": Turn("action", text, {"user": _yes_no(word)})  # noqa: E731
    guess = lambda text, word: Turn("answer", text, {"judge": _verdict(word)})  # noqa: E731
    return [
        Episode("question_then_right", [q("Is it real?"), guess(title, "Yes")]),
        Episode(
            "wrong_wrong_right",
            [
                guess("Something else", "No"),
                q("Is it old?", "No"),
                guess("x", "No"),
                guess(title, "Yes"),
            ],
        ),
        Episode(
            "search_is_a_question_then_finish",
            [Turn("search", "Is it famous?", {"user": _yes_no("Maybe")}), Turn("finish", "")],
        ),
        Episode("no_call", [q("Is it alive?", "No"), Turn(None, NO_CALL)]),
        Episode("bare_verdict", [Turn("answer", title, {"judge": "Yes"})], "reply reading"),
        Episode("lower_case_verdict", [guess(title, "yes")]),
        Episode(
            "verdict_without_feedback",
            [Turn("answer", title, {"judge": fenced({"judgment": "Yes"})})],
            "reply reading",
        ),
        Episode("turn_limit", [q(f"Question {i}?", "No") for i in range(max_turns)]),
    ]


def _scores(record: dict, values: list[float]) -> str:
    crit = [c["statement"] for c in record["evaluation"]]
    crit += ["extra"] * (len(values) - len(crit))
    return fenced({"scores": [{"statement": c, "score": v} for c, v in zip(crit, values)]})


def turtle_episodes(record: dict, max_turns: int) -> list[Episode]:
    n = len(record["evaluation"])
    story = "Here is what happened."
    judge = lambda values: Turn("answer", story, {"judge": _scores(record, values)})  # noqa: E731
    q = lambda word: Turn("action", "Did someone die?", {"user": _yes_no(word)})  # noqa: E731
    first = [1.0] + [0.0] * (n - 1)
    return [
        Episode("all_covered", [q("Yes"), judge([1.0] * n)]),
        Episode("partial_then_all", [judge(first), q("No"), judge([1.0] * n)]),
        Episode("half_scores", [judge([0.5] * n), judge([0.5] * n), judge([1.0] * n)]),
        Episode("worse_after_better", [judge([1.0] * (n - 1) + [0.0]), judge(first)]),
        Episode("wrong_score_count", [judge([1.0] * (n + 1)), Turn("finish", "")]),
        Episode("scores_above_one", [judge([2.0] * n), judge([1.0] * n)]),
        Episode("negative_scores", [judge([-1.0] * n), judge(first)]),
        Episode("search_is_a_question", [Turn("search", "Was it night?", {"user": _yes_no("No")})]),
        Episode("bare_reply", [Turn("action", "Was it night?", {"user": "No"})], "reply reading"),
        Episode("no_call", [q("No"), Turn(None, NO_CALL)]),
        Episode("turn_limit", [judge([0.0] * n) for _ in range(max_turns)]),
    ]


def _judge(indices: list, related: bool = True) -> str:
    return json.dumps(
        {"analysis": "...", "is_task_related": related, "covered_detail_indices": indices}
    )


def _user(text: str = "Sure, here it is.") -> str:
    return json.dumps({"thought": "...", "response": text})


def intention_episodes(record: dict, max_turns: int) -> list[Episode]:
    n = len(record["missing_details"])
    ask = lambda idx, choice="action", **kw: Turn(  # noqa: E731
        choice, "Could you tell me more?", {"judge": _judge(idx, **kw), "user": _user()}
    )
    return [
        Episode("one_by_one", [ask([0]) for _ in range(n)]),
        Episode("last_first", [ask([n - 1 - i]) for i in range(n)]),
        Episode("two_at_once", [ask([0, 1] if n > 1 else [0])] + [ask([0]) for _ in range(n)]),
        Episode(
            "unrelated_out_of_range_strings",
            [ask([0], related=False), ask([n + 3]), ask(["0"]), ask([])],
        ),
        Episode("answer_and_search_are_questions", [ask([0], "answer"), ask([0], "search")]),
        Episode("finish", [ask([0]), Turn("finish", "")]),
        Episode("no_call", [ask([0]), Turn(None, NO_CALL)]),
        Episode("unknown_choice", [ask([0], "guess")], "3b"),
        Episode("duplicate_index", [ask([0, 0])], "duplicate detail"),
        Episode("float_and_bool_indices", [ask([0.0]), ask([True]), ask([-1])]),
        Episode("turn_limit", [ask([]) for _ in range(max_turns)]),
    ]


def _stance(stance: str) -> str:
    return fenced({"thought": "...", "response": "I see your point.", "stance": stance})


def persuasion_episodes(record: dict, max_turns: int) -> list[Episode]:
    arg = lambda stance, choice="action": Turn(  # noqa: E731
        choice, "Consider this argument.", {"user": _stance(stance)}
    )
    return [
        Episode("step_by_step", [arg(s) for s in STANCES[1:]]),
        Episode("jump", [arg("Strongly Disagree", "answer")]),
        Episode("back_and_forth", [arg("Neutral"), arg("Agree"), arg("Disagree")]),
        Episode(
            "off_list_labels",
            [
                arg("Agree"),
                arg("Somewhat Disagree"),
                arg("Strongly Disagree"),
                arg("strongly disagree"),
            ],
        ),
        Episode(
            "unreadable_reply",
            [
                arg("Agree", "search"),
                Turn("action", "More.", {"user": "I am not sure."}),
                arg("Neutral"),
            ],
        ),
        Episode("trailing_space_label", [arg("Agree "), arg("Neutral")]),
        Episode(
            "no_stance_key",
            [Turn("action", "More.", {"user": fenced({"response": "Hm."})}), arg("Neutral")],
        ),
        Episode("finish", [arg("Neutral"), Turn("finish", "")]),
        Episode("no_call", [arg("Neutral"), Turn(None, NO_CALL)]),
        Episode("unknown_choice", [Turn("guess", "Listen.", {"user": _stance("Neutral")})], "3b"),
        Episode("turn_limit", [arg("Strongly Agree") for _ in range(max_turns)]),
    ]


def _tool(name: str, kwargs: dict) -> Turn:
    return Turn("answer", json.dumps({"name": name, "arguments": kwargs}))


def tau_episodes(record: dict, max_turns: int) -> list[Episode]:
    task = record["info"]["task"]
    gold = [
        _tool(a["name"], a.get("kwargs", {}))
        for a in task.get("actions", [])
        if a["name"] != "respond"
    ]
    outputs = [str(o) for o in task.get("outputs", [])]
    say = lambda text, reply="Okay.": Turn("action", text, {"user": reply})  # noqa: E731
    told = [say("Here is what you asked for: " + " ; ".join(outputs))] if outputs else []
    stop = say("Anything else? Goodbye!", "Thanks, bye. ###STOP###")
    transfer = _tool("transfer_to_human_agents", {"summary": "The customer needs a human."})
    first = (task.get("actions") or [{}])[0]
    name, kwargs = first.get("name", "think"), json.dumps(first.get("kwargs", {}))
    return [
        Episode("gold_told_stop", [*gold, *told, stop]),
        Episode("gold_stop_untold", [*gold, stop]),
        Episode("gold_told_finish", [*gold, *told, Turn("finish", "")]),
        Episode("gold_told_transfer", [*gold, *told, transfer]),
        Episode("last_action_dropped_stop", [*gold[:-1], *told, stop]),
        Episode(
            "call_forms_then_gold",
            [
                Turn("search", "tools"),
                Turn("search", "tools"),
                Turn("search", "help"),
                Turn("answer", f"{name} {kwargs}"),  # no colon: invalid upstream
                Turn("answer", f"{name}: {kwargs}"),
                _tool("no_such_tool", {}),
                _tool(name, {"unexpected": 1}),
                *gold,
                *told,
                stop,
            ],
        ),
        Episode("no_call", [*gold[:1], Turn(None, NO_CALL)]),
        Episode("turn_limit", [*gold, *told, *[Turn("search", "help")] * max_turns]),
    ]


EPISODES = {
    "function": function_episodes,
    "intention": intention_episodes,
    "telepathy": telepathy_episodes,
    "turtle": turtle_episodes,
    "persuasion": persuasion_episodes,
    "tau": tau_episodes,
}


# ----- this project -----------------------------------------------------------------------------
def play_project(env, episode: Episode) -> list[tuple[float, bool]]:
    out = []
    opening = getattr(env, "opening_query", lambda: None)()
    if opening is not None:  # TauGym: the customer's first message, the dataset's opening
        env.opened(opening.script())
    for t in episode.turns:
        text = NO_CALL if t.choice is None else format_call(t.choice, t.content)
        res = env.step(text)
        while res.query is not None:
            purpose = res.query.meta.get("purpose")
            reply = t.replies.get(purpose)
            if reply is None:
                reply = next(iter(t.replies.values()), "")
            res = env.user_replied(reply)
        out.append((float(res.reward), bool(res.done)))
        if res.done:
            break
    return out


# ----- UserRL -----------------------------------------------------------------------------------
class CannedLLM:
    """Stands in for ``openai.OpenAI``: every chat completion returns the current turn's canned
    reply (IntentionGym's two calls told apart by their system message)."""

    replies: dict[str, str] = {}

    def __init__(self, *args, **kwargs):
        self.chat = SimpleNamespace(completions=SimpleNamespace(create=self._create))

    @classmethod
    def _create(cls, messages, **kwargs):
        if len(cls.replies) == 1:
            text = next(iter(cls.replies.values()))
        else:
            system = messages[0]["content"] if messages else ""
            purpose = "judge" if "evaluating question quality" in system else "user"
            text = cls.replies.get(purpose, "")
        message = SimpleNamespace(content=text)
        return SimpleNamespace(choices=[SimpleNamespace(message=message)])


def load_userrl(userrl: Path | None):
    """Import UserRL's five gyms and route their LLM calls to CannedLLM."""
    if userrl is not None:
        for name in ("FunctionGym", "IntentionGym", "TelepathyGym", "TurtleGym", "PersuadeGym"):
            sys.path.insert(0, str(userrl / "gyms" / name))
    os.environ.setdefault("OPENAI_API_KEY", "canned")  # their configs refuse an empty key
    import functiongym
    import intentiongym
    import intentiongym.env.prompts as intention_prompts
    import persuadegym
    import persuadegym.env.persuade_env as persuade_env
    import persuadegym.env.prompts as persuade_prompts
    import telepathygym
    import telepathygym.env.prompts as telepathy_prompts
    import turtlegym
    import turtlegym.env.prompts as turtle_prompts

    for mod in (telepathy_prompts, turtle_prompts, persuade_prompts):
        mod.OpenAI = CannedLLM
    intention_prompts.openai = SimpleNamespace(OpenAI=CannedLLM)
    return SimpleNamespace(
        function=functiongym,
        intention=intentiongym,
        telepathy=telepathygym,
        turtle=turtlegym,
        persuasion=persuadegym,
        persuade_env=persuade_env,
    )


def canned_completion(model=None, messages=(), **kwargs):
    """Stands in for litellm's ``completion`` in tau-bench's LLM user."""
    text = CannedLLM.replies.get("user", "")
    message = SimpleNamespace(
        content=text, model_dump=lambda: {"role": "assistant", "content": text}
    )
    return SimpleNamespace(
        choices=[SimpleNamespace(message=message)], _hidden_params={"response_cost": 0.0}
    )


def load_taugym(userrl: Path | None, tau_bench: Path | None):
    """Import UserRL's TauGym over tau-bench, its user's LLM calls routed to canned_completion;
    None when tau-bench cannot be imported."""
    if userrl is not None:
        sys.path.insert(0, str(userrl / "gyms" / "TauGym"))
    if tau_bench is not None:
        sys.path.insert(0, str(tau_bench))
    if "litellm" not in sys.modules:
        try:
            import litellm  # noqa: F401
        except ImportError:  # only its completion is used, and that is replaced
            sys.modules["litellm"] = SimpleNamespace(completion=canned_completion)
    try:
        import tau_bench.envs.user as tau_user
        import taugym
    except ImportError as e:
        print(f"tau: not replayed ({e})")
        return None
    tau_user.completion = canned_completion
    return taugym


def make_upstream(mods, gym: str, record: dict, max_turns: int):
    """An environment set up as verl/tools/env_manager.py creates it for training."""
    if gym == "function":
        cfg = mods.function.get_default_config()
        cfg.max_steps, cfg.data_mode, cfg.data_source = max_turns, "single", record["id"]
        env = mods.function.FunctionEnv(config=cfg)
    elif gym == "intention":
        cfg = mods.intention.get_default_config()
        cfg.max_steps, cfg.data_mode, cfg.data_source = max_turns, "single", record["id"]
        env = mods.intention.IntentionEnv(config=cfg)
    elif gym == "telepathy":
        cfg = mods.telepathy.get_default_config()
        cfg.max_steps, cfg.data_mode, cfg.data_source = max_turns, "single", record["title"]
        env = mods.telepathy.TelepathyEnv(config=cfg)
    elif gym == "turtle":
        cfg = mods.turtle.get_default_config()
        cfg.max_steps, cfg.data_mode, cfg.data_source = max_turns, "single", record["new_title"]
        cfg.success_threshold = 1.0
        env = mods.turtle.StoryEnv(config=cfg)
    elif gym == "tau":
        cfg = mods.tau.get_default_config()
        cfg.max_steps, cfg.data_mode, cfg.data_source = max_turns, "single", record["id"]
        cfg.task_category = "retail" if "retail" in record["id"] else "airline"
        cfg.task_split = "train" if "train" in record["id"] else "test"
        CannedLLM.replies = {"user": record.get("obs", "")}  # tau-bench's user opens
        env = mods.tau.TauEnv(config=cfg)
    else:
        statement = {"id": "diff", **record}
        mods.persuade_env.load_statements = lambda: [statement]
        mods.persuade_env.get_statement_by_id = lambda _id: statement
        cfg = mods.persuasion.get_default_config()
        cfg.max_steps, cfg.data_mode, cfg.data_source = max_turns, "single", "diff"
        env = mods.persuasion.PersuadeEnv(config=cfg)
    env.reset()
    return env


def interact_action(choice: str, content: str) -> str:
    """The gym's input for a tool call, as verl/tools/interact_tool.py InteractTool.execute."""
    for kind in ("action", "answer", "search"):
        if choice == kind and not content.startswith(f"[{kind}]"):
            return f"[{kind}] {content}"
    return "[finish]" if choice == "finish" else content


def play_upstream(env, episode: Episode) -> list[tuple[float, bool]]:
    out = []
    for t in episode.turns:
        if t.choice is None:  # the rollout stops: no step, reward 0
            out.append((0.0, True))
            break
        CannedLLM.replies = t.replies
        try:
            _, reward, terminated, truncated, _ = env.step(interact_action(t.choice, t.content))
            done = bool(terminated or truncated)
        except Exception:  # InteractTool.execute: a failed step ends the episode with 0
            reward, done = 0.0, True
        out.append((float(reward), done))
        if done:
            break
    return out


# ----- comparison -------------------------------------------------------------------------------
def first_difference(a: list[tuple[float, bool]], b: list[tuple[float, bool]]) -> int | None:
    """The first turn (1-based) where reward or end differ; None when the episodes agree."""
    for i in range(max(len(a), len(b))):
        if i >= len(a) or i >= len(b):
            return i + 1
        (ra, da), (rb, db) = a[i], b[i]
        if abs(ra - rb) > 1e-9 or da != db:
            return i + 1
    return None


def show(turns: list[tuple[float, bool]]) -> str:
    return " ".join(f"{r:g}{'|' if d else ''}" for r, d in turns)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--userrl", type=Path, default=None, help="UserRL checkout (its gyms/)")
    p.add_argument("--tau-bench", type=Path, default=None, help="tau-bench checkout (tau_bench/)")
    p.add_argument("--data", default=os.environ.get("INFOPO_USERGYM_DATA"), help="usergym data")
    p.add_argument("--gym", choices=GYMS, action="append", help="only these gyms (repeatable)")
    p.add_argument("--per-gym", type=int, default=0, help="first N test tasks per gym (0: all)")
    p.add_argument("--max-turns", type=int, default=16, help="turn limit (the project's default)")
    p.add_argument("--tau-max-turns", type=int, default=30, help="TauGym's turn limit")
    p.add_argument("--show", type=int, default=5, help="disagreements printed per gym")
    args = p.parse_args()
    with contextlib.redirect_stdout(io.StringIO()):
        mods = load_userrl(args.userrl)
    gyms = args.gym or GYMS
    if "tau" in gyms:
        mods.tau = load_taugym(args.userrl, args.tau_bench)
        if mods.tau is None:
            gyms = [g for g in gyms if g != "tau"]
    total = agree_total = 0
    for gym in gyms:
        kw = {"data_dir": args.data} if args.data else {}
        max_turns = args.tau_max_turns if gym == "tau" else args.max_turns
        task = UserGymTask(gym=gym, max_turns=max_turns, **kw)
        instances = task.instances("test")
        if args.per_gym:
            instances = instances[: args.per_gym]
        agree = documented = rewarded = 0
        shown: list[str] = []
        undocumented: dict[str, int] = {}
        n = 0
        for inst in instances:
            record = inst.hidden["record"]
            for ep in EPISODES[gym](record, max_turns):
                n += 1
                ours = play_project(task.make_env(inst), ep)
                with contextlib.redirect_stdout(io.StringIO()):
                    theirs = play_upstream(make_upstream(mods, gym, record, max_turns), ep)
                turn = first_difference(ours, theirs)
                if turn is None:
                    agree += 1
                    rewarded += any(r for r, _ in ours)
                    continue
                if ep.documented:
                    documented += 1
                else:
                    undocumented[ep.name] = undocumented.get(ep.name, 0) + 1
                if len(shown) < args.show or not ep.documented and len(shown) < 2 * args.show:
                    tag = f" (documented: {ep.documented})" if ep.documented else ""
                    shown.append(
                        f"  {inst.id} {ep.name}{tag}: turn {turn}; project [{show(ours)}] "
                        f"UserRL [{show(theirs)}]"
                    )
        total += n
        agree_total += agree
        print(
            f"{gym}: {agree} of {n} episodes agree on every turn's reward and end "
            f"({rewarded} of them with a non-zero reward; {documented} differ as documented; "
            f"{sum(undocumented.values())} otherwise"
            + (f": {undocumented}" if undocumented else "")
            + ")"
        )
        print("\n".join(shown))
    print(f"all: {agree_total} of {total} episodes agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
