"""Pydantic models of hardware: `Accelerator`, its units (a discriminated union on `type`),
`MemoryTier`, `DramTiming`, `Link`, `Tech`.  Data only: no cost formulas live here.

Every model forbids unknown fields.  Sizes accept integers or strings with binary/decimal units
("256KiB", "24MiB", "8GB"); bandwidths are in GB/s (`_gbps` = gigabytes per second, 1e9 B/s).
Cross-field rules (`Accelerator`): unit, tier and link names are unique; a PIM unit names a memory tier;
a link joins units, tiers, "host" or "peer".  Their messages carry the field path, like the loader's.
"""

from __future__ import annotations

import difflib
import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel, BeforeValidator, ConfigDict, Field, PositiveFloat, PositiveInt, ValidationInfo, field_validator,
    model_validator,
)

_SIZE_UNITS = {
    "": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
}
_SIZE_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(value: Any) -> Any:
    """'24MiB' -> 25165824; numbers pass through (floats that are whole become ints)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        m = _SIZE_RE.match(value)
        if not m or m.group(2).lower() not in _SIZE_UNITS:
            raise ValueError("expected a size such as 4096, '256KiB' or '8GB' "
                             "(units B, kB, MB, GB, TB, KiB, MiB, GiB, TiB)")
        return int(round(float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()]))
    return value


Bytes = Annotated[PositiveInt, BeforeValidator(parse_size)]

TECH_NODES_NM = (45, 28, 16, 7, 5)
DATAFLOWS = ("os", "ws", "is")
MEMORY_KINDS = ("sram", "bram", "uram", "hbm2", "hbm2e", "hbm3", "ddr3", "ddr4", "ddr5", "lpddr4", "lpddr5", "flash")


def _did_you_mean(word: str, options: Any) -> str:
    close = difflib.get_close_matches(str(word), [str(o) for o in options], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ";"


def _item(what: str, i: int, name: str) -> str:
    return f"{what}[{i}] ({name})"


class Spec(BaseModel):
    """Base of every hardware model: unknown fields are errors; values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


class Tech(Spec):
    node_nm: Literal[45, 28, 16, 7, 5] = Field(description="process node; tables scale from 45 nm")
    clock_hz: PositiveFloat
    source: str | None = None


class DramTiming(Spec):
    """DRAM organisation and timing in memory-clock cycles (tCK); refined by the PIM issue."""

    name: str | None = None
    tck_ns: PositiveFloat
    channels: PositiveInt = 1
    pseudo_channels: PositiveInt = 1
    bank_groups: PositiveInt = 4
    banks_per_group: PositiveInt = 4
    row_bytes: Bytes = 1024
    burst_bytes: Bytes = 32
    bus_bits: PositiveInt = 128
    data_rate: PositiveInt = Field(2, description="transfers per tCK (2 for DDR)")
    t_rcd: PositiveInt
    t_rp: PositiveInt
    t_ras: PositiveInt
    t_cl: PositiveInt
    t_ccd_s: PositiveInt
    t_ccd_l: PositiveInt
    t_rrd_s: PositiveInt
    t_rrd_l: PositiveInt
    t_faw: PositiveInt
    t_wr: PositiveInt
    t_rfc: PositiveInt
    t_refi: PositiveInt
    t_cwl: PositiveInt | None = Field(None, description="write latency (CWL/WL); None: taken as t_cl")
    t_wtr_s: PositiveInt | None = Field(
        None, description="write-to-read turnaround after the write data, other bank group; None: not modelled (0)")
    t_wtr_l: PositiveInt | None = Field(
        None, description="write-to-read turnaround after the write data, same bank group; None: as t_wtr_s")
    t_rtw: PositiveInt | None = Field(
        None, description="read-to-write command spacing (bus turnaround); None: JEDEC's CL + tBL + 2 - CWL")
    source: str | None = None


class MemoryTier(Spec):
    name: str
    kind: Literal[MEMORY_KINDS]  # type: ignore[valid-type]
    capacity_bytes: Bytes
    bandwidth_gbps: PositiveFloat | None = Field(None, description="peak bandwidth in GB/s")
    read_bytes_per_cycle: PositiveInt | None = Field(None, description="on-chip port width, per core clock")
    energy_pj_per_bit: PositiveFloat | None = Field(None, description="overrides the tech table when given")
    timing: DramTiming | str | None = None
    source: str | None = None

    @field_validator("timing")
    @classmethod
    def _named_timing(cls, timing: DramTiming | str | None) -> DramTiming | None:
        """``timing: hbm2`` names a preset of `arch.dram_timings`; the tier then holds its `DramTiming`."""
        if not isinstance(timing, str):
            return timing
        from arch.dram_timings import DRAM_TIMINGS, dram_timing

        if timing not in DRAM_TIMINGS:
            raise ValueError(f"unknown DRAM timing{_did_you_mean(timing, DRAM_TIMINGS)} "
                             f"expected one of {', '.join(DRAM_TIMINGS)}")
        return dram_timing(timing)

    @model_validator(mode="after")
    def _has_bandwidth(self) -> MemoryTier:
        if self.bandwidth_gbps is None and self.read_bytes_per_cycle is None:
            raise ValueError("give bandwidth_gbps or read_bytes_per_cycle")
        return self

    def bytes_per_s(self, clock_hz: float) -> float:
        if self.bandwidth_gbps is not None:
            return self.bandwidth_gbps * 1e9
        return self.read_bytes_per_cycle * clock_hz  # type: ignore[operator]

    @property
    def on_chip(self) -> bool:
        return self.kind in ("sram", "bram", "uram")


class _Unit(Spec):
    name: str
    count: PositiveInt = Field(1, description="identical instances (cores) of this unit")
    source: str | None = None


class SystolicArray(_Unit):
    """A rows x cols PE array (TPU-like).  SRAM buffers are SCALE-Sim's ifmap/filter/ofmap split."""

    type: Literal["systolic"] = "systolic"
    rows: PositiveInt
    cols: PositiveInt
    dataflow: Literal["os", "ws", "is"]
    pe: str = Field("int8", description="a PE type name from arch.pe.PE_TYPES")
    ifmap_sram_bytes: Bytes = 2 * 2**20
    filter_sram_bytes: Bytes = 2 * 2**20
    ofmap_sram_bytes: Bytes = 2**20
    double_buffered: bool = True
    preload_overlap: bool = Field(
        False, description="ws/is: double-buffer the stationary tile in the PEs so each fold's preload runs "
        "under the previous fold (only the first fold pays it); false = SCALE-Sim, a preload before every fold")
    fill_overlap: bool = Field(
        False, description="start each fold as soon as the previous one has streamed its operands in, so only the "
        "last fold's fill and drain show; false = SCALE-Sim, each fold drains before the next starts")

    @field_validator("pe")
    @classmethod
    def _known_pe(cls, pe: str) -> str:
        from arch.pe import PE_TYPES

        if pe not in PE_TYPES:
            raise ValueError(f"unknown PE type{_did_you_mean(pe, PE_TYPES)} expected one of {', '.join(PE_TYPES)}")
        return pe


class VectorUnit(_Unit):
    """SIMD lanes for softmax, norms and element-wise ops."""

    type: Literal["vector"] = "vector"
    lanes: PositiveInt
    flops_per_lane_per_cycle: PositiveFloat = 1.0
    precision: str = "fp16"


class PimUnit(_Unit):
    """Processing in memory: in-bank MACs (NeuPIMs) or logic-die compute (Duplex)."""

    type: Literal["pim"] = "pim"
    placement: Literal["in_bank", "logic_die"]
    memory: str = Field(description="name of the memory tier the PIM sits in")
    macs_per_cycle_per_bank: PositiveFloat = 16.0
    internal_bandwidth_gbps: PositiveFloat | None = Field(
        None, description="bandwidth the PIM sees inside the memory (all banks / TSVs), GB/s")
    peak_tflops: PositiveFloat | None = Field(
        None, description="total compute of logic-die PIM; in-bank PIM derives it from banks x macs_per_cycle_per_bank")
    dual_row_buffer: bool = False
    precision: str = "fp16"
    # in-bank PIM (NeuPIMs): the dispatch and sub-batch pass of `sim.pim`
    dispatch_kinds: list[Literal["attn_score", "attn_context", "gemm", "router"]] = Field(
        default_factory=lambda: ["attn_score", "attn_context"],
        description="in_bank: op kinds the dispatch pass pins to the PIM (others stay on the NPU)")
    dispatch_max_m: PositiveInt = Field(
        1, description="in_bank: pin only ops whose activation rows per product (GEMM view M) are at most this "
        "(decode attention has M = 1; prefill attention and batched GEMMs stay on the NPU)")
    sub_batches: PositiveInt = Field(
        1, description="in_bank: split a batch into this many independent sub-batches (NeuPIMs interleaving: 2)")
    sub_batch_min: PositiveInt = Field(
        2, description="in_bank: split only batches of at least this many sequences")
    channel_balance: Literal["greedy", "round_robin"] = Field(
        "greedy", description="in_bank: how decode requests' KV caches are put on channels when the graph gives "
        "their context lengths but no channels: 'greedy' (NeuPIMs' channel load balancing: longest first onto the "
        "least-loaded channel) or 'round_robin'; the busiest channel sets the PIM attention time")
    sub_batch_policy: Literal["estimate", "always"] = Field(
        "always", description="in_bank: at or above sub_batch_min, 'always' splits; 'estimate' schedules the step "
        "with and without the split (the engine on the same cost models) and keeps the faster (NeuPIMs' runtime "
        "decides with its latency estimator)")
    act_energy_pj: float = Field(
        0.0, ge=0, description="in_bank: energy of one row activation + precharge (pJ), charged per PIM row visit")
    internal_read_pj_per_bit: float = Field(
        0.0, ge=0, description="in_bank: energy per bit read from a row buffer into the bank's MACs (no I/O)")
    # area (sim.ppa): where the PIM's silicon sits
    stacks: PositiveInt = Field(
        1, description="memory stacks (HBM) or devices the tier's channels are spread over; PIM area is reported "
        "per stack as well as in total")
    dies_per_stack: PositiveInt = Field(1, description="in_bank: DRAM core dies per stack (for the overhead %)")
    dram_die_mm2: PositiveFloat | None = Field(
        None, description="in_bank: area of one DRAM core die; with it the PIM area is also reported as % of the "
        "stack's DRAM die area")
    logic_node_nm: Literal[45, 28, 16, 7, 5] | None = Field(
        None, description="logic_die: process node of the logic die (None: the accelerator's tech node)")
    logic_clock_hz: PositiveFloat | None = Field(
        None, description="logic_die: clock of the Logic-PIM's MACs; turns peak_tflops into a MAC count for its "
        "area (None: the accelerator's clock)")
    # logic-die PIM (Duplex): the Op/B dispatch pass of `sim.pim_logic`
    opb_threshold: PositiveFloat | None = Field(
        None, description="logic_die: ops below this Op/B (FLOPs per byte) run on the PIM; None: where the PIM's "
        "compute roof meets the xPU's memory roof (peak_tflops / the xPU memory tier's bandwidth)")
    opb_dispatch: bool = Field(True, description="logic_die: Op/B dispatch on; off: every op runs on the xPU")
    co_processing: bool = Field(
        True, description="logic_die: xPU and PIM run at once (experts split by modelled time, prefill attention on "
        "the xPU beside decode attention on the PIM); off: one unit at a time")


class RduUnit(_Unit):
    """A reconfigurable dataflow unit: a grid of compute (PCU) and memory (PMU) units (`sim.dataflow`).

    ``fused``: map whole subgraphs spatially and stream them (intermediates stay in PMUs), or run one
    kernel at a time with intermediates through HBM (the GPU-like baseline).  ``weight_placement`` and
    ``kv_placement`` are the three-tier placement policy: ``hbm_first`` keeps weights (KV cache) in HBM
    while they fit and spills the rest to DDR; ``ddr`` keeps them all in DDR (streamed from there)."""

    type: Literal["rdu"] = "rdu"
    pcus: PositiveInt
    pmus: PositiveInt
    pmu_bytes: Bytes
    flops_per_pcu_per_cycle: PositiveFloat
    precision: str = "bf16"
    fused: bool = Field(True, description="stream fused sections (True) or one kernel at a time via HBM (False)")
    weight_placement: Literal["hbm_first", "ddr"] = "hbm_first"
    kv_placement: Literal["hbm_first", "ddr"] = "hbm_first"
    kernel_launch_s: float = Field(3.0e-6, ge=0, description="fixed time of every kernel call (s)")
    chunk_rows: PositiveInt = Field(64, description="token rows per pipeline chunk of a fused section")
    max_stages: PositiveInt | None = Field(
        None, description="ops per fused section at most (default: min(pcus, 48), which bounds the mapper's search)")


FPGA_OP_KINDS = ("gemm", "conv2d", "attn_score", "attn_context", "router", "softmax", "norm", "eltwise", "embed",
                 "pool", "scan")


class FpgaBuffer(Spec):
    """An on-chip buffer of an FPGA engine; it takes whole RAM blocks (enough for its bytes and for
    `width_bits` read per cycle, one port of `port_bits` per block)."""

    name: str
    bytes: Bytes
    width_bits: PositiveInt = Field(72, description="bits read per cycle (sets a minimum block count)")
    memory: Literal["bram", "uram"] = "bram"
    source: str | None = None


class FpgaEngine(Spec):
    """One compute engine of an FPGA design (its resource use and cycles: `sim.fpga`).

    kind ``mac``: a DSP multiply-accumulate array; ``adder``: LUT adders that add, subtract or skip an
    activation for a ternary weight (no multiplier); ``vector``: function-unit lanes (softmax, norms,
    element-wise ops, scans, embedding gathers).  A mac/adder array does `lanes` products per cycle,
    summed `k_parallel` at a time into lanes / k_parallel outputs.  Vector lanes need their costs per
    lane given (`dsps_per_lane`, `luts_per_lane`, `ffs_per_lane`); mac/adder lanes are derived."""

    name: str
    kind: Literal["mac", "adder", "vector"]
    ops: list[Literal[FPGA_OP_KINDS]] = Field(min_length=1)  # type: ignore[valid-type]
    lanes: PositiveInt
    k_parallel: PositiveInt | None = Field(None, description="mac/adder: products summed per output (default lanes)")
    a_bits: PositiveInt = 16
    w_bits: PositiveInt = 16
    acc_bits: PositiveInt = 32
    pipeline_cycles: int = Field(0, ge=0, description="fill and drain cycles per op")
    dsps_per_lane: float | None = Field(None, ge=0)
    luts_per_lane: float | None = Field(None, ge=0, validate_default=True)
    ffs_per_lane: float | None = Field(None, ge=0)
    control_luts: int = Field(0, ge=0, description="sequencer, address generation, stream glue")
    control_ffs: int = Field(0, ge=0)
    buffers: list[FpgaBuffer] = Field(default_factory=list)
    source: str | None = None

    @field_validator("k_parallel")
    @classmethod
    def _divides_lanes(cls, kp: int | None, info: ValidationInfo) -> int | None:
        kind, lanes = info.data.get("kind"), info.data.get("lanes")
        if kp is not None and kind == "vector":
            raise ValueError("expected no k_parallel for a vector engine (its lanes work on separate elements)")
        if kp is not None and lanes and lanes % kp:
            raise ValueError(f"expected a divisor of lanes={lanes}")
        return kp

    @field_validator("luts_per_lane")
    @classmethod
    def _vector_lane_cost(cls, luts: float | None, info: ValidationInfo) -> float | None:
        if luts is None and info.data.get("kind") == "vector":
            raise ValueError("expected the LUTs of one vector lane (a vector lane's cost is not derived)")
        return luts


class FpgaPower(Spec):
    """Power coefficients of an FPGA (how `sim.fpga` uses them: its docstring).

    Dynamic energy is the `arch.tech` figure of the same operation at the device's node times the
    FPGA/ASIC gap: ``logic_gap`` for LUT and flip-flop logic, ``hard_gap`` for DSP and block-RAM
    accesses.  ``toggle`` is the activity of logic that is clocked but not computing (UG440's default
    12.5%).  ``static_w`` is the device's static power; ``board_w`` any other board power a published
    figure includes (memory devices, regulators)."""

    static_w: float = Field(ge=0)
    board_w: float = Field(0.0, ge=0)
    logic_gap: PositiveFloat = 14.0
    hard_gap: PositiveFloat = 14.0
    toggle: float = Field(0.125, gt=0, le=1)
    source: str | None = None


class FpgaUnit(_Unit):
    """An FPGA device's resources and the design mapped onto it: `engines` whose resource use
    (`sim.fpga.design_resources`) must fit, a platform `shell`, and power coefficients.

    Block RAM/UltraRAM geometry defaults to AMD UltraScale+ (BRAM36 = 4,608 B with a 72-bit port,
    URAM288 = 36,864 B with a 72-bit port, DSP48E2 27 x 18 multipliers, two int8 MACs per DSP when
    they share an operand, WP486); other families override them."""

    type: Literal["fpga"] = "fpga"
    device: str
    dsps: PositiveInt
    bram_bytes: Bytes
    uram_bytes: int = 0
    luts: PositiveInt
    ffs: PositiveInt
    bram_block_bytes: Bytes = 4608
    bram_port_bits: PositiveInt = 72
    uram_block_bytes: Bytes = 36864
    uram_port_bits: PositiveInt = 72
    dsp_a_bits: PositiveInt = 27
    dsp_b_bits: PositiveInt = 18
    dsp_int8_macs: PositiveInt = Field(2, description="int8 x int8 MACs one DSP does per cycle")
    shell_luts: int = Field(0, ge=0, description="platform logic outside the engines (DMA, interconnect)")
    shell_ffs: int = Field(0, ge=0)
    shell_bram_blocks: int = Field(0, ge=0)
    shell_source: str | None = None
    engines: list[FpgaEngine] = Field(default_factory=list)
    power: FpgaPower | None = None


#: compute formats a GPU's throughput and efficiency tables are keyed by
GPU_FORMATS = ("fp32", "tf32", "fp16", "bf16", "fp8", "int8")
#: keys of the GPU model's memory-bound tables: op kinds, plus "rmsnorm" (a NORM with affine 1)
GPU_STREAM_KINDS = ("eltwise", "norm", "rmsnorm", "softmax", "pool", "embed", "scan")


def _check_keys(table: dict[str, Any], allowed: tuple[str, ...], what: str) -> dict[str, Any]:
    for key in table:
        if key not in allowed:
            raise ValueError(f"unknown key {key!r}{_did_you_mean(key, allowed)} expected {what}: {', '.join(allowed)}")
    return table


class GpuEfficiency(Spec):
    """Named efficiency terms of `sim.gpu`'s GPU model (what each multiplies: that module's docstring).

    Fitted per GPU by ``scripts/fit_gpu.py`` on measured kernel times; the defaults are the H100 SXM5 fit,
    rounded (a GPU without measurements of its own inherits them)."""

    launch_s: float = Field(3.0e-6, ge=0, description="fixed time of every kernel: launch, prologue, tail (s)")
    gemm_compute_eff: dict[str, Annotated[float, Field(gt=0, le=1)]] = Field(
        default_factory=lambda: {"fp32": 0.75, "tf32": 0.75, "fp16": 0.75, "bf16": 0.75, "fp8": 0.7, "int8": 0.45},
        description="fraction of peak tensor (fp32: FMA) throughput in a GEMM's main loop, per compute format")
    gemm_tile_s: float = Field(9.0e-7, ge=0, description="fixed time per CTA tile: pipeline fill and epilogue (s)")
    gemm_hbm_eff: float = Field(0.83, gt=0, le=1, description="fraction of HBM bandwidth a GEMM's operands stream at")
    sm_feed_gbps: PositiveFloat = Field(
        215.0, description="operand bytes one SM can pull from L2 into shared memory, GB/s (bounds small tiles)")
    overlap_exponent: float = Field(4.3, ge=1, description="p of the soft roofline (compute^p + memory^p)^(1/p)")
    stream_hbm_eff: dict[str, Annotated[float, Field(gt=0, le=1)]] = Field(
        default_factory=lambda: {"eltwise": 0.92, "norm": 1.0, "rmsnorm": 1.0, "softmax": 0.74},
        description="fraction of HBM bandwidth of memory-bound kernels, by op kind ('rmsnorm': a NORM with "
                    "affine 1; kinds not listed use eltwise's)")
    stream_vector_eff: dict[str, Annotated[float, Field(gt=0, le=1)]] = Field(
        default_factory=lambda: {"norm": 0.048, "rmsnorm": 0.084, "softmax": 0.091},
        description="fraction of vector_tflops the FLOPs of memory-bound kernels run at, by op kind (others: 1)")
    wide_row_eff: dict[str, Annotated[float, Field(gt=0, le=1)]] = Field(
        default_factory=lambda: {"norm": 0.053, "rmsnorm": 0.054, "softmax": 0.031},
        description="stream_vector_eff for rows of more than 1024 elements (reduced across a CTA instead of "
                    "within a warp), by op kind (kinds not listed use stream_vector_eff)")
    gmem_row_eff: dict[str, Annotated[float, Field(gt=0, le=1)]] = Field(
        default_factory=dict,
        description="wide_row_eff for rows too wide for one CTA's shared memory (the multi-pass kernel that re-reads "
                    "the row from L2), by op kind (kinds not listed use wide_row_eff)")
    attn_compute_eff: float = Field(1.0, gt=0, le=1, description="fraction of tensor peak in fused attention's MMAs")
    attn_exp_s: float = Field(3.1e-11, ge=0, description="per-SM time per attention score for max/exp/sum (s)")
    attn_hbm_eff: float = Field(0.93, gt=0, le=1,
                                description="fraction of HBM bandwidth fused attention streams K/V at")
    attn_fixed_s: float = Field(4.0e-6, ge=0, description="extra fixed time of a fused attention kernel (s)")
    source: str | None = None

    @field_validator("gemm_compute_eff")
    @classmethod
    def _known_formats(cls, table: dict[str, float]) -> dict[str, float]:
        return _check_keys(table, GPU_FORMATS, "a compute format")

    @field_validator("stream_hbm_eff", "stream_vector_eff", "wide_row_eff", "gmem_row_eff")
    @classmethod
    def _known_stream_kinds(cls, table: dict[str, float]) -> dict[str, float]:
        return _check_keys(table, GPU_STREAM_KINDS, "a memory-bound op kind")


class GpuUnit(_Unit):
    """A GPU: SMs with tensor cores; peak throughput per compute format in TFLOP/s (dense, at boost clock).

    ``tensor_tflops`` keys are compute formats (fp32, tf32, fp16, bf16, fp8, int8); fp32 GEMMs without
    TF32 run on the FMA pipes at ``vector_tflops`` unless an ``fp32`` key says otherwise.
    ``precision`` is only the format `sim.ppa` prices MAC and vector-FLOP energy at."""

    type: Literal["gpu"] = "gpu"
    sms: PositiveInt
    tensor_tflops: dict[str, PositiveFloat]
    vector_tflops: PositiveFloat
    l2_bytes: Bytes
    precision: str = "fp16"
    efficiency: GpuEfficiency = Field(default_factory=GpuEfficiency)
    tdp_w: PositiveFloat | None = Field(None, description="board power limit (TDP), W; sim.gpu's power model needs it")
    idle_w: float | None = Field(None, ge=0, description="static power of the board with the clocks up, W")
    die_mm2: PositiveFloat | None = Field(None, description="die area, mm^2 (caches included)")
    power_source: str | None = None

    @model_validator(mode="after")
    def _idle_below_tdp(self) -> GpuUnit:
        if self.tdp_w is not None and (self.idle_w or 0.0) >= self.tdp_w:
            raise ValueError(f"idle_w={self.idle_w}: expected less than tdp_w={self.tdp_w}")
        return self

    @field_validator("tensor_tflops")
    @classmethod
    def _known_formats(cls, table: dict[str, float]) -> dict[str, float]:
        return _check_keys(table, GPU_FORMATS, "a compute format")


Unit = Annotated[
    SystolicArray | VectorUnit | PimUnit | RduUnit | FpgaUnit | GpuUnit,
    Field(discriminator="type"),
]
UNIT_TYPES = ("systolic", "vector", "pim", "rdu", "fpga", "gpu")


LINK_ENDS = ("host", "peer")


class Link(Spec):
    """A point-to-point connection (between sockets, to a host, or between memory tiers)."""

    name: str
    src: str
    dst: str
    bandwidth_gbps: PositiveFloat
    latency_s: float = Field(0.0, ge=0)
    energy_pj_per_bit: PositiveFloat | None = None
    source: str | None = None


class Accelerator(Spec):
    """A validated accelerator spec.  Load presets with `arch.load(name_or_path)`."""

    name: str
    source: str | None = None
    description: str | None = None
    tech: Tech
    units: list[Unit] = Field(min_length=1)
    memory: list[MemoryTier] = Field(min_length=1)
    links: list[Link] = Field(default_factory=list)
    sockets: PositiveInt = 1
    area_overhead_fraction: float = Field(0.1, ge=0, le=1, description="wiring/control area over PEs + SRAM")

    @model_validator(mode="after")
    def _cross_checks(self) -> Accelerator:
        """Names unique per list; PIM units name a tier; links join known ends.  Messages carry paths."""
        for what, items in (("units", self.units), ("memory", self.memory), ("links", self.links)):
            first: dict[str, int] = {}
            for i, item in enumerate(items):
                if item.name in first:
                    raise ValueError(
                        f"{_item(what, i, item.name)}.name: got {item.name!r}, already the name of "
                        f"{what}[{first[item.name]}]; expected a name unique among {what}"
                    )
                first[item.name] = i
        tiers = [m.name for m in self.memory]
        for i, u in enumerate(self.units):
            if isinstance(u, PimUnit) and u.memory not in tiers:
                raise ValueError(
                    f"{_item('units', i, u.name)}.memory: got {u.memory!r}{_did_you_mean(u.memory, tiers)} "
                    f"expected the name of a memory tier: {', '.join(tiers)}"
                )
        ends = [u.name for u in self.units] + tiers + list(LINK_ENDS)
        for i, link in enumerate(self.links):
            for end in ("src", "dst"):
                v = getattr(link, end)
                if v not in ends:
                    raise ValueError(
                        f"{_item('links', i, link.name)}.{end}: got {v!r}{_did_you_mean(v, ends)} "
                        f"expected a unit or memory tier name, or one of {', '.join(LINK_ENDS)}"
                    )
        return self

    def unit(self, name: str) -> Any:
        for u in self.units:
            if u.name == name:
                return u
        raise KeyError(f"{self.name}: no unit {name!r}; units are {[u.name for u in self.units]}")

    def units_of(self, type_: str) -> list[Any]:
        return [u for u in self.units if u.type == type_]

    def tier(self, name: str) -> MemoryTier:
        for m in self.memory:
            if m.name == name:
                return m
        raise KeyError(f"{self.name}: no memory tier {name!r}; tiers are {[m.name for m in self.memory]}")

    @property
    def on_chip(self) -> list[MemoryTier]:
        return [m for m in self.memory if m.on_chip]

    @property
    def off_chip(self) -> list[MemoryTier]:
        return [m for m in self.memory if not m.on_chip]
