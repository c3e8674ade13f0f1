"""`edgeeval farm run PLAN [--queue URL] | worker --queue URL | resume CAMPAIGN | status [CAMPAIGN]`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
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
    resolve_inventory,
    store_url_of,
)

app = typer.Typer(no_args_is_help=True)
InvOpt = Annotated[Optional[Path], typer.Option("--inventory", "-i", metavar="PATH", envvar="EDGEEVAL_INVENTORY", help="Inventory YAML file or folder, unless the plan names its own (default: ./devices/).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result map as JSON on stdout.")]


def _run(plan_path: Path, inventory: Path | None, store: str | None, campaign: str | None, as_json: bool,
         junit: Path | None = None, markdown: Path | None = None) -> None:
    from ..farm.plan import load_plan
    from ..farm.runner import FarmRun
    from .render_farm import FarmProgress, result_json, summary_table

    check_outputs(junit=junit, markdown=markdown)
    plan = load_plan(plan_path, resolve_inventory(inventory))
    with FarmProgress(plan.boards(), len(plan.jobs)) as progress:
        res = FarmRun(plan, store_url=store_url_of(store), campaign=campaign, notify=progress.notify).run()
    with closed_stdout_ok():
        if as_json:
            print(json.dumps(result_json(res), indent=2, default=str))
        else:
            out_console().print(summary_table(res))
            print(f"campaign {res.campaign}: exit {res.exit_code}; again with `edgeeval farm resume {res.campaign}` "
                  "(finished jobs are kept)" if res.exit_code == 3 else f"campaign {res.campaign}: exit {res.exit_code}",
                  file=sys.stderr)
    doc = result_json(res)
    from ..cireport.cases import farm_cases
    from ..cireport.markdown import farm_md

    regressions = nightly_regressions(store_url_of(store), doc["jobs"])
    ci_cases = farm_cases(doc, regressions)
    emit_ci(junit, markdown, f"edgeeval farm {res.campaign}", ci_cases, lambda: farm_md(doc, ci_cases))
    raise typer.Exit(1 if res.exit_code == 0 and any(r.get("regressed") for r in regressions.values())
                     else res.exit_code)


def nightly_regressions(store_url: str, jobs: list[dict]) -> dict:
    """{run_id: {"regressed": [...], "details": [...]}} for the jobs that measured: a regression step in
    the job's nightly series (apache-otava, README "Regressions") that begins at this run or the night
    before. Said on stderr; a missing detector is a warning, not a pass."""
    from ..errors import UserInputError
    from ..regress.history import nightly_check
    from ..store.store import Store

    done = [j for j in jobs if j.get("run_id") and j["status"] in ("ok", "gate_failed")]
    out: dict = {}
    if not done:
        return out
    with Store(store_url) as st:
        for j in done:
            try:
                got = nightly_check(st, j["run_id"]).get(j["variant"])
            except UserInputError as e:
                print(f"regression check skipped: {e}", file=sys.stderr)
                return out
            if got:
                out[j["run_id"]] = got
                for line in got["details"]:
                    print(f"REGRESSED {j.get('recipe') or j.get('recipe_name')}/{j['variant']} on "
                          f"{j.get('device') or j.get('device_name')}: {line}", file=sys.stderr)
    return out


QueueOpt = Annotated[Optional[str], typer.Option("--queue", metavar="URL", envvar="EDGEEVAL_QUEUE", help="postgresql://… : put the jobs on the procrastinate queue in that database instead of running them here; `edgeeval farm worker` on each controller runs them.")]


@app.command("run", help="Run every (recipe, variant, board) job of a plan, boards in parallel; "
                         "jobs this campaign already finished are skipped (resume).")
def run_cmd(plan: Annotated[Path, typer.Argument(metavar="PLAN", help="Plan YAML, e.g. recipes/plans/nightly.yaml.")],
            inventory: InvOpt = None, store: StoreOpt = None,
            campaign: Annotated[Optional[str], typer.Option(metavar="NAME", help="Campaign name (default: PLAN_NAME-YYYY-MM-DD, UTC): the same name resumes it.")] = None,
            queue: QueueOpt = None,
            wait: Annotated[bool, typer.Option("--wait", help="With --queue: wait until the workers finished every job, then print the table and exit as a local run would.")] = False,
            timeout: Annotated[Optional[float], typer.Option(metavar="SECONDS", help="With --wait: give up (exit 3) after this long.")] = None,
            as_json: JsonOpt = False, junit: JunitOpt = None, markdown: MarkdownOpt = None) -> None:
    with cli_errors():
        if queue is None:
            _run(plan, inventory, store, campaign, as_json, junit, markdown)
            return
        _enqueue(plan, inventory, store, campaign, queue, wait, timeout, as_json)


def _enqueue(plan: Path, inventory, store, campaign, queue: str, wait: bool, timeout, as_json: bool) -> None:
    from ..farm.queue import enqueue, wait_for_campaign
    from ..farm.runner import exit_code_of
    from ..scrub import scrub_text
    from .render_farm import jobs_table

    store_url = store_url_of(store) if store else queue
    res = enqueue(plan, queue, inventory=resolve_inventory(inventory), store_url=store_url, campaign=campaign)
    print(f"campaign {res.campaign}: {res.queued} job(s) queued on {scrub_text(queue)}, {res.already_queued} "
          f"already queued, {res.finished} finished earlier" + (f", {len(res.failed)} could not be built"
                                                                 if res.failed else ""), file=sys.stderr)
    if not wait:
        if as_json:
            print(json.dumps({"campaign": res.campaign, "queued": res.queued, "already_queued": res.already_queued,
                              "finished_earlier": res.finished}, indent=2))
        raise typer.Exit(1 if res.failed else 0)
    done = wait_for_campaign(store_url, res.campaign, timeout_s=timeout)
    code = exit_code_of(j["status"] for j in done["jobs"])
    if code == 0 and nightly_regressions(store_url, done["jobs"]):
        code = 1
    with closed_stdout_ok():
        if as_json:
            print(json.dumps({"campaign": res.campaign, "exit_code": code, "jobs": done["jobs"]}, indent=2,
                             default=str))
        else:
            out_console().print(jobs_table(done["campaign"], done["jobs"]))
    raise typer.Exit(code)


@app.command("worker", help="Run the farm's queued jobs on this controller (procrastinate worker): "
                            "leases, health checks and stores as `farm run` does; recovers the jobs of dead workers.")
def worker_cmd(queue: Annotated[str, typer.Option("--queue", metavar="URL", envvar="EDGEEVAL_QUEUE", help="postgresql://… the queue's database.")],
               store: StoreOpt = None, inventory: InvOpt = None,
               concurrency: Annotated[int, typer.Option(metavar="N", help="Jobs at once (one per board: as many as this controller's boards).", min=1, max=256)] = 4,
               plan: Annotated[Optional[Path], typer.Option("--plan", metavar="PLAN", help="Also defer this plan on its `schedule:` (procrastinate's periodic task).")] = None,
               until_empty: Annotated[bool, typer.Option("--until-empty", help="Stop once the queue has nothing this worker can take.")] = False,
               heartbeat: Annotated[float, typer.Option(metavar="SECONDS", help="Worker heartbeat interval.", min=0.5)] = 10.0,
               stalled_after: Annotated[float, typer.Option(metavar="SECONDS", help="A worker silent this long is dead: its jobs are queued again.", min=2.0)] = 30.0) -> None:
    with cli_errors():
        import logging

        from ..farm.queue import work

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
        logging.getLogger("procrastinate").setLevel(logging.WARNING)
        work(queue, concurrency=concurrency, until_empty=until_empty,
             schedule_plan=str(plan) if plan else None, inventory=resolve_inventory(inventory),
             store_url=store_url_of(store) if store else None, heartbeat_s=heartbeat, stalled_after_s=stalled_after)


@app.command("resume", help="Run the jobs of a campaign that have not finished (its plan file is read again).")
def resume_cmd(campaign: Annotated[str, typer.Argument(metavar="CAMPAIGN", help="Campaign name (edgeeval farm status lists them).")],
               inventory: InvOpt = None, store: StoreOpt = None, as_json: JsonOpt = False,
               junit: JunitOpt = None, markdown: MarkdownOpt = None) -> None:
    with cli_errors():
        from ..errors import UserInputError
        from ..store import farm as fs
        from ..store.store import Store

        with Store(store_url_of(store)) as st:
            row = fs.get_campaign(st.engine, campaign)
            known = [c["name"] for c in fs.list_campaigns(st.engine, 10)] if row is None else []
        if row is None:
            raise UserInputError(f"campaign {campaign!r} is not in the store; recent ones: "
                                 f"{', '.join(known) or 'none'} (edgeeval farm status lists them)")
        plan = Path(row["plan_path"] or "")
        if not plan.is_file():
            raise UserInputError(f"campaign {campaign!r}: its plan {plan} is gone; run `edgeeval farm run PLAN "
                                 f"--campaign {campaign}` with the plan file")
        _run(plan, inventory, store, campaign, as_json, junit, markdown)


@app.command("status", help="Every board (free, leased by whom until when, quarantined and why, last health "
                            "check) and the jobs of a campaign (default: the latest).")
def status_cmd(campaign: Annotated[Optional[str], typer.Argument(metavar="[CAMPAIGN]", help="Campaign name (default: the latest).")] = None,
               inventory: InvOpt = None, store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    with cli_errors():
        from ..errors import UserInputError
        from ..store import farm as fs
        from ..store.leases import all_leases, describe
        from ..store.store import Store
        from .render_farm import boards_table, jobs_table

        with Store(store_url_of(store)) as st:
            leases = {r["device_name"]: r for r in all_leases(st.engine) if not r["expired"]}
            health = fs.all_health(st.engine)
            names = _board_names(inventory, leases, health)
            boards = []
            for b in names:
                h, lease = health.get(b) or {}, leases.get(b)
                state = "quarantined" if h.get("state") == "quarantined" else ("leased" if lease else "free")
                boards.append({"board": b, "state": state, "lease": describe(lease) if lease else None,
                               "lease_holder": {k: lease[k] for k in ("holder_host", "holder_pid", "holder_job",
                                                                      "purpose", "expires_at")} if lease else None,
                               "health": (f"{h['state']} since {h['since']}" + (f": {h['reason']}" if h.get("reason") else ""))
                               if h else "never checked",
                               "checked_at": h.get("checked_at"), "check_passed": h.get("check_passed"),
                               "band_p50_ms": h.get("band_p50_ms"), "jobs_since_check": h.get("jobs_since_check", 0)})
            camp = fs.get_campaign(st.engine, campaign) if campaign else next(iter(fs.list_campaigns(st.engine, 1)), None)
            if campaign and camp is None:
                raise UserInputError(f"campaign {campaign!r} is not in the store; `edgeeval farm status` shows the latest")
            jobs = fs.campaign_jobs(st.engine, camp["id"]) if camp else []
        with closed_stdout_ok():
            if as_json:
                print(json.dumps({"boards": boards, "campaign": camp, "jobs": jobs}, indent=2, default=str))
                return
            con = out_console()
            con.print(boards_table(boards))
            if camp is None:
                con.print("no campaign in this store yet: `edgeeval farm run PLAN` starts one")
            else:
                con.print(jobs_table(camp, jobs))


def _board_names(inventory: Path | None, leases: dict, health: dict) -> list[str]:
    """The inventory's boards, then any other board the store knows of (leased or checked)."""
    from ..devices.inventory import load_inventory

    names = load_inventory(resolve_inventory(inventory)).names()
    return names + sorted((set(leases) | set(health)) - set(names))
