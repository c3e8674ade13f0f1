"""The board agent: the `edgeeval_agent` package, bundled into one zipapp pushed to boards.

The controller never imports the package to run it; it pushes `bundle().data` (named by its
sha256) and runs `python3 cache/<sha256>.pyz probe|run` on the board. Board modules can be
unit-tested by importing `edgeeval.agent.edgeeval_agent.<module>` directly.
"""

from __future__ import annotations

from .bundle import Bundle, agent_path, bundle

__all__ = ["AGENT_PATH", "Bundle", "agent_path", "bundle"]


def __getattr__(name: str):
    if name == "AGENT_PATH":  # the built file, for tests and benchmarks that run the agent directly
        return agent_path()
    raise AttributeError(name)
