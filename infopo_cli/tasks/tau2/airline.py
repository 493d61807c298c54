"""The airline domain's agent tools (tau2-bench) over ``db.json`` (flights, users, reservations).

The bookings, payments and changes are the shared rules (``tasks/tau/airline.py``, whose defaults
are tau2-bench's); this module declares them to the agent and adds what only tau2-bench has: its
flight searches, the airport list as ``{iata, city}`` records and ``get_flight_status``.

The searches follow tau2-bench's code (``strict_upstream``): a direct flight's ``date`` is null (it
is set only on one-stop results); a connection must leave at or after the first flight's arrival
time compared as text, so after an arrival marked ``+1`` (``"02:30:00+1"``) a departure at the same
clock time does not qualify; and the next day is ``2024-05-<day + 1>`` without zero padding, so an
overnight first leg on 2024-05-01..08 finds no connection (no flight has such a date). Without
``strict_upstream`` the date is always filled, ``+1`` is dropped before comparing, and the next day
is the calendar's. Arguments are checked strictly before any rule runs (``schema.py``), so a
cabin outside the enum or a flight without a date never reaches the rules.
"""

from __future__ import annotations

from infopo_cli.tasks.tau.airline import AIRPORTS, CABINS, Airline, next_day
from infopo_cli.tasks.tau.tools import ToolError
from infopo_cli.tasks.tau2.schema import s_arr, s_int, s_num, s_obj, s_str
from infopo_cli.tasks.tau2.toolkit import Toolkit, calculate, tool

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
    },
    unknown="ignore",  # tau2-bench's FlightInfo is a plain pydantic model
)
PASSENGER = s_obj(
    {
        "first_name": s_str("First name."),
        "last_name": s_str("Last name."),
        "dob": s_str("Date of birth, 'YYYY-MM-DD'."),
    },
    unknown="ignore",  # Passenger: a plain pydantic model
)
PAYMENT = s_obj(
    {
        "payment_id": s_str("Payment method id from the user's profile."),
        "amount": s_num("Amount charged to this payment method."),
    },
    unknown="ignore",  # Payment: a plain pydantic model
)
DATE = s_str("Date, 'YYYY-MM-DD', such as '2024-05-01'.")
AIRPORT_FROM = s_str("Origin airport code (three letters), such as 'JFK'.")
AIRPORT_TO = s_str("Destination airport code (three letters), such as 'LAX'.")


class AirlineTools(Toolkit, Airline):
    """Agent tools of the airline domain."""

    RECORDS = (  # tau2-bench's Reservation and Address (data_model.py)
        (
            "reservation_id", "user_id", "origin", "destination", "flight_type", "cabin",
            "flights", "passengers", "payment_history", "created_at", "total_baggages",
            "nonfree_baggages", "insurance", "status",
        ),
        ("address1", "address2", "city", "country", "state", "zip"),
    )  # fmt: skip

    book_reservation = tool(
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
    )(Airline.book_reservation)

    @tool(
        "generic",
        "Calculate an arithmetic expression with numbers, + - * /, parentheses and spaces.",
        expression=s_str("The expression, such as '2 + 2'."),
    )
    def calculate(self, expression: str) -> str:
        return calculate(expression)

    cancel_reservation = tool(
        "write",
        "Cancel a whole reservation; every payment is refunded to its method.",
        reservation_id=RESERVATION_ID,
    )(Airline.cancel_reservation)

    get_reservation_details = tool(
        "read", "Get the details of a reservation.", reservation_id=RESERVATION_ID
    )(Airline.get_reservation_details)

    get_user_details = tool(
        "read",
        "Get the details of a user: profile, payment methods, saved passengers, reservations.",
        user_id=USER_ID,
    )(Airline.get_user_details)

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
        flights = self._direct(date, origin, destination, None)
        if self.strict_upstream:  # tau2-bench sets DirectFlight.date only in one-stop searches
            for f in flights:
                f["date"] = None
        return flights

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
                if self.strict_upstream:
                    # tau2-bench: f"2024-05-{int(date[-2:]) + 1}", and "+1" kept in the comparison
                    second_date = _upstream_next_day(date)
                else:
                    second_date = _next_day(date)
                    after = arrival.replace("+1", "")
            for second in self._direct(second_date, first["destination"], destination, after):
                out.append([first, second])
        return out

    send_certificate = tool(
        "write",
        "Send a certificate (a voucher of the given amount) to a user. Be careful.",
        user_id=USER_ID,
        amount=s_int("Amount of the certificate."),
    )(Airline.send_certificate)

    @tool(
        "generic",
        "Transfer the user to a human agent, with a summary of the issue. Only when the user "
        "explicitly asks for one, or when the policy and tools cannot solve the issue.",
        summary=s_str("A summary of the user's issue."),
    )
    def transfer_to_human_agents(self, summary: str) -> str:
        return "Transfer successful"

    update_reservation_baggages = tool(
        "write",
        "Update the baggage of a reservation; added non-free bags cost 50 each.",
        reservation_id=RESERVATION_ID,
        total_baggages=s_int("The new total number of bags."),
        nonfree_baggages=s_int("The new number of non-free bags."),
        payment_id=PAYMENT_ID,
    )(Airline.update_reservation_baggages)

    update_reservation_flights = tool(
        "write",
        "Change the flights (and cabin) of a reservation. List EVERY segment of the new "
        "itinerary, unchanged ones included; the price difference is charged or refunded.",
        reservation_id=RESERVATION_ID,
        cabin=CABIN,
        flights=s_arr(FLIGHT, "Every flight segment of the new itinerary."),
        payment_id=PAYMENT_ID,
    )(Airline.update_reservation_flights)

    update_reservation_passengers = tool(
        "write",
        "Update the passengers of a reservation (the number of passengers cannot change).",
        reservation_id=RESERVATION_ID,
        passengers=s_arr(PASSENGER, "Every passenger of the reservation."),
    )(Airline.update_reservation_passengers)

    @tool(
        "read",
        "Get the status of a flight on a date.",
        flight_number=s_str("The flight number, such as 'HAT001'."),
        date=DATE,
    )
    def get_flight_status(self, flight_number: str, date: str) -> str:
        return self._flight_date(flight_number, date)["status"]

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


def _upstream_next_day(date: str) -> str:
    try:
        day = int(date[-2:])
    except ValueError:  # tau2-bench raises here too (int() of the last two characters)
        raise ToolError(f"invalid literal for int() with base 10: {date[-2:]!r}") from None
    return f"2024-05-{day + 1}"


def _next_day(date: str) -> str:
    try:
        return next_day(date)
    except ValueError:
        raise ToolError(f"invalid date {date!r}; use 'YYYY-MM-DD'") from None
