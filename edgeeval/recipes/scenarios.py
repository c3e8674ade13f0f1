"""Scenario settings, layered like LoadGen's: shipped defaults per scenario, the profile,
the recipe's `run:` and `run.scenario:`, then the command line. Seeds are pinned and recorded.

Units are in the names: *_seconds / *_s in seconds, *_ms in milliseconds, *_qps in queries
per second. Query counts: single-stream, multi-stream and server count queries; offline
counts samples.
"""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

ScenarioName = Literal["single-stream", "multi-stream", "offline", "server"]
ProfileName = Literal["quick", "standard", "rigorous"]

# shipped defaults per scenario (MLPerf's mlperf.conf where it has one: multi-stream
# samples_per_query = 8, server target_latency = 10 ms; seeds are edgeeval's, pinned)
SCENARIO_DEFAULTS: dict[str, dict] = {
    "single-stream": {},
    "multi-stream": {"samples_per_query": 8},
    "offline": {"batch_sizes": None},       # None: [run.batch_size]
    "server": {"target_qps": None, "latency_bound_ms": 10.0, "seed": 0, "find_max_qps": False,
               "trial_seconds": 1.0, "search_steps": 7},   # search_steps: find_max_qps bisection steps
}
# minimum count and duration per profile. standard keeps edgeeval's historical defaults
# (>= 200 runs and >= 5 s for single-stream). rigorous follows MLPerf: 600 s, multi-stream
# 662 queries (mlperf.conf), offline 24576 samples (mlperf.conf for the vision models),
# single-stream/server 100 queries (LoadGen's TestSettings default min_query_count).
PROFILES: dict[str, dict] = {
    "quick": {"min_seconds": 1.0, "max_seconds": 120.0,
              "min_queries": {"single-stream": 64, "multi-stream": 64, "server": 64, "offline": 256}},
    "standard": {"min_seconds": 5.0, "max_seconds": 600.0,
                 "min_queries": {"single-stream": 200, "multi-stream": 662, "server": 300, "offline": 1024}},
    "rigorous": {"min_seconds": 600.0, "max_seconds": 3600.0,
                 "min_queries": {"single-stream": 100, "multi-stream": 662, "server": 100, "offline": 24576}},
}
_APPLIES = {"samples_per_query": ("multi-stream",), "batch_sizes": ("offline",),
            "target_qps": ("server",), "latency_bound_ms": ("server",), "seed": ("server",),
            "find_max_qps": ("server",), "trial_seconds": ("server",), "sustained": ("single-stream",)}


class Sustained(BaseModel):
    """Run single-stream in windows until steady: the latency stops drifting and, where the board
    has a readable thermal zone, the max-zone temperature slope is below slope_c_per_min."""
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    window_s: float = Field(10.0, gt=0, le=3600)
    windows: int = Field(3, ge=2, le=1000)          # the last N window medians must agree ...
    tolerance: float = Field(0.02, ge=0, le=1)      # ... within this fraction of their mean
    max_seconds: float = Field(1800.0, gt=0, le=86_400)
    # thermal criterion; unset: the device's power profile (warmup_slope_*), else 1 °C/min over 60 s
    slope_c_per_min: Optional[float] = Field(None, gt=0, le=100)
    slope_window_s: Optional[float] = Field(None, ge=3, le=3600)  # the sampler reads every 1 s; a slope needs 3


class ScenarioSettings(BaseModel):
    """`run.scenario:` in a recipe; a field that does not apply to `name` is refused."""
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    name: ScenarioName = "single-stream"
    profile: Optional[ProfileName] = None
    samples_per_query: Optional[int] = Field(None, ge=1, le=65_536)
    batch_sizes: Optional[list[int]] = Field(None, min_length=1, max_length=64)
    target_qps: Optional[float] = Field(None, gt=0, le=10_000_000)
    latency_bound_ms: Optional[float] = Field(None, gt=0, le=3_600_000)
    seed: Optional[int] = Field(None, ge=0, le=2**32 - 1)
    find_max_qps: Optional[bool] = None
    trial_seconds: Optional[float] = Field(None, gt=0, le=600)
    sustained: Optional[Sustained] = None

    @model_validator(mode="after")
    def _applies(self) -> "ScenarioSettings":
        for field, names in _APPLIES.items():
            if getattr(self, field) is not None and self.name not in names:
                raise PydanticCustomError(
                    "recipe_value", f"`{field}` only applies to scenario {' or '.join(names)}, "
                                    f"not {self.name}; remove it")
        if self.batch_sizes is not None and any(b < 1 or b > 65_536 for b in self.batch_sizes):
            raise PydanticCustomError("recipe_value", "batch_sizes must all be in 1..65536")
        return self


def resolve(run, timing_overrides: dict | None = None, cli: dict | None = None) -> tuple[dict, dict]:
    """(timing, scenario) for the agent job from the recipe's RunSettings and the command line.

    Layers, later wins: scenario defaults ▸ profile ▸ recipe `run:` count/duration fields the
    recipe sets explicitly ▸ recipe `run.scenario:` ▸ command line (--scenario, --profile,
    --find-max-qps, --min-runs, --min-seconds, --warmup).
    """
    from ..errors import UserInputError

    cli = {k: v for k, v in (cli or {}).items() if v is not None}
    rs = getattr(run, "scenario", None)
    recipe_sc = rs.model_dump(exclude_none=True) if rs is not None else {}
    name = cli.get("name") or recipe_sc.get("name") or "single-stream"
    if cli.get("name") and cli["name"] != recipe_sc.get("name", "single-stream"):
        recipe_sc = {}  # the recipe's settings were for another scenario
    profile = cli.get("profile") or recipe_sc.get("profile") or "standard"
    prof = PROFILES[profile]
    timing = {"warmup": run.warmup, "min_runs": prof["min_queries"][name],
              "min_seconds": prof["min_seconds"], "max_runs": run.max_runs,
              "max_seconds": max(run.max_seconds, prof["max_seconds"])}
    explicit = getattr(run, "model_fields_set", set())
    for k in ("min_runs", "min_seconds", "max_runs", "max_seconds"):
        if k in explicit:
            timing[k] = getattr(run, k)
    overrides = {k: v for k, v in (timing_overrides or {}).items() if v is not None}
    check_overrides(overrides, cli)
    timing.update(overrides)
    timing["warmup_max_seconds"] = getattr(run, "warmup_max_seconds", 120.0)
    timing["max_seconds"] = max(timing["max_seconds"], timing["min_seconds"])
    timing["max_runs"] = max(timing["max_runs"], timing["min_runs"])
    sc = {"name": name, **SCENARIO_DEFAULTS[name]}
    sc.update({k: v for k, v in recipe_sc.items() if k not in ("name", "profile")})
    if cli.get("find_max_qps"):
        if name != "server":
            raise UserInputError([f"--find-max-qps applies to the server scenario, not {name}; "
                                  "add --scenario server"])
        sc["find_max_qps"] = True
    if cli.get("target_qps") is not None:
        if name != "server":
            raise UserInputError([f"--target-qps applies to the server scenario, not {name}; add --scenario server"])
        sc["target_qps"] = float(cli["target_qps"])
    if name == "offline":
        sc["batch_sizes"] = sc.get("batch_sizes") or [run.batch_size]
        sc["min_samples"] = timing["min_runs"]  # offline counts samples
        timing["min_runs"] = 1
    if name == "server" and sc.get("target_qps") is None and not sc.get("find_max_qps"):
        raise UserInputError(["the server scenario needs run.scenario.target_qps in the recipe "
                              "or --find-max-qps on the command line"])
    sc["profile"] = profile
    return timing, sc


# command-line flag -> (timing key, lowest, highest): the same bounds as the recipe fields
_FLAG_BOUNDS = {"warmup": ("--warmup", 0, 100_000), "min_runs": ("--min-runs", 1, 100_000_000),
                "min_seconds": ("--min-seconds", 0.0, 86_400.0), "max_seconds": ("--max-seconds", 1e-3, 86_400.0),
                "max_runs": ("--max-runs", 1, 100_000_000)}


def check_overrides(timing: dict, cli: dict) -> None:
    """Command-line numbers get the recipe's bounds: finite, inside the allowed range (exit 2)."""
    import math

    from ..errors import UserInputError

    problems = []
    for key, value in timing.items():
        flag, lo, hi = _FLAG_BOUNDS.get(key, (f"--{key}", None, None))
        if isinstance(value, float) and not math.isfinite(value):
            problems.append(f"{flag} {value}: must be a finite number in [{lo}, {hi}]")
        elif lo is not None and not (lo <= value <= hi):
            problems.append(f"{flag} {value}: outside the allowed range [{lo}, {hi}]")
    qps = cli.get("target_qps")
    if qps is not None and not (isinstance(qps, (int, float)) and math.isfinite(qps) and 0 < qps <= 10_000_000):
        problems.append(f"--target-qps {qps}: must be a finite number in (0, 10000000]")
    if problems:
        raise UserInputError(problems)
