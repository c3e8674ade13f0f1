"""`edgeeval` entry point. Heavy modules are imported inside the commands that need them."""

from __future__ import annotations

import typer

from .. import __version__
from . import devices as devices_cli
from . import farm as farm_cli
from . import lab as lab_cli
from . import results as results_cli
from .pipeline import baseline_cmd, build_cmd, deploy_cmd, init_cmd
from .report import report_cmd

_ENV = """\b
Environment:
  EDGEEVAL_HOME       artifacts, baselines, default store (~/.edgeeval)
  EDGEEVAL_STORE      results store: SQLite path or SQLAlchemy URL
  EDGEEVAL_INVENTORY  devices YAML file or folder (default ./devices/)
  EDGEEVAL_DEBUG=1    show tracebacks of internal errors

\b
Exit codes: 0 passed, 1 a gate failed, 2 your input is wrong,
            3 a board or network fault.
Shell completion: edgeeval --install-completion"""

app = typer.Typer(
    name="edgeeval",
    help="How does this model really run on that board? Build, deploy over SSH, measure, compare.",
    epilog=_ENV,
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: rich's help renderer costs ~160 ms of start-up
)
app.command("init", help="Draft a commented recipe from an ONNX model (and its eval data).")(init_cmd)
app.command("build", help="Build a recipe's variants into the content-addressed artifact cache.")(build_cmd)
app.command("deploy", help="Build, push and run a recipe on a device; evaluate, gate and store the results.")(deploy_cmd)
app.command("baseline", help="Run the FP32 model on this machine (the server baseline) and cache its outputs.")(baseline_cmd)
app.command("report", help="A report from the store alone: a summary per model and board with intervals, "
                           "the adaptation stage reached, provenance; Markdown or CSV.")(report_cmd)
app.add_typer(devices_cli.app, name="devices", help="The device inventory: list, check, trust, clean; quarantine, restore, release.")
app.add_typer(results_cli.app, name="results", help="Stored results: list, show.")
app.add_typer(lab_cli.app, name="lab", help="A virtual lab of real sshd boards on this machine: up, status, down.")
app.add_typer(farm_cli.app, name="farm", help="A plan of recipes x boards, boards in parallel: run, resume, status.")


def _version(value: bool):
    if value:
        typer.echo(f"edgeeval {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")):
    pass


def main() -> None:
    app()


if __name__ == "__main__":
    main()
