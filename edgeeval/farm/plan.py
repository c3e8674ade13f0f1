"""The farm's plan file: which recipes run on which boards, how, how often.

    name: nightly                      # the campaign is NAME-YYYY-MM-DD (UTC) unless --campaign
    inventory: ../devices              # relative to this file; default: the CLI's --inventory / ./devices
    schedule: "0 2 * * *"              # cron (UTC), for `farm worker`'s periodic task and the docs' timer
    retries: 1                         # a job hit by a board fault runs again this often (then: device_error)
    lease_wait_s: 3600                 # a board held by someone else (a desk deploy) is waited for this long
    health: {every_jobs: 20, latency_band: 3.0}
    matrix:
      - recipe: ../recipes/digits-cnn.yaml
        variants: [fp32, int8]         # default: every variant of the recipe
        devices: [pi5, "tag:jetson"]   # each matching board runs each variant ...
        profile: quick
      - recipe: ../recipes/minilm.yaml
        any_of: ["tag:rpi4"]           # ... or: each variant runs once, on whichever matching board is free

A selector is a device name or `tag:TAG`. Every problem is one line naming the file, the line
and the fix (exit 2), found before anything is built or any board is touched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .._yaml import line_of, load_model
from ..errors import UserInputError

if TYPE_CHECKING:
    from ..devices.inventory import Inventory

_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Timing(_Strict):
    """The deploy command's overrides of the recipe's run settings (None: the recipe's)."""
    min_runs: Optional[int] = Field(None, ge=1, le=100_000_000)
    min_seconds: Optional[float] = Field(None, ge=0, le=86_400)
    warmup: Optional[int] = Field(None, ge=0, le=100_000)
    max_seconds: Optional[float] = Field(None, gt=0, le=86_400)


class Health(_Strict):
    """LAVA's model: a board is checked before its first job of a campaign, after a board fault and
    every `every_jobs` jobs; a failed check quarantines it until a check passes again."""
    enabled: bool = True
    every_jobs: int = Field(20, ge=1, le=100_000)
    # the known model's p50 must lie within [band_p50 / f, band_p50 * f] of the board's recorded band
    latency_band: float = Field(3.0, gt=1.0, le=100.0)
    min_free_mb: float = Field(200.0, ge=0, le=10_000_000)
    max_clock_skew_s: float = Field(120.0, gt=0, le=86_400)
    recheck_after_s: float = Field(3600.0, ge=0, le=30 * 86_400)   # a quarantined board is tried again


class Entry(_Strict):
    recipe: str = Field(min_length=1)
    variants: Optional[list[str]] = Field(None, min_length=1)
    devices: Optional[list[str]] = Field(None, min_length=1)
    any_of: Optional[list[str]] = Field(None, min_length=1)
    scenario: Optional[str] = None
    profile: Optional[str] = None
    target_qps: Optional[float] = Field(None, gt=0, le=10_000_000)
    timing: Timing = Field(default_factory=Timing)
    retries: Optional[int] = Field(None, ge=0, le=20)

    @model_validator(mode="after")
    def _one_selector(self) -> "Entry":
        if (self.devices is None) == (self.any_of is None):
            raise ValueError("give exactly one of `devices:` (each matching board runs every variant) "
                             "or `any_of:` (each variant runs once, on one matching board)")
        return self

    @field_validator("devices", "any_of")
    @classmethod
    def _selectors(cls, v: list[str] | None) -> list[str] | None:
        for s in v or []:
            name = s[4:] if s.startswith("tag:") else s
            if not re.match(_NAME, name):
                raise ValueError(f"{s!r} is not a selector; write a device name or tag:TAG")
        return v


class PlanFile(_Strict):
    name: str = Field(pattern=_NAME, max_length=64)
    inventory: Optional[str] = None
    schedule: Optional[str] = None
    retries: int = Field(1, ge=0, le=20)
    lease_wait_s: float = Field(3600.0, ge=0, le=7 * 86_400)
    lease_ttl_s: float = Field(60.0, ge=5, le=3600)
    health: Health = Field(default_factory=Health)
    matrix: list[Entry] = Field(min_length=1)

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        if v is None:
            return v
        from croniter import croniter

        if not croniter.is_valid(v):
            raise ValueError(f"{v!r} is not a cron expression; write five fields, e.g. \"0 2 * * *\" "
                             "(02:00 UTC every day)")
        return v


@dataclass
class JobSpec:
    """One (recipe, variant, board-or-pool) job of a plan; `key` is set once the recipe is built."""
    entry: int
    recipe_path: Path
    variant: str
    selector: str                       # "pi5" for a pinned job, "any_of:tag:x,..." for a pool job
    candidates: tuple[str, ...]         # the boards that may run it (one for a pinned job)
    retries: int
    timing: dict
    scenario: dict
    key: str | None = None

    @property
    def pinned(self) -> bool:
        return len(self.candidates) == 1 and not self.selector.startswith("any_of:")

    @property
    def label(self) -> str:
        return f"{self.recipe_path.stem}/{self.variant}@{self.selector}"


@dataclass
class Plan:
    path: Path
    file: PlanFile
    sha256: str
    inventory: Inventory
    inventory_path: Path | None
    jobs: list[JobSpec] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.file.name

    def boards(self) -> list[str]:
        """Every board some job may run on, in inventory order."""
        used = {b for j in self.jobs for b in j.candidates}
        return [n for n in self.inventory.names() if n in used]


def select(inventory: Inventory, selectors: list[str]) -> tuple[list[str], list[str]]:
    """(matching device names in inventory order, selectors that matched nothing)."""
    names: list[str] = []
    empty: list[str] = []
    for s in selectors:
        if s.startswith("tag:"):
            hit = [d.name for d in inventory if s[4:] in d.tags]
        else:
            hit = [s] if s in inventory else []
        if not hit:
            empty.append(s)
        names += [n for n in hit if n not in names]
    order = inventory.names()
    return sorted(names, key=order.index), empty


def load_plan(path: str | Path, inventory: str | Path | None = None) -> Plan:
    """Read and check a plan: the file, every recipe it names, every selector against the inventory
    (the plan's own `inventory:` wins over `inventory`), every variant name."""
    from ..devices.inventory import load_inventory
    from ..provenance import sha256_file
    from ..recipes.scenarios import PROFILES, SCENARIO_DEFAULTS
    from ..recipes.schema import load_recipe
    from ..suggest import did_you_mean

    path = Path(path)
    pf = load_model(path, PlanFile)
    base = path.parent
    inv_path = (base / pf.inventory) if pf.inventory else (Path(inventory) if inventory else None)
    inv = load_inventory(inv_path)
    problems: list[str] = []

    def at(*loc) -> str:
        return f"{path}:{line_of(path, loc) or 1}"

    jobs: list[JobSpec] = []
    for i, e in enumerate(pf.matrix):
        rpath = (base / e.recipe)
        if not rpath.is_file():
            problems.append(f"{at('matrix', i, 'recipe')}: matrix[{i}].recipe {e.recipe!r}: {rpath} is not a file "
                            f"(recipe paths are relative to the plan's folder, {base.resolve()})")
            continue
        try:
            recipe = load_recipe(rpath)
        except UserInputError as exc:
            problems += [f"{at('matrix', i, 'recipe')}: matrix[{i}].recipe {e.recipe!r}: {p}" for p in exc.problems]
            continue
        known = [v.name for v in recipe.variants]
        for v in e.variants or []:
            if v not in known:
                problems.append(f"{at('matrix', i, 'variants')}: matrix[{i}].variants: {recipe.name} has no variant "
                                f"{v!r}{did_you_mean(v, known) or ';'} it has {', '.join(known)}")
        if e.scenario is not None and e.scenario not in SCENARIO_DEFAULTS:
            problems.append(f"{at('matrix', i, 'scenario')}: matrix[{i}].scenario {e.scenario!r}"
                            f"{did_you_mean(e.scenario, SCENARIO_DEFAULTS) or ';'} use one of {', '.join(SCENARIO_DEFAULTS)}")
        if e.profile is not None and e.profile not in PROFILES:
            problems.append(f"{at('matrix', i, 'profile')}: matrix[{i}].profile {e.profile!r}"
                            f"{did_you_mean(e.profile, PROFILES) or ';'} use one of {', '.join(PROFILES)}")
        sel_field = "devices" if e.devices is not None else "any_of"
        selectors = e.devices if e.devices is not None else e.any_of
        names, empty = select(inv, selectors)
        for s in empty:
            tags = sorted({t for d in inv for t in d.tags})
            what = (f"no device has tag {s[4:]!r}{did_you_mean(s[4:], tags) or ';'} tags in the inventory: "
                    f"{', '.join(tags) or 'none'}" if s.startswith("tag:")
                    else f"device {s!r} is not in the inventory{did_you_mean(s, inv.names()) or ';'} known devices: "
                         f"{', '.join(inv.names())}")
            problems.append(f"{at('matrix', i, sel_field)}: matrix[{i}].{sel_field}: {what}; fix the selector or "
                            f"the inventory ({inv_path or 'none given: only the built-in local device'})")
        if empty:
            continue
        timing = e.timing.model_dump()
        scenario = {"name": e.scenario, "profile": e.profile, "target_qps": e.target_qps}
        retries = pf.retries if e.retries is None else e.retries
        for v in (e.variants or known):
            if e.devices is not None:
                jobs += [JobSpec(i, rpath, v, b, (b,), retries, timing, scenario) for b in names]
            else:
                jobs.append(JobSpec(i, rpath, v, "any_of:" + ",".join(selectors), tuple(names), retries,
                                    timing, scenario))
    if problems:
        raise UserInputError(problems)
    return Plan(path, pf, sha256_file(path), inv, inv_path, jobs)
