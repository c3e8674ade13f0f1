"""TFLite variants of digits-cnn on a "legacy" sshd board: tflite-runtime 2.14 + numpy<2.

The inventory's `python:` selects the legacy venv (edgeeval.testing.sshd.legacy_tflite_python);
the other board's python has ai-edge-litert with numpy 2. Measured here: tflite-runtime 2.14 runs
fp32 and full-integer int8, and runs the dynamic-range int8 model *silently wrong* (the same output
for every input), so the accuracy gate must fail it (exit 1) while ai-edge-litert runs it correctly.
"""

from __future__ import annotations

import json

import pytest
import yaml

from .conftest import FAST, RECIPE, as_json, cli

pytestmark = [pytest.mark.sshd, pytest.mark.slow]   # real boards; builds real models

pytest.importorskip("litert_torch", reason="the tflite extra is not installed")
VARIANTS = [{"name": "fp32", "precision": "fp32"},
            {"name": "tflite-fp32", "format": "tflite", "precision": "fp32"},
            {"name": "tflite-int8", "format": "tflite", "precision": "int8"},
            {"name": "tflite-int8-dynamic", "format": "tflite", "precision": "int8-dynamic"}]


@pytest.fixture(scope="module")
def tflite_recipe(tmp_path_factory):
    d = yaml.safe_load(RECIPE.read_text())
    d["name"] = "digits-cnn-tflite"
    d["variants"] = VARIANTS
    d["run"]["runtime"]["tflite"] = {"num_threads": 1}
    path = tmp_path_factory.mktemp("recipe") / "digits-cnn-tflite.yaml"
    path.write_text(yaml.safe_dump(d, sort_keys=False))
    proc = cli("build", path, "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return path


def _deploy(recipe, board, inv, store, *variants):
    args = ["deploy", recipe, "--device", board.name, "--inventory", inv, "--store", store, "--json", *FAST]
    for v in variants:
        args += ["--variant", v]
    return cli(*args)


def test_legacy_board_runs_fp32_and_full_integer_int8(sshd_lab, two_boards, tflite_recipe, tmp_path):
    from edgeeval.testing.sshd import legacy_tflite_python

    board = two_boards[0]
    inv = sshd_lab.inventory(tmp_path / "inv.yaml", [board], python=legacy_tflite_python())
    proc = _deploy(tflite_recipe, board, inv, tmp_path / "r.db", "tflite-fp32", "tflite-int8")
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-2000:]
    by = {v["name"]: v for v in as_json(proc)["variants"]}
    for name in ("tflite-fp32", "tflite-int8"):
        v = by[name]
        assert v["accuracy"]["top1"] >= 0.9 and abs(v["accuracy"]["drop_pt"]) <= 1.0, v["accuracy"]
        assert v["runtime"]["name"] == "tflite" and v["runtime"]["providers_used"][0] == "tflite_runtime", v["runtime"]
    assert by["tflite-fp32"]["accuracy"]["drop_pt"] == 0.0   # the same fp32 function as the server baseline


def test_dynamic_range_int8_fails_the_gate_on_legacy_and_runs_on_litert(sshd_lab, two_boards, tflite_recipe,
                                                                       tmp_path):
    from edgeeval.testing.sshd import legacy_tflite_python

    legacy, litert = two_boards
    inv = sshd_lab.inventory(tmp_path / "legacy.yaml", [legacy], python=legacy_tflite_python())
    proc = _deploy(tflite_recipe, legacy, inv, tmp_path / "r.db", "tflite-int8-dynamic")
    if proc.returncode == 3:   # rejected (FULLY_CONNECTED v12): the explained message must reach the CLI
        assert "ai-edge-litert" in proc.stderr + proc.stdout, proc.stderr[-3000:]
    else:                      # measured here: runs, same output for every input -> the gate fails it
        assert proc.returncode == 1, proc.stderr[-3000:] + proc.stdout[-2000:]
        v = as_json(proc)["variants"][0]
        assert v["accuracy"]["drop_pt"] > 50, v["accuracy"]
    inv2 = sshd_lab.inventory(tmp_path / "litert.yaml", [litert])
    ok = _deploy(tflite_recipe, litert, inv2, tmp_path / "r.db", "tflite-int8-dynamic")
    assert ok.returncode == 0, ok.stderr[-3000:] + ok.stdout[-2000:]
    v = as_json(ok)["variants"][0]
    assert abs(v["accuracy"]["drop_pt"]) <= 1.0, v["accuracy"]


def test_devices_check_for_a_tflite_recipe_on_the_legacy_board(sshd_lab, two_boards, tflite_recipe, tmp_path):
    from edgeeval.testing.sshd import legacy_tflite_python

    board = two_boards[0]
    inv = sshd_lab.inventory(tmp_path / "inv.yaml", [board], python=legacy_tflite_python())
    d = yaml.safe_load(tflite_recipe.read_text())
    d["variants"] = [v for v in d["variants"] if v.get("format") == "tflite"]
    only_tflite = tmp_path / "only-tflite.yaml"
    only_tflite.write_text(yaml.safe_dump(d, sort_keys=False))
    # no recipe: ONNX Runtime is expected and missing on this board -> not ready (exit 3)
    plain = cli("devices", "check", board.name, "--inventory", inv, "--json")
    assert plain.returncode == 3
    # a TFLite-only recipe: ready, with tflite-runtime's dynamic-int8 trap as a warning
    proc = cli("devices", "check", board.name, "--inventory", inv, "--recipe", only_tflite, "--json")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rep = json.loads(proc.stdout)
    items = {f["item"]: f for f in rep["findings"]}
    assert rep["ready"] is True and "onnxruntime" not in items
    assert items["tflite interpreter"]["detail"].startswith("tflite_runtime")
    assert items["tflite_runtime + dynamic int8"]["status"] == "warning"
