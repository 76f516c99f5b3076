"""Only the decoding thread touches the model: the app in process, on the real default model."""

from __future__ import annotations

import threading

from fastapi.testclient import TestClient

from ponder.server.app import create_app
from ponder.server.settings import ServerSettings


class Watched:
    """The real backend, noting the thread of every tokenizing call."""

    def __init__(self, backend) -> None:
        self.backend = backend
        self.threads: list[str] = []

    def __getattr__(self, name):
        return getattr(self.backend, name)

    def tokenize(self, text: str) -> list[int]:
        self.threads.append(threading.current_thread().name)
        return self.backend.tokenize(text)

    def prompt_ids(self, text: str) -> list[int]:
        self.threads.append(threading.current_thread().name)
        return self.backend.prompt_ids(text)

    def chat_prompt(self, messages, **options):
        self.threads.append(threading.current_thread().name)
        return self.backend.chat_prompt(messages, **options)


def test_tokenize_templates_and_counts_run_on_the_decoding_thread(llama):
    watched = Watched(llama)
    with TestClient(create_app(ServerSettings(batch_size=1), backend=watched), base_url="http://127.0.0.1") as client:
        answer = client.post("/tokenize", json={"prompt": "Wait, so"})
        chat = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "Hi"}],
                                                         "max_tokens": 4})
        counted = client.post("/v1/messages/count_tokens", json={"model": "any", "messages": [
            {"role": "user", "content": "Hi"}]})
    assert answer.status_code == 200 and answer.json()["tokens"] == llama.tokenize("Wait, so")
    assert chat.status_code == 200 and counted.status_code == 200 and counted.json()["input_tokens"] > 1
    assert watched.threads and set(watched.threads) == {"ponder-generate"}
