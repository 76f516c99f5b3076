"""The Python surface: ``ponder.generate``."""

from __future__ import annotations

import os
from dataclasses import replace
from collections import deque
from typing import Callable, Iterable, Iterator, Mapping, Sequence

from .backends import Backend, exclusive, load_backend
from .batching import Batch, rows_for
from .decoding import OnText
from .errors import PonderError
from .formats import ThinkFormat, get_format
from .generation import Generation, prepare
from .policies import Thinking, policies_for
from .prompts import Messages, build_prompt, is_token_ids, open_thinking, thinking_closed  # noqa: F401 (re-exported)
from .control import Control
from .result import Result
from .tools import ToolUse
from .policies.relative import alone_in_turn, any_relative
from .policies.relative import resolve as resolve_relative
from .turns import TurnBudget, remember

def generate(
    prompt: str | Messages,
    model: str | Backend | None = None,
    thinking: Thinking = None,
    *,
    backend: str = "auto",
    n_ctx: int = 4096,
    format: str | ThinkFormat = "think",
    max_tokens: int = 1024,
    temperature: float = 0.0,
    top_p: float = 1.0,
    top_k: int = 0,
    seed: int | None = None,
    chat: bool = True,
    system: str | None = None,
    raw_prompt: bool = False,
    on_text: OnText | None = None,
    stop: str | Sequence[str] = (),
    cancelled: Callable[[], bool] | None = None,
    continuation: bool = False,
    logprobs: int | None = None,
    prompt_logprobs: bool = False,
    endpoint=None,
    device: str = "auto",
    dtype: str = "auto",
    gpu_layers: int | None = None,
    tools: Sequence | None = None,
    tool_choice=None,
    parallel_tool_calls: bool = True,
    turn: TurnBudget | None = None,
    answer_schema=None,
    control: Control | None = None,
) -> Result:
    """Generate with controlled thinking.

    ``thinking`` is a policy (``Budget(min_tokens=64, max_tokens=256)``), a list
    of policies, ``False`` for no thinking, or ``None`` to let the model think as
    it likes. ``prompt`` is a question or a list of chat messages;
    ``raw_prompt=True`` sends a string ``prompt`` as is (it must open the thinking).
    ``on_text(phase, delta)`` receives the text as it is produced. ``stop``
    strings end the answer (the answer stops before them); ``cancelled()`` is
    polled every step and ends the generation when it returns True.
    ``continuation=True`` continues a raw ``prompt`` as plain text: no thinking
    phase and no policies, stop strings from the first token (what an
    OpenAI-style text completion does). A raw ``prompt`` may be a list of token ids.
    ``logprobs=k`` keeps each completion token's log probability and its ``k``
    likeliest alternatives (``result.logprobs``); ``prompt_logprobs=True`` those of
    the prompt's tokens too (``result.prompt_logprobs``).

    ``endpoint`` (a URL such as ``http://127.0.0.1:8000/v1``) runs the s1 loop
    against an OpenAI-compatible server instead of a local model; ``model`` then
    names the served model (default: the first it lists), and chats are
    written in ChatML. ``top_k`` is sent as the non-OpenAI field most servers
    read (vLLM, llama-server, ponder serve); ``cancelled``, ``continuation``,
    ``logprobs``, ``prompt_logprobs`` and a prompt of token ids cannot run over
    an endpoint and are refused.

    ``device``, ``dtype`` and ``gpu_layers`` say where a ``model`` named by a string is loaded (see
    ``load_backend``: auto puts it on a GPU when there is one).

    ``tools`` (``ponder.Tool``s or OpenAI's function tools) are shown to the model through its chat
    template (or ponder's fallback), and the calls it makes are read from its answer into
    ``result.tool_calls``. ``tool_choice``: ``"auto"`` (the model decides), ``"none"``,
    ``"required"`` (a call to one of the tools) or a tool's name (a call to it); a required or named
    call is held to the grammar of its arguments' JSON Schema, so it always parses.

    ``turn`` (a ``ponder.TurnBudget``) holds the thinking of a whole turn (a tool loop's generations
    since the last user message) within one budget: the chat's earlier thinking in the turn is
    counted, this generation gets what is left (``result.turn`` gives the account).

    ``answer_schema`` (a JSON Schema, or ``"json_object"`` for any JSON object) holds the answer, after
    the thinking, to JSON that follows it: ``json.loads(result.answer)`` always parses, also after a
    forced close (the thinking is capped to leave the answer 64 tokens).

    ``control`` (a ``ponder.Control``) lets another thread end the thinking now (``control.end_thinking()``)
    or give it more (``control.extend(64)``) while the generation runs.
    """
    options = dict(thinking=thinking, format=format, max_tokens=max_tokens, temperature=temperature, top_p=top_p,
                   top_k=top_k, seed=seed, chat=chat, system=system, raw_prompt=raw_prompt, on_text=on_text,
                   stop=stop, cancelled=cancelled, continuation=continuation, logprobs=logprobs,
                   prompt_logprobs=prompt_logprobs, turn=turn, answer_schema=answer_schema, control=control)
    placement = dict(device=device, dtype=dtype, gpu_layers=gpu_layers)
    if tools or tool_choice is not None:
        if endpoint is not None:
            raise PonderError("tools need a local model: the s1 loop over an endpoint does not read calls")
        options["tools"] = ToolUse.make(tools, tool_choice, parallel_tool_calls)
    if endpoint is not None:
        if answer_schema is not None or control is not None:
            raise PonderError("an answer schema and a control need a local model: the s1 loop over an endpoint "
                              "can honour neither")
        check(max_tokens, prompt)
        check_over_endpoint(prompt, placement, cancelled, continuation, logprobs, prompt_logprobs)
        stops = (stop,) if isinstance(stop, str) else tuple(stop)
        text_options = dict(raw_prompt=raw_prompt, chat=chat, system=system)
        return generate_over(endpoint, prompt, model, thinking, get_format(format), max_tokens,
                             text_options, dict(temperature=temperature, top_p=top_p, seed=seed, top_k=top_k),
                             stops, on_text, turn)
    check(max_tokens, prompt, thinking, continuation)
    engine = engine_for(model, backend, n_ctx, placement)
    with exclusive(engine):  # one generation at a time on a model's KV cache; other threads wait their turn
        generation = prepare(engine, prompt, **options)
        return generation.result(generation.decoder.run(generation.prompt_ids))


def generate_many(requests: Iterable[Mapping], model: str | Backend | None = None, *, backend: str = "auto",
                  n_ctx: int = 4096, batch_size: int = 16, device: str = "auto", dtype: str = "auto",
                  gpu_layers: int | None = None, prefix_cache: bool = True) -> Iterator[tuple[int, Result | Exception]]:
    """Run many generations on one model, ``batch_size`` rows per forward pass; yield (index, result) as each ends.

    Each request is a mapping of ``generate``'s keyword arguments (``prompt`` and
    any of ``thinking``, ``max_tokens``, ``temperature``, ``seed``...), each with
    its own policies. A request joins the batch as soon as a row is free, so the
    batch stays full. ``batch_size=1`` runs them one at a time, exactly as
    ``generate`` does. ``device``, ``dtype`` and ``gpu_layers`` as for ``generate``.

    ``prefix_cache``: a row keeps its cache when its generation ends, and a later request whose prompt
    starts the same evaluates only the rest (``usage.cached_tokens``). The rest goes through the model
    in a pass of another shape, which can move the logits in their last bits; ``False`` for the exact
    mode, where a request's tokens never depend on what ran before it.

    A request that fails yields its exception in place of the result (a
    ``PonderError`` for what its caller can fix, such as a prompt longer than the
    context), and the other requests go on: check ``isinstance(result, Exception)``.
    Only a failure of the model itself (a forward pass) ends the iterator.
    """
    if batch_size < 1:
        raise PonderError(f"batch_size must be >= 1, got {batch_size}")
    engine = engine_for(model, backend, n_ctx, dict(device=device, dtype=dtype, gpu_layers=gpu_layers))
    with exclusive(engine):
        yield from run_many(engine, requests, batch_size, prefix_cache)


def run_many(engine: Backend, requests: Iterable[Mapping], batch_size: int,
             prefix_cache: bool = False) -> Iterator[tuple[int, Result | Exception]]:
    batch = Batch(rows_for(engine, batch_size), prefix_cache=prefix_cache)
    pending = iter(enumerate(requests))
    ended: deque = deque()
    try:
        while True:
            while batch.free:
                index, request = next(pending, (None, None))
                if request is None:
                    break
                try:
                    generation = start(engine, request)
                except Exception as err:  # this request alone is refused (a prompt too long...): the rest go on
                    yield index, err
                    continue
                batch.add(generation.decoder, generation.prompt_ids,
                          lambda trace, error, i=index, g=generation: ended.append((i, g, trace, error)))
            if not batch.running:
                return
            batch.round()
            while ended:
                yield finish(*ended.popleft())
    finally:
        batch.rows.close()


def start(engine: Backend, request: Mapping) -> "Generation":
    """One request of ``run_many`` checked and made ready, as ``generate`` would."""
    request = dict(request)
    if "prompt" not in request:
        raise PonderError(f"a request needs a prompt (it has {', '.join(request) or 'nothing'})")
    check(request.get("max_tokens", 1024), request["prompt"], request.get("thinking"),
          request.get("continuation", False))
    if "tools" in request or "tool_choice" in request:
        request["tools"] = ToolUse.make(request.pop("tools", None), request.pop("tool_choice", None),
                                        request.pop("parallel_tool_calls", True))
    return prepare(engine, **request)


def finish(index: int, generation: "Generation", trace, error) -> tuple[int, Result | Exception]:
    """(index, result) of a row that ended, or (index, its error): one row's failure is that row's alone."""
    if error is not None:
        return index, error
    try:
        return index, generation.result(trace)
    except Exception as err:
        return index, err

LOCAL = dict(device="auto", dtype="auto", gpu_layers=None)  # where ponder loads a model by default


def engine_for(model: str | Backend | None, backend: str, n_ctx: int, placement: dict) -> Backend:
    """The model itself when it is loaded already, else loaded (once) where ``placement`` says."""
    if model is None or isinstance(model, (str, os.PathLike)):
        return load_backend(model, backend, n_ctx, None, **placement)
    if placement != LOCAL:
        raise PonderError("device, dtype and gpu_layers place a model as ponder loads it, and this one is loaded "
                          "already: pass them to ponder.load_backend, or pass the model by name")
    return model


def check(max_tokens: int, prompt=None, thinking: Thinking = None, continuation: bool = False) -> None:
    if max_tokens < 1:
        raise PonderError(f"max_tokens must be >= 1, got {max_tokens}")
    if isinstance(prompt, (list, tuple)) and not prompt:
        raise PonderError("the prompt is an empty list: give a question, chat messages or token ids")
    if continuation and (not (isinstance(prompt, str) or is_token_ids(prompt)) or thinking not in (None, True)):
        raise PonderError("a continuation takes a raw prompt (text or token ids) and no thinking policies")

def check_over_endpoint(prompt, placement, cancelled, continuation, logprobs, prompt_logprobs) -> None:
    """What the s1 loop over an endpoint cannot honour is refused, never dropped."""
    if placement != LOCAL:
        raise PonderError("device, dtype and gpu_layers place a local model: the server at the endpoint "
                          "places its own (leave them out with an endpoint)")
    if cancelled is not None or continuation:
        raise PonderError("cancelled and continuation need a local model: the s1 loop over an endpoint "
                          "can honour neither")
    if logprobs is not None or prompt_logprobs:
        raise PonderError("logprobs and prompt_logprobs need a local model: the s1 loop over an endpoint "
                          "does not collect them (leave them out with an endpoint)")
    if is_token_ids(prompt):
        raise PonderError("a prompt of token ids needs a local model: the s1 loop over an endpoint extends the "
                          "prompt as text (pass the prompt as text)")


def generate_over(endpoint, prompt, model, thinking, fmt, max_tokens, text_options, sampling, stops, on_text,
                  turn: TurnBudget | None = None):
    """``generate`` against a server: the s1 loop over its completions endpoint (a turn's thinking counted by
    the server's tokenizer)."""
    from .remote import ChatML, client_for, generate_remote

    client = client_for(endpoint, model)
    alone_in_turn(thinking, turn)
    spent = None
    if turn is not None:
        if isinstance(prompt, str):
            raise PonderError("a turn budget counts the thinking in a chat's history: give the chat as messages")
        spent = turn.spent_in(prompt, client.count)
        thinking = turn.thinking(thinking, spent)
    if text_options["raw_prompt"]:
        text = prompt
    else:
        text = build_prompt(ChatML(), prompt, fmt, chat=text_options["chat"], system=text_options["system"])
    if any_relative(thinking):  # the prompt counted by the server's tokenizer; its context is not known here
        thinking = resolve_relative(thinking, client.count(text), None)
    policy = policies_for(thinking)
    result = generate_remote(text, client, policy.policies, fmt, max_tokens, sampling, stops, on_text)
    remember(result.thinking, result.usage.thinking_tokens)
    return result if turn is None else replace(result, turn=turn.report(spent, result.usage.thinking_tokens))
