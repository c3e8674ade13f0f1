"""edgeeval board agent: probe a board, or run one latency/accuracy job (protocol version 1).

One self-contained file pushed to boards as cache/<sha256>.py: Python >= 3.8, stdlib,
numpy and the runtime under test, imported lazily so `probe` works without any of them.
Protocol lines are JSON objects, one per line, on the real stdout; everything else goes
to stderr. See docs/architecture.md ("Agent protocol (version 1)") for the contract.
"""

import argparse
import gc
import hashlib
import json
import os
import platform
import resource
import shutil
import socket
import sys
import time
import traceback
import zipfile

AGENT_VERSION = "1.0.0"
AGENT_PROTOCOL = 1
TIMED_FEED_SAMPLES = 64  # timed runs cycle through batches drawn from the first 64 samples

_OUT = None  # the real stdout, set in main(); protocol lines only


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


# ---------------------------------------------------------------- facts (probe)

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


def collect_facts(workdir):
    """Facts about this board; each one that cannot be read is null with a *_reason."""
    uname = platform.uname()
    facts = {"agent_version": AGENT_VERSION, "agent_protocol": AGENT_PROTOCOL}
    _fact(facts, "arch", lambda: platform.machine() or (None, "platform.machine() is empty"))
    facts["os"] = {"system": uname.system, "release": uname.release}
    _fact(facts["os"], "pretty_name", _os_pretty_name)
    facts["kernel"] = {"release": uname.release, "version": uname.version}
    _fact(facts, "hostname", socket.gethostname)
    facts["python"] = {"version": platform.python_version(), "executable": sys.executable,
                       "implementation": platform.python_implementation()}
    facts["numpy"] = _module_version("numpy")
    facts["runtimes"] = {"onnxruntime": _onnxruntime_facts(),
                         "ai_edge_litert": _module_version("ai_edge_litert"),
                         "tflite_runtime": _module_version("tflite_runtime"),
                         "tensorflow": _spec_only("tensorflow")}
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
    return facts


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


# ---------------------------------------------------------------- noise around the timed window
# Two cheap readings, one on each side of the timed phase (never inside it): /proc/stat's
# aggregate `cpu` line, this process's CPU time (os.times: every thread, the runtime's too) and
# the 1-min load average. The controller flags the run (edgeeval/evaluate/noise.py).

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


# ---------------------------------------------------------------- runners

_ORT_DTYPES = {"tensor(float)": "float32", "tensor(float16)": "float16",
               "tensor(double)": "float64", "tensor(int64)": "int64", "tensor(int32)": "int32",
               "tensor(int16)": "int16", "tensor(uint8)": "uint8", "tensor(int8)": "int8",
               "tensor(bool)": "bool"}
_ORT_LEVELS = {"disable": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC",
               "extended": "ORT_ENABLE_EXTENDED", "all": "ORT_ENABLE_ALL"}
_ORT_MODES = {"sequential": "ORT_SEQUENTIAL", "parallel": "ORT_PARALLEL"}


class OnnxRuntimeRunner(object):
    """onnxruntime InferenceSession configured from job["runtime"]."""

    name = "onnxruntime"

    def __init__(self, spec):
        self.spec = spec
        self.ort = _import("onnxruntime")
        self.sess = None

    def version(self):
        return getattr(self.ort, "__version__", None)

    def providers_available(self):
        return list(self.ort.get_available_providers())

    def load(self, model_path):
        """Create the session; returns the session options actually applied."""
        ort, spec = self.ort, self.spec
        so = ort.SessionOptions()
        applied = {}
        for key in ("intra_op_num_threads", "inter_op_num_threads"):
            if spec.get(key) is not None:
                setattr(so, key, _int(spec[key], "runtime." + key, 0))
                applied[key] = getattr(so, key)
        level = spec.get("graph_optimization_level")
        if level is not None:
            if level not in _ORT_LEVELS:
                raise JobError("runtime.graph_optimization_level is %r; use one of %s"
                               % (level, ", ".join(_ORT_LEVELS)))
            so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, _ORT_LEVELS[level])
            applied["graph_optimization_level"] = level
        mode = spec.get("execution_mode")
        if mode is not None:
            if mode not in _ORT_MODES:
                raise JobError("runtime.execution_mode is %r; use one of %s"
                               % (mode, ", ".join(_ORT_MODES)))
            so.execution_mode = getattr(ort.ExecutionMode, _ORT_MODES[mode])
            applied["execution_mode"] = mode
        config = spec.get("session_config") or {}
        if not isinstance(config, dict):
            raise JobError("runtime.session_config must be an object of string entries")
        for key, value in sorted(config.items()):
            so.add_session_config_entry(str(key), str(value))
        applied["session_config"] = dict((str(k), str(v)) for k, v in config.items())
        providers = spec.get("providers") or ["CPUExecutionProvider"]
        missing = [p for p in providers if p not in self.providers_available()]
        if missing:
            raise JobError("runtime.providers asks for %s, but this onnxruntime offers only %s"
                           % (missing, self.providers_available()))
        options = spec.get("provider_options")
        if options is not None and (not isinstance(options, list) or len(options) != len(providers)):
            raise JobError("runtime.provider_options must be null or a list with one object per provider")
        self.sess = ort.InferenceSession(model_path, sess_options=so, providers=providers,
                                         provider_options=options)
        applied["providers"] = list(providers)
        applied["provider_options"] = options
        return applied

    def inputs(self):
        """[(name, shape, numpy dtype name)] as the model declares them."""
        return [(i.name, list(i.shape), _ORT_DTYPES.get(i.type)) for i in self.sess.get_inputs()]

    def output_names(self):
        return [o.name for o in self.sess.get_outputs()]

    def providers_used(self):
        return list(self.sess.get_providers())

    def bind(self):
        """(fn, arg): one inference is fn(arg, feed); kept this bare for the timed loop."""
        return self.sess.run, self.output_names()


# runtime name -> runner class. "synthetic" is reserved for a future self-test runtime;
# a TFLite runner (ai_edge_litert / tflite_runtime) plugs in here with the same methods.
RUNNERS = {"onnxruntime": OnnxRuntimeRunner}


# ---------------------------------------------------------------- job

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


def check_job(job):
    """Validate the job's shape and fill defaults; returns a normalised copy."""
    if not isinstance(job, dict):
        raise JobError("job must be a JSON object, got %s" % type(job).__name__)
    if job.get("protocol") != AGENT_PROTOCOL:
        raise JobError("job protocol is %r; this agent speaks protocol %d"
                       % (job.get("protocol"), AGENT_PROTOCOL))
    for key in ("model", "data", "runtime"):
        if not isinstance(job.get(key), dict):
            raise JobError("job.%s must be an object" % key)
    if not isinstance(job["model"].get("path"), str) or not job["model"]["path"]:
        raise JobError("job.model.path must be a non-empty string")
    data = job["data"]
    if not isinstance(data.get("path"), str) or not data["path"]:
        raise JobError("job.data.path must be a non-empty string")
    inputs = data.get("inputs")
    if not isinstance(inputs, list) or not inputs or not all(isinstance(i, str) for i in inputs):
        raise JobError("job.data.inputs must be a non-empty list of array names")
    runtime = job["runtime"]
    if runtime.get("name") not in RUNNERS:
        raise JobError("job.runtime.name is %r; this agent runs %s"
                       % (runtime.get("name"), ", ".join(sorted(RUNNERS))))
    t = job.get("timing") or {}
    timing = {"warmup": _int(t.get("warmup", 10), "timing.warmup", 0, 100000),
              "warmup_max_seconds": _num(t.get("warmup_max_seconds", 120.0), "timing.warmup_max_seconds", 3600.0),
              "min_runs": _int(t.get("min_runs", 200), "timing.min_runs", 1, MAX_COUNT),
              "min_seconds": _num(t.get("min_seconds", 5.0), "timing.min_seconds", DAY_S),
              "max_runs": _int(t.get("max_runs", 1000000), "timing.max_runs", 1, MAX_COUNT),
              "max_seconds": _num(t.get("max_seconds", 600.0), "timing.max_seconds", DAY_S)}
    acc = job.get("accuracy") or {}
    enabled = bool(acc.get("enabled", True))
    if enabled and not (isinstance(acc.get("outputs_path"), str) and acc["outputs_path"]):
        raise JobError("job.accuracy.outputs_path must be a path when accuracy is enabled")
    out = dict(job)
    out["timing"] = timing
    out["accuracy"] = {"enabled": enabled, "outputs_path": acc.get("outputs_path")}
    out["batch_size"] = _int(data.get("batch_size", 1), "data.batch_size", 1, 65536)
    out["progress_interval_s"] = _num(job.get("progress_interval_s", 0.5), "progress_interval_s", 60.0)
    return out


def _existing(path, what):
    if not os.path.isfile(path):
        raise FileMissingError("%s %s not found (cwd %s)" % (what, path, os.getcwd()))
    return path


def _verified(path, what, sha256):
    """`path`, once its sha256 is the job's: a cached file changed after the push check (a swap,
    a bad disk) must never be measured under the name of the model that should have run. A
    mismatching file is removed, so the next deploy pushes the right one again."""
    _existing(path, what)
    if sha256:
        got = _file_sha256(path)
        if got != sha256:
            try:
                os.unlink(path)
            except OSError:
                pass
            raise FileMismatchError("%s %s has sha256 %s..., not the %s... the job names: the file changed on "
                                    "the board after it was pushed; removed it (the next deploy pushes it again)"
                                    % (what, path, got[:16], str(sha256)[:16]))
    return path


def load_data(np, path, declared, batch_size, job_inputs):
    """Model inputs from the npz, cast to the declared dtypes; returns (arrays, samples)."""
    with np.load(_existing(path, "eval set"), allow_pickle=False) as z:
        keys = list(z.keys())
        model_names = [d[0] for d in declared]
        missing = [n for n in model_names if n not in keys or n not in job_inputs]
        if missing:
            raise DataError("model inputs %s are not all in the eval set: missing %s; eval set %s "
                            "has arrays %s, job data.inputs is %s"
                            % (model_names, missing, path, keys, job_inputs))
        arrays = {}
        for name, shape, dtype in declared:
            x = z[name]
            if x.ndim == 0:
                raise DataError("array %s in %s is a scalar; it needs a leading sample axis" % (name, path))
            if dtype is not None and x.dtype != np.dtype(dtype):
                x = x.astype(dtype)
            arrays[name] = np.ascontiguousarray(x)
    counts = dict((n, a.shape[0]) for n, a in arrays.items())
    if len(set(counts.values())) != 1:
        raise DataError("inputs in %s have different sample counts: %s" % (path, counts))
    samples = list(counts.values())[0]
    if samples == 0:
        raise DataError("eval set %s has no samples" % path)
    for name, shape, _ in declared:
        if shape and isinstance(shape[0], int) and shape[0] != batch_size:
            raise DataError("model input %s has a fixed batch dimension %d; set data.batch_size: %d"
                            % (name, shape[0], shape[0]))
    return arrays, samples


def batch_feed(np, arrays, start, batch_size, pad):
    """Feed for samples [start, start+batch_size); pads a short last batch when `pad`."""
    feed = {}
    for name, x in arrays.items():
        b = x[start:start + batch_size]
        if pad and b.shape[0] < batch_size:
            b = np.concatenate([b, np.repeat(b[-1:], batch_size - b.shape[0], axis=0)])
        feed[name] = b
    return feed


def write_npz(path, arrays):
    """Write arrays as an uncompressed .npz via tmp + rename, byte-stable; returns sha256."""
    np = __import__("numpy")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        os.makedirs(parent)
    tmp = "%s.tmp-%s" % (path, os.urandom(6).hex())
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
            for name in arrays:
                info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
                with zf.open(info, "w", force_zip64=True) as f:
                    np.lib.format.write_array(f, np.asanyarray(arrays[name]), allow_pickle=False)
        os.rename(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return _file_sha256(path)


def _file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def phase(name):
    t_ns = time.monotonic_ns()
    _PHASE_MARKS.append((name, t_ns))  # for the power/thermal windows
    emit("phase", phase=name, t_ns=t_ns)


def timed_loop(fn, arg, feeds, timing, interval_s):
    """Timed runs cycling through `feeds`; returns (latencies_ns, wall_s, stop_reason)."""
    perf = time.perf_counter_ns
    lat = []
    append = lat.append
    nfeeds = len(feeds)
    min_runs, max_runs = timing["min_runs"], timing["max_runs"]
    interval = int(interval_s * 1e9)
    start = perf()
    min_end = start + int(timing["min_seconds"] * 1e9)
    max_end = start + int(timing["max_seconds"] * 1e9)
    next_progress = start + interval
    k = 0
    i = 0
    while True:
        feed = feeds[i]
        t0 = perf()
        out = fn(arg, feed)
        t1 = perf()
        out = None  # noqa: F841 - frees the outputs outside the timed region
        append(t1 - t0)
        k += 1
        i += 1
        if i == nfeeds:
            i = 0
        if t1 >= next_progress:
            emit("progress", phase="timed", done=k, total=None, elapsed_s=(t1 - start) / 1e9)
            next_progress = t1 + interval
        if k >= max_runs:
            reason = "max_runs"
            break
        if t1 >= max_end:
            reason = "max_seconds"
            break
        if k >= min_runs and t1 >= min_end:
            reason = "min_reached"
            break
    return lat, (perf() - start) / 1e9, reason


def dense_output(np, value, name="output"):
    """One runtime output as a plain array that an .npz holds without pickle.

    A ZipMap output (onnxruntime gives a list of {class: score} dicts, one per sample, e.g.
    skl2onnx classifiers) becomes a float32 [N, C] array with the classes in sorted order, which
    is the classifier's class order (scikit-learn keeps classes_ sorted). String tensors become
    numpy unicode arrays. The controller converts its reference outputs with this same function.
    """
    if isinstance(value, list):
        if value and all(isinstance(v, dict) for v in value):
            keys = sorted(value[0])
            if any(sorted(v) != keys for v in value):
                raise DataError("output %s is a sequence of maps whose keys differ between samples; "
                                "it cannot be read as class scores" % name)
            return np.array([[v[k] for k in keys] for v in value], dtype=np.float32)
        if not value:
            return np.zeros((0,), dtype=np.float32)
    a = np.asarray(value)
    if a.dtype == object:
        if all(isinstance(x, str) for x in a.ravel()):
            return a.astype(str)
        raise DataError("output %s holds Python objects (%s); only tensors, string tensors and ZipMap "
                        "outputs can be scored" % (name, type(a.ravel()[0]).__name__ if a.size else "empty"))
    return a


def accuracy_pass(np, fn, arg, names, arrays, samples, batch_size, pad, interval_s):
    """Every sample, in order; returns {output name: concatenated array}."""
    parts = dict((n, []) for n in names)
    start = time.perf_counter()
    next_progress = start + interval_s
    for s in range(0, samples, batch_size):
        n = min(batch_size, samples - s)
        outs = fn(arg, batch_feed(np, arrays, s, batch_size, pad))
        for name, o in zip(names, outs):
            o = dense_output(np, o, name)
            parts[name].append(o[:n] if (pad and n < batch_size and o.ndim) else o)
        now = time.perf_counter()
        if now >= next_progress:
            emit("progress", phase="accuracy", done=s + n, total=samples, elapsed_s=now - start)
            next_progress = now + interval_s
    out = {}
    for name, chunks in parts.items():
        out[name] = np.concatenate(chunks) if chunks[0].ndim else np.stack(chunks)
    return out


# ---------------------------------------------------------------- scenarios (MLPerf-style)
# single-stream (default): one sample per query, the next when the last returns (timed_loop).
# multi-stream: one query = samples_per_query samples issued together as one batch.
# offline: every sample available at once, run in batches (a list of sizes is a sweep).
# server: queries arrive as a Poisson process at target_qps (seeded); latency counts queueing.
# Each loop keeps the timed region to the runtime call and the timer; scheduling, sleeping and
# bookkeeping happen outside it. Settings come resolved from the controller; defaults here
# only make old jobs (no "scenario") behave exactly as before.

SCENARIOS = ("single-stream", "multi-stream", "offline", "server")


def check_scenario(job):
    """job["scenario"] validated with defaults filled; absent means single-stream."""
    sc = job.get("scenario")
    if sc is None:
        sc = {"name": "single-stream"}
    if not isinstance(sc, dict) or sc.get("name") not in SCENARIOS:
        raise JobError("job.scenario.name is %r; use one of %s"
                       % (sc.get("name") if isinstance(sc, dict) else sc, ", ".join(SCENARIOS)))
    out = dict(sc)
    name = out["name"]
    if name == "multi-stream":
        out["samples_per_query"] = _int(out.get("samples_per_query", 8), "scenario.samples_per_query", 1)
    if name == "offline":
        sizes = out.get("batch_sizes") or [job["batch_size"]]
        if not isinstance(sizes, list):
            raise JobError("scenario.batch_sizes must be a list of integers >= 1")
        out["batch_sizes"] = [_int(b, "scenario.batch_sizes[]", 1) for b in sizes]
    if name == "server":
        out["seed"] = _int(out.get("seed", 0), "scenario.seed", 0)
        out["find_max_qps"] = bool(out.get("find_max_qps", False))
        if out.get("target_qps") is None and not out["find_max_qps"]:
            raise JobError("scenario.target_qps is required for the server scenario "
                           "(or set find_max_qps with latency_bound_ms)")
        if out.get("target_qps") is not None:
            out["target_qps"] = _num(out["target_qps"], "scenario.target_qps")
            if out["target_qps"] <= 0:
                raise JobError("scenario.target_qps must be > 0")
        if out.get("latency_bound_ms") is not None:
            out["latency_bound_ms"] = _num(out["latency_bound_ms"], "scenario.latency_bound_ms")
        elif out["find_max_qps"]:
            raise JobError("scenario.find_max_qps needs scenario.latency_bound_ms")
        out["trial_seconds"] = _num(out.get("trial_seconds", 1.0), "scenario.trial_seconds")
    sus = out.get("sustained")
    if sus:
        if name != "single-stream":
            raise JobError("scenario.sustained applies to single-stream only")
        if not isinstance(sus, dict):
            sus = {}
        out["sustained"] = {
            "window_s": _num(sus.get("window_s", 10.0), "scenario.sustained.window_s"),
            "windows": _int(sus.get("windows", 3), "scenario.sustained.windows", 2),
            "tolerance": _num(sus.get("tolerance", 0.02), "scenario.sustained.tolerance"),
            "max_seconds": _num(sus.get("max_seconds", 1800.0), "scenario.sustained.max_seconds")}
        d_slope, d_window = _sustained_slope_defaults(job)
        slope = _num(d_slope if sus.get("slope_c_per_min") is None else sus["slope_c_per_min"],
                     "scenario.sustained.slope_c_per_min")
        if slope <= 0:
            raise JobError("scenario.sustained.slope_c_per_min is %r; it must be a number > 0 (degC/min)" % slope)
        window = _num(d_window if sus.get("slope_window_s") is None else sus["slope_window_s"],
                      "scenario.sustained.slope_window_s")
        if window < 3 * THERMAL_INTERVAL_S:
            raise JobError("scenario.sustained.slope_window_s is %r; it must be >= %g s (the thermal "
                           "sampler reads every %g s and a slope needs 3 readings)"
                           % (window, 3 * THERMAL_INTERVAL_S, THERMAL_INTERVAL_S))
        out["sustained"].update(slope_c_per_min=slope, slope_window_s=window)
    return out


SUSTAINED_SLOPE_WINDOW_S = 60.0  # thermal slope window of a job without power (with power: its profile's)


def _sustained_slope_defaults(job):
    """(slope_c_per_min, slope_window_s) defaults: the power job's warmup settings, else the
    default profile's slope over SUSTAINED_SLOPE_WINDOW_S."""
    if job.get("power"):
        st = _power_settings(job["power"])
        return st["warmup_slope_c_per_min"], st["warmup_slope_window_s"]
    return POWER_PROFILES["default"]["warmup_slope_c_per_min"], SUSTAINED_SLOPE_WINDOW_S


def index_feeds(np, arrays, samples, batch, count, fixed):
    """`count` feeds of `batch` samples each, taken in order and wrapping around the eval set."""
    if fixed is not None and fixed != batch:
        raise DataError("the model has a fixed batch dimension %d; a batch of %d needs a model "
                        "with a dynamic batch axis" % (fixed, batch))
    feeds = []
    for k in range(max(1, count)):
        idx = (np.arange(batch) + k * batch) % samples
        feeds.append(dict((n, np.ascontiguousarray(x[idx])) for n, x in arrays.items()))
    return feeds


def _fixed_batch(declared):
    for _, shape, _ in declared:
        if shape and isinstance(shape[0], int):
            return shape[0]
    return None


def _run_warm(fn, arg, feeds, count):
    for w in range(count):
        out = fn(arg, feeds[w % len(feeds)])
        out = None  # noqa: F841


def server_loop(fn, arg, feeds, timing, qps, seed, interval_s):
    """Poisson arrivals at `qps` (seeded); returns (latency_ns, service_ns, wall_s, stop, scheduled_s).

    Latency is completion minus the query's scheduled arrival, so it includes queueing when
    the board falls behind. The wait for the next arrival happens before t0.
    """
    import random
    rng = random.Random(seed)
    perf = time.perf_counter_ns
    sleep = time.sleep
    lat, svc = [], []
    nfeeds = len(feeds)
    min_runs, max_runs = timing["min_runs"], timing["max_runs"]
    interval = int(interval_s * 1e9)
    start = perf()
    min_end = start + int(timing["min_seconds"] * 1e9)
    max_end = start + int(timing["max_seconds"] * 1e9)
    next_progress = start + interval
    arrival = start
    k = i = 0
    while True:
        arrival += int(rng.expovariate(qps) * 1e9)
        now = perf()
        while now < arrival:
            if arrival - now > 2000000:
                sleep((arrival - now - 1000000) / 1e9)
            now = perf()
        feed = feeds[i]
        t0 = perf()
        out = fn(arg, feed)
        t1 = perf()
        out = None  # noqa: F841
        lat.append(t1 - arrival)
        svc.append(t1 - t0)
        k += 1
        i = (i + 1) % nfeeds
        if t1 >= next_progress:
            emit("progress", phase="timed", done=k, total=None, elapsed_s=(t1 - start) / 1e9)
            next_progress = t1 + interval
        if k >= max_runs:
            reason = "max_runs"
            break
        if arrival >= max_end or t1 >= max_end:  # wall time too: an overloaded board lags its schedule
            reason = "max_seconds"
            break
        if k >= min_runs and arrival >= min_end:
            reason = "min_reached"
            break
    return lat, svc, (perf() - start) / 1e9, reason, (arrival - start) / 1e9


def _p(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * p))]


def find_max_qps(fn, arg, feeds, sc, warm_ns, interval_s):
    """Bisect the Poisson rate for the highest QPS whose p99 latency meets the bound.

    Upper end: 1 / median warm-up service time (the board busy all the time). Each trial runs
    trial_seconds with its own seed (seed + trial number), recorded.
    """
    bound_ns = sc["latency_bound_ms"] * 1e6
    med = _p(warm_ns, 0.5) if warm_ns else None
    if not med:
        return None, "no warm-up runs to size the search; set warmup >= 1", []
    hi, lo = 1e9 / med, 0.0
    trials = []
    timing = {"min_runs": 50, "max_runs": 10000000, "min_seconds": sc["trial_seconds"],
              "max_seconds": max(sc["trial_seconds"] * 4, 1.0)}
    best = None
    for step in range(int(sc.get("search_steps", 7))):
        qps = hi if step == 0 else (lo + hi) / 2.0
        lat, _, _, _, _ = server_loop(fn, arg, feeds, timing, qps, sc["seed"] + 1 + step, interval_s)
        p99 = _p(lat, 0.99)
        met = p99 <= bound_ns
        trials.append({"qps": qps, "p99_ms": p99 / 1e6, "n": len(lat), "met": met,
                       "seed": sc["seed"] + 1 + step})
        if met:
            best = qps if best is None or qps > best else best
            lo = qps
            if step == 0:
                break
        else:
            hi = qps
    if best is None:
        return None, ("no tried rate met p99 <= %g ms (lowest tried %.3g QPS); the bound is below "
                      "what this board reaches" % (sc["latency_bound_ms"], trials[-1]["qps"])), trials
    return best, None, trials


def sustained_loop(fn, arg, feeds, timing, sus, interval_s, thermal=None):
    """Single-stream in windows of window_s until steady and the minimums are met, or max_seconds.

    Steady: the last `windows` window medians agree within `tolerance` (latency drift) and, when
    `thermal` (a running ThermalSampler with a readable zone) is given, also the max-zone
    temperature slope over the last `slope_window_s` is within +-`slope_c_per_min` (a board can be
    thermally flat yet still settling a governor, or latency-flat while still heating up).
    Returns (latencies_ns, wall_s, stop, window_ends, per-window thermal record)."""
    lat, ends = [], []
    win = {"min_runs": 1, "max_runs": timing["max_runs"], "min_seconds": sus["window_s"],
           "max_seconds": sus["window_s"]}
    rec = {"t_ns": [], "temp_c": [], "slope_c_per_min": []}
    span_ns = int(sus["slope_window_s"] * 1e9)
    start = time.perf_counter()
    medians = []
    while True:
        w, _, _ = timed_loop(fn, arg, feeds, win, interval_s)
        lat.extend(w)
        ends.append(len(lat))
        medians.append(_p(w, 0.5))
        elapsed = time.perf_counter() - start
        tail = medians[-sus["windows"]:]
        steady = (len(tail) == sus["windows"]
                  and (max(tail) - min(tail)) <= sus["tolerance"] * (sum(tail) / len(tail)))
        now = time.monotonic_ns()
        rec["t_ns"].append(now)
        if thermal is not None:  # outside the timed region: between windows
            pts = _max_temp_points(thermal, now - span_ns, now)
            last = _max_temp_points(thermal, now - 10 * int(THERMAL_INTERVAL_S * 1e9), now)
            rec["temp_c"].append(last[-1][1] if last else None)
            slope = None
            if elapsed >= sus["slope_window_s"] and len(pts) >= 3:
                slope = _linear_slope([t / 1e9 for t, _ in pts], [c for _, c in pts]) * 60.0
            rec["slope_c_per_min"].append(slope)
            steady = steady and slope is not None and abs(slope) < sus["slope_c_per_min"]  # cooling too
        if steady and len(lat) >= timing["min_runs"] and elapsed >= timing["min_seconds"]:
            return lat, time.perf_counter() - start, "steady", ends, rec
        if elapsed >= sus["max_seconds"] or len(lat) >= timing["max_runs"]:
            return lat, time.perf_counter() - start, "max_seconds (not steady)", ends, rec


def _max_temp_points(thermal, t0_ns, t1_ns):
    """[(t_ns, max zone degC)] of a ThermalSampler's readings with t0_ns <= t <= t1_ns."""
    out = []
    for t, v in zip(list(thermal.sampler.t_ns), list(thermal.sampler.values)):
        temps = [x for x in v[0] if x is not None]
        if temps and t0_ns <= t <= t1_ns:
            out.append((t, max(temps) / 1000.0))
    return out


def sustained_thermal(power, sysfs_root):
    """(ThermalSampler or None, owned, info) for the sustained loop's thermal criterion.

    The power job's sampler when the job has power, else an own one on `sysfs_root` (started
    here; the caller stops it). None, with info["reason"], when no thermal zone can be read."""
    owned = power is None
    ts = power.thermal if power is not None else ThermalSampler(sysfs_root)
    where = _sys(ts.info["sysfs_root"], "sys/class/thermal")
    info = {"source": "agent thermal sampler (no power job)" if owned else "the power job's thermal sampler",
            "sysfs_root": ts.info["sysfs_root"], "zones": [z for z, _ in ts.zones], "reason": None}
    if not ts.zones:
        info["reason"] = "no thermal zone under %s" % where
    else:
        errors = []
        for _, path in ts.zones:
            try:
                _read_num(path)
                break
            except (OSError, ValueError) as e:
                errors.append("%s: %s" % (path, e))
        else:
            info["reason"] = "no readable thermal zone under %s (%s)" % (where, errors[0])
    if info["reason"] is not None:
        return None, False, info
    if owned:
        ts.start()
        deadline = time.monotonic() + 2 * THERMAL_INTERVAL_S
        while not ts.sampler.t_ns and time.monotonic() < deadline:  # the first reading, before t0
            time.sleep(0.01)
    return ts, owned, info


def run_sustained(fn, arg, feeds, timing, sus, interval, power, sysfs_root):
    """sustained_loop with its thermal source; returns (latencies_ns, wall_s, stop, extra fields)."""
    ts, owned, info = sustained_thermal(power, sysfs_root)
    t0 = time.monotonic_ns()
    try:
        lat, wall, stop, ends, rec = sustained_loop(fn, arg, feeds, timing, sus, interval, ts)
    finally:
        if owned:
            ts.sampler.stop()
    t1 = time.monotonic_ns()
    slope, why = None, info["reason"]
    if ts is None:
        criterion = "latency-drift (%s)" % info["reason"]
        rec["temp_c"] = rec["slope_c_per_min"] = None
    else:
        criterion = "thermal+latency"
        slope = rec["slope_c_per_min"][-1]
        if slope is None:
            n = len(_max_temp_points(ts, t1 - int(sus["slope_window_s"] * 1e9), t1))
            why = ("the run (%.1f s) was shorter than the slope window (%g s)" % (wall, sus["slope_window_s"])
                   if wall < sus["slope_window_s"] else
                   "%d thermal reading(s) in the last %g s; a slope needs 3%s" % (
                       n, sus["slope_window_s"],
                       "" if ts.sampler.first_error is None else " (read error: %s)" % ts.sampler.first_error))
        pts = [(t, [x for x in v[0] if x is not None], v[2])
               for t, v in zip(list(ts.sampler.t_ns), list(ts.sampler.values)) if t0 <= t <= t1]
        info["t_ns"] = [t for t, _, _ in pts]  # board CLOCK_MONOTONIC, like the phase events
        info["max_temp_c"] = [max(temps) / 1000.0 if temps else None for _, temps, _ in pts]
        info["throttled"] = [thr for _, _, thr in pts] if ts.vcgencmd else None
    info.update(window_t_ns=rec["t_ns"], window_temp_c=rec["temp_c"],
                window_slope_c_per_min=rec["slope_c_per_min"])
    return lat, wall, stop, {"window_ends": ends, "sustained_stop": stop, "sustained_criterion": criterion,
                             "sustained_slope_c_per_min": slope, "sustained_slope_reason": why,
                             "sustained_thermal": info}


def scenario_feeds(np, sc, arrays, samples, declared, bs, default_feeds):
    """The feeds the scenario's queries use (warm-up runs on the same ones)."""
    fixed = _fixed_batch(declared)
    if sc["name"] == "multi-stream":
        n = sc["samples_per_query"]
        return index_feeds(np, arrays, samples, n, max(1, TIMED_FEED_SAMPLES // n), fixed)
    if sc["name"] == "offline":
        b = sc["batch_sizes"][0]
        return index_feeds(np, arrays, samples, b, max(1, TIMED_FEED_SAMPLES // b), fixed)
    return default_feeds


def run_scenario(np, sc, fn, arg, feeds, arrays, samples, declared, timing, warm_ns, interval,
                 power=None, sysfs_root="/"):
    """Timed phase of the scenario; returns (latencies_ns, wall_s, stop, extra result fields)."""
    name = sc["name"]
    extra = {"scenario": sc}
    if name == "single-stream" and sc.get("sustained"):
        lat, wall, stop, sus_extra = run_sustained(fn, arg, feeds, timing, sc["sustained"], interval,
                                                   power, sysfs_root)
        extra.update(sus_extra)
        sc["window_s"] = sc["sustained"]["window_s"]
        return lat, wall, stop, extra
    if name in ("single-stream", "multi-stream"):
        lat, wall, stop = timed_loop(fn, arg, feeds, timing, interval)
        return lat, wall, stop, extra
    if name == "offline":
        sweep = []
        fixed = _fixed_batch(declared)
        min_samples = int(sc.get("min_samples") or 0)
        for j, b in enumerate(sc["batch_sizes"]):
            fb = feeds if j == 0 else index_feeds(np, arrays, samples, b,
                                                  max(1, TIMED_FEED_SAMPLES // b), fixed)
            if j:
                _run_warm(fn, arg, fb, max(1, min(10, timing["warmup"])))
            t = dict(timing)
            t["min_runs"] = max(timing["min_runs"] if j == 0 and not min_samples else 1,
                                -(-min_samples // b))
            lat, wall, stop = timed_loop(fn, arg, fb, t, interval)
            sweep.append({"batch_size": b, "latencies_ns": lat, "wall_s": wall, "stop": stop,
                          "samples": len(lat) * b})
        extra["offline"] = sweep
        first = sweep[0]
        extra["batch_size"] = first["batch_size"]
        return first["latencies_ns"], first["wall_s"], first["stop"], extra
    # server
    srv = {}
    qps = sc.get("target_qps")
    if sc["find_max_qps"]:
        best, why, trials = find_max_qps(fn, arg, feeds, sc, warm_ns, interval)
        srv.update(trials=trials, max_qps=best, max_qps_reason=why)
        if best is not None:
            qps = best
        elif qps is None:
            qps = trials[-1]["qps"]
    lat, svc, wall, stop, scheduled_s = server_loop(fn, arg, feeds, timing, qps, sc["seed"], interval)
    srv.update(target_qps=qps, scheduled_s=scheduled_s,
               achieved_qps=(len(lat) - 1) / scheduled_s if scheduled_s > 0 and len(lat) > 1 else None,
               service_p50_ms=_p(svc, 0.5) / 1e6)
    extra["server"] = srv
    return lat, wall, stop, extra


class SyntheticRunner(object):
    """Self-test runtime: spins for a duration drawn from a known distribution (seeded).

    Only for testing the statistics: selected explicitly with runtime.name "synthetic", never
    a default. Duration per call = draw (ms) * batch ** batch_exponent.
    """

    name = "synthetic"
    DISTRIBUTIONS = ("lognormal", "constant")

    def __init__(self, spec):
        self.spec = spec
        dist = spec.get("distribution", "lognormal")
        if dist not in self.DISTRIBUTIONS:
            raise JobError("runtime.distribution is %r; the synthetic runtime draws from %s"
                           % (dist, ", ".join(self.DISTRIBUTIONS)))
        self.dist = dist
        self.median_ms = _num(spec.get("median_ms", 1.0), "runtime.median_ms")
        self.sigma = _num(spec.get("sigma", 0.25), "runtime.sigma")
        self.batch_exponent = _num(spec.get("batch_exponent", 1.0), "runtime.batch_exponent")
        self.seed = _int(spec.get("seed", 0), "runtime.seed", 0)
        self.job_inputs = []

    def version(self):
        return AGENT_VERSION

    def providers_available(self):
        return []

    def set_job(self, job):
        self.job_inputs = list(job["data"]["inputs"])

    def load(self, model_path):
        import math
        import random
        self._rng = random.Random(self.seed)
        self._mu = math.log(self.median_ms) if self.median_ms > 0 else None
        return {"distribution": self.dist, "median_ms": self.median_ms, "sigma": self.sigma,
                "batch_exponent": self.batch_exponent, "seed": self.seed}

    def inputs(self):
        return [(n, [], None) for n in self.job_inputs]

    def output_names(self):
        return ["synthetic"]

    def providers_used(self):
        return []

    def _run(self, arg, feed):
        np = __import__("numpy")
        batch = len(next(iter(feed.values()))) if feed else 1
        if self.dist == "constant" or self._mu is None:
            ms = self.median_ms
        else:
            ms = self._rng.lognormvariate(self._mu, self.sigma)
        perf = time.perf_counter_ns
        end = perf() + int(ms * (batch ** self.batch_exponent) * 1e6)
        while perf() < end:
            pass
        return [np.zeros((batch, 1), dtype=np.float32)]

    def bind(self):
        return self._run, None


RUNNERS["synthetic"] = SyntheticRunner


# ---------------------------------------------------------------- TFLite / LiteRT runner
# Runs .tflite variants (docs/architecture.md, "TFLite"). The interpreter comes from the first
# of ai_edge_litert, tflite_runtime, tensorflow.lite that imports; which one is recorded as the
# runtime's "providers_used". job.runtime.tflite: {num_threads, xnnpack, delegates:
# [{library, options}]}; external delegates are loaded with load_delegate exactly as given.
# job.model.io maps the model's tensors (in order) to the eval set's input names and the fp32
# model's output names, with int8 {scale, zero_point}: inputs are quantized once before the
# timed loop (prepare_arrays), outputs dequantized after the accuracy pass (finish_outputs),
# so the controller always compares float outputs. The timed call sets the input tensors,
# invokes and reads the outputs: the runtime's own work, like onnxruntime's run().

_TFLITE_MODULES = (("ai_edge_litert.interpreter", "ai-edge-litert"),
                   ("tflite_runtime.interpreter", "tflite-runtime"),
                   ("tensorflow.lite", "tensorflow"))


class TFLiteIncompatibleError(AgentError):
    """The board's TFLite interpreter cannot run this model (known version traps, explained)."""


def _numpy_major():
    try:
        return int(__import__("numpy").__version__.split(".")[0])
    except Exception:
        return None


class TFLiteRunner(object):
    name = "tflite"

    def __init__(self, spec):
        self.spec = spec
        self.settings = spec.get("tflite") or {}
        errors = []
        self.mod = self.module_name = None
        for module, package in _TFLITE_MODULES:
            try:
                self.mod = __import__(module, fromlist=["_"])
                self.module_name, self.package = module.split(".")[0], package
                break
            except Exception as e:
                errors.append("%s: %s: %s" % (module, type(e).__name__, e))
        if self.mod is None:
            raise RuntimeMissingError("no TFLite interpreter for %s (%s); %s"
                                      % (sys.executable or "this python", "; ".join(errors),
                                         _install_hint("ai-edge-litert")))
        self.io = {}
        self.interp = None

    def set_job(self, job):
        self.io = job["model"].get("io") or {}

    def version(self):
        if self.module_name == "tensorflow":
            return getattr(__import__("tensorflow"), "__version__", None)
        info = _module_version(self.module_name)
        return info.get("version")

    def providers_available(self):
        return [self.module_name]

    def providers_used(self):
        return [self.module_name] + [d["library"] for d in self.settings.get("delegates") or []]

    def _explain(self, e):
        text = "%s: %s" % (type(e).__name__, e)
        np_major = _numpy_major()
        if self.module_name == "tflite_runtime" and np_major is not None and np_major >= 2:
            return ("tflite-runtime %s needs numpy<2; on this board numpy is %s (%s): pip install 'numpy<2' "
                    "in that environment or install ai-edge-litert" % (self.version(), __import__("numpy").__version__, text))
        if "Didn't find op for builtin opcode" in text or "Registration failed" in text:
            return ("%s %s cannot run this model: it lacks an op version the model uses (%s). Dynamic-range "
                    "int8 models need FULLY_CONNECTED version 12, which tflite-runtime 2.14 rejects; install "
                    "ai-edge-litert on the board or deploy a full-integer int8 / fp32 variant"
                    % (self.package, self.version(), text))
        return None

    def load(self, model_path):
        s = self.settings
        threads = _int(s.get("num_threads", 1), "runtime.tflite.num_threads", 1)
        kwargs = {"model_path": model_path, "num_threads": threads}
        delegates = []
        for i, d in enumerate(s.get("delegates") or []):
            if not isinstance(d, dict) or not isinstance(d.get("library"), str):
                raise JobError("runtime.tflite.delegates[%d] must be {library: path, options: {...}}" % i)
            try:
                delegates.append(self.mod.load_delegate(d["library"], dict(d.get("options") or {})))
            except Exception as e:
                raise RuntimeMissingError("cannot load TFLite delegate %s with options %s: %s: %s"
                                          % (d["library"], d.get("options") or {}, type(e).__name__, e))
        if delegates:
            kwargs["experimental_delegates"] = delegates
        xnnpack = bool(s.get("xnnpack", True))
        if not xnnpack:
            kwargs["experimental_op_resolver_type"] = self.mod.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        try:
            self.interp = self.mod.Interpreter(**kwargs)
            self.interp.allocate_tensors()
        except Exception as e:
            why = self._explain(e)
            if why:
                raise TFLiteIncompatibleError(why)
            raise
        self.in_details = self.interp.get_input_details()
        self.out_details = self.interp.get_output_details()
        self.in_names = self._names(self.io.get("inputs"), self.in_details)
        self.out_names = self._names(self.io.get("outputs"), self.out_details)
        return {"interpreter": self.module_name, "num_threads": threads, "xnnpack": xnnpack,
                "delegates": [dict(library=d["library"], options=d.get("options") or {})
                              for d in s.get("delegates") or []]}

    def _names(self, declared, details):
        if not declared:
            return [d["name"] for d in details]
        if len(declared) != len(details):
            raise DataError("job.model.io names %d tensors, the model has %d" % (len(declared), len(details)))
        return [e["name"] for e in declared]

    def inputs(self):
        # dtype None for int8 inputs: load_data must not cast floats; prepare_arrays quantizes them
        out = []
        for name, d in zip(self.in_names, self.in_details):
            dt = d["dtype"].__name__
            out.append((name, [int(x) for x in d["shape"]], None if d["quantization"][0] else dt))
        return out

    def prepare_arrays(self, np, arrays):
        """Quantize float inputs with the tensor's scale/zero point (int8 models), before any timing."""
        out = dict(arrays)
        for name, d in zip(self.in_names, self.in_details):
            scale, zp = d["quantization"]
            if scale:
                info = np.iinfo(d["dtype"])
                q = np.round(arrays[name].astype(np.float32) / scale) + zp
                out[name] = np.ascontiguousarray(np.clip(q, info.min, info.max).astype(d["dtype"]))
        return out

    def finish_outputs(self, np, outputs):
        """Dequantize int8 outputs: (q - zero_point) * scale, float32."""
        out = dict(outputs)
        for name, d in zip(self.out_names, self.out_details):
            scale, zp = d["quantization"]
            if scale and name in out:
                out[name] = ((out[name].astype(np.float32) - zp) * scale).astype(np.float32)
        return out

    def output_names(self):
        return list(self.out_names)

    def _run(self, arg, feed):
        it = self.interp
        for index, name in arg[0]:
            it.set_tensor(index, feed[name])
        it.invoke()
        return [it.get_tensor(index) for index in arg[1]]

    def bind(self):
        arg = ([(d["index"], n) for d, n in zip(self.in_details, self.in_names)],
               [d["index"] for d in self.out_details])
        return self._run, arg


RUNNERS["tflite"] = TFLiteRunner


def run_job(job, sysfs_root="/"):
    """`sysfs_root`: where a job without power reads thermal zones (sustained mode); a power job
    uses its power.sysfs_root and sampler."""
    np = _import("numpy")
    job = check_job(job)
    sc = check_scenario(job)
    power = power_begin(job)  # None unless job["power"]: then nothing runs
    runtime_spec = job["runtime"]
    bs = job["batch_size"]
    interval = job["progress_interval_s"]

    phase("load")
    runner = RUNNERS[runtime_spec["name"]](runtime_spec)
    if hasattr(runner, "set_job"):
        runner.set_job(job)
    model_path = _verified(job["model"]["path"], "model", job["model"].get("sha256"))
    _verified(job["data"]["path"], "eval set", job["data"].get("sha256"))
    t = time.perf_counter_ns()
    applied = runner.load(model_path)
    load_ms = (time.perf_counter_ns() - t) / 1e6
    rss_after_load = {}
    _fact(rss_after_load, "rss_after_load_kb", rss_kb)
    declared = runner.inputs()
    arrays, samples = load_data(np, job["data"]["path"], declared, bs, job["data"]["inputs"])
    if hasattr(runner, "prepare_arrays"):  # TFLite int8: quantize inputs once, outside timing
        arrays = runner.prepare_arrays(np, arrays)
    pad = any(shape and isinstance(shape[0], int) for _, shape, _ in declared)
    n_timed = min(samples, max(TIMED_FEED_SAMPLES, bs))
    starts = list(range(0, n_timed - bs + 1, bs)) or [0]  # full batches only, if any
    feeds = [batch_feed(np, arrays, s, bs, pad) for s in starts]
    base_feeds = feeds  # batches of data.batch_size, whatever the scenario
    feeds = scenario_feeds(np, sc, arrays, samples, declared, bs, feeds)
    fn, arg = runner.bind()

    timing = job["timing"]
    gc.collect()
    phase("warmup")
    perf = time.perf_counter_ns
    warmup_ns = []
    warm_end = perf() + int(timing["warmup_max_seconds"] * 1e9)  # a slow model never warms for hours
    for w in range(timing["warmup"]):
        feed = feeds[w % len(feeds)]
        t0 = perf()
        out = fn(arg, feed)
        t1 = perf()
        out = None  # noqa: F841
        warmup_ns.append(t1 - t0)
        if t1 >= warm_end:
            break

    phase("timed")
    gc.collect()
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        noise_start = noise_mark()  # outside the timed loop: one /proc/stat read each side
        latencies, wall_s, stop, scenario_extra = run_scenario(
            np, sc, fn, arg, feeds, arrays, samples, declared, timing, warmup_ns, interval,
            power=power, sysfs_root=sysfs_root)
        noise_end = noise_mark()
    finally:
        if gc_was_enabled:
            gc.enable()
    first_ns = warmup_ns[0] if warmup_ns else latencies[0]

    names = runner.output_names()
    accuracy = {"enabled": False, "samples": 0, "outputs_path": None,
                "outputs_sha256": None, "output_names": names}
    if job["accuracy"]["enabled"]:
        phase("accuracy")
        outputs = accuracy_pass(np, fn, arg, names, arrays, samples, bs, pad, interval)
        if hasattr(runner, "finish_outputs"):  # TFLite int8: dequantized float outputs
            outputs = runner.finish_outputs(np, outputs)
        path = job["accuracy"]["outputs_path"]
        accuracy = {"enabled": True, "samples": samples, "outputs_path": path,
                    "outputs_sha256": write_npz(path, outputs), "output_names": names}
    if power is not None:
        power.phases(fn, arg, base_feeds)
    peak = peak_rss_kb()

    phase("done")
    result = {
        "job_id": job.get("job_id"), "variant": job.get("variant"),
        "runtime": {"name": runner.name, "version": runner.version(),
                    "providers_available": runner.providers_available(),
                    "providers_used": runner.providers_used()},
        "session_options": applied,
        "batch_size": bs,
        "model_inputs": [{"name": n, "shape": s, "dtype": d} for n, s, d in declared],
        "load_ms": load_ms,
        "first_inference_ms": first_ns / 1e6,
        "warmup_ns": warmup_ns,
        "latencies_ns": latencies,
        "timed_runs": len(latencies),
        "timed_wall_s": wall_s,
        "timed_stop": stop,
        "timed_feeds": len(feeds),
        "noise": noise_figures(noise_start, noise_end),
        "peak_rss_kb": peak,
        "accuracy": accuracy,
    }
    result.update(rss_after_load)
    result.update(scenario_extra)
    if power is not None:
        result.update(power.result())
    result["facts"] = collect_facts(os.getcwd())
    emit("result", **result)


# ================================================================ power and thermal
# On-board power measurement (docs/architecture.md, "Power and thermal"). Runs only when the
# job has a "power" key: nothing below is started for a default job. Pieces:
#   * sensor drivers, one small class each, registered by name in SENSORS; each reads the
#     sysfs tree under a configurable root (default "/") so tests can point it at a fake tree;
#   * a sampler thread (CLOCK_MONOTONIC stamps, the clock of the phase events) that keeps
#     every raw read; the controller de-duplicates repeats and does all the energy math;
#   * a thermal/clock sampler (1 s) for the whole job;
#   * the power phase sequence after the latency/accuracy phases:
#     power_idle ▸ power_warmup (thermal steady state or max time) ▸ R power_window (fixed N).

import re
import subprocess
import threading

POWER_PROFILES = {  # shipped defaults; a job's "power" keys override them (seconds, °C/min)
    "default": {"sample_interval_s": 0.05, "idle_s": 10.0, "warmup_min_s": 0.0,
                "warmup_max_s": 120.0, "warmup_slope_c_per_min": 1.0, "warmup_slope_window_s": 30.0,
                "window_min_s": 10.0, "windows": 3},
    "rigorous": {"sample_interval_s": 0.05, "idle_s": 60.0, "warmup_min_s": 300.0,
                 "warmup_max_s": 900.0, "warmup_slope_c_per_min": 1.0, "warmup_slope_window_s": 60.0,
                 "window_min_s": 60.0, "windows": 5},
}
THERMAL_INTERVAL_S = 1.0
INPUT_RAILS = ("VDD_IN", "POM_5V_IN", "VIN_SYS_5V0")  # board/module input rails (others are sub-rails)
RAPL_UDEV_FIX = (
    "energy_uj is readable by root only since Linux 5.10 / 5.4.77 (CVE-2020-8694). Give the board "
    "user read access, e.g. once: sudo groupadd -f power && sudo usermod -aG power $USER && "
    "sudo chgrp power /sys/class/powercap/intel-rapl:*/energy_uj && sudo chmod g+r "
    "/sys/class/powercap/intel-rapl:*/energy_uj; to keep it across boots add the udev rule "
    "SUBSYSTEM==\"powercap\", ACTION==\"add\", RUN+=\"/bin/chgrp power /sys%p/energy_uj\", "
    "RUN+=\"/bin/chmod g+r /sys%p/energy_uj\" to /etc/udev/rules.d/99-rapl.rules")
_TEGRA_RAIL = re.compile(r"\b((?:VDD|POM|VIN)\w*) (\d+)(?:mW)?/(\d+)(?:mW)?\b")
_PMIC_LINE = re.compile(r"^\s*(\S+)_([AV]) (?:current|volt)\(\d+\)=([-+0-9.eE]+)[AV]\s*$")


class PowerError(AgentError):
    """The power sensor cannot be used as configured (missing, unreadable, unknown rail)."""


def _sys(root, rel):
    return os.path.join(root, rel.lstrip("/"))


def _read_num(path):
    with open(path) as f:
        return float(f.read().strip())


def _read_text(path):
    with open(path) as f:
        return f.read().strip()


def _default_rails(labels):
    """The input rail when there is one (sub-rails would double count); else every rail summed."""
    for name in INPUT_RAILS:
        if name in labels:
            return [name]
    return list(labels)


def _select(channels, wanted, where):
    """channels: {label: x}; wanted: list of labels or None (the default rails)."""
    if not channels:
        raise PowerError("%s: no rails found" % where)
    labels = list(channels)
    rails = list(wanted) if wanted else _default_rails(labels)
    missing = [r for r in rails if r not in channels]
    if missing:
        raise PowerError("%s has no rail %s; its rails are %s; set power.rails to some of them"
                         % (where, ", ".join(missing), ", ".join(labels)))
    return rails


class Sensor(object):
    """One power source. read() -> (values per rail, seq or None); kind "power" (W) or "energy" (µJ)."""

    name = "?"
    kind = "power"
    estimate = False

    def __init__(self, spec, root):
        self.spec, self.root = spec, root
        self.rails = []
        self.update_interval_s = None
        self.max_range_uj = None
        self.notes = []
        self.min_interval_s = 0.0

    def read(self):
        raise NotImplementedError

    def close(self):
        pass

    def info(self):
        return {"sensor": self.name, "kind": self.kind, "unit": "W" if self.kind == "power" else "uJ",
                "rails": list(self.rails), "update_interval_s": self.update_interval_s,
                "max_range_uj": self.max_range_uj, "estimate": self.estimate, "notes": list(self.notes)}


def _hwmon_dirs(root):
    import glob
    seen, out = set(), []
    for pattern in ("sys/class/hwmon/hwmon*", "sys/bus/i2c/drivers/*/*/hwmon/hwmon*"):
        for d in sorted(glob.glob(_sys(root, pattern))):
            real = os.path.realpath(d)
            if real not in seen and os.path.isfile(os.path.join(d, "name")):
                seen.add(real)
                out.append(d)
    return out


def _hwmon_channels(d):
    """{mode: {label: reader spec}} for one hwmon dir: power (µW), energy (µJ), vi (mV × mA)."""
    files = set(os.listdir(d))
    out = {"power": {}, "energy": {}, "vi": {}}

    def label(kind, n):
        lf = "%s%s_label" % (kind, n)
        return _read_text(os.path.join(d, lf)) if lf in files else "%s%s" % (kind, n)

    for f in sorted(files):
        m = re.match(r"^(power|energy|curr)(\d+)_input$", f)
        if not m:
            continue
        kind, n = m.groups()
        if kind == "curr":
            if "in%s_input" % n in files:
                lab = label("in", n) if "in%s_label" % n in files else label("curr", n)
                out["vi"][lab] = (os.path.join(d, "in%s_input" % n), os.path.join(d, f))
        else:
            out[kind][label(kind, n)] = os.path.join(d, f)
    return out


class HwmonSensor(Sensor):
    """Any hwmon chip, chosen by `name` (never by hwmonN) and rails by *_label."""

    name = "hwmon"
    chip_default = None

    def __init__(self, spec, root):
        Sensor.__init__(self, spec, root)
        chip = spec.get("chip") or self.chip_default
        if not chip:
            raise PowerError("power.chip is missing; give the hwmon chip name (the `name` file), "
                             "e.g. ina226; `edgeeval devices check` lists them")
        dirs = [d for d in _hwmon_dirs(root) if _read_text(os.path.join(d, "name")) == chip]
        if not dirs:
            raise PowerError("no hwmon chip named %r under %s; found %s" % (
                chip, _sys(root, "sys/class/hwmon"),
                ", ".join(sorted(set(_read_text(os.path.join(d, "name")) for d in _hwmon_dirs(root))))
                or "none"))
        chans = {"power": {}, "energy": {}, "vi": {}}
        for d in dirs:
            for mode, found in _hwmon_channels(d).items():
                for lab, src in found.items():
                    key = lab if lab not in chans[mode] else "%s#%d" % (lab, len(chans[mode]))
                    chans[mode][key] = src
            if os.path.isfile(os.path.join(d, "update_interval")):
                self.update_interval_s = _read_num(os.path.join(d, "update_interval")) / 1000.0
        mode = spec.get("mode") or "auto"
        if mode == "auto":
            mode = next((m for m in ("power", "energy", "vi") if chans[m]), "power")
        if mode not in chans:
            raise PowerError("power.mode is %r; use auto, power, energy or vi" % mode)
        self.mode = mode
        self.kind = "energy" if mode == "energy" else "power"
        self.rails = _select(chans[mode], spec.get("rails"), "hwmon chip %s (%s)" % (chip, mode))
        self.sources = [chans[mode][r] for r in self.rails]
        if self.update_interval_s is None:
            self.notes.append("the chip exposes no update_interval; repeats are detected by value")
        self.notes.append("hwmon %s, %s" % (chip, {"power": "power*_input (uW)", "energy":
                          "energy*_input (uJ counter)", "vi": "in*_input x curr*_input (mV x mA)"}[mode]))
        self.read()  # fail now, not in the sampler thread

    def read(self):
        if self.mode == "vi":
            return [_read_num(v) * _read_num(i) / 1e6 for v, i in self.sources], None
        if self.mode == "power":
            return [_read_num(p) / 1e6 for p in self.sources], None
        return [_read_num(p) for p in self.sources], None


class Ina3221Sensor(HwmonSensor):
    """Jetson INA3221: JetPack 5/6 hwmon (V×I, no power file) or JetPack 4 IIO (in_power*, mW)."""

    name = "ina3221"
    chip_default = "ina3221"

    def __init__(self, spec, root):
        import glob
        iio = sorted(glob.glob(_sys(root, "sys/bus/i2c/drivers/ina3221x/*/iio:device*")))
        hw = [d for d in _hwmon_dirs(root) if _read_text(os.path.join(d, "name")) == "ina3221"]
        if hw or not iio:
            spec = dict(spec, mode=spec.get("mode") or "vi")
            HwmonSensor.__init__(self, spec, root)
        else:
            Sensor.__init__(self, spec, root)
            chans = {}
            for d in iio:
                for f in sorted(os.listdir(d)):
                    m = re.match(r"^rail_name_(\d+)$", f)
                    if m and os.path.isfile(os.path.join(d, "in_power%s_input" % m.group(1))):
                        chans[_read_text(os.path.join(d, f))] = os.path.join(d, "in_power%s_input" % m.group(1))
            self.mode = "iio"
            self.rails = _select(chans, spec.get("rails"), "INA3221 IIO (JetPack 4)")
            self.sources = [chans[r] for r in self.rails]
            self.notes.append("JetPack 4 IIO in_power*_input (mW); update interval not exposed")
            self.read()
        if "VDD_IN" not in self.rails and "POM_5V_IN" not in self.rails:
            self.notes.append("no input rail selected: the sum of %s covers the module rails only"
                              % "+".join(self.rails))
        else:
            self.notes.append("the input rail covers the module, not the carrier board")

    def read(self):
        if self.mode == "iio":
            return [_read_num(p) / 1000.0 for p in self.sources], None
        return HwmonSensor.read(self)


def parse_tegrastats(line):
    """{rail: current mW} from one tegrastats line (JetPack 4 and 5/6 formats)."""
    return dict((m.group(1), float(m.group(2))) for m in _TEGRA_RAIL.finditer(line))


class TegrastatsSensor(Sensor):
    """One long-lived `tegrastats --interval MS`; a reader thread keeps the newest line."""

    name = "tegrastats"

    def __init__(self, spec, root):
        Sensor.__init__(self, spec, root)
        cmd = spec.get("command") or "tegrastats"
        interval_ms = max(10, int(round(float(spec.get("sample_interval_s") or 0.1) * 1000)))
        self.update_interval_s = interval_ms / 1000.0
        self.min_interval_s = self.update_interval_s / 2
        path = shutil.which(cmd)
        if path is None:
            raise PowerError("%s is not on PATH (%s); tegrastats ships with JetPack" % (cmd, os.environ.get("PATH")))
        self.proc = subprocess.Popen([path, "--interval", str(interval_ms)], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, universal_newlines=True)
        self.latest, self.seq = None, 0
        self.cond = threading.Condition()
        threading.Thread(target=self._reader, name="tegrastats-reader", daemon=True).start()
        with self.cond:
            self.cond.wait_for(lambda: self.latest is not None, timeout=max(3.0, 5 * self.update_interval_s))
            first = self.latest
        if not first:
            self.close()
            raise PowerError("%s printed no power rail within %.1f s" % (cmd, max(3.0, 5 * self.update_interval_s)))
        self.rails = _select(first, spec.get("rails"), "tegrastats")
        self.notes.append("tegrastats current values (mW), not its running averages")

    def _reader(self):
        for line in self.proc.stdout:
            rails = parse_tegrastats(line)
            if rails:
                with self.cond:
                    self.latest, self.seq = rails, self.seq + 1
                    self.cond.notify_all()

    def read(self):
        with self.cond:
            latest, seq = self.latest, self.seq
        return [latest.get(r, float("nan")) / 1000.0 for r in self.rails], seq

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=2)
            except Exception:
                self.proc.kill()


class RaplSensor(Sensor):
    """powercap energy_uj counters (µJ, wrap at max_energy_range_uj); root-only on modern kernels."""

    name = "rapl"
    kind = "energy"

    def __init__(self, spec, root):
        import glob
        Sensor.__init__(self, spec, root)
        chans, top = {}, []
        for d in sorted(glob.glob(_sys(root, "sys/class/powercap/intel-rapl:*"))):
            if not os.path.isfile(os.path.join(d, "name")):
                continue
            lab = _read_text(os.path.join(d, "name"))
            if lab in chans:
                lab = "%s@%s" % (lab, os.path.basename(d))
            chans[lab] = d
            if re.match(r"^intel-rapl:\d+$", os.path.basename(d)):
                top.append(lab)
        wanted = spec.get("rails") or [t for t in top if t.startswith("package")] or top
        self.rails = _select(chans, wanted, "RAPL powercap")
        self.sources = [os.path.join(chans[r], "energy_uj") for r in self.rails]
        self.max_range_uj = []
        for r in self.rails:
            self.max_range_uj.append(int(_read_text(os.path.join(chans[r], "max_energy_range_uj"))))
        try:
            self.read()
        except PermissionError as e:
            raise PowerError("cannot read %s: permission denied (%s). %s"
                             % (e.filename or self.sources[0], e.strerror, RAPL_UDEV_FIX))
        self.update_interval_s = 0.001
        self.notes.append("RAPL counters cover the CPU package domains %s, not the board" % ", ".join(self.rails))

    def read(self):
        out = []
        for p in self.sources:
            with open(p) as f:
                out.append(int(f.read().strip()))  # Python ints: the 64-bit range is kept exactly
        return out, None


def parse_pmic(text):
    """{rail: watts} from `vcgencmd pmic_read_adc`, pairing RAIL_A with RAIL_V (volt-only rails dropped)."""
    amps, volts = {}, {}
    for line in text.splitlines():
        m = _PMIC_LINE.match(line)
        if m:
            (amps if m.group(2) == "A" else volts)[m.group(1)] = float(m.group(3))
    return dict((r, amps[r] * volts[r]) for r in amps if r in volts)


class Rpi5PmicSensor(Sensor):
    """Raspberry Pi 5 PMIC ADC via `vcgencmd pmic_read_adc` (one spawn per read): an estimate."""

    name = "rpi5-pmic"
    estimate = True

    def __init__(self, spec, root):
        Sensor.__init__(self, spec, root)
        self.cmd = shutil.which(spec.get("command") or "vcgencmd")
        if self.cmd is None:
            raise PowerError("vcgencmd is not on PATH; install raspi-utils (Raspberry Pi OS)")
        self.min_interval_s = 0.05  # one spawn per read: ~10-20 Hz is what a Pi 5 achieves
        self.seq = 0
        rails = self._read_all()
        self.rails = list(spec.get("rails") or rails)
        _select(rails, self.rails, "vcgencmd pmic_read_adc")
        self.notes.append("ESTIMATE: the PMIC rails miss the 5 V consumers (USB, HAT, NVMe); one "
                          "board fitted real = 1.1451*P_pmic + 0.5879 W against a USB-C meter")

    def _read_all(self):
        try:
            out = subprocess.run([self.cmd, "pmic_read_adc"], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, universal_newlines=True, timeout=5)
        except OSError as e:
            raise PowerError("vcgencmd pmic_read_adc failed: %s" % e)
        if out.returncode != 0:
            raise PowerError("vcgencmd pmic_read_adc exited %d: %s (is the user in group video?)"
                             % (out.returncode, out.stderr.strip()[:200]))
        return parse_pmic(out.stdout)

    def read(self):
        rails = self._read_all()
        self.seq += 1
        return [rails.get(r, float("nan")) for r in self.rails], self.seq


class NoSensor(Sensor):
    """No power source on this board: the power fields are null with the reason."""

    name = "none"


SENSORS = {"hwmon": HwmonSensor, "ina3221": Ina3221Sensor, "tegrastats": TegrastatsSensor,
           "rapl": RaplSensor, "rpi5-pmic": Rpi5PmicSensor, "none": NoSensor}


def discover_sensors(root="/"):
    """What `devices check` lists: every power source found, its rails, whether it is readable."""
    import glob
    found = []
    for d in _hwmon_dirs(root):
        chip = _read_text(os.path.join(d, "name"))
        chans = _hwmon_channels(d)
        mode = next((m for m in ("power", "energy", "vi") if chans[m]), "power")  # what "auto" reads
        entry = {"sensor": "ina3221" if chip == "ina3221" else "hwmon", "chip": chip, "path": d,
                 "mode": mode, "rails": sorted(chans[mode])}
        if entry["rails"]:
            found.append(entry)
    for d in sorted(glob.glob(_sys(root, "sys/bus/i2c/drivers/ina3221x/*/iio:device*"))):
        rails = [_read_text(os.path.join(d, f)) for f in sorted(os.listdir(d)) if f.startswith("rail_name_")]
        found.append({"sensor": "ina3221", "chip": "ina3221x (JetPack 4 IIO)", "path": d, "rails": rails})
    rapl = sorted(glob.glob(_sys(root, "sys/class/powercap/intel-rapl:*")))
    if rapl:
        entry = {"sensor": "rapl", "path": _sys(root, "sys/class/powercap"),
                 "rails": [_read_text(os.path.join(d, "name")) for d in rapl if os.path.isfile(os.path.join(d, "name"))]}
        try:
            _read_text(os.path.join(rapl[0], "energy_uj"))
        except PermissionError:
            entry["readable"] = False
            entry["reason"] = "energy_uj: permission denied. " + RAPL_UDEV_FIX
        found.append(entry)
    for name, cmd in (("tegrastats", "tegrastats"), ("rpi5-pmic", "vcgencmd")):
        if shutil.which(cmd):
            found.append({"sensor": name, "path": shutil.which(cmd), "rails": None,
                          "reason": "rails are known once it runs"})
    return found


def _linear_slope(ts, ys):
    n = len(ts)
    mt, my = sum(ts) / n, sum(ys) / n
    var = sum((t - mt) ** 2 for t in ts)
    return sum((t - mt) * (y - my) for t, y in zip(ts, ys)) / var if var > 0 else 0.0


class _Sampler(threading.Thread):
    """Calls `read()` every `interval_s`; keeps (t_ns, values, seq) of every read, repeats included."""

    def __init__(self, read, interval_s, name):
        threading.Thread.__init__(self, name=name, daemon=True)
        self.read_fn, self.interval_s = read, interval_s
        self.t_ns, self.values, self.seq = [], [], []
        self.errors, self.first_error = 0, None
        self.halt = threading.Event()

    def run(self):
        mono = time.monotonic_ns
        step = int(self.interval_s * 1e9)
        nxt = mono()
        while True:
            t0 = mono()
            try:
                values, seq = self.read_fn()
            except Exception as e:
                self.errors += 1
                if self.first_error is None:
                    self.first_error = "%s: %s" % (type(e).__name__, e)
            else:
                self.t_ns.append((t0 + mono()) // 2)
                self.values.append(values)
                self.seq.append(seq)
            nxt += step
            if self.halt.wait(max(0.0, (nxt - mono()) / 1e9)):
                return

    def stop(self):
        self.halt.set()
        self.join(5.0)


class ThermalSampler(object):
    """Every second: thermal zones (m°C), cpufreq policies (kHz, governor), Pi throttle bits."""

    def __init__(self, root, interval_s=THERMAL_INTERVAL_S, vcgencmd="vcgencmd"):
        import glob
        self.info = {"interval_s": interval_s, "sysfs_root": root}
        self.zones = []
        for d in sorted(glob.glob(_sys(root, "sys/class/thermal/thermal_zone*")),
                        key=lambda p: int(re.sub(r"\D", "", os.path.basename(p)) or 0)):
            if os.path.isfile(os.path.join(d, "temp")):
                try:
                    self.zones.append((_read_text(os.path.join(d, "type")), os.path.join(d, "temp")))
                except OSError:
                    pass
        self.policies = []
        for d in sorted(glob.glob(_sys(root, "sys/devices/system/cpu/cpufreq/policy*"))):
            if os.path.isfile(os.path.join(d, "scaling_cur_freq")):
                self.policies.append((os.path.basename(d), d))
        self.info["zones"] = [z for z, _ in self.zones]
        self.info["policies"] = [p for p, _ in self.policies]
        if not self.zones:
            self.info["zones_reason"] = "no thermal_zone*/temp under %s" % _sys(root, "sys/class/thermal")
        if not self.policies:
            self.info["policies_reason"] = "no cpufreq policy*/scaling_cur_freq under %s" % _sys(
                root, "sys/devices/system/cpu/cpufreq")
        self.info["governors"] = dict((p, self._gov(d)) for p, d in self.policies)
        self.vcgencmd = shutil.which(vcgencmd)
        self.info["throttle_source"] = "vcgencmd get_throttled" if self.vcgencmd else None
        if not self.vcgencmd:
            self.info["throttle_reason"] = "no vcgencmd on PATH (not a Raspberry Pi)"
        nv = shutil.which("nvpmodel")
        self.info["nvpmodel"] = None
        if nv:
            try:
                self.info["nvpmodel"] = subprocess.run([nv, "-q"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                                       universal_newlines=True, timeout=5).stdout.strip()
            except Exception as e:
                self.info["nvpmodel_reason"] = "nvpmodel -q failed: %s" % e
        else:
            self.info["nvpmodel_reason"] = "no nvpmodel on PATH (not a Jetson)"
        self.sampler = _Sampler(self._read, interval_s, "thermal-sampler")

    @staticmethod
    def _gov(d):
        try:
            return _read_text(os.path.join(d, "scaling_governor"))
        except OSError:
            return None

    def _read(self):
        temps = []
        for _, path in self.zones:
            try:
                temps.append(_read_num(path))
            except (OSError, ValueError):
                temps.append(None)
        freqs = []
        for _, d in self.policies:
            try:
                freqs.append(_read_num(os.path.join(d, "scaling_cur_freq")))
            except (OSError, ValueError):
                freqs.append(None)
        thr = None
        if self.vcgencmd:
            try:
                out = subprocess.run([self.vcgencmd, "get_throttled"], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, universal_newlines=True, timeout=2).stdout
                thr = int(out.strip().split("=", 1)[1], 16)
            except Exception:
                thr = None
        return [temps, freqs, thr], None

    def start(self):
        self.sampler.start()

    def max_temp_series(self):
        """[(t_s, max zone °C)] so far, for the warmup slope."""
        out = []
        for t, v in zip(list(self.sampler.t_ns), list(self.sampler.values)):
            temps = [x for x in v[0] if x is not None]
            if temps:
                out.append((t / 1e9, max(temps) / 1000.0))
        return out

    def finish(self, phases):
        self.sampler.stop()
        s = self.sampler
        out = dict(self.info)
        out.update({"t_ns": s.t_ns, "temp_mc": [v[0] for v in s.values], "freq_khz": [v[1] for v in s.values],
                    "throttled": [v[2] for v in s.values] if self.vcgencmd else None,
                    "governors_end": dict((p, self._gov(d)) for p, d in self.policies),
                    "phases": phases, "read_errors": s.errors, "first_error": s.first_error})
        return out


_PHASE_MARKS = []  # (phase, t_ns) of every phase event, for the thermal/power windows


def _power_settings(spec):
    if not isinstance(spec, dict):
        raise JobError("job.power must be an object")
    profile = spec.get("profile") or "default"
    if profile not in POWER_PROFILES:
        raise JobError("power.profile is %r; use %s" % (profile, " or ".join(POWER_PROFILES)))
    st = dict(POWER_PROFILES[profile], profile=profile)
    for k in POWER_PROFILES["default"]:
        if spec.get(k) is not None:
            st[k] = _int(spec[k], "power." + k, 1) if k == "windows" else _num(spec[k], "power." + k)
    if st["sample_interval_s"] <= 0:
        raise JobError("power.sample_interval_s must be > 0")
    st["sensor"] = spec.get("sensor") or "none"
    if st["sensor"] not in SENSORS:
        raise JobError("power.sensor is %r; this agent knows %s" % (st["sensor"], ", ".join(sorted(SENSORS))))
    st["sysfs_root"] = spec.get("sysfs_root") or "/"
    st["rails"] = spec.get("rails")
    return st


class PowerRun(object):
    """Power and thermal state of one job: begin() before the load, phases() after accuracy."""

    def __init__(self, job):
        self.settings = _power_settings(job["power"])
        del _PHASE_MARKS[:]
        self.thermal = ThermalSampler(self.settings["sysfs_root"],
                                      vcgencmd=job["power"].get("vcgencmd") or "vcgencmd")
        self.thermal.start()
        st = self.settings
        self.sensor, self.reason = None, None
        self.host_meter = _host_meter(job["power"])  # a meter on the controller: phases run without a sensor
        if st["sensor"] == "none":
            self.reason = job["power"].get("reason") or "no power sensor on this board (power.sensor: none)"
        else:
            spec = dict(job["power"], sample_interval_s=st["sample_interval_s"])
            self.sensor = SENSORS[st["sensor"]](spec, st["sysfs_root"])  # PowerError stops the job now
            if job["power"].get("sample_during_timed"):  # also sample the latency phase (observer benchmark)
                self._start_sampler()

    def _start_sampler(self):
        self.interval = max(self.settings["sample_interval_s"], self.sensor.min_interval_s)
        self.sampler = _Sampler(self.sensor.read, self.interval, "power-sampler")
        self.sampler.start()
        time.sleep(2 * self.interval)

    def phases(self, fn, arg, feeds):
        """idle ▸ warmup to thermal steady state ▸ R windows of a fixed N inferences."""
        if self.sensor is None and self.host_meter is None:
            return
        st, sensor = self.settings, self.sensor
        if sensor is None:  # the controller's meter samples; the agent only stamps the phases
            self.interval = max(st["sample_interval_s"], self.host_meter["interval_s"])
            sensor = _NoSensorTiming()
        elif getattr(self, "sampler", None) is None:
            self._start_sampler()
        interval = self.interval
        mono = time.monotonic_ns
        phase("power_idle")
        t0 = mono()
        time.sleep(st["idle_s"])
        self.idle = [t0, mono()]
        phase("power_warmup")
        w0 = mono()
        n, nf, i = 0, len(feeds), 0
        stop, slope = "max_seconds", None
        check_every = 0.25
        next_check = w0 + int(check_every * 1e9)
        while True:
            fn(arg, feeds[i])
            n += 1
            i = (i + 1) % nf
            now = mono()
            if now < next_check:
                continue
            next_check = now + int(check_every * 1e9)
            el = (now - w0) / 1e9
            if el >= st["warmup_max_s"]:
                break
            emit("progress", phase="power_warmup", done=n, total=None, elapsed_s=el)  # idle timer
            if el >= st["warmup_min_s"]:
                series = [p for p in self.thermal.max_temp_series() if p[0] >= now / 1e9 - st["warmup_slope_window_s"]]
                if len(series) >= 3 and series[-1][0] - series[0][0] >= 0.5 * min(st["warmup_slope_window_s"], el):
                    slope = _linear_slope([p[0] for p in series], [p[1] for p in series]) * 60.0
                    if slope < st["warmup_slope_c_per_min"]:
                        stop = "steady"
                        break
        w1 = mono()
        if not self.thermal.zones:
            stop = "max_seconds (no thermal zone to judge steady state)"
        per_inf = (w1 - w0) / 1e9 / max(n, 1)
        target = max(st["window_min_s"], 100 * interval, 10 * (sensor.update_interval_s or 0))
        if self.host_meter is not None:  # the controller trims a guard band off each edge
            target += 2 * self.host_meter["guard_s"]
        n_win = max(1, int(1.25 * target / per_inf + 0.999))  # margin: the rate drifts on a busy board
        self.warmup = {"t0_ns": w0, "t1_ns": w1, "inferences": n, "stop": stop,
                       "slope_c_per_min": slope, "mean_inference_s": per_inf}
        self.window_target_s, self.n_win = target, n_win
        self.windows = []
        gc.collect()
        gc_was = gc.isenabled()
        gc.disable()
        try:
            for r in range(st["windows"]):
                phase("power_window")
                t0 = mono()
                for k in range(n_win):
                    fn(arg, feeds[k % nf])
                self.windows.append({"t0_ns": t0, "t1_ns": mono(), "n": n_win})
        finally:
            if gc_was:
                gc.enable()
        time.sleep(max(2 * interval, 2 * (sensor.update_interval_s or 0)))  # a sample past the last edge
        if getattr(self, "sampler", None) is not None:
            self.sampler.stop()
        phase("power_done")

    def result(self):
        """{"power": ..., "thermal": ...} for the result event."""
        if self.sensor is None:
            power = {"sensor": "none", "reason": self.reason, "settings": self.settings}
            if getattr(self, "windows", None) is not None:  # phases ran for the controller's meter
                power.update({"host_meter": self.host_meter, "sample_interval_s": self.interval,
                              "idle": self.idle, "warmup": self.warmup, "windows": self.windows,
                              "window_target_s": self.window_target_s, "inferences_per_window": self.n_win})
        else:
            s = self.sampler
            self.sensor.close()
            power = self.sensor.info()
            power.update({"settings": self.settings, "sample_interval_s": self.interval,
                          "idle": self.idle, "warmup": self.warmup, "windows": self.windows,
                          "window_target_s": self.window_target_s, "inferences_per_window": self.n_win,
                          "samples": {"t_ns": s.t_ns, "values": s.values,
                                      "seq": s.seq if any(q is not None for q in s.seq) else None},
                          "read_errors": s.errors, "first_error": s.first_error})
        return {"power": power, "thermal": self.thermal.finish([list(p) for p in _PHASE_MARKS])}

    def abort(self):
        for obj in (getattr(self, "sampler", None), self.thermal.sampler):
            if obj is not None and obj.is_alive():
                obj.stop()
        if self.sensor is not None:
            self.sensor.close()


class _NoSensorTiming(object):
    """Stands in for a sensor when only the controller's meter measures (sensor none)."""
    update_interval_s = None


def _host_meter(spec):
    """job.power.host_meter {interval_s, guard_s}: the controller runs a meter (None: no meter)."""
    hm = spec.get("host_meter")
    if hm is None:
        return None
    if not isinstance(hm, dict):
        raise JobError("power.host_meter must be an object {interval_s, guard_s}")
    return {"interval_s": _num(hm.get("interval_s", 0.1), "power.host_meter.interval_s"),
            "guard_s": _num(hm.get("guard_s", 0.5), "power.host_meter.guard_s")}


def power_begin(job):
    """A PowerRun when the job asks for power (thermal sampler started), else None: no cost."""
    if not job.get("power"):
        return None
    import atexit
    run = PowerRun(job)
    atexit.register(run.abort)  # a failing job must not leave tegrastats or samplers behind
    return run



WATCHDOG_EXIT = 75


def start_watchdog(stream, seconds):
    """A job with "watchdog_s": the controller keeps stdin open and writes a newline about every
    second while it listens. When none arrives for `seconds` (a cut link, a hung or killed
    controller) or stdin closes, the agent logs why and exits at once, so the board is free for
    the next job instead of measuring for nobody. One thread, woken once per beat (select)."""
    import select
    import threading

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


def main(argv=None):
    global _OUT
    # Protocol lines get a private copy of fd 1; fd 1 itself and sys.stdout then point at
    # stderr, so stray prints (Python or native code) cannot corrupt the protocol.
    try:
        _OUT = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
        sys.stdout.flush()
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):
        _OUT = sys.stdout
    sys.stdout = sys.stderr

    parser = argparse.ArgumentParser(prog="agent.py", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    probe = sub.add_parser("probe", help="print one facts line about this board")
    probe.add_argument("--workdir", default=".", help="directory whose free disk space to report")
    probe.add_argument("--sysfs-root", default="/", help="where to look for power sensors (tests: a fake tree)")
    run_cmd = sub.add_parser("run", help="run the job given as JSON on stdin")
    run_cmd.add_argument("--sysfs-root", default="/",
                     help="where a job without power reads thermal zones (tests: a fake tree)")
    args = parser.parse_args(argv)
    if args.command == "probe":
        facts = collect_facts(args.workdir)
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
