"""Noise around the timed window: two cheap readings, one on each side (never inside it):
/proc/stat's aggregate `cpu` line, this process's CPU time (os.times: every thread, the
runtime's too) and the 1-min load average. The controller flags the run (edgeeval/evaluate/noise.py)."""

import os
import time

PROC_STAT_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
                    "guest", "guest_nice")  # older kernels stop earlier (steal: Linux >= 2.6.11)


_BUSY_FIELDS = ("user", "nice", "system", "irq", "softirq")  # guest time is already inside user/nice


def parse_proc_stat(text):
    """({field: jiffies} of the aggregate `cpu` line, number of cpuN lines) of /proc/stat text."""
    agg, cpus = None, 0
    for line in text.splitlines():
        parts = line.split()
        if not parts or not parts[0].startswith("cpu"):
            continue
        if parts[0] == "cpu":
            agg = dict(zip(PROC_STAT_FIELDS, (int(x) for x in parts[1:])))
        elif parts[0][3:].isdigit():
            cpus += 1
    if agg is None or len(agg) < 4:
        raise ValueError("no aggregate 'cpu' line with at least 4 columns")
    return agg, cpus


def noise_mark(stat_path="/proc/stat"):
    """One reading at an edge of the timed window: one file read, os.times(), getloadavg()."""
    mark = {"stat": None, "cpus": None, "error": None, "load1": None, "load_error": None}
    try:
        with open(stat_path) as f:
            mark["stat"], mark["cpus"] = parse_proc_stat(f.read())
    except (OSError, ValueError) as e:
        mark["error"] = "%s unreadable: %s" % (stat_path, e)
    t = os.times()
    mark["own_s"], mark["t"] = t[0] + t[1], time.perf_counter()
    try:
        mark["load1"] = os.getloadavg()[0]
    except (OSError, AttributeError) as e:
        mark["load_error"] = "no load average on this machine: %s" % e
    return mark


def noise_figures(a, b):
    """The `noise` object of the result from the marks before (a) and after (b) the timed phase.
    Shares: steal and iowait of all machine jiffies; own and other busy of window x cpus."""
    window = b["t"] - a["t"]
    out = {"window_s": window, "cpus": None, "steal_share": None, "other_busy_share": None,
           "own_cpu_share": None, "iowait_share": None, "loadavg_1m": None, "jiffies": None,
           "clk_tck": None, "reason": None, "reasons": {}}
    if a["load1"] is not None and b["load1"] is not None:
        out["loadavg_1m"] = [a["load1"], b["load1"]]
    else:
        out["reasons"]["loadavg_1m"] = a["load_error"] or b["load_error"]
    try:
        hz = os.sysconf("SC_CLK_TCK")
    except (AttributeError, ValueError, OSError):
        hz = None
    why = a["error"] or b["error"]
    if why is None and not hz:
        why = "USER_HZ (SC_CLK_TCK) unknown"
    if why is None and a["cpus"] != b["cpus"]:
        why = "the number of CPUs changed during the window (%s -> %s)" % (a["cpus"], b["cpus"])
    if why is None and not b["cpus"]:
        why = "/proc/stat lists no cpuN lines"
    d = {k: b["stat"][k] - a["stat"][k] for k in b["stat"] if k in a["stat"]} if why is None else {}
    total = sum(v for k, v in d.items() if k not in ("guest", "guest_nice"))
    if why is None and any(v < 0 for v in d.values()):
        why = "/proc/stat counters went backwards during the window"
    if why is None and total <= 0:
        why = "the window (%.3g s) is shorter than one clock tick" % window
    if why is not None:
        out["reason"] = why
        return out
    out.update(cpus=b["cpus"], jiffies=d, clk_tck=hz)
    capacity = window * b["cpus"]
    own = b["own_s"] - a["own_s"]
    busy = sum(d.get(k, 0) for k in _BUSY_FIELDS) / float(hz)
    out["own_cpu_share"] = own / capacity
    out["other_busy_share"] = max(0.0, (busy - own) / capacity)
    for field in ("steal", "iowait"):
        if field in d:
            out[field + "_share"] = d[field] / float(total)
        else:
            out["reasons"][field + "_share"] = "this kernel's /proc/stat has no %s column" % field
    return out
