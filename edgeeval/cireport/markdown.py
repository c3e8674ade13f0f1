"""Compact Markdown tables for a CI job page: `--markdown FILE`, or $GITHUB_STEP_SUMMARY when set."""

from __future__ import annotations

import os
from pathlib import Path

from .junit import Case


def _cell(s) -> str:
    s = "".join(ch if ord(ch) >= 0x20 else " " for ch in str(s))
    return s.replace("|", "\\|")


def table(header: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def _f(x, fmt="{:.4g}") -> str:
    return "—" if x is None else fmt.format(x)


ICON = {"passed": "✅ pass", "failure": "❌ fail", "error": "⚠️ error", "skipped": "⏭️ skipped"}


def deploy_md(report: dict, cases: list[Case]) -> str:
    by = {c.name: c for c in cases}
    rows = []
    for v in report.get("variants") or []:
        lat, acc = v.get("latency") or {}, v.get("accuracy") or {}
        c = by.get(v["name"])
        rows.append([v["name"], _f(v.get("model_size_mb"), "{:.2f}"), _f(lat.get("p50")), _f(lat.get("p90")),
                     _f(lat.get("throughput_ips"), "{:.0f}"), _f(acc.get("top1")), _f(acc.get("drop_pt"), "{:+.2f}"),
                     ICON[c.outcome] if c else "", c.message if c else ""])
    head = f"### {report['recipe']} on {report['device']} (run {report.get('run_id')})\n\n"
    return head + table(["variant", "MB", "p50 ms", "p90 ms", "inf/s", "top-1", "drop pt", "verdict", "why"], rows) + "\n"


def farm_md(result: dict, cases: list[Case]) -> str:
    rows = []
    for j, c in zip(result["jobs"], cases):
        h = j.get("headline") or {}
        rows.append([j.get("device") or j.get("selector"), j["recipe"], j["variant"], j["status"],
                     _f(h.get("p50_ms")), _f(h.get("p90_ms")), _f(h.get("throughput_ips"), "{:.0f}"),
                     _f(h.get("top1")), ICON[c.outcome], c.message])
    head = f"### farm campaign {result['campaign']} (exit {result['exit_code']})\n\n"
    return head + table(["board", "recipe", "variant", "status", "p50 ms", "p90 ms", "inf/s", "top-1", "verdict", "why"],
                        rows) + "\n"


def compare_md(doc: dict) -> str:
    from ..regress.compare import fmt_change

    a, b = doc["a"], doc["b"]
    rows = []
    for row in doc["variants"]:
        for m in row["metrics"]:
            rows.append([row["variant"], m["metric"], _f(m["a"]), _f(m["b"]), fmt_change(m), m["verdict"],
                         m.get("reason") or ""])
    head = (f"### {b.get('recipe')} on {b.get('device')}: run {b['run_id']} against run {a['run_id']} "
            f"— {doc['verdict']}\n\n")
    return head + table(["variant", "metric", "A", "B", "change [95% CI]", "verdict", "note"], rows) + "\n"


def write(path: Path | None, text: str) -> Path | None:
    """To `path` (replaced), else appended to $GITHUB_STEP_SUMMARY when set (GitHub concatenates steps)."""
    from ..recipes.cache import write_bytes_atomic

    if path is not None:
        write_bytes_atomic(Path(path), text.encode())
        return Path(path)
    env = os.environ.get("GITHUB_STEP_SUMMARY")
    if env:
        with open(env, "a", encoding="utf-8") as fh:
            fh.write(text + "\n")
        return Path(env)
    return None
