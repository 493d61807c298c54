"""simulator=openai against a real chat-completions server running in the test (127.0.0.1, port 0).

The server answers deterministically from the request, counts requests in flight, and injects
faults per query (HTTP errors, hangs past the client timeout, dropped connections).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from infopo_cli.errors import ConfigError
from infopo_cli.simulators.base import FatalSimulatorError, SimulatorError, UserQuery
from infopo_cli.simulators.openai import OpenAISimulator, chat_messages

CONF = Path(__file__).resolve().parents[1] / "infopo_cli" / "conf" / "simulator" / "openai.yaml"


class ChatServer:
    """A minimal OpenAI-compatible /v1/chat/completions endpoint.

    Reply: "re:" + the last message reversed + " ✓\\n" (non-ASCII and a newline, to check byte
    identity). usage: prompt_tokens = characters of all message contents, completion_tokens =
    characters of the reply. ``faults[last message]`` is a list of actions used up one per request:
    an HTTP status ("500", "429", "401", ...), "hang" (sleep past the client timeout), "drop"
    (close the connection without answering), "slow-429" (429 with ``Retry-After: 0.5``), or a 200
    that is no chat completion: "garbage" (JSON without choices), "html" (not JSON at all).
    Request headers are kept with lowercase names (HTTP header names ignore case, and clients
    differ in how they write them).
    """

    def __init__(self, delay_s: float = 0.0, hang_s: float = 1.0) -> None:
        self.delay_s = delay_s
        self.hang_s = hang_s
        self.faults: dict[str, list[str]] = {}
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.requests.append(body)
                    server.headers.append({k.lower(): v for k, v in self.headers.items()})
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                    queue = server.faults.get(body["messages"][-1]["content"], [])
                    action = queue.pop(0) if queue else None
                try:
                    time.sleep(server.delay_s)
                    if self.path != "/v1/chat/completions":
                        self._send(404, {"error": {"message": f"no route {self.path}"}})
                    elif action == "hang":
                        time.sleep(server.hang_s)
                    elif action == "drop":
                        self.close_connection = True
                        self.connection.shutdown(2)
                    elif action == "slow-429":
                        self._send(429, {"error": {"message": "slow down"}}, {"Retry-After": "0.5"})
                    elif action == "garbage":
                        self._send(200, {"unexpected": 1})
                    elif action == "html":
                        self._send(200, b"<html>busy</html>", {"Content-Type": "text/html"})
                    elif action is not None:
                        self._send(int(action), {"error": {"message": f"injected {action}"}})
                    else:
                        self._send(200, server.answer(body))
                except (BrokenPipeError, ConnectionResetError, OSError):
                    pass
                finally:
                    with server.lock:
                        server.in_flight -= 1

            def _send(
                self, status: int, payload: dict | bytes, headers: dict | None = None
            ) -> None:
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                headers = {"Content-Type": "application/json", **(headers or {})}
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    @staticmethod
    def answer(body: dict) -> dict:
        reply = "re:" + body["messages"][-1]["content"][::-1] + " ✓\n"
        prompt = sum(len(m["content"]) for m in body["messages"])
        return {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": prompt, "completion_tokens": len(reply)},
        }

    def count(self, last: str) -> int:
        return sum(1 for r in self.requests if r["messages"][-1]["content"] == last)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = ChatServer()
    yield s
    s.stop()


def q(text: str, instructions: str = "You are Ann.") -> UserQuery:
    return UserQuery(instructions=instructions, conversation=[{"role": "agent", "content": text}])


def make(server: ChatServer, **kw) -> OpenAISimulator:
    args = dict(
        base_url=server.base_url,
        model="user-model",
        api_key_env="INFOPO_TEST_KEY",
        timeout_s=2.0,
        max_concurrency=4,
        max_retries=3,
        backoff_base_s=0.001,
        backoff_max_s=0.01,
        cache=False,
    )
    args.update(kw)
    return OpenAISimulator(**args)


def test_messages_flip_roles_so_the_model_plays_the_user():
    query = UserQuery(
        instructions="Hidden: size=large.",
        conversation=[
            {"role": "agent", "content": "What size?"},
            {"role": "user", "content": "Large."},
            {"role": "agent", "content": "Colour?"},
        ],
    )
    assert chat_messages(query) == [
        {"role": "system", "content": "Hidden: size=large."},
        {"role": "user", "content": "What size?"},
        {"role": "assistant", "content": "Large."},
        {"role": "user", "content": "Colour?"},
    ]


def test_request_reply_usage_and_key_header(server, monkeypatch):
    monkeypatch.setenv("INFOPO_TEST_KEY", "sk-test")
    sim = make(server, temperature=0.0, max_tokens=7)
    assert sim.reply_batch([q("abc"), q("héllo")]) == ["re:cba ✓\n", "re:olléh ✓\n"]
    (body,) = [r for r in server.requests if r["messages"][-1]["content"] == "abc"]
    assert (body["model"], body["temperature"], body["max_completion_tokens"]) == (
        "user-model",
        0.0,
        7,
    )
    assert "max_tokens" not in body  # the deprecated name is sent only to servers that want it
    assert isinstance(body["seed"], int)
    assert body["messages"] == [
        {"role": "system", "content": "You are Ann."},
        {"role": "user", "content": "abc"},
    ]
    assert server.headers[0]["authorization"] == "Bearer sk-test"
    # prompt tokens: 12 + 3 and 12 + 5 characters; completion: 9 + 11 characters
    assert sim.stats["tokens_in"] == 32
    assert sim.stats["tokens_out"] == 20
    assert (sim.stats["calls"], sim.stats["errors"], sim.stats["retries"]) == (2, 0, 0)
    assert sim.stats["latency_s"] > 0
    sim.close()


def test_no_key_env_var_sends_no_authorization(server, monkeypatch):
    monkeypatch.delenv("INFOPO_TEST_KEY", raising=False)
    sim = make(server)
    assert sim.reply_batch([q("x")]) == ["re:x ✓\n"]
    assert "authorization" not in server.headers[0]
    sim.close()


def test_concurrency_is_bounded_and_used(server):
    server.delay_s = 0.15
    sim = make(server, max_concurrency=3)
    start = time.perf_counter()
    replies = sim.reply_batch([q(f"m{i}") for i in range(12)])
    elapsed = time.perf_counter() - start
    assert replies == ["re:" + f"m{i}"[::-1] + " ✓\n" for i in range(12)]
    assert server.max_in_flight == 3
    assert len(server.requests) == 12
    assert elapsed < 12 * 0.15  # truly concurrent: 4 waves of 3, not 12 in a row
    sim.close()


def test_transient_failures_are_retried_until_success(server):
    server.hang_s = 3.0
    server.faults = {"a": ["500", "429"], "b": ["hang"], "c": ["drop", "503"]}
    sim = make(server, timeout_s=1.0, max_retries=3)
    assert sim.reply_batch([q("a"), q("b"), q("c"), q("d")]) == [
        "re:a ✓\n",
        "re:b ✓\n",
        "re:c ✓\n",
        "re:d ✓\n",
    ]
    assert [server.count(x) for x in "abcd"] == [3, 2, 3, 1]
    assert (sim.stats["calls"], sim.stats["errors"], sim.stats["retries"]) == (4, 0, 5)
    sim.close()


def test_a_reply_that_is_no_chat_completion_is_retried(server):
    server.faults = {"g": ["garbage", "html"]}
    sim = make(server, max_retries=2)
    assert sim.reply_batch([q("g")]) == ["re:g ✓\n"]
    assert server.count("g") == 3
    assert (sim.stats["calls"], sim.stats["errors"], sim.stats["retries"]) == (1, 0, 2)
    sim.close()


def test_malformed_replies_that_never_stop_name_the_cause(server):
    server.faults = {"g": ["garbage"] * 5}
    sim = make(server, max_retries=1)
    (out,) = sim.reply_batch([q("g")])
    assert isinstance(out, SimulatorError) and "malformed response from" in str(out)
    sim.close()


def test_retry_after_from_the_server_is_honoured(server):
    server.faults = {"r": ["slow-429"]}
    sim = make(server, backoff_base_s=0.001, backoff_max_s=5.0)
    start = time.perf_counter()
    assert sim.reply_batch([q("r")]) == ["re:r ✓\n"]
    assert time.perf_counter() - start >= 0.5  # the header's 0.5 s, not the 1 ms backoff
    assert sim.stats["retries"] == 1
    sim.close()


def test_permanent_failure_is_a_simulator_error_in_its_slot(server):
    server.faults = {"bad": ["500"] * 10, "toolong": ["400"]}
    sim = make(server, max_retries=2)
    out = sim.reply_batch([q("ok"), q("bad"), q("toolong"), q("ok2")])
    assert out[0] == "re:ko ✓\n" and out[3] == "re:2ko ✓\n"
    assert isinstance(out[1], SimulatorError) and "HTTP 500" in str(out[1])
    assert isinstance(out[2], SimulatorError) and "HTTP 400" in str(out[2])
    assert server.count("bad") == 3  # first try + 2 retries
    assert server.count("toolong") == 1  # a 400 is not retried
    assert (sim.stats["calls"], sim.stats["errors"], sim.stats["retries"]) == (4, 2, 2)
    assert sim.pop_stats()["simulator/errors"] == 2
    assert sim.stats["errors"] == 0
    sim.close()


def test_unreachable_server_is_a_simulator_error_after_retries(server):
    url = server.base_url
    server.stop()
    sim = OpenAISimulator(
        base_url=url, model="m", max_retries=1, backoff_base_s=0.001, cache=False, timeout_s=1.0
    )
    (out,) = sim.reply_batch([q("x")])
    assert isinstance(out, SimulatorError) and "cannot reach" in str(out)
    assert sim.stats["retries"] == 1
    sim.close()


def test_401_stops_the_run_with_one_clear_line(server, monkeypatch):
    monkeypatch.setenv("INFOPO_TEST_KEY", "sk-wrong")
    server.faults = {"b": ["401"] * 10}
    sim = make(server, max_retries=5)
    with pytest.raises(FatalSimulatorError) as err:
        sim.reply_batch([q("a"), q("b"), q("c")])
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(
        "simulator=openai: HTTP 401 from " + server.base_url + "/chat/completions"
    )
    assert "$INFOPO_TEST_KEY" in msg and "injected 401" in msg
    assert server.count("b") == 1  # never retried
    sim.close()


def test_fatal_error_stops_the_batch_without_waiting_for_slow_retries(server):
    server.faults = {"slow": ["500"] * 10, "b": ["403"]}
    sim = make(server, max_retries=10, backoff_base_s=0.5, backoff_max_s=0.5)
    start = time.perf_counter()
    with pytest.raises(FatalSimulatorError, match="HTTP 403"):
        sim.reply_batch([q("slow"), q("b")])
    assert time.perf_counter() - start < 1.5  # not 10 backoffs of 0.25-0.5 s for "slow"
    sim.close()
    assert server.count("slow") <= 2


def test_404_names_the_model_and_url(server):
    sim = make(server, base_url=server.base_url.removesuffix("/v1"))  # forgot the /v1
    with pytest.raises(FatalSimulatorError, match=r"HTTP 404 .*simulator.model='user-model'"):
        sim.reply_batch([q("a")])
    sim.close()


def test_cache_records_then_replays_byte_identically_offline(server, tmp_path):
    queries = [q("one"), q("two"), q("one"), q("ünï", instructions="Other user.")]
    sim = make(server, temperature=0.0, cache="auto", run_dir=str(tmp_path))
    first = sim.reply_batch(queries)
    assert first == ["re:eno ✓\n", "re:owt ✓\n", "re:eno ✓\n", "re:ïnü ✓\n"]
    assert len(server.requests) == 3  # the repeated query was asked once
    again = sim.reply_batch(queries)
    assert again == first and len(server.requests) == 3
    assert sim.stats["cache_hits"] == 4
    sim.close()
    server.stop()

    path = tmp_path / "simulator_cache.sqlite"
    assert path.is_file()
    replay = OpenAISimulator(
        base_url=server.base_url, model="user-model", replay_only=True, cache_path=str(path)
    )
    replayed = replay.reply_batch(queries)
    assert [r.encode("utf-8") for r in replayed] == [r.encode("utf-8") for r in first]
    assert (replay.stats["calls"], replay.stats["cache_hits"]) == (0, 4)
    replay.close()


def test_cache_key_includes_sampling_parameters(server, tmp_path):
    path = str(tmp_path / "shared.sqlite")
    sim = make(server, cache=True, cache_path=path, max_tokens=10)
    sim.reply_batch([q("a")])
    sim.close()
    other = make(server, cache=True, cache_path=path, max_tokens=11)
    other.reply_batch([q("a")])
    assert server.count("a") == 2
    other.close()


def test_replay_only_miss_fails_naming_the_cache(server, tmp_path):
    path = tmp_path / "c.sqlite"
    sim = make(server, cache=True, cache_path=str(path))
    sim.reply_batch([q("known")])
    sim.close()
    replay = make(server, replay_only=True, cache="auto", cache_path=str(path))
    assert replay.reply_batch([q("known")]) == ["re:nwonk ✓\n"]
    with pytest.raises(FatalSimulatorError) as err:
        replay.reply_batch([q("known"), q("unknown")])
    assert str(err.value).startswith(
        "simulator.replay_only=true: 1 of 2 queries are not in the cache"
    )
    assert str(path.resolve()) in str(err.value)
    assert server.count("unknown") == 0
    replay.close()


def test_cache_is_off_by_default_above_temperature_zero(server, tmp_path):
    sim = make(server, temperature=0.7, cache="auto", run_dir=str(tmp_path))
    sim.reply_batch([q("a"), q("a")])
    assert server.count("a") == 2
    assert sim.cache is None
    sim.close()


@pytest.mark.parametrize(
    "kw, field",
    [
        ({"base_url": "127.0.0.1:8000/v1"}, "simulator.base_url"),
        ({"model": ""}, "simulator.model"),
        ({"max_concurrency": 0}, "simulator.max_concurrency"),
        ({"max_retries": -1}, "simulator.max_retries"),
        ({"timeout_s": 0}, "simulator.timeout_s"),
        ({"temperature": -0.1}, "simulator.temperature"),
        ({"max_tokens": 2.5}, "simulator.max_tokens"),
        ({"cache": "sometimes"}, "simulator.cache"),
        ({"replay_only": True, "cache": False}, "simulator.replay_only"),
        ({"replay_only": True}, "simulator.replay_only"),
        ({"replay_only": True, "cache_path": "/nonexistent/x.sqlite"}, "does not exist"),
    ],
)
def test_bad_config_values_raise_config_error(kw, field):
    args = {"model": "m"} | kw
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")) as err:
        OpenAISimulator(**args)
    assert "\n" not in str(err.value)


def test_yaml_instantiates_with_run_dir(server, tmp_path):
    from hydra.utils import instantiate

    cfg = OmegaConf.load(CONF)
    cfg.base_url = server.base_url
    sim = instantiate(cfg, run_dir=str(tmp_path))
    assert isinstance(sim, OpenAISimulator)
    assert sim.cache is not None and sim.cache.path == str(
        tmp_path.resolve() / "simulator_cache.sqlite"
    )
    assert sim.reply_batch([q("yaml")]) == ["re:lmay ✓\n"]
    assert server.requests[0]["model"] == cfg.model
    sim.close()
