"""tau-bench (v1) retail tools over the ``users``, ``orders`` and ``products`` tables.

The checks and database changes follow tau-bench's retail domain, so replaying a task's gold
actions reproduces its gold end state: orders move through ``pending`` -> ``pending (item
modified)`` / ``cancelled`` and ``delivered`` -> ``exchange requested`` / ``return requested``;
refunds to gift cards are credited at once (balances rounded to cents); every consequential action
appends to the order's ``payment_history``.
"""

from __future__ import annotations

from typing import Any

from infopo_cli.tasks.tau.tools import ToolError
from infopo_cli.tasks.usergym.tau.db import TauDB
from infopo_cli.tasks.usergym.tau.tools import COMMON_TOOLS, Param, Tool, dumps

CANCEL_REASONS = ("no longer needed", "ordered by mistake")

ORDER_ID = Param("string", "The order id, such as '#W0000000' (note the leading '#').")
USER_ID = Param("string", "The user id, such as 'sara_doe_496'.")
PAYMENT_ID = Param(
    "string",
    "A payment method id from the user's profile, such as 'gift_card_0000000' or 'credit_card_0000000'.",
)
ITEM_IDS = Param(
    "array", "Item ids such as '1008292230'; the same id may appear more than once.", items="string"
)
ADDRESS = {
    "address1": Param("string", "First address line, such as '123 Main St'."),
    "address2": Param("string", "Second address line, such as 'Apt 1', or ''."),
    "city": Param("string", "City, such as 'San Francisco'."),
    "state": Param("string", "State or province, such as 'CA'."),
    "country": Param("string", "Country, such as 'USA'."),
    "zip": Param("string", "Zip code, such as '12345'."),
}


def _order(db: TauDB, order_id: str, status: str, verb: str) -> dict[str, Any]:
    order = db.get("orders", order_id)
    if order is None:
        raise ToolError("order not found")
    if order["status"] != status:
        raise ToolError(f"non-{status} order cannot be {verb}")
    return order


def _payment_method(db: TauDB, order: dict[str, Any], payment_method_id: str) -> dict[str, Any]:
    methods = db.get("users", order["user_id"])["payment_methods"]
    if payment_method_id not in methods:
        raise ToolError("payment method not found")
    return methods[payment_method_id]


def _check_items_present(
    order: dict[str, Any], item_ids: list[str], message: str | None = None
) -> None:
    have = [it["item_id"] for it in order["items"]]
    for item_id in item_ids:
        if item_ids.count(item_id) > have.count(item_id):
            raise ToolError(message or f"{item_id} not found")


def _price_difference(
    db: TauDB, order: dict[str, Any], item_ids: list[str], new_item_ids: list[str]
) -> float:
    """Sum of (new price - old price); each new item must be an available variant of the same product."""
    if len(item_ids) != len(new_item_ids):
        raise ToolError("the number of items to be exchanged should match")
    diff: float = (
        0  # an int until a price is added, as in tau-bench (0 vs 0.0 matters to the state)
    )
    for item_id, new_id in zip(item_ids, new_item_ids):
        item = next(it for it in order["items"] if it["item_id"] == item_id)
        variants = db.get("products", item["product_id"])["variants"]
        if new_id not in variants or not variants[new_id]["available"]:
            raise ToolError(f"new item {new_id} not found or available")
        diff += variants[new_id]["price"] - item["price"]
    return diff


# ----- read-only --------------------------------------------------------------------------
def find_user_id_by_email(db: TauDB, email: str) -> str:
    for user_id, user in db.items("users"):
        if user["email"].lower() == email.lower():
            return user_id
    raise ToolError("user not found")


def find_user_id_by_name_zip(db: TauDB, first_name: str, last_name: str, zip: str) -> str:
    for user_id, user in db.items("users"):
        name = user["name"]
        if (
            name["first_name"].lower() == first_name.lower()
            and name["last_name"].lower() == last_name.lower()
            and user["address"]["zip"] == zip
        ):
            return user_id
    raise ToolError("user not found")


def get_user_details(db: TauDB, user_id: str) -> str:
    user = db.get("users", user_id)
    if user is None:
        raise ToolError("user not found")
    return dumps(user)


def get_order_details(db: TauDB, order_id: str) -> str:
    order = db.get("orders", order_id)
    if order is None:
        raise ToolError("order not found")
    return dumps(order)


def get_product_details(db: TauDB, product_id: str) -> str:
    product = db.get("products", product_id)
    if product is None:
        raise ToolError("product not found")
    return dumps(product)


def list_all_product_types(db: TauDB) -> str:
    names = {p["name"]: p["product_id"] for _, p in db.items("products")}
    return dumps(dict(sorted(names.items())))


# ----- consequential ----------------------------------------------------------------------
def cancel_pending_order(db: TauDB, order_id: str, reason: str) -> str:
    _order(db, order_id, "pending", "cancelled")
    if reason not in CANCEL_REASONS:
        raise ToolError("invalid reason")
    order = db.edit("orders", order_id)
    refunds = []
    for payment in order["payment_history"]:
        pid = payment["payment_method_id"]
        refunds.append(
            {"transaction_type": "refund", "amount": payment["amount"], "payment_method_id": pid}
        )
        if "gift_card" in pid:
            card = db.edit("users", order["user_id"])["payment_methods"][pid]
            card["balance"] = round(card["balance"] + payment["amount"], 2)
    order["status"] = "cancelled"
    order["cancel_reason"] = reason
    order["payment_history"].extend(refunds)
    return dumps(order)


def modify_pending_order_address(db: TauDB, order_id: str, **address: str) -> str:
    _order(db, order_id, "pending", "modified")
    order = db.edit("orders", order_id)
    order["address"] = {k: address[k] for k in ADDRESS}
    return dumps(order)


def modify_user_address(db: TauDB, user_id: str, **address: str) -> str:
    if db.get("users", user_id) is None:
        raise ToolError("user not found")
    user = db.edit("users", user_id)
    user["address"] = {k: address[k] for k in ADDRESS}
    return dumps(user)


def modify_pending_order_items(
    db: TauDB, order_id: str, item_ids: list[str], new_item_ids: list[str], payment_method_id: str
) -> str:
    order = _order(db, order_id, "pending", "modified")
    _check_items_present(order, item_ids)
    diff = _price_difference(db, order, item_ids, new_item_ids)
    method = _payment_method(db, order, payment_method_id)
    if method["source"] == "gift_card" and method["balance"] < diff:
        raise ToolError("insufficient gift card balance to pay for the new item")
    order = db.edit("orders", order_id)
    order["payment_history"].append(
        {
            "transaction_type": "payment" if diff > 0 else "refund",
            "amount": abs(diff),
            "payment_method_id": payment_method_id,
        }
    )
    if method["source"] == "gift_card":
        card = db.edit("users", order["user_id"])["payment_methods"][payment_method_id]
        card["balance"] = round(card["balance"] - diff, 2)
    for item_id, new_id in zip(item_ids, new_item_ids):
        item = next(it for it in order["items"] if it["item_id"] == item_id)
        variant = db.get("products", item["product_id"])["variants"][new_id]
        item["item_id"] = new_id
        item["price"] = variant["price"]
        item["options"] = dict(variant["options"])
    order["status"] = "pending (item modified)"
    return dumps(order)


def modify_pending_order_payment(db: TauDB, order_id: str, payment_method_id: str) -> str:
    order = _order(db, order_id, "pending", "modified")
    method = _payment_method(db, order, payment_method_id)
    history = order["payment_history"]
    if len(history) > 1 or history[0]["transaction_type"] != "payment":
        raise ToolError("there should be exactly one payment for a pending order")
    old_id = history[0]["payment_method_id"]
    if old_id == payment_method_id:
        raise ToolError("the new payment method should be different from the current one")
    amount = history[0]["amount"]
    if method["source"] == "gift_card" and method["balance"] < amount:
        raise ToolError("insufficient gift card balance to pay for the order")
    order = db.edit("orders", order_id)
    order["payment_history"].extend(
        [
            {
                "transaction_type": "payment",
                "amount": amount,
                "payment_method_id": payment_method_id,
            },
            {"transaction_type": "refund", "amount": amount, "payment_method_id": old_id},
        ]
    )
    methods = db.edit("users", order["user_id"])["payment_methods"]
    if methods[payment_method_id]["source"] == "gift_card":
        methods[payment_method_id]["balance"] = round(
            methods[payment_method_id]["balance"] - amount, 2
        )
    if "gift_card" in old_id:
        methods[old_id]["balance"] = round(methods[old_id]["balance"] + amount, 2)
    return dumps(order)


def exchange_delivered_order_items(
    db: TauDB, order_id: str, item_ids: list[str], new_item_ids: list[str], payment_method_id: str
) -> str:
    order = _order(db, order_id, "delivered", "exchanged")
    _check_items_present(order, item_ids)
    diff = round(_price_difference(db, order, item_ids, new_item_ids), 2)
    method = _payment_method(db, order, payment_method_id)
    if method["source"] == "gift_card" and method["balance"] < diff:
        raise ToolError("insufficient gift card balance to pay for the price difference")
    order = db.edit("orders", order_id)
    order["status"] = "exchange requested"
    order["exchange_items"] = sorted(item_ids)
    order["exchange_new_items"] = sorted(new_item_ids)
    order["exchange_payment_method_id"] = payment_method_id
    order["exchange_price_difference"] = diff
    return dumps(order)


def return_delivered_order_items(
    db: TauDB, order_id: str, item_ids: list[str], payment_method_id: str
) -> str:
    order = _order(db, order_id, "delivered", "returned")
    _payment_method(db, order, payment_method_id)
    if (
        "gift_card" not in payment_method_id
        and payment_method_id != order["payment_history"][0]["payment_method_id"]
    ):
        raise ToolError(
            "payment method should be either the original payment method or a gift card"
        )
    _check_items_present(order, item_ids, "some item not found")
    order = db.edit("orders", order_id)
    order["status"] = "return requested"
    order["return_items"] = sorted(item_ids)
    order["return_payment_method_id"] = payment_method_id
    return dumps(order)


CONFIRM = " Explain the details to the customer and get an explicit yes before calling it."

RETAIL_TOOLS: tuple[Tool, ...] = (
    Tool(
        "find_user_id_by_email",
        "Look up a customer's user id by email address.",
        find_user_id_by_email,
        {"email": Param("string", "The email, such as 'something@example.com'.")},
    ),
    Tool(
        "find_user_id_by_name_zip",
        "Look up a customer's user id by first name, last name and zip code (when the email is unknown).",
        find_user_id_by_name_zip,
        {
            "first_name": Param("string", "First name, such as 'John'."),
            "last_name": Param("string", "Last name, such as 'Doe'."),
            "zip": Param("string", "Zip code, such as '12345'."),
        },
    ),
    Tool(
        "get_user_details",
        "Profile of a customer: name, address, email, payment methods, orders.",
        get_user_details,
        {"user_id": USER_ID},
    ),
    Tool(
        "get_order_details",
        "Status, items, fulfilments and payments of an order.",
        get_order_details,
        {"order_id": ORDER_ID},
    ),
    Tool(
        "get_product_details",
        "A product type and all its variants (item ids, options, price, availability).",
        get_product_details,
        {"product_id": Param("string", "The product id, such as '6086499569' (not an item id).")},
    ),
    Tool(
        "list_all_product_types",
        "Names and product ids of all 50 product types in the store.",
        list_all_product_types,
    ),
    Tool(
        "cancel_pending_order",
        "Cancel a pending order and refund it (gift cards at once, other methods in 5-7 business days)."
        + CONFIRM,
        cancel_pending_order,
        {
            "order_id": ORDER_ID,
            "reason": Param("string", "Why the order is cancelled.", enum=CANCEL_REASONS),
        },
        writes=True,
    ),
    Tool(
        "modify_pending_order_address",
        "Change the shipping address of a pending order." + CONFIRM,
        modify_pending_order_address,
        {"order_id": ORDER_ID, **ADDRESS},
        writes=True,
    ),
    Tool(
        "modify_pending_order_items",
        "Swap items of a pending order for other variants of the same products; possible once per "
        "order. The price difference is charged or refunded to the given payment method." + CONFIRM,
        modify_pending_order_items,
        {
            "order_id": ORDER_ID,
            "item_ids": ITEM_IDS,
            "new_item_ids": Param(
                "array",
                "The replacement item ids, position by position, each of the same product.",
                items="string",
            ),
            "payment_method_id": PAYMENT_ID,
        },
        writes=True,
    ),
    Tool(
        "modify_pending_order_payment",
        "Pay a pending order with a different payment method." + CONFIRM,
        modify_pending_order_payment,
        {"order_id": ORDER_ID, "payment_method_id": PAYMENT_ID},
        writes=True,
    ),
    Tool(
        "modify_user_address",
        "Change a customer's default address." + CONFIRM,
        modify_user_address,
        {"user_id": USER_ID, **ADDRESS},
        writes=True,
    ),
    Tool(
        "exchange_delivered_order_items",
        "Exchange items of a delivered order for other variants of the same products; one return or "
        "exchange per order. The price difference goes to the given payment method." + CONFIRM,
        exchange_delivered_order_items,
        {
            "order_id": ORDER_ID,
            "item_ids": ITEM_IDS,
            "new_item_ids": Param(
                "array",
                "The replacement item ids, position by position, each of the same product.",
                items="string",
            ),
            "payment_method_id": PAYMENT_ID,
        },
        writes=True,
    ),
    Tool(
        "return_delivered_order_items",
        "Return items of a delivered order; the refund goes to the original payment method or a gift "
        "card, and the customer gets return instructions by email." + CONFIRM,
        return_delivered_order_items,
        {"order_id": ORDER_ID, "item_ids": ITEM_IDS, "payment_method_id": PAYMENT_ID},
        writes=True,
    ),
    *COMMON_TOOLS,
)
