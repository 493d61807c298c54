"""The built-in clarify task: scripted user, answer parsing, oracle vs. never-asking policies."""

from __future__ import annotations

import random
import re

import pytest

from infopo_cli.errors import ConfigError
from infopo_cli.tasks.clarify import (
    DOMAINS,
    FOLLOW_UP_TEMPLATES,
    VAGUE_REPLIES,
    ClarifyTask,
    _mentions,
    _words,
    parse_answer,
    question_sentences,
    scripted_reply,
)


def play(task, inst, policy):
    env = task.make_env(inst)
    for _ in range(task.max_turns):
        res = env.step(policy(env))
        if res.query is not None:
            res = env.user_replied(res.query.script())
        if res.done:
            break
    return env


RESTAURANT = DOMAINS[0]
VALUES = {"cuisine": "thai", "time": "7pm", "party": "four"}


@pytest.mark.parametrize(
    "question,reply",
    [
        ("What cuisine would you like?", "The cuisine is thai."),
        ("what kind of FOOD do you want to eat", "The cuisine is thai."),  # synonyms, any case
        ("Is 8pm ok?", "The time is 7pm."),  # an option word names the slot
        ("How many people, and at what time?", "The time is 7pm. The party is four."),
        (
            "Do you prefer a patio?",
            "I don't mind about the seating.",
        ),  # a domain slot not in the task
        ("Tell me more.", "Sorry, I don't know what you mean."),
    ],
)
def test_scripted_user_answers_the_slots_asked(question, reply):
    assert scripted_reply(RESTAURANT, VALUES, question) == reply


def test_parse_answer_forms_and_malformed():
    assert parse_answer("ANSWER: cuisine=thai; time=7pm") == {"cuisine": "thai", "time": "7pm"}
    assert parse_answer("sure!\nanswer: Cuisine = Thai, party: four") == {
        "cuisine": "thai",
        "party": "four",
    }
    assert parse_answer("What time?") is None
    assert parse_answer("ANSWER: I have no idea") == {}
    assert parse_answer("ANSWER:") == {}


def test_malformed_answer_scores_zero_and_ends():
    task = ClarifyTask()
    env = task.make_env(task.instances("test")[0])
    res = env.step("ANSWER: ???")
    assert res.done and env.outcome() == 0.0 and not env.success()


def test_partial_answer_scores_share_of_slots():
    task = ClarifyTask(num_slots=4, num_revealed=1)
    inst = task.instances("test")[3]
    env = task.make_env(inst)
    vals = inst.hidden["values"]
    wrong = dict(vals)
    k = next(iter(vals))
    wrong[k] = "nothing"
    env.step("ANSWER: " + "; ".join(f"{a}={b}" for a, b in wrong.items()))
    assert env.outcome() == 0.75
    # binary reward: the same near miss scores 0, the full answer 1
    binary = ClarifyTask(num_slots=4, num_revealed=1, reward="binary")
    env = binary.make_env(inst)
    env.step("ANSWER: " + "; ".join(f"{a}={b}" for a, b in wrong.items()))
    assert env.outcome() == 0.0 and not env.success()
    env = binary.make_env(inst)
    env.step("ANSWER: " + "; ".join(f"{a}={b}" for a, b in vals.items()))
    assert env.outcome() == 1.0 and env.success()


def test_oracle_always_succeeds_and_never_asking_rarely_does():
    task = ClarifyTask()
    insts = task.instances("test")
    assert all(play(task, i, task.oracle_action).success() for i in insts)
    rng = random.Random(0)

    def guess(env):  # revealed values copied, the rest guessed without asking
        d = env.domain
        parts = [
            f"{s.name}={env.values[s.name] if s.name in env.known else rng.choice(s.options[:4])}"
            for s in d.slots
            if s.name in env.values
        ]
        return "ANSWER: " + "; ".join(parts)

    rate = sum(play(task, i, guess).success() for i in insts) / len(insts)
    assert rate < 0.15  # two hidden slots with 4 options: 1/16 in expectation


def test_deterministic_and_disjoint_splits():
    a, b = ClarifyTask(seed=3), ClarifyTask(seed=3)
    assert [i.id for i in a.instances("train")[:50]] == [i.id for i in b.instances("train")[:50]]
    assert [i.messages for i in a.instances("test")] == [i.messages for i in b.instances("test")]
    goals_train = {i.hidden["goal"] for i in a.instances("train")}
    goals_test = {i.hidden["goal"] for i in a.instances("test")}
    assert not goals_train & goals_test
    assert ClarifyTask(seed=4).instances("test")[0].id != a.instances("test")[0].id


def test_turn_limit_ends_the_episode():
    task = ClarifyTask(max_turns=2)
    env = play(task, task.instances("test")[0], lambda env: "What is the weather?")
    assert env.turn == 2 and env.outcome() == 0.0


def test_demonstrator_is_imperfect():
    task = ClarifyTask()
    rng = random.Random(0)
    rate = (
        sum(
            play(task, i, lambda e: task.demo_action(e, rng)).success()
            for i in task.instances("test")
        )
        / 200
    )
    assert 0.05 <= rate <= 0.35


def test_demonstrator_answer_hazard_sets_dialogue_length():
    """answer_start/answer_rise shape when the demonstrator stops asking: never before the last turn
    at (0, 0); the default (0.15, +0.3 a turn) never lets it reach a fifth message; the starter
    build's (0.3, +0.1) does, so the warm start has seen the long dialogues RL moves it to."""
    from infopo_cli.zoo.starter import STARTER

    task = ClarifyTask()
    insts = task.instances("test")

    def episodes(**kw) -> list:
        rng = random.Random(0)
        return [play(task, i, lambda e: task.demo_action(e, rng, **kw)) for i in insts]

    def lengths(**kw) -> list[int]:
        return [env.turn for env in episodes(**kw)]

    assert set(lengths(answer_start=0.0, answer_rise=0.0)) == {task.max_turns}
    assert set(lengths(answer_start=1.0)) == {1}
    assert max(lengths()) == 4
    starter_demo = episodes(
        answer_start=STARTER["answer_start"], answer_rise=STARTER["answer_rise"]
    )
    assert max(env.turn for env in starter_demo) == task.max_turns
    assert (
        0.05 <= sum(env.success() for env in starter_demo) / len(insts) <= 0.35
    )  # still imperfect


def test_ask_unknown_demonstrator_questions_track_the_replies():
    """ask_unknown=1 re-asks a task slot only through the 20% of questions drawn from the whole
    domain (the off-task ones); the default re-asks about half the time, and ask_unknown=0 replays
    exactly the default demonstrations (no extra draws)."""
    from infopo_cli.tasks.clarify import slots_asked

    task = ClarifyTask()

    def repeats(**kw) -> tuple[int, int, list[str]]:
        rng, n, rep, actions = random.Random(0), 0, 0, []
        for inst in task.instances("test"):
            env = task.make_env(inst)
            for _ in range(task.max_turns):
                action = task.demo_action(env, rng, answer_start=0.0, answer_rise=0.0, **kw)
                named = {s.name for s in slots_asked(env.domain, action)} & env.values.keys()
                if named and not action.startswith("ANSWER") and env.known < env.values.keys():
                    n += 1
                    rep += not (named - env.known)
                actions.append(action)
                if env.step(action).done:
                    break
        return rep, n, actions

    rep, n, default_actions = repeats()
    assert 0.3 < rep / n < 0.7
    assert repeats(ask_unknown=0.0)[2] == default_actions
    rep, n, _ = repeats(ask_unknown=1.0)
    assert n > 100 and rep / n < 0.1


def test_copy_demonstrations_answer_at_once_with_only_the_stated_values():
    task = ClarifyTask()
    rng = random.Random(0)
    for inst in task.instances("test")[:20]:
        env = task.make_env(inst)
        action = task.demo_action(env, rng, answer_p=1.0, guess=False)
        (slot,) = inst.hidden["revealed"]
        assert action == f"ANSWER: {slot} = {inst.hidden['values'][slot]}"
        assert env.step(action).done and env.outcome() == 1 / 3


@pytest.mark.parametrize(
    "kw,msg",
    [
        ({"num_slots": 7}, "task.num_slots"),
        ({"num_revealed": 3}, "task.num_revealed"),
        ({"domains": ["space"]}, "task.domains"),
        ({"split": "dev"}, "split"),
        ({"reward": "dense"}, "task.reward"),
    ],
)
def test_bad_knobs_are_config_errors(kw, msg):
    with pytest.raises(ConfigError, match=msg):
        ClarifyTask(**kw)


# Settings where the content of a reply decides the next action (vague_rate, dependent_slots,
# acknowledge): hand-checked transcripts on fixed instances of the test split.


def transcript(task, inst, actions):
    """``(action, reply)`` pairs of a scripted episode that plays ``actions``, and its env."""
    env = task.make_env(inst)
    out = []
    for action in actions:
        res = env.step(action)
        reply = res.query.script() if res.query is not None else None
        if res.query is not None:
            env.user_replied(reply)
        out.append((action, reply))
    return out, env


def test_options_off_leave_the_plain_task_byte_identical():
    """Explicit defaults give the same instances, prompts and transcripts as the plain task, and
    the settings keep its instance ids and splits (they only add to ``hidden``)."""
    plain = ClarifyTask()
    off = ClarifyTask(vague_rate=0.0, dependent_slots=False, acknowledge=False)
    assert [(i.id, i.messages, i.hidden) for i in plain.instances("test")] == [
        (i.id, i.messages, i.hidden) for i in off.instances("test")
    ]
    inst = plain.instances("test")[0]
    assert inst.messages[1]["content"] == "I need to buy some clothes. The color is blue."
    steps, env = transcript(plain, inst, ["What item would you like?", "Got it. What size?"])
    assert steps == [
        ("What item would you like?", "The item is sweater."),
        ("Got it. What size?", "The size is medium."),
    ]
    assert env.pending() == [] and env.known == {"item", "color", "size"}
    for kw in ({"vague_rate": 0.5}, {"dependent_slots": True}, {"acknowledge": True}):
        assert [i.id for i in ClarifyTask(**kw).instances("train")[:200]] == [
            i.id for i in plain.instances("train")[:200]
        ]

    def demos(task):  # every demonstration's messages and replies
        rng, said = random.Random(0), []

        def policy(env):
            said.append(task.demo_action(env, rng))
            return said[-1]

        for inst in task.instances("test"):
            env = play(task, inst, policy)
            said.append((env.outcome(), env.known))
        return said

    assert demos(plain) == demos(off)


def test_vague_reply_then_a_re_ask_gives_the_value():
    task = ClarifyTask(vague_rate=0.5)
    inst = task.instances("test")[0]  # shopping: item sweater, color blue (stated), size medium
    assert inst.hidden["vague"] == {"size": "I'm not sure about the size yet."}
    steps, env = transcript(task, inst, ["What item would you like?", "What size would you like?"])
    assert steps[1] == ("What size would you like?", "I'm not sure about the size yet.")
    assert "size" not in env.known and env.pending() == ["size"]
    assert task.demo_action(env, random.Random(0), answer_p=0.0, follow_up=1.0) in {
        t.format(slot="size") for t in FOLLOW_UP_TEMPLATES
    }
    res = env.step("Could you be more specific about the size?")
    assert res.query.script() == "The size is medium."
    env.user_replied("The size is medium.")
    assert "size" in env.known and env.pending() == []
    env.step("ANSWER: item = sweater; color = blue; size = medium")
    assert env.success()
    # the same instance's size is vague to every episode (drawn per instance, not per episode)
    again, _ = transcript(task, inst, ["Which size?", "Which size?", "Which size?"])
    assert [r for _, r in again] == [
        "I'm not sure about the size yet.",
        "The size is medium.",
        "The size is medium.",
    ]
    # a guess for the size without the re-ask is a guess: 2/3 when wrong
    _, env = transcript(task, inst, ["What item?", "What size?"])
    env.step("ANSWER: item = sweater; color = blue; size = small")
    assert env.outcome() == pytest.approx(2 / 3)


def test_vague_rate_draws_per_unrevealed_slot_and_replies_state_no_value():
    rates = {}
    for rate in (0.0, 0.3, 1.0):
        insts = ClarifyTask(vague_rate=rate).instances("test")
        vague = [len(i.hidden.get("vague", {})) for i in insts]
        rates[rate] = sum(vague) / (2 * len(insts))  # two unrevealed slots each
        if rate:
            assert all(not set(i.hidden["vague"]) & set(i.hidden["revealed"]) for i in insts)
    assert rates[0.0] == 0.0 and rates[1.0] == 1.0 and 0.22 < rates[0.3] < 0.38
    assert "vague" not in ClarifyTask().instances("test")[0].hidden
    for d in DOMAINS:
        slots = [*d.slots, *(f.slot for f in d.follow_ups)]
        words = {o for s in slots for o in s.options}
        for s in slots:
            for template in VAGUE_REPLIES:
                text = _words(template.format(slot=s.name))
                assert not any(_mentions(text, w) for w in words), (d.name, s.name, template)


def test_a_plane_opens_the_airline_and_the_fare_and_an_answer_without_them_fails():
    task = ClarifyTask(dependent_slots=True)
    inst = task.instances("test")[3]  # travel: city cairo (stated), transport plane, hotel hostel
    assert inst.hidden["values"] == {
        "city": "cairo",
        "transport": "plane",
        "hotel": "hostel",
        "airline": "northjet",
        "fare": "economy",
    }
    assert (
        "Fields some answers add: airline (skyway|northjet|bluewing|sunair) if transport is plane; "
        "fare (economy|business|premium|standard) if transport is train|plane; "
        "luggage (backpack|suitcase|trunk|duffel) if transport is bus|ferry. "
    ) in inst.messages[0]["content"]
    steps, env = transcript(
        task, inst, ["How will you get there?", "What hotel?", "Which airline?"]
    )
    assert [r for _, r in steps] == [
        "The transport is plane.",
        "The hotel is hostel.",
        "The airline is northjet.",
    ]
    base = "ANSWER: city = cairo; transport = plane; hotel = hostel"
    env.step(base)
    assert env.outcome() == pytest.approx(3 / 5) and not env.success()
    _, env = transcript(task, inst, ["How will you get there?"])
    assert env.pending() == ["airline", "fare"]
    assert task.oracle_action(env) == "What airline would you like?"
    env.step(base + "; airline = northjet; fare = economy")
    assert env.success()
    # a ferry opens the luggage instead; asking about an airline then gets the usual shrug
    ferry = task.instances("test")[10]
    assert ferry.hidden["values"]["transport"] == "ferry"
    steps, env = transcript(task, ferry, ["Which transport?", "Which airline?", "Any luggage?"])
    assert [r for _, r in steps] == [
        "The transport is ferry.",
        "I don't mind about the airline.",
        "The luggage is backpack.",
    ]
    # without the option the same instance needs three slots and no follow-up is recognised
    plain = ClarifyTask().instances("test")[3]
    assert plain.hidden["values"] == {"city": "cairo", "transport": "plane", "hotel": "hostel"}
    assert transcript(ClarifyTask(), plain, ["Which airline?"])[0][0][1] == (
        "Sorry, I don't know what you mean."
    )


def test_acknowledgement_echoes_the_value_and_the_user_reads_only_the_question():
    task = ClarifyTask(acknowledge=True)
    inst = task.instances("test")[0]
    env = task.make_env(inst)
    steps = []
    while not env.answer:
        action = task.oracle_action(env)
        res = env.step(action)
        reply = res.query.script() if res.query is not None else None
        if reply is not None:
            env.user_replied(reply)
        steps.append((action, reply))
    assert steps == [
        ("What item would you like?", "The item is sweater."),
        ("Got it, sweater. What size would you like?", "The size is medium."),
        ("ANSWER: item = sweater; color = blue; size = medium", None),
    ]
    assert env.success()
    # "sweater" names an item option: without the option the user answers that too
    echo = "Got it, sweater. What size would you like?"
    assert transcript(ClarifyTask(), inst, [echo])[0][0][1] == (
        "The item is sweater. The size is medium."
    )
    assert question_sentences("Got it, thai and 7pm. How many people?") == "How many people?"
    assert question_sentences("ANSWER: time = 7pm") == "ANSWER: time = 7pm"
    # the demonstrator echoes too, every value of the last reply, and only after a reply with one
    rng = random.Random(0)
    _, env = transcript(task, inst, ["What item and what size?"])
    assert env.last_given == {"item": "sweater", "size": "medium"}
    assert task.demo_action(env, rng, answer_p=0.0).startswith("Got it, sweater and medium. ")
    _, env = transcript(task, inst, ["Tell me more?"])
    assert not task.demo_action(env, rng, answer_p=0.0).startswith("Got it")


@pytest.mark.parametrize(
    "kw,turns,demo",
    [
        ({"vague_rate": 0.5}, 5, (0.10, 0.25)),
        ({"dependent_slots": True}, 5, (0.05, 0.20)),
        ({"acknowledge": True}, 3, (0.15, 0.35)),
        (
            {"vague_rate": 0.5, "dependent_slots": True, "acknowledge": True, "max_turns": 9},
            9,
            None,
        ),
    ],
)
def test_settings_oracle_always_succeeds_and_demonstrator_stays_imperfect(kw, turns, demo):
    task = ClarifyTask(**kw)
    insts = task.instances("test")
    envs = [play(task, i, task.oracle_action) for i in insts]
    assert all(e.success() for e in envs) and max(e.turn for e in envs) == turns
    if demo:
        rng = random.Random(0)
        rate = sum(play(task, i, lambda e: task.demo_action(e, rng)).success() for i in insts)
        assert demo[0] <= rate / len(insts) <= demo[1]


@pytest.mark.parametrize(
    "kw,msg",
    [
        ({"vague_rate": 1.5}, "task.vague_rate must be a number in 0..1, got 1.5"),
        ({"vague_rate": True}, "task.vague_rate"),
        ({"dependent_slots": "yes"}, "task.dependent_slots must be true or false, got 'yes'"),
        ({"acknowledge": 1}, "task.acknowledge must be true or false"),
    ],
)
def test_bad_setting_options_are_config_errors(kw, msg):
    with pytest.raises(ConfigError, match=re.escape(msg)):
        ClarifyTask(**kw)


def test_a_settings_starter_is_built_on_its_options_and_the_plain_key_is_kept():
    from infopo_cli.zoo.starter import clarify_setting

    assert clarify_setting(None) == {}
    assert (
        clarify_setting({"vague_rate": 0.0, "dependent_slots": False, "acknowledge": False}) == {}
    )
    assert clarify_setting({"name": "clarify", "vague_rate": 0.4, "acknowledge": False}) == {
        "vague_rate": 0.4
    }


def test_model_starter_on_a_setting_resolves_to_its_own_build(monkeypatch):
    from infopo_cli.zoo import registry

    built = []
    monkeypatch.setitem(registry.BUILTIN, "starter", lambda **kw: built.append(kw) or "/s")
    monkeypatch.setitem(registry.BUILTIN, "starter-tracking", lambda **kw: built.append(kw) or "/t")
    task = {"_target_": "infopo_cli.tasks.clarify.ClarifyTask", "name": "clarify"}
    registry.resolve_path("starter", None, {**task, "vague_rate": 0.0, "acknowledge": False})
    registry.resolve_path("starter", None, {**task, "dependent_slots": True})
    registry.resolve_path("starter-tracking", None, {**task, "acknowledge": True})
    assert built == [{}, {"setting": {"dependent_slots": True}}, {"setting": {"acknowledge": True}}]
