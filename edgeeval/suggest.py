"""Did-you-mean suggestions for misspelt names (fields, devices, variants, scenarios, outputs)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(value: str, choices: Iterable[str]) -> str | None:
    """The choice nearest to `value` (case-insensitive), or None when nothing is close."""
    choices = [str(c) for c in choices]
    lowered = {c.lower(): c for c in choices}
    hit = difflib.get_close_matches(str(value).lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[hit[0]] if hit else None


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """"; did you mean 'x'?" or "" — ready to append to a message."""
    near = closest(value, choices)
    return f"; did you mean {near!r}?" if near and near != value else ""
