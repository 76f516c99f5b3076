"""Where a model runs: the device and number type on transformers, the layers offloaded on llama.cpp.

The options mean the same on every surface (``load_backend``, ``ponder.generate``, ``ponder generate``,
``ponder sweep``, ``ponder serve``). They are checked here without importing torch or llama.cpp; what
the machine has is asked only when a model is loaded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import PonderError

DEVICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
DTYPES = ("auto", "bfloat16", "float16", "float32")
DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
SPREAD = "auto"  # transformers' device_map that spreads a model's layers over every visible GPU
FITS = 0.8  # a model whose weights take more of one GPU than this is spread over several (room for the KV cache)
CUDA_LLAMA = ('CMAKE_ARGS="-DGGML_CUDA=on" pip install llama-cpp-python==0.3.36 --no-binary llama-cpp-python '
              '--force-reinstall')


@dataclass(frozen=True)
class Placement:
    """``device``: auto (a GPU when there is one), cpu, cuda, cuda:N or mps. ``dtype``: the weights' type on
    transformers (auto: bfloat16 on a GPU that has it, float16 on other GPUs, float32 on the CPU).
    ``gpu_layers``: layers llama.cpp offloads (None: all when its build can offload, else none; -1: all)."""

    device: str = "auto"
    dtype: str = "auto"
    gpu_layers: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.device, str) or not DEVICE.match(self.device):
            raise PonderError(f"--device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        if self.dtype not in DTYPES:
            raise PonderError(f"--dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        layers = self.gpu_layers
        if layers is not None and (isinstance(layers, bool) or not isinstance(layers, int) or layers < -1):
            raise PonderError(f"--gpu-layers must be a count of layers >= 0, or -1 for all, got {layers!r}")
        if self.device == "cpu" and layers not in (None, 0):
            raise PonderError(f"--gpu-layers {layers} offloads to a GPU and --device cpu keeps the model on the "
                              "CPU: drop one of them")

    def check(self, backend: str) -> None:
        """Refuse an option the backend has no use for, rather than ignore it."""
        if backend == "transformers" and self.gpu_layers is not None:
            raise PonderError("--gpu-layers is for llama.cpp (a GGUF model): on transformers, --device cuda puts "
                              "the whole model on the GPU")
        if backend == "llama.cpp" and self.dtype != "auto":
            raise PonderError(f"--dtype {self.dtype} is for transformers: llama.cpp runs the GGUF's own types "
                              "(choose another quantisation of the model, or --backend transformers)")

    # transformers

    def torch_device(self, torch) -> str:
        """Where the weights go: "cpu", "cuda:N", "mps", or ``SPREAD`` (over several GPUs, once measured)."""
        wanted = self.device
        if wanted == "auto":
            if torch.cuda.is_available():
                return SPREAD if torch.cuda.device_count() > 1 else "cuda:0"
            return "mps" if mps_available(torch) else "cpu"
        if wanted.startswith("cuda"):
            if not torch.cuda.is_available():
                raise PonderError(f"--device {wanted}: torch finds no CUDA device here (torch {torch.__version__}, "
                                  f"CUDA build: {torch.version.cuda or 'none'}): use --device cpu, or run on a "
                                  "machine with an NVIDIA GPU and a CUDA build of torch")
            index, count = int(wanted.partition(":")[2] or 0), torch.cuda.device_count()
            if index >= count:
                raise PonderError(f"--device {wanted}: this machine has {count} CUDA device(s), cuda:0 to "
                                  f"cuda:{count - 1}")
            return f"cuda:{index}"
        if wanted == "mps" and not mps_available(torch):
            raise PonderError("--device mps: torch finds no Apple GPU (MPS) here: use --device cpu")
        return wanted

    def torch_dtype(self, torch, device: str):
        if self.dtype != "auto":
            return getattr(torch, self.dtype)
        if device == SPREAD or device.startswith("cuda"):
            index = 0 if device == SPREAD else int(device.partition(":")[2] or 0)
            return torch.bfloat16 if torch.cuda.get_device_capability(index) >= (8, 0) else torch.float16
        return torch.float16 if device == "mps" else torch.float32

    # llama.cpp

    def llama_layers(self, can_offload: bool) -> int:
        """``n_gpu_layers`` for llama.cpp: all when its build can offload and nothing else is asked."""
        layers = 0 if self.device == "cpu" else self.gpu_layers
        if layers is None:
            if self.device != "auto" and not can_offload:
                raise PonderError(f"--device {self.device}: this llama-cpp-python build offloads to no GPU (built "
                                  f"for the CPU, or no GPU found): use --device cpu, or reinstall it with GPU "
                                  f"support: {CUDA_LLAMA}")
            return -1 if can_offload else 0
        if layers != 0 and not can_offload:
            raise PonderError(f"--gpu-layers {layers}: this llama-cpp-python build offloads to no GPU (built for "
                              f"the CPU, or no GPU found): leave --gpu-layers out, or reinstall it with GPU "
                              f"support: {CUDA_LLAMA}")
        return layers

    @property
    def main_gpu(self) -> int | None:
        """The one GPU llama.cpp should use (``cuda:N``); None: its default, every GPU it finds."""
        return int(self.device.partition(":")[2]) if self.device.startswith("cuda:") else None


def mps_available(torch) -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps and mps.is_available())


def spread_or_one(torch, config, dtype) -> str:
    """``SPREAD`` when the model is too big for GPU 0 (weights counted on an empty copy), else "cuda:0"."""
    from accelerate import init_empty_weights
    from transformers import AutoModelForCausalLM

    with init_empty_weights():
        empty = AutoModelForCausalLM.from_config(config)
    weights = sum(p.numel() for p in empty.parameters()) * torch.finfo(dtype).bits // 8
    return SPREAD if weights > FITS * torch.cuda.get_device_properties(0).total_memory else "cuda:0"
