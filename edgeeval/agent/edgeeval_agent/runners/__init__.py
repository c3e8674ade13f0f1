"""Runtimes the agent can time, registered by name (job.runtime.name)."""

from . import ort, synthetic, tflite  # noqa: F401  (each module registers its runner)
from .base import RUNNERS  # noqa: F401
