"""tau2 tools on small hand-made databases: prices, payments, state changes, argument checks.

Every expected number below is computed by hand from the fixture; the shared base must never
change (tools write only to copy-on-write records).
"""

from __future__ import annotations

import copy
import json

import pytest

from infopo_cli.tasks.tau.store import Database, Table
from infopo_cli.tasks.tau.tools import ToolError
from infopo_cli.tasks.tau2.airline import AirlineTools
from infopo_cli.tasks.tau2.data import DomainData
from infopo_cli.tasks.tau2.phone import phone_state
from infopo_cli.tasks.tau2.retail import RetailTools
from infopo_cli.tasks.tau2.telecom import tables_from_toml
from infopo_cli.tasks.tau2.toolkit import calculate
from infopo_cli.tasks.tau2.world import World

SEATS = {"basic_economy": 5, "economy": 3, "business": 2}


def airline_base() -> dict:
    def flight(number, origin, dest, dep, arr, prices, dates=("2024-05-20",)):
        days = {
            d: {"status": "available", "available_seats": dict(SEATS), "prices": dict(prices)}
            for d in dates
        }
        return {
            "flight_number": number,
            "origin": origin,
            "destination": dest,
            "scheduled_departure_time_est": dep,
            "scheduled_arrival_time_est": arr,
            "dates": days,
        }

    flights = {
        "HAT001": flight("HAT001", "JFK", "LAX", "08:00:00", "11:00:00", {"basic_economy": 80, "economy": 120, "business": 400}),
        "HAT002": flight("HAT002", "LAX", "SEA", "12:00:00", "14:00:00", {"basic_economy": 60, "economy": 90, "business": 300}),
        "HAT003": flight("HAT003", "LAX", "SEA", "10:00:00", "12:00:00", {"basic_economy": 50, "economy": 70, "business": 200}),
    }  # fmt: skip
    flights["HAT001"]["dates"]["2024-05-21"] = {"status": "cancelled"}
    user = {
        "user_id": "ann_lee_1",
        "name": {"first_name": "Ann", "last_name": "Lee"},
        "payment_methods": {
            "credit_card_1": {"source": "credit_card", "id": "credit_card_1"},
            "gift_card_2": {"source": "gift_card", "id": "gift_card_2", "amount": 100},
            "certificate_3": {"source": "certificate", "id": "certificate_3", "amount": 150},
        },
        "reservations": ["ABC123"],
    }
    reservation = {
        "reservation_id": "ABC123",
        "user_id": "ann_lee_1",
        "origin": "JFK",
        "destination": "LAX",
        "flight_type": "one_way",
        "cabin": "economy",
        "flights": [
            {
                "origin": "JFK",
                "destination": "LAX",
                "flight_number": "HAT001",
                "date": "2024-05-20",
                "price": 120,
            }
        ],
        "passengers": [
            {"first_name": "Ann", "last_name": "Lee", "dob": "1990-01-01"},
            {"first_name": "Bo", "last_name": "Lee", "dob": "1992-02-02"},
        ],
        "payment_history": [{"payment_id": "credit_card_1", "amount": 240}],
        "created_at": "2024-05-10T10:00:00",
        "total_baggages": 1,
        "nonfree_baggages": 0,
        "insurance": "no",
    }
    return {
        "flights": flights,
        "users": {"ann_lee_1": user},
        "reservations": {"ABC123": reservation},
    }


@pytest.fixture
def airline():
    base = airline_base()
    pristine = copy.deepcopy(base)
    tools = AirlineTools(Database(base))
    yield tools
    assert base == pristine, "a tool mutated the shared base"


def ok(result: tuple[str, bool]):
    text, success = result
    assert success, text
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def err(result: tuple[str, bool]) -> str:
    text, success = result
    assert not success and text.startswith("Error: "), text
    return text


# -- store ------------------------------------------------------------------------------------------


def test_table_copies_on_first_write_only():
    base = {"a": {"n": 1}, "b": {"n": 2}}
    t = Table(base)
    assert t["a"] is base["a"] and t.touched() == set()
    t.edit("a")["n"] = 5
    assert t["a"] == {"n": 5} and base["a"] == {"n": 1} and t.touched() == {"a"}
    t.put("c", {"n": 3})
    assert list(t) == ["a", "b", "c"] and len(t) == 3 and "c" in t and "c" not in base


def test_database_diff_only_reports_changed_records():
    base = {"x": {"a": {"n": 1}, "b": {"n": 2}}}
    one, two = Database(base), Database(base)
    one["x"].edit("a")  # copied but unchanged: no difference
    assert one.diff(two) == []
    one["x"].edit("b")["n"] = 7
    two["x"].put("c", {"n": 3})
    assert one.diff(two) == [("x", "b"), ("x", "c")]


# -- airline ----------------------------------------------------------------------------------------


def test_book_reservation_prices_payments_and_seats(airline):
    res = ok(
        airline.call(
            "book_reservation",
            {
                "user_id": "ann_lee_1",
                "origin": "JFK",
                "destination": "SEA",
                "flight_type": "one_way",
                "cabin": "economy",
                "flights": [
                    {"flight_number": "HAT001", "date": "2024-05-20"},
                    {"flight_number": "HAT002", "date": "2024-05-20"},
                ],
                "passengers": [
                    {"first_name": "Ann", "last_name": "Lee", "dob": "1990-01-01"},
                    {"first_name": "Bo", "last_name": "Lee", "dob": "1992-02-02"},
                ],
                # (120 + 90) * 2 + 30 * 2 insurance + 50 * 1 bag = 530
                "payment_methods": [
                    {"payment_id": "certificate_3", "amount": 150},
                    {"payment_id": "gift_card_2", "amount": 100},
                    {"payment_id": "credit_card_1", "amount": 280},
                ],
                "total_baggages": 2,
                "nonfree_baggages": 1,
                "insurance": "yes",
            },
        )
    )
    assert res["reservation_id"] == "HATHAT"
    assert [f["price"] for f in res["flights"]] == [120, 90]
    user = airline.users["ann_lee_1"]
    assert "certificate_3" not in user["payment_methods"]  # a certificate is used up
    assert user["payment_methods"]["gift_card_2"]["amount"] == 0
    assert user["reservations"] == ["ABC123", "HATHAT"]
    assert airline.flights["HAT001"]["dates"]["2024-05-20"]["available_seats"]["economy"] == 1
    assert airline.flights["HAT002"]["dates"]["2024-05-20"]["available_seats"]["economy"] == 1
    assert airline.reservations["HATHAT"]["created_at"] == "2024-05-15T15:00:00"


def test_book_reservation_rejects_wrong_total_and_changes_nothing(airline):
    args = {
        "user_id": "ann_lee_1",
        "origin": "JFK",
        "destination": "LAX",
        "flight_type": "one_way",
        "cabin": "business",
        "flights": [{"flight_number": "HAT001", "date": "2024-05-20"}],
        "passengers": [{"first_name": "Ann", "last_name": "Lee", "dob": "1990-01-01"}],
        "payment_methods": [{"payment_id": "credit_card_1", "amount": 399}],
        "total_baggages": 0,
        "nonfree_baggages": 0,
        "insurance": "no",
    }
    assert err(airline.call("book_reservation", args)) == (
        "Error: payment amount does not add up, total price is 400, but paid 399"
    )
    args["flights"] = [{"flight_number": "HAT001", "date": "2024-05-21"}]
    assert "not available" in err(airline.call("book_reservation", args))
    args["flights"] = [{"flight_number": "HAT001", "date": "2024-05-20"}]
    args["passengers"] = args["passengers"] * 3  # business has two seats left
    assert "not enough seats" in err(airline.call("book_reservation", args))
    assert all(t.touched() == set() for t in airline.db.tables.values())


@pytest.mark.parametrize(
    "args, message",
    [
        ({}, "Error: missing argument 'reservation_id'"),
        (
            {"reservation_id": "ABC123", "x": 1},
            "Error: unknown argument 'x'; accepted: reservation_id",
        ),
        ({"reservation_id": 7}, "Error: argument 'reservation_id' must be a string, got 7"),
        ({"reservation_id": "NOPE"}, "Error: reservation NOPE not found"),
    ],
)
def test_airline_argument_errors_come_back_as_results(airline, args, message):
    assert err(airline.call("get_reservation_details", args)) == message


def test_nested_argument_validation(airline):
    base = {"reservation_id": "ABC123", "cabin": "economy", "payment_id": "credit_card_1"}
    assert err(
        airline.call("update_reservation_flights", {**base, "cabin": "first", "flights": []})
    ) == (
        "Error: argument 'cabin' must be one of 'basic_economy', 'economy', 'business', got \"first\""
    )
    bad = {**base, "flights": [{"flight_number": "HAT001"}]}
    assert (
        err(airline.call("update_reservation_flights", bad))
        == "Error: missing argument 'flights[0].date'"
    )
    assert err(airline.call("no_such_tool", {})).startswith("Error: unknown tool 'no_such_tool'")
    assert err(airline.call("get_user_details", ["ann_lee_1"])).startswith(
        "Error: arguments must be a JSON object"
    )


def test_update_flights_charges_the_difference(airline):
    res = ok(
        airline.call(
            "update_reservation_flights",
            {
                "reservation_id": "ABC123",
                "cabin": "business",
                "flights": [{"flight_number": "HAT001", "date": "2024-05-20"}],
                "payment_id": "credit_card_1",
            },
        )
    )
    # a cabin change re-prices the segment: 400 * 2 passengers - 120 * 2 already paid = 560
    assert res["payment_history"][-1] == {"payment_id": "credit_card_1", "amount": 560}
    assert res["cabin"] == "business" and res["flights"][0]["price"] == 400
    text = err(
        airline.call(
            "update_reservation_flights",
            {
                "reservation_id": "ABC123",
                "cabin": "economy",
                "flights": [],
                "payment_id": "certificate_3",
            },
        )
    )
    assert text == "Error: a certificate cannot be used to update a reservation"


def test_baggage_update_debits_gift_card_and_cancel_refunds(airline):
    ok(
        airline.call(
            "update_reservation_baggages",
            {
                "reservation_id": "ABC123",
                "total_baggages": 3,
                "nonfree_baggages": 2,
                "payment_id": "gift_card_2",
            },
        )
    )
    assert airline.users["ann_lee_1"]["payment_methods"]["gift_card_2"]["amount"] == 0  # 2 * 50
    res = ok(airline.call("cancel_reservation", {"reservation_id": "ABC123"}))
    assert res["status"] == "cancelled"
    assert res["payment_history"] == [
        {"payment_id": "credit_card_1", "amount": 240},
        {"payment_id": "gift_card_2", "amount": 100},
        {"payment_id": "credit_card_1", "amount": -240},
        {"payment_id": "gift_card_2", "amount": -100},
    ]
    assert airline.flights["HAT001"]["dates"]["2024-05-20"]["available_seats"]["economy"] == 3


def test_searches_and_certificates(airline):
    direct = ok(
        airline.call(
            "search_direct_flight", {"origin": "JFK", "destination": "LAX", "date": "2024-05-20"}
        )
    )
    assert [f["flight_number"] for f in direct] == ["HAT001"]
    assert (
        ok(
            airline.call(
                "search_direct_flight",
                {"origin": "JFK", "destination": "LAX", "date": "2024-05-21"},
            )
        )
        == []
    )
    pairs = ok(
        airline.call(
            "search_onestop_flight", {"origin": "JFK", "destination": "SEA", "date": "2024-05-20"}
        )
    )
    # HAT003 leaves LAX at 10:00, before HAT001 lands at 11:00: not a connection
    assert [[a["flight_number"], b["flight_number"]] for a, b in pairs] == [["HAT001", "HAT002"]]
    assert ok(airline.call("send_certificate", {"user_id": "ann_lee_1", "amount": 50})) == (
        "Certificate certificate_3221322 added to user ann_lee_1 with amount 50."
    )
    assert airline.users["ann_lee_1"]["payment_methods"]["certificate_3221322"]["amount"] == 50
    assert (
        ok(airline.call("get_flight_status", {"flight_number": "HAT001", "date": "2024-05-21"}))
        == "cancelled"
    )


@pytest.mark.parametrize(
    "expression, expected",
    [
        ("(2 + 3) * 4 / 8", "2.5"),
        ("2 + 2", "4.0"),
        ("-3 * (1.5 - 0.25)", "-3.75"),
        ("1000 / 3", "333.33"),
    ],
)
def test_calculate(expression, expected):
    assert calculate(expression) == expected


@pytest.mark.parametrize(
    "expression, message",
    [
        ("2 ** 3", "invalid expression"),
        ("__import__('os')", "invalid characters"),
        ("1 / 0", "division by zero"),
        ("(1", "invalid expression"),
    ],
)
def test_calculate_rejects(expression, message):
    with pytest.raises(ToolError, match=message):
        calculate(expression)


# -- retail -----------------------------------------------------------------------------------------


def retail_base() -> dict:
    def variant(item_id, color, price, available=True):
        return {
            "item_id": item_id,
            "options": {"color": color, "size": "M"},
            "available": available,
            "price": price,
        }

    product = {
        "name": "T-Shirt",
        "product_id": "P1",
        "variants": {"I1": variant("I1", "blue", 50.0), "I2": variant("I2", "red", 55.5), "I3": variant("I3", "green", 40.0, False)},
    }  # fmt: skip
    address = {
        "address1": "1 Main St",
        "address2": "",
        "city": "Austin",
        "country": "USA",
        "state": "TX",
        "zip": "12345",
    }
    user = {
        "user_id": "u1",
        "name": {"first_name": "Jane", "last_name": "Doe"},
        "address": address,
        "email": "jane.doe@example.com",
        "payment_methods": {
            "credit_card_1": {"source": "credit_card", "id": "credit_card_1"},
            "gift_card_1": {"source": "gift_card", "id": "gift_card_1", "balance": 10.0},
            "paypal_1": {"source": "paypal", "id": "paypal_1"},
        },
        "orders": ["#W1", "#W2"],
    }

    def item(item_id, price, color):
        return {
            "name": "T-Shirt",
            "product_id": "P1",
            "item_id": item_id,
            "price": price,
            "options": {"color": color, "size": "M"},
        }

    orders = {
        "#W1": {"order_id": "#W1", "user_id": "u1", "address": address, "items": [item("I1", 50.0, "blue")], "status": "pending", "fulfillments": [],
                "payment_history": [{"transaction_type": "payment", "amount": 50.0, "payment_method_id": "gift_card_1"}]},
        "#W2": {"order_id": "#W2", "user_id": "u1", "address": address, "items": [item("I1", 50.0, "blue"), item("I1", 50.0, "blue")], "status": "delivered", "fulfillments": [],
                "payment_history": [{"transaction_type": "payment", "amount": 100.0, "payment_method_id": "credit_card_1"}]},
    }  # fmt: skip
    return {"products": {"P1": product}, "users": {"u1": user}, "orders": orders}


@pytest.fixture
def retail():
    base = retail_base()
    pristine = copy.deepcopy(base)
    yield RetailTools(Database(base))
    assert base == pristine, "a tool mutated the shared base"


def test_cancel_refunds_gift_card_at_once(retail):
    assert "must be one of 'no longer needed', 'ordered by mistake'" in err(
        retail.call("cancel_pending_order", {"order_id": "#W1", "reason": "changed my mind"})
    )
    res = ok(retail.call("cancel_pending_order", {"order_id": "#W1", "reason": "no longer needed"}))
    assert res["status"] == "cancelled" and res["cancel_reason"] == "no longer needed"
    assert res["payment_history"][-1] == {
        "transaction_type": "refund",
        "amount": 50.0,
        "payment_method_id": "gift_card_1",
    }
    assert retail.users["u1"]["payment_methods"]["gift_card_1"]["balance"] == 60.0
    assert err(
        retail.call("cancel_pending_order", {"order_id": "#W2", "reason": "no longer needed"})
    ) == ("Error: non-pending order cannot be cancelled")


def test_modify_items_charges_difference_to_gift_card(retail):
    args = {
        "order_id": "#W1",
        "item_ids": ["I1"],
        "new_item_ids": ["I3"],
        "payment_method_id": "gift_card_1",
    }
    assert (
        err(retail.call("modify_pending_order_items", args))
        == "Error: new item I3 not found or available"
    )
    args["new_item_ids"] = ["I1"]
    assert "should be different" in err(retail.call("modify_pending_order_items", args))
    args["new_item_ids"] = ["I2"]
    res = ok(retail.call("modify_pending_order_items", args))
    assert res["items"][0] == {
        "name": "T-Shirt",
        "product_id": "P1",
        "item_id": "I2",
        "price": 55.5,
        "options": {"color": "red", "size": "M"},
    }
    assert res["status"] == "pending (item modified)"
    assert res["payment_history"][-1] == {
        "transaction_type": "payment",
        "amount": 5.5,
        "payment_method_id": "gift_card_1",
    }
    assert retail.users["u1"]["payment_methods"]["gift_card_1"]["balance"] == 4.5


def test_exchange_and_return_of_delivered_orders(retail):
    args = {
        "order_id": "#W2",
        "item_ids": ["I1", "I1"],
        "new_item_ids": ["I2", "I2"],
        "payment_method_id": "gift_card_1",
    }
    assert err(retail.call("exchange_delivered_order_items", args)) == (
        "Error: insufficient gift card balance to pay for the price difference"  # 11.0 > 10.0
    )
    args["item_ids"] = ["I1", "I1", "I1"]
    assert "item I1 not found in the order" in err(
        retail.call("exchange_delivered_order_items", args)
    )
    ret = {"order_id": "#W2", "item_ids": ["I1"], "payment_method_id": "paypal_1"}
    assert "original payment method or a gift card" in err(
        retail.call("return_delivered_order_items", ret)
    )
    args = {
        "order_id": "#W2",
        "item_ids": ["I1", "I1"],
        "new_item_ids": ["I2", "I2"],
        "payment_method_id": "credit_card_1",
    }
    res = ok(retail.call("exchange_delivered_order_items", args))
    assert res["status"] == "exchange requested" and res["exchange_price_difference"] == 11.0
    assert res["exchange_new_items"] == ["I2", "I2"]
    assert "non-delivered order cannot be returned" in err(
        retail.call("return_delivered_order_items", ret)
    )


def test_payment_change_moves_money_between_gift_cards(retail):
    res = ok(
        retail.call(
            "modify_pending_order_payment",
            {"order_id": "#W1", "payment_method_id": "credit_card_1"},
        )
    )
    assert res["payment_history"][1:] == [
        {"transaction_type": "payment", "amount": 50.0, "payment_method_id": "credit_card_1"},
        {"transaction_type": "refund", "amount": 50.0, "payment_method_id": "gift_card_1"},
    ]
    assert retail.users["u1"]["payment_methods"]["gift_card_1"]["balance"] == 60.0
    assert "exactly one payment" in err(
        retail.call(
            "modify_pending_order_payment", {"order_id": "#W1", "payment_method_id": "paypal_1"}
        )
    )


def test_retail_lookups(retail):
    assert (
        ok(
            retail.call(
                "find_user_id_by_name_zip",
                {"first_name": "jane", "last_name": "DOE", "zip": "12345"},
            )
        )
        == "u1"
    )
    assert err(
        retail.call(
            "find_user_id_by_name_zip", {"first_name": "Jane", "last_name": "Doe", "zip": "1"}
        )
    ) == ("Error: user not found")
    assert ok(retail.call("find_user_id_by_email", {"email": "Jane.Doe@example.com"})) == "u1"
    assert ok(retail.call("list_all_product_types", {})) == {"T-Shirt": "P1"}
    assert (
        err(retail.call("get_product_details", {"product_id": "I1"})) == "Error: product not found"
    )


# -- telecom: agent tools, the phone, and their synchronisation -----------------------------------


def telecom_data() -> DomainData:
    toml = {
        "plans": [{"plan_id": "P1", "name": "Basic", "data_limit_gb": 5.0, "price_per_month": 40.0, "data_refueling_price_per_gb": 2.0}],
        "customers": [{"customer_id": "C1", "full_name": "John Smith", "date_of_birth": "1985-06-15", "phone_number": "555-000-0001", "line_ids": ["L1"], "bill_ids": ["B1", "B2"]}],
        "lines": [{"line_id": "L1", "phone_number": "555-000-0001", "status": "Active", "plan_id": "P1", "data_used_gb": 5.5, "data_refueling_gb": 0.0, "roaming_enabled": False}],
        "bills": [
            {"bill_id": "B1", "customer_id": "C1", "issue_date": "2025-01-05", "total_due": 40.0, "status": "Paid", "line_items": []},
            {"bill_id": "B2", "customer_id": "C1", "issue_date": "2025-02-05", "total_due": 45.0, "status": "Overdue", "line_items": []},
        ],
    }  # fmt: skip
    return DomainData("telecom", tables_from_toml(toml), phone_state({}), "", {}, {}, "")


@pytest.fixture
def world():
    data = telecom_data()
    pristine = copy.deepcopy((data.base, data.phone_base))
    w = World(data)
    w.run_function("user", "set_user_info", {"name": "John Smith", "phone_number": "555-000-0001"})
    w.run_function("user", "simulate_network_search", {})  # as the benchmark's set-ups do
    yield w
    assert (data.base, data.phone_base) == pristine, "a tool mutated the shared base"


def test_telecom_agent_tools(world):
    agent = world.agent
    assert (
        ok(world.call("assistant", "get_customer_by_phone", {"phone_number": "555-000-0001"}))[
            "customer_id"
        ]
        == "C1"
    )
    assert [
        b["bill_id"]
        for b in ok(
            world.call("assistant", "get_bills_for_customer", {"customer_id": "C1", "limit": 1})
        )
    ] == ["B2"]
    assert (
        err(world.call("assistant", "get_details_by_id", {"id": "X1"}))
        == "Error: unknown id format: X1"
    )
    assert err(
        world.call(
            "assistant", "refuel_data", {"customer_id": "C1", "line_id": "L9", "gb_amount": 1}
        )
    ) == ("Error: line L9 not found for customer C1")
    res = ok(
        world.call(
            "assistant", "refuel_data", {"customer_id": "C1", "line_id": "L1", "gb_amount": 2.0}
        )
    )
    assert res["charge"] == "4.0" and res["new_data_refueling_gb"] == "2.0"  # as upstream writes
    draft_id = agent.customers["C1"]["bill_ids"][-1]
    draft = agent.bills[draft_id]
    assert (draft["status"], draft["total_due"], draft["issue_date"], draft["period_end"]) == (
        "Draft",
        4.0,
        "2025-03-01",
        "2025-03-31",
    )


def test_phone_network_and_speed_model(world):
    phone = world.phone
    assert phone.speed() == (None, "No Connection")  # 5.5 GB used of a 5 GB plan
    world.call("assistant", "refuel_data", {"customer_id": "C1", "line_id": "L1", "gb_amount": 1.0})
    assert phone.speed() == (275.0, "Excellent")  # 5G: (50 + 500) / 2 * excellent signal
    assert ok(world.call("user", "toggle_data_saver_mode", {})).startswith(
        "Data Saver Mode is now ON."
    )
    assert phone.speed() == (55.0, "Good")  # * 0.2
    world.call("user", "set_network_mode_preference", {"mode": "2g_only"})
    assert phone.speed() == (0.01, "Very Poor")  # 2G (0.1 + 0.4) / 2 * poor 0.2 * 0.2
    assert ok(world.call("user", "set_network_mode_preference", {"mode": "6g"})).startswith(
        "Failed to set network mode: '6g' is not a valid option."
    )
    assert phone.device["network_mode_preference"] == "2g_only"
    world.call("user", "toggle_airplane_mode", {})
    assert phone.device["network_connection_status"] == "no_service"
    world.call("user", "toggle_airplane_mode", {})
    assert phone.device["network_connection_status"] == "connected"


def test_dual_control_roaming_needs_phone_and_line(world):
    world.call("assistant", "refuel_data", {"customer_id": "C1", "line_id": "L1", "gb_amount": 1.0})
    world.run_function("user", "set_user_location", {"abroad": True})
    phone = world.phone
    assert not phone.mobile_data_working()
    world.call("user", "toggle_roaming", {})  # the phone allows roaming, the line does not
    assert phone.device["roaming_enabled"] and not phone.mobile_data_working()
    world.call("assistant", "enable_roaming", {"customer_id": "C1", "line_id": "L1"})
    assert phone.around["roaming_allowed"] and phone.mobile_data_working()


def test_payment_request_flows_from_agent_to_phone_and_back(world):
    assert ok(world.call("user", "make_payment", {})) == "You do not have a payment request."
    assert ok(
        world.call("assistant", "send_payment_request", {"customer_id": "C1", "bill_id": "B2"})
    ) == ("Payment request sent to the customer for bill B2")
    assert world.phone.around["payment_request"] == {
        "bill_id": "B2",
        "amount_due": 45.0,
        "paid": False,
    }
    assert "already awaiting payment" in err(
        world.call("assistant", "send_payment_request", {"customer_id": "C1", "bill_id": "B1"})
    )
    assert (
        ok(world.call("user", "make_payment", {}))
        == "Payment of 45.0 USD has been made for bill B2."
    )
    assert world.agent.bills["B2"]["status"] == "Paid"
    assert world.phone.around["payment_request"] is None
    assert (
        world.run_function("assistant", "assert_no_overdue_bill", {"overdue_bill_id": "B2"}) is True
    )


def test_suspended_line_means_no_service_until_resumed_and_rebooted(world):
    world.call(
        "assistant", "suspend_line", {"customer_id": "C1", "line_id": "L1", "reason": "travel"}
    )
    world.call("user", "reboot_device", {})
    assert world.phone.device["network_connection_status"] == "no_service"
    world.call("assistant", "resume_line", {"customer_id": "C1", "line_id": "L1"})
    assert world.phone.device["network_connection_status"] == "no_service"  # not searched yet
    world.call("user", "reboot_device", {})
    assert world.phone.device["network_connection_status"] == "connected"


def test_mms_needs_permissions_and_apn(world):
    world.call("assistant", "refuel_data", {"customer_id": "C1", "line_id": "L1", "gb_amount": 1.0})
    assert world.phone.mms_working()
    world.run_function(
        "user", "remove_app_permission", {"app_name": "messaging", "permission": "storage"}
    )
    world.run_function("user", "break_apn_mms_setting", {})
    assert (
        ok(world.call("user", "can_send_mms", {})) == "Your messaging app cannot send MMS messages."
    )
    world.call("user", "grant_app_permission", {"app_name": "messaging", "permission": "storage"})
    world.call("user", "reset_apn_settings", {})
    assert not world.phone.mms_working()  # the APN reset waits for a reboot
    world.call("user", "reboot_device", {})
    assert ok(world.call("user", "can_send_mms", {})) == "Your messaging app can send MMS messages."
    assert "Error. Permission 'camera' not tracked" in ok(
        world.call(
            "user", "grant_app_permission", {"app_name": "messaging", "permission": "camera"}
        )
    )
