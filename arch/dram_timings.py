"""Named DRAM timing presets (`DramTiming`), usable as ``timing: <name>`` in a memory tier.

All latencies are in memory-clock cycles (tCK).  ``bus_bits`` is the width of one channel's data bus;
``pseudo_channels`` split it into independent halves (each with its own banks and command stream), so a
device's peak is ``channels * bus_bits / 8 * data_rate / tck`` (see `sim.dram.peak_bandwidth`).
``burst_bytes`` is one column access (BL x pseudo-channel width).

Sources, per preset (each preset's ``source`` field repeats them):

- ``hbm2``, ``ddr4_3200``: DRAMsim3's configurations (github.com/umd-memsys/DRAMsim3,
  ``configs/HBM2_8Gb_x128.ini`` and ``configs/DDR4_8Gb_x8_3200.ini``), whose figures are the JEDEC speed
  bins (JESD235 HBM2 at 2 Gb/s/pin in legacy 128-bit mode; JESD79-4 DDR4-3200AA, 8 Gb x8 dies).
- ``ddr5_4800``: Ramulator 2's ``DDR5_4800AN`` speed bin (JESD79-5 DDR5-4800AN: CL/tRCD/tRP 34, tRAS 77,
  tWR 72, tCCD_S/L 8/12 at tCK 0.416 ns); tRRD_S 8 tCK, tRRD_L 5 ns, tFAW 13.3 ns (x8, 1 KB page),
  tRFC 295 ns (16 Gb), tREFI 3.9 us: JESD79-5 datasheet-typical values, converted and rounded up.
- ``hbm2e``, ``hbm3``, ``lpddr5_6400``: datasheet-typical nanosecond values (JESD235C HBM2E at 3.2 Gb/s,
  JESD238 HBM3 at 6.4 Gb/s, JESD209-5 LPDDR5-6400 x16, bank-group mode), converted to cycles at the
  preset's tCK and rounded up.  These are representative of vendor datasheets of those standards, not the
  figures of one named part: tRCD/tRP 14 ns (HBM) or 18 ns (LPDDR5), tRAS 33 ns (HBM) or 42 ns (LPDDR5),
  tRRD_S/L 4/6 ns (HBM) or 5 ns (LPDDR5), tFAW 16 ns (HBM) or 20 ns (LPDDR5), tWR 16 ns (HBM) or 34 ns
  (LPDDR5), tRFC 350 ns (HBM, 8-16 Gb dies) or 210 ns (LPDDR5 8 Gb, all-bank), tREFI 3.9 us.

Write turnaround (``t_cwl``, ``t_wtr_s``, ``t_wtr_l``, ``t_rtw``; `sim.dram` charges them where reads and
writes mix): ``hbm2`` from DRAMsim3's HBM2_8Gb_x128.ini (CWL 4, tWTR_S 6, tWTR_L 8 tCK); ``ddr4_3200`` JESD79-4
DDR4-3200AA (CWL 16 for CL 22 with a 1 tCK write preamble; tWTR_S = max(2 nCK, 2.5 ns), tWTR_L = max(4 nCK,
7.5 ns)); ``ddr5_4800`` JESD79-5 (CWL = CL - 2; tWTR_S = max(4 nCK, 2.5 ns), tWTR_L = max(16 nCK, 10 ns));
``lpddr5_6400`` JESD209-5 datasheet-typical (tWTR_S 6.25 ns, tWTR_L 12 ns; WL 11 ns, assumed from WL 9 nCK at
the 800 MHz command clock of LPDDR5-6400 set A, rounded down); ``hbm2e``, ``hbm3`` assumed: HBM2's DRAMsim3 figures
carried over in nanoseconds (CWL 4 ns, tWTR_S 6 ns, tWTR_L 8 ns), as for their other datasheet-typical values.
``t_rtw`` everywhere is JEDEC's minimum read-to-write spacing RL + BL/2 - WL + 2 tCK (one write-preamble and one
turnaround cycle; Ramulator 2's HBM3 and DDR4 models use the same form) with BL/2 = tBL.

Left out: tRTP, per-bank refresh, rank switching.
"""

from __future__ import annotations

import math

from arch.spec import DramTiming


def _cyc(ns: float, tck_ns: float) -> int:
    """A nanosecond figure in whole cycles, rounded up (as a controller must)."""
    return max(1, math.ceil(ns / tck_ns - 1e-9))


def _from_ns(name: str, tck_ns: float, source: str, *, t_rcd: float, t_rp: float, t_ras: float, t_cl: float,
             t_rrd_s: float, t_rrd_l: float, t_faw: float, t_wr: float, t_rfc: float, t_refi: float,
             t_cwl: float, t_wtr_s: float, t_wtr_l: float, wtr_min_nck: tuple[int, int] = (1, 1),
             **org: int) -> DramTiming:
    ns = dict(t_rcd=t_rcd, t_rp=t_rp, t_ras=t_ras, t_cl=t_cl, t_rrd_s=t_rrd_s, t_rrd_l=t_rrd_l, t_faw=t_faw,
              t_wr=t_wr, t_rfc=t_rfc, t_refi=t_refi, t_cwl=t_cwl, t_wtr_s=t_wtr_s, t_wtr_l=t_wtr_l)
    cyc = {k: _cyc(v, tck_ns) for k, v in ns.items()}
    cyc["t_wtr_s"] = max(cyc["t_wtr_s"], wtr_min_nck[0])
    cyc["t_wtr_l"] = max(cyc["t_wtr_l"], wtr_min_nck[1])
    t = DramTiming(name=name, tck_ns=tck_ns, source=source, **cyc, **org)
    return t.model_copy(update={"t_rtw": _rtw(t)})


def _rtw(t: DramTiming) -> int:
    """JEDEC's minimum read-to-write command spacing RL + BL/2 - WL + 2 tCK (module docstring)."""
    tbl = max(1, math.ceil(t.burst_bytes * 8 / (t.bus_bits / t.pseudo_channels * t.data_rate) - 1e-9))
    return max(1, t.t_cl + tbl + 2 - (t.t_cwl or t.t_cl))


DRAM_TIMINGS: dict[str, DramTiming] = {
    "hbm2": DramTiming(
        name="hbm2", tck_ns=1.0, channels=8, pseudo_channels=1, bank_groups=4, banks_per_group=4,
        row_bytes=1024, burst_bytes=64, bus_bits=128, data_rate=2,
        t_rcd=14, t_rp=14, t_ras=34, t_cl=14, t_ccd_s=1, t_ccd_l=2, t_rrd_s=4, t_rrd_l=6, t_faw=30, t_wr=16,
        t_rfc=260, t_refi=3900, t_cwl=4, t_wtr_s=6, t_wtr_l=8, t_rtw=14 + 2 + 2 - 4,
        source="JESD235 HBM2, 2 Gb/s/pin, legacy mode, one 8-channel stack (256 GB/s); "
               "DRAMsim3 configs/HBM2_8Gb_x128.ini (columns 64 x 128 bit = 1 KiB row, BL4 = 64 B)",
    ),
    "hbm2e": _from_ns(
        "hbm2e", 0.625,
        "JESD235C HBM2E, 3.2 Gb/s/pin, pseudo-channel mode, one 8-channel stack (409.6 GB/s); "
        "datasheet-typical ns values (module docstring), tCCD_S/L 2/4 tCK",
        t_rcd=14, t_rp=14, t_ras=33, t_cl=14, t_rrd_s=4, t_rrd_l=6, t_faw=16, t_wr=16, t_rfc=350, t_refi=3900,
        t_cwl=4, t_wtr_s=6, t_wtr_l=8,
        channels=8, pseudo_channels=2, bank_groups=4, banks_per_group=4, row_bytes=1024, burst_bytes=32,
        bus_bits=128, data_rate=2, t_ccd_s=2, t_ccd_l=4,
    ),
    "hbm3": _from_ns(
        "hbm3", 0.3125,
        "JESD238 HBM3, 6.4 Gb/s/pin, 16 channels x 64 bit as 2 pseudo-channels, one stack (819.2 GB/s); "
        "datasheet-typical ns values (module docstring), BL8 on 32 bit = 32 B, tCCD_S/L 4/8 tCK",
        t_rcd=14, t_rp=14, t_ras=33, t_cl=14, t_rrd_s=4, t_rrd_l=6, t_faw=16, t_wr=16, t_rfc=350, t_refi=3900,
        t_cwl=4, t_wtr_s=6, t_wtr_l=8,
        channels=16, pseudo_channels=2, bank_groups=4, banks_per_group=4, row_bytes=1024, burst_bytes=32,
        bus_bits=64, data_rate=2, t_ccd_s=4, t_ccd_l=8,
    ),
    "ddr4_3200": DramTiming(
        name="ddr4_3200", tck_ns=0.625, channels=1, pseudo_channels=1, bank_groups=4, banks_per_group=4,
        row_bytes=8192, burst_bytes=64, bus_bits=64, data_rate=2,
        t_rcd=22, t_rp=22, t_ras=52, t_cl=22, t_ccd_s=4, t_ccd_l=8, t_rrd_s=4, t_rrd_l=8, t_faw=34, t_wr=24,
        t_rfc=560, t_refi=12480, t_cwl=16, t_wtr_s=4, t_wtr_l=12, t_rtw=22 + 4 + 2 - 16,
        source="JESD79-4 DDR4-3200AA, one 64-bit channel of 8 Gb x8 dies, one rank (25.6 GB/s); "
               "DRAMsim3 configs/DDR4_8Gb_x8_3200.ini (1024 columns x 8 devices = 8 KiB row, BL8 = 64 B)",
    ),
    "ddr5_4800": _from_ns(
        "ddr5_4800", 0.416,
        "JESD79-5 DDR5-4800AN, one DIMM channel = 2 sub-channels x 32 bit (pseudo-channels), 16 Gb x8 dies, "
        "8 bank groups x 4 banks, BL16 = 64 B (38.4 GB/s); CL/tRCD/tRP/tRAS/tWR/tCCD from Ramulator 2's "
        "DDR5_4800AN, the rest datasheet-typical (module docstring)",
        t_rcd=34 * 0.416, t_rp=34 * 0.416, t_ras=77 * 0.416, t_cl=34 * 0.416, t_rrd_s=8 * 0.416, t_rrd_l=5.0,
        t_faw=13.333, t_wr=72 * 0.416, t_rfc=295, t_refi=3900, t_cwl=32 * 0.416, t_wtr_s=2.5, t_wtr_l=10.0,
        wtr_min_nck=(4, 16),
        channels=1, pseudo_channels=2, bank_groups=8, banks_per_group=4, row_bytes=4096, burst_bytes=64,
        bus_bits=64, data_rate=2, t_ccd_s=8, t_ccd_l=12,
    ),
    "lpddr5_6400": _from_ns(
        "lpddr5_6400", 0.3125,
        "JESD209-5 LPDDR5-6400, x64 package = 4 channels x 16 bit, 8 Gb dies in bank-group mode "
        "(4 x 4 banks), 2 KiB row, BL16 = 32 B (51.2 GB/s); tCK here is one data-rate/2 cycle (3.2 GHz) so "
        "that data_rate is 2; datasheet-typical ns values (module docstring), tCCD_S/L 8/16 tCK",
        t_rcd=18, t_rp=18, t_ras=42, t_cl=17, t_rrd_s=5, t_rrd_l=5, t_faw=20, t_wr=34, t_rfc=210, t_refi=3900,
        t_cwl=11, t_wtr_s=6.25, t_wtr_l=12,
        channels=4, pseudo_channels=1, bank_groups=4, banks_per_group=4, row_bytes=2048, burst_bytes=32,
        bus_bits=16, data_rate=2, t_ccd_s=8, t_ccd_l=16,
    ),
}


def dram_timing(name: str) -> DramTiming:
    """A copy of the named preset; an unknown name raises `KeyError` listing the known ones."""
    if name not in DRAM_TIMINGS:
        raise KeyError(f"unknown DRAM timing {name!r}; expected one of {', '.join(DRAM_TIMINGS)}")
    return DRAM_TIMINGS[name].model_copy(deep=True)
