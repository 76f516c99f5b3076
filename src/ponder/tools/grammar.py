"""Answers held to a grammar: a forced tool call whose arguments follow the function's JSON Schema.

Built on llguidance (the grammar library llama.cpp uses): it takes a Lark grammar with JSON
Schemas embedded (``%json``), works on any vocabulary given as token bytes, and computes the
mask of allowed tokens at each step in about 0.2 ms on a 49k vocabulary (SmolLM2, measured), 1 to
2 % of a token's time on a CPU. A call's opening and closing tags are matched as the model's special
tokens where it has them (Qwen3's ``<tool_call>``), as text where it does not.
"""

from __future__ import annotations

import json
import weakref
from typing import Sequence

import numpy as np

from ..errors import PonderError
from .formats import CallFormat
from .spec import Tool, ToolChoice

CLOSE_WITHIN = 24  # answer tokens left at which a call still open is steered to its end
CLOSING = frozenset(b'"}] ')  # what ends a JSON string, object or array (and the space a separator puts before one)
SEPARATING = frozenset(b', ')  # what ends a number or a value where the object still needs a field
_closers: "weakref.WeakKeyDictionary[object, tuple[np.ndarray, np.ndarray]]" = weakref.WeakKeyDictionary()
# the JSON as chat templates write it (``tojson``): ", " and ": ", no newlines a model could repeat forever
JSON_STYLE = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}


def call_schema(tools: Sequence[Tool]) -> dict:
    """One call's JSON: the name of one of ``tools`` and arguments that follow its schema."""
    options = [{"type": "object", "properties": {"name": {"const": t.name}, "arguments": dict(t.parameters)},
                "required": ["name", "arguments"], "additionalProperties": False} for t in tools]
    schema = options[0] if len(options) == 1 else {"anyOf": options}
    return {**schema, "x-guidance": JSON_STYLE}


def literal(text: str, special_id: int | None) -> str:
    """A Lark terminal for ``text``: the special token by id where the model has one, else the text."""
    return f"<[{special_id}]>" if special_id is not None else json.dumps(text)


def call_grammar(tools: Sequence[Tool], choice: ToolChoice, fmt: CallFormat, backend) -> str:
    """The Lark grammar of a forced answer: one call, nothing else.

    One, even where parallel calls are allowed: a small model held to a grammar that allows another
    call tends to repeat the first until the limit cuts it (SmolLM2, measured). A model that needs
    several calls makes them in the next turns, or unforced (``auto``) in one.
    """
    chosen = [t for t in tools if choice.name in (None, t.name)]
    opening = literal(fmt.open, backend.special_id(fmt.open))
    closing = literal(fmt.close, backend.special_id(fmt.close))
    return "\n".join((
        f'start: /[ \\n]{{0,2}}/ {opening} "\\n" body "\\n" {closing}',
        f"body: %json {json.dumps(call_schema(chosen))}",
    ))


class Constraint:
    """One generation's answer held to a grammar: the mask of allowed tokens, kept in step with its answer.

    ``sync`` feeds the answer's tokens as they are (the forced ones included) and takes back any a
    rewind removed, so the matcher always stands where the answer does.
    """

    def __init__(self, grammar: str, backend) -> None:
        from llguidance import LLMatcher

        self.tokenizer = backend.grammar_tokenizer()
        self.matcher = LLMatcher(self.tokenizer, LLMatcher.grammar_from_lark(grammar))
        if self.matcher.is_error():
            raise PonderError(f"the answer's grammar does not compile: {self.matcher.get_error()}")
        self.n_vocab = backend.n_vocab
        self.closers, self.separators = closers(backend, self.tokenizer)
        self.fed: list[int] = []  # the answer tokens the matcher has consumed
        self.words = np.zeros((self.tokenizer.vocab_size + 31) // 32, dtype=np.int32)

    def sync(self, answer: Sequence[int]) -> None:
        keep = 0
        while keep < min(len(self.fed), len(answer)) and self.fed[keep] == answer[keep]:
            keep += 1
        if keep < len(self.fed):
            self.matcher.rollback(len(self.fed) - keep)
            del self.fed[keep:]
        for token in answer[keep:]:
            if not self.matcher.consume_token(token):
                raise PonderError(f"a forced token ({token}) breaks the answer's grammar "
                                  f"({self.matcher.get_error()}): drop the texts forced into the answer")
            self.fed.append(token)

    def forced(self) -> list[int]:
        """The tokens the grammar allows alone from here (a call's tags, its name): forced in one pass."""
        return self.matcher.compute_ff_tokens()

    @property
    def stopped(self) -> bool:
        """The grammar is complete and can take nothing more: the answer ends here."""
        return self.matcher.is_stopped()

    def allowed(self, matcher=None) -> np.ndarray:
        """A boolean mask over the model's logits: the tokens the grammar takes next."""
        from llguidance.numpy import fill_next_token_bitmask

        fill_next_token_bitmask(matcher or self.matcher, self.words.reshape(1, -1), 0)
        bits = np.unpackbits(self.words.view(np.uint8), bitorder="little").astype(bool)
        if len(bits) < self.n_vocab:  # logits beyond the tokenizer's words (padding rows): never allowed
            bits = np.concatenate([bits, np.zeros(self.n_vocab - len(bits), dtype=bool)])
        return bits[: self.n_vocab]

    def mask(self, logits: np.ndarray, room: int) -> np.ndarray:
        """``logits`` with what the grammar does not take next at -inf.

        With ``room`` for no more than CLOSE_WITHIN tokens, the call is steered to its end: a model
        that runs on inside a string would otherwise reach the limit with its call unfinished
        (SmolLM2 does).
        """
        allowed = self.allowed()
        if room <= CLOSE_WITHIN:
            token = self.closing_token(allowed, logits)
            if token is not None:
                allowed = np.zeros_like(allowed)
                allowed[token] = True
        return np.where(allowed, logits, -np.inf)

    def closing_token(self, allowed: np.ndarray, logits: np.ndarray) -> int | None:
        """Of the allowed tokens made only of closing characters, the one after which the grammar is complete,
        or else takes the fewest tokens (a closed string takes a few, an open one almost any): the grammar
        itself tells what closes, no JSON is parsed here. Where none is allowed (a number in an object that
        still needs a field), a separator: the grammar then forces the next field's name."""
        candidates = allowed & self.closers
        if not candidates.any():
            candidates = allowed & self.separators
        best, best_key = None, None
        for token in np.flatnonzero(candidates).tolist():
            after = self.matcher.deep_copy()
            after.consume_token(token)
            complete = after.is_accepting() or after.is_stopped()
            key = (not complete, 0 if complete else int(self.allowed(after).sum()), -float(logits[token]))
            if best_key is None or key < best_key:
                best, best_key = token, key
        return best


def closers(backend, tokenizer) -> tuple[np.ndarray, np.ndarray]:
    """The tokens made only of JSON's closing characters (``"``, ``}``, ``]``, spaces), and those made only of
    separators (``,``, spaces): once per backend."""
    if backend not in _closers:
        closing, separating = np.zeros(backend.n_vocab, dtype=bool), np.zeros(backend.n_vocab, dtype=bool)
        for token in range(min(backend.n_vocab, tokenizer.vocab_size)):
            text = tokenizer.decode_bytes([token])
            if not text.strip() or tokenizer.is_special_token(token):
                continue
            closing[token], separating[token] = set(text) <= CLOSING, set(text) <= SEPARATING
        _closers[backend] = (closing, separating)
    return _closers[backend]
