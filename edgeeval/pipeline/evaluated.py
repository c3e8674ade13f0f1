"""What the evaluate stage returns, and the guard that turns a board's unreadable result into a
device fault (used by stages.py for every model and generative.py for language models)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import BoardProtocolError, UserInputError


@dataclass
class Evaluated:
    summary: dict
    gates: dict
    raw: dict[str, Any]               # the arrays stored beside the summary (every figure recomputable)


def _summarize_board_result(device: str, result: dict, *args, **kw) -> dict:
    """summarize_variant on what a board sent: a failure there is the board's data (shapes that do
    not match the eval set, a field of the wrong kind), a device fault, never "internal error"."""
    from ..evaluate.summary import summarize_variant

    try:
        return summarize_variant(result, *args, **kw)
    except UserInputError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, ZeroDivisionError, AttributeError) as exc:
        raise BoardProtocolError(f"the board's result could not be evaluated ({type(exc).__name__}: "
                                 f"{str(exc)[:300]}); nothing of this variant was stored", device=device,
                                 hint="the agent's output was altered or the board is faulty "
                                      "(EDGEEVAL_DEBUG=1 shows where it failed)") from exc
