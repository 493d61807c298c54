"""tau2 behaves as tau2-bench's code for a live agent (``strict_upstream=true``, the default), and
each of the project's deviations is still there with ``strict_upstream=false``.

One test per row of ``docs/fidelity.md`` (## tau2-bench). Hand-made databases keep the expected
values computable by hand; the shipped data is used where the difference is about it.
"""

from __future__ import annotations

import copy
import json

import pytest

from infopo_cli.simulators.scripted import ScriptedSimulator
from infopo_cli.tasks.tau.store import Database
from infopo_cli.tasks.tau2 import Tau2Task
from infopo_cli.tasks.tau2.airline import AirlineTools
from infopo_cli.tasks.tau2.env import HANDOFF
from infopo_cli.tasks.tau2.phone import PhoneTools
from infopo_cli.tasks.tau2.protocol import format_tool_call
from infopo_cli.tasks.tau2.retail import RetailTools
from infopo_cli.tasks.tau2.scoring import score
from infopo_cli.tasks.tau2.world import World, gold_world, set_up
from tests.test_tau2_env import TAU2, instance, needs_data, play
from tests.test_tau2_tools import airline_base, err, ok, telecom_data

MODES = [True, False]


def airline(strict: bool) -> AirlineTools:
    tools = AirlineTools(Database(airline_base()))
    tools.strict_upstream = strict
    return tools


# -- 1. unknown keys in tool arguments ---------------------------------------------------------------


@pytest.mark.parametrize("strict", MODES)
def test_unknown_nested_keys_are_dropped_as_pydantic_does(strict):
    tools = airline(strict)
    args = {
        "reservation_id": "ABC123",
        "cabin": "business",
        "flights": [{"flight_number": "HAT001", "date": "2024-05-20", "price": 120}],
        "payment_id": "credit_card_1",
    }
    if strict:  # FlightInfo is a plain BaseModel upstream: the extra key is ignored
        res = ok(tools.call("update_reservation_flights", args))
        assert res["flights"][0] == {
            "origin": "JFK",
            "destination": "LAX",
            "flight_number": "HAT001",
            "date": "2024-05-20",
            "price": 400,
        }
    else:
        assert err(tools.call("update_reservation_flights", args)) == (
            "Error: unknown argument 'flights[0].price'; accepted: flight_number, date"
        )
    passengers = [{"first_name": "Ann", "last_name": "Lee", "dob": "1990-01-01", "age": 34}] * 2
    args = {"reservation_id": "ABC123", "passengers": passengers}
    text, success = tools.call("update_reservation_passengers", args)
    assert success is strict
    if strict:
        assert "age" not in json.loads(text)["passengers"][0]


@pytest.mark.parametrize("strict", MODES)
def test_unknown_top_level_keys_and_forbidding_models_are_refused_in_both_modes(strict):
    # upstream calls the method with the arguments as keywords: an unknown one is a TypeError
    tools = airline(strict)
    args = {"reservation_id": "ABC123", "note": "hi"}
    assert err(tools.call("get_reservation_details", args)).startswith(
        "Error: unknown argument 'note'"
    )
    # APNSettings is a BaseModelNoExtra (extra="forbid") upstream
    world = World(telecom_data(), strict_upstream=strict)
    text, success = world.call("user", "set_apn_settings", {"apn_settings": {"colour": "red"}})
    assert not success and "unknown argument 'apn_settings.colour'" in text


def test_tool_schemas_advertise_which_nested_objects_accept_other_keys():
    flights = AirlineTools.tool_specs()["book_reservation"].parameters()["properties"]["flights"]
    assert "additionalProperties" not in flights["items"]
    apn = PhoneTools.tool_specs()["set_apn_settings"].parameters()["properties"]["apn_settings"]
    assert apn["additionalProperties"] is False


# -- 2. retail multi-item modification ---------------------------------------------------------------


def two_product_store() -> dict:
    def variant(item_id, color, price):
        return {"item_id": item_id, "options": {"color": color}, "available": True, "price": price}

    def item(product_id, item_id, price, color):
        return {
            "name": product_id,
            "product_id": product_id,
            "item_id": item_id,
            "price": price,
            "options": {"color": color},
        }

    products = {
        "P1": {"name": "P1", "product_id": "P1", "variants": {"I1": variant("I1", "blue", 50.0), "I2": variant("I2", "red", 55.5)}},
        "P2": {"name": "P2", "product_id": "P2", "variants": {"J1": variant("J1", "black", 10.0), "J2": variant("J2", "white", 12.0)}},
    }  # fmt: skip
    user = {
        "user_id": "u1",
        "payment_methods": {"credit_card_1": {"source": "credit_card", "id": "credit_card_1"}},
        "orders": ["#W1"],
    }
    order = {
        "order_id": "#W1",
        "user_id": "u1",
        "items": [item("P1", "I1", 50.0, "blue"), item("P2", "J1", 10.0, "black")],
        "status": "pending",
        "payment_history": [
            {"transaction_type": "payment", "amount": 60.0, "payment_method_id": "credit_card_1"}
        ],
    }
    return {"products": products, "users": {"u1": user}, "orders": {"#W1": order}}


def modified_items(strict: bool, item_ids: list[str], new_item_ids: list[str]) -> list[tuple]:
    tools = RetailTools(Database(two_product_store()))
    tools.strict_upstream = strict
    args = {
        "order_id": "#W1",
        "item_ids": item_ids,
        "new_item_ids": new_item_ids,
        "payment_method_id": "credit_card_1",
    }
    order = ok(tools.call("modify_pending_order_items", args))
    assert order["payment_history"][-1]["amount"] == 7.5  # the difference is right either way
    return [(i["item_id"], i["price"], i["options"]["color"]) for i in order["items"]]


def test_multi_item_modification_follows_upstreams_last_variant_bug():
    # tau2-bench gives every modified item the last new variant's price and options
    assert modified_items(True, ["I1", "J1"], ["I2", "J2"]) == [
        ("I2", 12.0, "white"),
        ("J2", 12.0, "white"),
    ]
    # so the order of item_ids changes the end state (and the DB score)
    assert modified_items(True, ["J1", "I1"], ["J2", "I2"]) == [
        ("I2", 55.5, "red"),
        ("J2", 55.5, "red"),
    ]
    for order in (["I1", "J1"], ["J1", "I1"]):  # the project's fix: each item its own variant
        new = ["I2" if i == "I1" else "J2" for i in order]
        assert modified_items(False, order, new) == [("I2", 55.5, "red"), ("J2", 12.0, "white")]


@needs_data
@pytest.mark.parametrize("tasks_file", ["tasks.json", "tasks_tau3_2026.json"])
def test_the_retail_tasks_whose_gold_state_depends_on_the_bug(tasks_file):
    task = Tau2Task(data_dir=str(TAU2), domain="retail", tasks_file=tasks_file)
    data = task.domain_data("retail")
    differ = [
        t
        for t, row in data.tasks.items()
        if gold_world(data, row, strict_upstream=True).diff(
            gold_world(data, row, strict_upstream=False)
        )
    ]
    assert differ == ["20", "21", "36", "37", "100"]


@needs_data
@pytest.mark.parametrize("strict", MODES)
def test_reversed_items_in_a_gold_modification_change_the_score(strict):
    task = Tau2Task(data_dir=str(TAU2), domain="retail", strict_upstream=strict)
    inst = next(i for i in task.instances("base") if i.id == "retail/20")
    env = task.make_env(inst)
    plan = env.oracle_plan()
    for k, step in enumerate(plan):
        if "modify_pending_order_items" in step:
            args = json.loads(step.split(" ", 2)[2])
            args["item_ids"].reverse()
            args["new_item_ids"].reverse()
            plan[k] = format_tool_call("modify_pending_order_items", args)
    play(task, env, plan + ["Goodbye. ###STOP###"])
    assert env.termination in ("user_stop", "agent_stop")
    # upstream: another order of the same items is another end state, hence reward 0
    assert env.outcome() == (0.0 if strict else 1.0), env.breakdown


# -- 3. get_item_details -----------------------------------------------------------------------------


def test_get_item_details_is_offered_after_get_product_details():
    names = list(RetailTools.tool_specs())
    assert names.index("get_item_details") == names.index("get_product_details") + 1
    tools = RetailTools(Database(two_product_store()))
    assert ok(tools.call("get_item_details", {"item_id": "J2"})) == {
        "item_id": "J2",
        "options": {"color": "white"},
        "available": True,
        "price": 12.0,
    }
    assert err(tools.call("get_item_details", {"item_id": "P1"})) == "Error: item not found"


@needs_data
def test_newer_revision_tasks_that_use_get_item_details_score_one():
    task = Tau2Task(data_dir=str(TAU2), domain="retail", tasks_file="tasks_tau3_2026.json")
    data = task.domain_data("retail")
    using = [
        t
        for t, row in data.tasks.items()
        if any(a["name"] == "get_item_details" for a in row["evaluation_criteria"]["actions"])
    ]
    for tid in using:
        env = task.make_env(next(i for i in task.instances("base") if i.id == f"retail/{tid}"))
        play(task, env, env.oracle_plan())
        assert env.outcome() == 1.0, (tid, env.breakdown)
        assert any(name == "get_item_details" for _, name, _ in env.calls)


# -- 4. airline searches -----------------------------------------------------------------------------


def overnight_airline(strict: bool, day: str) -> AirlineTools:
    base = airline_base()

    def flight(number, origin, dest, dep, arr, date):
        return {
            "flight_number": number,
            "origin": origin,
            "destination": dest,
            "scheduled_departure_time_est": dep,
            "scheduled_arrival_time_est": arr,
            "dates": {
                date: {
                    "status": "available",
                    "available_seats": {"basic_economy": 1, "economy": 1, "business": 1},
                    "prices": {"basic_economy": 1, "economy": 2, "business": 3},
                }
            },
        }

    nxt = f"2024-05-{int(day[-2:]) + 1:02d}"  # the calendar's next day
    base["flights"] = {
        "N1": flight("N1", "SEA", "JFK", "22:00:00", "06:00:00+1", day),
        "N2": flight("N2", "JFK", "BOS", "06:00:00", "07:00:00", nxt),  # 0-minute layover
        "N3": flight("N3", "JFK", "BOS", "06:30:00", "07:30:00", nxt),
    }
    tools = AirlineTools(Database(base))
    tools.strict_upstream = strict
    return tools


@pytest.mark.parametrize("strict", MODES)
def test_direct_search_leaves_the_date_empty_upstream(strict):
    tools = airline(strict)
    args = {"origin": "JFK", "destination": "LAX", "date": "2024-05-20"}
    (found,) = ok(tools.call("search_direct_flight", args))
    assert found["date"] == (None if strict else "2024-05-20")
    args = {"origin": "JFK", "destination": "SEA", "date": "2024-05-20"}
    ((first, second),) = ok(tools.call("search_onestop_flight", args))
    assert (first["date"], second["date"]) == ("2024-05-20", "2024-05-20")


@pytest.mark.parametrize("strict", MODES)
def test_overnight_connections(strict):
    args = {"origin": "SEA", "destination": "BOS", "date": "2024-05-10"}
    pairs = ok(overnight_airline(strict, "2024-05-10").call("search_onestop_flight", args))
    # upstream compares "06:00:00" >= "06:00:00+1" as text: a 0-minute layover after an overnight
    # flight does not qualify (same-day ones do, as in test_searches_and_certificates)
    want = [["N1", "N3"]] if strict else [["N1", "N2"], ["N1", "N3"]]
    assert [[a["flight_number"], b["flight_number"]] for a, b in pairs] == want
    assert all(b["date"] == "2024-05-11" for _, b in pairs)
    args = {"origin": "SEA", "destination": "BOS", "date": "2024-05-05"}
    pairs = ok(overnight_airline(strict, "2024-05-05").call("search_onestop_flight", args))
    # upstream's next day is "2024-05-6" (no zero padding): no flight has that date
    assert len(pairs) == (0 if strict else 2)


# -- 5. telecom lookups and the phone's descriptions -------------------------------------------------


@pytest.mark.parametrize("strict", MODES)
def test_phone_numbers_match_exactly_upstream(strict):
    world = World(telecom_data(), strict_upstream=strict)
    assert ok(world.call("assistant", "get_customer_by_phone", {"phone_number": "555-000-0001"}))
    text, success = world.call(
        "assistant", "get_customer_by_phone", {"phone_number": "(555) 000 0001"}
    )
    assert success is not strict
    if strict:
        assert text == "Error: customer with phone number (555) 000 0001 not found"


def test_phone_tool_descriptions_are_upstreams_docstrings():
    specs = PhoneTools.tool_specs()
    assert len(specs) == 30
    assert specs["toggle_airplane_mode"].description == (
        "Toggles Airplane Mode ON or OFF. When ON, it disconnects all wireless communications "
        "including cellular, Wi-Fi, and Bluetooth.\n\nReturns the new state of airplane_mode."
    )
    assert specs["reseat_sim_card"].description == (
        "Simulates removing and reinserting your SIM card. This can help resolve recognition "
        "issues."
    )
    assert specs["make_payment"].description == (
        "Makes a payment for the bill that the agent has sent you."
    )
    grant = specs["grant_app_permission"].parameters()["properties"]
    assert grant == {
        "app_name": {"type": "string", "description": "The name of the app to grant the permission to."},
        "permission": {"type": "string", "description": "The permission to grant, should be lowercase."},
    }  # fmt: skip
    # arguments tau2-bench leaves undocumented carry no description
    assert "description" not in specs["check_app_status"].parameters()["properties"]["app_name"]


# -- 6. limits and termination -----------------------------------------------------------------------


@needs_data
@pytest.mark.parametrize("strict", MODES)
def test_ten_failed_tool_calls_end_the_episode_upstream(strict):
    task = Tau2Task(data_dir=str(TAU2), domain="retail", strict_upstream=strict)
    env = task.make_env(instance(task, "retail/50"))
    for n in range(1, 11):
        res = env.step('TOOL: get_order_details {"order_id": "W1"}')
        assert res.feedback == "Error: order not found"
        assert res.done is (strict and n == 10)
    if strict:
        assert (env.termination, res.reward, env.errors, env.steps) == (
            "too_many_errors",
            0.0,
            10,
            21,
        )
    else:
        assert env.termination is None


@needs_data
def test_user_tool_errors_count_too():
    task = Tau2Task(data_dir=str(TAU2), domain="telecom", max_errors=2)
    env = task.make_env(task.instances("test")[0])
    res = env.step("Please check your phone.")
    res = env.user_replied('TOOL: toggle_data {"on": true}')  # upstream: a TypeError
    assert res.query is not None and env.errors == 1
    assert not env.user_replied("It did not work.").done
    res = env.step('TOOL: get_customer_by_id {"customer_id": "nobody"}')
    assert res.done and env.termination == "too_many_errors" and res.reward == 0.0


@needs_data
def test_steps_count_every_message_as_upstream():
    task = Tau2Task(data_dir=str(TAU2), domain="retail", max_steps=6)
    env = task.make_env(instance(task, "retail/50"))  # the opening message is step 1
    assert not env.step('TOOL: find_user_id_by_email {"email": "x@y.z"}').done  # steps 2, 3
    res = env.step("May I have your name?")  # step 4, then the customer's reply is step 5
    assert res.query is not None
    res = env.user_replied("I am Yusuf.")
    assert not res.done and env.steps == 5
    res = env.step("Thanks.")  # step 6: the limit, checked before the customer is asked
    assert res.done and env.termination == "max_steps" and res.reward == 0.0
    # a stop in the step that reaches the limit still scores 0 (upstream checks after the step)
    env = task.make_env(instance(task, "retail/50"))
    env.step('TOOL: find_user_id_by_email {"email": "x@y.z"}')
    env.step("May I have your name?")
    env.user_replied("I am Yusuf.")
    res = env.step("Goodbye. ###STOP###")
    assert env.termination == "max_steps" and res.reward == 0.0


@needs_data
def test_max_turns_null_leaves_the_cap_to_max_steps():
    task = Tau2Task(data_dir=str(TAU2), domain="retail")
    assert (task.max_turns, task.max_steps, task.max_errors) == (200, 200, 10)
    assert Tau2Task(data_dir=str(TAU2), domain="retail", strict_upstream=False).max_turns == 30


@needs_data
@pytest.mark.parametrize("strict", MODES)
def test_transfer_is_a_tool_and_the_customer_ends_the_episode_upstream(strict):
    task = Tau2Task(data_dir=str(TAU2), domain="retail", strict_upstream=strict)
    env = task.make_env(instance(task, "retail/50"))  # gold: transfer to a human agent only
    res = env.step('TOOL: transfer_to_human_agents {"summary": "needs a human"}')
    assert res.feedback == "Transfer successful"
    if not strict:
        assert res.done and env.termination == "transfer" and res.reward == 1.0
        return
    assert not res.done
    res = env.step(HANDOFF)
    reply = ScriptedSimulator().reply_batch([res.query])[0]
    assert reply == "###TRANSFER###"
    res = env.user_replied(reply)
    assert res.done and env.termination == "user_stop" and res.reward == 1.0


def test_worlds_are_independent_of_the_mode_of_others():
    strict, loose = World(telecom_data(), True), World(telecom_data(), False)
    assert (strict.agent.strict_upstream, loose.agent.strict_upstream) == (True, False)
    assert (strict.phone.strict_upstream, loose.phone.strict_upstream) == (True, False)
    assert copy.copy(RetailTools.strict_upstream) is True  # the class default is upstream's


# -- 8. telecom: the gold state, and what the tools answer -------------------------------------------


def telecom_row(actions: list[dict], basis: list[str]) -> dict:
    start = {"name": "John Smith", "phone_number": "555-000-0001"}
    return {
        "id": "t",
        "initial_state": {
            "initialization_actions": [
                {"env_type": "user", "func_name": "set_user_info", "arguments": start}
            ]
        },
        "evaluation_criteria": {"actions": actions, "reward_basis": basis},
    }


def phone_on(world: World) -> None:
    world.run_function("user", "set_user_info", {"name": "J", "phone_number": "555-000-0001"})
    world.run_function("user", "simulate_network_search", {})  # as the tasks' set-ups do


REFUEL = {"customer_id": "C1", "line_id": "L1", "gb_amount": 2.0}
DATA_LEFT = {"env_type": "user", "func_name": "assert_mobile_data_usage_exceeded"}


@pytest.mark.parametrize("strict", MODES)
def test_gold_actions_are_not_synchronised_upstream(strict):
    """tau2-bench's evaluator replays the gold actions with make_tool_call (no sync_tools): the
    refuel reaches the line but not the phone, so the gold calls made live (synchronised) do not
    equal the gold state. The DB check fails upstream; the assertions still hold."""
    data = telecom_data()
    row = telecom_row([{"name": "refuel_data", "arguments": REFUEL}], ["DB"])
    gold = gold_world(data, row, strict_upstream=strict)
    assert gold.agent.lines["L1"]["data_refueling_gb"] == 2.0  # 5.5 GB used of 5 + 2
    assert gold.phone.around["mobile_data_usage_exceeded"] is strict
    world = set_up(data, row, strict)
    assert ok(world.call("assistant", "refuel_data", REFUEL))
    assert world.phone.around["mobile_data_usage_exceeded"] is False
    assert world.diff(gold) == (["phone/surroundings"] if strict else [])
    calls = [("assistant", "refuel_data", REFUEL)]
    assert score(row, world, gold, [], calls, True)[0] == (0.0 if strict else 1.0)
    row["evaluation_criteria"]["reward_basis"] = ["ENV_ASSERTION"]  # telecom's tasks
    row["evaluation_criteria"]["env_assertions"] = [
        {**DATA_LEFT, "arguments": {"expected_status": False}}
    ]
    assert score(row, world, gold, [], calls, True)[0] == 1.0


@pytest.mark.parametrize("strict", MODES)
def test_an_unsynchronised_gold_payment_is_never_made(strict):
    """Upstream's gold: the payment request never reaches the phone, so the customer's gold
    make_payment finds none and the bill stays awaiting payment."""
    data = telecom_data()
    actions = [
        {"name": "send_payment_request", "arguments": {"customer_id": "C1", "bill_id": "B2"}},
        {"name": "make_payment", "arguments": {}, "requestor": "user"},
    ]
    gold = gold_world(data, telecom_row(actions, ["DB"]), strict_upstream=strict)
    assert gold.agent.bills["B2"]["status"] == ("Awaiting Payment" if strict else "Paid")
    assert gold.phone.around["payment_request"] is None


@pytest.mark.parametrize("strict", MODES)
def test_a_network_mode_outside_the_options(strict):
    world = World(telecom_data(), strict_upstream=strict)
    phone_on(world)
    result = world.call("user", "set_network_mode_preference", {"mode": "5g_only"})
    if strict:  # upstream types the mode NetworkModePreference | str and answers in text
        assert ok(result) == (
            "Failed to set network mode: '5g_only' is not a valid option. Please use one of: "
            "4g_5g_preferred, 4g_only, 3g_only, 2g_only\n"
            "Status Bar: 📶⁴ Excellent | 5G | 📱 Data Enabled | 🔋 80%"
        )
    else:
        assert err(result) == (
            "Error: argument 'mode' must be one of '4g_5g_preferred', '4g_only', '3g_only', "
            "'2g_only', got \"5g_only\""
        )
    assert world.phone.device["network_mode_preference"] == "4g_5g_preferred"
    schema = PhoneTools.tool_specs()["set_network_mode_preference"].parameters()
    assert schema["properties"]["mode"]["enum"][0] == "4g_5g_preferred"  # advertised either way


@pytest.mark.parametrize("strict", MODES)
def test_status_bar_is_upstreams_icons_or_words(strict):
    world = World(telecom_data(), strict_upstream=strict)
    phone_on(world)
    bar = lambda: ok(world.call("user", "check_status_bar", {}))  # noqa: E731
    assert bar() == (
        "Status Bar: 📶⁴ Excellent | 5G | 📱 Data Enabled | 🔋 80%"
        if strict
        else "Status Bar: Signal: excellent | 5G | Data Enabled | Battery 80%"
    )
    world.call("user", "toggle_data_saver_mode", {})
    world.call("user", "connect_vpn", {})
    world.call("user", "set_network_mode_preference", {"mode": "3g_only"})
    assert bar() == (
        "Status Bar: 📶² Fair | 3G | 📱 Data Enabled | 🔽 Data Saver | 🔒 VPN Connected | 🔋 80%"
        if strict
        else "Status Bar: Signal: fair | 3G | Data Enabled (Data Saver) | VPN Connected | Battery 80%"
    )
    assert ok(world.call("user", "toggle_airplane_mode", {})) == "Airplane Mode is now ON.\n" + (
        "Status Bar: ✈️ Airplane Mode | 🔋 80%"
        if strict
        else "Status Bar: Airplane Mode | Battery 80%"
    )


@pytest.mark.parametrize("strict", MODES)
def test_plain_dict_results_write_numbers_as_strings_upstream(strict):
    """Environment.to_json_str: str() of each int, float and bool value of a plain dict."""
    world = World(telecom_data(), strict_upstream=strict)
    refuel = ok(world.call("assistant", "refuel_data", REFUEL))
    usage = ok(world.call("assistant", "get_data_usage", {"customer_id": "C1", "line_id": "L1"}))
    assert refuel == {
        "message": "Successfully added 2.0 GB of data for line L1 for $4.00",
        "new_data_refueling_gb": "2.0" if strict else 2.0,
        "charge": "4.0" if strict else 4.0,
    }
    assert usage == {
        "line_id": "L1",
        "data_used_gb": "5.5" if strict else 5.5,
        "data_limit_gb": "5.0" if strict else 5.0,
        "data_refueling_gb": "2.0" if strict else 2.0,
        "cycle_end_date": "2025-02-28",
    }


@pytest.mark.parametrize("strict", MODES)
def test_records_carry_every_field_as_upstreams_models_dump_them(strict):
    data = telecom_data()
    data.base["customers"]["C1"]["created_at"] = "2025-01-15T10:30:00"
    world = World(data, strict_upstream=strict)
    line = ok(world.call("assistant", "get_details_by_id", {"id": "L1"}))
    customer = ok(world.call("assistant", "get_details_by_id", {"id": "C1"}))
    if strict:  # Line fields in order, unset ones null; a datetime written by str()
        assert list(line) == [
            "line_id", "phone_number", "status", "plan_id", "device_id", "data_used_gb",
            "data_refueling_gb", "roaming_enabled", "contract_end_date", "last_plan_change_date",
            "last_sim_replacement_date", "suspension_start_date",
        ]  # fmt: skip
        assert (line["device_id"], line["suspension_start_date"]) == (None, None)
        assert customer["created_at"] == "2025-01-15 10:30:00"
        assert customer["last_extension_date"] is None
    else:
        assert "device_id" not in line
        assert customer["created_at"] == "2025-01-15T10:30:00"
        assert "last_extension_date" not in customer
    assert "device_id" not in world.agent.lines["L1"]  # the stored record is untouched


@pytest.mark.parametrize("strict", MODES)
def test_unknown_apps_and_permissions_answer_in_text_upstream(strict):
    world = World(telecom_data(), strict_upstream=strict)
    calls = [
        ("grant_app_permission", {"app_name": "messaging", "permission": "camera"}),
        ("grant_app_permission", {"app_name": "camera", "permission": "sms"}),
        ("check_app_status", {"app_name": "camera"}),
        ("check_app_permissions", {"app_name": "camera"}),
    ]
    results = [world.call("user", name, args) for name, args in calls]
    if strict:
        assert [ok(r).split("\n")[0] for r in results] == [
            "Error. Permission 'camera' not tracked for app 'messaging', available permissions: "
            "['sms', 'storage', 'phone', 'network']",
            "Error. App 'camera' not found. Cannot grant permission.",
            "App 'camera' not found on this phone.",
            "App 'camera' not found on this phone.",
        ]
    else:
        assert [err(r) for r in results] == [
            "Error: Permission 'camera' not tracked for app 'messaging', available permissions: "
            "['sms', 'storage', 'phone', 'network']",
            "Error: App 'camera' not found. Cannot grant permission.",
            "Error: app 'camera' not found on this phone",
            "Error: app 'camera' not found on this phone",
        ]


@pytest.mark.parametrize("strict", MODES)
def test_phone_texts_are_upstreams(strict):
    world = World(telecom_data(), strict_upstream=strict)
    phone_on(world)
    world.call("assistant", "refuel_data", REFUEL)
    call = lambda name, **args: ok(world.call("user", name, args))  # noqa: E731
    assert call("grant_app_permission", app_name="browser", permission="sms").startswith(
        "Success. Permission 'sms' granted to app 'browser'.\nStatus Bar: "
    )
    assert call("check_app_status", app_name="browser") == (
        "Status for App: browser\n - Permissions Granted:\n   - sms\n   - storage\n   - network"
    )
    assert (
        call("run_speed_test")
        == "Speed Test Result: 275.00 Mbps (Excellent). Connection is very fast."
    )
    assert call("check_apn_settings") == (
        "Current APN Name: internet\nMMSC URL (for picture messages): "
        "http://mms.carrier.com/mms/wapenc\n(These are technical settings, usually best left unchanged.)"
    )
    world.phone.device.update(wifi_enabled=True, wifi_connected=True, wifi_ssid="Home")
    assert call("check_network_status").endswith(
        "Wi-Fi Connected: Yes\nConnected Wi-Fi Network: Home"
    )


@pytest.mark.parametrize("strict", MODES)
def test_a_broken_vpn_stays_broken_on_reconnect_upstream(strict):
    """break_vpn degrades the default VPN object that connect_vpn hands out (upstream)."""
    world = World(telecom_data(), strict_upstream=strict)
    phone_on(world)
    world.run_function("user", "break_vpn", {})
    world.call("user", "disconnect_vpn", {})
    world.call("user", "connect_vpn", {})
    perf = "poor" if strict else "excellent"
    assert world.phone.device["vpn_details"]["server_performance"] == perf
    details = (
        "{'server_address': '192.168.1.1', 'protocol': 'OpenVPN', "
        "'server_performance': <PerformanceLevel.POOR: 'poor'>}"
        if strict
        else str(
            {"server_address": "192.168.1.1", "protocol": "OpenVPN", "server_performance": perf}
        )
    )
    assert (
        ok(world.call("user", "check_vpn_status", {}))
        == f"VPN is ON and connected. Details: {details}"
    )
    assert World(telecom_data(), strict).phone.vpn_default["server_performance"] == "excellent"


@pytest.mark.parametrize("strict", MODES)
def test_an_airline_reservation_reads_status_null_upstream(strict):
    tools = airline(strict)
    details = ok(tools.call("get_reservation_details", {"reservation_id": "ABC123"}))
    if strict:  # Reservation.status: Optional, default None, the model's last field
        assert list(details)[-1] == "status" and details["status"] is None
    else:
        assert "status" not in details
    assert details["created_at"] == "2024-05-10T10:00:00"  # a str field upstream: unchanged
    assert "status" not in tools.db["reservations"]["ABC123"]
