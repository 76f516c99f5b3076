"""The ``ponder`` command as a user runs it: real model, real process, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

PONDER = [sys.executable, "-m", "ponder.cli"]


def ponder(*args, timeout=300):
    return subprocess.run([*PONDER, *args], capture_output=True, text=True, timeout=timeout)


def test_generate_json_honours_the_budget():
    run = ponder("generate", "What is 12 + 30?", "--min-think", "30", "--max-think", "50", "--json")
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert 30 <= result["usage"]["thinking_tokens"] <= 50
    assert result["waits"] >= 1 and "Wait" in result["thinking"]
    assert result["answer"].strip()


def test_generate_streams_thinking_then_answer_then_usage():
    run = ponder("generate", "What is 12 + 30?", "--max-think", "16", "--prefix", "Ok, so")
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert out.index("── thinking ──") < out.index("Ok, so") < out.index("── answer ──") < out.index("Final Answer:")
    assert "thinking 16 tokens" in out and "capped: yes" in out


@pytest.mark.parametrize("args, message", [
    (["--min-think", "50", "--max-think", "10"], "lower the minimum or raise the maximum"),
    (["--max-think", "-3"], "max_tokens must be >= 0"),
    (["--model", "/no/such/model.gguf"], "does not exist"),
    (["--model", __file__], "is not a GGUF model file"),
    (["--model", os.path.dirname(__file__)], "folder without config.json"),
    (["--format", "xml"], "unknown think format"),
    (["--no-think", "--min-think", "5"], "thinking is off (--no-think), so --min-think cannot apply"),
    (["--prefix", ""], "prefix text must be a non-empty string"),
    (["--temperature", "-1"], "temperature must be >= 0"),
    (["--filler", "0"], "filler count must be >= 1"),
    (["--n-ctx", "64"], "shorten the prompt"),
    (["--max-tokens", "0"], "max_tokens must be >= 1"),
    (["--soft-close", "8"], "--soft-close softens the cap: give --max-think too"),
    (["--max-think", "8", "--soft-close", "-1"], "soft_close must be a whole number of tokens >= 0"),
    (["--max-think", "8", "--close-at", "line"], "--close-at sets up --soft-close: add --soft-close"),
])
def test_bad_input_exits_2_with_a_clear_message(args, message):
    run = ponder("generate", "What is 12 + 30? " * 3, *args)
    assert run.returncode == 2
    assert message in run.stderr
    assert "Traceback" not in run.stderr


def test_unknown_option_exits_2():
    run = ponder("generate", "hi", "--think-harder")
    assert run.returncode == 2 and "unrecognized arguments" in run.stderr and "Traceback" not in run.stderr
