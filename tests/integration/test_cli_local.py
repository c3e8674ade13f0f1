"""The README's main job on the embedded `local` device, exit codes and user errors."""

from __future__ import annotations

import os

import yaml

from .conftest import FAST, RECIPE, as_json, cli


def test_deploy_local_default_device(built_digits, store, tmp_path):
    proc = cli("deploy", RECIPE, "--store", store, *FAST)
    assert proc.returncode == 0, proc.stderr
    # one compact comparison table, a row per variant, fitting 100 columns
    lines = proc.stdout.splitlines()
    header = next(ln for ln in lines if ln.startswith("variant"))
    for col in ("MB", "p50 ms", "p90 ms", "inf/s", "RSS", "top-1", "drop", "cos", "gate"):
        assert col in header, header
    for v in ("fp32", "fp16", "int8-dynamic", "int8-static"):
        row = next(ln for ln in lines if ln.startswith(v + " "))
        assert row.rstrip().endswith("PASS"), row
    table = lines[lines.index(header):]
    assert max(len(ln) for ln in table) <= 100, max(table, key=len)
    # --detail: every figure, per variant
    proc = cli("deploy", RECIPE, "--store", store, "--detail", *FAST, "--junit", tmp_path / "ci" / "junit.xml",
               "--markdown", tmp_path / "ci" / "summary.md")
    assert proc.returncode == 0, proc.stderr
    for label in ("p50", "p90", "95% CI", "throughput", "model load", "first inference", "peak RSS",
                  "top-1", "accuracy drop", "cosine", "max abs error", "PSNR", "gate accuracy_drop_pt",
                  "model size", "calibration"):
        assert label in proc.stdout, label
    # CI output: a testcase per variant, all passed; the Markdown table a row per variant
    import xml.etree.ElementTree as ET

    cases = list(ET.parse(tmp_path / "ci" / "junit.xml").getroot().iter("testcase"))
    assert sorted(c.get("name") for c in cases) == ["fp16", "fp32", "int8-dynamic", "int8-static"]
    assert all(c.get("classname") == "edgeeval.digits-cnn.local" and len(c) <= 2 and c.find("failure") is None
               for c in cases)
    # a variant timed in a noisy window (this 2-core box under another suite) is skipped with the reason,
    # never passed or failed on disturbed figures
    md = (tmp_path / "ci" / "summary.md").read_text()
    assert md.count("✅ pass") + md.count("⏭️ skipped") == 4 and "❌" not in md, md
    assert md.count("⏭️ skipped") == md.count("disturbed figures"), md
    # the two runs compared from their raw data: every variant, p50 ratio with its interval
    proc = cli("results", "compare", "--store", store, "--recipe", "digits-cnn", "--device", "local",
               "--baseline", "previous", "--json")
    assert proc.returncode in (0, 1), proc.stderr
    doc = as_json(proc)
    assert len(doc["variants"]) == 4 and doc["a"]["run_id"] < doc["b"]["run_id"]
    p50 = next(m for m in doc["variants"][0]["metrics"] if m["metric"] == "p50_ms")
    assert p50["ci"][0] <= p50["change"] <= p50["ci"][1]
    # the store alone makes the report: a CSV row per variant result, the stage each reached
    import csv

    proc = cli("report", "--store", store, "--recipe", "digits-cnn", "-o", tmp_path / "report.csv")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader((tmp_path / "report.csv").open()))
    assert len(rows) == 8 and {r["variant"] for r in rows} == {"fp32", "fp16", "int8-dynamic", "int8-static"}
    assert all(r["stage"] in ("2", "3") and float(r["p50_ms"]) > 0 and r["perf_per_w"] == "" for r in rows)
    shown = as_json(cli("results", "show", doc["b"]["run_id"], "--store", store, "--json"))
    assert shown["declared_facts"] == {} and all(v["adaptation"]["stage"] >= 2 for v in shown["variants"])


def test_gate_failure_exits_1(built_digits, tmp_path, store):
    recipe = yaml.safe_load(RECIPE.read_text())
    recipe["gates"] = {"p90_ms": 0.000001}
    path = tmp_path / "strict.yaml"
    path.write_text(yaml.safe_dump(recipe))
    proc = cli("deploy", path, "--store", store, "--json", "--variant", "fp32", *FAST)
    assert proc.returncode == 1, proc.stderr
    rep = as_json(proc)
    gate = [g for g in rep["variants"][0]["gates"] if g["name"] == "p90_ms"][0]
    assert gate["passed"] is False
    st = rep["variants"][0]["adaptation"]
    assert (st["stage"], st["next"]) == (1, "aligned") and st["reason"].startswith("p90_ms ")


def test_bad_recipe_exits_2_one_line_per_problem(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsource:\n  type: onnx\n  path: missing.onnx\nbogus: 1\nrun:\n  min_runs: -5\n")
    proc = cli("deploy", bad)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert any("bogus" in ln and "bad.yaml:5" in ln for ln in lines), lines
    assert all(ln.startswith("error: ") for ln in lines), lines


def test_yaml_syntax_error_exits_2(tmp_path):
    bad = tmp_path / "syntax.yaml"
    bad.write_text("name: x\nvariants: [a, b\n")
    proc = cli("build", bad)
    assert proc.returncode == 2 and "syntax.yaml:" in proc.stderr and "Traceback" not in proc.stderr


def test_unknown_device_and_missing_recipe_exit_2(tmp_path):
    proc = cli("deploy", RECIPE, "--device", "nope")
    assert proc.returncode == 2 and "nope" in proc.stderr and "local" in proc.stderr
    proc = cli("deploy", tmp_path / "absent.yaml")
    assert proc.returncode == 2 and "absent.yaml" in proc.stderr


def test_help_is_fast_path():
    proc = cli("--help")
    assert proc.returncode == 0 and "deploy" in proc.stdout


def test_devices_list_and_check_local(tmp_path):
    inv = tmp_path / "inv.yaml"
    inv.write_text("devices:\n  - name: pi5\n    ssh: pi@127.0.0.1:1\n    tags: [arm64]\n"
                   "    facts: {price_usd: 80, tdp_w: 12}\n")
    listed = as_json(cli("devices", "list", "--inventory", inv, "--json"))
    names = [d["name"] for d in listed]
    assert names == ["local", "pi5"] and listed[1]["facts"]["price_usd"] == 80
    assert "pi5" in cli("devices", "list", "--inventory", inv).stdout
    chk = cli("devices", "check", "local", "--json")
    assert chk.returncode == 0, chk.stderr
    rep = as_json(chk)
    assert rep["ready"] is True and {f["item"] for f in rep["findings"]} >= {"python", "numpy", "onnxruntime"}


def test_unreachable_board_exits_3(tmp_path):
    inv = tmp_path / "inv.yaml"
    inv.write_text("devices:\n  - name: gone\n    ssh: nobody@127.0.0.1:1\n    timeouts: {connect: 3}\n")
    proc = cli("devices", "check", "gone", "--inventory", inv)
    assert proc.returncode == 3 and "gone" in proc.stderr and "Traceback" not in proc.stderr


def test_a_leased_board_stops_a_no_wait_deploy_and_holds_a_waiting_one(built_digits, store):
    """The desk deploy takes the board's lease: --no-wait says who holds it (exit 3, nothing
    stored); the default waits, says so, and runs once the holder lets go."""
    import threading

    from edgeeval.store.leases import acquire
    from edgeeval.store.store import Store

    url = f"sqlite:///{store}"
    with Store(url) as st:
        lease = acquire(st.engine, "local", purpose="farm", job="nightly", ttl_s=60)
        try:
            proc = cli("deploy", RECIPE, "--store", store, "--variant", "fp32", "--no-wait", *FAST)
            assert proc.returncode == 3, proc.stderr
            assert "in use" in proc.stderr and f"pid {os.getpid()} for farm (nightly)" in proc.stderr
            assert "Traceback" not in proc.stderr and st.list_runs() == []
            threading.Timer(3.0, lease.release).start()
            proc = cli("deploy", RECIPE, "--store", store, "--variant", "fp32", "--json", *FAST)
        finally:
            lease.release()
        assert proc.returncode == 0, proc.stderr
        assert "waiting for the board: leased by" in proc.stderr
        assert len(st.list_runs()) == 1


def test_devices_calibrate_local_stores_the_boards_noise(built_digits, store):
    """An A/A calibration on `local`: three back-to-back runs stored, the spread per metric stored,
    and `results compare` of two of them then carries that run-to-run noise."""
    proc = cli("devices", "calibrate", "local", "--recipe", RECIPE, "--runs", "3", "-v", "fp32", "--store", store,
               "--json", *FAST)
    assert proc.returncode == 0, proc.stderr
    doc = as_json(proc)
    assert len(doc["run_ids"]) == 3 and [c["variant"] for c in doc["calibrations"]] == ["fp32"]
    p90 = doc["calibrations"][0]["metrics"]["p90_ms"]
    assert len(p90["values"]) == 3 and p90["cv_total"] >= p90["cv_run"] >= 0 and p90["mde_pct"] > 0
    proc = cli("results", "compare", doc["run_ids"][0], doc["run_ids"][2], "--store", store, "--json")
    assert proc.returncode in (0, 1), proc.stderr
    row = as_json(proc)["variants"][0]
    assert row["calibration"]["match"] == "this job" and row["run_cv"]["p90_ms"] == p90["cv_run"]
    proc = cli("devices", "calibrate", "local", "--recipe", RECIPE, "--runs", "2", "--store", store)
    assert proc.returncode == 2 and "--runs" in proc.stderr
