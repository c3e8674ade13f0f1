"""End to end: the shipped digits-cnn recipe trains, exports, quantizes, and caches for real."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeeval.reference.onnx import run_model
from edgeeval.errors import UserInputError
from edgeeval.recipes import build

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "recipes" / "digits-cnn.yaml"


@pytest.fixture(scope="module")
def built():
    return build(RECIPE)


def _accuracy(model_path: Path, ev) -> float:
    outputs, names, _, _ = run_model(model_path, ev.path, ev.inputs, ["CPUExecutionProvider"])
    with np.load(ev.path) as z:
        labels = z[ev.labels]
    return float((outputs["logits"].argmax(1) == labels).mean())


def test_variants_exist_and_are_content_addressed(built):
    assert [v.name for v in built.variants] == ["fp32", "fp16", "int8-dynamic", "int8-static"]
    for v in built.variants:
        assert v.path.name == f"{v.sha256}.onnx" and v.path.stat().st_size == v.size_bytes
        assert v.inputs == [{"name": "input", "shape": ["batch", 1, 8, 8], "dtype": "float32",
                             "type": "tensor(float)"}]
        assert v.outputs[0]["name"] == "logits" and v.outputs[0]["dtype"] == "float32"
        assert v.opset == 17
    assert built.fp32.sha256 == built.variant("fp32").sha256
    sizes = {v.name: v.size_bytes for v in built.variants}
    assert sizes["int8-static"] < sizes["fp16"] < sizes["fp32"]
    st = built.variant("int8-static").quantization
    assert st["quant_format"] == "qdq" and st["per_channel"] and st["calibration_samples_used"] == 200
    assert st["pre_process"].endswith("quant_pre_process")
    ev = built.eval_set
    assert (ev.samples, ev.calibration_samples, ev.inputs, ev.labels) == (360, 200, ["input"], "labels")
    assert ev.path.name == f"{ev.sha256}.npz"


def test_manifest_records_provenance(built):
    m = json.loads(built.manifest_path.read_text())
    assert m == json.loads(json.dumps(built.manifest, default=str))
    assert m["recipe"] == "digits-cnn" and len(m["recipe_hash"]) == 64 and len(m["source_hash"]) == 64
    assert m["dataset_sha256"] == built.eval_set.sha256
    assert {"onnx", "onnxruntime", "numpy", "python", "edgeeval", "torch"} <= set(m["tool_versions"])
    assert [v["name"] for v in m["variants"]] == ["fp32", "fp16", "int8-dynamic", "int8-static"]
    assert all({"sha256", "size_bytes", "opset", "inputs", "outputs", "quantization"} <= set(v) for v in m["variants"])


def test_accuracy_thresholds(built):
    acc = {v.name: _accuracy(v.path, built.eval_set) for v in built.variants}
    print("digits accuracy:", acc)
    assert acc["fp32"] >= 0.97
    assert acc["fp32"] - acc["int8-static"] <= 0.010 + 1e-9
    assert acc["fp32"] - acc["fp16"] <= 0.005 and acc["fp32"] - acc["int8-dynamic"] <= 0.02


def test_second_build_is_a_cheap_cache_hit_in_a_fresh_process(built):
    code = (
        "import json, sys, time\n"
        "from edgeeval.recipes import build\n"
        "t = time.perf_counter(); r = build(sys.argv[1]); dt = time.perf_counter() - t\n"
        "heavy = [m for m in ('torch', 'sklearn', 'onnx', 'onnxruntime') if m in sys.modules]\n"
        "print(json.dumps({'dt': dt, 'heavy': heavy, 'built': r.built,\n"
        "                  'cached': [v.cached for v in r.variants], 'shas': [v.sha256 for v in r.variants]}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, "-c", code, str(RECIPE)], env=env, capture_output=True,
                         text=True, timeout=60, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["built"] == [] and all(res["cached"])
    assert res["shas"] == [v.sha256 for v in built.variants]
    assert res["heavy"] == [], f"a cache hit imported {res['heavy']}"
    assert res["dt"] < 1.0, res


def test_changing_one_variant_rebuilds_only_it(built, tmp_path):
    text = RECIPE.read_text().replace("calibration_method: minmax", "calibration_method: percentile")
    assert text != RECIPE.read_text()
    changed = tmp_path / "digits-changed.yaml"            # a copy elsewhere: keys are content, not paths
    changed.write_text(text)
    events: list[str] = []
    r = build(changed, progress=events.append)
    assert r.built == ["int8-static"], events
    assert not any("fp32 model" in e for e in events)
    assert r.fp32.cached and r.fp32.sha256 == built.fp32.sha256
    for name in ("fp32", "fp16", "int8-dynamic"):
        assert r.variant(name).cached and r.variant(name).sha256 == built.variant(name).sha256
    assert r.variant("int8-static").quantization["calibration_method"] == "percentile"
    acc = _accuracy(r.variant("int8-static").path, r.eval_set)
    assert _accuracy(r.fp32.path, r.eval_set) - acc <= 0.010 + 1e-9


def test_only_and_missing_artifact_rebuilds(built, tmp_path):
    fp16 = built.variant("fp16")
    fp16.path.unlink()
    r = build(RECIPE, only=["fp16"])
    assert [v.name for v in r.variants] == ["fp16"] and r.built == ["fp16"]
    assert r.variant("fp16").sha256 == fp16.sha256 and fp16.path.exists()   # deterministic conversion


def test_calibration_samples_beyond_the_split_is_a_user_error(built, tmp_path):
    bad = tmp_path / "digits-bad.yaml"
    bad.write_text(RECIPE.read_text().replace("calibration_samples: 200", "calibration_samples: 5000"))
    with pytest.raises(UserInputError) as ei:
        build(bad)
    (msg,) = ei.value.problems
    line = next(i for i, ln in enumerate(bad.read_text().splitlines(), 1) if "calibration_samples:" in ln)
    assert msg.startswith(f"{bad}:{line}: field variants.3.calibration_samples") and "200" in msg
