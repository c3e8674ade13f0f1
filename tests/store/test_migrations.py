"""Store migrations (Alembic): fresh stores are made by the revisions, files written by earlier
releases upgrade in place with their data intact, and the revisions end at exactly schema.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from edgeeval.store import migrate
from edgeeval.store.schema import metadata
from edgeeval.store.store import Store

DATA = Path(__file__).with_name("data")
OLD_STORES = {  # written by the edgeeval of that time (a real run: one variant, blobs)
    "store-0.1-first-release.db": "legacy:0001",   # before the controller heartbeat columns
    "store-0.1-heartbeat.db": "legacy:0002",       # before migrations existed
}


def test_head_is_the_last_revision():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(migrate.SCRIPTS))
    assert ScriptDirectory.from_config(cfg).get_current_head() == migrate.HEAD


def _schema(engine):
    insp = inspect(engine)
    return {t: ({c["name"]: str(c["type"]) for c in insp.get_columns(t)},
                sorted((i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in insp.get_indexes(t)))
            for t in sorted(insp.get_table_names()) if t != "alembic_version"}


def test_revisions_end_at_exactly_the_schema_the_code_queries(tmp_path):
    migrated = create_engine(f"sqlite:///{tmp_path / 'a.db'}")
    migrate.upgrade(migrated)
    declared = create_engine(f"sqlite:///{tmp_path / 'b.db'}")
    metadata.create_all(declared)
    assert _schema(migrated) == _schema(declared)


@pytest.mark.parametrize("name", sorted(OLD_STORES))
def test_a_store_from_an_earlier_release_upgrades_in_place(tmp_path, name):
    db = tmp_path / name
    shutil.copy(DATA / name, db)
    url = f"sqlite:///{db}"
    engine = create_engine(url)
    with engine.connect() as conn:
        assert migrate.revision(conn) == OLD_STORES[name]
    engine.dispose()
    with Store(url) as st:
        with st.engine.connect() as conn:
            assert migrate.revision(conn) == migrate.HEAD
        run = st.get_run(1)
        assert run["recipe_name"] == "digits-cnn" and run["status"] == "ok"
        (v,) = run["variants"]
        assert v["name"] == "fp32" and v["summary"]["latency"]["p50"] > 0
        assert len(st.get_raw(v["id"], "latencies_ns")) == 300          # blobs sha256-checked
        rid = st.begin_run(command="deploy", recipe_name="digits-cnn", device_name="pi5")
        st.heartbeat(rid)                                               # the new columns work
        assert st.get_run(rid)["status"] == "running"
    with Store(url) as st:                                              # opening again: no revision runs
        assert migrate.upgrade(st.engine) == migrate.HEAD


def test_an_empty_store_gets_every_revision_and_the_version_table(tmp_path):
    url = f"sqlite:///{tmp_path / 'new.db'}"
    with Store(url) as st, st.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == migrate.HEAD
