"""`Store`: the results of one DSE run, in SQLite at ``RUN_DIR/results.sqlite``.

Schema (``PRAGMA user_version`` = `SCHEMA_VERSION`)::

    CREATE TABLE points (
        key        TEXT PRIMARY KEY,   -- sha256 (24 hex) of the point's canonical params JSON (dse.space.point_key)
        seq        INTEGER NOT NULL,   -- order in which the strategy first proposed it (0, 1, 2, ...)
        batch      INTEGER NOT NULL,   -- strategy batch (NSGA-II generation, TPE round, grid/random chunk)
        params     TEXT NOT NULL,      -- JSON object: axis path -> value
        metrics    TEXT,               -- JSON object: latency_s, energy_j, area_mm2, ..., feasible, violation,
                                       --   per_workload {label: summary}; NULL when status = 'error'
        status     TEXT NOT NULL,      -- 'ok' or 'error'
        error      TEXT,               -- the exception's type and message when status = 'error'
        created_at REAL NOT NULL       -- unix time when the point was written
    );
    CREATE TABLE meta (
        k TEXT PRIMARY KEY,            -- 'space' (the space YAML as given), 'fingerprint', 'seed',
        v TEXT NOT NULL                --   'version' (coex version), 'schema' (SCHEMA_VERSION), 'created_at'
    );
    CREATE TABLE layers (              -- per-layer tables of the run's best points (dse.runner.best_keys)
        key         TEXT NOT NULL,     -- the point (points.key)
        workload    TEXT NOT NULL,     -- the workload's label
        pos         INTEGER NOT NULL,  -- the layer's position in the workload (0, 1, 2, ...)
        layer       TEXT NOT NULL,     -- the ops' `layer` tag ("other" for ops without one)
        ops         INTEGER,           -- ops in the layer
        cycles      REAL,              -- their cycles, summed
        latency_s   REAL,              -- their busy time, summed (ops that overlap both count)
        flops       REAL,
        energy_j    REAL,              -- sums to the workload's energy
        utilization REAL,              -- MAC-weighted
        PRIMARY KEY (key, workload, pos)
    );

The database runs in WAL mode; each finished point is written and committed in its own transaction
as soon as it completes (before the runner asks for the next batch), so a run killed at any moment
keeps every point it finished.  A point is written once: ``ON CONFLICT(key) DO NOTHING`` keeps the first row;
so is a point's per-layer table (all its rows in one transaction).  Opening a version-1 store (before
``layers``) adds the empty table.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 2
FILENAME = "results.sqlite"
LAYER_COLUMNS = ("ops", "cycles", "latency_s", "flops", "energy_j", "utilization")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS points (
    key TEXT PRIMARY KEY, seq INTEGER NOT NULL, batch INTEGER NOT NULL, params TEXT NOT NULL,
    metrics TEXT, status TEXT NOT NULL CHECK (status IN ('ok', 'error')), error TEXT, created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS points_seq ON points(seq);
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS layers (
    key TEXT NOT NULL, workload TEXT NOT NULL, pos INTEGER NOT NULL, layer TEXT NOT NULL, ops INTEGER,
    cycles REAL, latency_s REAL, flops REAL, energy_j REAL, utilization REAL, PRIMARY KEY (key, workload, pos)
);
"""


@dataclass(frozen=True)
class Record:
    """One stored point."""

    key: str
    seq: int
    batch: int
    params: dict[str, Any]
    metrics: dict[str, Any] | None
    status: str
    error: str | None
    created_at: float

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def _json_default(x: Any) -> Any:
    if hasattr(x, "item"):  # numpy scalars
        return x.item()
    return str(x)


def _number(v: Any) -> float | int | None:
    """A finite number for a REAL/INTEGER column, else None."""
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return v if isinstance(v, int) or math.isfinite(v) else None


def _dumps(obj: Any) -> str:
    def clean(v: Any) -> Any:  # JSON has no NaN/inf: store them as null
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    return json.dumps(clean(obj), sort_keys=True, default=_json_default, allow_nan=False)


class Store:
    """An open results database.  `Store.create` for a new run, `Store.open` to resume or read."""

    def __init__(self, path: Path, conn: sqlite3.Connection):
        self.path = path
        self.conn = conn

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        conn = sqlite3.connect(path, isolation_level=None, timeout=30.0)  # autocommit; explicit BEGIN/COMMIT
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # durable against a killed process; WAL keeps it consistent
        return conn

    @classmethod
    def create(cls, run_dir: Path | str, meta: dict[str, Any]) -> Store:
        """A new store in `run_dir` (created if missing); refuses a folder that already holds one."""
        run_dir = Path(run_dir)
        if run_dir.exists() and not run_dir.is_dir():
            raise ValueError(f"{run_dir} exists and is not a directory")
        path = run_dir / FILENAME
        if path.exists():
            raise ValueError(f"{run_dir} already holds a run ({FILENAME}); resume it with --resume {run_dir} "
                             "or choose another --out")
        run_dir.mkdir(parents=True, exist_ok=True)
        conn = cls._connect(path)
        conn.executescript(_SCHEMA)
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        store = cls(path, conn)
        with store._tx():
            for k, v in {**meta, "schema": SCHEMA_VERSION, "created_at": time.time()}.items():
                conn.execute("INSERT OR REPLACE INTO meta(k, v) VALUES (?, ?)", (k, str(v)))
        return store

    @classmethod
    def open(cls, run_dir: Path | str) -> Store:
        """An existing store (to resume or to read)."""
        path = Path(run_dir) / FILENAME
        if not path.exists():
            raise ValueError(f"{run_dir}: no {FILENAME} here; is it a run directory made by `dse run --out`?")
        conn = cls._connect(path)
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == 1:  # version 2 only adds the layers table
            conn.executescript(_SCHEMA)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            version = SCHEMA_VERSION
        if version != SCHEMA_VERSION:
            conn.close()
            raise ValueError(f"{path}: schema version {version}; this coex reads version {SCHEMA_VERSION}")
        return cls(path, conn)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    class _Tx:
        def __init__(self, conn: sqlite3.Connection):
            self.conn = conn

        def __enter__(self) -> None:
            self.conn.execute("BEGIN IMMEDIATE")

        def __exit__(self, exc_type: Any, *_: Any) -> None:
            self.conn.execute("ROLLBACK" if exc_type else "COMMIT")

    def _tx(self) -> Store._Tx:
        return Store._Tx(self.conn)

    # ---- writing ---------------------------------------------------------------------------------
    def put(self, key: str, seq: int, batch: int, params: dict[str, Any], metrics: dict[str, Any] | None,
            status: str = "ok", error: str | None = None) -> bool:
        """Write one finished point in its own transaction; False if the key was already there."""
        with self._tx():
            cur = self.conn.execute(
                "INSERT INTO points(key, seq, batch, params, metrics, status, error, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO NOTHING",
                (key, seq, batch, _dumps(params), None if metrics is None else _dumps(metrics), status, error,
                 time.time()),
            )
        return cur.rowcount == 1

    def put_layers(self, key: str, rows: list[dict[str, Any]]) -> bool:
        """Write one point's per-layer table (dicts with ``workload``, ``layer`` and `LAYER_COLUMNS`; a
        row's position counts within its workload) in one transaction; False if the point had one."""
        with self._tx():
            if self.conn.execute("SELECT 1 FROM layers WHERE key = ? LIMIT 1", (key,)).fetchone():
                return False
            pos: dict[str, int] = {}
            for r in rows:
                w = str(r["workload"])
                pos[w] = pos.get(w, -1) + 1
                self.conn.execute(
                    "INSERT INTO layers(key, workload, pos, layer, ops, cycles, latency_s, flops, energy_j, "
                    "utilization) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (key, w, pos[w], str(r["layer"]), *(_number(r.get(c)) for c in LAYER_COLUMNS)))
        return True

    def set_meta(self, k: str, v: Any) -> None:
        with self._tx():
            self.conn.execute("INSERT OR REPLACE INTO meta(k, v) VALUES (?, ?)", (k, str(v)))

    # ---- reading ---------------------------------------------------------------------------------
    def meta(self) -> dict[str, str]:
        return dict(self.conn.execute("SELECT k, v FROM meta").fetchall())

    def __len__(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM points").fetchone()[0]

    def keys(self) -> set[str]:
        return {k for (k,) in self.conn.execute("SELECT key FROM points")}

    def layer_keys(self) -> set[str]:
        """Points that have a per-layer table."""
        return {k for (k,) in self.conn.execute("SELECT DISTINCT key FROM layers")}

    def layers(self, key: str | None = None) -> list[dict[str, Any]]:
        """Per-layer rows (of one point, or of all), by key, workload and position: dicts with ``key``,
        ``workload``, ``pos``, ``layer`` and `LAYER_COLUMNS`."""
        cols = ("key", "workload", "pos", "layer", *LAYER_COLUMNS)
        sql = f"SELECT {', '.join(cols)} FROM layers"
        args: tuple = ()
        if key is not None:
            sql, args = sql + " WHERE key = ?", (key,)
        return [dict(zip(cols, row)) for row in self.conn.execute(sql + " ORDER BY key, workload, pos", args)]

    def records(self) -> Iterator[Record]:
        """Every stored point, in proposal order."""
        for row in self.conn.execute(
            "SELECT key, seq, batch, params, metrics, status, error, created_at FROM points ORDER BY seq"
        ):
            key, seq, batch, params, metrics, status, error, created_at = row
            yield Record(key, seq, batch, json.loads(params), None if metrics is None else json.loads(metrics),
                         status, error, created_at)

    def get(self, key: str) -> Record | None:
        row = self.conn.execute(
            "SELECT key, seq, batch, params, metrics, status, error, created_at FROM points WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        key, seq, batch, params, metrics, status, error, created_at = row
        return Record(key, seq, batch, json.loads(params), None if metrics is None else json.loads(metrics),
                      status, error, created_at)
