"""Power end to end through the CLI over a real sshd board: an on-board sensor (fake sysfs tree +
the load-driven power model) and a SCPI meter on the controller for a board with no sensor."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from edgeeval.testing import powerboard as pb
from edgeeval.testing.scpi_sim import IDN, ScpiSimulator

from .conftest import FAST, RECIPE, as_json, cli

pytestmark = pytest.mark.sshd

# thermal and clocks are sampled once a second: a warmup of >= 1.3 s holds a sample even on a busy
# machine, so the throttled flag is known (true/false), never null for want of a sample
SHORT = {"idle_s": 0.5, "warmup_min_s": 1.3, "warmup_max_s": 1.5, "window_min_s": 1.0, "windows": 3}


@pytest.fixture
def board(sshd_lab):
    b = sshd_lab.start_board("powerboard")
    yield b
    sshd_lab.remove(b)


def _tree(board) -> Path:
    """A fake sysfs tree the unprivileged board user can read (under the board's work dir)."""
    root = Path(board.board_dir) / "fake-sys"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    return root


def _deploy(inv, board, store):
    proc = cli("deploy", RECIPE, "--device", board.name, "--inventory", inv, "--store", store, "--json",
               "--variant", "fp32", *FAST)
    assert proc.returncode == 0, proc.stderr
    return as_json(proc)


def _shown_event(store, run_id):
    shown = as_json(cli("results", "show", run_id, "--store", store, "--json"))
    v = shown["variants"][0]
    return v, v["inputs"]["event"]["power"]


def test_onboard_sensor_energy_per_inference_matches_the_model(sshd_lab, board, built_digits, tmp_path, store):
    root = _tree(board)
    pb.fake_ina226(root, update_interval_ms=20)
    pb.fake_thermal(root)
    pb.public_dirs(root)
    inv = sshd_lab.inventory(tmp_path / "inv.yaml", [board], power={
        "sensor": "hwmon", "chip": "ina226", "sysfs_root": str(root), "sample_interval_s": 0.005, **SHORT})
    log = tmp_path / "model.log"
    model = pb.start_model(root, log, idle_w=3.0, k_w=4.0, interval=0.02)
    try:
        rep = _deploy(inv, board, store)
    finally:
        model.terminate()
        model.wait()
    p = rep["variants"][0]["power"]
    assert p["sensor"] == "hwmon" and p["rails"] == ["power1"] and p["update_interval_s"] == 0.02
    assert p["e_total_mj"]["n"] == 3 and len(p["windows"]) == 3
    assert p["samples"]["repeats_dropped"] > 0 and p["samples"]["achieved_rate_hz"] < 60
    assert rep["variants"][0]["thermal"]["throttled"] is False
    # the stored run: same summary, the agent's window stamps, raw samples as a blob
    v, ev_power = _shown_event(store, rep["run_id"])
    assert v["power"] == p and "power_samples" in v["raw_kinds"]
    n = ev_power["inferences_per_window"]
    for w_ev, w in zip(ev_power["windows"], p["windows"]):
        truth = pb.model_energy(log, w_ev["t0_ns"], w_ev["t1_ns"])  # same machine: one clock
        assert w["e_total_mj"] == pytest.approx(truth / n * 1e3, rel=0.03)
    i0, i1 = ev_power["idle"]
    assert p["p_idle_w"] == pytest.approx(pb.model_energy(log, i0, i1) / ((i1 - i0) / 1e9), rel=0.03)
    # (active > idle is not asserted: the model follows the WHOLE machine's load, shared with other jobs)
    assert p["p_active_w"]["mean"] is not None and p["e_dynamic_mj"]["mean"] is not None
    # the table shows the power rows
    text = cli("results", "show", rep["run_id"], "--store", store, "--detail")
    assert text.returncode == 0
    for label in ("P idle W", "P active W", "energy/inf total mJ", "inferences per joule", "throttled"):
        assert label in text.stdout, text.stdout


def test_scpi_meter_on_the_controller_for_a_board_without_sensor(sshd_lab, board, built_digits, tmp_path, store):
    root = _tree(board)  # only the model's power file: the board has no sensor
    log = tmp_path / "model.log"
    model = pb.start_model(root, log, idle_w=2.0, k_w=6.0, interval=0.02)
    model_file = root / pb.MODEL_FILE

    def profile(_t):  # the meter reads the load-driven model's current power
        try:
            return float(model_file.read_text()) / 1000.0
        except (OSError, ValueError):
            return 2.0

    with ScpiSimulator(profile) as sim:
        inv = sshd_lab.inventory(tmp_path / "inv.yaml", [board], power={
            "sensor": "none", "reason": "no sensor on this board", **SHORT,
            "meter": {"type": "scpi", "address": sim.address, "interval_s": 0.01, "guard_s": 0.1}})
        try:
            rep = _deploy(inv, board, store)
        finally:
            model.terminate()
            model.wait()
        assert sim.queries > 100
    p = rep["variants"][0]["power"]
    assert p["source"] == f"meter: {IDN}" and p["sensor"] == "meter"
    clock = p["clock"]
    # the board is this machine (one CLOCK_MONOTONIC): the true offset 0 must lie in the bracket
    assert clock["consistent"] and clock["lo_ns"] <= 0 <= clock["hi_ns"]
    assert abs(clock["offset_ns"]) / 1e9 <= clock["uncertainty_s"] < 0.5
    assert clock["guard_s"] == max(0.1, clock["uncertainty_s"])
    assert p["e_total_mj"]["n"] == 3 and p["samples"]["repeats_dropped"] == 0
    v, ev_power = _shown_event(store, rep["run_id"])
    assert v["power"] == p and "power_samples" in v["raw_kinds"]
    for w_ev, w in zip(ev_power["windows"], p["windows"]):
        # the trimmed window's mean power against the model over the same host interval
        t0, t1 = w_ev["t0_ns"] + clock["offset_ns"], w_ev["t1_ns"] + clock["offset_ns"]
        assert w["p_mean_w"] == pytest.approx(pb.model_energy(log, t0, t1) / ((t1 - t0) / 1e9), rel=0.03)
        # energy per inference against the model's energy over the whole (untrimmed) window
        truth = pb.model_energy(log, w_ev["board_t0_ns"], w_ev["board_t1_ns"]) / w_ev["n_window"]
        assert w["e_total_mj"] == pytest.approx(truth * 1e3, rel=0.05)
    assert p["p_idle_w"] >= 1.9 and p["e_dynamic_mj"]["mean"] is not None
    text = cli("results", "show", rep["run_id"], "--store", store, "--detail")
    assert "meter: " + IDN in text.stdout and "meter clock offset" in text.stdout


@pytest.mark.parametrize("power,message", [
    ({"sensor": "none", "meter": {"type": "scpi"}}, "needs `address: host:port`"),
    ({"sensor": "hwmon", "chip": "ina226", "meter": {"type": "scpi", "address": "127.0.0.1:5025"}},
     "set `sensor: none`")])
def test_meter_settings_are_checked(sshd_lab, board, tmp_path, power, message):
    inv = sshd_lab.inventory(tmp_path / "inv.yaml", [board], power=power)
    proc = cli("deploy", RECIPE, "--device", board.name, "--inventory", inv, "--json")
    assert proc.returncode == 2 and message in proc.stderr and "inv.yaml:" in proc.stderr, proc.stderr


def test_unreachable_meter_is_a_device_error(sshd_lab, board, built_digits, tmp_path, store):
    from edgeeval.testing.sshd import free_port

    inv = sshd_lab.inventory(tmp_path / "inv.yaml", [board], power={
        "sensor": "none", **SHORT, "meter": {"type": "scpi", "address": f"127.0.0.1:{free_port()}"}})
    proc = cli("deploy", RECIPE, "--device", board.name, "--inventory", inv, "--store", store, "--json",
               "--variant", "fp32", *FAST)
    assert proc.returncode == 3
    assert "cannot reach the SCPI meter" in (proc.stderr + proc.stdout)
