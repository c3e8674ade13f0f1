"""The HTML report opened in a real headless Chromium (Debian's, driven by playwright): it renders
every plot as a non-empty SVG, logs no console error, requests nothing over the network, and has
the ranking table; a screenshot is kept in the test's tmp dir."""

import shutil

from typer.testing import CliRunner

from edgeeval.cli.main import app

from .conftest import put

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]


def open_in_chromium(path, screenshot):
    from playwright.sync_api import sync_playwright

    assert shutil.which("chromium"), "Debian's chromium is not installed (.ci/run installs it)"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            problems, requests = [], []
            page.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(path.as_uri())
            page.wait_for_function("document.body.hasAttribute('data-plots-rendered') || "
                                   "document.body.hasAttribute('data-plots-error')", timeout=30_000)
            got = page.evaluate("""() => ({
                rendered: document.body.getAttribute('data-plots-rendered'),
                error: document.body.getAttribute('data-plots-error'),
                plots: Array.from(document.querySelectorAll('.plot')).map(d => {
                    const s = d.querySelector('svg');
                    return s ? s.querySelectorAll('path, rect, line, symbol').length : 0; }),
                rankings: document.querySelectorAll('table.ranking tbody tr').length,
                summary: document.querySelectorAll('table.summary tbody tr').length })""")
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return got, problems, requests


def test_the_page_renders_offline_in_chromium(store, recipe, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEEVAL_HOME", str(tmp_path / "home"))
    peaks = {"fp32": 40, "int8": 160}
    for night in range(6):      # a step on pi5 at night 4: the history marks it
        put(store, recipe, "pi5", p50=8.0 * (1.08 if night >= 4 else 1.0), power=4.0, throttled=False, seed=night,
            declared={"price_usd": 80, "tdp_w": 12, "peak_gops": peaks})
        put(store, recipe, "nuc", p50=2.0, seed=50 + night, declared={"price_usd": 400, "tdp_w": 28})
    out = tmp_path / "report.html"
    res = CliRunner().invoke(app, ["report", "--store", store.url,
                                   "--recipe", recipe, "--require", "p90_ms<=50,accuracy_drop_pt<=1", "-o", str(out)])
    assert res.exit_code == 0, res.output
    html = out.read_text()
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert html.count('"kind": "regression"') == 2        # pi5's step at night 4, in both of its variants
    assert "<script src" not in html and "<link" not in html          # every script and style inline
    assert out.stat().st_size < 5_000_000
    got, problems, requests = open_in_chromium(out, tmp_path / "report.png")
    assert got["error"] is None and problems == [], problems
    assert [u for u in requests if u != out.as_uri()] == []          # nothing but the file itself
    n = int(got["rendered"])
    assert n == len(got["plots"]) >= 6 and all(k > 5 for k in got["plots"]), got["plots"]
    assert got["rankings"] == 2 and got["summary"] == 4
    assert (tmp_path / "report.png").stat().st_size > 50_000
    assert "Made by <code>edgeeval report --recipe " in html and "--store" not in html   # no URL, no password


def test_without_the_report_extra_html_says_how_to_get_it(tmp_path, monkeypatch):
    import sys

    from edgeeval.store.store import Store

    db = tmp_path / "r.db"
    with Store(f"sqlite:///{db}") as st:
        put(st, "r", "pi5")
    monkeypatch.setitem(sys.modules, "vl_convert", None)
    res = CliRunner().invoke(app, ["report", "--store", str(db), "-o", str(tmp_path / "x.html")])
    assert res.exit_code == 2 and "pip install -e '.[report]'" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "x.html").exists()
