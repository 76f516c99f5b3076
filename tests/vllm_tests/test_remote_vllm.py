"""The remote backend (the s1 loop) against vLLM's OpenAI server without the plugin."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.register_assert_rewrite("remote_checks")
from remote_checks import check_budgets, check_shaping  # noqa: E402


def test_budgets_hold_against_plain_vllm(plain_server):
    check_budgets(plain_server)


def test_prefix_and_no_thinking_against_plain_vllm(plain_server):
    check_shaping(plain_server)


def test_sweep_with_eight_in_flight_against_vllm(plain_server, tmp_path):
    out = tmp_path / "sweep"
    run = subprocess.run(
        [sys.executable, "-m", "ponder.cli", "sweep", "--endpoint", plain_server, "--model", "smollm2",
         "--task", "addition", "--n", "4", "--policy", "budget,cap,no_thinking", "--budgets", "0,16",
         "--format", "s1", "--concurrency", "8", "--no-progress", "--out", str(out)],
        capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    rows = [json.loads(line) for line in (out / "rows.jsonl").read_text().splitlines()]
    assert len(rows) == 4 * 5 and all(r["within_budget"] for r in rows)
    assert (out / "accuracy.png").exists()


def test_a_sweep_through_the_plugin_runs_every_policy_in_the_engine(plugin_server, tmp_path):
    out = tmp_path / "sweep"
    run = subprocess.run(
        [sys.executable, "-m", "ponder.cli", "sweep", "--endpoint", plugin_server, "--model", "smollm2",
         "--task", "addition", "--n", "3", "--policy", "budget,cap,entropy_pause,filler,no_thinking",
         "--budgets", "0,16", "--format", "s1", "--concurrency", "8", "--no-progress", "--out", str(out)],
        capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    rows = [json.loads(line) for line in (out / "rows.jsonl").read_text().splitlines()]
    assert len(rows) == 3 * 9
    for r in rows:
        if r["policy"] in ("budget", "filler"):
            assert r["thinking_tokens"] == r["budget"], r
        elif r["policy"] in ("cap", "entropy_pause"):
            assert r["thinking_tokens"] <= r["budget"], r
        else:
            assert r["thinking_tokens"] == 0
    assert all(r["thinking"] == "." * 16 for r in rows if r["setting"] == "filler@16")


def test_through_the_plugin_only_forced_waits_are_counted(plugin_server):
    """The model's own copies of the wait string are its likeliest tokens; the forced ones are not."""
    import ponder
    from ponder import Budget
    from ponder.remote import ChatML, client_for
    from ponder.remote.steered import generate_steered

    fmt = ponder.FORMATS["s1"]
    prompt = ponder.build_prompt(ChatML(), "Repeat after me: 12 12 12 12 12 12 12 12", fmt)
    result = generate_steered(prompt, client_for(plugin_server, "smollm2"), [Budget(min_tokens=30, wait=["12"])],
                              fmt, 60, {"temperature": 0.0})
    assert result.usage.thinking_tokens >= 30 and result.waits >= 1  # SmolLM2 ends s1's thinking at once
    assert result.thinking.count("12") > result.waits, result.thinking  # and repeats 12 on its own
