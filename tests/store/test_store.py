"""The results store on a real SQLite file (and PostgreSQL when EDGEEVAL_TEST_PG_URL is set)."""

import json
import uuid

import numpy as np
import pytest

from edgeeval.evaluate import summarize_variant
from edgeeval.evaluate.summary import recompute_variant
from edgeeval.store import RunNotFoundError, Store, StoreIntegrityError


@pytest.fixture
def recipe():
    return f"recipe-{uuid.uuid4().hex[:8]}"  # unique, so a shared PostgreSQL database is fine


def _variant(seed, n=300):
    rng = np.random.default_rng(seed)
    event = {"event": "result", "latencies_ns": (rng.lognormal(0, 0.25, n) * 1e6).astype(int).tolist(),
             "warmup_ns": [1_500_000, 1_200_000, 1_100_000], "load_ms": 9.5,
             "first_inference_ms": 2.25, "peak_rss_kb": 40960, "timed_wall_s": 0.4,
             "runtime": {"name": "onnxruntime", "version": "1.32.0"},
             "accuracy": {"samples": 60, "output_names": ["logits"]}}
    ref = {"logits": rng.normal(size=(60, 10)).astype(np.float32)}
    dev = {"logits": (ref["logits"] + rng.normal(scale=0.02, size=(60, 10))).astype(np.float32)}
    labels = ref["logits"].argmax(1).astype(np.int64)
    return event, dev, ref, labels


def _add(store, run_id, name, seed, gates=None):
    event, dev, ref, labels = _variant(seed)
    gates = gates if gates is not None else {"p50_ms": 100.0, "accuracy_drop_pt": 10.0}
    summary = summarize_variant(event, dev, ref, labels, None, gates)
    vid = store.add_variant(run_id, name, summary=summary, event=event, gates=gates,
                            raw={"device_outputs": dev, "baseline_outputs": ref, "labels": labels},
                            precision="fp32", model_sha256="ab" * 32, model_size_bytes=12345,
                            runtime=event["runtime"])
    return vid, event, dev, ref, labels, summary


def test_begin_add_finish_list_get(url, recipe):
    store = Store(url)
    run_id = store.begin_run(command="edgeeval deploy r.yaml", recipe_name=recipe,
                             recipe_hash="cd" * 32, device_name="local",
                             device_facts={"arch": "x86_64", "cpu_count": 2},
                             settings={"timing": {"warmup": 10}}, git_sha=None)
    run = store.get_run(run_id)
    assert run["status"] == "running" and run["finished_at"] is None
    assert run["edgeeval_version"] and run["git_sha_reason"] == "not reported by the caller"
    v1, *_ , s1 = _add(store, run_id, "fp32", 1)
    v2, *_ , s2 = _add(store, run_id, "int8", 2, gates={"p50_ms": 1e-6})
    store.finish_run(run_id, "gate_failed")
    runs = store.list_runs(recipe=recipe)
    assert [r["id"] for r in runs] == [run_id]
    assert runs[0]["variants"] == 2 and runs[0]["variants_passed"] == 1
    assert runs[0]["status"] == "gate_failed" and runs[0]["finished_at"]
    assert store.list_runs(recipe=recipe, device="elsewhere") == []
    got = store.get_run(run_id)
    assert [v["name"] for v in got["variants"]] == ["fp32", "int8"]
    a, b = got["variants"]
    assert a["status"] == "ok" and a["passed"] is True and b["status"] == "gate_failed"
    assert a["summary"] == json.loads(json.dumps(s1)) and b["summary"]["passed"] is False
    assert a["p50_ms"] == s1["latency"]["p50"] and a["top1"] == s1["accuracy"]["top1"]
    assert a["model_size_bytes"] == 12345 and a["runtime"]["version"] == "1.32.0"
    assert set(a["raw_kinds"]) == {"latencies_ns", "warmup_ns", "device_outputs",
                                   "baseline_outputs", "labels"}
    assert "bytes" not in a
    # many runs at once: the same rows, less the recompute inputs
    other = store.begin_run(command="edgeeval deploy r.yaml", recipe_name=recipe, device_name="pi5", settings={})
    many = store.get_runs([other, run_id, run_id])
    assert [r["id"] for r in many] == [run_id, other] and many[1]["variants"] == []
    assert many[0]["variants"] == [{**v, "inputs": None} for v in got["variants"]]
    assert a["inputs"] is not None and store.get_runs([]) == []
    with pytest.raises(RunNotFoundError):
        store.get_runs([run_id, 10**9])
    with pytest.raises(RunNotFoundError):
        store.get_run(10**9)
    with pytest.raises(ValueError):
        store.finish_run(run_id, "finished")
    store.close()


def test_blobs_round_trip_exactly_and_recompute(url, recipe):
    store = Store(url)
    run_id = store.begin_run(recipe_name=recipe, device_name="local")
    vid, event, dev, ref, labels, summary = _add(store, run_id, "fp32", 3)
    lat = store.get_raw(vid, "latencies_ns")
    assert lat.dtype == np.dtype("<i8") and lat.tolist() == event["latencies_ns"]
    assert store.get_raw(vid, "warmup_ns").tolist() == event["warmup_ns"]
    got = store.get_raw(vid, "device_outputs")
    assert list(got) == ["logits"] and got["logits"].dtype == np.float32
    assert np.array_equal(got["logits"], dev["logits"])
    assert np.array_equal(store.get_raw(vid, "baseline_outputs")["logits"], ref["logits"])
    assert np.array_equal(store.get_raw(vid, "labels"), labels)
    with pytest.raises(KeyError):
        store.get_raw(vid, "power_samples")
    stored = store.get_run(run_id)["variants"][0]["summary"]
    assert recompute_variant(store, vid) == stored
    store.close()


def test_crash_after_one_variant_keeps_it(url, recipe):
    first = Store(url)
    run_id = first.begin_run(recipe_name=recipe, device_name="local")
    vid, *_ = _add(first, run_id, "fp32", 4)
    del first  # the process "crashes": no finish_run, no close
    again = Store(url)
    run = again.get_run(run_id)
    assert run["status"] == "running" and [v["id"] for v in run["variants"]] == [vid]
    assert again.get_raw(vid, "latencies_ns").size == 300
    assert recompute_variant(again, vid) == run["variants"][0]["summary"]
    again.close()


def test_secrets_are_scrubbed(url, recipe):
    store = Store(url)
    run_id = store.begin_run(
        recipe_name=recipe, command="edgeeval deploy r.yaml --password hunter2",
        device_facts={"ssh": {"password": "hunter2", "user": "pi",
                              "keys": [{"passphrase": "open sesame", "path": "/k"}]},
                      "apiToken": "tok-123"},
        controller={"env": {"GITHUB_TOKEN": "ghp_x", "HOME": "/root"}},
        settings={"key_material": "-----BEGIN", "client_secret": "s"},
        extra={"nested": [[{"token": "t"}]]})
    text = json.dumps(store.get_run(run_id), default=str)
    for secret in ("hunter2", "open sesame", "tok-123", "ghp_x", "-----BEGIN", '"s"', '"t"'):
        assert secret not in text, secret
    run = store.get_run(run_id)
    assert run["device_facts"]["ssh"]["user"] == "pi" and run["controller"]["env"]["HOME"] == "/root"
    assert run["device_facts"]["ssh"]["keys"][0]["path"] == "/k"
    with pytest.raises(TypeError, match="unknown field"):
        store.begin_run(recipe_name=recipe, passwords="x")
    store.update_run(run_id, device_facts={"arch": "aarch64", "sudo_password": "pw1"})
    facts = store.get_run(run_id)["device_facts"]
    assert facts == {"arch": "aarch64", "sudo_password": "[scrubbed]"}
    vid, *_ = _add(store, run_id, "fp32", 6)
    store.add_variant(run_id, "broken", summary=None, error="agent died; token=abc123",
                      extra={"ssh": {"passphrase": "zz"}})
    broken = store.get_run(run_id)["variants"][-1]
    assert broken["status"] == "error" and "abc123" not in broken["error"]
    assert broken["extra"] == {"ssh": {"passphrase": "[scrubbed]"}} and broken["passed"] is None
    store.close()


def test_tampered_blob_is_detected(tmp_path):
    from sqlalchemy import update

    from edgeeval.store.schema import raw_blobs

    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    run_id = store.begin_run(recipe_name="r")
    vid, *_ = _add(store, run_id, "fp32", 5)
    with store.engine.begin() as conn:
        conn.execute(update(raw_blobs).where(raw_blobs.c.kind == "labels").values(sha256="0" * 64))
    with pytest.raises(StoreIntegrityError):
        store.get_raw(vid, "labels")
    store.close()


def test_default_url_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEEVAL_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("EDGEEVAL_STORE", raising=False)
    with Store() as store:
        store.begin_run(recipe_name="r")
        assert store.url.endswith("results.db")
    assert (tmp_path / "home" / "results.db").exists()
