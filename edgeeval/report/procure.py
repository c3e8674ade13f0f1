"""Procurement: the boards that meet a stated requirement, ranked by perf/$ and by perf/W.

A requirement is a comma-separated list of `column OP number` on the report's columns
(docs/report.md), e.g. `p90_ms<=20,accuracy_drop_pt<=1,power_w<=10`; OP is <=, <, >=, >, or ==.
Per model, a board meets it when one of its variants does (the newest result per variant); that
variant is the board's entry (the best perf/$ among those that meet it, then perf/W, then throughput). A figure the
requirement names but the row lacks never meets it: the board is listed as "unknown" with the
reason, not ranked and not failed.

Ranks are claimed only where intervals separate: boards are taken best first, and a board starts
a new rank only when its interval lies wholly below every interval of the rank above; otherwise it
shares that rank ("tied within the intervals"). perf/$ carries the throughput's 95% interval ÷
price (a price is exact); perf/W the measured inferences-per-joule interval, or the throughput
interval ÷ the declared TDP (labelled `tdp`). An entry without an interval never separates.
"""

from __future__ import annotations

import operator
import re

from ..errors import UserInputError
from .rows import KEYS, latest_per_board

OPS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt, "==": operator.eq}
NUMERIC = {k for k in KEYS if k.endswith(("_ms", "_ips", "_mj", "_j", "_w", "_pct", "_pt", "_mb", "_usd", "_gops"))
           or k in ("cosine", "stage", "perf_per_w", "perf_per_w_ci_low", "perf_per_w_ci_high", "ips_per_usd",
                    "gops_per_inference", "inferences_per_j")}
_TERM = re.compile(r"^\s*([a-z0-9_]+)\s*(<=|>=|==|<|>)\s*([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*$")


def parse_require(text: str) -> list[tuple[str, str, float]]:
    from ..suggest import did_you_mean

    out, problems = [], []
    for term in (t for t in text.split(",") if t.strip()):
        m = _TERM.match(term)
        if not m:
            problems.append(f"--require {term.strip()!r}: write COLUMN OP NUMBER, e.g. p90_ms<=20 (OP: <=, <, >=, >, ==)")
            continue
        col, op, num = m.group(1), m.group(2), float(m.group(3))
        if col not in NUMERIC:
            problems.append(f"--require {col!r} is not a numeric report column{did_you_mean(col, sorted(NUMERIC))} "
                            "the columns are in docs/report.md")
            continue
        out.append((col, op, num))
    if problems:
        raise UserInputError(problems)
    if not out:
        raise UserInputError("--require is empty: give e.g. \"p90_ms<=20,accuracy_drop_pt<=1\"")
    return out


def _meets(row: dict, req) -> tuple[bool | None, str]:
    for col, op, num in req:
        v = row.get(col)
        if v is None:
            return None, f"{col} unknown"
        if not OPS[op](v, num):
            return False, f"{col} {v:.4g} not {op} {num:g}"
    return True, ""


def _perf_usd(r: dict):
    p = r.get("price_usd")
    if not p or r.get("throughput_ips") is None:
        return None, None
    lo, hi = r.get("throughput_ci_low_ips"), r.get("throughput_ci_high_ips")
    return r["throughput_ips"] / p, ([lo / p, hi / p] if lo is not None and hi is not None else None)


def _perf_w(r: dict):
    lo, hi = r.get("perf_per_w_ci_low"), r.get("perf_per_w_ci_high")
    return r.get("perf_per_w"), ([lo, hi] if lo is not None and hi is not None else None)


def _merit(e: dict) -> tuple:
    """The variant a board is represented by: best perf/$, then perf/W, then throughput."""
    return tuple(-1.0 if x is None else x for x in (e["perf_usd"], e["perf_w"], e["row"].get("throughput_ips")))


def ranked(entries: list[dict], key: str) -> list[dict]:
    """Entries with a value sorted best (largest) first, each given `rank` and `tied` by the rule above."""
    have = sorted((e for e in entries if e[key] is not None), key=lambda e: -e[key])
    rank, group = 0, []
    for e in have:
        ci = e[f"{key}_ci"]
        separate = bool(group) and ci is not None and all(g[f"{key}_ci"] is not None and ci[1] < g[f"{key}_ci"][0]
                                                          for g in group)
        if not group or separate:
            rank += 1
            group = []
        group.append(e)
        e[f"{key}_rank"] = rank
    for e in have:
        e[f"{key}_tied"] = sum(x[f"{key}_rank"] == e[f"{key}_rank"] for x in have) > 1
    return have


def procurement(rows: list[dict], require: list[tuple[str, str, float]] | None) -> list[dict]:
    """Per recipe: {"recipe", "require", "meets": [entry], "unknown": [...], "fails": [...], "by_usd", "by_w"}."""
    req = require or []
    latest = latest_per_board(rows)
    out = []
    for recipe in sorted({r["recipe"] for r in latest}):
        per_board: dict[str, dict] = {}
        for r in (x for x in latest if x["recipe"] == recipe):
            ok, why = _meets(r, req)
            usd, usd_ci = _perf_usd(r)
            w, w_ci = _perf_w(r)
            e = {"device": r["device"], "variant": r["variant"], "ok": ok, "why": why, "row": r,
                 "perf_usd": usd, "perf_usd_ci": usd_ci, "perf_w": w, "perf_w_ci": w_ci,
                 "perf_w_basis": r.get("perf_per_w_basis"), "price_usd": r.get("price_usd"), "tdp_w": r.get("tdp_w")}
            cur = per_board.get(r["device"])
            better = cur is None or (ok is True and cur["ok"] is not True) or (ok is cur["ok"] and _merit(e) > _merit(cur))
            if better:
                per_board[r["device"]] = e
        ents = list(per_board.values())
        meets = [e for e in ents if e["ok"] is True]
        out.append({"recipe": recipe, "require": ", ".join(f"{c}{o}{n:g}" for c, o, n in req) or None,
                    "meets": meets, "unknown": [e for e in ents if e["ok"] is None],
                    "fails": [e for e in ents if e["ok"] is False],
                    "by_usd": ranked(meets, "perf_usd"), "by_w": ranked(meets, "perf_w")})
    return out
