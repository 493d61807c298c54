"""Native tool calls: tools as JSON schemas rendered by the chat template, calls read from the
model's ``<tool_call>`` blocks, results back as ``tool`` messages; the text protocol unchanged for
templates without tools.

The two templates in tests/fixtures are written for these tests in the Qwen2.5 and Qwen3 tool-call
formats and put on the tiny model's tokenizer (ChatML specials); nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from infopo_cli.config import ModelConfig
from infopo_cli.core.chat import ChatFormat
from infopo_cli.core.rollout import rollout
from infopo_cli.core.tool_format import renders_native_tools, resolve_tool_format
from infopo_cli.errors import ConfigError
from infopo_cli.simulators.scripted import ScriptedSimulator
from infopo_cli.tasks.tau.conversation import STOP
from infopo_cli.tasks.tool_calls import find_native_call

FIXTURES = Path(__file__).resolve().parent / "fixtures"
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TAU2, USERGYM = DATA / "tau2", DATA / "usergym"
needs_tau2 = pytest.mark.skipif(
    not (TAU2 / "domains").is_dir(), reason=f"tau2 data not found at {TAU2}"
)
needs_usergym = pytest.mark.skipif(not USERGYM.is_dir(), reason=f"UserGym data not at {USERGYM}")
TEMPLATES = {
    "qwen2.5": ("qwen25_tools.jinja", {}),
    "qwen3": ("qwen3_tools.jinja", {"enable_thinking": False}),
}
USER = "aarav_ahmed_6699"  # an airline customer in the tau2 database


def _tokenizer(template: str | None = None):
    from infopo_cli.runtime.models import load_tokenizer
    from infopo_cli.zoo.tiny import tiny_path

    tok = load_tokenizer(str(tiny_path()))
    if template is not None:
        tok.chat_template = template
    return tok


def native_chat(family: str) -> ChatFormat:
    name, kwargs = TEMPLATES[family]
    tok = _tokenizer((FIXTURES / name).read_text())
    return ChatFormat(tok, template_kwargs=kwargs)


def text_of(chat: ChatFormat, ids: list[int]) -> str:
    return chat.tok.decode(ids)


def call_block(name: str, arguments) -> str:
    return f"<tool_call>\n{json.dumps({'name': name, 'arguments': arguments})}\n</tool_call>"


@pytest.fixture(scope="module")
def airline():
    from infopo_cli.tasks.tau2 import Tau2Task

    if not (TAU2 / "domains").is_dir():
        pytest.skip(f"tau2 data not found at {TAU2}")
    return Tau2Task(data_dir=str(TAU2), domain="airline", prompt="full")


def user_record(user_id: str) -> dict:
    return json.loads((TAU2 / "domains" / "airline" / "db.json").read_text())["users"][user_id]


# -- choosing the format ----------------------------------------------------------------------------


@pytest.mark.parametrize("family", sorted(TEMPLATES))
def test_tool_templates_resolve_to_native(family):
    assert native_chat(family).tool_format == "native"


def test_a_template_without_tools_stays_on_text_and_refuses_native():
    tok = _tokenizer()
    assert not renders_native_tools(tok)
    assert ChatFormat(tok).tool_format == "text"
    assert resolve_tool_format("text", _tokenizer((FIXTURES / "qwen25_tools.jinja").read_text()))
    with pytest.raises(ConfigError, match=r"model\.tool_format=native needs a chat template") as e:
        ChatFormat(tok, tool_format="native")
    assert "\n" not in str(e.value)


def test_a_tools_template_with_another_call_syntax_stays_on_text():
    # Llama 3.1 style: renders `tools` but calls are bare JSON, which is not read back.
    tok = _tokenizer("{% if tools %}{{ tools | tojson }}{% endif %}{{ messages[0]['content'] }}")
    assert ChatFormat(tok).tool_format == "text"


def test_bad_tool_format_values_are_one_line_config_errors():
    with pytest.raises(ConfigError, match=r"model\.tool_format='xml' is not valid"):
        ModelConfig(tool_format="xml")
    with pytest.raises(ConfigError, match="model.tool_format must be one of auto, text, native"):
        resolve_tool_format("xml", _tokenizer())


# -- reading <tool_call> blocks ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            call_block("get_user_details", {"user_id": "a_1"}),
            ("get_user_details", {"user_id": "a_1"}),
        ),
        (
            'Let me check.\n<tool_call>\n{"name": "list_all_airports"}\n</tool_call>',
            ("list_all_airports", {}),
        ),
        ('<tool_call>{"name": "f", "arguments": "{\\"x\\": 1}"}</tool_call>', ("f", {"x": 1})),
        ('<tool_call>{"name": "f", "parameters": {"x": 2}}</tool_call>', ("f", {"x": 2})),
        ('<tool_call>\n{"name": "f", "arguments": {"x": 3}}', ("f", {"x": 3})),  # cut at the limit
        (call_block("a", {}) + call_block("b", {}), ("a", {})),  # one call per message
    ],
)
def test_native_call_blocks_are_read(text, expected):
    call = find_native_call(text)
    assert (call.name, call.arguments, call.error) == (*expected, None)


@pytest.mark.parametrize(
    "text, error",
    [
        (
            '<tool_call>\n{"name": "f", "arguments": {"x": }}\n</tool_call>',
            "the <tool_call> block is not JSON (Expecting value",
        ),
        ("<tool_call>[1, 2]</tool_call>", "the <tool_call> block must hold one JSON object"),
        ('<tool_call>{"arguments": {}}</tool_call>', 'the <tool_call> block has no "name"'),
        (
            '<tool_call>{"name": "f", "arguments": [1]}</tool_call>',
            '"arguments" must be a JSON object',
        ),
    ],
)
def test_malformed_native_calls_name_the_problem(text, error):
    call = find_native_call(text)
    assert call.arguments is None and call.error.startswith(error)


def test_text_without_a_block_is_no_native_call():
    assert find_native_call('TOOL: get_user_details {"user_id": "a_1"}') is None


# -- tau2 -------------------------------------------------------------------------------------------


@needs_tau2
@pytest.mark.parametrize("family", sorted(TEMPLATES))
def test_tau2_native_prompt_carries_every_tool_schema(airline, family):
    chat = native_chat(family)
    inst = airline.instances("test")[0]
    text = text_of(chat, chat.opening_ids(inst))
    assert len(inst.tools) == 14
    for tool in inst.tools:
        # each tool whole: its name, description and parameter schema, as the template renders it
        assert "\n" + json.dumps(tool, ensure_ascii=False) + "\n" in text
    schema = next(t for t in inst.tools if t["function"]["name"] == "get_user_details")
    assert schema["function"]["parameters"]["properties"]["user_id"]["type"] == "string"
    policy = (TAU2 / "domains" / "airline" / "policy.md").read_text().strip()
    assert policy in text and "<tools>" in text and "<tool_call>" in text
    assert "TOOL:" not in text  # the text protocol is not taught beside the native one
    assert text.endswith(
        "<|im_start|>assistant\n" + ("<think>\n\n</think>\n\n" if family == "qwen3" else "")
    )


@needs_tau2
def test_tau2_native_call_runs_the_tool_like_the_text_call(airline):
    inst = next(i for i in airline.instances("test"))
    native, text = airline.make_env(inst), airline.make_env(inst)
    res = native.step("I will look you up.\n" + call_block("get_user_details", {"user_id": USER}))
    same = text.step(f'TOOL: get_user_details {{"user_id": "{USER}"}}')
    assert (res.role, res.done, res.reward) == ("tool", False, 0.0)
    assert json.loads(res.feedback) == user_record(USER)
    assert res.feedback == same.feedback
    assert native.calls == text.calls == [("assistant", "get_user_details", {"user_id": USER})]


@needs_tau2
def test_tau2_malformed_native_call_is_handled_like_a_malformed_text_call(airline):
    inst = airline.instances("test")[0]
    native, text = airline.make_env(inst), airline.make_env(inst)
    bad_native = native.step(
        '<tool_call>\n{"name": "get_user_details", "arguments": {"user_id": }}\n</tool_call>'
    )
    bad_text = text.step('TOOL: get_user_details {"user_id": }')
    for res, env in ((bad_native, native), (bad_text, text)):
        assert (res.role, res.done, res.reward, res.query) == ("tool", False, 0.0, None)
        assert res.feedback.startswith("Error: ") and env.calls == [] and env.turn == 1
    assert bad_native.feedback.startswith("Error: the <tool_call> block is not JSON")
    unknown = native.step(call_block("fly_away", {}))
    assert unknown.feedback.startswith("Error: unknown tool 'fly_away'; available: ")


@needs_tau2
@pytest.mark.parametrize("family", sorted(TEMPLATES))
def test_tau2_rollout_executes_the_call_and_returns_a_tool_message(airline, family):
    chat = native_chat(family)
    inst = airline.instances("test")[0]
    plan = [call_block("get_user_details", {"user_id": USER}), f"Thank you. {STOP}"]
    batch = rollout(
        None,
        chat,
        airline,
        ScriptedSimulator(),
        [inst],
        group_size=1,
        max_new_tokens=16,
        temperature=1.0,
        max_len=10**6,
        policy=lambda env: plan[env.turn],
    )
    (traj,) = batch.trajectories
    assert traj.input_ids[: len(chat.opening_ids(inst))] == chat.opening_ids(inst)
    first = traj.turns[0]
    record = json.loads(chat.decode(traj.input_ids[first.feedback[0] : first.feedback[1]]))
    assert record == user_record(USER)
    text = text_of(chat, traj.input_ids)
    # the result went back as a `tool` message, in the template's own form
    assert "</tool_call><|im_end|>\n<|im_start|>user\n<tool_response>\n{" in text
    assert "}\n</tool_response><|im_end|>\n<|im_start|>assistant\n" in text
    assert traj.info["turns"][1]["action"].endswith(STOP)


# -- the text protocol, unchanged -------------------------------------------------------------------

# sha256 of the token ids (json.dumps of the list) of each opening below, rendered with the tiny
# tokenizer's tool-free ChatML template before native tools existed.
TEXT_OPENINGS = {
    "tau2": ("airline/2", 6139, "e0e53a4584ac6707aea6efc1fb19d2326df8f63567debe2a749df05729e50f64"),
    "usergym": (
        "function/func-484",
        1643,
        "e9f316a29922c53ddd043cd3c20907f7a01fa88b024ae272fcaa110dc830cd65",
    ),
}


def _digest(ids: list[int]) -> str:
    return hashlib.sha256(json.dumps(ids).encode()).hexdigest()


@needs_tau2
@needs_usergym
@pytest.mark.parametrize("task_name", sorted(TEXT_OPENINGS))
def test_text_protocol_prompt_is_byte_identical_for_a_template_without_tools(task_name):
    from infopo_cli.tasks.tau2 import Tau2Task
    from infopo_cli.tasks.usergym import UserGymTask

    chat = ChatFormat(_tokenizer())
    if task_name == "tau2":
        task = Tau2Task(data_dir=str(TAU2), domain="airline", prompt="full")
    else:
        task = UserGymTask(gym="function", data_dir=str(USERGYM), prompt="full")
    inst = task.instances("test")[0]
    ident, n, digest = TEXT_OPENINGS[task_name]
    ids = chat.opening_ids(inst)
    assert (inst.id, len(ids), _digest(ids)) == (ident, n, digest)
    assert ids == chat.prompt_ids(inst.messages)


# -- UserGym ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def function_gym():
    from infopo_cli.tasks.usergym import UserGymTask

    if not USERGYM.is_dir():
        pytest.skip(f"UserGym data not found at {USERGYM}")
    return UserGymTask(gym="function", data_dir=str(USERGYM), prompt="full")


def gym_instance(task, ident: str):
    return next(i for i in task.instances("test") if i.id == ident)


@needs_usergym
@pytest.mark.parametrize("family", sorted(TEMPLATES))
def test_usergym_native_prompt_carries_the_tool_schema(function_gym, family):
    chat = native_chat(family)
    inst = gym_instance(function_gym, "function/func-484")
    (tool,) = inst.tools
    assert tool["function"]["name"] == "interact_with_env"
    assert tool["function"]["parameters"]["properties"]["choice"]["enum"] == [
        "action",
        "search",
        "answer",
    ]  # FunctionGym's choices, in its order
    text = text_of(chat, chat.opening_ids(inst))
    assert "\n" + json.dumps(tool, ensure_ascii=False) + "\n" in text
    assert "How to call the tool" not in text  # the text-protocol note is left out
    assert "How to call the tool" in inst.messages[0]["content"]
    assert inst.native_messages[1] == inst.messages[1]


@needs_usergym
def test_usergym_native_call_acts_like_the_text_call(function_gym):
    inst = gym_instance(function_gym, "function/func-484")  # b ** 2 + d - a * c
    native, text = function_gym.make_env(inst), function_gym.make_env(inst)
    call = call_block("interact_with_env", {"choice": "action", "content": "2, 3, 1, 0"})
    res, same = native.step(call), text.step("action: 2, 3, 1, 0")
    assert res.feedback == same.feedback == "The function's output for 2 3 1 0 is 7."
    assert (res.role, res.done) == (same.role, same.done) == ("tool", False)


@needs_usergym
@pytest.mark.parametrize("upstream_rules", [True, False])
def test_usergym_malformed_native_call_is_handled_like_a_malformed_text_call(upstream_rules):
    """UserRL's rules end the episode on an unreadable call, the project's spend the turn: either
    way a malformed <tool_call> block is treated exactly as a malformed text call."""
    from infopo_cli.tasks.usergym import UserGymTask

    if not USERGYM.is_dir():
        pytest.skip(f"UserGym data not found at {USERGYM}")
    gym = UserGymTask(
        gym="function", data_dir=str(USERGYM), prompt="full", upstream_rules=upstream_rules
    )
    inst = gym_instance(gym, "function/func-484")
    native, text = gym.make_env(inst), gym.make_env(inst)
    bad_native = native.step(
        '<tool_call>\n{"name": "interact_with_env", "arguments": {"choice": }}\n</tool_call>'
    )
    bad_text = text.step("I think I should look around.")
    for res in (bad_native, bad_text):
        assert (res.role, res.done, res.reward, res.info.get("invalid")) == (
            "tool",
            upstream_rules,
            0.0,
            True,
        )
    assert bad_native.feedback.startswith(
        "The tool call could not be read: the <tool_call> block is not JSON"
    )
    if upstream_rules:
        return
    no_choice = native.step(call_block("interact_with_env", {"content": "1 2 3 4"}))
    assert no_choice.feedback.startswith("The tool call has no choice.")
    assert native.turn == text.turn + 1 == 2


@needs_tau2
@needs_usergym
def test_compact_native_openings_keep_the_short_prompt_and_drop_the_text_protocol():
    from infopo_cli.tasks.tau2 import Tau2Task
    from infopo_cli.tasks.tau2.prompt import CUT_MARK
    from infopo_cli.tasks.usergym import UserGymTask

    tau = Tau2Task(data_dir=str(TAU2), domain="airline", prompt="compact").instances("test")[0]
    native, text = tau.native_messages[0]["content"], tau.messages[0]["content"]
    assert CUT_MARK in native and len(native) < 1000
    assert "TOOL:" in text and "TOOL:" not in native and "get_user_details" not in native
    assert native.endswith(text[text.index("<policy>") : text.index("</policy>") + 9])
    gym = UserGymTask(gym="function", data_dir=str(USERGYM), prompt="compact")
    inst = gym.instances("test")[0]
    assert inst.messages[0]["content"].startswith(inst.native_messages[0]["content"])
    assert "interact_with_env" in inst.messages[0]["content"]
    assert "interact_with_env" not in inst.native_messages[0]["content"]


@needs_tau2
def test_prompt_ask_instruction_reaches_both_openings(airline):
    from infopo_cli.recipes.evaluate import ASK_INSTRUCTION, with_instruction

    inst = with_instruction(airline.instances("test")[0], ASK_INSTRUCTION)
    for messages in (inst.messages, inst.native_messages):
        assert messages[0]["content"].endswith(ASK_INSTRUCTION)
    assert inst.tools == airline.instances("test")[0].tools
