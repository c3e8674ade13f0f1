"""Helpers for tests, also for users' own tests: tiny ONNX models, eval sets, jobs, boards."""
