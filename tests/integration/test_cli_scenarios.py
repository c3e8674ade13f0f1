"""--scenario / --profile on the `local` device: the headline figure comes first, settings are recorded."""

from __future__ import annotations

from .conftest import FAST, RECIPE, as_json, cli


def test_offline_scenario_headline_and_settings_are_recorded(built_digits, store):
    proc = cli("deploy", RECIPE, "--store", store, "--variant", "fp32", "--scenario", "offline",
               "--profile", "quick", *FAST)
    assert proc.returncode in (0, 1), proc.stderr
    assert "offline samples/s [95% CI]" in proc.stdout
    first_row = [ln for ln in proc.stdout.splitlines() if "samples/s" in ln or "latency p50" in ln][0]
    assert "offline samples/s" in first_row             # the headline is the table's first figure
    proc = cli("deploy", RECIPE, "--store", store, "--variant", "fp32", "--scenario", "offline",
               "--profile", "quick", "--json", *FAST)
    sc = as_json(proc)["variants"][0]["scenario"]
    assert sc["name"] == "offline" and sc["profile"] == "quick" and sc["settings"]["batch_sizes"] == [1]
    assert sc["headline"]["metric"] == "samples_per_s" and sc["headline"]["ci"] is not None


def test_bad_scenario_options_exit_2():
    proc = cli("deploy", RECIPE, "--scenario", "batchy")
    assert proc.returncode == 2 and "--scenario 'batchy'" in proc.stderr and "Traceback" not in proc.stderr
    proc = cli("deploy", RECIPE, "--find-max-qps")
    assert proc.returncode == 2 and "--scenario server" in proc.stderr
