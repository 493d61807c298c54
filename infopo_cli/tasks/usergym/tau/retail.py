"""tau-bench (v1) retail tools over the ``users``, ``orders`` and ``products`` tables.

The order, payment and refund rules are shared (``tasks/tau/retail.py``); ``TauBenchRetail``
states where tau-bench v1 differs from tau2-bench: a gift card is told by its id
(``gift_card_...``), not by the payment method's source; the address and payment of an order can
change only while its status is exactly "pending" (not after an item change); an item may be
"modified" into itself; a price difference starts as the integer 0 (which its gold states keep);
names and emails are compared with ``lower``; addresses are stored in argument order; error texts
differ. Arguments are checked flat (``tools.py``), so the cancel reason is checked by the rule.
"""

from __future__ import annotations

from functools import partial

from infopo_cli.tasks.tau.retail import CANCEL_REASONS, Retail
from infopo_cli.tasks.usergym.tau.tools import COMMON_TOOLS, Param, Tool, rule_tool


class TauBenchRetail(Retail):
    """The store rules as tau-bench v1 decides and words them (see module docstring)."""

    fold = staticmethod(str.lower)
    no_difference = 0
    address_keys = ("address1", "address2", "city", "state", "country", "zip")
    missing_item = "{} not found"
    missing_returned_item = "some item not found"
    missing_variant = "new item {} not found or available"
    refund_method_rule = (
        "payment method should be either the original payment method or a gift card"
    )
    rejects_unchanged_items = False

    def _still_pending(self, order: dict) -> bool:
        return order["status"] == "pending"

    def _is_gift_card(self, user_id: str, payment_method_id: str) -> bool:
        return "gift_card" in payment_method_id


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
CONFIRM = " Explain the details to the customer and get an explicit yes before calling it."
_tool = partial(rule_tool, TauBenchRetail)

RETAIL_TOOLS: tuple[Tool, ...] = (
    _tool(
        "find_user_id_by_email",
        "Look up a customer's user id by email address.",
        {"email": Param("string", "The email, such as 'something@example.com'.")},
    ),
    _tool(
        "find_user_id_by_name_zip",
        "Look up a customer's user id by first name, last name and zip code (when the email is unknown).",
        {
            "first_name": Param("string", "First name, such as 'John'."),
            "last_name": Param("string", "Last name, such as 'Doe'."),
            "zip": Param("string", "Zip code, such as '12345'."),
        },
    ),
    _tool(
        "get_user_details",
        "Profile of a customer: name, address, email, payment methods, orders.",
        {"user_id": USER_ID},
    ),
    _tool(
        "get_order_details",
        "Status, items, fulfilments and payments of an order.",
        {"order_id": ORDER_ID},
    ),
    _tool(
        "get_product_details",
        "A product type and all its variants (item ids, options, price, availability).",
        {"product_id": Param("string", "The product id, such as '6086499569' (not an item id).")},
    ),
    _tool(
        "list_all_product_types",
        "Names and product ids of all 50 product types in the store.",
    ),
    _tool(
        "cancel_pending_order",
        "Cancel a pending order and refund it (gift cards at once, other methods in 5-7 business days)."
        + CONFIRM,
        {
            "order_id": ORDER_ID,
            "reason": Param("string", "Why the order is cancelled.", enum=CANCEL_REASONS),
        },
        writes=True,
    ),
    _tool(
        "modify_pending_order_address",
        "Change the shipping address of a pending order." + CONFIRM,
        {"order_id": ORDER_ID, **ADDRESS},
        writes=True,
    ),
    _tool(
        "modify_pending_order_items",
        "Swap items of a pending order for other variants of the same products; possible once per "
        "order. The price difference is charged or refunded to the given payment method." + CONFIRM,
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
    _tool(
        "modify_pending_order_payment",
        "Pay a pending order with a different payment method." + CONFIRM,
        {"order_id": ORDER_ID, "payment_method_id": PAYMENT_ID},
        writes=True,
    ),
    _tool(
        "modify_user_address",
        "Change a customer's default address." + CONFIRM,
        {"user_id": USER_ID, **ADDRESS},
        writes=True,
    ),
    _tool(
        "exchange_delivered_order_items",
        "Exchange items of a delivered order for other variants of the same products; one return or "
        "exchange per order. The price difference goes to the given payment method." + CONFIRM,
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
    _tool(
        "return_delivered_order_items",
        "Return items of a delivered order; the refund goes to the original payment method or a gift "
        "card, and the customer gets return instructions by email." + CONFIRM,
        {"order_id": ORDER_ID, "item_ids": ITEM_IDS, "payment_method_id": PAYMENT_ID},
        writes=True,
    ),
    *COMMON_TOOLS,
)
