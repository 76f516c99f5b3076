"""The remote backend's budget checks, the same against any server (``ponder serve``, plain vLLM).

SmolLM2 in s1's format closes its thinking at once, so every minimum is reached by waits
and every maximum by a call that runs out of tokens: both edges of the loop get used.
"""

from __future__ import annotations

import ponder
from ponder import Budget, Filler, NoThinking, Prefix

BUDGETS = [
    Budget(min_tokens=16, max_tokens=16),
    Budget(min_tokens=8, max_tokens=24, wait=("Wait", "Hmm")),
    Budget(min_tokens=0, max_tokens=6),
    Budget(min_tokens=12),
]


def remote(url: str, thinking, **kw):
    return ponder.generate("What is 12 + 30?", endpoint=url, thinking=thinking, format="s1",
                           max_tokens=kw.pop("max_tokens", 120), **kw)


def check_budgets(url: str) -> None:
    for budget in BUDGETS:
        result = remote(url, budget)
        u = result.usage
        top = budget.max_tokens if budget.max_tokens is not None else 1 << 30
        assert budget.min_tokens <= u.thinking_tokens <= top, (budget, u)
        assert u.completion_tokens == u.thinking_tokens + u.marker_tokens + u.answer_tokens
        assert result.waits == sum(1 for i in result.injections if i["reason"] == "wait")
        if budget.min_tokens:
            assert result.waits >= 1 and budget.wait[0] in result.thinking
            assert u.thinking_injected >= result.waits  # each wait counted, as the server's tokenizer counts it
        assert u.marker_tokens >= 1
        assert result.answer.startswith("answer\nFinal Answer:"), result.answer  # s1's wrap-up was forced
    exact = remote(url, Budget(min_tokens=16, max_tokens=16))
    assert exact.usage.thinking_tokens == 16
    spent = remote(url, Budget(min_tokens=64, max_waits=1))  # the budget's own rule: once its waits are spent,
    assert spent.waits == 1, spent.injections  # the model may end below the minimum


def check_shaping(url: str) -> None:
    opened = remote(url, [Prefix("Ok, so"), Budget(max_tokens=10)])
    assert opened.thinking.startswith("Ok, so") and opened.usage.thinking_tokens <= 10
    skipped = remote(url, NoThinking())
    assert skipped.usage.thinking_tokens == 0 and not skipped.capped
    filled = remote(url, [Budget(max_tokens=5), Filler(12, " ...")])  # a replacing filler is cut to the cap
    assert 0 < filled.usage.thinking_tokens <= 5 and set(filled.thinking.split()) == {"..."} and filled.capped
