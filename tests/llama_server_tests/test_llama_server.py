"""The remote backend (the s1 loop) against llama.cpp's own server, built from the sources ponder runs.

llama-server counts tokens at ``/tokenize`` with ``{"content": ...}`` and answers a body without it
with ``{"tokens": []}``; its completions do not say whether a stop string or EOS ended them. Its own
reasoning budget (a cap, forced end tags) is compared with ponder's cap over the same server.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

import pytest

import ponder
from ponder import Budget
from ponder.remote import ChatML, Client, Endpoint
from remote_checks import check_budgets, check_shaping

QUESTION = "What is 12 + 30? Explain carefully."


def post(api: str, path: str, body: dict) -> dict:
    root = api.removesuffix("/v1")
    request = urllib.request.Request(root + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


def test_tokens_are_counted_in_llama_servers_shape(server):
    assert post(server, "/tokenize", {"prompt": "Wait"}) == {"tokens": []}  # the other servers' shape: no tokens
    client, local = Client(Endpoint(server)), ponder.load_backend(None)
    for text in ("Wait", " Hmm, let me check", "<|im_start|>", "</think>\nFinal Answer:"):
        assert client.count(text) == len(local.tokenize(text)), text


def test_budgets_hold_against_llama_server(server):
    check_budgets(server)


def test_prefix_no_thinking_and_filler_against_llama_server(server):
    check_shaping(server)


def test_the_cli_counts_what_it_injected(server):
    """What the issue measured: 5 waits with 0 injected tokens and no marker."""
    run = subprocess.run([sys.executable, "-m", "ponder.cli", "generate", "What is 12 + 30?", "--endpoint", server,
                          "--format", "s1", "--min-think", "32", "--max-think", "64", "--json"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    usage = result["usage"]
    assert 32 <= usage["thinking_tokens"] <= 64 and result["waits"] >= 1
    assert usage["thinking_injected"] >= result["waits"] and usage["marker_tokens"] == 1
    assert usage["thinking_injected"] == sum(i["length"] for i in result["injections"] if i["phase"] == "thinking")


def own_budget(api: str, prompt: str, budget: int, max_tokens: int) -> str:
    """llama-server's own reasoning budget on a raw completion: the thinking it kept before forcing ``</think>``.

    Its ``--reasoning-budget`` applies to chats whose template has thinking tags (SmolLM2's has none);
    on a raw completion the request names the tags. The budget counts from the end of
    ``generation_prompt``: given the prompt's ``<think>\n``, it would count that newline as thinking.
    """
    data = post(api, "/v1/completions", {
        "prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "reasoning_budget_tokens": budget,
        "reasoning_budget_start_tag": "<think>", "reasoning_budget_end_tags": ["</think>"],
        "reasoning_budget_message": "", "generation_prompt": "<think>"})  # counting starts after it
    text = data["choices"][0]["text"]
    assert "</think>" in text, text
    return text.split("</think>")[0]


@pytest.mark.parametrize("budget", [4, 8, 12])
def test_the_cap_matches_llama_servers_own_reasoning_budget(server, budget):
    prompt = ponder.build_prompt(ChatML(), QUESTION, ponder.FORMATS["think"])
    ours = ponder.generate(prompt, endpoint=server, raw_prompt=True, thinking=Budget(max_tokens=budget),
                           max_tokens=budget + 24)
    theirs = own_budget(server, prompt, budget, budget + 24)
    assert ours.capped and ours.usage.thinking_tokens == budget
    assert ours.thinking == theirs  # the same tokens, cut at the same place
