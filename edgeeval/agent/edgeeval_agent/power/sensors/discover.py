"""What `devices check` lists: every power source found on the board."""

import os
import shutil

from .base import _read_text, _sys
from .hwmon import _hwmon_channels, _hwmon_dirs
from .rapl import RAPL_UDEV_FIX


def discover_sensors(root="/"):
    """What `devices check` lists: every power source found, its rails, whether it is readable."""
    import glob
    found = []
    for d in _hwmon_dirs(root):
        chip = _read_text(os.path.join(d, "name"))
        chans = _hwmon_channels(d)
        mode = next((m for m in ("power", "energy", "vi") if chans[m]), "power")  # what "auto" reads
        entry = {"sensor": "ina3221" if chip == "ina3221" else "hwmon", "chip": chip, "path": d,
                 "mode": mode, "rails": sorted(chans[mode])}
        if entry["rails"]:
            found.append(entry)
    for d in sorted(glob.glob(_sys(root, "sys/bus/i2c/drivers/ina3221x/*/iio:device*"))):
        rails = [_read_text(os.path.join(d, f)) for f in sorted(os.listdir(d)) if f.startswith("rail_name_")]
        found.append({"sensor": "ina3221", "chip": "ina3221x (JetPack 4 IIO)", "path": d, "rails": rails})
    rapl = sorted(glob.glob(_sys(root, "sys/class/powercap/intel-rapl:*")))
    if rapl:
        entry = {"sensor": "rapl", "path": _sys(root, "sys/class/powercap"),
                 "rails": [_read_text(os.path.join(d, "name")) for d in rapl if os.path.isfile(os.path.join(d, "name"))]}
        try:
            _read_text(os.path.join(rapl[0], "energy_uj"))
        except PermissionError:
            entry["readable"] = False
            entry["reason"] = "energy_uj: permission denied. " + RAPL_UDEV_FIX
        found.append(entry)
    for name, cmd in (("tegrastats", "tegrastats"), ("rpi5-pmic", "vcgencmd")):
        if shutil.which(cmd):
            found.append({"sensor": name, "path": shutil.which(cmd), "rails": None,
                          "reason": "rails are known once it runs"})
    return found
