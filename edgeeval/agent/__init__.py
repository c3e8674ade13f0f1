"""The board agent: `agent.py` is pushed to boards as one self-contained file.

This package only locates that file for the controller; it never imports it.
"""

from __future__ import annotations

from pathlib import Path

AGENT_PATH = Path(__file__).with_name("agent.py")


def agent_source() -> bytes:
    """The agent file's bytes, as pushed to boards (its sha256 names it there)."""
    return AGENT_PATH.read_bytes()
