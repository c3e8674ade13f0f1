"""FakeTransport drives the real BoardSession: push, probe, a job, faults on cue."""

from __future__ import annotations

import numpy as np
import pytest

from edgeeval.agentclient import BoardSession
from edgeeval.errors import ConnectError
from edgeeval.provenance import agent_sha256, sha256_file
from edgeeval.testing.fake import FakeTransport
from edgeeval.testing.models import tiny_mlp, write_eval_npz


class _Artifact:
    def __init__(self, name, path):
        self.name, self.path, self.sha256 = name, str(path), sha256_file(path)
        self.inputs = self.outputs = None


class _EvalSet:
    def __init__(self, path):
        self.path, self.sha256 = str(path), sha256_file(path)
        self.inputs, self.labels = ["input"], "labels"


@pytest.fixture
def artifacts(tmp_path):
    tiny_mlp(tmp_path / "mlp.onnx")
    rng = np.random.default_rng(0)
    write_eval_npz(tmp_path / "mlp.npz", {"input": rng.standard_normal((16, 64)).astype(np.float32)},
                   labels=rng.integers(0, 10, 16))
    return _Artifact("fp32", tmp_path / "mlp.onnx"), _EvalSet(tmp_path / "mlp.npz")


def test_push_probe_and_a_real_job_on_the_fake_board(artifacts, tmp_path):
    model, ev = artifacts
    fake = FakeTransport("bench")
    board = BoardSession(transport=fake, python="python3", workdir="~/.edgeeval", device="bench")
    report = board.push([(model.path, model.sha256, ".onnx"), (ev.path, ev.sha256, ".npz")])
    assert report.bytes_sent > 0 and f".edgeeval/cache/{agent_sha256()}.pyz" in fake.files
    assert board.push([(model.path, model.sha256, ".onnx")]).bytes_sent == 0     # verified, not resent
    assert board.probe()["hostname"] == "bench"
    job = board.job(model, ev, batch_size=1, runtime={"name": "onnxruntime"}, scenario=None,
                    timing={"warmup": 2, "min_runs": 20, "min_seconds": 0.0, "max_runs": 1000, "max_seconds": 30.0})
    result = board.run_job(job)
    assert result["timed_runs"] >= 20 and result["accuracy"]["samples"] == 16
    board.fetch(job.outputs_path, str(tmp_path / "out.npz"))
    assert sha256_file(tmp_path / "out.npz") == result["accuracy"]["outputs_sha256"]
    assert [c.argv[2] for c in fake.calls if c.method == "stream"] == ["run"]


def test_faults_on_cue_and_unknown_commands(artifacts):
    model, ev = artifacts
    fake = FakeTransport("bench")
    fake.fail("put_file", ConnectError("link cut", device="bench"), after=1)
    board = BoardSession(transport=fake, python="python3", workdir=".", device="bench")
    with pytest.raises(ConnectError, match="link cut"):
        board.push([(model.path, model.sha256, ".onnx"), (ev.path, ev.sha256, ".npz")])
    assert len([c for c in fake.calls if c.method == "put_file"]) == 2
    assert fake.run(["uname", "-a"]).exit_status == 127


def test_a_scripted_agent_error_reaches_the_caller_as_agent_error(artifacts):
    from edgeeval.errors import AgentError

    model, ev = artifacts
    fake = FakeTransport("bench", on_job=lambda job, files: [
        {"event": "hello", "protocol": 1}, {"event": "error", "type": "RuntimeMissingError", "message": "no ort"}])
    board = BoardSession(transport=fake, python="python3", workdir=".", device="bench")
    board.push([(model.path, model.sha256, ".onnx"), (ev.path, ev.sha256, ".npz")])
    job = board.job(model, ev, batch_size=1, runtime={"name": "onnxruntime"}, scenario=None,
                    timing={"warmup": 1, "min_runs": 1, "min_seconds": 0.0, "max_runs": 10, "max_seconds": 5.0})
    with pytest.raises(AgentError, match="no ort"):
        board.run_job(job)
