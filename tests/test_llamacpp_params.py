"""llama.cpp's model parameters that its Python constructor does not take, changed only while a model loads."""

import llama_cpp

from ponder.backends.llamacpp import has_amx, model_defaults


def test_model_defaults_change_only_while_a_model_loads():
    before = llama_cpp.llama_cpp.llama_model_default_params().use_extra_bufts
    with model_defaults(llama_cpp, use_extra_bufts=not before):
        assert llama_cpp.llama_cpp.llama_model_default_params().use_extra_bufts is (not before)
    assert llama_cpp.llama_cpp.llama_model_default_params().use_extra_bufts is before


def test_amx_is_read_from_the_cpus_flags():
    flags = next((line.split() for line in open("/proc/cpuinfo") if line.startswith("flags")), [])
    assert has_amx() is ("amx_int8" in flags)
