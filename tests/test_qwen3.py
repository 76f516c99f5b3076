"""Qwen3's dialect on both steerable backends and the server: a tiny random Qwen3 with the real tokenizer and template.

``<think>`` and ``</think>`` are single added tokens, the template's ``enable_thinking`` closes an
empty thought, and budgets hold to the token. Random weights write nonsense, so the checks are
on token ids and counts.
"""

from __future__ import annotations

import numpy as np
import pytest

import ponder
import qwen3_tiny
from qwen3_tiny import END_THINK, THINK

pytest.register_assert_rewrite("serving")
from serving import start, stop  # noqa: E402

pytest_plugins = ["serving"]
QUESTION = "What is 12 + 30?"


@pytest.fixture(scope="module", params=["transformers", "llama.cpp"])
def qwen(request):
    path = qwen3_tiny.folder() if request.param == "transformers" else qwen3_tiny.gguf()
    return ponder.load_backend(path, request.param)


@pytest.fixture(scope="module")
def reference():
    """Qwen3's tokenizer and template as transformers applies them, to compare against."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(qwen3_tiny.folder())


def test_think_markers_are_native_single_tokens(qwen):
    assert qwen.special_id("<think>") == THINK and qwen.special_id("</think>") == END_THINK
    assert qwen.special_id("Wait") is None
    fmt = ponder.FORMATS["think"]
    prompt = ponder.build_prompt(qwen, QUESTION, fmt)
    assert "Think step by step" not in prompt  # native markers: no instruction in a system message
    assert prompt.endswith("<|im_start|>assistant\n<think>\n")
    assert qwen.prompt_ids(prompt)[-2] == THINK


def test_the_chat_template_is_qwen3s(qwen, reference):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": QUESTION}]
    for enabled in (True, False):
        ours = qwen.chat_prompt(messages, enable_thinking=enabled)
        theirs = reference.apply_chat_template(messages, tokenize=False, add_generation_prompt=True,
                                               enable_thinking=enabled)
        assert ours == theirs
    assert ours.endswith("<think>\n\n</think>\n\n")  # thinking off: the template closes an empty thought


@pytest.mark.parametrize("budget", [0, 1, 16])
def test_budgets_are_exact_in_tokens(qwen, budget):
    result = ponder.generate(QUESTION, model=qwen, thinking=ponder.Budget(min_tokens=budget, max_tokens=budget),
                             max_tokens=budget + 8)
    ids = list(result.token_ids)
    assert ids.index(END_THINK) == budget == result.usage.thinking_tokens  # one native marker closes it
    assert result.usage.marker_tokens == 1 and result.capped
    lead = qwen.tokenize("\nFinal Answer:")
    assert ids[budget + 1: budget + 1 + len(lead)] == lead


def test_a_sampled_thinking_stays_under_its_cap(qwen):
    for seed in range(3):
        result = ponder.generate(QUESTION, model=qwen, thinking=ponder.Budget(max_tokens=6), max_tokens=12,
                                 temperature=1.0, seed=seed)
        assert result.usage.thinking_tokens <= 6 and END_THINK in result.token_ids


def test_filler_and_prefix_are_exact(qwen):
    result = ponder.generate(QUESTION, model=qwen, thinking=[ponder.Filler(5)], max_tokens=12)
    assert list(result.token_ids[:6]) == qwen.tokenize(".") * 5 + [END_THINK]
    result = ponder.generate(QUESTION, model=qwen, thinking=[ponder.Prefix("Ok, so"), ponder.Budget(max_tokens=9)],
                             max_tokens=14)
    assert result.thinking.startswith("Ok, so") and list(result.token_ids).index(END_THINK) == 9


def test_no_thinking_uses_the_templates_closed_thought(qwen):
    result = ponder.generate(QUESTION, model=qwen, thinking=False, max_tokens=6)
    assert result.prompt.endswith("<think>\n\n</think>\n\n")
    assert result.usage.thinking_tokens == 0 and result.usage.marker_tokens == 0
    assert result.usage.answer_tokens == 6 and set(result.token_phases) == {"answer"}


def test_log_probabilities_match_the_model(qwen):
    from test_logprobs import direct_logprobs

    result = ponder.generate(QUESTION, model=qwen, thinking=ponder.Filler(3), max_tokens=6, logprobs=2,
                             prompt_logprobs=True)
    ids = qwen.prompt_ids(result.prompt) + list(result.token_ids)
    ours = [r.logprob for r in result.prompt_logprobs[1:]] + [r.logprob for r in result.logprobs]
    assert np.allclose(ours, direct_logprobs(qwen, ids), atol=1e-3)


@pytest.fixture(scope="module")
def qwen_server():
    served = start("--model", qwen3_tiny.gguf(), "--max-tokens", "64")
    yield served
    stop(served)


def test_the_servers_chat_route_renders_qwen3s_template(qwen_server, reference):
    client = qwen_server.client()
    question = [{"role": "user", "content": QUESTION}]
    r = client.chat.completions.create(model="x", messages=question, max_tokens=20,
                                       extra_body={"thinking": {"min_tokens": 10, "max_tokens": 10}})
    rendered = reference.apply_chat_template(question, tokenize=False, add_generation_prompt=True) + "<think>\n"
    assert r.usage.prompt_tokens == len(reference.encode(rendered))
    assert r.usage.completion_tokens_details.reasoning_tokens == 10 == r.model_extra["ponder"]["thinking_tokens"]
    assert r.model_extra["ponder"]["marker_tokens"] == 1
    off = client.chat.completions.create(model="x", messages=question, max_tokens=8,
                                         extra_body={"chat_template_kwargs": {"enable_thinking": False}})
    closed = reference.apply_chat_template(question, tokenize=False, add_generation_prompt=True,
                                           enable_thinking=False)
    assert off.usage.prompt_tokens == len(reference.encode(closed))
    assert off.usage.completion_tokens_details.reasoning_tokens == 0 and off.choices[0].message.reasoning_content == ""
    assert off.usage.completion_tokens == 8


def test_anthropic_messages_on_qwen3(qwen_server):
    import anthropic

    client = anthropic.Anthropic(base_url=qwen_server.url, api_key="unused", max_retries=0)
    message = client.messages.create(model="x", max_tokens=24, messages=[{"role": "user", "content": QUESTION}],
                                     thinking={"type": "enabled", "budget_tokens": 12})
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert message.model_extra["ponder"]["thinking_tokens"] == 12 and message.stop_reason == "max_tokens"
    plain = client.messages.create(model="x", max_tokens=5, messages=[{"role": "user", "content": QUESTION}])
    assert [b.type for b in plain.content] == ["text"] and plain.model_extra["ponder"]["thinking_tokens"] == 0
