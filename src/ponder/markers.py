"""Finding the end-of-thinking marker in the token stream, native or spelled in text."""

from __future__ import annotations

from functools import lru_cache

from .backends.base import Backend
from .errors import PonderError
from .formats import ThinkFormat
from .policies import Chain, Ending, Vocab
from .trace import Trace


def model_vocab(backend: Backend, fmt: ThinkFormat) -> Vocab:
    """The backend's vocabulary under ``fmt``, made once for all its generations (a batch makes many).

    Kept on the backend (``Backend.vocabs``), so it lives as long as the backend does.
    """
    if fmt not in backend.vocabs:
        encode = lru_cache(maxsize=256)(lambda text: tuple(backend.tokenize(text)))
        backend.vocabs[fmt] = Vocab(encode, tuple(backend.tokenize(fmt.end)), encode(fmt.answer_lead),
                                    backend.eos_ids, native_end=backend.special_id(fmt.end),
                                    start_id=backend.special_id(fmt.start), end_text=fmt.end)
    return backend.vocabs[fmt]


class EndDetector:
    """Reports when the last sampled thinking tokens close the thinking.

    A native marker is one special token. A text marker such as "</think>" in a
    vocabulary without it spans several tokens, and may share its first token
    with other text: ``ending`` names how many trailing tokens form it and the
    tokens of the text before it in them (``Ending.kept``).
    """

    def __init__(self, backend: Backend, vocab: Vocab) -> None:
        self.detokenize = backend.detokenize
        self.encode = vocab.encode
        self.end = vocab.end_text
        self.native = vocab.native_end
        self.eos = vocab.eos_ids
        self.window = len(vocab.end_ids) + 2

    def ending(self, trace: Trace) -> Ending | None:
        ids = trace.ids
        if not ids:
            return None
        last = ids[-1]
        if last in self.eos:
            return Ending(1, eos=True)
        if trace.sources[-1] != "sampled":
            return None
        if self.native is not None:
            return Ending(1) if last == self.native else None
        if self.end[-1] not in self.detokenize([last]):
            return None
        for n in range(1, min(self.window, len(ids)) + 1):
            text = self.detokenize(ids[-n:])
            if self.end in text:
                before = text[: text.find(self.end)]
                return Ending(n, kept=self.encode(before) if before else ())
        return None

    def tail(self, trace: Trace) -> int:
        """How many trailing tokens spell a proper prefix of the marker (0 if none)."""
        if self.native is not None:
            return 0
        return open_tail(self.detokenize, trace.ids[-self.window:], (self.end,))


def open_tail(detokenize, ids, words: tuple[str, ...]) -> int:
    """How many trailing ``ids`` are needed to spell the longest proper prefix of a word that the text ends with."""
    if not ids:
        return 0
    text = detokenize(ids)
    size = max((k for w in words for k in range(1, len(w)) if text.endswith(w[:k])), default=0)
    if not size:
        return 0
    for n in range(1, len(ids) + 1):
        if len(detokenize(ids[-n:])) >= size:
            return n
    return len(ids)


class StopStrings:
    """Stop strings in the answer (OpenAI's ``stop``): where one appears, the answer ends before it."""

    def __init__(self, backend: Backend, stops: tuple[str, ...]) -> None:
        self.stops = tuple(s for s in stops if s)
        self.detokenize = backend.detokenize
        self.window = max((len(backend.tokenize(s)) for s in self.stops), default=0) + 2

    def found(self, trace: Trace) -> str | None:
        """The stop string the last token completed, if any (one already in forced text does not count)."""
        if not self.stops:
            return None
        text, before = self._tail(trace), self._tail(trace, drop_last=True)
        return next((s for s in self.stops if s in text and s not in before), None)

    def hold(self, trace: Trace) -> int:
        """Trailing answer tokens that may be the start of a stop string: not to be streamed yet."""
        if not self.stops:
            return 0
        start = max(trace.answer_start or 0, len(trace.ids) - self.window)
        return open_tail(self.detokenize, trace.ids[start:], self.stops)

    def _tail(self, trace: Trace, drop_last: bool = False) -> str:
        end = len(trace.ids) - drop_last
        return self.detokenize(trace.ids[max(trace.answer_start or 0, end - self.window):end])


def check_texts(policy: Chain, vocab: Vocab, detokenize) -> None:
    """Refuse a policy text that holds an ending or a marker token once encoded (say a wait of "<|im_end|>"):
    forced, it would end the generation or the thinking where the policy means to go on, or undo itself and
    come back at every step. Checked here, where the texts first meet the model's vocabulary."""
    marker = vocab.end_ids if len(vocab.end_ids) > 1 else ()  # a text marker: its run of tokens
    singles = {i: "the end-of-sequence token" for i in vocab.eos_ids}
    if vocab.native_end is not None:
        singles[vocab.native_end] = "the end-of-thinking marker"
    if vocab.start_id is not None:
        singles[vocab.start_id] = "the start-of-thinking marker"
    for option, text in policy.texts():
        ids = vocab.encode(text)
        bad = next((i for i in ids if i in singles), None)
        if bad is not None:
            raise PonderError(f"{option} {text!r} encodes to {singles[bad]} "
                              f"{detokenize([bad])!r} (id {bad}), which a policy may not force: "
                              "choose a text without it")
        if marker and any(tuple(ids[k:k + len(marker)]) == marker for k in range(len(ids))):
            raise PonderError(f"{option} {text!r} spells the end-of-thinking marker {vocab.end_text!r}, "
                              "which a policy may not force: choose a text without it")
