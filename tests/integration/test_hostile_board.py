"""A board is untrusted input: a tampered agent's output is a device fault (exit 3), never a hang,
a crash or a stored PASS; the run ends as device_error and no planted secret reaches the store.

The board is `local` with its `python:` replaced by edgeeval/testing/hostile.py, which runs the
real agent and rewrites its events by one rule per case.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
from pathlib import Path

import pytest
import yaml

from edgeeval.testing.hostile import PLANTED_SECRET, write_wrapper

from .conftest import RECIPE, as_json, cli

FAST = ["--min-runs", "20", "--min-seconds", "0.02", "--warmup", "1", "--variant", "fp32", "--max-seconds", "2"]

# rule -> (expected exit code, words the message must hold)
CASES = {
    "huge-error": (3, "line of more than 1,048,576 bytes"),
    "big-error": (3, "RuntimeError: failed with password=[scrubbed]"),
    "endless-progress": (3, "events for one job; stopped it"),   # 2,000 + 20 per second of the deadline
    "slow-progress": (3, "ran past its deadline"),
    "huge-line": (3, "line of more than 1,048,576 bytes"),
    "huge-event": (3, "line of more than 1,048,576 bytes"),
    "negative-latency": (3, "latencies_ns[0]"),
    "nan-latency": (3, "malformed protocol line (ValueError: non-finite number NaN"),
    "huge-latency": (3, "latencies_ns[0]"),
    "absurd-latency": (3, "latencies_ns[0]"),
    "huge-rss": (3, "peak_rss_kb"),
    "absurd-rss": (3, "peak_rss_kb"),
    "absurd-load": (3, "load_ms"),
    "string-latencies": (3, "latencies_ns: str where a list"),
    "wrong-outputs-sha": (3, "not the 0000000000000000"),
    "second-result": (3, "second result"),
}


def _inventory(tmp_path, rule: str, margin: float = 600.0):
    python = write_wrapper(tmp_path / f"python-{rule}", rule)
    inv = tmp_path / "inv.yaml"
    inv.write_text(f"devices:\n  - name: local\n    python: {python}\n    timeouts: {{job_margin: {margin}}}\n")
    return inv


@pytest.mark.parametrize("rule", list(CASES))
def test_a_tampered_result_is_a_device_fault(built_digits, tmp_path, rule):
    code, words = CASES[rule]
    # endless progress: the deadline is the job's own limits twice over plus the margin; 5 s here
    inv = _inventory(tmp_path, rule, margin=5.0 if rule.endswith("-progress") else 600.0)
    store = tmp_path / "r.db"
    recipe = RECIPE
    if rule == "slow-progress":   # the deadline: 2 x (warmup bound 1 s + max_seconds 2 s) + margin 5 s = 11 s
        data = yaml.safe_load(RECIPE.read_text())
        data["run"]["warmup_max_seconds"] = 1
        recipe = tmp_path / "digits.yaml"
        recipe.write_text(yaml.safe_dump(data))
    t0 = time.monotonic()
    proc = cli("deploy", recipe, "--inventory", inv, "--store", store, *FAST, timeout=120)
    seconds = time.monotonic() - t0
    assert proc.returncode == code, (proc.returncode, proc.stderr[-2000:])
    assert words in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    assert len(proc.stderr) < 20_000                       # a 10 MB message is cut, not echoed
    assert seconds < 60, seconds
    run = as_json(cli("results", "show", "1", "--store", store, "--json"))
    assert run["status"] == "device_error" and run["variants"] == []   # nothing of the variant stored
    raw = store.read_bytes()
    assert PLANTED_SECRET.encode() not in raw


def test_the_planted_secret_never_reaches_store_json_or_stderr(built_digits, tmp_path):
    inv = _inventory(tmp_path, "big-error")
    store = tmp_path / "r.db"
    proc = cli("deploy", RECIPE, "--inventory", inv, "--store", store, "--json", *FAST)
    assert proc.returncode == 3
    assert PLANTED_SECRET not in proc.stderr and PLANTED_SECRET not in proc.stdout
    con = sqlite3.connect(store)
    dump = "\n".join(con.iterdump())
    assert PLANTED_SECRET not in dump and "[scrubbed]" in dump
    (error,) = con.execute("select error from runs").fetchone()
    assert len(error) < 10_000, len(error)


@pytest.mark.skipif(not os.environ.get("EDGEEVAL_TEST_PG_URL"), reason="set EDGEEVAL_TEST_PG_URL (.ci/run does)")
def test_the_planted_secret_never_reaches_the_postgresql_store(built_digits, tmp_path):
    from sqlalchemy import create_engine, text

    url = os.environ["EDGEEVAL_TEST_PG_URL"]
    inv = _inventory(tmp_path, "big-error")
    proc = cli("deploy", RECIPE, "--inventory", inv, "--store", url, "--json", *FAST)
    assert proc.returncode == 3, proc.stderr
    run_id = json.loads(proc.stdout)["run_id"]
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as con:
        rows = [*con.execute(text("select * from runs where id = :i"), {"i": run_id}),
                *con.execute(text("select * from variant_results where run_id = :i"), {"i": run_id})]
    engine.dispose()
    dump = "\n".join(map(str, rows))
    assert rows and "device_error" in dump and "[scrubbed]" in dump
    assert PLANTED_SECRET not in dump


def test_a_suspicious_wall_time_is_flagged_not_passed_silently(built_digits, tmp_path):
    inv = _inventory(tmp_path, "tiny-wall")
    store = tmp_path / "r.db"
    proc = cli("deploy", RECIPE, "--inventory", inv, "--store", store, *FAST)
    assert proc.returncode == 0, proc.stderr
    assert "SUSPICIOUS result from the board: timed_wall_s 1e-09 s is shorter" in proc.stdout, proc.stdout
    v = as_json(cli("results", "show", "1", "--store", store, "--json"))["variants"][0]
    assert v["suspicious"] and "timed_wall_s" in v["suspicious"][0]


def test_non_protocol_stdout_is_ignored(built_digits, tmp_path):
    inv = _inventory(tmp_path, "garbage-stdout")
    proc = cli("deploy", RECIPE, "--inventory", inv, "--store", tmp_path / "r.db", "--json", *FAST)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["variants"][0]["status"] == "ok"


def test_a_model_swapped_on_the_board_is_never_measured(built_digits, tmp_path):
    inv = _inventory(tmp_path, "swap-model")
    honest = tmp_path / "honest.yaml"          # the same board (same workdir), its python unaltered
    honest.write_text(inv.read_text().replace(str(tmp_path / "python-swap-model"), sys.executable))
    store = tmp_path / "r.db"
    assert cli("deploy", RECIPE, "--inventory", honest, "--store", store, *FAST).returncode == 0   # cached now
    proc = cli("deploy", RECIPE, "--inventory", inv, "--store", store, *FAST)
    assert proc.returncode == 3, proc.stderr
    assert "FileMismatchError" in proc.stderr and "changed on the board after it was pushed" in proc.stderr
    # the agent removed the wrong file: the honest board's next deploy pushes it again and measures
    proc = cli("deploy", RECIPE, "--inventory", honest, "--store", store, "--json", *FAST)
    assert proc.returncode == 0, proc.stderr
    rep = as_json(proc)
    assert rep["push"]["files"] - rep["push"]["skipped"] == 1     # the model, nothing else


@pytest.mark.sshd
@pytest.mark.parametrize("rule", list(CASES))
def test_the_same_over_a_real_sshd_board(sshd_lab, built_digits, tmp_path, rule):
    """Every case again through the SSH transport (its own channel pump, the same splitter and deadline)."""
    words = CASES[rule][1]
    board = sshd_lab.start_board(f"hostile-{rule}")
    try:
        wrapper = write_wrapper(Path(board.board_dir) / "hostile-python", rule, python=sshd_lab.board_python)
        os.chmod(wrapper, 0o755)
        margin = 5 if rule.endswith("-progress") else 600
        inv = sshd_lab.inventory(tmp_path / "inv.yaml", [board], python=str(wrapper), timeouts={"job_margin": margin})
        recipe = RECIPE
        if rule == "slow-progress":
            data = yaml.safe_load(RECIPE.read_text())
            data["run"]["warmup_max_seconds"] = 1
            recipe = tmp_path / "digits.yaml"
            recipe.write_text(yaml.safe_dump(data))
        store = tmp_path / "r.db"
        t0 = time.monotonic()
        proc = cli("deploy", recipe, "--device", board.name, "--inventory", inv, "--store", store, *FAST,
                   timeout=120)
        assert proc.returncode == 3, proc.stderr[-2000:]
        assert words in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-2000:]
        assert time.monotonic() - t0 < 60
        assert PLANTED_SECRET.encode() not in store.read_bytes()
        assert as_json(cli("results", "show", "1", "--store", store, "--json"))["status"] == "device_error"
    finally:
        sshd_lab.remove(board)
