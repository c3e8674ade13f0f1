"""The real SmolLM2-135M recipe on a real sshd board whose python has numpy and onnxruntime but no
llama.cpp: the GGUF variant is skipped with the reason and the install line, the others run; asked
for the GGUF alone, the deploy is a board fault with nothing measured."""

from __future__ import annotations

import pytest

from .conftest import as_json, cli
from .test_smollm2_local import short_recipe

pytestmark = [pytest.mark.slow, pytest.mark.sshd]


def test_a_board_without_llama_cpp_skips_the_gguf_and_runs_the_rest(sshd_lab, two_boards, tmp_path, store):
    board = two_boards[0]
    inv = sshd_lab.inventory(tmp_path / "inv.yaml", [board])
    recipe = short_recipe(tmp_path)
    proc = cli("deploy", recipe, "-d", board.name, "-i", inv, "--store", store, "-v", "int4", "-v", "q4_1", "--json",
               timeout=1500)
    assert proc.returncode == 0, proc.stderr
    rep = as_json(proc)
    assert [v["name"] for v in rep["variants"]] == ["int4"] and rep["variants"][0]["status"] == "ok"
    assert "q4_1: skipped: the board has no llama_cpp" in proc.stderr, proc.stderr
    stored = as_json(cli("results", "show", str(rep["run_id"]), "--store", store, "--json"))
    why = stored["settings"]["skipped_variants"]["q4_1"]
    assert "-m pip install llama-cpp-python" in why
    names = {p.name for p in (board.board_dir / "cache").iterdir()}
    assert not any(n.endswith(".gguf") for n in names)          # nothing pushed for what cannot run
    # the GGUF alone: nothing this board can run — a board fault (exit 3), no variant stored
    only = cli("deploy", recipe, "-d", board.name, "-i", inv, "--store", store, "-v", "q4_1", "--json", timeout=900)
    assert only.returncode == 3, only.stderr
    assert "can run none of the selected variants" in only.stderr and "llama-cpp-python" in only.stderr


def test_a_farm_job_for_the_gguf_on_a_board_without_llama_cpp_is_skipped_not_retried(sshd_lab, two_boards, tmp_path,
                                                                                      store):
    import yaml

    board = two_boards[0]
    inv = sshd_lab.inventory(tmp_path / "inv.yaml", [board])
    recipe = short_recipe(tmp_path)
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({"name": "llm", "retries": 2, "health": {"enabled": False},
                                    "matrix": [{"recipe": str(recipe), "variants": ["q4_1"], "devices": [board.name]}]}))
    proc = cli("farm", "run", plan, "-i", inv, "--store", store, "--json", timeout=1500)
    assert proc.returncode == 3, proc.stderr          # a job that could not run: the lab has something to fix
    (job,) = as_json(proc)["jobs"]
    assert job["status"] == "skipped" and job["attempts"] == 1, job      # nothing broke: not retried
    assert "llama_cpp" in job["reason"] and "llama-cpp-python" in job["reason"]
