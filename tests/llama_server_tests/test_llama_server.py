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
from concurrent.futures import ThreadPoolExecutor

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


def metric(api: str, name: str) -> float:
    with urllib.request.urlopen(api.removesuffix("/v1") + "/metrics", timeout=30) as response:
        lines = response.read().decode().splitlines()
    return next(float(line.split()[-1]) for line in lines if line.startswith(f"llamacpp:{name} "))


def test_the_s1_loop_keeps_llama_servers_cache_warm(metered_server):
    """Each call of the loop re-sends the prompt and all the text so far: llama-server evaluates only what is new.

    Two generations at once on its two slots, each with several waits (SmolLM2 in s1's format closes its
    thinking at once). Evaluated anew may be each generation's prompt, what ponder wrote (waits, the end marker,
    the answer lead) and, at each call, a few tokens where the text so far tokenizes otherwise than it was
    generated; re-evaluating what a call re-sends would be several times that.
    """
    budget = Budget(min_tokens=40, max_tokens=64, wait=("Wait", "Hmm"))
    ask = lambda q: ponder.generate(q, endpoint=metered_server, thinking=budget, format="s1",  # noqa: E731
                                    max_tokens=120)
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(ask, ["What is 12 + 30?", "Name a prime number above 20."]))
    evaluated = metric(metered_server, "prompt_tokens_total")
    reused = metric(metered_server, "prompt_tokens_cached_total")
    assert all(r.waits >= 2 for r in results), [r.waits for r in results]
    calls = sum(r.waits + 2 for r in results)  # the first thinking call, one after each wait, the answer
    new = sum(r.usage.prompt_tokens + r.usage.thinking_injected + r.usage.marker_tokens + r.usage.answer_injected
              for r in results)
    assert evaluated <= new + 4 * calls, dict(evaluated=evaluated, reused=reused, new=new, calls=calls)
    again = ask("What is 12 + 30?")  # its whole prompt is held in a slot
    assert again.usage.cached_tokens >= again.usage.prompt_tokens - 1 > 0, again.usage
