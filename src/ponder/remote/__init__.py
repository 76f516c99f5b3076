"""ponder driving a server it cannot steer token by token, through its OpenAI completions API (the s1 loop)."""

from __future__ import annotations

import os

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
        endpoint = Endpoint(endpoint, model=model, api_key=os.environ.get("OPENAI_API_KEY"))
    return Client(endpoint)


__all__ = ["ChatML", "Client", "Completion", "Endpoint", "EndpointError", "LoopPolicies", "client_for",
           "generate_remote"]
