"""A running generation steered from outside: end its thinking now, or give it more, in Python (batched too)
and through POST /v1/ponder/requests/{id}/control on ponder serve."""

from __future__ import annotations

import json

import pytest

import ponder
from ponder import Budget, Control, PonderError

pytest.register_assert_rewrite("serving")
from serving import ask  # noqa: E402

pytest_plugins = ["serving"]

QUESTION = "Explain why the sky is blue."


def ender(control: Control, after: int):
    """An on_text that ends the thinking once ``after`` thinking deltas have streamed."""
    seen = []

    def on_text(phase: str, text: str) -> None:
        seen.append(phase)
        if phase == "thinking" and seen.count("thinking") == after:
            control.end_thinking()
    return on_text


def test_ending_and_extending_the_thinking_of_a_running_generation(llama):
    control = Control()
    ended = ponder.generate(QUESTION, llama, Budget(min_tokens=200, max_tokens=400), max_tokens=480,
                            on_text=ender(control, 10), control=control)
    assert ended.usage.thinking_tokens < 40 and ended.answer.startswith("\nFinal Answer:") and not ended.capped
    assert control.taken == [("end_thinking", 0)]
    more = Control()
    more.extend(30)
    extended = ponder.generate(QUESTION, llama, Budget(min_tokens=20, max_tokens=20), max_tokens=200, control=more)
    assert 20 < extended.usage.thinking_tokens <= 50 and more.taken == [("extend", 30)]
    late = Control()
    done = ponder.generate(QUESTION, llama, Budget(max_tokens=8), max_tokens=40, control=late,
                           on_text=lambda phase, text: phase == "answer" and late.end_thinking())
    assert late.taken == [] and done.usage.thinking_tokens == 8  # the thinking was over: nothing to end
    with pytest.raises(PonderError, match="extend takes a whole number"):
        Control().extend(0)


def test_a_control_acts_on_its_own_row_of_a_batch(llama):
    control = Control()
    jobs = [dict(prompt=QUESTION, thinking=Budget(min_tokens=60, max_tokens=60), max_tokens=100),
            dict(prompt=QUESTION, thinking=Budget(min_tokens=60, max_tokens=60), max_tokens=100, control=control,
                 on_text=ender(control, 5))]
    results = dict(ponder.generate_many(jobs, model=llama, batch_size=2))
    assert results[0].usage.thinking_tokens == 60 and results[1].usage.thinking_tokens < 20


def post(up, path: str, body: dict, key: str | None = None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
    status, _, text = ask(up, "POST", path, headers, json.dumps(body))
    return status, json.loads(text)


def test_the_server_ends_a_streaming_requests_thinking(up):
    stream = up.client().chat.completions.create(
        model="x", messages=[{"role": "user", "content": QUESTION}], max_tokens=480, stream=True,
        stream_options={"include_usage": True}, extra_body={"thinking": {"min_tokens": 300, "max_tokens": 400}})
    usage, answer, rid = None, "", None
    for n, chunk in enumerate(stream):
        rid = rid or chunk.id
        if n == 3:
            status, body = post(up, f"/v1/ponder/requests/{rid}/control", {"action": "end_thinking"})
            assert status == 200 and body["status"] == "accepted", body
        usage = chunk.usage or usage
        answer += "".join(c.delta.content or "" for c in chunk.choices)
    assert usage.completion_tokens_details.reasoning_tokens < 60 and answer.strip()
    status, body = post(up, f"/v1/ponder/requests/{rid}/control", {"action": "end_thinking"})
    assert status == 404 and "no running request" in body["error"]["message"]  # finished
    status, body = post(up, "/v1/ponder/requests/chatcmpl-nope/control", {"action": "extend", "tokens": 5})
    assert status == 404
    status, body = post(up, "/v1/ponder/requests/chatcmpl-nope/control", {"action": "pause"})
    assert status == 400 and body["error"]["param"] == "action"


def test_a_control_call_needs_the_servers_key(keyed):
    status, body = post(keyed, "/v1/ponder/requests/chatcmpl-x/control", {"action": "end_thinking"})
    assert status == 401
    status, body = post(keyed, "/v1/ponder/requests/chatcmpl-x/control", {"action": "end_thinking"}, key="s3cret")
    assert status == 404
