"""What a vLLM request asks ponder for, read from its ``extra_args`` (over HTTP: ``vllm_xargs``).

Checked without vLLM: the plugin refuses a bad request with the same messages as every other surface.
"""

from __future__ import annotations

from ..errors import PonderError
from ..formats import FORMATS
from ..options import pick, thinking_from_options
from ..policies import Chain, policies_for
from ..policies.relative import alone_in_turn
from ..turns import TurnBudget

FORMAT_KEY = "think_format"
# a turn budget: the engine sees token ids, not the chat's messages, so the client says what the turn spent
TURN_KEYS = ("turn_max_think", "turn_min_think", "turn_spent")


def request_thinking(extra: dict | None) -> tuple[Chain | None, str | None]:
    """The policies (None: no ponder options) and the think format a request asks for; a clear error if bad."""
    extra = extra or {}
    fmt = extra.get(FORMAT_KEY)
    if fmt is not None and fmt not in FORMATS:
        raise PonderError(f"unknown {FORMAT_KEY} {fmt!r}: choose one of {', '.join(FORMATS)}")
    options = pick({k: v for k, v in extra.items() if k != FORMAT_KEY and k not in TURN_KEYS})
    turn = turn_budget(extra)
    if not options and turn is None:
        return None, fmt
    if options.get("adaptive") or any(name.startswith("adaptive_") for name in options):
        raise PonderError("adaptive thinking probes the answer and cuts it back out of the KV cache, which a "
                          "logits processor cannot do: run it on ponder's own loop (ponder serve), or set max_think")
    thinking = thinking_from_options(options) if options else None
    if turn is not None:
        alone_in_turn(thinking, turn)
        thinking = turn.thinking(thinking, turn.spent or 0)
    policy = policies_for(thinking)
    check_marker_texts(policy)
    return policy, fmt


def turn_budget(extra: dict) -> TurnBudget | None:
    """``turn_max_think`` / ``turn_min_think`` with ``turn_spent``, the turn's thinking so far (0 if not sent)."""
    if not any(k in extra for k in TURN_KEYS[:2]):
        if "turn_spent" in extra:
            raise PonderError("turn_spent counts against a turn budget: send turn_max_think or turn_min_think too")
        return None
    return TurnBudget(extra.get("turn_max_think"), extra.get("turn_min_think", 0), extra.get("turn_spent", 0))


MARKERS = sorted({m.strip() for f in FORMATS.values() for m in (f.start, f.end)})  # </think>, <think>, <|im_start|>


def check_marker_texts(policy: Chain) -> None:
    """Refuse a forced text that spells a thinking marker: in the engine it would close or open the thinking
    where the policy means to go on. Checked by the text, before the request meets the tokenizer (vLLM
    validates a request's options without it); its end-of-sequence tokens are checked when it joins a batch."""
    for option, text in policy.texts():
        marker = next((m for m in MARKERS if m in text), None)
        if marker is not None:
            raise PonderError(f"{option} {text!r} spells the thinking marker {marker!r}, which a policy may not "
                              "force: choose a text without it")


def stopping_text(policy: Chain, encode, stops: frozenset[int]) -> tuple[str, str] | None:
    """The first forced text (its option and the text) that encodes to one of a request's stop tokens."""
    return next(((option, text) for option, text in policy.texts() if stops & set(encode(text))), None)
