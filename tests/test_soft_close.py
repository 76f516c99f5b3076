"""A soft close: at the cap the model writes on to the end of a word, line or sentence, within a slack.

The rule on text, the loop on the synthetic model (its greedy next token tells whether the thought was
cut mid-word), the vLLM steering against the rewinding loop, and SmolLM2 on both backends, batched.
"""

from __future__ import annotations

import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ponder
from ponder import Budget, PonderError
from ponder.policies.boundaries import UnitStarts, ends_unit, first_boundary, mid_word, starts_unit
from synthetic import SyntheticBackend

pytest.register_assert_rewrite("serving")
from serving import chat  # noqa: E402

pytest_plugins = ["serving"]

PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
UNIT = st.sampled_from(["word", "line", "sentence"])


def test_the_boundaries_of_each_unit():
    assert ends_unit("word", "so, ") and ends_unit("word", "so,") and not ends_unit("word", "wor")
    assert starts_unit("word", "wor", " d") and not starts_unit("word", "wor", "ds") and not starts_unit("word", "don", "'t")
    assert ends_unit("line", "a\n") and not ends_unit("line", "a. ") and starts_unit("line", "a", "\nb")
    assert ends_unit("sentence", "Done. ") and not ends_unit("sentence", "3.") and not ends_unit("sentence", "e.g")
    assert starts_unit("sentence", "Done.", " Next") and not starts_unit("sentence", "3.", "5")
    assert not starts_unit("sentence", "so", " then") and ends_unit("sentence", "so\n")
    assert first_boundary("word", "hel", "lo world") == 2 and first_boundary("line", "a", "bc") is None
    assert first_boundary("sentence", "It is 3.5", " or 4. Then") == 6
    assert mid_word("hel", "lo") and not mid_word("hello", " world") and not mid_word("so,", "x")
    starts = UnitStarts(["a", " b", "\nc", ",", ""])
    assert starts.after("word", "x") == {1, 2, 3} and starts.after("line", "x") == {2}
    assert starts.after("sentence", "x.") == {1, 2} and starts.after("sentence", "x") == {2}


def test_a_soft_close_is_checked_when_made():
    with pytest.raises(PonderError, match="soft_close"):
        Budget(max_tokens=8, soft_close=-1)
    with pytest.raises(PonderError, match="close_at must be one of word, line, sentence"):
        Budget(max_tokens=8, soft_close=4, close_at="paragraph")
    with pytest.raises(PonderError, match="give max_tokens"):
        Budget(soft_close=4)


def run(model, budget, limit=200, **kw):
    return ponder.generate("ab\n", model=model, thinking=budget, raw_prompt=True, max_tokens=limit, **kw)


def thought(model, result) -> str:
    return model.detokenize([i for i, p in zip(result.token_ids, result.token_phases) if p == "thinking"])


models = st.builds(SyntheticBackend, seed=st.integers(0, 2**16), bias=st.floats(0, 3), native=st.booleans())


@PROPS
@given(model=models, cap=st.integers(0, 30), slack=st.integers(1, 12), unit=UNIT)
def test_a_soft_close_ends_at_a_boundary_within_the_slack(model, cap, slack, unit):
    soft = run(model, Budget(max_tokens=cap, soft_close=slack, close_at=unit))
    spent = soft.usage.thinking_tokens
    assert spent <= cap + slack
    if not soft.capped:
        return  # the model ended its thinking (before the cap, or in the slack) or ran out of room
    if spent < cap:  # a half-written end marker at the cap, dropped: as the hard cap does
        assert soft.token_ids == run(model, Budget(max_tokens=cap)).token_ids
        return
    if spent < cap + slack:  # closed at a boundary: the thought ends one, or greedy's next token starts one
        text = thought(model, soft)
        ahead = run(model, Budget(max_tokens=spent + 1))  # the same greedy thought, one token further
        following = thought(model, ahead)[len(text):] if ahead.usage.thinking_tokens > spent else ""
        assert thought(model, ahead).startswith(text)
        assert ends_unit(unit, text) or starts_unit(unit, text, following) or not following


@PROPS
@given(model=models, cap=st.integers(0, 30))
def test_no_slack_is_the_hard_cap(model, cap):
    hard, soft = run(model, Budget(max_tokens=cap)), run(model, Budget(max_tokens=cap, soft_close=0, close_at="line"))
    assert soft.token_ids == hard.token_ids


QUESTIONS = ["What is 12 + 30?", "Name a colour and say why you like it.", "What is 7 times 6?",
             "Why is the sea salty?", "Spell cat backwards.", "Describe a tree in one sentence."]


def test_soft_close_on_a_real_model_ends_at_boundaries_batched_as_alone(backend):
    """SmolLM2 on each backend: greedy, each soft thought either ends a unit or stops where the model's
    next token (read from the same greedy thought one token further) starts one; batched rows give
    the same thoughts."""
    cases = [(Budget(max_tokens=8 + 3 * i, soft_close=16, close_at=("word", "line", "sentence")[i % 3]), q)
             for i, q in enumerate(QUESTIONS)]
    jobs = [dict(prompt=q, thinking=budget, max_tokens=48) for budget, q in cases]
    alone = [ponder.generate(model=backend, **job) for job in jobs]
    together = dict(ponder.generate_many(jobs, model=backend, batch_size=4, prefix_cache=False))
    for (budget, question), result in zip(cases, alone):
        spent = result.usage.thinking_tokens
        assert budget.max_tokens <= spent <= budget.max_tokens + budget.soft_close or not result.capped
        if result.capped and spent < budget.max_tokens + budget.soft_close:
            ahead = ponder.generate(question, backend, Budget(max_tokens=spent + 1), max_tokens=spent + 2)
            assert ahead.thinking.startswith(result.thinking)
            following = ahead.thinking[len(result.thinking):]
            unit = budget.close_at
            assert ends_unit(unit, result.thinking) or starts_unit(unit, result.thinking, following), \
                (result.thinking, following)
        assert result.usage.thinking_tokens == len([p for p in result.token_phases if p == "thinking"])
    assert [together[i].token_ids for i in range(len(jobs))] == [r.token_ids for r in alone]


def test_a_cap_that_falls_mid_word_writes_the_word_out(llama):
    """Where a hard cap would cut SmolLM2's greedy thought inside a word, the soft close writes on to its end
    (llama.cpp; the batched test above runs both backends)."""
    backend = llama
    found = 0
    for question in ["What is 4821 * 37?", "What is 2048 divided by 16?", "Is 9973 a prime number?",
                     "Spell 'extraordinary' backwards."]:  # numbers: their digits are tokens of one word
        long = ponder.generate(question, backend, Budget(max_tokens=64), max_tokens=66)
        ids = [i for i, p in zip(long.token_ids, long.token_phases) if p == "thinking"]
        texts = [backend.detokenize(ids[:k]) for k in range(len(ids) + 1)]
        cut = next((k for k in range(4, len(ids)) if mid_word(texts[k], texts[k + 1][len(texts[k]):])), None)
        if cut is None:
            continue
        soft = ponder.generate(question, backend, Budget(max_tokens=cut, soft_close=16), max_tokens=66)
        assert cut < soft.usage.thinking_tokens <= cut + 16
        assert long.thinking.startswith(soft.thinking)
        assert not mid_word(soft.thinking, long.thinking[len(soft.thinking):]), soft.thinking
        found += 1
    assert found >= 3


def reasoning(response) -> tuple[str, int]:
    message = response.choices[0].message
    return message.model_extra.get("reasoning_content") or "", response.usage.completion_tokens_details.reasoning_tokens


def test_the_server_takes_a_soft_close_and_refuses_a_bad_one(up):
    question = "What is 4821 * 37?"
    long, _ = reasoning(chat(up, {"max_tokens": 64}, max_tokens=80, question=question))
    soft, spent = reasoning(chat(up, {"max_tokens": 13, "soft_close": 16}, max_tokens=80, question=question))
    assert 13 <= spent <= 29 and long.startswith(soft) and not mid_word(soft, long[len(soft):])
    for thinking, message in [({"max_tokens": 8, "soft_close": -1}, "soft_close"),
                              ({"soft_close": 4}, "thinking.soft_close softens the cap: give thinking.max_tokens"),
                              ({"max_tokens": 8, "soft_close": 4, "close_at": "paragraph"}, "close_at")]:
        with pytest.raises(openai.BadRequestError, match=message):
            chat(up, thinking)


def test_the_remote_loop_closes_softly(up):
    """Over an endpoint the slack is one more call, kept to its first boundary."""
    ask = dict(endpoint=up.api, format="s1", max_tokens=120)
    hard = ponder.generate("What is 4821 * 37?", thinking=Budget(min_tokens=15, max_tokens=15), **ask)
    soft = ponder.generate("What is 4821 * 37?", thinking=Budget(min_tokens=15, max_tokens=15, soft_close=16,
                                                                 close_at="word"), **ask)
    u = soft.usage
    assert 15 <= u.thinking_tokens <= 31 and u.completion_tokens == u.thinking_tokens + u.marker_tokens + u.answer_tokens
    assert soft.thinking.startswith(hard.thinking) and soft.capped
    kept = soft.thinking[len(hard.thinking):]
    assert mid_word(hard.thinking, kept) and kept.strip()  # the cap fell inside a word, and the word was written out
    assert first_boundary("word", hard.thinking, kept) in (None, len(kept))  # no boundary before where it closed
    assert soft.answer.startswith("answer\nFinal Answer:")
