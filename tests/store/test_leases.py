"""Board leases on a real SQLite file and a real PostgreSQL server: one holder per board, even
when processes race; a killed holder's lease expires; a lost lease is noticed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from edgeeval.store.leases import BoardBusy, LeaseLost, acquire, all_leases, describe, holder_of, try_acquire
from edgeeval.store.store import Store


@pytest.fixture
def board():
    return f"board-{uuid.uuid4().hex[:8]}"   # unique, so the shared PostgreSQL database is fine


def test_one_holder_then_the_next(url, board):
    with Store(url) as st:
        lease = acquire(st.engine, board, purpose="deploy", job="digits", ttl_s=30)
        again, holder, _ = try_acquire(st.engine, board, purpose="farm")
        assert again is None and holder["holder_pid"] == os.getpid() and holder["holder_job"] == "digits"
        with pytest.raises(BoardBusy, match=r"leased by .* pid \d+ for deploy \(digits\)"):
            acquire(st.engine, board, purpose="farm", wait=False)
        with pytest.raises(BoardBusy, match="waited"):
            acquire(st.engine, board, purpose="farm", timeout_s=0.3, poll_s=0.1)
        assert lease.renew() and holder_of(st.engine, board)["token"] == lease.token
        lease.release()
        assert holder_of(st.engine, board) is None
        nxt = acquire(st.engine, board, purpose="farm", ttl_s=30)
        assert any(r["device_name"] == board and not r["expired"] for r in all_leases(st.engine))
        nxt.release()


def test_an_expired_lease_is_lost_by_its_holder(url, board):
    with Store(url) as st:
        stale, _, _ = try_acquire(st.engine, board, purpose="deploy", ttl_s=0.5)   # never renewed
        time.sleep(0.7)
        taker, _, expired = try_acquire(st.engine, board, purpose="farm", ttl_s=30)
        assert taker is not None and expired["token"] == stale.token
        assert not stale.renew()
        with pytest.raises(LeaseLost, match="expired or was taken"):
            stale.check()
        stale.release()                        # must not remove the new holder's row
        assert holder_of(st.engine, board)["token"] == taker.token
        taker.release()


def test_a_waiting_deploy_is_told_who_holds_the_board(url, board):
    with Store(url) as st:
        first = acquire(st.engine, board, purpose="farm", job="nightly", ttl_s=30)
        told = []
        import threading

        threading.Timer(0.5, first.release).start()
        second = acquire(st.engine, board, purpose="deploy", poll_s=0.1, on_wait=told.append)
        assert len(told) == 1 and "for farm (nightly)" in describe(told[0])
        second.release()


RACER = r"""
import json, sys, time
from edgeeval.store.leases import acquire
from edgeeval.store.store import Store
url, board, out = sys.argv[1:4]
spans = []
with Store(url) as st:
    for _ in range(4):
        lease = acquire(st.engine, board, purpose="farm", poll_s=0.02, ttl_s=30)
        t0 = time.time()
        time.sleep(0.05)                      # "measuring"
        spans.append((t0, time.time()))
        lease.release()
open(out, "w").write(json.dumps(spans))
"""


def test_racing_controllers_never_measure_at_once(url, board, tmp_path):
    with Store(url):
        pass                                  # schema made once, before the race
    outs = [tmp_path / f"racer{i}.json" for i in range(4)]
    procs = [subprocess.Popen([sys.executable, "-c", RACER, url, board, str(o)]) for o in outs]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    spans = sorted(s for o in outs for s in json.loads(o.read_text()))
    assert len(spans) == 16
    for (a0, a1), (b0, b1) in zip(spans, spans[1:]):
        assert b0 >= a1, f"two holders at once: {a0:.3f}-{a1:.3f} and {b0:.3f}-{b1:.3f}"


HOLDER = r"""
import sys, time
from edgeeval.store.leases import acquire
from edgeeval.store.store import Store
st = Store(sys.argv[1])
acquire(st.engine, sys.argv[2], purpose="farm", ttl_s=1.5)
print("held", flush=True)
time.sleep(600)
"""


def test_a_killed_holder_loses_its_lease_within_the_ttl(url, board):
    p = subprocess.Popen([sys.executable, "-c", HOLDER, url, board], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "held"
        with Store(url) as st:
            time.sleep(1.0)                       # it is still renewing: busy
            assert try_acquire(st.engine, board, purpose="deploy")[0] is None
            p.send_signal(signal.SIGKILL)
            p.wait(timeout=10)
            t0 = time.monotonic()
            lease = acquire(st.engine, board, purpose="deploy", poll_s=0.1, timeout_s=10)
            assert time.monotonic() - t0 <= 1.5 + 0.5    # within the ttl of its last renewal
            lease.release()
    finally:
        p.kill()
