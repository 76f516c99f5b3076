"""``ponder sweep``: every item under every (policy, budget) setting, one JSONL row per generation.

The output folder holds ``sweep.json`` (the settings) and ``rows.jsonl``. Each row
is written with one ``write`` and flushed, so a killed sweep loses at most the
line it was writing; a rerun with the same settings drops that partial line and
runs only what is missing, so every (item, setting, sample) ends with one row.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from ..errors import PonderError
from ..policies import Budget, EntropyPause, Filler, NoThinking, Prefix
from ..result import price
from .tasks import Item, extract, get_task, grade

ANSWER_ALLOWANCE = 96  # tokens for the marker, the lead and a short answer after the thinking


@dataclass(frozen=True)
class Method:
    """How a sweep policy turns a budget into thinking policies, and the thinking range it asks for."""

    build: Callable[[int], list]
    asked: Callable[[int], tuple[int, int]]
    uses_budget: bool = True


METHODS = {
    "budget": Method(lambda b: [Budget(min_tokens=b, max_tokens=b)], lambda b: (b, b)),
    "cap": Method(lambda b: [Budget(max_tokens=b)], lambda b: (0, b)),
    "min": Method(lambda b: [Budget(min_tokens=b)], lambda b: (b, 1 << 30)),  # waits only, never cut
    "prefix": Method(lambda b: [Prefix("Ok, so"), Budget(max_tokens=b)], lambda b: (0, b)),
    "filler": Method(lambda b: [Filler(count=b)] if b else [NoThinking()], lambda b: (b, b)),
    "entropy_pause": Method(lambda b: [EntropyPause(threshold=2.5), Budget(max_tokens=b)], lambda b: (0, b)),
    "no_thinking": Method(lambda b: [NoThinking()], lambda b: (0, 0), uses_budget=False),
}

@dataclass(frozen=True)
class SweepConfig:
    """What a sweep runs. Two runs into one folder must have equal configs."""

    task: str = "tiny-addition"
    policies: tuple[str, ...] = ("cap", "budget", "min", "no_thinking")
    budgets: tuple[int, ...] = (0, 8, 16, 24, 32, 48, 64)
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
    # an OpenAI-compatible server to drive with the s1 loop instead of a local model; where it runs is not
    # what is measured, so a sweep resumes against the same model served elsewhere
    endpoint: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "policies", tuple(p.replace("-", "_") for p in self.policies))
        object.__setattr__(self, "budgets", tuple(self.budgets))
        unknown = [p for p in self.policies if p not in METHODS]
        if unknown:
            raise PonderError(f"unknown sweep policy {', '.join(unknown)}: choose from {', '.join(METHODS)}")
        if not self.policies:
            raise PonderError("name at least one policy: --policy budget,no_thinking")
        if not self.budgets or any(b < 0 for b in self.budgets):
            raise PonderError(f"budgets must be token counts >= 0, got {list(self.budgets)}")
        if any(later <= earlier for earlier, later in zip(self.budgets, self.budgets[1:])):
            raise PonderError(f"budgets must be strictly increasing, got {list(self.budgets)}: sort them")
        if self.n < 1 or self.samples < 1:
            raise PonderError("--n and --samples must be >= 1")
        if self.endpoint is not None:
            from ..remote import Endpoint, RemotePlan

            Endpoint(self.endpoint)  # a bad URL fails here, before any folder is written
            remote = [name for name, m in METHODS.items() if RemotePlan.supports(m.build(1))]
            unsupported = [p for p in self.policies if p not in remote]
            if unsupported:
                raise PonderError(f"{', '.join(unsupported)} cannot run over an endpoint: "
                                  f"choose from {', '.join(remote)}")
        if self.samples > 1 and self.temperature == 0:
            raise PonderError("--samples above 1 repeats the same greedy answer: set --temperature above 0")

    def settings(self) -> list[tuple[str, int | None]]:
        return [(p, b) for p in self.policies for b in (self.budgets if METHODS[p].uses_budget else (None,))]

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
    def open(cls, path: str | os.PathLike, config: SweepConfig) -> "SweepFolder":
        folder = cls(Path(path), config)
        folder.path.mkdir(parents=True, exist_ok=True)
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
        else:
            saved.write_text(json.dumps({"sweep": config.fingerprint(), "config": asdict(config)}, indent=2))
        folder.done = {row_key(r) for r in folder.read_rows(repair=True)}
        return folder

    def read_rows(self, repair: bool = False) -> list[dict]:
        """The complete rows; with ``repair``, a partial last line (a killed write) is cut off."""
        if not self.rows_path.exists():
            return []
        data = self.rows_path.read_bytes()
        complete = data[: data.rfind(b"\n") + 1]
        if repair and len(complete) < len(data):
            with open(self.rows_path, "r+b") as f:
                f.truncate(len(complete))
        rows = [json.loads(line) for line in complete.decode().splitlines() if line.strip()]
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


def run_one(target, config: SweepConfig, item: Item, policy: str, budget: int | None, sample: int) -> dict:
    """One generation and its row; ``target`` is a loaded backend or, for an endpoint, its client."""
    from ..api import generate

    method = METHODS[policy]
    b = budget or 0
    remote = config.endpoint is not None
    result = generate(
        item.prompt(), model=config.model if remote else target, endpoint=target if remote else None,
        thinking=method.build(b), format=config.format,
        max_tokens=2 * b + config.answer_tokens,  # room past b for methods that only set a minimum
        temperature=config.temperature, top_p=config.top_p,
        seed=config.seed * 1000 + sample,
    )
    u = result.usage
    prediction = extract(result.answer, item.kind)
    low, high = method.asked(b)
    cost = price(u.prompt_tokens, u.completion_tokens, config.price_input, config.price_output)
    return {
        "sweep": config.fingerprint(), "task": config.task, "item": item.id, "setting": label(policy, budget),
        "policy": policy, "budget": budget, "sample": sample, "reference": item.answer,
        "prediction": prediction, "correct": grade(prediction, item.answer, item.kind),
        "prompt_tokens": u.prompt_tokens, "thinking_tokens": u.thinking_tokens,
        "thinking_injected": u.thinking_injected, "answer_tokens": u.answer_tokens,
        "completion_tokens": u.completion_tokens, "waits": result.waits, "capped": result.capped,
        "finish_reason": result.finish_reason, "within_budget": low <= u.thinking_tokens <= high,
        "seconds": round(result.prefill_seconds + result.decode_seconds, 4), "cost": cost,
        "thinking": result.thinking, "answer": result.answer,
    }


def run_sweep(config: SweepConfig, out: str | os.PathLike, progress: bool = True,
              concurrency: int = 1) -> SweepFolder:
    """Run what is missing in ``out``; returns the folder (rows written as they come).

    Against an endpoint, ``concurrency`` generations are kept in flight so a
    batching server stays busy. When one fails for good, the ones in flight
    still finish and are written, then the error is raised.
    """
    from tqdm import tqdm

    if concurrency < 1:
        raise PonderError(f"--concurrency must be >= 1, got {concurrency}")
    if concurrency > 1 and config.endpoint is None:
        raise PonderError("--concurrency needs --endpoint: a local model runs one generation at a time")
    folder = SweepFolder.open(out, config)
    items = list(get_task(config.task).items(config.n, config.seed))
    total = len(items) * len(config.settings()) * config.samples
    work = list(todo(config, items, folder.done))
    if not work:
        return folder
    target = sweep_target(config)
    with open(folder.rows_path, "a", encoding="utf-8") as rows, tqdm(
        total=total, initial=total - len(work), unit="gen", desc=f"sweep {config.task}", disable=not progress,
        dynamic_ncols=True,
    ) as bar:
        for row in in_flight(lambda job: run_one(target, config, *job), work, concurrency):
            rows.write(json.dumps(row, ensure_ascii=False) + "\n")
            rows.flush()
            folder.done.add(row_key(row))
            bar.set_postfix_str(row["setting"])
            bar.update()
    return folder


def sweep_target(config: SweepConfig):
    """The loaded local model, or a client for the endpoint."""
    if config.endpoint is not None:
        from ..remote import client_for

        return client_for(config.endpoint, config.model)
    from ..backends import load_backend

    return load_backend(config.model, config.backend)


def in_flight(run: Callable, jobs: list, concurrency: int) -> Iterator:
    """``run(job)`` for every job with up to ``concurrency`` running, results as they finish.

    After a failure no new job starts; those running finish and are yielded, then the first error is raised.
    """
    if concurrency == 1:
        yield from map(run, jobs)
        return
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    queue, failure = iter(jobs), None
    with ThreadPoolExecutor(concurrency) as pool:
        running = {pool.submit(run, job) for job in itertools.islice(queue, concurrency)}
        while running:
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                if future.exception() is not None:
                    failure = failure or future.exception()
                    continue
                yield future.result()
                if failure is None:
                    running |= {pool.submit(run, job) for job in itertools.islice(queue, 1)}
    if failure is not None:
        raise failure
