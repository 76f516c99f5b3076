"""The s1 loop over a completions endpoint that ponder cannot steer token by token.

Generate the thinking with the end marker as a stop string. While below the
minimum, append a wait string and continue; at the maximum (the call's
``max_tokens``), append the end marker and the wrap-up; then generate the
answer. Usage is summed over the calls; injected text is counted with the
server's tokenizer where it has ``/tokenize``.

Only the policies that act at the edges of the thinking can run this way:
a budget, a prefix, no thinking, and a filler that replaces the thinking.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..errors import PonderError
from ..formats import ThinkFormat
from ..policies import Budget, Filler, NoThinking, Prefix
from ..policies.boundaries import first_boundary
from ..policies.chain import CloseOnEos
from ..result import Result
from ..usage import Usage
from .client import LENGTH, STOP, Client, Completion


@dataclass(frozen=True)
class LoopPolicies:
    """The thinking policies, as the s1 loop can apply them."""

    budget: Budget = Budget()
    prefix: str | None = None
    thought: tuple[str, str | Filler] | None = None  # (reason, text or filler): write this thought and close it

    @classmethod
    def of(cls, policies) -> "LoopPolicies":
        budget, prefix, thought = Budget(), None, None
        for p in policies:
            if isinstance(p, CloseOnEos):
                continue  # the loop itself closes the thinking with the wrap-up on EOS
            if isinstance(p, Budget):
                budget = p
            elif isinstance(p, Prefix):
                prefix = p.text
            elif isinstance(p, NoThinking):
                thought = ("thought", p.text)
            elif isinstance(p, Filler) and p.where == "replace":
                thought = ("filler", p)
            else:
                raise PonderError(f"{type(p).__name__} acts token by token and cannot run over an endpoint: "
                                  "use a budget, a prefix, no thinking or a replacing filler, or a local model")
        return cls(budget, prefix, thought)

    @classmethod
    def supports(cls, policies) -> bool:
        try:
            cls.of(policies)
            return True
        except PonderError:
            return False


@dataclass
class RemoteGeneration:
    """One generation's state: the text so far and what each phase has spent."""

    client: Client
    fmt: ThinkFormat
    limit: int
    sampling: dict
    on_text: object = None
    text: str = ""
    thinking: str = ""
    answer: str = ""
    counts: dict = field(default_factory=lambda: dict.fromkeys(
        ("thinking", "thinking_injected", "marker", "answer", "answer_injected"), 0))
    injections: list = field(default_factory=list)
    prompt_tokens: int = 0
    cached_tokens: int = 0  # of the prompt's, read from the upstream's cache on the first call
    capped: bool = False
    finish: str = "length"

    def used(self) -> int:
        c = self.counts
        return c["thinking"] + c["marker"] + c["answer"]

    def call(self, max_tokens: int, stop: tuple[str, ...]) -> Completion:
        done = self.client.complete(self.text, max_tokens, stop, **self.sampling)
        if not self.prompt_tokens:  # the first call's prompt, less what ponder wrote after the user's prompt
            self.prompt_tokens = done.prompt_tokens - self.used()
            self.cached_tokens = min(done.cached_tokens, self.prompt_tokens)
        self.text += done.text
        return done

    def write(self, phase: str, text: str, reason: str | None = None) -> int:
        """Append text to a phase; injected text (a ``reason``) is counted and recorded."""
        if not text:
            return 0
        tokens = self.client.count(text) if reason else 0
        if reason:
            self.text += text
            key = "thinking" if phase == "thinking" else "answer"
            self.counts[key] += tokens
            self.counts[key + "_injected"] += tokens
            self.injections.append({"reason": reason, "phase": phase, "length": tokens, "text": text})
        if phase == "thinking":
            self.thinking += text
        else:
            self.answer += text
        if self.on_text:
            self.on_text(phase, text)
        return tokens

    def think(self, budget: Budget) -> str | None:
        """Run the thinking calls; returns how it ended: ``eos``, ``stop`` (the marker), ``cap``, or None (out of room)."""
        cap = budget.max_tokens if budget.max_tokens is not None else 1 << 40
        waits = 0
        while True:
            spent = self.counts["thinking"]
            room = min(cap - spent, self.limit - self.used())
            if spent >= cap:
                return "cap"
            if room <= 0:
                return None
            done = self.call(room, (self.fmt.end,))
            self.counts["thinking"] += done.tokens
            self.write("thinking", done.text)
            if done.ended == LENGTH:
                if not done.tokens:
                    return None  # a server that writes nothing yet reports the length reached: stop, not spin
                continue
            if budget.may_end(self.counts["thinking"], waits):
                return done.ended
            wait = budget.wait_text(waits)
            room = cap + budget.soft_close - self.counts["thinking"]  # a soft close's slack takes a whole wait
            if self.client.count(wait) > room:
                wait = wait[:room]  # no tokenizer spells a character in less than one token... nearly: recounted
            if not wait or self.client.count(wait) > room:
                return "cap"
            self.write("thinking", wait, "wait")
            waits += 1

    def close_softly(self, budget: Budget) -> str | None:
        """A soft close at the cap: up to the slack more thinking, kept to its first boundary (what follows
        it is dropped); returns how the thinking ended, as ``think`` does."""
        room = min(budget.soft_close, self.limit - self.used())
        if room <= 0 or first_boundary(budget.close_at, self.thinking, "") == 0:
            return "cap"
        done = self.client.complete(self.text, room, (self.fmt.end,), **self.sampling)
        cut = first_boundary(budget.close_at, self.thinking, done.text)
        kept = done.text if cut is None else done.text[:cut]
        self.text += kept
        self.counts["thinking"] += done.tokens if kept == done.text else self.client.count(kept) if kept else 0
        self.write("thinking", kept)
        return done.ended if cut is None and done.ended != LENGTH else "cap"

    def close(self, lead: str | None) -> None:
        """The end marker, then (forced endings only) the answer lead."""
        self.text += self.fmt.end
        self.counts["marker"] += self.client.count(self.fmt.end)
        if lead is not None:
            self.write("answer", lead, "lead")

    def respond(self, stop: tuple[str, ...]) -> None:
        room = self.limit - self.used()
        if room <= 0:
            self.finish = "length"
            return
        done = self.call(room, stop)
        self.counts["answer"] += done.tokens
        self.write("answer", done.text)
        self.finish = "length" if done.ended == LENGTH else "stop"


def generate_remote(prompt: str, client: Client, policies, fmt: ThinkFormat, max_tokens: int,
                    sampling: dict, stop: tuple[str, ...] = (), on_text=None) -> Result:
    """One generation over the endpoint; ``prompt`` ends with the opened thinking."""
    asked = LoopPolicies.of(policies)
    lead = asked.budget.wrap_up if asked.budget.wrap_up is not None else fmt.answer_lead
    run = RemoteGeneration(client, fmt, max_tokens, sampling, on_text, text=prompt)
    start = time.perf_counter()
    closed = True
    if asked.thought is not None:
        reason, thought = asked.thought
        if isinstance(thought, Filler):
            whole, thought = thought.text * thought.count, fitted(client, thought, asked.budget.max_tokens)
            run.capped = thought != whole  # replaced: capped only where the cap cut the filler
        run.write("thinking", thought, reason)
        run.close(lead)
    else:
        if asked.prefix:
            run.write("thinking", asked.prefix, "prefix")
        ended = run.think(asked.budget)
        if ended == "cap" and asked.budget.soft_close:
            ended = run.close_softly(asked.budget)
        closed = ended is not None  # None: the overall limit ran out while thinking
        if closed:
            # the model's own marker: no lead forced; after EOS, or where the server does not say which of the
            # two ended the call (llama-server), the lead is forced, so that an answer follows
            run.close(None if ended == STOP else lead)
            run.capped = ended == "cap"
    if closed:
        run.respond(stop)
    seconds = time.perf_counter() - start
    return build_remote_result(run, prompt, seconds)


def fitted(client: Client, filler: Filler, cap: int | None) -> str:
    """The filler's text, as many units as the server's tokenizer fits under the cap."""
    count = filler.count
    while cap is not None and count and client.count(filler.text * count) > cap:
        count = min(count - 1, count * cap // client.count(filler.text * count))
    return filler.text * count


def build_remote_result(run: RemoteGeneration, prompt: str, seconds: float) -> Result:
    c = run.counts
    usage = Usage(prompt_tokens=run.prompt_tokens or run.client.count(prompt), thinking_tokens=c["thinking"],
                  thinking_injected=c["thinking_injected"], marker_tokens=c["marker"], answer_tokens=c["answer"],
                  answer_injected=c["answer_injected"], cached_tokens=run.cached_tokens)
    return Result(
        prompt=prompt, completion=run.text[len(prompt):], thinking=run.thinking, answer=run.answer, usage=usage,
        waits=sum(1 for i in run.injections if i["reason"] == "wait"), capped=run.capped,
        finish_reason=run.finish, prefill_seconds=0.0, decode_seconds=seconds, injections=tuple(run.injections),
        token_ids=(), token_phases=(), token_sources=(),
    )
