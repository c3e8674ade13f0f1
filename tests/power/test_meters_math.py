"""Controller-side math and meters: wraparound, de-duplication, integration, t-intervals, SCPI."""

from __future__ import annotations

import time

import numpy as np
import pytest

from edgeeval.power.align import ClockMap
from edgeeval.power.energy import counter_delta, dedupe, integrate, unwrap
from edgeeval.power.meters import JoulescopeMeter, MeterUnavailable, ScpiMeter
from edgeeval.power.stats import window_stats
from edgeeval.testing.scpi_sim import IDN, ScpiSimulator


def test_rapl_wraparound():
    assert counter_delta(262143000000, 500000, 262143328850) == 828850
    assert list(unwrap([262143000000, 500000, 600000], 262143328850)) == [262143000000, 262143828850, 262143928850]


def test_dedupe_drops_repeats_and_keeps_updates():
    t, v, rep = dedupe([0, 1, 2, 3, 4], [[1.0], [1.0], [2.0], [2.0], [1.0]])
    assert list(t) == [0, 2, 4] and rep == 2
    t, v, rep = dedupe([0, 1, 2], [[1.0], [1.0], [1.0]], seq=[1, 2, 2])
    assert list(t) == [0, 1] and rep == 1


def test_trapezoid_with_interpolated_edges():
    t = np.array([0.0, 1.0, 2.0])
    p = np.array([0.0, 2.0, 2.0])
    assert integrate(t, p, 0.5, 1.5) == pytest.approx(0.5 * 1.5 + 0.5 * 2.0)


def test_window_stats_interval_and_cv_flag():
    s = window_stats([10.0, 10.2, 9.8])
    assert s["mean"] == pytest.approx(10.0) and s["ci"][0] < 10 < s["ci"][1] and s["cv_flagged"] is False
    half = 4.302652729911275 * 0.2 / 3 ** 0.5  # t(0.975, 2)
    assert s["ci"][1] - 10.0 == pytest.approx(half)
    assert window_stats([10.0, 12.0, 8.0])["cv_flagged"] is True
    assert window_stats([1.0])["ci"] is None


def test_scpi_meter_against_the_simulator():
    t_start = time.monotonic()

    def profile(t):  # 2 W, then 5 W after 0.5 s
        return 2.0 if t - t_start < 0.5 else 5.0

    with ScpiSimulator(profile) as sim:
        m = ScpiMeter(sim.address, interval_s=0.01)
        m.start()
        assert m.idn == IDN
        time.sleep(1.0)
        samples = m.stop()
    assert m.error is None and len(samples) > 30
    t = np.array([s[0] for s in samples]) / 1e9 - t_start
    p = np.array([s[1] for s in samples])
    e = integrate(t, p, 0.6, 0.9)
    assert e == pytest.approx(5.0 * 0.3, rel=0.01)
    # a window from board stamps with a known offset, trimmed by the guard band
    cm = ClockMap([(1_000, 1_000 + 5_000_000), (2_000, 2_000 + 7_000_000)])
    assert cm.offset_ns == 5_000_000 and cm.window(0, 2_000_000_000, 0.5) == (505_000_000, 1_505_000_000)
    assert cm.window(0, 500_000_000, 0.5) is None


def test_scpi_meter_unreachable_is_a_device_error():
    from edgeeval.testing.sshd import free_port

    with pytest.raises(MeterUnavailable, match="cannot reach"):
        ScpiMeter(f"127.0.0.1:{free_port()}").start()


def test_joulescope_skips_with_an_explanation():
    try:
        import pyjoulescope_driver  # noqa: F401
    except ImportError:
        with pytest.raises(MeterUnavailable, match="pip install pyjoulescope_driver"):
            JoulescopeMeter()
        pytest.skip("pyjoulescope_driver is not installed: the meter says how to install it (checked above)")
    pytest.skip("a Joulescope must be plugged in to test the stream")
