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
