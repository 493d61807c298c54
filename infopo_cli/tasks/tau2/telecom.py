"""The telecom domain's agent tools over ``db.toml`` (plans, customers, lines, bills, devices).

The agent sees accounts and bills; the customer holds the phone (``phone.py``). The two sides meet
through ``sync_phone``, run after every successful tool call (as the benchmark does): the line's
status, roaming permission and data allowance decide what the phone can do, and a bill the agent
marks "Awaiting Payment" shows up on the phone as a payment request that the customer can pay.

Phone numbers are matched as tau2-bench does, exactly as written in the database ('555-123-2002'
finds nothing as '5551232002'), under ``strict_upstream``; otherwise by their digits only.

``get_data_usage`` and ``refuel_data`` answer a plain dict, which tau2-bench serialises with its
numbers as strings (``Environment.to_json_str``: ``str`` of every int, float and bool value, so
``"new_data_refueling_gb": "2.0"``); under ``strict_upstream`` they read the same, otherwise the
numbers stay numbers.

Lists in the TOML file become tables keyed by id. The clock is fixed at 2025-02-25. The draft bill
that a data refuel may create gets a deterministic id (the original used a random one).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from infopo_cli.tasks.tau.store import Database
from infopo_cli.tasks.tau.tools import ToolError
from infopo_cli.tasks.tau2.schema import optional, s_int, s_num, s_str
from infopo_cli.tasks.tau2.toolkit import Toolkit, tool

TODAY = dt.date(2025, 2, 25)
TABLE_KEYS = {
    "plans": "plan_id",
    "customers": "customer_id",
    "lines": "line_id",
    "bills": "bill_id",
    "devices": "device_id",
}
ID_PREFIXES = {
    "C": ("customers", "customer"),
    "L": ("lines", "line"),
    "D": ("devices", "device"),
    "B": ("bills", "bill"),
    "P": ("plans", "plan"),
}
CUSTOMER_ID = s_str("The customer id, such as 'C1001'.")
LINE_ID = s_str("The line id, such as 'L1001'.")


def _digits(phone: str) -> str:
    return "".join(c for c in phone if c.isdigit())


def _first_of_next_month(day: dt.date) -> dt.date:
    return (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1)


def upstream_plain(out: dict) -> dict:
    """A plain-dict result as tau2-bench's ``to_json_str`` writes it: scalar numbers and booleans
    as ``str(v)``, anything else unchanged (records inside are pydantic models there, dumped
    without conversion)."""
    return {k: str(v) if isinstance(v, (bool, int, float)) else v for k, v in out.items()}


class TelecomTools(Toolkit):
    """Agent tools of the telecom domain (plus the scenario set-up and assertion functions)."""

    RECORDS = (  # tau2-bench's Customer, Line, Device and Bill (data_model.py)
        (
            "customer_id", "full_name", "date_of_birth", "email", "phone_number", "address",
            "account_status", "payment_methods", "line_ids", "bill_ids", "created_at",
            "last_extension_date", "goodwill_credit_used_this_year",
        ),
        (
            "line_id", "phone_number", "status", "plan_id", "device_id", "data_used_gb",
            "data_refueling_gb", "roaming_enabled", "contract_end_date", "last_plan_change_date",
            "last_sim_replacement_date", "suspension_start_date",
        ),
        (
            "device_id", "device_type", "model", "imei", "is_esim_capable", "activated",
            "activation_date", "last_esim_transfer_date",
        ),
        (
            "bill_id", "customer_id", "period_start", "period_end", "issue_date", "total_due",
            "due_date", "line_items", "status",
        ),
    )  # fmt: skip
    STAMPS = frozenset({"created_at", "activation_date", "last_esim_transfer_date"})

    def __init__(self, db: Database):
        self.db = db
        self.plans, self.customers = db["plans"], db["customers"]
        self.lines, self.bills, self.devices = db["lines"], db["bills"], db["devices"]

    def _plain(self, out: dict) -> dict:
        return upstream_plain(out) if self.strict_upstream else out

    # -- lookups ------------------------------------------------------------------------------------

    def _customer(self, customer_id: str) -> dict:
        if customer_id not in self.customers:
            raise ToolError(f"customer with id {customer_id} not found")
        return self.customers[customer_id]

    def _get(self, table: str, key: str, what: str) -> dict:
        records = self.db[table]
        if key not in records:
            raise ToolError(f"{what} with id {key} not found")
        return records[key]

    def _target_line(self, customer_id: str, line_id: str) -> dict:
        customer = self._customer(customer_id)
        if line_id not in customer["line_ids"]:
            raise ToolError(f"line {line_id} not found for customer {customer_id}")
        return self._get("lines", line_id, "line")

    def _same_number(self, stored: str, given: str) -> bool:
        if self.strict_upstream:  # tau2-bench compares the strings
            return stored == given
        wanted = _digits(given)
        return bool(wanted) and _digits(stored) == wanted

    def line_by_phone(self, phone_number: str) -> dict:
        for line in self.lines.values():
            if self._same_number(line["phone_number"], phone_number):
                return line
        raise ToolError(f"line with phone number {phone_number} not found")

    def bills_awaiting_payment(self, customer: dict) -> list[dict]:
        out = []
        for bill_id in customer["bill_ids"]:
            bill = self._get("bills", bill_id, "bill")
            if bill["status"] == "Awaiting Payment":
                out.append(bill)
        return out

    def set_bill_paid(self, bill_id: str) -> None:
        self._get("bills", bill_id, "bill")
        self.bills.edit(bill_id)["status"] = "Paid"

    def _charge(self, customer_id: str, amount: float, description: str) -> None:
        """Add a line item to the customer's draft bill, creating next month's draft if needed."""
        customer = self._customer(customer_id)
        draft_id = next(
            (b for b in customer["bill_ids"] if self._get("bills", b, "bill")["status"] == "Draft"),
            None,
        )
        if draft_id is None:
            start = _first_of_next_month(TODAY)
            end = _first_of_next_month(start) - dt.timedelta(days=1)
            digest = hashlib.sha1(f"{customer_id}:{len(customer['bill_ids'])}".encode()).hexdigest()
            draft_id = f"B{digest[:8]}"
            self.bills.put(
                draft_id,
                {
                    "bill_id": draft_id,
                    "customer_id": customer_id,
                    "period_start": start.isoformat(),
                    "period_end": end.isoformat(),
                    "issue_date": start.isoformat(),
                    "total_due": 0.0,
                    "due_date": (start + dt.timedelta(days=14)).isoformat(),
                    "status": "Draft",
                    "line_items": [],
                },
            )
            self.customers.edit(customer_id)["bill_ids"].append(draft_id)
        bill = self.bills.edit(draft_id)
        bill["line_items"].append(
            {
                "description": description,
                "amount": amount,
                "date": TODAY.isoformat(),
                "item_type": "Credit" if amount < 0 else "Charge",
            }
        )
        bill["total_due"] += amount

    # -- tools --------------------------------------------------------------------------------------

    @tool(
        "read",
        "Find a customer by their contact phone number or the number of one of their lines.",
        phone_number=s_str("The phone number, such as '555-123-2002'."),
    )
    def get_customer_by_phone(self, phone_number: str) -> dict:
        for customer in self.customers.values():
            if self._same_number(customer["phone_number"], phone_number):
                return customer
            for line_id in customer["line_ids"]:
                line = self.lines.get(line_id)
                if line is not None and self._same_number(line["phone_number"], phone_number):
                    return customer
        raise ToolError(f"customer with phone number {phone_number} not found")

    @tool("read", "Get a customer by their id.", customer_id=CUSTOMER_ID)
    def get_customer_by_id(self, customer_id: str) -> dict:
        return self._customer(customer_id)

    @tool(
        "read",
        "Find customers by full name and date of birth (a list; it may be empty).",
        full_name=s_str("The customer's full name."),
        dob=s_str("Date of birth, 'YYYY-MM-DD'."),
    )
    def get_customer_by_name(self, full_name: str, dob: str) -> list[dict]:
        name = full_name.casefold()
        return [
            c
            for c in self.customers.values()
            if c["full_name"].casefold() == name and c["date_of_birth"] == dob
        ]

    @tool(
        "read",
        "Get the record for an id of a customer (C...), line (L...), device (D...), bill (B...) "
        "or plan (P...).",
        id=s_str("The id, such as 'L1001'."),
    )
    def get_details_by_id(self, id: str) -> dict:
        if not id or id[0] not in ID_PREFIXES:
            raise ToolError(f"unknown id format: {id}")
        table, what = ID_PREFIXES[id[0]]
        return self._get(table, id, what)

    @tool(
        "write",
        "Suspend an active line (at most 6 months; a $5/month holding fee applies).",
        customer_id=CUSTOMER_ID,
        line_id=LINE_ID,
        reason=s_str("Reason for the suspension."),
    )
    def suspend_line(self, customer_id: str, line_id: str, reason: str) -> dict:
        if self._target_line(customer_id, line_id)["status"] != "Active":
            raise ToolError("line must be active to suspend")
        line = self.lines.edit(line_id)
        line["status"] = "Suspended"
        line["suspension_start_date"] = TODAY.isoformat()
        return {
            "message": "Line suspended successfully. $5/month holding fee will apply.",
            "line": line,
        }

    @tool(
        "write",
        "Resume a suspended (or pending-activation) line.",
        customer_id=CUSTOMER_ID,
        line_id=LINE_ID,
    )
    def resume_line(self, customer_id: str, line_id: str) -> dict:
        if self._target_line(customer_id, line_id)["status"] not in (
            "Suspended",
            "Pending Activation",
        ):
            raise ToolError("line must be suspended to resume")
        line = self.lines.edit(line_id)
        line["status"] = "Active"
        line["suspension_start_date"] = None
        return {"message": "Line resumed successfully", "line": line}

    @tool(
        "read",
        "List a customer's bills, most recent first.",
        customer_id=CUSTOMER_ID,
        limit=optional(s_int("Maximum number of bills (default 12).")),
    )
    def get_bills_for_customer(self, customer_id: str, limit: int = 12) -> list[dict]:
        customer = self._customer(customer_id)
        bills = [self._get("bills", b, "bill") for b in customer["bill_ids"]]
        return sorted(bills, key=lambda b: b["issue_date"], reverse=True)[: max(limit, 0)]

    @tool(
        "write",
        "Send the customer a payment request for one of their bills (check first that the bill "
        "is not already paid; only one bill can await payment at a time).",
        customer_id=CUSTOMER_ID,
        bill_id=s_str("The bill id, such as 'B1001'."),
    )
    def send_payment_request(self, customer_id: str, bill_id: str) -> str:
        customer = self._customer(customer_id)
        if self.bills_awaiting_payment(customer):
            raise ToolError("a bill is already awaiting payment for this customer")
        if bill_id not in customer["bill_ids"]:
            raise ToolError(f"bill {bill_id} not found for customer {customer_id}")
        self._get("bills", bill_id, "bill")
        self.bills.edit(bill_id)["status"] = "Awaiting Payment"
        return f"Payment request sent to the customer for bill {bill_id}"

    @tool(
        "read",
        "Get a line's data usage this billing cycle: used, plan limit, refueled, cycle end date.",
        customer_id=CUSTOMER_ID,
        line_id=LINE_ID,
    )
    def get_data_usage(self, customer_id: str, line_id: str) -> dict:
        line = self._target_line(customer_id, line_id)
        plan = self._get("plans", line["plan_id"], "plan")
        cycle_end = _first_of_next_month(TODAY) - dt.timedelta(days=1)
        return self._plain(
            {
                "line_id": line_id,
                "data_used_gb": line["data_used_gb"],
                "data_limit_gb": plan["data_limit_gb"],
                "data_refueling_gb": line["data_refueling_gb"],
                "cycle_end_date": cycle_end.isoformat(),
            }
        )

    @tool(
        "write", "Enable international roaming on a line.", customer_id=CUSTOMER_ID, line_id=LINE_ID
    )
    def enable_roaming(self, customer_id: str, line_id: str) -> str:
        if self._target_line(customer_id, line_id)["roaming_enabled"]:
            return "Roaming was already enabled"
        self.lines.edit(line_id)["roaming_enabled"] = True
        return "Roaming enabled successfully"

    @tool(
        "write",
        "Disable international roaming on a line.",
        customer_id=CUSTOMER_ID,
        line_id=LINE_ID,
    )
    def disable_roaming(self, customer_id: str, line_id: str) -> str:
        if not self._target_line(customer_id, line_id)["roaming_enabled"]:
            return "Roaming was already disabled"
        self.lines.edit(line_id)["roaming_enabled"] = False
        return "Roaming disabled successfully"

    @tool(
        "generic",
        "Transfer the user to a human agent, with a summary of the issue. Only when the user "
        "explicitly asks for one, or when the policy and tools cannot solve the issue.",
        summary=s_str("A summary of the user's issue."),
    )
    def transfer_to_human_agents(self, summary: str) -> str:
        return "Transfer successful"

    @tool(
        "write",
        "Add data to a line for this cycle; the plan's refueling price per GB is charged.",
        customer_id=CUSTOMER_ID,
        line_id=LINE_ID,
        gb_amount=s_num("Gigabytes to add (positive)."),
    )
    def refuel_data(self, customer_id: str, line_id: str, gb_amount: float) -> dict:
        line = self._target_line(customer_id, line_id)
        if gb_amount <= 0:
            raise ToolError("refuel amount must be positive")
        plan = self._get("plans", line["plan_id"], "plan")
        charge = gb_amount * plan["data_refueling_price_per_gb"]
        line = self.lines.edit(line_id)
        line["data_refueling_gb"] += gb_amount
        self._charge(
            customer_id,
            charge,
            f"Data refueling: {gb_amount} GB at ${plan['data_refueling_price_per_gb']}/GB",
        )
        return self._plain(
            {
                "message": f"Successfully added {gb_amount} GB of data for line {line_id} for ${charge:.2f}",
                "new_data_refueling_gb": line["data_refueling_gb"],
                "charge": charge,
            }
        )

    # -- scenario set-up (not offered to the agent) -------------------------------------------------

    def set_data_usage(self, customer_id: str, line_id: str, data_used_gb: float) -> str:
        self._target_line(customer_id, line_id)
        self.lines.edit(line_id)["data_used_gb"] = data_used_gb
        return f"Data usage set to {data_used_gb} GB for line {line_id}"

    def suspend_line_for_overdue_bill(
        self, customer_id: str, line_id: str, new_bill_id: str, contract_ended: bool
    ) -> str:
        line = self._get("lines", line_id, "line")
        if line["status"] != "Active":
            raise ToolError("line must be active to suspend for unpaid bill")
        amount = self._get("plans", line["plan_id"], "plan")["price_per_month"]
        customer = self._customer(customer_id)
        if any(self._get("bills", b, "bill")["status"] == "Overdue" for b in customer["bill_ids"]):
            raise ToolError("customer already has an overdue bill")
        last_month_end = TODAY.replace(day=1) - dt.timedelta(days=1)
        last_month_start = last_month_end.replace(day=1)
        self.bills.put(
            new_bill_id,
            {
                "bill_id": new_bill_id,
                "customer_id": customer_id,
                "period_start": last_month_start.isoformat(),
                "period_end": last_month_end.isoformat(),
                "issue_date": last_month_start.isoformat(),
                "total_due": amount,
                "due_date": (last_month_start + dt.timedelta(days=14)).isoformat(),
                "status": "Overdue",
                "line_items": [
                    {
                        "description": f"Charge for line {line_id}",
                        "amount": amount,
                        "date": TODAY.isoformat(),
                        "item_type": "Charge",
                    }
                ],
            },
        )
        self.customers.edit(customer_id)["bill_ids"].append(new_bill_id)
        line = self.lines.edit(line_id)
        line["status"] = "Suspended"
        line["suspension_start_date"] = TODAY.isoformat()
        if contract_ended:
            line["contract_end_date"] = last_month_end.isoformat()
        return f"Line {line_id} suspended for unpaid bill {new_bill_id}. Contract ended: {contract_ended}"

    # -- assertions on the final state --------------------------------------------------------------

    def assert_data_refueling_amount(
        self, customer_id: str, line_id: str, expected_amount: float
    ) -> bool:
        return (
            abs(self._target_line(customer_id, line_id)["data_refueling_gb"] - expected_amount)
            < 1e-6
        )

    def assert_line_status(self, customer_id: str, line_id: str, expected_status: str) -> bool:
        return self._target_line(customer_id, line_id)["status"] == expected_status

    def assert_no_overdue_bill(self, overdue_bill_id: str) -> bool:
        bill = self.bills.get(overdue_bill_id)
        return bill is None or bill["status"] == "Paid"


def tables_from_toml(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The TOML lists as tables keyed by their id field (file order kept)."""
    out = {}
    for name, key in TABLE_KEYS.items():
        out[name] = {row[key]: row for row in data.get(name, [])}
    return out
