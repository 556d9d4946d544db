"""Purpose: pin the properties of `sim.systolic` that do not depend on SCALE-Sim's data (those are in
`tests/validation/test_scalesim.py`): roofline bound, what is and is not monotone, utilisation,
the traffic model's loop-order choice (fetch once / re-fetch per fold / blocked), bandwidth stalls,
multi-core splitting with a broadcast shared operand, fold pipelining (preload/fill overlap), errors."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arch.spec import Accelerator, MemoryTier, SystolicArray, Tech
from sim.cost import get_cost_model
from sim.systolic import FOLD_AXES, PRELOAD, compute_cycles, cost, fold_shape, gemm_cycles, traffic
from workloads import attention, conv2d, gemm

dims = st.integers(1, 600)
sides = st.integers(1, 128)
dataflows = st.sampled_from(sorted(FOLD_AXES))


def machine(rows=32, cols=32, dataflow="os", *, bandwidth_gbps=1e6, count=1, buffer=2**24, double_buffered=True,
            pe="int8"):
    unit = SystolicArray(name="sa", rows=rows, cols=cols, dataflow=dataflow, count=count, pe=pe,
                         ifmap_sram_bytes=buffer, filter_sram_bytes=buffer, ofmap_sram_bytes=buffer,
                         double_buffered=double_buffered)
    return Accelerator(
        name="test", tech=Tech(node_nm=28, clock_hz=1e9), units=[unit],
        memory=[MemoryTier(name="sram", kind="sram", capacity_bytes=3 * buffer, read_bytes_per_cycle=64),
                MemoryTier(name="dram", kind="ddr4", capacity_bytes="8GiB", bandwidth_gbps=bandwidth_gbps)],
    )


# ---- compute cycles -----------------------------------------------------------------------------------


@given(dims, dims, dims, sides, sides, dataflows, st.integers(1, 4))
def test_cycles_at_least_the_roofline(m, n, k, rows, cols, df, batch):
    assert gemm_cycles(m, n, k, rows, cols, df, batch=batch) >= math.ceil(batch * m * n * k / (rows * cols))


@given(dims, dims, dims, sides, sides, dataflows)
def test_cycles_follow_the_one_formula(m, n, k, rows, cols, df):
    _, _, t, fr, fc = fold_shape(m, n, k, rows, cols, df)
    fold = t + rows + cols - 2 + PRELOAD[df] * rows
    assert gemm_cycles(m, n, k, rows, cols, df) == max(fr * fc * fold - 1, fr * fc * t)


@given(dims, dims, dims, sides, sides, dataflows, st.sampled_from(["M", "N", "K", "batch"]))
def test_cycles_never_drop_when_the_op_grows(m, n, k, rows, cols, df, axis):
    shape = {"M": m, "N": n, "K": k, "batch": 1}
    before = gemm_cycles(shape["M"], shape["N"], shape["K"], rows, cols, df, batch=shape["batch"])
    shape[axis] += 1
    assert gemm_cycles(shape["M"], shape["N"], shape["K"], rows, cols, df, batch=shape["batch"]) >= before


def test_cycles_are_not_monotone_in_array_size():
    """A bigger array is not always faster: 64 output rows on 32 array rows take 2 folds, and on 33 rows
    still 2 folds, each one row of skew longer.  SCALE-Sim's formula has the same property."""
    op = gemm(64, 64, 64)
    assert compute_cycles(op, 32, 32, "os") == 503
    assert compute_cycles(op, 33, 32, "os") == 4 * (64 + 33 + 32 - 2) - 1 > 503
    assert compute_cycles(op, 32, 33, "os") > 503


@given(dims, dims, dims, sides, sides, st.integers(1, 64), dataflows)
def test_growing_the_array_never_adds_folds_and_costs_at_most_the_extra_skew(m, n, k, rows, cols, grow, df):
    """What is monotone: fold counts (so the streaming time folds x T) never rise with rows or cols,
    and growing rows (cols) by g adds at most g (1 + PRELOAD) (g) cycles per remaining fold."""
    base = gemm_cycles(m, n, k, rows, cols, df)
    *_, fr, fc = fold_shape(m, n, k, rows, cols, df)
    *_, fr2, fc2 = fold_shape(m, n, k, rows + grow, cols, df)
    assert fr2 <= fr and fc2 == fc
    assert gemm_cycles(m, n, k, rows + grow, cols, df) - base <= fr2 * fc2 * grow * (1 + PRELOAD[df])
    *_, fr3, fc3 = fold_shape(m, n, k, rows, cols + grow, df)
    assert fc3 <= fc and fr3 == fr
    assert gemm_cycles(m, n, k, rows, cols + grow, df) - base <= fr3 * fc3 * grow


def test_batch_runs_products_one_after_another():
    one = gemm_cycles(64, 64, 64, 32, 32, "ws")
    assert gemm_cycles(64, 64, 64, 32, 32, "ws", batch=5) == 5 * (one + 1) - 1
    assert compute_cycles(gemm(64, 64, 64, batch=5), 32, 32, "ws") == 5 * (one + 1) - 1


def test_empty_op_takes_no_cycles():
    assert gemm_cycles(0, 64, 64, 8, 8, "os") == 0
    assert compute_cycles(gemm(64, 64, 64, batch=0), 8, 8, "is") == 0


def test_pe_throughput_and_pipeline_depth():
    base = gemm_cycles(64, 64, 64, 32, 32, "os")  # 4 folds of 64 + 62 cycles
    assert gemm_cycles(64, 64, 64, 32, 32, "os", macs_per_cycle=2) == base - 4 * 32
    assert gemm_cycles(64, 64, 64, 32, 32, "os", pipeline_depth=3) == base + 4 * 2


def test_conv_uses_scalesim_output_size_only_when_asked():
    op = conv2d(224, 224, 7, 7, 3, 64, 2)  # (224 - 7) / 2 is not whole: true 109 x 109, SCALE-Sim 110 x 110
    assert op.conv_out_hw == (109, 109)
    assert compute_cycles(op, 32, 32, "ws") == 10 * (110 * 110 + 94) - 1
    assert compute_cycles(op, 32, 32, "ws", scalesim_ofmap=False) == 10 * (109 * 109 + 94) - 1


@pytest.mark.parametrize("bad", ["rs", "OS", "", None])
def test_unknown_dataflow_names_the_options(bad):
    with pytest.raises(ValueError, match=r"unknown dataflow.*\['is', 'os', 'ws'\]"):
        compute_cycles(gemm(8, 8, 8), 4, 4, bad)
    with pytest.raises(ValueError, match="expected one of"):
        traffic(8, 8, 8, 4, 4, bad)


# ---- traffic --------------------------------------------------------------------------------------------


@given(st.integers(1, 300), st.integers(1, 300), st.integers(1, 300), st.integers(1, 64), st.integers(1, 64),
       dataflows, st.integers(1, 3))
def test_an_op_that_fits_reads_each_operand_from_dram_once(m, n, k, rows, cols, df, batch):
    tr = traffic(m, n, k, rows, cols, df, batch=batch, a_bits=8, w_bits=4, acc_bits=32,
                 ifmap_sram_bytes=2**22, filter_sram_bytes=2**22, ofmap_sram_bytes=2**23)
    assert tr.dram_read_bytes == {"ifmap": batch * m * k, "filter": batch * k * n / 2, "ofmap": 0}
    assert tr.dram_write_bytes == {"ifmap": 0, "filter": 0, "ofmap": batch * m * n}
    assert tr.sram_read >= tr.dram_read  # the array reads at least what was fetched


@pytest.mark.parametrize("df", sorted(FOLD_AXES))
def test_a_too_small_buffer_refetches(df):
    big = traffic(256, 256, 256, 32, 32, df)
    small = traffic(256, 256, 256, 32, 32, df, ifmap_sram_bytes=4096, filter_sram_bytes=4096, ofmap_sram_bytes=4096)
    assert small.dram > big.dram
    assert small.sram_read >= big.sram_read  # on-chip reads of the array do not depend on buffer sizes


def test_refetch_counts_follow_the_cheaper_loop_order():
    """OS, 256^3 on 32 x 32 (8 x 8 folds of 32 x 256 tiles, 8 KiB each): B's column tiles are the X
    tensor, A's row tiles the Y tensor.  2 B tiles fit (16 KiB usable) but no A tile (4 KiB): A cannot be
    resident, so B is, and A, whose tile cannot be kept between folds, is fetched for each of its 8 uses."""
    small = {"ifmap_sram_bytes": 8192, "filter_sram_bytes": 32768, "ofmap_sram_bytes": 2**20}
    tr = traffic(256, 256, 256, 32, 32, "os", **small)
    assert tr.dram_read_bytes["ifmap"] == 8 * 256 * 256
    assert tr.dram_read_bytes["filter"] == 256 * 256
    assert tr.sram_read_bytes["filter"] == 8 * 256 * 256  # the array still reads B once per row fold


def test_both_operands_too_big_one_tile_resident_rereads_the_other_once_per_fold():
    """One 8 KiB tile of each fits (8 KiB usable): whichever is resident, the other is re-read once per
    fold of the resident one (8); ties keep SCALE-Sim's order (B resident, A re-read per column fold)."""
    tr = traffic(256, 256, 256, 32, 32, "os", ifmap_sram_bytes=16384, filter_sram_bytes=16384)
    assert tr.dram_read_bytes["ifmap"] == 8 * 256 * 256
    assert tr.dram_read_bytes["filter"] == 256 * 256


def test_the_order_with_fewer_dram_bytes_wins():
    """Two A tiles fit (16 KiB usable), one B tile (8 KiB): B resident would re-read A 8 times (9 passes in
    all); A resident two rows at a time re-reads B ceil(8 / 2) = 4 times (5 passes): the compiler picks it."""
    tr = traffic(256, 256, 256, 32, 32, "os", ifmap_sram_bytes=32768, filter_sram_bytes=16384)
    assert tr.dram_read_bytes["ifmap"] == 256 * 256
    assert tr.dram_read_bytes["filter"] == 4 * 256 * 256


@pytest.mark.parametrize("df", sorted(FOLD_AXES))
def test_one_operand_too_big_is_still_read_once_when_the_other_fits_whole(df):
    """A (256 x 1024, 256 KiB) is 8x its 32 KiB usable buffer (one 32-row tile fits); B (1024 x 64, 64 KiB)
    fits whole: B stays resident and A streams past it once, whatever the dataflow."""
    tr = traffic(256, 64, 1024, 32, 32, df, ifmap_sram_bytes=2**16, filter_sram_bytes=2**18)
    assert tr.dram_read_bytes["ifmap"] == 256 * 1024
    assert tr.dram_read_bytes["filter"] == 1024 * 64


def test_double_buffering_halves_usable_capacity():
    kw = {"ifmap_sram_bytes": 12 * 1024, "filter_sram_bytes": 2**22, "ofmap_sram_bytes": 2**22}
    single = traffic(256, 256, 256, 32, 32, "os", double_buffered=False, **kw)  # an 8 KiB row tile of A fits 12 KiB
    double = traffic(256, 256, 256, 32, 32, "os", double_buffered=True, **kw)  # ... but not 6 KiB: once per use
    assert single.dram_read_bytes["ifmap"] == 256 * 256
    assert double.dram_read_bytes["ifmap"] == 8 * 256 * 256


def test_partial_sums_spill_when_the_ofmap_buffer_is_small():
    """WS, K = 256 over 32 rows: 8 row folds accumulate each output tile 8 times."""
    fits = traffic(256, 256, 256, 32, 32, "ws")
    spill = traffic(256, 256, 256, 32, 32, "ws", ofmap_sram_bytes=1024)
    partial = 7 * 256 * 256 * 4
    assert fits.sram_read_bytes["ofmap"] == partial + 256 * 256
    assert fits.dram_write_bytes["ofmap"] == 256 * 256 and fits.dram_read_bytes["ofmap"] == 0
    assert spill.dram_write_bytes["ofmap"] == partial + 256 * 256 and spill.dram_read_bytes["ofmap"] == partial


# ---- cost ------------------------------------------------------------------------------------------------


def test_cost_is_registered_for_matmul_kinds():
    entry = get_cost_model("systolic")
    assert entry.fn is cost


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 300), st.integers(1, 300), st.integers(1, 300), st.integers(1, 64), st.integers(1, 64),
       dataflows, st.integers(1, 4), st.floats(0.5, 1e4))
def test_cost_fields_are_consistent(m, n, k, rows, cols, df, count, bw):
    acc = machine(rows, cols, df, bandwidth_gbps=bw, count=count, buffer=4096)
    c = cost(gemm(m, n, k, dtype="int8"), acc.units[0], acc)
    assert c.cycles == c.compute_cycles + c.stall_cycles
    assert 0 < c.utilization <= 1
    assert c.counts["mac"] == m * n * k
    assert c.tier_bytes["sram"] == c.counts["sram_read_bytes"] + c.counts["sram_write_bytes"]
    assert c.tier_bytes["dram"] == c.counts["dram_read_bytes"] + c.counts["dram_write_bytes"]
    assert c.cycles >= math.ceil(m * n * k / (rows * cols * count))


@pytest.mark.parametrize("df", sorted(FOLD_AXES))
def test_single_core_int8_cost_is_scalesim_exact(df):
    op = gemm(100, 37, 300, dtype="int8")
    acc = machine(16, 64, df)
    c = cost(op, acc.units[0], acc)
    assert c.compute_cycles == compute_cycles(op, 16, 64, df) and c.stall_cycles == 0


def test_low_bandwidth_stalls_and_high_bandwidth_does_not():
    op = gemm(512, 512, 512, dtype="int8")
    slow, fast = machine(bandwidth_gbps=1.0), machine(bandwidth_gbps=1e4)
    c_slow, c_fast = cost(op, slow.units[0], slow), cost(op, fast.units[0], fast)
    assert c_fast.stall_cycles == 0 and c_fast.cycles == c_fast.compute_cycles
    assert c_slow.stall_cycles > 0
    # 1 GB/s at 1 GHz is 1 byte per cycle: transfer-bound, the op takes one cycle per DRAM byte (less
    # SCALE-Sim's closing "- 1")
    assert c_slow.cycles + 1 == c_slow.counts["dram_read_bytes"] + c_slow.counts["dram_write_bytes"]


def test_single_buffering_serialises_transfers():
    op = gemm(512, 512, 512, dtype="int8")
    double, single = machine(bandwidth_gbps=64), machine(bandwidth_gbps=64, double_buffered=False)
    assert cost(op, double.units[0], double).stall_cycles == 0
    assert cost(op, single.units[0], single).stall_cycles > 0


@pytest.mark.parametrize("df", sorted(FOLD_AXES))
def test_more_cores_take_fewer_cycles(df):
    op = gemm(1024, 1024, 512, dtype="int8")
    one, four = machine(dataflow=df), machine(dataflow=df, count=4)
    c1, c4 = cost(op, one.units[0], one), cost(op, four.units[0], four)
    assert c4.cycles < c1.cycles
    assert 4 * (c4.cycles + 1) >= c1.compute_cycles + 1  # at best a perfect 4-way split
    assert c4.counts["mac"] == c1.counts["mac"]


@pytest.mark.parametrize("df", sorted(FOLD_AXES))
def test_cores_fetch_the_shared_operand_once(df):
    """Everything fits: 4 cores together read each operand from DRAM once (the operand they share is
    broadcast), while each core's SRAM is filled with its own copy of it."""
    op = gemm(1024, 1024, 512, dtype="int8")
    one, four = machine(dataflow=df), machine(dataflow=df, count=4)
    c1, c4 = cost(op, one.units[0], one), cost(op, four.units[0], four)
    assert c1.counts["dram_read_bytes"] == c4.counts["dram_read_bytes"] == 2 * 1024 * 512
    assert c4.counts["sram_write_bytes"] > c1.counts["sram_write_bytes"]  # the shared operand lands in 4 SRAMs


def test_preload_overlap_pays_only_the_first_preload():
    """ws/is with double-buffered stationary tiles: each later fold's 32-cycle preload hides under the
    previous fold; os has no preload, so nothing changes."""
    for df in ("ws", "is"):
        *_, fr, fc = fold_shape(256, 256, 256, 32, 32, df)
        base = gemm_cycles(256, 256, 256, 32, 32, df)
        assert gemm_cycles(256, 256, 256, 32, 32, df, preload_overlap=True) == base - (fr * fc - 1) * 32
    assert gemm_cycles(256, 256, 256, 32, 32, "os", preload_overlap=True) == gemm_cycles(256, 256, 256, 32, 32, "os")


def test_fill_overlap_pays_one_fill_and_drain():
    """A fold starts when the previous one has streamed in: 16 folds of 256 streamed cycles, one skew (62)
    at the end; with preloads overlapped too, a 32-cycle preload hides under each 256-cycle fold."""
    assert gemm_cycles(256, 256, 256, 32, 32, "os", fill_overlap=True) == 64 * 256 + 62 - 1
    assert gemm_cycles(256, 256, 256, 32, 32, "ws", fill_overlap=True) == 64 * (256 + 32) + 62 - 1
    assert gemm_cycles(256, 256, 256, 32, 32, "ws", fill_overlap=True, preload_overlap=True) == 32 + 64 * 256 + 62 - 1
    # a fold shorter than the preload waits for it: 4 streamed cycles, 32-cycle preloads
    assert gemm_cycles(4, 256, 256, 32, 32, "ws", fill_overlap=True, preload_overlap=True) == 32 + 64 * 32 + 62 - 1


def test_preload_overlap_is_a_unit_field_off_by_default():
    op = gemm(256, 256, 256, dtype="int8")
    plain = machine(dataflow="ws")
    unit = plain.units[0].model_copy(update={"preload_overlap": True})
    assert plain.units[0].preload_overlap is False and plain.units[0].fill_overlap is False
    assert cost(op, plain.units[0], plain).compute_cycles == gemm_cycles(256, 256, 256, 32, 32, "ws")
    assert cost(op, unit, plain).compute_cycles == gemm_cycles(256, 256, 256, 32, 32, "ws", preload_overlap=True)
    with pytest.raises(ValueError, match="preload_overlap"):
        SystolicArray(name="sa", rows=4, cols=4, dataflow="ws", preload_overlap="sometimes")


def test_cores_split_batched_attention_by_head():
    op = attention(128, 128, 64, heads=8, part="score", dtype="int8")
    one, eight = machine(), machine(count=8)
    assert cost(op, eight.units[0], eight).cycles == cost(op.replace(batch=1), one.units[0], one).cycles


def test_group_scales_add_weight_traffic():
    acc = machine()
    plain = cost(gemm(64, 256, 256, w_format="int4", a_format="int8"), acc.units[0], acc)
    grouped = cost(gemm(64, 256, 256, w_format="int4", a_format="int8", group_size=64), acc.units[0], acc)
    assert grouped.counts["dram_read_bytes"] - plain.counts["dram_read_bytes"] == 256 * 256 / 64 * (16 + 4) / 8
