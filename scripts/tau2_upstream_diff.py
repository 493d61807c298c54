"""Differential replay: the same tool calls through tau2-bench's own code and through this project.

For every task of every domain, tool-call sequences are replayed on both implementations from the
task's initial state, and the two are compared call by call (success or error, and the result's
JSON when the call succeeds) and at the end (does the end state equal the task's gold end state,
do the environment assertions hold). The sequences, all built from the task's gold actions:

* ``gold``: the gold actions in order (the user's own ones by the user);
* ``reversed_items``: retail item lists (modify, exchange, return) in reverse order;
* ``extra_nested_keys``: an unknown key added to every object nested in an airline argument
  (flights, passengers, payments) and to every top-level argument set (``"note"``);
* ``drop_first_write``: the first state-changing gold action left out;
* ``reformatted_phone``: telecom phone numbers written ``(555) 123 2002`` instead of
  ``555-123-2002``;
* ``gold_then_probes``: telecom gold actions, then every phone read tool, calls the phone refuses
  (an unknown app, an untracked permission, a network mode outside the options) and the agent's
  ``get_data_usage`` for the first line a gold action names.

tau2-bench is not a dependency of this project: run with its ``src`` folder importable and its
requirements installed, and ``TAU2_DATA_DIR`` pointing at the folder that holds ``tau2/domains``::

    PYTHONPATH=.:<tau2-bench>/src TAU2_DATA_DIR=../shared/data \\
        python scripts/tau2_upstream_diff.py [--loose] [--domain D] [--data ../shared/data/tau2]

``--loose`` replays this project with ``strict_upstream=false`` (its documented deviations), for
contrast. The summary prints "N of M agree" per domain, task file and sequence kind. Then every record of
every database is read once on both sides (``get_reservation_details``, ``get_user_details``,
``get_order_details``, ``get_product_details``, ``get_details_by_id``) and the results compared:
"record reads agree N of M" per domain.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import re
import sys
from collections import Counter
from pathlib import Path

from infopo_cli.tasks.tau2.data import load_domain
from infopo_cli.tasks.tau2.scoring import assertions_hold
from infopo_cli.tasks.tau2.world import World, gold_world, set_up

TASK_FILES = {
    "airline": ["tasks.json", "tasks_tau3_2026.json"],
    "retail": ["tasks.json", "tasks_tau3_2026.json"],
    "telecom": ["tasks.json"],
}
ITEM_LISTS = ("item_ids", "new_item_ids")
NESTED = ("flights", "passengers", "payment_methods")
PHONE = re.compile(r"^(\d{3})-(\d{3})-(\d{4})$")
PHONE_READS = (
    "check_status_bar",
    "check_network_status",
    "check_network_mode_preference",
    "run_speed_test",
    "check_sim_status",
    "check_data_restriction_status",
    "check_apn_settings",
    "check_wifi_status",
    "check_wifi_calling_status",
    "check_vpn_status",
    "check_installed_apps",
    "can_send_mms",
    "check_payment_request",
)
PHONE_PROBES = [("user", name, {}) for name in PHONE_READS] + [
    ("user", "check_app_status", {"app_name": "messaging"}),
    ("user", "check_app_permissions", {"app_name": "browser"}),
    ("user", "check_app_status", {"app_name": "camera"}),
    ("user", "check_app_permissions", {"app_name": "camera"}),
    ("user", "grant_app_permission", {"app_name": "messaging", "permission": "camera"}),
    ("user", "grant_app_permission", {"app_name": "camera", "permission": "sms"}),
    ("user", "set_network_mode_preference", {"mode": "5g_only"}),
    ("user", "connect_vpn", {}),
    ("user", "check_vpn_status", {}),
    ("user", "toggle_wifi", {}),
    ("user", "check_wifi_status", {}),
    ("user", "check_network_status", {}),
    ("user", "check_status_bar", {}),
]


def upstream_modules():
    """tau2-bench's Task and ToolCall models, and per domain a constructor of a fresh environment
    (the databases are parsed once and deep-copied, which is what loading them again gives)."""
    from loguru import logger

    logger.remove()  # the reference logs every tool response at DEBUG level: slow and noisy
    logger.add(sys.stderr, level="ERROR")
    from tau2.data_model.message import ToolCall
    from tau2.data_model.tasks import Task
    from tau2.domains.airline import environment as airline
    from tau2.domains.retail import environment as retail
    from tau2.domains.telecom import environment as telecom

    flights = airline.FlightDB.load(airline.AIRLINE_DB_PATH)
    store = retail.RetailDB.load(retail.RETAIL_DB_PATH)
    accounts = telecom.TelecomDB.load(telecom.TELECOM_DB_PATH)
    phone = telecom.TelecomUserDB.load(telecom.TELECOM_USER_DB_PATH)
    envs = {
        "airline": lambda: airline.get_environment(db=flights.model_copy(deep=True)),
        "retail": lambda: retail.get_environment(db=store.model_copy(deep=True)),
        "telecom": lambda: telecom.get_environment(
            db=accounts.model_copy(deep=True), user_db=phone.model_copy(deep=True)
        ),
    }
    return Task, ToolCall, envs


# -- the sequences -----------------------------------------------------------------------------------


def calls_of(row: dict) -> list[tuple[str, str, dict]]:
    actions = row["evaluation_criteria"].get("actions") or []
    return [(a.get("requestor") or "assistant", a["name"], a["arguments"]) for a in actions]


def sequences(domain: str, row: dict, kind_of) -> dict[str, list[tuple[str, str, dict]]]:
    gold = calls_of(row)
    out = {"gold": gold}
    if domain == "retail" and any(len(args.get("item_ids") or []) > 1 for _, _, args in gold):
        seq = copy.deepcopy(gold)
        for _, _, args in seq:
            for key in ITEM_LISTS:
                if key in args:
                    args[key].reverse()
        out["reversed_items"] = seq
    if domain == "airline" and any(k in args for _, _, args in gold for k in NESTED):
        seq = copy.deepcopy(gold)
        for _, _, args in seq:
            for key in NESTED:
                for obj in args.get(key) or []:
                    obj["note"] = "added by the model"
        out["extra_nested_keys"] = seq
    writes = [i for i, (who, name, _) in enumerate(gold) if kind_of(who, name) == "write"]
    if writes:
        out["drop_first_write"] = [c for i, c in enumerate(gold) if i != writes[0]]
    if domain == "telecom":
        seq, changed = copy.deepcopy(gold), False
        for _, _, args in seq:
            for key, value in args.items():
                m = PHONE.match(value) if isinstance(value, str) else None
                if m:
                    args[key] = f"({m[1]}) {m[2]} {m[3]}"
                    changed = True
        if changed:
            out["reformatted_phone"] = seq
        line = next((a for _, _, a in gold if "customer_id" in a and "line_id" in a), None)
        if line is not None:
            line = {"customer_id": line["customer_id"], "line_id": line["line_id"]}
        usage = [] if line is None else [("assistant", "get_data_usage", line)]
        out["gold_then_probes"] = gold + PHONE_PROBES + usage
    return out


RECORD_READS = {  # domain: (table, read tool, its argument)
    "airline": [
        ("reservations", "get_reservation_details", "reservation_id"),
        ("users", "get_user_details", "user_id"),
    ],
    "retail": [
        ("orders", "get_order_details", "order_id"),
        ("users", "get_user_details", "user_id"),
        ("products", "get_product_details", "product_id"),
    ],
    "telecom": [
        (table, "get_details_by_id", "id")
        for table in ("customers", "lines", "devices", "bills", "plans")
    ],
}


def record_reads(domain: str, world) -> list[tuple[str, str, dict]]:
    return [
        ("assistant", tool, {arg: key})
        for table, tool, arg in RECORD_READS[domain]
        for key in world.agent.db[table]
    ]


# -- the two replays ---------------------------------------------------------------------------------


def parsed(text: str):
    try:
        return json.loads(text)
    except (TypeError, json.JSONDecodeError):
        return text


def upstream_run(mods, domain: str, row: dict, seq) -> tuple[list, bool]:
    Task, ToolCall, envs = mods
    task = Task.model_validate(row)
    init = task.initial_state

    def fresh():
        env = envs[domain]()
        env.set_state(
            initialization_data=init.initialization_data if init else None,
            initialization_actions=init.initialization_actions if init else None,
            message_history=[],
        )
        return env

    if domain == "telecom":
        # break_vpn (a set-up) degrades the class-wide default VPN of TelecomUserTools in place,
        # so every later connect_vpn in the process connects to a poor server; start each run
        # from the default as the class defines it
        from tau2.domains.telecom.user_tools import TelecomUserTools, VpnDetails

        TelecomUserTools.default_vpn_details = VpnDetails(
            server_address="192.168.1.1", protocol="OpenVPN", server_performance="excellent"
        )
    env = fresh()
    results = []
    for i, (who, name, args) in enumerate(seq):
        msg = env.get_response(
            ToolCall(id=str(i), name=name, arguments=copy.deepcopy(args), requestor=who)
        )
        results.append((not msg.error, parsed(msg.content)))
    gold = fresh()  # as upstream's evaluator: gold actions by make_tool_call, errors ignored
    for a in task.evaluation_criteria.actions or []:
        with contextlib.suppress(Exception):
            gold.make_tool_call(tool_name=a.name, requestor=a.requestor, **a.arguments)
    same = env.get_db_hash() == gold.get_db_hash()
    same = same and env.get_user_db_hash() == gold.get_user_db_hash()
    for assertion in task.evaluation_criteria.env_assertions or []:
        same = same and env.run_env_assertion(assertion, raise_assertion_error=False)
    return results, same


def plain_run(mods, domain: str, data, seq, strict: bool) -> tuple[list, list]:
    """Read-only calls on a fresh environment of each side, without a task: (project, upstream)."""
    env, world = mods[2][domain](), World(data, strict)
    theirs, ours = [], []
    for i, (who, name, args) in enumerate(seq):
        call = mods[1](id=str(i), name=name, arguments=args, requestor=who)
        msg = env.get_response(call)
        theirs.append((not msg.error, parsed(msg.content)))
        text, ok = world.call(who, name, copy.deepcopy(args))
        ours.append((ok, parsed(text)))
    return ours, theirs


def project_run(data, row: dict, seq, strict: bool) -> tuple[list, bool]:
    world = set_up(data, row, strict)
    results = []
    for who, name, args in seq:
        text, ok = world.call(who, name, copy.deepcopy(args))
        results.append((ok, parsed(text)))
    gold = gold_world(data, row, strict_upstream=strict)
    same = not world.diff(gold)
    same = same and assertions_hold(world, row["evaluation_criteria"].get("env_assertions") or [])
    return results, same


def first_difference(a, b, path: str = "") -> str:
    """Where two JSON values first differ, as ``path: a != b``."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in [*a, *(k for k in b if k not in a)]:
            if a.get(k, "<absent>") != b.get(k, "<absent>"):
                return first_difference(a.get(k, "<absent>"), b.get(k, "<absent>"), f"{path}.{k}")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return first_difference(x, y, f"{path}[{i}]")
    return f"{path or '.'}: {str(a)[:120]!r} != {str(b)[:120]!r}"


def calls_agree(ours: list, theirs: list) -> list[int]:
    """Indexes of the calls that disagree: success differs, or both succeeded with other results
    (error wording is the project's own and is not compared)."""
    bad = []
    for i, ((ok_a, res_a), (ok_b, res_b)) in enumerate(zip(ours, theirs)):
        if ok_a != ok_b or (ok_a and res_a != res_b):
            bad.append(i)
    return bad


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared/data/tau2"))
    ap.add_argument("--loose", action="store_true", help="the project with strict_upstream=false")
    ap.add_argument("--show", type=int, default=3, help="disagreements to print per group")
    ap.add_argument("--domain", choices=sorted(TASK_FILES), help="only this domain")
    args = ap.parse_args()
    mods = upstream_modules()
    strict = not args.loose
    total_eps, total_ok = 0, 0
    for domain, files in TASK_FILES.items():
        if args.domain and domain != args.domain:
            continue
        for tasks_file in files:
            data = load_domain(Path(args.data), domain, tasks_file)
            kind_of = set_up(data, next(iter(data.tasks.values())), strict).tool_kind
            episodes, agree, verdicts = Counter(), Counter(), Counter()
            calls, calls_ok, shown, where = 0, 0, Counter(), Counter()
            for task_id, row in data.tasks.items():
                for kind, seq in sequences(domain, row, kind_of).items():
                    theirs, their_verdict = upstream_run(mods, domain, row, seq)
                    ours, our_verdict = project_run(data, row, seq, strict)
                    bad = calls_agree(ours, theirs)
                    calls += len(seq)
                    calls_ok += len(seq) - len(bad)
                    episodes[kind] += 1
                    verdicts[kind] += our_verdict == their_verdict
                    agree[kind] += not bad and our_verdict == their_verdict
                    for i in bad:
                        ok_a, res_a = ours[i]
                        ok_b, res_b = theirs[i]
                        if ok_a != ok_b:
                            diff = f"success: project={ok_a} upstream={ok_b} ({res_a!s:.100})"
                        else:
                            diff = first_difference(res_a, res_b)
                        key = f"{seq[i][1]} {re.sub(r'[0-9]+', '#', diff.split(':')[0])}"
                        where[key] += 1
                        if shown[key] < args.show:
                            shown[key] += 1
                            print(f"  {domain}/{task_id} {kind} call {i} {seq[i][1]}: {diff}")
                    if our_verdict != their_verdict:
                        print(
                            f"  {domain}/{task_id} {kind}: end state as gold: "
                            f"project={our_verdict} upstream={their_verdict}"
                        )
            n = sum(episodes.values())
            parts = ", ".join(f"{k} {verdicts[k]}/{episodes[k]}" for k in episodes)
            print(
                f"{domain} {tasks_file}: score verdicts agree {sum(verdicts.values())} of {n} "
                f"({parts}); every call agrees too in {sum(agree.values())} of {n}; calls agree "
                f"{calls_ok} of {calls}"
            )
            for key, count in where.most_common():
                print(f"    {count:4d} x {key}")
            total_eps += n
            total_ok += sum(verdicts.values())
        reads = record_reads(domain, World(data, strict))
        ours, theirs = plain_run(mods, domain, data, reads, strict)
        bad = calls_agree(ours, theirs)
        where = Counter()
        for i in bad:
            diff = first_difference(ours[i][1], theirs[i][1])
            key = f"{reads[i][1]} {re.sub(r'[0-9]+', '#', diff.split(':')[0])}"
            where[key] += 1
            if where[key] <= args.show:
                print(f"  {domain} {reads[i][1]} {reads[i][2]}: {diff}")
        print(f"{domain}: record reads agree {len(reads) - len(bad)} of {len(reads)}")
        for key, count in where.most_common():
            print(f"    {count:4d} x {key}")
    print(f"all: score verdicts agree {total_ok} of {total_eps} (strict_upstream={strict})")
    return 0 if total_ok == total_eps else 1


if __name__ == "__main__":
    sys.exit(main())
