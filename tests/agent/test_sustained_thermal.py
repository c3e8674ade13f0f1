"""Sustained mode's thermal stop: the real agent file in a subprocess, the synthetic runtime
(flat latency) and a fake sysfs thermal zone whose temperature a thread rewrites over time."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from edgeeval.cli.render import _scenario_rows
from edgeeval.evaluate.scenarios import scenario_summary
from edgeeval.testing import powerboard as pb
from edgeeval.testing.agent import run_agent
from edgeeval.testing.models import make_job

FLAT_MS = {"name": "synthetic", "distribution": "constant", "median_ms": 0.5, "sigma": 0.0, "seed": 7}
# latency alone is steady after 2 windows (~0.8 s): anything longer is the thermal criterion
SUS = {"window_s": 0.4, "windows": 2, "tolerance": 0.5, "slope_window_s": 3.0, "slope_c_per_min": 6.0}


def run(board, sustained, sysfs_root=None, power=None):
    job = make_job("cache/mlp.onnx", "cache/mlp.npz", warmup=2, min_runs=10, min_seconds=0.0,
                   accuracy=False, runtime=FLAT_MS)
    job["scenario"] = {"name": "single-stream", "sustained": sustained}
    if power is not None:
        job["power"] = power
    argv = ["run"] + (["--sysfs-root", str(sysfs_root)] if sysfs_root is not None else [])
    return run_agent(board, argv, job).events[-1]


class Heater(threading.Thread):
    """Rewrites thermal_zone0/temp every 0.1 s: rate_c_per_s from 40 °C for rise_s, then flat."""

    def __init__(self, root, rise_s, rate_c_per_s=0.5):
        super().__init__(daemon=True)
        pb.fake_thermal(root, temp_mc=40000)
        self.path = root / "sys/class/thermal/thermal_zone0/temp"
        self.rise_s, self.rate = rise_s, rate_c_per_s
        self.halt = threading.Event()
        self.t0_ns = time.monotonic_ns()        # the agent's clock too (CLOCK_MONOTONIC, same machine)
        self.flat_ns = self.t0_ns + int(rise_s * 1e9)

    def temp_c(self, t_ns):
        return 40.0 + self.rate * min(max(t_ns - self.t0_ns, 0) / 1e9, self.rise_s)

    def run(self):
        while not self.halt.wait(0.1):
            pb.write(self.path, int(round(self.temp_c(time.monotonic_ns()) * 1000)))

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.halt.set()
        self.join(2)


def window_medians(ev):
    lat, out, start = ev["latencies_ns"], [], 0
    for e in ev["window_ends"]:
        out.append(float(np.median(lat[start:e])))
        start = e
    return out


def test_does_not_stop_while_heating_then_stops_steady_once_flat(board, tmp_path):
    root = tmp_path / "root"
    with Heater(root, rise_s=5.0) as heater:          # 30 °C/min for 5 s, then flat at 42.5 °C
        ev = run(board, {**SUS, "max_seconds": 15}, sysfs_root=root)
    assert ev["event"] == "result", ev
    assert ev["sustained_criterion"] == "thermal+latency"
    assert ev["sustained_stop"] == "steady"
    st = ev["sustained_thermal"]
    assert st["source"] == "agent thermal sampler (no power job)" and st["zones"] == ["cpu-thermal"]
    assert st["sysfs_root"] == str(root)
    ends_ns, temps, slopes = st["window_t_ns"], st["window_temp_c"], st["window_slope_c_per_min"]
    assert len(ends_ns) == len(temps) == len(slopes) == len(ev["window_ends"])
    # latency alone was steady while the zone still heated up: the run went on
    med = window_medians(ev)
    early = [i for i in range(1, len(med)) if ends_ns[i] < heater.flat_ns - 1e9
             and abs(med[i] - med[i - 1]) <= 0.5 * (med[i] + med[i - 1]) / 2]
    assert early, "latency never met its criterion during the rise"
    rising = [s for i, s in enumerate(slopes) if s is not None and ends_ns[i] < heater.flat_ns - 0.5e9]
    assert rising and all(s >= 6.0 for s in rising), rising      # ~30 °C/min measured while heating
    assert ends_ns[-1] > heater.flat_ns                          # it stopped only after the rise ended
    # ... and once flat, on the thermal slope
    slope = ev["sustained_slope_c_per_min"]
    assert slope == slopes[-1] and abs(slope) < 6.0 and ev["sustained_slope_reason"] is None
    assert temps[-1] == pytest.approx(42.5, abs=0.05) and temps[0] < 41.5
    assert len(st["t_ns"]) == len(st["max_temp_c"]) >= 5 and max(st["max_temp_c"]) == pytest.approx(42.5, abs=0.05)
    assert ev["scenario"]["sustained"]["slope_window_s"] == 3.0
    s = scenario_summary(ev)["sustained"]
    assert s["stop_criterion"] == "thermal+latency" and s["slope_c_per_min"] == slope
    assert s["temp_first_window_c"] == temps[0] and s["temp_last_window_c"] == temps[-1]
    assert s["criterion"].startswith("thermal+latency: ") and "3.0 s" in s["criterion"]
    assert [w["temp_c"] for w in s["windows"]] == temps
    row = dict(_scenario_rows({"scenario": scenario_summary(ev)}))["burst / sustained p50 ms"]
    assert "steady; thermal+latency" in row and "42.5 °C" in row, row


@pytest.mark.parametrize("rate", [0.5, -0.5])     # heating or cooling at 30 °C/min throughout
def test_still_drifting_at_max_seconds_is_not_steady_and_reports_the_slope(board, tmp_path, rate):
    root = tmp_path / "root"
    with Heater(root, rise_s=60.0, rate_c_per_s=rate):
        ev = run(board, {**SUS, "max_seconds": 4.5}, sysfs_root=root)
    assert ev["sustained_criterion"] == "thermal+latency"
    assert ev["sustained_stop"] == "max_seconds (not steady)"
    assert ev["sustained_slope_c_per_min"] == pytest.approx(60.0 * rate, rel=0.2)


def test_no_thermal_zone_falls_back_to_latency_drift_and_says_why(board, tmp_path):
    root = tmp_path / "empty"
    root.mkdir()
    ev = run(board, {**SUS, "max_seconds": 5}, sysfs_root=root)
    why = f"no thermal zone under {root}/sys/class/thermal"
    assert ev["sustained_criterion"] == f"latency-drift ({why})"
    assert ev["sustained_stop"] == "steady" and ev["timed_wall_s"] < 3.0   # no thermal wait
    assert ev["sustained_slope_c_per_min"] is None and ev["sustained_slope_reason"] == why
    assert ev["sustained_thermal"]["window_temp_c"] is None and "t_ns" not in ev["sustained_thermal"]
    s = scenario_summary(ev)["sustained"]
    assert s["stop_criterion"] == ev["sustained_criterion"] and s["slope_c_per_min"] is None
    assert s["slope_reason"] == why and s["temp_first_window_c"] is None and s["temp_reason"] == why
    assert "latency drift" in s["criterion"]


def test_power_job_lends_its_sampler_and_its_slope_settings(board, tmp_path):
    root = tmp_path / "root"
    pb.fake_thermal(root, temp_mc=51000)              # flat
    ev = run(board, {"window_s": 0.4, "windows": 2, "tolerance": 0.5, "max_seconds": 10},
             power={"sensor": "none", "sysfs_root": str(root), "warmup_slope_window_s": 3,
                    "warmup_slope_c_per_min": 2})
    assert ev["event"] == "result", ev
    sus = ev["scenario"]["sustained"]
    assert sus["slope_window_s"] == 3.0 and sus["slope_c_per_min"] == 2.0
    assert ev["sustained_thermal"]["source"] == "the power job's thermal sampler"
    assert ev["sustained_criterion"] == "thermal+latency" and ev["sustained_stop"] == "steady"
    assert ev["timed_wall_s"] >= 3.0                  # waited for a full slope window
    assert ev["sustained_slope_c_per_min"] == pytest.approx(0.0, abs=1e-9)
    assert set(ev["sustained_thermal"]["window_temp_c"]) == {51.0}
    assert "thermal" in ev                            # the power job's own record is still there


def test_defaults_without_power_and_a_run_shorter_than_the_slope_window(board, tmp_path):
    root = tmp_path / "root"
    pb.fake_thermal(root, temp_mc=45000)              # flat, but 1 s of readings is no slope
    ev = run(board, {"window_s": 0.3, "windows": 2, "tolerance": 0.5, "max_seconds": 1}, sysfs_root=root)
    sus = ev["scenario"]["sustained"]
    assert sus["slope_c_per_min"] == 1.0 and sus["slope_window_s"] == 60.0   # power default slope, 60 s
    assert ev["sustained_criterion"] == "thermal+latency"
    assert ev["sustained_stop"] == "max_seconds (not steady)"
    assert ev["sustained_slope_c_per_min"] is None
    assert ev["sustained_slope_reason"].startswith("the run (") and "shorter than the slope window (60 s)" \
        in ev["sustained_slope_reason"]
    assert set(ev["sustained_thermal"]["window_temp_c"]) == {45.0}
    s = scenario_summary(ev)["sustained"]
    assert s["slope_c_per_min"] is None and s["slope_reason"] == ev["sustained_slope_reason"]
    assert s["temp_first_window_c"] == s["temp_last_window_c"] == 45.0 and s["temp_reason"] is None


@pytest.mark.parametrize("bad, needle", [
    ({"slope_c_per_min": 0}, "scenario.sustained.slope_c_per_min is 0.0; it must be a number > 0"),
    ({"slope_c_per_min": "1"}, "scenario.sustained.slope_c_per_min is '1'"),
    ({"slope_window_s": 1}, "scenario.sustained.slope_window_s is 1.0; it must be >= 3 s"),
    ({"slope_window_s": -5}, "scenario.sustained.slope_window_s is -5"),
])
def test_bad_slope_settings_are_job_errors(board, tmp_path, bad, needle):
    ev = run(board, {**SUS, "max_seconds": 1, **bad}, sysfs_root=tmp_path)
    assert ev["event"] == "error" and ev["type"] == "JobError" and needle in ev["message"], ev
