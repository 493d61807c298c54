"""TauGym: rule-based tools over copy-on-write databases, the end-state reward, and the oracle
(replaying the gold changes) on every shared test task."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from infopo_cli.tasks.tau.tools import ToolError
from infopo_cli.tasks.usergym import UserGymTask
from infopo_cli.tasks.usergym.protocol import format_call
from infopo_cli.tasks.usergym.tau.db import TauDB, canonical, load_tables
from infopo_cli.tasks.usergym.tau.env import DOMAINS, gold_state, parse_tool_request
from infopo_cli.tasks.usergym.tau.tools import Param, Tool
from infopo_cli.tasks.usergym.tau.user import ScriptedCustomer, first_person

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "usergym"
needs_data = pytest.mark.skipif(
    not DATA.is_dir(), reason=f"shared UserGym data not found at {DATA}"
)
RETAIL = DATA / "tau" / "taubench_db" / "retail"
AIRLINE = DATA / "tau" / "taubench_db" / "airline"


@pytest.fixture(scope="module")
def task() -> UserGymTask:
    if not DATA.is_dir():
        pytest.skip(f"shared UserGym data not found at {DATA}")
    return UserGymTask(gym="tau", data_dir=str(DATA))


def tool(domain: str, name: str) -> Tool:
    return {t.name: t for t in DOMAINS[domain]}[name]


def play(env, texts: list[str]):
    results = []
    for text in texts:
        res = env.step(text)
        while res.query is not None:
            res = env.user_replied(res.query.script())
        results.append(res)
    return results


def answer(name: str, **arguments) -> str:
    return format_call("answer", json.dumps({"name": name, "arguments": arguments}))


def fingerprint(tables) -> str:
    return hashlib.sha256(canonical(tables).encode()).hexdigest()


# ----- the database view -----------------------------------------------------------------------
def test_copy_on_write_atomic_and_state_comparison() -> None:
    base = {"users": {"u1": {"balance": 10, "tags": ["a"]}}, "orders": {}}
    a, b = TauDB(base), TauDB(base)
    a.edit("users", "u1")["tags"].append("b")
    assert base["users"]["u1"]["tags"] == ["a"] and a.get("users", "u1")["tags"] == ["a", "b"]
    assert not a.same_state(b)
    b.edit("users", "u1")["tags"].append("b")
    assert a.same_state(b)
    b.edit("users", "u1")["balance"] = 10.0  # 10 and 10.0 differ, as in tau-bench's data hash
    assert not a.same_state(b)
    with pytest.raises(RuntimeError), a.atomic():
        a.edit("users", "u1")["balance"] = 99
        a.put("orders", "o1", {"x": 1})
        raise RuntimeError("tool failed half way")
    assert a.get("users", "u1")["balance"] == 10 and a.get("orders", "o1") is None
    assert a.changed_keys() == {"users": ["u1"]}
    assert [k for k, _ in a.items("users")] == ["u1"]


def test_tool_argument_checks_and_failures_leave_no_trace() -> None:
    def fail_late(db: TauDB, key: str) -> str:
        db.edit("t", key)["v"] = 2
        raise ToolError("refused after editing")

    t = Tool("fail_late", "test", fail_late, {"key": Param("string", "k")}, writes=True)
    db = TauDB({"t": {"k": {"v": 1}}})
    assert t.call(db, {}) == "Error: missing argument 'key' for fail_late"
    assert t.call(db, {"key": 3}) == "Error: argument 'key' of fail_late must be a JSON string"
    assert t.call(db, {"key": "k", "x": 1}).startswith("Error: fail_late has no argument 'x'")
    assert t.call(db, {"key": "k"}) == "Error: refused after editing"
    assert db.get("t", "k") == {"v": 1} and db.changed_keys() == {}
    assert Param("array", "ids", items="string").accepts(["1", "2"]) and not Param(
        "integer", "n"
    ).accepts(True)


@needs_data
def test_retail_tools_behave_like_tau_bench() -> None:
    db = TauDB(load_tables(RETAIL))
    assert (
        tool("retail", "find_user_id_by_name_zip").call(
            db, {"first_name": "yusuf", "last_name": "Rossi", "zip": "19122"}
        )
        == "yusuf_rossi_9620"
    )
    assert tool("retail", "calculate").call(db, {"expression": "(10 + 2.345) * 2"}) == "24.69"
    assert (
        tool("retail", "calculate").call(db, {"expression": "import os"})
        == "Error: invalid characters in expression"
    )
    order = json.loads(tool("retail", "get_order_details").call(db, {"order_id": "#W2378156"}))
    assert order["status"] == "delivered"
    cancel = tool("retail", "cancel_pending_order")
    assert (
        cancel.call(db, {"order_id": "#W2378156", "reason": "no longer needed"})
        == "Error: non-pending order cannot be cancelled"
    )
    out = json.loads(
        tool("retail", "exchange_delivered_order_items").call(
            db,
            {
                "order_id": "#W2378156",
                "item_ids": ["4983901480", "1151293680"],
                "new_item_ids": ["7747408585", "7706410293"],
                "payment_method_id": "credit_card_9513926",
            },
        )
    )
    assert out["status"] == "exchange requested" and out["exchange_items"] == [
        "1151293680",
        "4983901480",
    ]
    old = {it["item_id"]: it["price"] for it in order["items"]}
    prices = {
        nid: json.loads(tool("retail", "get_product_details").call(db, {"product_id": pid}))[
            "variants"
        ][nid]["price"]
        for nid, pid in (("7747408585", "4896585277"), ("7706410293", "1656367028"))
    }
    expected = round(
        prices["7747408585"] - old["4983901480"] + prices["7706410293"] - old["1151293680"], 2
    )
    assert out["exchange_price_difference"] == expected
    assert db.changed_keys() == {"orders": ["#W2378156"]}
    assert load_tables(RETAIL)["orders"]["#W2378156"]["status"] == "delivered"


@needs_data
def test_airline_booking_checks_payment_and_uses_fixed_ids() -> None:
    db = TauDB(load_tables(AIRLINE))
    book = tool("airline", "book_reservation")
    args = {
        "user_id": "mia_li_3668",
        "origin": "JFK",
        "destination": "SEA",
        "flight_type": "one_way",
        "cabin": "economy",
        "flights": [
            {"flight_number": "HAT136", "date": "2024-05-20"},
            {"flight_number": "HAT039", "date": "2024-05-20"},
        ],
        "passengers": [{"first_name": "Mia", "last_name": "Li", "dob": "1990-04-05"}],
        "payment_methods": [
            {"payment_id": "certificate_7504069", "amount": 250},
            {"payment_id": "credit_card_4421486", "amount": 4},
        ],
        "total_baggages": 3,
        "nonfree_baggages": 0,
        "insurance": "no",
    }
    assert (
        book.call(db, args)
        == "Error: payment amount does not add up, total price is 255, but paid 254"
    )
    args["payment_methods"][1]["amount"] = 5
    res = json.loads(book.call(db, args))
    assert res["reservation_id"] == "HATHAT" and [f["price"] for f in res["flights"]] == [
        152,
        103,
    ]  # economy fares on 2024-05-20
    user = db.get("users", "mia_li_3668")
    assert (
        "certificate_7504069" not in user["payment_methods"]
        and user["reservations"][-1] == "HATHAT"
    )
    assert book.call(db, args) == "Error: payment method certificate_7504069 not found"
    search = json.loads(
        tool("airline", "search_onestop_flight").call(
            db, {"origin": "JFK", "destination": "SEA", "date": "2024-05-20"}
        )
    )
    assert ["HAT136", "HAT039"] in [[leg["flight_number"] for leg in pair] for pair in search]


def test_tool_request_forms() -> None:
    assert parse_tool_request('{"name": "think", "arguments": "{\\"thought\\": \\"x\\"}"}') == (
        "think",
        {"thought": "x"},
    )
    assert parse_tool_request('get_order_details {"order_id": "#W1"}') == (
        "get_order_details",
        {"order_id": "#W1"},
    )
    assert parse_tool_request("list_all_product_types") == ("list_all_product_types", {})
    assert "must be a JSON object" in parse_tool_request("get_order_details order #W1")
    assert "not valid JSON" in parse_tool_request('{"name": "think", "arguments": "{oops"}')


def test_scripted_customer() -> None:
    assert (
        first_person("You are Ann in 10001. If the agent asks you, say your zip.")
        == "I am Ann in 10001. If the agent asks me, say my zip."
    )
    c = ScriptedCustomer(
        "You are Ann in 10001. You want to cancel order #W1 because you no longer need it. You are polite."
    )
    assert c.reply("Could you give me your name and zip code?") == "I am Ann in 10001."
    assert (
        c.reply("Which order would you like to cancel?")
        == "I want to cancel order #W1 because I no longer need it."
    )
    assert c.reply("Shall I proceed with the cancellation?").startswith(
        "Yes, please go ahead. I want to cancel order"
    )
    assert c.reply("Hello") == "I am polite."
    assert c.reply("Thanks, goodbye!").endswith("###STOP###")


# ----- episodes ------------------------------------------------------------------------------------
@needs_data
def test_episode_tools_user_and_reward(task: UserGymTask) -> None:
    (inst,) = [
        i for i in task.instances("test") if i.id == "tau/airline-044"
    ]  # say "4", change nothing
    env = task.make_env(inst)
    r = play(
        env,
        [format_call("search", "tools"), format_call("search", "help"), format_call("search", "x")],
    )
    assert (
        r[0].feedback.count('"name"') == len(DOMAINS["airline"])
        and "book_reservation" in r[0].feedback
    )
    assert (
        "First identify the customer" in r[1].feedback
        and "accepts 'tools' or 'help'" in r[2].feedback
    )
    compact = UserGymTask(gym="tau", data_dir=str(DATA), prompt="compact")
    (small,) = [i for i in compact.instances("test") if i.id == "tau/airline-044"]
    listing = play(compact.make_env(small), [format_call("search", "tools")])[0].feedback
    assert "\nsearch_direct_flight(origin, destination, date): Available direct" in listing
    assert len(listing) < len(r[0].feedback) / 2
    r = play(
        env,
        [
            format_call("action", "Hello, what can I do for you?"),
            answer("no_such_tool"),
            answer("get_reservation_details"),
        ],
    )
    assert r[0].feedback and r[0].reward == 0.0
    assert (
        "unknown tool 'no_such_tool'" in r[1].feedback
        and "missing argument 'reservation_id'" in r[2].feedback
    )
    q = env.step(format_call("action", "You can take 4, suitcases.")).query
    assert (
        "###STOP###" in q.instructions
        and q.conversation[0]["role"] == "user"
        and q.conversation[-1]
        == {
            "role": "agent",
            "content": "You can take 4, suitcases.",
        }
    )
    r = env.user_replied("Great, thanks! ###STOP###")
    assert r.done and r.feedback == "Great, thanks!" and r.reward == 1.0 and env.success()
    assert env.reward_info == {
        "reward": 1.0,
        "r_actions": True,
        "outputs": {"4": True},
        "scored_end": True,
    }


@needs_data
def test_missing_output_or_wrong_change_scores_zero(task: UserGymTask) -> None:
    by_id = {i.id: i for i in task.instances("test")}
    env = task.make_env(by_id["tau/airline-044"])  # nothing to change, "4" to say
    r = play(env, [format_call("action", "You can take 5 suitcases."), format_call("finish", "")])
    assert r[1].reward == 0.0 and env.reward_info == {
        "reward": 0.0,
        "r_actions": True,
        "outputs": {"4": False},
        "scored_end": False,
    }
    env = task.make_env(by_id["tau/retail-000"])
    wrong = answer(
        "return_delivered_order_items",
        order_id="#W2378156",
        item_ids=["4983901480"],
        payment_method_id="credit_card_9513926",
    )
    r = play(env, [wrong, format_call("finish", "")])
    assert json.loads(r[0].feedback)["status"] == "return requested" and r[1].reward == 0.0
    env = task.make_env(by_id["tau/retail-000"])
    r = play(env, [answer("transfer_to_human_agents", summary="exchange")])
    assert r[0].done and r[0].feedback == "Transfer successful" and r[0].reward == 0.0


@needs_data
def test_turn_limit_scores_the_state_reached_under_project_rules(task: UserGymTask) -> None:
    """task.upstream_rules=false; under UserRL's rules the same episode scores 0
    (tests/test_usergym_fidelity.py)."""
    short = UserGymTask(gym="tau", data_dir=str(DATA), max_turns=2, upstream_rules=False)
    (inst,) = [i for i in short.instances("test") if i.id == "tau/retail-000"]
    env = short.make_env(inst)
    r = play(
        env, [env.oracle_action(), format_call("search", "tools")]
    )  # the one gold change, then the limit
    assert r[1].done and r[1].reward == 1.0 and env.outcome() == 1.0


@needs_data
def test_oracle_full_reward_on_every_test_task_and_tables_untouched(task: UserGymTask) -> None:
    before = {d: fingerprint(load_tables(p)) for d, p in (("retail", RETAIL), ("airline", AIRLINE))}
    changed = 0
    for inst in task.instances("test"):
        env = task.make_env(inst)
        while not env.done:
            res = env.step(task.oracle_action(env))
            while res.query is not None:
                res = env.user_replied(res.query.script())
        assert env.outcome() == 1.0 and env.success(), inst.id
        assert env.turn <= task.max_turns
        gold = gold_state(env.db_dir, json.dumps(env.gold_actions))
        assert env.db.same_state(gold)
        changed += bool(env.db.changed_keys())
    assert changed >= 100  # most tasks really change the database (the rest must leave it alone)
    after = {d: fingerprint(load_tables(p)) for d, p in (("retail", RETAIL), ("airline", AIRLINE))}
    assert after == before


@needs_data
def test_full_gold_replay_reproduces_the_gold_state(task: UserGymTask) -> None:
    """Replaying every gold action (reads included) turn by turn through the environment."""
    long_task = UserGymTask(gym="tau", data_dir=str(DATA), max_turns=64)
    for inst in long_task.instances("test"):
        env = long_task.make_env(inst)
        texts = [
            answer(a["name"], **a["kwargs"])
            for a in env.gold_actions
            if a["name"] != "transfer_to_human_agents"
        ]
        play(env, texts)
        assert env.db.same_state(gold_state(env.db_dir, json.dumps(env.gold_actions))), inst.id
