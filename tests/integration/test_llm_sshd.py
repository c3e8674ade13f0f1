"""A language model deployed to a real sshd board (unprivileged user, python3 + numpy + onnxruntime):
the tiny generated decoder's three variants, pushed, decoded with its KV cache, scored on the controller."""

from __future__ import annotations

import pytest

from edgeeval.testing import tinylm

from .conftest import as_json, cli

pytestmark = pytest.mark.sshd


def test_tiny_decoder_on_an_sshd_board(sshd_lab, two_boards, tmp_path, store):
    board = two_boards[0]
    inv = sshd_lab.inventory(tmp_path / "inv.yaml", [board])
    recipe = tinylm.write_recipe(tmp_path, extra="gates: {max_perplexity_increase_pct: 25, min_token_agreement: 0.5}\n")
    proc = cli("deploy", recipe, "--device", board.name, "--inventory", inv, "--store", store, "--json")
    assert proc.returncode == 0, proc.stderr
    rep = as_json(proc)
    assert rep["device"] == board.name and rep["error"] is None
    by = {v["name"]: v for v in rep["variants"]}
    assert sorted(by) == ["fp32", "int4", "int8"]
    for v in by.values():
        g = v["generate"]
        assert v["status"] == "ok" and v["passed"] is True
        assert g["decode_tokens_per_s"]["value"] > 0 and g["ttft"]["p50"] > 0 and g["tokens_generated"] == 48
        assert v["quality"]["token_agreement_positions"] == 48 and v["quality"]["perplexity"] > 1
    # the board's onnxruntime ran the same fp32 file as the controller's: the same scores
    assert abs(by["fp32"]["quality"]["perplexity_increase_pct"]) < 1e-3 and by["fp32"]["quality"]["token_agreement"] == 1
    names = {p.name for p in (board.board_dir / "cache").iterdir()}
    assert all(f"{v['model_sha256']}.onnx" in names for v in by.values())
    # a second deploy sends nothing: the board already holds every file under its sha256
    again = as_json(cli("deploy", recipe, "--device", board.name, "--inventory", inv, "--store", store, "--json"))
    assert again["push"]["bytes_sent"] == 0 and again["status"] == "ok"
