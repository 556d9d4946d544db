"""Fit `sim.gpu`'s named efficiency terms on the training half of measured kernel times; write them into a preset.

    python scripts/fit_gpu.py                       # fit on data/gpu/gpu_h100.csv, print the training errors
    python scripts/fit_gpu.py --write               # ... and write the fitted block into arch/presets/h100.yaml
    python scripts/fit_gpu.py --families softmax --write   # refit only softmax's terms from the preset's fit
                                                    #     and (inherited, no measurements of its own) gpu-a100.yaml

The split is deterministic: a row is in the training half when the SHA-1 of its shape key (family, op,
dtype and every shape column, `shape_key`) is even, else it is held out for `tests/validation/test_gpu.py`.
Only training rows are looked at here.  Layer rows (whole decoder layers) are never fitted.

Fit: coordinate descent over the parameters in `PARAMS` (each over its physical range: a 17-point
log/linear grid, then golden-section refinement around the best point), 4 sweeps, minimising the mean
over families of each family's mean soft-L1 of log(predicted / measured) (scale 5 %); rows under
20 us weigh 0.3 (they pin `launch_s` without dominating).  Predictions call `sim.gpu.kernel_time_s`
directly (one op is one kernel; SDPA is its score and context halves); the validation test goes through
`sim.simulate` and must agree.

This module is also imported by the validation test (`load`, `half`, `row_ops`, `error_table`).
"""

from __future__ import annotations

import argparse
import hashlib
import math
import re
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import arch  # noqa: E402
from arch.spec import GpuEfficiency  # noqa: E402
from sim import gpu  # noqa: E402
from workloads import attention, eltwise, gemm, norm, softmax  # noqa: E402
from workloads.op import Dims, Op  # noqa: E402

DATA = ROOT / "data" / "gpu" / "gpu_h100.csv"
SHAPE_COLUMNS = ["family", "op", "dtype", "batch", "m", "n", "k", "rows", "cols", "inputs", "heads", "kv_heads",
                 "q_len", "kv_len", "head_dim", "causal"]
FAMILIES = ["gemm", "eltwise", "norm", "softmax", "sdpa_prefill", "sdpa_decode"]
#: keys of the per-kind ``stream_*`` efficiency tables -> the family whose rows fit them
STREAM_KEYS = {"eltwise": "eltwise", "norm": "norm", "rmsnorm": "norm", "softmax": "softmax"}
MIN_TIME_S = 20e-6  # the acceptance threshold: rows at least this long are judged
SMALL_WEIGHT = 0.3
FLOPS_PER_ELEM = {"add": 1, "mul": 1, "silu": 4, "gelu": 8}


# ---- rows -------------------------------------------------------------------------------------------------


def load(path: Path | str = DATA) -> pd.DataFrame:
    """Measured rows with a time (comment lines skipped); shape columns as ints where numeric."""
    df = pd.read_csv(path, comment="#")
    df = df[df["time_s"].notna()].copy()
    for c in SHAPE_COLUMNS[3:]:
        df[c] = df[c].fillna(0).astype(int)
    return df.reset_index(drop=True)


def provenance(path: Path | str = DATA) -> dict[str, str]:
    """The ``# key: value`` header lines of a measured CSV."""
    out = {}
    for line in Path(path).read_text().splitlines():
        if not line.startswith("#"):
            break
        key, _, value = line[1:].partition(":")
        out[key.strip()] = value.strip()
    return out


def shape_key(row: Any) -> str:
    return "|".join(str(row[c]) for c in SHAPE_COLUMNS)


def half(row: Any) -> str:
    """'train' or 'test', from the SHA-1 of the row's shape key (stable across runs and machines)."""
    return "train" if int(hashlib.sha1(shape_key(row).encode()).hexdigest()[:8], 16) % 2 == 0 else "test"


def row_ops(row: Any) -> list[Op]:
    """The coex ops whose kernels a measured row timed (SDPA: its score and context halves)."""
    fam, dt = row["family"], row["dtype"]
    if fam == "gemm":
        return [gemm(row["m"], row["n"], row["k"], dtype=dt, batch=row["batch"], weights=row["batch"] == 1)]
    if fam == "eltwise":
        return [eltwise(row["rows"], row["cols"], inputs=row["inputs"], flops_per_elem=FLOPS_PER_ELEM[row["op"]],
                        dtype=dt)]
    if fam == "norm":
        return [norm(row["rows"], row["cols"], affine=2 if row["op"] == "layer_norm" else 1, dtype=dt)]
    if fam == "softmax":
        return [softmax(row["rows"], row["cols"], dtype=dt)]
    if fam in ("sdpa_prefill", "sdpa_decode"):
        extra = {"kv_group": row["heads"] // row["kv_heads"], "causal": int(row["causal"])}
        ops = []
        for part in ("score", "context"):
            op = attention(row["q_len"], row["kv_len"], row["head_dim"], row["heads"], batch=row["batch"], part=part,
                           dtype=dt)
            ops.append(op.replace(dims=Dims({**op.dims, **extra})))
        return ops
    raise ValueError(f"no ops for family {fam!r}")


def error_table(df: pd.DataFrame, pred: str = "pred_s", min_time_s: float = MIN_TIME_S) -> pd.DataFrame:
    """Per family: rows, median and 90th-percentile absolute relative error, worst, signed median (bias)."""
    d = df[df["time_s"] >= min_time_s]
    rel = (d[pred] - d["time_s"]) / d["time_s"]
    out = []
    for fam in [f for f in FAMILIES if f in set(d["family"])]:
        r = rel[d["family"] == fam]
        out.append({"family": fam, "n": len(r), "median_abs_err": float(np.median(r.abs())),
                    "p90_abs_err": float(np.percentile(r.abs(), 90)), "max_abs_err": float(r.abs().max()),
                    "median_err": float(np.median(r))})
    return pd.DataFrame(out)


# ---- fitting ----------------------------------------------------------------------------------------------

#: (name, dict key or None, low, high, log scale, families it affects)
PARAMS: list[tuple[str, str | None, float, float, bool, tuple[str, ...]]] = [
    ("launch_s", None, 0.5e-6, 8e-6, True, tuple(FAMILIES)),
    ("gemm_hbm_eff", None, 0.5, 1.0, False, ("gemm",)),
    ("gemm_tile_s", None, 0.0, 4e-6, False, ("gemm",)),
    ("sm_feed_gbps", None, 30.0, 1000.0, True, ("gemm",)),
    *[("gemm_compute_eff", f, 0.2, 1.0, False, ("gemm",)) for f in ("bf16", "fp16", "fp32", "tf32", "fp8", "int8")],
    ("overlap_exponent", None, 1.0, 12.0, True, tuple(FAMILIES)),
    *[("stream_hbm_eff", k, 0.2, 1.0, False, (f,)) for k, f in STREAM_KEYS.items()],
    *[("stream_vector_eff", k, 0.003, 1.0, True, (f,)) for k, f in STREAM_KEYS.items() if f != "eltwise"],
    *[("wide_row_eff", k, 0.003, 1.0, True, (f,)) for k, f in STREAM_KEYS.items() if f != "eltwise"],
    ("gmem_row_eff", "softmax", 0.003, 1.0, True, ("softmax",)),
    ("attn_compute_eff", None, 0.3, 1.0, False, ("sdpa_prefill", "sdpa_decode")),
    ("attn_exp_s", None, 0.0, 1.5e-10, False, ("sdpa_prefill", "sdpa_decode")),
    ("attn_hbm_eff", None, 0.5, 1.0, False, ("sdpa_prefill", "sdpa_decode")),
    ("attn_fixed_s", None, 0.0, 2e-5, False, ("sdpa_prefill", "sdpa_decode")),
]


def _get(values: dict, name: str, key: str | None) -> float:
    return values[name].get(key, 1.0) if key else values[name]


def _set(values: dict, name: str, key: str | None, x: float) -> None:
    if key:
        values[name] = {**values[name], key: x}
    else:
        values[name] = x


class Problem:
    """Training rows with their ops, and a fast loss over a family subset for a dict of efficiency values."""

    def __init__(self, rows: pd.DataFrame, unit: Any, hbm: float, l2: float):
        self.rows = rows.reset_index(drop=True)
        self.ops = [row_ops(r) for _, r in self.rows.iterrows()]
        self.meas = self.rows["time_s"].to_numpy()
        self.weight = np.where(self.meas >= MIN_TIME_S, 1.0, SMALL_WEIGHT)
        self.family = self.rows["family"].to_numpy()
        self.unit, self.hbm, self.l2 = unit, hbm, l2

    def _unit(self, values: dict) -> Any:
        u = self.unit
        return SimpleNamespace(name=u.name, sms=u.sms, tensor_tflops=u.tensor_tflops, vector_tflops=u.vector_tflops,
                               l2_bytes=u.l2_bytes,
                               efficiency=SimpleNamespace(**values))

    def predict(self, values: dict, idx: np.ndarray | None = None) -> np.ndarray:
        unit = self._unit(values)
        idx = np.arange(len(self.ops)) if idx is None else idx
        return np.array([sum(gpu.kernel_time_s(op, unit, self.hbm, self.l2) for op in self.ops[i]) for i in idx])

    def loss(self, values: dict, families: tuple[str, ...]) -> float:
        total = 0.0
        fams = [f for f in families if (self.family == f).any()]
        for fam in fams:
            idx = np.flatnonzero(self.family == fam)
            r = np.log(self.predict(values, idx) / self.meas[idx])
            soft = np.sqrt(1.0 + (r / 0.05) ** 2) - 1.0
            total += float((soft * self.weight[idx]).sum() / self.weight[idx].sum())
        return total / max(1, len(fams))


def _search(f, lo: float, hi: float, log: bool, x0: float) -> float:
    """Minimise f on [lo, hi]: a 17-point grid (plus x0), then golden-section between the best's neighbours."""
    to = (lambda x: math.log(x)) if log else (lambda x: x)
    back = (lambda y: math.exp(y)) if log else (lambda y: y)
    a, b = to(lo), to(hi)
    grid = sorted({*np.linspace(a, b, 17).tolist(), to(min(max(x0, lo), hi))})
    vals = [f(back(y)) for y in grid]
    i = int(np.argmin(vals))
    a, b = grid[max(0, i - 1)], grid[min(len(grid) - 1, i + 1)]
    g = (math.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = f(back(c)), f(back(d))
    for _ in range(14):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = f(back(c))
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = f(back(d))
    best = min([(vals[i], grid[i]), (fc, c), (fd, d)])
    return back(best[1])


def fit(problem: Problem, start: GpuEfficiency, sweeps: int = 4, verbose: bool = True,
        families: tuple[str, ...] | None = None) -> GpuEfficiency:
    """Coordinate descent over `PARAMS` from `start` (module docstring); returns the fitted terms.  With
    `families`, only the parameters that affect nothing but those families move (the rest keep `start`'s)."""
    values = start.model_dump(exclude={"source"})
    params = [p for p in PARAMS if families is None or set(p[5]) <= set(families)]
    for sweep in range(sweeps):
        for name, key, lo, hi, log, fams in params:
            def f(x: float, name=name, key=key, fams=fams) -> float:
                trial = dict(values)
                _set(trial, name, key, x)
                return problem.loss(trial, fams)
            _set(values, name, key, _search(f, lo, hi, log, _get(values, name, key)))
        if verbose:
            print(f"sweep {sweep + 1}: loss {problem.loss(values, tuple(FAMILIES)):.4f}", flush=True)
    return GpuEfficiency(**values)


# ---- preset -----------------------------------------------------------------------------------------------

BEGIN, END = "# >>> fitted by scripts/fit_gpu.py (do not edit by hand)", "# <<< fitted"


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def efficiency_yaml(eff: GpuEfficiency, indent: str) -> str:
    lines = [f"{indent}{BEGIN}", f"{indent}efficiency:"]
    for name, value in eff.model_dump().items():
        if name == "source":
            continue
        if isinstance(value, dict):
            inner = ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items())
            lines.append(f"{indent}  {name}: {{{inner}}}")
        else:
            lines.append(f"{indent}  {name}: {_fmt(value)}")
    lines.append(f'{indent}  source: "{eff.source}"')
    lines.append(f"{indent}{END}")
    return "\n".join(lines) + "\n"


def write_preset(path: Path, eff: GpuEfficiency) -> None:
    """Replace the fitted block of the preset's gpu unit (between the BEGIN/END markers) with `eff`."""
    text = path.read_text()
    pattern = re.compile(r"^([ \t]*)" + re.escape(BEGIN) + r".*?^[ \t]*" + re.escape(END) + r"\n", re.M | re.S)
    m = pattern.search(text)
    if not m:
        raise SystemExit(f"{path}: no block between {BEGIN!r} and {END!r} to replace")
    path.write_text(text[:m.start()] + efficiency_yaml(eff, m.group(1)) + text[m.end():])


#: presets without measurements of their own that inherit a preset's fit when it is written
INHERIT = {"h100": ["gpu-a100"]}


def inherited(eff: GpuEfficiency, from_preset: str) -> GpuEfficiency:
    """`eff` for a GPU that was not measured: the same terms, its source saying whose fit they are."""
    return eff.model_copy(update={"source": f"the {from_preset} preset's fit, inherited (not measured on this GPU): "
                                            f"{eff.source}"})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--csv", default=str(DATA))
    ap.add_argument("--preset", default="h100", help="preset whose gpu unit and memory the fit uses")
    ap.add_argument("--write", action="store_true", help="write the fitted block into the preset's YAML")
    ap.add_argument("--sweeps", type=int, default=4)
    ap.add_argument("--families", nargs="+", choices=FAMILIES,
                    help="refit only the terms of these families, starting from the preset's fit (others unchanged)")
    args = ap.parse_args(argv)

    acc = arch.load(args.preset)
    unit = acc.units_of("gpu")[0]
    hbm, l2 = gpu.bandwidths(acc)
    df = load(args.csv)
    df = df[df["family"].isin(FAMILIES)]
    train = df[[half(r) == "train" for _, r in df.iterrows()]]
    print(f"{len(train)} training rows of {len(df)} ({args.csv})", flush=True)
    t0 = time.time()
    problem = Problem(train, unit, hbm, l2)
    fams = tuple(args.families) if args.families else None
    start = unit.efficiency if fams else GpuEfficiency()
    eff = fit(problem, start, sweeps=args.sweeps, families=fams)
    prov = provenance(args.csv)
    redo = f" (then {', '.join(fams)} terms refitted with the rest held)" if fams else ""
    eff.source = (f"scripts/fit_gpu.py{redo} on the {len(train)}-row training half of {Path(args.csv).name} "
                  f"({prov.get('gpu', '?')}, driver {prov.get('driver', '?')}, CUDA {prov.get('cuda', '?')}, "
                  f"torch {prov.get('torch', '?')})")
    print(f"fitted in {time.time() - t0:.0f} s")
    print(efficiency_yaml(eff, ""))
    train = train.assign(pred_s=problem.predict(eff.model_dump(exclude={"source"})))
    print("training-half errors (rows >= 20 us):")
    print(error_table(train).to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    if args.write:
        path = arch.loader.PRESET_DIR / f"{args.preset}.yaml"
        write_preset(path, eff)
        print(f"wrote {path}")
        for other in INHERIT.get(args.preset, []):
            path = arch.loader.PRESET_DIR / f"{other}.yaml"
            write_preset(path, inherited(eff, args.preset))
            print(f"wrote {path} (inherited)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
