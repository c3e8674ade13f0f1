"""The store at farm scale: bytes per latency sample, bytes per variant result, and the query times
of a store holding a year of nightlies (16 boards × 10 variants × 365 nights = 58,400 results).

1. A real deploy of digits-cnn on `local` (four variants, the standard profile: ≥ 200 runs and ≥ 5 s)
   into a fresh SQLite store: bytes per latency sample as stored (i8dz) beside the npy it replaced
   (8 bytes), and the bytes a variant result takes (its rows, JSON and its own blobs; the shared
   server outputs counted once).
2. A year: the real variant rows copied 58,400 times under 16 boards and 365 nights (each copy a run
   row, a variant row, its blobs pointing at the same shared outputs; latency blobs cut to 3,000
   samples, a 5 s run of a ~2 ms model on a board), then timed on that file: `results list` (the
   newest 20 runs), `farm status` (a campaign of 160 jobs, every board's health and lease) and a history query (one recipe × variant × board over
   the year, p50/p90 by night). Target for each: ≤ 1 s.

    PYTHONPATH=. python benchmarks/store_size.py [--nights 365] [--boards 16]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import emit, median  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nights", type=int, default=365)
    ap.add_argument("--boards", type=int, default=16)
    ap.add_argument("--variants", type=int, default=10)
    ap.add_argument("--samples", type=int, default=3000,
                    help="latency samples per variant in the year store (a 5 s run of a ~2 ms model on a board)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="edgeeval-store-bench-"))
    os.environ["EDGEEVAL_HOME"] = str(work / "home")
    from sqlalchemy import func, select

    from edgeeval.pipeline import deploy
    from edgeeval.store import farm as fs
    from edgeeval.store.schema import raw_blobs, runs, shared_blobs, variant_results
    from edgeeval.store.store import Store

    real = work / "real.db"
    url = f"sqlite:///{real}"
    out = deploy(ROOT / "recipes" / "digits-cnn.yaml", "local", store_url=url)
    with Store(url) as st, st.engine.connect() as conn:
        lat = conn.execute(select(func.sum(raw_blobs.c.size_bytes)).where(raw_blobs.c.kind == "latencies_ns")).scalar()
        samples = sum(len(st.get_raw(v.variant_id, "latencies_ns")) for v in out.variants)
        own = conn.execute(select(func.sum(raw_blobs.c.size_bytes)).where(raw_blobs.c.encoding != "shared")).scalar()
        shared = conn.execute(select(func.sum(shared_blobs.c.size_bytes))).scalar() or 0
        rows = conn.execute(select(variant_results)).mappings().all()
        json_bytes = sum(len(str(r["summary"])) + len(str(r["inputs"])) for r in rows)
    bps = lat / samples
    per_variant = (own + json_bytes) / len(out.variants)
    print(f"real run: {samples} latency samples in {lat} bytes = {bps:.3f} B/sample (npy: 8); "
          f"{per_variant / 1024:.1f} KiB per variant result (+ {shared / 1024:.1f} KiB shared once)")

    # ---- a year
    year = work / "year.db"
    yurl = f"sqlite:///{year}"
    t0 = time.monotonic()
    total = _make_year(url, yurl, args.boards, args.variants, args.nights, args.samples)
    made_s = time.monotonic() - t0
    size = year.stat().st_size
    with Store(yurl) as st:
        timings = {}

        def timed(name, fn, reps=5):
            ts = []
            for _ in range(reps):
                t = time.perf_counter()
                fn()
                ts.append(time.perf_counter() - t)
            timings[name] = median(ts)

        timed("results_list", lambda: st.list_runs(limit=20))
        camp = fs.list_campaigns(st.engine, 1)[0]
        timed("farm_status", lambda: (fs.campaign_jobs(st.engine, camp["id"]), fs.all_health(st.engine)))

        def history():
            with st.engine.connect() as conn:
                q = (select(runs.c.created_at, variant_results.c.p50_ms, variant_results.c.p90_ms)
                     .join(runs, runs.c.id == variant_results.c.run_id)
                     .where(runs.c.recipe_name == "digits-cnn", runs.c.device_name == "board-07",
                            variant_results.c.name == "v3").order_by(runs.c.created_at))
                got = conn.execute(q).all()
            assert len(got) == args.nights, len(got)

        timed("history", history)
    worst = max(timings.values())
    print(f"year store: {total} variant results, {size / 2**30:.2f} GiB on disk (made in {made_s:.0f} s); "
          + ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in timings.items()))
    emit("store_bytes_per_latency_sample", round(bps, 3), "<= 2", npy_bytes_per_sample=8,
         bytes_per_variant_result=round(per_variant), shared_bytes_once=shared, samples=samples,
         year_variant_results=total, year_store_gib=round(size / 2**30, 3),
         query_s={k: round(v, 4) for k, v in timings.items()}, query_target_s=1.0, worst_query_s=round(worst, 4))


def _make_year(src_url: str, dst_url: str, boards: int, variants: int, nights: int, samples: int) -> int:
    """Copy the real run's rows into a year of nightlies: one run per (night, board), `variants`
    variant rows each (the real ones cycled), their own blobs copied (the latency series cut to its
    first `samples`, re-encoded), the shared ones referenced."""
    import hashlib
    from datetime import datetime, timedelta, timezone

    from sqlalchemy import insert, select

    from edgeeval.store import farm as fs
    from edgeeval.store.codec import decode_latencies, encode_latencies
    from edgeeval.store.schema import raw_blobs, runs, shared_blobs, variant_results
    from edgeeval.store.store import Store

    with Store(src_url) as src, src.engine.connect() as conn:
        run = dict(conn.execute(select(runs)).mappings().first())
        vrows = [dict(r) for r in conn.execute(select(variant_results)).mappings()]
        blobs = [dict(r) for r in conn.execute(select(raw_blobs)).mappings()]
        shared = [dict(r) for r in conn.execute(select(shared_blobs)).mappings()]
    for bl in blobs:
        if bl["kind"] == "latencies_ns":
            data = encode_latencies(decode_latencies(bytes(bl["bytes"]))[:samples])
            bl.update(bytes=data, size_bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    start = datetime(2026, 1, 1, 2, 0, tzinfo=timezone.utc)
    total = 0
    with Store(dst_url) as dst:
        with dst.engine.begin() as conn:
            conn.execute(insert(shared_blobs), shared)
        rid = vid = 0
        for night in range(nights):
            when = start + timedelta(days=night)
            camp = f"nightly-{when:%Y-%m-%d}"
            cid, _ = fs.open_campaign(dst.engine, camp, plan_name="nightly", plan_path="/srv/lab/nightly.yaml",
                                      plan_sha256="0" * 64)
            run_rows, var_rows, blob_rows, job_rows = [], [], [], []
            for b in range(boards):
                rid += 1
                stamp = (when + timedelta(minutes=b)).isoformat(timespec="milliseconds")
                run_rows.append({**run, "id": rid, "uuid": f"{rid:032x}", "created_at": stamp, "finished_at": stamp,
                                 "device_name": f"board-{b:02d}", "status": "ok", "command": "farm"})
                for v in range(variants):
                    vid += 1
                    src_v = vrows[v % len(vrows)]
                    var_rows.append({**src_v, "id": vid, "run_id": rid, "name": f"v{v}"})
                    for bl in blobs:
                        if bl["variant_result_id"] == src_v["id"]:
                            blob_rows.append({**bl, "id": None, "variant_result_id": vid})
                    job_rows.append({"campaign_id": cid, "job_key": f"{rid:032x}{v:032x}", "recipe_name": "digits-cnn",
                                     "recipe_path": "recipes/digits-cnn.yaml", "variant": f"v{v}",
                                     "selector": f"board-{b:02d}", "device_name": f"board-{b:02d}", "status": "ok",
                                     "attempts": 1, "run_id": rid, "created_at": stamp})
                    total += 1
            for r in blob_rows:
                r.pop("id")
            with dst.engine.begin() as conn:
                conn.execute(insert(runs), run_rows)
                conn.execute(insert(variant_results), var_rows)
                conn.execute(insert(raw_blobs), blob_rows)
                from edgeeval.store.schema import farm_jobs
                conn.execute(insert(farm_jobs), job_rows)
            fs.finish_campaign(dst.engine, cid, "done")
        for b in range(boards):
            fs.record_check(dst.engine, f"board-{b:02d}", True, {"p50_ms": 0.1}, band_p50_ms=0.1)
    return total


if __name__ == "__main__":
    main()
