"""ponder's policies run by the engine itself: a vLLM server that loads ponder's logits processor.

One call per generation: the request carries the thinking options as ``vllm_xargs``, and the engine
steers each request while it batches them all, so every policy works (not only the s1 loop's) and
no call is repeated. The reply's tokens (asked for with ``logprobs``) say where the thinking ended.
Injected text is not marked in a reply, but its alternatives are: a forced wait stands where the
model's likeliest token was another (under greedy decoding) or the end marker itself (under sampling,
where a wait forced after a draw of a less likely ending goes uncounted). The model's own wait
strings are its likeliest tokens, and are not counted.
"""

from __future__ import annotations

import time

from ..errors import PonderError
from ..formats import ThinkFormat
from ..options import options_for
from ..policies import Budget
from ..result import Result
from ..usage import Usage
from .client import Client, EndpointError

PROBE = {"max_think": -1}  # a setting the plugin refuses and plain vLLM ignores


def has_plugin(client: Client) -> bool:
    """Whether the server steers with ponder's plugin: it refuses a bad ponder option, a plain server ignores it."""
    try:
        client.call("POST", "/v1/completions", {"model": client.model, "prompt": "a", "max_tokens": 1,
                                                "vllm_xargs": PROBE})
    except EndpointError:
        raise
    except PonderError as err:
        return "ponder" in str(err)
    return False


def generate_steered(prompt: str, client: Client, policies, fmt: ThinkFormat, max_tokens: int, sampling: dict,
                     stop: tuple[str, ...] = ()) -> Result:
    """One generation steered inside the engine; ``prompt`` ends with the opened thinking."""
    options = {**options_for(policies), "think_format": fmt.name}
    # special tokens kept in the text: s1's end marker is one, and the thinking is split at it
    body = {"model": client.model, "prompt": prompt, "max_tokens": max_tokens, "logprobs": 1,
            "stop": list(stop) or None, "vllm_xargs": options, "skip_special_tokens": False, **sampling}
    start = time.perf_counter()
    data = client.call("POST", "/v1/completions", {k: v for k, v in body.items() if v is not None})
    seconds = time.perf_counter() - start
    choice, usage = data["choices"][0], data.get("usage") or {}
    logprobs = choice.get("logprobs") or {}
    tokens, offsets = logprobs.get("tokens") or [], logprobs.get("text_offset") or []
    text = choice.get("text") or ""
    end = tokens.index(fmt.end) if fmt.end in tokens else len(tokens)
    # where the text splits: the marker's offset (a special marker, such as s1's, is not in the text itself)
    cut = offsets[end] if end < len(offsets) else len(text)
    thinking, answer = text[:cut], text[cut:].removeprefix(fmt.end)
    budget = next((p for p in policies if isinstance(p, Budget)), None)
    waits = 0
    if budget and budget.min_tokens:
        greedy = not sampling.get("temperature")
        waits = forced_waits(text, tokens, offsets, logprobs.get("top_logprobs") or [], end, budget.wait,
                             fmt.end, greedy)
    marker = int(end < len(tokens))
    counts = Usage(prompt_tokens=int(usage.get("prompt_tokens", 0)), thinking_tokens=end, thinking_injected=0,
                   marker_tokens=marker, answer_tokens=len(tokens) - end - marker, answer_injected=0)
    capped = budget is not None and budget.max_tokens is not None and end >= budget.max_tokens
    return Result(prompt=prompt, completion=text, thinking=thinking, answer=answer, usage=counts, waits=waits,
                  capped=capped, finish_reason="length" if choice.get("finish_reason") == "length" else "stop",
                  prefill_seconds=0.0, decode_seconds=seconds, injections=(), token_ids=(), token_phases=(),
                  token_sources=())


def forced_waits(text: str, tokens: list[str], offsets: list[int], tops: list, end: int, waits, marker: str,
                 greedy: bool) -> int:
    """The thinking's wait strings that the engine forced: each starts at a token that is not the model's
    likeliest (greedy), or where the likeliest was the end marker (sampling)."""
    count = 0
    for i in range(min(end, len(tokens), len(offsets), len(tops))):
        top = max(tops[i].items(), key=lambda kv: kv[1])[0] if tops[i] else tokens[i]
        if top != tokens[i] and (greedy or top == marker) and text.startswith(tuple(waits), offsets[i]):
            count += 1
    return count
