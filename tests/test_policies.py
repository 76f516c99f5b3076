"""Property tests of the policies and the decoding loop on the synthetic vocabulary (no model)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ponder
from ponder import Budget, EntropyPause, Filler, NoThinking, Pause, Prefix
from synthetic import SyntheticBackend

WAIT_TEXTS = ["Wait", " ...", "Wait,", "Ok, so", "ab"]
PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def run(backend, thinking, max_tokens=200, **kw):
    return ponder.generate("ab\n", model=backend, thinking=thinking, raw_prompt=True, max_tokens=max_tokens, **kw)


@st.composite
def budgets(draw):
    max_tokens = draw(st.integers(0, 40))
    min_tokens = draw(st.integers(0, max_tokens))
    wait = tuple(draw(st.lists(st.sampled_from(WAIT_TEXTS), min_size=1, max_size=3)))
    return Budget(min_tokens=min_tokens, max_tokens=max_tokens, wait=wait)


models = st.builds(SyntheticBackend, seed=st.integers(0, 2**16), bias=st.floats(0, 4), native=st.booleans())


def thinking_ids(result):
    return [i for i, p in zip(result.token_ids, result.token_phases) if p == "thinking"]


@PROPS
@given(budget=budgets(), model=models, limit=st.integers(1, 120))
def test_thinking_stays_within_the_budget(budget, model, limit):
    result = run(model, budget, max_tokens=limit)
    thinking = result.usage.thinking_tokens
    assert thinking <= budget.max_tokens
    closed = "end" in result.token_phases
    if closed:
        assert thinking >= budget.min_tokens
    else:  # only the overall limit may stop the thinking early
        assert result.finish_reason == "length" and result.usage.completion_tokens == limit


@PROPS
@given(budget=budgets(), model=models)
def test_forced_tokens_are_exactly_as_configured(budget, model):
    result = run(model, budget)
    vocab = lambda text: tuple(model.tokenize(text))  # noqa: E731
    waits = [i for i in result.injections if i["reason"] == "wait"]
    for n, inj in enumerate(waits):
        configured = budget.wait[n % len(budget.wait)]
        ids = result.token_ids[inj["start"]: inj["start"] + inj["length"]]
        if ids != vocab(configured):  # only a wait cut at the cap may be shorter
            assert vocab(configured)[: len(ids)] == ids and result.usage.thinking_tokens == budget.max_tokens
    if result.capped:
        end = result.token_phases.index("end")
        forced = result.token_ids[end: end + len(vocab("</think>\nFinal Answer:"))]
        assert forced == vocab("</think>") + vocab("\nFinal Answer:")
        assert result.answer.startswith("\nFinal Answer:")


@PROPS
@given(budget=budgets(), model=models, prefix=st.sampled_from(["Ok, so", "a b"]))
def test_counts_equal_a_recount_of_the_tokens(budget, model, prefix):
    result = run(model, [budget, Prefix(prefix)])
    u, phases, sources = result.usage, result.token_phases, result.token_sources
    assert u.completion_tokens == len(result.token_ids) == len(phases)
    assert u.thinking_tokens == phases.count("thinking")
    assert u.answer_tokens == phases.count("answer")
    assert u.thinking_injected == sum(1 for p, s in zip(phases, sources) if p == "thinking" and s != "sampled")
    assert u.thinking_injected == sum(i["length"] for i in result.injections if i["phase"] == "thinking")
    assert result.waits == sum(1 for i in result.injections if i["reason"] == "wait")
    # the thinking text is its tokens' text, plus any text sharing a token with the end marker
    assert result.thinking.startswith(model.detokenize(thinking_ids(result)))
    assert result.completion.startswith(result.thinking)
    if budget.max_tokens >= len(model.tokenize(prefix)):
        assert result.thinking.startswith(prefix)


@PROPS
@given(model=models, count=st.integers(1, 30), text=st.sampled_from([".", " ...", "ab"]))
def test_filler_replaces_the_thinking(model, count, text):
    result = run(model, Filler(count=count, text=text))
    assert result.thinking == text * count
    assert result.usage.thinking_tokens == count * len(model.tokenize(text))
    assert result.usage.thinking_injected == result.usage.thinking_tokens


@PROPS
@given(model=models, count=st.integers(1, 8), budget=budgets())
def test_filler_goes_before_the_end_marker(model, count, budget):
    uncapped = Budget(min_tokens=budget.min_tokens, wait=budget.wait)
    result = run(model, [uncapped, Filler(count=count, where="before_end")])
    if "end" in result.token_phases:
        end = result.token_phases.index("end")
        assert result.token_ids[end - count: end] == tuple(model.tokenize(".")) * count
        assert result.thinking.endswith("." * count)


@PROPS
@given(model=models, count=st.integers(1, 12), budget=budgets(), max_waits=st.one_of(st.none(), st.integers(0, 3)),
       limit=st.integers(1, 120))
def test_a_filler_before_the_end_keeps_the_budget(model, count, budget, max_waits, limit):
    """The filler counts as thinking: the thinking stays within the budget, the filler cut to fit the cap."""
    budget = Budget(budget.min_tokens, budget.max_tokens, budget.wait, max_waits=max_waits)
    result = run(model, [budget, Filler(count=count, where="before_end")], max_tokens=limit)
    thinking = result.usage.thinking_tokens
    assert thinking <= budget.max_tokens
    if "end" not in result.token_phases:
        assert result.finish_reason == "length" and result.usage.completion_tokens == limit
        return
    waits_spent = max_waits is not None and result.waits == max_waits
    assert thinking >= budget.min_tokens or waits_spent
    filler = [i for i in result.injections if i["reason"] == "filler"]
    end = result.token_phases.index("end")
    dots = sum(i["length"] for i in filler)
    assert dots == min(count, budget.max_tokens - (end - dots))  # as many as fit under the cap
    if dots:
        assert len(filler) == 1 and filler[0]["start"] + dots == end  # right before the end marker


@PROPS
@given(model=models, count=st.integers(1, 30), maximum=st.integers(0, 40), text=st.sampled_from([".", " ...", "ab"]))
def test_a_replacing_filler_is_cut_to_the_cap(model, count, maximum, text):
    result = run(model, [Budget(max_tokens=maximum), Filler(count=count, text=text)])
    unit = len(model.tokenize(text))
    assert result.usage.thinking_tokens == min(count * unit, maximum) == result.usage.thinking_injected
    assert result.capped == (count * unit > maximum)  # capped only where the cap cut the filler


def test_a_replacing_filler_is_the_whole_thinking():
    import pytest

    from ponder import PonderError
    from ponder.policies import chain

    for other in (Budget(min_tokens=4), Prefix("Ok")):
        with pytest.raises(PonderError, match="a replacing filler is the whole thinking"):
            chain([other, Filler(8)])


@PROPS
@given(model=models, count=st.integers(1, 4), every=st.one_of(st.none(), st.integers(2, 6)))
def test_pause_opens_the_answer_and_repeats(model, count, every):
    result = run(model, [Budget(max_tokens=4), Pause(count=count, text=" ...", every=every)], max_tokens=60)
    led = any(i["reason"] == "lead" for i in result.injections)  # a forced end brings the lead
    assert result.answer.startswith(("\nFinal Answer:" if led else "") + " ..." * count)
    pauses = [i for i in result.injections if i["reason"] == "pause"]
    for before, after in zip(pauses, pauses[1:]):
        sampled = [s for s in result.token_sources[before["start"] + before["length"]: after["start"]] if s == "sampled"]
        assert len(sampled) == every


@PROPS
@given(model=models, cooldown=st.integers(0, 6), most=st.integers(0, 5))
def test_entropy_pause_respects_cooldown_and_maximum(model, cooldown, most):
    result = run(model, [Budget(min_tokens=30, max_tokens=40), EntropyPause(threshold=0.0, cooldown=cooldown,
                                                                           max_insertions=most)])
    pauses = [i for i in result.injections if i["reason"] == "entropy"]
    assert len(pauses) <= most
    assert all(" ..." == i["text"] for i in pauses)
    for before, after in zip(pauses, pauses[1:]):
        gap = result.token_sources[before["start"] + before["length"]: after["start"]]
        assert sum(1 for s in gap if s == "sampled") >= cooldown


def test_entropy_pause_needs_entropy_above_the_threshold():
    model = SyntheticBackend(seed=1)
    result = run(model, [Budget(min_tokens=20, max_tokens=30), EntropyPause(threshold=99.0)])
    assert not [i for i in result.injections if i["reason"] == "entropy"]


@PROPS
@given(model=models)
def test_no_thinking_answers_at_once(model):
    result = run(model, NoThinking())
    assert result.thinking == "" and result.usage.thinking_tokens == 0
    marker = len(model.tokenize("</think>"))
    assert result.token_phases[: marker + 1] == ("end",) * marker + ("answer",)
    assert result.answer.startswith("\nFinal Answer:")


def test_same_seed_same_output_and_seeds_differ():
    model = SyntheticBackend(seed=3, bias=0.5)
    a, b = (run(model, Budget(max_tokens=30), temperature=1.0, seed=7) for _ in range(2))
    assert a.token_ids == b.token_ids
    others = {run(model, Budget(max_tokens=30), temperature=1.0, seed=s).token_ids for s in range(4)}
    assert len(others) > 1


class Recording(SyntheticBackend):
    """Records the completion positions each forward pass covers."""

    def prefill(self, ids, all_positions=False):
        self.prompt_len, self.calls = len(ids), []
        return super().prefill(ids, all_positions)

    def evaluate(self, ids, all_positions=False):
        self.calls.append((len(self.cached) - getattr(self, "prompt_len", 0), list(ids)))
        return super().evaluate(ids, all_positions)


@PROPS
@given(seed=st.integers(0, 2**16), native=st.booleans(), budget=budgets(), prefix=st.sampled_from(["Ok, so", "a b a"]))
def test_forced_runs_take_one_forward_pass_and_the_prompt_one_prefill(seed, native, budget, prefix):
    model = Recording(seed=seed, native=native)
    result = run(model, [budget, Prefix(prefix)])
    prompt_calls = [c for c in model.calls if c[0] < 0]
    assert len(prompt_calls) == 1 and len(prompt_calls[0][1]) == model.prompt_len
    for inj in result.injections:
        covered = [start <= inj["start"] and inj["start"] + inj["length"] <= start + len(ids)
                   for start, ids in model.calls]
        # a run at the very end may never need evaluating; otherwise one call covers all of it
        assert any(covered) or inj["start"] + inj["length"] == len(result.token_ids)


def test_bad_settings_say_what_to_do():
    import pytest

    from ponder import PonderError, make_policy

    with pytest.raises(PonderError, match="lower the minimum or raise the maximum"):
        Budget(min_tokens=10, max_tokens=5)
    with pytest.raises(PonderError, match="min_tokens must be >= 0"):
        Budget(min_tokens=-1)
    with pytest.raises(PonderError, match="wait must be one or more non-empty strings"):
        Budget(wait=("",))
    with pytest.raises(PonderError, match="choose one of adaptive, budget"):
        make_policy("think-harder")
    with pytest.raises(PonderError, match="has no option colour"):
        make_policy("budget", colour="red")
    assert make_policy("entropy-pause", threshold=2.0) == EntropyPause(threshold=2.0)
