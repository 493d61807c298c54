"""task=usergym as configured from Hydra: gym selection, mixtures, held-out evaluation gyms,
config errors, and the FunctionGym oracle on every shared test task."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from infopo_cli.errors import ConfigError
from infopo_cli.tasks.usergym import UserGymTask

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "usergym"
CONF = Path(__file__).resolve().parents[1] / "infopo_cli" / "conf"
pytestmark = pytest.mark.skipif(
    not DATA.is_dir(), reason=f"shared UserGym data not found at {DATA}"
)


def compose(*overrides: str):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        return hydra_compose(
            config_name=None, overrides=["+task=usergym", f"task.data_dir={DATA}", *overrides]
        )


def test_hydra_mixture_override_instantiates() -> None:
    from hydra.utils import instantiate

    cfg = compose(
        "task.context_len=2048",
        "task.gym=mix",
        "task.mixture={function: 1, intention: 1}",
        "task.eval_gyms=[persuasion]",
    )
    task = instantiate(cfg.task)
    assert isinstance(task, UserGymTask) and task.max_turns == 16 and task.name == "usergym"
    assert task.prompt == "compact" and task.data_dir == DATA.resolve()
    assert task.gym_weights("train") == {"function": 1.0, "intention": 1.0}
    assert task.gym_weights("test") == {"persuasion": 1.0}
    assert Counter(i.hidden["gym"] for i in task.instances("train")) == {
        "function": 460,
        "intention": 380,
    }
    assert {i.hidden["gym"] for i in task.instances("test")} == {"persuasion"}


def test_default_data_dir_env_var_then_fetched_copy(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("INFOPO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("INFOPO_USERGYM_DATA", str(DATA))
    assert UserGymTask(gym="function").data_dir == DATA.resolve()
    monkeypatch.delenv("INFOPO_USERGYM_DATA")
    # nothing beside the checkout is looked at: without a fetched copy, the error names the fetch
    with pytest.raises(ConfigError, match=r"run `infopo data fetch usergym`"):
        UserGymTask(gym="function")
    (tmp_path / "cache" / "data").mkdir(parents=True)
    (tmp_path / "cache" / "data" / "usergym").symlink_to(DATA)
    assert UserGymTask(gym="function").data_dir == DATA.resolve()
    monkeypatch.setenv("INFOPO_USERGYM_DATA", "nowhere")  # set but wrong: reported, not skipped
    with pytest.raises(ConfigError, match=r"\$INFOPO_USERGYM_DATA=nowhere is not a UserGym"):
        UserGymTask(gym="function")


def test_mixture_sampling_follows_the_weights() -> None:
    task = UserGymTask(gym="mix", mixture={"function": 3, "telepathy": 1}, data_dir=str(DATA))
    draws = task.sample("train", 4000, random.Random(0))
    share = sum(i.hidden["gym"] == "function" for i in draws) / len(draws)
    assert abs(share - 0.75) < 0.03
    assert (
        len({i.id for i in draws if i.hidden["gym"] == "telepathy"}) > 300
    )  # uniform within a gym
    assert [i.id for i in task.sample("train", 5, random.Random(7))] == [
        i.id for i in task.sample("train", 5, random.Random(7))
    ]
    same = UserGymTask(gym=["function", "telepathy"], data_dir=str(DATA))
    assert same.gym_weights("train") == {"function": 1.0, "telepathy": 1.0}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_turns": 0}, "task.max_turns must be an integer >= 1"),
        (
            {"gym": "chess"},
            "task.gym: unknown gym 'chess'; gyms in task.data_dir: function, intention",
        ),
        ({"gym": "mix"}, "task.gym=mix needs task.mixture"),
        ({"gym": "function", "mixture": {"tau": 1}}, "use task.gym=mix to mix gyms"),
        ({"gym": "mix", "mixture": {"tau": 0}}, "the weight of 'tau' must be a number > 0"),
        ({"gym": "mix", "mixture": 5}, "task.mixture must be a gym name, a list of gyms"),
        ({"eval_gyms": ["tau"], "split": "train"}, "task.eval_gyms needs task.split to differ"),
        ({"feedback_role": "system"}, "task.feedback_role must be one of tool, user"),
        ({"split": ""}, "task.split must be a split name"),
        (
            {"data_dir": "/nonexistent/usergym"},
            "task.data_dir: /nonexistent/usergym is not a UserGym data folder",
        ),
    ],
)
def test_config_errors_are_one_clear_line(kwargs: dict, message: str) -> None:
    args = {"data_dir": str(DATA), **kwargs}
    with pytest.raises(ConfigError) as err:
        UserGymTask(**args)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_search_folder_is_reported_as_unsupported() -> None:
    task = UserGymTask(gym="search", data_dir=str(DATA))  # the folder exists (test split only)
    with pytest.raises(
        ConfigError, match=r"test.jsonl:1: SearchGym is not supported: it needs live web search"
    ):
        task.instances("test")


def test_function_oracle_full_reward_on_every_test_task() -> None:
    task = UserGymTask(gym="function", data_dir=str(DATA))
    for inst in task.instances("test"):
        env = task.make_env(inst)
        while not env.done:
            res = env.step(task.oracle_action(env))
            assert res.query is None  # rule-based: no simulator
        assert env.outcome() == 1.0 and env.success() and env.turn == 2, inst.id


def test_compact_prompt_for_small_context_windows() -> None:
    full = UserGymTask(gym="telepathy", data_dir=str(DATA), context_len=None).instances("test")[0]
    auto_small = UserGymTask(gym="telepathy", data_dir=str(DATA), context_len=1024).instances(
        "test"
    )[0]
    auto_big = UserGymTask(gym="telepathy", data_dir=str(DATA), context_len=8192).instances("test")[
        0
    ]
    assert full.messages == auto_big.messages and len(full.messages[0]["content"]) > 2000
    system = auto_small.messages[0]["content"]
    assert system.startswith("The user thinks of an entity") and len(system) < 400
    assert '"choice": "action"' in system and auto_small.messages[1] == full.messages[1]
    with pytest.raises(ConfigError, match="task.prompt must be one of auto, full, compact"):
        UserGymTask(gym="telepathy", data_dir=str(DATA), prompt="tiny")
    with pytest.raises(ConfigError, match="task.context_len must be a positive integer or null"):
        UserGymTask(gym="telepathy", data_dir=str(DATA), context_len=0)
