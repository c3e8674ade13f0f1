"""Board phase stamps (board CLOCK_MONOTONIC) to the host clock, for meters on the controller."""

from __future__ import annotations


class ClockMap:
    """host_ns = board_ns + offset, offset from (board stamp, host receive time) pairs: the smallest
    host-minus-board difference is the one with the least transport delay."""

    def __init__(self, pairs: list[tuple[int, int]]):
        if not pairs:
            raise ValueError("no phase events to align the clocks with")
        self.offset_ns = min(h - b for b, h in pairs)
        self.spread_ns = max(h - b for b, h in pairs) - self.offset_ns  # delay jitter seen

    def to_host(self, board_ns: int) -> int:
        return board_ns + self.offset_ns

    def window(self, t0_board: int, t1_board: int, guard_s: float) -> tuple[int, int] | None:
        """The host window trimmed by guard_s at each edge; None when nothing is left."""
        g = int(guard_s * 1e9)
        a, b = self.to_host(t0_board) + g, self.to_host(t1_board) - g
        return (a, b) if b > a else None


DRIFT_PPM = 50.0  # allowance for two free-running crystal clocks over one run (typical tolerance)


def bracket(send_host_ns: int, stamps: list[tuple[int, int]], drift_ppm: float = DRIFT_PPM) -> dict:
    """The board→host clock offset from one job's event stream, with its uncertainty.

    stamps: [(board t_ns, host arrival ns)] of the agent's stamped events (hello, phases).
    host = board + offset, and offset lies in [lo, hi]:
      hi = min(arrival - board stamp)   no line arrives before it was stamped;
      lo = send - first board stamp     no board stamp precedes the host sending the job.
    The estimate is the middle; the uncertainty is half the width plus drift_ppm over the span
    of the stamps (the bracket holds at the stamps; free-running clocks drift apart between)."""
    if not stamps:
        raise ValueError("no stamped events to align the clocks with")
    hi = min(h - b for b, h in stamps)
    first = min(b for b, _ in stamps)
    lo = send_host_ns - first
    span = max(b for b, _ in stamps) - first
    out = {"method": "bracket: job send time and event arrival times vs board stamps",
           "stamps": len(stamps), "lo_ns": lo, "hi_ns": hi, "drift_ppm": drift_ppm}
    if lo > hi:  # contradiction: the clocks stepped or drift more than assumed
        out["consistent"] = False
        lo, hi = hi, lo
    else:
        out["consistent"] = True
    out["offset_ns"] = (lo + hi) // 2
    out["uncertainty_s"] = (hi - lo) / 2e9 + drift_ppm * 1e-6 * span / 1e9
    return out
