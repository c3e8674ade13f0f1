"""The thermal/clock sampler (1 s) of a job: zone temperatures, cpufreq, Pi throttle bits."""

import os
import re
import shutil
import subprocess

from .sampler import _Sampler
from .sensors.base import _read_num, _read_text, _sys

THERMAL_INTERVAL_S = 1.0


class ThermalSampler(object):
    """Every second: thermal zones (m°C), cpufreq policies (kHz, governor), Pi throttle bits."""

    def __init__(self, root, interval_s=THERMAL_INTERVAL_S, vcgencmd="vcgencmd"):
        import glob
        self.info = {"interval_s": interval_s, "sysfs_root": root}
        self.zones = []
        for d in sorted(glob.glob(_sys(root, "sys/class/thermal/thermal_zone*")),
                        key=lambda p: int(re.sub(r"\D", "", os.path.basename(p)) or 0)):
            if os.path.isfile(os.path.join(d, "temp")):
                try:
                    self.zones.append((_read_text(os.path.join(d, "type")), os.path.join(d, "temp")))
                except OSError:
                    pass
        self.policies = []
        for d in sorted(glob.glob(_sys(root, "sys/devices/system/cpu/cpufreq/policy*"))):
            if os.path.isfile(os.path.join(d, "scaling_cur_freq")):
                self.policies.append((os.path.basename(d), d))
        self.info["zones"] = [z for z, _ in self.zones]
        self.info["policies"] = [p for p, _ in self.policies]
        if not self.zones:
            self.info["zones_reason"] = "no thermal_zone*/temp under %s" % _sys(root, "sys/class/thermal")
        if not self.policies:
            self.info["policies_reason"] = "no cpufreq policy*/scaling_cur_freq under %s" % _sys(
                root, "sys/devices/system/cpu/cpufreq")
        self.info["governors"] = dict((p, self._gov(d)) for p, d in self.policies)
        self.vcgencmd = shutil.which(vcgencmd)
        self.info["throttle_source"] = "vcgencmd get_throttled" if self.vcgencmd else None
        if not self.vcgencmd:
            self.info["throttle_reason"] = "no vcgencmd on PATH (not a Raspberry Pi)"
        nv = shutil.which("nvpmodel")
        self.info["nvpmodel"] = None
        if nv:
            try:
                self.info["nvpmodel"] = subprocess.run([nv, "-q"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                                       universal_newlines=True, timeout=5).stdout.strip()
            except Exception as e:
                self.info["nvpmodel_reason"] = "nvpmodel -q failed: %s" % e
        else:
            self.info["nvpmodel_reason"] = "no nvpmodel on PATH (not a Jetson)"
        self.sampler = _Sampler(self._read, interval_s, "thermal-sampler")

    @staticmethod
    def _gov(d):
        try:
            return _read_text(os.path.join(d, "scaling_governor"))
        except OSError:
            return None

    def _read(self):
        temps = []
        for _, path in self.zones:
            try:
                temps.append(_read_num(path))
            except (OSError, ValueError):
                temps.append(None)
        freqs = []
        for _, d in self.policies:
            try:
                freqs.append(_read_num(os.path.join(d, "scaling_cur_freq")))
            except (OSError, ValueError):
                freqs.append(None)
        thr = None
        if self.vcgencmd:
            try:
                out = subprocess.run([self.vcgencmd, "get_throttled"], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, universal_newlines=True, timeout=2).stdout
                thr = int(out.strip().split("=", 1)[1], 16)
            except Exception:
                thr = None
        return [temps, freqs, thr], None

    def start(self):
        self.sampler.start()

    def max_temp_series(self):
        """[(t_s, max zone °C)] so far, for the warmup slope."""
        out = []
        for t, v in zip(list(self.sampler.t_ns), list(self.sampler.values)):
            temps = [x for x in v[0] if x is not None]
            if temps:
                out.append((t / 1e9, max(temps) / 1000.0))
        return out

    def finish(self, phases):
        self.sampler.stop()
        s = self.sampler
        out = dict(self.info)
        out.update({"t_ns": s.t_ns, "temp_mc": [v[0] for v in s.values], "freq_khz": [v[1] for v in s.values],
                    "throttled": [v[2] for v in s.values] if self.vcgencmd else None,
                    "governors_end": dict((p, self._gov(d)) for p, d in self.policies),
                    "phases": phases, "read_errors": s.errors, "first_error": s.first_error})
        return out
