"""A meter on the controller for one variant's job (boards with no sensor, device `power.meter`).

    hm = HostMeterRun(device.power.meter, device.name)
    job["power"].update(hm.job_power())   # the agent runs its power phases without a sensor
    hm.start()                            # meter thread running; the job's send time noted
    result = board.run_job(job, on_event=hm.on_event ...)
    hm.finish(result)                     # result["power"] becomes the meter's power object

The agent's phase stamps (board CLOCK_MONOTONIC) are mapped to the host clock with
align.bracket(); a guard band of max(guard_s, offset uncertainty) is trimmed off each edge of
the idle period and of every window. A trimmed window holds a known fraction of the window's
fixed N inferences (the rate is steady inside a window), so energy per inference is the
trimmed window's mean power × window time / N. The result is shaped like an on-board power
object, so summary.summarize_power() computes the same block and the samples become the raw
blob "power_samples" (times stored on the board clock: host time − offset).
"""

from __future__ import annotations

import time

from .align import bracket
from .meters import METERS

KEEP_MARGIN_NS = 2_000_000_000  # samples kept beyond the power phases (context for the stored series)


def make_meter(settings, device: str):
    """The registered meter for `settings.type` (power/meters.py METERS)."""
    return METERS[settings.type].from_settings(settings, device)


class HostMeterRun:
    """One job's meter: see the module docstring."""

    def __init__(self, settings, device: str):
        self.settings, self.device = settings, device
        self.meter = make_meter(settings, device)
        self.stamps: list[tuple[str, int, int]] = []  # (event or phase, board t_ns, host arrival ns)
        self.send_ns: int | None = None

    def job_power(self) -> dict:
        """Keys for job["power"]: the agent stamps its phases and lengthens windows by 2 guards."""
        return {"host_meter": {"interval_s": self.settings.interval_s, "guard_s": self.settings.guard_s}}

    def start(self) -> None:
        self.meter.start()  # MeterUnavailable (a DeviceError) before the board spends any time
        self.send_ns = time.monotonic_ns()  # every board stamp of this job comes after this

    def on_event(self, ev: dict) -> None:
        now = time.monotonic_ns()
        if isinstance(ev.get("t_ns"), int) and ev.get("event") in ("hello", "phase"):
            self.stamps.append((ev.get("phase") or ev["event"], ev["t_ns"], now))

    def stop(self) -> list[tuple[int, float]]:
        return self.meter.stop()

    def finish(self, result: dict) -> dict:
        """Stop the meter; replace result["power"] with the meter's power object; return it."""
        samples = self.stop()
        agent = result.get("power") or {}
        idn = getattr(self.meter, "idn", None) or self.meter.name
        power = {"sensor": "meter", "source": f"meter: {idn}", "kind": "power",
                 "rails": [f"{self.settings.type} meter input"], "estimate": False,
                 "notes": [self.meter.describe(self.settings) if hasattr(self.meter, "describe") else
                           f"{self.settings.type} meter on the controller every {self.settings.interval_s} s",
                           "windows trimmed by a guard band at each edge; energy per inference = "
                           "trimmed-window mean power x window time / N"],
                 "update_interval_s": None, "sample_interval_s": self.settings.interval_s,
                 "settings": agent.get("settings"), "agent_reason": agent.get("reason"),
                 "read_errors": 1 if getattr(self.meter, "error", None) else 0,
                 "first_error": getattr(self.meter, "error", None)}
        if not agent.get("windows") or not agent.get("idle"):
            power["reason"] = ("the agent ran no power phases (agent without host_meter support?)"
                               if not agent.get("reason") else agent["reason"])
            result["power"] = power
            return power
        clock = bracket(self.send_ns, [(b, h) for _, b, h in self.stamps])
        guard = max(self.settings.guard_s, clock["uncertainty_s"])
        clock["guard_s"] = guard
        g, off = int(guard * 1e9), clock["offset_ns"]
        lo = agent["idle"][0] - KEEP_MARGIN_NS
        hi = max(w["t1_ns"] for w in agent["windows"]) + KEEP_MARGIN_NS
        kept = [(h - off, w) for h, w in samples if lo <= h - off <= hi]
        i0, i1 = agent["idle"]
        windows, dropped = [], 0
        for w in agent["windows"]:
            a, b = w["t0_ns"] + g, w["t1_ns"] - g
            if b <= a:
                dropped += 1
                continue
            windows.append({"t0_ns": a, "t1_ns": b, "n": w["n"] * (b - a) / (w["t1_ns"] - w["t0_ns"]),
                            "n_window": w["n"], "board_t0_ns": w["t0_ns"], "board_t1_ns": w["t1_ns"]})
        target = agent.get("window_target_s")
        power.update({
            "idle": [i0 + g, max(i0 + g, i1 - g)], "windows": windows, "warmup": agent.get("warmup"),
            "inferences_per_window": agent.get("inferences_per_window"),
            "window_target_s": None if target is None else max(0.0, target - 2 * guard),
            "clock": clock, "windows_dropped_by_guard": dropped,
            "samples": {"t_ns": [t for t, _ in kept], "values": [[w] for _, w in kept],
                        "seq": list(range(len(kept)))},  # every meter reading is a new measurement
        })
        if not windows:
            power.pop("samples")
            power["reason"] = (f"every window is shorter than twice the guard band {guard:.3g} s; "
                               "raise power.window_min_s or lower power.meter.guard_s")
        result["power"] = power
        return power
