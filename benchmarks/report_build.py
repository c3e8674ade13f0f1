"""`edgeeval report` at farm scale: a store of 16 boards × 10 variants × 30 nights (4,800 variant
results, 3,000 raw latencies each) → one HTML page. Targets: built in ≤ 3 s, ≤ 5 MB, and loaded
with every plot rendered in Chromium in ≤ 2 s.

1. A real deploy of digits-cnn on `local` into a fresh store; its rows copied into 30 nights of 16
   boards × 10 variants (benchmarks/store_size.py `_make_year`), as a farm would store them.
2. Build: `edgeeval report --recipe digits-cnn -o report.html` in a fresh process each time (imports,
   store reads, 160 latency CDFs from raw data, 160 history series through apache-otava, the page),
   `--reps` times after one cold run (the first also bundles the Vega JavaScript into the cache).
3. Load: the page opened in Debian's chromium (playwright) `--reps` times, from navigation to the
   page's own "every plot rendered" mark.

Figures: medians with a distribution-free 95% interval of the median (order statistics of the
repetitions). Last line: JSON.

    PYTHONPATH=. python benchmarks/report_build.py [--reps 9] [--nights 30]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).parent))
from _common import emit  # noqa: E402
from store_size import _make_year  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TARGET_BUILD_S, TARGET_MB, TARGET_LOAD_S = 3.0, 5.0, 2.0


def median_ci(xs: list[float], confidence: float = 0.95) -> list[float]:
    """The order-statistic interval of the median: ranks from Binomial(n, 1/2), coverage >= confidence."""
    s = sorted(xs)
    n = len(s)
    lo = int(stats.binom.ppf((1 - confidence) / 2, n, 0.5))
    lo = max(0, lo - 1 if stats.binom.cdf(lo, n, 0.5) > (1 - confidence) / 2 else lo)
    return [s[lo], s[n - 1 - lo]]


def load_times(page_path: Path, reps: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-quic"]
    out = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        try:
            for _ in range(reps):
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                errors = []
                page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
                t0 = time.perf_counter()
                page.goto(page_path.as_uri())
                page.wait_for_function("document.body.hasAttribute('data-plots-rendered') || "
                                       "document.body.hasAttribute('data-plots-error')", timeout=60_000)
                out.append(time.perf_counter() - t0)
                if errors or page.evaluate("document.body.getAttribute('data-plots-error')"):
                    raise SystemExit(f"the page failed in chromium: {errors}")
                page.close()
        finally:
            browser.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=9)
    ap.add_argument("--nights", type=int, default=30)
    ap.add_argument("--boards", type=int, default=16)
    ap.add_argument("--variants", type=int, default=10)
    ap.add_argument("--samples", type=int, default=3000)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="edgeeval-report-bench-"))
    env = {**os.environ, "EDGEEVAL_HOME": str(work / "home"), "HF_HUB_OFFLINE": "1"}
    os.environ.update(env)
    from edgeeval.pipeline import deploy

    real, store = work / "real.db", work / "farm.db"
    deploy(ROOT / "recipes" / "digits-cnn.yaml", "local", store_url=f"sqlite:///{real}")
    t0 = time.monotonic()
    total = _make_year(f"sqlite:///{real}", f"sqlite:///{store}", args.boards, args.variants, args.nights, args.samples)
    print(f"store: {total} variant results in {time.monotonic() - t0:.0f} s", file=sys.stderr)
    page = work / "report.html"
    cmd = [sys.executable, "-m", "edgeeval", "report", "--store", str(store), "--recipe", "digits-cnn", "-o", str(page)]

    def build() -> float:
        t = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - t

    cold = build()
    builds = [build() for _ in range(args.reps)]
    size_mb = page.stat().st_size / 1e6
    loads = load_times(page, args.reps)
    b, lo = float(np.median(builds)), float(np.median(loads))
    bci, lci = median_ci(builds), median_ci(loads)
    print(f"build {b:.2f} s [{bci[0]:.2f}, {bci[1]:.2f}] (cold, bundling the JavaScript: {cold:.2f} s); "
          f"{size_mb:.2f} MB; load in chromium {lo:.2f} s [{lci[0]:.2f}, {lci[1]:.2f}]", file=sys.stderr)
    emit("report_build_seconds", round(b, 3), f"<={TARGET_BUILD_S}", ci95=[round(x, 3) for x in bci],
         passed=bool(bci[1] <= TARGET_BUILD_S and size_mb <= TARGET_MB and lci[1] <= TARGET_LOAD_S),
         cold_build_seconds=round(cold, 3), html_mb=round(size_mb, 3), html_target_mb=f"<={TARGET_MB}",
         load_seconds=round(lo, 3), load_ci95=[round(x, 3) for x in lci], load_target=f"<={TARGET_LOAD_S}",
         variant_results=total, boards=args.boards, variants=args.variants, nights=args.nights, reps=args.reps,
         builds=[round(x, 3) for x in builds], loads=[round(x, 3) for x in loads])


if __name__ == "__main__":
    main()
