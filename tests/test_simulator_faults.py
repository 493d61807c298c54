"""Fault injection: 30% of user-simulator calls fail for good during a real training run."""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hydra import compose, initialize_config_dir

from infopo_cli.config import CONF_DIR


class FlakyUser(BaseHTTPRequestHandler):
    """Chat-completions endpoint; a request fails with 500 whenever its content hashes into the
    bottom 30%, so retries cannot rescue it (permanent failure)."""

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        messages = json.loads(body)["messages"]
        h = int(hashlib.sha1(json.dumps(messages).encode()).hexdigest(), 16) % 100
        if h < 30:
            self.send_response(500)
            self.end_headers()
            return
        out = json.dumps(
            {
                "choices": [{"message": {"role": "assistant", "content": "I am not sure."}}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 4},
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *a):
        pass


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), FlakyUser)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/v1"
    srv.shutdown()


def test_failed_trajectories_are_excluded_and_counted(server, tmp_path, monkeypatch):
    from infopo_cli.core.update import PolicyTrainer
    from infopo_cli.recipes import train

    seen = []
    real_update = PolicyTrainer.update

    def spy(self, tensors, adv, old_lp, *args, **kw):
        seen.append(tensors["input_ids"].shape[0])
        return real_update(self, tensors, adv, old_lp, *args, **kw)

    monkeypatch.setattr(PolicyTrainer, "update", spy)
    overrides = [
        "model=tiny",
        "logger=none",
        "simulator=openai",
        f"simulator.base_url={server}",
        "simulator.model=fake",
        "simulator.max_retries=0",
        "simulator.cache=false",
        "simulator.max_failure_rate=1.0",  # this test is about exclusion, not the failure budget
        "trainer.steps=2",
        "trainer.prompts_per_step=4",
        "trainer.group_size=3",
        "trainer.eval_tasks=0",
        "engine.max_new_tokens=8",
        "task.max_turns=3",
    ]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    train.train_main(cfg, tmp_path)
    rows = [
        json.loads(x)
        for x in (tmp_path / "metrics.jsonl").read_text().splitlines()
        if "train/success" in x
    ]
    excluded = [r["simulator/excluded"] for r in rows]
    assert sum(excluded) > 0 and all(r["simulator/errors"] >= r["simulator/excluded"] for r in rows)
    # the update saw exactly the trajectories that were not excluded, and none of them failed
    assert seen == [12 - e for e in excluded]
    for step in (1, 2):
        recs = [
            json.loads(x)
            for x in (tmp_path / "rollouts" / f"step_{step:04d}.jsonl").read_text().splitlines()
        ]
        assert len(recs) == 12 - excluded[step - 1] and not any(r["failed"] for r in recs)


def test_steps_over_the_failure_budget_are_skipped_then_the_run_stops(
    server, tmp_path, monkeypatch
):
    """30% of requests fail for good: every step loses more than simulator.max_failure_rate of its
    episodes, so no update runs on the survivors and the run stops after max_failed_steps."""
    from infopo_cli.core.update import PolicyTrainer
    from infopo_cli.recipes import train
    from infopo_cli.simulators.base import FatalSimulatorError

    updates = []
    monkeypatch.setattr(PolicyTrainer, "update", lambda self, *a, **k: updates.append(1) or {})
    overrides = [
        "model=tiny",
        "logger=none",
        "simulator=openai",
        f"simulator.base_url={server}",
        "simulator.model=fake",
        "simulator.max_retries=0",
        "simulator.cache=false",
        "simulator.max_failed_steps=2",
        "trainer.steps=5",
        "trainer.prompts_per_step=4",
        "trainer.group_size=3",
        "trainer.eval_tasks=0",
        "engine.max_new_tokens=8",
        "task.max_turns=3",
    ]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    with pytest.raises(FatalSimulatorError) as err:
        train.train_main(cfg, tmp_path)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("step 2: ")
    assert "episodes excluded (simulator failures), above simulator.max_failure_rate=0.1" in msg
    assert "2 steps in a row over the budget (simulator.max_failed_steps=2): stopping" in msg
    assert updates == []
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r.get("train/skipped")] == [1, 2]
    assert all(r["simulator/excluded"] > 0.1 * r["simulator/episodes"] for r in rows)
    assert not any("train/success" in r for r in rows)  # a skipped step is no training result
