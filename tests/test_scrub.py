"""The one scrubber every stored string passes: what it masks, and that it is linear-time."""

from __future__ import annotations

import time

import pytest

from edgeeval.scrub import SCRUBBED, scrub_text


@pytest.mark.parametrize("text, secret", [
    ("edgeeval deploy r.yaml --password hunter2", "hunter2"),
    ("run --db-password=hunter2 now", "hunter2"),
    ("ssh -o --api_token tok-9 x", "tok-9"),
    ("agent died; token=abc123", "abc123"),
    ("Password: open-sesame", "open-sesame"),
    ("secret = s3cr3t", "s3cr3t"),
    ("failed: postgresql://edgeeval:pgpass@db:5432/x", "pgpass"),
    ("ssh://pi:raspberry@192.0.2.1:22", "raspberry"),
])
def test_secret_values_are_masked(text, secret):
    out = scrub_text(text)
    assert secret not in out and SCRUBBED in out, out


@pytest.mark.parametrize("text", [
    "p50 0.013 ms, top-1 0.9944", "--min-runs 30 --warmup 2", "tokens/s 42.1 at 128 tokens",
    "http://host:8080/path", "a-b-c --variant fp32",
])
def test_ordinary_text_is_left_alone(text):
    assert scrub_text(text) == text


ADVERSARIAL = {
    "letters": "A" * 10_000_000,
    "hyphens": "-" * 10_000_000,
    "word chars and hyphens": "a-" * 5_000_000,
    "near-miss flags": "--passwor " * 1_000_000,
    "spaces after a flag": "--password" + " " * 10_000_000,
    "schemes": "a://" * 2_500_000,
    "url-ish": "://" + "u" * 10_000_000,
    "key no value": "token=" * 1_600_000,
}


@pytest.mark.parametrize("name", ADVERSARIAL)
def test_ten_megabytes_are_scrubbed_in_under_a_second(name):
    text = ADVERSARIAL[name]
    t0 = time.perf_counter()
    scrub_text(text)
    assert time.perf_counter() - t0 < 1.0, name


def test_an_overlong_string_keeps_head_and_tail_and_no_half_secret():
    text = "start " + "x " * 100_000 + "--password hunter2 " + "y " * 100_000 + "end"
    out = scrub_text(text)
    assert out.startswith("start ") and out.endswith(" end") and "characters cut" in out
    assert len(out) < 70_000 and "hunter2" not in out
    # a key at the very edge of the cut never leaves its value bare
    edge = "a " * 24_575 + "--password " + "hunter2 " + "z " * 50_000
    assert "hunter2" not in scrub_text(edge)
