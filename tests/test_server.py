"""``ponder serve`` through the official openai client: real server process, real model, no mocks."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request

import openai
import pytest

pytest.register_assert_rewrite("serving")
from serving import (  # noqa: E402
    LIMITS, PRICE_INPUT, PRICE_OUTPUT, QUESTION, chat, details, get, metric, reasoning_of, start, stop,
)

pytest_plugins = ["serving"]

RECOUNT_TOLERANCE = 3  # re-tokenizing text may split differently at the joins of injected text


@pytest.fixture(scope="module")
def tokenizer():
    import ponder

    return ponder.load_backend()


def test_models_and_health(up):
    [model] = up.client().models.list().data
    assert model.id == "SmolLM2-135M-Instruct"
    status, body = get(up.url + "/health")
    assert status == 200 and json.loads(body)["status"] == "ok"


def test_budget_is_honoured_and_usage_adds_up(up, tokenizer):
    r = chat(up, {"min_tokens": 30, "max_tokens": 40, "wait": ["Wait", "Hmm"]}, max_tokens=80)
    choice, usage, p = r.choices[0], r.usage, details(r)
    thinking_tokens = usage.completion_tokens_details.reasoning_tokens
    assert 30 <= thinking_tokens <= 40
    assert thinking_tokens == p["thinking_tokens"]
    assert abs(len(tokenizer.tokenize(choice.message.reasoning_content)) - thinking_tokens) <= RECOUNT_TOLERANCE
    assert p["waits"] >= 1 and re.search(r"\b(Wait|Hmm)\b", choice.message.reasoning_content)
    assert choice.message.content and choice.message.content == choice.message.content.strip()
    assert usage.completion_tokens == p["thinking_tokens"] + p["marker_tokens"] + p["answer_tokens"]
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    dollars = (usage.prompt_tokens * PRICE_INPUT + usage.completion_tokens * PRICE_OUTPUT) / 1e6
    assert p["cost"] == pytest.approx(dollars)
    assert r.model == "SmolLM2-135M-Instruct" and r.id.startswith("chatcmpl-")


def test_streamed_chat_equals_the_whole_response(up):
    thinking = {"min_tokens": 20, "max_tokens": 28}
    whole = chat(up, thinking)
    stream = up.client().chat.completions.create(
        model="x", messages=[{"role": "user", "content": QUESTION}], max_tokens=48, stream=True,
        stream_options={"include_usage": True}, extra_body={"thinking": thinking})
    phases, reasoning, content, usage, finish = [], "", "", None, None
    for chunk in stream:
        if chunk.usage is not None:
            usage, extra = chunk.usage, chunk.model_extra["ponder"]
        for c in chunk.choices:
            delta = c.delta.model_extra.get("reasoning_content") or ""
            if delta:
                phases.append("thinking")
                reasoning += delta
            if c.delta.content:
                phases.append("answer")
                content += c.delta.content
            finish = c.finish_reason or finish
    assert phases.count("thinking") > 5 and phases.count("answer") >= 1
    assert phases == sorted(phases, key=lambda p: p == "answer"), "the thinking streams before the answer"
    assert reasoning == whole.choices[0].message.reasoning_content  # greedy: the same request, the same text
    assert content == whole.choices[0].message.content
    assert usage.completion_tokens == whole.usage.completion_tokens
    assert usage.completion_tokens_details.reasoning_tokens == details(whole)["thinking_tokens"] <= 28
    assert extra["cost"] > 0 and finish == "stop"


def test_text_completions_that_ask_for_thinking_whole_and_streamed(up, tokenizer):
    """Thinking fields make a text completion think over its prompt, which ponder opens with <think>."""
    client = up.client()
    ask = dict(model="x", prompt=f"Question: {QUESTION}\n", max_tokens=40,
               extra_body={"thinking": {"min_tokens": 12, "max_tokens": 12}})
    r = client.completions.create(**ask)
    choice = r.choices[0]
    reasoning = choice.model_extra["reasoning_content"]
    assert r.usage.completion_tokens_details.reasoning_tokens == 12 and details(r)["capped"]
    assert abs(len(tokenizer.tokenize(reasoning)) - 12) <= RECOUNT_TOLERANCE
    assert choice.text.startswith("Final Answer:") and choice.model_extra["reasoning"] == reasoning
    text, streamed_reasoning = "", ""
    for chunk in client.completions.create(stream=True, **ask):
        for c in chunk.choices:
            text += c.text
            streamed_reasoning += c.model_extra.get("reasoning_content") or ""
    assert (text, streamed_reasoning) == (choice.text, reasoning)


@pytest.mark.parametrize("thinking, check", [
    ({"prefix": "Ok, so", "max_tokens": 16}, lambda m, p: m.reasoning_content.startswith("Ok, so")),
    ({"filler": 12}, lambda m, p: m.reasoning_content == "." * 12 and p["thinking_tokens"] == 12),
    ({"filler": {"count": 3, "text": " hmm", "where": "replace"}},
     lambda m, p: m.reasoning_content == "hmm hmm hmm" and p["thinking_injected"] == p["thinking_tokens"]),
    ({"pause": 3, "max_tokens": 8}, lambda m, p: any(i["reason"] == "pause" for i in p["choices"][0]["injections"])),
    ({"pause": {"count": 2, "text": " hmm"}, "max_tokens": 8},
     lambda m, p: m.content.startswith("Final Answer: hmm hmm")),
    ({"entropy_pause": 0.5, "max_tokens": 24},
     lambda m, p: any(i["reason"] == "entropy" for i in p["choices"][0]["injections"])
     and " ..." in m.reasoning_content),
    ({"entropy_pause": {"threshold": 0.5, "text": " [pause]", "max_insertions": 1}, "max_tokens": 24},
     lambda m, p: m.reasoning_content.count("[pause]") == 1),
    ({"max_tokens": 8, "wrap_up": "\nSo the answer is"}, lambda m, p: m.content.startswith("So the answer is")),
    ({"min_tokens": 40, "max_tokens": 60, "max_waits": 1}, lambda m, p: p["waits"] <= 1),
    ({"enabled": False}, lambda m, p: m.reasoning_content == "" and p["thinking_tokens"] == 0 and m.content),
    ({"enabled": False, "pause": 2}, lambda m, p: p["thinking_tokens"] == 0
     and any(i["reason"] == "pause" for i in p["choices"][0]["injections"])),
])
def test_every_thinking_field_has_its_effect(up, thinking, check):
    r = chat(up, thinking, max_tokens=64)
    assert check(r.choices[0].message, details(r)), (r.choices[0].message, details(r))
    if "max_tokens" in thinking:
        assert r.usage.completion_tokens_details.reasoning_tokens <= thinking["max_tokens"]


@pytest.mark.parametrize("kw, low, high", [
    ({"reasoning_effort": "none"}, 0, 0),
    ({"reasoning_effort": "minimal"}, 1, 16),
    ({"reasoning_effort": "low"}, 1, 64),
    ({"extra_body": {"thinking": {"type": "enabled", "budget_tokens": 10}}}, 10, 10),
    ({"extra_body": {"thinking": {"type": "disabled"}}}, 0, 0),
])
def test_compatibility_forms(up, kw, low, high):
    r = up.client().chat.completions.create(model="x", messages=[{"role": "user", "content": QUESTION}],
                                            max_tokens=48, **kw)
    assert low <= r.usage.completion_tokens_details.reasoning_tokens <= high


def test_high_effort_forces_thinking_past_where_the_model_stops(up):
    r = up.client().chat.completions.create(model="x", messages=[{"role": "user", "content": QUESTION}],
                                            max_tokens=400, reasoning_effort="high")
    p = details(r)
    assert p["waits"] >= 1 and 75 <= p["thinking_tokens"] <= 300  # 256-1024, fit within max_tokens: 75-300
    assert r.choices[0].message.content


def test_n_choices_use_seed_then_seed_plus_one(up):
    client = up.client()
    ask = dict(model="x", messages=[{"role": "user", "content": QUESTION}], max_tokens=20, temperature=1.0,
               extra_body={"thinking": {"max_tokens": 12}})
    three = client.chat.completions.create(n=3, seed=7, **ask)
    again = client.chat.completions.create(n=3, seed=7, **ask)
    second = client.chat.completions.create(n=1, seed=8, **ask)
    texts = [c.message.reasoning_content + c.message.content for c in three.choices]
    assert [c.index for c in three.choices] == [0, 1, 2]
    assert texts == [c.message.reasoning_content + c.message.content for c in again.choices]
    assert texts[1] == second.choices[0].message.reasoning_content + second.choices[0].message.content
    assert len(set(texts)) > 1
    assert three.usage.completion_tokens == sum(c["thinking_tokens"] + c["marker_tokens"] + c["answer_tokens"]
                                                for c in details(three)["choices"])


def test_stop_ends_the_answer_before_the_stop_string(up):
    full = chat(up, {"max_tokens": 16}).choices[0].message.content
    stopped = chat(up, {"max_tokens": 16}, stop=["2"])
    content = stopped.choices[0].message.content
    assert "2" in full and full.startswith(content) and "2" not in content and len(content) < len(full)
    assert stopped.choices[0].finish_reason == "stop"


def test_unknown_fields_are_ignored(up):
    r = up.client().chat.completions.create(
        model="gpt-4o", messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": QUESTION}],
        max_tokens=16, frequency_penalty=0, logit_bias={}, user="tester", store=False,  # neutral values pass
        extra_body={"thinking": {"max_tokens": 4, "shape": "round"}, "top_k": 1, "repetition_penalty": 1})
    assert r.usage.completion_tokens_details.reasoning_tokens <= 4


def test_metrics_and_recent_requests(up):
    chat(up, {"max_tokens": 8}, max_tokens=16, user="metrics-test")
    status, text = get(up.url + "/metrics")
    assert status == 200
    assert metric(text, 'ponder_requests_total{route="/v1/chat/completions",code="200"}') >= 1
    assert metric(text, 'ponder_tokens_total{phase="thinking"}') >= 8
    assert metric(text, 'ponder_tokens_total{phase="prompt"}') > 0
    assert metric(text, 'ponder_generations_total{finish_reason="stop"}') >= 1
    assert metric(text, 'ponder_request_duration_seconds_count{route="/v1/chat/completions"}') >= 1
    assert 'ponder_queue_wait_seconds_bucket{le="+Inf"}' in text and metric(text, "ponder_cost_dollars_total") > 0
    status, body = get(up.url + "/v1/ponder/requests")
    mine = [r for r in json.loads(body)["data"] if r.get("user") == "metrics-test"]
    assert status == 200 and mine and mine[0]["status"] == "done"
    assert mine[0]["thinking_tokens"] == 8 and mine[0]["thinking"] == "budget 0-8" and mine[0]["cost"] > 0


def test_limits_and_bad_input_get_openai_errors(up):
    raw = urllib.request.Request(up.api + "/chat/completions", data=b"x" * (LIMITS["max_body_bytes"] + 1),
                                 headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(raw, timeout=30)
    assert err.value.code == 413 and "limit" in json.loads(err.value.read())["error"]["message"]
    with pytest.raises(openai.BadRequestError) as err:
        chat(up, max_tokens=LIMITS["max_tokens"] + 1)
    assert err.value.status_code == 400 and "above this server's limit" in err.value.message
    assert err.value.body["param"] == "max_tokens" and err.value.body["type"] == "invalid_request_error"
    with pytest.raises(openai.BadRequestError, match="--max-prompt-tokens"):
        chat(up, question="one two three " * 400)
    status, body = get(up.url + "/v1/nowhere")
    assert status == 404 and json.loads(body)["error"]["type"] == "invalid_request_error"


def test_cli_errors_exit_2_with_one_line(up):
    port = up.url.rsplit(":", 1)[1]
    for args, message in [(["--port", "-1"], "--port must be between 1 and 65535"),
                          (["--model", "/no/such/model.gguf"], "does not exist"),
                          (["--port", port], "cannot listen on"),
                          (["--max-queue", "0"], "--max-queue must be >= 1")]:
        run = subprocess.run([sys.executable, "-m", "ponder.cli", "serve", *args], capture_output=True, text=True,
                             timeout=120)
        assert run.returncode == 2 and run.stderr.count("\n") == 1, run.stderr
        assert run.stderr.startswith("ponder: error: ") and message in run.stderr


@pytest.fixture(scope="module")
def guarded():
    """A second server that wants an API key (from the environment) and queues one request at most."""
    served = start("--max-queue", "1", env={"PONDER_API_KEY": "s3cret"}, key="s3cret")
    yield served
    stop(served)


def test_api_key_is_required(guarded):
    with pytest.raises(openai.AuthenticationError) as err:
        guarded.client(api_key="wrong").models.list()
    assert err.value.status_code == 401 and err.value.body["code"] == "invalid_api_key"
    for path in ("/v1/models", "/metrics", "/v1/ponder/requests"):  # no key at all
        status, body = get(guarded.url + path)
        assert status == 401 and json.loads(body)["error"]["code"] == "invalid_api_key"
    assert get(guarded.url + "/health")[0] == 200  # health stays open
    assert get(guarded.url + "/metrics", key="s3cret")[0] == 200
    assert guarded.client().models.list().data[0].id == "SmolLM2-135M-Instruct"


def test_a_full_queue_answers_429_and_a_closed_stream_frees_its_place(guarded):
    client = guarded.client()
    with client.chat.completions.create(model="x", messages=[{"role": "user", "content": QUESTION}],
                                        max_tokens=1024, stream=True,
                                        extra_body={"thinking": {"min_tokens": 1000}}) as hog:
        next(chunk for chunk in hog if reasoning_of(chunk))  # decoding has begun
        with pytest.raises(openai.RateLimitError) as err:
            chat(guarded, {"max_tokens": 4}, max_tokens=8)
        assert err.value.status_code == 429 and err.value.body["code"] == "queue_full"
    deadline = time.time() + 10  # the server notices the closed connection within moments
    while True:
        try:
            r = chat(guarded, {"max_tokens": 4}, max_tokens=8)
            break
        except openai.RateLimitError:
            assert time.time() < deadline, "the closed stream did not give its place back"
            time.sleep(0.05)
    assert r.usage.completion_tokens_details.reasoning_tokens <= 4
    status, text = get(guarded.url + "/metrics", key="s3cret")
    assert metric(text, "ponder_cancelled_total") == 1
    assert metric(text, 'ponder_generations_total{finish_reason="cancelled"}') == 1
    assert metric(text, 'ponder_tokens_total{phase="thinking"}') < 500  # the hog stopped long before 1000
    assert guarded.alive()
