"""Pipeline stages that decide without a board: which variants a board's runtimes let run."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from edgeeval.errors import RuntimeAbsent
from edgeeval.pipeline.stages import Target, _skip_without_runtime


def _target(facts, *names):
    variants = [SimpleNamespace(name=n, path=f"/cache/{n}.{'gguf' if n.startswith('q') else 'onnx'}") for n in names]
    return Target(SimpleNamespace(name="pi5", python="python3"), facts, None, variants)


def test_a_gguf_variant_is_skipped_on_a_board_without_llama_cpp_with_the_install():
    facts = {"runtimes": {"llama_cpp": {"error": "ModuleNotFoundError: No module named 'llama_cpp'"}}}
    t = _target(facts, "fp32", "q4_1")
    said = []
    _skip_without_runtime(t, facts, t.device, lambda kind, data: said.append((kind, data)))
    assert [v.name for v in t.variants] == ["fp32"]
    why = t.settings["skipped_variants"]["q4_1"]
    assert "the board has no llama_cpp (ModuleNotFoundError" in why and "python3 -m pip install llama-cpp-python" in why
    assert said == [("variant_skipped", {"variant": "q4_1", "reason": why})]


def test_a_board_with_llama_cpp_runs_it_and_nothing_runnable_is_a_board_fault():
    facts = {"runtimes": {"llama_cpp": {"version": "0.3.36"}}}
    t = _target(facts, "fp32", "q4_1")
    _skip_without_runtime(t, facts, t.device, lambda *a: None)
    assert [v.name for v in t.variants] == ["fp32", "q4_1"] and "skipped_variants" not in t.settings
    bare = {"runtimes": {}}
    t = _target(bare, "q4_1")
    with pytest.raises(RuntimeAbsent, match="the board can run none of the selected variants: q4_1: the board has no"):
        _skip_without_runtime(t, bare, t.device, lambda *a: None)
