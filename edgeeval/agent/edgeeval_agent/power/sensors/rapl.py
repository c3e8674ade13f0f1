"""Intel/AMD RAPL powercap energy counters (CPU package domains, not the board)."""

import os
import re

from .base import SENSORS, PowerError, Sensor, _read_text, _select, _sys

RAPL_UDEV_FIX = (
    "energy_uj is readable by root only since Linux 5.10 / 5.4.77 (CVE-2020-8694). Give the board "
    "user read access, e.g. once: sudo groupadd -f power && sudo usermod -aG power $USER && "
    "sudo chgrp power /sys/class/powercap/intel-rapl:*/energy_uj && sudo chmod g+r "
    "/sys/class/powercap/intel-rapl:*/energy_uj; to keep it across boots add the udev rule "
    "SUBSYSTEM==\"powercap\", ACTION==\"add\", RUN+=\"/bin/chgrp power /sys%p/energy_uj\", "
    "RUN+=\"/bin/chmod g+r /sys%p/energy_uj\" to /etc/udev/rules.d/99-rapl.rules")


@SENSORS.register
class RaplSensor(Sensor):
    """powercap energy_uj counters (µJ, wrap at max_energy_range_uj); root-only on modern kernels."""

    name = "rapl"
    kind = "energy"

    def __init__(self, spec, root):
        import glob
        Sensor.__init__(self, spec, root)
        chans, top = {}, []
        for d in sorted(glob.glob(_sys(root, "sys/class/powercap/intel-rapl:*"))):
            if not os.path.isfile(os.path.join(d, "name")):
                continue
            lab = _read_text(os.path.join(d, "name"))
            if lab in chans:
                lab = "%s@%s" % (lab, os.path.basename(d))
            chans[lab] = d
            if re.match(r"^intel-rapl:\d+$", os.path.basename(d)):
                top.append(lab)
        wanted = spec.get("rails") or [t for t in top if t.startswith("package")] or top
        self.rails = _select(chans, wanted, "RAPL powercap")
        self.sources = [os.path.join(chans[r], "energy_uj") for r in self.rails]
        self.max_range_uj = []
        for r in self.rails:
            self.max_range_uj.append(int(_read_text(os.path.join(chans[r], "max_energy_range_uj"))))
        try:
            self.read()
        except PermissionError as e:
            raise PowerError("cannot read %s: permission denied (%s). %s"
                             % (e.filename or self.sources[0], e.strerror, RAPL_UDEV_FIX))
        self.update_interval_s = 0.001
        self.notes.append("RAPL counters cover the CPU package domains %s, not the board" % ", ".join(self.rails))

    def read(self):
        out = []
        for p in self.sources:
            with open(p) as f:
                out.append(int(f.read().strip()))  # Python ints: the 64-bit range is kept exactly
        return out, None
