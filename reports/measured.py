"""A measured decoder layer next to the modelled one (issue 10): when `dse sim` runs a GPU preset whose efficiencies
were fitted on a CSV in ``data/gpu/`` (`scripts/fit_gpu.py`) and that CSV holds a ``layer`` row of exactly the
simulated shape -- model, phase, batch, query length, KV length and dtype -- the report shows the measured layer
time (per timing mode: one CUDA graph, eager PyTorch) beside the modelled median decoder layer.

Which CSV: every unit of the accelerator is a ``gpu`` unit on one socket whose ``efficiency.source`` is the fit
script's own line (it starts with ``scripts/fit_gpu.py`` and names the file as "training half of <file>.csv"); a
preset that inherited another GPU's fit (``gpu-a100``: "the h100 preset's fit, inherited") has no measurements of
its own and gets none.  Any other shape: nothing is said.  The modelled layer is the median over the graph's
layers of the summed op time of each layer's ``attn`` and ``mlp`` blocks (`tests/validation/test_gpu.py`'s
figure).  Plain Python (the csv module): the console path imports no pandas.
"""

from __future__ import annotations

import csv
import math
import re
import statistics
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT / "data" / "gpu"
MODES = {"graph": "CUDA graph", "eager": "eager PyTorch"}
_FIT_SOURCE = re.compile(r"^scripts/fit_gpu\.py\b.*?training half of (\S+\.csv)")


def fit_csv(accelerator: Any) -> Path | None:
    """The ``data/gpu`` CSV the accelerator's GPU efficiencies were fitted on (module docstring), or None."""
    units = list(accelerator.units)
    if not units or accelerator.sockets != 1 or any(u.type != "gpu" for u in units):
        return None
    names = set()
    for u in units:
        m = _FIT_SOURCE.match(u.efficiency.source or "")
        if m is None:
            return None
        names.add(m.group(1))
    if len(names) != 1:
        return None
    path = DATA_DIR / names.pop()
    return path if path.is_file() else None


def read_csv(path: Path) -> tuple[dict[str, str], list[dict[str, str]]]:
    """(provenance from the ``# key: value`` header lines, data rows as dicts of strings)."""
    meta: dict[str, str] = {}
    lines = []
    with path.open(newline="") as f:
        for line in f:
            if line.startswith("#"):
                key, _, value = line[1:].partition(":")
                meta[key.strip()] = value.strip()
            elif line.strip():
                lines.append(line)
    return meta, list(csv.DictReader(lines))


def _int(v: str) -> int | None:
    try:
        return int(float(v))
    except ValueError:
        return None


def modelled_layer_s(result: Any) -> tuple[float, int] | None:
    """(median over layers of the summed ``attn`` + ``mlp`` op time, number of layers), or None without layers."""
    try:
        layers, blocks = result.column("tag_layer"), result.column("tag_block")
    except KeyError:
        return None
    per: dict[Any, list[float]] = {}
    for layer, block, t in zip(layers, blocks, result.column("latency_s")):
        if block in ("attn", "mlp") and layer is not None and layer == layer:
            per.setdefault(layer, []).append(t)
    if not per:
        return None
    return statistics.median(math.fsum(v) for v in per.values()), len(per)


def measured_layer(graph: Any, accelerator: Any, result: Any) -> dict[str, Any] | None:
    """The measured decoder layer of the simulated shape next to the modelled median layer (module docstring):
    ``{"source", "gpu", "torch", "model", "phase", "batch", "q_len", "kv_len", "dtype", "measured_s": {mode: s},
    "modelled_layer_s", "layers", "lines"}`` (``lines``: what the console and the reports print), or None."""
    path = fit_csv(accelerator)
    meta = getattr(graph, "meta", {}) or {}
    if path is None or "prefill" in meta or meta.get("phase") not in ("decode", "prefill"):
        return None
    dtype = meta.get("dtype")
    if not dtype or meta.get("w_format") != dtype or meta.get("a_format") != dtype or meta.get("group_size"):
        return None
    model = str(graph.name).replace("-", "_").replace(".", "_")
    want = {"op": f"{model}_{meta['phase']}_layer", "dtype": dtype}
    shape = {"batch": meta.get("batch"), "q_len": meta.get("seq_len"), "kv_len": meta.get("kv_len")}
    prov, rows = read_csv(path)
    found: dict[str, float] = {}
    for r in rows:
        if r.get("family") != "layer" or any(r.get(k) != v for k, v in want.items()):
            continue
        if any(_int(r.get(k, "")) != v for k, v in shape.items()):
            continue
        mode = r.get("mode") or "graph"
        found.setdefault(mode, float(r["time_s"]))
    modelled = modelled_layer_s(result)
    if not found or modelled is None:
        return None
    layer_s, n_layers = modelled
    gpu = prov.get("gpu", "the measured GPU")
    rel = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    torch = prov.get("torch", "?")
    lines = []
    for mode in sorted(found, key=lambda m: (m not in MODES, list(MODES).index(m) if m in MODES else 0, m)):
        t = found[mode]
        why = " (bound by Python launch overhead, not the GPU)" if mode == "eager" else ""
        lines.append(f"measured decoder layer on an {gpu} ({rel}, {MODES.get(mode, mode)}, torch {torch}): "
                     f"{t * 1e6:.1f} us{why}; modelled median layer {layer_s * 1e6:.1f} us ({layer_s / t - 1:+.0%})")
    return {"source": str(rel), "gpu": gpu, "torch": torch, "model": graph.name, "phase": meta["phase"],
            **shape, "dtype": dtype, "measured_s": found, "modelled_layer_s": layer_s, "layers": n_layers,
            "lines": lines}
