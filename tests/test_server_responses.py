"""OpenAI's Responses API on ``ponder serve``, through the official openai client: real server, real model."""

from __future__ import annotations

import base64
import json
import time

import openai
import pytest

pytest.register_assert_rewrite("serving")
from serving import LIMITS, QUESTION, chat, details, get  # noqa: E402

pytest_plugins = ["serving"]

THINK = {"min_tokens": 8, "max_tokens": 12}  # an exact, short thinking: the runs stay quick
SYSTEM = "You are a terse calculator. Reply with the number only."
NO_THINKING = {"effort": "none"}


def create(server, **kw):
    kw.setdefault("max_output_tokens", 40)
    return server.client().responses.create(model="anything", **kw)


def reasoning_text(response) -> str:
    return "".join(part.text for item in response.output if item.type == "reasoning" for part in item.content or [])


def test_a_string_input_answers_as_chat_does(up):
    r = create(up, input=QUESTION, extra_body={"thinking": THINK}, metadata={"run": "one"}, user="responses-test")
    p = details(r)
    assert r.id.startswith("resp_") and r.object == "response" and r.status == "completed"
    assert r.model == "SmolLM2-135M-Instruct" and r.metadata == {"run": "one"} and r.store is True
    reasoning, message = r.output
    assert reasoning.type == "reasoning" and reasoning.id.startswith("rs_") and reasoning.summary == []
    assert message.type == "message" and message.id.startswith("msg_") and message.status == "completed"
    assert message.role == "assistant" and message.content[0].type == "output_text"
    assert r.output_text == message.content[0].text and r.output_text
    assert r.usage.output_tokens_details.reasoning_tokens == p["thinking_tokens"]
    assert 8 <= p["thinking_tokens"] <= 12
    assert r.usage.output_tokens == p["thinking_tokens"] + p["marker_tokens"] + p["answer_tokens"]
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens
    same = chat(up, THINK, max_tokens=40)  # the same request as a chat completion: greedy, the same output
    assert r.output_text == same.choices[0].message.content
    assert reasoning_text(r) == same.choices[0].message.reasoning_content
    assert r.usage.input_tokens == same.usage.prompt_tokens
    status, body = get(up.url + "/v1/ponder/requests")
    [mine] = [row for row in json.loads(body)["data"] if row["id"] == r.id]
    assert mine["endpoint"] == "responses" and mine["user"] == "responses-test" and mine["status"] == "done"


def test_items_instructions_and_sent_back_reasoning_make_the_same_prompt(up):
    asked = create(up, instructions=SYSTEM, input=QUESTION, reasoning=NO_THINKING)
    items = [{"role": "system", "content": SYSTEM},
             {"type": "message", "role": "user", "content": [{"type": "input_text", "text": QUESTION}]}]
    given = create(up, input=items, reasoning=NO_THINKING)
    earlier = {"type": "reasoning", "id": "rs_earlier", "summary": [],
               "content": [{"type": "reasoning_text", "text": "an earlier thought"}]}
    skipped = create(up, input=[earlier, *items], reasoning=NO_THINKING)
    bare = create(up, input=QUESTION, reasoning=NO_THINKING)
    assert asked.usage.input_tokens == given.usage.input_tokens == skipped.usage.input_tokens
    assert asked.usage.input_tokens > bare.usage.input_tokens
    assert asked.output_text == given.output_text == skipped.output_text and asked.output_text
    assert asked.instructions == SYSTEM and given.instructions is None


def test_reasoning_effort_and_the_thinking_controls(up):
    off = create(up, input=QUESTION, reasoning=NO_THINKING)
    assert [item.type for item in off.output] == ["message"] and details(off)["thinking_tokens"] == 0
    low = create(up, input=QUESTION, reasoning={"effort": "low", "summary": "auto"}, max_output_tokens=48)
    as_chat = chat(up, max_tokens=48, reasoning_effort="low")  # the same mapping: the same thinking
    assert details(low)["thinking_tokens"] == details(as_chat)["thinking_tokens"] > 0
    assert low.reasoning.effort == "low" and low.reasoning.summary == "auto"
    capped = create(up, input=QUESTION, reasoning={"max_tokens": 6}, max_output_tokens=32)  # OpenRouter's
    assert 1 <= details(capped)["thinking_tokens"] <= 6 and details(capped)["capped"]
    hidden = create(up, input=QUESTION, reasoning={"effort": "minimal", "exclude": True},
                    include=["reasoning.encrypted_content"])
    assert [item.type for item in hidden.output] == ["message"]  # thought, billed, not returned
    assert hidden.usage.output_tokens_details.reasoning_tokens == details(hidden)["thinking_tokens"] > 0
    shown = create(up, input=QUESTION, extra_body={"thinking": THINK}, include=["reasoning.encrypted_content"])
    assert base64.b64decode(shown.output[0].encrypted_content).decode() == reasoning_text(shown)


def test_max_output_tokens_cuts_the_answer(up):
    r = create(up, input=QUESTION, reasoning=NO_THINKING, max_output_tokens=8)
    assert r.status == "incomplete" and r.incomplete_details.reason == "max_output_tokens"
    assert r.usage.output_tokens == 8 and r.max_output_tokens == 8
    [message] = r.output
    assert message.status == "incomplete" and r.output_text


def test_the_stream_sends_the_events_in_order(up):
    ask = dict(input=QUESTION, extra_body={"thinking": THINK})
    whole = create(up, **ask)
    events = list(create(up, stream=True, **ask))
    assert [e.sequence_number for e in events] == list(range(len(events)))
    kinds = [e.type for e in events]
    collapsed = [k for i, k in enumerate(kinds) if i == 0 or k != kinds[i - 1]]
    assert collapsed == ["response.created", "response.in_progress", "response.output_item.added",
                         "response.reasoning_text.delta", "response.reasoning_text.done", "response.output_item.done",
                         "response.output_item.added", "response.content_part.added", "response.output_text.delta",
                         "response.output_text.done", "response.content_part.done", "response.output_item.done",
                         "response.completed"]
    final = events[-1].response
    thought = "".join(e.delta for e in events if e.type == "response.reasoning_text.delta")
    answer = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert thought == reasoning_text(final) == reasoning_text(whole) and thought
    assert answer == final.output_text == whole.output_text and answer
    assert events[0].response.id == final.id and events[0].response.status == "in_progress"
    assert [e.item.id for e in events if e.type == "response.output_item.done"] == [i.id for i in final.output]
    assert final.usage.output_tokens == whole.usage.output_tokens and final.status == "completed"
    assert up.client().responses.retrieve(final.id).output_text == answer  # streamed responses are stored too


def test_the_sdks_stream_helper_gives_the_final_response(up):
    client = up.client()
    with client.responses.stream(model="x", input=QUESTION, max_output_tokens=40,
                                 extra_body={"thinking": THINK}) as stream:
        deltas = [e for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert final.output_text and deltas[-1].snapshot == final.output_text
    assert [item.type for item in final.output] == ["reasoning", "message"]
    assert details(final)["thinking_tokens"] == final.usage.output_tokens_details.reasoning_tokens


def test_previous_response_id_continues_the_conversation(up):
    client = up.client()
    first = create(up, instructions=SYSTEM, input=QUESTION, extra_body={"thinking": {"max_tokens": 8}})
    assert first.output_text and reasoning_text(first)
    follow = "Now add 8 to it."
    second = create(up, input=follow, previous_response_id=first.id, reasoning=NO_THINKING, max_output_tokens=16)
    # the earlier turns, as items: the first answer without its thinking, and without the first instructions
    spelled = create(up, input=[{"role": "user", "content": QUESTION},
                                {"role": "assistant", "content": [{"type": "output_text", "text": first.output_text}]},
                                {"role": "user", "content": follow}], reasoning=NO_THINKING, max_output_tokens=16)
    assert second.usage.input_tokens == spelled.usage.input_tokens > first.usage.input_tokens
    assert second.output_text == spelled.output_text and second.previous_response_id == first.id
    kept = client.responses.retrieve(first.id)
    assert kept.output_text == first.output_text and kept.usage.input_tokens == first.usage.input_tokens
    third = create(up, input="And double that.", previous_response_id=second.id, reasoning=NO_THINKING,
                   max_output_tokens=16)
    assert third.usage.input_tokens > second.usage.input_tokens and third.previous_response_id == second.id


def test_store_false_keeps_nothing_and_delete_forgets(up):
    client = up.client()
    unkept = create(up, input=QUESTION, store=False, reasoning=NO_THINKING, max_output_tokens=16)
    assert unkept.store is False and unkept.output_text
    with pytest.raises(openai.NotFoundError) as err:
        client.responses.retrieve(unkept.id)
    assert err.value.body["code"] == "response_not_found"
    with pytest.raises(openai.BadRequestError) as err:
        create(up, input="And then?", previous_response_id=unkept.id)
    assert err.value.body["param"] == "previous_response_id"
    kept = create(up, input=QUESTION, reasoning=NO_THINKING, max_output_tokens=16)
    assert client.responses.retrieve(kept.id).id == kept.id
    client.responses.delete(kept.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(kept.id)


CALC = {"type": "function", "name": "calculator", "description": "Evaluate an arithmetic expression",
        "parameters": {"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]}}
SHORT = {"thinking": {"max_tokens": 8}}


def test_function_calls_whole_streamed_and_their_outputs_sent_back(up):
    forced = create(up, input="What is 17 * 23?", tools=[CALC], tool_choice="required", max_output_tokens=96,
                    extra_body=SHORT)
    assert forced.status == "completed" and forced.output[-1].type == "function_call"
    call = forced.output[-1]
    assert call.name == "calculator" and "expression" in json.loads(call.arguments)
    assert forced.tools[0].name == "calculator" and forced.tool_choice == "required"
    answered = create(up, previous_response_id=forced.id, tools=[CALC], max_output_tokens=24, extra_body=SHORT,
                      input=[{"type": "function_call_output", "call_id": call.call_id, "output": "391"}])
    assert answered.usage.input_tokens > forced.usage.input_tokens  # the call and its output are in the prompt
    sent_back = create(up, tools=[CALC], max_output_tokens=24,
                       extra_body={"thinking": {"max_tokens": 8, "turn_max_tokens": 20}}, input=[
        {"role": "user", "content": "What is 17 * 23?"},
        {"type": "reasoning", "id": "rs_1", "summary": [], "content": [{"type": "reasoning_text", "text": "Hm."}]},
        {"type": "function_call", "call_id": "c1", "name": "calculator", "arguments": '{"expression": "17*23"}'},
        {"type": "function_call_output", "call_id": "c1", "output": "391"}])
    assert sent_back.status in ("completed", "incomplete")
    turn = sent_back.model_extra["ponder"]["turn"]  # the reasoning item sent back counts towards the turn
    assert turn["spent_before"] > 0 and turn["spent"] <= 20
    with up.client().responses.stream(model="x", input="What is 17 * 23?", tools=[CALC], max_output_tokens=96,
                                      tool_choice={"type": "function", "name": "calculator"},
                                      extra_body=SHORT) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert "response.function_call_arguments.delta" in kinds and "response.function_call_arguments.done" in kinds
    streamed = final.output[-1]
    assert streamed.type == "function_call" and streamed.id.startswith("fc_") and json.loads(streamed.arguments)


BAD = [
    (dict(tools=[{"type": "web_search"}]), "tools.0.type"),
    (dict(tools=[{"type": "function", "name": "f", "parameters": {"type": "object", "properties": 3}}]), "tools"),
    (dict(tool_choice="required"), "tool_choice"),
    (dict(tools=[CALC], tool_choice={"type": "function", "name": "nope"}), "tool_choice"),
    (dict(input=[{"role": "user", "content": "hi"}, {"type": "function_call_output", "call_id": "never", "output": "1"}]),
     "input"),
    (dict(text={"format": {"type": "json_schema", "name": "a", "schema": {"type": "strin"}}}), "text.format"),
    (dict(text={"verbosity": "high"}), "text.verbosity"),
    (dict(input=[{"type": "web_search_call", "id": "c"}]), "input[0].type"),
    (dict(input=[{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}]), "input[0].content"),
    (dict(input=[{"role": "tool", "content": "x"}]), "input[0].role"),
    (dict(input=[]), "input"),
    (dict(input=["a bare string"]), "input[0]"),
    (dict(previous_response_id="resp_unknown"), "previous_response_id"),
    (dict(max_output_tokens=LIMITS["max_tokens"] + 1), "max_output_tokens"),
    (dict(include=["message.output_text.logprobs"]), "include"),
    (dict(truncation="auto"), "truncation"),
    (dict(background=True), "background"),
    (dict(reasoning={"effort": "none"}, extra_body={"thinking": {"max_tokens": 5}}), "thinking"),
    (dict(input="one two three " * 400), "input"),  # over --max-prompt-tokens
]


@pytest.mark.parametrize("kw, param", BAD, ids=[param + str(i) for i, (_, param) in enumerate(BAD)])
def test_bad_requests_get_openai_errors_naming_the_field(up, kw, param):
    kw = {"input": QUESTION, **kw}
    with pytest.raises(openai.BadRequestError) as err:
        create(up, **kw)
    body = err.value.body
    assert err.value.status_code == 400 and body["param"] == param and body["type"] == "invalid_request_error"
    assert body["message"] and set(body) == {"message", "type", "param", "code"}


def test_a_client_that_leaves_mid_stream_cancels_the_generation(up):
    stream = create(up, input=QUESTION, stream=True, max_output_tokens=LIMITS["max_tokens"],
                    extra_body={"thinking": {"min_tokens": 1000}})
    rid = None
    for event in stream:
        rid = rid or event.response.id
        if event.type == "response.reasoning_text.delta":
            break  # decoding has begun
    stream.close()
    deadline = time.time() + 10  # the server notices the closed connection within moments
    while True:
        rows = json.loads(get(up.url + "/v1/ponder/requests")[1])["data"]
        if [row["status"] for row in rows if row["id"] == rid] == ["cancelled"]:
            break
        assert time.time() < deadline, "the closed stream's generation was not cancelled"
        time.sleep(0.2)
