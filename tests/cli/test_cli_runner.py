"""The CLI's parsing and exit codes, in process (typer's CliRunner): a user's mistake is exit 2 with
one line naming the problem and the fix, never a traceback. The subprocess end-to-end tests in
tests/integration run the same commands as a user's shell does."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from edgeeval.cli.main import app


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EDGEEVAL_STORE", str(tmp_path / "results.db"))
    runner = CliRunner()

    def invoke(*args):
        res = runner.invoke(app, list(args), catch_exceptions=False)
        assert "Traceback" not in res.output
        return res
    return invoke


def test_help_and_version_exit_0(run):
    assert run("--help").exit_code == 0
    res = run("deploy", "--help")
    assert res.exit_code == 0 and "--scenario" in res.output and "--profile" in res.output


def test_no_command_prints_usage(run):
    res = run()
    assert res.exit_code in (0, 2) and "Usage" in res.output


@pytest.mark.parametrize("args, expect", [
    (["deploy", "nope.yaml"], "nope.yaml"),
    (["build", "nope.yaml"], "nope.yaml"),
    (["deploy", "--min-runs", "0", "r.yaml"], "--min-runs"),
    (["deploy", "--scenario", "offlin", "r.yaml"], "offline"),
    (["deploy", "--profile", "fast", "r.yaml"], "quick, standard, rigorous"),
    (["init", "m.onnx", "--dim", "seq"], "--dim 'seq'"),
    (["results", "show", "999"], "999"),
    (["frobnicate"], "frobnicate"),
])
def test_a_users_mistake_is_exit_2_with_the_fix(run, tmp_path, args, expect):
    (tmp_path / "r.yaml").write_text("name: r\n")
    res = run(*args)
    assert res.exit_code == 2, res.output
    assert expect in res.output


def test_bad_inventory_names_file_and_line(run, tmp_path):
    inv = tmp_path / "devices.yaml"
    inv.write_text("devices:\n  - name: pi\n    ssh: pi@127.0.0.1:22\n    colour: red\n")
    res = run("devices", "list", "--inventory", str(inv))
    assert res.exit_code == 2
    assert f"{inv}:4" in res.output and "colour" in res.output


def test_unknown_device_lists_the_known_ones(run, tmp_path):
    inv = tmp_path / "devices.yaml"
    inv.write_text("devices:\n  - name: pi\n    ssh: pi@127.0.0.1:22\n")
    res = run("devices", "check", "jetson", "--inventory", str(inv))
    assert res.exit_code == 2 and "pi" in res.output
