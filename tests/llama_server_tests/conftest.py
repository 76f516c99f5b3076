"""A real llama-server (tests/llama_server_tests/build) on 127.0.0.1 with the embedded SmolLM2 GGUF."""

from __future__ import annotations

import os
import subprocess
import tempfile
from contextlib import contextmanager

import pytest
from health import free_port, wait_healthy

pytest.register_assert_rewrite("remote_checks")


@contextmanager
def llama_server(*args: str):
    """llama-server with the embedded model on a free port; yields its API base (``.../v1``)."""
    from ponder.backends import default_model_path
    from ponder.backends.llamacpp import has_amx

    binary = os.environ.get("LLAMA_SERVER")
    if not binary:
        pytest.skip("LLAMA_SERVER is not set: run tests/llama_server_tests/run")
    port = free_port()
    log = tempfile.TemporaryFile(mode="w+")
    command = [binary, "-m", default_model_path(), "--host", "127.0.0.1", "--port", str(port), "-c", "4096",
               "-t", "2", "-np", "2", "--seed", "0", *(["--no-repack"] if has_amx() else []), *args]
    # --no-repack on AMX: as ponder's backend loads it (the AMX repack's matrix multiply segfaults)
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process, "llama-server", 120, log)
        yield url + "/v1"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture(scope="session")
def server():
    with llama_server() as url:
        yield url


@pytest.fixture(scope="module")
def metered_server():
    """A llama-server of its own whose /metrics count the prompt tokens it evaluated and those it reused."""
    with llama_server("--metrics") as url:
        yield url
