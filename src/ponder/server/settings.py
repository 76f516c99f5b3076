"""What a server is started with: the model, the address, prices and limits."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..backends.placement import Placement
from ..errors import PonderError
from ..usage import price


REASONING_FIELDS = ("reasoning_content", "reasoning")  # llama.cpp and SGLang's name; vLLM and OpenRouter's


@dataclass(frozen=True)
class ServerSettings:
    """Everything ``create_app`` needs. Limits answer a request with a 4xx/429 instead of serving it."""

    model: str | None = None  # None: the embedded SmolLM2-135M-Instruct
    backend: str = "auto"
    n_ctx: int = 4096
    format: str = "think"
    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = None
    price_input: float | None = None  # dollars per million prompt tokens
    price_output: float | None = None  # dollars per million completion tokens (thinking included)
    max_tokens: int = 2048  # the largest completion a request may ask for, and the default
    max_prompt_tokens: int = 2048
    max_body_bytes: int = 1 << 20
    max_queue: int = 64  # requests waiting or running; one more is answered 429
    max_n: int = 8
    recent: int = 50  # requests kept for GET /v1/ponder/requests
    batch_size: int | None = None  # generations decoded together (None: what suits the model; 1: exact mode)
    threads: int | None = None  # CPU threads for the model (None: the physical cores)
    device: str = "auto"  # where the model runs: auto, cpu, cuda, cuda:N, mps
    dtype: str = "auto"  # transformers' weights (auto: bfloat16 on a GPU that has it, float32 on the CPU)
    gpu_layers: int | None = None  # llama.cpp's offloaded layers (None: all when its build can offload)
    reasoning_fields: tuple[str, ...] = REASONING_FIELDS  # the names the thinking is returned under
    efforts: str | None = None  # a calibrated effort table (ponder calibrate's JSON); None: the fixed budgets
    effort_table: dict = field(init=False, compare=False, repr=False)  # what each effort level stands for

    def __post_init__(self) -> None:
        if not 1 <= self.port <= 65535:
            raise PonderError(f"--port must be between 1 and 65535, got {self.port}")
        for name in ("n_ctx", "max_tokens", "max_prompt_tokens", "max_body_bytes", "max_queue", "max_n", "recent",
                     "batch_size", "threads"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise PonderError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
        for name in ("price_input", "price_output"):
            value = getattr(self, name)
            if value is not None and not value >= 0:  # also refuses NaN
                raise PonderError(f"--{name.replace('_', '-')} must be >= 0 dollars per million tokens, got {value}")
        if not self.reasoning_fields or not set(self.reasoning_fields) <= set(REASONING_FIELDS):
            raise PonderError(f"--reasoning-field must be one or both of {', '.join(REASONING_FIELDS)}")
        if self.api_key == "":
            raise PonderError("--api-key must not be empty")
        Placement(self.device, self.dtype, self.gpu_layers)  # a bad --device or --dtype fails before anything loads
        from .efforts import EFFORTS, load_efforts

        object.__setattr__(self, "effort_table", EFFORTS if self.efforts is None else load_efforts(self.efforts))

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        """Dollars for a request; thinking is billed as output, as every completion token is."""
        return price(prompt_tokens, completion_tokens, self.price_input, self.price_output)

    @property
    def model_id(self) -> str:
        """The name /v1/models lists and responses carry: the model file or folder, without .gguf."""
        if self.model is None:
            return "SmolLM2-135M-Instruct"
        name = os.path.basename(os.path.normpath(self.model))
        return name[:-5] if name.endswith(".gguf") else name


def api_key_from_env(given: str | None) -> str | None:
    return given if given is not None else (os.environ.get("PONDER_API_KEY") or None)
