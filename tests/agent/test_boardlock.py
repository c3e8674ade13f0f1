"""The agent's board lock: a second job on a board whose lock is held does not start, and names
the holder; the lock dies with the process that held it (even SIGKILLed)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from edgeeval.agent import agent_path
from edgeeval.agent.edgeeval_agent.boardlock import BoardBusyError, hold
from edgeeval.jobdefaults import complete
from edgeeval.testing.models import make_job, mlp, write_eval_npz

HOLDER = r"""
import sys, time
sys.path.insert(0, sys.argv[1])
from edgeeval_agent.boardlock import hold
f = hold(sys.argv[2], "job-a")
print("held", flush=True)
time.sleep(600)
"""


def test_a_held_lock_refuses_and_dies_with_its_process(tmp_path):
    lock = str(tmp_path / "wd" / "board.lock")
    p = subprocess.Popen([sys.executable, "-c", HOLDER, str(agent_path()), lock], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "held"
        with pytest.raises(BoardBusyError, match=rf'"pid": {p.pid}, "job_id": "job-a"'):
            hold(lock, "job-b")
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=10)
        f = hold(lock, "job-b")          # the kernel dropped the dead holder's lock
        f.close()
    finally:
        p.kill()


def _agent(cwd):
    return subprocess.Popen([sys.executable, str(agent_path()), "run"], cwd=cwd, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_second_job_on_a_locked_board_does_not_start(tmp_path):
    mlp(tmp_path / "model.onnx", 16, (32,), 4)
    write_eval_npz(tmp_path / "data.npz", {"input": np.zeros((8, 16), np.float32)}, labels=np.zeros(8, np.int64))
    def job(seconds):
        j = complete(make_job("model.onnx", "data.npz", warmup=1, min_runs=10, min_seconds=seconds,
                              max_seconds=seconds + 5, accuracy=False))
        return json.dumps({**j, "board_lock": "wd/board.lock"}) + "\n"

    first = _agent(tmp_path)
    first.stdin.write(job(3.0))
    first.stdin.flush()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:          # until the first job is timing (it holds the lock)
        line = first.stdout.readline()
        if not line or '"phase"' in line and '"timed"' in line:
            break
    second = subprocess.run([sys.executable, str(agent_path()), "run"], cwd=tmp_path, input=job(0.1),
                            capture_output=True, text=True, timeout=60)
    err = [json.loads(ln) for ln in second.stdout.splitlines() if ln.startswith('{"event": "error"')
           or ln.startswith('{"event":"error"')]
    assert second.returncode == 1 and err and err[0]["type"] == "BoardBusyError", second.stdout
    assert f'"pid": {first.pid}' in err[0]["message"]
    out, _ = first.communicate(timeout=60)
    assert '"result"' in out                      # the first job was not disturbed
    third = subprocess.run([sys.executable, str(agent_path()), "run"], cwd=tmp_path, input=job(0.1),
                           capture_output=True, text=True, timeout=60)
    assert third.returncode == 0 and '"result"' in third.stdout, third.stderr
