"""A language model end to end on the embedded `local` device through the CLI: the tiny generated
decoder (fp32, int8, int4), its table, JSON, store, gates, detail view and report rows."""

from __future__ import annotations

import csv
import json

from edgeeval.testing import tinylm

from .conftest import as_json, cli


def test_tiny_decoder_deploys_on_local_with_every_figure(tmp_path, store):
    recipe = tinylm.write_recipe(tmp_path, extra="gates: {max_perplexity_increase_pct: 25, min_token_agreement: 0.5}\n")
    proc = cli("deploy", recipe, "--store", store)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    header = next(ln for ln in lines if ln.startswith("variant"))
    for col in ("MB", "TTFT ms", "pp32 t/s", "tg t/s", "TPOT p90", "RSS", "ppl", "Δppl %", "agree", "gate"):
        assert col in header, header
    for v in ("fp32", "int8", "int4"):
        row = next(ln for ln in lines if ln.startswith(v + " "))
        assert row.rstrip().endswith("PASS"), row
    rep = as_json(cli("results", "show", "1", "--store", store, "--json"))
    assert rep["baseline"]["perplexity"] > 1
    # figures about tokens are not credentials: the store's secret scrubber leaves every one of them
    assert "[scrubbed]" not in json.dumps(rep)
    by = {v["name"]: v for v in rep["variants"]}
    for name, v in by.items():
        g, q = v["generate"], v["quality"]
        assert v["task"] == "generate" and v["status"] == "ok"
        assert g["decode_tokens_per_s"]["value"] > 0 and g["decode_tokens_per_s"]["ci"][0] <= \
            g["decode_tokens_per_s"]["value"] <= g["decode_tokens_per_s"]["ci"][1]
        assert [r["tokens"] for r in g["prefill"]] == [8, 32] and all(r["tokens_per_s"] > 0 for r in g["prefill"])
        assert [r["depth"] for r in g["decode"]] == [0, 16] and all(r["tokens_per_s"] > 0 for r in g["decode"])
        assert g["ttft_cold_ms"] > g["ttft"]["p50"] > 0 and g["tokens_generated"] == 6 * 8
        assert v["latency"]["n"] == 6 * 7 and v["peak_rss_mb"] > 0
        assert q["perplexity"] > 1 and q["token_agreement"] >= 0.5 and q["token_agreement_positions"] == 48
        # operations per generated token from the graph, achieved against a peak nobody declared
        assert v["ops"]["unit"] == "operations per generated token" and v["ops"]["ops"] > 0
        assert v["utilisation"]["achieved_gops"] > 0 and v["utilisation"]["fraction"] is None
        assert v["utilisation"]["reason"]
        # both quality gates held, no latency target stated: aligned; no thermal data (or a noisy window
        # on a loaded CI box): not shown to fit the scenario
        assert v["adaptation"]["stage"] == 2 and ("thermal" in v["adaptation"]["reason"]
                                                  or "noisy" in v["adaptation"]["reason"]), v["adaptation"]
    # the board ran the same fp32 file as the server: identical scores; the quantized ones differ
    assert by["fp32"]["quality"]["perplexity_increase_pct"] == 0 and by["fp32"]["quality"]["token_agreement"] == 1
    assert by["int4"]["quality"]["perplexity_increase_pct"] != 0
    chain = by["int8"]["quality"]["loss_chain"]
    assert chain["perplexity_controller"] > 0 and abs(chain["runtime_pct"]) < 1e-6   # same runtime, same numbers
    assert by["int8"]["model_size_bytes"] < by["int4"]["model_size_bytes"] < by["fp32"]["model_size_bytes"]

    detail = cli("results", "show", "1", "--store", store, "--detail")
    assert detail.returncode == 0, detail.stderr
    for label in ("TTFT cold", "TTFT warm", "pp32 tok/s", "tg8 @ depth 16", "KV cache", "perplexity change",
                  "token agreement with fp32", "perplexity chain", "energy per token"):
        assert label in detail.stdout, label

    proc = cli("report", "--store", store, "--recipe", "tinylm", "-o", tmp_path / "r.csv")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader((tmp_path / "r.csv").open()))
    assert {r["variant"] for r in rows} == {"fp32", "int8", "int4"}
    for r in rows:
        assert float(r["decode_tokens_per_s"]) > 0 and float(r["ttft_ms"]) > 0 and float(r["perplexity"]) > 1
        assert r["stage"] == "2" and r["scenario"] == "generate"


def test_a_missed_generation_gate_exits_1_and_says_which(tmp_path, store):
    recipe = tinylm.write_recipe(tmp_path, variants="  - {name: fp32, precision: fp32}\n",
                                 extra="gates: {min_decode_tokens_per_s: 1.0e+9}\n")
    proc = cli("deploy", recipe, "--store", store, "--json")
    assert proc.returncode == 1, proc.stderr
    v = as_json(proc)["variants"][0]
    gate = next(g for g in v["gates"] if g["name"] == "min_decode_tokens_per_s")
    assert gate["passed"] is False and 0 < gate["value"] < 1e9
    assert v["adaptation"]["stage"] == 1 and "min_decode_tokens_per_s" in v["adaptation"]["reason"]


def test_a_language_model_runs_in_a_farm_campaign_and_keeps_a_history(tmp_path, store):
    recipe = tinylm.write_recipe(tmp_path, variants="  - {name: fp32, precision: fp32}\n"
                                 "  - {name: int4, precision: int4}\n")
    (tmp_path / "plan.yaml").write_text(f"name: llm\nmatrix:\n  - recipe: {recipe.name}\n    devices: [local]\n")
    for night in ("n1", "n2"):
        proc = cli("farm", "run", tmp_path / "plan.yaml", "--store", store, "--campaign", night, "--json")
        assert proc.returncode == 0, proc.stderr
    hist = as_json(cli("results", "history", "--recipe", "tinylm", "--device", "local", "--store", store,
                       "--metric", "throughput", "--json"))
    by = {v["variant"]: v for v in hist["variants"]}
    assert sorted(by) == ["fp32", "int4"]
    # the series is decode tokens/s, one point a night, each a campaign's own run
    for v in by.values():
        assert [p["campaign"] for p in v["points"]] == ["n1", "n2"] and all(p["value"] > 0 for p in v["points"])


def test_a_prompt_longer_than_the_context_is_a_user_error(tmp_path, store):
    recipe = tinylm.write_recipe(tmp_path, variants="  - {name: fp32, precision: fp32}\n")
    recipe.write_text(recipe.read_text().replace("warmup: 1}", "warmup: 1, max_context: 9}"))
    proc = cli("deploy", recipe, "--store", store)
    assert proc.returncode == 2, proc.stderr
    line = next(ln for ln in proc.stderr.splitlines() if "field data" in ln)
    assert "tinylm.yaml:3" in line and "9 tokens" in line and "9-token context" in line, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "connect" not in proc.stdout + proc.stderr      # found before any board was leased or connected


def test_compare_two_runs_of_a_language_model_tells_a_perplexity_change(tmp_path, store):
    recipe = tinylm.write_recipe(tmp_path, variants="  - {name: int4, precision: int4, block_size: 32}\n")
    assert cli("deploy", recipe, "--store", store).returncode == 0
    recipe.write_text(recipe.read_text().replace("block_size: 32", "block_size: 16"))   # a different 4-bit model
    assert cli("deploy", recipe, "--store", store).returncode == 0
    doc = as_json(cli("results", "compare", "1", "2", "--store", store, "--json"))
    v = doc["variants"][0]
    m = {x["metric"]: x for x in v["metrics"]}
    assert "top1" not in m and "cosine_mean" not in m          # a language model is compared on its own terms
    ppl = m["perplexity"]
    assert ppl["change"] == ppl["b"] / ppl["a"] != 1 and ppl["ci"][0] <= ppl["change"] <= ppl["ci"][1]
    assert ppl["verdict"] in ("regressed", "improved", "unchanged", "inconclusive")
    assert any("model" in str(c) for c in v["software_changes"]), v["software_changes"]   # the model changed
    same = as_json(cli("results", "compare", "1", "1", "--store", store, "--json"))
    p = next(x for x in same["variants"][0]["metrics"] if x["metric"] == "perplexity")
    assert p["change"] == 1 and p["ci"] == [1, 1] and p["verdict"] == "unchanged"


def test_the_decoder_runs_under_onnxruntime_genai_with_the_same_quality(tmp_path, store):
    """run.runtime.name: onnxruntime-genai: genai's own generation loop on the same built files."""
    import importlib.util

    import pytest

    if importlib.util.find_spec("onnxruntime_genai") is None:
        pytest.skip("onnxruntime-genai is not installed (the llm extra has it)")
    recipe = tinylm.write_recipe(tmp_path, variants="  - {name: fp32, precision: fp32}\n"
                                                    "  - {name: int4, precision: int4, block_size: 32}\n",
                                 extra="  runtime: {name: onnxruntime-genai}\n"
                                       "gates: {max_perplexity_increase_pct: 25, min_token_agreement: 0.5}\n")
    proc = cli("deploy", recipe, "--store", store, "--json")
    assert proc.returncode == 0, proc.stderr
    by = {v["name"]: v for v in as_json(proc)["variants"]}
    for v in by.values():
        assert v["runtime"]["name"] == "onnxruntime-genai" and v["runtime"]["version"]
        assert v["generate"]["decode_tokens_per_s"]["value"] > 0 and v["generate"]["tokens_generated"] == 48
    # the server scores with onnxruntime; genai on the board computes the same perplexity and picks
    assert by["fp32"]["quality"]["perplexity_increase_pct"] == pytest.approx(0, abs=1e-6)
    assert by["fp32"]["quality"]["token_agreement"] == 1
    assert abs(by["int4"]["quality"]["loss_chain"]["runtime_pct"]) < 1e-3
    rep = as_json(cli("results", "show", "1", "--store", store, "--json"))
    assert {v["runtime"]["name"] for v in rep["variants"]} == {"onnxruntime-genai"}
