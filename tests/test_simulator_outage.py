"""A dead, slow or misconfigured user simulator never passes for a result.

A loopback chat-completions server (127.0.0.1, port 0) that can refuse (a closed port), die in the
middle of a run, answer 400 to everything and cut replies at the token limit, against ``infopo
eval`` / ``infopo train`` end to end and against the simulator itself.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from infopo_cli.core.evaluation import aggregate, summary_line
from infopo_cli.simulators.base import FatalSimulatorError, SimulatorError, UserQuery
from infopo_cli.simulators.cache import ReplyCache
from infopo_cli.simulators.openai import OPENING_TURN, OpenAISimulator, chat_messages

REPO = Path(__file__).resolve().parents[1]
EXCLUDED = "episodes excluded (simulator failures)"


class LoopbackServer:
    """/v1/chat/completions. ``mode``: "ok" (a short reply), "400" (every request rejected with
    ``message``), "length" (replies cut: finish_reason "length"). ``die_after``: the server answers
    that many requests, then closes its port (later connections are refused) and drops the
    requests it had already accepted. ``reject_field``: a request carrying it gets a 400 naming
    it (a server from before the field existed)."""

    def __init__(self, mode: str = "ok", die_after: int | None = None) -> None:
        self.mode = mode
        self.die_after = die_after
        self.message = "This model's maximum context length is 64 tokens."
        self.reject_field: str | None = None
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.requests.append(body)
                    n = len(server.requests)
                    dead = server.die_after is not None and n > server.die_after
                    dying = server.die_after is not None and n == server.die_after
                if dead:  # accepted just before the port closed: dropped without an answer
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if dying:
                    server.close()
                self._send(*server.answer(body))

            def _send(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.closed = False

    def answer(self, body: dict) -> tuple[int, dict]:
        if self.reject_field and self.reject_field in body:
            msg = f"Unrecognized request argument supplied: {self.reject_field}"
            return 400, {"error": {"message": msg}}
        if self.mode == "400":
            return 400, {"error": {"message": self.message}}
        finish = "length" if self.mode == "length" else "stop"
        choice = {"message": {"role": "assistant", "content": "I am not sure."}}
        return 200, {
            "choices": [{**choice, "finish_reason": finish}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 4},
        }

    def close(self) -> None:
        """Stop listening: from now on a connection is refused."""
        with self.lock:
            if self.closed:
                return
            self.closed = True
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def closed_port() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}/v1"


def infopo(command: str, *overrides: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "infopo_cli.cli", command, *overrides],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def oracle_eval(url: str, run_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    """``infopo eval`` of the clarify oracle (2 questions per episode) against ``url``."""
    return infopo(
        "eval",
        "task=clarify",
        "policy=oracle",
        "simulator=openai",
        f"simulator.base_url={url}",
        "simulator.model=fake",
        "simulator.cache=false",
        f"hydra.run.dir={run_dir}",
        *extra,
    )


def error_lines(proc: subprocess.CompletedProcess) -> list[str]:
    return [x for x in proc.stderr.splitlines() if x.strip()]


def q(text: str) -> UserQuery:
    return UserQuery(instructions="You are Ann.", conversation=[{"role": "agent", "content": text}])


def sim(url: str, **kw) -> OpenAISimulator:
    args = dict(base_url=url, model="m", cache=False, timeout_s=5.0, backoff_base_s=0.001)
    return OpenAISimulator(**(args | kw))


# ---- the end-to-end cases ---------------------------------------------------------------------
def test_wrong_port_is_one_line_and_a_nonzero_exit(closed_port, tmp_path):
    run_dir = tmp_path / "ev"
    proc = oracle_eval(closed_port, run_dir, "eval.num_tasks=4", "simulator.cache=auto")
    assert proc.returncode == 1, proc.stdout[-2000:]
    (line,) = error_lines(proc)
    assert line.startswith("error: simulator: simulator=openai at " + closed_port)
    assert "connection refused" in line and "check simulator.base_url" in line
    assert not (run_dir / "eval.json").exists()
    assert not (run_dir / "simulator_cache.sqlite").exists()  # no empty cache file left behind


def test_server_dying_mid_evaluation_names_the_excluded_and_fails(tmp_path):
    # 12 episodes ask twice each: the first 12 requests and 4 of the second round are answered,
    # then the port closes. Exactly 4 episodes finish; 8 are excluded, over the 0.1 budget.
    server = LoopbackServer(die_after=16)
    run_dir = tmp_path / "ev"
    proc = oracle_eval(server.base_url, run_dir, "eval.num_tasks=12")
    server.close()
    assert proc.returncode == 1, proc.stderr[-2000:]
    out = json.loads((run_dir / "eval.json").read_text())
    agg = out["aggregate"]
    assert (agg["n_excluded_trials"], agg["n_episodes"], agg["n_trials"]) == (8, 12, 4)
    assert agg["success"] == 1.0 and agg["success_with_failures"] == pytest.approx(4 / 12)
    assert f"8 of 12 {EXCLUDED}" in " ".join(proc.stdout.split())
    assert "0.333 with failures counted" in proc.stdout
    (line,) = error_lines(proc)
    assert line.startswith(f"error: simulator: 8 of 12 {EXCLUDED}")
    assert "above simulator.max_failure_rate=0.1" in line


def test_server_dying_within_budget_still_reports_the_excluded(tmp_path):
    server = LoopbackServer(die_after=16)
    run_dir = tmp_path / "ev"
    proc = oracle_eval(
        server.base_url, run_dir, "eval.num_tasks=12", "simulator.max_failure_rate=0.9"
    )
    server.close()
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"8 of 12 {EXCLUDED}" in " ".join(proc.stdout.split())


def test_400_to_every_request_stops_within_the_first_batch(tmp_path):
    server = LoopbackServer(mode="400")
    proc = oracle_eval(server.base_url, tmp_path / "ev", "eval.num_tasks=4")
    server.close()
    assert proc.returncode == 1, proc.stdout[-2000:]
    (line,) = error_lines(proc)
    assert line.startswith("error: simulator: simulator=openai at " + server.base_url)
    assert "HTTP 400" in line and "check simulator.max_tokens" in line
    assert server.message in line
    assert len(server.requests) == 4  # the first batch, one request per episode, no retries


# ---- the simulator ------------------------------------------------------------------------------
def test_refused_before_any_success_is_fatal_after_the_grace(closed_port):
    s = sim(closed_port, max_retries=50, connect_grace_s=0.3, backoff_base_s=0.05)
    with pytest.raises(FatalSimulatorError, match="connection refused for 0 s") as err:
        s.reply_batch([q("a"), q("b")])
    assert "\n" not in str(err.value)
    s.close()


def test_a_server_that_dies_is_not_retried_query_by_query():
    server = LoopbackServer(die_after=1)
    s = sim(server.base_url, max_concurrency=8, max_retries=5, backoff_base_s=30.0)
    assert s.reply_batch([q("first")]) == ["I am not sure."]
    server.close()
    out = s.reply_batch([q(f"m{i}") for i in range(12)])
    assert all(isinstance(r, SimulatorError) for r in out)
    # 8 refused requests in a row open the breaker: the 8 waiting retries wake and give up, the
    # 4 queued queries are never sent
    assert s.stats["retries"] == 8 and s.stats["errors"] == 12
    assert sum("not sent: the server stopped answering (8 failed requests" in str(r) for r in out)
    assert s.last_error is not None
    s.close()


def test_the_same_4xx_in_a_row_after_successes_is_fatal():
    server = LoopbackServer()
    s = sim(server.base_url, max_consecutive_failures=3, max_concurrency=1)
    assert s.reply_batch([q("ok")]) == ["I am not sure."]
    server.mode = "400"
    with pytest.raises(FatalSimulatorError, match="3 requests in a row rejected \\(HTTP 400\\)"):
        s.reply_batch([q(f"m{i}") for i in range(5)])
    assert len(server.requests) == 4
    s.close()
    server.close()


@pytest.mark.parametrize("on_truncated, requests, replies", [("keep", 1, 1), ("retry", 3, 3)])
def test_truncated_replies_are_counted_and_kept_or_retried(on_truncated, requests, replies):
    server = LoopbackServer(mode="length")
    s = sim(server.base_url, on_truncated=on_truncated, max_retries=2)
    assert s.reply_batch([q("a")]) == ["I am not sure."]
    stats = s.pop_stats()
    assert len(server.requests) == requests
    assert stats["simulator/truncated"] == replies and stats["simulator/errors"] == 0
    s.close()
    server.close()


def test_seed_per_query_derives_from_the_run_seed():
    server = LoopbackServer()
    queries = [q("a"), q("a"), q("b")]

    def seeds(**kw) -> list[int]:
        server.requests.clear()
        s = sim(server.base_url, max_concurrency=1, **kw)
        s.reply_batch(queries)
        s.close()
        last = [r["messages"][-1]["content"] for r in server.requests]
        return [r["seed"] for _, r in sorted(zip(last, server.requests), key=lambda x: x[0])]

    first = seeds(run_seed=7)
    assert seeds(run_seed=7) == first  # a rerun sends the same seeds: a sampled user replays
    assert len(set(first)) == 3  # a group asking the same thing still gets distinct samples
    assert seeds(run_seed=8) != first
    assert seeds(run_seed=8, seed=7) == first  # simulator.seed overrides the run's
    server.close()


def test_token_limit_field_falls_back_for_servers_that_reject_it():
    server = LoopbackServer()
    server.reject_field = "max_completion_tokens"
    s = sim(server.base_url, max_tokens=9, max_concurrency=1)
    assert s.reply_batch([q("a"), q("b")]) == ["I am not sure."] * 2
    assert [("max_tokens" in r, r.get("max_completion_tokens")) for r in server.requests] == [
        (False, 9),
        (True, None),
        (True, None),
    ]
    assert server.requests[-1]["max_tokens"] == 9
    assert (s.stats["errors"], s.token_field) == (0, "max_tokens")
    s.close()
    server.close()


def test_a_failed_run_leaves_no_empty_cache_file(closed_port, tmp_path):
    s = sim(closed_port, cache=True, run_dir=str(tmp_path), max_retries=0, connect_grace_s=0.0)
    with pytest.raises(FatalSimulatorError):
        s.reply_batch([q("a")])
    s.close()
    assert list(tmp_path.iterdir()) == []
    cache = ReplyCache(tmp_path / "c.sqlite")
    assert cache.get("k") is None and len(cache) == 0 and not (tmp_path / "c.sqlite").exists()
    cache.put("k", "v", model="m", request="{}")
    cache.close()
    assert ReplyCache(tmp_path / "c.sqlite").get("k") == "v"


# ---- messages that alternate ----------------------------------------------------------------------
STRICT_TEMPLATE = (
    "{% if messages[0]['role'] == 'system' %}{% set msgs = messages[1:] %}"
    "{% else %}{% set msgs = messages %}{% endif %}"
    "{% for m in msgs %}"
    "{% if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{% endif %}[{{ m['role'] }}]{{ m['content'] }}{% endfor %}"
)


def render_strict(messages: list[dict]) -> str:
    import jinja2

    def raise_exception(message: str):
        raise jinja2.exceptions.TemplateError(message)

    env = jinja2.Environment()
    env.globals["raise_exception"] = raise_exception
    return env.from_string(STRICT_TEMPLATE).render(messages=messages)


@pytest.mark.parametrize(
    "roles",
    [
        ["agent"],
        ["user", "agent"],  # the simulated user opened (tau2's customer speaks first)
        ["user", "agent", "user", "agent"],
        ["agent", "agent", "user", "user", "agent"],  # two turns of one side in a row
    ],
)
def test_messages_always_alternate_under_a_strict_template(roles):
    conversation = [{"role": r, "content": f"{r}{i}"} for i, r in enumerate(roles)]
    messages = chat_messages(UserQuery(instructions="Be Ann.", conversation=conversation))
    text = render_strict(messages)  # raises on two roles in a row
    assert all(m["content"] in text for m in conversation)  # nothing dropped
    assert messages[-1]["role"] == "user"
    with pytest.raises(Exception, match="Conversation roles must alternate"):
        render_strict([{"role": "system", "content": "s"}, {"role": "assistant", "content": "hi"}])


def test_a_user_opened_conversation_gets_a_neutral_opening_turn():
    conversation = [{"role": "user", "content": "Hi, my order is late."}]
    conversation.append({"role": "agent", "content": "Which order?"})
    messages = chat_messages(UserQuery(instructions="Be Ann.", conversation=conversation))
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[1]["content"] == OPENING_TURN


# ---- summaries ---------------------------------------------------------------------------------
def _result(successes: list[bool], excluded: int) -> dict:
    return {
        "id": "t",
        "rewards": [float(s) for s in successes],
        "successes": successes,
        "turns": [2] * len(successes),
        "excluded": excluded,
    }


def test_no_scored_episodes_is_said_never_a_ci():
    agg = aggregate([_result([], 1), _result([], 1)], k=1)
    assert summary_line(agg) == f"no scored episodes | 2 of 2 {EXCLUDED}"
    assert agg["success_ci95"] is None and agg["success_with_failures"] == 0.0


def test_success_is_reported_over_scored_and_with_failures_counted():
    agg = aggregate(
        [_result([True], 0), _result([True], 0), _result([], 1), _result([False], 0)], 1
    )
    assert agg["success"] == pytest.approx(2 / 3)
    assert agg["success_with_failures"] == pytest.approx(2 / 4)
    line = summary_line(agg)
    assert "success 0.667 (95% CI" in line and "0.500 with failures counted" in line
    assert line.endswith(f"3 tasks | 1 of 4 {EXCLUDED}")
    clean = summary_line(aggregate([_result([True], 0)], 1))
    assert EXCLUDED not in clean and "with failures counted" not in clean


# ---- training ----------------------------------------------------------------------------------
def test_train_accounts_every_call_where_it_happened_and_counts_truncation(tmp_path):
    from hydra import compose, initialize_config_dir

    from infopo_cli.config import CONF_DIR
    from infopo_cli.recipes import train

    server = LoopbackServer(mode="length")
    overrides = [
        "model=tiny",
        "logger=none",
        "simulator=openai",
        f"simulator.base_url={server.base_url}",
        "simulator.model=fake",
        "simulator.cache=false",
        "trainer.steps=2",
        "trainer.prompts_per_step=2",
        "trainer.group_size=2",
        "trainer.eval_tasks=2",
        "engine.max_new_tokens=8",
        "task.max_turns=2",
    ]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    train.train_main(cfg, tmp_path)
    server.close()
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in rows if "eval/success" in r]
    steps = [r for r in rows if "train/success" in r]
    assert [r["step"] for r in evals] == [0, 2] and [r["step"] for r in steps] == [1, 2]
    assert all(r["eval/simulator/calls"] > 0 for r in evals)
    assert all(r["simulator/calls"] > 0 for r in steps)
    # every request the server saw is logged once, in the row of the phase that made it
    logged = sum(r["eval/simulator/calls"] for r in evals) + sum(
        r["simulator/calls"] for r in steps
    )
    assert logged == len(server.requests)
    assert all(r["simulator/truncated"] == r["simulator/calls"] for r in steps)
    assert all(r["eval/simulator/truncated"] == r["eval/simulator/calls"] for r in evals)


# ---- a real vLLM server (the CPU build where installed) ----------------------------------------
def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _served_requests(url: str) -> float:
    """vLLM's count of finished requests, from its Prometheus endpoint (0 when unreadable)."""
    import urllib.request

    try:
        text = urllib.request.urlopen(url + "/metrics", timeout=2).read().decode()
    except OSError:
        return 0.0
    return sum(
        float(x.rsplit(" ", 1)[1])
        for x in text.splitlines()
        if x.startswith("vllm:request_success_total")
    )


@pytest.fixture
def vllm_server():
    """``python -m vllm.entrypoints.openai.api_server`` (the command that works with the CPU build)
    serving the tiny model; skipped when vLLM is missing or the server is not up within 3 minutes."""
    import importlib.util
    import os
    import time
    import urllib.request

    from infopo_cli.zoo.tiny import tiny_path

    if importlib.util.find_spec("vllm") is None:
        pytest.skip("vllm is not installed")
    port = _free_port()
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server"]
    cmd += ["--model", str(tiny_path()), "--served-model-name", "tiny", "--port", str(port)]
    cmd += ["--max-model-len", "1024", "--enforce-eager", "--gpu-memory-utilization", "0.1"]
    env = {**os.environ, "VLLM_CPU_OMP_THREADS_BIND": "nobind"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            urllib.request.urlopen(url + "/v1/models", timeout=2)
            break
        except OSError:
            time.sleep(1)
    else:
        proc.kill()
        proc.wait()
        pytest.skip("the vLLM server did not start within 3 minutes")
    yield proc, url
    if proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=60)


@pytest.mark.slow
@pytest.mark.vllm
def test_real_vllm_server_wrong_port_and_death_mid_evaluation(vllm_server, tmp_path):
    proc, url = vllm_server
    common = ["eval.num_tasks=12", "simulator.model=tiny", "simulator.max_tokens=16"]
    healthy = oracle_eval(url + "/v1", tmp_path / "ok", "eval.num_tasks=2", *common[1:])
    assert healthy.returncode == 0, healthy.stderr[-2000:]
    wrong = f"http://127.0.0.1:{_free_port()}/v1"  # the server is up, on another port
    proc_wrong = oracle_eval(wrong, tmp_path / "wrong", *common)
    assert proc_wrong.returncode == 1
    (line,) = error_lines(proc_wrong)
    assert "connection refused" in line and "check simulator.base_url" in line

    served = _served_requests(url)

    def kill_after_four_more() -> None:
        while _served_requests(url) < served + 4 and proc.poll() is None:
            pass
        proc.kill()

    killer = threading.Thread(target=kill_after_four_more, daemon=True)
    killer.start()
    dead = oracle_eval(url + "/v1", tmp_path / "dead", *common)
    killer.join(timeout=60)
    assert dead.returncode == 1, dead.stderr[-2000:]
    agg = json.loads((tmp_path / "dead" / "eval.json").read_text())["aggregate"]
    n = agg["n_excluded_trials"]
    assert n > 0 and agg["n_episodes"] == 12
    assert f"{n} of 12 {EXCLUDED}" in " ".join(dead.stdout.split())
    (line,) = error_lines(dead)
    assert line.startswith(f"error: simulator: {n} of 12 {EXCLUDED}")


@pytest.mark.parametrize(
    "override, message",
    [
        ("simulator.max_failure_rate=1.5", "simulator.max_failure_rate=1.5 is not valid"),
        ("simulator.max_failed_steps=0", "simulator.max_failed_steps=0 is not valid"),
        ("simulator.connect_grace_s=-1", "simulator.connect_grace_s=-1 is not valid"),
        ("simulator.on_truncated=drop", "simulator.on_truncated must be one of keep, retry"),
    ],
)
def test_bad_guard_values_are_one_line_config_errors(override, message):
    from hydra import compose, initialize_config_dir

    from infopo_cli.config import CONF_DIR, validate
    from infopo_cli.errors import ConfigError
    from infopo_cli.recipes.setup import build_simulator

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="eval", overrides=["simulator=openai", override])
    with pytest.raises(ConfigError, match=message) as err:
        validate(cfg)
        build_simulator(cfg, None)
    assert "\n" not in str(err.value)
