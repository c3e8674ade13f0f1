"""The synthetic runtime: a seeded spin (or sleep) per call, for self-tests of the statistics and
for virtual farm boards."""

import time

from ..protocol import AGENT_VERSION, JobError, _int, _num
from .base import RUNNERS


@RUNNERS.register
class SyntheticRunner(object):
    """Self-test runtime: spins for a duration drawn from a known distribution (seeded).

    Only for testing the statistics: selected explicitly with runtime.name "synthetic", never
    a default. Duration per call = draw (ms) * batch ** batch_exponent.
    """

    name = "synthetic"
    DISTRIBUTIONS = ("lognormal", "constant")

    def __init__(self, spec):
        self.spec = spec
        dist = spec.get("distribution", "lognormal")
        if dist not in self.DISTRIBUTIONS:
            raise JobError("runtime.distribution is %r; the synthetic runtime draws from %s"
                           % (dist, ", ".join(self.DISTRIBUTIONS)))
        self.dist = dist
        self.median_ms = _num(spec.get("median_ms", 1.0), "runtime.median_ms")
        self.sigma = _num(spec.get("sigma", 0.25), "runtime.sigma")
        self.batch_exponent = _num(spec.get("batch_exponent", 1.0), "runtime.batch_exponent")
        self.seed = _int(spec.get("seed", 0), "runtime.seed", 0)
        self.wait = spec.get("wait", "spin")
        if self.wait not in ("spin", "sleep"):
            raise JobError("runtime.wait is %r; the synthetic runtime waits by spin or sleep" % (self.wait,))
        self.job_inputs = []

    def version(self):
        return AGENT_VERSION

    def providers_available(self):
        return []

    def set_job(self, job):
        self.job_inputs = list(job["data"]["inputs"])

    def load(self, model_path):
        import math
        import random
        self._rng = random.Random(self.seed)
        self._mu = math.log(self.median_ms) if self.median_ms > 0 else None
        return {"distribution": self.dist, "median_ms": self.median_ms, "sigma": self.sigma,
                "batch_exponent": self.batch_exponent, "seed": self.seed, "wait": self.wait}

    def inputs(self):
        return [(n, [], None) for n in self.job_inputs]

    def output_names(self):
        return ["synthetic"]

    def providers_used(self):
        return []

    def _run(self, arg, feed):
        np = __import__("numpy")
        batch = len(next(iter(feed.values()))) if feed else 1
        if self.dist == "constant" or self._mu is None:
            ms = self.median_ms
        else:
            ms = self._rng.lognormvariate(self._mu, self.sigma)
        perf = time.perf_counter_ns
        end = perf() + int(ms * (batch ** self.batch_exponent) * 1e6)
        if self.wait == "sleep":   # no CPU: many virtual boards on few cores (sleep overshoots by ~0.1 ms)
            left = end - perf()
            if left > 0:
                time.sleep(left / 1e9)
        while perf() < end:
            pass
        return [np.zeros((batch, 1), dtype=np.float32)]

    def bind(self):
        return self._run, None
