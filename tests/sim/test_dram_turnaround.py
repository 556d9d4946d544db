"""sim.dram write turnaround: the write-to-read (tWTR_S/L after the write's data) and read-to-write (tRTW) rules
probed at their edges, the presets' figures (JEDEC / DRAMsim3, see arch.dram_timings), and the closed form's
bandwidth loss on a stream that mixes read runs and write runs, recomputed here from the timing parameters.

Figures: ddr4_3200 (JESD79-4 DDR4-3200AA: CL 22, CWL 16, tBL 4, tWTR_S 4, tWTR_L 12, tRTW = 22 + 4 + 2 - 16 = 12)
and hbm2 (DRAMsim3 HBM2_8Gb_x128.ini: CL 14, CWL 4, tWTR_S 6, tWTR_L 8, tBL 2, tRTW = 14 + 2 + 2 - 4 = 14)."""

from __future__ import annotations

import numpy as np
import pytest

import arch
from arch.dram_timings import DRAM_TIMINGS, dram_timing
from sim.dram import Command, Param, Timeline, burst_cycles, mixed_stream, stream_cost

RD, WR, ACT = Command.RD, Command.WR, Command.ACT
DDR4 = dram_timing("ddr4_3200")
HBM2 = dram_timing("hbm2")


def _edge(tl: Timeline, cmd: Command, at: int, bank_group: int = 0, bank: int = 0) -> None:
    assert not tl.ready(cmd, at - 1, bank_group, bank)
    assert tl.ready(cmd, at, bank_group, bank)


def _open(tl: Timeline, t, banks) -> int:
    """Activate (bank_group, bank) pairs spaced by tFAW so every later column command is limited by the turnaround
    rules alone; returns the first cycle after them at which all rows are open."""
    at = 0
    for bg, b in banks:
        tl.issue(ACT, at, bg, b)
        at += t.t_faw
    return at + t.t_rcd


def test_presets_carry_the_published_turnaround_figures():
    assert (DDR4.t_cwl, DDR4.t_wtr_s, DDR4.t_wtr_l, DDR4.t_rtw) == (16, 4, 12, 12)
    assert (HBM2.t_cwl, HBM2.t_wtr_s, HBM2.t_wtr_l, HBM2.t_rtw) == (4, 6, 8, 14)
    t = arch.load("neupims").tier("hbm").timing
    assert (t.t_cwl, t.t_wtr_s, t.t_wtr_l, t.t_rtw) == (4, 6, 8, 14)
    for name, timing in DRAM_TIMINGS.items():  # every preset: JEDEC's read-to-write spacing
        assert timing.t_rtw == timing.t_cl + burst_cycles(timing) + 2 - timing.t_cwl, name
        assert timing.t_wtr_l >= timing.t_wtr_s >= 1, name


def test_wr_to_rd_same_bank_group_waits_cwl_burst_and_t_wtr_l():
    tl = Timeline(DDR4)
    start = _open(tl, DDR4, [(0, 0), (0, 1)])
    tl.issue(WR, start, 0, 0)
    _edge(tl, RD, start + 16 + 4 + 12, 0, 1)  # CWL + tBL + tWTR_L, another bank of the same group


def test_wr_to_rd_other_bank_group_waits_cwl_burst_and_t_wtr_s():
    tl = Timeline(DDR4)
    start = _open(tl, DDR4, [(0, 0), (1, 0)])
    tl.issue(WR, start, 0, 0)
    _edge(tl, RD, start + 16 + 4 + 4, 1, 0)  # CWL + tBL + tWTR_S


def test_rd_to_wr_waits_t_rtw():
    tl = Timeline(HBM2)
    start = _open(tl, HBM2, [(0, 0), (1, 0)])
    tl.issue(RD, start, 0, 0)
    _edge(tl, WR, start + 14, 1, 0)


def test_write_recovery_counts_from_the_write_latency():
    tl = Timeline(HBM2)
    tl.issue(ACT, 0)
    tl.issue(WR, HBM2.t_rcd)
    _edge(tl, Command.PRE, HBM2.t_rcd + 4 + 2 + 16)  # CWL + tBL + tWR (tRAS 34 is already past)


def test_unset_turnaround_fields_take_their_documented_defaults():
    t = HBM2.model_copy(update={"t_cwl": None, "t_wtr_s": None, "t_wtr_l": None, "t_rtw": None})
    assert Param.T_CWL.cycles(t) == t.t_cl
    assert Param.T_WTR_S.cycles(t) == 0 and Param.T_WTR_L.cycles(t) == 0
    assert Param.T_RTW.cycles(t) == t.t_cl + burst_cycles(t) + 2 - t.t_cl


def test_a_read_only_stream_is_unchanged_by_the_write_flags():
    a, _ = mixed_stream(DDR4, 8, 0, accesses=4096)
    assert stream_cost(a, DDR4).cycles == stream_cost(a, DDR4, is_write=np.zeros(len(a), bool)).cycles


@pytest.mark.parametrize("reads, writes", [(8, 8), (32, 32), (48, 16)])
def test_mixed_read_write_stream_loses_the_bandwidth_the_turnaround_implies(reads, writes):
    """DDR4-3200: one pseudo-channel, 64-byte accesses rotating over the 4 bank groups (one burst each) in 8 KiB
    rows, so a read-only stream is data-bus bound at tBL per burst.  Per period of `reads` + `writes` bursts the
    bus also pays one read-to-write switch (tRTW - tBL) and one write-to-read switch (CWL + tWTR_S: the last write
    and the next read are in different bank groups)."""
    n = 8192
    a, w = mixed_stream(DDR4, reads, writes, accesses=n)
    only_reads, mixed = stream_cost(a, DDR4), stream_cost(a, DDR4, is_write=w)
    assert only_reads.bound == mixed.bound == "data bus"
    tbl = burst_cycles(DDR4)
    period = reads + writes
    per_period = period * tbl + (DDR4.t_rtw - tbl) + (DDR4.t_cwl + DDR4.t_wtr_s)
    periods = n // period
    switches = periods * ((DDR4.t_rtw - tbl) + (DDR4.t_cwl + DDR4.t_wtr_s)) - (DDR4.t_cwl + DDR4.t_wtr_s) * (
        n % period == 0)  # no read after the last write run
    assert mixed.cycles == pytest.approx(only_reads.cycles + switches)
    assert mixed.bandwidth / only_reads.bandwidth == pytest.approx(period * tbl / per_period, rel=2e-3)
    assert mixed.bandwidth < only_reads.bandwidth


def test_mixed_stream_bad_input():
    with pytest.raises(ValueError, match="reads, writes"):
        mixed_stream(DDR4, 0, 0)
    a, w = mixed_stream(DDR4, 4, 4, accesses=64)
    with pytest.raises(ValueError, match="is_write"):
        stream_cost(a, DDR4, is_write=w[:-1])
