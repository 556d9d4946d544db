"""The SQLite store: schema, one write per key (points and per-layer tables), meta, refusing to
overwrite a run, reading a version-1 store."""

from __future__ import annotations

import math
import sqlite3

import pytest

from dse.store import FILENAME, LAYER_COLUMNS, SCHEMA_VERSION, Store


def test_schema_is_the_documented_one(tmp_path):
    Store.create(tmp_path / "run", {"space": "base: tpu-v1", "seed": 3, "version": "0.1.0"}).close()
    conn = sqlite3.connect(tmp_path / "run" / FILENAME)
    cols = [r[1] for r in conn.execute("PRAGMA table_info(points)")]
    assert cols == ["key", "seq", "batch", "params", "metrics", "status", "error", "created_at"]
    assert [r[1] for r in conn.execute("PRAGMA table_info(meta)")] == ["k", "v"]
    assert [r[1] for r in conn.execute("PRAGMA table_info(layers)")] == ["key", "workload", "pos", "layer",
                                                                         *LAYER_COLUMNS]
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


def test_layers_are_written_once_per_point_in_order(tmp_path):
    rows = [{"workload": "a", "layer": "0", "ops": 3, "cycles": 10.0, "latency_s": 1e-6, "flops": 5.0,
             "energy_j": 2e-6, "utilization": 0.5},
            {"workload": "b", "layer": "0", "ops": 1, "cycles": 4, "latency_s": math.nan, "flops": 1,
             "energy_j": 1e-6, "utilization": None, "extra": "ignored"},
            {"workload": "a", "layer": "other", "ops": 2, "cycles": 7.0, "latency_s": 2e-6, "flops": 0.0,
             "energy_j": 3e-6, "utilization": 0.0}]
    with Store.create(tmp_path, {}) as s:
        assert s.put_layers("k1", rows)
        assert not s.put_layers("k1", rows[:1])  # a point's table is written once
    with Store.open(tmp_path) as s:
        assert s.layer_keys() == {"k1"} and s.layers("k2") == []
        got = s.layers("k1")
        assert [(r["workload"], r["pos"], r["layer"]) for r in got] == [("a", 0, "0"), ("a", 1, "other"), ("b", 0, "0")]
        assert got[0] == {"key": "k1", "workload": "a", "pos": 0, "layer": "0", "ops": 3, "cycles": 10.0,
                          "latency_s": 1e-6, "flops": 5.0, "energy_j": 2e-6, "utilization": 0.5}
        assert got[2]["latency_s"] is None and got[2]["utilization"] is None  # NaN and None stored as NULL


def test_a_version_1_store_gets_the_layers_table(tmp_path):
    Store.create(tmp_path, {}).close()
    conn = sqlite3.connect(tmp_path / FILENAME)
    conn.execute("DROP TABLE layers")
    conn.execute("PRAGMA user_version=1")
    conn.close()
    with Store.open(tmp_path) as s:
        assert s.layers() == [] and s.put_layers("k", [{"workload": "w", "layer": "0"}])
    assert sqlite3.connect(tmp_path / FILENAME).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
