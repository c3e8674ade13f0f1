"""The device inventory: which boards exist and how to reach them.

A YAML file (or a directory of *.yaml files) with a top-level `devices:` list:

    devices:
      - name: pi5                     # unique; used in commands and results
        ssh: pi@192.168.1.50:22       # user@host:port, or an ~/.ssh/config alias
        python: /usr/bin/python3      # the board's interpreter (default python3)
        workdir: ~/.edgeeval          # board cache + runs (default); relative = login dir
        timeouts: {connect: 10, command: 120}
        runtime: {providers: [CPUExecutionProvider], intra_op_num_threads: 4}
        tags: [arm64, pi]
        facts: {price_usd: 80, tdp_w: 12, peak_gops: {fp32: 40, int8: 160}}   # peak: datasheet, 10^9 op/s

The built-in `local` device (this machine, subprocess) is always present unless redefined.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from .._yaml import line_of, load_model
from ..errors import UserInputError

LOCAL = "local"


class Timeouts(BaseModel):
    """Seconds, except user_timeout_ms (TCP_USER_TIMEOUT: how fast a cut link is noticed)."""
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    connect: float = Field(10.0, gt=0, le=600)
    banner: float = Field(15.0, gt=0, le=600)
    auth: float = Field(15.0, gt=0, le=600)
    command: float = Field(60.0, gt=0, le=86_400)
    user_timeout_ms: int = Field(10000, ge=1000, le=600_000)
    # a job may run its own limits (warmup bound, max_seconds, power phases) twice over plus this
    # margin (model load, the accuracy pass, a slow board); then the controller stops it (boardlimits.py)
    job_margin: float = Field(600.0, ge=0, le=86_400)


class SyntheticRuntime(BaseModel):
    """A virtual board's stand-in for the model: each call waits a duration drawn from a known
    distribution (seeded) instead of running it — for farm and statistics tests, never a default.
    `wait: sleep` costs no CPU, so 16 virtual boards share two cores without disturbing each other."""
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    median_ms: float = Field(5.0, gt=0, le=60_000)
    sigma: float = Field(0.1, ge=0, le=3)
    distribution: str = Field("lognormal", pattern=r"^(lognormal|constant)$")
    wait: str = Field("sleep", pattern=r"^(sleep|spin)$")
    seed: int = Field(0, ge=0, le=2**31 - 1)

    def job_runtime(self) -> dict:
        return {"name": "synthetic", **self.model_dump()}


class RuntimeSettings(BaseModel):
    """Per-board runtime overrides; only these fields exist."""
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    synthetic: SyntheticRuntime | None = None   # virtual boards (`edgeeval lab up --synthetic`)
    providers: list[str] | None = None
    intra_op_num_threads: int | None = Field(None, ge=0, le=1024)
    inter_op_num_threads: int | None = Field(None, ge=0, le=1024)
    session_config: dict[str, str] = Field(default_factory=dict)


class Facts(BaseModel):
    """What the user knows about the board (for cost/energy columns); other keys are kept."""
    model_config = ConfigDict(extra="allow", allow_inf_nan=False)
    price_usd: float | None = Field(None, ge=0)
    tdp_w: float | None = Field(None, gt=0)
    # the board's declared peak in 10^9 operations per second (a multiply-add is 2) per precision,
    # from its datasheet, for the report's compute utilisation: {fp32: 40, fp16: 80, int8: 160}
    peak_gops: dict[Literal["fp32", "fp16", "int8"], Annotated[float, Field(gt=0)]] | None = None
    notes: str | None = None


class MeterSettings(BaseModel):
    """A meter on the controller (edgeeval/power/meters.py) for a board with no sensor."""
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    type: str = Field(pattern=r"^(scpi|joulescope)$")
    address: str | None = None            # scpi: host:port (raw socket, usually 5025)
    query: str = "MEAS:POW?"              # scpi: the query that returns watts
    interval_s: float = Field(0.1, gt=0, le=60)
    guard_s: float = Field(0.5, ge=0, le=60)     # trimmed from each window edge (clock offset bound)

    @model_validator(mode="after")
    def _address_needed(self) -> "MeterSettings":
        if self.type == "scpi" and not self.address:
            raise ValueError("a scpi meter needs `address: host:port` (raw socket, usually 5025)")
        return self


# `sensor: auto` takes the first of these the probe finds readable: a rail monitor next to the
# board's supply (INA3221/INA2xx via hwmon) measures the whole board; the PMIC and tegrastats
# read on-chip estimates; RAPL covers the CPU package only.
AUTO_PREFERENCE = ("ina3221", "hwmon", "rpi5-pmic", "tegrastats", "rapl")


class PowerSettings(BaseModel):
    """`power:` of a device: which sensor the agent reads and the protocol's durations.
    Unset durations take the profile's (edgeeval/jobdefaults.py POWER_PROFILES: idle 10 s, windows 3;
    rigorous 60 s, 5)."""
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    sensor: str = Field(pattern=r"^(auto|hwmon|ina3221|tegrastats|rapl|rpi5-pmic|none)$")   # auto: see resolve
    chip: str | None = None               # hwmon: the chip's `name`, e.g. ina226
    rails: list[str] | None = None        # rail labels (*_label, tegrastats names); default: input rail or all
    mode: str | None = Field(None, pattern=r"^(auto|power|energy|vi)$")
    command: str | None = None            # tegrastats / vcgencmd executable
    sysfs_root: str = "/"
    profile: str = Field("default", pattern=r"^(default|rigorous)$")
    sample_interval_s: float | None = Field(None, gt=0, le=60)
    idle_s: float | None = Field(None, ge=0, le=3600)
    warmup_min_s: float | None = Field(None, ge=0, le=7200)
    warmup_max_s: float | None = Field(None, ge=0, le=7200)
    warmup_slope_c_per_min: float | None = Field(None, gt=0, le=100)
    warmup_slope_window_s: float | None = Field(None, gt=0, le=3600)
    window_min_s: float | None = Field(None, ge=0, le=3600)
    windows: int | None = Field(None, ge=1, le=100)
    reason: str | None = None             # sensor none: why (shown instead of numbers)
    sample_during_timed: bool | None = None  # also sample during the latency phase
    meter: MeterSettings | None = None

    @model_validator(mode="after")
    def _meter_without_sensor(self) -> "PowerSettings":
        if self.meter is not None and self.sensor != "none":
            raise ValueError(f"a meter on the controller is for boards with no sensor; set `sensor: none` "
                             f"(now {self.sensor!r}) or remove `meter:`")
        return self

    def resolve(self, facts: dict) -> tuple["PowerSettings", dict]:
        """`sensor: auto` made concrete from the board's probe (what `devices check` lists):
        the first readable source in AUTO_PREFERENCE order; none found -> `none` with the reason.
        Returns (settings for the job, a record of the choice for the run's settings)."""
        if self.sensor != "auto":
            return self, {"sensor": self.sensor, "chosen_by": "inventory"}
        found = facts.get("sensors")
        usable = [s for s in (found or []) if s.get("readable") is not False]
        usable.sort(key=lambda s: AUTO_PREFERENCE.index(s["sensor"]) if s["sensor"] in AUTO_PREFERENCE else 99)
        if not usable:
            why = ("the probe could not list sensors: " + str(facts.get("sensors_reason", "unknown"))
                   if found is None else "the probe found no readable power sensor on the board"
                   + (f" ({'; '.join(s.get('reason', '') for s in found)})" if found else ""))
            reason = f"sensor auto: {why}; `edgeeval devices check NAME` lists what it sees"
            return self.model_copy(update={"sensor": "none", "reason": self.reason or reason}), \
                {"sensor": "none", "chosen_by": "auto", "reason": reason}
        s = usable[0]
        update: dict = {"sensor": s["sensor"]}
        if s["sensor"] in ("hwmon", "ina3221") and s.get("chip") and "JetPack" not in str(s.get("chip")):
            update["chip"] = self.chip or s["chip"]
        if s.get("mode") and self.mode in (None, "auto"):
            update["mode"] = s["mode"]
        record = {"sensor": s["sensor"], "chip": s.get("chip"), "rails": s.get("rails"), "chosen_by": "auto",
                  "candidates": [c["sensor"] + (f" {c['chip']}" if c.get("chip") else "") for c in usable]}
        return self.model_copy(update=update), record

    def job(self) -> dict:
        """The job's "power" object (the agent fills the profile defaults)."""
        return self.model_dump(exclude_none=True, exclude={"meter"})


class Device(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=64)
    ssh: str | None = None
    python: str = "python3"
    workdir: str = "~/.edgeeval"
    ssh_config: str | None = None
    known_hosts: str | None = None
    identity_file: str | None = None
    timeouts: Timeouts = Field(default_factory=Timeouts)
    runtime: RuntimeSettings = Field(default_factory=RuntimeSettings)
    tags: list[str] = Field(default_factory=list)
    facts: Facts = Field(default_factory=Facts)
    power: PowerSettings | None = None     # on-board power measurement (docs: "Power and thermal")
    _source: str | None = PrivateAttr(None)  # FILE:LINE it came from (set by the loader)

    @property
    def source(self) -> str:
        return self._source or "(built in)"

    @field_validator("workdir")
    @classmethod
    def _workdir(cls, v: str) -> str:
        if "\x00" in v or "\n" in v or "\r" in v:
            raise ValueError("contains a NUL or line break; give a plain path")
        if ".." in v.split("/"):
            raise ValueError("a '..' component is not allowed; give a direct path such as ~/.edgeeval")
        if not v.strip():
            raise ValueError("is empty; give a path such as ~/.edgeeval")
        if v.startswith("~") and not (v == "~" or v.startswith("~/")):
            raise ValueError(f"{v.split('/')[0]!r}: only ~ and ~/path (the login user's home) are expanded; "
                             "give the full path")
        return v

    @field_validator("ssh", "python")
    @classmethod
    def _no_blank(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is not None and (not v.strip() or "\n" in v or "\x00" in v):
            raise ValueError("must be a non-empty single-line text")
        if v is not None and info.field_name == "ssh":
            from .target import parse_target
            try:
                parse_target(v)
            except UserInputError as exc:   # reported with the file and line like any field
                raise PydanticCustomError("ssh_target", exc.problems[0].replace("{", "(").replace("}", ")")) from None
        return v

    @model_validator(mode="after")
    def _ssh_needed(self) -> "Device":
        if self.ssh is None and self.name != LOCAL:
            raise ValueError(f"device {self.name!r} has no `ssh:`; add `ssh: user@host:port` "
                             f"(only the built-in `local` device runs without SSH)")
        return self

    @property
    def is_local(self) -> bool:
        return self.ssh is None


def builtin_local() -> Device:
    """This machine as a board: the running interpreter, cache under paths.local_board_dir()."""
    return Device(name=LOCAL, python=sys.executable, workdir=".", tags=["builtin"])


class InventoryFile(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    devices: list[Device] = Field(default_factory=list)


class Inventory:
    """Devices by name; `local` is present unless a file redefines it."""

    def __init__(self, devices: list[Device] | None = None):
        self.devices: dict[str, Device] = {LOCAL: builtin_local()}
        for d in devices or []:
            self.devices[d.name] = d

    def names(self) -> list[str]:
        return list(self.devices)

    def __iter__(self):
        return iter(self.devices.values())

    def __contains__(self, name: str) -> bool:
        return name in self.devices

    def get(self, name: str) -> Device:
        try:
            return self.devices[name]
        except KeyError:
            from ..suggest import did_you_mean
            raise UserInputError(f"device {name!r} is not in the inventory{did_you_mean(name, self.devices)} known devices: "
                                 f"{', '.join(sorted(self.devices))}; add it to your devices YAML") from None


def _load_file(path: Path) -> list[Device]:
    inv = load_model(path, InventoryFile)
    problems, seen = [], {}
    for i, d in enumerate(inv.devices):
        d._source = f"{path}:{line_of(path, ('devices', i)) or 1}"
        if d.name in seen:
            problems.append(f"{d.source}: device name {d.name!r} is already used at {seen[d.name]}; "
                            f"give each device a unique name")
        seen[d.name] = d.source
    if problems:
        raise UserInputError(problems)
    return inv.devices


def load_inventory(path: str | Path | None) -> Inventory:
    """Load a devices YAML file, or every *.yaml in a directory (names unique across files)."""
    if path is None:
        return Inventory()
    path = Path(path).expanduser()
    if path.is_dir():
        files = sorted(list(path.glob("*.yaml")) + list(path.glob("*.yml")))
    elif path.exists():
        files = [path]
    else:
        raise UserInputError(f"{path}: inventory not found; give a devices YAML file or a directory of them")
    devices: list[Device] = []
    seen: dict[str, str] = {}
    problems: list[str] = []
    for f in files:
        try:
            loaded = _load_file(f)
        except UserInputError as exc:
            problems += exc.problems
            continue
        for d in loaded:
            if d.name in seen:
                problems.append(f"{d.source}: device name {d.name!r} is already defined at {seen[d.name]}; "
                                f"rename one of them")
                continue
            seen[d.name] = d.source
            devices.append(d)
    if problems:
        raise UserInputError(problems)
    return Inventory(devices)


def ssh_target(device: Device):
    """The resolved SSHTarget of a device (applies its ssh_config, keys, known_hosts, timeouts)."""
    from ..transport.ssh import resolve_target

    t = device.timeouts
    return resolve_target(
        device.name, device.ssh, device.ssh_config or "~/.ssh/config",
        identity_files=[device.identity_file] if device.identity_file else None,
        known_hosts_files=[device.known_hosts] if device.known_hosts else None,
        connect_timeout=t.connect, banner_timeout=t.banner, auth_timeout=t.auth,
        command_timeout=t.command, user_timeout_ms=t.user_timeout_ms)


def connect(device: Device):
    """A Transport for the device (not opened yet: it opens on first use)."""
    if device.is_local:
        from ..transport.local import LocalTransport

        return LocalTransport(device.name)
    from ..transport.ssh import SSHTransport

    return SSHTransport(ssh_target(device))
