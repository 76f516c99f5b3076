"""The prompt as the model sees it: a question or a chat through the template, the thinking opened."""

from __future__ import annotations

from typing import Mapping

from .backends.base import Backend
from .formats import ThinkFormat

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


