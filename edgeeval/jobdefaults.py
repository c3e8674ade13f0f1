"""Every default of an agent job, defined once on the controller and sent in the job.

The agent validates what it receives and restates none of these values: a job reaches a board
complete (`complete(job)` fills what a caller left out — the pipeline's `Job.wire()`,
`BoardSession.run_job` and the test helpers all pass through it). Where a recipe or an
inventory already declares a default (a recipe's `run:`, a scenario's settings, a device's
meter), that declaration is the source and is read from its model. Values without a default
(a server scenario's target_qps, a power sensor) are never invented: they stay missing, and
the agent says so.
"""

from __future__ import annotations

import copy

from .devices.inventory import MeterSettings
from .recipes.run_settings import RunSettings
from .recipes.scenarios import SCENARIO_DEFAULTS, Sustained


def _field_defaults(model, names) -> dict:
    return {n: model.model_fields[n].default for n in names}


TIMING = _field_defaults(RunSettings, ("warmup", "warmup_max_seconds", "min_runs", "min_seconds",
                                       "max_runs", "max_seconds"))
BATCH_SIZE = RunSettings.model_fields["batch_size"].default
PROGRESS_INTERVAL_S = 0.5
HOST_METER = _field_defaults(MeterSettings, ("interval_s", "guard_s"))

# the on-board power protocol's durations per profile (seconds, °C/min); a device's `power:`
# overrides them key by key
POWER_PROFILES = {
    "default": {"sample_interval_s": 0.05, "idle_s": 10.0, "warmup_min_s": 0.0,
                "warmup_max_s": 120.0, "warmup_slope_c_per_min": 1.0, "warmup_slope_window_s": 30.0,
                "window_min_s": 10.0, "windows": 3},
    "rigorous": {"sample_interval_s": 0.05, "idle_s": 60.0, "warmup_min_s": 300.0,
                 "warmup_max_s": 900.0, "warmup_slope_c_per_min": 1.0, "warmup_slope_window_s": 60.0,
                 "window_min_s": 60.0, "windows": 5},
}
# the agent's power sensors (edgeeval_agent/power/sensors; tests/test_registries.py keeps them equal)
SENSORS = ("hwmon", "ina3221", "tegrastats", "rapl", "rpi5-pmic", "none")

# sustained single-stream without a power job: the thermal slope over this window (with one:
# the power profile's warmup_slope_*)
SUSTAINED_SLOPE_WINDOW_S = 60.0


def power_settings(power: dict) -> dict:
    """A device's power job with its profile's durations filled in (explicit values win)."""
    out = dict(power)
    profile = out.get("profile") or "default"
    out["profile"] = profile
    for k, v in POWER_PROFILES.get(profile, POWER_PROFILES["default"]).items():
        if out.get(k) is None:
            out[k] = v
    if isinstance(out.get("host_meter"), dict):
        out["host_meter"] = {**HOST_METER, **{k: v for k, v in out["host_meter"].items() if v is not None}}
    return out


def _sustained(sus: dict, power: dict | None) -> dict:
    """A sustained block's settings, the thermal slope defaulting to the power job's warmup slope."""
    out = {**Sustained().model_dump(), **{k: v for k, v in sus.items() if v is not None}}
    profile = power if power is not None else {**POWER_PROFILES["default"],
                                               "warmup_slope_window_s": SUSTAINED_SLOPE_WINDOW_S}
    if out["slope_c_per_min"] is None:
        out["slope_c_per_min"] = profile["warmup_slope_c_per_min"]
    if out["slope_window_s"] is None:
        out["slope_window_s"] = profile["warmup_slope_window_s"]
    return out


def complete(job: dict) -> dict:
    """The job with every default filled in (a copy; values already there are kept as they are,
    wrong ones included: the agent reports them)."""
    job = copy.deepcopy(job)
    timing = job.get("timing", {})
    if isinstance(timing, dict):
        job["timing"] = {**TIMING, **timing}
    if isinstance(job.get("accuracy"), dict):
        job["accuracy"].setdefault("enabled", True)
    if isinstance(job.get("data"), dict):
        job["data"].setdefault("batch_size", BATCH_SIZE)
    job.setdefault("progress_interval_s", PROGRESS_INTERVAL_S)
    power = job.get("power")
    if isinstance(power, dict):
        job["power"] = power = power_settings(power)
    else:
        power = None
    sc = job.get("scenario")
    if isinstance(sc, dict) and isinstance(sc.get("name"), str):
        sc = job["scenario"] = {**SCENARIO_DEFAULTS.get(sc["name"], {}), **sc}
        if sc["name"] == "offline" and not sc.get("batch_sizes"):
            sc["batch_sizes"] = [job.get("data", {}).get("batch_size", BATCH_SIZE)]
        if isinstance(sc.get("sustained"), dict) and sc["sustained"]:   # an empty block is "off"
            sc["sustained"] = _sustained(sc["sustained"], power)
    return job
