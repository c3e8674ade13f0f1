"""The campaign queue: a board takes only jobs it may run, pool jobs survive a board leaving,
and a worker waits for a job in flight elsewhere that may come back to it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from edgeeval.farm.plan import JobSpec
from edgeeval.farm.runner import _Queue


def spec(variant, *boards, pool=False) -> JobSpec:
    sel = "any_of:tag:x" if pool else boards[0]
    return JobSpec(0, Path("r.yaml"), variant, sel, tuple(boards), 1, {}, {})


def test_a_board_takes_its_pinned_jobs_and_pool_jobs_it_matches():
    a1, b1, pool = spec("a1", "a"), spec("b1", "b"), spec("p", "a", "b", pool=True)
    q = _Queue([a1, b1, pool])
    assert q.take("a") is a1
    assert q.take("a") is pool
    assert q.take("b") is b1
    for s in (a1, pool, b1):
        q.done(s)
    assert q.take("a") is None and q.take("b") is None


def test_a_board_leaving_orphans_only_the_jobs_nobody_else_can_run():
    a1, pool = spec("a1", "a"), spec("p", "a", "b", pool=True)
    q = _Queue([a1, pool])
    assert q.board_out("a", "quarantined") == [a1]
    assert q.take("a") is None
    assert q.take("b") is pool
    q.done(pool)
    assert q.pending == []


def test_a_worker_waits_for_a_job_in_flight_that_may_come_back_to_it():
    pool = spec("p", "a", "b", pool=True)
    q = _Queue([pool])
    assert q.take("a") is pool
    got = []
    t = threading.Thread(target=lambda: got.append(q.take("b")))
    t.start()
    time.sleep(0.3)
    assert t.is_alive(), "b returned while a pool job it may run was still in flight"
    q.again(pool)            # a's attempt failed: b gets it
    t.join(5)
    assert got == [pool]
    q.done(pool)
    assert q.take("b") is None


def test_a_worker_stops_waiting_when_the_job_in_flight_finishes():
    pool = spec("p", "a", "b", pool=True)
    q = _Queue([pool])
    q.take("a")
    got = []
    t = threading.Thread(target=lambda: got.append(q.take("b")))
    t.start()
    time.sleep(0.2)
    q.done(pool)
    t.join(5)
    assert not t.is_alive() and got == [None]


def test_the_headline_carries_the_figures_the_summary_has():
    from edgeeval.farm.runner import headline

    h = headline({"latency": {"p50": 1.0, "p90": 2.0, "throughput_ips": 900.0},
                  "accuracy": {"top1": 0.99, "drop_pt": 0.1}, "power": {"e_total_mj": {"mean": 1.5}},
                  "noise": {"noisy": True}, "passed": True})
    assert h == {"p50_ms": 1.0, "p90_ms": 2.0, "throughput_ips": 900.0, "top1": 0.99, "accuracy_drop_pt": 0.1,
                 "energy_mj": 1.5, "passed": True, "noisy": True, "throttled": False}
    assert headline({})["energy_mj"] is None and headline({})["p50_ms"] is None
