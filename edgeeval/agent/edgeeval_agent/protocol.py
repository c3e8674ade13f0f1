"""Protocol version 1 (docs/architecture.md, "Agent protocol"): the error types (a class name
becomes the error event's type), one-line JSON events, reading and bounding the job's numbers,
phase marks, the controller watchdog."""

import json
import os
import select
import sys
import threading
import time

AGENT_VERSION = "1.0.0"
AGENT_PROTOCOL = 1


_OUT = None  # the real stdout, set by set_output() in main(); protocol lines only


def set_output(stream):
    """Where protocol lines go (main: a private copy of fd 1; tests: any text stream)."""
    global _OUT
    _OUT = stream


class AgentError(Exception):
    """A failure the agent can explain; its class name becomes the error event's type."""


class JobError(AgentError):
    """The job on stdin is malformed or asks for something this agent cannot do."""


class FileMissingError(AgentError):
    """A model or data file named by the job is not on the board."""


class RuntimeMissingError(AgentError):
    """The requested runtime (or numpy) is not importable by this Python."""


class FileMismatchError(AgentError):
    """A file on the board is not the one the job names (its sha256 differs)."""


class DataError(AgentError):
    """The eval set does not fit the model (names, shapes, batch)."""


def emit(event, **fields):
    """Write one protocol line to the real stdout and flush it."""
    fields = dict(event=event, **fields)
    _OUT.write(json.dumps(fields, separators=(",", ":")) + "\n")
    _OUT.flush()


def log(msg):
    sys.stderr.write("edgeeval-agent: %s\n" % msg)
    sys.stderr.flush()


def _install_hint(package):
    return "install it: %s -m pip install %s" % (sys.executable or "python3", package)


def _import(module, package=None):
    """Import a runtime module, turning any import failure into RuntimeMissingError."""
    try:
        return __import__(module, fromlist=["_"])
    except Exception as e:  # ImportError, but also broken wheels raising OSError etc.
        raise RuntimeMissingError(
            "%s is not installed for %s (%s: %s); %s"
            % (module, sys.executable or "this python", type(e).__name__, e,
               _install_hint(package or module)))


def _int(value, field, minimum, maximum=None):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum \
            or (maximum is not None and value > maximum):
        raise JobError("%s is %r; it must be an integer in [%d, %s]"
                       % (field, value, minimum, maximum if maximum is not None else "inf"))
    return value


def _num(value, field, maximum=None):
    """A finite number >= 0 (and <= maximum): NaN or infinity would disable a bound."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0 \
            or value == float("inf") or (maximum is not None and value > maximum):
        raise JobError("%s is %r; it must be a finite number in [0, %s]"
                       % (field, value, maximum if maximum is not None else "inf"))
    return float(value)


def _need(obj, key, field):
    """obj[key]; the controller sends every setting (edgeeval/jobdefaults.py), so a missing one is a job error."""
    if not isinstance(obj, dict) or key not in obj or obj[key] is None:
        raise JobError("%s is missing; the controller sends every setting of a job (update edgeeval on "
                       "the controller, or complete the job with edgeeval.jobdefaults.complete)" % field)
    return obj[key]


DAY_S = 86400.0


MAX_COUNT = 100000000


def read_job(stream):
    """Read one JSON object from stdin; stops at the first complete object (no EOF needed)."""
    decoder = json.JSONDecoder()
    buf = ""
    while True:
        line = stream.readline()
        if not line:
            break
        buf += line
        try:
            return decoder.raw_decode(buf.strip())[0]
        except ValueError:
            continue
    if not buf.strip():
        raise JobError("no job on stdin; send the job as one JSON object")
    try:
        return json.loads(buf)
    except ValueError as e:
        raise JobError("job on stdin is not valid JSON: %s" % e)


def phase(name):
    t_ns = time.monotonic_ns()
    _PHASE_MARKS.append((name, t_ns))  # for the power/thermal windows
    emit("phase", phase=name, t_ns=t_ns)


_PHASE_MARKS = []  # (phase, t_ns) of every phase event, for the thermal/power windows


WATCHDOG_EXIT = 75


def start_watchdog(stream, seconds):
    """A job with "watchdog_s": the controller keeps stdin open and writes a newline about every
    second while it listens. When none arrives for `seconds` (a cut link, a hung or killed
    controller) or stdin closes, the agent logs why and exits at once, so the board is free for
    the next job instead of measuring for nobody. One thread, woken once per beat (select)."""

    fd = stream.fileno()

    def watch():
        last = time.monotonic()
        while True:
            left = seconds - (time.monotonic() - last)
            if left <= 0:
                why = "no heartbeat from the controller for %.0f s" % seconds
                break
            try:
                ready = select.select([fd], [], [], left)[0]
                data = os.read(fd, 4096) if ready else None
            except OSError as e:
                why = "stdin failed: %s" % e
                break
            if data == b"":
                why = "the controller closed the job's stdin"
                break
            if data:
                last = time.monotonic()
        log("edgeeval agent: %s; stopping the job (exit %d)" % (why, WATCHDOG_EXIT))
        os._exit(WATCHDOG_EXIT)

    threading.Thread(target=watch, name="controller-watchdog", daemon=True).start()
