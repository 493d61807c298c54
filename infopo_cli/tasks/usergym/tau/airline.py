"""tau-bench (v1) airline tools over the ``users``, ``flights`` and ``reservations`` tables.

As in tau-bench: bookings get the ids HATHAT, HATHAU, HATHAV in turn (at most three per episode);
certificates are consumed whole, gift cards are debited (``amount`` field); a booking's payments
must add up exactly to its price (cabin price per passenger and flight, 30 per passenger for
insurance, 50 per non-free bag); cancelling appends negative refunds; changing flights charges or
refunds the fare difference (and sets the new cabin); seat counts in the flights table are not
updated.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from infopo_cli.tasks.tau.tools import ToolError
from infopo_cli.tasks.usergym.tau.db import TauDB
from infopo_cli.tasks.usergym.tau.tools import COMMON_TOOLS, Param, Tool, dumps

NEW_RESERVATION_IDS = ("HATHAT", "HATHAU", "HATHAV")
NEW_CERTIFICATE_IDS = ("certificate_3221322", "certificate_3221323", "certificate_3221324")
BOOKING_TIME = "2024-05-15T15:00:00"
INSURANCE_PER_PASSENGER, PRICE_PER_BAG = 30, 50
CABINS = ("basic_economy", "economy", "business")
AIRPORTS = {
    "SFO": "San Francisco",
    "JFK": "New York",
    "LAX": "Los Angeles",
    "ORD": "Chicago",
    "DFW": "Dallas",
    "DEN": "Denver",
    "SEA": "Seattle",
    "ATL": "Atlanta",
    "MIA": "Miami",
    "BOS": "Boston",
    "PHX": "Phoenix",
    "IAH": "Houston",
    "LAS": "Las Vegas",
    "MCO": "Orlando",
    "EWR": "Newark",
    "CLT": "Charlotte",
    "MSP": "Minneapolis",
    "DTW": "Detroit",
    "PHL": "Philadelphia",
    "LGA": "LaGuardia",
}

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


def _reservation(db: TauDB, reservation_id: str) -> dict[str, Any]:
    res = db.get("reservations", reservation_id)
    if res is None:
        raise ToolError("reservation not found")
    return res


def _bookable(db: TauDB, flight: dict[str, Any], cabin: str, seats: int) -> dict[str, Any]:
    """Date data of an available flight segment with enough seats in the cabin."""
    number, date = flight.get("flight_number"), flight.get("date")
    data = db.get("flights", number) if isinstance(number, str) else None
    if data is None:
        raise ToolError(f"flight {number} not found")
    if date not in data["dates"]:
        raise ToolError(f"flight {number} not found on date {date}")
    day = data["dates"][date]
    if day["status"] != "available":
        raise ToolError(f"flight {number} not available on date {date}")
    if cabin not in day["available_seats"]:
        raise ToolError(f"unknown cabin {cabin!r}; cabins: {', '.join(CABINS)}")
    if day["available_seats"][cabin] < seats:
        raise ToolError(f"not enough seats on flight {number}")
    return {
        "price": day["prices"][cabin],
        "origin": data["origin"],
        "destination": data["destination"],
    }


def _segment(flight: dict[str, Any], date: str, day: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in flight.items() if k != "dates"}
    out.update(day)
    out["date"] = date
    return out


# ----- read-only --------------------------------------------------------------------------
def get_user_details(db: TauDB, user_id: str) -> str:
    user = db.get("users", user_id)
    if user is None:
        raise ToolError("user not found")
    return dumps(user)


def get_reservation_details(db: TauDB, reservation_id: str) -> str:
    return dumps(_reservation(db, reservation_id))


def list_all_airports(db: TauDB) -> str:
    return dumps(AIRPORTS)


def search_direct_flight(db: TauDB, origin: str, destination: str, date: str) -> str:
    out = []
    for _, flight in db.items("flights"):
        if flight["origin"] == origin and flight["destination"] == destination:
            day = flight["dates"].get(date)
            if day is not None and day["status"] == "available":
                out.append(_segment(flight, date, day))
    return dumps(out)


def search_onestop_flight(db: TauDB, origin: str, destination: str, date: str) -> str:
    try:
        next_day = (dt.date.fromisoformat(date) + dt.timedelta(days=1)).isoformat()
    except ValueError:
        raise ToolError(f"date {date!r} is not YYYY-MM-DD") from None
    flights = [f for _, f in db.items("flights")]
    out = []
    for first in flights:
        if first["origin"] != origin:
            continue
        day1 = first["dates"].get(date)
        if day1 is None or day1["status"] != "available":
            continue
        arrival = first["scheduled_arrival_time_est"]
        date2 = next_day if "+1" in arrival else date
        for second in flights:
            if second["origin"] != first["destination"] or second["destination"] != destination:
                continue
            if arrival > second["scheduled_departure_time_est"]:
                continue
            day2 = second["dates"].get(date2)
            if day2 is not None and day2["status"] == "available":
                out.append([_segment(first, date, day1), _segment(second, date2, day2)])
    return dumps(out)


# ----- consequential ----------------------------------------------------------------------
def book_reservation(
    db: TauDB,
    user_id: str,
    origin: str,
    destination: str,
    flight_type: str,
    cabin: str,
    flights: list[dict[str, Any]],
    passengers: list[dict[str, Any]],
    payment_methods: list[dict[str, Any]],
    total_baggages: int,
    nonfree_baggages: int,
    insurance: str,
) -> str:
    user = db.get("users", user_id)
    if user is None:
        raise ToolError("user not found")
    free = [r for r in NEW_RESERVATION_IDS if not db.has("reservations", r)]
    if not free:
        raise ToolError("no more reservations can be booked in this conversation")
    total = 0
    segments = []
    for flight in flights:
        seg = dict(flight)
        seg.update(_bookable(db, flight, cabin, len(passengers)))
        total += seg["price"] * len(passengers)
        segments.append(seg)
    if insurance == "yes":
        total += INSURANCE_PER_PASSENGER * len(passengers)
    total += PRICE_PER_BAG * nonfree_baggages
    for pm in payment_methods:
        pid, amount = pm.get("payment_id"), pm.get("amount")
        if pid not in user["payment_methods"]:
            raise ToolError(f"payment method {pid} not found")
        method = user["payment_methods"][pid]
        if method["source"] in ("gift_card", "certificate") and method["amount"] < amount:
            raise ToolError(f"not enough balance in payment method {pid}")
    paid = sum(pm["amount"] for pm in payment_methods)
    if paid != total:
        raise ToolError(f"payment amount does not add up, total price is {total}, but paid {paid}")
    user = db.edit("users", user_id)
    for pm in payment_methods:
        method = user["payment_methods"][pm["payment_id"]]
        if method["source"] == "gift_card":
            method["amount"] -= pm["amount"]
        elif method["source"] == "certificate":
            del user["payment_methods"][pm["payment_id"]]
    reservation = {
        "reservation_id": free[0],
        "user_id": user_id,
        "origin": origin,
        "destination": destination,
        "flight_type": flight_type,
        "cabin": cabin,
        "flights": segments,
        "passengers": passengers,
        "payment_history": payment_methods,
        "created_at": BOOKING_TIME,
        "total_baggages": total_baggages,
        "nonfree_baggages": nonfree_baggages,
        "insurance": insurance,
    }
    db.put("reservations", free[0], reservation)
    user["reservations"].append(free[0])
    return dumps(reservation)


def cancel_reservation(db: TauDB, reservation_id: str) -> str:
    _reservation(db, reservation_id)
    res = db.edit("reservations", reservation_id)
    refunds = [
        {"payment_id": p["payment_id"], "amount": -p["amount"]} for p in res["payment_history"]
    ]
    res["payment_history"].extend(refunds)
    res["status"] = "cancelled"
    return dumps(res)


def _payment_for_change(
    db: TauDB, res: dict[str, Any], payment_id: str, amount: float
) -> dict[str, Any]:
    methods = db.get("users", res["user_id"])["payment_methods"]
    if payment_id not in methods:
        raise ToolError("payment method not found")
    method = methods[payment_id]
    if method["source"] == "certificate":
        raise ToolError("certificate cannot be used to update reservation")
    if method["source"] == "gift_card" and method["amount"] < amount:
        raise ToolError("gift card balance is not enough")
    return method


def update_reservation_baggages(
    db: TauDB, reservation_id: str, total_baggages: int, nonfree_baggages: int, payment_id: str
) -> str:
    res = _reservation(db, reservation_id)
    price = PRICE_PER_BAG * max(0, nonfree_baggages - res["nonfree_baggages"])
    method = _payment_for_change(db, res, payment_id, price)
    res = db.edit("reservations", reservation_id)
    res["total_baggages"] = total_baggages
    res["nonfree_baggages"] = nonfree_baggages
    if method["source"] == "gift_card":
        db.edit("users", res["user_id"])["payment_methods"][payment_id]["amount"] -= price
    if price != 0:
        res["payment_history"].append({"payment_id": payment_id, "amount": price})
    return dumps(res)


def update_reservation_flights(
    db: TauDB, reservation_id: str, cabin: str, flights: list[dict[str, Any]], payment_id: str
) -> str:
    res = _reservation(db, reservation_id)
    n = len(res["passengers"])
    total = 0
    segments = []
    for flight in flights:
        seg = dict(flight)
        kept = [
            f
            for f in res["flights"]
            if f["flight_number"] == flight.get("flight_number")
            and f["date"] == flight.get("date")
            and cabin == res["cabin"]
        ]
        if kept:  # an unchanged segment keeps its original price
            seg.update(
                price=kept[0]["price"], origin=kept[0]["origin"], destination=kept[0]["destination"]
            )
        else:
            seg.update(_bookable(db, flight, cabin, n))
        total += seg["price"] * n
        segments.append(seg)
    total -= sum(f["price"] for f in res["flights"]) * n
    method = _payment_for_change(db, res, payment_id, total)
    res = db.edit("reservations", reservation_id)
    if method["source"] == "gift_card":
        db.edit("users", res["user_id"])["payment_methods"][payment_id]["amount"] -= total
    res["flights"] = segments
    res["cabin"] = cabin
    if total != 0:
        res["payment_history"].append({"payment_id": payment_id, "amount": total})
    return dumps(res)


def update_reservation_passengers(
    db: TauDB, reservation_id: str, passengers: list[dict[str, Any]]
) -> str:
    res = _reservation(db, reservation_id)
    if len(passengers) != len(res["passengers"]):
        raise ToolError("number of passengers does not match")
    res = db.edit("reservations", reservation_id)
    res["passengers"] = passengers
    return dumps(res)


def send_certificate(db: TauDB, user_id: str, amount: float) -> str:
    if db.get("users", user_id) is None:
        raise ToolError("user not found")
    user = db.edit("users", user_id)
    for pid in NEW_CERTIFICATE_IDS:
        if pid not in user["payment_methods"]:
            user["payment_methods"][pid] = {"source": "certificate", "amount": amount, "id": pid}
            return f"Certificate {pid} added to user {user_id} with amount {amount}."
    raise ToolError("no more certificates can be sent in this conversation")


CONFIRM = " Explain the details to the customer and get an explicit yes before calling it."

AIRLINE_TOOLS: tuple[Tool, ...] = (
    Tool(
        "get_user_details",
        "Profile of a customer: name, address, date of birth, membership, payment methods, reservations.",
        get_user_details,
        {"user_id": USER_ID},
    ),
    Tool(
        "get_reservation_details",
        "All details of a reservation.",
        get_reservation_details,
        {"reservation_id": RESERVATION_ID},
    ),
    Tool("list_all_airports", "Airport codes and their cities.", list_all_airports),
    Tool(
        "search_direct_flight",
        "Available direct flights between two airports on a date.",
        search_direct_flight,
        dict(ROUTE),
    ),
    Tool(
        "search_onestop_flight",
        "Available connections with one stop between two airports, departing on a date.",
        search_onestop_flight,
        dict(ROUTE),
    ),
    Tool(
        "book_reservation",
        "Book a new reservation. Payments must add up exactly to the price: the cabin fare per "
        "passenger and segment, 30 per passenger for insurance, 50 per non-free bag." + CONFIRM,
        book_reservation,
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
    Tool(
        "cancel_reservation",
        "Cancel a whole reservation and refund its payments." + CONFIRM,
        cancel_reservation,
        {"reservation_id": RESERVATION_ID},
        writes=True,
    ),
    Tool(
        "update_reservation_baggages",
        "Change the bags of a reservation; added non-free bags cost 50 each (not payable by certificate)."
        + CONFIRM,
        update_reservation_baggages,
        {
            "reservation_id": RESERVATION_ID,
            "total_baggages": Param("integer", "New total number of checked bags."),
            "nonfree_baggages": Param("integer", "New number of paid bags."),
            "payment_id": PAYMENT_ID,
        },
        writes=True,
    ),
    Tool(
        "update_reservation_flights",
        "Change the flights or cabin of a reservation. List every segment of the new itinerary, "
        "changed or not; the fare difference is charged or refunded (not by certificate)."
        + CONFIRM,
        update_reservation_flights,
        {
            "reservation_id": RESERVATION_ID,
            "cabin": Param("string", "Cabin class.", enum=CABINS),
            "flights": FLIGHTS,
            "payment_id": PAYMENT_ID,
        },
        writes=True,
    ),
    Tool(
        "update_reservation_passengers",
        "Replace the passenger details of a reservation (same number of passengers)." + CONFIRM,
        update_reservation_passengers,
        {"reservation_id": RESERVATION_ID, "passengers": PASSENGERS},
        writes=True,
    ),
    Tool(
        "send_certificate",
        "Send a travel certificate (compensation) of some amount to a customer. Use with care.",
        send_certificate,
        {"user_id": USER_ID, "amount": Param("number", "The certificate amount.")},
        writes=True,
    ),
    *COMMON_TOOLS,
)
