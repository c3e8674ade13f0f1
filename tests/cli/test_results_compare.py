"""`edgeeval results compare` in process on a real SQLite store: exit 1 on a regression with a JUnit
failure, exit 2 with the fix for a user's mistake."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from edgeeval.cli.main import app
from tests.regress.conftest import put_run


@pytest.fixture
def env(tmp_path, monkeypatch):
    from edgeeval.store.store import Store

    db = tmp_path / "results.db"
    monkeypatch.setenv("EDGEEVAL_STORE", str(db))
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    with Store(f"sqlite:///{db}") as st:
        ids = [put_run(st, "r", "rpi5", seed=1), put_run(st, "r", "rpi5", scale=1.12, seed=2)]
    runner = CliRunner()

    def invoke(*args):
        res = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
        assert "Traceback" not in res.output
        return res
    return invoke, ids


def test_a_regression_exits_1_and_fails_its_testcase(env, tmp_path):
    run, (a, b) = env
    res = run("results", "compare", a, b, "--junit", tmp_path / "j.xml", "--markdown", tmp_path / "s.md")
    assert res.exit_code == 1, res.output
    assert "regressed" in res.output and "not calibrated" in res.output
    xml = (tmp_path / "j.xml").read_text()
    assert "<failure" in xml and "regressed: p50_ms ×1.1" in xml
    assert "| int8 | p90_ms |" in (tmp_path / "s.md").read_text()
    res = run("results", "compare", "--recipe", "r", "--device", "rpi5", "--threshold", "20")
    assert res.exit_code == 0, res.output          # 12% is below a 20% threshold: not a regression


@pytest.mark.parametrize("args, expect", [
    (["1"], "give two run ids"),
    (["--baseline", "yesterday", "--recipe", "r", "--device", "rpi5"], "--baseline 'yesterday'"),
    (["--candidate", "latest"], "needs --recipe NAME and --device NAME"),
    (["1", "99"], "run 99 is not in"),
    (["1", "2", "--variant", "fp16"], "variant fp16 is not in both runs"),
    (["1", "2", "--junit", "."], "is a folder"),
])
def test_mistakes_exit_2(env, args, expect):
    run, _ = env
    res = run("results", "compare", *args)
    assert res.exit_code == 2 and expect in res.output, res.output


def test_results_history_and_the_farm_nightly_hook(tmp_path, monkeypatch, capsys):
    """22 nights with an 8% step at night 20: `results history` draws it and exits 1; the farm's
    nightly hook fails the job that measured it in JUnit, and says a missing detector, never a pass."""
    import json

    import numpy as np

    from edgeeval.cireport.cases import farm_cases
    from edgeeval.cli.farm import nightly_regressions
    from edgeeval.store.store import Store

    db = tmp_path / "results.db"
    monkeypatch.setenv("EDGEEVAL_STORE", str(db))
    rng = np.random.default_rng(5)
    with Store(f"sqlite:///{db}") as st:
        ids = [put_run(st, "r", "rpi5", n=400, seed=i, scale=float(np.exp(rng.normal(0, 0.008))) * (1.08 if i >= 20 else 1))
               for i in range(22)]
    runner = CliRunner()
    res = runner.invoke(app, ["results", "history", "--recipe", "r", "--device", "rpi5", "--metric", "p50_ms"])
    assert res.exit_code == 1, res.output
    assert f"run {ids[20]}" in res.output and "regression" in res.output
    res = runner.invoke(app, ["results", "history", "--recipe", "r", "--device", "rpi5", "--json"])
    doc = json.loads(res.output)
    assert len(doc["variants"][0]["points"]) == 22 and doc["metric"] == "p90_ms"
    res = runner.invoke(app, ["results", "history", "--recipe", "r", "--device", "rpi5", "--metric", "p95"])
    assert res.exit_code == 2 and "use one of" in res.output

    jobs = [{"run_id": ids[-1], "status": "ok", "recipe": "r", "variant": "int8", "device": "rpi5", "headline": {}}]
    reg = nightly_regressions(f"sqlite:///{db}", jobs)
    assert reg[ids[-1]]["regressed"][0].startswith("p50_ms +")
    assert "REGRESSED r/int8 on rpi5" in capsys.readouterr().err
    (case,) = farm_cases({"jobs": jobs}, reg)
    assert case.outcome == "failure" and case.message.startswith("regressed: p50_ms +")
    monkeypatch.setitem(__import__("sys").modules, "otava.analysis", None)   # the detector not installed
    assert nightly_regressions(f"sqlite:///{db}", jobs) == {}
    assert "regression check skipped: change-point detection needs apache-otava" in capsys.readouterr().err
