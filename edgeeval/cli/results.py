"""`edgeeval results list | show ID`."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from ._common import cli_errors, out_console

app = typer.Typer(no_args_is_help=True)
StoreOpt = Annotated[Optional[str], typer.Option("--store", envvar="EDGEEVAL_STORE",
                                                 help="SQLite path or SQLAlchemy URL (default ~/.edgeeval/results.db).")]


def _store(store: str | None):
    from ..paths import store_url
    from ..store.store import Store

    if store:
        from pathlib import Path
        url = store if "://" in store else f"sqlite:///{Path(store).expanduser().resolve()}"
    else:
        url = store_url()
    return Store(url)


@app.command("list", help="List stored runs, newest first.")
def list_cmd(limit: Annotated[int, typer.Option(min=1)] = 20, recipe: Optional[str] = None,
             device: Optional[str] = None, store: StoreOpt = None,
             as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
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


@app.command("show", help="Show one stored run with every variant's figures.")
def show_cmd(run_id: Annotated[int, typer.Argument(help="Run id from `edgeeval results list`.")],
             store: StoreOpt = None, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    from ..errors import UserInputError

    with cli_errors():
        run = _store(store).get_run(run_id)
        if run is None:
            raise UserInputError(f"run {run_id}: no such run in the store; see `edgeeval results list`")
        if as_json:
            print(json.dumps(run, indent=2, default=str))
            return
        from .render import print_deploy

        report = {"run_id": run["id"], "recipe": run.get("recipe_name"), "device": run.get("device_name"),
                  "device_facts": run.get("device_facts") or {},
                  "baseline": {"top1": next((v["summary"].get("accuracy", {}).get("baseline_top1")
                                             for v in run.get("variants", []) if v.get("summary")), None)},
                  "variants": [{"name": v["name"], "precision": v.get("precision") or "",
                                "model_sha256": v.get("model_sha256") or "", **(v.get("summary") or {})}
                               for v in run.get("variants", [])]}
        con = out_console()
        print_deploy(con, report)
        con.print(f"[dim]status {run.get('status')} · created {run.get('created_at')} · finished "
                  f"{run.get('finished_at')} · edgeeval {run.get('edgeeval_version')} git {run.get('git_sha')} · "
                  f"agent {str(run.get('agent_sha256'))[:12]} · recipe {str(run.get('recipe_hash'))[:12]}[/dim]")
        if run.get("error"):
            con.print(f"[red]error:[/red] {run['error']}")
