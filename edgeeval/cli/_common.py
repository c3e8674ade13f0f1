"""Shared CLI plumbing: error → exit code translation, consoles, inventory resolution."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import EXIT_DEVICE_ERROR, EXIT_USER_ERROR, DeviceError, EdgeevalError, UserInputError


def err_console():
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def out_console():
    """stdout console; when piped (CI logs, files) 140 columns instead of rich's 80, so hashes
    and tables stay on one line."""
    from rich.console import Console

    return Console(highlight=False, width=None if sys.stdout.isatty() else 140)


def print_user_error(exc: UserInputError) -> None:
    for line in exc.problems:
        print(f"error: {line}", file=sys.stderr)


def print_device_error(exc: DeviceError, verbose: bool = False) -> None:
    print(f"device error: {exc}", file=sys.stderr)
    tb = getattr(exc, "remote_traceback", "")
    if tb and verbose:
        print("remote traceback:\n" + tb, file=sys.stderr)
    elif tb:
        last = [ln for ln in tb.strip().splitlines() if ln.strip()][-3:]
        print("  remote traceback (last lines; --verbose for all):", file=sys.stderr)
        for ln in last:
            print("    " + ln, file=sys.stderr)


@contextlib.contextmanager
def cli_errors(verbose: bool = False):
    """Translate edgeeval errors to one-line messages and exit codes 2 / 3, never a traceback."""
    try:
        yield
    except UserInputError as exc:
        print_user_error(exc)
        raise typer.Exit(EXIT_USER_ERROR) from None
    except DeviceError as exc:
        print_device_error(exc, verbose)
        raise typer.Exit(EXIT_DEVICE_ERROR) from None
    except EdgeevalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        raise typer.Exit(130) from None
    except (typer.Exit, SystemExit):
        raise
    except BrokenPipeError:  # `edgeeval ... | head`: the reader left; not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise typer.Exit(0) from None
    except Exception as exc:  # a bug in edgeeval, not the user's fault: say so, keep the detail
        if os.environ.get("EDGEEVAL_DEBUG"):
            raise
        print(f"internal error: {type(exc).__name__}: {exc}\n  this is a bug in edgeeval; rerun with "
              f"EDGEEVAL_DEBUG=1 for the traceback and report it", file=sys.stderr)
        raise typer.Exit(1) from None


@contextlib.contextmanager
def closed_stdout_ok():
    """Around printing: if the reader left (`edgeeval ... | head`), stop printing but let the command
    finish, so its exit code (a failed gate: 1, a board fault: 3) is the one the shell sees."""
    try:
        yield
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def resolve_inventory(inventory: Path | None) -> Path | None:
    """--inventory, else $EDGEEVAL_INVENTORY, else ./devices/ when present, else only `local`."""
    if inventory is not None:
        if not inventory.exists():
            raise UserInputError(f"{inventory}: inventory not found; give a YAML file or a folder of them")
        return inventory
    env = os.environ.get("EDGEEVAL_INVENTORY")
    if env:
        p = Path(env)
        if not p.exists():
            raise UserInputError(f"EDGEEVAL_INVENTORY={env}: not found; fix or unset the variable")
        return p
    default = Path("devices")
    return default if default.is_dir() else None


StoreOpt = Annotated[Optional[str], typer.Option("--store", envvar="EDGEEVAL_STORE", metavar="PATH|URL",
                                                 help="Results store: SQLite path or SQLAlchemy URL "
                                                      "(default ~/.edgeeval/results.db).")]


def store_url_of(store: str | None) -> str:
    """--store as given (a SQLAlchemy URL, or a SQLite path made absolute), else the default store."""
    if store:
        return store if "://" in store else f"sqlite:///{Path(store).expanduser().resolve()}"
    from ..paths import store_url

    return store_url()


JunitOpt = Annotated[Optional[Path], typer.Option("--junit", metavar="FILE", help="Also write JUnit XML (Jenkins, GitLab): a testcase per (model, variant, board).")]
MarkdownOpt = Annotated[Optional[Path], typer.Option("--markdown", metavar="FILE", help="Also write the tables as Markdown (default when $GITHUB_STEP_SUMMARY is set: appended there).")]


def emit_ci(junit: Path | None, markdown: Path | None, suite: str, cases, md_text) -> None:
    """--junit / --markdown (or $GITHUB_STEP_SUMMARY) after a command's result is known; `md_text` is called
    only when Markdown is wanted. Said on stderr, so stdout stays the result."""
    from ..cireport import junit as ju
    from ..cireport import markdown as md

    try:
        if junit is not None:
            ju.write(junit, suite, cases)
            print(f"wrote {junit} (JUnit, {len(cases)} testcase(s))", file=sys.stderr)
        if markdown is not None or os.environ.get("GITHUB_STEP_SUMMARY"):
            where = md.write(markdown, md_text())
            if where is not None and markdown is not None:
                print(f"wrote {where} (Markdown)", file=sys.stderr)
    except OSError as exc:
        raise UserInputError(f"{exc.filename or junit or markdown}: cannot write the CI report ({exc.strerror}); "
                             "give a writable path") from None


def check_outputs(**paths: Path | None) -> None:
    """Before a long command: every --junit/--markdown path can be written (not a folder, a parent that exists
    or can be made), so a typo fails in a second, not after an hour of measuring."""
    problems = []
    for flag, p in paths.items():
        if p is None:
            continue
        if p.is_dir():
            problems.append(f"--{flag} {p}: is a folder; give a file path, e.g. {p / ('report.' + ('xml' if flag == 'junit' else 'md'))}")
            continue
        parent = p.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if not parent.is_dir() or not os.access(parent, os.W_OK):
            problems.append(f"--{flag} {p}: {parent} is not a writable folder; give a path you can write")
    if problems:
        raise UserInputError(problems)
