"""Layered scenario settings: defaults ▸ profile ▸ recipe run ▸ run.scenario ▸ command line."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from edgeeval.errors import UserInputError
from edgeeval.recipes.scenarios import ScenarioSettings, resolve
from edgeeval.recipes.schema import RunSettings


def test_defaults_keep_the_historical_single_stream_timing():
    timing, sc = resolve(RunSettings())
    assert sc == {"name": "single-stream", "profile": "standard"}
    assert (timing["warmup"], timing["min_runs"], timing["min_seconds"]) == (10, 200, 5.0)


def test_layers_in_order():
    run = RunSettings(min_runs=50, scenario={"name": "server", "target_qps": 100, "profile": "quick"})
    timing, sc = resolve(run)
    assert timing["min_runs"] == 50 and timing["min_seconds"] == 1.0       # recipe count, quick duration
    assert sc["target_qps"] == 100 and sc["latency_bound_ms"] == 10.0 and sc["seed"] == 0
    timing, sc = resolve(run, {"min_seconds": 2.5}, {"profile": "rigorous", "find_max_qps": True})
    assert timing["min_seconds"] == 2.5 and sc["profile"] == "rigorous" and sc["find_max_qps"] is True


def test_rigorous_is_mlperf_like():
    timing, sc = resolve(RunSettings(), cli={"name": "multi-stream", "profile": "rigorous"})
    assert timing["min_seconds"] == 600.0 and timing["min_runs"] == 662 and sc["samples_per_query"] == 8
    assert timing["max_seconds"] >= 600.0


def test_offline_counts_samples_and_defaults_to_the_recipe_batch():
    timing, sc = resolve(RunSettings(batch_size=4), cli={"name": "offline"})
    assert sc["batch_sizes"] == [4] and sc["min_samples"] == 1024 and timing["min_runs"] == 1


def test_user_mistakes():
    with pytest.raises(UserInputError, match="target_qps"):
        resolve(RunSettings(), cli={"name": "server"})
    with pytest.raises(UserInputError, match="find-max-qps"):
        resolve(RunSettings(), cli={"find_max_qps": True})
    with pytest.raises(ValidationError, match="only applies to scenario server"):
        ScenarioSettings(name="offline", target_qps=3)


def test_recipe_scenario_section_errors_name_the_line(tmp_path):
    from edgeeval.recipes.schema import load_recipe

    for f in ("m.onnx", "eval.npz"):
        (tmp_path / f).write_bytes(b"x")
    p = tmp_path / "r.yaml"
    p.write_text("name: t\nsource: {type: onnx, path: m.onnx}\ndata: {type: npz, path: eval.npz}\n"
                 "variants: [{name: fp32, precision: fp32}]\nrun:\n  scenario:\n    name: offline\n"
                 "    target_qps: 5\n")
    with pytest.raises(UserInputError) as ei:
        load_recipe(p)
    assert any("r.yaml:" in ln and "target_qps" in ln and "only applies to scenario server" in ln
               for ln in ei.value.problems), ei.value.problems
    p.write_text(p.read_text().replace("offline", "server").replace("5\n", "5\n    seed: 11\n"))
    timing, sc = resolve(load_recipe(p).run)
    assert sc["target_qps"] == 5 and sc["seed"] == 11
