"""A sweep survives what its rows and tasks hold: line separators in text, failing generations, duplicate ids."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import ponder
from ponder.errors import PonderError
from ponder.lab.calibrate import calibrate
from ponder.lab import report
from ponder.lab.sweep import SweepConfig, SweepFolder, run_sweep, todo
from ponder.lab.tasks import get_task
from ponder.policies.base import PolicyBase

SEPARATORS = "\u2028\u2029\x85"  # str.splitlines splits at each; JSON writes them raw with ensure_ascii=False
LONG = "12*34 " * 200  # past ponder-tiny's 478-token context


def ponder_cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "ponder.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def task_file(path, questions: dict[str, str], answer: str = "408"):
    path.write_text("".join(json.dumps({"id": i, "question": q, "answer": answer}, ensure_ascii=False) + "\n"
                            for i, q in questions.items()), encoding="utf-8")
    return f"jsonl:{path}"


def config_for(task: str, n: int = 3) -> SweepConfig:
    return SweepConfig(task=task, policies=("no_thinking", "cap"), budgets=(0, 8), n=n, model="ponder-tiny")


@pytest.fixture(scope="module")
def tiny():
    return ponder.load_backend("ponder-tiny")


def test_a_sweep_whose_task_holds_line_separators_runs_resumes_and_reports(tmp_path):
    task = task_file(tmp_path / "task.jsonl", {"a": "12*34", "b": "5*6"}, answer=f"4{SEPARATORS}08")
    out = tmp_path / "sweep"
    args = ["sweep", "--task", task, "--model", "ponder-tiny", "--policy", "no_thinking", "--n", "2",
            "--no-progress", "--out", str(out)]
    first = ponder_cli(*args)
    assert first.returncode == 0, first.stderr
    again = ponder_cli(*args)  # the resume reads every row back
    assert again.returncode == 0, again.stderr
    assert ponder_cli("report", str(out)).returncode == 0
    rows = SweepFolder(out, SweepConfig.from_dict(json.loads((out / "sweep.json").read_text())["config"])).read_rows()
    assert [r["reference"] for r in rows] == [f"4{SEPARATORS}08"] * 2


def test_rows_written_raw_with_line_separators_resume_report_and_calibrate(tmp_path):
    task = task_file(tmp_path / "task.jsonl", {"a": "12*34", "b": "5*6"})
    config, out = config_for(task, n=2), tmp_path / "sweep"
    run_sweep(config, out, progress=False)
    rows = SweepFolder.check(out, config).read_rows()
    for r in rows:  # as an older ponder wrote them: the separators raw in the line
        r["reference"] = r["answer"] = f"4{SEPARATORS}08"
        r["correct"] = r["setting"] == "cap@8"
    (out / "rows.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    assert "\u2028" in (out / "rows.jsonl").read_text(encoding="utf-8")
    folder = SweepFolder.check(out, config)
    assert len(folder.read_rows()) == len(rows)
    assert not list(todo(config, get_task(task).items(2, 0), folder.done))  # nothing left to resume
    text, _ = report.write_report(out)
    assert "cap@8" in text
    assert calibrate(out)["best_accuracy"] == 1.0


def test_a_failing_item_is_a_row_with_its_error_and_a_rerun_retries_it(tmp_path):
    path = tmp_path / "task.jsonl"
    task = task_file(path, {"a": "12*34", "long": LONG, "c": "5*6"})
    config, out = config_for(task), tmp_path / "sweep"
    run_sweep(config, out, progress=False)
    _, ok, failed = report.load_sweep(out)
    assert len(ok) == 2 * 3 and {r["item"] for r in failed} == {"long"} and len(failed) == 3
    assert all("context" in r["error"] for r in failed)
    text, paths = report.write_report(out)
    assert "3 generation(s) failed" in text and "context" in paths["markdown"].read_text()
    assert "Failed generations" in paths["html"].read_text()
    assert len(SweepFolder.check(out, config).done) == 6  # failed rows are not done

    task_file(path, {"a": "12*34", "long": "7*8", "c": "5*6"})  # the item fixed, under the same id
    run_sweep(config, out, progress=False)
    _, ok, failed = report.load_sweep(out)
    assert len(ok) == 9 and not failed
    assert "failed" not in report.write_report(out)[0]


def test_a_rerun_that_fails_again_counts_each_failure_once(tmp_path):
    task = task_file(tmp_path / "task.jsonl", {"a": "12*34", "long": LONG})
    config, out = config_for(task, n=2), tmp_path / "sweep"
    run_sweep(config, out, progress=False)
    run_sweep(config, out, progress=False)
    _, ok, failed = report.load_sweep(out)
    assert len(ok) == 3 and len(failed) == 3  # six error rows in the file, three keys


class Explodes(PolicyBase):
    def step(self, view, proposed):
        raise RuntimeError("this policy is broken")


def test_generate_many_yields_each_failure_as_its_rows_result(tiny):
    ok = dict(prompt="12*34", max_tokens=16)
    requests = [ok, dict(prompt=LONG, max_tokens=16), dict(prompt="5*6", max_tokens=0),
                dict(prompt="7*8", thinking=Explodes(), max_tokens=16), dict(max_tokens=4), ok]
    results = dict(ponder.generate_many(requests, model=tiny, batch_size=2))
    assert sorted(results) == list(range(6))
    assert isinstance(results[0], ponder.Result) and isinstance(results[5], ponder.Result)
    assert results[0].answer == results[5].answer
    assert isinstance(results[1], PonderError) and "context" in str(results[1])
    assert isinstance(results[2], PonderError) and "max_tokens" in str(results[2])
    assert isinstance(results[3], RuntimeError) and "broken" in str(results[3])
    assert isinstance(results[4], PonderError) and "prompt" in str(results[4])


def test_a_task_with_duplicate_ids_is_refused(tmp_path):
    path = tmp_path / "task.jsonl"
    task = task_file(path, {"a": "12*34", "b": "5*6"})
    path.write_text(path.read_text() + json.dumps({"id": "a", "question": "7*8", "answer": "56"}) + "\n")
    with pytest.raises(PonderError, match=r"task.jsonl:3: id 'a' is already the id of .*task.jsonl:1"):
        get_task(task).items(10, 0)
    out = tmp_path / "sweep"
    run = ponder_cli("sweep", "--task", task, "--model", "ponder-tiny", "--no-progress", "--out", str(out))
    assert run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1 and "id 'a'" in run.stderr
    assert not out.exists()
