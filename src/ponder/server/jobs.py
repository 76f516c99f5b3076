"""What one request asks the worker to do: a frozen plan, and the job that runs it on the backend."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..api import build_prompt, prepare
from ..errors import PonderError
from ..formats import get_format
from ..result import Result
from .thinking import Thinking
from .worker import Ticket

SEEDS = 1 << 64  # numpy seeds are non-negative: a negative OpenAI seed wraps around


class PromptTooLong(PonderError):
    """The prompt passes the server's prompt limit."""


@dataclass(frozen=True)
class Plan:
    """Every generation a request needs: ``n`` choices for each chat, one after another."""

    chats: tuple[tuple[dict, ...], ...]
    n: int
    thinking: Thinking
    max_tokens: int
    max_prompt_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    format: str = "think"
    raw: bool = False  # each chat is one message whose text is continued as is

    @property
    def choices(self) -> int:
        return len(self.chats) * self.n

    def seed_for(self, index: int) -> int | None:
        """Choice i of a chat samples with seed + i, so n choices differ yet repeat exactly."""
        return None if self.seed is None else (self.seed + index % self.n) % SEEDS


@dataclass(frozen=True)
class Outcome:
    """A finished job: the prompt tokens (each prompt counted once) and one result per choice run."""

    prompt_tokens: int
    results: tuple[Result, ...]


OnChoiceText = Callable[[int, str, str], None]  # (choice index, phase, text delta)


@dataclass
class PlanJob:
    """The worker's job for one request: the plan's generations, then the outcome from their results."""

    backend: object
    plan: Plan
    on_start: Callable[[int], None]
    on_text: OnChoiceText | None = None
    prompt_tokens: int = 0

    def start(self, ticket: Ticket) -> list:
        """Check the prompts, report the prompt tokens through ``on_start``, and make every choice's generation.

        Runs on the worker thread, the only one that touches the backend. Every generation polls the
        ticket, so a client that goes away stops them all at their next step.
        """
        plan, backend = self.plan, self.backend
        fmt = get_format(plan.format)
        if plan.raw:
            texts = [chat[0]["content"] for chat in plan.chats]
        else:
            texts = [build_prompt(backend, list(chat), fmt) for chat in plan.chats]
        for text in texts:
            count = len(backend.prompt_ids(text))
            if count > plan.max_prompt_tokens:
                raise PromptTooLong(f"the prompt has {count} tokens, more than this server takes "
                                    f"(--max-prompt-tokens {plan.max_prompt_tokens}): shorten it")
            self.prompt_tokens += count
        self.on_start(self.prompt_tokens)
        return [prepare(
            backend, texts[index // plan.n], thinking=plan.thinking, raw_prompt=True, format=fmt,
            continuation=plan.raw, max_tokens=plan.max_tokens, temperature=plan.temperature, top_p=plan.top_p,
            top_k=plan.top_k, seed=plan.seed_for(index), stop=plan.stop, cancelled=ticket.cancelled,
            on_text=None if self.on_text is None else (lambda phase, text, i=index: self.on_text(i, phase, text)),
        ) for index in range(plan.choices)]

    def finish(self, results: list[Result]) -> Outcome:
        return Outcome(self.prompt_tokens, tuple(results))
