"""tau-bench (v1) airline tools over the ``users``, ``flights`` and ``reservations`` tables.

The bookings, payments and changes are the shared rules (``tasks/tau/airline.py``);
``TauBenchAirline`` states where tau-bench v1 differs from tau2-bench: seat counts in the flights
table are not updated by a booking; a segment is the agent's ``{flight_number, date}`` object with
price, origin and destination added (also for a segment a flight change keeps); a certificate
record lists its amount before its id; error texts name no ids. Its searches return each flight
with its date data merged in, and a connection's second flight must depart after the first lands
(compared as text); the airport list is a ``{code: city}`` object. It also has ``think``, and no
``get_flight_status``.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from infopo_cli.tasks.tau.airline import AIRPORTS, CABINS, Airline, next_day
from infopo_cli.tasks.tau.tools import ToolError
from infopo_cli.tasks.usergym.tau.tools import COMMON_TOOLS, Param, Tool, rule_tool


class TauBenchAirline(Airline):
    """The airline rules as tau-bench v1 words and lays them out (see module docstring)."""

    missing_user = "user not found"
    missing_reservation = "reservation not found"
    no_reservation_left = "no more reservations can be booked in this conversation"
    no_certificate_left = "no more certificates can be sent in this conversation"
    certificate_for_change = "certificate cannot be used to update reservation"
    books_seats = False

    def _segment(self, requested: dict, flight: dict, price: float) -> dict:
        return {
            **requested,
            "price": price,
            "origin": flight["origin"],
            "destination": flight["destination"],
        }

    def _kept_segment(self, requested: dict, kept: dict) -> dict:
        return self._segment(requested, kept, kept["price"])

    def _certificate(self, certificate_id: str, amount: float) -> dict:
        return {"source": "certificate", "amount": amount, "id": certificate_id}

    def list_all_airports(self) -> dict[str, str]:
        return dict(AIRPORTS)

    def search_direct_flight(self, origin: str, destination: str, date: str) -> list[dict]:
        out = []
        for flight in self.flights.values():
            if flight["origin"] == origin and flight["destination"] == destination:
                day = flight["dates"].get(date)
                if day is not None and day["status"] == "available":
                    out.append(_on_date(flight, date, day))
        return out

    def search_onestop_flight(self, origin: str, destination: str, date: str) -> list[list[dict]]:
        try:
            following = next_day(date)
        except ValueError:
            raise ToolError(f"date {date!r} is not YYYY-MM-DD") from None
        flights = list(self.flights.values())
        out = []
        for first in flights:
            if first["origin"] != origin:
                continue
            day1 = first["dates"].get(date)
            if day1 is None or day1["status"] != "available":
                continue
            arrival = first["scheduled_arrival_time_est"]
            date2 = following if "+1" in arrival else date
            for second in flights:
                if second["origin"] != first["destination"] or second["destination"] != destination:
                    continue
                if arrival > second["scheduled_departure_time_est"]:
                    continue
                day2 = second["dates"].get(date2)
                if day2 is not None and day2["status"] == "available":
                    out.append([_on_date(first, date, day1), _on_date(second, date2, day2)])
        return out


def _on_date(flight: dict[str, Any], date: str, day: dict[str, Any]) -> dict[str, Any]:
    """A flight's fields with one date's data (status, seats, prices) and the date merged in."""
    out = {k: v for k, v in flight.items() if k != "dates"}
    out.update(day)
    out["date"] = date
    return out


RESERVATION_ID = Param("string", "The reservation id, such as 'ZFA04Y'.")
USER_ID = Param("string", "The user id, such as 'sara_doe_496'.")
PAYMENT_ID = Param(
    "string",
    "A payment id from the user's profile, such as 'credit_card_7815826' or 'gift_card_7815826'.",
)
FLIGHTS = Param(
    "array",
    'Flight segments as objects {"flight_number": "HAT001", "date": "2024-05-01"}.',
    items="object",
)
PASSENGERS = Param(
    "array",
    'Passengers as objects {"first_name": "Noah", "last_name": "Brown", "dob": "1990-01-01"}.',
    items="object",
)
ROUTE = {
    "origin": Param("string", "Origin airport code, such as 'JFK'."),
    "destination": Param("string", "Destination airport code, such as 'LAX'."),
    "date": Param("string", "Date as 'YYYY-MM-DD', such as '2024-05-01'."),
}
CONFIRM = " Explain the details to the customer and get an explicit yes before calling it."
_tool = partial(rule_tool, TauBenchAirline)

AIRLINE_TOOLS: tuple[Tool, ...] = (
    _tool(
        "get_user_details",
        "Profile of a customer: name, address, date of birth, membership, payment methods, reservations.",
        {"user_id": USER_ID},
    ),
    _tool(
        "get_reservation_details",
        "All details of a reservation.",
        {"reservation_id": RESERVATION_ID},
    ),
    _tool("list_all_airports", "Airport codes and their cities."),
    _tool(
        "search_direct_flight", "Available direct flights between two airports on a date.", ROUTE
    ),
    _tool(
        "search_onestop_flight",
        "Available connections with one stop between two airports, departing on a date.",
        ROUTE,
    ),
    _tool(
        "book_reservation",
        "Book a new reservation. Payments must add up exactly to the price: the cabin fare per "
        "passenger and segment, 30 per passenger for insurance, 50 per non-free bag." + CONFIRM,
        {
            "user_id": USER_ID,
            "origin": Param("string", "Origin airport code, such as 'SFO'."),
            "destination": Param("string", "Destination airport code, such as 'JFK'."),
            "flight_type": Param("string", "Trip type.", enum=("one_way", "round_trip")),
            "cabin": Param("string", "Cabin class.", enum=CABINS),
            "flights": FLIGHTS,
            "passengers": PASSENGERS,
            "payment_methods": Param(
                "array",
                'Payments as objects {"payment_id": "credit_card_7815826", "amount": 120}.',
                items="object",
            ),
            "total_baggages": Param("integer", "Total number of checked bags."),
            "nonfree_baggages": Param("integer", "Number of bags that are paid for."),
            "insurance": Param("string", "Travel insurance.", enum=("yes", "no")),
        },
        writes=True,
    ),
    _tool(
        "cancel_reservation",
        "Cancel a whole reservation and refund its payments." + CONFIRM,
        {"reservation_id": RESERVATION_ID},
        writes=True,
    ),
    _tool(
        "update_reservation_baggages",
        "Change the bags of a reservation; added non-free bags cost 50 each (not payable by certificate)."
        + CONFIRM,
        {
            "reservation_id": RESERVATION_ID,
            "total_baggages": Param("integer", "New total number of checked bags."),
            "nonfree_baggages": Param("integer", "New number of paid bags."),
            "payment_id": PAYMENT_ID,
        },
        writes=True,
    ),
    _tool(
        "update_reservation_flights",
        "Change the flights or cabin of a reservation. List every segment of the new itinerary, "
        "changed or not; the fare difference is charged or refunded (not by certificate)."
        + CONFIRM,
        {
            "reservation_id": RESERVATION_ID,
            "cabin": Param("string", "Cabin class.", enum=CABINS),
            "flights": FLIGHTS,
            "payment_id": PAYMENT_ID,
        },
        writes=True,
    ),
    _tool(
        "update_reservation_passengers",
        "Replace the passenger details of a reservation (same number of passengers)." + CONFIRM,
        {"reservation_id": RESERVATION_ID, "passengers": PASSENGERS},
        writes=True,
    ),
    _tool(
        "send_certificate",
        "Send a travel certificate (compensation) of some amount to a customer. Use with care.",
        {"user_id": USER_ID, "amount": Param("number", "The certificate amount.")},
        writes=True,
    ),
    *COMMON_TOOLS,
)
