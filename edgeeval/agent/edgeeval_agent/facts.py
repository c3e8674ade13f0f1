"""Facts about the board (`probe`, and every result): each fact that cannot be read is null
with a *_reason. Needs neither numpy nor a runtime."""

import os
import platform
import resource
import shutil
import socket
import sys
import time

from .protocol import AGENT_PROTOCOL, AGENT_VERSION


def _read(path):
    with open(path) as f:
        return f.read()


def _kv_file(path, sep):
    out = {}
    for line in _read(path).splitlines():
        if sep in line:
            k, v = line.split(sep, 1)
            out[k.strip()] = v.strip()
    return out


def _fact(target, key, fn):
    """target[key] = fn(); on failure target[key] = None and target[key + '_reason'] says why."""
    try:
        value = fn()
    except Exception as e:
        target[key] = None
        target[key + "_reason"] = "%s: %s" % (type(e).__name__, e)
        return
    if isinstance(value, tuple):  # (None, reason)
        target[key] = value[0]
        if value[0] is None:
            target[key + "_reason"] = value[1]
    else:
        target[key] = value


def _os_pretty_name():
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        if os.path.exists(path):
            name = _kv_file(path, "=").get("PRETTY_NAME")
            if name:
                return name.strip("\"'")
            return None, "%s has no PRETTY_NAME" % path
    return None, "no /etc/os-release on this machine"


def _cpu_model():
    if not os.path.exists("/proc/cpuinfo"):
        return None, "no /proc/cpuinfo on this machine"
    text = _read("/proc/cpuinfo")
    for key in ("model name", "Model", "Hardware", "cpu model", "Processor"):
        for line in text.splitlines():
            if ":" in line and line.split(":", 1)[0].strip() == key:
                value = line.split(":", 1)[1].strip()
                if value:
                    return value
    return None, "no model name, Model or Hardware line in /proc/cpuinfo"


# ---- cpu flags (issue 4: the controller picks optimum's int8 config, arm64/avx2/avx512_vnni, from them)
def _cpu_flags():
    """Sorted ISA flags of the first CPU (x86 `flags`, Arm `Features`), or (None, reason)."""
    if not os.path.exists("/proc/cpuinfo"):
        return None, "no /proc/cpuinfo on this machine"
    for line in _read("/proc/cpuinfo").splitlines():
        if ":" in line and line.split(":", 1)[0].strip() in ("flags", "Features"):
            return sorted(set(line.split(":", 1)[1].split()))
    return None, "no flags or Features line in /proc/cpuinfo"


def _cpufreq(name, as_int):
    path = "/sys/devices/system/cpu/cpu0/cpufreq/" + name
    if not os.path.exists("/sys/devices/system/cpu/cpu0/cpufreq"):
        return None, "no cpufreq on this machine"
    if not os.path.exists(path):
        return None, "%s does not exist" % path
    value = _read(path).strip()
    return int(value) if as_int else value


def _meminfo_kb(key):
    if not os.path.exists("/proc/meminfo"):
        return None, "no /proc/meminfo on this machine"
    value = _kv_file("/proc/meminfo", ":").get(key)
    if value is None:
        return None, "%s missing from /proc/meminfo" % key
    return int(value.split()[0])


def _module_version(name):
    """{"version": ...} if `name` imports, else {"error": ...}; imports only, creates nothing."""
    try:
        mod = __import__(name)
    except Exception as e:
        return {"error": "%s: %s" % (type(e).__name__, e)}
    info = {"version": getattr(mod, "__version__", None)}
    if info["version"] is None:
        try:  # some wheels only record it in their distribution metadata
            import importlib.metadata
            info["version"] = importlib.metadata.version(name.replace("_", "-"))
        except Exception as e:
            info["version_reason"] = "%s has no __version__ and no metadata (%s)" % (name, e)
    return info


def _spec_only(name):
    """{"installed": bool} without importing (tensorflow takes seconds to import)."""
    try:
        import importlib.util
        return {"installed": importlib.util.find_spec(name) is not None}
    except Exception as e:
        return {"installed": None, "reason": "%s: %s" % (type(e).__name__, e)}


def _onnxruntime_facts():
    info = _module_version("onnxruntime")
    if "error" not in info:
        _fact(info, "providers", lambda: list(__import__("onnxruntime").get_available_providers()))
    return info


RUNTIME_MODULES = ("numpy", "onnxruntime", "onnxruntime_genai", "llama_cpp", "ai_edge_litert", "tflite_runtime",
                   "tensorflow")


def runtime_stamp():
    """What the import-dependent facts (numpy, runtimes) depend on, hashed without importing
    anything: this machine (machine-id, hostname), this interpreter and its sys.path, and where
    each runtime module lives with the size and mtime of its entry file. A pip install, upgrade or
    removal changes it; a controller that saw the same stamp may reuse what the imports said."""
    import hashlib
    import importlib.util

    # sys.path without the agent itself and the script directory: the same for `python3 agent.pyz
    # probe` and for the cache verify's in-process probe
    search = [p for p in sys.path if p and not p.endswith(".pyz")]
    parts = [sys.executable, sys.version, repr(search), socket.gethostname()]
    for path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            parts.append(_read(path).strip())
            break
        except OSError:
            continue
    for name in RUNTIME_MODULES:
        try:
            spec = importlib.util.find_spec(name)
            origin = spec.origin if spec is not None else None
            st = os.stat(origin) if origin and os.path.exists(origin) else None
            parts.append("%s=%s:%s:%s" % (name, origin, st and st.st_size, st and st.st_mtime_ns))
        except Exception as e:  # a broken package: its error is part of what the imports would say
            parts.append("%s!%s" % (name, type(e).__name__))
    return hashlib.sha256("\n".join(parts).encode("utf-8", "replace")).hexdigest()[:32]


def collect_facts(workdir, known_stamp=None):
    """Facts about this board; each one that cannot be read is null with a *_reason.

    With `known_stamp` equal to this board's runtime_stamp(), numpy and the runtimes are not
    imported (they decide most of a probe's time): the facts say `runtimes_cached` and the
    controller fills those keys from what it recorded under that stamp."""
    uname = platform.uname()
    facts = {"agent_version": AGENT_VERSION, "agent_protocol": AGENT_PROTOCOL,
             "clock_unix_s": time.time()}   # the board's wall clock (the farm's health check compares it)
    _fact(facts, "arch", lambda: platform.machine() or (None, "platform.machine() is empty"))
    facts["os"] = {"system": uname.system, "release": uname.release}
    _fact(facts["os"], "pretty_name", _os_pretty_name)
    facts["kernel"] = {"release": uname.release, "version": uname.version}
    _fact(facts, "hostname", socket.gethostname)
    facts["python"] = {"version": platform.python_version(), "executable": sys.executable,
                       "implementation": platform.python_implementation()}
    _fact(facts, "runtimes_stamp", runtime_stamp)
    facts["runtimes_cached"] = bool(known_stamp) and facts["runtimes_stamp"] == known_stamp
    if not facts["runtimes_cached"]:
        _runtime_facts(facts)
    _board_facts(facts, workdir)
    return facts


def _runtime_facts(facts):
    facts["numpy"] = _module_version("numpy")
    facts["runtimes"] = {"onnxruntime": _onnxruntime_facts(),
                         "onnxruntime_genai": _module_version("onnxruntime_genai"),
                         "llama_cpp": _module_version("llama_cpp"),
                         "ai_edge_litert": _module_version("ai_edge_litert"),
                         "tflite_runtime": _module_version("tflite_runtime"),
                         "tensorflow": _spec_only("tensorflow")}


def _board_facts(facts, workdir):
    cpu = {}
    _fact(cpu, "model", _cpu_model)
    _fact(cpu, "flags", _cpu_flags)
    _fact(cpu, "logical_cores", lambda: os.cpu_count() or (None, "os.cpu_count() unknown"))
    _fact(cpu, "governor", lambda: _cpufreq("scaling_governor", False))
    _fact(cpu, "max_freq_khz", lambda: _cpufreq("cpuinfo_max_freq", True))
    _fact(cpu, "cur_freq_khz", lambda: _cpufreq("scaling_cur_freq", True))
    facts["cpu"] = cpu
    mem = {}
    _fact(mem, "total_kb", lambda: _meminfo_kb("MemTotal"))
    _fact(mem, "available_kb", lambda: _meminfo_kb("MemAvailable"))
    facts["memory"] = mem
    disk = {"path": os.path.abspath(workdir)}
    _fact(disk, "free_bytes", lambda: shutil.disk_usage(workdir).free)
    _fact(disk, "total_bytes", lambda: shutil.disk_usage(workdir).total)
    facts["disk"] = disk
    _fact(facts, "board_cache", lambda: board_cache_usage(workdir))


def board_cache_usage(workdir):
    """What edgeeval keeps on this board: cached artifacts, partial uploads, run folders."""
    out = {"cache_files": 0, "cache_bytes": 0, "partial_uploads": 0, "partial_bytes": 0, "run_folders": 0}
    cache = os.path.join(workdir, "cache")
    for name in (os.listdir(cache) if os.path.isdir(cache) else []):
        size = os.lstat(os.path.join(cache, name)).st_size
        if ".tmp-" in name:
            out["partial_uploads"] += 1
            out["partial_bytes"] += size
        else:
            out["cache_files"] += 1
            out["cache_bytes"] += size
    runs = os.path.join(workdir, "runs")
    out["run_folders"] = len(os.listdir(runs)) if os.path.isdir(runs) else 0
    return out


def rss_kb():
    """Current resident set (VmRSS, kB) from /proc/self/status, or (None, reason)."""
    if not os.path.exists("/proc/self/status"):
        return None, "no /proc/self/status on this machine"
    value = _kv_file("/proc/self/status", ":").get("VmRSS")
    return int(value.split()[0]) if value else (None, "no VmRSS in /proc/self/status")


def peak_rss_kb():
    """This process's high-water RSS (kB). VmHWM first: Linux carries ru_maxrss over fork+exec,
    so a child of a big controller (the `local` device) would report its parent's peak."""
    if os.path.exists("/proc/self/status"):
        value = _kv_file("/proc/self/status", ":").get("VmHWM")
        if value:
            return int(value.split()[0])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak  # bytes on macOS, kB on Linux


def finish_result(result, job, power):
    """The job's result event, completed and sent: the power block when measured, the board's facts
    (runtime imports skipped while the controller's stamp still holds)."""
    from .protocol import emit

    if power is not None:
        result.update(power.result())
    known = job.get("facts_known")
    result["facts"] = collect_facts(os.getcwd(), known_stamp=known if isinstance(known, str) else None)
    emit("result", **result)
