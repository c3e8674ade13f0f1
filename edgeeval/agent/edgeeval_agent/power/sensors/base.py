"""The sensor base class and registry; every sensor reads the sysfs tree under a configurable
root (default "/") so tests can point it at a fake tree."""

import os

from ...protocol import AgentError
from ...registry import Registry

SENSORS = Registry("power sensor")


INPUT_RAILS = ("VDD_IN", "POM_5V_IN", "VIN_SYS_5V0")  # board/module input rails (others are sub-rails)


class PowerError(AgentError):
    """The power sensor cannot be used as configured (missing, unreadable, unknown rail)."""


def _sys(root, rel):
    return os.path.join(root, rel.lstrip("/"))


def _read_num(path):
    with open(path) as f:
        return float(f.read().strip())


def _read_text(path):
    with open(path) as f:
        return f.read().strip()


def _default_rails(labels):
    """The input rail when there is one (sub-rails would double count); else every rail summed."""
    for name in INPUT_RAILS:
        if name in labels:
            return [name]
    return list(labels)


def _select(channels, wanted, where):
    """channels: {label: x}; wanted: list of labels or None (the default rails)."""
    if not channels:
        raise PowerError("%s: no rails found" % where)
    labels = list(channels)
    rails = list(wanted) if wanted else _default_rails(labels)
    missing = [r for r in rails if r not in channels]
    if missing:
        raise PowerError("%s has no rail %s; its rails are %s; set power.rails to some of them"
                         % (where, ", ".join(missing), ", ".join(labels)))
    return rails


class Sensor(object):
    """One power source. read() -> (values per rail, seq or None); kind "power" (W) or "energy" (µJ)."""

    name = "?"
    kind = "power"
    estimate = False

    def __init__(self, spec, root):
        self.spec, self.root = spec, root
        self.rails = []
        self.update_interval_s = None
        self.max_range_uj = None
        self.notes = []
        self.min_interval_s = 0.0

    def read(self):
        raise NotImplementedError

    def close(self):
        pass

    def info(self):
        return {"sensor": self.name, "kind": self.kind, "unit": "W" if self.kind == "power" else "uJ",
                "rails": list(self.rails), "update_interval_s": self.update_interval_s,
                "max_range_uj": self.max_range_uj, "estimate": self.estimate, "notes": list(self.notes)}
