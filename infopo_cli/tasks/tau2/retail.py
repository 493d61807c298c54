"""The retail domain's agent tools (tau2-bench) over ``db.json`` (products, users, orders).

The rules are shared (``tasks/tau/retail.py``, whose defaults are tau2-bench's); this module
declares them to the agent. Arguments are checked strictly first (``schema.py``): a cancel reason
outside the enum is refused there, with the accepted values named.

Under ``strict_upstream`` a multi-item ``modify_pending_order_items`` gives every modified item the
last new variant's price and options, as tau2-bench's code does (its gold end states depend on it,
so the order of ``item_ids`` can change the score); otherwise each item gets its own variant's.
``get_item_details`` is tau2-bench's tool of the 2026 task revision (offered for every task file,
as upstream's current toolkit does).
"""

from __future__ import annotations

from infopo_cli.tasks.tau.retail import CANCEL_REASONS, Retail
from infopo_cli.tasks.tau.tools import ToolError
from infopo_cli.tasks.tau2.schema import s_arr, s_str
from infopo_cli.tasks.tau2.toolkit import Toolkit, calculate, tool

ORDER_ID = s_str("The order id, such as '#W0000000' (note the leading '#').")
USER_ID = s_str("The user id, such as 'sara_doe_496'.")
PAYMENT_METHOD_ID = s_str(
    "A payment method id from the user's profile, such as 'gift_card_0000000' or "
    "'credit_card_0000000'."
)
ITEM_IDS = s_arr(s_str("An item id, such as '1008292230'."), "Item ids; duplicates allowed.")
NEW_ITEM_IDS = s_arr(s_str(), "New item ids, position by position, same products.")
ADDRESS = {
    "address1": s_str("First address line, such as '123 Main St'."),
    "address2": s_str("Second address line, such as 'Apt 1' or ''."),
    "city": s_str("City, such as 'San Francisco'."),
    "state": s_str("State, such as 'CA'."),
    "country": s_str("Country, such as 'USA'."),
    "zip": s_str("Zip code, such as '12345'."),
}


class RetailTools(Toolkit, Retail):
    """Agent tools of the retail domain."""

    RECORDS = (  # tau2-bench's Order (data_model.py)
        (
            "order_id", "user_id", "address", "items", "status", "fulfillments",
            "payment_history", "cancel_reason", "exchange_items", "exchange_new_items",
            "exchange_payment_method_id", "exchange_price_difference", "return_items",
            "return_payment_method_id",
        ),
    )  # fmt: skip

    @property
    def last_variant_for_all_items(self) -> bool:
        return self.strict_upstream

    @tool(
        "generic",
        "Calculate an arithmetic expression with numbers, + - * /, parentheses and spaces.",
        expression=s_str("The expression, such as '2 + 2'."),
    )
    def calculate(self, expression: str) -> str:
        return calculate(expression)

    cancel_pending_order = tool(
        "write",
        "Cancel a pending order (after explicit confirmation from the user). Payments are "
        "refunded; gift card refunds are immediate, others take 5-7 business days.",
        order_id=ORDER_ID,
        reason=s_str("Why.", enum=CANCEL_REASONS),
    )(Retail.cancel_pending_order)

    exchange_delivered_order_items = tool(
        "write",
        "Exchange items of a delivered order for other variants of the same products (once per "
        "order, after explicit confirmation). The price difference is paid or refunded with the "
        "given payment method.",
        order_id=ORDER_ID,
        item_ids=ITEM_IDS,
        new_item_ids=NEW_ITEM_IDS,
        payment_method_id=PAYMENT_METHOD_ID,
    )(Retail.exchange_delivered_order_items)

    find_user_id_by_name_zip = tool(
        "read",
        "Find a user id by first name, last name and zip code.",
        first_name=s_str("First name, such as 'John'."),
        last_name=s_str("Last name, such as 'Doe'."),
        zip=s_str("Zip code, such as '12345'."),
    )(Retail.find_user_id_by_name_zip)

    find_user_id_by_email = tool(
        "read",
        "Find a user id by email.",
        email=s_str("The email, such as 'something@example.com'."),
    )(Retail.find_user_id_by_email)

    get_order_details = tool("read", "Get the status and details of an order.", order_id=ORDER_ID)(
        Retail.get_order_details
    )

    get_product_details = tool(
        "read",
        "Get a product with all its variants (item ids, options, availability, prices).",
        product_id=s_str("The product id, such as '6086499569' (not an item id)."),
    )(Retail.get_product_details)

    @tool(
        "read",
        "Get the inventory details of an item.",
        item_id=s_str(
            "The item id, such as '6086499569'. Be careful the item id is different from the "
            "product id."
        ),
    )
    def get_item_details(self, item_id: str) -> dict:
        for product in self.products.values():
            if item_id in product["variants"]:
                return product["variants"][item_id]
        raise ToolError("item not found")

    get_user_details = tool(
        "read", "Get the details of a user, including their orders.", user_id=USER_ID
    )(Retail.get_user_details)

    list_all_product_types = tool(
        "read", "List the name and product id of every product type (50 in the store)."
    )(Retail.list_all_product_types)

    modify_pending_order_address = tool(
        "write",
        "Change the shipping address of a pending order (after explicit confirmation).",
        order_id=ORDER_ID,
        **ADDRESS,
    )(Retail.modify_pending_order_address)

    modify_pending_order_items = tool(
        "write",
        "Change items of a pending order to other variants of the same products (only once per "
        "order, after explicit confirmation). The price difference is paid or refunded with the "
        "given payment method.",
        order_id=ORDER_ID,
        item_ids=ITEM_IDS,
        new_item_ids=NEW_ITEM_IDS,
        payment_method_id=PAYMENT_METHOD_ID,
    )(Retail.modify_pending_order_items)

    modify_pending_order_payment = tool(
        "write",
        "Change the payment method of a pending order (after explicit confirmation).",
        order_id=ORDER_ID,
        payment_method_id=PAYMENT_METHOD_ID,
    )(Retail.modify_pending_order_payment)

    modify_user_address = tool(
        "write",
        "Change the default address of a user (after explicit confirmation).",
        user_id=USER_ID,
        **ADDRESS,
    )(Retail.modify_user_address)

    return_delivered_order_items = tool(
        "write",
        "Return items of a delivered order (after explicit confirmation). The refund goes to the "
        "original payment method or to a gift card; the user gets an email with instructions.",
        order_id=ORDER_ID,
        item_ids=ITEM_IDS,
        payment_method_id=PAYMENT_METHOD_ID,
    )(Retail.return_delivered_order_items)

    @tool(
        "generic",
        "Transfer the user to a human agent, with a summary of the issue. Only when the user "
        "explicitly asks for one, or when the policy and tools cannot solve the issue.",
        summary=s_str("A summary of the user's issue."),
    )
    def transfer_to_human_agents(self, summary: str) -> str:
        return "Transfer successful"
