"""A sampler thread (CLOCK_MONOTONIC stamps, the clock of the phase events) that keeps every
raw read; the controller de-duplicates repeats."""

import threading
import time


def _linear_slope(ts, ys):
    n = len(ts)
    mt, my = sum(ts) / n, sum(ys) / n
    var = sum((t - mt) ** 2 for t in ts)
    return sum((t - mt) * (y - my) for t, y in zip(ts, ys)) / var if var > 0 else 0.0


class _Sampler(threading.Thread):
    """Calls `read()` every `interval_s`; keeps (t_ns, values, seq) of every read, repeats included."""

    def __init__(self, read, interval_s, name):
        threading.Thread.__init__(self, name=name, daemon=True)
        self.read_fn, self.interval_s = read, interval_s
        self.t_ns, self.values, self.seq = [], [], []
        self.errors, self.first_error = 0, None
        self.halt = threading.Event()

    def run(self):
        mono = time.monotonic_ns
        step = int(self.interval_s * 1e9)
        nxt = mono()
        while True:
            t0 = mono()
            try:
                values, seq = self.read_fn()
            except Exception as e:
                self.errors += 1
                if self.first_error is None:
                    self.first_error = "%s: %s" % (type(e).__name__, e)
            else:
                self.t_ns.append((t0 + mono()) // 2)
                self.values.append(values)
                self.seq.append(seq)
            nxt += step
            if self.halt.wait(max(0.0, (nxt - mono()) / 1e9)):
                return

    def stop(self):
        self.halt.set()
        self.join(5.0)
