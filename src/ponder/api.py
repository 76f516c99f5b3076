"""The Python surface: ``ponder.generate``."""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass, replace
from typing import Callable, Iterable, Iterator, Mapping, Sequence

from .backends import Backend, exclusive, load_backend
from .batching import Batch, rows_for
from .decoding import Decoder, OnText
from .errors import PonderError
from .formats import ThinkFormat, get_format
from .markers import model_vocab
from .policies import Thinking, policies_for
from .result import Result, build_result
from .sampling import Sampling
from .trace import Trace

Messages = list[dict]  # OpenAI chat messages: {"role": ..., "content": ...}
TokenIds = list[int]


def build_prompt(backend: Backend, question: str | Messages, fmt: ThinkFormat, chat: bool = True,
                 system: str | None = None, template: Mapping | None = None) -> str:
    """The prompt as the model sees it, ending with the opened thinking (or with a thought the template closed).

    ``question`` is one user message or a whole chat. Models without native
    markers get the format's instruction in the system message, so the visible
    prompt says what is expected of them. ``template`` holds extra variables for
    the chat template, such as Qwen3's ``enable_thinking``.
    """
    messages = [{"role": "user", "content": question}] if isinstance(question, str) else list(question)
    if messages and messages[0].get("role") in ("system", "developer"):
        system = "\n\n".join(s for s in (system, str(messages[0].get("content") or "")) if s)
        messages = messages[1:]
    native = backend.special_id(fmt.end) is not None
    instruction = None if native else fmt.instruction
    system = "\n\n".join(s for s in (system, instruction) if s) or None
    messages = ([{"role": "system", "content": system}] if system else []) + messages
    text = (backend.chat_prompt(messages, **template) if template else backend.chat_prompt(messages)) if chat else None
    if text is None:
        text = "\n\n".join(str(m.get("content") or "") for m in messages) + "\n"
    return open_thinking(text, fmt)


def open_thinking(text: str, fmt: ThinkFormat) -> str:
    """``text`` ending with the opened thinking: the format's start marker added unless it opens or closes one."""
    if text.rstrip().endswith(fmt.start.strip()) or thinking_closed(text, fmt):
        return text
    return text + fmt.start


def thinking_closed(text: str, fmt: ThinkFormat) -> bool:
    """Whether a prompt ends with a closed thought (Qwen3's template without thinking): the model answers at once."""
    return text.rstrip().endswith(fmt.end)


def is_token_ids(prompt) -> bool:
    """Whether ``prompt`` is a list of token ids (not text, not chat messages)."""
    return isinstance(prompt, (list, tuple)) and bool(prompt) and all(
        isinstance(t, int) and not isinstance(t, bool) for t in prompt)


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
    """
    options = dict(thinking=thinking, format=format, max_tokens=max_tokens, temperature=temperature, top_p=top_p,
                   top_k=top_k, seed=seed, chat=chat, system=system, raw_prompt=raw_prompt, on_text=on_text,
                   stop=stop, cancelled=cancelled, continuation=continuation, logprobs=logprobs,
                   prompt_logprobs=prompt_logprobs)
    placement = dict(device=device, dtype=dtype, gpu_layers=gpu_layers)
    if endpoint is not None:
        check(max_tokens, prompt)
        check_over_endpoint(prompt, placement, cancelled, continuation, logprobs, prompt_logprobs)
        stops = (stop,) if isinstance(stop, str) else tuple(stop)
        text_options = dict(raw_prompt=raw_prompt, chat=chat, system=system)
        return generate_over(endpoint, prompt, model, policies_for(thinking), get_format(format), max_tokens,
                             text_options, dict(temperature=temperature, top_p=top_p, seed=seed, top_k=top_k),
                             stops, on_text)
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


@dataclass
class Generation:
    """One generation made ready: the prompt as the model sees it, and the decoder that runs it."""

    text: str
    prompt_ids: list[int]
    decoder: Decoder
    end_marker: str

    def result(self, trace: Trace) -> Result:
        decoder = self.decoder
        result = build_result(trace, decoder.backend.detokenize, self.text, len(self.prompt_ids), self.end_marker)
        if decoder.stream:
            decoder.stream.flush(result.thinking, result.answer)
        if decoder.scores is not None or decoder.prompt_scores is not None:
            logprobs = None if decoder.scores is None else tuple(decoder.scores.items[:len(trace.ids)])
            result = replace(result, logprobs=logprobs, prompt_logprobs=decoder.prompt_scores)
        return result


def prepare(engine: Backend, prompt: str | Messages | TokenIds, thinking: Thinking = None, *, format="think",
            max_tokens: int = 1024, temperature: float = 0.0, top_p: float = 1.0, top_k: int = 0,
            seed: int | None = None, chat: bool = True, system: str | None = None, raw_prompt: bool = False,
            on_text: OnText | None = None, stop: str | Sequence[str] = (),
            cancelled: Callable[[], bool] | None = None, continuation: bool = False,
            logprobs: int | None = None, prompt_logprobs: bool = False, template: Mapping | None = None) -> Generation:
    """The prompt's ids and a decoder for them, checked against the model's context."""
    fmt = get_format(format)
    stops = (stop,) if isinstance(stop, str) else tuple(stop)
    raw_prompt = raw_prompt or continuation
    if raw_prompt and is_token_ids(prompt):
        prompt_ids, text = list(prompt), engine.detokenize(prompt)
    else:
        # the template hears whether the model thinks (Qwen3's closes an empty thought when it does not)
        template = {"enable_thinking": thinking is not False, **(template or {})}
        text = prompt if raw_prompt else build_prompt(engine, prompt, fmt, chat=chat, system=system, template=template)
        prompt_ids = engine.prompt_ids(text)
    if not prompt_ids:  # nothing to continue from: a forward pass over no tokens fails, beside other rows too
        raise PonderError("the prompt is empty: it has no tokens once templated and tokenized, so there is "
                          "nothing to continue; send some text")
    if len(prompt_ids) >= engine.n_ctx:
        raise PonderError(f"the prompt has {len(prompt_ids)} tokens but the context holds {engine.n_ctx}: "
                          "shorten the prompt or load the model with a larger context (--n-ctx)")
    think = not continuation and not thinking_closed(text, fmt)
    decoder = Decoder(engine, model_vocab(engine, fmt), policies_for(thinking),
                      Sampling(temperature, top_p, top_k, seed), max_tokens, on_text, stops, cancelled,
                      think=think, logprobs=logprobs, prompt_logprobs=prompt_logprobs)
    return Generation(text, prompt_ids, decoder, fmt.end)


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


def generate_over(endpoint, prompt, model, policy, fmt, max_tokens, text_options, sampling, stops, on_text):
    """``generate`` against a server: the s1 loop over its completions endpoint."""
    from .remote import ChatML, client_for, generate_remote

    client = client_for(endpoint, model)
    if text_options["raw_prompt"]:
        text = prompt
    else:
        text = build_prompt(ChatML(), prompt, fmt, chat=text_options["chat"], system=text_options["system"])
    return generate_remote(text, client, policy.policies, fmt, max_tokens, sampling, stops, on_text)
