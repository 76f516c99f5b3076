"""``ponder sweep``: every item under every (policy, budget) setting, one JSONL row per generation.

The output folder holds ``sweep.json`` (the settings) and ``rows.jsonl``. Each row
is written with one ``write`` and flushed, so a killed sweep loses at most the
line it was writing; a rerun with the same settings drops that partial line and
runs only what is missing, so every (item, setting, sample) ends with one row.
A generation that fails is a row with its ``error`` (see failures.py), retried by the next run.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

from ..backends.placement import Placement
from ..errors import PonderError
from ..usage import price
from .failures import error_row
from .methods import METHODS
from .tasks import Item, extract, get_task, grade

ANSWER_ALLOWANCE = 96  # tokens for the marker, the lead and a short answer after the thinking
WAITS = tuple(range(7))  # ponder-tiny's columns (3) and three waits past them


@dataclass(frozen=True)
class SweepConfig:
    """What a sweep runs. Two runs into one folder must have equal configs."""

    task: str = "tiny-multiplication"
    policies: tuple[str, ...] = ("cap", "budget", "waits", "no_thinking")
    budgets: tuple[int, ...] = (0, 8, 16, 24, 32, 48, 64, 80)  # ponder-tiny checks every column in 63-66
    waits: tuple[int, ...] = WAITS  # the numbers of forced waits the waits method sweeps
    n: int = 60
    samples: int = 1
    seed: int = 0
    model: str | None = "ponder-tiny"  # None: the embedded SmolLM2-135M-Instruct
    backend: str = "auto"
    format: str = "think"
    temperature: float = 0.0
    top_p: float = 1.0
    price_input: float | None = None  # dollars per million prompt tokens
    price_output: float | None = None  # dollars per million completion tokens (thinking included)
    answer_tokens: int = ANSWER_ALLOWANCE
    # OpenAI-compatible servers (comma-separated replicas of one model) to run the sweep on instead of a local
    # model, and how to steer them (ponder's vLLM plugin or the s1 loop); where and how it runs is not what is
    # measured, so a sweep resumes against the same model served elsewhere
    endpoint: str | None = field(default=None, compare=False)
    steer: str = field(default="auto", compare=False)
    device: str = field(default="auto", compare=False)  # where a local model runs (see load_backend)
    dtype: str = field(default="auto", compare=False)
    gpu_layers: int | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "policies", tuple(p.replace("-", "_") for p in self.policies))
        object.__setattr__(self, "budgets", tuple(self.budgets))
        object.__setattr__(self, "waits", tuple(self.waits))
        unknown = [p for p in self.policies if p not in METHODS]
        if unknown:
            raise PonderError(f"unknown sweep policy {', '.join(unknown)}: choose from {', '.join(METHODS)}")
        if not self.policies:
            raise PonderError("name at least one policy: --policy budget,no_thinking")
        if not self.budgets or any(b < 0 for b in self.budgets):
            raise PonderError(f"budgets must be token counts >= 0, got {list(self.budgets)}")
        if any(later <= earlier for earlier, later in zip(self.budgets, self.budgets[1:])):
            raise PonderError(f"budgets must be strictly increasing, got {list(self.budgets)}: sort them")
        if not self.waits or any(w < 0 for w in self.waits) or list(self.waits) != sorted(set(self.waits)):
            raise PonderError(f"waits must be increasing counts >= 0, got {list(self.waits)}")
        if self.n < 1 or self.samples < 1:
            raise PonderError("--n and --samples must be >= 1")
        if Placement(self.device, self.dtype, self.gpu_layers) != Placement() and self.endpoint is not None:
            raise PonderError("--device, --dtype and --gpu-layers place a local model: drop them with --endpoint")
        if self.endpoint is not None:
            from ..remote import Endpoint, LoopPolicies
            from .fleet import STEERS

            for url in self.endpoints:
                Endpoint(url)  # a bad URL fails here, before any folder is written
            if self.steer not in STEERS:
                raise PonderError(f"unknown --steer {self.steer!r}: choose one of {', '.join(STEERS)}")
            remote = [name for name, m in METHODS.items() if LoopPolicies.supports(m.build(1))]
            unsupported = [p for p in self.policies if p not in remote]
            if unsupported and self.steer == "loop":
                raise PonderError(f"{', '.join(unsupported)} cannot run over an endpoint with the s1 loop: "
                                  f"choose from {', '.join(remote)}, or a vLLM server with ponder's plugin")
        if self.endpoint is not None and "adaptive" in self.policies:
            raise PonderError("adaptive probes the answer and cuts it back out of the model's KV cache, which no "
                              "server offers: run it on a local model (drop --endpoint) or leave it out of --policy")
        if self.samples > 1 and self.temperature == 0:
            raise PonderError("--samples above 1 repeats the same greedy answer: set --temperature above 0")

    @property
    def endpoints(self) -> tuple[str, ...]:
        return tuple(url.strip() for url in (self.endpoint or "").split(",") if url.strip())

    def settings(self) -> list[tuple[str, int | None]]:
        values = {"budget": self.budgets, "waits": self.waits, None: (None,)}
        return [(p, b) for p in self.policies for b in values[METHODS[p].parameter]]

    def fingerprint(self) -> str:
        identity = {k: v for k, v in asdict(self).items() if self.__dataclass_fields__[k].compare}
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]

    @classmethod
    def from_dict(cls, data: dict) -> "SweepConfig":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in known.items()})


def label(policy: str, budget: int | None) -> str:
    return policy if budget is None else f"{policy}@{budget}"


@dataclass
class SweepFolder:
    """The output folder: its config, and the keys of the rows already written."""

    path: Path
    config: SweepConfig
    done: set = field(default_factory=set)

    @property
    def rows_path(self) -> Path:
        return self.path / "rows.jsonl"

    @classmethod
    def check(cls, path: str | os.PathLike, config: SweepConfig) -> "SweepFolder":
        """The folder as it is, refused if it holds another sweep; nothing is written."""
        folder = cls(Path(path), config)
        saved = folder.path / "sweep.json"
        if saved.exists():
            other = SweepConfig.from_dict(json.loads(saved.read_text())["config"])
            if other != config:
                changed = [k for k, f in config.__dataclass_fields__.items()
                           if f.compare and getattr(other, k) != getattr(config, k)]
                raise PonderError(f"{path} holds a different sweep ({', '.join(changed)} differ): "
                                  "rerun with the same settings to resume, or choose another --out")
        elif folder.rows_path.exists() and folder.rows_path.stat().st_size:
            raise PonderError(f"{path} holds rows but no sweep.json: choose another --out")
        folder.done = {row_key(r) for r in folder.read_rows() if "error" not in r}  # failures are retried
        return folder

    def open(self) -> None:
        """Make the folder ready to take rows: its sweep.json written, a partial last row (a killed write) cut."""
        self.path.mkdir(parents=True, exist_ok=True)
        saved = self.path / "sweep.json"
        if not saved.exists():
            saved.write_text(json.dumps({"sweep": self.config.fingerprint(), "config": asdict(self.config)},
                                        indent=2))
        self.read_rows(repair=True)

    def read_rows(self, repair: bool = False) -> list[dict]:
        """The complete rows; with ``repair``, a partial last line (a killed write) is cut off."""
        if not self.rows_path.exists():
            return []
        data = self.rows_path.read_bytes()
        complete = data[: data.rfind(b"\n") + 1]
        if repair and len(complete) < len(data):
            with open(self.rows_path, "r+b") as f:
                f.truncate(len(complete))
        # "\n" alone ends a row: str.splitlines would also split at U+2028, U+2029 or U+0085 in a row's text
        rows = [json.loads(line) for line in complete.decode().split("\n") if line.strip()]
        fingerprint = self.config.fingerprint()
        if any(r.get("sweep") != fingerprint for r in rows):
            raise PonderError(f"{self.rows_path} holds rows of another sweep: choose another --out")
        return rows


def row_key(row: dict) -> tuple:
    return row["item"], row["setting"], row["sample"]


def todo(config: SweepConfig, items: list[Item], done: set) -> Iterator[tuple[Item, str, int | None, int]]:
    """What is left, item by item, so a partial sweep already covers every setting."""
    for item in items:
        for policy, budget in config.settings():
            for sample in range(config.samples):
                if (item.id, label(policy, budget), sample) not in done:
                    yield item, policy, budget, sample


def request_for(config: SweepConfig, item: Item, policy: str, budget: int | None, sample: int) -> dict:
    """``generate``'s arguments for one generation of the sweep."""
    method = METHODS[policy]
    b = budget or 0
    return dict(prompt=item.prompt(), thinking=method.build(b), format=config.format,
                max_tokens=method.room(b) + config.answer_tokens, temperature=config.temperature,
                top_p=config.top_p, seed=config.seed * 1000 + sample)


def row_base(config: SweepConfig, job: tuple) -> dict:
    """What every row of ``job`` holds, finished or failed."""
    item, policy, budget, sample = job
    return {"sweep": config.fingerprint(), "task": config.task, "item": item.id, "setting": label(policy, budget),
            "policy": policy, "budget": budget, "sample": sample, "reference": item.answer}


def row_for(config: SweepConfig, job: tuple, result) -> dict:
    """The JSONL row of one finished generation, or of one that failed (``result`` its exception)."""
    if isinstance(result, Exception):
        return error_row(row_base(config, job), result)
    item, policy, budget, sample = job
    u = result.usage
    prediction = extract(result.answer, item.kind)
    low, high = METHODS[policy].asked(budget or 0)
    measured = result.waits if METHODS[policy].measure == "waits" else u.thinking_tokens
    cost = price(u.prompt_tokens, u.spent_tokens, config.price_input, config.price_output)  # probes included
    return {
        **row_base(config, job), "prediction": prediction, "correct": grade(prediction, item.answer, item.kind),
        "prompt_tokens": u.prompt_tokens, "thinking_tokens": u.thinking_tokens,
        "thinking_injected": u.thinking_injected, "answer_tokens": u.answer_tokens,
        "completion_tokens": u.completion_tokens, "probe_tokens": u.probe_tokens, "probes": len(result.probes),
        "waits": result.waits, "capped": result.capped,
        "finish_reason": result.finish_reason, "within_budget": low <= measured <= high,
        "seconds": round(result.prefill_seconds + result.decode_seconds, 4), "cost": cost,
        "thinking": result.thinking, "answer": result.answer,
    }


def run_sweep(config: SweepConfig, out: str | os.PathLike, progress: bool = True, concurrency: int = 1,
              batch_size: int | None = None, prefix_cache: bool = True) -> SweepFolder:
    """Run what is missing in ``out``; returns the folder (rows written as they come).

    A local model decodes ``batch_size`` generations per forward pass (default:
    what suits the model; 1 is the exact, reproducible mode). Against an
    endpoint, ``concurrency`` generations are kept in flight so a batching
    server stays busy; when one fails for good, the ones in flight still finish
    and are written, then the error is raised. ``prefix_cache``: a local model's rows keep their caches
    for the next prompt that starts the same (``ponder.generate_many``).
    """
    from tqdm import tqdm

    if concurrency < 1:
        raise PonderError(f"--concurrency must be >= 1, got {concurrency}")
    if concurrency > 1 and config.endpoint is None:
        raise PonderError("--concurrency needs --endpoint: a local model batches with --batch-size")
    if batch_size is not None and batch_size < 1:
        raise PonderError(f"--batch-size must be >= 1, got {batch_size}")
    folder = SweepFolder.check(out, config)  # everything is checked (the task, the model, the servers) before
    items = list(get_task(config.task).items(config.n, config.seed))  # anything is written
    total = len(items) * len(config.settings()) * config.samples
    work = list(todo(config, items, folder.done))
    if not work:
        return folder
    target = sweep_target(config)
    folder.open()
    with open(folder.rows_path, "a", encoding="utf-8") as rows, tqdm(
        total=total, initial=total - len(work), unit="gen", desc=f"sweep {config.task}", disable=not progress,
        dynamic_ncols=True,
    ) as bar:
        for row in generations(config, target, work, concurrency, batch_size, prefix_cache):
            rows.write(jsonl_line(row))
            rows.flush()
            folder.done.add(row_key(row))
            bar.set_postfix_str(row["setting"])
            bar.update()
    return folder


def generations(config: SweepConfig, target, work: list, concurrency: int, batch_size: int | None,
                prefix_cache: bool = True) -> Iterator[dict]:
    """The rows of ``work``, as each generation ends: batched on a local model, spread over servers otherwise."""
    from ..api import generate_many

    if config.endpoint is None:
        requests = (request_for(config, *job) for job in work)
        size = batch_size or target.batch_rows
        for index, result in generate_many(requests, model=target, batch_size=size, prefix_cache=prefix_cache):
            yield row_for(config, work[index], result)
        return
    from .fleet import attempt, spread

    def run(job, replica):  # the request is made here: fleet.py never imports the sweep at run time
        return row_for(config, job, attempt(config, request_for(config, *job), replica))

    yield from spread(run, work, target, concurrency)


def jsonl_line(row: dict) -> str:
    """One row as one line: the line separators JSON allows raw are escaped, so any reader splits it right."""
    text = json.dumps(row, ensure_ascii=False)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").replace("\x85", "\\u0085") + "\n"


def sweep_target(config: SweepConfig):
    """The loaded local model, or the replicas to spread the work over (each asked how it can be steered)."""
    if config.endpoint is not None:
        from .fleet import connect

        return connect(config.endpoints, config.model, config.steer,
                       [METHODS[p].build(b or 0) for p, b in config.settings()])
    from ..backends import load_backend

    return load_backend(config.model, config.backend, 4096, None, config.device, config.dtype, config.gpu_layers)
