"""One mapping from thinking options to policies: the command line, the server and the vLLM plugin agree.

Every combination of a table of options is asked for on each surface, spelt as that surface's users
spell it; all three must build the same policies, or all three refuse it with the same message (each
naming the options its own way). Pure: no model.
"""

from __future__ import annotations

import itertools
import re

import pytest
from pydantic import ValidationError

from ponder import Budget, EntropyPause, NoThinking, Pause, PonderError, Prefix
from ponder.api import policies_for
from ponder.cli import build_parser, thinking_from_args
from ponder.options import options_for, thinking_from_options
from ponder.server.schemas import ThinkingOptions
from ponder.server.thinking import resolve_thinking
from ponder.vllm.extra_args import request_thinking

# each row: flat options (as vLLM's extra_args), the command line's arguments, the server's thinking fields
NO_THINK = [({}, [], {}), ({"no_think": True}, ["--no-think"], {"enabled": False})]
BUDGETS = [
    ({}, [], {}),
    ({"min_think": 4}, ["--min-think", "4"], {"min_tokens": 4}),
    ({"max_think": 8, "wait": ["Hmm", "Wait"]}, ["--max-think", "8", "--wait", "Hmm", "--wait", "Wait"],
     {"max_tokens": 8, "wait": ["Hmm", "Wait"]}),
    ({"min_think": 9, "max_think": 8}, ["--min-think", "9", "--max-think", "8"], {"min_tokens": 9, "max_tokens": 8}),
    ({"max_think": 8, "soft_close": 4, "close_at": "line"}, ["--max-think", "8", "--soft-close", "4", "--close-at",
                                                              "line"], {"max_tokens": 8, "soft_close": 4, "close_at": "line"}),
    ({"soft_close": 4}, ["--soft-close", "4"], {"soft_close": 4}),  # refused: nothing to soften
]
PREFIXES = [({}, [], {}), ({"prefix": ""}, ["--prefix", ""], {"prefix": ""}),
            ({"prefix": "Ok, so"}, ["--prefix", "Ok, so"], {"prefix": "Ok, so"})]
FILLERS = [({}, [], {}), ({"filler": 3, "filler_where": "before_end"},
                          ["--filler", "3", "--filler-where", "before_end"], {"filler": {"count": 3, "where": "before_end"}})]
PAUSES = [({}, [], {}), ({"pause": 2}, ["--pause", "2"], {"pause": 2})]
COUNTDOWNS = [({}, [], {}), ({"countdown": 8}, ["--countdown", "8"], {"countdown": 8})]
ENTROPY = [
    ({}, [], {}),
    ({"entropy_pause": 2.0}, ["--entropy-pause", "2.0"], {"entropy_pause": 2.0}),
    ({"entropy_pause": 2.0, "entropy_phase": "answer"}, ["--entropy-pause", "2.0", "--entropy-phase", "answer"],
     {"entropy_pause": {"threshold": 2.0, "phase": "answer"}}),
]
TABLE = list(itertools.product(NO_THINK, BUDGETS, PREFIXES, FILLERS, PAUSES, ENTROPY, COUNTDOWNS))

# how the server and the command line name the options in a refusal, back to the flat names
SERVER_NAMES = {"thinking.enabled: false": "no_think", "thinking.min_tokens": "min_think",
                "thinking.max_tokens": "max_think", "thinking.soft_close": "soft_close", "thinking.countdown": "countdown", "thinking.wait": "wait", "thinking.prefix": "prefix",
                "thinking.filler": "filler", "thinking.entropy_pause": "entropy_pause"}


def merged(parts, column: int):
    if column == 1:
        return [arg for part in parts for arg in part[column]]
    return {key: value for part in parts for key, value in part[column].items()}


def outcome(ask):
    """("policies", the chain's policies) or ("refused", the message with flat option names)."""
    try:
        return "policies", policies_for(ask()).policies
    except (PonderError, ValidationError) as err:
        return "refused", str(err)


def on_cli(args: list[str]):
    parsed = build_parser().parse_args(["generate", "question", *args])
    return thinking_from_args(parsed)


def on_server(fields: dict):
    return resolve_thinking(ThinkingOptions(**fields))


def on_vllm(extra: dict):
    chain, _ = request_thinking(extra)
    return None if chain is None else list(chain.policies)


def flat_names(message: str) -> str:
    for name, flat in SERVER_NAMES.items():
        message = message.replace(name, flat)
    return re.sub(r"--([a-z-]+)", lambda m: m.group(1).replace("-", "_"), message)


@pytest.mark.parametrize("parts", TABLE, ids=lambda parts: repr(merged(parts, 0)) or "nothing")
def test_every_surface_builds_the_same_policies_or_the_same_refusal(parts):
    cli = outcome(lambda: on_cli(merged(parts, 1)))
    server = outcome(lambda: on_server(merged(parts, 2)))
    vllm = outcome(lambda: on_vllm(merged(parts, 0)))
    assert cli[0] == server[0] == vllm[0], (cli, server, vllm)
    if cli[0] == "policies":
        assert cli == server == vllm
        policies = [p for p in cli[1] if type(p).__name__ != "CloseOnEos"]
        assert policies_for(thinking_from_options(options_for(policies))).policies == cli[1]
    elif not isinstance(server_error(parts), ValidationError):  # pydantic refuses some values before ponder
        assert flat_names(cli[1]) == flat_names(server[1]) == vllm[1]


def server_error(parts):
    try:
        on_server(merged(parts, 2))
    except (PonderError, ValidationError) as err:
        return err


def test_no_thinking_keeps_what_acts_in_the_answer_on_every_surface():
    assert on_cli(["--no-think", "--pause", "2"]) == [NoThinking(), Pause(2)]
    assert on_vllm({"no_think": True, "pause": 2}) == list(policies_for([NoThinking(), Pause(2)]).policies)
    assert on_server({"enabled": False, "entropy_pause": {"threshold": 1.0, "phase": "both"}}) == [
        NoThinking(), EntropyPause(1.0, phase="both")]
    assert on_cli(["--no-think"]) is False and on_server({"enabled": False}) is False


@pytest.mark.parametrize("flat", [{"no_think": True, "entropy_pause": 2.0}, {"prefix": ""}, {"wait": []},
                                  {"no_think": True, "prefix": "Ok"}])
def test_what_cannot_apply_is_refused_not_ignored(flat):
    with pytest.raises(PonderError):
        thinking_from_options(flat)


def test_options_for_inverts_the_mapping():
    policies = [Budget(2, 9, wait=("Hmm",), max_waits=3, wrap_up="\nSo:"), Prefix("Ok"), Pause(2, every=4),
                EntropyPause(1.5, 3.0, " ..", 2, 5, "both")]
    assert thinking_from_options(options_for(policies)) == policies
    assert thinking_from_options(options_for([NoThinking(), Pause(3)])) == [NoThinking(), Pause(3)]
