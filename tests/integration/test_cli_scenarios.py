"""--scenario / --profile on the `local` device: the headline figure comes first, settings are recorded."""

from __future__ import annotations

import pytest

from .conftest import FAST, RECIPE, as_json, cli

pytestmark = pytest.mark.slow   # builds real models / long scenario runs


def test_offline_scenario_headline_and_settings_are_recorded(built_digits, store):
    proc = cli("deploy", RECIPE, "--store", store, "--variant", "fp32", "--scenario", "offline",
               "--profile", "quick", *FAST)
    assert proc.returncode == 0, proc.stderr
    assert "fp32: offline samples/s [95% CI]" in proc.stdout      # the headline beside the compact table
    proc = cli("deploy", RECIPE, "--store", store, "--variant", "fp32", "--scenario", "offline",
               "--profile", "quick", "--detail", *FAST)
    assert proc.returncode == 0, proc.stderr
    first_row = [ln for ln in proc.stdout.splitlines() if "samples/s" in ln or "latency p50" in ln][0]
    assert "offline samples/s" in first_row             # the headline is the table's first figure
    proc = cli("deploy", RECIPE, "--store", store, "--variant", "fp32", "--scenario", "offline",
               "--profile", "quick", "--json", *FAST)
    assert proc.returncode == 0, proc.stderr
    sc = as_json(proc)["variants"][0]["scenario"]
    assert sc["name"] == "offline" and sc["profile"] == "quick" and sc["settings"]["batch_sizes"] == [1]
    assert sc["headline"]["metric"] == "samples_per_s" and sc["headline"]["ci"] is not None


def test_bad_scenario_options_exit_2():
    proc = cli("deploy", RECIPE, "--scenario", "batchy")
    assert proc.returncode == 2 and "--scenario 'batchy'" in proc.stderr and "Traceback" not in proc.stderr
    proc = cli("deploy", RECIPE, "--find-max-qps")
    assert proc.returncode == 2 and "--scenario server" in proc.stderr


def test_server_throughput_is_the_completed_query_rate(built_digits, store):
    """Server latency includes queueing, so n / sum(latency) is no rate: the table shows completed QPS."""
    # at 2M QPS arrivals outrun the board for the whole 0.5 s: queueing puts p90 far above the recipe's
    # 50 ms gate (exit 1, that gate failed); 400 QPS leaves the board idle between queries (exit 0)
    for qps, overloaded in ((400.0, False), (2_000_000.0, True)):
        proc = cli("deploy", RECIPE, "--store", store, "--variant", "fp32", "--scenario", "server",
                   "--target-qps", qps, "--profile", "quick", "--json", "--min-runs", "300", "--min-seconds", "0.5",
                   "--warmup", "2")
        assert proc.returncode == (1 if overloaded else 0), proc.stderr
        v = as_json(proc)["variants"][0]
        assert [g["name"] for g in v["gates"] if not g["passed"]] == (["p90_ms"] if overloaded else [])
        srv, lat = v["scenario"]["server"], v["latency"]
        assert srv["target_qps"] == qps and srv["scheduled_queries"] == srv["completed_queries"] == lat["n"]
        assert srv["completed_qps"] == v["scenario"]["throughput"]["value"] == lat["throughput_ips"]
        assert lat["throughput_method"].startswith("server: completed")
        naive = 1000.0 / lat["mean"]                  # n / sum(latency), what the table used to print
        if not overloaded:
            assert 0.7 * qps < srv["scheduled_qps"] < 1.3 * qps
            assert 0.7 * qps < srv["completed_qps"] < 1.3 * qps
        else:   # the board cannot keep up: arrivals far ahead of completions, queueing in every latency
            assert srv["scheduled_qps"] > 5 * srv["completed_qps"]
            assert srv["completed_qps"] > 2 * naive
    text = cli("deploy", RECIPE, "--store", store, "--variant", "fp32", "--scenario", "server",
               "--target-qps", "400", "--profile", "quick", *FAST)
    assert "server QPS target / scheduled / completed" in text.stdout


def test_target_qps_needs_the_server_scenario_and_a_finite_value():
    proc = cli("deploy", RECIPE, "--target-qps", "100")
    assert proc.returncode == 2 and "--scenario server" in proc.stderr
    proc = cli("deploy", RECIPE, "--scenario", "server", "--target-qps", "nan")
    assert proc.returncode == 2 and "--target-qps nan" in proc.stderr and "Traceback" not in proc.stderr
    proc = cli("deploy", RECIPE, "--min-seconds", "inf")
    assert proc.returncode == 2 and "--min-seconds inf" in proc.stderr


def test_offline_sweep_is_a_table(built_digits, tmp_path, store):
    import yaml

    recipe = yaml.safe_load(RECIPE.read_text())
    recipe["run"] = {"scenario": {"name": "offline", "profile": "quick", "batch_sizes": [1, 4]}}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(recipe))
    proc = cli("deploy", path, "--store", store, "--variant", "fp32", *FAST)
    assert proc.returncode == 0, proc.stderr
    assert "offline sweep" in proc.stdout
    rows = [ln.split() for ln in proc.stdout.splitlines() if ln.strip().startswith("fp32 ") and len(ln.split()) >= 5]
    assert [r[1] for r in rows if r[1] in ("1", "4")] == ["1", "4"], proc.stdout
