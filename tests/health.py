"""Servers on 127.0.0.1 for the tests and benches: a free port, and waiting until one answers /health."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health", timeout=2) as res:
            return res.status == 200
    except OSError:
        return False


def wait_healthy(url: str, process: subprocess.Popen, name: str, timeout: float = 180, log=None) -> None:
    """Return once ``url`` answers /health; raise if ``process`` exits first (quoting ``log``) or never answers."""
    deadline = time.monotonic() + timeout
    while not healthy(url):
        if process.poll() is not None:
            told = ""
            if log is not None:
                log.seek(0)
                told = ":\n" + log.read()[-3000:]
            raise RuntimeError(f"{name} exited with {process.returncode}{told}")
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"{name} at {url} did not answer /health within {timeout:.0f} s")
        time.sleep(0.2)
