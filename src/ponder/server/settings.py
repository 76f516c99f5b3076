"""What a server is started with: the model, the address, prices and limits."""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field

from ..backends.placement import Placement
from ..errors import PonderError
from ..usage import price


HOST_NAME = re.compile(r"\.?[a-z0-9_-]+(\.[a-z0-9_-]+)*")  # a leading dot: the name and its subdomains
ORIGIN = re.compile(r"https?://([a-z0-9_-]+(\.[a-z0-9_-]+)*|\[[0-9a-f:.]+\])(:[0-9]{1,5})?")
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
    prefix_cache: bool = True  # batched rows keep their caches for the next prompt that starts the same
    threads: int | None = None  # CPU threads for the model (None: the physical cores)
    device: str = "auto"  # where the model runs: auto, cpu, cuda, cuda:N, mps
    dtype: str = "auto"  # transformers' weights (auto: bfloat16 on a GPU that has it, float32 on the CPU)
    gpu_layers: int | None = None  # llama.cpp's offloaded layers (None: all when its build can offload)
    reasoning_fields: tuple[str, ...] = REASONING_FIELDS  # the names the thinking is returned under
    efforts: str | None = None  # a calibrated effort table (ponder calibrate's JSON); None: the fixed budgets
    allowed_hosts: tuple[str, ...] = ()  # Host names served besides the bound address and localhost; "*": any
    allow_origins: tuple[str, ...] = ()  # web origins whose pages may call the API (CORS); "*": any
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
        hosts = tuple(h.lower().rstrip(".").removeprefix("[").removesuffix("]") for h in self.allowed_hosts)
        for name in hosts:
            if name != "*" and not HOST_NAME.fullmatch(name) and not is_ip(name):
                raise PonderError(f"--allowed-hosts: {name!r} is not a host name without a port (such as ponder.lan, "
                                  ".lan for it and its subdomains, or *)")
        object.__setattr__(self, "allowed_hosts", hosts)
        origins = tuple(o.rstrip("/").lower() for o in self.allow_origins)
        for origin in origins:
            if origin != "*" and not ORIGIN.fullmatch(origin):
                raise PonderError(f"--allow-origin: {origin!r} is not an origin (such as https://app.example or "
                                  "http://localhost:3000, no path)")
        object.__setattr__(self, "allow_origins", origins)  # as browsers send them: lower case, no slash
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


def names(text: str | None) -> tuple[str, ...]:
    """A comma-separated flag (``--allowed-hosts a,b``) as its items, blanks dropped."""
    return tuple(item.strip() for item in (text or "").split(",") if item.strip())


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False
