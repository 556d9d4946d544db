"""Bank-level DRAM timing: constraint rules as data, an open-page address model, effective bandwidth.

What it models
--------------
- **Rules** (`RULES`): each timing constraint is a row ``Rule(level, prev, next, latency, window)``: a
  command ``next`` to the same scope (pseudo-channel, bank group or bank) as an earlier ``prev`` waits
  ``latency`` cycles after the ``window``-th most recent ``prev`` (window 4 is tFAW).  Latencies are typed
  expressions (`Lat`) of `DramTiming` fields (`Param`), e.g. ``T.T_RAS + T.T_RP`` for tRC.  `Timeline`
  applies the rules to issued commands (the rule tests probe each edge); `schedule` runs an FR-FCFS
  open-page controller over a bounded sample of requests with them.
- **Address mapping** (`decode`, `DEFAULT_MAPPING`): an address splits, least significant first, into
  burst offset | low column | channel | pseudo-channel | bank group | high column | bank | row (mixed
  radix, so sizes need not be powers of two).  The low column keeps one `INTERLEAVE_BYTES` (64 B, a
  cache line) block in one bank, so a 64-byte access is one activate even where a burst is 32 B.
  Consecutive blocks rotate over channels, pseudo-channels and bank groups (tCCD_S apart) and stay in one
  open row per bank for ``row_bytes`` bytes.
- **Row-buffer hits** (`row_hits`): open-page policy; a request hits when the previous request to its
  bank opened the same row (vectorised over the request stream).
- **Effective bandwidth** (`effective_bandwidth`): the throughput of an ideal reordering open-page
  controller, per pseudo-channel the largest of its resource bounds (cycles):
  data bus ``n * tBL``; column commands ``n * max(tCCD_S, tBL)`` and, per bank group,
  ``n_bg * max(tCCD_L, tBL)``; activates ``n_act * tRRD_S``, per bank group ``n_act_bg * tRRD_L`` and
  ``n_act * tFAW / 4``; per bank the sum over its row visits of ``max(tRAS, tRCD + k * tCCD_L) + tRP``
  (k reads in the visit).  The device's time is that of its busiest pseudo-channel; refresh then takes
  ``tRFC / tREFI`` of all time (all-bank refresh, `refresh_overhead`).  Counts come from a bounded,
  seeded sample of the pattern's addresses (numpy, no per-cycle loop).
- **Peak** (`peak_bandwidth`): ``channels * bus_bits / 8 * data_rate / tCK``.  ``bus_bits`` is one
  channel's width; its pseudo-channels each drive ``bus_bits / pseudo_channels`` of it, so a burst takes
  ``tBL = burst_bytes * 8 / (bus_bits / pseudo_channels * data_rate)`` cycles on its pseudo-channel.

- **Write turnaround** (rules, and `stream_cost` with ``is_write``): a read after a write waits ``CWL + tBL +
  tWTR_L`` (same bank group) or ``+ tWTR_S`` (another bank group of the pseudo-channel); a write after a read
  waits ``tRTW`` (JEDEC's CL + tBL + 2 - CWL unless the timing gives it).  In the closed form each switch in a
  pseudo-channel's request order (stream order: no write batching beyond what the stream itself does)
  stretches its data-bus bound: a read-to-write switch by ``tRTW - tBL``, a write-to-read switch by ``CWL +
  tWTR`` (the write's data, then the turnaround, instead of one burst slot).  `mixed_stream` builds a stream of
  read runs and write runs.

Left out: tRTP (a read may precharge tBL after it), command-bus
conflicts between row and column commands, per-bank refresh, ranks, power-down, closed-page policies.
The rules and the controller follow the JEDEC definitions as Ramulator and DRAMsim3 describe them; no
code is taken from either.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections import deque
from typing import Literal

import numpy as np

from arch.spec import DramTiming


class Command(enum.Enum):
    ACT = "ACT"
    PRE = "PRE"
    RD = "RD"
    WR = "WR"
    REF = "REF"


class Level(enum.Enum):
    """The scope a rule applies within: commands to the same pseudo-channel, bank group or bank."""

    CHANNEL = "channel"  # one pseudo-channel: its command stream, data bus and refresh
    BANK_GROUP = "bank_group"
    BANK = "bank"


class Param(enum.Enum):
    """A timing field of `DramTiming` (cycles), or T_BL: cycles one burst holds a pseudo-channel's bus."""

    T_RCD = "t_rcd"
    T_RP = "t_rp"
    T_RAS = "t_ras"
    T_CL = "t_cl"
    T_CCD_S = "t_ccd_s"
    T_CCD_L = "t_ccd_l"
    T_RRD_S = "t_rrd_s"
    T_RRD_L = "t_rrd_l"
    T_FAW = "t_faw"
    T_WR = "t_wr"
    T_RFC = "t_rfc"
    T_REFI = "t_refi"
    T_CWL = "t_cwl"
    T_WTR_S = "t_wtr_s"
    T_WTR_L = "t_wtr_l"
    T_RTW = "t_rtw"
    T_BL = "t_bl"

    def __add__(self, other: Param | Lat | int) -> Lat:
        return Lat.of(self) + other

    def cycles(self, timing: DramTiming) -> int:
        if self is Param.T_BL:
            return burst_cycles(timing)
        v = getattr(timing, self.value)
        if v is None:  # optional write-turnaround fields (arch.spec.DramTiming): their documented defaults
            if self is Param.T_CWL:
                return int(timing.t_cl)
            if self is Param.T_WTR_L:
                return int(timing.t_wtr_s or 0)
            if self is Param.T_RTW:
                return max(1, timing.t_cl + burst_cycles(timing) + 2 - (timing.t_cwl or timing.t_cl))
            return 0
        return int(v)


@dataclasses.dataclass(frozen=True)
class Lat:
    """A latency: a sum of timing parameters (with integer coefficients) plus a constant, in cycles."""

    terms: tuple[tuple[Param, int], ...] = ()
    const: int = 0

    @staticmethod
    def of(p: Param | Lat | int) -> Lat:
        if isinstance(p, Lat):
            return p
        if isinstance(p, Param):
            return Lat(((p, 1),))
        return Lat((), int(p))

    def __add__(self, other: Param | Lat | int) -> Lat:
        o = Lat.of(other)
        return Lat(self.terms + o.terms, self.const + o.const)

    __radd__ = __add__

    def cycles(self, timing: DramTiming) -> int:
        return self.const + sum(k * p.cycles(timing) for p, k in self.terms)

    def __str__(self) -> str:
        parts = [(f"{k}*" if k != 1 else "") + p.value for p, k in self.terms]
        return " + ".join(parts + ([str(self.const)] if self.const or not parts else []))


@dataclasses.dataclass(frozen=True)
class Rule:
    """``next`` to the same `level` scope waits `latency` after the `window`-th most recent ``prev``."""

    level: Level
    prev: Command
    next: Command
    latency: Lat
    window: int = 1


T = Param
C = Command
L = Level
_ = Lat.of

#: The timing constraints, one row each (reads and writes; refresh blocks its pseudo-channel for tRFC).
RULES: tuple[Rule, ...] = (
    # bank: row cycle
    Rule(L.BANK, C.ACT, C.RD, _(T.T_RCD)),
    Rule(L.BANK, C.ACT, C.WR, _(T.T_RCD)),
    Rule(L.BANK, C.ACT, C.PRE, _(T.T_RAS)),
    Rule(L.BANK, C.ACT, C.ACT, T.T_RAS + T.T_RP),  # tRC
    Rule(L.BANK, C.PRE, C.ACT, _(T.T_RP)),
    Rule(L.BANK, C.RD, C.PRE, _(T.T_BL)),  # tRTP is not a DramTiming field: the burst must leave the row
    Rule(L.BANK, C.WR, C.PRE, T.T_CWL + T.T_BL + T.T_WR),  # write recovery after the data
    # bank group: long column and activate spacing, write-to-read turnaround
    Rule(L.BANK_GROUP, C.RD, C.RD, _(T.T_CCD_L)),
    Rule(L.BANK_GROUP, C.WR, C.WR, _(T.T_CCD_L)),
    Rule(L.BANK_GROUP, C.WR, C.RD, T.T_CWL + T.T_BL + T.T_WTR_L),
    Rule(L.BANK_GROUP, C.ACT, C.ACT, _(T.T_RRD_L)),
    # pseudo-channel: short spacing, the data bus, the four-activate window, refresh
    Rule(L.CHANNEL, C.RD, C.RD, _(T.T_CCD_S)),
    Rule(L.CHANNEL, C.RD, C.RD, _(T.T_BL)),  # data bus
    Rule(L.CHANNEL, C.WR, C.WR, _(T.T_CCD_S)),
    Rule(L.CHANNEL, C.WR, C.WR, _(T.T_BL)),
    Rule(L.CHANNEL, C.WR, C.RD, T.T_CWL + T.T_BL + T.T_WTR_S),  # bus turnaround after the write's data
    Rule(L.CHANNEL, C.RD, C.WR, _(T.T_RTW)),
    Rule(L.CHANNEL, C.ACT, C.ACT, _(T.T_RRD_S)),
    Rule(L.CHANNEL, C.ACT, C.ACT, _(T.T_FAW), window=4),
    Rule(L.CHANNEL, C.PRE, C.REF, _(T.T_RP)),
    Rule(L.CHANNEL, C.REF, C.ACT, _(T.T_RFC)),
    Rule(L.CHANNEL, C.REF, C.REF, _(T.T_REFI)),
)
del _


def burst_cycles(timing: DramTiming) -> int:
    """Cycles one burst occupies its pseudo-channel's data bus (tBL), at least 1."""
    pc_bits = timing.bus_bits / timing.pseudo_channels
    return max(1, math.ceil(timing.burst_bytes * 8 / (pc_bits * timing.data_rate) - 1e-9))


def peak_bandwidth(timing: DramTiming) -> float:
    """Bytes/s of all channels' data buses, always busy: ``channels * bus_bits/8 * data_rate / tCK``."""
    return timing.channels * timing.bus_bits / 8 * timing.data_rate / (timing.tck_ns * 1e-9)


def refresh_overhead(timing: DramTiming) -> float:
    """Fraction of time all-bank refresh blocks a pseudo-channel: ``tRFC / tREFI``."""
    return timing.t_rfc / timing.t_refi


# ---- rules applied to commands ------------------------------------------------------------------------


def _scope(level: Level, bank_group: int, bank: int) -> tuple[int, ...]:
    if level is Level.CHANNEL:
        return ()
    if level is Level.BANK_GROUP:
        return (bank_group,)
    return (bank_group, bank)


class Timeline:
    """Commands issued to one pseudo-channel and the earliest cycle each next command may issue."""

    def __init__(self, timing: DramTiming, rules: tuple[Rule, ...] = RULES) -> None:
        self.timing = timing
        self._rules: dict[Command, list[tuple[Command, Level, int, int]]] = {c: [] for c in Command}
        for r in rules:
            self._rules[r.next].append((r.prev, r.level, r.window, r.latency.cycles(timing)))
        self._depth = max(r.window for r in rules)
        self._last: dict[tuple, deque[int]] = {}

    def earliest(self, cmd: Command, bank_group: int = 0, bank: int = 0) -> int:
        """The first cycle at which `cmd` to (bank_group, bank) satisfies every rule."""
        t = 0
        for prev, level, window, lat in self._rules[cmd]:
            h = self._last.get((prev, _scope(level, bank_group, bank)))
            if h is not None and len(h) >= window:
                t = max(t, h[-window] + lat)
        return t

    def ready(self, cmd: Command, cycle: int, bank_group: int = 0, bank: int = 0) -> bool:
        return cycle >= self.earliest(cmd, bank_group, bank)

    def issue(self, cmd: Command, cycle: int, bank_group: int = 0, bank: int = 0) -> None:
        """Record `cmd` at `cycle`; a command that breaks a rule raises ValueError."""
        need = self.earliest(cmd, bank_group, bank)
        if cycle < need:
            raise ValueError(f"{cmd.value} to bank group {bank_group} bank {bank} at cycle {cycle}: "
                             f"expected cycle >= {need}")
        for level in Level:
            key = (cmd, _scope(level, bank_group, bank))
            self._last.setdefault(key, deque(maxlen=self._depth)).append(cycle)


# ---- addresses ----------------------------------------------------------------------------------------

Field = Literal["offset", "column_low", "channel", "pseudo_channel", "bank_group", "column", "bank", "row"]
#: least significant first; "row" takes what is left
DEFAULT_MAPPING: tuple[Field, ...] = (
    "offset", "column_low", "channel", "pseudo_channel", "bank_group", "column", "bank", "row")
#: bytes kept in one bank before the mapping moves to the next channel
INTERLEAVE_BYTES = 64


def _radix(timing: DramTiming, field: str) -> int | None:
    low = max(1, INTERLEAVE_BYTES // timing.burst_bytes)
    return {
        "offset": timing.burst_bytes, "column_low": low, "channel": timing.channels,
        "pseudo_channel": timing.pseudo_channels, "bank_group": timing.bank_groups,
        "bank": timing.banks_per_group, "column": max(1, timing.row_bytes // timing.burst_bytes // low),
        "row": None,
    }[field]


def decode(addresses: np.ndarray, timing: DramTiming,
           mapping: tuple[Field, ...] = DEFAULT_MAPPING) -> dict[str, np.ndarray]:
    """Byte addresses -> arrays of channel, pseudo_channel, bank_group, bank, row, column (and offset);
    ``column`` is the burst's column within its row (high and low parts joined)."""
    if sorted(mapping) != sorted(DEFAULT_MAPPING) or mapping[-1] != "row":
        raise ValueError(f"mapping: got {mapping}; expected a permutation of {DEFAULT_MAPPING} ending in 'row'")
    rest = np.asarray(addresses, dtype=np.int64)
    out: dict[str, np.ndarray] = {}
    for field in mapping:
        r = _radix(timing, field)
        if r is None:
            out[field] = rest
        else:
            out[field], rest = rest % r, rest // r
    out["column"] = out["column"] * _radix(timing, "column_low") + out.pop("column_low")
    return out


def row_hits(d: dict[str, np.ndarray], timing: DramTiming) -> np.ndarray:
    """Open page: True where the previous request (in stream order) to the same bank opened the same row."""
    bank = _bank_id(d, timing)
    order = np.argsort(bank, kind="stable")
    b, r = bank[order], d["row"][order]
    hit = np.zeros(len(bank), dtype=bool)
    hit[order[1:]] = (b[1:] == b[:-1]) & (r[1:] == r[:-1])
    return hit


def _pc_id(d: dict[str, np.ndarray], timing: DramTiming) -> np.ndarray:
    return d["channel"] * timing.pseudo_channels + d["pseudo_channel"]


def _bank_id(d: dict[str, np.ndarray], timing: DramTiming) -> np.ndarray:
    return (_pc_id(d, timing) * timing.bank_groups + d["bank_group"]) * timing.banks_per_group + d["bank"]


Pattern = Literal["stream", "strided", "random"]


def access_pattern(timing: DramTiming, pattern: Pattern = "stream", access_bytes: int = 64,
                   stride_bytes: int | None = None, accesses: int = 1 << 16, seed: int = 0,
                   rows: int = 1 << 15) -> np.ndarray:
    """Burst addresses of `accesses` requests of `access_bytes` each, in issue order.

    stream: back to back; strided: one access every `stride_bytes` (default 4 rows' worth); random:
    uniform over ``rows`` rows of every bank, aligned to `access_bytes`.  An access spans
    ``ceil(access_bytes / burst_bytes)`` consecutive bursts."""
    if access_bytes <= 0:
        raise ValueError(f"access_bytes: got {access_bytes}; expected > 0")
    bursts = max(1, math.ceil(access_bytes / timing.burst_bytes))
    span = bursts * timing.burst_bytes
    i = np.arange(accesses, dtype=np.int64)
    if pattern == "stream":
        starts = i * span
    elif pattern == "strided":
        stride = 4 * timing.row_bytes if stride_bytes is None else int(stride_bytes)
        if stride < span:
            raise ValueError(f"stride_bytes: got {stride}; expected >= one access ({span} B)")
        starts = i * stride
    elif pattern == "random":
        capacity = (timing.channels * timing.pseudo_channels * timing.bank_groups * timing.banks_per_group
                    * timing.row_bytes * rows)
        starts = np.random.default_rng(seed).integers(0, capacity // span, accesses, dtype=np.int64) * span
    else:
        raise ValueError(f"pattern: got {pattern!r}; expected 'stream', 'strided' or 'random'")
    return (starts[:, None] + np.arange(bursts, dtype=np.int64)[None, :] * timing.burst_bytes).ravel()


# ---- closed-form throughput ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class StreamCost:
    """What a request stream costs its busiest pseudo-channel, and the resulting bandwidth."""

    bytes: int
    requests: int
    row_hits: int
    activates: int
    cycles: float  # busiest pseudo-channel, before refresh
    bound: str  # which resource bounds it
    bandwidth: float  # bytes/s, refresh included

    @property
    def hit_rate(self) -> float:
        return self.row_hits / self.requests if self.requests else 0.0


def turnaround_cycles(d: dict[str, np.ndarray], is_write: np.ndarray, timing: DramTiming) -> np.ndarray:
    """Per pseudo-channel, the data-bus cycles read/write switches add in request order (module docstring):
    ``tRTW - tBL`` per read-to-write switch, ``CWL + tWTR_L`` (same bank group) or ``CWL + tWTR_S`` per
    write-to-read switch."""
    npc = timing.channels * timing.pseudo_channels
    pc = _pc_id(d, timing)
    order = np.argsort(pc, kind="stable")
    p, w, bg = pc[order], np.asarray(is_write, dtype=bool)[order], d["bank_group"][order]
    same_pc = p[1:] == p[:-1]
    rtw = same_pc & ~w[:-1] & w[1:]
    wtr = same_pc & w[:-1] & ~w[1:]
    same_bg = bg[1:] == bg[:-1]
    c = {q: q.cycles(timing) for q in (T.T_RTW, T.T_BL, T.T_CWL, T.T_WTR_S, T.T_WTR_L)}
    extra = (rtw * max(0, c[T.T_RTW] - c[T.T_BL])
             + wtr * (c[T.T_CWL] + np.where(same_bg, c[T.T_WTR_L], c[T.T_WTR_S])))
    return np.bincount(p[1:], weights=extra.astype(float), minlength=npc)


def mixed_stream(timing: DramTiming, reads: int, writes: int, accesses: int = 1 << 14,
                 access_bytes: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(burst addresses, is_write) of a sequential stream in runs of `reads` reads then `writes` writes (each
    access `access_bytes`; the writes continue the same address stream, as a copy or an update would)."""
    if reads < 0 or writes < 0 or reads + writes == 0:
        raise ValueError(f"reads, writes: got {reads}, {writes}; expected counts >= 0, not both 0")
    addrs = access_pattern(timing, "stream", access_bytes, accesses=accesses)
    bursts = len(addrs) // accesses
    i = np.arange(accesses)
    write = np.repeat((i % (reads + writes)) >= reads, bursts)
    return addrs, write


def stream_cost(addresses: np.ndarray, timing: DramTiming,
                mapping: tuple[Field, ...] = DEFAULT_MAPPING, is_write: np.ndarray | None = None) -> StreamCost:
    """Cycles of a burst-address stream under an ideal reordering open-page controller (module docstring);
    `is_write` marks writes (default: all reads), whose switches with reads stretch the data-bus bound."""
    d = decode(addresses, timing, mapping)
    n = len(addresses)
    hit = row_hits(d, timing)
    npc = timing.channels * timing.pseudo_channels
    nbg, nb = timing.bank_groups, timing.banks_per_group
    pc = _pc_id(d, timing)
    bg_id = pc * nbg + d["bank_group"]
    bank = _bank_id(d, timing)
    act = ~hit
    c = {p: p.cycles(timing) for p in Param}

    def per_pc(values: np.ndarray, groups: np.ndarray, size: int, per: int) -> np.ndarray:
        """Largest per-group total within each pseudo-channel (groups numbered pc * per + k)."""
        tot = np.bincount(groups, weights=values, minlength=size)
        return tot.reshape(npc, per).max(axis=1)

    ones = np.ones(n)
    bus = np.bincount(pc, minlength=npc) * c[T.T_BL]
    if is_write is not None and n:
        if len(is_write) != n:
            raise ValueError(f"is_write: got {len(is_write)} flags; expected one per address ({n})")
        bus = bus + turnaround_cycles(d, is_write, timing)
    bounds = {
        "data bus": bus,
        "tCCD_S": np.bincount(pc, minlength=npc) * max(c[T.T_CCD_S], c[T.T_BL]),
        "tCCD_L": per_pc(ones, bg_id, npc * nbg, nbg) * max(c[T.T_CCD_L], c[T.T_BL]),
        "tRRD_S": np.bincount(pc, weights=act, minlength=npc) * c[T.T_RRD_S],
        "tRRD_L": per_pc(act.astype(float), bg_id, npc * nbg, nbg) * c[T.T_RRD_L],
        "tFAW": np.bincount(pc, weights=act, minlength=npc) * c[T.T_FAW] / 4,
    }
    # row visits: a miss opens one; the bank is busy max(tRAS, tRCD + k tCCD_L) + tRP for k reads in it
    order = np.argsort(bank, kind="stable")
    visit = np.cumsum(act[order]) - 1
    reads = np.bincount(visit, minlength=int(visit[-1]) + 1 if n else 0)
    visit_bank = bank[order][act[order]]
    busy = np.maximum(c[T.T_RAS], c[T.T_RCD] + reads * max(c[T.T_CCD_L], c[T.T_BL])) + c[T.T_RP]
    bounds["tRC (bank)"] = per_pc(busy, visit_bank, npc * nbg * nb, nbg * nb)
    table = np.stack(list(bounds.values()))  # bound x pc
    per_pc_cycles = table.max(axis=0)
    busiest = int(per_pc_cycles.argmax())
    cycles = float(per_pc_cycles[busiest])
    name = list(bounds)[int(table[:, busiest].argmax())]
    nbytes = n * timing.burst_bytes
    bw = nbytes / (cycles * timing.tck_ns * 1e-9) * (1 - refresh_overhead(timing)) if cycles else 0.0
    return StreamCost(nbytes, n, int(hit.sum()), int(act.sum()), cycles, name, bw)


def effective_bandwidth(timing: DramTiming | str, pattern: Pattern = "stream", access_bytes: int = 64,
                        stride_bytes: int | None = None, accesses: int = 1 << 16, seed: int = 0) -> float:
    """Bytes/s the device sustains for a read pattern (``timing`` a `DramTiming` or a preset name)."""
    t = resolve_timing(timing)
    return stream_cost(access_pattern(t, pattern, access_bytes, stride_bytes, accesses, seed), t).bandwidth


def resolve_timing(timing: DramTiming | str) -> DramTiming:
    if isinstance(timing, DramTiming):
        return timing
    from arch.dram_timings import dram_timing

    return dram_timing(timing)


# ---- event check: an FR-FCFS controller on a bounded sample ------------------------------------------


def schedule(addresses: np.ndarray, timing: DramTiming, window: int = 32,
             mapping: tuple[Field, ...] = DEFAULT_MAPPING) -> tuple[int, int]:
    """Issue a bounded stream of reads to the first pseudo-channel of its first request, command by
    command through `Timeline`, with an FR-FCFS open-page controller of `window` queued requests
    (ready commands first, row hits before misses, then oldest).  Returns (cycle the last burst leaves
    the bus, requests served).  One command per cycle; no refresh (apply `refresh_overhead`)."""
    d = decode(addresses, timing, mapping)
    pc = _pc_id(d, timing)
    mine = np.flatnonzero(pc == pc[0]) if len(pc) else pc
    bgs, banks, rows = (d[k][mine].tolist() for k in ("bank_group", "bank", "row"))
    tl = Timeline(timing)
    tbl = burst_cycles(timing)
    open_row: dict[tuple[int, int], int] = {}
    queue: list[int] = []
    nxt, now, end = 0, 0, 0
    while nxt < len(mine) or queue:
        while len(queue) < window and nxt < len(mine):
            queue.append(nxt)
            nxt += 1
        wanted = {(bgs[i], banks[i]) for i in queue if open_row.get((bgs[i], banks[i])) == rows[i]}
        best = None
        for age, i in enumerate(queue):
            key = (bgs[i], banks[i])
            row = open_row.get(key)
            if row == rows[i]:
                cmd = Command.RD
            elif row is None:
                cmd = Command.ACT
            elif key in wanted:
                continue  # an older or newer request still hits the open row: keep it open
            else:
                cmd = Command.PRE
            at = max(now, tl.earliest(cmd, *key))
            rank = (at, cmd is not Command.RD, age)
            if best is None or rank < best[0]:
                best = (rank, i, cmd, key)
        assert best is not None
        (at, _, _), i, cmd, key = best
        tl.issue(cmd, at, *key)
        if cmd is Command.RD:
            queue.remove(i)
            end = at + timing.t_cl + tbl
        elif cmd is Command.ACT:
            open_row[key] = rows[i]
        else:
            del open_row[key]
        now = at + 1
    return end, len(mine)
