"""The named zoo: one JSON file per model under ``workloads/zoo/``.

Each file is an HF-style config (what `workloads.config.from_config` reads) plus ``name``,
``source`` (the HF repository or paper table its numbers come from), ``published`` (reference
figures with their source) and ``workload`` (default `from_config` arguments, e.g. phase, batch,
seq_len).  The files ship as package data and are read with `importlib.resources`.

``phase="mixed"`` builds one continuous-batching iteration instead (`workloads.serving.serving_step`,
decoder families ``llama``, ``mistral``, ``mixtral``): ``batch`` running requests decode one token each
over ``kv_len`` cached positions while ``prefill`` new requests (default 1) bring ``seq_len`` prompt
tokens each; ``kv_len`` defaults to ``seq_len`` as for decode.  ``batch`` and ``prefill`` may be 0 (a
decode-only or prefill-only step) but not both.  The graph's meta has ``requests`` (``batch + prefill``)
and ``tokens`` but no ``batch``: a result's throughput is steps per second and its tokens/s counts prompt
and decode tokens.  NeuPIMs' dispatch splits such a step into sub-batches by request
(`workloads.batching.split_requests`: decode requests halved, prompts placed by tokens).
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

#: `from_config` keyword arguments, plus ``prefill`` (phase "mixed"); any other override names a config key.
WORKLOAD_ARGS = (*(p for p in inspect.signature(from_config).parameters if p != "config"), "prefill")
#: `from_config` arguments that a mixed step (`workloads.serving.serving_step`) has no counterpart for.
NOT_MIXED = ("group_size", "tasks")


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
    if args.get("phase") == "mixed":
        return _mixed(name, cfg, args)
    if "prefill" in args:
        raise ValueError(f"prefill={args['prefill']!r} for zoo workload {name!r}: prefill requests belong to a "
                         f"continuous-batching step; expected phase='mixed', got phase={args.get('phase')!r}")
    return from_config(cfg, **args)


def mixed_names() -> list[str]:
    """Zoo entries that `load` builds with ``phase="mixed"`` (families of `workloads.serving.FAMILIES`)."""
    from workloads.serving import FAMILIES

    return [n for n, e in _entries().items() if e.get("model_type") in FAMILIES]


def _mixed(name: str, cfg: dict[str, Any], args: dict[str, Any]) -> Graph:
    """One continuous-batching step of zoo entry `name` (module docstring); `args` as `load` merged them."""
    from workloads.serving import FAMILIES, serving_step

    mt = cfg.get("model_type")
    if mt not in FAMILIES:
        raise ValueError(f"phase='mixed' for zoo workload {name!r} (model_type {mt!r}): a continuous-batching "
                         f"step is built for model families {', '.join(FAMILIES)} only; zoo workloads that have "
                         f"one: {', '.join(mixed_names())}")
    given = [k for k in NOT_MIXED if args.get(k) is not None]
    if given:
        raise ValueError(f"{given[0]}={args[given[0]]!r} for zoo workload {name!r}: expected None with "
                         f"phase='mixed' (a continuous-batching step takes {', '.join(_MIXED_KEYS)})")
    batch, prefill = args.get("batch", 1), args.get("prefill", 1)
    for key, n in (("batch", batch), ("prefill", prefill)):
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise ValueError(f"{key}={n!r}: expected a non-negative integer (requests in the mixed step)")
    if batch + prefill == 0:
        raise ValueError("batch=0 and prefill=0: expected at least one decode or prefill request in the mixed step")
    limit = cfg.get("max_position_embeddings")
    seq_len = args.get("seq_len") or limit or 2048
    kv_len = args.get("kv_len") or seq_len
    for key, n in (("seq_len", seq_len), ("kv_len", kv_len)):
        if not isinstance(n, int) or isinstance(n, bool) or n <= 0:
            raise ValueError(f"{key}={n!r}: expected a positive integer")
        if limit and n > limit:
            raise ValueError(f"{key}={n}: expected at most {limit}, the positions of {name!r} (config key "
                             f"max_position_embeddings)")
    return serving_step(cfg, decode=batch, context_len=kv_len, prefill=prefill, prompt_len=seq_len,
                         routing=args.get("routing"), w_format=args.get("w_format"), a_format=args.get("a_format"),
                         name=args.get("name"))


_MIXED_KEYS = ("batch", "prefill", "seq_len", "kv_len", "w_format", "a_format", "routing", "name")
