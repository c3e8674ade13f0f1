"""all-MiniLM-L6-v2 through optimum, end to end on `local`: export, optimum int8, PyTorch baseline, metrics."""

from __future__ import annotations

import json

import pytest

from .conftest import ROOT, as_json, cli

pytestmark = pytest.mark.slow   # builds real models / long scenario runs

pytest.importorskip("optimum.onnxruntime", reason="needs the hf extra: pip install -e '.[hf]'")

MINILM = ROOT / "recipes" / "minilm-embeddings.yaml"
SHORT = ["--min-runs", "20", "--min-seconds", "0.2", "--warmup", "2"]


@pytest.fixture(scope="module")
def built_minilm():
    proc = cli("build", MINILM, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_build_exports_three_inputs_with_dynamic_axes_and_optimum_int8(built_minilm):
    m = built_minilm
    fp32, int8 = m["variants"]
    assert [i["name"] for i in fp32["inputs"]] == ["input_ids", "attention_mask", "token_type_ids"]
    assert all(i["shape"] == ["batch_size", "sequence_length"] and i["dtype"] == "int64" for i in fp32["inputs"])
    assert fp32["outputs"][0]["name"] == "last_hidden_state"
    q = int8["quantization"]
    assert q["optimum_config"] in ("avx2", "avx512", "avx512_vnni", "arm64") and q["per_channel"] is True
    assert q["optimum_config_requested"] == "auto" and q["optimum_config_reason"]
    # the shipped recipe sets weight_type: int8, which overrides the config's weight type (u8s8 everywhere)
    assert q["weights_dtype"] == "QInt8" and q["activations_dtype"] == "QUInt8"
    assert "weights int8 set in the recipe" in q["weight_type_reason"]
    assert int8["size_bytes"] < fp32["size_bytes"] / 3
    ev = m["eval_set"]
    assert ev["labels"] is None and ev["samples"] == 150
    assert sorted(ev["inputs"]) == ["attention_mask", "input_ids", "token_type_ids"]


def test_deploy_local_reports_cosine_and_retrieval(built_minilm, store):
    proc = cli("deploy", MINILM, "--store", store, "--json", *SHORT)
    rep = as_json(proc)
    assert proc.returncode in (0, 1), proc.stderr
    v = {x["name"]: x for x in rep["variants"]}
    assert rep["baseline"]["top1"] is None
    for name in ("fp32", "int8"):
        s = v[name]
        assert s["accuracy"]["top1"] is None and s["accuracy"]["reason"] == "no labels: embedding task"
        emb = s["embeddings"]
        assert emb["samples"] == 150 and emb["pooling"] == "mean over attention_mask"
        assert emb["cosine_min"] <= emb["cosine_p5"] <= emb["cosine_mean"] <= 1.0
        assert 0.0 <= emb["retrieval"]["top1_agreement"] <= 1.0 and emb["retrieval"]["k"] == 5
        assert [g["name"] for g in s["gates"]] == ["min_cosine", "min_retrieval_agreement"]
    assert v["fp32"]["embeddings"]["cosine_min"] > 0.99999          # ONNX fp32 == PyTorch fp32
    assert v["fp32"]["embeddings"]["retrieval"]["top1_agreement"] == 1.0
    assert v["int8"]["embeddings"]["cosine_mean"] >= 0.985
    assert v["int8"]["embeddings"]["retrieval"]["topk_overlap"] >= 0.8
    # the stored summary is recomputed from the raw data (mask included) identically
    shown = as_json(cli("results", "show", rep["run_id"], "--store", store, "--json"))
    assert len(shown["variants"]) == 2
