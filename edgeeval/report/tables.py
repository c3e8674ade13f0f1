"""The report as CSV (every column of `rows.COLUMNS`, one row per variant result) and as Markdown
(the summary per recipe, the adaptation stages, the provenance), for spreadsheets and CI pages."""

from __future__ import annotations

import csv
import io
import math

from ..cireport.markdown import table
from .rows import KEYS, latest_per_board


def _csv_cell(x) -> str:
    if x is None:
        return ""
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, float):
        return "" if not math.isfinite(x) else repr(x)
    return str(x)


def to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(KEYS)
    for r in rows:
        w.writerow([_csv_cell(r.get(k)) for k in KEYS])
    return buf.getvalue()


def f(x, fmt: str = "{:.4g}") -> str:
    """A figure for a table: '—' for unknown, never 0."""
    return "—" if x is None else fmt.format(x)


def ci_digits(x, lo, hi, least: int = 4, most: int = 7) -> int:
    """Significant digits that tell the interval's ends apart from the value (a narrow interval of a
    small figure, 0.01373 [0.013728, 0.013734], needs more than four)."""
    for n in range(least, most + 1):
        a, b, c = (f"{v:.{n}g}" for v in (lo, x, hi))
        if (lo == x or a != b) and (hi == x or c != b):
            return n
    return most


def with_ci(x, lo, hi) -> str:
    if x is None:
        return "—"
    if lo is None or hi is None:
        return f"{x:.4g}"
    n = ci_digits(x, lo, hi)
    return f"{x:.{n}g} [{lo:.{n}g}, {hi:.{n}g}]"


def flags(r: dict) -> str:
    out = []
    if r.get("noisy"):
        out.append("noisy")
    if r.get("throttled"):
        out.append("throttled")
    if r.get("status") == "error":
        out.append("error")
    return ", ".join(out)


def gate_text(r: dict) -> str:
    g = r.get("gates_passed")
    return "—" if g is None else ("pass" if g else "FAIL: " + (r.get("failed_gates") or ""))


SUMMARY_HEAD = ["board", "variant", "precision", "MB", "p50 ms [95%]", "p90 ms [95%]", "inf/s", "mJ/inf",
                "inf/J", "top-1 %", "drop pt", "cosine", "gates", "stage", "flags"]


def summary_cells(r: dict) -> list:
    return [r["device"], r["variant"], r.get("precision") or "—", f(r.get("model_size_mb"), "{:.2f}"),
            with_ci(r.get("p50_ms"), r.get("p50_ci_low_ms"), r.get("p50_ci_high_ms")),
            with_ci(r.get("p90_ms"), r.get("p90_ci_low_ms"), r.get("p90_ci_high_ms")),
            f(r.get("throughput_ips"), "{:.1f}"), f(r.get("energy_mj"), "{:.3g}"), f(r.get("inferences_per_j"), "{:.3g}"),
            f(r.get("top1_pct"), "{:.2f}"), f(r.get("accuracy_drop_pt"), "{:+.2f}"), f(r.get("cosine"), "{:.4f}"),
            gate_text(r), f"{r.get('stage')} {r.get('stage_name')}" if r.get("stage") is not None else "—", flags(r)]


GENERATION_HEAD = ["board", "variant", "TTFT ms", "TTFT cold ms", "pp t/s", "tg t/s [95%]", "ppl",
                   "Δppl % [95%]", "agree", "J/tok"]


def generation_cells(r: dict) -> list:
    """A language model's row (rows.py's generative columns): TTFT, llama-bench pp/tg, quality, energy."""
    pp = (f"{f(r.get('prefill_tokens_per_s'), '{:.0f}')} @{r['prefill_tokens']}"
          if r.get("prefill_tokens") is not None else "—")
    return [r["device"], r["variant"], f(r.get("ttft_ms"), "{:.4g}"), f(r.get("ttft_cold_ms"), "{:.4g}"), pp,
            with_ci(r.get("decode_tokens_per_s"), r.get("decode_tokens_per_s_ci_low"), r.get("decode_tokens_per_s_ci_high")),
            f(r.get("perplexity"), "{:.3f}"),
            with_ci(r.get("perplexity_increase_pct"), r.get("perplexity_increase_ci_low_pct"),
                    r.get("perplexity_increase_ci_high_pct")),
            f(r.get("token_agreement"), "{:.3f}"), f(r.get("energy_per_token_j"), "{:.3g}")]


def is_generation(rs: list[dict]) -> bool:
    return any(r.get("scenario") == "generate" for r in rs)


def rank_text(e: dict, key: str) -> str:
    return f"{e[key + '_rank']}{'=' if e.get(key + '_tied') else ''}"


def procurement_md(p: dict) -> list[str]:
    out = [f"### Procurement — {p['require'] or 'no requirement stated (--require): every board'}", ""]
    if p["by_usd"]:
        out += ["By perf/$ (inferences per second per USD):", "",
                table(["rank", "board", "variant", "perf/$ [95%]", "price $", "flags"],
                      [[rank_text(e, "perf_usd"), e["device"], e["variant"],
                        with_ci(e["perf_usd"], *(e["perf_usd_ci"] or [None, None])), f(e["price_usd"], "{:g}"),
                        flags(e["row"])]
                       for e in p["by_usd"]]), ""]
    if p["by_w"]:
        out += ["By perf/W (inferences per joule):", "",
                table(["rank", "board", "variant", "perf/W [95%]", "basis", "flags"],
                      [[rank_text(e, "perf_w"), e["device"], e["variant"],
                        with_ci(e["perf_w"], *(e["perf_w_ci"] or [None, None])),
                        "measured" if e["perf_w_basis"] == "measured" else "throughput ÷ TDP (lower bound)",
                        flags(e["row"])]
                       for e in p["by_w"]]), ""]
    if any(flags(e["row"]) for e in p["meets"]):
        out += ["A flagged figure was measured in a noisy window or while throttling: rerun it on a quiet board "
                "before buying on it.", ""]
    if any(e.get("perf_usd_tied") or e.get("perf_w_tied") for e in p["meets"]):
        out += ["`n=`: tied — the boards' 95% intervals overlap, so no order between them is claimed.", ""]
    no_price = [e["device"] for e in p["meets"] if e["perf_usd"] is None]
    no_power = [e["device"] for e in p["meets"] if e["perf_w"] is None]
    if no_price:
        out += [f"Meets the requirement, perf/$ unknown (no declared price_usd): {', '.join(no_price)}.", ""]
    if no_power:
        out += [f"Meets the requirement, perf/W unknown (no power measured, no declared tdp_w): {', '.join(no_power)}.", ""]
    if p["unknown"]:
        out += ["Not known whether it meets the requirement: " + "; ".join(f"{e['device']} ({e['why']})" for e in p["unknown"]) + ".", ""]
    if p["fails"]:
        out += ["Does not meet it: " + "; ".join(f"{e['device']} ({e['why']})" for e in p["fails"]) + ".", ""]
    if not p["meets"]:
        out += ["No board meets the requirement.", ""]
    return out


def to_markdown(doc: dict) -> str:
    """`doc` is report.build's document."""
    out = [f"# edgeeval report — {doc['selector']}", "",
           f"{len(doc['rows'])} variant results from {len(doc['runs'])} run(s); generated {doc['generated_at']}.", ""]
    latest = latest_per_board(doc["rows"])
    for recipe in sorted({r["recipe"] for r in latest}):
        rs = [r for r in latest if r["recipe"] == recipe]
        out += [f"## {recipe}", "", table(SUMMARY_HEAD, [summary_cells(r) for r in rs]), ""]
        if is_generation(rs):
            out += ["### Generation", "", "p50/p90 above are the decode step (token to token) and inf/s decode "
                    "tokens/s; pp: prefill tokens/s at the longest prompt timed; Δppl: perplexity change against "
                    "the server fp32; agree: fp32 picks the same next token along this variant's generations.", "",
                    table(GENERATION_HEAD, [generation_cells(r) for r in rs if r.get("scenario") == "generate"]), ""]
        out += ["### Adaptation stage", "",
                table(["board", "variant", "stage", "why not the next"],
                      [[r["device"], r["variant"], f"{r['stage']} {r['stage_name']}" if r.get("stage") is not None else "—",
                        r.get("stage_reason") or "—"] for r in rs]), ""]
        for p in doc.get("procurement") or []:
            if p["recipe"] == recipe:
                out += procurement_md(p)
    out += ["## Provenance", "", table(["run", "recipe", "board", "edgeeval", "git", "agent sha256", "created"],
                                       [[p["run_id"], p["recipe"], p["device"], p["edgeeval_version"] or "—",
                                         p["git_sha"] or "—", (p["agent_sha256"] or "—")[:12], p["created_at"]]
                                        for p in doc["provenance"]]), "",
            f"Made by `{doc['command']}`; the CSV columns are in docs/report.md.", ""]
    return "\n".join(out)
