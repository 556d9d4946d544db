"""Purpose: pin the engine's scheduling and overlap model (`sim.engine` docstring) by whole timelines, on a
test-only unit type whose cost model is exact: an op ``gemm(m=C, n=B, k=1)`` computes for ``C`` cycles
and moves ``B`` bytes through DRAM.  Clock 1 Hz and DRAM 1 B/s make seconds = cycles = bytes.
Also: unit choice, errors, memoisation of costs across repeated layers and runs, and the heap engine
(`engine.run`, every test above) giving the same timeline and trace as the simpy reference (`engine.run_simpy`)
on random graphs and on every preset."""

from __future__ import annotations

from typing import Literal

import pytest

import arch
import sim
from arch.spec import Accelerator, MemoryTier, Tech, VectorUnit, _Unit
from sim import engine
from sim.cost import _REGISTRY, OpCost, cost_model
from sim.ppa import priced_cost
from workloads import Graph, OpKind, gemm, norm

FAKE = "test_fake"


class FakeUnit(_Unit):
    type: Literal["test_fake"] = FAKE


@pytest.fixture(autouse=True)
def fake_model():
    @cost_model(FAKE, kinds={OpKind.GEMM})
    def fake(op, unit, accelerator):
        if op.dims["K"] == 0:
            raise ValueError("fake model: K must be positive")
        cycles, dram = op.dims["M"], float(op.dims["N"])
        return OpCost(unit=unit.name, cycles=cycles, compute_cycles=cycles,
                      tier_bytes={"dram": dram} if dram else {}, utilization=1.0)

    yield
    del _REGISTRY[FAKE]
    engine.model_cost.cache_clear()


def machine(*names: str) -> Accelerator:
    """Fake units `names`, DRAM at 1 B/s, clock 1 Hz (built unvalidated: the unit type is test-only)."""
    return Accelerator.model_construct(
        name="fake", tech=Tech(node_nm=45, clock_hz=1.0), units=[FakeUnit(name=n) for n in names],
        memory=[MemoryTier(name="dram", kind="ddr4", capacity_bytes=2**30, bandwidth_gbps=1e-9)])


def op(name: str, cycles: int, dram: int = 0, **tags):
    return gemm(cycles, dram, 1, name=name, **tags)


def timeline(graph: Graph, acc: Accelerator):
    return engine.run(graph, acc, trace=True).trace


def test_independent_ops_run_in_parallel_on_two_units():
    g = Graph()
    g.add(op("x", 3))
    g.add(op("y", 5))
    assert timeline(g, machine("a", "b")) == [("x", "a", 0, 3, "gemm"), ("y", "b", 0, 5, "gemm")]


def test_independent_ops_share_one_unit_in_order():
    g = Graph()
    g.add(op("x", 3))
    g.add(op("y", 5))
    assert timeline(g, machine("a")) == [("x", "a", 0, 3, "gemm"), ("y", "a", 3, 8, "gemm")]


def test_chain_runs_serially():
    g = Graph()
    g.chain([op("x", 3), op("y", 2), op("z", 1)])
    assert timeline(g, machine("a", "b")) == [("x", "a", 0, 3, "gemm"), ("y", "a", 3, 5, "gemm"),
                                              ("z", "a", 5, 6, "gemm")]


def test_diamond_dag():
    g = Graph()
    s = g.add(op("s", 2))
    left = g.add(op("l", 3), [s])
    right = g.add(op("r", 5), [s])
    g.add(op("t", 1), [left, right])
    assert timeline(g, machine("a", "b")) == [
        ("s", "a", 0, 2, "gemm"), ("l", "a", 2, 5, "gemm"), ("r", "b", 2, 7, "gemm"), ("t", "a", 7, 8, "gemm")]


def test_shared_dma_channel_serialises_transfers():
    g = Graph()
    g.add(op("x", 1, dram=4))
    g.add(op("y", 1, dram=4))
    assert timeline(g, machine("a", "b")) == [
        ("x", "dram", 0, 4, "dma"), ("x", "a", 0, 4, "gemm"),
        ("y", "dram", 4, 8, "dma"), ("y", "b", 0, 8, "gemm")]


def test_dma_prefetches_under_the_predecessors_compute():
    g = Graph()
    g.chain([op("x", 4), op("y", 1, dram=3)])
    assert timeline(g, machine("a")) == [("y", "dram", 0, 3, "dma"), ("x", "a", 0, 4, "gemm"),
                                         ("y", "a", 4, 5, "gemm")]


def test_op_waits_for_its_own_dma_and_counts_it_as_stall():
    g = Graph()
    g.chain([op("x", 4), op("y", 1, dram=6)])
    acc = machine("a")
    run = engine.run(g, acc, trace=True)
    assert run.trace == [("x", "a", 0, 4, "gemm"), ("y", "dram", 0, 6, "dma"), ("y", "a", 4, 6, "gemm")]
    y = sim.simulate(g, acc).per_op.set_index("name").loc["y"]
    assert (y["cycles"], y["compute_cycles"], y["stall_cycles"]) == (2, 1, 1)
    assert (y["dma_start_s"], y["dma_end_s"]) == (0, 6)
    assert y["utilization"] == 0.5


def test_dma_runs_ahead_one_op_only():
    """z's transfer waits until its predecessor y has started, even though the channel is free at 2."""
    g = Graph()
    g.chain([op("x", 4, dram=2), op("y", 4), op("z", 1, dram=1)])
    assert timeline(g, machine("a")) == [
        ("x", "dram", 0, 2, "dma"), ("x", "a", 0, 4, "gemm"), ("z", "dram", 4, 5, "dma"),
        ("y", "a", 4, 8, "gemm"), ("z", "a", 8, 9, "gemm")]


def test_op_takes_the_unit_that_frees_first():
    g = Graph()
    g.add(op("p", 10))
    g.add(op("q", 4))
    g.add(op("r", 1))
    assert timeline(g, machine("a", "b")) == [("q", "b", 0, 4, "gemm"), ("r", "b", 4, 5, "gemm"),
                                              ("p", "a", 0, 10, "gemm")]


def test_unit_tag_pins_an_op():
    g = Graph()
    g.add(op("x", 3, unit="b"))
    g.add(op("y", 5, unit="b"))
    assert timeline(g, machine("a", "b")) == [("x", "b", 0, 3, "gemm"), ("y", "b", 3, 8, "gemm")]


def test_first_supporting_unit_type_wins():
    """On tpu-v1 a GEMM goes to the MXU and a norm to the vector unit (by the registry, not by name)."""
    g = Graph()
    g.chain([gemm(256, 256, 256, dtype="int8", name="mm"), norm(256, 256, name="ln")])
    units = {r.op.name: r.unit for r in engine.run(g, arch.load("tpu-v1")).records}
    assert units == {"mm": "mxu", "ln": "vpu"}


def test_unsupported_kind_names_op_kind_and_units():
    acc = Accelerator(name="vec-only", tech=Tech(node_nm=28, clock_hz=1e9), units=[VectorUnit(name="vpu", lanes=8)],
                      memory=[MemoryTier(name="dram", kind="ddr4", capacity_bytes="1GiB", bandwidth_gbps=10)])
    with pytest.raises(sim.UnsupportedOpError) as err:
        sim.simulate(gemm(8, 8, 8, name="proj"), acc)
    msg = str(err.value)
    assert "'proj'" in msg and "'gemm'" in msg and "vpu (vector)" in msg


def test_pinned_to_a_unit_that_cannot_run_it():
    g = Graph()
    g.add(norm(4, 4, name="ln", unit="mxu"))
    with pytest.raises(sim.UnsupportedOpError, match="'ln'.*pinned to unit 'mxu'"):
        engine.run(g, arch.load("tpu-v1"))


def test_cost_model_errors_name_the_op():
    g = Graph()
    g.add(gemm(1, 0, 0, name="broken"))
    with pytest.raises(ValueError, match="K must be positive") as err:
        engine.run(g, machine("a"))
    assert err.value.__notes__ == ["while costing op 'broken' (gemm) on unit 'a'"]


def test_repeated_layers_are_costed_once():
    g = Graph()
    g.chain(op for i in range(4) for op in (gemm(64, 64, 64, dtype="int8", name=f"mm{i}", layer=i),
                                            norm(64, 64, name=f"ln{i}", layer=i)))
    acc = arch.load("tpu-v1")
    engine.model_cost.cache_clear()
    priced_cost.cache_clear()
    sim.simulate(g, acc)
    assert engine.model_cost.cache_info()[:2] == (0, 2)  # (hits, misses): two distinct signatures
    assert priced_cost.cache_info()[:2] == (6, 2)
    sim.simulate(g, arch.load("tpu-v1"))  # an equal accelerator, a new object: same fingerprint
    assert priced_cost.cache_info()[:2] == (14, 2)
    sim.simulate(g, arch.load("tpu-v1", {"units.mxu.rows": 128}))  # a different accelerator
    assert priced_cost.cache_info()[:2] == (20, 4)


def test_same_graph_same_timeline():
    g = Graph()
    s = g.add(op("s", 2, dram=1))
    g.add(op("l", 3, dram=2), [s])
    g.add(op("r", 5, dram=3), [s])
    assert timeline(g, machine("a", "b")) == timeline(g, machine("a", "b"))


def test_graph_pass_runs_only_for_unit_types_present_and_its_graph_is_simulated():
    """A registered graph pass sees the graph before scheduling, only on accelerators with its unit type,
    and the graph it returns is the one simulated."""
    import arch
    import sim
    from sim import cost as cost_mod
    from workloads import gemm
    from workloads.graph import Graph

    seen = []

    def double(graph, accelerator):
        seen.append(accelerator.name)
        out = Graph(graph.name)
        prev = None
        for op in graph.ops():
            for i in range(2):
                new = op.replace(name=f"{op.name}.{i}")
                out.add(new, [prev] if prev else [])
                prev = new.name
        return out

    saved = cost_mod._PASSES.get("vector")
    cost_mod._PASSES["vector"] = double
    try:
        sim.simulate(gemm(64, 64, 64), arch.load("h100"))  # a GPU: no vector unit, the pass does not run
        assert seen == []
        r = sim.simulate(gemm(64, 64, 64), arch.load("tpu-v1"))  # has a vector unit
        assert seen == ["tpu-v1"]
        assert len(r.per_op) == 2
    finally:
        if saved is None:
            cost_mod._PASSES.pop("vector", None)
        else:
            cost_mod._PASSES["vector"] = saved


# ---- holding a memory channel (in-bank PIM without dual row buffers: "blocked" mode) -------------------
HOLD = "test_fake_hold"


class HoldUnit(_Unit):
    type: Literal["test_fake_hold"] = HOLD


@pytest.fixture
def hold_model():
    """A unit type whose ops compute M cycles, move N DRAM bytes and hold the DRAM channel meanwhile."""
    @cost_model(HOLD, kinds={OpKind.GEMM})
    def holding(op, unit, accelerator):
        cycles, dram = op.dims["M"], float(op.dims["N"])
        return OpCost(unit=unit.name, cycles=cycles, compute_cycles=cycles,
                      tier_bytes={"dram": dram} if dram else {}, utilization=1.0, holds=("dram",))

    yield
    del _REGISTRY[HOLD]
    engine.model_cost.cache_clear()


def mixed_machine() -> Accelerator:
    """Fake unit 'a' (holds nothing) and holding unit 'p', DRAM at 1 B/s, clock 1 Hz."""
    return Accelerator.model_construct(
        name="fake", tech=Tech(node_nm=45, clock_hz=1.0), units=[FakeUnit(name="a"), HoldUnit(name="p")],
        memory=[MemoryTier(name="dram", kind="ddr4", capacity_bytes=2**30, bandwidth_gbps=1e-9)])


def test_holding_op_blocks_transfers_requested_while_it_computes(hold_model):
    """y's transfer is requested at 1 (when w starts) but the channel is held by x until 4."""
    g = Graph()
    g.add(op("x", 4, unit="p"))
    g.chain([op("z", 1, unit="a"), op("w", 1, unit="a"), op("y", 1, dram=2, unit="a")])
    assert timeline(g, mixed_machine()) == [
        ("z", "a", 0, 1, "gemm"), ("w", "a", 1, 2, "gemm"), ("x", "dram", 0, 4, "hold"), ("x", "p", 0, 4, "gemm"),
        ("y", "dram", 4, 6, "dma"), ("y", "a", 2, 6, "gemm")]


def test_holding_op_waits_for_a_transfer_queued_before_it(hold_model):
    """y's transfer was queued first (0-3): x may only take the channel, and start, when it ends."""
    g = Graph()
    g.add(op("y", 1, dram=3, unit="a"))
    g.add(op("x", 2, unit="p"))
    assert timeline(g, mixed_machine()) == [
        ("y", "dram", 0, 3, "dma"), ("y", "a", 0, 3, "gemm"), ("x", "dram", 3, 5, "hold"), ("x", "p", 3, 5, "gemm")]


def test_op_that_holds_nothing_runs_beside_transfers(hold_model):
    """The same graph with x on a unit whose cost holds no channel (dual row buffers): x runs 0-2."""
    g = Graph()
    g.add(op("y", 1, dram=3, unit="a"))
    g.add(op("x", 2))
    acc = Accelerator.model_construct(
        name="fake", tech=Tech(node_nm=45, clock_hz=1.0), units=[FakeUnit(name="a"), FakeUnit(name="b")],
        memory=[MemoryTier(name="dram", kind="ddr4", capacity_bytes=2**30, bandwidth_gbps=1e-9)])
    assert timeline(g, acc) == [("x", "b", 0, 2, "gemm"), ("y", "dram", 0, 3, "dma"), ("y", "a", 0, 3, "gemm")]


def test_holding_op_with_its_own_transfer_takes_it_first_then_holds(hold_model):
    """x's own 2-byte transfer (queued at 0, before the hold) runs 0-2; x then holds the channel 2-5, so
    x ends at 5 and z's transfer, requested at 2 when x starts, waits until 5."""
    g = Graph()
    g.chain([op("x", 3, dram=2, unit="p"), op("z", 1, dram=1, unit="a")])
    assert timeline(g, mixed_machine()) == [
        ("x", "dram", 0, 2, "dma"), ("x", "dram", 2, 5, "hold"), ("x", "p", 2, 5, "gemm"),
        ("z", "dram", 5, 6, "dma"), ("z", "a", 5, 6, "gemm")]


# ---- the heap engine (`engine.run`) against the simpy reference (`engine.run_simpy`) ---------------------
FUZZ, FUZZ_HOLD = "test_fuzz", "test_fuzz_hold"


class FuzzUnit(_Unit):
    type: Literal["test_fuzz"] = FUZZ


class FuzzHoldUnit(_Unit):
    type: Literal["test_fuzz_hold"] = FUZZ_HOLD


@pytest.fixture
def fuzz_models():
    """``gemm(m=C, n=D, k=1+H)`` computes C cycles and moves D bytes through DRAM and H through HBM; on the
    holding type it also holds DRAM (and HBM when H is odd) while it computes."""
    def make(holding: bool):
        def fn(op, unit, accelerator):
            cycles, dram, hbm = op.dims["M"], float(op.dims["N"]), float(op.dims["K"] - 1)
            holds = (("dram", "hbm") if hbm % 2 else ("dram",)) if holding else ()
            return OpCost(unit=unit.name, cycles=cycles, compute_cycles=cycles,
                          tier_bytes={t: b for t, b in (("dram", dram), ("hbm", hbm)) if b},
                          utilization=1.0, holds=holds)
        return fn

    cost_model(FUZZ, kinds={OpKind.GEMM})(make(False))
    cost_model(FUZZ_HOLD, kinds={OpKind.GEMM})(make(True))
    yield
    del _REGISTRY[FUZZ], _REGISTRY[FUZZ_HOLD]
    engine.model_cost.cache_clear()


def same_timeline(a: engine.Timeline, b: engine.Timeline) -> bool:
    """Equal latency, trace (events and their order) and per-op unit, start, end and DMA span."""
    return a.latency_s == b.latency_s and a.trace == b.trace and [
        (r.op.name, r.unit, r.start_s, r.end_s, r.dma_start_s, r.dma_end_s) for r in a.records] == [
        (r.op.name, r.unit, r.start_s, r.end_s, r.dma_start_s, r.dma_end_s) for r in b.records]


def test_heap_engine_equals_simpy_on_random_graphs(fuzz_models):
    """300 random DAGs of 2-14 ops with small integer costs (so many events coincide): three identical
    units to choose from, a holding unit reached by pinning, two DRAM-like channels (1 and 2 B/s), ops
    with zero, one or two transfers and holds of one or two channels.  Both engines give the same trace."""
    import random

    acc = Accelerator.model_construct(
        name="fuzz", tech=Tech(node_nm=45, clock_hz=1.0),
        units=[FuzzUnit(name="f0"), FuzzUnit(name="f1"), FuzzUnit(name="f2"), FuzzHoldUnit(name="h")],
        memory=[MemoryTier(name="dram", kind="ddr4", capacity_bytes=2**30, bandwidth_gbps=1e-9),
                MemoryTier(name="hbm", kind="hbm2", capacity_bytes=2**30, bandwidth_gbps=2e-9)])
    rng = random.Random(4)
    holds = 0
    for _ in range(300):
        g = Graph()
        names: list[str] = []
        for i in range(rng.randint(2, 14)):
            tags = {"unit": rng.choice(["f1", "h", "h"])} if rng.random() < 0.3 else {}
            o = gemm(rng.randint(0, 4), rng.choice([0, 0, 1, 2, 3]), 1 + rng.choice([0, 0, 1, 2]), name=f"o{i}", **tags)
            g.add(o, rng.sample(names, rng.randint(0, min(3, len(names)))))
            names.append(o.name)
        a = engine.run(g, acc, trace=True)
        assert same_timeline(a, engine.run_simpy(g, acc, trace=True)), g.ops()
        holds += sum(e[4] == "hold" for e in a.trace)
    assert holds > 100  # the holding paths were exercised


def _small_cases(preset: str) -> list[tuple[str, dict]]:
    decode = dict(phase="decode", batch=256 if preset.startswith("neupims") else 8, kv_len=128, num_hidden_layers=2)
    if preset == "matmulfree-fpga":
        return [("matmulfree-1.3b", dict(decode, num_hidden_layers=1))]
    return [("llama2-7b", decode), ("bert-base", dict(seq_len=32, num_hidden_layers=2)),
            ("mixtral-8x7b", dict(phase="decode", batch=4, kv_len=64, num_hidden_layers=1))]


@pytest.mark.parametrize("preset", arch.preset_names())
def test_heap_engine_equals_simpy_on_presets(preset):
    """Every preset x small 2-layer workloads (dense decode, an encoder, MoE decode; the ternary model on
    the MatMul-free FPGA), with the graph passes and priced costs `sim.simulate` uses: same timelines."""
    from sim.cost import prepare

    # neupims' estimate keeps one batch on these short-context steps; 'always' keeps sub-batch graphs under test
    acc = arch.load(preset, {"units.pim.sub_batch_policy": "always"} if preset.startswith("neupims") else None)
    key = engine.accelerator_key(acc)

    def cost(sig, unit):
        return priced_cost(sig, unit, key)

    for name, kw in _small_cases(preset):
        graph = prepare(__import__("workloads").load(name, **kw), acc)
        a = engine.run(graph, acc, trace=True, cost=cost)
        assert same_timeline(a, engine.run_simpy(graph, acc, trace=True, cost=cost)), (preset, name)
        assert len(a.records) == len(graph) and a.latency_s > 0
        if preset == "neupims-blocked" and name == "llama2-7b":
            assert any(e[4] == "hold" for e in a.trace)
        if preset == "neupims" and name == "llama2-7b":
            assert {r.op.tags.get("sub_batch") for r in a.records} >= {0, 1}
