"""The retail domain's rules over ``products`` (with variants), ``users`` and ``orders``.

Both benchmarks' gold end states were written against these semantics: pending orders can be
cancelled (refunds to gift cards at once, balances rounded to cents), have their address, payment
method or items changed (items only once, to available variants of the same products, the price
difference charged or refunded); delivered orders can be returned or exchanged once (the status
becomes "return requested" / "exchange requested"). Every payment change appends to the order's
``payment_history``. When several items of a pending order are modified, each takes its own new
variant's price and options by default; tau2-bench's code gives every modified item the price and
options of the LAST new variant in the list (a loop variable left over), and its gold end states
were computed that way, so ``tasks/tau2/retail.py`` turns ``last_variant_for_all_items`` on under
``strict_upstream``.

The two versions differ in the class attributes below and in ``_still_pending`` and
``_is_gift_card``. The defaults are tau2-bench's (``tasks/tau2/retail.py`` declares them as
tools); ``TauBenchRetail`` in ``tasks/usergym/tau/retail.py`` holds tau-bench v1's.
"""

from __future__ import annotations

import json

from infopo_cli.tasks.tau.store import Database
from infopo_cli.tasks.tau.tools import ToolError

CANCEL_REASONS = ("no longer needed", "ordered by mistake")


class Retail:
    """The store rules of one episode's database (tau2-bench's wording and layout)."""

    fold = staticmethod(str.casefold)  # how names and emails are compared case-insensitively
    no_difference: float = 0.0  # a price difference before any item (0 and 0.0 differ in a state)
    address_keys = ("address1", "address2", "city", "country", "state", "zip")  # as stored
    missing_item = "item {} not found in the order (or listed too often)"
    missing_returned_item = missing_item
    missing_variant = "new item {} not found for product {}"  # the new item id, the product id
    refund_method_rule = "payment method should be the original payment method or a gift card"
    rejects_unchanged_items = True  # modifying an item into the same item is an error
    last_variant_for_all_items = False  # tau2-bench's loop-variable bug (see the docstring)

    def __init__(self, db: Database):
        self.db = db
        self.products, self.users, self.orders = db["products"], db["users"], db["orders"]

    # -- where the versions decide differently ------------------------------------------------------

    def _still_pending(self, order: dict) -> bool:
        """Whether an order's address or payment may still change (also after an item change)."""
        return "pending" in order["status"]

    def _is_gift_card(self, user_id: str, payment_method_id: str) -> bool:
        return self._payment_method(user_id, payment_method_id)["source"] == "gift_card"

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
            raise ToolError(self.missing_variant.format(item_id, product_id))
        return variants[item_id]

    def _payment_method(self, user_id: str, payment_method_id: str) -> dict:
        methods = self._user(user_id)["payment_methods"]
        if payment_method_id not in methods:
            raise ToolError("payment method not found")
        return methods[payment_method_id]

    def _adjust_gift_card(self, user_id: str, payment_method_id: str, delta: float) -> None:
        card = self.users.edit(user_id)["payment_methods"][payment_method_id]
        card["balance"] = round(card["balance"] + delta, 2)

    def _address(self, address: dict[str, str]) -> dict[str, str]:
        return {k: address[k] for k in self.address_keys}

    @staticmethod
    def _check_items_present(order: dict, item_ids: list[str], message: str) -> None:
        have = [item["item_id"] for item in order["items"]]
        for item_id in item_ids:
            if item_ids.count(item_id) > have.count(item_id):
                raise ToolError(message.format(item_id))

    def _price_difference(
        self, order: dict, item_ids: list[str], new_item_ids: list[str]
    ) -> tuple[float, list[dict]]:
        """Sum of new minus old prices, and each new variant (same product, available)."""
        if len(item_ids) != len(new_item_ids):
            raise ToolError("the number of items to be exchanged should match")
        diff, variants = self.no_difference, []
        for item_id, new_id in zip(item_ids, new_item_ids):
            item = next(i for i in order["items"] if i["item_id"] == item_id)
            variant = self._variant(item["product_id"], new_id)
            if not variant["available"]:
                raise ToolError(f"new item {new_id} not found or available")
            diff += variant["price"] - item["price"]
            variants.append(variant)
        return diff, variants

    # -- tools --------------------------------------------------------------------------------------

    def find_user_id_by_name_zip(self, first_name: str, last_name: str, zip: str) -> str:
        first, last = self.fold(first_name), self.fold(last_name)
        for user_id, user in self.users.items():
            name = user["name"]
            if (
                self.fold(name["first_name"]) == first
                and self.fold(name["last_name"]) == last
                and user["address"]["zip"] == zip
            ):
                return user_id
        raise ToolError("user not found")

    def find_user_id_by_email(self, email: str) -> str:
        wanted = self.fold(email)
        for user_id, user in self.users.items():
            if self.fold(user["email"]) == wanted:
                return user_id
        raise ToolError("user not found")

    def get_user_details(self, user_id: str) -> dict:
        return self._user(user_id)

    def get_order_details(self, order_id: str) -> dict:
        return self._order(order_id)

    def get_product_details(self, product_id: str) -> dict:
        return self._product(product_id)

    def list_all_product_types(self) -> str:
        names = {p["name"]: p["product_id"] for p in self.products.values()}
        return json.dumps(names, sort_keys=True)

    def cancel_pending_order(self, order_id: str, reason: str) -> dict:
        order = self._order(order_id)
        if order["status"] != "pending":
            raise ToolError("non-pending order cannot be cancelled")
        if reason not in CANCEL_REASONS:
            raise ToolError("invalid reason")
        refunds = []
        for payment in order["payment_history"]:
            method_id = payment["payment_method_id"]
            refunds.append(
                {
                    "transaction_type": "refund",
                    "amount": payment["amount"],
                    "payment_method_id": method_id,
                }
            )
            if self._is_gift_card(order["user_id"], method_id):
                self._adjust_gift_card(order["user_id"], method_id, payment["amount"])
        order = self.orders.edit(order_id)
        order["status"] = "cancelled"
        order["cancel_reason"] = reason
        order["payment_history"].extend(refunds)
        return order

    def modify_pending_order_address(self, order_id: str, **address: str) -> dict:
        if not self._still_pending(self._order(order_id)):
            raise ToolError("non-pending order cannot be modified")
        order = self.orders.edit(order_id)
        order["address"] = self._address(address)
        return order

    def modify_user_address(self, user_id: str, **address: str) -> dict:
        self._user(user_id)
        user = self.users.edit(user_id)
        user["address"] = self._address(address)
        return user

    def modify_pending_order_items(
        self, order_id: str, item_ids: list[str], new_item_ids: list[str], payment_method_id: str
    ) -> dict:
        order = self._order(order_id)
        if order["status"] != "pending":
            raise ToolError("non-pending order cannot be modified")
        self._check_items_present(order, item_ids, self.missing_item)
        if self.rejects_unchanged_items and any(a == b for a, b in zip(item_ids, new_item_ids)):
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
            # tau2-bench's code reads price and options from the last loop's variant
            source = variants[-1] if self.last_variant_for_all_items else variant
            item["price"] = source["price"]
            item["options"] = dict(source["options"])
        order["status"] = "pending (item modified)"
        return order

    def modify_pending_order_payment(self, order_id: str, payment_method_id: str) -> dict:
        order = self._order(order_id)
        if not self._still_pending(order):
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
        refund_to_gift_card = self._is_gift_card(order["user_id"], old_id)
        if method["source"] == "gift_card":
            self._adjust_gift_card(order["user_id"], payment_method_id, -amount)
        if refund_to_gift_card:
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

    def exchange_delivered_order_items(
        self, order_id: str, item_ids: list[str], new_item_ids: list[str], payment_method_id: str
    ) -> dict:
        order = self._order(order_id)
        if order["status"] != "delivered":
            raise ToolError("non-delivered order cannot be exchanged")
        self._check_items_present(order, item_ids, self.missing_item)
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

    def return_delivered_order_items(
        self, order_id: str, item_ids: list[str], payment_method_id: str
    ) -> dict:
        order = self._order(order_id)
        if order["status"] != "delivered":
            raise ToolError("non-delivered order cannot be returned")
        self._payment_method(order["user_id"], payment_method_id)
        if (
            not self._is_gift_card(order["user_id"], payment_method_id)
            and payment_method_id != order["payment_history"][0]["payment_method_id"]
        ):
            raise ToolError(self.refund_method_rule)
        self._check_items_present(order, item_ids, self.missing_returned_item)
        order = self.orders.edit(order_id)
        order["status"] = "return requested"
        order["return_items"] = sorted(item_ids)
        order["return_payment_method_id"] = payment_method_id
        return order
