"""Every policy on the real default model (SmolLM2-135M-Instruct), on both steerable backends."""

from __future__ import annotations

import ponder
from ponder import Budget, EntropyPause, Filler, NoThinking, Pause, Prefix

QUESTION = "What is 12 + 30?"


def ask(backend, thinking, **kw):
    kw.setdefault("max_tokens", 160)
    return ponder.generate(QUESTION, model=backend, thinking=thinking, **kw)


def recount(result, phase, injected=False):
    return sum(1 for p, s in zip(result.token_phases, result.token_sources)
               if p == phase and (not injected or s != "sampled"))


def check_counts(result):
    u = result.usage
    assert u.thinking_tokens == recount(result, "thinking")
    assert u.thinking_injected == recount(result, "thinking", injected=True)
    assert u.answer_tokens == recount(result, "answer")
    assert u.answer_injected == recount(result, "answer", injected=True)
    assert u.marker_tokens == recount(result, "end")
    assert u.completion_tokens == len(result.token_ids)


def test_minimum_forces_waits(backend):
    result = ask(backend, Budget(min_tokens=100, max_tokens=200), max_tokens=240)
    assert result.usage.thinking_tokens >= 100
    assert result.waits >= 1 and "Wait" in result.thinking  # SmolLM2 stops thinking here after ~20 tokens
    check_counts(result)


def test_maximum_caps_and_the_answer_follows_the_wrap_up(backend):
    result = ask(backend, Budget(max_tokens=12))
    assert result.usage.thinking_tokens <= 12
    assert result.capped
    assert result.completion.startswith(result.thinking + "</think>\nFinal Answer:")
    assert result.usage.answer_sampled > 0  # the model answers after the lead
    check_counts(result)


def test_prefix_opens_the_thinking(backend):
    result = ask(backend, [Prefix("Ok, so"), Budget(max_tokens=40)])
    assert result.thinking.startswith("Ok, so")
    n = len(backend.tokenize("Ok, so"))
    assert result.token_sources[:n] == ("prefix",) * n
    assert result.injections[0]["reason"] == "prefix" and result.injections[0]["text"] == "Ok, so"
    check_counts(result)


def test_filler_replaces_the_thinking(backend):
    result = ask(backend, Filler(count=12))
    assert result.thinking == "." * 12 and result.usage.thinking_tokens == 12
    assert result.answer.startswith("\nFinal Answer:") and result.usage.answer_sampled > 0
    check_counts(result)


def test_pause_opens_the_answer(backend):
    result = ask(backend, [Budget(max_tokens=10), Pause(count=3, text=" ...")])
    assert result.answer.startswith("\nFinal Answer: ... ... ...")
    check_counts(result)


def test_entropy_pause_inserts_where_unsure(backend):
    policy = EntropyPause(threshold=0.0, cooldown=6, max_insertions=3, text=" ...")
    result = ask(backend, [Budget(min_tokens=40, max_tokens=60), policy])
    pauses = [i for i in result.injections if i["reason"] == "entropy"]
    assert len(pauses) == 3 and result.thinking.count(" ...") >= 3
    for before, after in zip(pauses, pauses[1:]):
        between = result.token_sources[before["start"] + before["length"]: after["start"]]
        assert between.count("sampled") >= 6
    calm = ask(backend, [Budget(min_tokens=40, max_tokens=60), EntropyPause(threshold=50.0)])
    assert not [i for i in calm.injections if i["reason"] == "entropy"]


def test_no_thinking_answers_at_once(backend):
    result = ask(backend, NoThinking())
    assert result.thinking == "" and result.usage.thinking_tokens == 0
    assert result.answer.startswith("\nFinal Answer:") and result.usage.answer_sampled > 0
    check_counts(result)


def test_sampling_is_reproducible_by_seed(backend):
    runs = [ask(backend, Budget(max_tokens=30), temperature=0.9, seed=s, max_tokens=40) for s in (1, 1, 2, 3)]
    assert runs[0].token_ids == runs[1].token_ids
    assert len({r.token_ids for r in runs}) > 1


def test_the_prompt_is_evaluated_once_per_generation(backend):
    before = backend.evaluated_tokens
    ponder.generate("Tell me a fact about owls.", model=backend, max_tokens=8)  # a different prompt: no cache hit
    backend.evaluated_tokens = before
    result = ask(backend, Budget(min_tokens=50, max_tokens=80))
    spent = backend.evaluated_tokens - before
    # prompt once, each completion token at most once, plus end markers that were undone
    assert spent <= result.usage.prompt_tokens + result.usage.completion_tokens + 4 * (result.waits + 1)


def test_the_same_request_gives_the_same_output_whatever_ran_before(backend):
    first = ask(backend, Budget(max_tokens=24), max_tokens=40)
    ponder.generate("What is 12 + 31?", model=backend, max_tokens=16)  # shares most of the prompt
    again = ask(backend, Budget(max_tokens=24), max_tokens=40)
    assert again.token_ids == first.token_ids


def test_stop_strings_end_the_answer_and_the_stream_matches(backend):
    streamed = []
    result = ask(backend, Budget(max_tokens=16), stop=[" 3"], on_text=lambda phase, text: streamed.append((phase, text)))
    assert result.finish_reason == "stop" and result.answer == "\nFinal Answer:"
    assert "".join(t for p, t in streamed if p == "answer") == result.answer
    assert "".join(t for p, t in streamed if p == "thinking") == result.thinking
    forced_only = ask(backend, Budget(max_tokens=16), stop=["Answer:"])  # text the model did not write
    assert forced_only.answer.startswith("\nFinal Answer:")


def test_a_cancelled_generation_stops_at_once(backend):
    polls = []
    result = ask(backend, Budget(min_tokens=100, max_tokens=200), cancelled=lambda: polls.append(1) or len(polls) > 5)
    assert result.finish_reason == "cancelled" and result.usage.completion_tokens <= 5


def test_s1_format_ends_the_thinking_at_one_special_token(llama):
    result = ponder.generate(QUESTION, model=llama, thinking=Budget(max_tokens=12), format="s1", max_tokens=40)
    assert result.prompt.endswith("<|im_start|>assistant\n<|im_start|>think\n")
    assert result.usage.marker_tokens == 1 and result.usage.thinking_tokens <= 12
    assert result.completion.startswith(result.thinking + "<|im_start|>answer\nFinal Answer:")


def test_transformers_loads_a_hugging_face_folder(tmp_path):
    from ponder.backends import default_model_path
    from ponder.backends.hf import gguf_to_folder

    gguf = ponder.load_backend(None, "transformers")
    folder = ponder.load_backend(gguf_to_folder(default_model_path(), str(tmp_path)))
    assert folder.name == "transformers"
    a, b = (ask(m, Budget(max_tokens=16), max_tokens=24) for m in (gguf, folder))
    assert a.token_ids == b.token_ids and a.answer == b.answer


def test_transformers_detokenizes_as_its_tokenizer_decodes():
    """The Rust tokenizer decodes without transformers' wrapper: the same text for any ids, partial characters too."""
    import random

    smol = ponder.load_backend(None, "transformers")
    rng = random.Random(7)
    for _ in range(500):
        ids = [rng.randrange(smol.n_vocab) for _ in range(rng.randrange(1, 10))]
        assert smol.detokenize(ids) == smol.tokenizer.decode(ids, skip_special_tokens=False,
                                                             clean_up_tokenization_spaces=False)
