"""A hostile board for tests: a `python` that runs the real agent and rewrites what it sends.

    python -m edgeeval.testing.hostile RULE REAL_PYTHON AGENT.py run|probe ...

Use `write_wrapper(path, rule)` to get an executable to put in a device's `python:`. `probe`
passes through untouched (the board must look healthy); for `run` the real agent's stdout is
read line by line and RULE rewrites it. Every rule imitates something a broken or tampered
board really can do (issue "A board is untrusted input"):

    huge-error         an error event with a 10 MB message (and a planted secret in it)
    big-error          an error event with a 600 KB message starting with a planted secret
    endless-progress   progress events every millisecond, for ever; no result
    huge-line          one 100 MB line of garbage
    huge-event         a 10 MB phase event (valid JSON)
    slow-progress      a progress event every 0.2 s, for ever; no result (only the deadline stops it)
    negative-latency   a latency of -5 ns
    nan-latency        a latency of NaN (not JSON, but Python's json writes it)
    huge-latency       a latency of 10**30 ns
    absurd-latency     latencies of 9e18 ns (as integers)
    huge-rss           peak_rss_kb 10**400
    absurd-rss         peak_rss_kb 10**15
    absurd-load        load_ms 1e308
    string-latencies   latencies_ns is a string
    tiny-wall          timed_wall_s 1e-9 (possible only if the latencies are lies: flagged)
    wrong-outputs-sha  the result names another outputs sha256 than the file it wrote
    second-result      the result is sent twice
    garbage-stdout     non-JSON lines before the real events (must be ignored, not fatal)
    swap-model         the cached model file is changed after the push check, before the agent loads it
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

RULES = ("huge-error", "big-error", "endless-progress", "huge-line", "huge-event", "negative-latency", "nan-latency",
         "huge-latency", "absurd-latency", "huge-rss", "absurd-rss", "absurd-load", "string-latencies",
         "tiny-wall", "wrong-outputs-sha", "second-result", "garbage-stdout", "slow-progress", "swap-model")
PLANTED_SECRET = "hunter2-planted"


def write_wrapper(path: Path, rule: str, python: str = sys.executable) -> Path:
    """An executable that behaves as the board's python with RULE applied."""
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; rules: {', '.join(RULES)}")
    src = str(Path(__file__).resolve().parents[2])
    path.write_text(f"#!/bin/sh\nPYTHONPATH={src}${{PYTHONPATH:+:$PYTHONPATH}} exec {python} -m edgeeval.testing.hostile "
                    f"{rule} {python} \"$@\"\n")
    path.chmod(0o755)
    return path


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _rewrite_result(rule: str, ev: dict) -> list[str]:
    """The lines to send instead of the real result event."""
    if rule == "huge-error":
        msg = f"password={PLANTED_SECRET} " + "x" * 10_000_000
        return [json.dumps({"event": "error", "type": "RuntimeError", "message": msg})]
    if rule == "big-error":
        msg = f"failed with password={PLANTED_SECRET} " + "y" * 600_000
        return [json.dumps({"event": "error", "type": "RuntimeError", "message": msg, "traceback": "t" * 300_000})]
    if rule == "negative-latency":
        ev["latencies_ns"][0] = -5
    elif rule == "nan-latency":
        ev["latencies_ns"][0] = float("nan")
    elif rule == "huge-latency":
        ev["latencies_ns"][0] = 10 ** 30
    elif rule == "absurd-latency":
        ev["latencies_ns"] = [9 * 10 ** 18] * len(ev["latencies_ns"])
    elif rule == "huge-rss":
        ev["peak_rss_kb"] = 10 ** 400
    elif rule == "absurd-rss":
        ev["peak_rss_kb"] = 10 ** 15
    elif rule == "absurd-load":
        ev["load_ms"] = 1e308
    elif rule == "string-latencies":
        ev["latencies_ns"] = "fast"
    elif rule == "tiny-wall":
        ev["timed_wall_s"] = 1e-9
    elif rule == "wrong-outputs-sha":
        ev["accuracy"]["outputs_sha256"] = "0" * 64
    line = json.dumps(ev, separators=(",", ":"))
    return [line, line] if rule == "second-result" else [line]


def main(argv: list[str]) -> int:
    rule, python, *args = argv
    if "run" not in args:
        return subprocess.call([python, *args])
    job_bytes = sys.stdin.buffer.readline()   # the job is one line; heartbeats follow while the controller listens
    if rule == "swap-model":
        with open(json.loads(job_bytes)["model"]["path"], "ab") as f:
            f.write(b"\0")                 # one byte more: the file is no longer the pushed one
    proc = subprocess.Popen([python, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    proc.stdin.write(job_bytes)
    proc.stdin.flush()

    def forward():                          # the controller's heartbeats reach the agent's watchdog
        try:
            for chunk in iter(lambda: os.read(0, 4096), b""):
                proc.stdin.write(chunk)
                proc.stdin.flush()
            proc.stdin.close()
        except (OSError, ValueError):
            pass

    import threading
    threading.Thread(target=forward, daemon=True).start()
    if rule == "garbage-stdout":
        _out("Welcome to the board! (a login banner on stdout)")
        _out("{not json")
    for raw in proc.stdout:
        line = raw.decode("utf-8", "replace").rstrip("\n")
        try:
            ev = json.loads(line)
        except ValueError:
            _out(line)
            continue
        kind = ev.get("event")
        if rule in ("endless-progress", "slow-progress") and kind == "phase" and ev.get("phase") == "timed":
            proc.kill()
            n = 0
            while True:      # until the controller gives up on us
                n += 1
                _out(json.dumps({"event": "progress", "phase": "timed", "done": n, "total": None}))
                time.sleep(0.001 if rule == "endless-progress" else 0.2)
        if rule == "huge-line" and kind == "phase":
            sys.stdout.write("z" * 100_000_000 + "\n")
            sys.stdout.flush()
            continue
        if rule == "huge-event" and kind == "phase":
            _out(json.dumps({**ev, "pad": "p" * 10_000_000}))
            continue
        if kind == "result":
            for out in _rewrite_result(rule, ev):
                _out(out)
            continue
        _out(line)
    return proc.wait()


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BrokenPipeError:          # the controller hung up on us: what it should do
        os._exit(0)
