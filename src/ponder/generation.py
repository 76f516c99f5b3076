"""One generation made ready: the prompt's ids, its decoder, and how its result is read (tool calls too)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Mapping, Sequence

from .backends.base import Backend
from .decoding import Decoder, OnText
from .errors import PonderError
from .formats import get_format
from .markers import model_vocab
from .policies import Budget, Chain, Thinking, policies_for
from .policies.relative import alone_in_turn
from .policies.relative import resolve as resolve_relative
from .prompts import Messages, TokenIds, build_prompt, is_token_ids, thinking_closed
from .result import Result, build_result
from .sampling import Sampling
from .structured import answer_schema as schema_of
from .tools import CallFormat, CallReader, ToolUse
from .tools.grammar import Constraint
from .trace import Trace
from .turns import TurnBudget, remember

ANSWER_ROOM = 64  # completion tokens a held answer (a forced call, a schema's JSON) keeps: the thinking leaves them


@dataclass
class Generation:
    """One generation made ready: the prompt as the model sees it, and the decoder that runs it.

    With tools, the answer is read for calls: as it streams (``on_text`` then sees ``tool_call``
    deltas, each a whole call) or, when not streamed, at the end.
    """

    text: str
    prompt_ids: list[int]
    decoder: Decoder
    end_marker: str
    calls: "CallStream | None" = None
    turn: tuple | None = None  # (TurnBudget, thinking spent before this generation)

    def result(self, trace: Trace) -> Result:
        decoder = self.decoder
        result = build_result(trace, decoder.backend.detokenize, self.text, len(self.prompt_ids), self.end_marker)
        if decoder.stream:
            decoder.stream.flush(result.thinking, result.answer)
        if decoder.scores is not None or decoder.prompt_scores is not None:
            logprobs = None if decoder.scores is None else tuple(decoder.scores.items[:len(trace.ids)])
            result = replace(result, logprobs=logprobs, prompt_logprobs=decoder.prompt_scores)
        if self.calls is not None:
            if not decoder.stream:
                self.calls("answer", result.answer)
            self.calls.close()
            reader = self.calls.reader
            if reader.calls:
                result = replace(result, answer=reader.text, tool_calls=tuple(reader.calls))
        remember(result.thinking, result.usage.thinking_tokens)
        if self.turn is not None:
            budget, before = self.turn
            result = replace(result, turn=budget.report(before, result.usage.thinking_tokens))
        return result


class CallStream:
    """An ``on_text`` that reads the answer for calls: its text goes on as ``answer`` deltas, each call whole as
    a ``tool_call`` delta (a ``ToolCall``). ``close`` at the answer's end sends what was held back."""

    def __init__(self, on_text: OnText | None, reader: CallReader) -> None:
        self.on_text, self.reader = on_text, reader

    def __call__(self, phase: str, text: str) -> None:
        if phase != "answer":
            self.send(phase, text)
        else:
            self.send_all(self.reader.feed(text))

    def close(self) -> None:
        self.send_all(self.reader.close())

    def send_all(self, items) -> None:
        for kind, item in items:
            self.send("answer" if kind == "text" else "tool_call", item)

    def send(self, phase: str, item) -> None:
        if self.on_text is not None:
            self.on_text(phase, item)


def prepare(engine: Backend, prompt: str | Messages | TokenIds, thinking: Thinking = None, *, format="think",
            max_tokens: int = 1024, temperature: float = 0.0, top_p: float = 1.0, top_k: int = 0,
            seed: int | None = None, chat: bool = True, system: str | None = None, raw_prompt: bool = False,
            on_text: OnText | None = None, stop: str | Sequence[str] = (),
            cancelled: Callable[[], bool] | None = None, continuation: bool = False,
            logprobs: int | None = None, prompt_logprobs: bool = False, template: Mapping | None = None,
            tools: ToolUse | None = None, call_format: CallFormat | None = None,
            turn: TurnBudget | None = None, answer_schema=None, control=None) -> Generation:
    """The prompt's ids and a decoder for them, checked against the model's context.

    ``tools``: the answer is read for calls (in ``call_format`` where the caller rendered the tools into a
    raw prompt itself, as the server does), and under a forced choice held to the call's grammar.
    ``turn``: the thinking is held within what the turn budget has left after the chat's earlier thinking.
    ``answer_schema`` (a JSON Schema, or ``"json_object"``): the answer is held to it. ``control`` (a
    ``ponder.Control``): another thread may end the thinking or extend it while it runs.
    """
    spent = None
    if turn is not None:
        alone_in_turn(thinking, turn)
        if isinstance(prompt, str) or is_token_ids(prompt):
            raise PonderError("a turn budget counts the thinking in a chat's history: give the chat as messages")
        spent = turn.spent_in(prompt, lambda text: len(engine.tokenize(text)))
        thinking = turn.thinking(thinking, spent)
    fmt = get_format(format)
    stops = (stop,) if isinstance(stop, str) else tuple(stop)
    raw_prompt = raw_prompt or continuation
    tools = tools or ToolUse()
    schema = schema_of(answer_schema)
    if schema is not None and tools.tools:
        raise PonderError("an answer schema holds the whole answer to JSON, so no tool call could be read: "
                          "send tools or an answer schema, not both")
    if raw_prompt and is_token_ids(prompt):
        prompt_ids, text = list(prompt), engine.detokenize(prompt)
    else:
        # the template hears whether the model thinks (Qwen3's closes an empty thought when it does not)
        template = {"enable_thinking": thinking is not False, **(template or {})}
        if not raw_prompt and (tools.tools or not isinstance(prompt, str)):
            prompt, call_format, template = with_tools(engine, prompt, tools, template)
        text = prompt if raw_prompt else build_prompt(engine, prompt, fmt, chat=chat, system=system, template=template)
        prompt_ids = engine.prompt_ids(text)
    if tools.reads_calls and call_format is None:
        raise PonderError("tools need a chat prompt (messages or a question), not a raw prompt or a continuation")
    if not prompt_ids:  # nothing to continue from: a forward pass over no tokens fails, beside other rows too
        raise PonderError("the prompt is empty: it has no tokens once templated and tokenized, so there is "
                          "nothing to continue; send some text")
    if len(prompt_ids) >= engine.n_ctx:
        raise PonderError(f"the prompt has {len(prompt_ids)} tokens but the context holds {engine.n_ctx}: "
                          "shorten the prompt or load the model with a larger context (--n-ctx)")
    thinking = resolve_relative(thinking, len(prompt_ids), engine.n_ctx)  # "0.5p+256": now the prompt is known
    think = not continuation and not thinking_closed(text, fmt)
    forced = tools.reads_calls and tools.choice.forced
    held = forced or schema is not None
    if held:  # the answer is the call or the JSON: no lead such as "Final Answer:" before it
        fmt = replace(fmt, answer_lead="\n")
    calls = CallStream(on_text, CallReader(call_format, tools.tools)) if tools.reads_calls else None
    policy = policies_for(thinking)
    if held and think:
        policy = room_for_answer(policy, max_tokens)
    decoder = Decoder(engine, model_vocab(engine, fmt), policy,
                      Sampling(temperature, top_p, top_k, seed), max_tokens,
                      calls if calls and on_text else on_text, stops, cancelled,
                      think=think, logprobs=logprobs, prompt_logprobs=prompt_logprobs,
                      constraint=forced_call(engine, tools, call_format) if forced else
                      None if schema is None else Constraint(schema.grammar(), engine), control=control)
    return Generation(text, prompt_ids, decoder, fmt.end, calls, None if turn is None else (turn, spent))


def room_for_answer(policy: Chain, max_tokens: int) -> Chain:
    """A held answer must fit: the thinking is capped to leave ANSWER_ROOM tokens of ``max_tokens`` for it."""
    cap = max(0, max_tokens - ANSWER_ROOM)
    if policy.cap is not None and policy.cap <= cap:
        return policy
    return Chain((*policy.policies, Budget(max_tokens=cap)))


def with_tools(engine: Backend, prompt: str | Messages, tools: ToolUse, template: dict):
    """The chat with its tools rendered (by the template or the fallback), the call format, the template's variables."""
    from .tools.render import render

    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
    rendered = render(engine, messages, tools.tools)
    return rendered.messages, rendered.format, {**template, **rendered.template}


def forced_call(engine: Backend, tools: ToolUse, call_format: CallFormat):
    from .tools.grammar import call_grammar

    return Constraint(call_grammar(tools.tools, tools.choice, call_format, engine), engine)
