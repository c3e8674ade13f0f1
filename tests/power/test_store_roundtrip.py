"""A power result survives the store: samples as raw blobs, recompute gives the same summary."""

from __future__ import annotations

from edgeeval.evaluate.summary import recompute_variant, summarize_variant
from edgeeval.store.store import Store
from edgeeval.testing import powerboard as pb

from .conftest import power_job, result_of, run_agent


def test_power_blobs_and_recompute(board):
    root = board / "root"
    pb.fake_ina226(root, update_interval_ms=20)
    pb.fake_thermal(root)
    model = pb.start_model(root, board / "model.log")
    try:
        # thermal and clocks are sampled once a second: the warmup and the windows each last longer,
        # so both phases hold a frequency sample and `throttled` is known (not null) on a busy machine
        events, rc, err = run_agent(board, job=power_job(root, sensor="hwmon", chip="ina226", windows=2,
                                                     warmup_min_s=1.3, warmup_max_s=1.5, window_min_s=1.1))
    finally:
        model.terminate()
        model.wait()
    ev = result_of(events)
    summary = summarize_variant(ev, None, None, None, None, {})
    assert summary["power"]["e_total_mj"]["mean"] > 0 and summary["thermal"]["throttled"] is False
    store = Store("sqlite://")
    run = store.begin_run(command="test", recipe_name="r", device_name="d")
    vid = store.add_variant(run, "v", summary=summary, event=ev, gates={})
    kinds = store.get_run(run)["variants"][0]["raw_kinds"]
    assert {"power_samples", "thermal", "latencies_ns"} <= set(kinds)
    assert store.get_raw(vid, "power_samples")["t_ns"].size == len(ev["power"]["samples"]["t_ns"])
    assert recompute_variant(store, vid)["power"] == summary["power"]
