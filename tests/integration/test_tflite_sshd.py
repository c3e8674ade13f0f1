"""TFLite (LiteRT) variants of digits-mobilenet built with litert-torch and run on a real sshd board.

The board python (edgeeval.testing.sshd.board_python) has ai-edge-litert with numpy 2. One
build of the whole recipe (ONNX + TFLite, the mobilenet trains in ~30 s) per session.
"""

from __future__ import annotations

import pytest

from .conftest import FAST, ROOT, as_json, cli

pytestmark = [pytest.mark.sshd, pytest.mark.slow]   # real boards; builds real models

pytest.importorskip("litert_torch", reason="the tflite extra is not installed")
RECIPE = ROOT / "recipes" / "digits-mobilenet.yaml"
TFLITE = ["tflite-fp32", "tflite-fp16", "tflite-int8"]


@pytest.fixture(scope="module")
def built_mobilenet():
    proc = cli("build", RECIPE, "--json")
    assert proc.returncode == 0, proc.stderr
    return as_json(proc)


def test_build_writes_tflite_variants_with_int8_io_parameters(built_mobilenet):
    by = {v["name"]: v for v in built_mobilenet["variants"]}
    assert set(TFLITE) <= set(by)
    for name in TFLITE:
        assert by[name]["path"].endswith(".tflite")
        assert by[name]["inputs"][0]["name"] == "input" and by[name]["outputs"][0]["name"] == "logits"
    q_in, q_out = by["tflite-int8"]["inputs"][0], by["tflite-int8"]["outputs"][0]
    assert q_in["dtype"] == "int8" and q_out["dtype"] == "int8"
    assert q_in["quantization"]["scale"] > 0 and isinstance(q_out["quantization"]["zero_point"], int)
    assert by["tflite-fp32"]["inputs"][0]["quantization"] is None
    again = as_json(cli("build", RECIPE, "--json", "--variant", "tflite-int8"))
    assert again["variants"][0]["cached"] is True and again["variants"][0]["sha256"] == by["tflite-int8"]["sha256"]


def test_tflite_variants_on_a_litert_board_with_loss_chain(sshd_lab, two_boards, built_mobilenet, tmp_path):
    board = two_boards[0]
    inv = sshd_lab.inventory(tmp_path / "inv.yaml", [board])
    args = ["deploy", RECIPE, "--device", board.name, "--inventory", inv, "--store", tmp_path / "r.db", "--json", *FAST]
    for name in TFLITE + ["int8-static"]:
        args += ["--variant", name]
    proc = cli(*args)
    assert proc.returncode == 0, proc.stderr + proc.stdout[-2000:]
    rep = as_json(proc)
    by = {v["name"]: v for v in rep["variants"]}
    for name in TFLITE:
        v = by[name]
        assert v["accuracy"]["top1"] >= 0.95 and abs(v["accuracy"]["drop_pt"]) <= 2.0, v["accuracy"]
        lc = v["loss_chain"]
        # the board runs the same file as the controller: no device loss
        assert lc["device_drop_pt"] == 0.0 and lc["device_fidelity"]["top1_agreement"] == 1.0
        assert lc["device_loss_flag"] is False
    int8 = by["tflite-int8"]
    # outputs were dequantized: float logits close to the fp32 baseline, not int8 codes
    assert int8["fidelity"]["primary"]["cosine_mean"] > 0.98
    assert int8["fidelity"]["primary"]["max_abs_error"] < 20.0   # int8 codes would be off by ~100
    assert by["int8-static"]["loss_chain"]["quantization_drop_pt"] is not None
    text = cli("results", "show", rep["run_id"], "--store", tmp_path / "r.db")
    assert text.returncode == 0

