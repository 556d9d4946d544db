"""Analytical workloads: an HF-style config dict (keys as in a Hugging Face ``config.json``) -> `Graph`.

Nothing is allocated and nothing is downloaded: shapes come from the config and the chosen phase,
FLOPs and bytes from `Op`.  Families, by ``model_type``:

- decoder LLMs: ``llama`` (Llama 2/3), ``mistral``, ``mixtral`` (MoE, top-k routing), ``gpt2``,
  ``gpt3`` (the GPT-2 architecture at GPT-3 sizes, Brown et al. 2020, Table 2.1), ``opt``;
- encoders: ``bert``, ``roberta``, ``xlm-roberta`` (word, position and token-type embeddings, pooler);
- ``vit`` (HF ViTModel: patch embedding as CONV2D or GEMM, cls token, encoder, final LayerNorm, pooler;
  with ``num_labels`` the ViTForImageClassification head instead of the pooler);
- ``m3vit`` (Liang et al., NeurIPS 2022, arXiv 2210.14793): a ViT whose every other MLP is a
  mixture of experts chosen by a per-task gate;
- ``mamba`` (Mamba-1: in_proj, depthwise conv1d, x_proj, dt_proj, selective SCAN, out_proj);
- ``matmulfree`` (HF ``hgrn_bit``; Zhu et al. 2024, arXiv 2406.02528): ternary BitLinear layers
  (each with its own RMSNorm), the MLGRU token mixer as a SCAN with state size 1, a GLU channel mixer;
- ``resnet`` (built in `workloads.cnn`).

Conventions (the contract with `sim/`):

- ``phase="prefill"``: each of ``batch`` sequences brings ``seq_len`` tokens; linear layers have
  M = batch * seq_len.  Attention is counted in full (no causal-mask saving): score M = seq_len,
  N = kv_len (= seq_len unless given, for chunked prefill), K = head_dim, batch = batch * heads.
- ``phase="decode"``: one new token per sequence; linear layers M = batch; attention M = 1 over
  N = kv_len positions (the cache plus the new token).  Default lengths: ``max_position_embeddings``
  (the usable part for RoBERTa), 2048 for recurrent models.
- GQA: k/v projections have N = kv_heads * head_dim; attention ops carry ``dims["kv_group"]``
  = heads / kv_heads, the query heads that share one K/V head.  Sliding windows cap N.
- Precisions: ``w_format`` (default fp16; ternary for matmulfree) is the weight format of every linear
  layer, conv and router, the untied LM head included; ``a_format`` (default fp16; int8 for matmulfree,
  whose BitLinear quantises activations per token) is their activation operand.  Embeddings, norms,
  tied heads, depthwise convs, attention (the KV cache), scans and vector ops use the storage format
  ``dtype`` = a_format when that is fp16/bf16/fp32, else fp16.  ``group_size`` applies to linear weights.
- MoE: ``batch * tokens * top_k`` expert-token slots are spread uniformly over the experts (integer
  split, the remainder one each to the lowest-index experts) or by ``routing``: a list per expert
  of counts (summing to tokens * top_k) or fractions (summing to 1, rounded by largest remainder,
  ties to the lower index), or a dict of such lists keyed by MoE layer index and/or task name
  (layers not listed are uniform).  One op per expert per matrix, tagged ``expert=i``; an expert
  with no tokens still appears (M = 0) so that its parameters count.
- Tags: every op has ``layer`` (block index; -1 for input embeddings, num_layers for the output
  head), ``phase`` and ``block`` (embed, attn, mlp, moe, mixer, head); expert and task ops add
  ``expert``/``task``.  Names look like ``L3.attn.q_proj``, ``L3.moe.e5.down_proj``.
- Vector FLOPs per element: activation functions per `ACT_FLOPS` (a gated unit adds one multiply),
  rotary embedding 3 (on q and k), residual add 1; softmax and norms as in `workloads.op`.

Left out: dropout, causal-mask savings, MoE token permutation, KV-cache writes, M3ViT's task decoder
heads, GPT-3's alternating sparse attention (counted dense).  M3ViT runs one backbone pass per
selected task (shared weights share a ``weight_id``; the pre-MoE prefix is not deduplicated).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from workloads.graph import Graph
from workloads.op import FORMAT_BITS, Op, OpKind

PHASES = ("prefill", "decode")

#: FLOPs per element of activation functions (a convention: exp/erf/tanh count as 4, like softmax's exp).
ACT_FLOPS: dict[str, int] = {
    "relu": 1, "gelu": 8, "gelu_new": 8, "gelu_fast": 8, "gelu_pytorch_tanh": 8, "quick_gelu": 5,
    "silu": 4, "swish": 4, "sigmoid": 4, "tanh": 5,
}
ROPE_FLOPS = 3
SOFTPLUS_FLOPS = 3
FLOAT_DTYPES = ("fp16", "bf16", "fp32")

DECODERS = ("llama", "mistral", "mixtral", "gpt2", "gpt3", "opt")
RECURRENT = ("mamba", "matmulfree")
ENCODERS = ("bert", "roberta", "xlm-roberta")
VISION = ("vit", "m3vit", "resnet")
_MODEL_TYPES = {t: t for t in DECODERS + RECURRENT + ENCODERS + VISION}
_MODEL_TYPES.update({"hgrn_bit": "matmulfree", "xlm_roberta": "xlm-roberta"})

# ---- validation at the door ---------------------------------------------------------------------

_REQUIRED = object()


@dataclasses.dataclass(frozen=True)
class _Check:
    ok: Callable[[Any], bool]
    expected: str


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


POS_INT = _Check(lambda v: _is_int(v) and v > 0, "a positive integer")
NONNEG_INT = _Check(lambda v: _is_int(v) and v >= 0, "a non-negative integer")
BOOL = _Check(lambda v: isinstance(v, bool), "true or false")
POS_INT_LIST = _Check(lambda v: isinstance(v, list) and v != [] and all(_is_int(x) and x > 0 for x in v),
                      "a non-empty list of positive integers")
STR_LIST = _Check(lambda v: isinstance(v, list) and v != [] and all(isinstance(x, str) and x for x in v)
                  and len(set(v)) == len(v), "a non-empty list of distinct task names")
ACT = _Check(lambda v: v in ACT_FLOPS, f"one of {sorted(ACT_FLOPS)}")
RANK = _Check(lambda v: v == "auto" or (_is_int(v) and v > 0), "a positive integer or 'auto'")


def _choice(*options: str) -> _Check:
    return _Check(lambda v: v in options, f"one of {list(options)}")


def _key(check: _Check, default: Any = _REQUIRED, *aliases: str) -> tuple[_Check, Any, tuple[str, ...]]:
    return check, default, aliases


_TRANSFORMER = {
    "hidden_size": _key(POS_INT, _REQUIRED, "n_embd", "d_model"),
    "num_hidden_layers": _key(POS_INT, _REQUIRED, "n_layer", "num_layers"),
    "num_attention_heads": _key(POS_INT, _REQUIRED, "n_head"),
}
_LM = {**_TRANSFORMER, "vocab_size": _key(POS_INT), "logits_to_keep": _key(NONNEG_INT, 0)}
_LLAMA = {
    **_LM,
    "intermediate_size": _key(POS_INT),
    "max_position_embeddings": _key(POS_INT),
    "num_key_value_heads": _key(POS_INT, None),
    "head_dim": _key(POS_INT, None),
    "hidden_act": _key(ACT, "silu"),
    "tie_word_embeddings": _key(BOOL, False),
    "attention_bias": _key(BOOL, False),
    "mlp_bias": _key(BOOL, False),
    "sliding_window": _key(POS_INT, None),
}
_SCHEMAS: dict[str, dict[str, tuple[_Check, Any, tuple[str, ...]]]] = {
    "llama": _LLAMA,
    "mistral": _LLAMA,
    "mixtral": {**_LLAMA, "num_local_experts": _key(POS_INT), "num_experts_per_tok": _key(POS_INT, 2),
                "router_bias": _key(BOOL, False)},
    "gpt2": {
        **_LM,
        "max_position_embeddings": _key(POS_INT, _REQUIRED, "n_positions"),
        "n_inner": _key(POS_INT, None, "intermediate_size"),
        "activation_function": _key(ACT, "gelu_new", "hidden_act"),
        "tie_word_embeddings": _key(BOOL, True),
    },
    "opt": {
        **_LM,
        "ffn_dim": _key(POS_INT, _REQUIRED, "intermediate_size"),
        "max_position_embeddings": _key(POS_INT),
        "word_embed_proj_dim": _key(POS_INT, None),
        "do_layer_norm_before": _key(BOOL, True),
        "enable_bias": _key(BOOL, True),
        "layer_norm_elementwise_affine": _key(BOOL, True),
        "_remove_final_layer_norm": _key(BOOL, False),
        "activation_function": _key(ACT, "relu", "hidden_act"),
        "tie_word_embeddings": _key(BOOL, True),
    },
    "bert": {
        **_TRANSFORMER,
        "vocab_size": _key(POS_INT),
        "intermediate_size": _key(POS_INT),
        "max_position_embeddings": _key(POS_INT),
        "type_vocab_size": _key(NONNEG_INT, 2),
        "pad_token_id": _key(NONNEG_INT, 0),
        "hidden_act": _key(ACT, "gelu"),
        "add_pooling_layer": _key(BOOL, True),
    },
    "vit": {
        **_TRANSFORMER,
        "intermediate_size": _key(POS_INT),
        "image_size": _key(POS_INT, 224),
        "patch_size": _key(POS_INT, 16),
        "num_channels": _key(POS_INT, 3),
        "qkv_bias": _key(BOOL, True),
        "hidden_act": _key(ACT, "gelu"),
        "num_labels": _key(POS_INT, None),
        "add_pooling_layer": _key(BOOL, None),
        "patch_embedding": _key(_choice("conv2d", "gemm"), "conv2d"),
    },
    "m3vit": {
        **_TRANSFORMER,
        "intermediate_size": _key(POS_INT),
        "image_size": _key(POS_INT, 224),
        "patch_size": _key(POS_INT, 16),
        "num_channels": _key(POS_INT, 3),
        "qkv_bias": _key(BOOL, True),
        "hidden_act": _key(ACT, "gelu"),
        "num_experts": _key(POS_INT, _REQUIRED, "num_local_experts", "moe_experts"),
        "num_experts_per_tok": _key(POS_INT, _REQUIRED, "moe_top_k"),
        "moe_intermediate_size": _key(POS_INT),
        "moe_layer_interval": _key(POS_INT, 2),
        "tasks": _key(STR_LIST),
        "router_bias": _key(BOOL, False),
        "final_layer_norm": _key(BOOL, False),
        "patch_embedding": _key(_choice("conv2d", "gemm"), "conv2d"),
    },
    "mamba": {
        "hidden_size": _key(POS_INT, _REQUIRED, "d_model"),
        "num_hidden_layers": _key(POS_INT, _REQUIRED, "n_layer"),
        "vocab_size": _key(POS_INT),
        "state_size": _key(POS_INT, 16, "d_state"),
        "expand": _key(POS_INT, 2),
        "conv_kernel": _key(POS_INT, 4, "d_conv"),
        "intermediate_size": _key(POS_INT, None),
        "time_step_rank": _key(RANK, "auto", "dt_rank"),
        "use_bias": _key(BOOL, False),
        "use_conv_bias": _key(BOOL, True),
        "tie_word_embeddings": _key(BOOL, True),
        "pad_vocab_size_multiple": _key(POS_INT, 1),
        "logits_to_keep": _key(NONNEG_INT, 0),
    },
    "matmulfree": {
        "hidden_size": _key(POS_INT),
        "num_hidden_layers": _key(POS_INT),
        "vocab_size": _key(POS_INT),
        "num_heads": _key(POS_INT, 1),
        "expand_ratio": _key(POS_INT, 1),
        "hidden_ratio": _key(POS_INT, 4),
        "intermediate_size": _key(POS_INT, None),
        "hidden_act": _key(ACT, "swish"),
        "use_lower_bound": _key(BOOL, True),
        "use_short_conv": _key(_Check(lambda v: v is False, "false (short convolutions are not modelled)"), False),
        "tie_word_embeddings": _key(BOOL, False),
        "logits_to_keep": _key(NONNEG_INT, 0),
    },
    "resnet": {
        "depths": _key(POS_INT_LIST),
        "hidden_sizes": _key(POS_INT_LIST),
        "embedding_size": _key(POS_INT, 64),
        "layer_type": _key(_choice("bottleneck", "basic"), "bottleneck"),
        "num_channels": _key(POS_INT, 3),
        "image_size": _key(POS_INT, 224),
        "num_labels": _key(POS_INT, 1000),
        "downsample_in_first_stage": _key(BOOL, False),
        "hidden_act": _key(ACT, "relu"),
    },
}
_SCHEMAS["gpt3"] = _SCHEMAS["gpt2"]
_SCHEMAS["roberta"] = _SCHEMAS["xlm-roberta"] = {**_SCHEMAS["bert"], "pad_token_id": _key(NONNEG_INT, 1)}


def _bad(key: str, value: Any, expected: str) -> ValueError:
    return ValueError(f"config key {key!r}={value!r}: expected {expected}")


def _read(config: Mapping[str, Any], model_type: str) -> dict[str, Any]:
    """Validated values of the family's keys (canonical names), defaults filled in."""
    out: dict[str, Any] = {}
    for canon, (check, default, aliases) in _SCHEMAS[model_type].items():
        found = [(n, config[n]) for n in (canon, *aliases) if config.get(n) is not None]
        if len({json.dumps(v, sort_keys=True, default=str) for _, v in found}) > 1:
            (a, va), (b, vb) = found[:2]
            raise ValueError(f"config keys {a!r}={va!r} and {b!r}={vb!r} name one setting but disagree; "
                             f"expected one value")
        if not found:
            if default is _REQUIRED:
                also = f" (or {', '.join(map(repr, aliases))})" if aliases else ""
                close = difflib.get_close_matches(canon, [str(k) for k in config], n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ValueError(f"config for model_type {model_type!r} lacks key {canon!r}{also}: "
                                 f"expected {check.expected}{hint}")
            out[canon] = default
            continue
        key, value = found[0]
        if not check.ok(value):
            raise _bad(key, value, check.expected)
        out[canon] = value
    return out


def _need(ok: bool, key: str, value: Any, expected: str) -> None:
    if not ok:
        raise _bad(key, value, expected)


# ---- workload settings ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Workload:
    """What one forward pass processes: `seqs` sequences (or images) of `q_len` new tokens each,
    attending over `kv_len` positions."""

    phase: str
    seqs: int
    q_len: int
    kv_len: int

    @property
    def tokens(self) -> int:
        return self.seqs * self.q_len


def _arg_int(name: str, value: Any, *, optional: bool = True) -> None:
    if value is None and optional:
        return
    if not (_is_int(value) and value > 0):
        raise ValueError(f"{name}={value!r}: expected a positive integer")


def _position_limit(mt: str, v: dict[str, Any]) -> int | None:
    """Usable positions of models with a learned position table (None: no hard limit)."""
    if mt in ("gpt2", "gpt3", "opt", "bert"):
        return v["max_position_embeddings"]
    if mt in ("roberta", "xlm-roberta"):  # positions start after the padding index
        return v["max_position_embeddings"] - v["pad_token_id"] - 1
    return None


def _workload(mt: str, v: dict[str, Any], phase: Any, batch: Any, seq_len: Any, kv_len: Any) -> Workload:
    if phase not in PHASES:
        raise ValueError(f"phase={phase!r}: expected one of {list(PHASES)}")
    _arg_int("batch", batch, optional=False)
    _arg_int("seq_len", seq_len)
    _arg_int("kv_len", kv_len)
    if mt in VISION:
        if phase != "prefill":
            raise ValueError(f"phase={phase!r}: expected 'prefill' for model_type {mt!r} (an image model)")
        if seq_len is not None or kv_len is not None:
            raise ValueError(f"seq_len={seq_len!r}, kv_len={kv_len!r}: expected None for model_type {mt!r}; "
                             f"the token count follows from config keys image_size and patch_size")
        tokens = 1 if mt == "resnet" else (v["image_size"] // v["patch_size"]) ** 2 + 1
        return Workload(phase, batch, tokens, tokens)
    limit = _position_limit(mt, v)
    default = limit or v.get("max_position_embeddings") or 2048
    if mt in ENCODERS:
        if phase != "prefill":
            raise ValueError(f"phase={phase!r}: expected 'prefill' for model_type {mt!r} (an encoder)")
        if kv_len is not None:
            raise ValueError(f"kv_len={kv_len!r}: expected None for model_type {mt!r} (an encoder attends "
                             f"over its seq_len tokens)")
    if phase == "prefill":
        q = seq_len or default
        kv = kv_len or q
        if kv < q:
            raise ValueError(f"kv_len={kv_len!r}: expected at least seq_len={q} (the new tokens attend to "
                             f"themselves)")
    else:
        q, kv = 1, kv_len or seq_len or default
    if limit is not None and kv > limit:
        arg = "kv_len" if kv_len else "seq_len"
        raise ValueError(f"{arg}={kv}: expected at most {limit}, the positions model_type {mt!r} has "
                         f"(config key max_position_embeddings)")
    return Workload(phase, batch, q, kv)


@dataclasses.dataclass(frozen=True)
class Formats:
    weights: str  # linear-layer weights
    acts: str  # linear-layer activations
    dtype: str  # storage/compute format of everything else
    group_size: int | None


def _formats(mt: str, w_format: Any, a_format: Any, group_size: Any) -> Formats:
    wf = w_format or ("ternary" if mt == "matmulfree" else "fp16")
    af = a_format or ("int8" if mt == "matmulfree" else "fp16")
    for name, f in (("w_format", wf), ("a_format", af)):
        if not isinstance(f, str) or f not in FORMAT_BITS:
            raise ValueError(f"{name}={f!r}: expected one of {sorted(FORMAT_BITS)}")
    if af in ("ternary", "int2"):
        raise ValueError(f"a_format={af!r}: expected an activation format such as fp16, bf16, fp8, int8, int4")
    if group_size is not None:
        _arg_int("group_size", group_size)
        if wf in FLOAT_DTYPES or wf == "tf32":
            raise ValueError(f"group_size={group_size!r}: expected None with w_format={wf!r}; per-group "
                             f"scales belong to quantised formats (int8, int4, fp8, ternary)")
    return Formats(wf, af, af if af in FLOAT_DTYPES else "fp16", group_size)


# ---- MoE routing ------------------------------------------------------------------------------------


def expert_counts(tokens: int, top_k: int, experts: int, routing: Sequence[float] | None = None) -> list[int]:
    """Tokens each expert processes: ``tokens * top_k`` slots, uniform or by a histogram.

    Uniform: an integer split, the remainder one each to the lowest-index experts.  A histogram is
    a list per expert of counts (summing to ``tokens * top_k``) or fractions (summing to 1, rounded
    by largest remainder, ties to the lower index).  No expert may see more than ``tokens``."""
    total = tokens * top_k
    if routing is None:
        base, rem = divmod(total, experts)
        return [base + (e < rem) for e in range(experts)]
    if isinstance(routing, str | bytes) or not isinstance(routing, Sequence) or len(routing) != experts:
        raise ValueError(f"routing={routing!r}: expected a list of {experts} counts or fractions, one per expert")
    if any(isinstance(x, bool) or not isinstance(x, int | float) or not x >= 0 for x in routing):
        raise ValueError(f"routing={list(routing)!r}: expected non-negative numbers")
    if all(_is_int(x) for x in routing) and sum(routing) == total:
        counts = list(routing)
    elif math.isclose(sum(routing), 1.0, rel_tol=0, abs_tol=1e-6):
        exact = [x * total for x in routing]
        counts = [math.floor(x) for x in exact]
        order = sorted(range(experts), key=lambda e: (-(exact[e] - counts[e]), e))
        for e in order[: total - sum(counts)]:
            counts[e] += 1
    else:
        raise ValueError(f"routing={list(routing)!r} sums to {sum(routing)}: expected counts summing to "
                         f"tokens*top_k = {tokens}*{top_k} = {total}, or fractions summing to 1")
    if max(counts) > tokens:
        raise ValueError(f"routing={list(routing)!r}: expected at most {tokens} tokens per expert (a token "
                         f"visits an expert once); got {max(counts)}")
    return counts


def _routing_for(routing: Any, layer: int, task: str | None) -> Any:
    """The histogram for one MoE layer (and task) out of a list or a dict keyed by task / layer."""
    if routing is None or not isinstance(routing, Mapping):
        return routing
    if task is not None and task in routing:
        return _routing_for(routing[task], layer, None)
    for key in (layer, str(layer)):
        if key in routing:
            return routing[key]
    return None


def _check_routing_keys(routing: Any, moe_layers: list[int], tasks: list[str]) -> None:
    if routing is None or not isinstance(routing, Mapping):
        return
    allowed = {str(i) for i in moe_layers} | set(tasks)
    for key, sub in routing.items():
        if str(key) not in allowed:
            raise ValueError(f"routing key {key!r}: expected an MoE layer index {moe_layers} "
                             f"or a task name {tasks}")
        if key in tasks:
            _check_routing_keys(sub, moe_layers, [])


# ---- the graph builder -----------------------------------------------------------------------------


def conv_out(hw: int, r: int, stride: int, pad: int) -> int:
    """Output height/width of a square convolution or pool."""
    return (hw + 2 * pad - r) // stride + 1


class Builder:
    """Adds validated ops to a Graph with the workload's formats and tags.  `prefix` and `base_tags`
    serve multi-pass models (M3ViT's per-task passes): prefixed ops share the unprefixed weight_id."""

    def __init__(self, graph: Graph, phase: str, fmt: Formats):
        self.g, self.phase, self.fmt = graph, phase, fmt
        self.prefix = ""
        self.base_tags: dict[str, Any] = {}

    def tags(self, layer: int, block: str, **extra: Any) -> dict[str, Any]:
        return {"layer": layer, "phase": self.phase, "block": block, **self.base_tags, **extra}

    def add(self, local: str, kind: OpKind, dims: dict[str, int], inputs: Sequence[Op], tags: dict[str, Any],
            *, shared: bool = True, weight_id: str | None = None, **kw: Any) -> Op:
        if weight_id is None and shared and self.prefix:
            weight_id = local
        op = Op(self.prefix + local, kind, dims, weight_id=weight_id, tags=tags, **kw)
        return self.g.add(op, list({o.name: o for o in inputs}.values()))

    def linear(self, local: str, m: int, n: int, k: int, inputs: Sequence[Op], tags: dict[str, Any], *,
               bias: bool = False, kind: OpKind = OpKind.GEMM, batch: int = 1, stored: bool = False,
               shared: bool = True, weight_id: str | None = None) -> Op:
        """A weight matmul: M x K activations by a K x N weight.  `stored`: the weight stays in the
        storage dtype (tied heads, depthwise convs), unquantised."""
        f = self.fmt
        return self.add(local, kind, {"M": m, "N": n, "K": k}, inputs, tags, batch=batch, bias=bias,
                        w_format=f.dtype if stored else f.weights, a_format=f.dtype if stored else f.acts,
                        group_size=None if stored else f.group_size, shared=shared, weight_id=weight_id)

    def vector(self, local: str, kind: OpKind, dims: dict[str, int], inputs: Sequence[Op], tags: dict[str, Any],
               **kw: Any) -> Op:
        d = self.fmt.dtype
        return self.add(local, kind, dims, inputs, tags, w_format=d, a_format=d, weights=False, **kw)

    def norm(self, local: str, rows: int, cols: int, affine: int, inputs: Sequence[Op], tags: dict[str, Any]) -> Op:
        return self.vector(local, OpKind.NORM, {"rows": rows, "cols": cols, "affine": affine}, inputs, tags)

    def eltwise(self, local: str, rows: int, cols: int, inputs: Sequence[Op], tags: dict[str, Any], *,
                flops: int = 1, operands: int | None = None) -> Op:
        dims = {"rows": rows, "cols": cols, "inputs": operands or max(len(inputs), 1), "flops_per_elem": flops}
        return self.vector(local, OpKind.ELTWISE, dims, inputs, tags)

    def conv(self, local: str, hw: int, r: int, c: int, k: int, inputs: Sequence[Op], tags: dict[str, Any], *,
             stride: int = 1, pad: int = 0, images: int = 1, bias: bool = False) -> Op:
        """A square convolution of `images` hw x hw x c inputs by k filters of r x r x c.

        As in `workloads.torch_frontend`, ``images > 1`` are stacked vertically into one padding-free
        input of equivalent geometry (``H = (images * Ho - 1) * stride + R``, ``dims["images"]``), so
        that MACs scale with the images while the filter bank (`Op.params` multiplies by `batch`) is
        counted once."""
        f = self.fmt
        dims = {"H": hw, "W": hw, "R": r, "S": r, "C": c, "K": k, "stride": stride, "pad": pad}
        if images > 1:
            ho = conv_out(hw, r, stride, pad)
            dims.update({"H": (images * ho - 1) * stride + r, "W": (ho - 1) * stride + r, "pad": 0,
                         "images": images})
        return self.add(local, OpKind.CONV2D, dims, inputs, tags, bias=bias, w_format=f.weights,
                        a_format=f.acts, group_size=f.group_size)

    def embed(self, local: str, tokens: int, vocab: int, hidden: int, tags: dict[str, Any],
              inputs: Sequence[Op] = ()) -> Op:
        return self.vector(local, OpKind.EMBED, {"tokens": tokens, "vocab": vocab, "hidden": hidden}, inputs, tags)

    def attention(self, p: str, q: Op, k: Op, v: Op, tags: dict[str, Any], wl: Workload, *, heads: int,
                  kv_heads: int, head_dim: int, window: int | None = None) -> Op:
        """Q K^T, softmax, P V over `batch * heads` heads; returns the context op."""
        kv = min(wl.kv_len, window) if window else wl.kv_len
        group = heads // kv_heads
        score = self.vector(f"{p}.score", OpKind.ATTN_SCORE, {"M": wl.q_len, "N": kv, "K": head_dim,
                            "kv_group": group}, [q, k], tags, batch=wl.seqs * heads)
        prob = self.vector(f"{p}.softmax", OpKind.SOFTMAX, {"rows": wl.seqs * heads * wl.q_len, "cols": kv},
                           [score], tags)
        return self.vector(f"{p}.context", OpKind.ATTN_CONTEXT, {"M": wl.q_len, "N": head_dim, "K": kv,
                           "kv_group": group}, [prob, v], tags, batch=wl.seqs * heads)


@dataclasses.dataclass(frozen=True)
class MoESpec:
    experts: int
    top_k: int
    inter: int
    gated: bool
    bias: bool
    router_bias: bool


@dataclasses.dataclass(frozen=True)
class LayerSpec:
    """One transformer block, as the families differ: norm kind/placement, fused QKV, biases, rope."""

    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    inter: int
    act: str
    gated: bool
    norm_affine: int  # 1 RMSNorm, 2 LayerNorm, 0 LayerNorm without affine
    prenorm: bool = True
    fused_qkv: bool = False
    qkv_bias: bool = False
    o_bias: bool = False
    mlp_bias: bool = False
    rope: bool = False
    window: int | None = None


def _mlp(b: Builder, p: str, x: Op, tokens: int, s: LayerSpec, tags: dict[str, Any], *, inter: int,
         gated: bool, bias: bool, after: Sequence[Op] = ()) -> Op:
    """A gated (gate/up/down, SwiGLU-style) or 2-matrix (fc1/fc2) MLP over `tokens` rows."""
    h, act = s.hidden, ACT_FLOPS[s.act]
    if gated:
        gate = b.linear(f"{p}.gate_proj", tokens, inter, h, [x, *after], tags, bias=bias)
        up = b.linear(f"{p}.up_proj", tokens, inter, h, [x, *after], tags, bias=bias)
        hid = b.eltwise(f"{p}.act", tokens, inter, [gate, up], tags, flops=act + 1)
        return b.linear(f"{p}.down_proj", tokens, h, inter, [hid], tags, bias=bias)
    fc1 = b.linear(f"{p}.fc1", tokens, inter, h, [x, *after], tags, bias=bias)
    hid = b.eltwise(f"{p}.act", tokens, inter, [fc1], tags, flops=act)
    return b.linear(f"{p}.fc2", tokens, h, inter, [hid], tags, bias=bias)


def _moe(b: Builder, p: str, x: Op, tokens: int, s: LayerSpec, moe: MoESpec, counts: list[int],
         tags: dict[str, Any], *, per_task_router: bool) -> Op:
    router = b.linear(f"{p}.router", tokens, moe.experts, s.hidden, [x], tags, kind=OpKind.ROUTER,
                      bias=moe.router_bias, shared=not per_task_router)
    select = b.vector(f"{p}.topk", OpKind.SOFTMAX, {"rows": tokens, "cols": moe.experts}, [router], tags)
    outs = [_mlp(b, f"{p}.e{e}", x, m, s, {**tags, "expert": e}, inter=moe.inter, gated=moe.gated,
                 bias=moe.bias, after=[select]) for e, m in enumerate(counts)]
    return b.eltwise(f"{p}.combine", tokens, s.hidden, outs, tags, flops=2 * moe.top_k - 1, operands=moe.top_k)


def transformer_layer(b: Builder, x: Op, i: int, s: LayerSpec, wl: Workload, *,
                      moe: MoESpec | None = None, counts: list[int] | None = None,
                      per_task_router: bool = False) -> Op:
    """Attention and MLP (or MoE) sub-blocks with residual adds; pre- or post-norm."""
    p, t, h = f"L{i}", wl.tokens, s.hidden
    at, mt = b.tags(i, "attn"), b.tags(i, "moe" if moe else "mlp")
    a_in = b.norm(f"{p}.attn_norm", t, h, s.norm_affine, [x], at) if s.prenorm else x
    qd, kvd = s.heads * s.head_dim, s.kv_heads * s.head_dim
    if s.fused_qkv:
        q = k = v = b.linear(f"{p}.attn.qkv_proj", t, qd + 2 * kvd, h, [a_in], at, bias=s.qkv_bias)
    else:
        q = b.linear(f"{p}.attn.q_proj", t, qd, h, [a_in], at, bias=s.qkv_bias)
        k = b.linear(f"{p}.attn.k_proj", t, kvd, h, [a_in], at, bias=s.qkv_bias)
        v = b.linear(f"{p}.attn.v_proj", t, kvd, h, [a_in], at, bias=s.qkv_bias)
    if s.rope:
        q = k = b.eltwise(f"{p}.attn.rope", t, qd + kvd, [q, k], at, flops=ROPE_FLOPS)
    ctx = b.attention(f"{p}.attn", q, k, v, at, wl, heads=s.heads, kv_heads=s.kv_heads, head_dim=s.head_dim,
                      window=s.window)
    o = b.linear(f"{p}.attn.o_proj", t, h, qd, [ctx], at, bias=s.o_bias)
    x = b.eltwise(f"{p}.attn.residual", t, h, [o, x], at)
    if not s.prenorm:
        x = b.norm(f"{p}.attn_norm", t, h, s.norm_affine, [x], at)
    m_in = b.norm(f"{p}.mlp_norm", t, h, s.norm_affine, [x], mt) if s.prenorm else x
    if moe is not None:
        out = _moe(b, f"{p}.moe", m_in, t, s, moe, counts or [], mt, per_task_router=per_task_router)
    else:
        out = _mlp(b, f"{p}.mlp", m_in, t, s, mt, inter=s.inter, gated=s.gated, bias=s.mlp_bias)
    x = b.eltwise(f"{p}.{'moe' if moe else 'mlp'}.residual", t, h, [out, x], mt)
    if not s.prenorm:
        x = b.norm(f"{p}.mlp_norm", t, h, s.norm_affine, [x], mt)
    return x


def _lm_head(b: Builder, x: Op, wl: Workload, *, layer: int, vocab: int, hidden: int, tied: bool,
             keep: int, ternary_norm: bool = False) -> Op:
    rows = wl.seqs * (min(keep, wl.q_len) if keep else wl.q_len)
    tags = b.tags(layer, "head")
    if ternary_norm:  # BitLinear's own RMSNorm
        x = b.norm("head.lm_head.norm", rows, hidden, 1, [x], tags)
    return b.linear("head.lm_head", rows, vocab, hidden, [x], tags, stored=tied,
                    weight_id="embed.tokens" if tied else None)


# ---- families --------------------------------------------------------------------------------------


def _heads(v: dict[str, Any]) -> tuple[int, int, int]:
    h, heads = v["hidden_size"], v["num_attention_heads"]
    kvh = v.get("num_key_value_heads") or heads
    hd = v.get("head_dim")
    if hd is None:
        _need(h % heads == 0, "num_attention_heads", heads, f"a divisor of hidden_size={h}")
        hd = h // heads
    _need(heads % kvh == 0, "num_key_value_heads", kvh, f"a divisor of num_attention_heads={heads}")
    return heads, kvh, hd


def _build_decoder(b: Builder, mt: str, v: dict[str, Any], wl: Workload, routing: Any) -> None:
    h, n_layers, vocab = v["hidden_size"], v["num_hidden_layers"], v["vocab_size"]
    heads, kvh, hd = _heads(v)
    moe = None
    if mt in ("llama", "mistral", "mixtral"):
        spec = LayerSpec(h, heads, kvh, hd, v["intermediate_size"], v["hidden_act"], gated=True, norm_affine=1,
                         qkv_bias=v["attention_bias"], o_bias=v["attention_bias"], mlp_bias=v["mlp_bias"],
                         rope=True, window=v["sliding_window"])
        if mt == "mixtral":
            e, k = v["num_local_experts"], v["num_experts_per_tok"]
            _need(k <= e, "num_experts_per_tok", k, f"at most num_local_experts={e}")
            moe = MoESpec(e, k, v["intermediate_size"], gated=True, bias=v["mlp_bias"], router_bias=v["router_bias"])
        pos_rows, proj, final_affine, tied = None, h, 1, v["tie_word_embeddings"]
    elif mt in ("gpt2", "gpt3"):
        spec = LayerSpec(h, heads, kvh, hd, v["n_inner"] or 4 * h, v["activation_function"], gated=False,
                         norm_affine=2, fused_qkv=True, qkv_bias=True, o_bias=True, mlp_bias=True)
        pos_rows, proj, final_affine, tied = v["max_position_embeddings"], h, 2, v["tie_word_embeddings"]
    else:  # opt
        bias, affine = v["enable_bias"], 2 if v["layer_norm_elementwise_affine"] else 0
        spec = LayerSpec(h, heads, kvh, hd, v["ffn_dim"], v["activation_function"], gated=False, norm_affine=affine,
                         prenorm=v["do_layer_norm_before"], qkv_bias=bias, o_bias=bias, mlp_bias=bias)
        proj = v["word_embed_proj_dim"] or h
        final_affine = affine if v["do_layer_norm_before"] and not v["_remove_final_layer_norm"] else None
        pos_rows, tied = v["max_position_embeddings"] + 2, v["tie_word_embeddings"]  # OPT offsets positions by 2
    t, et = wl.tokens, b.tags(-1, "embed")
    x = b.embed("embed.tokens", t, vocab, proj, et)
    if pos_rows:
        pos = b.embed("embed.positions", t, pos_rows, h, et)
        x = b.eltwise("embed.add", t, h, [x, pos], et)
    if proj != h:
        x = b.linear("embed.project_in", t, h, proj, [x], et)
    counts = None
    for i in range(n_layers):
        if moe:
            counts = expert_counts(t, moe.top_k, moe.experts, _routing_for(routing, i, None))
        x = transformer_layer(b, x, i, spec, wl, moe=moe, counts=counts)
    ht = b.tags(n_layers, "head")
    if final_affine is not None:
        x = b.norm("final_norm", t, h, final_affine, [x], ht)
    if proj != h:
        x = b.linear("head.project_out", t, proj, h, [x], ht)
    _lm_head(b, x, wl, layer=n_layers, vocab=vocab, hidden=proj, tied=tied, keep=v["logits_to_keep"])


def _build_encoder(b: Builder, mt: str, v: dict[str, Any], wl: Workload) -> None:
    h, n_layers = v["hidden_size"], v["num_hidden_layers"]
    heads, kvh, hd = _heads(v)
    spec = LayerSpec(h, heads, kvh, hd, v["intermediate_size"], v["hidden_act"], gated=False, norm_affine=2,
                     prenorm=False, qkv_bias=True, o_bias=True, mlp_bias=True)
    t, et = wl.tokens, b.tags(-1, "embed")
    parts = [b.embed("embed.tokens", t, v["vocab_size"], h, et),
             b.embed("embed.positions", t, v["max_position_embeddings"], h, et)]
    if v["type_vocab_size"]:
        parts.append(b.embed("embed.token_type", t, v["type_vocab_size"], h, et))
    x = b.eltwise("embed.add", t, h, parts, et, flops=len(parts) - 1)
    x = b.norm("embed.norm", t, h, 2, [x], et)
    for i in range(n_layers):
        x = transformer_layer(b, x, i, spec, wl)
    if v["add_pooling_layer"]:
        _pooler(b, x, wl.seqs, h, n_layers)


def _pooler(b: Builder, x: Op, seqs: int, h: int, layer: int) -> Op:
    tags = b.tags(layer, "head")
    dense = b.linear("pooler.dense", seqs, h, h, [x], tags, bias=True)  # on the first (CLS) token
    return b.eltwise("pooler.tanh", seqs, h, [dense], tags, flops=ACT_FLOPS["tanh"])


def _patch_embed(b: Builder, v: dict[str, Any], wl: Workload) -> Op:
    h, img, p, ch = v["hidden_size"], v["image_size"], v["patch_size"], v["num_channels"]
    _need(img % p == 0, "patch_size", p, f"a divisor of image_size={img}")
    et, patches = b.tags(-1, "embed"), (img // p) ** 2
    if v["patch_embedding"] == "conv2d":
        patch = b.conv("embed.patch", img, p, ch, h, [], et, stride=p, images=wl.seqs, bias=True)
    else:
        patch = b.linear("embed.patch", wl.seqs * patches, h, ch * p * p, [], et, bias=True)
    cls = b.embed("embed.cls_token", wl.seqs, 1, h, et)
    pos = b.embed("embed.positions", wl.tokens, patches + 1, h, et)
    return b.eltwise("embed.add", wl.tokens, h, [patch, cls, pos], et)


def _build_vit(b: Builder, v: dict[str, Any], wl: Workload) -> None:
    h, n_layers = v["hidden_size"], v["num_hidden_layers"]
    heads, kvh, hd = _heads(v)
    spec = LayerSpec(h, heads, kvh, hd, v["intermediate_size"], v["hidden_act"], gated=False, norm_affine=2,
                     qkv_bias=v["qkv_bias"], o_bias=True, mlp_bias=True)
    x = _patch_embed(b, v, wl)
    for i in range(n_layers):
        x = transformer_layer(b, x, i, spec, wl)
    x = b.norm("final_norm", wl.tokens, h, 2, [x], b.tags(n_layers, "head"))
    pool = v["add_pooling_layer"]
    if pool if pool is not None else v["num_labels"] is None:  # ViTForImageClassification has no pooler
        x = _pooler(b, x, wl.seqs, h, n_layers)
    if v["num_labels"]:
        b.linear("head.classifier", wl.seqs, v["num_labels"], h, [x], b.tags(n_layers, "head"), bias=True)


def m3vit_moe_layers(v: dict[str, Any]) -> list[int]:
    """MoE blocks of M3ViT: every `moe_layer_interval`-th block, the odd ones for the default 2."""
    n = v["moe_layer_interval"]
    return [i for i in range(v["num_hidden_layers"]) if i % n == n - 1]


def _build_m3vit(b: Builder, v: dict[str, Any], wl: Workload, routing: Any, tasks: list[str]) -> None:
    h, n_layers = v["hidden_size"], v["num_hidden_layers"]
    heads, kvh, hd = _heads(v)
    e, k = v["num_experts"], v["num_experts_per_tok"]
    _need(k <= e, "num_experts_per_tok", k, f"at most num_experts={e}")
    spec = LayerSpec(h, heads, kvh, hd, v["intermediate_size"], v["hidden_act"], gated=False, norm_affine=2,
                     fused_qkv=True, qkv_bias=v["qkv_bias"], o_bias=True, mlp_bias=True)
    moe = MoESpec(e, k, v["moe_intermediate_size"], gated=False, bias=True, router_bias=v["router_bias"])
    moe_layers = set(m3vit_moe_layers(v))
    for task in tasks:
        b.prefix, b.base_tags = f"{task}.", {"task": task}
        x = _patch_embed(b, v, wl)
        for i in range(n_layers):
            if i in moe_layers:
                counts = expert_counts(wl.tokens, k, e, _routing_for(routing, i, task))
                x = transformer_layer(b, x, i, spec, wl, moe=moe, counts=counts, per_task_router=True)
            else:
                x = transformer_layer(b, x, i, spec, wl)
        if v["final_layer_norm"]:
            b.norm("final_norm", wl.tokens, h, 2, [x], b.tags(n_layers, "head"))
    b.prefix, b.base_tags = "", {}


def mamba_dims(v: dict[str, Any]) -> tuple[int, int, int]:
    """(d_inner, dt_rank, padded vocab) of a Mamba config."""
    h = v["hidden_size"]
    d_inner = v["intermediate_size"] or v["expand"] * h
    rank = math.ceil(h / 16) if v["time_step_rank"] == "auto" else v["time_step_rank"]
    mult = v["pad_vocab_size_multiple"]
    return d_inner, rank, -(-v["vocab_size"] // mult) * mult


def _build_mamba(b: Builder, v: dict[str, Any], wl: Workload) -> None:
    h, n_layers, ds, kc = v["hidden_size"], v["num_hidden_layers"], v["state_size"], v["conv_kernel"]
    di, rank, vocab = mamba_dims(v)
    t, silu = wl.tokens, ACT_FLOPS["silu"]
    x = b.embed("embed.tokens", t, vocab, h, b.tags(-1, "embed"))
    for i in range(n_layers):
        p, tg = f"L{i}.mixer", b.tags(i, "mixer")
        n = b.norm(f"L{i}.norm", t, h, 1, [x], tg)
        xz = b.linear(f"{p}.in_proj", t, 2 * di, h, [n], tg, bias=v["use_bias"])
        # depthwise causal conv1d: d_inner independent (tokens x kernel) by (kernel x 1) products
        conv = b.linear(f"{p}.conv1d", t, 1, kc, [xz], tg, batch=di, bias=v["use_conv_bias"], stored=True)
        xc = b.eltwise(f"{p}.conv_act", t, di, [conv], tg, flops=silu)
        dbc = b.linear(f"{p}.x_proj", t, rank + 2 * ds, di, [xc], tg)
        dt = b.linear(f"{p}.dt_proj", t, di, rank, [dbc], tg, bias=True)
        dt = b.eltwise(f"{p}.softplus", t, di, [dt], tg, flops=SOFTPLUS_FLOPS)
        y = b.vector(f"{p}.scan", OpKind.SCAN, {"L": wl.q_len, "D": di, "N": ds, "params": di * ds + di},
                     [xc, dt, dbc], tg, batch=wl.seqs)  # A_log (d_inner x state) and D (d_inner)
        y = b.eltwise(f"{p}.gate", t, di, [y, xz], tg, flops=silu + 1)
        out = b.linear(f"{p}.out_proj", t, h, di, [y], tg, bias=v["use_bias"])
        x = b.eltwise(f"L{i}.residual", t, h, [out, x], tg)
    x = b.norm("final_norm", t, h, 1, [x], b.tags(n_layers, "head"))
    _lm_head(b, x, wl, layer=n_layers, vocab=vocab, hidden=h, tied=v["tie_word_embeddings"],
             keep=v["logits_to_keep"])


def matmulfree_inter(v: dict[str, Any]) -> int:
    """HGRNBit's GLU width: given, or 2/3 * hidden_ratio * hidden rounded up to a multiple of 256."""
    if v["intermediate_size"]:
        return v["intermediate_size"]
    return 256 * -(-int(v["hidden_size"] * v["hidden_ratio"] * 2 / 3) // 256)


def _build_matmulfree(b: Builder, v: dict[str, Any], wl: Workload) -> None:
    h, n_layers, vocab = v["hidden_size"], v["num_hidden_layers"], v["vocab_size"]
    d, inter, t = h * v["expand_ratio"], matmulfree_inter(v), wl.tokens
    _need(d % v["num_heads"] == 0, "num_heads", v["num_heads"], f"a divisor of hidden_size*expand_ratio={d}")
    swish = ACT_FLOPS[v["hidden_act"]]

    def bitlinear(name: str, x: Op, n: int, k: int, tags: dict[str, Any]) -> Op:
        xn = b.norm(f"{name}.norm", t, k, 1, [x], tags)  # BitLinear normalises its input (RMSNorm)
        return b.linear(name, t, n, k, [xn], tags)

    x = b.embed("embed.tokens", t, vocab, h, b.tags(-1, "embed"))
    for i in range(n_layers):
        p, tg, mt = f"L{i}.mixer", b.tags(i, "mixer"), b.tags(i, "mlp")
        n = b.norm(f"L{i}.attn_norm", t, h, 1, [x], tg)
        i_, f_, g_ = (bitlinear(f"{p}.{m}_proj", n, d, h, tg) for m in "ifg")
        f_ = b.eltwise(f"{p}.forget", t, d, [f_], tg, flops=ACT_FLOPS["sigmoid"] + 2)  # sigmoid, lower bound
        c = b.eltwise(f"{p}.input", t, d, [i_, f_], tg, flops=swish + 2)  # swiglu(i, 1 - f)
        # MLGRU recurrence h_t = f_t * h_{t-1} + (1 - f_t) * c_t: a scan with one state per channel;
        # params: this layer's row of the lower-bound table
        hs = b.vector(f"{p}.scan", OpKind.SCAN, {"L": wl.q_len, "D": d, "N": 1,
                      "params": h if v["use_lower_bound"] else 0}, [c, f_], tg, batch=wl.seqs)
        o = b.norm(f"{p}.g_norm", t, d, 1, [hs], tg)
        o = b.eltwise(f"{p}.gate", t, d, [o, g_], tg, flops=swish + 1)
        o = bitlinear(f"{p}.o_proj", o, h, d, tg)
        x = b.eltwise(f"L{i}.mixer.residual", t, h, [o, x], tg)
        m = b.norm(f"L{i}.mlp_norm", t, h, 1, [x], mt)
        gu = bitlinear(f"L{i}.mlp.gate_proj", m, 2 * inter, h, mt)  # gate and up fused
        a = b.eltwise(f"L{i}.mlp.act", t, inter, [gu], mt, flops=swish + 1, operands=2)
        down = bitlinear(f"L{i}.mlp.down_proj", a, h, inter, mt)
        x = b.eltwise(f"L{i}.mlp.residual", t, h, [down, x], mt)
    x = b.norm("final_norm", t, h, 1, [x], b.tags(n_layers, "head"))
    tied = v["tie_word_embeddings"]
    _lm_head(b, x, wl, layer=n_layers, vocab=vocab, hidden=h, tied=tied, keep=v["logits_to_keep"],
             ternary_norm=not tied)


# ---- entry point -----------------------------------------------------------------------------------


def from_config(config: Mapping[str, Any], *, phase: str = "prefill", batch: int = 1, seq_len: int | None = None,
                kv_len: int | None = None, w_format: str | None = None, a_format: str | None = None,
                group_size: int | None = None, routing: Any = None, tasks: Sequence[str] | None = None,
                name: str | None = None) -> Graph:
    """Build the Graph of one forward pass of the model an HF-style config describes.

    See the module docstring for phases, precisions, MoE routing and tags.  Bad input raises one
    ValueError naming the key or argument, its value and what was expected."""
    if not isinstance(config, Mapping):
        raise ValueError(f"config={type(config).__name__}: expected a dict of HF config.json keys")
    raw_type = config.get("model_type")
    mt = _MODEL_TYPES.get(raw_type) if isinstance(raw_type, str) else None
    if mt is None:
        raise ValueError(f"config key 'model_type'={raw_type!r}: expected one of {sorted(_MODEL_TYPES)}")
    v = _read(config, mt)
    wl = _workload(mt, v, phase, batch, seq_len, kv_len)
    fmt = _formats(mt, w_format, a_format, group_size)
    if mt == "m3vit":
        known = v["tasks"]
        if tasks is None:
            tasks = list(known)
        elif isinstance(tasks, str) or not isinstance(tasks, Sequence) or not tasks or any(
                t not in known for t in tasks) or len(set(tasks)) != len(tasks):
            raise ValueError(f"tasks={tasks!r}: expected a non-empty list of distinct names from {known}")
        tasks = list(tasks)
        _check_routing_keys(routing, m3vit_moe_layers(v), tasks)
    elif tasks is not None:
        raise ValueError(f"tasks={tasks!r}: expected None; only model_type 'm3vit' has tasks")
    if mt == "mixtral":
        _check_routing_keys(routing, list(range(v["num_hidden_layers"])), [])
    elif mt != "m3vit" and routing is not None:
        raise ValueError(f"routing={routing!r}: expected None; model_type {mt!r} has no experts")
    gname = name or config.get("name") or config.get("_name_or_path") or mt
    meta = {"model_type": mt, "phase": wl.phase, "batch": batch, "seq_len": wl.q_len, "kv_len": wl.kv_len,
            "tokens": wl.tokens, "w_format": fmt.weights, "a_format": fmt.acts, "dtype": fmt.dtype,
            "group_size": fmt.group_size}
    if tasks:
        meta["tasks"] = tasks
    if "source" in config:
        meta["source"] = config["source"]
    graph = Graph(str(gname), meta=meta)
    b = Builder(graph, wl.phase, fmt)
    if mt in DECODERS:
        _build_decoder(b, mt, v, wl, routing)
    elif mt in ENCODERS:
        _build_encoder(b, mt, v, wl)
    elif mt == "vit":
        _build_vit(b, v, wl)
    elif mt == "m3vit":
        _build_m3vit(b, v, wl, routing, tasks or [])
    elif mt == "mamba":
        _build_mamba(b, v, wl)
    elif mt == "matmulfree":
        _build_matmulfree(b, v, wl)
    else:
        from workloads.cnn import build_resnet

        build_resnet(b, v, wl)
    return graph
