"""Composition of Experts (CoE): many expert models behind a router, and request streams that switch
between experts (Samba-CoE, Prabhakar et al., arXiv 2405.07518, Sec. II and V: 150 Llama-2-7B experts and a
Llama-2-7B router, over a trillion parameters in all).  Hardware-free: what a request needs and which expert
it needs; the time a switch or a request takes is `sim.dataflow`'s and `sim`'s business.

- `CoE`: ``experts`` expert models, each a zoo model (`workloads.zoo`), plus a router (a zoo model
  too) that reads every prompt once to pick the expert.
- `samba_coe()`: 150 Llama-2-7B experts and a Llama-2-7B router (Sec. II: "the router model and expert models
  are all derived from Llama2-7B"; Sec. V: 150 experts, router weights in HBM, experts in DDR).
- `requests(...)`: a seeded stream of `Request` (expert, prompt tokens, output tokens); experts drawn
  uniformly or from a Zipf law of exponent ``skew`` over the experts (expert 0 the most popular).
- `replay(requests, slots)`: which requests find their expert already resident when ``slots`` experts fit
  in fast memory (least-recently-used replacement; the router is resident and takes no slot).
"""

from __future__ import annotations

import dataclasses
import functools
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from workloads.graph import Graph


@dataclasses.dataclass(frozen=True)
class CoE:
    """`experts` copies (fine-tunes) of the zoo model `expert_model`, routed by `router_model`."""

    name: str
    experts: int
    expert_model: str
    router_model: str

    def __post_init__(self) -> None:
        from workloads import zoo

        if not isinstance(self.experts, int) or isinstance(self.experts, bool) or self.experts < 1:
            raise ValueError(f"CoE {self.name!r}: experts={self.experts!r}; expected a positive integer")
        for field in ("expert_model", "router_model"):
            value = getattr(self, field)
            if value not in zoo.names():
                raise ValueError(f"CoE {self.name!r}: {field}={value!r}; expected a zoo model: {zoo.names()}")

    def expert_graph(self, **workload) -> Graph:
        """One expert's graph (`workloads.zoo.load` arguments: phase, batch, seq_len, kv_len, ...)."""
        from workloads import zoo

        return zoo.load(self.expert_model, **workload)

    def router_graph(self, **workload) -> Graph:
        from workloads import zoo

        return zoo.load(self.router_model, **workload)

    @functools.cached_property
    def expert_bytes(self) -> float:
        """Bytes of one expert's weights (what a model switch copies)."""
        return self.expert_graph(phase="decode").weight_bytes

    @functools.cached_property
    def router_bytes(self) -> float:
        return self.router_graph(phase="decode").weight_bytes

    @functools.cached_property
    def params(self) -> int:
        """Parameters of all experts and the router."""
        return self.experts * self.expert_graph(phase="decode").params + self.router_graph(phase="decode").params

    @property
    def weight_bytes(self) -> float:
        return self.experts * self.expert_bytes + self.router_bytes


def samba_coe(experts: int = 150) -> CoE:
    """Samba-CoE as arXiv 2405.07518 Sec. II and V describe it: 150 Llama-2-7B experts and a Llama-2-7B router."""
    return CoE("samba-coe", experts, "llama2-7b", "llama2-7b")


@dataclasses.dataclass(frozen=True)
class Request:
    expert: int
    prompt_tokens: int
    output_tokens: int


def requests(coe: CoE, n: int, *, prompt_tokens: int, output_tokens: int, skew: float = 0.0,
             seed: int = 0) -> list[Request]:
    """`n` requests; each picks an expert uniformly (``skew=0``) or with probability proportional to
    ``1 / (rank + 1) ** skew``."""
    for name, v in (("n", n), ("prompt_tokens", prompt_tokens), ("output_tokens", output_tokens)):
        if not isinstance(v, int) or isinstance(v, bool) or v < (1 if name != "output_tokens" else 0):
            raise ValueError(f"requests: {name}={v!r}; expected a positive integer")
    if skew < 0:
        raise ValueError(f"requests: skew={skew!r}; expected a number >= 0 (0 = uniform)")
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, coe.experts + 1) ** skew
    picks = rng.choice(coe.experts, size=n, p=p / p.sum())
    return [Request(int(e), prompt_tokens, output_tokens) for e in picks]


def replay(stream: Sequence[Request], slots: int) -> list[bool]:
    """Per request, whether its expert was resident (LRU cache of `slots` experts, initially empty)."""
    if not isinstance(slots, int) or slots < 0:
        raise ValueError(f"replay: slots={slots!r}; expected an integer >= 0")
    cache: OrderedDict[int, None] = OrderedDict()
    hits = []
    for r in stream:
        hit = r.expert in cache
        hits.append(hit)
        if hit:
            cache.move_to_end(r.expert)
        elif slots:
            cache[r.expert] = None
            if len(cache) > slots:
                cache.popitem(last=False)
    return hits
