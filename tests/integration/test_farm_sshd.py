"""`edgeeval farm` against real sshd boards: boards in parallel, one job per board at a time (a desk
deploy included), resume, quarantine with pool jobs moving, a board killed mid-job, a controller
SIGKILLed mid-campaign. Every check reads the real SQLite store the CLI wrote."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml

from .conftest import RECIPE, ROOT, as_json, cli

pytestmark = pytest.mark.sshd

TIMING = {"min_runs": 30, "min_seconds": 0.5, "warmup": 2}


def boards(lab, n: int, tag: str):
    return [lab.start_board(f"{tag}{i}") for i in range(n)]


def write_plan(tmp_path: Path, matrix: list[dict], **top) -> Path:
    doc = {"name": "farmtest", "retries": 1, "lease_ttl_s": 6, **top,
           "matrix": [{"recipe": str(RECIPE), "timing": TIMING, **m} for m in matrix]}
    p = tmp_path / "plan.yaml"
    p.write_text(yaml.safe_dump(doc, sort_keys=False))
    return p


def query(store: Path, sql: str, *args) -> list[tuple]:
    con = sqlite3.connect(store, timeout=30)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def poll(store: Path, sql: str, *args) -> list[tuple]:
    """query() while another process may still be creating the store's tables."""
    try:
        return query(store, sql, *args) if store.exists() else []
    except sqlite3.OperationalError:
        return []


def popen(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "edgeeval", *map(str, args)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(pred, timeout: float, what: str, proc: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"{what}: the process ended first (rc {proc.returncode}):\n{err[-3000:]}")
        time.sleep(0.1)
    pytest.fail(f"{what}: not within {timeout} s")


def intervals(store: Path) -> dict[str, list[tuple[str, str]]]:
    """Per board, the measurements' spans (a variant's run on the board, from its start to the end
    of the board's part; a farm job is evaluated and stored after that, off the board)."""
    out: dict[str, list] = {}
    for dev, start, end in query(store, "SELECT r.device_name, v.started_at, v.finished_at FROM variant_results v "
                                        "JOIN runs r ON r.id = v.run_id ORDER BY v.started_at"):
        out.setdefault(dev, []).append((start, end))
    return out


def assert_never_two_on_one_board(store: Path) -> None:
    for dev, spans in intervals(store).items():
        for (s0, e0), (s1, e1) in zip(spans, spans[1:]):
            assert e0 is not None and e0 <= s1, f"{dev}: a measurement from {s1} began before the one from {s0} " \
                                                f"ended ({e0})"


def test_a_plan_runs_boards_in_parallel_never_two_jobs_on_one_board_and_resumes(
        sshd_lab, built_digits, tmp_path, store):
    lab = boards(sshd_lab, 3, f"par{uuid.uuid4().hex[:4]}-")
    inv = sshd_lab.inventory(tmp_path / "inv.yaml", lab, tags=["lab"])
    plan = write_plan(tmp_path, [{"variants": ["fp32", "int8-static"], "devices": ["tag:lab"]}])
    # an engineer's desk deploy holds the first board when the nightly starts
    desk = popen("deploy", RECIPE, "-d", lab[0].name, "-i", inv, "--store", store, "-v", "fp32",
                 "--min-runs", "30", "--min-seconds", "3", "--warmup", "2", "--json")
    wait_for(lambda: poll(store, "SELECT 1 FROM board_leases WHERE device_name = ?", lab[0].name),
             120, "the desk deploy leases its board", desk)
    proc = cli("farm", "run", plan, "-i", inv, "--store", store, "--json")
    desk_out, desk_err = desk.communicate(timeout=120)
    assert desk.returncode == 0, desk_err
    assert proc.returncode == 0, proc.stderr
    res = as_json(proc)
    assert res["counts"] == {"ok": 6} and res["exit_code"] == 0
    per_board = {}
    for j in res["jobs"]:
        assert j["status"] == "ok" and j["run_id"] and j["headline"]["p50_ms"] > 0 and j["attempts"] == 1
        per_board.setdefault(j["device"], []).append(j["variant"])
    assert {b: sorted(v) for b, v in per_board.items()} == {b.name: ["fp32", "int8-static"] for b in lab}
    assert "waiting for the board: leased by" in proc.stderr and "for deploy" in proc.stderr
    assert_never_two_on_one_board(store)
    # the boards worked at the same time: some farm runs on different boards overlap
    farm = query(store, "SELECT device_name, created_at, finished_at FROM runs WHERE command = 'farm'")
    assert len(farm) == 6
    overlap = any(a[0] != b[0] and a[1] < b[2] and b[1] < a[2] for a in farm for b in farm)
    assert overlap, farm
    # each board was health-checked once, and its band recorded
    health = query(store, "SELECT device_name, state, band_p50_ms, jobs_since_check FROM board_health")
    assert sorted(h[0] for h in health) == sorted(b.name for b in lab)
    assert all(h[1] == "healthy" and h[2] > 0 and h[3] == 2 for h in health), health
    # run it again: the same campaign, nothing measured twice
    again = cli("farm", "run", plan, "-i", inv, "--store", store, "--json")
    assert again.returncode == 0, again.stderr
    res2 = as_json(again)
    assert all(j["earlier"] and j["status"] == "ok" for j in res2["jobs"]) and res2["campaign"] == res["campaign"]
    assert [j["run_id"] for j in res2["jobs"]] == [j["run_id"] for j in res["jobs"]]
    assert len(query(store, "SELECT id FROM runs WHERE command = 'farm'")) == 6
    status = as_json(cli("farm", "status", "-i", inv, "--store", store, "--json"))
    assert {b["board"]: b["state"] for b in status["boards"] if b["board"] != "local"} == {b.name: "free" for b in lab}
    assert [j["status"] for j in status["jobs"]] == ["ok"] * 6
    # the campaign's report from the store alone: a CSV row per job, every board and variant
    import csv

    rep = cli("report", "--campaign", res["campaign"], "--store", store, "-o", tmp_path / "campaign.csv")
    assert rep.returncode == 0, rep.stderr
    rows = list(csv.DictReader((tmp_path / "campaign.csv").open()))
    assert sorted((r["device"], r["variant"]) for r in rows) == sorted((b.name, v) for b in lab for v in ("fp32", "int8-static"))
    assert all(r["campaign"] == res["campaign"] and r["stage"] in ("2", "3") for r in rows), rows
    for b in lab:
        sshd_lab.remove(b)


def test_a_quarantined_board_skips_its_jobs_and_its_pool_jobs_move(sshd_lab, built_digits, tmp_path, store):
    a, b = boards(sshd_lab, 2, f"q{uuid.uuid4().hex[:4]}-")
    inv = sshd_lab.inventory(tmp_path / "inv.yaml", [a, b], tags=["lab"])
    q = cli("devices", "quarantine", a.name, "--reason", "fan broken", "-i", inv, "--store", store)
    assert q.returncode == 0, q.stderr
    plan = write_plan(tmp_path, [{"variants": ["fp32"], "devices": [a.name, b.name]},
                                 {"variants": ["int8-static"], "any_of": ["tag:lab"]}])
    proc = cli("farm", "run", plan, "-i", inv, "--store", store, "--json")
    assert proc.returncode == 3, proc.stderr
    jobs = {(j["variant"], j["selector"]): j for j in as_json(proc)["jobs"]}
    skipped = jobs[("fp32", a.name)]
    assert skipped["status"] == "skipped" and "fan broken" in skipped["reason"] and skipped["run_id"] is None
    assert jobs[("fp32", b.name)]["status"] == "ok"
    pool = jobs[("int8-static", "any_of:tag:lab")]
    assert pool["status"] == "ok" and pool["device"] == b.name
    status = as_json(cli("farm", "status", "-i", inv, "--store", store, "--json"))
    qa = next(x for x in status["boards"] if x["board"] == a.name)
    assert qa["state"] == "quarantined" and "fan broken" in qa["health"]
    assert next(j for j in status["jobs"] if j["selector"] == a.name)["status"] == "skipped"
    # a person brings it back: a health check runs and passes
    r = cli("devices", "restore", a.name, "-i", inv, "--store", store)
    assert r.returncode == 0 and "health check passed" in r.stdout, r.stderr
    again = cli("farm", "run", plan, "-i", inv, "--store", store, "--json")
    assert again.returncode == 0, again.stderr
    jobs2 = {(j["variant"], j["selector"]): j for j in as_json(again)["jobs"]}
    assert jobs2[("fp32", a.name)]["status"] == "ok" and not jobs2[("fp32", a.name)]["earlier"]
    assert jobs2[("fp32", b.name)]["earlier"] and jobs2[("int8-static", "any_of:tag:lab")]["earlier"]
    sshd_lab.remove(a)
    sshd_lab.remove(b)


def test_a_board_killed_mid_job_is_quarantined_the_other_finishes_and_resume_completes(
        sshd_lab, built_digits, tmp_path, store):
    a, b = boards(sshd_lab, 2, f"k{uuid.uuid4().hex[:4]}-")
    inv = sshd_lab.inventory(tmp_path / "inv.yaml", [a, b], tags=["lab"],
                             timeouts={"connect": 3, "banner": 3, "auth": 3, "user_timeout_ms": 3000})
    plan = write_plan(tmp_path, [{"variants": ["fp32", "fp16"], "devices": ["tag:lab"],
                                  "timing": {"min_runs": 30, "min_seconds": 2.0, "warmup": 2}}])
    proc = popen("farm", "run", plan, "-i", inv, "--store", store, "--json")
    wait_for(lambda: poll(store, "SELECT 1 FROM runs WHERE device_name = ? AND status = 'running'", a.name), 180, "a job runs on the first board", proc)
    time.sleep(1.0)                       # inside the timed phase
    a.kill()
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 3, err
    res = json.loads(out)
    on_a = [j for j in res["jobs"] if j["selector"] == a.name]
    on_b = [j for j in res["jobs"] if j["selector"] == b.name]
    assert [j["status"] for j in on_b] == ["ok", "ok"]
    assert all(j["status"] in ("skipped", "device_error") for j in on_a), on_a
    assert any("quarantined" in (j["reason"] or "") for j in on_a), on_a
    assert f"{a.name}: out of service" in err
    health = dict(query(store, "SELECT device_name, state FROM board_health"))
    assert health[a.name] == "quarantined" and health[b.name] == "healthy"
    # the board comes back; a person restores it; the campaign completes on resume
    a.start()
    r = cli("devices", "restore", a.name, "-i", inv, "--store", store)
    assert r.returncode == 0, r.stderr
    again = cli("farm", "resume", res["campaign"], "-i", inv, "--store", store, "--json")
    assert again.returncode == 0, again.stderr
    assert {j["status"] for j in as_json(again)["jobs"]} == {"ok"}
    # every job stored exactly once as a finished variant; the killed run says device_error
    rows = query(store, "SELECT r.device_name, v.name FROM variant_results v JOIN runs r ON r.id = v.run_id "
                        "WHERE r.command = 'farm'")
    assert sorted(rows) == sorted((d.name, v) for d in (a, b) for v in ("fp32", "fp16"))
    assert query(store, "SELECT count(*) FROM runs WHERE device_name = ? AND status = 'device_error'", a.name)[0][0] >= 1
    assert_never_two_on_one_board(store)
    sshd_lab.remove(a)
    sshd_lab.remove(b)


def _events_with_slow_settle(plan_path: Path, inv: Path | None, store: Path, hold_s: float) -> list[tuple]:
    """Run a plan in this process; the first stored variant's notice sleeps `hold_s` (a slow
    evaluation or store). Returns (monotonic time, board, kind, job) per event."""
    import threading

    from edgeeval.farm.plan import load_plan
    from edgeeval.farm.runner import FarmRun

    events: list[tuple] = []
    lock = threading.Lock()
    first = threading.Event()

    def notify(board, kind, data):
        with lock:
            events.append((time.monotonic(), board, kind, data.get("job") or data.get("variant")))
        if kind == "variant_done" and not first.is_set():
            first.set()
            time.sleep(hold_s)

    res = FarmRun(load_plan(plan_path, inv), store_url=f"sqlite:///{store}", notify=notify).run()
    assert res.exit_code == 0 and res.by_status() == {"ok": 2}, [(o.status, o.reason) for o in res.outcomes]
    return events


def _job_events(events: list[tuple], kind: str) -> list[float]:
    return [t for t, _, k, _ in events if k == kind]


def test_a_remote_board_measures_its_next_job_while_the_last_is_stored(sshd_lab, built_digits, tmp_path, store):
    (a,) = boards(sshd_lab, 1, f"st{uuid.uuid4().hex[:4]}-")
    inv = sshd_lab.inventory(tmp_path / "inv.yaml", [a])
    plan = write_plan(tmp_path, [{"variants": ["fp32", "int8-static"], "devices": [a.name]}],
                      health={"enabled": False})
    events = _events_with_slow_settle(plan, inv, store, hold_s=4.0)
    starts, done = _job_events(events, "job_start"), _job_events(events, "job_done")
    assert len(starts) == 2 and len(done) == 2
    assert starts[1] < done[0], "the board waited for the first job's evaluation and store"
    # both stored, and the two measurements on the board still never overlap
    assert sorted(r[0] for r in query(store, "SELECT v.name FROM variant_results v JOIN runs r ON r.id = v.run_id "
                                             "WHERE r.status = 'ok'")) == ["fp32", "int8-static"]
    assert_never_two_on_one_board(store)


def test_on_the_controllers_own_machine_the_next_job_waits_for_the_store(built_digits, tmp_path, store):
    """`local` is the controller itself: storing beside its next measurement would disturb it."""
    plan = write_plan(tmp_path, [{"variants": ["fp32", "int8-static"], "devices": ["local"]}],
                      health={"enabled": False})
    events = _events_with_slow_settle(plan, None, store, hold_s=1.0)
    starts, done = _job_events(events, "job_start"), _job_events(events, "job_done")
    assert len(starts) == 2 and len(done) == 2 and done[0] < starts[1]


def test_a_controller_killed_mid_campaign_loses_at_most_the_job_in_flight(sshd_lab, built_digits, tmp_path, store):
    (a,) = boards(sshd_lab, 1, f"c{uuid.uuid4().hex[:4]}-")
    inv = sshd_lab.inventory(tmp_path / "inv.yaml", [a])
    plan = write_plan(tmp_path, [{"variants": ["fp32", "fp16", "int8-dynamic"], "devices": [a.name],
                                  "timing": {"min_runs": 30, "min_seconds": 1.5, "warmup": 2}}])
    proc = popen("farm", "run", plan, "-i", inv, "--store", store)
    wait_for(lambda: poll(store, "SELECT 1 FROM farm_jobs WHERE status = 'ok'")
             and poll(store, "SELECT 1 FROM runs WHERE command = 'farm' AND status = 'running'"),
             240, "one job done and the next running", proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert query(store, "PRAGMA integrity_check") == [("ok",)]
    # once the dead controller's lease expires (ttl 6 s) its job reads aborted
    def aborted():
        st = as_json(cli("farm", "status", "-i", inv, "--store", store, "--json"))
        return [j for j in st["jobs"] if j["status"] == "aborted"]
    got = wait_for(aborted, 30, "the job in flight reads aborted")
    assert "stopped holding the board's lease" in got[0]["reason"]
    done_before = {r[0] for r in query(store, "SELECT job_key FROM farm_jobs WHERE status = 'ok'")}
    campaign = query(store, "SELECT name FROM farm_campaigns")[0][0]
    again = cli("farm", "resume", campaign, "-i", inv, "--store", store, "--json")
    assert again.returncode == 0, again.stderr
    res = as_json(again)
    assert {j["job_key"] for j in res["jobs"] if j["earlier"]} == done_before
    assert [j["status"] for j in res["jobs"]] == ["ok"] * 3
    variants = query(store, "SELECT v.name FROM variant_results v JOIN runs r ON r.id = v.run_id WHERE r.command='farm'")
    assert sorted(v[0] for v in variants) == ["fp16", "fp32", "int8-dynamic"]
    assert query(store, "PRAGMA integrity_check") == [("ok",)]
    sshd_lab.remove(a)
