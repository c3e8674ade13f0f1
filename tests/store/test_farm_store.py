"""The farm's rows (campaigns, jobs, board health) on a real SQLite file and the real PostgreSQL."""

from __future__ import annotations

import os
import uuid

from edgeeval.store import farm as fs
from edgeeval.store.leases import acquire
from edgeeval.store.store import Store


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_jobs_are_made_once_per_key_and_finished_ones_are_kept(url):
    with Store(url) as st:
        name = _name("camp")
        cid, new = fs.open_campaign(st.engine, name, plan_name="p", plan_path="/x/p.yaml", plan_sha256="a" * 64)
        assert new
        jobs = [{"job_key": k * 64, "recipe_name": "r", "recipe_path": "r.yaml", "variant": v, "selector": "b"}
                for k, v in (("1", "fp32"), ("2", "int8"))]
        rows = fs.add_jobs(st.engine, cid, jobs)
        assert {r["status"] for r in rows.values()} == {"queued"}
        run_id = st.begin_run(command="farm", recipe_name="r", device_name="b")
        fs.start_job(st.engine, rows["1" * 64]["id"], "b")
        fs.finish_job(st.engine, rows["1" * 64]["id"], "ok", run_id=run_id, headline={"p50_ms": 1.5})
        again, new2 = fs.open_campaign(st.engine, name, plan_name="p", plan_path="/x/p.yaml", plan_sha256="b" * 64)
        assert again == cid and not new2
        rows = fs.add_jobs(st.engine, cid, jobs + [{**jobs[0], "job_key": "3" * 64}])
        assert len(rows) == 3
        assert fs.is_finished(rows["1" * 64]) and rows["1" * 64]["attempts"] == 1
        assert rows["1" * 64]["headline"] == {"p50_ms": 1.5}
        assert not fs.is_finished(rows["2" * 64]) and rows["3" * 64]["status"] == "queued"
        assert fs.get_campaign(st.engine, name)["plan_sha256"] == "b" * 64


def test_a_running_job_whose_holder_let_the_lease_go_reads_aborted(url):
    with Store(url) as st:
        board = _name("board")
        cid, _ = fs.open_campaign(st.engine, _name("camp"), plan_name="p", plan_path="p", plan_sha256="0" * 64)
        rows = fs.add_jobs(st.engine, cid, [{"job_key": "k" * 64, "recipe_name": "r", "recipe_path": "r",
                                             "variant": "v", "selector": board}])
        lease = acquire(st.engine, board, purpose="farm", wait=False)
        fs.start_job(st.engine, rows["k" * 64]["id"], board)
        assert fs.campaign_jobs(st.engine, cid)[0]["status"] == "running"
        lease.release()
        job = fs.campaign_jobs(st.engine, cid)[0]
        assert job["status"] == "aborted" and f"pid {os.getpid()}" in job["reason"]


def test_health_quarantine_check_and_restore(url):
    with Store(url) as st:
        board = _name("board")
        assert fs.health_of(st.engine, board) is None
        fs.record_check(st.engine, board, True, {"p50_ms": 0.2}, band_p50_ms=0.2)
        h = fs.health_of(st.engine, board)
        assert h["state"] == "healthy" and h["band_p50_ms"] == 0.2 and h["check_passed"] is True
        assert [fs.count_job(st.engine, board) for _ in range(3)] == [1, 2, 3]
        fs.record_check(st.engine, board, True, {"p50_ms": 0.25}, band_p50_ms=0.25)
        h = fs.health_of(st.engine, board)
        assert h["band_p50_ms"] == 0.2, "the band is the first healthy p50, not the latest"
        assert h["jobs_since_check"] == 0
        fs.record_check(st.engine, board, False, {}, reason="outputs differ")
        h = fs.health_of(st.engine, board)
        assert h["state"] == "quarantined" and h["reason"] == "outputs differ" and h["check_passed"] is False
        fs.restore(st.engine, board, by="tester")
        h = fs.health_of(st.engine, board)
        assert h["state"] == "healthy" and h["reason"] is None and h["changed_by"] == "tester"
        fs.quarantine(st.engine, board, "fan broken", by="tester")
        assert fs.all_health(st.engine)[board]["reason"] == "fan broken"
        fs.forget_band(st.engine, board)
        assert fs.health_of(st.engine, board)["band_p50_ms"] is None
