"""The playground at ``/`` in a real browser (Debian's chromium driven by playwright)."""

from __future__ import annotations

import os
import re

import pytest

pytest.register_assert_rewrite("serving")

pytest_plugins = ["serving"]

from browser import chromium  # noqa: E402

SCREENSHOT = "/tmp/playground.png"


@pytest.fixture(scope="module")
def page():
    with chromium() as browser:
        yield browser.new_page(viewport={"width": 1280, "height": 900})


def set_slider(page, selector: str, value: int) -> None:
    page.eval_on_selector(selector, "(el, v) => { el.value = v; el.dispatchEvent(new Event('input')); }", value)


def ask(up, page, question: str, low: int, high: int, max_tokens: int, prefix: str) -> None:
    """Open the playground, set the question and the budget, and press Ask."""
    page.goto(up.url + "/")
    assert page.title() == "ponder playground"
    page.wait_for_function("document.getElementById('model').textContent.includes('SmolLM2')")
    page.fill("#question", question)
    set_slider(page, "#max-tokens", max_tokens)
    set_slider(page, "#max", high)
    set_slider(page, "#min", low)
    page.fill("#prefix", prefix)
    page.click("#go")


def test_the_playground_streams_an_answer_within_its_budget(up, page):
    ask(up, page, "A farmer has 3 pens with 4 sheep in each pen. How many sheep are there?", 16, 24, 64, "Ok, so")
    # counters tick while it streams; the exact usage replaces them at the end
    page.wait_for_function("document.getElementById('answer').textContent.length > 0", timeout=120_000)
    page.wait_for_function("document.getElementById('status').textContent.includes('completion tokens')",
                           timeout=120_000)
    thinking = page.inner_text("#thinking")
    answer = page.inner_text("#answer")
    count = int(re.match(r"(\d+) tokens", page.inner_text("#thinking-count")).group(1))
    assert thinking.startswith("Ok, so") and answer.startswith("Final Answer:")
    assert 16 <= count <= 24, page.inner_text("#thinking-count")
    assert "capped" in page.inner_text("#status") and "cost $" in page.inner_text("#status")
    # the live view lists the request, with its tokens by phase
    page.wait_for_function("document.querySelector('#requests td.st-done') !== null", timeout=10_000)
    row = page.inner_text("#requests tr:first-child")
    assert "budget 16-24 + prefix" in row and "done" in row and str(count) in row
    page.screenshot(path=SCREENSHOT, full_page=True)
    assert os.path.getsize(SCREENSHOT) > 10_000


def test_the_playground_reports_a_refused_request(up, page):
    page.goto(up.url + "/")
    page.wait_for_function("document.getElementById('model').textContent.includes('SmolLM2')")
    page.eval_on_selector("#max-tokens", "el => { el.max = 100000; el.value = 5000; }")
    page.click("#go")
    page.wait_for_function("document.getElementById('status').classList.contains('error')", timeout=30_000)
    assert "above this server's limit" in page.inner_text("#status")


def test_stop_thinking_ends_the_thinking_and_the_answer_follows(up, page):
    ask(up, page, "Explain why the sky is blue.", 300, 400, 512, "")
    page.wait_for_function("!document.getElementById('stop-thinking').disabled && "
                           "document.getElementById('thinking').textContent.length > 20", timeout=120_000)
    page.click("#stop-thinking")
    page.wait_for_function("document.getElementById('status').textContent.includes('completion tokens')",
                           timeout=120_000)
    count = int(re.match(r"(\d+) tokens", page.inner_text("#thinking-count")).group(1))
    assert count < 300 and page.inner_text("#answer").startswith("Final Answer:")
    assert page.is_disabled("#stop-thinking")
