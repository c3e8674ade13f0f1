"""Any hwmon power monitor (INA2xx and friends), chosen by chip name and rail labels."""

import os
import re

from .base import SENSORS, PowerError, Sensor, _read_num, _read_text, _select, _sys


def _hwmon_dirs(root):
    import glob
    seen, out = set(), []
    for pattern in ("sys/class/hwmon/hwmon*", "sys/bus/i2c/drivers/*/*/hwmon/hwmon*"):
        for d in sorted(glob.glob(_sys(root, pattern))):
            real = os.path.realpath(d)
            if real not in seen and os.path.isfile(os.path.join(d, "name")):
                seen.add(real)
                out.append(d)
    return out


def _hwmon_channels(d):
    """{mode: {label: reader spec}} for one hwmon dir: power (µW), energy (µJ), vi (mV × mA)."""
    files = set(os.listdir(d))
    out = {"power": {}, "energy": {}, "vi": {}}

    def label(kind, n):
        lf = "%s%s_label" % (kind, n)
        return _read_text(os.path.join(d, lf)) if lf in files else "%s%s" % (kind, n)

    for f in sorted(files):
        m = re.match(r"^(power|energy|curr)(\d+)_input$", f)
        if not m:
            continue
        kind, n = m.groups()
        if kind == "curr":
            if "in%s_input" % n in files:
                lab = label("in", n) if "in%s_label" % n in files else label("curr", n)
                out["vi"][lab] = (os.path.join(d, "in%s_input" % n), os.path.join(d, f))
        else:
            out[kind][label(kind, n)] = os.path.join(d, f)
    return out


@SENSORS.register
class HwmonSensor(Sensor):
    """Any hwmon chip, chosen by `name` (never by hwmonN) and rails by *_label."""

    name = "hwmon"
    chip_default = None

    def __init__(self, spec, root):
        Sensor.__init__(self, spec, root)
        chip = spec.get("chip") or self.chip_default
        if not chip:
            raise PowerError("power.chip is missing; give the hwmon chip name (the `name` file), "
                             "e.g. ina226; `edgeeval devices check` lists them")
        dirs = [d for d in _hwmon_dirs(root) if _read_text(os.path.join(d, "name")) == chip]
        if not dirs:
            raise PowerError("no hwmon chip named %r under %s; found %s" % (
                chip, _sys(root, "sys/class/hwmon"),
                ", ".join(sorted(set(_read_text(os.path.join(d, "name")) for d in _hwmon_dirs(root))))
                or "none"))
        chans = {"power": {}, "energy": {}, "vi": {}}
        for d in dirs:
            for mode, found in _hwmon_channels(d).items():
                for lab, src in found.items():
                    key = lab if lab not in chans[mode] else "%s#%d" % (lab, len(chans[mode]))
                    chans[mode][key] = src
            if os.path.isfile(os.path.join(d, "update_interval")):
                self.update_interval_s = _read_num(os.path.join(d, "update_interval")) / 1000.0
        mode = spec.get("mode") or "auto"
        if mode == "auto":
            mode = next((m for m in ("power", "energy", "vi") if chans[m]), "power")
        if mode not in chans:
            raise PowerError("power.mode is %r; use auto, power, energy or vi" % mode)
        self.mode = mode
        self.kind = "energy" if mode == "energy" else "power"
        self.rails = _select(chans[mode], spec.get("rails"), "hwmon chip %s (%s)" % (chip, mode))
        self.sources = [chans[mode][r] for r in self.rails]
        if self.update_interval_s is None:
            self.notes.append("the chip exposes no update_interval; repeats are detected by value")
        self.notes.append("hwmon %s, %s" % (chip, {"power": "power*_input (uW)", "energy":
                          "energy*_input (uJ counter)", "vi": "in*_input x curr*_input (mV x mA)"}[mode]))
        self.read()  # fail now, not in the sampler thread

    def read(self):
        if self.mode == "vi":
            return [_read_num(v) * _read_num(i) / 1e6 for v, i in self.sources], None
        if self.mode == "power":
            return [_read_num(p) / 1e6 for p in self.sources], None
        return [_read_num(p) for p in self.sources], None
