"""Where a model runs: --device, --dtype and --gpu-layers on every surface, on this machine's CPU.

What a GPU machine would decide is checked against a stand-in for torch; bench/gpu.py runs the rest there.
"""

from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

import pytest

import ponder
from ponder import Budget, PonderError
from ponder.backends.placement import SPREAD, Placement

PONDER = [sys.executable, "-m", "ponder.cli"]
QUESTION = "12*34"  # ponder-tiny's kind of question


def ponder_cli(*args, timeout=300):
    return subprocess.run([*PONDER, *args], capture_output=True, text=True, timeout=timeout)


def one_line_error(run, message: str) -> None:
    assert run.returncode == 2, run.stderr
    assert run.stderr.count("\n") == 1 and run.stderr.startswith("ponder: error: "), run.stderr
    assert message in run.stderr and "Traceback" not in run.stderr


@pytest.fixture(scope="module")
def tiny_bf16():
    return ponder.load_backend("ponder-tiny", device="cpu", dtype="bfloat16")


def test_bfloat16_on_the_cpu_keeps_budgets_exact(tiny_bf16):
    import torch

    assert tiny_bf16.model.dtype == torch.bfloat16 and tiny_bf16.device.type == "cpu"
    for b in (0, 5, 17):
        result = ponder.generate(QUESTION, model=tiny_bf16, thinking=Budget(min_tokens=b, max_tokens=b), max_tokens=60)
        assert result.usage.thinking_tokens == b and result.answer
    requests = [dict(prompt=f"{10 + i}*{21 + i}", thinking=Budget(min_tokens=b, max_tokens=b), max_tokens=b + 24)
                for i, b in enumerate([3, 9, 30, 0, 12, 25])]
    results = dict(ponder.generate_many(requests, model=tiny_bf16, batch_size=4))
    assert [results[i].usage.thinking_tokens for i in range(6)] == [3, 9, 30, 0, 12, 25]


def test_a_model_named_by_string_is_loaded_where_asked():
    result = ponder.generate(QUESTION, model="ponder-tiny", device="cpu", dtype="bfloat16",
                             thinking=Budget(min_tokens=7, max_tokens=7), max_tokens=40)
    assert result.usage.thinking_tokens == 7
    assert ponder.load_backend("ponder-tiny", "auto", 4096, None, "cpu", "bfloat16").model.dtype.itemsize == 2
    many = dict(ponder.generate_many([dict(prompt=QUESTION, thinking=Budget(min_tokens=4, max_tokens=4))],
                                     model="ponder-tiny", device="cpu", dtype="float32"))
    assert many[0].usage.thinking_tokens == 4


def test_auto_is_float32_on_the_cpu_and_a_loaded_model_keeps_its_place(tiny_bf16):
    import torch

    assert ponder.load_backend("ponder-tiny").model.dtype == torch.float32
    with pytest.raises(PonderError, match="loaded already"):
        ponder.generate(QUESTION, model=tiny_bf16, dtype="float32")
    with pytest.raises(PonderError, match="places its own"):
        ponder.generate(QUESTION, endpoint="http://127.0.0.1:9/v1", device="cuda")


def test_smollm2_in_bfloat16_batches_with_grouped_heads():
    """SmolLM2 (three query heads per key head) dequantised from its GGUF to bfloat16: batched rows too."""
    smol = ponder.load_backend(None, "transformers", device="cpu", dtype="bfloat16")
    requests = [dict(prompt="What is 12 + 30?", thinking=Budget(min_tokens=b, max_tokens=b), max_tokens=b + 3)
                for b in (4, 10, 7)]
    results = dict(ponder.generate_many(requests, model=smol, batch_size=3))
    assert [results[i].usage.thinking_tokens for i in range(3)] == [4, 10, 7]


def test_the_cli_runs_bfloat16_with_an_exact_budget():
    run = ponder_cli("generate", QUESTION, "--model", "ponder-tiny", "--device", "cpu", "--dtype", "bfloat16",
                     "--min-think", "9", "--max-think", "9", "--json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["usage"]["thinking_tokens"] == 9


@pytest.mark.parametrize("model, message", [("ponder-tiny", "torch finds no CUDA device here"),
                                            (None, "this llama-cpp-python build offloads to no GPU")])
def test_device_cuda_without_one_exits_2_with_one_line(model, message):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    run = ponder_cli("generate", QUESTION, "--device", "cuda", *(["--model", model] if model else []))
    one_line_error(run, message)
    assert not run.stdout


def test_a_sweep_on_a_missing_gpu_writes_nothing(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    out = tmp_path / "sweep"
    run = ponder_cli("sweep", "--n", "1", "--budgets", "0,8", "--device", "cuda", "--out", str(out), "--no-progress")
    one_line_error(run, "--device cuda")
    assert not out.exists()


@pytest.mark.parametrize("args, message", [
    (["--dtype", "float8"], "--dtype must be one of auto, bfloat16, float16, float32, got 'float8'"),
    (["--device", "gpu"], "--device must be one of auto, cpu, cuda, cuda:N, mps, got 'gpu'"),
    (["--gpu-layers", "-2"], "--gpu-layers must be a count of layers >= 0, or -1 for all"),
    (["--device", "cpu", "--gpu-layers", "3"], "drop one of them"),
    (["--model", "ponder-tiny", "--gpu-layers", "3"], "--gpu-layers is for llama.cpp"),
    (["--dtype", "bfloat16"], "llama.cpp runs the GGUF's own types"),
])
def test_bad_placement_exits_2_with_one_line(args, message):
    one_line_error(ponder_cli("generate", QUESTION, *args), message)


def test_gpu_layers_on_a_cpu_build_of_llama_cpp_exits_2():
    import llama_cpp

    if llama_cpp.llama_supports_gpu_offload():
        pytest.skip("this llama-cpp-python build offloads")
    one_line_error(ponder_cli("generate", QUESTION, "--gpu-layers", "5"), "--gpu-layers 5: this llama-cpp-python "
                   "build offloads to no GPU")
    assert ponder.load_backend(None, gpu_layers=0).gpu_layers == 0
    assert ponder.load_backend(None).gpu_layers == 0  # the default on a build that cannot offload


def test_the_server_takes_the_same_options():
    from serving import chat, start, stop

    from ponder.server.settings import ServerSettings

    with pytest.raises(PonderError, match="--dtype must be one of"):
        ServerSettings(dtype="half")
    served = start("--model", "ponder-tiny", "--device", "cpu", "--dtype", "bfloat16")
    try:
        reply = chat(served, thinking={"min_tokens": 6, "max_tokens": 6}, question=QUESTION)
        assert reply.usage.completion_tokens_details.reasoning_tokens == 6
    finally:
        stop(served)
    one_line_error(ponder_cli("serve", "--model", "ponder-tiny", "--dtype", "float8"), "--dtype must be one of")
    import torch

    if not torch.cuda.is_available():
        one_line_error(ponder_cli("serve", "--model", "ponder-tiny", "--device", "cuda"), "no CUDA device here")


# what a GPU machine would decide, with a stand-in for torch

def fake_torch(gpus: int, capability=(9, 0), mps=False):
    cuda = SimpleNamespace(is_available=lambda: gpus > 0, device_count=lambda: gpus,
                           get_device_capability=lambda index=0: capability)
    return SimpleNamespace(cuda=cuda, backends=SimpleNamespace(mps=SimpleNamespace(is_available=lambda: mps)),
                           version=SimpleNamespace(cuda="12.8" if gpus else None), __version__="2.13.0",
                           bfloat16="bf16", float16="fp16", float32="fp32")


def test_auto_picks_the_gpu_and_bfloat16_where_it_has_it():
    auto = Placement()
    assert auto.torch_device(fake_torch(1)) == "cuda:0" and auto.torch_dtype(fake_torch(1), "cuda:0") == "bf16"
    assert auto.torch_dtype(fake_torch(1, (7, 5)), "cuda:0") == "fp16"  # a GPU without bfloat16
    assert auto.torch_device(fake_torch(4)) == SPREAD  # several GPUs: spread when the model outgrows one
    assert auto.torch_device(fake_torch(0)) == "cpu" and auto.torch_dtype(fake_torch(0), "cpu") == "fp32"
    assert auto.torch_device(fake_torch(0, mps=True)) == "mps"
    assert Placement("cuda:1").torch_device(fake_torch(2)) == "cuda:1"
    assert Placement("cuda").torch_device(fake_torch(4)) == "cuda:0"  # one GPU, as asked
    assert Placement(dtype="float16").torch_dtype(fake_torch(1), "cuda:0") == "fp16"
    with pytest.raises(PonderError, match="this machine has 2 CUDA device"):
        Placement("cuda:2").torch_device(fake_torch(2))
    with pytest.raises(PonderError, match="no Apple GPU"):
        Placement("mps").torch_device(fake_torch(0))


def test_llama_cpp_offloads_everything_where_its_build_can():
    assert Placement().llama_layers(True) == -1 and Placement().llama_layers(False) == 0
    assert Placement(gpu_layers=12).llama_layers(True) == 12 and Placement("cpu").llama_layers(True) == 0
    assert Placement("cuda:1").main_gpu == 1 and Placement("cuda").main_gpu is None
    with pytest.raises(PonderError, match="pip install llama-cpp-python"):
        Placement(gpu_layers=-1).llama_layers(False)


def test_a_pass_layout_is_made_on_the_models_device():
    """Every tensor of a batched pass's layout is made on the device (meta here: no data), none on the host."""
    from ponder.backends.hf_rows import layout

    plan = layout([(0, [5]), (2, [6, 7, 8]), (3, [9])], starts=[4, 0, 2, 7], keep=[0, 3, 4], group=2,
                  device="meta")
    tensors = [plan.ids, plan.rows, plan.positions, plan.keep]
    tensors += [t for g in plan.grids for t in (g.tokens, g.rows, g.columns, g.strips, g.mask) if t is not None]
    assert {t.device.type for t in tensors} == {"meta"} and plan.length == 8


def test_grid_attention_equals_each_rows_own_attention():
    """Rows of one token and a run of three, two query heads per key head: each row sees its strip only."""
    import torch

    from ponder.backends.hf_rows import layout

    torch.manual_seed(0)
    work, starts = [(0, [1]), (1, [1, 1, 1]), (3, [1])], [5, 2, 0, 9]
    plan = layout(work, starts, keep=[0], group=2)
    heads, kv_heads, dim, slots = 4, 2, 8, 16
    key, value = torch.randn(4, kv_heads, slots, dim), torch.randn(4, kv_heads, slots, dim)
    query = torch.randn(1, heads, 5, dim)
    out = plan.attend(query, key, value, scaling=dim ** -0.5)[0]
    for token, (row, position) in enumerate(zip(plan.rows.tolist(), plan.positions.tolist())):
        k = key[row, :, : position + 1].repeat_interleave(2, dim=0)
        v = value[row, :, : position + 1].repeat_interleave(2, dim=0)
        weights = torch.softmax(query[0, :, token, None] @ k.transpose(1, 2) * dim ** -0.5, dim=-1)
        torch.testing.assert_close(out[token], (weights @ v)[:, 0], atol=1e-5, rtol=1e-5)
