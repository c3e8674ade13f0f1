"""The farm's terminal output: live progress per board (rich), the summary table, the status tables."""

from __future__ import annotations

import sys
import threading
import time

from .fmt import _f

STATUS_STYLE = {"ok": "green", "gate_failed": "red", "device_error": "magenta", "error": "red",
                "skipped": "yellow", "aborted": "yellow", "running": "cyan", "queued": "dim"}


class FarmProgress:
    """One live row per board (its job, phase, jobs done) on a terminal; one line per event elsewhere.
    Fed from the boards' threads by FarmRun's notify(board, kind, data)."""

    def __init__(self, boards: list[str], total: int, live: bool | None = None):
        self.boards = {b: {"job": "", "phase": "waiting", "done": 0} for b in boards}
        self.total = total
        self.finished = 0
        self.live = sys.stderr.isatty() if live is None else live
        self._lock = threading.Lock()
        self._live = None
        self._t0 = time.monotonic()

    def __enter__(self):
        if self.live:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(self._table(), console=Console(stderr=True), refresh_per_second=4, transient=True)
            self._live.__enter__()
        return self

    def __exit__(self, *exc):
        if self._live is not None:
            self._live.__exit__(*exc)

    def _table(self):
        from rich.table import Table

        t = Table(title=f"farm: {self.finished}/{self.total} jobs, {time.monotonic() - self._t0:.0f} s",
                  title_justify="left")
        for col in ("board", "job", "phase", "done"):
            t.add_column(col)
        for b, s in self.boards.items():
            t.add_row(b, s["job"], s["phase"], str(s["done"]))
        return t

    def _line(self, text: str) -> None:
        if self._live is not None:
            self._live.console.print(text)
        else:
            print(text, file=sys.stderr, flush=True)

    def notify(self, board: str | None, kind: str, data: dict) -> None:
        with self._lock:
            self._notify(board, kind, data)
            if self._live is not None:
                self._live.update(self._table())

    def _notify(self, board, kind, data) -> None:
        row = self.boards.get(board) if board else None
        if kind == "build":
            if data.get("kind") == "phase":
                self._line(f"· {data.get('recipe')}: {data.get('phase')}")
            return
        if kind == "lease_wait":
            from ..store.leases import describe

            self._line(f"{board}: waiting for the board: {describe(data)}")
        elif kind == "job_start" and row is not None:
            row.update(job=data["job"], phase="start")
            if self._live is None:
                self._line(f"{board}: start {data['job']} (attempt {data['attempt']})")
        elif kind == "phase" and row is not None:
            row["phase"] = str(data.get("phase"))
        elif kind == "agent" and row is not None and data.get("event") == "phase":
            row["phase"] = str(data.get("phase"))
        elif kind == "health" and row is not None:
            if data.get("phase") == "start":
                row.update(job="health check", phase="running")
            else:
                ok = data.get("passed")
                row["phase"] = "healthy" if ok else "quarantined"
                self._line(f"{board}: health check {'passed' if ok else 'FAILED: ' + str(data.get('reason'))}"
                           + (f" (p50 {_f(data.get('p50_ms'), '{:.3f}')} ms)" if ok else ""))
        elif kind == "retry":
            self._line(f"{board}: {data['job']} attempt {data['attempt']} hit a board fault, retrying: {data['reason']}")
        elif kind == "board_out" and row is not None:
            row.update(job="", phase=f"out: {data['reason']}"[:60])
            self._line(f"{board}: out of service: {data['reason']}")
        elif kind == "job_done":
            self.finished += 1
            if row is not None:
                row["done"] += 1
                if row["job"] == data["job"]:   # the board may already measure its next job
                    row.update(job="", phase="idle")
            h = data.get("headline") or {}
            fig = f" p50 {_f(h.get('p50_ms'))} ms" if h.get("p50_ms") is not None else ""
            tail = " (done earlier)" if data.get("earlier") else (f": {data['reason']}" if data.get("reason") else "")
            self._line(f"{board or '-'}: {data['job']} {data['status']}{fig}{tail}")


def summary_table(res):
    """A row per job: board, recipe, variant, status, headline figures, reason."""
    from rich.table import Table

    counts = ", ".join(f"{n} {k}" for k, n in sorted(res.by_status().items()))
    t = Table(title=f"campaign {res.campaign}: {counts} ({res.wall_s:.0f} s)", title_justify="left")
    for col in ("board", "recipe", "variant", "status", "p50 ms", "p90 ms", "thr/s", "top-1", "Δacc pt", "note"):
        t.add_column(col, overflow="fold")
    for o in res.outcomes:
        h = o.headline or {}
        style = STATUS_STYLE.get(o.status, "")
        note = o.reason or ""
        if o.earlier:
            note = ("done earlier; " + note).rstrip("; ")
        if h.get("noisy"):
            note = ("noisy window; " + note).rstrip("; ")
        if h.get("throttled"):
            note = ("throttled; " + note).rstrip("; ")
        t.add_row(o.device or o.spec.selector, o.spec.recipe_path.stem, o.spec.variant,
                  f"[{style}]{o.status}[/{style}]" if style else o.status,
                  _f(h.get("p50_ms")), _f(h.get("p90_ms")), _f(h.get("throughput_ips"), "{:.1f}"),
                  _f(h.get("top1"), "{:.4f}"), _f(h.get("accuracy_drop_pt"), "{:+.2f}"), note)
    return t


def result_json(res) -> dict:
    """The result map as JSON: the campaign, the boards and one entry per job."""
    return {"campaign": res.campaign, "campaign_id": res.campaign_id, "exit_code": res.exit_code,
            "wall_s": res.wall_s, "counts": res.by_status(),
            "boards": {b: {k: v for k, v in s.items() if k != "current"} for b, s in res.boards.items()},
            "jobs": [{"recipe": o.spec.recipe_path.stem, "variant": o.spec.variant, "selector": o.spec.selector,
                      "device": o.device, "status": o.status, "reason": o.reason, "run_id": o.run_id,
                      "attempts": o.attempts, "earlier": o.earlier, "job_key": o.spec.key,
                      "headline": o.headline} for o in res.outcomes]}


def boards_table(rows: list[dict]):
    from rich.table import Table

    t = Table(title="boards", title_justify="left")
    for col in ("board", "state", "lease", "health", "last check", "jobs since"):
        t.add_column(col, overflow="fold")
    for r in rows:
        state = r["state"]
        style = {"free": "green", "leased": "cyan", "quarantined": "red"}.get(state, "")
        t.add_row(r["board"], f"[{style}]{state}[/{style}]" if style else state, r.get("lease") or "",
                  r.get("health") or "", r.get("checked_at") or "never", str(r.get("jobs_since_check", "")))
    return t


def jobs_table(campaign: dict, jobs: list[dict]):
    from rich.table import Table

    counts: dict[str, int] = {}
    for j in jobs:
        counts[j["status"]] = counts.get(j["status"], 0) + 1
    t = Table(title=f"campaign {campaign['name']} ({campaign['status']}, started {campaign['created_at']}): "
                    + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())), title_justify="left")
    for col in ("job", "board", "status", "attempts", "run", "p50 ms", "reason"):
        t.add_column(col, overflow="fold")
    for j in jobs:
        style = STATUS_STYLE.get(j["status"], "")
        h = j.get("headline") or {}
        t.add_row(f"{j['recipe_name']}/{j['variant']}@{j['selector']}", j.get("device_name") or "",
                  f"[{style}]{j['status']}[/{style}]" if style else j["status"], str(j["attempts"]),
                  str(j["run_id"] or ""), _f(h.get("p50_ms")), j.get("reason") or "")
    return t
