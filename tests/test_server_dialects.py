"""The OpenAI dialects through the official openai client: raw completions, logprobs and echo, token-id
prompts, both reasoning field names, OpenRouter's reasoning object."""

from __future__ import annotations

import numpy as np
import openai
import pytest

import ponder

pytest.register_assert_rewrite("serving")
from serving import QUESTION, chat, details  # noqa: E402

pytest_plugins = ["serving"]
PROMPT = "The capital of France is"


@pytest.fixture(scope="module")
def model():
    return ponder.load_backend()


def test_a_text_completion_continues_the_raw_text(up, model):
    r = up.client().completions.create(model="x", prompt=PROMPT, max_tokens=8)
    choice = r.choices[0]
    alone = ponder.generate(PROMPT, model=model, continuation=True, max_tokens=8)
    assert choice.text == alone.answer and choice.text.strip()
    assert r.usage.prompt_tokens == len(model.prompt_ids(PROMPT)) and r.usage.completion_tokens == 8
    assert r.usage.completion_tokens_details.reasoning_tokens == 0 and "reasoning_content" not in choice.model_extra


def test_echo_and_logprobs_score_the_prompt_as_the_model_does(up, model):
    from test_logprobs import direct_logprobs

    r = up.client().completions.create(model="x", prompt=PROMPT, max_tokens=0, echo=True, logprobs=2)
    choice, ids = r.choices[0], model.prompt_ids(PROMPT)
    lp = choice.logprobs
    assert choice.text == PROMPT and "".join(lp.tokens) == PROMPT and len(lp.tokens) == len(ids)
    assert lp.token_logprobs[0] is None and lp.top_logprobs[0] is None
    assert np.allclose(lp.token_logprobs[1:], direct_logprobs(model, ids), atol=1e-3)
    assert all(len(top) <= 2 and max(top.values()) >= logprob for top, logprob in
               zip(lp.top_logprobs[1:], lp.token_logprobs[1:]))
    assert r.usage.completion_tokens == 0


def test_echo_with_a_continuation_scores_both(up, model):
    from test_logprobs import direct_logprobs

    r = up.client().completions.create(model="x", prompt=PROMPT, max_tokens=6, echo=True, logprobs=1)
    choice, ids = r.choices[0], model.prompt_ids(PROMPT)
    lp = choice.logprobs
    assert choice.text.startswith(PROMPT) and len(lp.tokens) == len(ids) + 6
    for token, offset in zip(lp.tokens, lp.text_offset):
        assert choice.text[offset: offset + len(token)] == token
    completion = model.tokenize(choice.text[len(PROMPT):])
    theirs = direct_logprobs(model, ids + completion, one_by_one_from=len(ids))  # as decoding evaluates them
    assert np.allclose(lp.token_logprobs[1:], theirs, atol=1e-3)


def test_token_id_prompts(up, model):
    client, ids = up.client(), model.prompt_ids(PROMPT)
    by_ids = client.completions.create(model="x", prompt=ids, max_tokens=5)
    by_text = client.completions.create(model="x", prompt=PROMPT, max_tokens=5)
    assert by_ids.choices[0].text == by_text.choices[0].text
    two = client.completions.create(model="x", prompt=[ids, model.prompt_ids("Once upon a time")], max_tokens=3)
    assert [c.index for c in two.choices] == [0, 1] and two.usage.prompt_tokens == len(ids) + 4
    with pytest.raises(openai.BadRequestError) as caught:
        client.completions.create(model="x", prompt=[1, 10**9], max_tokens=3)
    assert caught.value.body["param"] == "prompt" and "vocabulary" in caught.value.message


def test_a_completion_asking_for_thinking_opens_it(up):
    r = up.client().completions.create(model="x", prompt=f"Question: {QUESTION}\n", max_tokens=30, logprobs=0,
                                       extra_body={"reasoning": {"max_tokens": 6}})
    choice = r.choices[0]
    assert r.usage.completion_tokens_details.reasoning_tokens == details(r)["thinking_tokens"] <= 6
    assert choice.model_extra["reasoning"] == choice.model_extra["reasoning_content"]
    assert "".join(choice.logprobs.tokens).strip() == choice.text  # the answer's tokens, as text holds the answer


@pytest.mark.parametrize("body, extra, error", [
    ({"prompt": PROMPT, "max_tokens": 0}, None, "max_tokens 0 writes nothing"),
    ({"prompt": PROMPT, "echo": True}, {"thinking": {"max_tokens": 4}}, "echo"),
    ({"prompt": PROMPT}, {"raw": True, "reasoning": {"effort": "low"}}, "raw completion"),
    ({"prompt": PROMPT, "logprobs": 21}, None, "logprobs"),
    ({"prompt": [], "max_tokens": 2}, None, "prompt"),
])
def test_bad_completions_are_400s(up, body, extra, error):
    with pytest.raises(openai.BadRequestError, match=error):
        up.client().completions.create(model="x", extra_body=extra, **body)


def test_chat_logprobs_whole_and_streamed(up):
    ask = dict(model="x", messages=[{"role": "user", "content": QUESTION}], max_tokens=40, logprobs=True,
               top_logprobs=3, extra_body={"thinking": {"filler": 6}})
    client = up.client()
    r = client.chat.completions.create(**ask)
    choice = r.choices[0]
    content = choice.logprobs.content
    assert "".join(t.token for t in content).strip() == choice.message.content
    assert all(len(t.top_logprobs) == 3 and t.top_logprobs[0].logprob >= t.logprob and t.bytes for t in content)
    thinking = choice.logprobs.model_extra["reasoning_content"]
    assert [t["token"] for t in thinking] == ["."] * 6  # forced filler tokens carry the model's log probability
    assert all(t["logprob"] < 0 for t in thinking)
    streamed = []
    for chunk in client.chat.completions.create(stream=True, **ask):
        for c in chunk.choices:
            if c.logprobs is not None:
                streamed += c.logprobs.content
    assert [(t.token, t.logprob) for t in streamed] == [(t.token, t.logprob) for t in content]


def test_the_thinking_comes_under_both_names(up):
    r = chat(up, {"max_tokens": 10})
    message = r.choices[0].message.model_extra
    assert message["reasoning"] == message["reasoning_content"] and message["reasoning"]
    both = {"reasoning": "", "reasoning_content": ""}
    stream = up.client().chat.completions.create(model="x", messages=[{"role": "user", "content": QUESTION}],
                                                 max_tokens=24, stream=True,
                                                 extra_body={"thinking": {"max_tokens": 10}})
    for chunk in stream:
        for c in chunk.choices:
            for name in both:
                both[name] += c.delta.model_extra.get(name) or ""
    assert both["reasoning"] == both["reasoning_content"] == message["reasoning"]


@pytest.mark.parametrize("reasoning, low, high", [
    ({"max_tokens": 10}, 1, 10),
    ({"effort": "low"}, 1, 64),
    ({"enabled": False}, 0, 0),
    ({"effort": "none"}, 0, 0),
])
def test_openrouters_reasoning_object(up, reasoning, low, high):
    r = up.client().chat.completions.create(model="x", messages=[{"role": "user", "content": QUESTION}],
                                            max_tokens=80, extra_body={"reasoning": reasoning})
    assert low <= r.usage.completion_tokens_details.reasoning_tokens <= high


def test_excluded_reasoning_is_spent_but_not_returned(up):
    ask = dict(model="x", messages=[{"role": "user", "content": QUESTION}], max_tokens=40,
               extra_body={"reasoning": {"max_tokens": 12, "exclude": True}})
    r = up.client().chat.completions.create(**ask)
    assert r.usage.completion_tokens_details.reasoning_tokens > 0 and r.choices[0].message.content
    assert not {"reasoning", "reasoning_content"} & set(r.choices[0].message.model_extra)
    for chunk in up.client().chat.completions.create(stream=True, **ask):
        for c in chunk.choices:
            assert not {"reasoning", "reasoning_content"} & set(c.delta.model_extra or {})


def test_the_thinking_object_wins_over_the_reasoning_object(up):
    r = up.client().chat.completions.create(model="x", messages=[{"role": "user", "content": QUESTION}],
                                            max_tokens=80, reasoning_effort="high",
                                            extra_body={"thinking": {"min_tokens": 0, "max_tokens": 8},
                                                        "reasoning": {"max_tokens": 30}})
    assert r.usage.completion_tokens_details.reasoning_tokens <= 8


def test_one_reasoning_name_when_the_server_keeps_one(keyed):
    r = keyed.client().chat.completions.create(
        model="x", messages=[{"role": "user", "content": QUESTION}], max_tokens=24,
        extra_body={"thinking": {"max_tokens": 8}})
    extra = r.choices[0].message.model_extra
    assert extra["reasoning"] and "reasoning_content" not in extra
