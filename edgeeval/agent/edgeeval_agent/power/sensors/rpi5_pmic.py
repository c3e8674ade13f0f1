"""Raspberry Pi 5 PMIC ADC through vcgencmd: an estimate."""

import re
import shutil
import subprocess

from .base import SENSORS, PowerError, Sensor, _select

_PMIC_LINE = re.compile(r"^\s*(\S+)_([AV]) (?:current|volt)\(\d+\)=([-+0-9.eE]+)[AV]\s*$")


def parse_pmic(text):
    """{rail: watts} from `vcgencmd pmic_read_adc`, pairing RAIL_A with RAIL_V (volt-only rails dropped)."""
    amps, volts = {}, {}
    for line in text.splitlines():
        m = _PMIC_LINE.match(line)
        if m:
            (amps if m.group(2) == "A" else volts)[m.group(1)] = float(m.group(3))
    return dict((r, amps[r] * volts[r]) for r in amps if r in volts)


@SENSORS.register
class Rpi5PmicSensor(Sensor):
    """Raspberry Pi 5 PMIC ADC via `vcgencmd pmic_read_adc` (one spawn per read): an estimate."""

    name = "rpi5-pmic"
    estimate = True

    def __init__(self, spec, root):
        Sensor.__init__(self, spec, root)
        self.cmd = shutil.which(spec.get("command") or "vcgencmd")
        if self.cmd is None:
            raise PowerError("vcgencmd is not on PATH; install raspi-utils (Raspberry Pi OS)")
        self.min_interval_s = 0.05  # one spawn per read: ~10-20 Hz is what a Pi 5 achieves
        self.seq = 0
        rails = self._read_all()
        self.rails = list(spec.get("rails") or rails)
        _select(rails, self.rails, "vcgencmd pmic_read_adc")
        self.notes.append("ESTIMATE: the PMIC rails miss the 5 V consumers (USB, HAT, NVMe); one "
                          "board fitted real = 1.1451*P_pmic + 0.5879 W against a USB-C meter")

    def _read_all(self):
        try:
            out = subprocess.run([self.cmd, "pmic_read_adc"], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, universal_newlines=True, timeout=5)
        except OSError as e:
            raise PowerError("vcgencmd pmic_read_adc failed: %s" % e)
        if out.returncode != 0:
            raise PowerError("vcgencmd pmic_read_adc exited %d: %s (is the user in group video?)"
                             % (out.returncode, out.stderr.strip()[:200]))
        return parse_pmic(out.stdout)

    def read(self):
        rails = self._read_all()
        self.seq += 1
        return [rails.get(r, float("nan")) for r in self.rails], self.seq
