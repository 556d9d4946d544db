"""A toy evaluator for the DSE loop's tests: closed forms of a rows x cols array, no simulator.

latency_s = 1e-3 * (64 / rows + 64 / cols) + 1e-6 * rows * cols / 64   (wider arrays are faster until
skew dominates); area_mm2 = 0.01 * rows * cols; energy_j = latency_s * (1 + area_mm2).
A point with rows * cols > 2**15 raises (an "invalid combination").  Environment:
COEX_TOY_SLEEP seconds to sleep per point; COEX_TOY_LOG a file that gets one line per evaluation;
COEX_TOY_CRASH "ROWS,COLS": the process evaluating that point SIGKILLs itself, as the OOM killer would
(only ever set it for runs in worker processes).
"""

from __future__ import annotations

import os
import signal
import time


def evaluate(params: dict) -> dict:
    rows = params.get("units.mxu.rows", 64)
    cols = params.get("units.mxu.cols", 64)
    if os.environ.get("COEX_TOY_LOG"):
        with open(os.environ["COEX_TOY_LOG"], "a") as f:
            f.write(f"{rows},{cols}\n")
    if os.environ.get("COEX_TOY_CRASH") == f"{rows},{cols}":
        os.kill(os.getpid(), signal.SIGKILL)
    if os.environ.get("COEX_TOY_SLEEP"):
        time.sleep(float(os.environ["COEX_TOY_SLEEP"]))
    if rows * cols > 2**15:
        raise ValueError(f"{rows}x{cols} array does not fit the toy die")
    latency = 1e-3 * (64 / rows + 64 / cols) + 1e-6 * rows * cols / 64
    area = 0.01 * rows * cols
    return {"latency_s": latency, "area_mm2": area, "energy_j": latency * (1 + area), "utilization": 0.5}


ZDT_AXES = {"units.mxu.rows": "1..32", "units.mxu.cols": "1..8", "units.vpu.lanes": "1..8",
            "units.mxu.count": "1..4"}


def zdt(params: dict) -> dict:
    """A discrete ZDT1 (Zitzler, Deb & Thiele 2000) over `ZDT_AXES`: f1 = (rows - 1) / 31,
    g = 1 + 9 * mean of the other axes' normalised offsets, f2 = g (1 - sqrt(f1 / g)).
    The true front is the 32 points with every other axis at its first value; random sampling rarely
    lands there.  Reported as latency_s (f1) and energy_j (f2)."""
    f1 = (params["units.mxu.rows"] - 1) / 31
    rest = [(params["units.mxu.cols"] - 1) / 7, (params["units.vpu.lanes"] - 1) / 7,
            (params["units.mxu.count"] - 1) / 3]
    g = 1 + 9 * sum(rest) / len(rest)
    return {"latency_s": f1, "energy_j": g * (1 - (f1 / g) ** 0.5), "area_mm2": 1.0}


def die(evaluator: object, params: dict) -> tuple:
    """A backend task that kills its worker process every time (`dse.backends` task signature)."""
    os.kill(os.getpid(), signal.SIGKILL)
    return None, None


def echo(evaluator: object, params: dict) -> tuple:
    """A backend task that answers with its parameters."""
    return params, None
