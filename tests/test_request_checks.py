"""Requests that used to be dropped, spun or half-run are refused up front with a message naming the cause.

An empty prompt, a policy text that encodes to an ending token, an effort that outgrows ``max_tokens``,
Anthropic's budget rule, fields ponder does not honour, and CLI settings without their policy.
"""

from __future__ import annotations

import json
import urllib.request

import anthropic
import openai
import pytest
from pydantic import ValidationError

import ponder
from ponder import Budget, Filler, Pause, PonderError, Prefix
from ponder.cli import main
from ponder.server.anthropic_schemas import MessagesRequest
from ponder.server.schemas import ChatRequest, CompletionRequest, ThinkingOptions
from ponder.server.thinking import ThinkingAsk, resolve
from ponder.vllm.extra_args import request_thinking, stopping_text
import qwen3_tiny

pytest_plugins = ["serving"]

EOS = "<|im_end|>"  # SmolLM2's end-of-sequence token
HI = [{"role": "user", "content": "What is 12 + 30?"}]


def post(server, path: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(server.url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as res:
            return res.status, json.loads(res.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


# 1. an empty prompt

@pytest.mark.parametrize("prompt", ["", [""], ["", "Hello"]])
def test_an_empty_text_completion_is_a_400_and_the_server_goes_on(up, prompt):
    status, body = post(up, "/v1/completions", {"prompt": prompt, "max_tokens": 4})
    assert status == 400 and "prompt is empty" in body["error"]["message"], body
    status, body = post(up, "/v1/completions", {"prompt": "Hello", "max_tokens": 4})
    assert status == 200 and body["choices"][0]["text"]


def test_an_empty_prompt_never_reaches_the_model(backend):
    with pytest.raises(PonderError, match="prompt is empty"):
        ponder.generate("", model=backend, continuation=True, max_tokens=4)
    with pytest.raises(PonderError, match="empty list"):
        ponder.generate([], model=backend, max_tokens=4)
    results = dict(ponder.generate_many([{"prompt": "", "continuation": True, "max_tokens": 4},
                                         {"prompt": "Hello", "continuation": True, "max_tokens": 4}], backend))
    assert isinstance(results[0], PonderError) and results[1].answer  # the other row is not failed with it


# 2. policy texts that encode to an ending token

@pytest.mark.parametrize("policies, option", [
    ([Budget(min_tokens=64, wait=EOS)], "wait"),
    ([Budget(max_tokens=8, wrap_up="\nSo:" + EOS)], "wrap_up"),
    ([Prefix("Ok" + EOS)], "prefix"),
    ([Filler(4, EOS, "before_end")], "filler_text"),
    ([Pause(2, EOS)], "pause_text"),
])
def test_a_policy_text_with_an_ending_token_is_refused(backend, policies, option):
    with pytest.raises(PonderError) as caught:
        ponder.generate("Hi", model=backend, thinking=policies, max_tokens=16)
    message = str(caught.value)
    assert message.startswith(option) and EOS in message and "end-of-sequence" in message


def test_a_wait_of_the_end_of_sequence_token_is_a_400_not_a_spin(up):
    status, body = post(up, "/v1/chat/completions", {"messages": HI, "max_tokens": 64,
                                                     "thinking": {"min_tokens": 64, "wait": EOS}})
    assert status == 400 and "wait" in body["error"]["message"] and EOS in body["error"]["message"], body
    status, body = post(up, "/v1/messages", {"messages": HI, "max_tokens": 64,
                                             "thinking": {"type": "enabled", "entropy_pause": {"text": EOS}}})
    assert status == 400 and body["type"] == "error" and "entropy_text" in body["error"]["message"], body


def test_the_cli_refuses_such_a_text(capsys):
    assert main(["generate", "Hi", "--min-think", "8", "--wait", EOS, "--max-tokens", "16"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "wait" in err and EOS in err


# 3. an effort fits within max_tokens; the request's own fields win

def thinking_of(limit=None, effort=None, **thinking):
    return resolve(ThinkingAsk(thinking=ThinkingOptions(**thinking) if thinking else None, effort=effort,
                               limit=limit)).thinking


def test_an_effort_is_scaled_into_the_room_max_tokens_leaves():
    assert thinking_of(200, "high") == [Budget(min_tokens=37, max_tokens=150)]
    assert thinking_of(40, "high") == [Budget(min_tokens=6, max_tokens=24)]
    assert thinking_of(4000, "high") == [Budget(min_tokens=256, max_tokens=1024)]  # fits: left as it is
    assert thinking_of(200, "low") == [Budget(max_tokens=64)]


def test_the_requests_own_fields_win_and_the_effort_bends():
    assert thinking_of(None, "high", max_tokens=100) == [Budget(min_tokens=100, max_tokens=100)]
    assert thinking_of(None, "low", min_tokens=500) == [Budget(min_tokens=500, max_tokens=500)]
    assert thinking_of(200, "high", max_tokens=180) == [Budget(min_tokens=37, max_tokens=180)]
    with pytest.raises(PonderError, match=r"min_tokens \(50\) is above max_tokens \(10\)"):
        thinking_of(None, "high", min_tokens=50, max_tokens=10)  # both sent by the client: still refused


def test_high_effort_with_a_small_max_tokens_still_answers(up):
    reply = up.client().chat.completions.create(model="x", messages=HI, max_tokens=200, reasoning_effort="high")
    usage = reply.usage.completion_tokens_details
    assert reply.choices[0].message.content and usage.reasoning_tokens <= 150
    reply = up.client().chat.completions.create(model="x", messages=HI, max_tokens=160, reasoning_effort="high",
                                                extra_body={"thinking": {"max_tokens": 20}})
    assert reply.choices[0].message.content and reply.usage.completion_tokens_details.reasoning_tokens <= 20


# 4. Anthropic's budget rule

@pytest.mark.parametrize("budget", [64, 100])
def test_anthropic_budget_tokens_must_be_below_max_tokens(up, budget):
    client = anthropic.Anthropic(base_url=up.url, api_key="unused", max_retries=0, timeout=120)
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(model="x", max_tokens=64, messages=HI,
                               thinking={"type": "enabled", "budget_tokens": budget})
    body = caught.value.body
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert "budget_tokens" in body["error"]["message"] and "max_tokens" in body["error"]["message"]


# 5. fields ponder does not honour

UNHONOURED = [
    ("presence_penalty", 0.5), ("frequency_penalty", -1), ("repetition_penalty", 1.2), ("logit_bias", {"42": 5}),
    ("response_format", {"type": "json_schema"}), ("function_call", {"name": "f"}),
    ("functions", [{"name": "f", "parameters": {}}]),
]
NEUTRAL = dict(presence_penalty=0, frequency_penalty=0.0, repetition_penalty=1, logit_bias={"42": 0},
               response_format={"type": "text"}, tools=[], tool_choice="auto", functions=None)


@pytest.mark.parametrize("field, value", UNHONOURED)
def test_a_field_that_would_change_the_output_is_refused(field, value):
    with pytest.raises(ValidationError, match=field):
        ChatRequest(messages=HI, **{field: value})
    ChatRequest(messages=HI, **NEUTRAL)  # the values clients send by default pass
    with pytest.raises(ValidationError, match="best_of"):
        CompletionRequest(prompt="Hi", best_of=3)
    with pytest.raises(ValidationError, match="tools"):
        CompletionRequest(prompt="Hi", tools=[{"type": "function", "function": {"name": "f"}}])
    MessagesRequest(messages=HI, max_tokens=8, tools=[], tool_choice={"type": "auto"})


def test_unhonoured_fields_are_400s_in_each_dialect(up):
    with pytest.raises(openai.BadRequestError) as caught:
        up.client().chat.completions.create(model="x", messages=HI, max_tokens=4, presence_penalty=0.5)
    assert caught.value.body["param"] == "presence_penalty" and "not supported" in caught.value.body["message"]
    with pytest.raises(openai.BadRequestError, match="logit_bias"):
        up.client().completions.create(model="x", prompt="Hi", max_tokens=4, logit_bias={"42": 5})
    reply = up.client().chat.completions.create(model="x", messages=HI, max_tokens=4, extra_body=NEUTRAL)
    assert reply.choices[0].finish_reason in ("length", "stop")
    client = anthropic.Anthropic(base_url=up.url, api_key="unused", max_retries=0, timeout=120)
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(model="x", max_tokens=8, messages=HI, stop_sequences=["a"],
                               metadata={"user_id": "u"}, tools=[{"name": "f", "input_schema": {"type": "object", "properties": 3}}])
    assert caught.value.body["type"] == "error" and "tool 'f'" in caught.value.body["error"]["message"]
    status, body = post(up, "/v1/chat/completions", {"messages": HI, "max_tokens": 4, "some_other_field": 1})
    assert status == 200  # other unknown fields stay ignored


# 6. CLI settings without their policy

@pytest.mark.parametrize("args, main_flag", [
    (["--filler-text", "x"], "--filler"), (["--filler-where", "before_end"], "--filler"),
    (["--pause-text", " hmm"], "--pause"), (["--pause-every", "4"], "--pause"),
    (["--entropy-text", " .."], "--entropy-pause"), (["--entropy-cooldown", "2"], "--entropy-pause"),
    (["--entropy-phase", "answer"], "--entropy-pause"), (["--varentropy-max", "3"], "--entropy-pause"),
])
def test_a_policys_setting_without_the_policy_is_refused(capsys, args, main_flag):
    assert main(["generate", "Hi", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and args[0] in err and f"add {main_flag}," in err


@pytest.mark.parametrize("extra", [{"min_think": 20, "wait": "Wait</think>"}, {"prefix": "<think>"},
                                   {"min_think": 20, "wait": ["Hmm", "<|im_start|>user"]}])
def test_the_vllm_plugin_refuses_a_text_that_spells_a_thinking_marker(extra):
    """Checked without a tokenizer, as vLLM validates a request's options."""
    with pytest.raises(PonderError, match="spells the thinking marker .* which a policy may not force"):
        request_thinking(extra)


def test_the_vllm_plugin_finds_a_text_that_would_stop_the_request():
    """Where the request meets the tokenizer: a wait of the end-of-sequence token would end it, so it runs
    unsteered (vLLM offers a logits processor no way to refuse a request once it joined)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(qwen3_tiny.folder())
    encode = lambda text: tokenizer.encode(text, add_special_tokens=False)  # noqa: E731
    stops = frozenset({tokenizer.convert_tokens_to_ids("<|im_end|>")})
    waits = request_thinking({"min_think": 20, "wait": ["Hmm", "ok<|im_end|>"]})[0]
    assert stopping_text(waits, encode, stops) == ("wait", "ok<|im_end|>")
    assert stopping_text(request_thinking({"min_think": 20, "wait": "Hmm"})[0], encode, stops) is None
