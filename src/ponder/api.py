"""The Python surface: ``ponder.generate``."""

from __future__ import annotations

from typing import Callable, Iterable, Sequence

from .backends import Backend, load_backend
from .decoding import Decoder, OnText
from .errors import PonderError
from .formats import ThinkFormat, get_format
from .markers import ModelVocab
from .policies import NoThinking, Policy, chain
from .result import Result, build_result
from .sampling import Sampling

Thinking = Policy | Iterable[Policy] | bool | None


Messages = list[dict]  # OpenAI chat messages: {"role": ..., "content": ...}


def build_prompt(backend: Backend, question: str | Messages, fmt: ThinkFormat, chat: bool = True,
                 system: str | None = None) -> str:
    """The prompt as the model sees it, ending with the opened thinking.

    ``question`` is one user message or a whole chat. Models without native
    markers get the format's instruction in the system message, so the visible
    prompt says what is expected of them.
    """
    messages = [{"role": "user", "content": question}] if isinstance(question, str) else list(question)
    if messages and messages[0].get("role") in ("system", "developer"):
        system = "\n\n".join(s for s in (system, str(messages[0].get("content") or "")) if s)
        messages = messages[1:]
    native = backend.special_id(fmt.end) is not None
    instruction = None if native else fmt.instruction
    system = "\n\n".join(s for s in (system, instruction) if s) or None
    messages = ([{"role": "system", "content": system}] if system else []) + messages
    text = backend.chat_prompt(messages) if chat else None
    if text is None:
        text = "\n\n".join(str(m.get("content") or "") for m in messages) + "\n"
    if not text.rstrip().endswith(fmt.start.strip()):
        text += fmt.start
    return text


def policies_for(thinking: Thinking):
    if thinking is False:
        return chain(NoThinking())
    if thinking is True:
        return chain(None)
    return chain(thinking)


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
    endpoint=None,
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
    OpenAI-style text completion does).

    ``endpoint`` (a URL such as ``http://127.0.0.1:8000/v1``) runs the s1 loop
    against an OpenAI-compatible server instead of a local model; ``model`` then
    names the served model (default: the first it lists), and chats are
    written in ChatML.
    """
    if max_tokens < 1:
        raise PonderError(f"max_tokens must be >= 1, got {max_tokens}")
    fmt = get_format(format)
    stops = (stop,) if isinstance(stop, str) else tuple(stop)
    if endpoint is not None:
        return generate_over(endpoint, prompt, model, policies_for(thinking), fmt, max_tokens, raw_prompt, system,
                             dict(temperature=temperature, top_p=top_p, seed=seed), stops, on_text)
    if continuation and (not isinstance(prompt, str) or thinking not in (None, True)):
        raise PonderError("a continuation takes a raw text prompt and no thinking policies")
    engine = model if hasattr(model, "prefill") else load_backend(model, backend, n_ctx)
    raw_prompt = raw_prompt or continuation
    text = prompt if raw_prompt else build_prompt(engine, prompt, fmt, chat=chat, system=system)
    prompt_ids = engine.prompt_ids(text)
    if len(prompt_ids) >= engine.n_ctx:
        raise PonderError(f"the prompt has {len(prompt_ids)} tokens but the context holds {engine.n_ctx}: "
                          "shorten the prompt or load the model with a larger context (--n-ctx)")
    decoder = Decoder(engine, ModelVocab(engine, fmt), policies_for(thinking),
                      Sampling(temperature, top_p, top_k, seed), max_tokens, on_text, stops, cancelled,
                      think=not continuation)
    trace = decoder.run(prompt_ids)
    result = build_result(trace, engine.detokenize, text, len(prompt_ids), fmt.end)
    if decoder.stream:
        decoder.stream.flush(result.thinking, result.answer)
    return result


def generate_over(endpoint, prompt, model, policy, fmt, max_tokens, raw_prompt, system, sampling, stops, on_text):
    """``generate`` against a server: the s1 loop over its completions endpoint."""
    from .remote import ChatML, client_for, generate_remote

    client = client_for(endpoint, model)
    text = prompt if raw_prompt else build_prompt(ChatML(), prompt, fmt, system=system)
    return generate_remote(text, client, policy.policies, fmt, max_tokens, sampling, stops, on_text)
