"""sim.dram: each timing rule probed at its edge (one cycle early: not ready; on time: ready), the address
mapping and open-page hits, and the acceptance figures of issue 5: streaming within 5% of the peak the
timing allows, random 64-byte reads at the activate-rate bound that tRC, tFAW (and tRRD_S) imply, for
every named preset, with a table of modelled and bound GB/s in the output (pytest -s)."""

from __future__ import annotations

import numpy as np
import pytest

import arch
from arch.dram_timings import DRAM_TIMINGS, dram_timing
from sim.dram import (
    INTERLEAVE_BYTES, RULES, Command, Lat, Level, Param, Timeline, access_pattern, burst_cycles, decode,
    effective_bandwidth, peak_bandwidth, refresh_overhead, row_hits, schedule, stream_cost,
)

HBM2 = dram_timing("hbm2")
ACT, PRE, RD, REF = Command.ACT, Command.PRE, Command.RD, Command.REF


def _edge(tl: Timeline, cmd: Command, at: int, bank_group: int = 0, bank: int = 0) -> None:
    assert not tl.ready(cmd, at - 1, bank_group, bank)
    assert tl.ready(cmd, at, bank_group, bank)


# ---- rules at their edges -----------------------------------------------------------------------------


def test_act_to_rd_waits_t_rcd():
    tl = Timeline(HBM2)
    tl.issue(ACT, 0)
    _edge(tl, RD, HBM2.t_rcd)
    with pytest.raises(ValueError, match="expected cycle >= 14"):
        tl.issue(RD, HBM2.t_rcd - 1)


def test_rd_to_rd_same_bank_group_waits_t_ccd_l():
    t = dram_timing("ddr4_3200")  # tCCD_L 8 > tCCD_S 4 = tBL 4
    tl = Timeline(t)
    tl.issue(ACT, 0, 0, 0)
    tl.issue(ACT, t.t_rrd_l, 0, 1)
    tl.issue(ACT, t.t_rrd_l + t.t_rrd_s, 1, 0)
    start = 100
    tl.issue(RD, start, 0, 0)
    _edge(tl, RD, start + t.t_ccd_l, 0, 1)  # same bank group, other bank
    _edge(tl, RD, start + max(t.t_ccd_s, burst_cycles(t)), 1, 0)  # other bank group


def test_rd_to_rd_waits_for_the_burst_on_the_data_bus():
    assert HBM2.t_ccd_s < burst_cycles(HBM2) == 2  # 64 B over 128 bit at double data rate
    tl = Timeline(HBM2)
    tl.issue(ACT, 0, 0, 0)
    tl.issue(ACT, HBM2.t_rrd_s, 1, 0)
    tl.issue(RD, 50, 0, 0)
    _edge(tl, RD, 52, 1, 0)


def test_four_activates_wait_t_faw():
    tl = Timeline(HBM2)  # tFAW 30 > 4 x tRRD_S 16
    for i in range(4):
        tl.issue(ACT, i * HBM2.t_rrd_s, i % HBM2.bank_groups, i // HBM2.bank_groups + 1)
    _edge(tl, ACT, HBM2.t_faw, 0, 0)
    assert tl.earliest(ACT, 0, 0) == HBM2.t_faw > 3 * HBM2.t_rrd_s + HBM2.t_rrd_s


def test_activates_to_other_bank_groups_wait_t_rrd_s_same_group_t_rrd_l():
    tl = Timeline(HBM2)
    tl.issue(ACT, 0, 0, 0)
    _edge(tl, ACT, HBM2.t_rrd_s, 1, 0)
    _edge(tl, ACT, HBM2.t_rrd_l, 0, 1)


def test_precharge_waits_t_ras():
    tl = Timeline(HBM2)
    tl.issue(ACT, 0)
    _edge(tl, PRE, HBM2.t_ras)


def test_activate_after_precharge_waits_t_rp_and_row_cycle_t_rc():
    tl = Timeline(HBM2)
    tl.issue(ACT, 0)
    tl.issue(PRE, HBM2.t_ras)
    _edge(tl, ACT, HBM2.t_ras + HBM2.t_rp)  # tRC = tRAS + tRP, both rules meet here
    tl2 = Timeline(HBM2)
    tl2.issue(ACT, 0)
    tl2.issue(PRE, HBM2.t_ras + 5)
    _edge(tl2, ACT, HBM2.t_ras + 5 + HBM2.t_rp)


def test_refresh_costs_t_rfc_every_t_refi():
    tl = Timeline(HBM2)
    tl.issue(REF, 0)
    _edge(tl, ACT, HBM2.t_rfc, 3, 3)
    _edge(tl, REF, HBM2.t_refi)
    assert refresh_overhead(HBM2) == pytest.approx(260 / 3900)
    # the same stream with refresh twice as long loses exactly that much more time
    longer = HBM2.model_copy(update={"t_rfc": 2 * HBM2.t_rfc})
    a, b = effective_bandwidth(HBM2, accesses=4096), effective_bandwidth(longer, accesses=4096)
    assert b / a == pytest.approx((1 - 2 * 260 / 3900) / (1 - 260 / 3900))


def test_rules_are_rows_of_typed_latencies():
    assert all(isinstance(r.latency, Lat) and isinstance(r.level, Level) for r in RULES)
    trc = next(r for r in RULES if (r.level, r.prev, r.next) == (Level.BANK, ACT, ACT))
    assert trc.latency.terms == ((Param.T_RAS, 1), (Param.T_RP, 1))
    assert trc.latency.cycles(HBM2) == 48 and str(trc.latency) == "t_ras + t_rp"
    faw = next(r for r in RULES if r.window == 4)
    assert (faw.level, faw.latency.cycles(HBM2)) == (Level.CHANNEL, HBM2.t_faw)
    for p in Param:  # every parameter names a DramTiming field (or the derived burst time)
        assert p.cycles(HBM2) > 0


# ---- addresses and row hits ---------------------------------------------------------------------------


def test_address_mapping_rotates_channels_then_bank_groups_then_columns():
    t = dram_timing("hbm2e")  # 32 B bursts: a 64 B block stays in one bank
    d = decode(np.arange(0, 8 * 2 * 4 * 2 * 64, 32), t)
    assert d["column"][:2].tolist() == [0, 1] and d["channel"][:2].tolist() == [0, 0]
    blocks = slice(0, None, 64 // 32)
    assert d["channel"][blocks][:9].tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 0]
    assert d["pseudo_channel"][blocks][7:9].tolist() == [0, 1]
    assert d["bank_group"][blocks][15:17].tolist() == [0, 1]
    assert d["column"][blocks][63:65].tolist() == [0, 2]
    assert set(d["bank"].tolist()) == {0} and set(d["row"].tolist()) == {0}


def test_streaming_hits_the_open_row_until_it_is_used_up():
    for t in DRAM_TIMINGS.values():
        a = access_pattern(t, "stream", accesses=4096)
        hits = row_hits(decode(a, t), t)
        misses_per_bank_row = 1 / (t.row_bytes / t.burst_bytes)
        assert 1 - hits.mean() == pytest.approx(misses_per_bank_row, rel=0.05), t.name


def test_random_64_byte_accesses_open_one_row_each():
    t = dram_timing("hbm3")  # 32 B bursts: two per access, the second a hit
    assert INTERLEAVE_BYTES == 64
    s = stream_cost(access_pattern(t, "random", 64, accesses=8192), t)
    assert s.activates == pytest.approx(8192, rel=0.01) and s.requests == 16384


# ---- acceptance: streaming at peak, random at the activate bound ----------------------------------------


def _stream_bound(t) -> float:
    """Peak, derated by refresh; row switches are hidden behind other banks' reads when a row holds
    at least tRP + tRCD of bursts (true of every preset, asserted)."""
    bursts_per_row = t.row_bytes / t.burst_bytes
    banks = t.bank_groups * t.banks_per_group
    assert bursts_per_row * (banks - 1) * burst_cycles(t) >= t.t_rp + t.t_rcd
    return peak_bandwidth(t) * (1 - t.t_rfc / t.t_refi)


def _random_bound(t, access_bytes: int = 64) -> float:
    """Independent of the model: each access opens a row; a pseudo-channel opens rows no faster than
    its banks' row cycles allow (banks / tRC), four per tFAW and one per tRRD_S, and moves no more than
    its bus allows; refresh takes tRFC of every tREFI."""
    t_rc = t.t_ras + t.t_rp
    banks = t.bank_groups * t.banks_per_group
    acts_per_cycle = min(banks / t_rc, 4 / t.t_faw, 1 / t.t_rrd_s)
    pc_bytes_per_cycle = t.bus_bits / t.pseudo_channels / 8 * t.data_rate
    per_pc = min(acts_per_cycle * access_bytes, pc_bytes_per_cycle)
    return per_pc * t.channels * t.pseudo_channels / (t.tck_ns * 1e-9) * (1 - t.t_rfc / t.t_refi)


@pytest.fixture(scope="module")
def table():
    rows = []
    yield rows
    print("\npreset        pattern   modelled GB/s   bound GB/s   peak GB/s")
    for name, pattern, got, bound, peak in rows:
        b = f"{bound / 1e9:10.1f}" if bound else f"{'-':>10s}"
        print(f"{name:12s}  {pattern:8s}  {got / 1e9:13.1f}  {b}  {peak / 1e9:10.1f}")


@pytest.mark.parametrize("name", list(DRAM_TIMINGS))
def test_streaming_reaches_peak_within_5_percent(name, table):
    t = DRAM_TIMINGS[name]
    got, bound = effective_bandwidth(t, "stream"), _stream_bound(t)
    table.append((name, "stream", got, bound, peak_bandwidth(t)))
    assert got <= peak_bandwidth(t)
    assert got == pytest.approx(bound, rel=0.05)


@pytest.mark.parametrize("name", list(DRAM_TIMINGS))
def test_random_64_byte_accesses_fall_to_the_trc_tfaw_bound(name, table):
    t = DRAM_TIMINGS[name]
    got, bound = effective_bandwidth(t, "random", 64, accesses=1 << 18), _random_bound(t)
    table.append((name, "random", got, bound, peak_bandwidth(t)))
    assert got <= bound * 1.001
    assert got == pytest.approx(bound, rel=0.03)  # below it only by the sample's imbalance across channels


@pytest.mark.parametrize("name", list(DRAM_TIMINGS))
def test_strided_accesses_fall_below_streaming(name, table):
    t = DRAM_TIMINGS[name]
    got = effective_bandwidth(t, "strided", 64, stride_bytes=4 * t.row_bytes)
    table.append((name, "strided", got, None, peak_bandwidth(t)))
    assert got < 0.5 * effective_bandwidth(t, "stream")


@pytest.mark.parametrize(("name", "pattern", "rel"), [
    ("hbm2", "stream", 0.06), ("hbm2", "random", 0.12), ("ddr4_3200", "stream", 0.06), ("ddr4_3200", "random", 0.12)])
def test_closed_form_agrees_with_the_command_scheduler(name, pattern, rel):
    """The event-level FR-FCFS controller, run through the same rules on a small sample, lands near the
    closed form: below it by its start-up latency (tRCD + tCL on ~256 requests), either side of it on
    random samples by their per-bank imbalance."""
    t = DRAM_TIMINGS[name]
    a = access_pattern(t, pattern, 64, accesses=256 * t.channels * t.pseudo_channels)
    end, served = schedule(a, t)
    event = served * t.burst_bytes * t.channels * t.pseudo_channels / (end * t.tck_ns * 1e-9)
    event *= 1 - refresh_overhead(t)
    assert event == pytest.approx(stream_cost(a, t).bandwidth, rel=rel)


# ---- presets ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "gbps"), [
    ("hbm2", 256.0), ("hbm2e", 409.6), ("hbm3", 819.2), ("ddr4_3200", 25.6), ("ddr5_4800", 38.4),
    ("lpddr5_6400", 51.2)])
def test_preset_peak_is_its_standard_figure(name, gbps):
    t = DRAM_TIMINGS[name]
    assert peak_bandwidth(t) / 1e9 == pytest.approx(gbps, rel=0.005)
    assert t.source and t.name == name


def test_timing_name_in_a_memory_tier_resolves_to_the_preset():
    acc = arch.load("neupims", overrides={"memory.hbm.timing": "hbm3"})
    assert acc.tier("hbm").timing == DRAM_TIMINGS["hbm3"]
    assert effective_bandwidth("hbm3") == effective_bandwidth(acc.tier("hbm").timing)


def test_unknown_timing_name_is_an_arch_error_listing_the_known_names():
    with pytest.raises(arch.ArchError) as e:
        arch.load("neupims", overrides={"memory.hbm.timing": "hbm4"})
    msg = str(e.value)
    assert "memory[1] (hbm).timing" in msg and "'hbm4'" in msg and "did you mean 'hbm3'" in msg
    assert all(name in msg for name in DRAM_TIMINGS)


def test_neupims_hbm_timing_streams_at_its_stated_bandwidth():
    """neupims.yaml: 32 channels x 128 bit (2 pseudo-channels of 64) at 2 x 1 GHz = 1024 GB/s."""
    tier = arch.load("neupims").tier("hbm")
    assert peak_bandwidth(tier.timing) == pytest.approx(tier.bandwidth_gbps * 1e9)
    got = effective_bandwidth(tier.timing, "stream")
    assert got == pytest.approx(tier.bandwidth_gbps * 1e9 * (1 - refresh_overhead(tier.timing)), rel=0.05)
