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
                         "tflite_runtime": _module_version("tflite_runtime")}
    cpu = {}
    _fact(cpu, "model", _cpu_model)
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
    return facts


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

def _int(value, field, minimum):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise JobError("%s is %r; it must be an integer >= %d" % (field, value, minimum))
    return value


def _num(value, field):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise JobError("%s is %r; it must be a number >= 0" % (field, value))
    return float(value)


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
    timing = {"warmup": _int(t.get("warmup", 10), "timing.warmup", 0),
              "min_runs": _int(t.get("min_runs", 200), "timing.min_runs", 1),
              "min_seconds": _num(t.get("min_seconds", 5.0), "timing.min_seconds"),
              "max_runs": _int(t.get("max_runs", 1000000), "timing.max_runs", 1),
              "max_seconds": _num(t.get("max_seconds", 600.0), "timing.max_seconds")}
    acc = job.get("accuracy") or {}
    enabled = bool(acc.get("enabled", True))
    if enabled and not (isinstance(acc.get("outputs_path"), str) and acc["outputs_path"]):
        raise JobError("job.accuracy.outputs_path must be a path when accuracy is enabled")
    out = dict(job)
    out["timing"] = timing
    out["accuracy"] = {"enabled": enabled, "outputs_path": acc.get("outputs_path")}
    out["batch_size"] = _int(data.get("batch_size", 1), "data.batch_size", 1)
    out["progress_interval_s"] = _num(job.get("progress_interval_s", 0.5), "progress_interval_s")
    return out


def _existing(path, what):
    if not os.path.isfile(path):
        raise FileMissingError("%s %s not found (cwd %s)" % (what, path, os.getcwd()))
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
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def phase(name):
    emit("phase", phase=name, t_ns=time.monotonic_ns())


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


def accuracy_pass(np, fn, arg, names, arrays, samples, batch_size, pad, interval_s):
    """Every sample, in order; returns {output name: concatenated array}."""
    parts = dict((n, []) for n in names)
    start = time.perf_counter()
    next_progress = start + interval_s
    for s in range(0, samples, batch_size):
        n = min(batch_size, samples - s)
        outs = fn(arg, batch_feed(np, arrays, s, batch_size, pad))
        for name, o in zip(names, outs):
            o = np.asarray(o)
            parts[name].append(o[:n] if (pad and n < batch_size and o.ndim) else o)
        now = time.perf_counter()
        if now >= next_progress:
            emit("progress", phase="accuracy", done=s + n, total=samples, elapsed_s=now - start)
            next_progress = now + interval_s
    out = {}
    for name, chunks in parts.items():
        out[name] = np.concatenate(chunks) if chunks[0].ndim else np.stack(chunks)
    return out


def run_job(job):
    np = _import("numpy")
    job = check_job(job)
    runtime_spec = job["runtime"]
    bs = job["batch_size"]
    interval = job["progress_interval_s"]

    phase("load")
    runner = RUNNERS[runtime_spec["name"]](runtime_spec)
    model_path = _existing(job["model"]["path"], "model")
    t = time.perf_counter_ns()
    applied = runner.load(model_path)
    load_ms = (time.perf_counter_ns() - t) / 1e6
    rss_after_load = {}
    _fact(rss_after_load, "rss_after_load_kb", rss_kb)
    declared = runner.inputs()
    arrays, samples = load_data(np, job["data"]["path"], declared, bs, job["data"]["inputs"])
    pad = any(shape and isinstance(shape[0], int) for _, shape, _ in declared)
    n_timed = min(samples, max(TIMED_FEED_SAMPLES, bs))
    starts = list(range(0, n_timed - bs + 1, bs)) or [0]  # full batches only, if any
    feeds = [batch_feed(np, arrays, s, bs, pad) for s in starts]
    fn, arg = runner.bind()

    timing = job["timing"]
    gc.collect()
    phase("warmup")
    perf = time.perf_counter_ns
    warmup_ns = []
    for w in range(timing["warmup"]):
        feed = feeds[w % len(feeds)]
        t0 = perf()
        out = fn(arg, feed)
        t1 = perf()
        out = None  # noqa: F841
        warmup_ns.append(t1 - t0)

    phase("timed")
    gc.collect()
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        latencies, wall_s, stop = timed_loop(fn, arg, feeds, timing, interval)
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
        path = job["accuracy"]["outputs_path"]
        accuracy = {"enabled": True, "samples": samples, "outputs_path": path,
                    "outputs_sha256": write_npz(path, outputs), "output_names": names}
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
        "peak_rss_kb": peak,
        "accuracy": accuracy,
    }
    result.update(rss_after_load)
    result["facts"] = collect_facts(os.getcwd())
    emit("result", **result)


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
    sub.add_parser("run", help="run the job given as JSON on stdin")
    args = parser.parse_args(argv)
    if args.command == "probe":
        emit("facts", **collect_facts(args.workdir))
        return 0
    if args.command != "run":
        parser.print_usage(sys.stderr)
        return 2
    emit("hello", protocol=AGENT_PROTOCOL, agent_version=AGENT_VERSION, pid=os.getpid())
    try:
        run_job(read_job(sys.stdin))
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
