"""UserGym against UserRL, turn by turn: the same actions and the same canned simulator/judge
replies, and every turn's reward equal to what UserRL's code gives (task.upstream_rules, the
default). The expected values are derived by hand from UserRL's sources, cited per test (paths in
the SalesforceAIResearch/UserRL repository); docs/fidelity.md lists the differences these pin.
Where the project's variant (upstream_rules=False) scores differently, the same episode is
played under it too, so each test fails if either behaviour drifts."""

from __future__ import annotations

import json

import pytest

from infopo_cli.core.rollout import rollout
from infopo_cli.simulators.base import Simulator, UserQuery
from infopo_cli.tasks.base import TaskInstance
from infopo_cli.tasks.usergym import UserGymTask
from infopo_cli.tasks.usergym.env import GymEnv
from infopo_cli.tasks.usergym.intention import IntentionEnv
from infopo_cli.tasks.usergym.persuasion import UNREADABLE, PersuasionEnv
from infopo_cli.tasks.usergym.tau.env import FAREWELL, parse_tool_request_upstream
from infopo_cli.tasks.usergym.tau.user import AGENT_GREETING
from infopo_cli.tasks.usergym.telepathy import TelepathyEnv
from infopo_cli.tasks.usergym.turtle import TurtleEnv
from tests.test_usergym_gyms import DATA, call, needs_data, turn


def synthetic(cls: type[GymEnv], record: dict, upstream_rules: bool = True, max_turns: int = 16):
    inst = TaskInstance(id="x/1", messages=[], hidden={"record": record, "kind": cls.kind})
    return cls(inst, max_turns, upstream_rules=upstream_rules)


def env_for(gym: str, key: str, **kw) -> GymEnv:
    task = UserGymTask(gym=gym, data_dir=str(DATA), **kw)
    (inst,) = [i for i in task.instances("test") if i.id == f"{gym}/{key}"]
    return task.make_env(inst)


# ----- the shared turn rules -------------------------------------------------------------------
PERSUADE = {
    "claim": "Cities should ban cars from their centres",
    "argument": "Cars pollute city centres and make streets dangerous for pedestrians.",
}


@pytest.mark.parametrize(
    "text",
    [
        "I would rather just talk.",  # no tool call at all
        '{"name": "interact_with_env", "arguments": "{oops"}',  # arguments that do not decode
        "",  # an empty message
    ],
)
def test_a_turn_without_a_readable_call_ends_the_episode(text: str) -> None:
    # verl/workers/rollout/sglang_rollout/async_sglang_rollout_customized.py: no parsed tool call
    # (or one whose arguments fail to decode) -> the request is COMPLETED, no env step, reward 0;
    # eval/eval.py: the same failure asserts and the rollout returns the rewards so far.
    env = synthetic(PersuasionEnv, PERSUADE)
    r = env.step(text)
    assert (r.reward, r.done, env.turn) == (0.0, True, 1) and r.info["no_call"]
    project = synthetic(PersuasionEnv, PERSUADE, upstream_rules=False)
    r = project.step(text)
    assert (r.reward, r.done) == (0.0, False) and r.info["invalid"]


def test_a_readable_call_with_an_unknown_choice_costs_the_turn() -> None:
    # verl/tools/interact_tool.py passes an unknown choice's content on unprefixed; a gym such as
    # FunctionGym answers "Invalid action format" with reward 0 and the episode goes on.
    env = synthetic(PersuasionEnv, PERSUADE)
    r = env.step('{"choice": "guess", "content": "x"}')
    assert (r.reward, r.done) == (0.0, False) and r.info["invalid"]


# ----- TauGym ----------------------------------------------------------------------------------
@needs_data
def test_tau_correct_state_then_turn_limit_scores_zero() -> None:
    # gyms/TauGym/taugym/env/tau_env.py: the reward is tau-bench's step reward, non-zero only on
    # the step where tau-bench's episode is done (user ###STOP### or transfer); truncation at
    # max_steps adds nothing. Project rules: the state reached is scored (1.0).
    for upstream, expected in ((True, 0.0), (False, 1.0)):
        env = env_for("tau", "retail-000", max_turns=2, upstream_rules=upstream)
        gold_change = env.oracle_action()  # retail-000's one database change
        rewards = [turn(env, gold_change).reward, turn(env, call("search", "tools")).reward]
        assert env.done and rewards == [0.0, expected] and env.outcome() == expected
        assert env.reward_info["r_actions"]  # the database did reach the gold state


@needs_data
def test_tau_finish_scores_zero_and_a_customer_stop_scores_the_state() -> None:
    # tau_env.py _handle_finish_action: the reward of the last tau-bench response, 0 unless that
    # response ended tau-bench's episode (then UserRL's episode had already ended).
    env = env_for("tau", "retail-000")
    assert [turn(env, t).reward for t in (env.oracle_action(), call("finish", ""))] == [0.0, 0.0]
    assert env.done and env.reward_info["r_actions"] and not env.success()
    # The customer's ###STOP### (tau-bench user) ends tau-bench's episode: scored, 1.0.
    env = env_for("tau", "retail-000")
    rewards = [turn(env, env.oracle_action()).reward, turn(env, call("action", FAREWELL)).reward]
    assert rewards == [0.0, 1.0] and env.done and env.success()


@needs_data
def test_tau_transfer_is_scored() -> None:
    # tau-bench's env: transfer_to_human_agents is a terminate tool, so its step carries the
    # reward (the data hash with transfers excluded from the gold replay).
    env = env_for("tau", "retail-000")
    transfer = call(
        "answer", json.dumps({"name": "transfer_to_human_agents", "arguments": {"summary": "x"}})
    )
    rewards = [turn(env, env.oracle_action()).reward, turn(env, transfer).reward]
    assert rewards == [0.0, 1.0] and env.done


@needs_data
def test_tau_context_cut_scores_zero_under_upstream_rules() -> None:
    # An episode that stops before any end (here: the rollout's length limit) never reached
    # tau-bench's done step: nothing is scored. Project rules score the state reached.
    env = env_for("tau", "retail-000")
    turn(env, env.oracle_action())
    assert not env.done and env.outcome() == 0.0
    project = env_for("tau", "retail-000", upstream_rules=False)
    turn(project, project.oracle_action())
    assert project.outcome() == 1.0


@needs_data
def test_tau_tool_call_forms_follow_parse_tau_action() -> None:
    # tau_env.py parse_tau_action: "{...}" -> json.loads, kwargs = "arguments" (tau-bench's Action
    # needs a dict); else "name: {json}" split at the first colon; anything else is invalid.
    assert parse_tool_request_upstream('get_order_details: {"order_id": "#W1"}') == (
        "get_order_details",
        {"order_id": "#W1"},
    )
    assert parse_tool_request_upstream('{"name": "think", "arguments": {"thought": "x"}}') == (
        "think",
        {"thought": "x"},
    )
    assert parse_tool_request_upstream('{"name": "list_all_product_types"}') == (
        "list_all_product_types",
        {},
    )
    for rejected in (
        'get_order_details {"order_id": "#W1"}',  # no colon
        '{"name": "think", "arguments": "{\\"thought\\": \\"x\\"}"}',  # string-encoded arguments
        "list_all_product_types",
        '```json\n{"name": "think", "arguments": {}}\n```',
    ):
        assert isinstance(parse_tool_request_upstream(rejected), str), rejected
    env = env_for("tau", "retail-000")
    r = turn(env, call("answer", 'get_order_details {"order_id": "#W2378156"}'))
    assert (r.reward, r.done) == (0.0, False) and r.info["invalid"]
    r = turn(env, call("answer", 'get_order_details: {"order_id": "#W2378156"}'))
    assert '"order_id": "#W2378156"' in r.feedback
    project = env_for("tau", "retail-000", upstream_rules=False)
    r = turn(project, call("answer", 'get_order_details {"order_id": "#W2378156"}'))
    assert '"order_id": "#W2378156"' in r.feedback


@needs_data
def test_tau_the_customer_writes_the_opening() -> None:
    # tau-bench's env.reset -> user.reset: the LLM user answers the agent's greeting, and that
    # reply is the first observation (tau_env.py reset: "User says: ...").
    env = env_for("tau", "retail-000")
    q = env.opening_query()
    assert q.conversation == [{"role": "agent", "content": AGENT_GREETING}]
    assert "###STOP###" in q.instructions and "one line" in q.instructions
    assert q.script() == env.record["obs"]  # the scripted customer opens with the dataset's line
    messages = env.opened("Hi, I want to exchange a keyboard.").messages
    assert messages[-1] == {"role": "user", "content": "Hi, I want to exchange a keyboard."}
    assert messages[0] == env.instance.messages[0]
    user = env.step(call("action", "Sure, your name please?")).query
    assert user.conversation[0]["content"] == "Hi, I want to exchange a keyboard."
    assert env_for("tau", "retail-000", upstream_rules=False).opening_query() is None


class _Chat:
    """A character-level stand-in for ChatFormat (the rollout only needs these methods)."""

    stop_ids = [0]

    def prompt_ids(self, messages):
        return self.encode(json.dumps(messages))

    def opening_ids(self, instance):
        return self.prompt_ids(instance.messages)

    def encode(self, text):
        return [ord(ch) for ch in text]

    def decode(self, ids):
        return "".join(chr(i) for i in ids if i)

    def turn_glue(self, action_ids, role):
        return [], []


class _Customer(Simulator):
    """Answers the opening query with its own line and every other query with a goodbye."""

    name = "canned"

    def __init__(self):
        super().__init__()
        self.purposes: list[str] = []

    def reply_batch(self, queries: list[UserQuery]):
        self.purposes += [q.meta.get("purpose") for q in queries]
        return [
            "Hello, I am the customer." if q.meta.get("purpose") == "opening" else "Bye ###STOP###"
            for q in queries
        ]


@needs_data
def test_rollout_asks_the_simulator_for_the_opening() -> None:
    task = UserGymTask(gym="tau", data_dir=str(DATA), max_turns=2)
    (inst,) = [i for i in task.instances("test") if i.id == "tau/retail-000"]
    sim = _Customer()
    batch = rollout(
        None,
        _Chat(),
        task,
        sim,
        [inst],
        group_size=1,
        max_new_tokens=8,
        temperature=1.0,
        max_len=10**6,
        policy=lambda env: call("action", "Goodbye!"),
    )
    (traj,) = batch.trajectories
    assert sim.purposes == ["opening", "user"]
    assert traj.info["opening"] == "Hello, I am the customer."
    assert "Hello, I am the customer." in _Chat().decode(traj.input_ids)
    assert inst.messages[-1]["content"] not in _Chat().decode(traj.input_ids)


# ----- unlisted choices ------------------------------------------------------------------------
INTENT = {
    "task": "Plan a trip.",
    "category": "Travel",
    "missing_details": [
        {"description": "Destination", "importance": "3", "options": ["Rome"], "inquiry": "Where?"},
        {"description": "Budget", "importance": "1", "options": ["Low"], "inquiry": "Budget?"},
        {"description": "Dates", "importance": "2", "options": ["May"], "inquiry": "When?"},
    ],
}


def test_intention_scores_an_answer_as_a_question() -> None:
    # gyms/IntentionGym/intentiongym/env/intention_env.py step: everything but [finish] is a
    # question; prompts.py strips the "[answer]" prefix before judging. The judge numbers the
    # open details from 0: index 2 is Dates (importance 2): 0.7.
    env = synthetic(IntentionEnv, INTENT)
    r = turn(env, call("answer", "When do you travel?"), ['{"covered": [2]}', "In May."])
    assert r.reward == pytest.approx(0.7) and r.feedback == "In May."
    project = synthetic(IntentionEnv, INTENT, upstream_rules=False)
    r = turn(project, call("answer", "When do you travel?"))
    assert r.reward == 0.0 and "not available" in r.feedback


@pytest.mark.parametrize("cls", [TelepathyEnv, TurtleEnv])
def test_search_is_a_yes_no_question_in_telepathy_and_turtle(cls) -> None:
    # telepathy_env.py / story_env.py: only [answer] and [finish] are singled out; any other
    # message goes to the yes/no host (prompts.py build_prompt with is_answer=False), reward 0.
    record = {
        "title": "Apollo 11",
        "target_entity": "Apollo 11 - the first crewed Moon landing mission",
        "new_title": "t",
        "new_surface": "A man wept.",
        "new_bottom": "He lost his dog.",
        "evaluation": [{"statement": "The dog was lost.", "score": 1.0}],
    }
    env = synthetic(cls, record)
    q = env.step(call("search", "Is it a mission?")).query
    assert q.meta["purpose"] == "user" and q.conversation[-1]["content"] == "Is it a mission?"
    r = env.user_replied('{"response": "Yes"}')
    assert (r.feedback, r.reward, r.done) == ("Yes", 0.0, False)
    project = synthetic(cls, record, upstream_rules=False)
    r = project.step(call("search", "Is it a mission?"))
    assert r.query is None and "not available" in r.feedback and r.reward == 0.0


# ----- TurtleGym ------------------------------------------------------------------------------
STORY = {
    "new_title": "Dark Light",
    "new_surface": "A man turned off a switch and later wept.",
    "new_bottom": "The man was a lighthouse keeper; with the light off a ship crashed.",
    "evaluation": [
        {"statement": "The man was a lighthouse keeper.", "score": 0.6},
        {"statement": "The ship crashed because the light was off.", "score": 0.4},
    ],
}


def test_turtle_weighs_the_judges_score_as_given() -> None:
    # gyms/TurtleGym/turtlegym/env/prompts.py parse_llm_response: overall += weight * score for
    # each criterion, no rounding; story_env.py: reward = max(0, score - best), clamped to 1.
    canned = '{"scores": [{"statement": "a", "score": 1.0}, {"statement": "b", "score": 0.4}]}'
    env = synthetic(TurtleEnv, STORY)
    assert turn(env, call("answer", "A story."), [canned]).reward == pytest.approx(0.76)
    project = synthetic(TurtleEnv, STORY, upstream_rules=False)
    assert turn(project, call("answer", "A story."), [canned]).reward == pytest.approx(0.8)


# ----- IntentionGym ----------------------------------------------------------------------------
def test_intention_rewards_never_go_below_zero() -> None:
    # intention_env.py _calculate_reward: max(0.0, base - 0.2 * (n - 1)), and normalize_rewards
    # (default True) clamps to [0, 1]. Five new details, highest importance 2: 0.7 - 0.8 -> 0.
    record = {
        "task": "Organise an event.",
        "category": "Events",
        "missing_details": [
            {"description": f"Detail {i}", "importance": "2", "options": ["x"]} for i in range(5)
        ],
    }
    env = synthetic(IntentionEnv, record)
    canned = ['{"covered": [0, 1, 2, 3, 4]}', "All of it."]  # UserRL's indices, from 0
    assert turn(env, call("action", "Tell me everything?"), canned).reward == 0.0
    project = synthetic(IntentionEnv, record, upstream_rules=False)
    canned = ['{"covered": [1, 2, 3, 4, 5]}', "All of it."]  # the project's numbers, from 1
    assert turn(project, call("action", "Tell me everything?"), canned).reward == (
        pytest.approx(-0.1)
    )


def test_intention_judge_sees_the_open_details_and_three_exchanges() -> None:
    # prompts.py build_evaluation_prompt: the remaining details, indexed in that list, with
    # importance labels and example questions, numbered from 0 (enumerate), and
    # conversation_history[-3:]; intention_env.py maps the indices (0 <= idx < len) back through
    # remaining_missing_details.
    env = synthetic(IntentionEnv, INTENT)
    first = env.step(call("action", "Where do you go?")).query
    assert "0. [high] Destination (e.g. Where?)" in first.instructions
    assert "None yet." in first.instructions
    r = env.user_replied('{"covered": [0]}')
    r = env.user_replied('{"thought": "easy", "response": "Rome."}')
    assert (r.reward, r.feedback) == (1.0, "Rome.")  # the JSON reply's response is shown
    second = env.step(call("action", "When?")).query
    assert "Destination" not in second.instructions and "0. [low] Budget" in second.instructions
    assert "Q1: Where do you go?\nA1: Rome." in second.instructions
    env.user_replied('{"covered": [1]}')  # the second OPEN detail: Dates (importance 2)
    assert env.user_replied("May.").reward == pytest.approx(0.7)
    for q in ("Anything else?", "Really?"):
        turn(env, call("action", q), ['{"covered": []}', "No."])
    last = env.step(call("action", "Budget?")).query
    assert "Where do you go?" not in last.instructions  # only the last three exchanges
    assert "Q1: When?" in last.instructions and "Q3: Really?" in last.instructions
    # A judge reply marked not task-related covers nothing (parse_evaluation_response).
    env.user_replied('{"analysis": "off", "is_task_related": false, "covered": [0]}')
    assert env.user_replied("Fine.").reward == 0.0
    project = synthetic(IntentionEnv, INTENT, upstream_rules=False)
    turn(project, call("action", "Where?"), ['{"covered": [1]}', "Rome."])
    again = project.step(call("action", "When?")).query
    assert "1. Destination" in again.instructions  # covered, still shown
    assert again.conversation == [{"role": "agent", "content": "When?"}]  # no earlier exchange


# ----- PersuadeGym -----------------------------------------------------------------------------
def stance_reply(stance: str, text: str = "I see your point.") -> str:
    return json.dumps({"thought": "...", "response": text, "stance": stance})


def test_persuasion_off_list_stance_scores_zero() -> None:
    # gyms/PersuadeGym/persuadegym/env/prompts.py calculate_stance_levels_changed: 0 when either
    # label is not one of the seven (list.index raises), and the stance is stored as written;
    # calculate_persuasion_reward rounds levels / 6 to six decimals (one level: 0.166667).
    replies = [stance_reply(s) for s in ("Agree", "Somewhat Disagree", "Strongly Disagree")]
    env = synthetic(PersuasionEnv, PERSUADE)
    rewards = [turn(env, call("answer", "Argument."), [r]).reward for r in replies]
    assert rewards == [0.166667, 0.0, 0.0] and env.done
    assert env.outcome() == pytest.approx(0.1667, abs=1e-4)
    project = synthetic(PersuasionEnv, PERSUADE, upstream_rules=False)
    rewards = [turn(project, call("answer", "Argument."), [r]).reward for r in replies]
    assert rewards == pytest.approx([1 / 6, 3 / 6, 2 / 6]) and project.outcome() == (
        pytest.approx(1.0)
    )


def test_persuasion_stance_hidden_and_user_uncapped() -> None:
    # persuade_env.py: the observation's feedback is the JSON "response" only; the stance goes to
    # the info. prompts.py PERSUADEE_RESPONSE_SYS sets no limit on how far a stance may move.
    env = synthetic(PersuasionEnv, PERSUADE)
    q = env.step(call("answer", "Consider the shops.")).query
    assert "one or two steps" not in q.instructions and '"stance"' in q.instructions
    r = env.user_replied(stance_reply("Disagree", "Fair, mostly convinced."))
    assert r.feedback == "Fair, mostly convinced." and r.reward == 0.833333
    # An unreadable reply: UserRL's fallback text, stance kept, 0.
    r = turn(env, call("search", "Another angle."), ["I am not sure."])  # search: an argument
    assert (r.feedback, r.reward) == (UNREADABLE, 0.0) and env.stance == "Disagree"
    project = synthetic(PersuasionEnv, PERSUADE, upstream_rules=False)
    assert "one or two steps" in project.step(call("answer", "x")).query.instructions


# ----- FunctionGym -----------------------------------------------------------------------------
@needs_data
def test_function_answer_rules() -> None:
    # gyms/FunctionGym/functiongym/env/function_env.py _handle_answer_action: float(content),
    # compare_answers (data_loader.py) within 1e-6, at any time (no test-case fetch needed).
    # func-484: b ** 2 + d - a * c, test inputs 5 2 5 5 -> -16.
    env = env_for("function", "func-484")
    assert [turn(env, call("answer", a)).reward for a in ("x = -16", "-16.004", "-16")] == [
        0.0,
        0.0,
        1.0,
    ]
    assert env.done and env.turn == 3
    project = env_for("function", "func-484", upstream_rules=False)
    r = turn(project, call("answer", "-16"))
    assert r.reward == 0.0 and "Retrieve the test inputs first" in r.feedback
    turn(project, call("search", "test"))
    assert turn(project, call("answer", "x = -16.004")).reward == 1.0


@needs_data
def test_function_decimal_inputs_are_evaluated() -> None:
    # function_env.py _parse_numbers reads r'-?\d+\.?\d*' as floats and evaluates the rule.
    env = env_for("function", "func-484")
    r = turn(env, call("action", "1.5 2 3 4"))  # 4 + 4 - 4.5
    assert r.feedback == "The function's output for 1.5 2 3 4 is 3.5." and r.reward == 0.0
    assert "stays hidden" in turn(env, call("action", "5.0 2 5 5")).feedback  # == test inputs
    project = env_for("function", "func-484", upstream_rules=False)
    assert "integers" in turn(project, call("action", "1.5 2 3 4")).feedback


def test_telepathy_verdict_must_be_exactly_yes() -> None:
    # gyms/TelepathyGym/telepathygym/env/prompts.py parse_llm_response: score = 1.0 only when
    # judgment == "Yes"; "yes" is a wrong guess. Project rules read any case.
    record = {"title": "Apollo 11", "target_entity": "Apollo 11 - the first crewed Moon landing"}
    reply = '```json\n{"judgment": "yes", "feedback": "Right."}\n```'
    env = synthetic(TelepathyEnv, record)
    r = turn(env, call("answer", "Apollo 11"), [reply])
    assert (r.reward, r.done) == (0.0, False)
    project = synthetic(TelepathyEnv, record, upstream_rules=False)
    assert turn(project, call("answer", "Apollo 11"), [reply]).reward == 1.0


def test_turtle_ends_when_the_answers_float_score_reaches_one() -> None:
    # gyms/TurtleGym/turtlegym/env/story_env.py: terminated = score >= success_threshold (1.0,
    # verl/tools/env_manager.py), score summed in float: 0.4 + 0.3 + 0.2 + 0.1 < 1.0, so the
    # episode goes on after a full answer (reward 0.9999999999999999) and a repeat earns 0.
    record = dict(STORY)
    record["evaluation"] = [
        {"statement": f"Point {i}.", "score": w} for i, w in enumerate((0.4, 0.3, 0.2, 0.1))
    ]
    full = json.dumps({"scores": [1.0, 1.0, 1.0, 1.0]})
    env = synthetic(TurtleEnv, record)
    rewards = [turn(env, call("answer", "A story."), [full]).reward for _ in range(2)]
    assert rewards == [pytest.approx(1.0), 0.0] and not env.done
    assert env.success()  # the project's success metric counts the full answer
    project = synthetic(TurtleEnv, record, upstream_rules=False)
    assert turn(project, call("answer", "A story."), [full]).done and project.success()


def test_intention_reads_only_integer_indices() -> None:
    # prompts.py parse_evaluation_response keeps ints and digit strings (str(i).isdigit()):
    # 0.0, True and -1 cover nothing; "0" covers the first open detail.
    replies = ['{"covered": [0.0, true, -1]}', '{"covered": ["0"]}']
    env = synthetic(IntentionEnv, INTENT)
    rewards = [turn(env, call("action", "Where?"), [r, "Rome."]).reward for r in replies]
    assert rewards == [0.0, 1.0]
