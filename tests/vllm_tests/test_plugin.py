"""The plugin inside real vLLM (CPU, SmolLM2-135M-Instruct in s1's format): offline and over HTTP."""

from __future__ import annotations

import openai
import pytest

from ponder.policies.boundaries import mid_word
from harness import chat_prompt, model_dir, parted_on_a_tie, run_engine, s1_prompt, thinking_tokens

QUESTIONS = ["What is 12 + 30?", "What is 7 times 6?", "Name a prime above 20.", "What is 100 - 58?"]
BUDGETS = [  # (extra_args, temperature)
    ({"min_think": 16, "max_think": 16}, 0.0),
    ({"min_think": 8, "max_think": 24, "wait": ["Wait", "Hmm"]}, 0.0),
    ({"prefix": "Ok, so", "max_think": 12, "min_think": 6}, 0.0),
    ({"min_think": 10, "max_think": 20}, 0.8),
]
FREE = ["Write a short poem about the sea.", "List three colours.", "Explain rain to a child.",
        "What is the capital of France?"]


def mixed_batch() -> list[dict]:
    """Budgeted s1 prompts and unbudgeted chat prompts, interleaved in one batch.

    The budgeted ones run to their limit (EOS ignored), with the plugin and without it, so that the
    batch holds the same rows at every step either way: on CPUs whose kernels depend on the batch's
    shape (AMX), a row's logits are only comparable between batches of the same shape. The greedy
    ones ask for two log probabilities, whose margins say where two runs may part on a near tie.
    """
    requests = []
    for (extra, temperature), question, free in zip(BUDGETS, QUESTIONS, FREE):
        requests.append({"prompt": s1_prompt(question), "params": {
            "max_tokens": 64, "temperature": temperature, "seed": 1, "ignore_eos": True, "extra_args": extra,
            **({"logprobs": 2} if temperature == 0 else {})}})
        requests.append({"prompt": chat_prompt(free), "params": {"max_tokens": 48, "temperature": 0.0, "logprobs": 2}})
    return requests


INVALID = [
    {"extra_args": {"min_think": 50, "max_think": 10}},
    {"extra_args": {"max_thinks": 10}},
    {"extra_args": {"max_think": "ten"}},
    {"extra_args": {"filler": 4, "filler_where": "middle"}},
    {"extra_args": {"think_format": "xml"}},
    {"extra_args": {"min_think": 20, "wait": "Wait</think>"}},
]


@pytest.fixture(scope="module")
def runs():
    batch = mixed_batch()
    return batch, run_engine(batch, plugin="checked", invalid=INVALID), run_engine(batch, plugin="none")


def test_budgeted_requests_honour_min_and_max_exactly(runs):
    batch, steered, _ = runs
    for request, result in zip(batch[::2], steered["results"][::2]):
        extra = request["params"]["extra_args"]
        thinking = thinking_tokens(result["token_ids"])
        assert extra.get("min_think", 0) <= thinking <= extra["max_think"], (extra, result)
        assert 1 in result["token_ids"], "the thinking was closed with s1's end marker"
        assert "Final Answer:" in result["text"] or result["finish_reason"] == "length"
    first = steered["results"][0]
    assert thinking_tokens(first["token_ids"]) == 16 and "Wait" in first["text"]
    assert steered["results"][4]["text"].startswith("Ok, so")


def test_requests_without_options_are_identical_to_vllm_without_the_plugin(runs):
    batch, steered, plain = runs
    # in the engine, at every step, the rows without options keep their logits bit for bit
    untouched, written = steered["untouched"], [len(r["token_ids"]) for r in steered["results"][1::2]]
    assert untouched["changed"] == 0 and untouched["rows"] >= sum(written), (untouched, written)  # a check a token
    # and across processes they write plain vLLM's tokens, up to a near tie that run-to-run noise decides
    for with_plugin, without in zip(steered["results"][1::2], plain["results"][1::2]):
        parted_on_a_tie(with_plugin, without)
    # real text, not instant stops (how long SmolLM2's answers run depends on the CPU: 78 tokens on a Xeon with AMX)
    assert min(len(r["token_ids"]) for r in plain["results"][1::2]) >= 4 and sum(written) >= 40
    # and without the plugin the options do nothing: no forced waits, no exact budget
    assert plain["results"][0]["token_ids"] != steered["results"][0]["token_ids"]


def test_bad_settings_are_rejected_before_the_engine(runs):
    _, steered, _ = runs
    errors = steered["errors"]
    assert all(e is not None and e["type"] == "VLLMValidationError" for e in errors), errors
    messages = [e["message"] for e in errors]
    assert "lower the minimum or raise the maximum" in messages[0]
    assert "did you mean 'max_think'" in messages[1]
    assert "max_think must be a whole number" in messages[2]
    assert "filler where must be one of" in messages[3]
    assert "unknown think_format 'xml'" in messages[4]
    assert "wait 'Wait</think>' spells the thinking marker '</think>'" in messages[5]


def completion(client, question, xargs, **kw):
    return client.completions.create(
        model="smollm2", prompt=s1_prompt(question), max_tokens=kw.pop("max_tokens", 64), temperature=0,
        extra_body={"vllm_xargs": xargs, "return_token_ids": True, "skip_special_tokens": False}, **kw)


def test_the_openai_server_takes_budgets_in_vllm_xargs(plugin_server):
    client = openai.OpenAI(base_url=plugin_server, api_key="unused", max_retries=0)
    for xargs in ({"min_think": 20, "max_think": 20}, {"min_think": 4, "max_think": 9, "wait": "Hmm"}):
        choice = completion(client, "What is 12 + 30?", xargs).choices[0]
        thinking = thinking_tokens(choice.token_ids)
        assert xargs["min_think"] <= thinking <= xargs["max_think"]
        assert "<|im_start|>answer\nFinal Answer:" in choice.text
    plain = completion(client, "What is 12 + 30?", {}).choices[0]
    assert thinking_tokens(plain.token_ids) < 4  # no options: the model's own (instant) ending
    # a turn budget: 30 for the turn, 18 spent by its earlier generations, so 12 are left
    turn = completion(client, "What is 12 + 30?", {"min_think": 20, "turn_max_think": 30, "turn_spent": 18})
    assert thinking_tokens(turn.choices[0].token_ids) == 12
    check_soft_close(client)
    relative = completion(client, "What is 12 + 30?", {"min_think": "0.5p", "max_think": "0.5p"})
    assert thinking_tokens(relative.choices[0].token_ids) == relative.usage.prompt_tokens // 2


def check_soft_close(client) -> None:
    """At a cap that falls inside a word (SmolLM2's waits: "what|'s"), the soft close writes the word out; the
    same greedy thought run further shows where the word ends."""
    def thought(xargs):
        choice = completion(client, "What is 4821 * 37?", xargs, max_tokens=80).choices[0]
        return choice.text.split("<|im_start|>")[0], thinking_tokens(choice.token_ids)
    hard, _ = thought({"min_think": 15, "max_think": 15})
    soft, spent = thought({"min_think": 15, "max_think": 15, "soft_close": 16, "close_at": "word"})
    longer, _ = thought({"min_think": 15, "max_think": 40})
    assert 15 <= spent <= 31 and soft.startswith(hard) and longer.startswith(soft)
    assert not mid_word(soft, longer[len(soft):]), (hard, soft, longer)
    assert mid_word(hard, longer[len(hard):]) <= (spent > 15)  # where the cap cut a word, the slack was used


def test_the_openai_server_rejects_bad_settings_and_stays_up(plugin_server):
    client = openai.OpenAI(base_url=plugin_server, api_key="unused", max_retries=0)
    with pytest.raises(openai.BadRequestError) as caught:
        completion(client, "What is 2 + 2?", {"min_think": 30, "max_think": 5})
    assert caught.value.status_code == 400 and "lower the minimum" in str(caught.value)
    with pytest.raises(openai.BadRequestError):
        completion(client, "What is 2 + 2?", {"mn_think": 3, "max_think": 5})
    choice = completion(client, "What is 2 + 2?", {"max_think": 6, "min_think": 6}).choices[0]
    assert thinking_tokens(choice.token_ids) == 6


# engines other than the usual: ponder installed but not asked for, and prompts in several prefill chunks

NGRAM = {"speculative_config": {"method": "ngram", "num_speculative_tokens": 2, "prompt_lookup_min": 1,
                                "prompt_lookup_max": 3}}
SMALL_CHUNKS = {"enable_chunked_prefill": True, "max_num_batched_tokens": 16, "max_num_seqs": 4}


def test_installing_ponder_changes_no_engine_that_does_not_ask_for_it(runs):
    """ponder installed as pyproject.toml declares it: an engine that does not name the plugin never runs it.

    Such an engine takes a request whose extra_args hold another plugin's key, however close to one
    of ponder's (``max_thinks``), and an engine with speculative decoding (which refuses custom
    logits processors) starts and runs as without ponder.
    """
    batch, _, plain = runs
    request = dict(batch[1], params=dict(batch[1]["params"], extra_args={"max_thinks": 3}))
    # the whole batch, so that its shape is plain's at every step: the budgeted rows' options do nothing here
    installed = run_engine([request if i == 1 else r for i, r in enumerate(batch)], plugin="installed")
    for request, ran, without in zip(batch, installed["results"], plain["results"]):
        if request["params"]["temperature"] == 0:  # a sampled row has no margin that says where noise may part it
            parted_on_a_tie(ran, without)
    speculative = run_engine([request], plugin="installed", engine=NGRAM)
    assert speculative["results"][0]["text"].strip()


def test_prompts_longer_than_a_prefill_chunk_are_steered_alike(runs):
    """vLLM asks the plugin about rows still in their prefill, and drops those samples: nothing changes."""
    from transformers import AutoTokenizer

    batch, steered, _ = runs
    # greedy ones: vLLM on CPU cannot chunk the prefill of a seeded sampled request (its CPU generator has no
    # offset to rewind), with or without ponder
    greedy = [i for i in range(0, len(batch), 2) if batch[i]["params"]["temperature"] == 0]
    budgeted = [batch[i] for i in greedy]
    tokenizer = AutoTokenizer.from_pretrained(model_dir())
    assert all(len(tokenizer(r["prompt"]).input_ids) > SMALL_CHUNKS["max_num_batched_tokens"] for r in budgeted)
    chunked = run_engine(budgeted, plugin="class", engine=SMALL_CHUNKS)
    # the chunked run writes the unchunked one's tokens, up to a near tie (a batch of another shape, on CPUs
    # whose kernels depend on it, rounds differently)
    for i, request, result in zip(greedy, budgeted, chunked["results"]):
        alone = steered["results"][i]
        extra = request["params"]["extra_args"]
        assert extra.get("min_think", 0) <= thinking_tokens(result["token_ids"]) <= extra["max_think"], result
        parted_on_a_tie(result, alone)
    first = chunked["results"][0]
    assert thinking_tokens(first["token_ids"]) == 16 and "Wait" in first["text"]  # min = max = 16, with a wait
