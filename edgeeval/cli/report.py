"""`edgeeval report [RUN_IDS…] [--campaign NAME | --recipe R [--since DATE]] [--format html|md|csv] [-o FILE]`."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ._common import StoreOpt, cli_errors, closed_stdout_ok, store_url_of

FORMATS = ("html", "md", "csv")
SUFFIX = {".html": "html", ".htm": "html", ".md": "md", ".markdown": "md", ".csv": "csv"}


def report_cmd(
    run_ids: Annotated[Optional[list[int]], typer.Argument(metavar="[RUN_IDS]...", help="Runs to report (default: the latest run).")] = None,
    campaign: Annotated[Optional[str], typer.Option(metavar="NAME", help="Every run of this farm campaign.")] = None,
    recipe: Annotated[Optional[str], typer.Option(metavar="NAME", help="Every run of this recipe (with --since: from that date).")] = None,
    since: Annotated[Optional[str], typer.Option(metavar="DATE", help="With --recipe: runs from this date on (YYYY-MM-DD, UTC).")] = None,
    device: Annotated[Optional[str], typer.Option("--device", "-d", metavar="NAME", help="Only runs on this board (with --recipe or for the latest run).")] = None,
    fmt: Annotated[Optional[str], typer.Option("--format", "-f", metavar="FORMAT", help="html (one self-contained page with plots; needs -o), md (tables for pull requests and CI pages) or csv (one row per variant result, docs/report.md); default from -o's suffix, else md.")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", metavar="FILE", help="Write here (default: stdout).")] = None,
    require: Annotated[Optional[str], typer.Option(metavar="REQ", help="Procurement requirement, e.g. \"p90_ms<=20,accuracy_drop_pt<=1,power_w<=10\": boards that meet it ranked by perf/$ and perf/W.")] = None,
    store: StoreOpt = None,
) -> None:
    with cli_errors():
        from ..errors import UserInputError

        if fmt is None:
            fmt = SUFFIX.get(output.suffix.lower(), "md") if output is not None else "md"
        if fmt not in FORMATS:
            raise UserInputError(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
        if fmt == "html" and output is None:
            raise UserInputError("--format html writes a page: give -o FILE.html")
        if output is not None and output.is_dir():
            raise UserInputError(f"-o {output}: is a folder; give a file name, e.g. {output / ('report.' + fmt)}")

        given = [*map(str, run_ids or [])]
        for flag, val in (("--campaign", campaign), ("--recipe", recipe), ("--since", since), ("--device", device),
                          ("--require", require), ("--format", fmt), ("-o", output)):
            if val is not None:
                given += [flag, str(val)]
        command = "edgeeval report " + " ".join(shlex.quote(a) for a in given)   # the store URL is left out: it may hold a password
        detector = None
        if fmt == "html":
            from ..report.detector import start_detector

            detector = start_detector()  # first: forked before numpy's threads exist or the store is open
        try:
            if fmt == "html":
                from ..report.html import _deps

                _deps()                 # a missing extra is said before the store is read
            text, doc = _build_text(fmt, store, run_ids, campaign, recipe, since, device, command, require, detector)
        finally:
            if detector is not None:
                detector.shutdown(cancel_futures=True)
        if output is None:
            with closed_stdout_ok():
                sys.stdout.write(text)
            return
        from ..recipes.cache import write_bytes_atomic

        try:
            write_bytes_atomic(output, text.encode())
        except OSError as e:
            raise UserInputError(f"-o {output}: cannot write it ({e.strerror}); check the folder exists and is writable") from None
        print(f"{fmt} report of {doc['selector']}: {len(doc['rows'])} variant results → {output}", file=sys.stderr)


def _build_text(fmt, store, run_ids, campaign, recipe, since, device, command, require, detector) -> tuple[str, dict]:
    from ..report.build import build
    from ..report.tables import to_csv, to_markdown
    from ..store.store import Store

    with Store(store_url_of(store)) as st:
        doc = build(st, run_ids or None, campaign=campaign, recipe=recipe, since=since, device=device,
                    command=command, require=require)
        if fmt == "html":
            from ..paths import home
            from ..report.html import render

            return render(doc, st, cache_dir=home() / "cache", detector=detector), doc
        return (to_csv(doc["rows"]) if fmt == "csv" else to_markdown(doc)), doc
