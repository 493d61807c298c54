"""The retail domain's agent tools over ``db.json`` (products with variants, users, orders).

Semantics follow the benchmark's 2025 tools: pending orders can be cancelled (refund to gift cards
at once), have their address, payment method or items changed (items only once, to variants of the
same product, price difference charged or refunded); delivered orders can be returned or exchanged
once (the status becomes "return requested" / "exchange requested"). One deliberate difference:
when several items of a pending order are modified, each takes its own new variant's price and
options (the original code gave all of them the last variant's).
"""

from __future__ import annotations

import json

from infopo_cli.tasks.tau.store import Database
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
ADDRESS = {
    "address1": s_str("First address line, such as '123 Main St'."),
    "address2": s_str("Second address line, such as 'Apt 1' or ''."),
    "city": s_str("City, such as 'San Francisco'."),
    "state": s_str("State, such as 'CA'."),
    "country": s_str("Country, such as 'USA'."),
    "zip": s_str("Zip code, such as '12345'."),
}


def _address(address1: str, address2: str, city: str, state: str, country: str, zip: str) -> dict:
    return {
        "address1": address1,
        "address2": address2,
        "city": city,
        "country": country,
        "state": state,
        "zip": zip,
    }


class RetailTools(Toolkit):
    """Agent tools of the retail domain."""

    def __init__(self, db: Database):
        self.db = db
        self.products, self.users, self.orders = db["products"], db["users"], db["orders"]

    # -- lookups ------------------------------------------------------------------------------------

    def _order(self, order_id: str) -> dict:
        if order_id not in self.orders:
            raise ToolError("order not found")
        return self.orders[order_id]

    def _user(self, user_id: str) -> dict:
        if user_id not in self.users:
            raise ToolError("user not found")
        return self.users[user_id]

    def _product(self, product_id: str) -> dict:
        if product_id not in self.products:
            raise ToolError("product not found")
        return self.products[product_id]

    def _variant(self, product_id: str, item_id: str) -> dict:
        variants = self._product(product_id)["variants"]
        if item_id not in variants:
            raise ToolError(f"new item {item_id} not found for product {product_id}")
        return variants[item_id]

    def _payment_method(self, user_id: str, payment_method_id: str) -> dict:
        methods = self._user(user_id)["payment_methods"]
        if payment_method_id not in methods:
            raise ToolError("payment method not found")
        return methods[payment_method_id]

    def _adjust_gift_card(self, user_id: str, payment_method_id: str, delta: float) -> None:
        card = self.users.edit(user_id)["payment_methods"][payment_method_id]
        card["balance"] = round(card["balance"] + delta, 2)

    @staticmethod
    def _check_items_present(order: dict, item_ids: list[str]) -> None:
        have = [item["item_id"] for item in order["items"]]
        for item_id in item_ids:
            if item_ids.count(item_id) > have.count(item_id):
                raise ToolError(f"item {item_id} not found in the order (or listed too often)")

    def _price_difference(self, order: dict, item_ids: list[str], new_item_ids: list[str]):
        """Sum of new minus old prices, and each new variant (same product, available)."""
        if len(item_ids) != len(new_item_ids):
            raise ToolError("the number of items to be exchanged should match")
        diff, variants = 0.0, []
        for item_id, new_id in zip(item_ids, new_item_ids):
            item = next(i for i in order["items"] if i["item_id"] == item_id)
            variant = self._variant(item["product_id"], new_id)
            if not variant["available"]:
                raise ToolError(f"new item {new_id} not found or available")
            diff += variant["price"] - item["price"]
            variants.append(variant)
        return diff, variants

    # -- tools --------------------------------------------------------------------------------------

    @tool(
        "generic",
        "Calculate an arithmetic expression with numbers, + - * /, parentheses and spaces.",
        expression=s_str("The expression, such as '2 + 2'."),
    )
    def calculate(self, expression: str) -> str:
        return calculate(expression)

    @tool(
        "write",
        "Cancel a pending order (after explicit confirmation from the user). Payments are "
        "refunded; gift card refunds are immediate, others take 5-7 business days.",
        order_id=ORDER_ID,
        reason=s_str("Why.", enum=["no longer needed", "ordered by mistake"]),
    )
    def cancel_pending_order(self, order_id: str, reason: str) -> dict:
        order = self._order(order_id)
        if order["status"] != "pending":
            raise ToolError("non-pending order cannot be cancelled")
        refunds = []
        for payment in order["payment_history"]:
            method = self._payment_method(order["user_id"], payment["payment_method_id"])
            refunds.append(
                {
                    "transaction_type": "refund",
                    "amount": payment["amount"],
                    "payment_method_id": payment["payment_method_id"],
                }
            )
            if method["source"] == "gift_card":
                self._adjust_gift_card(
                    order["user_id"], payment["payment_method_id"], payment["amount"]
                )
        order = self.orders.edit(order_id)
        order["status"] = "cancelled"
        order["cancel_reason"] = reason
        order["payment_history"].extend(refunds)
        return order

    @tool(
        "write",
        "Exchange items of a delivered order for other variants of the same products (once per "
        "order, after explicit confirmation). The price difference is paid or refunded with the "
        "given payment method.",
        order_id=ORDER_ID,
        item_ids=ITEM_IDS,
        new_item_ids=s_arr(s_str(), "New item ids, position by position, same products."),
        payment_method_id=PAYMENT_METHOD_ID,
    )
    def exchange_delivered_order_items(
        self, order_id: str, item_ids: list[str], new_item_ids: list[str], payment_method_id: str
    ) -> dict:
        order = self._order(order_id)
        if order["status"] != "delivered":
            raise ToolError("non-delivered order cannot be exchanged")
        self._check_items_present(order, item_ids)
        diff, _ = self._price_difference(order, item_ids, new_item_ids)
        diff = round(diff, 2)
        method = self._payment_method(order["user_id"], payment_method_id)
        if method["source"] == "gift_card" and method["balance"] < diff:
            raise ToolError("insufficient gift card balance to pay for the price difference")
        order = self.orders.edit(order_id)
        order["status"] = "exchange requested"
        order["exchange_items"] = sorted(item_ids)
        order["exchange_new_items"] = sorted(new_item_ids)
        order["exchange_payment_method_id"] = payment_method_id
        order["exchange_price_difference"] = diff
        return order

    @tool(
        "read",
        "Find a user id by first name, last name and zip code.",
        first_name=s_str("First name, such as 'John'."),
        last_name=s_str("Last name, such as 'Doe'."),
        zip=s_str("Zip code, such as '12345'."),
    )
    def find_user_id_by_name_zip(self, first_name: str, last_name: str, zip: str) -> str:
        first, last = first_name.casefold(), last_name.casefold()
        for user_id, user in self.users.items():
            name = user["name"]
            if (
                name["first_name"].casefold() == first
                and name["last_name"].casefold() == last
                and user["address"]["zip"] == zip
            ):
                return user_id
        raise ToolError("user not found")

    @tool(
        "read",
        "Find a user id by email.",
        email=s_str("The email, such as 'something@example.com'."),
    )
    def find_user_id_by_email(self, email: str) -> str:
        wanted = email.casefold()
        for user_id, user in self.users.items():
            if user["email"].casefold() == wanted:
                return user_id
        raise ToolError("user not found")

    @tool("read", "Get the status and details of an order.", order_id=ORDER_ID)
    def get_order_details(self, order_id: str) -> dict:
        return self._order(order_id)

    @tool(
        "read",
        "Get a product with all its variants (item ids, options, availability, prices).",
        product_id=s_str("The product id, such as '6086499569' (not an item id)."),
    )
    def get_product_details(self, product_id: str) -> dict:
        return self._product(product_id)

    @tool("read", "Get the details of a user, including their orders.", user_id=USER_ID)
    def get_user_details(self, user_id: str) -> dict:
        return self._user(user_id)

    @tool("read", "List the name and product id of every product type (50 in the store).")
    def list_all_product_types(self) -> str:
        names = {p["name"]: p["product_id"] for p in self.products.values()}
        return json.dumps(names, sort_keys=True)

    @tool(
        "write",
        "Change the shipping address of a pending order (after explicit confirmation).",
        order_id=ORDER_ID,
        **ADDRESS,
    )
    def modify_pending_order_address(
        self,
        order_id: str,
        address1: str,
        address2: str,
        city: str,
        state: str,
        country: str,
        zip: str,
    ) -> dict:
        if "pending" not in self._order(order_id)["status"]:
            raise ToolError("non-pending order cannot be modified")
        order = self.orders.edit(order_id)
        order["address"] = _address(address1, address2, city, state, country, zip)
        return order

    @tool(
        "write",
        "Change items of a pending order to other variants of the same products (only once per "
        "order, after explicit confirmation). The price difference is paid or refunded with the "
        "given payment method.",
        order_id=ORDER_ID,
        item_ids=ITEM_IDS,
        new_item_ids=s_arr(s_str(), "New item ids, position by position, same products."),
        payment_method_id=PAYMENT_METHOD_ID,
    )
    def modify_pending_order_items(
        self, order_id: str, item_ids: list[str], new_item_ids: list[str], payment_method_id: str
    ) -> dict:
        order = self._order(order_id)
        if order["status"] != "pending":
            raise ToolError("non-pending order cannot be modified")
        self._check_items_present(order, item_ids)
        if any(a == b for a, b in zip(item_ids, new_item_ids)):
            raise ToolError("the new item id should be different from the old item id")
        diff, variants = self._price_difference(order, item_ids, new_item_ids)
        method = self._payment_method(order["user_id"], payment_method_id)
        if method["source"] == "gift_card" and method["balance"] < diff:
            raise ToolError("insufficient gift card balance to pay for the new item")
        if method["source"] == "gift_card":
            self._adjust_gift_card(order["user_id"], payment_method_id, -diff)
        order = self.orders.edit(order_id)
        order["payment_history"].append(
            {
                "transaction_type": "payment" if diff > 0 else "refund",
                "amount": abs(diff),
                "payment_method_id": payment_method_id,
            }
        )
        for item_id, variant in zip(item_ids, variants):
            item = next(i for i in order["items"] if i["item_id"] == item_id)
            item["item_id"] = variant["item_id"]
            item["price"] = variant["price"]
            item["options"] = dict(variant["options"])
        order["status"] = "pending (item modified)"
        return order

    @tool(
        "write",
        "Change the payment method of a pending order (after explicit confirmation).",
        order_id=ORDER_ID,
        payment_method_id=PAYMENT_METHOD_ID,
    )
    def modify_pending_order_payment(self, order_id: str, payment_method_id: str) -> dict:
        order = self._order(order_id)
        if "pending" not in order["status"]:
            raise ToolError("non-pending order cannot be modified")
        method = self._payment_method(order["user_id"], payment_method_id)
        history = order["payment_history"]
        if len(history) != 1 or history[0]["transaction_type"] != "payment":
            raise ToolError("there should be exactly one payment for a pending order")
        old_id, amount = history[0]["payment_method_id"], history[0]["amount"]
        if old_id == payment_method_id:
            raise ToolError("the new payment method should be different from the current one")
        if method["source"] == "gift_card" and method["balance"] < amount:
            raise ToolError("insufficient gift card balance to pay for the order")
        old = self._payment_method(order["user_id"], old_id)
        if method["source"] == "gift_card":
            self._adjust_gift_card(order["user_id"], payment_method_id, -amount)
        if old["source"] == "gift_card":
            self._adjust_gift_card(order["user_id"], old_id, amount)
        order = self.orders.edit(order_id)
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
        return order

    @tool(
        "write",
        "Change the default address of a user (after explicit confirmation).",
        user_id=USER_ID,
        **ADDRESS,
    )
    def modify_user_address(
        self,
        user_id: str,
        address1: str,
        address2: str,
        city: str,
        state: str,
        country: str,
        zip: str,
    ) -> dict:
        self._user(user_id)
        user = self.users.edit(user_id)
        user["address"] = _address(address1, address2, city, state, country, zip)
        return user

    @tool(
        "write",
        "Return items of a delivered order (after explicit confirmation). The refund goes to the "
        "original payment method or to a gift card; the user gets an email with instructions.",
        order_id=ORDER_ID,
        item_ids=ITEM_IDS,
        payment_method_id=PAYMENT_METHOD_ID,
    )
    def return_delivered_order_items(
        self, order_id: str, item_ids: list[str], payment_method_id: str
    ) -> dict:
        order = self._order(order_id)
        if order["status"] != "delivered":
            raise ToolError("non-delivered order cannot be returned")
        method = self._payment_method(order["user_id"], payment_method_id)
        if (
            method["source"] != "gift_card"
            and payment_method_id != order["payment_history"][0]["payment_method_id"]
        ):
            raise ToolError("payment method should be the original payment method or a gift card")
        self._check_items_present(order, item_ids)
        order = self.orders.edit(order_id)
        order["status"] = "return requested"
        order["return_items"] = sorted(item_ids)
        order["return_payment_method_id"] = payment_method_id
        return order

    @tool(
        "generic",
        "Transfer the user to a human agent, with a summary of the issue. Only when the user "
        "explicitly asks for one, or when the policy and tools cannot solve the issue.",
        summary=s_str("A summary of the user's issue."),
    )
    def transfer_to_human_agents(self, summary: str) -> str:
        return "Transfer successful"
