"""The README's commands and example stay true."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def code_blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def test_ci_runs_the_readme_test_command():
    test_command = code_blocks("bash")[1].strip()
    assert "pytest" in test_command
    assert test_command in (ROOT / ".ci" / "run").read_text()


def test_the_python_example_runs():
    example = code_blocks("python")[0]
    namespace: dict = {}
    exec(compile(example, "README example", "exec"), namespace)
    result = namespace["result"]
    assert result.thinking.startswith("Ok, so")
    assert 64 <= result.usage.thinking_tokens <= 256
