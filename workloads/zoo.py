"""The named zoo: one JSON file per model under ``workloads/zoo/``.

Each file is an HF-style config (what `workloads.config.from_config` reads) plus ``name``,
``source`` (the HF repository or paper table its numbers come from), ``published`` (reference
figures with their source) and ``workload`` (default `from_config` arguments, e.g. phase, batch,
seq_len).  The files ship as package data and are read with `importlib.resources`.
"""

from __future__ import annotations

import copy
import difflib
import functools
import inspect
import json
from importlib import resources
from typing import Any

from workloads.config import from_config
from workloads.graph import Graph

#: `from_config` keyword arguments; any other override names a config key.
WORKLOAD_ARGS = tuple(p for p in inspect.signature(from_config).parameters if p != "config")


@functools.cache
def _entries() -> dict[str, dict[str, Any]]:
    folder = resources.files("workloads") / "zoo"
    out = {}
    for item in folder.iterdir():
        if item.name.endswith(".json"):
            out[item.name[: -len(".json")]] = json.loads(item.read_text(encoding="utf-8"))
    return dict(sorted(out.items()))


def names() -> list[str]:
    """Names of the zoo entries, sorted."""
    return list(_entries())


def _unknown(name: str) -> ValueError:
    known = names()
    close = difflib.get_close_matches(str(name), known, n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return ValueError(f"unknown zoo workload {name!r}{hint} known: {known}")


def config(name: str) -> dict[str, Any]:
    """The entry's config dict (a copy): HF keys plus name, source, published and workload."""
    entries = _entries()
    if name not in entries:
        raise _unknown(name)
    return copy.deepcopy(entries[name])


def load(name: str, **overrides: Any) -> Graph:
    """Build a zoo workload.  Overrides are `from_config` arguments (phase, batch, seq_len, kv_len,
    w_format, a_format, group_size, routing, tasks, name) over the entry's ``workload`` defaults, or
    keys the config already has (e.g. ``num_hidden_layers=2``)."""
    cfg = config(name)
    args = dict(cfg.get("workload", {}))
    for key, value in overrides.items():
        if key in WORKLOAD_ARGS:
            args[key] = value
        elif key in cfg and key not in ("workload", "published", "source", "name"):
            cfg[key] = value
        else:
            close = difflib.get_close_matches(key, [*WORKLOAD_ARGS, *cfg], n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"override {key}={value!r} for zoo workload {name!r}: expected a from_config "
                             f"argument {list(WORKLOAD_ARGS)} or a key of its config{hint}")
    args.setdefault("name", name)
    return from_config(cfg, **args)
