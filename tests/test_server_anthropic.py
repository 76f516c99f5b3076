"""``ponder serve`` through the official anthropic client: real server, real model, the SDK unchanged."""

from __future__ import annotations

import json
import urllib.request

import anthropic
import pytest

pytest.register_assert_rewrite("serving")
from serving import LIMITS, QUESTION  # noqa: E402

pytest_plugins = ["serving"]

RECOUNT_TOLERANCE = 3  # re-tokenizing text may split differently at the joins of injected text
ASK = [{"role": "user", "content": QUESTION}]


@pytest.fixture(scope="module")
def tokenizer():
    import ponder

    return ponder.load_backend()


def claude(server, **kw) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.url, api_key=kw.pop("api_key", server.key or "unused"), max_retries=0,
                               timeout=120, **kw)


def thinking_of(message) -> str:
    return "".join(b.thinking for b in message.content if b.type == "thinking")


def text_of(message) -> str:
    return "".join(b.text for b in message.content if b.type == "text")


def test_create_with_a_thinking_budget(up, tokenizer):
    message = claude(up).messages.create(model="claude-anything", max_tokens=64, messages=ASK,
                                         thinking={"type": "enabled", "budget_tokens": 24})
    p = message.model_extra["ponder"]
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert p["thinking_tokens"] <= 24
    assert abs(len(tokenizer.tokenize(thinking_of(message))) - p["thinking_tokens"]) <= RECOUNT_TOLERANCE
    assert message.content[0].signature and text_of(message)
    assert message.usage.output_tokens == p["thinking_tokens"] + p["marker_tokens"] + p["answer_tokens"]
    assert message.usage.output_tokens_details.thinking_tokens == p["thinking_tokens"] + p["marker_tokens"]
    assert message.stop_reason in ("end_turn", "max_tokens") and message.role == "assistant"
    assert message.id.startswith("msg_") and message.model == "SmolLM2-135M-Instruct"


def test_ponders_own_fields_make_the_budget_exact(up, tokenizer):
    message = claude(up).messages.create(model="x", max_tokens=64, messages=ASK,
                                         thinking={"type": "enabled", "budget_tokens": 20, "min_tokens": 20,
                                                   "wait": "Hmm"})
    p = message.model_extra["ponder"]
    assert p["thinking_tokens"] == 20 and p["capped"]
    assert abs(len(tokenizer.tokenize(thinking_of(message))) - 20) <= RECOUNT_TOLERANCE


def test_the_stream_sends_anthropics_events_in_order(up):
    ask = dict(model="x", max_tokens=64, messages=ASK, thinking={"type": "enabled", "budget_tokens": 16,
                                                                  "min_tokens": 16})
    client = claude(up)
    whole = client.messages.create(**ask)
    with client.messages.stream(**ask) as stream:
        events = [e for e in stream if e.type in ("message_start", "content_block_start", "content_block_delta",
                                                  "content_block_stop", "message_delta", "message_stop")]
        final = stream.get_final_message()
    kinds = [e.type if e.type != "content_block_delta" else e.delta.type for e in events]
    first_text = kinds.index("text_delta")
    assert kinds[:2] == ["message_start", "content_block_start"] and events[1].content_block.type == "thinking"
    assert set(kinds[2:kinds.index("signature_delta")]) == {"thinking_delta"}
    assert kinds[kinds.index("signature_delta"):first_text] == ["signature_delta", "content_block_stop",
                                                                "content_block_start"]
    assert kinds[-4:] == ["text_delta", "content_block_stop", "message_delta", "message_stop"]
    assert [b.model_dump(exclude={"parsed_output", "citations"}) for b in final.content] == \
        [b.model_dump(exclude={"citations"}) for b in whole.content]  # greedy: the same request, the same message
    assert final.stop_reason == whole.stop_reason and final.usage.output_tokens == whole.usage.output_tokens
    assert final.usage.input_tokens == whole.usage.input_tokens > 0
    assert events[-2].model_extra["ponder"]["thinking_tokens"] == 16


@pytest.mark.parametrize("effort, high", [("low", 64), ("medium", 256)])
def test_adaptive_thinking_probes_under_the_effort_cap(up, effort, high):
    message = claude(up).messages.create(model="x", max_tokens=300, messages=ASK, thinking={"type": "adaptive"},
                                         output_config={"effort": effort})
    details = message.model_extra["ponder"]
    assert 1 <= details["thinking_tokens"] <= high and details["probe_tokens"] > 0  # it ends, or waits, by a probe
    assert message.usage.output_tokens == details["thinking_tokens"] + details["marker_tokens"] + \
        details["answer_tokens"]  # probes are spent, not billed as text
    assert message.content[0].type == "thinking"


def test_high_effort_fits_within_max_tokens(up):
    message = claude(up).messages.create(model="x", max_tokens=40, messages=ASK, thinking={"type": "enabled"},
                                         output_config={"effort": "high"})  # 256-1024, fit to 6-24 tokens
    assert [b.type for b in message.content] == ["thinking", "text"] and text_of(message)
    assert 6 <= message.model_extra["ponder"]["thinking_tokens"] <= 24


@pytest.mark.parametrize("thinking", [{"type": "disabled"}, None])
def test_without_thinking_there_is_only_text(up, thinking):
    kw = {} if thinking is None else {"thinking": thinking}
    message = claude(up).messages.create(model="x", max_tokens=24, messages=ASK, **kw)
    assert [b.type for b in message.content] == ["text"] and text_of(message)
    assert message.model_extra["ponder"]["thinking_tokens"] == 0


def test_omitted_thinking_keeps_the_signature(up):
    message = claude(up).messages.create(model="x", max_tokens=48, messages=ASK,
                                         thinking={"type": "enabled", "budget_tokens": 12, "display": "omitted"})
    block = message.content[0]
    assert block.type == "thinking" and block.thinking == "" and block.signature
    assert message.model_extra["ponder"]["thinking_tokens"] > 0


def test_stop_sequences_end_the_answer(up):
    ask = dict(model="x", max_tokens=48, messages=ASK, thinking={"type": "enabled", "budget_tokens": 8})
    full = text_of(claude(up).messages.create(**ask))
    stop_at = full.strip()[len("Final Answer:"):].strip()[:1] or "4"
    message = claude(up).messages.create(stop_sequences=[stop_at], **ask)
    assert message.stop_reason == "stop_sequence" and message.stop_sequence == stop_at
    assert stop_at not in text_of(message)[len("Final Answer:"):]


def test_system_and_block_content_and_count_tokens(up):
    client = claude(up)
    blocks = [{"role": "user", "content": [{"type": "text", "text": "What is 12 "}, {"type": "text", "text": "+ 30?"}]}]
    system = [{"type": "text", "text": "Answer with a number."}]
    counted = client.messages.count_tokens(model="x", messages=blocks, system=system)
    plain = client.messages.count_tokens(model="x", messages=ASK)
    message = client.messages.create(model="x", max_tokens=8, messages=blocks, system=system)
    assert counted.input_tokens == message.usage.input_tokens > plain.input_tokens
    thinking = client.messages.count_tokens(model="x", messages=ASK, thinking={"type": "enabled", "budget_tokens": 8})
    assert thinking.input_tokens >= plain.input_tokens


def post(server, path: str, body: bytes, headers: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(server.url + path, data=body,
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=60) as res:
            return res.status, json.loads(res.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_bad_requests_get_anthropic_errors(up):
    client = claude(up)
    cases = [
        dict(max_tokens=0, messages=ASK),
        dict(max_tokens=LIMITS["max_tokens"] + 1, messages=ASK),
        dict(max_tokens=8, messages=[{"role": "assistant", "content": "Hi"}]),
        dict(max_tokens=8, messages=ASK, thinking={"type": "disabled", "budget_tokens": 10}),
        dict(max_tokens=8, messages=ASK, thinking={"type": "sometimes"}),
        dict(max_tokens=8, messages=[{"role": "user", "content": [{"type": "image", "source": {}}]}]),
        dict(max_tokens=8, messages=ASK, extra_body={"temperature": 1.5}),  # sent by older clients
    ]
    for case in cases:
        with pytest.raises(anthropic.BadRequestError) as caught:
            client.messages.create(model="x", **case)
        assert caught.value.status_code == 400, case
        assert caught.value.body["type"] == "error" and caught.value.body["error"]["type"] == "invalid_request_error"
        assert caught.value.body["error"]["message"]
    with pytest.raises(anthropic.BadRequestError, match="blocks of type 'image' are not supported"):
        client.messages.create(model="x", **cases[5])
    status, body = post(up, "/v1/messages", b'{"messages": [')
    assert status == 400 and body["error"]["type"] == "invalid_request_error" and "JSON" in body["error"]["message"]
    status, body = post(up, "/v1/messages", b'{"messages": [{"role": "user", "content": "hi"}]}')
    assert status == 400 and body["error"]["message"].startswith("max_tokens")
    status, body = post(up, "/v1/messages", b"x" * (LIMITS["max_body_bytes"] + 1))
    assert status == 413 and body == {"type": "error", "error": {"type": "request_too_large",
                                                                  "message": body["error"]["message"]}}
    status, body = post(up, "/v1/messages/nowhere", b"{}")
    assert status == 404 and body["error"]["type"] == "not_found_error"


def test_the_key_is_taken_from_x_api_key_or_bearer(keyed):
    message = claude(keyed).messages.create(model="x", max_tokens=8, messages=ASK)  # sends x-api-key
    assert text_of(message)
    with pytest.raises(anthropic.AuthenticationError) as caught:
        claude(keyed, api_key="wrong").messages.create(model="x", max_tokens=8, messages=ASK)
    assert caught.value.status_code == 401 and caught.value.body["error"]["type"] == "authentication_error"
    bearer = claude(keyed, api_key=None, auth_token="s3cret").messages.count_tokens(model="x", messages=ASK)
    assert bearer.input_tokens > 0
    assert keyed.client().models.list().data  # OpenAI's client, Authorization: Bearer
    status, body = post(keyed, "/v1/messages/count_tokens", json.dumps({"messages": ASK}).encode())
    assert status == 401 and body["error"]["type"] == "authentication_error"
