"""Continuous batching: the graph of one serving iteration that mixes prefill and decode requests.

With continuous (iteration-level) batching (Orca, OSDI 2022; vLLM) one forward pass serves every
running request at once: ``prefill`` new requests bring ``prompt_len`` tokens each, ``decode`` running
requests bring one new token each and attend over ``context_len`` cached positions.  This is the
workload Duplex (Yun et al., MICRO 2024, arXiv 2409.01141) is built for.

Per layer (decoder families ``llama``, ``mistral``, ``mixtral``; shapes from an HF-style config, as
`workloads.config`):

- the linear layers (q/k/v/o projections, the MoE router and experts or the dense MLP) run once over
  all ``T = decode + prefill * prompt_len`` tokens of the iteration (M = T; experts M = their tokens);
- attention is split by request kind, the two halves independent of each other:
  prefill attention (``Sq = Skv = prompt_len``, ``causal``, batch = prefill * heads, tagged
  ``phase="prefill"``) and decode attention (``Sq = 1``, ``Skv = context_len``, batch = decode * heads,
  tagged ``phase="decode"``); both carry ``kv_group`` (GQA); the other ops are tagged ``phase="mixed"``
  when both kinds are present;
- MoE: ``T * top_k`` expert-token slots spread over the experts as `workloads.config.expert_counts`
  (uniform, or by ``routing``: one histogram for every layer, or a dict keyed by layer index);
- the LM head computes the logits of each request's last token only (``decode + prefill`` rows).

``layers`` builds only the first few blocks (for quick tests); ``meta["model_layers"]`` keeps the
model's count so that a caller can scale per-layer results.

Left out: KV-cache writes, token permutation for the experts, chunked prefill (a prompt is one chunk),
sampling.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workloads.config import (ROPE_FLOPS, Builder, LayerSpec, MoESpec, _formats, _heads, _mlp, _moe, _read,
                              _check_routing_keys, _routing_for, expert_counts)
from workloads.graph import Graph
from workloads.op import OpKind

FAMILIES = ("llama", "mistral", "mixtral")


def _count(name: str, value: Any, *, positive: bool = False) -> int:
    ok = isinstance(value, int) and not isinstance(value, bool) and (value > 0 if positive else value >= 0)
    if not ok:
        raise ValueError(f"{name}={value!r}: expected a {'positive' if positive else 'non-negative'} integer")
    return value


def serving_step(config: str | Mapping[str, Any], *, decode: int = 0, context_len: int = 1, prefill: int = 0,
                 prompt_len: int = 1, layers: int | None = None, routing: Any = None, w_format: str | None = None,
                 a_format: str | None = None, name: str | None = None) -> Graph:
    """One continuous-batching iteration (module docstring) of a zoo model (by name) or an HF-style config."""
    if isinstance(config, str):
        from workloads.zoo import config as zoo_config

        config = zoo_config(config)
    if not isinstance(config, Mapping):
        raise ValueError(f"config={type(config).__name__}: expected a zoo name or a dict of HF config.json keys")
    mt = config.get("model_type")
    if mt not in FAMILIES:
        raise ValueError(f"config key 'model_type'={mt!r}: expected one of {list(FAMILIES)} for a serving step")
    v = _read(config, mt)
    decode, prefill = _count("decode", decode), _count("prefill", prefill)
    context_len, prompt_len = _count("context_len", context_len, positive=True), _count(
        "prompt_len", prompt_len, positive=True)
    if decode + prefill == 0:
        raise ValueError("decode=0 and prefill=0: expected at least one request in the iteration")
    limit = v["max_position_embeddings"]
    for key, n, used in (("context_len", context_len, decode), ("prompt_len", prompt_len, prefill)):
        if used and n > limit:
            raise ValueError(f"{key}={n}: expected at most max_position_embeddings={limit}")
    n_layers = v["num_hidden_layers"]
    if layers is not None and (_count("layers", layers, positive=True) > n_layers):
        raise ValueError(f"layers={layers}: expected at most num_hidden_layers={n_layers}")
    build_layers = n_layers if layers is None else layers

    h, vocab = v["hidden_size"], v["vocab_size"]
    heads, kvh, hd = _heads(v)
    spec = LayerSpec(h, heads, kvh, hd, v["intermediate_size"], v["hidden_act"], gated=True, norm_affine=1,
                     qkv_bias=v["attention_bias"], o_bias=v["attention_bias"], mlp_bias=v["mlp_bias"], rope=True,
                     window=v["sliding_window"])
    moe = None
    if mt == "mixtral":
        e, k = v["num_local_experts"], v["num_experts_per_tok"]
        if k > e:
            raise ValueError(f"config key 'num_experts_per_tok'={k!r}: expected at most num_local_experts={e}")
        moe = MoESpec(e, k, v["intermediate_size"], gated=True, bias=v["mlp_bias"], router_bias=v["router_bias"])
        _check_routing_keys(routing, list(range(n_layers)), [])
    elif routing is not None:
        raise ValueError(f"routing={routing!r}: expected None; model_type {mt!r} has no experts")

    fmt = _formats(mt, w_format, a_format, None)
    tokens = decode + prefill * prompt_len
    phase = "mixed" if decode and prefill else ("decode" if decode else "prefill")
    gname = name or str(config.get("name") or mt)
    meta = {"model_type": mt, "phase": phase, "decode": decode, "context_len": context_len, "prefill": prefill,
            "prompt_len": prompt_len, "tokens": tokens, "requests": decode + prefill, "layers": build_layers,
            "model_layers": n_layers, "w_format": fmt.weights, "a_format": fmt.acts}
    graph = Graph(gname, meta=meta)
    b = Builder(graph, phase, fmt)

    x = b.embed("embed.tokens", tokens, vocab, h, b.tags(-1, "embed"))
    for i in range(build_layers):
        counts = None
        if moe is not None:
            counts = expert_counts(tokens, moe.top_k, moe.experts, _routing_for(routing, i, None))
        x = _layer(b, x, i, spec, moe, counts, tokens=tokens, decode=decode, context_len=context_len,
                   prefill=prefill, prompt_len=prompt_len)
    ht = b.tags(n_layers, "head")
    x = b.norm("final_norm", tokens, h, 1, [x], ht)
    b.linear("head.lm_head", decode + prefill, vocab, h, [x], ht, stored=v["tie_word_embeddings"],
             weight_id="embed.tokens" if v["tie_word_embeddings"] else None)
    return graph


def _layer(b: Builder, x, i: int, s: LayerSpec, moe: MoESpec | None, counts: list[int] | None, *, tokens: int,
           decode: int, context_len: int, prefill: int, prompt_len: int):
    p, t, h = f"L{i}", tokens, s.hidden
    at, mt = b.tags(i, "attn"), b.tags(i, "moe" if moe else "mlp")
    a_in = b.norm(f"{p}.attn_norm", t, h, 1, [x], at)
    qd, kvd = s.heads * s.head_dim, s.kv_heads * s.head_dim
    q = b.linear(f"{p}.attn.q_proj", t, qd, h, [a_in], at, bias=s.qkv_bias)
    k = b.linear(f"{p}.attn.k_proj", t, kvd, h, [a_in], at, bias=s.qkv_bias)
    v = b.linear(f"{p}.attn.v_proj", t, kvd, h, [a_in], at, bias=s.qkv_bias)
    qk = b.eltwise(f"{p}.attn.rope", t, qd + kvd, [q, k], at, flops=ROPE_FLOPS)
    group = s.heads // s.kv_heads
    ctxs = []
    for kind, n, q_len, kv_len, causal in (("prefill", prefill, prompt_len, prompt_len, 1),
                                           ("decode", decode, 1, context_len, 0)):
        if not n:
            continue
        kv_len = min(kv_len, s.window) if s.window else kv_len
        tags = {**at, "phase": kind}
        dims = {"K": s.head_dim, "kv_group": group, "causal": causal}
        score = b.vector(f"{p}.attn.{kind}.score", OpKind.ATTN_SCORE, {"M": q_len, "N": kv_len, **dims},
                         [qk], tags, batch=n * s.heads)
        prob = b.vector(f"{p}.attn.{kind}.softmax", OpKind.SOFTMAX, {"rows": n * s.heads * q_len, "cols": kv_len},
                        [score], tags)
        ctxs.append(b.vector(f"{p}.attn.{kind}.context", OpKind.ATTN_CONTEXT,
                             {"M": q_len, "N": s.head_dim, "K": kv_len, "kv_group": group, "causal": causal},
                             [prob, v], tags, batch=n * s.heads))
    o = b.linear(f"{p}.attn.o_proj", t, h, qd, ctxs, at, bias=s.o_bias)
    x = b.eltwise(f"{p}.attn.residual", t, h, [o, x], at)
    m_in = b.norm(f"{p}.mlp_norm", t, h, 1, [x], mt)
    if moe is not None:
        out = _moe(b, f"{p}.moe", m_in, t, s, moe, counts or [], mt, per_task_router=False)
    else:
        out = _mlp(b, f"{p}.mlp", m_in, t, s, mt, inter=s.inter, gated=True, bias=s.mlp_bias)
    return b.eltwise(f"{p}.{'moe' if moe else 'mlp'}.residual", t, h, [out, x], mt)
