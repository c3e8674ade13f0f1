"""Meters on the controller, for boards with no sensor: a tiny interface and two drivers.

    meter.start(); ...board runs...; samples = meter.stop()   # [(host monotonic ns, watts)]

Windows come from the agent's phase events mapped to the host clock (align.py), trimmed by a
guard band, then the same math as on-board samples (energy.py).
"""

from __future__ import annotations

import socket
import threading
import time

from ..errors import DeviceError, MeterUnavailable, UserInputError  # noqa: F401 (MeterUnavailable re-exported)
from ..registry import Registry

METERS: Registry = Registry("power meter")   # by `power.meter.type` of a device


class Meter:
    """Base: start() a background reader, stop() -> [(t_ns host CLOCK_MONOTONIC, watts)]."""

    name = "?"

    @classmethod
    def from_settings(cls, settings, device: str) -> "Meter":
        """The meter a device's `power.meter:` (devices/inventory.py MeterSettings) describes."""
        raise NotImplementedError

    def describe(self, settings) -> str:
        """One line for the result's notes: what was read, how often."""
        return f"{self.name} meter on the controller every {settings.interval_s} s"

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> list[tuple[int, float]]:
        raise NotImplementedError


@METERS.register("scpi")
class ScpiMeter(Meter):
    """A SCPI bench supply or power analyzer on raw TCP (port 5025): `*IDN?`, then `query`
    (default MEAS:POW?, watts) every interval_s on one connection."""

    name = "scpi"

    def __init__(self, address: str, query: str = "MEAS:POW?", interval_s: float = 0.1, timeout: float = 5.0):
        host, _, port = address.rpartition(":")
        self.host, self.port = host or address, int(port or 5025)
        self.query, self.interval_s, self.timeout = query, interval_s, timeout
        self.idn: str | None = None
        self.samples: list[tuple[int, float]] = []
        self.error: str | None = None
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_settings(cls, settings, device: str) -> "ScpiMeter":
        if not settings.address:
            raise UserInputError(f"device {device!r}: power.meter.address is missing; give the SCPI "
                                 f"instrument's host:port (raw socket, usually 5025)")
        return cls(settings.address, query=settings.query, interval_s=settings.interval_s)

    def describe(self, settings) -> str:
        return f"scpi meter on the controller, {settings.query!r} every {settings.interval_s} s"

    def _ask(self, f, sock, cmd: str) -> str:
        sock.sendall((cmd + "\n").encode())
        line = f.readline()
        if not line:
            raise MeterUnavailable(f"SCPI meter {self.host}:{self.port} closed the connection after {cmd!r}")
        return line.decode().strip()

    def start(self) -> None:
        try:
            self._sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError as e:
            raise MeterUnavailable(f"cannot reach the SCPI meter at {self.host}:{self.port}: {e}",
                                   hint="check the meter's LAN address and that raw socket (5025) is on") from None
        self._f = self._sock.makefile("rb")
        self.idn = self._ask(self._f, self._sock, "*IDN?")
        self._thread = threading.Thread(target=self._run, name="scpi-meter", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        nxt = time.monotonic_ns()
        while not self._halt.is_set():
            try:
                t0 = time.monotonic_ns()
                value = float(self._ask(self._f, self._sock, self.query).split(",")[0])
                self.samples.append(((t0 + time.monotonic_ns()) // 2, value))
            except Exception as e:  # kept, reported by stop()
                self.error = f"{type(e).__name__}: {e}"
                return
            nxt += int(self.interval_s * 1e9)
            self._halt.wait(max(0.0, (nxt - time.monotonic_ns()) / 1e9))

    def stop(self) -> list[tuple[int, float]]:
        self._halt.set()
        if self._thread:
            self._thread.join(5)
        try:
            self._sock.close()
        except Exception:
            pass
        return list(self.samples)


@METERS.register("joulescope")
class JoulescopeMeter(Meter):
    """Joulescope JS110/JS220 statistics stream (pyjoulescope_driver): power avg per stats block."""

    name = "joulescope"

    @classmethod
    def from_settings(cls, settings, device: str) -> "JoulescopeMeter":
        return cls(interval_s=settings.interval_s)

    def describe(self, settings) -> str:
        return f"Joulescope statistics every {settings.interval_s} s"

    def __init__(self, interval_s: float = 0.1):
        try:
            import pyjoulescope_driver  # noqa: F401
        except ImportError:
            raise MeterUnavailable("the Joulescope driver is not installed on the controller",
                                   hint="pip install pyjoulescope_driver, then plug the Joulescope in") from None
        self.interval_s = interval_s
        self.samples: list[tuple[int, float]] = []

    def start(self) -> None:
        from pyjoulescope_driver import Driver

        self._drv = Driver()
        devices = [d for d in self._drv.device_paths() if "js" in d.lower()]
        if not devices:
            raise MeterUnavailable("no Joulescope found on USB", hint="plug it in (and check udev rules)")
        self._dev = devices[0]
        self._drv.open(self._dev, mode="restore")
        scnt = max(1, int(1_000_000 * self.interval_s))  # JS220 stats rate = 1 MHz / scnt
        self._drv.publish(f"{self._dev}/s/stats/scnt", scnt)
        self._drv.publish(f"{self._dev}/s/stats/ctrl", 1)

        def on_stats(topic, value):
            self.samples.append((time.monotonic_ns(), float(value["signals"]["power"]["avg"]["value"])))

        self._cb = on_stats
        self._drv.subscribe(f"{self._dev}/s/stats/value", "pub", on_stats)

    def stop(self) -> list[tuple[int, float]]:
        try:
            self._drv.unsubscribe(f"{self._dev}/s/stats/value", self._cb)
            self._drv.close(self._dev)
        finally:
            self._drv.finalize()
        return list(self.samples)

