"""Answers that parse: the thinking free, the answer held to a JSON Schema, in Python (batched too), through
the server's three dialects with the official clients, and on the command line."""

from __future__ import annotations

import json
import subprocess
import sys

import anthropic
import jsonschema_rs
import openai
import pytest

import ponder
from ponder import Budget, PonderError

pytest.register_assert_rewrite("serving")
from serving import chat  # noqa: E402

pytest_plugins = ["serving"]

ANSWER = {"type": "object", "properties": {"answer": {"type": "integer"}, "why": {"type": "string", "maxLength": 48}},
          "required": ["answer", "why"], "additionalProperties": False}
COLOURS = {"type": "object", "properties": {"colours": {"type": "array", "minItems": 1, "maxItems": 3,
                                                        "items": {"enum": ["red", "green", "blue"]}}},
           "required": ["colours"]}
QUESTIONS = ["What is 17 * 3?", "Which colours make purple?"]


def valid(text: str, schema: dict) -> dict:
    value = json.loads(text)
    jsonschema_rs.validate(schema, value)
    return value


def test_answers_follow_their_schema_after_any_thinking_batched_as_alone(backend):
    """Caps that cut the thinking at 8 tokens (a forced close leads into the JSON), a free thinking, rows
    with different schemas side by side."""
    jobs = [dict(prompt=q, thinking=thinking, answer_schema=schema, max_tokens=120)
            for q, schema in zip(QUESTIONS, [ANSWER, COLOURS])
            for thinking in (Budget(max_tokens=8), Budget(min_tokens=24, max_tokens=24), None)]
    alone = [ponder.generate(model=backend, **job) for job in jobs]
    together = dict(ponder.generate_many(jobs, model=backend, batch_size=4))
    for job, result in zip(jobs, alone):
        valid(result.answer, job["answer_schema"])
        valid(together[jobs.index(job)].answer, job["answer_schema"])
        assert result.finish_reason == "stop"
    assert sum(r.capped for r in alone) >= 2
    assert [r.answer for r in alone] == [together[i].answer for i in range(len(jobs))]


def test_a_json_object_and_bad_schemas(llama):
    result = ponder.generate("Name a colour.", llama, Budget(max_tokens=8), answer_schema="json_object", max_tokens=60)
    assert isinstance(json.loads(result.answer), dict)
    with pytest.raises(PonderError, match="not a JSON Schema ponder can hold an answer to"):
        ponder.generate("Hi", llama, answer_schema={"type": "strin"})
    with pytest.raises(PonderError, match="send tools or an answer schema, not both"):
        ponder.generate("Hi", llama, answer_schema=ANSWER, tools=[{"type": "function", "function": {"name": "f"}}])
    with pytest.raises(PonderError, match="answer_schema must be"):
        ponder.generate("Hi", llama, answer_schema=3)
    with pytest.raises(PonderError, match="need a local model"):
        ponder.generate("Hi", endpoint="http://127.0.0.1:9/v1", answer_schema=ANSWER)


def test_each_dialect_holds_the_answer_to_its_schema(up):
    client = up.client()
    fmt = {"type": "json_schema", "json_schema": {"name": "answer", "schema": ANSWER, "strict": True}}
    reply = chat(up, {"max_tokens": 8}, max_tokens=120, question="What is 17 * 3?", response_format=fmt)
    valid(reply.choices[0].message.content, ANSWER)
    assert reply.usage.completion_tokens_details.reasoning_tokens == 8
    pieces = [c.choices[0].delta.content or "" for c in chat(up, {"max_tokens": 8}, max_tokens=120, stream=True,
                                                             question="What is 17 * 3?", response_format=fmt)
              if c.choices]
    assert "".join(pieces).strip() == reply.choices[0].message.content.strip()
    assert isinstance(json.loads(chat(up, response_format={"type": "json_object"}).choices[0].message.content), dict)
    made = client.responses.create(model="x", input="What is 2 + 2?", max_output_tokens=120,
                                   text={"format": {"type": "json_schema", "name": "answer", "schema": ANSWER}})
    valid(made.output_text, ANSWER)
    claude = anthropic.Anthropic(base_url=up.url, api_key="unused", max_retries=0, timeout=120)
    message = claude.messages.create(model="x", max_tokens=120, messages=[{"role": "user", "content": "What is 2 + 2?"}],
                                     output_config={"format": {"type": "json_schema", "schema": COLOURS}})
    valid(message.content[0].text, COLOURS)


def test_a_schema_the_grammar_refuses_is_a_400_in_each_dialect(up):
    bad = {"type": "object", "properties": {"a": {"type": "strin"}}}
    with pytest.raises(openai.BadRequestError) as caught:
        chat(up, response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": bad}})
    assert caught.value.body["param"] == "response_format" and "strin" in caught.value.body["message"]
    with pytest.raises(openai.BadRequestError, match="not both"):
        chat(up, response_format={"type": "json_object"},
             tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}])
    with pytest.raises(openai.BadRequestError) as caught:
        up.client().responses.create(model="x", input="Hi", text={"format": {"type": "json_schema", "name": "a",
                                                                             "schema": bad}})
    assert caught.value.body["param"] == "text.format"
    claude = anthropic.Anthropic(base_url=up.url, api_key="unused", max_retries=0, timeout=120)
    with pytest.raises(anthropic.BadRequestError) as caught:
        claude.messages.create(model="x", max_tokens=32, messages=[{"role": "user", "content": "Hi"}],
                               output_config={"format": {"type": "json_schema", "schema": bad}})
    assert caught.value.body["type"] == "error" and "output_config.format" in caught.value.body["error"]["message"]


def ponder_cli(*args):
    return subprocess.run([sys.executable, "-m", "ponder.cli", *args], capture_output=True, text=True, timeout=600)


def test_the_command_line_takes_a_schema_file(tmp_path):
    path = tmp_path / "answer.json"
    path.write_text(json.dumps(ANSWER))
    run = ponder_cli("generate", "What is 17 * 3?", "--max-think", "8", "--json-schema", str(path), "--json")
    assert run.returncode == 0, run.stderr
    valid(json.loads(run.stdout)["answer"], ANSWER)
    path.write_text("{not json")
    run = ponder_cli("generate", "Hi", "--json-schema", str(path))
    assert run.returncode == 2 and "is not JSON" in run.stderr and len(run.stderr.strip().splitlines()) == 1
    run = ponder_cli("generate", "Hi", "--json-schema", str(tmp_path / "missing.json"))
    assert run.returncode == 2 and "cannot read the JSON Schema" in run.stderr
