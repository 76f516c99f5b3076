import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import harness  # noqa: E402


@pytest.fixture(scope="session")
def model_dir():
    return harness.model_dir()


@pytest.fixture(scope="session")
def plugin_server(model_dir):
    with harness.vllm_server(plugin=True) as url:
        yield url


@pytest.fixture(scope="session")
def plain_server(model_dir):
    with harness.vllm_server(plugin=False) as url:
        yield url
