"""`edgeeval results list | show ID | compare A B | history`."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from ._common import (
    JunitOpt,
    MarkdownOpt,
    StoreOpt,
    check_outputs,
    cli_errors,
    closed_stdout_ok,
    emit_ci,
    out_console,
    store_url_of,
)

app = typer.Typer(no_args_is_help=True)


def _store(store: str | None):
    from ..store.store import Store

    return Store(store_url_of(store))


@app.command("list", help="List stored runs, newest first.")
def list_cmd(limit: Annotated[int, typer.Option(metavar="N", min=1, help="At most this many runs.")] = 20,
             recipe: Annotated[Optional[str], typer.Option(metavar="NAME", help="Only this recipe.")] = None,
             device: Annotated[Optional[str], typer.Option(metavar="NAME", help="Only this device.")] = None, store: StoreOpt = None,
             as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False) -> None:
    with cli_errors():
        runs = _store(store).list_runs(limit=limit, recipe=recipe, device=device)
        if as_json:
            print(json.dumps(runs, indent=2, default=str))
            return
        from rich.table import Table

        t = Table()
        for col in ("id", "created (UTC)", "recipe", "device", "status", "variants", "git"):
            t.add_column(col)
        for r in runs:
            t.add_row(str(r["id"]), str(r.get("created_at", ""))[:19], r.get("recipe_name") or "",
                      r.get("device_name") or "", r.get("status") or "", str(r.get("n_variants", r.get("variants", ""))),
                      (r.get("git_sha") or "—")[:10])
        out_console().print(t)


@app.command("show", help="Show one stored run: the comparison table (--detail: every figure; --json: the document).")
def show_cmd(run_id: Annotated[int, typer.Argument(metavar="RUN_ID", help="Run id from `edgeeval results list`.")],
             store: StoreOpt = None, as_json: Annotated[bool, typer.Option("--json", help="The run as JSON (docs/json-schema.md).")] = False,
             detail: Annotated[bool, typer.Option("--detail", help="Every figure per variant.")] = False) -> None:
    with cli_errors():
        from ..results_json import run_json

        doc = run_json(_store(store).get_run(run_id))
        if as_json:
            print(json.dumps(doc, indent=2, default=str))
            return
        from .render import print_deploy

        con = out_console()
        print_deploy(con, doc, detail=detail)
        prov = doc["provenance"]
        con.print(f"[dim]status {doc['status']} · created {doc['created_at']} · finished "
                  f"{doc['finished_at']} · edgeeval {prov['edgeeval_version']} git {prov['git_sha']} · "
                  f"agent {str(prov['agent_sha256'])[:12]} · recipe {str(prov['recipe_hash'])[:12]}[/dim]")
        if doc["status"] == "aborted":
            con.print(f"[yellow]aborted:[/yellow] {doc['reasons'].get('status')}")
        if doc.get("error"):
            con.print(f"[red]error:[/red] {doc['error']}")


@app.command("compare", help="Compare two stored runs variant by variant from their raw data: p50/p90/p99 and "
                             "throughput ratios, accuracy (McNemar), fidelity and energy, each with a 95% interval and "
                             "a verdict. Exit 1 when a metric regressed.")
def compare_cmd(
    run_a: Annotated[Optional[int], typer.Argument(metavar="[A]", help="Baseline run id (or --baseline).")] = None,
    run_b: Annotated[Optional[int], typer.Argument(metavar="[B]", help="Candidate run id (or --candidate).")] = None,
    baseline: Annotated[str, typer.Option(metavar="SEL", help="Without A: a run id, `previous` (the run before the candidate) or `last-good` (the latest earlier run that finished ok on a quiet, unthrottled board).")] = "last-good",
    candidate: Annotated[str, typer.Option(metavar="SEL", help="Without B: a run id or `latest`.")] = "latest",
    recipe: Annotated[Optional[str], typer.Option(metavar="NAME", help="The recipe of the series (for the selectors).")] = None,
    device: Annotated[Optional[str], typer.Option("--device", "-d", metavar="NAME", help="The board of the series (for the selectors).")] = None,
    variant: Annotated[Optional[list[str]], typer.Option("--variant", "-v", metavar="VARIANT", help="Only this variant (repeatable).")] = None,
    threshold: Annotated[Optional[float], typer.Option(metavar="PCT", min=0.0, max=100.0, help="Smallest latency/throughput change that matters, in % (default 3; with a calibrated board never below its detectable change).")] = None,
    accuracy_pt: Annotated[Optional[float], typer.Option("--accuracy-threshold", metavar="PT", min=0.0, help="Smallest accuracy change that matters, in points (default 0.5).")] = None,
    allow_mixed: Annotated[bool, typer.Option("--allow-mixed", help="Compare runs of different hardware, scenarios or recipes anyway (labelled as mixed).")] = False,
    store: StoreOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON on stdout.")] = False,
    junit: JunitOpt = None, markdown: MarkdownOpt = None,
) -> None:
    with cli_errors():
        from ..errors import UserInputError
        from ..regress import compare as cmp
        from ..regress.select import resolve

        check_outputs(junit=junit, markdown=markdown)
        if (run_a is None) != (run_b is None):
            raise UserInputError("give two run ids (`edgeeval results compare A B`) or none and the selectors "
                                 "(--baseline/--candidate with --recipe and --device)")
        th = cmp.Thresholds()
        if threshold is not None:
            th.perf = threshold / 100.0
        if accuracy_pt is not None:
            th.accuracy_pt = accuracy_pt
        st = _store(store)
        try:
            a, b = (run_a, run_b) if run_a is not None else resolve(st, baseline, candidate, recipe=recipe, device=device)
            doc = cmp.compare_runs(st, a, b, variants=variant or None, thresholds=th, allow_mixed=allow_mixed)
        finally:
            st.close()
        from .render_regress import print_compare

        _show(doc, as_json, print_compare)
        from ..cireport.cases import compare_cases
        from ..cireport.markdown import compare_md

        emit_ci(junit, markdown, f"edgeeval compare {a} {b}", compare_cases(doc), lambda: compare_md(doc))
        raise typer.Exit(cmp.exit_code(doc))


def _show(doc: dict, as_json: bool, render) -> None:
    """The document as JSON on stdout, or drawn by render(console, doc)."""
    with closed_stdout_ok():
        if as_json:
            print(json.dumps(doc, indent=2, default=str))
        else:
            render(out_console(), doc)


@app.command("history", help="A metric's series over the stored runs of one recipe on one board, per variant, with its "
                             "change points (apache-otava) tied to runs and software changes; noisy, throttled and "
                             "other-hardware runs are listed, not used. Exit 1 when the newest runs begin a regression.")
def history_cmd(
    recipe: Annotated[str, typer.Option(metavar="NAME", help="The recipe (its name, as `results list` shows).")],
    device: Annotated[str, typer.Option("--device", "-d", metavar="NAME", help="The board.")],
    variant: Annotated[Optional[str], typer.Option("--variant", "-v", metavar="VARIANT", help="Only this variant.")] = None,
    metric: Annotated[str, typer.Option(metavar="METRIC", help="p50_ms, p90_ms (default), p99_ms, throughput, energy_mj or top1.")] = "p90_ms",
    limit: Annotated[int, typer.Option(metavar="N", min=1, help="The newest N runs.")] = 365,
    store: StoreOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the series and change points as JSON on stdout.")] = False,
) -> None:
    with cli_errors():
        from ..regress.history import history

        st = _store(store)
        try:
            doc = history(st, recipe, device, variant=variant, metric=metric, limit=limit)
        finally:
            st.close()
        from .render_regress import print_history

        _show(doc, as_json, print_history)
        raise typer.Exit(1 if any(v["alarm"] for v in doc["variants"]) else 0)
