"""build, deploy and baseline commands."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ._common import (
    JunitOpt,
    MarkdownOpt,
    check_outputs,
    cli_errors,
    closed_stdout_ok,
    emit_ci,
    err_console,
    out_console,
    resolve_inventory,
    store_url_of,
)

RecipeArg = Annotated[Path, typer.Argument(metavar="RECIPE", help="Recipe YAML, e.g. recipes/digits-cnn.yaml.")]
VariantOpt = Annotated[Optional[list[str]], typer.Option("--variant", "-v", metavar="VARIANT", help="Only this variant (repeatable).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the results as JSON on stdout.")]


def build_cmd(recipe: RecipeArg, variant: VariantOpt = None,
              force: Annotated[bool, typer.Option("--force", help="Rebuild even when cached.")] = False,
              as_json: JsonOpt = False) -> None:
    from .render import build_table

    with cli_errors():
        from ..recipes.build import build

        con = err_console()
        res = build(recipe, only=variant or None, force=force,
                    progress=lambda ev: con.print(f"[dim]{_build_event_text(ev)}[/dim]") if not as_json else None)
        if as_json:
            print(json.dumps(res.manifest, indent=2, default=str))
        else:
            out_console().print(build_table(res))


def _build_event_text(ev) -> str:
    if isinstance(ev, dict):
        return " ".join(f"{k}={v}" for k, v in ev.items())
    return str(ev)


def baseline_cmd(recipe: RecipeArg, as_json: JsonOpt = False) -> None:
    with cli_errors():
        from ..recipes.build import build
        from ..source_kinds import server_baseline

        res = build(recipe)
        base = server_baseline(res)
        info = {"model_sha256": base.model_sha256, "dataset_sha256": base.dataset_sha256,
                "outputs": {k: list(v.shape) for k, v in base.outputs.items()},
                "cached": base.cached, "path": str(base.path)}
        if as_json:
            print(json.dumps(info, indent=2))
        else:
            out_console().print(f"server baseline for {recipe}: {'cached' if base.cached else 'computed'}\n"
                                f"  model sha256   {base.model_sha256}\n  dataset sha256 {base.dataset_sha256}\n"
                                f"  outputs        {info['outputs']}\n  stored at      {base.path}", soft_wrap=True)


def deploy_cmd(
    recipe: RecipeArg,
    device: Annotated[str, typer.Option("--device", "-d", metavar="NAME", help="Device name from the inventory; `local` runs on this machine.")] = "local",
    inventory: Annotated[Optional[Path], typer.Option("--inventory", "-i", metavar="PATH", envvar="EDGEEVAL_INVENTORY", help="Inventory YAML file or folder (default: ./devices/).")] = None,
    variant: VariantOpt = None,
    store: Annotated[Optional[str], typer.Option("--store", metavar="PATH|URL", help="Results store: SQLite path or SQLAlchemy URL (default $EDGEEVAL_STORE or ~/.edgeeval/results.db).", envvar="EDGEEVAL_STORE")] = None,
    min_runs: Annotated[Optional[int], typer.Option(metavar="N", help="Override the recipe's minimum timed runs.", min=1)] = None,
    min_seconds: Annotated[Optional[float], typer.Option(metavar="SECONDS", help="Override the recipe's minimum timed seconds.", min=0)] = None,
    warmup: Annotated[Optional[int], typer.Option(metavar="N", help="Override the recipe's warmup runs.", min=0)] = None,
    max_seconds: Annotated[Optional[float], typer.Option(metavar="SECONDS", help="Override the recipe's limit on timed seconds (the run stops there).")] = None,
    target_qps: Annotated[Optional[float], typer.Option("--target-qps", metavar="QPS", help="Server scenario: the Poisson arrival rate (overrides run.scenario.target_qps).")] = None,
    scenario: Annotated[Optional[str], typer.Option(metavar="SCENARIO", help="single-stream (default), multi-stream, offline or server; overrides the recipe's run.scenario.name.")] = None,
    profile: Annotated[Optional[str], typer.Option(metavar="PROFILE", help="quick, standard (default) or rigorous (MLPerf-like: >= 600 s and MLPerf's minimum query counts).")] = None,
    find_max_qps: Annotated[bool, typer.Option("--find-max-qps", help="Server scenario: search the highest QPS whose p99 meets the latency bound.")] = False,
    as_json: JsonOpt = False,
    detail: Annotated[bool, typer.Option("--detail", help="Every figure per variant, not only the comparison table.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", help="Show remote tracebacks in full.")] = False,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="When another deploy or a farm job holds the board: wait for it (default, with a message naming the holder), or stop at once with exit code 3.")] = True,
    junit: JunitOpt = None, markdown: MarkdownOpt = None,
) -> None:
    from ..errors import EXIT_DEVICE_ERROR, EXIT_GATE_FAILED
    from .render import DeployProgress

    with cli_errors(verbose):
        from ..pipeline import deploy

        check_outputs(junit=junit, markdown=markdown)
        url = store_url_of(store)
        with DeployProgress(enabled=not as_json or sys.stderr.isatty()) as progress:
            outcome = deploy(recipe, device, inventory=resolve_inventory(inventory), only=variant or None,
                             store_url=url,
                             timing_overrides={"min_runs": min_runs, "min_seconds": min_seconds, "warmup": warmup,
                                               "max_seconds": max_seconds},
                             scenario_overrides={**_scenario_overrides(scenario, profile, find_max_qps),
                                                 "target_qps": target_qps},
                             notify=progress.notify, wait=wait)
        from ..results_json import run_json
        from ..store.store import Store

        with Store(url) as st:   # the stored run: the one document deploy and results show print
            report = run_json(st.get_run(outcome.run_id))
        with closed_stdout_ok():
            if as_json:
                print(json.dumps(report, indent=2, default=str))
            else:
                from .render import print_deploy
                print_deploy(out_console(), report, detail=detail)
                sys.stdout.flush()
        from ..cireport.cases import deploy_cases
        from ..cireport.markdown import deploy_md

        ci_cases = deploy_cases(report)
        emit_ci(junit, markdown, f"edgeeval deploy {report['recipe']} on {report['device']}", ci_cases,
                lambda: deploy_md(report, ci_cases))
        if outcome.error is not None:
            from ._common import print_device_error
            print_device_error(outcome.error, verbose)
            if outcome.variants:
                print(f"  kept: {len(outcome.variants)} finished variant(s) stored as run {outcome.run_id}",
                      file=sys.stderr)
            raise typer.Exit(EXIT_DEVICE_ERROR)
        if not outcome.passed:
            raise typer.Exit(EXIT_GATE_FAILED)


def _scenario_overrides(scenario: str | None, profile: str | None, find_max_qps: bool) -> dict:
    """--scenario / --profile / --find-max-qps, checked here so a typo exits 2 with the choices."""
    from ..errors import UserInputError
    from ..recipes.scenarios import PROFILES, SCENARIO_DEFAULTS
    from ..suggest import did_you_mean

    problems = []
    if scenario is not None and scenario not in SCENARIO_DEFAULTS:
        problems.append(f"--scenario {scenario!r}{did_you_mean(scenario, SCENARIO_DEFAULTS)} "
                        f"use one of {', '.join(SCENARIO_DEFAULTS)}")
    if profile is not None and profile not in PROFILES:
        problems.append(f"--profile {profile!r}{did_you_mean(profile, PROFILES)} use one of {', '.join(PROFILES)}")
    if problems:
        raise UserInputError(problems)
    return {"name": scenario, "profile": profile, "find_max_qps": find_max_qps or None}


def init_cmd(
    model: Annotated[Path, typer.Argument(metavar="MODEL.onnx", help="The fp32 ONNX model to benchmark.")],
    data: Annotated[Optional[Path], typer.Option("--data", metavar="EVAL.npz", help="Eval inputs by input name (+ labels); without it init writes seeded synthetic inputs (latency and fidelity only).")] = None,
    calibration: Annotated[Optional[Path], typer.Option("--calibration", metavar="CALIB.npz", help="Calibration inputs for an int8-static variant (other samples than the eval set).")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", metavar="RECIPE.yaml", help="Where to write the recipe (default: ./<model name>.yaml).")] = None,
    dim: Annotated[Optional[list[str]], typer.Option("--dim", metavar="NAME=N", help="Synthetic inputs: the size of a symbolic axis, e.g. --dim sequence=128 (repeatable).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing recipe.")] = False,
) -> None:
    with cli_errors():
        from ..errors import UserInputError
        from ..recipes.init import _name, write

        dims, bad = {}, []
        for d in dim or []:
            name, _, value = d.partition("=")
            if not name or not value.isdigit() or int(value) < 1:
                bad.append(f"--dim {d!r}: write NAME=N with N a positive integer, e.g. --dim sequence=128")
            else:
                dims[name] = int(value)
        if bad:
            raise UserInputError(bad)
        out = output or Path(f"{_name(model.stem)}.yaml")
        files = write(model, out, data=data, calibration=calibration, dims=dims, force=force)
        con = err_console()
        for f in files:
            con.print(f"wrote {f}", soft_wrap=True)
        con.print(f"next: edgeeval deploy {out}   (add -d NAME for a board in devices/)", soft_wrap=True)
