"""Alembic migrations of the results store (applied by edgeeval/store/migrate.py when a store opens).

Revisions are written by hand, one per schema change, named NNNN_what.py with revision "NNNN";
each upgrades a store written by the release before it in place (tests/store/test_migrations.py
opens files written by earlier releases)."""
