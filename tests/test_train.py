"""``ponder lab train``: traces, bad configs, resume after a kill, and the trained folder in ponder."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time

import pytest

import ponder
from ponder.lab.train.problems import Addition, Multiplication, ThreeSum
from ponder.lab.train.traces import completion, text_of, thinking
from ponder.lab.train.vocab import encode, hf_tokenizer


def ponder_cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "ponder.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("task", [Addition(3), Addition(5), Multiplication(2)])
def test_worked_steps_reach_the_answer(task):
    r = random.Random(0)
    for _ in range(200):
        p = task.sample(r)
        totals = [int(step.split("=")[1]) for step in p.steps]
        digits = [t % 10 for t in totals]
        value = int(str(totals[-1] // 10) + "".join(map(str, reversed(digits))))
        assert value == int(p.answer)


def test_three_sum_is_balanced_and_right():
    r, answers = random.Random(1), []
    for _ in range(200):
        p = ThreeSum(5).sample(r)
        xs = list(map(int, p.question.split()))
        found = any((xs[i] + xs[j] + xs[k]) % 10 == 0 for i in range(5) for j in range(i + 1, 5) for k in range(j + 1, 5))
        assert p.answer == ("yes" if found else "no") and len(p.steps) == 10
        answers.append(p.answer)
    assert 70 < answers.count("yes") < 130


def test_formats_share_prompt_and_answer_and_differ_in_thinking():
    r = random.Random(2)
    p = Addition(3).sample(r)
    cot = text_of(thinking(p, "cot", r))
    assert thinking(p, "direct", r) == []
    assert text_of(thinking(p, "filler", r)) == "." * len(cot)
    assert thinking(p, "pause", r) == [("<pause>" * len(cot), False)]  # seen, never learned
    assert len(encode(text_of(thinking(p, "pause", r)))) == len(encode(cot))
    verify = [text_of(thinking(p, "verify", random.Random(s))) for s in range(40)]
    assert any("Wait\n" in v for v in verify) and any(v == cot for v in verify)
    assert text_of(completion(p, "cot", r)).endswith(f"</think>\nFinal Answer: {p.answer}<eos>")
    mixed = {text_of(completion(p, "cot+filler", random.Random(s))).startswith(".") for s in range(20)}
    assert mixed == {True, False}  # a mix draws each trace from one of its parts


def test_the_saved_tokenizer_matches_the_training_encoding():
    text = "12+34\n<think>\n2+4+0=6\nWait\n</think>\nFinal Answer: 46<eos><pause>"
    assert hf_tokenizer().encode(text, add_special_tokens=False) == encode(text)


@pytest.mark.parametrize("args, message", [
    (["--task", "sorting"], "unknown training task 'sorting'"),
    (["--steps", "0"], "--steps must be at least 1"),
    (["--format", "poetry"], "unknown trace format 'poetry'"),
    (["--format", "cot+poetry"], "unknown trace format 'cot+poetry'"),
    (["--task", "3sum", "--format", "recheck"], "the recheck format checks columns"),
    (["--task", "3sum", "--difficulty", "2"], "3sum needs at least 3 digits"),
    (["--task", "3sum-vectors", "--difficulty", "11"], "3sum-vectors takes 3 to 10 vectors"),
])
def test_bad_configs_exit_2(tmp_path, args, message):
    run = ponder_cli("lab", "train", "--out", str(tmp_path / "m"), *args)
    assert run.returncode == 2 and message in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "m").exists()  # nothing written


def test_a_killed_run_resumes_from_its_checkpoint_and_refuses_another_model(tmp_path):
    out = tmp_path / "tiny"
    args = ["lab", "train", "--steps", "200", "--save-every", "5", "--hidden", "32", "--layers", "1", "--batch", "8",
            "--no-progress", "--out", str(out)]
    proc = subprocess.Popen([sys.executable, "-m", "ponder.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and not (out / "checkpoint.pt").exists():
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (out / "checkpoint.pt").exists() and not (out / "model.safetensors").exists()
    run = ponder_cli(*args)
    assert run.returncode == 0, run.stderr
    steps_run = json.loads((out / "ponder-train.json").read_text())["result"]["steps_run"]
    assert 0 < steps_run < 200  # it went on from the checkpoint, not from step 0
    backend = ponder.load_backend(str(out))
    assert backend.special_id("</think>") is not None  # native markers: one special token each
    result = ponder.generate("12+34", model=backend, thinking=ponder.Budget(max_tokens=5), max_tokens=20)
    assert result.usage.thinking_tokens <= 5 and result.prompt == "12+34\n<think>\n"
    other = ponder_cli("lab", "train", "--task", "3sum", "--steps", "2", "--out", str(out))
    assert other.returncode == 2 and "holds another model" in other.stderr


def test_packed_traces_give_the_loss_and_the_gradients_of_one_row_each():
    """Packing only saves padding: each trace keeps its positions and sees itself alone."""
    import torch
    from transformers import LlamaForCausalLM

    from ponder.lab.train.packing import bins, pack
    from ponder.lab.train.trainer import TrainConfig, model_config, step_rows
    from ponder.lab.train.vocab import IDS

    cfg = TrainConfig(task="multiplication", format="recheck", difficulty=3, batch=24)
    rows = step_rows(cfg, 0)
    assert len(bins(rows)) < len(rows)  # something was packed
    torch.manual_seed(0)
    model = LlamaForCausalLM(model_config(cfg, 512))
    width = max(len(ids) for ids, _ in rows)
    padded = {"input_ids": torch.tensor([x + [IDS["<pad>"]] * (width - len(x)) for x, _ in rows]),
              "labels": torch.tensor([y + [-100] * (width - len(y)) for _, y in rows])}
    losses, grads = [], []
    for inputs in (padded, pack(rows, IDS["<pad>"])):
        model.zero_grad()
        loss = model(**inputs).loss
        loss.backward()
        losses.append(loss.item())
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    assert abs(losses[0] - losses[1]) < 1e-5
    assert torch.allclose(grads[0], grads[1], atol=1e-6)
