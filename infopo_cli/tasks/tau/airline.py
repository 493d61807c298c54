"""The airline domain's rules over a database of ``flights``, ``users`` and ``reservations``.

Both benchmarks' gold end states were written against these semantics: prices are per passenger
and segment, insurance costs 30 per passenger, each non-free bag 50; a booking's payments must add
up exactly to its price; certificates pay for bookings only and are used up, gift cards are
debited; cancelling refunds every payment but returns no seats; changing flights keeps unchanged segments at their
original price and charges (or refunds) the difference, never by certificate. The clock is fixed
at 2024-05-15 15:00 EST. New reservation and certificate ids come from short fixed lists, so
replays are deterministic.

The two versions differ in the class attributes below and in ``_segment``, ``_kept_segment`` and
``_certificate`` (how records are laid out, which shows in every later lookup). The defaults are
tau2-bench's (``tasks/tau2/airline.py`` declares them as tools); ``TauBenchAirline`` in
``tasks/usergym/tau/airline.py`` holds tau-bench v1's. Flight searches and the airport list answer
in different shapes in the two versions and live with each.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from infopo_cli.tasks.tau.store import Database
from infopo_cli.tasks.tau.tools import ToolError

NOW = "2024-05-15T15:00:00"
NEW_RESERVATION_IDS = ("HATHAT", "HATHAU", "HATHAV")
NEW_CERTIFICATE_IDS = ("certificate_3221322", "certificate_3221323", "certificate_3221324")
CABINS = ("basic_economy", "economy", "business")
INSURANCE_PER_PASSENGER, PRICE_PER_BAG = 30, 50
AIRPORTS = (
    ("SFO", "San Francisco"), ("JFK", "New York"), ("LAX", "Los Angeles"), ("ORD", "Chicago"),
    ("DFW", "Dallas"), ("DEN", "Denver"), ("SEA", "Seattle"), ("ATL", "Atlanta"),
    ("MIA", "Miami"), ("BOS", "Boston"), ("PHX", "Phoenix"), ("IAH", "Houston"),
    ("LAS", "Las Vegas"), ("MCO", "Orlando"), ("EWR", "Newark"), ("CLT", "Charlotte"),
    ("MSP", "Minneapolis"), ("DTW", "Detroit"), ("PHL", "Philadelphia"), ("LGA", "LaGuardia"),
)  # fmt: skip


def next_day(date: str) -> str:
    """The day after ``date`` ('YYYY-MM-DD'); ValueError when it is not such a date."""
    return (dt.date.fromisoformat(date) + dt.timedelta(days=1)).isoformat()


class Airline:
    """The reservation rules of one episode's database (tau2-bench's wording and layout)."""

    missing_user = "user {} not found"
    missing_reservation = "reservation {} not found"
    no_reservation_left = "too many reservations"
    no_certificate_left = "too many certificates"
    certificate_for_change = "a certificate cannot be used to update a reservation"
    books_seats = True  # a booking takes its seats from the flight's inventory

    def __init__(self, db: Database):
        self.db = db
        self.flights, self.users, self.reservations = db["flights"], db["users"], db["reservations"]

    # -- records as each version lays them out ------------------------------------------------------

    def _segment(self, requested: dict, flight: dict, price: float) -> dict:
        """A reservation's segment for a requested ``{flight_number, date}`` on ``flight``."""
        return {
            "origin": flight["origin"],
            "destination": flight["destination"],
            "flight_number": requested["flight_number"],
            "date": requested["date"],
            "price": price,
        }

    def _kept_segment(self, requested: dict, kept: dict) -> dict:
        """A segment that a flight change keeps (same flight, date and cabin)."""
        return copy.deepcopy(kept)

    def _certificate(self, certificate_id: str, amount: float) -> dict:
        return {"source": "certificate", "id": certificate_id, "amount": amount}

    # -- lookups ------------------------------------------------------------------------------------

    def _user(self, user_id: str) -> dict:
        if user_id not in self.users:
            raise ToolError(self.missing_user.format(user_id))
        return self.users[user_id]

    def _reservation(self, reservation_id: str) -> dict:
        if reservation_id not in self.reservations:
            raise ToolError(self.missing_reservation.format(reservation_id))
        return self.reservations[reservation_id]

    def _flight(self, flight_number: Any) -> dict:
        if not isinstance(flight_number, str) or flight_number not in self.flights:
            raise ToolError(f"flight {flight_number} not found")
        return self.flights[flight_number]

    def _flight_date(self, flight_number: Any, date: Any) -> dict:
        flight = self._flight(flight_number)
        if date not in flight["dates"]:
            raise ToolError(f"flight {flight_number} not found on date {date}")
        return flight["dates"][date]

    def _bookable(self, requested: dict, cabin: str, seats: int) -> tuple[dict, dict]:
        """The flight and date record of a requested segment with ``seats`` free in ``cabin``."""
        number, date = requested.get("flight_number"), requested.get("date")
        flight = self._flight(number)
        day = self._flight_date(number, date)
        if day["status"] != "available":
            raise ToolError(f"flight {number} not available on date {date}")
        if cabin not in day["available_seats"]:
            raise ToolError(f"unknown cabin {cabin!r}; cabins: {', '.join(CABINS)}")
        if day["available_seats"][cabin] < seats:
            raise ToolError(f"not enough seats on flight {number}")
        return flight, day

    def _charge_for_change(self, user_id: str, payment_id: str, amount: float) -> dict | None:
        """Check and take payment for a change; a negative amount is a refund. None if zero."""
        method = self.users[user_id]["payment_methods"].get(payment_id)
        if method is None:
            raise ToolError("payment method not found")
        if method["source"] == "certificate":
            raise ToolError(self.certificate_for_change)
        if method["source"] == "gift_card" and method["amount"] < amount:
            raise ToolError("gift card balance is not enough")
        if method["source"] == "gift_card":
            self.users.edit(user_id)["payment_methods"][payment_id]["amount"] -= amount
        return None if amount == 0 else {"payment_id": payment_id, "amount": amount}

    # -- tools --------------------------------------------------------------------------------------

    def get_user_details(self, user_id: str) -> dict:
        return self._user(user_id)

    def get_reservation_details(self, reservation_id: str) -> dict:
        return self._reservation(reservation_id)

    def book_reservation(
        self,
        user_id: str,
        origin: str,
        destination: str,
        flight_type: str,
        cabin: str,
        flights: list[dict],
        passengers: list[dict],
        payment_methods: list[dict],
        total_baggages: int,
        nonfree_baggages: int,
        insurance: str,
    ) -> dict:
        user = self._user(user_id)
        reservation_id = next((r for r in NEW_RESERVATION_IDS if r not in self.reservations), None)
        if reservation_id is None:
            raise ToolError(self.no_reservation_left)
        segments, total = [], 0
        for requested in flights:
            flight, day = self._bookable(requested, cabin, len(passengers))
            segments.append(self._segment(requested, flight, day["prices"][cabin]))
            total += segments[-1]["price"] * len(passengers)
        if insurance == "yes":
            total += INSURANCE_PER_PASSENGER * len(passengers)
        total += PRICE_PER_BAG * nonfree_baggages
        for payment in payment_methods:
            payment_id, amount = payment.get("payment_id"), payment.get("amount")
            if payment_id not in user["payment_methods"]:
                raise ToolError(f"payment method {payment_id} not found")
            method = user["payment_methods"][payment_id]
            if method["source"] in ("gift_card", "certificate") and method["amount"] < amount:
                raise ToolError(f"not enough balance in payment method {payment_id}")
        paid = sum(p["amount"] for p in payment_methods)
        if paid != total:
            raise ToolError(
                f"payment amount does not add up, total price is {total}, but paid {paid}"
            )
        owner = self.users.edit(user_id)
        for payment in payment_methods:
            method = owner["payment_methods"][payment["payment_id"]]
            if method["source"] == "gift_card":
                method["amount"] -= payment["amount"]
            elif method["source"] == "certificate":
                del owner["payment_methods"][payment["payment_id"]]
        if self.books_seats:
            for requested in flights:
                day = self.flights.edit(requested["flight_number"])["dates"][requested["date"]]
                day["available_seats"][cabin] -= len(passengers)
        reservation = {
            "reservation_id": reservation_id,
            "user_id": user_id,
            "origin": origin,
            "destination": destination,
            "flight_type": flight_type,
            "cabin": cabin,
            "flights": segments,
            "passengers": copy.deepcopy(passengers),
            "payment_history": copy.deepcopy(payment_methods),
            "created_at": NOW,
            "total_baggages": total_baggages,
            "nonfree_baggages": nonfree_baggages,
            "insurance": insurance,
        }
        self.reservations.put(reservation_id, reservation)
        owner["reservations"].append(reservation_id)
        return reservation

    def cancel_reservation(self, reservation_id: str) -> dict:
        self._reservation(reservation_id)
        reservation = self.reservations.edit(reservation_id)
        refunds = [
            {"payment_id": p["payment_id"], "amount": -p["amount"]}
            for p in reservation["payment_history"]
        ]
        reservation["payment_history"].extend(refunds)
        reservation["status"] = "cancelled"
        return reservation

    def update_reservation_baggages(
        self, reservation_id: str, total_baggages: int, nonfree_baggages: int, payment_id: str
    ) -> dict:
        reservation = self._reservation(reservation_id)
        self._user(reservation["user_id"])
        price = PRICE_PER_BAG * max(0, nonfree_baggages - reservation["nonfree_baggages"])
        payment = self._charge_for_change(reservation["user_id"], payment_id, price)
        reservation = self.reservations.edit(reservation_id)
        if payment is not None:
            reservation["payment_history"].append(payment)
        reservation["total_baggages"] = total_baggages
        reservation["nonfree_baggages"] = nonfree_baggages
        return reservation

    def update_reservation_flights(
        self, reservation_id: str, cabin: str, flights: list[dict], payment_id: str
    ) -> dict:
        reservation = self._reservation(reservation_id)
        self._user(reservation["user_id"])
        n = len(reservation["passengers"])
        segments, total = [], 0
        for requested in flights:
            number, date = requested.get("flight_number"), requested.get("date")
            self._flight(number)
            kept = next(
                (
                    s
                    for s in reservation["flights"]
                    if s["flight_number"] == number
                    and s["date"] == date
                    and cabin == reservation["cabin"]
                ),
                None,
            )
            if kept is not None:
                segments.append(self._kept_segment(requested, kept))
            else:
                flight, day = self._bookable(requested, cabin, n)
                segments.append(self._segment(requested, flight, day["prices"][cabin]))
            total += segments[-1]["price"] * n
        total -= sum(s["price"] for s in reservation["flights"]) * n
        payment = self._charge_for_change(reservation["user_id"], payment_id, total)
        reservation = self.reservations.edit(reservation_id)
        if payment is not None:
            reservation["payment_history"].append(payment)
        reservation["flights"] = segments
        reservation["cabin"] = cabin
        return reservation

    def update_reservation_passengers(self, reservation_id: str, passengers: list[dict]) -> dict:
        reservation = self._reservation(reservation_id)
        if len(passengers) != len(reservation["passengers"]):
            raise ToolError("number of passengers does not match")
        reservation = self.reservations.edit(reservation_id)
        reservation["passengers"] = copy.deepcopy(passengers)
        return reservation

    def send_certificate(self, user_id: str, amount: float) -> str:
        user = self._user(user_id)
        for certificate_id in NEW_CERTIFICATE_IDS:
            if certificate_id not in user["payment_methods"]:
                record = self._certificate(certificate_id, amount)
                self.users.edit(user_id)["payment_methods"][certificate_id] = record
                return f"Certificate {certificate_id} added to user {user_id} with amount {amount}."
        raise ToolError(self.no_certificate_left)
