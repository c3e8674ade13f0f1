"""Jetson INA3221: JetPack 5/6 hwmon or JetPack 4 IIO."""

import os
import re

from .base import SENSORS, Sensor, _read_num, _read_text, _select, _sys
from .hwmon import HwmonSensor, _hwmon_dirs


@SENSORS.register
class Ina3221Sensor(HwmonSensor):
    """Jetson INA3221: JetPack 5/6 hwmon (V×I, no power file) or JetPack 4 IIO (in_power*, mW)."""

    name = "ina3221"
    chip_default = "ina3221"

    def __init__(self, spec, root):
        import glob
        iio = sorted(glob.glob(_sys(root, "sys/bus/i2c/drivers/ina3221x/*/iio:device*")))
        hw = [d for d in _hwmon_dirs(root) if _read_text(os.path.join(d, "name")) == "ina3221"]
        if hw or not iio:
            spec = dict(spec, mode=spec.get("mode") or "vi")
            HwmonSensor.__init__(self, spec, root)
        else:
            Sensor.__init__(self, spec, root)
            chans = {}
            for d in iio:
                for f in sorted(os.listdir(d)):
                    m = re.match(r"^rail_name_(\d+)$", f)
                    if m and os.path.isfile(os.path.join(d, "in_power%s_input" % m.group(1))):
                        chans[_read_text(os.path.join(d, f))] = os.path.join(d, "in_power%s_input" % m.group(1))
            self.mode = "iio"
            self.rails = _select(chans, spec.get("rails"), "INA3221 IIO (JetPack 4)")
            self.sources = [chans[r] for r in self.rails]
            self.notes.append("JetPack 4 IIO in_power*_input (mW); update interval not exposed")
            self.read()
        if "VDD_IN" not in self.rails and "POM_5V_IN" not in self.rails:
            self.notes.append("no input rail selected: the sum of %s covers the module rails only"
                              % "+".join(self.rails))
        else:
            self.notes.append("the input rail covers the module, not the carrier board")

    def read(self):
        if self.mode == "iio":
            return [_read_num(p) / 1000.0 for p in self.sources], None
        return HwmonSensor.read(self)
