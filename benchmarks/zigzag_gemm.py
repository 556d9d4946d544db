"""ZigZag's side of `bench_dse.py`'s comparison: one GEMM layer on a sweep of TPU-like array shapes.

Runs under a Python that has ZigZag (``pip install zigzag-dse`` in a throwaway venv; it imports nothing
from coex), reads a JSON job on stdin and prints one JSON object on stdout:

    {"gemm": [M, N, K], "points": [[rows, cols], ...], "lpf_limit": 4}
    -> {"zigzag": "3.9.1", "points": [{"rows", "cols", "seconds", "latency_cycles", "ideal_cycles",
                                        "energy_pj"}, ...]}

Each design point is ZigZag's own ``inputs/hardware/tpu_like.yaml`` (a weight-stationary systolic
array, 2 MB activation/output SRAM, a 64-bit-per-cycle DRAM port) with its operational array resized
to ``rows x cols``, the GEMM ``O[d][k] += I[d][c] * W[c][k]`` (D = M tokens, K = N outputs, C = K
reduction; 8-bit I/W, 16-bit partial sums as the tpu_like output registers hold) spatially unrolled K
over the rows and C over the columns, and ZigZag's latency-optimal temporal mapping found by its LOMA
search with ``lpf_limit`` (its default is 6; fewer loop prime factors search fewer orderings).
``seconds`` is the wall time of ``get_hardware_performance_zigzag`` for that point, parsing included.
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    import yaml
    import zigzag
    from zigzag.api import get_hardware_performance_zigzag

    job = json.load(sys.stdin)
    m, n, k = job["gemm"]
    logging.disable(logging.WARNING)  # ZigZag logs every stage at INFO
    inputs = Path(zigzag.__file__).parent / "inputs"
    hardware = yaml.safe_load((inputs / "hardware" / "tpu_like.yaml").read_text())
    layer = [{"id": 0, "name": "gemm", "operator_type": "Gemm", "equation": "O[d][k]+=I[d][c]*W[c][k]",
              "loop_dims": ["D", "K", "C"], "loop_sizes": [m, n, k],
              "operand_precision": {"W": 8, "I": 8, "O": 16, "O_final": 8}, "operand_source": {"I": 0}}]
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "gemm.yaml").write_text(yaml.safe_dump(layer))
        for rows, cols in job["points"]:
            hw = dict(hardware, operational_array={**hardware["operational_array"], "sizes": [rows, cols]})
            (d / "hw.yaml").write_text(yaml.safe_dump(hw, sort_keys=False))
            mapping = [{"name": "default", "spatial_mapping": {"D1": [f"K, {rows}"], "D2": [f"C, {cols}"]},
                        "memory_operand_links": {"O": "O", "W": "I2", "I": "I1"}}]
            (d / "mapping.yaml").write_text(yaml.safe_dump(mapping))
            t = time.perf_counter()
            energy, latency, cmes = get_hardware_performance_zigzag(
                str(d / "gemm.yaml"), str(d / "hw.yaml"), str(d / "mapping.yaml"), opt="latency",
                dump_folder=str(d / "out"), lpf_limit=job.get("lpf_limit", 4), loma_show_progress_bar=False)
            seconds = time.perf_counter() - t
            cme = cmes[0][0]
            out.append({"rows": rows, "cols": cols, "seconds": seconds, "latency_cycles": float(latency),
                        "ideal_cycles": float(cme.ideal_cycle), "energy_pj": float(energy)})
    print(json.dumps({"zigzag": getattr(zigzag, "__version__", _version()), "points": out}))


def _version() -> str:
    from importlib.metadata import version

    return version("zigzag-dse")


if __name__ == "__main__":
    main()
