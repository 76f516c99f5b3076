"""Adaptive thinking by flat option on every surface, and effort tables from ``ponder calibrate``. Pure: no model."""

from __future__ import annotations

import json

import pytest

from ponder import Adaptive, Budget, PonderError, Prefix
from ponder.cli import build_parser, main, thinking_from_args
from ponder.lab.sweep import SweepConfig, label
from ponder.options import options_for, thinking_from_options
from ponder.server.efforts import LEVELS, load_efforts
from ponder.server.schemas import ThinkingOptions
from ponder.server.thinking import ThinkingAsk, resolve, resolve_thinking
from ponder.vllm.extra_args import request_thinking


def on_cli(*args):
    return thinking_from_args(build_parser().parse_args(["generate", "question", *args]))


def test_the_command_line_and_the_server_ask_for_the_same_policy():
    expected = [Adaptive(every=8, agree=3, probe_tokens=5, min_tokens=4, max_tokens=64, wait=("Hmm",))]
    assert on_cli("--adaptive", "--adaptive-every", "8", "--adaptive-agree", "3", "--adaptive-probe-tokens", "5",
                  "--min-think", "4", "--max-think", "64", "--wait", "Hmm") == expected
    assert resolve_thinking(ThinkingOptions(adaptive={"every": 8, "agree": 3, "probe_tokens": 5}, min_tokens=4,
                                            max_tokens=64, wait="Hmm")) == expected
    assert thinking_from_options(options_for(expected)) == expected
    assert on_cli("--adaptive", "--max-think", "32", "--prefix", "Ok") == [Adaptive(max_tokens=32), Prefix("Ok")]


def test_the_vllm_plugin_refuses_adaptive_thinking_and_says_why():
    for extra in ({"adaptive": True, "max_think": 64}, {"adaptive_every": 8}):
        with pytest.raises(PonderError, match="KV cache"):
            request_thinking(extra)
    assert request_thinking({"adaptive": False, "max_think": 8})[0].policies[0] == Budget(max_tokens=8)


@pytest.mark.parametrize("args, message", [
    (["--adaptive-every", "8"], "--adaptive-every sets adaptive thinking: add --adaptive"),
    (["--adaptive", "--max-waits", "2"], "--max-waits cannot apply"),
    (["--adaptive", "--no-think"], "--adaptive cannot apply"),
    (["--adaptive", "--adaptive-agree", "0"], "agree must be >= 1"),
    (["--adaptive", "--min-think", "9", "--max-think", "3"], "lower the minimum"),
])
def test_what_cannot_apply_is_refused_in_one_line(args, message, capsys):
    with pytest.raises(PonderError, match=message):
        on_cli(*args)
    assert main(["generate", "question", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_a_sweep_refuses_adaptive_over_an_endpoint():
    with pytest.raises(PonderError, match="local model"):
        SweepConfig(policies=("adaptive",), endpoint="http://127.0.0.1:9/v1")


# effort tables

def table_file(tmp_path, levels):
    path = tmp_path / "efforts.json"
    path.write_text(json.dumps({"efforts": levels}))
    return str(path)


def calibrated(**overrides):
    levels = {level: {"setting": f"cap@{8 << i}", "accuracy": 0.5 + i / 20, "options": {"max_think": 8 << i}}
              for i, level in enumerate(LEVELS)}
    return {**levels, **overrides}


def test_a_calibrated_table_decides_what_each_effort_stands_for(tmp_path):
    table = load_efforts(table_file(tmp_path, calibrated(
        minimal={"options": {"no_think": True}}, high={"options": {"adaptive": True, "adaptive_every": 6,
                                                                   "max_think": 48}})))
    def asked(**kw):
        return resolve(ThinkingAsk(efforts=table, **kw)).thinking

    assert asked(effort="low") == [Budget(max_tokens=16)]
    assert asked(effort="minimal") is False and asked(effort="none") is False
    assert asked(effort="high") == [Adaptive(every=6, max_tokens=48)]
    assert asked(effort="low", thinking=ThinkingOptions(max_tokens=5)) == [Budget(max_tokens=5)]  # the request wins
    assert asked(effort="medium", thinking=ThinkingOptions(type="adaptive")) == [Adaptive(max_tokens=32)]
    assert asked(thinking=ThinkingOptions(type="adaptive")) == [Adaptive(every=6, max_tokens=48)]  # high: the default
    assert asked(effort="high", thinking=ThinkingOptions(adaptive=False)) == [Budget(max_tokens=48)]
    assert table["low"].describe()["accuracy"] == 0.55 and table["low"].describe()["options"] == {"max_think": 16}


@pytest.mark.parametrize("levels, message", [
    ({"low": {"options": {}}}, "lacks the levels minimal"),
    (calibrated(low={"setting": "cap@8"}), "low: each level needs an \"options\" object"),
    (calibrated(low={"options": {"max_thinks": 8}}), "did you mean 'max_think'"),
    (calibrated(low={"options": {"colour": "red"}}), "unknown option 'colour'"),
    (calibrated(low={"options": {"min_think": 9, "max_think": 3}}), "low: min_tokens \\(9\\) is above"),
])
def test_a_bad_table_is_refused_before_the_server_starts(tmp_path, levels, message):
    with pytest.raises(PonderError, match=message):
        load_efforts(table_file(tmp_path, levels))


def test_serve_refuses_a_missing_table_in_one_line(tmp_path, capsys):
    assert main(["serve", "--efforts", str(tmp_path / "nowhere.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot read --efforts" in err


# calibration from a sweep's rows

SETTINGS = {  # setting: (correct of 10, completion tokens, probe tokens per answer)
    ("no_thinking", None): (2, 10, 0), ("cap", 8): (5, 18, 0), ("cap", 32): (8, 40, 0), ("cap", 64): (10, 70, 0),
    ("adaptive", 32): (8, 24, 6), ("adaptive", 64): (10, 40, 12), ("budget", 64): (9, 74, 0),
}


def sweep_folder(tmp_path, settings=SETTINGS):
    config = SweepConfig(policies=("no_thinking", "cap", "adaptive", "budget"), budgets=(8, 32, 64), n=10)
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "sweep.json").write_text(json.dumps({"sweep": config.fingerprint(), "config": config.__dict__}))
    rows = [{"sweep": config.fingerprint(), "item": str(i), "setting": label(policy, budget), "policy": policy,
             "budget": budget, "sample": 0, "correct": i < correct, "prompt_tokens": 12, "thinking_tokens": tokens - 6,
             "completion_tokens": tokens, "probe_tokens": probes, "within_budget": True, "waits": 0, "seconds": 0.1,
             "cost": None}
            for (policy, budget), (correct, tokens, probes) in settings.items() for i in range(10)]
    (folder / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def test_calibrate_picks_the_cheapest_setting_reaching_each_share(tmp_path, capsys):
    folder = sweep_folder(tmp_path)
    assert main(["calibrate", str(folder)]) == 0
    table = json.loads((folder / "efforts.json").read_text())
    chosen = {level: e["setting"] for level, e in table["efforts"].items()}
    assert chosen == {"minimal": "cap@8", "low": "adaptive@32", "medium": "adaptive@64", "high": "adaptive@64",
                      "xhigh": "adaptive@64", "max": "adaptive@64"}  # 52 tokens (40 + 12 probes) beat cap@64's 70
    high = table["efforts"]["high"]
    assert (high["accuracy"], high["tokens"], high["probe_tokens"]) == (1.0, 52, 12)
    assert high["options"]["adaptive"] is True and high["options"]["max_think"] == 64
    assert set(load_efforts(str(folder / "efforts.json"))) == {"none", *LEVELS}  # serve takes it as written
    assert "adaptive@64" in capsys.readouterr().out
    assert main(["report", str(folder)]) == 0
    assert "effort levels (efforts.json)" in capsys.readouterr().out


def test_prices_turn_cost_into_dollars_probes_included(tmp_path):
    folder = sweep_folder(tmp_path, {("cap", 8): (5, 18, 0), ("adaptive", 64): (5, 10, 5)})
    out = str(tmp_path / "t.json")
    assert main(["calibrate", str(folder), "--out", out]) == 0
    unpriced = json.loads(open(out).read())
    assert unpriced["efforts"]["max"]["setting"] == "adaptive@64" and unpriced["efforts"]["max"]["cost"] is None
    assert main(["calibrate", str(folder), "--price-input", "100", "--price-output", "1", "--out", out]) == 0
    priced = json.loads(open(out).read())
    assert priced["efforts"]["max"]["cost"] == pytest.approx((12 * 100 + 15) / 1e6)
    assert priced["cost"] == "dollars per answer" and priced["prices"] == {"input": 100, "output": 1}


@pytest.mark.parametrize("args, message", [
    (["calibrate", "{tmp}/nothing"], "has no sweep.json"),
    (["calibrate", "{run}", "--out", "{tmp}/missing/t.json"], "does not exist"),
    (["calibrate", "{run}", "--price-input", "-1"], "--price-input must be >= 0"),
])
def test_calibrate_errors_are_one_line_and_write_nothing(tmp_path, capsys, args, message):
    run = sweep_folder(tmp_path)
    before = sorted(p.name for p in run.iterdir())
    assert main([a.format(tmp=tmp_path, run=run) for a in args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert sorted(p.name for p in run.iterdir()) == before and not (tmp_path / "missing").exists()


def test_calibrate_refuses_a_sweep_that_never_answered(tmp_path, capsys):
    run = sweep_folder(tmp_path, {("cap", 8): (0, 18, 0), ("no_thinking", None): (0, 3, 0)})
    assert main(["calibrate", str(run)]) == 2 and "no accuracy to calibrate" in capsys.readouterr().err
    assert not (run / "efforts.json").exists()


def test_no_thinking_chosen_is_no_thinking_at_that_effort(tmp_path):
    run = sweep_folder(tmp_path, {("no_thinking", None): (9, 3, 0), ("cap", 8): (10, 18, 0)})
    assert main(["calibrate", str(run)]) == 0
    table = load_efforts(str(run / "efforts.json"))
    assert table["medium"] is None and table["high"] is not None  # 90 % of the best: no thinking is enough
    assert resolve(ThinkingAsk(efforts=table, effort="medium")).thinking is False
    assert resolve(ThinkingAsk(efforts=table, effort="high")).thinking == [Budget(max_tokens=8)]
