"""The engine: schedules a `Graph`'s ops on an `Accelerator`'s units and off-chip memory channels.

It knows no unit family: it asks the cost-model registry (`sim.cost`) which unit types support an op's
kind and what an op costs there.  The model below has two implementations that give identical timelines
and traces: `run`, the default, plain callbacks on one heap of ``(time, priority, sequence)`` entries, and
`run_simpy`, the same model as simpy processes and resources, kept as the executable specification ("the
simpy engine" of the design) and checked equal to `run` by ``tests/sim/test_engine.py`` (random graphs
with ties and holds, every preset on small workloads); ``benchmarks/bench_engine.py --compare`` times both.
The model is written in simpy's terms below; `run` reproduces simpy's order for simultaneous events
(process starts first, then events in the order they were scheduled).

Resources
---------
- Each unit is one ``simpy.Resource`` of capacity 1.  A unit's ``count`` instances (cores) are *not*
  separate resources: cost models spread one op over all of them (the systolic model splits an op
  over its cores, the vector model divides by ``count``), so one op at a time holds the whole unit.
- Each off-chip memory tier is one DMA channel, a ``simpy.Resource`` of capacity 1 whose transfers
  run at the tier's ``bytes_per_s(clock_hz)``; channels are FIFO.

Events are ops (one process per op and one per DMA transfer), never cycles.

Scheduling and overlap
----------------------
- *Unit choice*: the units that can run an op are those whose type's cost model `supports` its kind;
  of those, the ones of the same type as the first in accelerator order are candidates (identical
  cores of one family, e.g. two MXUs), and the op takes the candidate that frees up first (ties go to
  accelerator order).  A ``unit`` tag on an op pins it to that unit.  No candidate raises
  `UnsupportedOpError` naming the op, its kind and the units present.
- *Compute*: an op starts when all its predecessors have finished and its unit is free; it holds the
  unit for ``cost.cycles / clock_hz`` (compute plus the cost model's own stalls), and further until
  its own DMA has finished.  So an op takes ``max(cost.cycles, its DMA)`` once started, and the
  extra wait is added to its stall cycles.
- *DMA (prefetch)*: an op's off-chip bytes (``cost.tier_bytes`` of each off-chip tier, reads and
  writes together) move as one transfer per tier on that tier's channel.  The transfer is requested
  as soon as all the op's predecessors have *started* (roots: at time 0) -- one op of run-ahead
  along every dependency path, i.e. double buffering -- and then waits for the channel.  So
  transfers overlap the compute of other ops, and ops sharing a channel serialise their transfers.
  The bytes are those the op costs on its first candidate unit (the unit is only chosen later).

- *Holding a memory channel* (``cost.holds``, e.g. in-bank PIM without dual row buffers, "blocked
  mode"): once an op has its unit it also requests the DMA channel of each tier it names, FIFO behind
  the transfers already queued there (so it waits for in-flight and earlier-requested DMA), and holds
  the channel for its compute (``cost.cycles``); transfers requested meanwhile wait until it ends.  The
  op's own DMA, if any, was queued before the hold, so it runs first.  Held channels are released when
  the compute ends, before the op waits for any of its own DMA still running.  An op whose cost holds
  nothing (dual row buffers, every other family) leaves the channels to DMA.  Holds appear in the
  trace as kind ``"hold"`` on the tier's lane.

Costs are memoised: `model_cost` is an ``lru_cache`` keyed by (``op.signature()``, unit name,
`AcceleratorKey`), the key holding a hash of the accelerator's JSON computed once per run, so the
repeated layers of a model cost one call each, across runs too.

Left out: on-chip capacity (prefetched bytes are assumed to fit), DMA of an op's outputs after its
compute, multi-socket links, and tile-level events.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import heapq
import itertools
from collections import deque
from collections.abc import Callable
from typing import Any

from sim.cost import OpCost, get_cost_model, supports
from workloads.graph import Graph
from workloads.op import Op, OpKind


class UnsupportedOpError(ValueError):
    """No unit of the accelerator can run an op of this kind."""


@dataclasses.dataclass(frozen=True, eq=False)
class AcceleratorKey:
    """An accelerator and the hash of its JSON: hashable and compared by fingerprint only."""

    fingerprint: str
    accelerator: Any

    def __hash__(self) -> int:
        return hash(self.fingerprint)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AcceleratorKey) and other.fingerprint == self.fingerprint


def accelerator_key(accelerator: Any) -> AcceleratorKey:
    """Fingerprint `accelerator` (a pydantic model) by the SHA-1 of its JSON."""
    text = accelerator.model_dump_json(warnings=False)
    return AcceleratorKey(hashlib.sha1(text.encode()).hexdigest(), accelerator)


@functools.lru_cache(maxsize=1 << 16)
def model_cost(sig: Op, unit_name: str, key: AcceleratorKey) -> OpCost:
    """The registered cost model's answer for op signature `sig` on unit `unit_name` (memoised)."""
    unit = key.accelerator.unit(unit_name)
    return get_cost_model(unit.type).fn(sig, unit, key.accelerator)


@functools.lru_cache(maxsize=1 << 16)
def signature(op: Op) -> Op:
    """`op.signature()`, memoised (an op's signature is rebuilt and re-validated otherwise)."""
    return op.signature()


#: ``cost(op_signature, unit_name) -> OpCost``: how the engine asks what an op costs on a unit.
UnitCostFn = Callable[[Op, str], OpCost]


@dataclasses.dataclass
class OpRecord:
    """When and where one op ran, and what it cost (``cost.cycles`` excludes DMA waits)."""

    op: Op
    unit: str
    start_s: float
    end_s: float
    cost: OpCost
    dma_start_s: float | None = None
    dma_end_s: float | None = None


@dataclasses.dataclass
class Timeline:
    """The engine's output: one record per op (topological order), the latency and the event log.

    ``trace`` holds ``(name, unit_or_channel, start_s, end_s, kind)`` tuples in completion order
    when tracing was asked for (DMA transfers have kind ``"dma"`` and the tier name as unit)."""

    records: list[OpRecord]
    latency_s: float
    clock_hz: float
    trace: list[tuple[str, str, float, float, str]]


def _describe_units(accelerator: Any) -> str:
    return ", ".join(f"{u.name} ({u.type})" for u in accelerator.units)


def candidates(accelerator: Any, op: Op, _memo: dict | None = None) -> list[Any]:
    """Units that may run `op` (see the module docstring); raises `UnsupportedOpError` if none."""
    pinned = op.tags.get("unit")
    if pinned is not None:
        unit = accelerator.unit(pinned)
        if not supports(unit.type, op.kind):
            raise UnsupportedOpError(
                f"op {op.name!r} (kind {op.kind.value!r}) is pinned to unit {pinned!r} ({unit.type}), "
                f"which does not support {op.kind.value!r}")
        return [unit]
    if _memo is not None and op.kind in _memo:
        return _memo[op.kind]
    able = [u for u in accelerator.units if supports(u.type, op.kind)]
    if not able:
        raise UnsupportedOpError(
            f"op {op.name!r} has kind {op.kind.value!r}, which no unit of {accelerator.name!r} supports; "
            f"units: {_describe_units(accelerator)}")
    chosen = [u for u in able if u.type == able[0].type]
    if _memo is not None:
        _memo[op.kind] = chosen
    return chosen


def _default_cost(accelerator: Any) -> UnitCostFn:
    key = accelerator_key(accelerator)

    def cost(sig: Op, unit_name: str) -> OpCost:
        return model_cost(sig, unit_name, key)
    return cost


def run(graph: Graph, accelerator: Any, *, trace: bool = False, cost: UnitCostFn | None = None) -> Timeline:
    """Schedule `graph` on `accelerator` (model: module docstring) with the heap engine.

    `cost(sig, unit_name) -> OpCost` defaults to the memoised registered cost model (`model_cost`).

    Each step of `run_simpy` that simpy would schedule as an event with a callback (a process start, a
    granted request, a timeout, a triggered ``started``/``done``/condition/process event, a release with a
    queued request behind it) is one ``(time, priority, sequence, callback, argument)`` entry here, pushed in
    the same order and with the same priority (process starts urgent), so simultaneous steps interleave as
    in simpy and the timeline and trace are identical; events without callbacks are not pushed (dropping
    them reorders nothing)."""
    cost = _default_cost(accelerator) if cost is None else cost
    clock = float(accelerator.tech.clock_hz)
    ops = graph.ops()
    index = {op.name: i for i, op in enumerate(ops)}
    bw = {t.name: t.bytes_per_s(clock) for t in accelerator.off_chip}
    memo: dict[OpKind, list[Any]] = {}
    preds: list[list[int]] = []
    cands: list[list[Any]] = []
    first_cost: list[OpCost] = []
    moves: list[list[tuple[str, float]]] = []
    for op in ops:
        preds.append([index[p] for p in graph.input_names(op.name)])
        cs = candidates(accelerator, op, memo)
        try:
            c0 = cost(signature(op), cs[0].name)
        except Exception as e:  # cost models see the nameless signature: say which op it was
            e.add_note(f"while costing op {op.name!r} ({op.kind.value}) on unit {cs[0].name!r}")
            raise
        cands.append(cs)
        first_cost.append(c0)
        moves.append([(t, b) for t, b in c0.tier_bytes.items() if b > 0 and t in bw])
    n = len(ops)

    heap: list = []
    push, pop = heapq.heappush, heapq.heappop
    seq = itertools.count()
    now = 0.0
    log: list[tuple[str, str, float, float, str]] = []
    # An event is a list whose item 0 is its callback list ((fn, arg) pairs), None once processed.
    # A resource is [busy, FIFO queue of requests]; a request is an event [callbacks, resource, granted].
    # A condition is an event [callbacks, count, needed, triggered].
    units = {u.name: [False, deque()] for u in accelerator.units}
    chans = {t: [False, deque()] for t in bw}
    started: list[list] = [[[]] for _ in range(n)]
    done: list[list] = [[[]] for _ in range(n)]
    dma_ev: list[list] = [[[]] for _ in range(n)]
    dma_alive = [bool(m) for m in moves]
    boxes: list[list[tuple[float, float]]] = [[] for _ in range(n)]
    unit_of: list[Any] = [None] * n
    unit_req: list[Any] = [None] * n
    cost_of: list[Any] = [None] * n
    held_of: list[Any] = [None] * n
    start = [0.0] * n
    records: list[Any] = [None] * n

    def fire(ev: list) -> None:
        cbs = ev[0]
        ev[0] = None
        for fn, arg in cbs:
            fn(arg)

    def succeed(ev: list) -> None:  # a started/done/process event: its waiters are all registered by now
        if ev[0]:
            push(heap, (now, 1, next(seq), fire, ev))
        else:
            ev[0] = None

    def trigger_put(res: list) -> None:  # grant the head of the queue if the resource is free
        if not res[0] and res[1]:
            r = res[1].popleft()
            r[2] = res[0] = True
            push(heap, (now, 1, next(seq), fire, r))

    def request(res: list) -> list:
        r = [[], res, False]
        res[1].append(r)
        trigger_put(res)
        return r

    def release(res: list) -> None:
        res[0] = False
        if res[1]:  # the Release event's trigger_put grants the next request; a no-op otherwise
            push(heap, (now, 1, next(seq), trigger_put, res))

    def check(c: list) -> None:
        if not c[3]:
            c[1] += 1
            if c[1] >= c[2]:
                c[3] = True
                push(heap, (now, 1, next(seq), fire, c))

    def condition(evs: list, needed: int, fn: Callable, arg: Any) -> None:
        c = [[(fn, arg)], 0, needed, False]
        for ev in evs:
            if ev[0] is None:
                check(c)
            else:
                ev[0].append((check, c))

    def wait(evs: list, fn: Callable, arg: Any) -> None:
        if len(evs) == 1:
            ev = evs[0]
            if ev[0] is None:
                fn(arg)
            else:
                ev[0].append((fn, arg))
        else:
            condition(evs, len(evs), fn, arg)

    # ---- DMA: one process per op with off-chip bytes, one transfer per tier
    def dma_start(i: int) -> None:
        if preds[i]:
            wait([started[p] for p in preds[i]], dma_go, i)
        else:
            dma_go(i)

    def dma_go(i: int) -> None:
        mv = moves[i]
        if len(mv) == 1:
            transfer(i, mv[0][0], mv[0][1], dma_end, i)
        else:
            procs = []
            for tier, nbytes in mv:
                pe: list = [[]]
                push(heap, (now, 0, next(seq), transfer_start, (i, tier, nbytes, pe)))
                procs.append(pe)
            condition(procs, len(procs), dma_end, i)

    def transfer_start(a: tuple) -> None:
        i, tier, nbytes, pe = a
        transfer(i, tier, nbytes, succeed, pe)

    def transfer(i: int, tier: str, nbytes: float, then: Callable, arg: Any) -> None:
        r = request(chans[tier])
        r[0].append((transfer_granted, (i, tier, nbytes, then, arg)))

    def transfer_granted(a: tuple) -> None:
        push(heap, (now + a[2] / bw[a[1]], 1, next(seq), transfer_done, (a, now)))

    def transfer_done(a: tuple) -> None:
        (i, tier, _, then, arg), t0 = a
        release(chans[tier])
        boxes[i].append((t0, now))
        if trace:
            log.append((ops[i].name, tier, t0, now, "dma"))
        then(arg)

    def dma_end(i: int) -> None:
        dma_alive[i] = False
        succeed(dma_ev[i])

    # ---- compute: one process per op
    def op_start(i: int) -> None:
        if preds[i]:
            wait([done[p] for p in preds[i]], op_ready, i)
        else:
            op_ready(i)

    def op_ready(i: int) -> None:
        cs = cands[i]
        if len(cs) == 1:
            r = request(units[cs[0].name])
            r[0].append((op_got, (i, 0, r)))
        else:
            reqs = [request(units[u.name]) for u in cs]
            condition(reqs, 1, op_pick, (i, reqs))

    def op_pick(a: tuple) -> None:
        i, reqs = a
        pick = next(k for k, r in enumerate(reqs) if r[2])
        for k, r in enumerate(reqs):
            if k != pick:
                if r[2]:
                    release(r[1])
                else:
                    r[1][1].remove(r)
        op_got((i, pick, reqs[pick]))

    def op_got(a: tuple) -> None:
        i, k, r = a
        unit = cands[i][k]
        c = first_cost[i] if k == 0 else cost(signature(ops[i]), unit.name)
        unit_of[i], unit_req[i], cost_of[i] = unit.name, r, c
        holds = [t for t in c.holds if t in bw]
        if holds:
            held_of[i] = holds
            wait([request(chans[t]) for t in holds], op_compute, i)
        else:
            op_compute(i)

    def op_compute(i: int) -> None:
        start[i] = now
        succeed(started[i])
        push(heap, (now + cost_of[i].cycles / clock, 1, next(seq), op_computed, i))

    def op_computed(i: int) -> None:
        if held_of[i]:
            for t in held_of[i]:
                release(chans[t])
                if trace:
                    log.append((ops[i].name, t, start[i], now, "hold"))
        if dma_alive[i]:
            dma_ev[i][0].append((op_finish, i))
        else:
            op_finish(i)

    def op_finish(i: int) -> None:
        release(unit_req[i][1])
        rec = OpRecord(ops[i], unit_of[i], start[i], now, cost_of[i])
        box = boxes[i]
        if box:
            rec.dma_start_s = min(b[0] for b in box)
            rec.dma_end_s = max(b[1] for b in box)
        records[i] = rec
        if trace:
            log.append((ops[i].name, unit_of[i], start[i], now, ops[i].kind.value))
        succeed(done[i])

    for i in range(n):  # simpy starts each op's DMA process, then its compute process (urgent, in order)
        if moves[i]:
            push(heap, (0.0, 0, next(seq), dma_start, i))
        push(heap, (0.0, 0, next(seq), op_start, i))
    while heap:
        now, _, _, fn, arg = pop(heap)
        fn(arg)
    return Timeline(records, float(now), clock, log)


def run_simpy(graph: Graph, accelerator: Any, *, trace: bool = False, cost: UnitCostFn | None = None) -> Timeline:
    """The reference implementation of the model (module docstring) as simpy processes: `run`'s
    executable specification, identical timelines and traces, about 2x the CPU time (``benchmarks/bench_engine.py
    --compare``)."""
    import simpy

    cost = _default_cost(accelerator) if cost is None else cost
    clock = float(accelerator.tech.clock_hz)
    env = simpy.Environment()
    units = {u.name: simpy.Resource(env, capacity=1) for u in accelerator.units}
    channels = {t.name: (simpy.Resource(env, capacity=1), t.bytes_per_s(clock)) for t in accelerator.off_chip}
    ops = graph.ops()
    started: dict[str, simpy.Event] = {op.name: env.event() for op in ops}
    done: dict[str, simpy.Event] = {op.name: env.event() for op in ops}
    records: dict[str, OpRecord] = {}
    log: list[tuple[str, str, float, float, str]] = []
    memo: dict[OpKind, list[Any]] = {}
    timeout, all_of, any_of = env.timeout, env.all_of, env.any_of

    def wait(events: list[simpy.Event]):
        return events[0] if len(events) == 1 else all_of(events)

    def transfer(op: Op, tier: str, nbytes: float, rec_box: list):
        channel, bw = channels[tier]
        with channel.request() as req:
            yield req
            t0 = env.now
            yield timeout(nbytes / bw)
        rec_box.append((t0, env.now))
        if trace:
            log.append((op.name, tier, t0, env.now, "dma"))

    def dma(op: Op, pred_names: list[str], moves: list[tuple[str, float]], box: list):
        if pred_names:
            yield wait([started[p] for p in pred_names])
        if len(moves) == 1:
            yield from transfer(op, moves[0][0], moves[0][1], box)
        else:
            yield all_of([env.process(transfer(op, t, b, box)) for t, b in moves])

    def op_process(op: Op, pred_names: list[str], cands: list[Any], first_cost: OpCost,
                   dma_proc: simpy.Process | None, box: list):
        if pred_names:
            yield wait([done[p] for p in pred_names])
        if len(cands) == 1:
            unit = cands[0]
            res = units[unit.name]
            req = res.request()
            yield req
            c = first_cost
        else:
            reqs = [units[u.name].request() for u in cands]
            yield any_of(reqs)
            pick = next(i for i, r in enumerate(reqs) if r.triggered)
            for i, r in enumerate(reqs):
                if i != pick:
                    if r.triggered:
                        units[cands[i].name].release(r)
                    else:
                        r.cancel()
            unit, req, res = cands[pick], reqs[pick], units[cands[pick].name]
            c = first_cost if pick == 0 else cost(signature(op), unit.name)
        held = [(channels[t][0], channels[t][0].request()) for t in c.holds if t in channels]
        if held:
            yield wait([r for _, r in held])
        t0 = env.now
        started[op.name].succeed()
        yield timeout(c.cycles / clock)
        if held:
            for (ch, r), t in zip(held, [t for t in c.holds if t in channels]):
                ch.release(r)
                if trace:
                    log.append((op.name, t, t0, env.now, "hold"))
        if dma_proc is not None and dma_proc.is_alive:
            yield dma_proc
        t1 = env.now
        res.release(req)
        rec = OpRecord(op, unit.name, t0, t1, c)
        if box:
            rec.dma_start_s = min(b[0] for b in box)
            rec.dma_end_s = max(b[1] for b in box)
        records[op.name] = rec
        if trace:
            log.append((op.name, unit.name, t0, t1, op.kind.value))
        done[op.name].succeed()

    for op in ops:
        preds = graph.input_names(op.name)
        cands = candidates(accelerator, op, memo)
        try:
            c0 = cost(signature(op), cands[0].name)
        except Exception as e:  # cost models see the nameless signature: say which op it was
            e.add_note(f"while costing op {op.name!r} ({op.kind.value}) on unit {cands[0].name!r}")
            raise
        moves = [(t, b) for t, b in c0.tier_bytes.items() if b > 0 and t in channels]
        box: list[tuple[float, float]] = []
        dma_proc = env.process(dma(op, preds, moves, box)) if moves else None
        env.process(op_process(op, preds, cands, c0, dma_proc, box))
    env.run()
    return Timeline([records[op.name] for op in ops], float(env.now), clock, log)
