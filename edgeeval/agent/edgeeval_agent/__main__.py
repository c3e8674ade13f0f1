"""`python3 agent.pyz probe|run`: the agent's command line. Protocol lines go to a private copy
of fd 1; fd 1 itself and sys.stdout point at stderr, so stray prints cannot corrupt them."""

import argparse
import os
import sys
import time
import traceback

from .facts import _fact, collect_facts
from .power.sensors.discover import discover_sensors
from .protocol import AGENT_PROTOCOL, AGENT_VERSION, _num, emit, log, read_job, set_output, start_watchdog


def main(argv=None):
    # The agent does no linear algebra with numpy, but importing it starts OpenBLAS's worker threads
    # (one per core), which spin ~0.1 s of CPU each before they sleep: on the board, beside the
    # model's load and warm-up. One thread starts none. Set before anything imports numpy.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    # Protocol lines get a private copy of fd 1; fd 1 itself and sys.stdout then point at
    # stderr, so stray prints (Python or native code) cannot corrupt the protocol.
    try:
        set_output(os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8"))
        sys.stdout.flush()
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):
        set_output(sys.stdout)
    sys.stdout = sys.stderr

    parser = argparse.ArgumentParser(prog="agent.pyz", description="edgeeval board agent: probe a board, or run one job (protocol %d)" % AGENT_PROTOCOL)
    sub = parser.add_subparsers(dest="command")
    probe = sub.add_parser("probe", help="print one facts line about this board")
    probe.add_argument("--workdir", default=".", help="directory whose free disk space to report")
    probe.add_argument("--sysfs-root", default="/", help="where to look for power sensors (tests: a fake tree)")
    probe.add_argument("--known", default=None, metavar="STAMP",
                       help="the runtimes stamp the controller has facts for: when it is still this board's, "
                            "numpy and the runtimes are not imported (runtimes_cached)")
    run_cmd = sub.add_parser("run", help="run the job given as JSON on stdin")
    run_cmd.add_argument("--sysfs-root", default="/",
                     help="where a job without power reads thermal zones (tests: a fake tree)")
    args = parser.parse_args(argv)
    if args.command == "probe":
        facts = collect_facts(args.workdir, known_stamp=args.known)
        _fact(facts, "sensors", lambda: discover_sensors(args.sysfs_root))
        emit("facts", **facts)
        return 0
    if args.command != "run":
        parser.print_usage(sys.stderr)
        return 2
    emit("hello", protocol=AGENT_PROTOCOL, agent_version=AGENT_VERSION, pid=os.getpid(),
         t_ns=time.monotonic_ns())  # bounds the clock offset for meters on the controller
    try:
        job = read_job(sys.stdin)
        if isinstance(job, dict) and job.get("watchdog_s"):
            start_watchdog(sys.stdin, _num(job["watchdog_s"], "watchdog_s", 3600.0))
        if isinstance(job, dict) and job.get("board_lock"):   # held until this process ends
            from .boardlock import hold

            lock = hold(str(job["board_lock"]), job.get("job_id"))  # noqa: F841
        from .job import (
            run_job,  # numpy and the runners: imported here, so `probe` needs neither
        )
        run_job(job, sysfs_root=args.sysfs_root)
    except BaseException as e:  # every failure, including Ctrl-C, ends as one error event
        tb = traceback.format_exc()
        log(tb)
        try:
            emit("error", type=type(e).__name__, message=str(e) or repr(e), traceback=tb)
        except Exception:
            pass
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
