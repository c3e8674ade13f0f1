"""The power phase sequence after the latency/accuracy phases: power_idle ▸ power_warmup
(thermal steady state or max time) ▸ R power_window (fixed N). Runs only when the job has a
"power" key: nothing here is started for a default job. All energy math is on the controller."""

import gc
import time

from ..protocol import _PHASE_MARKS, JobError, _int, _need, _num, emit, phase
from .sampler import _linear_slope, _Sampler
from .sensors import SENSORS
from .thermal import ThermalSampler

# the durations a power job carries (their values come from the controller: edgeeval/jobdefaults.py)
POWER_KEYS = ("sample_interval_s", "idle_s", "warmup_min_s", "warmup_max_s", "warmup_slope_c_per_min",
              "warmup_slope_window_s", "window_min_s", "windows")


def _power_settings(spec):
    if not isinstance(spec, dict):
        raise JobError("job.power must be an object")
    st = {"profile": spec.get("profile")}
    for k in POWER_KEYS:
        v = _need(spec, k, "power." + k)
        st[k] = _int(v, "power." + k, 1) if k == "windows" else _num(v, "power." + k)
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
    return {"interval_s": _num(_need(hm, "interval_s", "power.host_meter.interval_s"), "power.host_meter.interval_s"),
            "guard_s": _num(_need(hm, "guard_s", "power.host_meter.guard_s"), "power.host_meter.guard_s")}


def power_begin(job):
    """A PowerRun when the job asks for power (thermal sampler started), else None: no cost."""
    if not job.get("power"):
        return None
    import atexit
    run = PowerRun(job)
    atexit.register(run.abort)  # a failing job must not leave tegrastats or samplers behind
    return run
