"""Log probabilities in OpenAI's two shapes: chat's list of token objects, completions' parallel lists."""

from __future__ import annotations

from .scored import ChoiceScores, Scored

THINKING, ANSWER = "thinking", "answer"


def token_object(token: Scored) -> dict:
    return {"token": token.text, "logprob": token.logprob, "bytes": token.bytes,
            "top_logprobs": [{"token": a.text, "logprob": a.logprob, "bytes": a.bytes} for a in token.top]}


def chat_logprobs(scores: ChoiceScores, reasoning_names: tuple[str, ...]) -> dict:
    """``content``: the answer's tokens; the thinking's under the reasoning field names (unless excluded)."""
    shaped: dict = {"content": [token_object(t) for t in scores.completion if t.phase == ANSWER], "refusal": None}
    thinking = [token_object(t) for t in scores.completion if t.phase == THINKING]
    for name in reasoning_names:
        shaped[name] = thinking
    return shaped


def completion_logprobs(scores: ChoiceScores, echo: bool, answer_only: bool = False) -> dict:
    """``tokens``, ``token_logprobs``, ``top_logprobs`` (a dict per token) and ``text_offset`` into ``text``.

    With ``echo`` the prompt's tokens come first (the first has no log probability). A completion
    that thinks (``answer_only``) lists the answer's tokens, as its ``text`` holds only the answer.
    """
    tokens = list(scores.prompt) if echo else []
    tokens += [t for t in scores.completion if not answer_only or t.phase == ANSWER]
    offsets, at = [], 0
    for token in tokens:
        offsets.append(at)
        at += len(token.text)
    return {
        "tokens": [t.text for t in tokens],
        "token_logprobs": [t.logprob for t in tokens],
        "top_logprobs": [None if t.logprob is None else {a.text: a.logprob for a in t.top} for t in tokens],
        "text_offset": offsets,
    }
