"""tau2 episodes: the text protocol, stop conditions, scoring pieces, the customer side, config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infopo_cli.errors import ConfigError
from infopo_cli.simulators.scripted import ScriptedSimulator
from infopo_cli.tasks.tau2 import Tau2Task, pass_hat_k
from infopo_cli.tasks.tau2.phone import PhoneTools
from infopo_cli.tasks.tau2.protocol import parse_tool_call
from infopo_cli.tasks.tau2.scoring import action_matches, communicated
from infopo_cli.tasks.tau2.user import (
    TOOL_RESULT,
    scripted_reply,
    to_first_person,
    user_instructions,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TAU2 = DATA / "tau2"
needs_data = pytest.mark.skipif(
    not (TAU2 / "domains").is_dir(), reason=f"tau2 data not found at {TAU2} (../shared/data/tau2)"
)


# -- pure pieces ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            'TOOL: get_user_details {"user_id": "a_1"}',
            ("get_user_details", {"user_id": "a_1"}, None),
        ),
        ("Let me look.\nTOOL: list_all_airports", ("list_all_airports", {}, None)),
        ('TOOL: calc {"x": 1} trailing words', ("calc", {"x": 1}, None)),
        ("Hello, how can I help?", None),
        ("I will use TOOL: later", None),
    ],
)
def test_parse_tool_call(text, expected):
    call = parse_tool_call(text)
    assert (call if call is None else (call.name, call.arguments, call.error)) == expected


@pytest.mark.parametrize(
    "text, error_start",
    [
        ("TOOL: x {bad", "arguments must be one JSON object (Expecting property name"),
        ("TOOL: x [1, 2]", "arguments must be one JSON object, such as"),
        ("TOOL:", "a tool call needs a tool name"),
    ],
)
def test_parse_tool_call_errors(text, error_start):
    assert parse_tool_call(text).error.startswith(error_start)


def test_pass_hat_k_hand_computed():
    trials = [[True, True, False, False], [True, True, True, True]]
    assert pass_hat_k(trials, 1) == pytest.approx((2 / 4 + 1) / 2)
    assert pass_hat_k(trials, 2) == pytest.approx((1 / 6 + 1) / 2)  # C(2,2)/C(4,2) = 1/6
    assert pass_hat_k(trials, 4) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="at least 5 trials"):
        pass_hat_k(trials, 5)


def test_communicated_ignores_case_and_commas():
    assert communicated(["1093.34", "Camera"], ["The camera costs $1,093.34 in total."])
    assert not communicated(["1093.34"], ["It costs about 1093."])
    assert communicated([], [])


def test_action_matching_rules():
    gold = {
        "name": "refuel_data",
        "arguments": {"line_id": "L1", "gb_amount": 2.0},
        "compare_args": None,
    }
    assert action_matches(gold, "refuel_data", {"line_id": "L1", "gb_amount": 2})
    assert not action_matches(gold, "refuel_data", {"line_id": "L1", "gb_amount": 3.0})
    assert not action_matches(gold, "enable_roaming", {"line_id": "L1"})
    transfer = {
        "name": "transfer_to_human_agents",
        "arguments": {"summary": "x"},
        "compare_args": [],
    }
    assert action_matches(transfer, "transfer_to_human_agents", {"summary": "anything"})


def test_first_person_rewrite():
    assert to_first_person("You are Emma Kim.\nYour user id is emma_kim_9957.") == (
        "I am Emma Kim. My user id is emma_kim_9957."
    )
    assert to_first_person("If the agent asks you, say it is ok because you were away.") == (
        "If the agent asks me, say it is ok because I was away."
    )


SCENARIO = {
    "persona": "Calm.",
    "instructions": {
        "domain": "retail",
        "reason_for_call": "You want to return order #W1.",
        "known_info": "You are Jane Doe in zip code 12345.",
        "unknown_info": "You do not remember your email.",
        "task_instructions": "Be brief.",
    },
}


def test_scripted_customer_rules():
    conv = [{"role": "user", "content": "Hi"}, {"role": "agent", "content": "How can I help?"}]
    assert scripted_reply(SCENARIO, conv, None) == "I want to return order #W1."
    conv += [
        {"role": "user", "content": "I want to return order #W1."},
        {"role": "agent", "content": "Sure, what is your name and zip code?"},
    ]
    assert scripted_reply(SCENARIO, conv, None) == (
        "I am Jane Doe in zip code 12345. I do not remember my email."
    )
    conv.append({"role": "agent", "content": "Shall I proceed with the return (yes/no)?"})
    assert scripted_reply(SCENARIO, conv, None) == "Yes, please go ahead."
    conv.append({"role": "agent", "content": "Done. Anything else?"})
    assert scripted_reply(SCENARIO, conv, None) == "No, that's all. Thank you! ###STOP###"


def test_scripted_customer_runs_phone_tools():
    specs = PhoneTools.tool_specs()
    conv = [
        {
            "role": "agent",
            "content": 'Please run set_network_mode_preference {"mode": "4g_only"} now.',
        }
    ]
    assert (
        scripted_reply(SCENARIO, conv, specs)
        == 'TOOL: set_network_mode_preference {"mode": "4g_only"}'
    )
    conv = [{"role": "agent", "content": "What does your status bar show?"}]
    assert scripted_reply(SCENARIO, conv, specs) == "TOOL: check_status_bar {}"
    conv.append({"role": "agent", "content": f"{TOOL_RESULT} Status Bar: Airplane Mode"})
    assert (
        scripted_reply(SCENARIO, conv, specs)
        == "I did that. My phone shows: Status Bar: Airplane Mode"
    )


def test_user_instructions_layout():
    text = user_instructions("# Guidelines\nBe a customer.", SCENARIO, PhoneTools.tool_specs())
    assert text.startswith("# Guidelines\nBe a customer.\n\n## Your phone tools")
    assert "- toggle_airplane_mode(): Toggles Airplane Mode ON or OFF. When ON," in text
    assert "Bluetooth. Returns the new state of airplane_mode.\n" in text  # paragraphs joined
    assert text.endswith(
        "<scenario>\nPersona:\n  Calm.\nDomain:\n  retail\nReason for call:\n  You want to return "
        "order #W1.\nKnown info:\n  You are Jane Doe in zip code 12345.\nUnknown info:\n  You do not "
        "remember your email.\nTask instructions:\n  Be brief.\n</scenario>"
    )
    assert "phone tools" not in user_instructions("G", SCENARIO, None)


# -- config -----------------------------------------------------------------------------------------


def test_missing_data_dir_is_a_config_error(tmp_path, monkeypatch):
    with pytest.raises(
        ConfigError, match="task.data_dir: .*nowhere is not a tau2-bench data folder"
    ):
        Tau2Task(data_dir=str(tmp_path / "nowhere"))
    monkeypatch.delenv("INFOPO_TAU2_DATA", raising=False)
    monkeypatch.setenv("INFOPO_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ConfigError, match=r"run `infopo data fetch tau2`"):
        Tau2Task()


@needs_data
@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"domain": "banking"}, "task.domain: unknown \\['banking'\\]"),
        ({"domain": ["retail", "retail"]}, "lists a domain twice"),
        ({"split": "dev"}, "task.split: unknown split 'dev'; accepted: base, test, train"),
        ({"prompt": "long"}, "task.prompt must be one of full, compact, auto"),
        ({"max_turns": 0}, "task.max_turns must be an integer >= 1"),
        ({"policy_max_chars": -1}, "task.policy_max_chars"),
        ({"tasks_file": "nope.json"}, "missing .*nope.json"),
    ],
)
def test_bad_config_values(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        Tau2Task(**{"data_dir": str(TAU2), "domain": "retail", **kwargs})


@needs_data
def test_splits_domains_and_ids():
    counts = {}
    for domain in ("airline", "retail", "telecom"):
        task = Tau2Task(data_dir=str(TAU2), domain=domain)
        counts[domain] = {s: len(task.instances(s)) for s in ("train", "test", "base")}
    assert counts == {
        "airline": {"train": 30, "test": 16, "base": 46},
        "retail": {"train": 74, "test": 32, "base": 106},
        "telecom": {"train": 74, "test": 32, "base": 106},
    }
    mixed = Tau2Task(data_dir=str(TAU2), domain="airline,retail")
    ids = [i.id for i in mixed.instances("test")]
    assert len(ids) == 48 and ids[0].startswith("airline/") and ids[-1].startswith("retail/")
    assert len(Tau2Task(data_dir=str(TAU2), domain="all", split="small").instances("small")) == 20


@needs_data
def test_prompt_modes_and_tool_schemas():
    full = Tau2Task(data_dir=str(TAU2), domain="airline", prompt="full")
    compact = Tau2Task(data_dir=str(TAU2), domain="airline", prompt="auto", context_len=1024)
    assert compact.prompt_mode == "compact"
    assert Tau2Task(data_dir=str(TAU2), domain="airline", context_len=8192).prompt_mode == "full"
    policy = (TAU2 / "domains" / "airline" / "policy.md").read_text().strip()
    long_text = full.instances("test")[0].messages[0]["content"]
    assert policy in long_text
    assert "- get_user_details(user_id: str): Get the details of a user" in long_text
    short = compact.instances("test")[0].messages
    assert short[1] == {"role": "user", "content": "Hi! I need some help."}
    assert len(short[0]["content"]) < 1500 and "[... policy shortened ...]" in short[0]["content"]
    assert "get_user_details(user_id)" in short[0]["content"]
    schemas = {s["function"]["name"]: s for s in full.tool_schemas("airline")}
    assert schemas["get_user_details"] == {
        "type": "function",
        "function": {
            "name": "get_user_details",
            "description": "Get the details of a user: profile, payment methods, saved passengers, reservations.",
            "parameters": {
                "type": "object",
                "properties": {
                    "user_id": {
                        "type": "string",
                        "description": "The user id, such as 'sara_doe_496'.",
                    }
                },
                "required": ["user_id"],
            },
        },
    }
    assert len(schemas) == 14
    phone = Tau2Task(data_dir=str(TAU2), domain="telecom").tool_schemas("telecom", side="user")
    assert "toggle_airplane_mode" in {s["function"]["name"] for s in phone}
    json.dumps(phone)  # plain JSON


# -- episodes on real tasks -------------------------------------------------------------------------


def play(task, env, messages, sim=None):
    sim = sim or ScriptedSimulator()
    results = []
    for text in messages:
        res = env.step(text)
        while res.query is not None:
            res = env.user_replied(sim.reply_batch([res.query])[0])
        results.append(res)
        if res.done:
            break
    return results


def instance(task, task_id):
    return next(i for i in task.instances("base") if i.id == task_id)


@needs_data
def test_stop_conditions_decide_whether_a_correct_state_scores():
    task = Tau2Task(data_dir=str(TAU2), domain="airline", max_turns=2)
    inst = instance(
        task, "airline/0"
    )  # no gold actions, nothing to communicate: DB must stay as is
    env = task.make_env(inst)
    results = play(task, env, ["Hello, how can I help you?", "Let me think about it."])
    assert [r.done for r in results] == [False, True]
    assert env.termination == "max_turns" and env.outcome() == 0.0
    env = task.make_env(inst)
    (res,) = play(task, env, ["I cannot cancel this reservation. ###STOP###"])
    assert res.done and res.reward == 1.0 and env.termination == "agent_stop" and env.success()


@needs_data
def test_tool_errors_are_feedback_and_transfer_ends_the_episode():
    # the project's deviation: a transfer ends the episode at once (upstream: tests/test_tau2_fidelity)
    task = Tau2Task(data_dir=str(TAU2), domain="retail", strict_upstream=False)
    env = task.make_env(instance(task, "retail/50"))  # gold: transfer to a human agent only
    res = env.step('TOOL: get_order_details {"order_id": "W1"}')
    assert (res.feedback, res.role, res.done) == ("Error: order not found", "tool", False)
    res = env.step("TOOL: fly_away {}")
    assert res.feedback.startswith("Error: unknown tool 'fly_away'; available: calculate, ")
    res = env.step("TOOL: get_order_details {order_id: 1}")
    assert res.feedback.startswith("Error: arguments must be one JSON object")
    res = env.step('TOOL: transfer_to_human_agents {"summary": "needs a human"}')
    assert res.done and env.termination == "transfer" and res.reward == 1.0
    assert env.calls[-1] == ("assistant", "transfer_to_human_agents", {"summary": "needs a human"})


@needs_data
def test_telecom_oracle_uses_the_customers_phone():
    task = Tau2Task(data_dir=str(TAU2), domain="telecom")
    inst = next(i for i in task.instances("test") if "airplane_mode_on" in i.id)
    env = task.make_env(inst)
    assert env.world.phone.device["airplane_mode"]  # the set-up broke the phone
    plan = env.oracle_plan()
    assert plan[0] == "Please do this on your phone and tell me the result: toggle_airplane_mode {}"
    first = play(task, env, plan[:1])[0]
    assert first.role == "user" and first.feedback.startswith(
        "I did that. My phone shows: Airplane Mode is now OFF."
    )
    assert env.calls == [("user", "toggle_airplane_mode", {})]
    assert not env.world.phone.device["airplane_mode"]
    q = env._query()
    assert [m["role"] for m in q.conversation][-4:] == ["agent", "user", "agent", "user"]
    assert q.conversation[-2]["content"].startswith(TOOL_RESULT)
    assert q.instructions.startswith("# User Simulation Guidelines")
    assert "<scenario>" in q.instructions and q.meta["domain"] == "telecom"


@needs_data
def test_customer_tool_calls_are_capped_per_turn():
    task = Tau2Task(data_dir=str(TAU2), domain="telecom", max_user_tool_calls=2)
    env = task.make_env(task.instances("test")[0])
    res = env.step("Please check your status bar.")
    for _ in range(2):
        res = env.user_replied("TOOL: check_status_bar {}")
        assert res.query is not None
    res = env.user_replied("TOOL: check_status_bar {}")  # over the cap: passed on as a message
    assert res.query is None and res.feedback == "TOOL: check_status_bar {}" and res.role == "user"


@needs_data
def test_yaml_composes_and_sizes_the_prompt_to_the_model():
    from hydra import compose, initialize_config_dir

    from infopo_cli.config import CONF_DIR
    from infopo_cli.recipes.setup import build_task

    def task_for(*overrides):
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(
                config_name="train", overrides=["task=tau2", f"task.data_dir={TAU2}", *overrides]
            )
        return build_task(cfg)

    tiny = task_for("model=tiny", "task.domain=[airline,telecom]")
    assert (tiny.prompt_mode, tiny.domains, tiny.max_turns, tiny.split) == (
        "compact",
        ["airline", "telecom"],
        200,  # max_turns: null -> max_steps binds (strict_upstream)
        "test",
    )
    assert (tiny.strict_upstream, tiny.max_steps, tiny.max_errors) == (True, 200, 10)
    loose = task_for("model=tiny", "task.strict_upstream=false")
    assert (loose.strict_upstream, loose.max_turns) == (False, 30)
    assert task_for("model=qwen2.5-7b").prompt_mode == "full"  # max_len 8192
    with pytest.raises(ConfigError, match="task.domain: unknown"):
        task_for("task.domain=shopping")
