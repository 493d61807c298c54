"""The airline domain's agent tools over ``db.json`` (flights, users, reservations).

Behaviour follows the benchmark's 2025 tool semantics, which the gold end states were written
against: prices are per passenger and segment, insurance costs 30 per passenger, each non-free bag
50; certificates pay for bookings only and are used up, gift cards are debited; cancelling refunds
every payment but does not return seats; changing flights keeps unchanged segments at their
original price and charges (or refunds) the difference. The clock is fixed at 2024-05-15 15:00 EST.
New reservation and certificate ids come from short fixed lists, so replays are deterministic.
"""

from __future__ import annotations

import copy
import datetime as dt

from infopo_cli.tasks.tau.store import Database
from infopo_cli.tasks.tau.tools import ToolError
from infopo_cli.tasks.tau2.schema import s_arr, s_int, s_num, s_obj, s_str
from infopo_cli.tasks.tau2.toolkit import Toolkit, calculate, tool

NOW = "2024-05-15T15:00:00"
NEW_RESERVATION_IDS = ("HATHAT", "HATHAU", "HATHAV")
NEW_CERTIFICATE_IDS = ("certificate_3221322", "certificate_3221323", "certificate_3221324")
CABINS = ["basic_economy", "economy", "business"]
AIRPORTS = (
    ("SFO", "San Francisco"), ("JFK", "New York"), ("LAX", "Los Angeles"), ("ORD", "Chicago"),
    ("DFW", "Dallas"), ("DEN", "Denver"), ("SEA", "Seattle"), ("ATL", "Atlanta"),
    ("MIA", "Miami"), ("BOS", "Boston"), ("PHX", "Phoenix"), ("IAH", "Houston"),
    ("LAS", "Las Vegas"), ("MCO", "Orlando"), ("EWR", "Newark"), ("CLT", "Charlotte"),
    ("MSP", "Minneapolis"), ("DTW", "Detroit"), ("PHL", "Philadelphia"), ("LGA", "LaGuardia"),
)  # fmt: skip

RESERVATION_ID = s_str("The reservation id, such as 'ZFA04Y'.")
USER_ID = s_str("The user id, such as 'sara_doe_496'.")
PAYMENT_ID = s_str(
    "A payment method id from the user's profile, such as 'credit_card_7815826' or "
    "'gift_card_7815826' (certificates cannot pay for changes)."
)
CABIN = s_str("The cabin class.", enum=CABINS)
FLIGHT = s_obj(
    {
        "flight_number": s_str("Flight number, such as 'HAT001'."),
        "date": s_str("Date of the flight, 'YYYY-MM-DD'."),
    }
)
PASSENGER = s_obj(
    {
        "first_name": s_str("First name."),
        "last_name": s_str("Last name."),
        "dob": s_str("Date of birth, 'YYYY-MM-DD'."),
    }
)
PAYMENT = s_obj(
    {
        "payment_id": s_str("Payment method id from the user's profile."),
        "amount": s_num("Amount charged to this payment method."),
    }
)
DATE = s_str("Date, 'YYYY-MM-DD', such as '2024-05-01'.")
AIRPORT_FROM = s_str("Origin airport code (three letters), such as 'JFK'.")
AIRPORT_TO = s_str("Destination airport code (three letters), such as 'LAX'.")


class AirlineTools(Toolkit):
    """Agent tools of the airline domain."""

    def __init__(self, db: Database):
        super().__init__()
        self.db = db
        self.flights, self.users, self.reservations = db["flights"], db["users"], db["reservations"]

    # -- lookups ------------------------------------------------------------------------------------

    def _user(self, user_id: str) -> dict:
        if user_id not in self.users:
            raise ToolError(f"user {user_id} not found")
        return self.users[user_id]

    def _reservation(self, reservation_id: str) -> dict:
        if reservation_id not in self.reservations:
            raise ToolError(f"reservation {reservation_id} not found")
        return self.reservations[reservation_id]

    def _flight(self, flight_number: str) -> dict:
        if flight_number not in self.flights:
            raise ToolError(f"flight {flight_number} not found")
        return self.flights[flight_number]

    def _flight_date(self, flight_number: str, date: str) -> dict:
        flight = self._flight(flight_number)
        if date not in flight["dates"]:
            raise ToolError(f"flight {flight_number} not found on date {date}")
        return flight["dates"][date]

    def _bookable(self, flight_number: str, date: str, cabin: str, seats: int) -> dict:
        day = self._flight_date(flight_number, date)
        if day["status"] != "available":
            raise ToolError(f"flight {flight_number} not available on date {date}")
        if day["available_seats"][cabin] < seats:
            raise ToolError(f"not enough seats on flight {flight_number}")
        return day

    def _direct(self, date: str, origin: str | None, destination: str | None, after: str | None):
        out = []
        for flight in self.flights.values():
            day = flight["dates"].get(date)
            if day is None or day["status"] != "available":
                continue
            if origin is not None and flight["origin"] != origin:
                continue
            if destination is not None and flight["destination"] != destination:
                continue
            if after is not None and flight["scheduled_departure_time_est"] < after:
                continue
            out.append(
                {
                    "flight_number": flight["flight_number"],
                    "origin": flight["origin"],
                    "destination": flight["destination"],
                    "status": "available",
                    "scheduled_departure_time_est": flight["scheduled_departure_time_est"],
                    "scheduled_arrival_time_est": flight["scheduled_arrival_time_est"],
                    "date": date,
                    "available_seats": dict(day["available_seats"]),
                    "prices": dict(day["prices"]),
                }
            )
        return out

    def _charge_for_change(self, user_id: str, payment_id: str, amount: float) -> dict | None:
        """Check and take payment for a change; a negative amount is a refund. None if zero."""
        user = self.users[user_id]
        method = user["payment_methods"].get(payment_id)
        if method is None:
            raise ToolError("payment method not found")
        if method["source"] == "certificate":
            raise ToolError("a certificate cannot be used to update a reservation")
        if method["source"] == "gift_card" and method["amount"] < amount:
            raise ToolError("gift card balance is not enough")
        if method["source"] == "gift_card":
            self.users.edit(user_id)["payment_methods"][payment_id]["amount"] -= amount
        return None if amount == 0 else {"payment_id": payment_id, "amount": amount}

    # -- tools --------------------------------------------------------------------------------------

    @tool(
        "write",
        "Book a reservation. The payments must add up exactly to the total price (cabin price per "
        "passenger and flight, plus 30 per passenger with insurance, plus 50 per non-free bag).",
        user_id=USER_ID,
        origin=s_str("IATA code of the origin city, such as 'SFO'."),
        destination=s_str("IATA code of the destination city, such as 'JFK'."),
        flight_type=s_str("Trip type.", enum=["one_way", "round_trip"]),
        cabin=CABIN,
        flights=s_arr(FLIGHT, "Every flight segment of the reservation."),
        passengers=s_arr(PASSENGER, "Every passenger of the reservation."),
        payment_methods=s_arr(PAYMENT, "How the total is paid, split over payment methods."),
        total_baggages=s_int("Total number of checked bags."),
        nonfree_baggages=s_int("Number of checked bags that are paid for."),
        insurance=s_str("Whether to buy travel insurance.", enum=["yes", "no"]),
    )
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
            raise ToolError("too many reservations")
        segments, total = [], 0
        for f in flights:
            flight = self._flight(f["flight_number"])
            day = self._bookable(f["flight_number"], f["date"], cabin, len(passengers))
            price = day["prices"][cabin]
            segments.append(
                {
                    "origin": flight["origin"],
                    "destination": flight["destination"],
                    "flight_number": f["flight_number"],
                    "date": f["date"],
                    "price": price,
                }
            )
            total += price * len(passengers)
        if insurance == "yes":
            total += 30 * len(passengers)
        total += 50 * nonfree_baggages
        for p in payment_methods:
            method = user["payment_methods"].get(p["payment_id"])
            if method is None:
                raise ToolError(f"payment method {p['payment_id']} not found")
            if method["source"] in ("gift_card", "certificate") and method["amount"] < p["amount"]:
                raise ToolError(f"not enough balance in payment method {p['payment_id']}")
        paid = sum(p["amount"] for p in payment_methods)
        if paid != total:
            raise ToolError(
                f"payment amount does not add up, total price is {total}, but paid {paid}"
            )
        owner = self.users.edit(user_id)
        for p in payment_methods:
            method = owner["payment_methods"][p["payment_id"]]
            if method["source"] == "gift_card":
                method["amount"] -= p["amount"]
            elif method["source"] == "certificate":
                del owner["payment_methods"][p["payment_id"]]
        for f in flights:
            self.flights.edit(f["flight_number"])["dates"][f["date"]]["available_seats"][cabin] -= (
                len(passengers)
            )
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

    @tool(
        "generic",
        "Calculate an arithmetic expression with numbers, + - * /, parentheses and spaces.",
        expression=s_str("The expression, such as '2 + 2'."),
    )
    def calculate(self, expression: str) -> str:
        return calculate(expression)

    @tool(
        "write",
        "Cancel a whole reservation; every payment is refunded to its method.",
        reservation_id=RESERVATION_ID,
    )
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

    @tool("read", "Get the details of a reservation.", reservation_id=RESERVATION_ID)
    def get_reservation_details(self, reservation_id: str) -> dict:
        return self._reservation(reservation_id)

    @tool(
        "read",
        "Get the details of a user: profile, payment methods, saved passengers, reservations.",
        user_id=USER_ID,
    )
    def get_user_details(self, user_id: str) -> dict:
        return self._user(user_id)

    @tool("read", "List all airports (IATA code and city).")
    def list_all_airports(self) -> list[dict]:
        return [{"iata": code, "city": city} for code, city in AIRPORTS]

    @tool(
        "read",
        "Search direct flights between two cities on a date.",
        origin=AIRPORT_FROM,
        destination=AIRPORT_TO,
        date=DATE,
    )
    def search_direct_flight(self, origin: str, destination: str, date: str) -> list[dict]:
        return self._direct(date, origin, destination, None)

    @tool(
        "read",
        "Search one-stop flights (pairs of connecting flights) between two cities on a date.",
        origin=AIRPORT_FROM,
        destination=AIRPORT_TO,
        date=DATE,
    )
    def search_onestop_flight(self, origin: str, destination: str, date: str) -> list[list[dict]]:
        out = []
        for first in self._direct(date, origin, None, None):
            arrival = first["scheduled_arrival_time_est"]
            second_date, after = date, arrival
            if "+1" in arrival:  # lands the next day
                second_date = _next_day(date)
                after = arrival.replace("+1", "")
            for second in self._direct(second_date, first["destination"], destination, after):
                out.append([first, second])
        return out

    @tool(
        "write",
        "Send a certificate (a voucher of the given amount) to a user. Be careful.",
        user_id=USER_ID,
        amount=s_int("Amount of the certificate."),
    )
    def send_certificate(self, user_id: str, amount: int) -> str:
        user = self._user(user_id)
        for cid in NEW_CERTIFICATE_IDS:
            if cid not in user["payment_methods"]:
                record = {"source": "certificate", "id": cid, "amount": amount}
                self.users.edit(user_id)["payment_methods"][cid] = record
                return f"Certificate {cid} added to user {user_id} with amount {amount}."
        raise ToolError("too many certificates")

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
        "Update the baggage of a reservation; added non-free bags cost 50 each.",
        reservation_id=RESERVATION_ID,
        total_baggages=s_int("The new total number of bags."),
        nonfree_baggages=s_int("The new number of non-free bags."),
        payment_id=PAYMENT_ID,
    )
    def update_reservation_baggages(
        self, reservation_id: str, total_baggages: int, nonfree_baggages: int, payment_id: str
    ) -> dict:
        reservation = self._reservation(reservation_id)
        self._user(reservation["user_id"])
        price = 50 * max(0, nonfree_baggages - reservation["nonfree_baggages"])
        payment = self._charge_for_change(reservation["user_id"], payment_id, price)
        reservation = self.reservations.edit(reservation_id)
        if payment is not None:
            reservation["payment_history"].append(payment)
        reservation["total_baggages"] = total_baggages
        reservation["nonfree_baggages"] = nonfree_baggages
        return reservation

    @tool(
        "write",
        "Change the flights (and cabin) of a reservation. List EVERY segment of the new "
        "itinerary, unchanged ones included; the price difference is charged or refunded.",
        reservation_id=RESERVATION_ID,
        cabin=CABIN,
        flights=s_arr(FLIGHT, "Every flight segment of the new itinerary."),
        payment_id=PAYMENT_ID,
    )
    def update_reservation_flights(
        self, reservation_id: str, cabin: str, flights: list[dict], payment_id: str
    ) -> dict:
        reservation = self._reservation(reservation_id)
        self._user(reservation["user_id"])
        n = len(reservation["passengers"])
        segments, total = [], 0
        for f in flights:
            flight = self._flight(f["flight_number"])
            kept = next(
                (
                    s
                    for s in reservation["flights"]
                    if s["flight_number"] == f["flight_number"]
                    and s["date"] == f["date"]
                    and cabin == reservation["cabin"]
                ),
                None,
            )
            if kept is not None:
                segments.append(copy.deepcopy(kept))
                total += kept["price"] * n
                continue
            day = self._bookable(f["flight_number"], f["date"], cabin, n)
            segments.append(
                {
                    "origin": flight["origin"],
                    "destination": flight["destination"],
                    "flight_number": f["flight_number"],
                    "date": f["date"],
                    "price": day["prices"][cabin],
                }
            )
            total += day["prices"][cabin] * n
        total -= sum(s["price"] for s in reservation["flights"]) * n
        payment = self._charge_for_change(reservation["user_id"], payment_id, total)
        reservation = self.reservations.edit(reservation_id)
        if payment is not None:
            reservation["payment_history"].append(payment)
        reservation["flights"] = segments
        reservation["cabin"] = cabin
        return reservation

    @tool(
        "write",
        "Update the passengers of a reservation (the number of passengers cannot change).",
        reservation_id=RESERVATION_ID,
        passengers=s_arr(PASSENGER, "Every passenger of the reservation."),
    )
    def update_reservation_passengers(self, reservation_id: str, passengers: list[dict]) -> dict:
        reservation = self._reservation(reservation_id)
        if len(passengers) != len(reservation["passengers"]):
            raise ToolError("number of passengers does not match")
        reservation = self.reservations.edit(reservation_id)
        reservation["passengers"] = copy.deepcopy(passengers)
        return reservation

    @tool(
        "read",
        "Get the status of a flight on a date.",
        flight_number=s_str("The flight number, such as 'HAT001'."),
        date=DATE,
    )
    def get_flight_status(self, flight_number: str, date: str) -> str:
        return self._flight_date(flight_number, date)["status"]


def _next_day(date: str) -> str:
    try:
        return (dt.date.fromisoformat(date) + dt.timedelta(days=1)).isoformat()
    except ValueError:
        raise ToolError(f"invalid date {date!r}; use 'YYYY-MM-DD'") from None
