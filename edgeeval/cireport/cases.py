"""Test cases for CI from a deploy's run document, a farm campaign's result map and a comparison."""

from __future__ import annotations

from .junit import Case


def _n(x, fmt="{:.4g}") -> str:
    return "unknown" if x is None else fmt.format(x)


def _figures(v: dict) -> str:
    lat, acc = v.get("latency") or {}, v.get("accuracy") or {}
    p90ci = lat.get("p90_ci") or [None, None]
    return (f"p50 {_n(lat.get('p50'))} ms, p90 {_n(lat.get('p90'))} ms [{_n(p90ci[0])}, {_n(p90ci[1])}] 95% CI, "
            f"{_n(lat.get('throughput_ips'), '{:.1f}')} inf/s, top-1 {_n(acc.get('top1'))}, "
            f"drop {_n(acc.get('drop_pt'), '{:+.2f}')} pt")


def _failed_gates(v: dict) -> list[str]:
    return [f"gate {g['name']}: {_n(g.get('value'))} {g.get('op', '')} {g.get('limit')} failed"
            for g in v.get("gates") or [] if not g.get("passed")]


def _disturbed(summary: dict) -> str | None:
    n = summary.get("noise") or {}
    if n.get("noisy"):
        return "noisy timed window: " + ("; ".join(n.get("noisy_reasons") or []) or "other load on the board")
    if (summary.get("thermal") or {}).get("throttled"):
        return "the board throttled during the timed window"
    return None


def variant_case(recipe: str, device: str, v: dict, *, time_s: float = 0.0, run_id=None) -> Case:
    """A variant of a stored run (results_json.variant_json shape)."""
    cls = f"edgeeval.{recipe}.{device}"
    props = {"run_id": run_id, "variant_id": v.get("variant_id"), "model_sha256": v.get("model_sha256")}
    if v.get("status") == "error" or v.get("passed") is None:
        return Case(cls, v["name"], "error", f"{v['name']} on {device}: no result: {v.get('error') or 'not finished'}",
                    time_s=time_s, properties=props)
    figures = _figures(v)
    gates = _failed_gates(v)
    why = _disturbed(v)
    if why:   # a disturbed window says nothing either way: skipped, the gate verdict kept in the message
        verdict = "gates failed" if gates else "gates passed"
        return Case(cls, v["name"], "skipped", f"{why} ({verdict} on disturbed figures; rerun on a quiet board)",
                    "\n".join([figures] + gates), time_s, props)
    if gates:
        return Case(cls, v["name"], "failure", "; ".join(gates), figures, time_s, props)
    return Case(cls, v["name"], "passed", "", figures, time_s, props)


def deploy_cases(report: dict) -> list[Case]:
    out = [variant_case(report["recipe"], report["device"], v, run_id=report.get("run_id"))
           for v in report.get("variants") or []]
    if report.get("error"):   # a board fault: the variants that finished are above, the fault is its own case
        out.append(Case(f"edgeeval.{report['recipe']}.{report['device']}", "run", "error",
                        f"{report.get('status') or 'error'}: {report['error']}", properties={"run_id": report.get("run_id")}))
    return out


def farm_cases(result: dict, regressions: dict | None = None) -> list[Case]:
    """`result` is render_farm.result_json's map; `regressions` maps a run id to its history verdicts."""
    out = []
    for j in result["jobs"]:
        device = j.get("device") or j.get("selector") or "?"
        cls = f"edgeeval.{j['recipe']}.{device}"
        h = j.get("headline") or {}
        figures = (f"p50 {_n(h.get('p50_ms'))} ms, p90 {_n(h.get('p90_ms'))} ms, "
                   f"{_n(h.get('throughput_ips'), '{:.1f}')} inf/s, top-1 {_n(h.get('top1'))}")
        props = {"run_id": j.get("run_id"), "job_key": j.get("job_key"), "attempts": j.get("attempts")}
        st, reason = j["status"], j.get("reason") or ""
        if st in ("device_error", "aborted"):
            case = Case(cls, j["variant"], "error", f"board fault: {reason}", figures, properties=props)
        elif st == "error":
            case = Case(cls, j["variant"], "error", f"error: {reason}", properties=props)
        elif st == "skipped":
            case = Case(cls, j["variant"], "skipped", reason or "skipped", properties=props)
        elif st == "gate_failed":
            case = Case(cls, j["variant"], "failure", reason or "a gate failed", figures, properties=props)
        elif h.get("noisy") or h.get("throttled"):
            case = Case(cls, j["variant"], "skipped",
                        "noisy timed window" if h.get("noisy") else "the board throttled", figures, properties=props)
        else:
            case = Case(cls, j["variant"], "passed", "", figures, properties=props)
        reg = (regressions or {}).get(j.get("run_id"))
        if reg and case.outcome == "passed" and reg.get("regressed"):
            case.outcome, case.message = "failure", "regressed: " + "; ".join(reg["regressed"])
            case.details = figures + "\n" + "\n".join(reg.get("details") or [])
        elif reg and reg.get("details"):
            case.details = (case.details + "\n" + "\n".join(reg["details"])).strip()
        out.append(case)
    return out


def compare_cases(doc: dict) -> list[Case]:
    from ..regress.compare import fmt_change

    a, b = doc["a"], doc["b"]
    device = b.get("device") or "?"
    cls = f"edgeeval.{b.get('recipe')}.{device}"
    out = []
    for row in doc["variants"]:
        lines = [f"{m['metric']}: {fmt_change(m)} ({m['verdict']}" + (f"; {m['reason']}" if m.get("reason") else "") + ")"
                 for m in row["metrics"]]
        if row["software_changes"]:
            from ..regress.identity import describe
            lines.append("software changed: " + describe(row["software_changes"]))
        details = f"run {b['run_id']} against run {a['run_id']}\n" + "\n".join(lines)
        bad = [f"{m['metric']} {fmt_change(m)}" for m in row["metrics"] if m["verdict"] == "regressed"]
        props = {"a_run_id": a["run_id"], "b_run_id": b["run_id"]}
        if bad:
            case = Case(cls, row["variant"], "failure", "regressed: " + "; ".join(bad), details, properties=props)
        elif row["verdict"] == "noisy":
            case = Case(cls, row["variant"], "skipped", "not judged: " + "; ".join(row["flags"]), details, properties=props)
        elif row["verdict"] == "not compared":
            case = Case(cls, row["variant"], "skipped", "nothing could be compared", details, properties=props)
        else:
            case = Case(cls, row["variant"], "passed", "", details, properties=props)
        out.append(case)
    return out
