"""Adaptive thinking on real models: ponder-tiny through the command line, a sweep, calibration and the server,
end to end; SmolLM2's text markers on llama.cpp."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

import ponder
from ponder import Adaptive, Budget
from ponder.cli import main
from ponder.lab.tasks import get_task
from test_adaptive import closed_by_force

QUESTIONS = [item.question for item in get_task("tiny-multiplication").items(6, seed=3)]


@pytest.fixture(scope="module")
def tiny():
    return ponder.load_backend("ponder-tiny")


def test_probes_leave_the_tiny_models_tokens_as_a_budget_stopping_there_gives_them(tiny):
    adaptive = Adaptive(every=6, agree=2, probe_tokens=8, max_tokens=40)
    for question in QUESTIONS:
        probed = ponder.generate(question, model=tiny, thinking=adaptive, max_tokens=100)
        stopped = probed.usage.thinking_tokens  # native markers: the thinking count only grows
        plain = ponder.generate(question, model=tiny, max_tokens=100, thinking=Budget(
            min_tokens=stopped, max_tokens=stopped if closed_by_force(probed) else adaptive.max_tokens))
        assert probed.token_ids == plain.token_ids and probed.token_sources == plain.token_sources
        assert probed.probes and probed.usage.probe_tokens == sum(p.tokens for p in probed.probes)
        lead = len(tiny.tokenize("\nFinal Answer:"))
        assert all(lead <= p.tokens <= lead + 8 and p.text.isdigit() for p in probed.probes if p.tokens > lead)


def test_probes_leave_no_trace_on_llama_cpp_alone_or_batched(llama):
    from test_adaptive import StopsWhereItStopped, stop_of

    adaptive = Adaptive(every=12, agree=2, probe_tokens=6, max_tokens=60)
    questions = ["What is 12 + 30?", "What is 7 times 6?", "Name a color."]
    requests = [dict(prompt=q, thinking=adaptive, max_tokens=100) for q in questions]
    alone = dict(ponder.generate_many(requests, model=llama, batch_size=1))
    together = dict(ponder.generate_many(requests, model=llama, batch_size=3))
    for index, question in enumerate(questions):
        probed = alone[index]
        assert probed.probes and together[index].token_ids == probed.token_ids
        replayed = StopsWhereItStopped(adaptive, stop_of(probed, adaptive.agree))
        assert ponder.generate(question, model=llama, thinking=replayed, max_tokens=100).token_ids == probed.token_ids


def test_generate_adaptive_on_the_command_line(capsys):
    assert main(["generate", "473*8", "--model", "ponder-tiny", "--adaptive", "--adaptive-every", "8",
                 "--adaptive-agree", "2", "--max-think", "48", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    usage = result["usage"]
    assert usage["probe_tokens"] == sum(p["tokens"] for p in result["probes"]) > 0
    assert usage["thinking_tokens"] <= 48 and "Final Answer:" in result["answer"]
    assert usage["spent_tokens"] == usage["completion_tokens"] + usage["probe_tokens"]


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    from ponder.lab.sweep import SweepConfig, run_sweep

    out = tmp_path_factory.mktemp("adaptive") / "run"
    config = SweepConfig(policies=("adaptive", "budget", "no_thinking"), budgets=(8, 48), n=6)
    run_sweep(config, out, progress=False)
    return out


def test_a_sweep_counts_probes_on_their_own_and_the_report_shows_them(swept, capsys):
    rows = [json.loads(line) for line in (swept / "rows.jsonl").read_text().splitlines()]
    adaptive = [r for r in rows if r["policy"] == "adaptive"]
    assert len(rows) == 6 * 5 and all(r["probe_tokens"] == 0 for r in rows if r["policy"] != "adaptive")
    assert all(r["thinking_tokens"] <= r["budget"] for r in adaptive)
    assert all(r["probe_tokens"] > 0 and r["probes"] >= 1 for r in adaptive if r["budget"] == 48)
    # at 8 (a probe due every 8): one probe, where the model tries to end after its guess; then the cap
    assert all(r["probes"] == 1 for r in adaptive if r["budget"] == 8)
    assert main(["report", str(swept)]) == 0
    assert "probes mean" in capsys.readouterr().out


def test_calibrated_efforts_drive_the_server(swept, tiny, capsys):
    from ponder.server.app import create_app
    from ponder.server.settings import ServerSettings

    assert main(["calibrate", str(swept)]) == 0
    table = json.loads((swept / "efforts.json").read_text())["efforts"]
    settings = ServerSettings(model="ponder-tiny", efforts=str(swept / "efforts.json"), batch_size=4)
    with TestClient(create_app(settings, backend=tiny), base_url="http://127.0.0.1") as client:
        info = client.get("/v1/ponder/info").json()
        asked = client.post("/v1/chat/completions", json={
            "messages": [{"role": "user", "content": "473*8"}], "max_tokens": 120, "reasoning_effort": "max"})
        probed = client.post("/v1/chat/completions", json={
            "messages": [{"role": "user", "content": "473*8"}], "max_tokens": 120,
            "thinking": {"adaptive": {"every": 8, "agree": 2}, "max_tokens": 48}})
    assert info["efforts"] == str(swept / "efforts.json")
    assert info["reasoning_effort"]["max"]["setting"] == table["max"]["setting"]
    assert info["reasoning_effort"]["max"]["options"] == table["max"]["options"]
    chosen = table["max"]
    thinking = asked.json()["usage"]["completion_tokens_details"]["reasoning_tokens"]
    assert asked.status_code == 200 and thinking <= (chosen["budget"] or 0)
    body = probed.json()
    usage, details = body["usage"], body["ponder"]
    assert usage["completion_tokens_details"]["probe_tokens"] == details["probe_tokens"] > 0
    assert usage["completion_tokens"] == details["thinking_tokens"] + details["marker_tokens"] + \
        details["answer_tokens"]
    assert details["choices"][0]["probes"] and details["thinking_tokens"] <= 48
