"""JUnit and Markdown for CI: schema-valid, the right outcome per case, nothing secret in them."""

from pathlib import Path

import numpy as np

from edgeeval.cireport import cases, junit, markdown

XSD = Path(__file__).with_name("data") / "junit.xsd"


def _validate(path):
    import xmlschema
    xmlschema.XMLSchema(str(XSD)).validate(str(path))
    import xml.etree.ElementTree as ET

    return ET.parse(path).getroot()


def _variant(name, **kw):
    v = {"name": name, "status": "ok", "passed": True, "variant_id": 7, "model_sha256": "f" * 64,
         "latency": {"p50": 1.2, "p90": 1.5, "p90_ci": [1.4, 1.6], "throughput_ips": 800.0},
         "accuracy": {"top1": 0.97, "drop_pt": -0.4}, "gates": [], "noise": {}, "thermal": {}}
    v.update(kw)
    return v


def test_a_deploy_report_is_schema_valid_with_one_outcome_per_case(tmp_path):
    report = {"recipe": "digits-cnn", "device": "rpi5", "run_id": 12, "variants": [
        _variant("fp32"),
        _variant("int8", passed=False, status="gate_failed",
                 gates=[{"name": "p90_ms", "value": 3.1, "op": "<=", "limit": 2.0, "passed": False}]),
        _variant("fp16", status="error", passed=None, error="agent died: MemoryError"),
        _variant("int8-static", noise={"noisy": True, "noisy_reasons": ["steal 14%"]}),
        _variant("x<&>\x01", latency={}, accuracy={}),   # hostile characters in a name
    ]}
    cs = cases.deploy_cases(report)
    root = _validate(junit.write(tmp_path / "ci" / "junit.xml", "edgeeval deploy", cs))
    suite = root.find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == ("5", "1", "1", "1")
    by = {tc.get("name"): tc for tc in suite.iter("testcase")}
    assert by["fp32"].get("classname") == "edgeeval.digits-cnn.rpi5" and len(by["fp32"].findall("failure")) == 0
    fail = by["int8"].find("failure")
    assert "gate p90_ms: 3.1 <= 2.0 failed" in fail.get("message") and "p90 1.5 ms [1.4, 1.6] 95% CI" in fail.text
    assert by["fp16"].find("error").get("type") == "edgeeval.device_fault"
    assert "steal 14%" in by["int8-static"].find("skipped").get("message")
    assert "x<&>" in by and by["fp32"].find("properties/property[@name='variant_id']").get("value") == "7"
    md = markdown.deploy_md(report, cs)
    assert md.count("\n|") == 7 and "❌ fail" in md and "⏭️ skipped" in md


def test_a_regression_is_a_failure_with_its_interval(tmp_path, monkeypatch):
    doc = {"a": {"run_id": 3}, "b": {"run_id": 9, "recipe": "r", "device": "jetson"}, "verdict": "regressed",
           "variants": [{"variant": "int8", "verdict": "regressed", "flags": [], "software_changes": [
               {"field": "runtime", "a": "onnxruntime 1.20.0", "b": "onnxruntime 1.21.0"}],
               "metrics": [{"metric": "p90_ms", "kind": "ratio", "unit": "ms", "a": 1.0, "b": 1.1, "change": 1.1,
                            "ci": [1.07, 1.13], "verdict": "regressed", "reason": None},
                           {"metric": "top1", "kind": "diff", "unit": "%", "a": 97.0, "b": 97.0, "change": 0.0,
                            "ci": [0.0, 0.0], "verdict": "unchanged", "reason": None}]},
                        {"variant": "fp32", "verdict": "noisy", "flags": ["B: noisy window: steal"],
                         "software_changes": [], "metrics": []}]}
    root = _validate(junit.write(tmp_path / "c.xml", "compare", cases.compare_cases(doc)))
    tcs = {tc.get("name"): tc for tc in root.iter("testcase")}
    f = tcs["int8"].find("failure")
    assert f.get("message") == "regressed: p90_ms ×1.100 [1.070, 1.130]" and f.get("type") == "edgeeval.regression"
    assert "onnxruntime 1.20.0 → onnxruntime 1.21.0" in f.text
    assert tcs["fp32"].find("skipped") is not None
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    markdown.write(None, markdown.compare_md(doc))
    markdown.write(None, "second step\n")
    text = summary.read_text()
    assert "run 9 against run 3 — regressed" in text and text.endswith("second step\n\n")


def test_secrets_never_reach_the_junit_file(tmp_path):
    c = junit.Case("edgeeval.r.b", "v", "error", "ssh failed: password=hunter2 for user", "token=abc123secret")
    text = junit.write(tmp_path / "j.xml", "s", [c]).read_text()
    assert "hunter2" not in text and "abc123secret" not in text
    assert np.isfinite(float(_validate(tmp_path / "j.xml").get("time")))
