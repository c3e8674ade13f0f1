"""`edgeeval report` as CSV and Markdown from real stores: documented columns that round-trip
through csv.DictReader, tables a Markdown parser reads as tables, unknown never shown as zero."""

import csv
import io

import pytest
from typer.testing import CliRunner

from edgeeval.cli.main import app
from edgeeval.report import rows as R
from edgeeval.report.build import build
from edgeeval.report.tables import SUMMARY_HEAD, to_csv, to_markdown

from .conftest import put


def _lab(st, recipe):
    pi = put(st, recipe, "pi5", p50=8.0, power=4.0, throttled=False, declared={"price_usd": 80, "tdp_w": 12}, seed=1)
    nuc = put(st, recipe, "nuc", p50=2.0, declared={"tdp_w": 28}, seed=2)
    bare = put(st, recipe, "bare", p50=3.0, seed=3, gates=False)
    return pi, nuc, bare


def test_csv_round_trips_with_documented_columns(store, recipe):
    pi, nuc, bare = _lab(store, recipe)
    doc = build(store, recipe=recipe)
    assert doc["selector"] == f"recipe {recipe}" and len(doc["rows"]) == 6
    back = list(csv.DictReader(io.StringIO(to_csv(doc["rows"]))))
    assert list(back[0]) == R.KEYS and len(back) == 6
    by = {(r["device"], r["variant"]): r for r in back}
    pi8 = by[("pi5", "int8-static")]
    assert float(pi8["p50_ms"]) == pytest.approx(4.8, rel=0.05)
    assert float(pi8["p50_ci_low_ms"]) < float(pi8["p50_ms"]) < float(pi8["p50_ci_high_ms"])
    assert pi8["perf_per_w_basis"] == "measured" and float(pi8["perf_per_w"]) == pytest.approx(1e3 / (4.0 * 4.8), rel=1e-6)
    assert float(pi8["ips_per_usd"]) == pytest.approx(float(pi8["throughput_ips"]) / 80)
    assert pi8["stage"] == "3" and pi8["gates_passed"] == "true" and pi8["throttled"] == "false"
    nuc32 = by[("nuc", "fp32")]
    assert nuc32["perf_per_w_basis"] == "tdp" and float(nuc32["perf_per_w"]) == pytest.approx(float(nuc32["throughput_ips"]) / 28)
    # unknown is empty with its reason, never zero
    assert nuc32["price_usd"] == nuc32["ips_per_usd"] == nuc32["energy_mj"] == ""
    assert "ips_per_usd: no declared price_usd" in nuc32["notes"] and nuc32["stage"] == "2"
    assert "no thermal data" in nuc32["stage_reason"]
    b = by[("bare", "fp32")]
    assert b["perf_per_w"] == "" and "no power measured and no declared tdp_w" in b["notes"]
    assert b["gates_passed"] == "" and b["stage"] == "1" and "no accuracy or fidelity gate" in b["stage_reason"]


def test_markdown_renders_as_tables(store, recipe):
    from markdown_it import MarkdownIt

    _lab(store, recipe)
    md = to_markdown(build(store, recipe=recipe, command="edgeeval report --recipe x", require="p90_ms<=50"))
    tokens = MarkdownIt("commonmark").enable("table").parse(md)
    tables = [i for i, t in enumerate(tokens) if t.type == "table_open"]
    assert len(tables) == 5                              # summary, stages, perf/$, perf/W, provenance
    assert "### Procurement — p90_ms<=50" in md and "| 1 | pi5 | int8-static |" in md
    assert "| 1 | pi5 | int8-static | 2." in md and "| 2 | nuc | int8-static |" in md    # perf/W: separated
    assert "perf/$ unknown (no declared price_usd): bare, nuc." in md
    assert "perf/W unknown (no power measured, no declared tdp_w): bare." in md
    head = []
    for t in tokens[tables[0]:]:
        if t.type == "thead_close":
            break
        if t.type == "inline":
            head.append(t.content)
    assert head == SUMMARY_HEAD
    cells = [t.content for t in tokens if t.type == "inline"]
    assert "pi5" in cells and "3 fits the scenario" in cells and "—" in cells
    assert "Made by `edgeeval report --recipe x`" in md


def test_cli_writes_formats_and_refuses_mistakes(tmp_path, monkeypatch):
    from edgeeval.store.store import Store

    db = tmp_path / "results.db"
    monkeypatch.setenv("EDGEEVAL_STORE", str(db))
    runner = CliRunner()
    res = runner.invoke(app, ["report"])
    assert res.exit_code == 2 and "no run yet" in res.output
    with Store(f"sqlite:///{db}") as st:
        ids = [put(st, "r", "pi5", seed=1), put(st, "r", "nuc", seed=2)]
    out = tmp_path / "r.csv"
    res = runner.invoke(app, ["report", "--recipe", "r", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert len(list(csv.DictReader(out.open()))) == 4
    import os

    mask = os.umask(0o022)
    os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~mask          # readable as open() would make it, not 0600
    res = runner.invoke(app, ["report", str(ids[0])])          # md on stdout
    assert res.exit_code == 0 and f"runs {ids[0]}" in res.output and "| pi5 | fp32 |" in res.output
    res = runner.invoke(app, ["report"])
    assert res.exit_code == 0 and f"the latest run ({ids[1]})" in res.output
    for args, msg in ((["report", "999"], "999"), (["report", "--campaign", "nightly"], "not in the store"),
                      (["report", "--recipe", "r", "--since", "yesterday"], "is not a date"),
                      (["report", "--since", "2026-01-01"], "--since needs --recipe"),
                      (["report", "1", "--recipe", "r"], "give one selector"),
                      (["report", "--recipe", "r", "-f", "pdf"], "use one of html, md, csv"),
                      (["report", "--recipe", "r", "-f", "html"], "give -o FILE.html"),
                      (["report", "--recipe", "r", "-o", str(tmp_path)], "is a folder")):
        res = runner.invoke(app, args)
        assert res.exit_code == 2 and msg in res.output and "Traceback" not in res.output, (args, res.output)


def test_every_column_is_documented():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "report.md").read_text()
    missing = [c.key for c in R.COLUMNS if f"| `{c.key}` |" not in doc]
    assert not missing, f"docs/report.md lacks {missing}"
