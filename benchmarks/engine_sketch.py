"""A proposal for `sim/engine.py` (owned by another room; nothing imports this file): `sim.engine.run`'s
scheduling model without simpy, checked against `sim.engine.run` itself and timed next to it.

Why: a DSE point on BERT-base (175 ops, tpu-v1) spends about 80 % of its time in `sim.engine.run`, and
most of that in simpy's machinery: 1,799 events for 175 ops (10.3 per op: process starts, the
predecessors' done/started events and their AllOf conditions, unit and channel requests, compute and
transfer timeouts), each a heap push/pop plus a generator resume and its callbacks
(``benchmarks/bench_engine.py --phases``).

The sketch keeps the model of the `sim.engine` docstring -- units and off-chip channels as FIFO
resources of capacity 1, an op's DMA requested when its predecessors have all started, compute once
they have all finished and its unit is free, held channels (``cost.holds``) acquired after the unit and
released when the compute ends, the op ending at max(compute, its DMA), candidates of one type with the
first to free up winning -- as plain callbacks on one heap of ``(time, sequence, callback)``.
Simultaneous events run in the order they were scheduled, which is the order simpy's callbacks fire in
for this model.  Left out: the event trace (``trace=True``), which is one list append per event.

    python benchmarks/engine_sketch.py     # every preset x (BERT-base, Llama-2-7B decode and prefill,
                                           # ResNet-50): timelines equal?  CPU ms of both
"""

from __future__ import annotations

import heapq
import sys
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sim.engine import OpRecord, Timeline, candidates, signature  # noqa: E402


def run(graph: Any, accelerator: Any, *, cost: Callable[[Any, str], Any]) -> Timeline:
    """`sim.engine.run`'s timeline (model: module docstring), without simpy and without a trace."""
    clock = float(accelerator.tech.clock_hz)
    ops = graph.ops()
    g = graph.g
    n = len(ops)
    index = {op.name: i for i, op in enumerate(ops)}
    succ = [[index[s] for s in g.successors(op.name)] for op in ops]
    npred = [g.in_degree(op.name) for op in ops]
    bw = {t.name: t.bytes_per_s(clock) for t in accelerator.off_chip}
    memo: dict = {}
    cands, first_cost, moves = [], [], []
    for op in ops:
        cs = candidates(accelerator, op, memo)
        c0 = cost(signature(op), cs[0].name)
        cands.append(cs)
        first_cost.append(c0)
        moves.append([(t, b) for t, b in c0.tier_bytes.items() if b > 0 and t in bw])

    heap: list = []
    seq = 0
    now = 0.0

    def at(t: float, fn: Callable, *args: Any) -> None:
        nonlocal seq
        heapq.heappush(heap, (t, seq, fn, args))
        seq += 1

    unit_busy = {u.name: False for u in accelerator.units}
    unit_queue: dict[str, deque] = {u.name: deque() for u in accelerator.units}
    chan_busy = dict.fromkeys(bw, False)
    chan_queue: dict[str, deque] = {t: deque() for t in bw}
    n_started, n_done, dma_left = [0] * n, [0] * n, [len(m) for m in moves]
    dma_spans: list[list[tuple[float, float]]] = [[] for _ in range(n)]
    computed, granted, holds_left = [False] * n, [False] * n, [0] * n
    start, unit_of, cost_of = [0.0] * n, [""] * n, [None] * n
    records: list[Any] = [None] * n

    def acquire(tier: str, fn: Callable, *args: Any) -> None:  # FIFO channel of capacity 1
        if chan_busy[tier]:
            chan_queue[tier].append((fn, args))
        else:
            chan_busy[tier] = True
            at(now, fn, *args)

    def release(tier: str) -> None:
        if chan_queue[tier]:
            fn, args = chan_queue[tier].popleft()
            at(now, fn, *args)
        else:
            chan_busy[tier] = False

    def dma(i: int) -> None:
        for tier, nbytes in moves[i]:
            acquire(tier, transfer, i, tier, nbytes)

    def transfer(i: int, tier: str, nbytes: float) -> None:
        at(now + nbytes / bw[tier], transferred, i, tier, now)

    def transferred(i: int, tier: str, t0: float) -> None:
        dma_spans[i].append((t0, now))
        release(tier)
        dma_left[i] -= 1
        if dma_left[i] == 0 and computed[i]:
            finish(i)

    def ready(i: int) -> None:  # all predecessors done: ask for a unit
        for k, u in enumerate(cands[i]):
            if not unit_busy[u.name]:
                unit_busy[u.name] = granted[i] = True
                at(now, got_unit, i, k)
                return
        for k, u in enumerate(cands[i]):  # queued on every candidate: the first to free up wins
            unit_queue[u.name].append((i, k))

    def got_unit(i: int, k: int) -> None:
        unit = cands[i][k]
        c = first_cost[i] if k == 0 else cost(signature(ops[i]), unit.name)
        unit_of[i], cost_of[i] = unit.name, c
        holds = [t for t in c.holds if t in bw]
        if not holds:
            compute(i)
            return
        holds_left[i] = len(holds)
        for tier in holds:
            acquire(tier, got_hold, i)

    def got_hold(i: int) -> None:
        holds_left[i] -= 1
        if holds_left[i] == 0:
            compute(i)

    def compute(i: int) -> None:
        start[i] = now
        for s in succ[i]:
            n_started[s] += 1
            if n_started[s] == npred[s] and moves[s]:
                dma(s)
        at(now + cost_of[i].cycles / clock, computed_, i)

    def computed_(i: int) -> None:
        computed[i] = True
        for tier in cost_of[i].holds:
            if tier in bw:
                release(tier)
        if dma_left[i] == 0:
            finish(i)

    def finish(i: int) -> None:
        u = unit_of[i]
        q = unit_queue[u]
        while q and granted[q[0][0]]:
            q.popleft()
        if q:
            j, k = q.popleft()
            granted[j] = True
            at(now, got_unit, j, k)
        else:
            unit_busy[u] = False
        rec = OpRecord(ops[i], u, start[i], now, cost_of[i])
        if dma_spans[i]:
            rec.dma_start_s = min(s for s, _ in dma_spans[i])
            rec.dma_end_s = max(e for _, e in dma_spans[i])
        records[i] = rec
        for s in succ[i]:
            n_done[s] += 1
            if n_done[s] == npred[s]:
                ready(s)

    roots = [i for i in range(n) if npred[i] == 0]
    for i in roots:  # the engine starts every op's DMA process before its compute process
        if moves[i]:
            dma(i)
    for i in roots:
        ready(i)
    while heap:
        now, _, fn, args = heapq.heappop(heap)
        fn(*args)
    return Timeline(records, now, clock, [])


def main() -> None:
    import arch
    import workloads
    from sim import engine
    from sim.cost import prepare
    from sim.ppa import priced_cost

    cases = (("bert-base", {"seq_len": 128}), ("llama2-7b", {"phase": "decode", "batch": 8, "kv_len": 512}),
             ("llama2-7b", {"phase": "prefill", "seq_len": 256}), ("resnet-50", {}))
    print(f"{'preset':<20} {'workload':<22} {'ops':>5} {'same':>5} {'engine ms':>10} {'sketch ms':>10} {'x':>5}")
    total = [0.0, 0.0]
    same_all = True
    for name in arch.preset_names():
        acc = arch.load(name)
        for wl, kw in cases:
            label = f"{wl} {kw.get('phase', '')}".strip()
            try:
                graph = prepare(workloads.load(wl, **kw), acc)
                key = engine.accelerator_key(acc)

                def cf(sig: Any, unit: str, key: Any = key) -> Any:
                    return priced_cost(sig, unit, key)

                engine.run(graph, acc, cost=cf)  # fills the cost memo for both
                t0 = time.process_time()
                a = engine.run(graph, acc, cost=cf)
                t1 = time.process_time()
            except Exception as e:  # noqa: BLE001 - a preset that cannot run this workload
                print(f"{name:<20} {label:<22} skipped: {type(e).__name__}: {str(e).splitlines()[0][:60]}")
                continue
            b = run(graph, acc, cost=cf)
            t2 = time.process_time()
            same = a.latency_s == b.latency_s and all(
                (x.unit, x.start_s, x.end_s, x.dma_start_s, x.dma_end_s) ==
                (y.unit, y.start_s, y.end_s, y.dma_start_s, y.dma_end_s) for x, y in zip(a.records, b.records))
            same_all &= same
            total[0] += t1 - t0
            total[1] += t2 - t1
            print(f"{name:<20} {label:<22} {len(graph):>5} {'yes' if same else 'NO':>5} {1e3 * (t1 - t0):>10.1f} "
                  f"{1e3 * (t2 - t1):>10.1f} {(t1 - t0) / max(t2 - t1, 1e-9):>5.1f}")
    print(f"all timelines equal (unit, start, end, DMA start/end of every op): {same_all}; "
          f"CPU {total[0]:.2f} s vs {total[1]:.2f} s (x{total[0] / total[1]:.1f})")


if __name__ == "__main__":
    main()
