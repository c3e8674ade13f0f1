"""The farm on procrastinate: jobs queued in the real PostgreSQL server of .ci/run, run by two real
worker processes against real sshd boards; a worker SIGKILLed mid-job loses its lease and the job
completes on the other worker, stored exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
import yaml
from sqlalchemy import create_engine, text

from .conftest import RECIPE, ROOT, as_json, cli

PG_URL = os.environ.get("EDGEEVAL_TEST_PG_URL")
pytestmark = [pytest.mark.sshd, pytest.mark.skipif(not PG_URL, reason="set EDGEEVAL_TEST_PG_URL (a PostgreSQL server)")]


@pytest.fixture
def pg():
    pytest.importorskip("procrastinate")
    eng = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    with eng.begin() as conn:   # a queue left by an earlier, interrupted test run must not feed these workers
        if conn.execute(text("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")).scalar():
            conn.execute(text("DELETE FROM procrastinate_jobs WHERE queue_name = 'edgeeval-farm' "
                              "AND status IN ('todo', 'doing')"))
    yield eng
    eng.dispose()


def q(eng, sql: str, **kw) -> list:
    with eng.connect() as conn:
        return list(conn.execute(text(sql), kw))


def plan_file(tmp_path, name: str, boards: list[str], variants: list[str], min_seconds: float, **top):
    p = tmp_path / "plan.yaml"
    p.write_text(yaml.safe_dump({"name": name, "lease_ttl_s": 6, "retries": 1, **top, "matrix": [{
        "recipe": str(RECIPE), "variants": variants, "devices": boards,
        "timing": {"min_runs": 30, "min_seconds": min_seconds, "warmup": 2}}]}, sort_keys=False))
    return p


def worker(inv, *extra) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "edgeeval", "farm", "worker", "--queue", PG_URL, "-i", str(inv),
                             "--until-empty", *map(str, extra)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_two_workers_share_the_queue_and_never_measure_two_jobs_on_one_board(sshd_lab, built_digits, tmp_path, pg):
    tag = uuid.uuid4().hex[:6]
    boards = [sshd_lab.start_board(f"qw{tag}-{i}") for i in range(3)]
    inv = sshd_lab.inventory(tmp_path / "inv.yaml", boards)
    plan = plan_file(tmp_path, f"queue{tag}", [b.name for b in boards], ["fp32", "int8-static"], 0.5)
    first = cli("farm", "run", plan, "-i", inv, "--queue", PG_URL)
    assert first.returncode == 0 and "6 job(s) queued" in first.stderr, first.stderr
    again = cli("farm", "run", plan, "-i", inv, "--queue", PG_URL)     # the nightly deferred twice
    assert again.returncode == 0 and "0 job(s) queued" in again.stderr and "6 already queued" in again.stderr
    assert "edgeeval_test:edgeeval_test@" not in first.stderr + again.stderr     # no password in a log line
    w1, w2 = worker(inv, "--concurrency", "2", "--heartbeat", "1"), worker(inv, "--concurrency", "2", "--heartbeat", "1")
    for w in (w1, w2):
        out, err = w.communicate(timeout=600)
        assert w.returncode == 0, err[-3000:]
    campaign = f"queue{tag}-{time.strftime('%Y-%m-%d', time.gmtime())}"
    status = as_json(cli("farm", "status", campaign, "-i", inv, "--store", PG_URL, "--json"))
    assert [j["status"] for j in status["jobs"]] == ["ok"] * 6, status["jobs"]
    runs = q(pg, "SELECT r.device_name, r.created_at, r.finished_at, r.controller_pid FROM runs r "
                 "WHERE r.command = 'farm' AND r.device_name LIKE :p ORDER BY r.created_at", p=f"qw{tag}-%")
    assert len(runs) == 6
    assert len({r.controller_pid for r in runs}) == 2, "both workers ran jobs"
    for b in boards:
        spans = [(r.created_at, r.finished_at) for r in runs if r.device_name == b.name]
        assert len(spans) == 2 and spans[0][1] <= spans[1][0], (b.name, spans)
    variants = q(pg, "SELECT r.device_name, v.name FROM variant_results v JOIN runs r ON r.id = v.run_id "
                     "WHERE r.device_name LIKE :p", p=f"qw{tag}-%")
    assert sorted(variants) == sorted((b.name, v) for b in boards for v in ("fp32", "int8-static"))
    # secrets never reach the queue's rows: a job carries names and paths, no URL
    args = q(pg, "SELECT args::text AS a FROM procrastinate_jobs WHERE args->>'campaign' = :c", c=campaign)
    assert args and not any("edgeeval_test:" in a.a or "postgresql" in a.a for a in args)
    # resume through the queue: nothing left to do
    done = cli("farm", "run", plan, "-i", inv, "--queue", PG_URL, "--wait", "--json")
    assert done.returncode == 0 and "0 job(s) queued" in done.stderr and "6 finished earlier" in done.stderr
    assert json.loads(done.stdout)["exit_code"] == 0
    for b in boards:
        sshd_lab.remove(b)


def test_a_worker_killed_mid_job_loses_its_lease_and_the_job_completes_on_another(
        sshd_lab, built_digits, tmp_path, pg):
    tag = uuid.uuid4().hex[:6]
    board = sshd_lab.start_board(f"qk{tag}")
    inv = sshd_lab.inventory(tmp_path / "inv.yaml", [board])
    plan = plan_file(tmp_path, f"qkill{tag}", [board.name], ["fp32", "fp16"], 3.0)
    assert cli("farm", "run", plan, "-i", inv, "--queue", PG_URL).returncode == 0
    a = worker(inv, "--heartbeat", "1", "--stalled-after", "4")
    deadline = time.monotonic() + 240
    while not q(pg, "SELECT 1 FROM runs WHERE device_name = :d AND status = 'running'", d=board.name):
        assert time.monotonic() < deadline and a.poll() is None, a.stderr.read() if a.poll() is not None else "timeout"
        time.sleep(0.2)
    time.sleep(1.0)
    os.kill(a.pid, signal.SIGKILL)
    a.wait()
    b = worker(inv, "--heartbeat", "1", "--stalled-after", "4")
    out, err = b.communicate(timeout=600)
    assert b.returncode == 0, err[-3000:]
    assert "queued again" in err       # the dead worker's job was recovered
    campaign = f"qkill{tag}-{time.strftime('%Y-%m-%d', time.gmtime())}"
    status = as_json(cli("farm", "status", campaign, "-i", inv, "--store", PG_URL, "--json"))
    assert [j["status"] for j in status["jobs"]] == ["ok", "ok"], status["jobs"]
    variants = q(pg, "SELECT v.name FROM variant_results v JOIN runs r ON r.id = v.run_id WHERE r.device_name = :d",
                 d=board.name)
    assert sorted(v.name for v in variants) == ["fp16", "fp32"], "each job stored exactly once"
    runs = q(pg, "SELECT created_at, finished_at FROM runs WHERE device_name = :d AND finished_at IS NOT NULL "
                 "ORDER BY created_at", d=board.name)
    for (s0, e0), (s1, e1) in zip(runs, runs[1:]):
        assert e0 <= s1, "two measurements overlapped on one board"
    sshd_lab.remove(board)
