"""Budgets relative to the prompt and the context ("0.5p+256", "25%ctx"): one grammar, every surface."""

from __future__ import annotations

import json
import subprocess
import sys

import openai
import pytest

import ponder
from ponder import Budget, PonderError, TurnBudget
from ponder.policies.relative import evaluate

pytest.register_assert_rewrite("serving")
from serving import chat  # noqa: E402

pytest_plugins = ["serving"]


def test_the_grammar():
    assert evaluate("0.5p+256", 100, None) == 306 and evaluate("25%ctx", 7, 4096) == 1024
    assert evaluate("50%p-32", 100, None) == 18 and evaluate("10p-5000", 10, None) == 0 and evaluate("64", 3, 9) == 64
    assert evaluate(" 0.5p + 1 ", 3, None) == 2  # rounded down
    for bad, message in [("0.5", "needs a unit"), ("25%", "needs a unit"), ("1p 2", "does not parse"),
                         ("half", "does not parse"), ("0.5p+", "does not parse"), ("", "empty")]:
        with pytest.raises(PonderError, match=message) as caught:
            Budget(max_tokens=bad)
        assert "0.5p+256, 25%ctx" in str(caught.value)  # the refusal shows the grammar
    with pytest.raises(PonderError, match="context, which is unknown"):
        evaluate("25%ctx", 5, None)


def test_a_relative_budget_is_worked_out_from_the_prompt(llama):
    result = ponder.generate("What is 12 + 30?", llama, Budget(min_tokens="0.5p", max_tokens="0.5p"), max_tokens=200)
    assert result.usage.thinking_tokens == result.usage.prompt_tokens // 2
    context = ponder.generate("Hi", llama, Budget(min_tokens="1%ctx", max_tokens="1%ctx"), max_tokens=80)
    assert context.usage.thinking_tokens == llama.n_ctx // 100
    with pytest.raises(PonderError, match=r"above max_tokens .*for a prompt of \d+ tokens"):
        ponder.generate("Hi", llama, Budget(min_tokens="2p", max_tokens="1p"))
    with pytest.raises(PonderError, match="turn budget"):
        ponder.generate([{"role": "user", "content": "Hi"}], llama, Budget(max_tokens="1p"), turn=TurnBudget(50))
    many = dict(ponder.generate_many([dict(prompt=q, thinking=Budget(min_tokens="0.25p", max_tokens="0.25p"),
                                           max_tokens=120) for q in ("Hi", "What is 12 + 30, and why?")], model=llama))
    assert all(r.usage.thinking_tokens == r.usage.prompt_tokens // 4 for r in many.values())


def test_the_server_and_the_remote_loop_take_relative_budgets(up):
    reply = chat(up, {"min_tokens": "0.5p", "max_tokens": "0.5p"}, max_tokens=200)
    assert reply.usage.completion_tokens_details.reasoning_tokens == reply.usage.prompt_tokens // 2
    with pytest.raises(openai.BadRequestError, match="does not parse"):
        chat(up, {"max_tokens": "half"})
    with pytest.raises(openai.BadRequestError, match="turn budget counts tokens across the turn"):
        chat(up, {"max_tokens": "0.5p", "turn_max_tokens": 50})
    remote = ponder.generate("What is 12 + 30?", endpoint=up.api, format="s1", max_tokens=160,
                             thinking=Budget(min_tokens="0.5p", max_tokens="0.5p"))
    assert abs(remote.usage.thinking_tokens - remote.usage.prompt_tokens // 2) <= 2  # the prompt counted by /tokenize
    with pytest.raises(PonderError, match="context, which is unknown"):
        ponder.generate("Hi", endpoint=up.api, format="s1", thinking=Budget(max_tokens="25%ctx"))


def test_the_command_line_takes_and_refuses_relative_budgets():
    def ponder_cli(*args):
        return subprocess.run([sys.executable, "-m", "ponder.cli", "generate", "What is 12 + 30?", *args],
                              capture_output=True, text=True, timeout=600)
    run = ponder_cli("--min-think", "0.5p", "--max-think", "0.5p", "--json")
    assert run.returncode == 0, run.stderr
    usage = json.loads(run.stdout)["usage"]
    assert usage["thinking_tokens"] == usage["prompt_tokens"] // 2
    run = ponder_cli("--max-think", "0.5q")
    assert run.returncode == 2 and "relative budget '0.5q'" in run.stderr and "0.5p+256, 25%ctx" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
