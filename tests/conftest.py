import importlib.util
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

BACKENDS = ["llama.cpp", "transformers"]


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request):
    """The embedded default model, SmolLM2-135M-Instruct, on each steerable backend (loaded once)."""
    import ponder

    return ponder.load_backend(None, request.param)


@pytest.fixture(scope="session")
def llama():
    import ponder

    return ponder.load_backend(None, "llama.cpp")


# tests/vllm_tests runs in its own environment (tests/vllm_tests/run): vLLM's pins differ from the core's
collect_ignore = [] if importlib.util.find_spec("vllm") else ["vllm_tests"]
# tests/llama_server_tests needs llama-server built first: tests/llama_server_tests/run builds it and names it
if not os.environ.get("LLAMA_SERVER"):
    collect_ignore.append("llama_server_tests")
