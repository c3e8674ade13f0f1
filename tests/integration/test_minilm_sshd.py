"""all-MiniLM-L6-v2 deployed to a real sshd board (unprivileged user, numpy + onnxruntime only)."""

from __future__ import annotations

import pytest

from .conftest import ROOT, as_json, cli

pytestmark = [pytest.mark.sshd, pytest.mark.slow]   # real boards; builds real models

pytest.importorskip("optimum.onnxruntime", reason="needs the hf extra: pip install -e '.[hf]'")

MINILM = ROOT / "recipes" / "minilm-embeddings.yaml"
SHORT = ["--min-runs", "20", "--min-seconds", "0.2", "--warmup", "2"]


def test_minilm_on_an_sshd_board(sshd_lab, two_boards, tmp_path, store):
    board = two_boards[0]
    inv = sshd_lab.inventory(tmp_path / "inv.yaml", [board])
    proc = cli("deploy", MINILM, "--device", board.name, "--inventory", inv, "--store", store, "--json", *SHORT)
    rep = as_json(proc)
    assert rep["device"] == board.name and rep["error"] is None, proc.stderr
    assert rep["device_facts"]["cpu"]["flags"] or rep["device_facts"]["cpu"]["flags_reason"]
    v = {x["name"]: x for x in rep["variants"]}
    assert set(v) == {"fp32", "int8"}
    int8 = v["int8"]["embeddings"]
    assert int8["cosine_mean"] >= 0.985, int8
    assert int8["retrieval"]["top1_agreement"] is not None and int8["retrieval"]["topk_overlap"] >= 0.8
    assert v["fp32"]["embeddings"]["cosine_min"] > 0.99999
    assert v["int8"]["latency"]["n"] >= 20
    names = {p.name for p in (board.board_dir / "cache").iterdir()}
    assert f"{v['int8']['model_sha256']}.onnx" in names
