"""Log probabilities from the decoding loop: each token's is the model's own at its position, forced or sampled.

The synthetic model's logits are a pure function of the context, so every record can be recomputed
exactly; the real models are checked against a forward pass of their own library.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ponder
from ponder.sampling import log_softmax
from synthetic import SyntheticBackend
from test_batching import requests

PROPS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def expected(model: SyntheticBackend, context: list[int], token: int) -> float:
    return float(log_softmax(model.logits(context).astype(np.float64))[token])


def check_records(model: SyntheticBackend, result, top: int) -> None:
    prompt = model.prompt_ids(result.prompt)
    assert len(result.logprobs) == len(result.token_ids)
    for i, (token, record) in enumerate(zip(result.token_ids, result.logprobs)):
        assert record.token == token
        assert record.logprob == pytest.approx(expected(model, prompt + list(result.token_ids[:i]), token), abs=1e-9)
        assert len(record.top) == min(top, len(model.texts))
        assert [lp for _, lp in record.top] == sorted((lp for _, lp in record.top), reverse=True)
        if record.top:
            assert record.top[0][1] >= record.logprob


@PROPS
@given(job=requests(), seed=st.integers(0, 2**16), native=st.booleans(), top=st.integers(0, 4))
def test_every_token_carries_the_models_log_probability(job, seed, native, top):
    model = SyntheticBackend(seed=seed, native=native)
    result = ponder.generate(model=model, logprobs=top, **job)
    check_records(model, result, top)
    plain = ponder.generate(model=model, **job)
    assert plain.token_ids == result.token_ids and plain.logprobs is None  # scoring changes nothing else


@PROPS
@given(jobs=st.lists(requests(), min_size=1, max_size=6), seed=st.integers(0, 2**16), batch_size=st.integers(2, 4))
def test_batched_rows_score_as_alone(jobs, seed, batch_size):
    model = SyntheticBackend(seed=seed)
    scored = [dict(job, logprobs=2, prompt_logprobs=bool(i % 2)) for i, job in enumerate(jobs)]
    together = dict(ponder.generate_many(scored, model=model, batch_size=batch_size))  # the model is free after
    for index, result in together.items():
        check_records(model, result, 2)
        alone = ponder.generate(model=model, **scored[index])
        assert [r.logprob for r in alone.logprobs] == pytest.approx([r.logprob for r in result.logprobs])
        assert (result.prompt_logprobs is not None) == bool(index % 2)


def test_prompt_tokens_are_scored_after_the_first():
    model = SyntheticBackend(seed=5)
    result = ponder.generate("ab ab\n", model=model, raw_prompt=True, continuation=True, max_tokens=3,
                             logprobs=1, prompt_logprobs=True)
    prompt = model.prompt_ids("ab ab\n")
    assert result.prompt_logprobs[0] is None and len(result.prompt_logprobs) == len(prompt)
    for j in range(1, len(prompt)):
        assert result.prompt_logprobs[j].logprob == pytest.approx(expected(model, prompt[:j], prompt[j]))


def test_a_token_id_prompt_is_the_same_as_its_text():
    model = SyntheticBackend(seed=2)
    ids = model.prompt_ids("a b\n")
    by_ids = ponder.generate(ids, model=model, continuation=True, max_tokens=6)
    by_text = ponder.generate("a b\n", model=model, continuation=True, max_tokens=6)
    assert by_ids.token_ids == by_text.token_ids and by_ids.prompt == "a b\n"


def direct_logprobs(backend, ids: list[int], one_by_one_from: int | None = None) -> np.ndarray:
    """Each token's log probability after the ones before it, from the model's own library (not ponder's loop).

    ``one_by_one_from``: evaluate the ids from there one per pass, as decoding does (llama.cpp's kernels
    for a quantized model round a one-token pass differently from a whole sequence's).
    """
    if backend.name == "llama.cpp":
        from ponder.backends.llamacpp import open_llama

        llm = open_llama(backend.path, n_ctx=512, logits_all=True, flash_attn=True, verbose=False)  # as the backend
        split = len(ids) if one_by_one_from is None else one_by_one_from
        llm.eval(ids[:split])
        for token in ids[split:]:
            llm.eval([token])
        logits = np.array(llm.scores[: len(ids)], dtype=np.float64)
        llm.close()
    else:
        import torch

        with torch.inference_mode():
            logits = backend.model(input_ids=torch.tensor([ids])).logits[0].double().numpy()
    logp = logits - logits.max(axis=1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))
    return np.array([logp[j - 1, ids[j]] for j in range(1, len(ids))])


def test_echoed_prompt_and_forced_tokens_agree_with_the_model(backend):
    """Prompt scores and a forced filler's scores equal what the library computes over the same ids."""
    result = ponder.generate("What is 12 + 30?", model=backend, thinking=ponder.Filler(4), max_tokens=12,
                             logprobs=3, prompt_logprobs=True)
    ids = backend.prompt_ids(result.prompt)
    ours = [r.logprob for r in result.prompt_logprobs[1:]] + [r.logprob for r in result.logprobs]
    forced = [s != "sampled" for s in result.token_sources]
    assert sum(forced) >= 4
    theirs = direct_logprobs(backend, ids + list(result.token_ids))
    assert np.allclose(ours, theirs, atol=1e-3), np.abs(np.array(ours) - theirs).max()
    greedy = [r for r, source in zip(result.logprobs, result.token_sources) if source == "sampled"]
    assert greedy and all(r.top[0][0] == r.token for r in greedy)  # greedy: the sampled token is the likeliest


def test_too_many_top_log_probabilities_is_an_error_the_user_can_fix():
    from ponder.errors import PonderError
    from ponder.logprobs import MAX_TOP

    with pytest.raises(PonderError, match=f"between 0 and {MAX_TOP}"):
        ponder.generate("ab", model=SyntheticBackend(), raw_prompt=True, max_tokens=4, logprobs=MAX_TOP + 1)
