"""Host meters: the clock bracket, the guard band and the trimmed windows; the agent's phases with
sensor none + host_meter; the deploy table's power rows."""

from __future__ import annotations

import pytest

from edgeeval.cli.render import variant_rows
from edgeeval.devices.inventory import MeterSettings
from edgeeval.power.align import bracket
from edgeeval.power.host import HostMeterRun
from edgeeval.power.summary import summarize_power

from .conftest import power_job, result_of, run_agent


def test_bracket_contains_the_true_offset_and_states_its_width():
    true = 7_000_000_000  # host = board + 7 s
    send = 1_000 + true - 40_000_000  # the job left the host 40 ms before the board's first stamp
    stamps = [(1_000, 1_000 + true + 3_000_000), (2_000_000_000, 2_000_000_000 + true + 1_000_000)]
    c = bracket(send, stamps, drift_ppm=0)
    assert c["lo_ns"] <= true <= c["hi_ns"] and c["consistent"]
    assert c["hi_ns"] - c["lo_ns"] == 41_000_000 and c["uncertainty_s"] == pytest.approx(0.0205)
    assert abs(c["offset_ns"] - true) <= c["uncertainty_s"] * 1e9
    assert bracket(send, stamps)["uncertainty_s"] == pytest.approx(0.0205 + 50e-6 * 2.0, rel=1e-6)


class _FakeClockMeter:
    """Stands in for the instrument only (the SCPI path is tested against the simulator)."""
    name, idn, error = "scpi", "ACME,PA1,1,1", None

    def __init__(self, samples):
        self.samples = samples

    def stop(self):
        return self.samples


def test_trimmed_windows_give_energy_per_inference_from_the_interior():
    # board = host clock; 2 W idle, 6 W in windows; 1 ms meter samples
    idle, wins = (0, 1_000_000_000), [(2_000_000_000, 3_000_000_000), (3_500_000_000, 4_500_000_000)]

    def p(t):
        return 6.0 if any(a <= t < b for a, b in wins) else 2.0

    samples = [(t, p(t)) for t in range(0, 5_000_000_000, 1_000_000)]
    hm = HostMeterRun(MeterSettings(type="scpi", address="127.0.0.1:1", guard_s=0.1), "b")
    hm.meter = _FakeClockMeter(samples)
    hm.send_ns = -1_000_000
    hm.stamps = [("hello", 0, 500_000), ("power_idle", 0, 600_000)]
    result = {"power": {"sensor": "none", "idle": list(idle), "window_target_s": 1.0, "inferences_per_window": 1000,
                        "windows": [{"t0_ns": a, "t1_ns": b, "n": 1000} for a, b in wins]}}
    power = hm.finish(result)
    assert result["power"] is power and power["source"] == "meter: ACME,PA1,1,1"
    assert power["clock"]["guard_s"] == 0.1 and power["windows"][0]["t0_ns"] > wins[0][0] + 99_000_000
    s = summarize_power(power)
    assert s["p_idle_w"] == pytest.approx(2.0, rel=1e-3)
    assert s["p_active_w"]["mean"] == pytest.approx(6.0, rel=1e-3)
    # 6 W over the whole 1 s window, 1000 inferences: 6 mJ each; dynamic (6 - 2) W -> 4 mJ
    assert s["e_total_mj"]["mean"] == pytest.approx(6.0, rel=1e-3)
    assert s["e_dynamic_mj"]["mean"] == pytest.approx(4.0, rel=1e-3)
    assert s["source"] == power["source"] and s["clock"]["guard_s"] == 0.1


def test_guard_wider_than_the_windows_gives_a_reason_not_numbers():
    hm = HostMeterRun(MeterSettings(type="scpi", address="127.0.0.1:1", guard_s=0.6), "b")
    hm.meter = _FakeClockMeter([(t, 3.0) for t in range(0, 3_000_000_000, 10_000_000)])
    hm.send_ns, hm.stamps = 0, [("hello", 0, 0)]
    res = {"power": {"idle": [0, 1_000_000_000], "windows": [{"t0_ns": 1_000_000_000, "t1_ns": 2_000_000_000, "n": 5}]}}
    s = summarize_power(hm.finish(res))
    assert s["p_idle_w"] is None and "shorter than twice the guard band" in s["reason"]


def test_agent_runs_the_phases_without_a_sensor_for_a_host_meter(board):
    job = power_job(board / "root", sensor="none", host_meter={"interval_s": 0.01, "guard_s": 0.1},
                    idle_s=0.2, window_min_s=0.3, windows=2)
    events, rc, err = run_agent(board, job=job)
    res = result_of(events)
    assert events[0]["event"] == "hello" and isinstance(events[0]["t_ns"], int)
    phases = [e["phase"] for e in events if e["event"] == "phase"]
    assert phases[-6:] == ["power_idle", "power_warmup", "power_window", "power_window", "power_done", "done"]
    p = res["power"]
    assert p["sensor"] == "none" and "samples" not in p and len(p["windows"]) == 2
    assert p["window_target_s"] == pytest.approx(max(0.3, 100 * 0.01) + 2 * 0.1)


def _summary(power, thermal=None):
    s = {"latency": {}, "accuracy": {}, "power": power}
    if thermal is not None:
        s["thermal"] = thermal
    return s


def test_table_rows_for_power():
    assert not [k for k, _ in variant_rows({"latency": {}, "accuracy": {}}) if "power" in k.lower() or "P " in k]
    rows = dict(variant_rows(_summary({"sensor": "none", "rails": None, "p_idle_w": None,
                                       "reason": "Pi 4: no sensor"}, {"throttled": None,
                                                                      "reasons": {"throttled": "no cpufreq"}})))
    assert rows["power"] == "— (Pi 4: no sensor)" and rows["throttled"] == "— (no cpufreq)"
    st = {"n": 3, "mean": 1.0, "std": 0.1, "ci": [0.8, 1.2], "cv": 0.1, "cv_flagged": True}
    rows = dict(variant_rows(_summary({
        "sensor": "hwmon", "rails": ["power1"], "p_idle_w": 3.0, "idle": {"p_std_w": 0.01},
        "p_active_w": st, "e_total_mj": st, "e_dynamic_mj": st, "inferences_per_j": st,
        "samples": {"reads": 100, "used": 40, "repeats_dropped": 60, "achieved_rate_hz": 49.5},
        "update_interval_s": 0.02, "reasons": {}}, {"throttled": False})))
    assert rows["power source, rails"] == "board: hwmon; power1"
    assert rows["P idle W (mean ± std)"] == "3.000 ± 0.010"
    assert rows["energy/inf total mJ [95% CI]"] == "1 [0.8, 1.2]"
    assert "FLAGGED" in rows["energy CV over windows"] and rows["throttled"] == "no"
    assert rows["power samples / rate"].startswith("40 used of 100 reads (60 repeats dropped), 49.5 Hz")
