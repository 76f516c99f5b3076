"""``ponder sweep`` and ``ponder report`` end to end on the default model, as a user runs them."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
# SmolLM2, not the default ponder-tiny: slow enough per row that the kill test lands mid-sweep
SMALL = ["--model", "smollm2", "--task", "addition", "--n", "3", "--policy", "budget,no_thinking",
         "--budgets", "0,8,16", "--no-progress"]
SETTINGS = 4  # budget@0, budget@8, budget@16, no_thinking


def ponder(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "ponder.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def rows(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "rows.jsonl").read_text().splitlines() if line.strip()]


def test_sweep_writes_rows_and_a_report(tmp_path):
    out = tmp_path / "sweep"
    run = ponder("sweep", *SMALL, "--price-input", "0.1", "--price-output", "0.4", "--out", str(out))
    assert run.returncode == 0, run.stderr
    written = rows(out)
    assert len(written) == 3 * SETTINGS
    by_setting = Counter(r["setting"] for r in written)
    assert by_setting == {"budget@0": 3, "budget@8": 3, "budget@16": 3, "no_thinking": 3}
    for r in written:
        if r["policy"] == "budget":
            assert r["thinking_tokens"] == r["budget"] and r["within_budget"]
        assert r["cost"] == pytest.approx((r["prompt_tokens"] * 0.1 + r["completion_tokens"] * 0.4) / 1e6)
    assert "budget@16" in run.stdout and "scaling" in run.stdout and "accuracy.png" in run.stdout
    for name in ("summary.csv", "summary.md", "accuracy.png", "thinking_tokens.png", "report.html"):
        assert (out / name).stat().st_size > 0
    assert (out / "accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "data:image/png;base64," in (out / "report.html").read_text()
    again = ponder("report", str(out))  # the report alone, from the folder
    assert again.returncode == 0 and again.stdout.splitlines()[0] == run.stdout.splitlines()[0]


def test_a_killed_sweep_resumes_with_exactly_one_row_per_item_and_setting(tmp_path):
    out = tmp_path / "sweep"
    cmd = [sys.executable, "-m", "ponder.cli", "sweep", *SMALL, "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and (not (out / "rows.jsonl").exists() or len(rows(out)) < 3):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = len(rows(out))
    assert 3 <= before < 3 * SETTINGS
    with open(out / "rows.jsonl", "a") as f:
        f.write('{"sweep": "torn write, as a kill in the middle of a line leaves it')
    run = ponder("sweep", *SMALL, "--out", str(out))
    assert run.returncode == 0, run.stderr
    keys = Counter((r["item"], r["setting"], r["sample"]) for r in rows(out))
    assert len(keys) == 3 * SETTINGS and set(keys.values()) == {1}


@pytest.mark.parametrize("args, message", [
    (["--task", "trivia"], "unknown task 'trivia'"),
    (["--policy", "budget,think_harder"], "unknown sweep policy think_harder"),
    (["--budgets", "0,64,32"], "budgets must be strictly increasing"),
    (["--budgets", "0,x"], "expected comma-separated whole numbers"),
    (["--task", f"jsonl:{FIXTURES / 'malformed.jsonl'}"], "malformed.jsonl:2: not valid JSON"),
    (["--samples", "3"], "set --temperature above 0"),
])
def test_bad_sweep_input_exits_2(tmp_path, args, message):
    run = ponder("sweep", *SMALL, "--out", str(tmp_path / "s"), *args)
    assert run.returncode == 2 and message in run.stderr and "Traceback" not in run.stderr


@pytest.mark.parametrize("typo, fixed", [
    (["--task", "trivia"], ["--task", "addition"]),
    (["--model", "/typo"], ["--model", "ponder-tiny"]),
])
def test_a_typo_writes_nothing_so_the_corrected_command_runs(tmp_path, typo, fixed):
    out = tmp_path / "sweep"
    common = ["--n", "1", "--policy", "no_thinking", "--no-progress", "--out", str(out)]
    run = ponder("sweep", "--task", "addition", *common, *typo)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert not out.exists()
    corrected = ponder("sweep", "--task", "addition", *common, *fixed)
    assert corrected.returncode == 0, corrected.stderr
    assert len(rows(out)) == 1


def test_a_folder_of_another_sweep_is_refused_and_kept(tmp_path):
    out = tmp_path / "sweep"
    first = ponder("sweep", "--task", "addition", "--n", "1", "--policy", "no_thinking", "--no-progress",
                   "--out", str(out))
    assert first.returncode == 0, first.stderr
    kept = (out / "rows.jsonl").read_bytes()
    run = ponder("sweep", "--task", "compare", "--n", "1", "--policy", "no_thinking", "--out", str(out))
    assert run.returncode == 2 and "holds a different sweep (task differ)" in run.stderr
    assert (out / "rows.jsonl").read_bytes() == kept
    assert ponder("report", str(tmp_path / "nothing")).returncode == 2
