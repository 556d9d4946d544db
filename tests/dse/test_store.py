"""The SQLite store: schema, one write per key, meta, refusing to overwrite a run."""

from __future__ import annotations

import math
import sqlite3

import pytest

from dse.store import FILENAME, SCHEMA_VERSION, Store


def test_schema_is_the_documented_one(tmp_path):
    Store.create(tmp_path / "run", {"space": "base: tpu-v1", "seed": 3, "version": "0.1.0"}).close()
    conn = sqlite3.connect(tmp_path / "run" / FILENAME)
    cols = [r[1] for r in conn.execute("PRAGMA table_info(points)")]
    assert cols == ["key", "seq", "batch", "params", "metrics", "status", "error", "created_at"]
    assert [r[1] for r in conn.execute("PRAGMA table_info(meta)")] == ["k", "v"]
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    meta = dict(conn.execute("SELECT k, v FROM meta"))
    assert meta["space"] == "base: tpu-v1" and meta["seed"] == "3" and meta["version"] == "0.1.0"


def test_put_writes_once_and_reads_back(tmp_path):
    with Store.create(tmp_path, {}) as s:
        assert s.put("k1", 0, 0, {"units.mxu.rows": 8}, {"latency_s": 1.5, "bad": math.nan})
        assert not s.put("k1", 5, 5, {"units.mxu.rows": 8}, {"latency_s": 9.0})  # first row kept
        assert s.put("k2", 1, 0, {"units.mxu.rows": 16}, None, status="error", error="ValueError: no")
    with Store.open(tmp_path) as s:
        recs = list(s.records())
        assert [r.key for r in recs] == ["k1", "k2"] and len(s) == 2 and s.keys() == {"k1", "k2"}
        assert recs[0].metrics == {"latency_s": 1.5, "bad": None} and recs[0].ok
        assert recs[1].status == "error" and recs[1].error == "ValueError: no" and recs[1].metrics is None
        assert s.get("k2") == recs[1] and s.get("nope") is None


def test_create_refuses_an_existing_run(tmp_path):
    Store.create(tmp_path, {}).close()
    with pytest.raises(ValueError, match="already holds a run.*--resume"):
        Store.create(tmp_path, {})


def test_open_needs_a_store(tmp_path):
    with pytest.raises(ValueError, match="no results.sqlite here"):
        Store.open(tmp_path)


def test_open_rejects_another_schema_version(tmp_path):
    Store.create(tmp_path, {}).close()
    conn = sqlite3.connect(tmp_path / FILENAME)
    conn.execute("PRAGMA user_version=99")
    conn.close()
    with pytest.raises(ValueError, match="schema version 99"):
        Store.open(tmp_path)


def test_status_is_checked(tmp_path):
    with Store.create(tmp_path, {}) as s, pytest.raises(sqlite3.IntegrityError):
        s.put("k", 0, 0, {}, {}, status="done")
