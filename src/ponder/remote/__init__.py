"""ponder driving a server it cannot steer token by token, through its OpenAI completions API (the s1 loop)."""

from __future__ import annotations

import ipaddress
import os
from urllib.parse import urlparse

from .client import Client, Completion, Endpoint, EndpointError
from .loop import LoopPolicies, generate_remote


class ChatML:
    """Prompts for a remote model in ChatML (SmolLM2, Qwen, s1), the template ponder assumes for endpoints.

    It stands in for a backend in ``build_prompt``: the end marker is taken to be
    text, so the prompt carries the think format's instruction.
    """

    def special_id(self, text: str) -> None:
        return None

    def chat_prompt(self, messages: list[dict], **options) -> str:  # template variables have no say in ChatML
        turns = "".join(f"<|im_start|>{m['role']}\n{m.get('content') or ''}<|im_end|>\n" for m in messages)
        return turns + "<|im_start|>assistant\n"


def client_for(endpoint: "str | Endpoint | Client", model: str | None = None) -> Client:
    if isinstance(endpoint, Client):
        return endpoint
    if isinstance(endpoint, str):
        endpoint = Endpoint(endpoint, model=model, api_key=environment_key(endpoint))
    return Client(endpoint)


def environment_key(url: str) -> str | None:
    """The key to send to ``url``: ``PONDER_API_KEY`` to any endpoint; ``OPENAI_API_KEY``, often a key to
    OpenAI itself, only where nobody on the way can read it: over https, or to this machine."""
    if os.environ.get("PONDER_API_KEY"):
        return os.environ["PONDER_API_KEY"]
    parsed = urlparse(url)
    return os.environ.get("OPENAI_API_KEY") if parsed.scheme == "https" or is_loopback(parsed.hostname) else None


def is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


__all__ = ["ChatML", "Client", "Completion", "Endpoint", "EndpointError", "LoopPolicies", "client_for",
           "generate_remote"]
