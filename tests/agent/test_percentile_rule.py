"""The agent (find_max_qps, sustained windows) and the controller (every reported figure) read a
percentile by the same rule, LoadGen's sorted[min(n - 1, floor(n * p))]."""

from __future__ import annotations

import numpy as np
import pytest

from edgeeval.agent.edgeeval_agent.loops import _p as agent_percentile
from edgeeval.evaluate.latency import percentile


@pytest.mark.parametrize("n", [1, 2, 3, 10, 99, 100, 101, 1000, 4097])
def test_agent_and_controller_percentiles_agree(n):
    rng = np.random.default_rng(n)
    values = [int(v) for v in rng.integers(1, 10**9, n)]
    for p in (0.0, 0.01, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0, *rng.random(20)):
        assert agent_percentile(values, p) == percentile(sorted(values), p), (n, p)


def test_ties_and_unsorted_input():
    values = [5, 1, 5, 3, 5, 2]
    assert [agent_percentile(values, p) for p in (0.5, 0.9)] == [percentile(sorted(values), p) for p in (0.5, 0.9)]
