"""Real vLLM for the tests and bench/vllm.py: the model folder, offline engines, OpenAI servers.

Every engine runs in a process of its own, and ponder comes from the checkout (PYTHONPATH),
so vLLM loads the plugin only where asked: by class or by ``--logits-processors``. An engine
can also see ponder as installed (``installed_dir``: its entry points, as pyproject.toml
declares them), to check that installing ponder changes no engine that does not ask for it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import tomllib
from contextlib import contextmanager
from pathlib import Path

from health import free_port, wait_healthy

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
PLUGIN = "ponder.vllm.plugin:PonderLogitsProcessor"
MODEL_DIR = ROOT / ".venv-vllm" / "models" / "smollm2-hf"
END_ID = 1  # SmolLM2's <|im_start|>: where s1's thinking ends
TIE = 0.3  # nats: a few bfloat16 rounding steps of a logit near 20 (1/8 each), as far as run-to-run noise moves one


def model_dir() -> str:
    """SmolLM2-135M-Instruct as a Hugging Face folder (vLLM on CPU cannot load the GGUF); made once."""
    if not (MODEL_DIR / "config.json").exists():
        from ponder.backends import default_model_path
        from ponder.backends.hf import gguf_to_folder

        tmp = str(MODEL_DIR) + ".partial"
        gguf_to_folder(default_model_path(), tmp, dtype="bfloat16")
        os.replace(tmp, MODEL_DIR)
    return str(MODEL_DIR)


def s1_prompt(question: str) -> str:
    import ponder
    from ponder.remote import ChatML

    return ponder.build_prompt(ChatML(), question, ponder.FORMATS["s1"])


def chat_prompt(question: str) -> str:
    from ponder.remote import ChatML

    return ChatML().chat_prompt([{"role": "user", "content": question}])


def installed_dir() -> str:
    """A folder whose dist-info declares ponder's entry points exactly as pyproject.toml does."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    folder = Path(tempfile.mkdtemp(prefix="ponder-installed-"))
    info = folder / "ponder_installed-0.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ponder-installed\nVersion: 0.0\n")
    groups = {"console_scripts": project.get("scripts", {}), **project.get("entry-points", {})}
    text = "".join(f"[{group}]\n" + "".join(f"{name} = {target}\n" for name, target in points.items())
                   for group, points in groups.items())
    (info / "entry_points.txt").write_text(text)
    return str(folder)


def package_dir() -> str:
    """A folder holding only the checkout's ``ponder`` package.

    Not ``src`` itself: an editable install of ponder leaves ``src/ponder.egg-info`` there, whose entry
    points are those of the install (an older one declared the plugin for every engine).
    """
    folder = Path(tempfile.mkdtemp(prefix="ponder-src-"))
    (folder / "ponder").symlink_to(ROOT / "src" / "ponder")
    return str(folder)


def environment(plugin: str = "none") -> dict:
    """The engine's environment: ponder importable, and its entry points declared only when asked for."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", VLLM_CPU_KVCACHE_SPACE=os.environ.get("VLLM_CPU_KVCACHE_SPACE", "2"))
    paths = [package_dir()] + ([installed_dir()] if plugin == "installed" else [])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def run_engine(requests: list[dict], plugin: str = "none", invalid: list[dict] = (), repeat: int = 1,
               engine: dict | None = None, model: str | None = None, batches: list[list[dict]] = (),
               in_turns: bool = False) -> dict:
    """One offline batch (``repeat`` times) in a fresh process; ``plugin`` is none, class, timed or installed.

    ``engine``: more arguments for ``vllm.LLM`` (a small prefill chunk, speculative decoding...);
    ``model``: a model folder (default: SmolLM2's); ``batches``: more batches run after it, each ``repeat``
    times, in the same engine (their results under ``"batches"``); ``in_turns``: every batch once a turn instead.
    """
    with tempfile.TemporaryDirectory() as tmp:
        spec, out = Path(tmp, "spec.json"), Path(tmp, "out.json")
        spec.write_text(json.dumps({"model": model or model_dir(), "plugin": plugin, "requests": requests,
                                    "invalid": list(invalid), "repeat": repeat, "engine": engine or {},
                                    "batches": [list(b) for b in batches], "in_turns": in_turns}))
        run = subprocess.run([sys.executable, str(HERE / "engine.py"), str(spec), str(out)],
                             env=environment(plugin), capture_output=True, text=True, timeout=900)
        if run.returncode != 0:
            raise RuntimeError(f"the vLLM engine failed:\n{run.stderr[-4000:]}")
        return json.loads(out.read_text())


@contextmanager
def vllm_server(plugin: bool, log: str | None = None, model: str | None = None, name: str = "smollm2"):
    """vLLM's OpenAI server on a free port; yields its API base. With ``plugin``: --logits-processors."""
    port = free_port()
    command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model or model_dir(),
               "--port", str(port), "--host", "127.0.0.1", "--enforce-eager", "--dtype", "bfloat16",
               "--max-model-len", "2048", "--seed", "0", "--served-model-name", name]
    if plugin:
        command += ["--logits-processors", PLUGIN]
    out = open(log or os.devnull, "w")
    process = subprocess.Popen(command, env=environment(), stdout=out, stderr=subprocess.STDOUT,
                               start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process, "the vLLM server", 300)
        yield url + "/v1"
    finally:
        stop(process)
        out.close()


def stop(process: subprocess.Popen) -> None:
    import signal

    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def thinking_tokens(token_ids: list[int]) -> int:
    """Tokens before the end of s1's thinking (all of them if it never ended)."""
    return token_ids.index(END_ID) if END_ID in token_ids else len(token_ids)


def parted_on_a_tie(run: dict, reference: dict) -> int:
    """How many tokens two runs of one greedy request share, asserting that where they part, it was a near tie.

    vLLM on CPU is not bitwise repeatable across processes everywhere (on a Xeon with AMX two runs of one batch
    in two processes can differ in a logit's last bfloat16 bit), so two runs may pick different tokens where
    the best two were within ``TIE`` in the reference (which asked for ``logprobs`` >= 2); anywhere else they
    must agree. After they part their texts differ, so nothing after that is compared.
    """
    a, b = run["token_ids"], reference["token_ids"]
    common = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    if a == b or common == len(b):
        assert a == b, f"the run goes on after the reference's {len(b)} tokens: {a[len(b):]}"
        return common
    margin = reference["margins"][common]
    assert margin < TIE, f"the runs part at token {common} ({a[common:common + 1]} vs {b[common]}), where the " \
                         f"reference's best token led the next by {margin:.3f} nats"
    return common
