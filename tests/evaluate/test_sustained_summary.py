"""The controller's sustained block: the agent's stop criterion, final slope and window temperatures."""

from __future__ import annotations

from edgeeval.cli.render import _scenario_rows
from edgeeval.evaluate.scenarios import scenario_summary

SC = {"name": "single-stream", "window_s": 10.0,
      "sustained": {"window_s": 10.0, "windows": 2, "tolerance": 0.02, "max_seconds": 1800.0,
                    "slope_c_per_min": 1.0, "slope_window_s": 60.0}}


def event(**extra):
    lat = [1e6] * 100 + [1.1e6] * 100 + [1.2e6] * 100
    return {"latencies_ns": lat, "window_ends": [100, 200, 300], "scenario": SC,
            "sustained_stop": "steady", **extra}


def test_thermal_criterion_slope_and_first_last_window_temperatures():
    ev = event(sustained_criterion="thermal+latency", sustained_slope_c_per_min=0.4,
               sustained_slope_reason=None,
               sustained_thermal={"window_temp_c": [41.0, 55.5, 55.9],
                                  "window_slope_c_per_min": [None, 14.0, 0.4]})
    s = scenario_summary(ev)["sustained"]
    assert s["stop_criterion"] == "thermal+latency" and s["slope_c_per_min"] == 0.4
    assert s["temp_first_window_c"] == 41.0 and s["temp_last_window_c"] == 55.9 and s["temp_reason"] is None
    assert s["criterion"].startswith("thermal+latency: ") and "60.0 s" in s["criterion"] and "1.0 °C/min" in s["criterion"]
    assert [(w["temp_c"], w["slope_c_per_min"]) for w in s["windows"]] == [(41.0, None), (55.5, 14.0), (55.9, 0.4)]
    assert s["burst"]["p50_ms"] == 1.0 and s["sustained"]["p50_ms"] == 1.2 and abs(s["drift_p50"] - 0.2) < 1e-9
    row = dict(_scenario_rows({"scenario": scenario_summary(ev)}))["burst / sustained p50 ms"]
    assert row == "1.000 / 1.200 (drift +20.0%, steady; thermal+latency, 41.0 → 55.9 °C, slope +0.40 °C/min)"


def test_latency_fallback_keeps_the_agents_reason():
    why = "no thermal zone under /sys/class/thermal"
    ev = event(sustained_criterion=f"latency-drift ({why})", sustained_slope_c_per_min=None,
               sustained_slope_reason=why,
               sustained_thermal={"reason": why, "window_temp_c": None, "window_slope_c_per_min": None})
    s = scenario_summary(ev)["sustained"]
    assert s["stop_criterion"] == f"latency-drift ({why})" and s["slope_c_per_min"] is None
    assert s["slope_reason"] == why and s["temp_first_window_c"] is None and s["temp_reason"] == why
    assert s["criterion"].startswith("latency drift: ") and why in s["criterion"]
    row = dict(_scenario_rows({"scenario": scenario_summary(ev)}))["burst / sustained p50 ms"]
    assert row.endswith(f"steady; latency-drift ({why}))"), row


def test_an_older_agents_result_says_the_criterion_is_unknown():
    s = scenario_summary(event())["sustained"]
    assert s["stop_criterion"] is None and s["slope_c_per_min"] is None
    assert "older than the thermal stop" in s["slope_reason"] and s["temp_last_window_c"] is None
    assert "latency drift" in s["criterion"]
    row = dict(_scenario_rows({"scenario": scenario_summary(event())}))["burst / sustained p50 ms"]
    assert row == "1.000 / 1.200 (drift +20.0%, steady)"
