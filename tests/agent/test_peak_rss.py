"""Peak RSS is the agent's own, not inherited from a big parent (Linux keeps ru_maxrss over exec)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from edgeeval.agent import AGENT_PATH
from edgeeval.testing.models import make_job, tiny_mlp, write_eval_npz


def test_peak_rss_not_inherited_from_parent(tmp_path):
    tiny_mlp(tmp_path / "m.onnx")
    write_eval_npz(tmp_path / "d.npz", {"input": np.zeros((4, 64), np.float32)})
    job = make_job(str(tmp_path / "m.onnx"), str(tmp_path / "d.npz"), min_runs=5, min_seconds=0.0,
                   warmup=1, outputs_path=str(tmp_path / "o.npz"))
    # the parent touches 600 MB, then execs the agent (as the `local` device's controller does)
    parent = ("import os, sys, subprocess\n"
              "ballast = bytearray(600 * 2**20)\n"
              "for i in range(0, len(ballast), 4096): ballast[i] = 1\n"
              "sys.stdout.write(subprocess.run([sys.executable, sys.argv[1], 'run'], input=sys.argv[2],"
              " capture_output=True, text=True).stdout)\n")
    out = subprocess.run([sys.executable, "-c", parent, str(AGENT_PATH), json.dumps(job)],
                         capture_output=True, text=True, cwd=tmp_path, timeout=120).stdout
    result = [json.loads(ln) for ln in out.splitlines() if '"event": "result"' in ln or '"event":"result"' in ln][0]
    assert result["rss_after_load_kb"] <= result["peak_rss_kb"] < 400 * 1024
