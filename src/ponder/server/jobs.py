"""What one request asks the worker to do: a frozen plan, and the job that runs it on the backend."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..generation import prepare, with_tools
from ..policies.relative import alone_in_turn
from ..prompts import build_prompt, open_thinking
from ..errors import PonderError
from ..formats import get_format
from ..result import Result
from ..structured import AnswerSchema
from ..tools import ToolUse
from ..turns import TurnBudget
from .scored import ChoiceScores, TokenTexts, choice_scores
from .thinking import Thinking
from .worker import Ticket

SEEDS = 1 << 64  # numpy seeds are non-negative: a negative OpenAI seed wraps around
CHAT, TEXT, THINK = "chat", "text", "think"  # how a prompt becomes the model's input


class InvalidPrompt(PonderError):
    """A prompt the model cannot take: too long for the server, or token ids outside the vocabulary."""


class PromptTooLong(InvalidPrompt):
    """The prompt passes the server's prompt limit."""


@dataclass(frozen=True)
class Plan:
    """Every generation a request needs: ``n`` choices for each prompt, one after another.

    ``mode`` says what a prompt is: ``chat``, messages the chat template renders; ``text``, a text or
    token ids continued as they are (no thinking); ``think``, a text or token ids that open the thinking.
    """

    prompts: tuple
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
    mode: str = CHAT
    template: tuple[tuple[str, object], ...] = ()  # chat template variables, e.g. enable_thinking
    logprobs: int | None = None  # keep each completion token's log probability, with this many alternatives
    echo: bool = False  # and each prompt token's
    tools: ToolUse = ToolUse()  # the tools a chat's answer may call
    turn: TurnBudget | None = None  # one thinking budget across the chat's turn
    answer_schema: AnswerSchema | None = None  # the answer held to JSON (response_format, text.format...)

    @property
    def choices(self) -> int:
        return len(self.prompts) * self.n

    def seed_for(self, index: int) -> int | None:
        """Choice i of a prompt samples with seed + i, so n choices differ yet repeat exactly."""
        return None if self.seed is None else (self.seed + index % self.n) % SEEDS


@dataclass(frozen=True)
class Outcome:
    """A finished job: the prompt tokens (each prompt counted once), one result per choice run, their scores."""

    prompt_tokens: int
    results: tuple[Result, ...]
    scores: tuple[ChoiceScores, ...] = ()
    prompts: tuple[str, ...] = ()  # each prompt's text as the model saw it
    turn: dict | None = None  # the turn budget's account (the choice that thought most)


OnChoiceText = Callable[[int, str, str], None]  # (choice index, phase, text delta)


@dataclass
class PlanJob:
    """The worker's job for one request: the plan's generations, then the outcome from their results."""

    backend: object
    plan: Plan
    on_start: Callable[[int], None]
    on_text: OnChoiceText | None = None
    control: object = None  # a ponder.Control the request's choices all take (POST .../control)
    prompt_tokens: int = 0
    inputs: list = field(default_factory=list)  # each prompt's text or token ids, as the model takes it
    call_formats: list = field(default_factory=list)  # each prompt's tool-call format (chats)
    texts: list[str] = field(default_factory=list)  # each prompt's text
    spent: int = 0  # a turn budget's thinking spent before this request

    def start(self, ticket: Ticket) -> list:
        """Check the prompts, report the prompt tokens through ``on_start``, and make every choice's generation.

        Runs on the worker thread, the only one that touches the backend. Every generation polls the
        ticket, so a client that goes away stops them all at their next step.
        """
        plan, backend = self.plan, self.backend
        fmt = get_format(plan.format)
        self.inputs = [self.model_input(prompt, fmt) for prompt in plan.prompts]
        self.texts = [backend.detokenize(given) if isinstance(given, list) else given for given in self.inputs]
        for given in self.inputs:
            count = len(given) if isinstance(given, list) else len(backend.prompt_ids(given))
            if count > plan.max_prompt_tokens:
                raise PromptTooLong(f"the prompt has {count} tokens, more than this server takes "
                                    f"(--max-prompt-tokens {plan.max_prompt_tokens}): shorten it")
            self.prompt_tokens += count
        self.on_start(self.prompt_tokens)
        thinking = [self.turn_thinking(prompt) for prompt in plan.prompts]
        return [prepare(
            backend, self.inputs[index // plan.n], thinking=thinking[index // plan.n], raw_prompt=True, format=fmt,
            continuation=plan.mode == TEXT, max_tokens=plan.max_tokens, temperature=plan.temperature,
            top_p=plan.top_p, top_k=plan.top_k, seed=plan.seed_for(index), stop=plan.stop,
            cancelled=ticket.cancelled, logprobs=plan.logprobs, prompt_logprobs=plan.echo,
            tools=plan.tools, answer_schema=plan.answer_schema, control=self.control,
            call_format=self.call_formats[index // plan.n] if plan.mode == CHAT else None,
            on_text=None if self.on_text is None else (lambda phase, text, i=index: self.on_text(i, phase, text)),
        ) for index in range(plan.choices)]

    def turn_thinking(self, prompt):
        """The plan's thinking, held within what its turn budget has left after the chat's earlier thinking."""
        turn = self.plan.turn
        if turn is None:
            return self.plan.thinking
        alone_in_turn(self.plan.thinking, turn)
        self.spent = turn.spent_in(list(prompt), lambda text: len(self.backend.tokenize(text)))
        return turn.thinking(self.plan.thinking, self.spent)

    def model_input(self, prompt, fmt) -> str | list[int]:
        """A chat rendered by the template, or a raw prompt (text or checked token ids), opened for thinking."""
        if self.plan.mode == CHAT:
            messages, call_format, template = with_tools(self.backend, list(prompt), self.plan.tools,
                                                         dict(self.plan.template))
            self.call_formats.append(call_format)
            return build_prompt(self.backend, messages, fmt, template=template)
        if isinstance(prompt, str):
            return open_thinking(prompt, fmt) if self.plan.mode == THINK else prompt
        ids = list(prompt)
        vocab = self.backend.n_vocab
        bad = next((t for t in ids if t >= vocab), None)
        if bad is not None:
            raise InvalidPrompt(f"token id {bad} is outside this model's vocabulary of {vocab}: send ids below it")
        if self.plan.mode == THINK:
            text = self.backend.detokenize(ids)
            ids += self.backend.tokenize(open_thinking(text, fmt)[len(text):])
        return ids

    def finish(self, results: list[Result]) -> Outcome:
        plan, scores = self.plan, ()
        if plan.logprobs is not None or plan.echo:
            tokens = TokenTexts(self.backend)
            scores = tuple(choice_scores(tokens, r, self.ids_of(self.inputs[i // plan.n]))
                           for i, r in enumerate(results))
        turn = None
        if plan.turn is not None:
            turn = plan.turn.report(self.spent, max(r.usage.thinking_tokens for r in results))
        return Outcome(self.prompt_tokens, tuple(results), scores, tuple(self.texts), turn)

    def ids_of(self, given) -> list[int]:
        return given if isinstance(given, list) else self.backend.prompt_ids(given)
