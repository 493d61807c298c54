"""Acceptance on the shipped data: every task of every domain and split.

* The oracle (gold actions one per turn, the customer's own actions asked of the scripted
  customer, then the required information) reaches exactly the gold end state and scores 1.0
  (telecom under ``strict_upstream``: 72 tasks whose unsynchronised gold state the oracle does
  not reach, as upstream; telecom does not score the database).
* Leaving out any gold write that matters (its absence changes the gold end state) scores 0.
* Nothing ever changes the shared, parsed databases.

Both with tau2-bench's behaviour (``strict_upstream``, the default) and with the project's
deviations: each mode builds its gold end states with its own rules.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import pytest

from infopo_cli.simulators.scripted import ScriptedSimulator
from infopo_cli.tasks.tau2 import Tau2Task
from infopo_cli.tasks.tau2.world import gold_world

TAU2 = Path(__file__).resolve().parents[2] / "shared" / "data" / "tau2"
pytestmark = pytest.mark.skipif(
    not (TAU2 / "domains").is_dir(), reason=f"tau2 data not found at {TAU2} (../shared/data/tau2)"
)
TASK_FILES = [
    ("airline", "tasks.json"),
    ("retail", "tasks.json"),
    ("telecom", "tasks.json"),
    ("airline", "tasks_tau3_2026.json"),
    ("retail", "tasks_tau3_2026.json"),
]


def all_instances(task: Tau2Task):
    seen = {}
    for split in task.domain_data(task.domains[0]).splits:
        for inst in task.instances(split):
            seen.setdefault(inst.id, inst)
    return list(seen.values())


def run(task, env, plan, sim):
    for _ in range(task.max_turns):
        text = plan[env.turn] if env.turn < len(plan) else "Goodbye. ###STOP###"
        res = env.step(text)
        while res.query is not None:
            res = env.user_replied(sim.reply_batch([res.query])[0])
        if res.done:
            return res
    raise AssertionError("episode did not end")


def digest(data) -> str:
    blob = json.dumps([data.base, data.phone_base], sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()


@pytest.mark.parametrize("strict", [True, False], ids=["upstream", "deviations"])
@pytest.mark.parametrize("domain, tasks_file", TASK_FILES)
def test_oracle_reaches_the_gold_state_and_scores_one(domain, tasks_file, strict):
    task = Tau2Task(
        data_dir=str(TAU2),
        domain=domain,
        tasks_file=tasks_file,
        max_turns=30,
        strict_upstream=strict,
    )
    data = task.domain_data(domain)
    before = digest(data)
    instances = all_instances(task)
    assert len(instances) == len(data.tasks)  # every task is in some split
    sim, unequal = ScriptedSimulator(), []
    for inst in instances:
        env = task.make_env(inst)
        res = run(task, env, env.oracle_plan(), sim)
        gold = task.gold(env.domain, env.task_id)
        if env.world.diff(gold):
            unequal.append(inst.id)
        assert (res.reward, env.outcome(), env.success()) == (1.0, 1.0, True), (
            inst.id,
            env.breakdown,
        )
        # upstream, a transfer is ended by the customer (###TRANSFER###)
        assert env.termination in (("user_stop",) if strict else ("user_stop", "transfer")), inst.id
    # upstream's gold state is not synchronised after the gold actions (world.py): in telecom the
    # oracle's (synchronised) state differs from it in 72 of 126 tasks, as tau2-bench's own DB
    # check finds; telecom scores no DB component, so the reward is 1 all the same
    assert len(unequal) == (72 if strict and domain == "telecom" else 0), unequal[:3]
    assert digest(data) == before, "a tool changed the shared database"


@pytest.mark.parametrize("domain", ["airline", "retail", "telecom"])
def test_leaving_out_a_gold_write_scores_zero(domain):
    task = Tau2Task(data_dir=str(TAU2), domain=domain, max_turns=30)
    data = task.domain_data(domain)
    sim, checked = ScriptedSimulator(), 0
    for inst in all_instances(task):
        env0 = task.make_env(inst)
        row, gold = env0.row, task.gold(env0.domain, env0.task_id)
        for i, action in enumerate(row["evaluation_criteria"].get("actions") or []):
            if gold.tool_kind(action.get("requestor") or "assistant", action["name"]) != "write":
                continue
            if not gold_world(data, row, skip=i).diff(gold):
                continue  # e.g. an address changed and changed back: nothing to miss
            shorter = copy.deepcopy(row)
            del shorter["evaluation_criteria"]["actions"][i]
            env = task.make_env(inst)
            env.row = shorter
            plan = env.oracle_plan()
            env.row = row
            res = run(task, env, plan, sim)
            assert res.done and env.outcome() == 0.0, (inst.id, action["name"], env.breakdown)
            checked += 1
    assert checked >= {"airline": 40, "retail": 150, "telecom": 400}[domain]


def test_gold_end_states_are_the_expected_records():
    airline = Tau2Task(data_dir=str(TAU2), domain="airline")
    booked = [
        t
        for t, row in airline.domain_data("airline").tasks.items()
        if any(a["name"] == "book_reservation" for a in row["evaluation_criteria"]["actions"])
    ]
    gold = airline.gold("airline", booked[0])
    action = next(
        a
        for a in airline.domain_data("airline").tasks[booked[0]]["evaluation_criteria"]["actions"]
        if a["name"] == "book_reservation"
    )
    new = gold.agent.reservations["HATHAT"]
    assert new["user_id"] == action["arguments"]["user_id"]
    assert new["payment_history"] == action["arguments"]["payment_methods"]
    assert gold.agent.users[new["user_id"]]["reservations"][-1] == "HATHAT"
    retail = Tau2Task(data_dir=str(TAU2), domain="retail")
    order = retail.gold("retail", "0").agent.orders["#W2378156"]
    assert order["status"] == "exchange requested"
    assert order["exchange_new_items"] == ["7706410293", "7747408585"]
