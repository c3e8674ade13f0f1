"""A small SCPI instrument on loopback for tests: answers *IDN? and MEAS:POW?/VOLT?/CURR?
from a known power profile P(t) (t = host CLOCK_MONOTONIC seconds)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Callable

IDN = "edgeeval,SCPI-SIM,0001,1.0"


class ScpiSimulator:
    def __init__(self, profile: Callable[[float], float], volts: float = 5.0, host: str = "127.0.0.1"):
        self.profile, self.volts = profile, volts
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(4)
        self.address = f"{host}:{self.sock.getsockname()[1]}"
        self.queries = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._client, args=(conn,), daemon=True).start()

    def _client(self, conn) -> None:
        with conn, conn.makefile("rb") as f:
            for raw in f:
                cmd = raw.decode().strip().upper()
                p = self.profile(time.monotonic())
                if cmd == "*IDN?":
                    reply = IDN
                elif cmd in ("MEAS:POW?", "MEAS:POWER?"):
                    reply = f"{p:.6f}"
                elif cmd in ("MEAS:VOLT?",):
                    reply = f"{self.volts:.6f}"
                elif cmd in ("MEAS:CURR?",):
                    reply = f"{p / self.volts:.6f}"
                elif cmd == "MEAS:ALL?":
                    reply = f"{self.volts:.6f},{p / self.volts:.6f},{p:.6f}"
                else:
                    reply = '-113,"Undefined header"'
                self.queries += 1
                conn.sendall((reply + "\n").encode())

    def close(self) -> None:
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
