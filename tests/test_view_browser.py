"""The credit page of a 2-step tiny run, opened in headless Chromium (Playwright driving the system's
browser): every conversation is there, shades follow the JSONL, filters hide and show groups, and
the page logs no errors."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from infopo_cli.runtime.logging import read_jsonl
from infopo_cli.runtime.view import COLORS, MAX_ALPHA
from tests.test_train_e2e import SMALL, infopo


def browser_path() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return None
    return shutil.which("chromium") or shutil.which("chromium-browser")


if browser_path() is None:  # one line for the module, not one per test
    pytest.skip(
        "no headless browser: needs the playwright package and a chromium executable",
        allow_module_level=True,
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("view") / "run"
    p = infopo("train", *SMALL, "trainer.steps=2", f"hydra.run.dir={run}")
    assert str(run / "view.html") in p.stdout.replace("\n", "")  # train names the page at the end
    return run


@pytest.fixture(scope="module")
def page(run):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=browser_path(), args=["--no-sandbox"])
        pg = browser.new_page(viewport={"width": 1400, "height": 900})
        errors: list[str] = []
        pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.goto((run / "view.html").resolve().as_uri())
        pg.wait_for_selector("section.group")
        pg.errors = errors
        yield pg
        browser.close()


def records(run: Path, step: int) -> list[dict]:
    return read_jsonl(run / "rollouts" / f"step_{step:04d}.jsonl")


def expected_shade(v: float, scale: float) -> tuple[tuple[int, ...], float]:
    rgb = COLORS["ig_pos" if v >= 0 else "ig_neg"]
    return tuple(rgb), MAX_ALPHA * min(1.0, abs(v) / scale) if scale > 0 else 0.0


def parse_rgba(css: str) -> tuple[tuple[int, ...], float]:
    nums = [float(x) for x in re.findall(r"[\d.]+", css)]
    return tuple(int(x) for x in nums[:3]), nums[3] if len(nums) > 3 else 1.0


def test_every_conversation_of_the_step_is_present(run, page):
    page.select_option("#f-step", "2")
    for task_id in {r["task_id"] for r in records(run, 2)}:
        want = [r for r in records(run, 2) if r["task_id"] == task_id]
        box = page.locator(f'section.group[data-step="2"][data-task="{task_id}"]')
        assert box.is_visible()
        cards = box.locator(".rollout")
        assert cards.count() == len(want)
        for i, r in enumerate(want):
            actions = cards.nth(i).locator(".action .text").all_text_contents()
            replies = cards.nth(i).locator(".reply .text").all_text_contents()
            assert actions == [t["action"] for t in r["turns"]]
            assert replies == [t.get("feedback") or "(no reply)" for t in r["turns"]]
    assert page.locator('section.group[data-step="1"]:visible').count() == 0
    page.select_option("#f-step", "")


def test_reply_shading_follows_the_turns_information_gain(run, page):
    all_turns = [t for s in (1, 2) for r in records(run, s) for t in r["turns"]]
    scale = max(abs(t["ig"]) for t in all_turns)
    turns = page.locator('section.group[data-step="2"] li.turn')
    want = [t for r in records(run, 2) for t in r["turns"]]
    assert turns.count() == len(want) > 0
    shades = turns.evaluate_all(
        "els => els.map(e => [e.dataset.ig, getComputedStyle(e.querySelector('.reply')).backgroundColor])"
    )
    # page order: groups in first-seen order, rollouts in record order
    by_group: dict[str, list[dict]] = {}
    for r in records(run, 2):
        by_group.setdefault(r["task_id"], []).append(r)
    ordered = [t for rs in by_group.values() for r in rs for t in r["turns"]]
    for (ig_attr, css), turn in zip(shades, ordered):
        assert float(ig_attr) == pytest.approx(turn["ig"], rel=1e-9, abs=1e-12)
        rgb, alpha = parse_rgba(css)
        want_rgb, want_alpha = expected_shade(turn["ig"], scale)
        assert alpha == pytest.approx(want_alpha, abs=0.006), (css, turn["ig"], scale)
        if want_alpha > 0.01:
            assert rgb == want_rgb


def test_filters_hide_and_show_groups(run, page):
    groups = page.locator("section.group")
    total = groups.count()
    assert total == len({r["task_id"] for r in records(run, 1)}) + len(
        {r["task_id"] for r in records(run, 2)}
    )
    task_id = records(run, 2)[0]["task_id"]
    page.select_option("#f-task", task_id)
    visible = page.locator("section.group:visible")
    assert 0 < visible.count() < total
    assert set(visible.evaluate_all("els => els.map(e => e.dataset.task)")) == {task_id}
    page.select_option("#f-task", "")
    assert page.locator("section.group:visible").count() == total
    page.check("#f-tied")
    tied = page.locator("section.group:visible").evaluate_all("els => els.map(e => e.dataset.tied)")
    assert set(tied) <= {"true"}
    page.uncheck("#f-tied")
    assert page.locator("section.group:visible").count() == total


def test_turn_position_chart_is_the_mean_ig_by_turn(run, page):
    sums: dict[int, list[float]] = {}
    for s in (1, 2):
        for r in records(run, s):
            for i, t in enumerate(r["turns"]):
                sums.setdefault(i, []).append(t["ig"])
    bars = page.locator("#summary rect.bar").evaluate_all(
        "els => els.map(e => [Number(e.dataset.turn), Number(e.dataset.mean)])"
    )
    assert [i for i, _ in bars] == sorted(sums)
    for i, mean in bars:
        assert mean == pytest.approx(sum(sums[i]) / len(sums[i]), abs=1e-12)


def test_page_logs_no_errors(page):
    assert page.errors == []
