"""The store tests run on a real SQLite file and on the real PostgreSQL server of .ci/run."""

import os

import pytest

PG_URL = os.environ.get("EDGEEVAL_TEST_PG_URL")


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'nested' / 'dir' / 'results.db'}"
    if not PG_URL:
        pytest.skip("set EDGEEVAL_TEST_PG_URL to run the store tests on PostgreSQL")
    return PG_URL
