"""BoardSession.prepare: verify + sweep + probe in one interpreter start on a warm board, and the
runtime facts reused only while the board's runtimes stamp is unchanged."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from edgeeval.agent.edgeeval_agent import facts as agent_facts
from edgeeval.agentclient import BoardSession, _facts_cache
from edgeeval.errors import BoardProtocolError
from edgeeval.provenance import agent_sha256, sha256_file
from edgeeval.testing.fake import FakeTransport, default_facts
from edgeeval.transport.local import LocalTransport


class CountingLocal(LocalTransport):
    """The real `local` board, counting the commands it is asked to run."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.commands: list[list[str]] = []

    def run(self, argv, **kw):
        self.commands.append([str(a) for a in argv])
        return super().run(argv, **kw)


@pytest.fixture
def eval_file(tmp_path):
    p = tmp_path / "eval.npz"
    np.savez(p, input=np.zeros((4, 3), np.float32))
    return (str(p), sha256_file(p), ".npz")


def _session(tr):
    return BoardSession(transport=tr, python=sys.executable, workdir=".edgeeval", device="local")


def test_warm_board_answers_verify_sweep_and_probe_with_one_command(tmp_path, eval_file):
    tr = CountingLocal("local", tmp_path / "board")
    cold = _session(tr)
    facts = cold.prepare([eval_file])
    assert facts["runtimes_cached"] is False and facts["numpy"]["version"] == np.__version__
    cold.push([eval_file])
    assert len(tr.commands) >= 3           # verify+probe (agent missing), upload's verify, probe, push's verify

    tr.commands.clear()
    warm = _session(tr)
    again = warm.prepare([eval_file])
    assert len(tr.commands) == 1, tr.commands                   # one interpreter start for all of it
    assert again["runtimes_cached"] is True
    assert again["numpy"] == facts["numpy"] and again["runtimes"] == facts["runtimes"]
    assert again["runtimes_stamp"] == facts["runtimes_stamp"]
    report = warm.push([eval_file])
    assert report.bytes_sent == 0 and len(tr.commands) == 1     # prepare's hashes were reused
    assert warm.agent.endswith(f"{agent_sha256()}.pyz")


def test_a_full_probe_never_uses_the_cache_and_a_stale_stamp_imports_again(tmp_path, eval_file):
    tr = CountingLocal("local", tmp_path / "board")
    s = _session(tr)
    s.prepare([eval_file])
    assert s.probe()["runtimes_cached"] is False               # `devices check`: always the imports
    cache = _facts_cache("local", sys.executable).path
    data = cache.read_text().replace('"stamp": "', '"stamp": "0')   # the board changed since
    cache.write_text(data)
    assert _session(tr).prepare([eval_file])["runtimes_cached"] is False


def test_runtime_stamp_follows_the_runtime_files(tmp_path, monkeypatch):
    pkg = tmp_path / "edgeeval_fake_runtime"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("__version__ = '1.0'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(agent_facts, "RUNTIME_MODULES", (*agent_facts.RUNTIME_MODULES, "edgeeval_fake_runtime"))
    before = agent_facts.runtime_stamp()
    assert agent_facts.runtime_stamp() == before
    (pkg / "__init__.py").write_text("__version__ = '1.0.1'\n")   # pip upgraded it
    assert agent_facts.runtime_stamp() != before
    facts = agent_facts.collect_facts(str(tmp_path), known_stamp=before)
    assert facts["runtimes_cached"] is False and "numpy" in facts


def test_an_agent_that_skips_its_imports_unasked_is_a_protocol_fault():
    fake = FakeTransport("bench", facts={**default_facts("bench"), "runtimes_cached": True})
    board = BoardSession(transport=fake, python="python3", workdir=".", device="bench")
    with pytest.raises(BoardProtocolError, match="unasked"):
        board.prepare([])


def test_fake_board_prepare_pushes_the_agent_then_probes():
    fake = FakeTransport("bench")
    board = BoardSession(transport=fake, python="python3", workdir=".", device="bench")
    assert board.prepare([])["hostname"] == "bench"
    assert [c.argv[2] for c in fake.calls if c.method == "run" and c.argv[1].endswith(".pyz")] == ["probe"]
    fake.calls.clear()
    warm = BoardSession(transport=fake, python="python3", workdir=".", device="bench")
    assert warm.prepare([])["hostname"] == "bench" and len([c for c in fake.calls if c.method == "run"]) == 1


def test_a_jobs_result_facts_skip_the_imports_under_the_stamp_and_are_filled_in(tmp_path):
    """The job's closing facts import no runtime while the stamp holds (board CPU per job); the
    controller fills them from the same cache, so the stored facts are complete either way."""
    from edgeeval.testing.models import tiny_mlp, write_eval_npz

    model = tiny_mlp(tmp_path / "m.onnx")
    data = write_eval_npz(tmp_path / "d.npz", {"input": np.zeros((4, 64), np.float32)})
    files = [(str(data), sha256_file(data), ".npz"), (str(model), sha256_file(model), ".onnx")]
    tr = LocalTransport("local", tmp_path / "board")
    first = _session(tr)
    full = first.prepare(files)           # cold: a full probe fills the cache
    first.push(files)
    warm = _session(tr)
    warm.prepare(files)
    warm.push(files)

    class V:
        name, precision, sha256, path = "fp32", "fp32", files[1][1], model

    class E:
        sha256, inputs, labels = files[0][1], ["input"], None

    job = warm.job(V, E, batch_size=1, runtime={"name": "onnxruntime", "providers": ["CPUExecutionProvider"]},
                   timing={"warmup": 1, "min_runs": 5, "min_seconds": 0.0}, scenario=None, accuracy=False)
    assert job.facts_known == full["runtimes_stamp"]
    res = warm.run_job(job)
    assert res["facts"]["runtimes_cached"] is True
    assert res["facts"]["runtimes"] == full["runtimes"] and res["facts"]["numpy"] == full["numpy"]
    # a job sent without the stamp imports them on the board
    job.facts_known = None
    res2 = warm.run_job(job)
    assert res2["facts"]["runtimes_cached"] is False and res2["facts"]["runtimes"] == full["runtimes"]
