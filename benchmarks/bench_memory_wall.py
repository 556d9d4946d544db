"""The SN40L memory wall: sweep SRAM (PMU bytes), HBM and DDR sizes and print where the knees are.

    python benchmarks/bench_memory_wall.py [--out DIR]     (DIR: memory_wall.html with the four curves)

1. HBM per socket vs Llama-2-7B decode latency on one socket: flat while every weight fits in HBM, then
   weights spill to the 9x slower DDR (Table II of arXiv 2405.07518: 1.8 TB/s HBM, 200 GB/s DDR) (knee at the model's weight bytes).
2. PMU bytes vs fused sections and latency (decode and prefill): more SRAM, longer sections, fewer launches
   and less activation traffic.
3. DDR per socket vs the experts an 8-socket node can host (Samba-CoE needs 150 x 13.5 GB + the router).
4. HBM per socket vs the mean Samba-CoE request latency on the 8-socket node: misses (expert loads from DDR)
   stop once the node's HBM holds every expert (knee at (150 + 1) x 13.48 GB / 8).
Figures come from `sim.simulate` and `sim.dataflow.serve_coe`; nothing here is fitted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import arch  # noqa: E402
import sim  # noqa: E402
import workloads  # noqa: E402
from sim.dataflow import expert_slots, serve_coe  # noqa: E402
from workloads.coe import requests, samba_coe  # noqa: E402

GiB = 2**30


def hbm_sweep() -> tuple[pd.DataFrame, float]:
    g = workloads.load("llama2-7b", phase="decode", kv_len=1024)
    need = g.weight_bytes
    rows = []
    for gib in (2, 4, 6, 8, 10, 12, 12.5, 13, 14, 16, 24, 64):
        acc = arch.load("sn40l", {"memory.hbm.capacity_bytes": int(gib * GiB)})
        r = sim.simulate(g, acc)
        rows.append({"hbm_gib": gib, "latency_ms": r.summary["latency_s"] * 1e3,
                     "ddr_gb": r.summary["ddr_bytes"] / 1e9})
    return pd.DataFrame(rows), need / GiB


def sram_sweep() -> pd.DataFrame:
    rows = []
    for kib in (64, 128, 256, 512, 1024, 2048):
        row = {"pmu_kib": kib, "sram_mib": kib * 1040 / 1024}
        for label, kw in (("decode", {"phase": "decode", "kv_len": 1024}), ("prefill", {"seq_len": 2048})):
            g = workloads.load("llama2-7b", **kw)
            r = sim.simulate(g, arch.load("sn40l", {"units.rdu.pmu_bytes": kib * 1024}))
            row[f"{label}_sections"] = r.per_op["tag_section"].nunique()
            row[f"{label}_ms"] = r.summary["latency_s"] * 1e3
        rows.append(row)
    return pd.DataFrame(rows)


def ddr_sweep() -> tuple[pd.DataFrame, float]:
    coe = samba_coe()
    rows = []
    for gib in (64, 128, 192, 256, 320, 512, 1024, 1536):
        hosted = int(8 * gib * GiB // coe.expert_bytes) - 1  # minus the router
        rows.append({"ddr_gib": gib, "experts_hosted": max(0, hosted), "samba_coe_fits": hosted >= coe.experts})
    return pd.DataFrame(rows), coe.weight_bytes / 8 / GiB


def coe_hbm_sweep() -> tuple[pd.DataFrame, float]:
    coe = samba_coe()
    stream = requests(coe, 300, prompt_tokens=512, output_tokens=128, seed=0)
    rows = []
    for gib in (32, 64, 128, 192, 240, 256, 320):
        acc = arch.load("sn40l-node", {"memory.hbm.capacity_bytes": int(gib * GiB)})
        s = serve_coe(coe, stream, acc, devices=8)
        rows.append({"hbm_gib": gib, "slots": expert_slots(coe, acc, 8), "hit_rate": sum(s.hits) / len(s.hits),
                     "mean_ms": s.mean_latency_s * 1e3})
    return pd.DataFrame(rows), (coe.experts * coe.expert_bytes + coe.router_bytes) / 8 / GiB


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, help="write memory_wall.html here")
    args = ap.parse_args()
    pd.set_option("display.width", 140)
    hbm, hbm_knee = hbm_sweep()
    print(f"1. Llama-2-7B decode on one SN40L socket vs HBM (weights {hbm_knee:.2f} GiB)\n"
          f"{hbm.to_string(index=False)}\n")
    sram = sram_sweep()
    print(f"2. fused sections vs PMU bytes (1040 PMUs; Llama-2-7B, one socket)\n{sram.to_string(index=False)}\n")
    ddr, ddr_knee = ddr_sweep()
    print(f"3. experts an 8-socket node hosts vs DDR per socket (Samba-CoE needs {ddr_knee:.0f} GiB)\n"
          f"{ddr.to_string(index=False)}\n")
    coe, coe_knee = coe_hbm_sweep()
    print(f"4. Samba-CoE on the 8-socket node vs HBM per socket (all experts resident from {coe_knee:.0f} GiB)\n"
          f"{coe.to_string(index=False)}")
    if args.out:
        from reports.dataflow import memory_wall_figure

        args.out.mkdir(parents=True, exist_ok=True)
        figs = [
            memory_wall_figure(hbm, "hbm_gib", "latency_ms", knee=hbm_knee, title="Llama-2-7B decode vs HBM"),
            memory_wall_figure(sram, "pmu_kib", "prefill_ms", title="Llama-2-7B prefill vs PMU bytes"),
            memory_wall_figure(ddr, "ddr_gib", "experts_hosted", knee=ddr_knee, title="experts hosted vs DDR"),
            memory_wall_figure(coe, "hbm_gib", "mean_ms", knee=coe_knee, title="Samba-CoE latency vs HBM"),
        ]
        html = "".join(f.to_html(full_html=False, include_plotlyjs=(i == 0)) for i, f in enumerate(figs))
        (args.out / "memory_wall.html").write_text(f"<!doctype html><html><body>{html}</body></html>")
        print(f"\nwrote {args.out / 'memory_wall.html'}")


if __name__ == "__main__":
    main()
