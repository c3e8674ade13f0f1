"""Every default of an agent job, defined once, here on the controller, and sent in the job.

The agent validates what it receives and restates none of these values: a job reaches a board
complete (`complete(job)` fills what a caller left out — the pipeline's `Job.wire()`,
`BoardSession.run_job` and the test helpers all pass through it). Values without a default
(a server scenario's target_qps, a power sensor) are never invented: they stay missing, and
the agent says so.
"""

from __future__ import annotations

import copy

TIMING = {"warmup": 10, "warmup_max_seconds": 120.0, "min_runs": 200, "min_seconds": 5.0,
          "max_runs": 1_000_000, "max_seconds": 600.0}
PROGRESS_INTERVAL_S = 0.5
BATCH_SIZE = 1

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
# the agent's power sensors (edgeeval_agent/power/sensors; tests/agent/test_bundle.py keeps them equal)
SENSORS = ("hwmon", "ina3221", "tegrastats", "rapl", "rpi5-pmic", "none")
HOST_METER = {"interval_s": 0.1, "guard_s": 0.5}

# sustained single-stream without a power job: the thermal slope over this window (with one:
# the power profile's warmup_slope_*)
SUSTAINED_SLOPE_WINDOW_S = 60.0
SERVER_SEARCH_STEPS = 7         # find_max_qps: bisection steps


def scenario_defaults(name: str) -> dict:
    """The shipped settings of a scenario (recipes/scenarios.py SCENARIO_DEFAULTS, the recipe's layer)."""
    from .recipes.scenarios import SCENARIO_DEFAULTS

    out = dict(SCENARIO_DEFAULTS.get(name, {}))
    if name == "server":
        out.setdefault("search_steps", SERVER_SEARCH_STEPS)
    return out


def sustained_defaults() -> dict:
    from .recipes.scenarios import Sustained

    return Sustained().model_dump()


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


def complete(job: dict) -> dict:
    """The job with every default filled in (a copy; values already there are kept as they are,
    wrong ones included: the agent reports them)."""
    job = copy.deepcopy(job)
    if isinstance(job.get("timing"), dict) or "timing" not in job:
        job["timing"] = {**TIMING, **(job.get("timing") or {})}
    acc = job.get("accuracy")
    if isinstance(acc, dict):
        acc.setdefault("enabled", True)
    if isinstance(job.get("data"), dict):
        job["data"].setdefault("batch_size", BATCH_SIZE)
    job.setdefault("progress_interval_s", PROGRESS_INTERVAL_S)
    power = job.get("power")
    if isinstance(power, dict):
        job["power"] = power = power_settings(power)
    sc = job.get("scenario")
    if isinstance(sc, dict) and isinstance(sc.get("name"), str):
        sc = job["scenario"] = {**scenario_defaults(sc["name"]), **sc}
        if sc["name"] == "offline" and not sc.get("batch_sizes"):
            sc["batch_sizes"] = [job.get("data", {}).get("batch_size", BATCH_SIZE)]
        sus = sc.get("sustained")
        if isinstance(sus, dict) and sus:        # an empty block is "off"
            sus = sc["sustained"] = {**sustained_defaults(), **{k: v for k, v in sus.items() if v is not None}}
            if sus.get("slope_c_per_min") is None or sus.get("slope_window_s") is None:
                src = power if isinstance(power, dict) else None
                slope = src["warmup_slope_c_per_min"] if src else POWER_PROFILES["default"]["warmup_slope_c_per_min"]
                window = src["warmup_slope_window_s"] if src else SUSTAINED_SLOPE_WINDOW_S
                sus.setdefault("slope_c_per_min", None)
                sus.setdefault("slope_window_s", None)
                if sus["slope_c_per_min"] is None:
                    sus["slope_c_per_min"] = slope
                if sus["slope_window_s"] is None:
                    sus["slope_window_s"] = window
    return job
