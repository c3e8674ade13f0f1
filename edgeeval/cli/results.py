"""`edgeeval results list | show ID`."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from ._common import StoreOpt, cli_errors, out_console, store_url_of

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
