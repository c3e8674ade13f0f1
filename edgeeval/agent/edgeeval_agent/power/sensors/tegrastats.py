"""Jetson tegrastats: one long-lived process, the newest line kept."""

import os
import re
import shutil
import subprocess
import threading

from .base import SENSORS, PowerError, Sensor, _select

_TEGRA_RAIL = re.compile(r"\b((?:VDD|POM|VIN)\w*) (\d+)(?:mW)?/(\d+)(?:mW)?\b")


def parse_tegrastats(line):
    """{rail: current mW} from one tegrastats line (JetPack 4 and 5/6 formats)."""
    return dict((m.group(1), float(m.group(2))) for m in _TEGRA_RAIL.finditer(line))


@SENSORS.register
class TegrastatsSensor(Sensor):
    """One long-lived `tegrastats --interval MS`; a reader thread keeps the newest line."""

    name = "tegrastats"

    def __init__(self, spec, root):
        Sensor.__init__(self, spec, root)
        cmd = spec.get("command") or "tegrastats"
        interval_ms = max(10, int(round(float(spec.get("sample_interval_s") or 0.1) * 1000)))
        self.update_interval_s = interval_ms / 1000.0
        self.min_interval_s = self.update_interval_s / 2
        path = shutil.which(cmd)
        if path is None:
            raise PowerError("%s is not on PATH (%s); tegrastats ships with JetPack" % (cmd, os.environ.get("PATH")))
        self.proc = subprocess.Popen([path, "--interval", str(interval_ms)], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, universal_newlines=True)
        self.latest, self.seq = None, 0
        self.cond = threading.Condition()
        threading.Thread(target=self._reader, name="tegrastats-reader", daemon=True).start()
        with self.cond:
            self.cond.wait_for(lambda: self.latest is not None, timeout=max(3.0, 5 * self.update_interval_s))
            first = self.latest
        if not first:
            self.close()
            raise PowerError("%s printed no power rail within %.1f s" % (cmd, max(3.0, 5 * self.update_interval_s)))
        self.rails = _select(first, spec.get("rails"), "tegrastats")
        self.notes.append("tegrastats current values (mW), not its running averages")

    def _reader(self):
        for line in self.proc.stdout:
            rails = parse_tegrastats(line)
            if rails:
                with self.cond:
                    self.latest, self.seq = rails, self.seq + 1
                    self.cond.notify_all()

    def read(self):
        with self.cond:
            latest, seq = self.latest, self.seq
        return [latest.get(r, float("nan")) / 1000.0 for r in self.rails], seq

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=2)
            except Exception:
                self.proc.kill()
