"""A sweep over servers: one or several replicas of a model, each steered by ponder's vLLM plugin or the s1 loop.

A replica that loads ponder's logits processor gets each setting as ``vllm_xargs`` and steers and
batches inside the engine (every policy); any other server is driven by the s1 loop (budgets,
prefixes, no thinking, a replacing filler). ``steer`` picks: ``auto`` asks each replica, ``plugin``
and ``loop`` force one. Work is spread over the replicas, ``concurrency`` in flight on each; a
replica that stops answering is dropped and its generations move to the others.
"""

from __future__ import annotations

import itertools
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator

from ..errors import PonderError
from .failures import is_fatal

if TYPE_CHECKING:
    from .sweep import SweepConfig

STEERS = ("auto", "plugin", "loop")


@dataclass(frozen=True)
class Replica:
    """One server and how it is steered."""

    client: object  # ponder.remote.Client
    plugin: bool


def connect(urls: tuple[str, ...], model: str | None, steer: str, policies: list[list]) -> list[Replica]:
    """A client per URL, each asked (or told) whether it steers with the plugin; a clear error if a policy cannot run."""
    from ..remote import LoopPolicies, client_for
    from ..remote.steered import has_plugin

    if steer not in STEERS:
        raise PonderError(f"unknown --steer {steer!r}: choose one of {', '.join(STEERS)}")
    replicas = []
    for url in urls:
        client = client_for(url, model)
        plugin = steer == "plugin" or (steer == "auto" and has_plugin(client))
        if steer == "plugin" and not has_plugin(client):
            raise PonderError(f"{url} does not load ponder's vLLM plugin: start vLLM with --logits-processors "
                              "ponder.vllm.plugin:PonderLogitsProcessor, or use --steer loop")
        if not plugin:
            unsupported = [p for p in policies if not LoopPolicies.supports(p)]
            if unsupported:
                raise PonderError(f"{url} does not load ponder's vLLM plugin, and the s1 loop cannot run "
                                  f"{unsupported[0]}: start vLLM with the plugin, or choose other policies")
        replicas.append(Replica(client, plugin))
    return replicas


def spread(run: Callable, jobs: list, replicas: list[Replica], concurrency: int) -> Iterator:
    """``run(job, replica)`` for every job, ``concurrency`` at a time on each replica; results as they end.

    A replica that stops answering (``EndpointError`` after its retries) is dropped and its job goes
    back to the queue for the others. Any other failure stops new work: those running finish and are
    yielded, then the first error is raised.
    """
    from ..remote import EndpointError

    if len(replicas) == 1 and concurrency == 1:
        yield from (run(job, replicas[0]) for job in jobs)
        return
    queue, alive = deque(jobs), set(range(len(replicas)))
    load = dict.fromkeys(alive, 0)
    running: dict = {}
    failure: BaseException | None = None
    with ThreadPoolExecutor(len(replicas) * concurrency) as pool:
        def fill() -> None:
            for index in itertools.cycle(sorted(alive)) if alive else ():
                if not queue or all(load[i] >= concurrency for i in alive):
                    return
                if load[index] < concurrency:
                    job = queue.popleft()
                    running[pool.submit(run, job, replicas[index])] = (job, index)
                    load[index] += 1

        fill()
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                job, index = running.pop(future)
                load[index] -= 1
                error = future.exception()
                if error is None:
                    yield future.result()
                elif isinstance(error, EndpointError) and len(alive) > 1 and index in alive:
                    alive.discard(index)  # this replica is gone: the others take its work
                    queue.appendleft(job)
                elif isinstance(error, EndpointError) and index not in alive:
                    queue.appendleft(job)  # a late failure of a replica already dropped
                else:
                    failure = failure or error
            if failure is None:
                fill()
    if failure is not None:
        raise failure
    if queue:
        raise PonderError("no replica is left to run the rest of the sweep")


def attempt(config: SweepConfig, request: dict, replica):
    """The result of one generation on a server, or its exception when it is this generation's alone."""
    try:
        return on_replica(config, request, replica)
    except Exception as err:
        if is_fatal(err):  # the server is gone or refuses everything: spread moves the work or stops
            raise
        return err


def on_replica(config: SweepConfig, request: dict, replica):
    """One generation (``request``, the sweep's keyword arguments for it) on a server: steered by its plugin,
    or by the s1 loop."""
    from ..api import build_prompt, generate
    from ..formats import get_format
    from ..remote import ChatML
    from ..remote.steered import generate_steered

    request = dict(request)
    if not replica.plugin:
        return generate(request.pop("prompt"), model=config.model, endpoint=replica.client, **request)
    fmt = get_format(config.format)
    return generate_steered(build_prompt(ChatML(), request["prompt"], fmt), replica.client, request["thinking"],
                            fmt, request["max_tokens"], dict(temperature=config.temperature, top_p=config.top_p,
                                                             seed=request["seed"]))
