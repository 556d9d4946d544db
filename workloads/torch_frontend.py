"""`from_torch`: trace a PyTorch `nn.Module` on the meta device into a `Graph`.

The module is traced with `torch.export.export(..., strict=False)` (or, where export fails, with
`torch.fx.experimental.proxy_tensor.make_fx` in fake-tensor mode, through `torch.func.functional_call`)
into an ATen-level FX graph whose nodes carry output shapes in ``node.meta["val"]``.  No weight is
ever allocated: build the model under ``with torch.device("meta"):`` and pass inputs on ``meta``
(inputs on another device are re-made on meta when the parameters are there).  A module that does
hold real weights is traced as it is (export fakes every tensor), never copied or moved.

How ATen ops become `Op`s:

* ``linear``/``mm``/``addmm``/``matmul``/``bmm``/``baddbmm``: a `GEMM` whose B operand is a parameter or
  buffer (``weights=True``; ``weight_id`` is the parameter's name, tied parameters resolved to one name)
  with every leading activation dim folded into ``M``.  A product of two activations is
  `ATTN_SCORE` when its result reaches a softmax (through scaling/masking element-wise ops),
  `ATTN_CONTEXT` when its left operand comes from a softmax, otherwise a `GEMM` with ``weights=False``.
  A GEMM whose output reaches a ``topk`` (through softmax/sigmoid) is the MoE `ROUTER`.
* ``scaled_dot_product_attention`` (and its fused variants): `ATTN_SCORE` + `SOFTMAX` + `ATTN_CONTEXT`
  over ``batch * query_heads`` heads (grouped-query K/V are broadcast, as the kernel does).  FLOPs
  are dense: causal masks are not exploited.
* ``conv1d``/``conv2d``/``convolution``: `CONV2D` (a 1-D conv is a 2-D conv of height 1) with
  ``batch`` = images (which share the filters, see `Op.params`).  Grouped convs keep ``C`` = input
  channels per group (``dims["groups"]``), so MACs and parameters are exact; dilation or asymmetric
  stride/padding get an equivalent padding-free geometry with the same output size (`conv_dims`).
* Everything a norm module (a class named ``...Norm``, ``...Norm2d``, ``...NormGated``) computes is
  one `NORM` op (``cols`` = the length of its weight, ``affine`` = its parameters per column), so an
  RMSNorm that ATen decomposes into pow/mean/rsqrt/mul is still one op; a bare ``layer_norm``/
  ``batch_norm``/``group_norm``/``rms_norm`` is one too.
* ``embedding`` is `EMBED`; ``softmax`` `SOFTMAX`; pooling `POOL` (``cols`` = window size);
  element-wise ops and reductions `ELTWISE` with the FLOPs per element of `ELTWISE_FLOPS`.
* Views, reshapes, transposes, dtype casts, ``getitem``, ``cat``, indexing, dropout (inference) and
  other data movement are not ops: dependencies pass through them, so `Graph` edges join real ops.
* Work that depends on no model input and no parameter (causal masks, rotary tables, position ids)
  is a constant for a given shape: it is not emitted and is counted in ``graph.meta["folded"]``.
* A parameter read by something other than a GEMM/conv/embedding/norm (ViT's position embedding
  added to the patches, a class token concatenated) becomes an `EMBED` op named after it that reads
  all its rows, so that every parameter is stored and read once.
* Any other ATen op is skipped (its inputs still flow to its users) and counted in
  ``graph.meta["unmapped"]`` (a `collections.Counter`) so that users can see what was ignored.

Mixture of experts.  A router's choices depend on data, which does not exist on the meta device.
transformers 5 runs experts through an "experts implementation"; during tracing `from_torch` selects
``grouped_mm`` (one grouped GEMM over all experts, shape-static; restored afterwards), and each
grouped GEMM of ``S = tokens * top_k`` routed rows becomes one `GEMM` per expert
(``tags["expert"]``, ``weight_id`` ``<param>[e]``) whose ``M`` is that expert's share of ``S``:
``expert_routing="uniform"`` gives every expert ``S / E`` rows (the remainder spread over the first
experts), a sequence of ``E`` weights (a histogram of counts or fractions) splits ``S`` in those
proportions, and a dict ``{layer: histogram}`` does so per layer (unlisted layers uniform).  The
assumption is recorded in ``graph.meta["moe"]``.

Attention implementation: transformers' ``"sdpa"`` (the default built from a config) traces to one
``scaled_dot_product_attention`` node per layer and is what the tests use; ``"eager"`` traces too
(two activation matmuls around a softmax).  Decoders are traced with ``use_cache=False`` (set when the
module has a ``config.use_cache`` and the caller did not pass it).  Dropout and batch norm are traced
in inference mode (``eval()`` during tracing; every submodule's mode is restored afterwards).

The make_fx fallback (``tracer="fx"``, or when export fails) sees no module stack: ops are named after
their parameters or ATen ops, layers come from parameter names, and norms stay decomposed into
element-wise ops (their weights become parameter reads), so GEMM FLOPs and parameters are unchanged.

Leaves out: data-dependent control flow (both tracers refuse it; write a shape-static stand-in),
decode with a KV cache (trace prefill; `workloads.config.from_config` models decode), sparsity,
higher-order control flow (``cond``/``while_loop``), and 3-D convolutions (counted unmapped).
"""

from __future__ import annotations

import contextlib
import math
import re
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from workloads.config import ACT_FLOPS, SOFTPLUS_FLOPS
from workloads.graph import Graph
from workloads.op import FORMAT_BITS, Op, OpKind

# ---- ATen op tables ------------------------------------------------------------------------------
#: FLOPs per output element of element-wise ops.  Activations use `workloads.config.ACT_FLOPS`
#: (transcendentals count 4, like softmax's exp), so traced and analytical graphs agree; other ops
#: count one per arithmetic step of their formula.  Ops not listed count 1.
ELTWISE_FLOPS: dict[str, int] = {
    **dict.fromkeys(("exp", "exp2", "expm1", "log", "log2", "log1p", "erf", "erfc", "sin", "cos", "atan"), 4),
    "softplus": SOFTPLUS_FLOPS, "mish": 9, "elu": 5, "selu": 6, "celu": 5, "hardswish": 4, "hardsigmoid": 3,
    "leaky_relu": 2, "log_sigmoid": 8, "addcmul": 2, "addcdiv": 2, "lerp": 3, "var": 3, "std": 4, "logsumexp": 6,
    **{act: ACT_FLOPS[act] for act in ("relu", "gelu", "silu", "sigmoid", "tanh")},
}
_ELTWISE = frozenset({
    "add", "sub", "rsub", "mul", "div", "true_divide", "floor_divide", "neg", "abs", "relu", "relu6",
    "gelu", "silu", "sigmoid", "tanh", "exp", "exp2", "expm1", "log", "log2", "log1p", "sqrt", "rsqrt",
    "reciprocal", "pow", "square", "sin", "cos", "erf", "erfc", "sign", "floor", "ceil", "round", "trunc",
    "fmod", "remainder", "maximum", "minimum", "clamp", "clamp_min", "clamp_max", "clip", "where",
    "masked_fill", "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_not",
    "logical_xor", "bitwise_and", "bitwise_or", "bitwise_not", "bitwise_xor", "__and__", "__or__",
    "__xor__", "__invert__", "softplus", "mish", "elu", "selu", "celu", "hardswish", "hardsigmoid",
    "hardtanh", "leaky_relu", "log_sigmoid", "threshold", "addcmul", "addcdiv", "lerp", "glu",
    "nan_to_num", "xlogy", "atan", "atan2", "isnan", "isinf",
})
_REDUCTIONS = frozenset({
    "sum", "mean", "amax", "amin", "max", "min", "prod", "var", "std", "var_mean", "std_mean",
    "norm", "linalg_vector_norm", "cumsum", "cumprod", "logsumexp", "argmax", "argmin", "any", "all",
})
# Views and casts: a parameter seen through them is still that parameter.
_VIEWS = frozenset({
    "view", "reshape", "_unsafe_view", "t", "transpose", "permute", "expand", "contiguous", "clone",
    "alias", "detach", "to", "_to_copy", "type_as", "unsqueeze", "squeeze", "flatten", "unflatten",
    "select", "slice", "narrow", "lift_fresh_copy", "view_as", "expand_as", "movedim", "swapaxes",
    "dropout", "native_dropout", "feature_dropout", "alpha_dropout", "_assert_tensor_metadata_passthrough",
    "as_strided", "unfold_copy", "view_copy", "_reshape_alias", "numpy_T", "mT", "adjoint",
})
# Data movement that is not an op (dependencies pass through).
_MOVES = frozenset({
    "cat", "concat", "concatenate", "stack", "hstack", "vstack", "split", "split_with_sizes", "chunk",
    "unbind", "getitem", "index", "index_select", "gather", "scatter", "scatter_add", "scatter_reduce",
    "index_put", "index_add", "index_copy", "index_fill", "masked_scatter", "repeat", "repeat_interleave",
    "tile", "roll", "flip", "pad", "constant_pad_nd", "reflection_pad2d", "replicate_pad2d", "copy",
    "fill", "tril", "triu", "diagonal", "diag", "unfold", "one_hot", "nonzero", "pixel_shuffle",
    "pixel_unshuffle", "channel_shuffle", "masked_select", "take", "broadcast_to", "meshgrid",
    "im2col", "col2im", "upsample_nearest2d", "split_copy", "slice_scatter", "select_scatter",
})
# Tensors built from shapes only: constants for a given input shape.
_FACTORIES = frozenset({
    "arange", "zeros", "ones", "full", "empty", "empty_strided", "zeros_like", "ones_like", "full_like",
    "empty_like", "new_zeros", "new_ones", "new_empty", "new_full", "scalar_tensor", "rand", "randn",
    "rand_like", "randn_like", "randint", "linspace", "eye", "tensor", "lift_fresh",
})
# Bookkeeping nodes with no data.
_IGNORED = frozenset({
    "_assert_tensor_metadata", "_assert_async", "_assert_scalar", "sym_size", "sym_numel",
    "sym_stride", "sym_storage_offset", "sym_constrain_range", "sym_constrain_range_for_size",
    "_set_grad_enabled", "set_grad_enabled", "_enter_autocast", "_exit_autocast", "_record_function_enter",
    "_record_function_exit", "_profiler_record_function_enter", "_profiler_record_function_exit",
    "size", "stride", "dim", "numel", "_local_scalar_dense", "item", "device", "_functional_assert_async",
    "_print", "resize_", "record_stream", "_make_dep_token",
})
_GEMMS = frozenset({"linear", "mm", "addmm", "matmul", "bmm", "baddbmm", "addbmm"})
_CONVS = frozenset({"conv1d", "conv2d", "convolution", "_convolution"})
_SDPA = frozenset({
    "scaled_dot_product_attention", "_scaled_dot_product_attention_math",
    "_scaled_dot_product_flash_attention", "_scaled_dot_product_flash_attention_for_cpu",
    "_scaled_dot_product_efficient_attention", "_scaled_dot_product_cudnn_attention",
    "_scaled_dot_product_attention_math_for_mps",
})
_SOFTMAXES = frozenset({"softmax", "_softmax", "log_softmax", "_log_softmax", "_safe_softmax"})
_NORMS = frozenset({
    "layer_norm", "native_layer_norm", "rms_norm", "_fused_rms_norm", "batch_norm", "native_batch_norm",
    "_native_batch_norm_legit", "_native_batch_norm_legit_no_training", "_native_batch_norm_legit_functional",
    "group_norm", "native_group_norm", "instance_norm",
})
_POOLS = frozenset({
    "max_pool1d", "max_pool2d", "max_pool2d_with_indices", "avg_pool1d", "avg_pool2d",
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "_adaptive_avg_pool2d", "adaptive_max_pool2d",
})
_EMBEDS = frozenset({"embedding", "embedding_bag", "_embedding_bag"})
_GROUPED_MM = frozenset({"grouped_mm", "_grouped_mm", "grouped_mm_fallback"})
# Ops a router's logits pass through on their way to `topk`.
_ROUTER_PATH = _VIEWS | {"softmax", "_softmax", "sigmoid", "to", "_to_copy", "getitem"}

_DTYPE_FORMATS = {
    "torch.float32": "fp32", "torch.float64": "fp32", "torch.float16": "fp16", "torch.bfloat16": "bf16",
    "torch.float8_e4m3fn": "fp8_e4m3", "torch.float8_e4m3fnuz": "fp8_e4m3", "torch.float8_e5m2": "fp8_e5m2",
    "torch.float8_e5m2fnuz": "fp8_e5m2", "torch.int8": "int8", "torch.uint8": "int8", "torch.int16": "int16",
    "torch.int32": "int32",
}
_LAYER_RE = re.compile(r"(?:^|[./])(?:layers|layer|blocks|block|h)[./_](\d+)(?:[./]|$)")
_NORM_CLASS_RE = re.compile(r"Norm(\d*d|Gated)?$")  # LayerNorm, LlamaRMSNorm, BatchNorm2d, RMSNormGated
_MAX_LOOKAHEAD = 8  # nodes followed from a matmul to find the softmax/topk it feeds


def aten_name(target: Any) -> str:
    """The bare ATen name of an FX call target: ``aten.linear.default`` -> ``linear``; a trailing
    in-place underscore is dropped (``div_`` -> ``div``), dunder names are kept."""
    if hasattr(target, "_schema") or hasattr(target, "_overloadpacket"):
        parts = str(target).split(".")
        name = parts[1] if len(parts) >= 3 else parts[-1]
    else:
        name = getattr(target, "__name__", str(target))
    if name.endswith("_") and not name.endswith("__") and not name.startswith("_assert"):
        name = name[:-1]
    return name


def layer_of(path: str) -> int | None:
    """Layer index parsed from a module, parameter or ONNX node path (``model.layers.3.mlp``,
    ``/model/layers.3/mlp/MatMul``, ``encoder.layer_3`` -> 3)."""
    m = _LAYER_RE.search(path)
    return int(m.group(1)) if m else None


# ---- the public entry point --------------------------------------------------------------------
def from_torch(
    module: Any,
    example_inputs: Any,
    *,
    kwargs: Mapping[str, Any] | None = None,
    name: str | None = None,
    w_format: str | None = None,
    a_format: str | None = None,
    expert_routing: str | Sequence[float] | Mapping[int, Sequence[float]] = "uniform",
    tracer: str = "auto",
) -> Graph:
    """Trace `module` on `example_inputs` (a tensor or a tuple; `kwargs` are keyword inputs) into a
    `Graph`.  See the module docstring for the op mapping and its assumptions.

    `w_format`/`a_format` set the operand formats of every op (default: from the tensors' dtypes).
    `expert_routing` sets MoE expert loads: ``"uniform"``, a histogram of ``E`` weights, or
    ``{layer: histogram}``.  `tracer` is ``"auto"`` (export, then make_fx if export fails),
    ``"export"`` or ``"fx"``.  ``graph.meta`` records the tracer, the trace time, unmapped and folded
    ATen ops, the MoE assumption and any parameter the forward never read.
    """
    import torch

    for fmt in (w_format, a_format):
        if fmt is not None and fmt not in FORMAT_BITS:
            raise ValueError(f"unknown number format {fmt!r}; expected one of {sorted(FORMAT_BITS)}")
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"from_torch expects a torch.nn.Module, got {type(module).__name__}")
    if tracer not in ("auto", "export", "fx"):
        raise ValueError(f"tracer must be 'auto', 'export' or 'fx', got {tracer!r}")
    _check_routing(expert_routing)
    args = example_inputs if isinstance(example_inputs, tuple) else (example_inputs,)
    kw = dict(kwargs or {})
    cfg = getattr(module, "config", None)
    if cfg is not None and hasattr(cfg, "use_cache") and "use_cache" not in kw:
        kw["use_cache"] = False
    device = next((p.device for p in module.parameters()), None)
    if device is not None and device.type == "meta":
        args, kw = _to_meta(args), _to_meta(kw)

    t0 = time.perf_counter()
    with _inference_mode(module), _grouped_experts(module):
        fx_graph, specs, used_tracer, export_error = _trace(module, args, kw, tracer)
    trace_s = time.perf_counter() - t0

    graph = Graph(name or type(module).__name__)
    mapper = _Mapper(graph, module, specs, w_format, a_format, expert_routing)
    mapper.run(fx_graph)
    graph.meta.update({
        "source": "torch",
        "tracer": used_tracer,
        "trace_s": trace_s,
        "inputs": [tuple(a.shape) for a in args if hasattr(a, "shape")],
        "unmapped": mapper.unmapped,
        "folded": mapper.folded,
        "unused_params": sorted(mapper.is_parameter - mapper.used_params),
    })
    if export_error:
        graph.meta["export_error"] = export_error
    if mapper.moe_layers:
        graph.meta["moe"] = {
            "routing": expert_routing if isinstance(expert_routing, str) else "histogram",
            "assumption": "router choices are unknowable on the meta device; per-expert rows "
                          "(tokens * top_k in all) split by expert_routing",
            "rows_per_expert": mapper.moe_layers,
        }
    return graph


def _check_routing(routing: Any) -> None:
    if isinstance(routing, str):
        if routing != "uniform":
            raise ValueError(f"expert_routing must be 'uniform', a histogram or {{layer: histogram}}, "
                             f"got {routing!r}")
        return
    hists = routing.values() if isinstance(routing, Mapping) else [routing]
    for h in hists:
        if not isinstance(h, Sequence) or not h or any(not isinstance(x, int | float) or x < 0 for x in h):
            raise ValueError("expert_routing histogram must be a non-empty sequence of non-negative numbers, "
                             f"got {h!r}")
        if sum(h) <= 0:
            raise ValueError(f"expert_routing histogram {list(h)!r} sums to zero")


def _to_meta(obj: Any) -> Any:
    import torch

    if isinstance(obj, torch.Tensor):
        return obj if obj.device.type == "meta" else torch.empty(obj.shape, dtype=obj.dtype, device="meta")
    if isinstance(obj, tuple):
        return tuple(_to_meta(x) for x in obj)
    if isinstance(obj, list):
        return [_to_meta(x) for x in obj]
    if isinstance(obj, dict):
        return {k: _to_meta(v) for k, v in obj.items()}
    return obj


@contextlib.contextmanager
def _inference_mode(module: Any):
    """`eval()` for the trace; every submodule's own mode restored afterwards."""
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training


@contextlib.contextmanager
def _grouped_experts(module: Any):
    """Select transformers' shape-static ``grouped_mm`` experts implementation while tracing."""
    configs = {}
    for m in module.modules():
        cfg = getattr(m, "config", None)
        if cfg is not None and hasattr(cfg, "_experts_implementation") and id(cfg) not in configs:
            configs[id(cfg)] = (cfg, cfg._experts_implementation)
    try:
        for cfg, impl in configs.values():
            if impl != "grouped_mm":
                cfg._experts_implementation = "grouped_mm"
        yield
    finally:
        for cfg, impl in configs.values():
            if cfg._experts_implementation != impl:
                cfg._experts_implementation = impl


def _trace(module, args, kwargs, tracer):
    """Returns (fx graph, {placeholder name: (kind, fqn)}, tracer used, export error or None)."""
    import torch

    error = None
    if tracer in ("auto", "export"):
        try:
            ep = torch.export.export(module, args, kwargs=kwargs, strict=False)
        except Exception as exc:  # noqa: BLE001 - any export failure falls back to make_fx
            if tracer == "export":
                raise
            error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        else:
            specs = {}
            for spec in ep.graph_signature.input_specs:
                kind = spec.kind.name.lower()  # user_input, parameter, buffer, constant_tensor, ...
                specs[spec.arg.name] = (kind, spec.target)
            return ep.graph, specs, "export", None

    from torch.fx.experimental.proxy_tensor import make_fx

    named = {**dict(module.named_parameters()), **dict(module.named_buffers())}
    params = {n for n, _ in module.named_parameters()}

    def run(state, a, kw):
        return torch.func.functional_call(module, state, tuple(a), kw)

    try:
        gm = make_fx(run, tracing_mode="fake")(named, list(args), dict(kwargs))
    except Exception as exc:
        why = f"torch.export failed ({error}); " if error else ""
        raise RuntimeError(f"could not trace {type(module).__name__}: {why}make_fx failed "
                           f"({type(exc).__name__}: {exc})") from exc
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    specs = {}
    for node, key in zip(placeholders, named, strict=False):
        specs[node.name] = ("parameter" if key in params else "buffer", key)
    for node in placeholders[len(named):]:
        specs[node.name] = ("user_input", None)
    return gm.graph, specs, "make_fx", error


# ---- the mapper --------------------------------------------------------------------------------
class _Val:
    """What the mapper knows about one FX value: the ops it comes from (`src`), whether it is a
    parameter or buffer seen through views (`param` = (weight id, is a parameter)), whether it
    depends on a model input (`live`) or on a parameter (`has_param`), and its layer."""

    __slots__ = ("src", "param", "live", "has_param", "layer")

    def __init__(self, src=frozenset(), param=None, live=False, has_param=False, layer=None):
        self.src, self.param, self.live, self.has_param, self.layer = src, param, live, has_param, layer


_CONST = _Val()


class _Mapper:
    def __init__(self, graph, module, specs, w_format, a_format, routing):
        self.graph = graph
        self.specs = specs
        self.w_format, self.a_format, self.routing = w_format, a_format, routing
        self.vals: dict[Any, _Val] = {}
        self.unmapped: Counter = Counter()
        self.folded: Counter = Counter()
        self.used_params: set[str] = set()
        self.param_reads: dict[str, str] = {}  # weight id -> name of its EMBED op
        self.moe_layers: dict[str, list[int]] = {}
        # tied parameters: every name of one tensor maps to its first name
        first: dict[int, str] = {}
        self.canonical: dict[str, str] = {}
        self.param_dtype: dict[str, str] = {}
        for n, p in module.named_parameters(remove_duplicate=False):
            self.canonical[n] = first.setdefault(id(p), n)
            self.param_dtype[n] = str(p.dtype)
        for n, b in module.named_buffers(remove_duplicate=False):
            self.canonical.setdefault(n, first.setdefault(id(b), n))
        self.is_parameter = set(first.get(id(p)) for _, p in module.named_parameters())

    # -- walking ------------------------------------------------------------------------------
    def run(self, fx_graph) -> None:
        nodes = list(fx_graph.nodes)
        self.norm_groups = self._norm_runs(nodes)
        for node in nodes:
            if node.op == "placeholder":
                self.vals[node] = self._placeholder(node)
            elif node.op == "call_function":
                self.vals[node] = self._call(node)
            elif node.op == "get_attr":
                self.vals[node] = _CONST

    def _placeholder(self, node) -> _Val:
        kind, target = self.specs.get(node.name, ("user_input", None))
        if kind in ("parameter", "buffer") and target is not None:
            wid = self.canonical.get(target, target)
            is_param = kind == "parameter"
            return _Val(param=(wid, is_param, _shape(node)), has_param=is_param, layer=layer_of(wid))
        if kind == "user_input":
            return _Val(live=True)
        return _CONST

    def _inputs(self, node) -> list:
        return list(node.all_input_nodes)

    def _call(self, node) -> _Val:
        name = aten_name(node.target)
        if name in _IGNORED:
            return _CONST
        ins = [self.vals.get(i, _CONST) for i in self._inputs(node)]
        live = any(v.live for v in ins)
        has_param = any(v.has_param for v in ins)
        layer = self._layer(node, ins)
        if name in _FACTORIES:
            return _Val(layer=layer)
        if name in ("wrap_with_set_grad_enabled", "wrap_with_autocast", "autocast"):
            return self._inline(node, name)
        if name in _VIEWS and node.args and isinstance(node.args[0], _fx_node_type()):
            first = self.vals.get(node.args[0], _CONST)
            if first.param is not None:
                wid, is_param, pshape = first.param
                if name in ("select", "slice", "narrow") and _numel(node) != _numel(node.args[0]):
                    wid = f"{wid}[{','.join(str(a) for a in node.args[1:])}]"
                    pshape = _shape(node)
                return _Val(param=(wid, is_param, pshape), has_param=first.has_param, layer=first.layer)
        if not live and not has_param:
            if name not in _VIEWS and name not in _MOVES and name != "getitem":
                self.folded[name] += 1
            return _Val(layer=layer)
        if name in _VIEWS or name in _MOVES or name == "getitem":
            return _Val(self._src(node), live=live, has_param=has_param, layer=layer)

        group = self.norm_groups.get(node)
        if group is not None:
            return self._norm_member(node, group, live, has_param, layer)
        if name in _GEMMS:
            return self._gemm(node, name, live, has_param, layer)
        if name in _SDPA:
            return self._sdpa(node, live, has_param, layer)
        if name in _CONVS:
            return self._conv(node, name, live, has_param, layer)
        if name in _GROUPED_MM:
            return self._grouped_mm(node, live, has_param, layer)
        if name in _EMBEDS:
            return self._embedding(node, live, has_param, layer)
        if name in _NORMS:
            return self._norm(node, [node], live, has_param, layer)
        if name in _SOFTMAXES:
            return self._softmax(node, live, has_param, layer)
        if name in _POOLS:
            return self._pool(node, name, live, has_param, layer)
        if name in _ELTWISE or name in _REDUCTIONS:
            return self._eltwise(node, name, live, has_param, layer)
        self.unmapped[str(node.target)] += 1
        return _Val(self._src(node), live=live, has_param=has_param, layer=layer)

    # -- helpers ------------------------------------------------------------------------------
    def _layer(self, node, ins) -> int | None:
        path = _module_path(node)
        if path:
            lay = layer_of(path)
            if lay is not None:
                return lay
        lays = [v.layer for v in ins if v.layer is not None]
        return max(lays) if lays else None

    def _src(self, node, owned: Iterable = ()) -> frozenset:
        """Ops feeding `node`: the sources of its inputs, plus a parameter-read op for every
        parameter it consumes other than through `owned` (the weight slots of a GEMM, conv...)."""
        owned = set(owned)
        src: set[str] = set()
        for inp in self._inputs(node):
            v = self.vals.get(inp, _CONST)
            src |= v.src
            if v.param is not None and inp in owned:
                self.used_params.add(_strip_slice(v.param[0]))
            elif v.param is not None and v.param[1]:
                src.add(self._param_read(inp, v))
        return frozenset(src)

    def _param_read(self, inp, v: _Val) -> str:
        wid, _, shape = v.param
        if wid not in self.param_reads:
            shape = shape or _shape(inp) or (1,)
            hidden = shape[-1] if shape else 1
            rows = _prod(shape) // max(hidden, 1)
            op = Op(self._unique(wid), OpKind.EMBED, {"tokens": rows, "vocab": rows, "hidden": hidden},
                    w_format=self._wfmt(wid), a_format=self._wfmt(wid), weight_id=wid,
                    tags=self._tags(_module_path_of_param(wid), "param_read", layer_of(wid)))
            self.graph.add(op)
            self.used_params.add(_strip_slice(wid))
            self.param_reads[wid] = op.name
        return self.param_reads[wid]

    def _unique(self, base: str) -> str:
        base = base or "op"
        if base not in self.graph:
            return base
        i = 1
        while f"{base}_{i}" in self.graph:
            i += 1
        return f"{base}_{i}"

    def _weight_op_name(self, node, wid: str | None, suffix: str = "gemm") -> str:
        """A weight op is named after its parameter (``...q_proj.weight`` -> ``...q_proj``) when the
        parameter belongs to the calling module, else after the calling module (a tied ``lm_head``)."""
        path = _module_path(node)
        if wid is None:
            return self._name(node, suffix)
        owner = _module_path_of_param(wid)
        if path and owner != path:
            return self._unique(path)
        base = _strip_slice(wid)
        if "." not in base:  # a root module's own parameter
            return self._unique(suffix)
        return self._unique(base[: -len(".weight")] if base.endswith(".weight") else base)

    def _name(self, node, suffix: str) -> str:
        path = _module_path(node)
        return self._unique(f"{path}.{suffix}" if path else suffix)

    def _tags(self, module: str, source: str, layer: int | None, **extra) -> dict:
        tags = {"module": module, "source": source}
        if layer is not None:
            tags["layer"] = layer
        tags.update(extra)
        return tags

    def _wfmt(self, wid: str | None, node=None) -> str:
        if self.w_format:
            return self.w_format
        if wid is not None:
            dt = self.param_dtype.get(_strip_slice(wid))
            if dt is not None:
                return _DTYPE_FORMATS.get(dt, "fp32")
        return self._afmt(node) if node is not None else "fp32"

    def _afmt(self, node) -> str:
        if self.a_format:
            return self.a_format
        val = node.meta.get("val") if node is not None else None
        return _DTYPE_FORMATS.get(str(getattr(val, "dtype", "")), "fp32")

    def _add(self, op: Op, src: Iterable[str], live, has_param, layer) -> _Val:
        self.graph.add(op, sorted(set(src)))
        if op.weight_id:
            self.used_params.add(_strip_slice(op.weight_id))
        return _Val(frozenset({op.name}), live=live, has_param=has_param, layer=layer)

    def _param_of(self, arg) -> tuple[str, bool, tuple] | None:
        if not isinstance(arg, _fx_node_type()):
            return None
        return self.vals.get(arg, _CONST).param

    # -- GEMMs --------------------------------------------------------------------------------
    def _gemm(self, node, name, live, has_param, layer) -> _Val:
        args = node.args
        bias_arg = None
        if name == "linear":
            a, b = args[0], args[1]
            bias_arg = args[2] if len(args) > 2 else node.kwargs.get("bias")
            b_is_nk = True
        elif name in ("addmm", "baddbmm", "addbmm"):
            bias_arg, a, b = args[0], args[1], args[2]
            b_is_nk = False
        else:
            a, b = args[0], args[1]
            b_is_nk = False
        sa, sb, so = _shape(a), _shape(b), _shape(node)
        pa, pb = self._param_of(a), self._param_of(b)
        bias = bias_arg is not None and self._param_of(bias_arg) is not None
        owned = [x for x in (a, b, bias_arg) if isinstance(x, _fx_node_type()) and self._param_of(x) is not None]
        src = self._src(node, owned=owned)
        path = _module_path(node)
        afmt = self._afmt(node)
        if pb is not None or pa is not None:
            if pb is not None:
                wid = pb[0]
                if b_is_nk:
                    n_dim, k_dim = sb[-2] if len(sb) > 1 else 1, sb[-1]
                else:
                    k_dim, n_dim = (sb[-2], sb[-1]) if len(sb) > 1 else (sb[-1], 1)
                wbatch = _prod(sb[:-2]) if len(sb) > 2 else 1
                m = _prod(sa) // max(k_dim, 1) // max(wbatch, 1)
            else:  # weight on the left: C^T = B^T A^T, the weight's rows are N
                wid = pa[0]
                n_dim, k_dim = (sa[-2], sa[-1]) if len(sa) > 1 else (1, sa[-1])
                wbatch = _prod(sa[:-2]) if len(sa) > 2 else 1
                m = _prod(so) // max(n_dim, 1) // max(wbatch, 1)
            p_numel = _prod((pb or pa)[2] or ())
            if wbatch > 1 and wbatch * k_dim * n_dim > p_numel:  # a broadcast weight: fold into M
                m, wbatch = m * wbatch, 1
            kind = OpKind.ROUTER if self._feeds_topk(node) else OpKind.GEMM
            op = Op(self._weight_op_name(node, wid, name), kind, {"M": m, "N": n_dim, "K": k_dim}, batch=wbatch,
                    w_format=self._wfmt(wid), a_format=afmt, weights=True, bias=bias, weight_id=wid,
                    tags=self._tags(path, name, layer))
            return self._add(op, src, live, has_param, layer)
        # two activations: attention or a plain activation GEMM
        k_dim = sa[-1]
        m = so[-2] if len(so) >= 2 and len(sa) >= 2 else 1
        n_dim = so[-1] if len(sb) >= 2 else 1
        batch = _prod(so) // max(m * n_dim, 1)
        dims = {"M": m, "N": n_dim, "K": k_dim}
        if any(self.graph[s].kind is OpKind.SOFTMAX for s in self.vals.get(a, _CONST).src):
            kind, suffix = OpKind.ATTN_CONTEXT, "attn_context"
        elif self._feeds(node, _SOFTMAXES, _VIEWS | _ELTWISE | {"getitem"}):
            kind, suffix = OpKind.ATTN_SCORE, "attn_score"
        else:
            kind, suffix = OpKind.GEMM, name
        if kind is not OpKind.GEMM:
            dims.update(_kv_group(b, batch * k_dim * n_dim))
        op = Op(self._name(node, suffix), kind, dims, batch=batch,
                w_format=afmt, a_format=afmt, weights=False, tags=self._tags(path, name, layer))
        return self._add(op, src, live, has_param, layer)

    def _feeds(self, node, targets: frozenset, through: frozenset) -> bool:
        """Whether `node`'s value reaches an op named in `targets` through ops named in `through`."""
        frontier, seen = [node], set()
        for _ in range(_MAX_LOOKAHEAD):
            nxt = []
            for n in frontier:
                for user in n.users:
                    if user in seen:
                        continue
                    seen.add(user)
                    uname = aten_name(user.target) if user.op == "call_function" else ""
                    if uname in targets:
                        return True
                    if uname in through:
                        nxt.append(user)
            frontier = nxt
            if not frontier:
                break
        return False

    def _feeds_topk(self, node) -> bool:
        return self._feeds(node, frozenset({"topk", "sort", "argsort"}), _ROUTER_PATH)

    # -- attention ----------------------------------------------------------------------------
    def _sdpa(self, node, live, has_param, layer) -> _Val:
        q, k, v = node.args[0], node.args[1], node.args[2]
        sq, sk, sv = _shape(q), _shape(k), _shape(v)
        lq, e = sq[-2], sq[-1]
        skv, ev = sk[-2], sv[-1]
        batch = _prod(sq[:-2])
        path = _module_path(node)
        afmt = self._afmt(node)
        tags = self._tags(path, "scaled_dot_product_attention", layer)
        qk_src = set(self.vals.get(q, _CONST).src) | set(self.vals.get(k, _CONST).src)
        mask = node.args[3] if len(node.args) > 3 else node.kwargs.get("attn_mask")
        if isinstance(mask, _fx_node_type()):
            qk_src |= set(self.vals.get(mask, _CONST).src)
        dims = {"M": lq, "N": skv, "K": e, **_kv_group(k, batch * skv * e)}
        score = Op(self._name(node, "attn_score"), OpKind.ATTN_SCORE, dims, batch=batch,
                   w_format=afmt, a_format=afmt, weights=False, tags=tags)
        self.graph.add(score, sorted(qk_src))
        sm = Op(self._name(node, "softmax"), OpKind.SOFTMAX, {"rows": lq, "cols": skv}, batch=batch,
                w_format=afmt, a_format=afmt, weights=False, tags=tags)
        self.graph.add(sm, [score.name])
        dims = {"M": lq, "N": ev, "K": skv, **_kv_group(v, batch * skv * ev)}
        ctx = Op(self._name(node, "attn_context"), OpKind.ATTN_CONTEXT, dims, batch=batch,
                 w_format=afmt, a_format=afmt, weights=False, tags=tags)
        return self._add(ctx, {sm.name} | set(self.vals.get(v, _CONST).src), live, has_param, layer)

    # -- convolutions -------------------------------------------------------------------------
    def _conv(self, node, name, live, has_param, layer) -> _Val:
        args = list(node.args) + [None] * 9
        x, w, b = args[0], args[1], args[2]
        stride, padding, dilation = args[3], args[4], args[5]
        if name in ("convolution", "_convolution"):
            transposed, groups = args[6], args[8]
            if transposed:
                self.unmapped[str(node.target) + "(transposed)"] += 1
                return _Val(self._src(node), live=live, has_param=has_param, layer=layer)
        else:
            groups = args[6]
        if isinstance(padding, str):
            padding = None  # 'same'/'valid': the equivalent geometry below reproduces the output size
        sx, sw, so = _shape(x), _shape(w), _shape(node)
        if len(sw) not in (3, 4) or len(so) != len(sw):
            self.unmapped[str(node.target) + f"({len(sw) - 2}d)"] += 1
            return _Val(self._src(node), live=live, has_param=has_param, layer=layer)
        if len(sw) == 3:  # conv1d: height 1
            sx, sw, so = (*sx[:-1], 1, sx[-1]), (*sw[:-1], 1, sw[-1]), (*so[:-1], 1, so[-1])
            stride = [1, *_seq(1 if stride is None else stride, 1)]
            padding = [0, *_seq(0 if padding is None else padding, 1)]
            dilation = [1, *_seq(1 if dilation is None else dilation, 1)]
        if len(sx) == 3:  # unbatched input
            sx, so = (1, *sx), (1, *so)
        pd = _seq(padding if padding is not None else 0, 2)
        dims = conv_dims(sx, sw, so[-2:], _seq(stride or 1, 2), pd * 2, _seq(dilation or 1, 2), int(groups or 1))
        n_img = sx[0]
        pw, pb = self._param_of(w), self._param_of(b)
        wid = pw[0] if pw else None
        owned = [a for a in (w, b) if isinstance(a, _fx_node_type()) and self._param_of(a) is not None]
        path = _module_path(node)
        op = Op(self._weight_op_name(node, wid, "conv"), OpKind.CONV2D, dims, batch=n_img,
                w_format=self._wfmt(wid, node), a_format=self._afmt(node),
                weights=pw is not None, bias=pb is not None, weight_id=wid, tags=self._tags(path, name, layer))
        return self._add(op, self._src(node, owned=owned), live, has_param, layer)

    # -- MoE grouped GEMMs --------------------------------------------------------------------
    def _grouped_mm(self, node, live, has_param, layer) -> _Val:
        x, w = node.args[0], node.args[1]
        sx, sw = _shape(x), _shape(w)
        pw = self._param_of(w)
        if len(sx) != 2 or len(sw) != 3:
            self.unmapped[str(node.target)] += 1
            return _Val(self._src(node), live=live, has_param=has_param, layer=layer)
        rows, (n_exp, k_dim, n_dim) = sx[0], sw
        counts = split_rows(rows, self._histogram(layer, n_exp))
        src = self._src(node, owned=[w] if pw else [])
        path = _module_path(node)
        wid = pw[0] if pw else f"{path}.experts"
        self.moe_layers[wid] = counts
        out = set()
        for e, m in enumerate(counts):
            op = Op(self._unique(f"{wid}.e{e}"), OpKind.GEMM, {"M": m, "N": n_dim, "K": k_dim},
                    w_format=self._wfmt(wid), a_format=self._afmt(node), weights=pw is not None,
                    weight_id=f"{wid}[{e}]", tags=self._tags(path, "grouped_mm", layer, expert=e))
            self.graph.add(op, sorted(src))
            out.add(op.name)
        if pw:
            self.used_params.add(wid)
        return _Val(frozenset(out), live=live, has_param=has_param, layer=layer)

    def _histogram(self, layer: int | None, n_exp: int) -> list[float]:
        hist = self.routing
        if isinstance(hist, Mapping):
            hist = hist.get(layer, "uniform")
        if isinstance(hist, str):
            return [1.0] * n_exp
        if len(hist) != n_exp:
            raise ValueError(f"expert_routing histogram has {len(hist)} entries but layer {layer} has {n_exp} experts")
        return [float(x) for x in hist]

    # -- the rest -----------------------------------------------------------------------------
    def _embedding(self, node, live, has_param, layer) -> _Val:
        w, idx = node.args[0], node.args[1]
        sw = _shape(w)
        pw = self._param_of(w)
        wid = pw[0] if pw else None
        path = _module_path(node)
        dims = {"tokens": _numel(idx), "vocab": sw[0], "hidden": sw[-1]}
        op = Op(self._weight_op_name(node, wid, "embedding"), OpKind.EMBED, dims,
                w_format=self._wfmt(wid, node), a_format=self._afmt(node), weight_id=wid,
                tags=self._tags(path, "embedding", layer))
        return self._add(op, self._src(node, owned=[w] if pw else []), live, has_param, layer)

    def _norm_member(self, node, group, live, has_param, layer) -> _Val:
        if node is not group[-1]:
            # an inner step of the norm: pass the group's external dependencies through
            return _Val(self._src(node, owned=self._inputs(node)), live=live, has_param=has_param, layer=layer)
        return self._norm(node, group, live, has_param, layer)

    def _norm(self, node, group, live, has_param, layer) -> _Val:
        members = set(group)
        params: dict[str, tuple[int, bool]] = {}
        seen_as: dict[str, tuple] = {}  # weight id -> (input node, value), for parameter reads
        src: set[str] = set()
        for member in group:
            for inp in self._inputs(member):
                if inp in members:
                    continue
                v = self.vals.get(inp, _CONST)
                if v.param is not None:
                    params.setdefault(v.param[0], (_prod(v.param[2] or ()), v.param[1]))
                    seen_as.setdefault(v.param[0], (inp, v))
                else:
                    src |= v.src
        so = _shape(node)
        numel = _prod(so)
        vec = [n for wid, (n, is_p) in params.items() if is_p] or [n for n, _ in params.values()]
        cols = vec[0] if vec else (so[-1] if so else 1)
        trainable = sum(n for n, is_p in params.values() if is_p)
        path = _module_path(node)
        wid = next((w for w, (_, is_p) in params.items() if is_p), None)
        if cols <= 0 or numel % cols or trainable % cols:
            # odd parameter shapes: count them as parameter reads, the norm as affine-free
            for w_, (_, is_p) in params.items():
                if is_p:
                    src.add(self._param_read(*seen_as[w_]))
            cols, trainable, wid = (so[-1] if so else 1), 0, None
        rows = numel // max(cols, 1)
        for w_ in params:
            self.used_params.add(_strip_slice(w_))
        op_name = self._unique(wid.rsplit(".", 1)[0]) if wid and "." in wid else self._name(node, "norm")
        op = Op(op_name, OpKind.NORM,
                {"rows": rows, "cols": cols, "affine": trainable // max(cols, 1)},
                w_format=self._wfmt(wid, node), a_format=self._afmt(node), weights=trainable > 0, weight_id=wid,
                tags=self._tags(path, aten_name(node.target) if len(group) == 1 else "norm_module", layer))
        val = self._add(op, src, live, has_param, layer)
        for member in group:
            if member in self.vals:
                self.vals[member] = val
        return val

    def _softmax(self, node, live, has_param, layer) -> _Val:
        so = _shape(node)
        dim = node.args[1] if len(node.args) > 1 else -1
        cols = so[dim] if so else 1
        op = Op(self._name(node, "softmax"), OpKind.SOFTMAX, {"rows": _prod(so) // max(cols, 1), "cols": cols},
                w_format=self._afmt(node), a_format=self._afmt(node), weights=False,
                tags=self._tags(_module_path(node), aten_name(node.target), layer))
        return self._add(op, self._src(node), live, has_param, layer)

    def _pool(self, node, name, live, has_param, layer) -> _Val:
        sx, so = _shape(node.args[0]), _shape(node)
        nd = 1 if name.endswith("1d") else 2
        if name.startswith(("adaptive", "_adaptive")):
            window = _prod(math.ceil(i / max(o, 1)) for i, o in zip(sx[-nd:], so[-nd:], strict=False))
        else:
            window = _prod(_seq(node.args[1], nd))
        op = Op(self._name(node, name.lstrip("_")), OpKind.POOL, {"rows": _prod(so), "cols": window},
                w_format=self._afmt(node), a_format=self._afmt(node), weights=False,
                tags=self._tags(_module_path(node), name, layer))
        return self._add(op, self._src(node), live, has_param, layer)

    def _eltwise(self, node, name, live, has_param, layer) -> _Val:
        shape = _shape(node.args[0]) if name in _REDUCTIONS else _shape(node)
        cols = shape[-1] if shape else 1
        rows = _prod(shape) // max(cols, 1) if cols else 0
        inputs = sum(1 for i in self._inputs(node) if _shape(i) is not None) or 1
        op = Op(self._name(node, name), OpKind.ELTWISE,
                {"rows": rows, "cols": cols, "inputs": inputs, "flops_per_elem": ELTWISE_FLOPS.get(name, 1)},
                w_format=self._afmt(node), a_format=self._afmt(node), weights=False,
                tags=self._tags(_module_path(node), name, layer))
        return self._add(op, self._src(node), live, has_param, layer)

    def _inline(self, node, name) -> _Val:
        """Map the body of a higher-order op (``torch.no_grad`` or autocast regions) in place."""
        import torch

        sub_idx = next((i for i, a in enumerate(node.args)
                        if isinstance(a, _fx_node_type()) and a.op == "get_attr"), None)
        if sub_idx is None:
            self.unmapped[name] += 1
            return _Val(self._src(node))
        sub = node.graph.owning_module
        for atom in node.args[sub_idx].target.split("."):
            sub = getattr(sub, atom)
        if not isinstance(sub, torch.fx.GraphModule):
            self.unmapped[name] += 1
            return _Val(self._src(node))
        outer_args = node.args[sub_idx + 1:]
        sub_nodes = list(sub.graph.nodes)
        self.norm_groups.update(self._norm_runs(sub_nodes))
        placeholders = [n for n in sub_nodes if n.op == "placeholder"]
        for ph, arg in zip(placeholders, outer_args, strict=False):
            self.vals[ph] = self.vals.get(arg, _CONST) if isinstance(arg, _fx_node_type()) else _CONST
        out = _CONST
        for sn in sub_nodes:
            if sn.op == "call_function":
                self.vals[sn] = self._call(sn)
            elif sn.op == "get_attr":
                self.vals[sn] = _CONST
            elif sn.op == "output":
                outs = [self.vals.get(a, _CONST) for a in sn.all_input_nodes]
                out = _Val(frozenset().union(*(o.src for o in outs)) if outs else frozenset(),
                           live=any(o.live for o in outs), has_param=any(o.has_param for o in outs))
        return out

    def _norm_runs(self, nodes) -> dict:
        """Map each compute node inside a norm module's call to the list of compute nodes of that
        call (consecutive nodes sharing the innermost module-stack entry); the last one emits."""
        runs: dict = {}
        current_key, current = None, []

        def close():
            compute = [n for n in current if _is_compute(n)]
            if compute and not any(aten_name(n.target) in _GEMMS | _CONVS | _EMBEDS | _SDPA for n in compute):
                for n in compute:
                    runs[n] = compute

        for n in nodes:
            if n.op != "call_function":
                continue
            key, cls = _innermost(n)
            if key is not None and _NORM_CLASS_RE.search(cls or ""):
                if key != current_key:
                    close()
                    current_key, current = key, []
                current.append(n)
            else:
                if current:
                    close()
                current_key, current = None, []
        close()
        return runs


# ---- small functions ----------------------------------------------------------------------------
def conv_dims(x_shape: Sequence[int], w_shape: Sequence[int], out_hw: Sequence[int], stride: Sequence[int],
              pads: Sequence[int], dilation: Sequence[int], groups: int) -> dict[str, int]:
    """`CONV2D` dims of one image's 2-D convolution: a ``C x H x W`` input (of an ``N x C x H x W``
    batch; the images are the op's ``batch``) by a ``K x C/groups x R x S`` filter bank giving
    ``Ho x Wo`` outputs; `pads` are (top, left, bottom, right).

    The true geometry is kept when it has one stride, one padding and no dilation; otherwise an
    equivalent padding-free geometry with exactly ``Ho x Wo`` outputs (``H = (Ho - 1) * stride + R``,
    ``W = (Wo - 1) * stride + S``), so that MACs (``Ho Wo K R S C/groups``) and parameters
    (``K R S C/groups``) stay exact."""
    _, _, h, w = x_shape
    k_out, c_per_group, r, s = w_shape
    ho, wo = out_hw
    st, pad = stride[0], pads[0]
    dims = {"H": h, "W": w, "R": r, "S": s, "C": c_per_group, "K": k_out, "stride": st, "pad": pad}
    if groups > 1:
        dims["groups"] = groups
    regular = stride[0] == stride[1] and len(set(pads)) == 1 and list(dilation) == [1, 1]
    if not regular or (h + 2 * pad - r) // st + 1 != ho or (w + 2 * pad - s) // st + 1 != wo:
        dims.update({"H": (ho - 1) * st + r, "W": (wo - 1) * st + s, "pad": 0})
    return dims


def split_rows(rows: int, weights: Sequence[float]) -> list[int]:
    """Split `rows` into ``len(weights)`` integer parts proportional to `weights` (largest remainder,
    ties to the lower index), so that the parts sum to `rows` exactly."""
    total = float(sum(weights))
    exact = [rows * w / total for w in weights]
    parts = [int(math.floor(x)) for x in exact]
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - parts[i]), i))
    for i in order[: rows - sum(parts)]:
        parts[i] += 1
    return parts


def _kv_group(node, used_numel: int) -> dict[str, int]:
    """``{"kv_group": g}`` when the K or V operand `node` reaches attention broadcast from ``1/g`` as
    many heads (grouped-query attention: ``enable_gqa`` or a ``repeat_kv`` expand); else ``{}``."""
    smallest = _numel(node) or used_numel
    for _ in range(16):  # walk back through views, reshapes and expands
        if not isinstance(node, _fx_node_type()) or node.op != "call_function" or aten_name(node.target) not in _VIEWS:
            break
        node = node.args[0]
        if isinstance(node, _fx_node_type()) and _numel(node):
            smallest = min(smallest, _numel(node))
    group = used_numel // smallest if smallest else 1
    return {"kv_group": group} if group > 1 and used_numel % smallest == 0 else {}


def _fx_node_type():
    import torch.fx

    return torch.fx.Node


def _shape(node) -> tuple[int, ...] | None:
    if not isinstance(node, _fx_node_type()):
        return None
    val = node.meta.get("val")
    if val is None:
        val = node.meta.get("example_value")
    if isinstance(val, list | tuple):
        val = next((v for v in val if hasattr(v, "shape")), None)
    shape = getattr(val, "shape", None)
    if shape is None:
        return None
    return tuple(int(d) for d in shape)


def _numel(node) -> int:
    shape = _shape(node)
    return _prod(shape) if shape is not None else 0


def _prod(xs) -> int:
    out = 1
    for x in xs:
        out *= int(x)
    return out


def _seq(x, n: int) -> list[int]:
    if isinstance(x, int | float):
        return [int(x)] * n
    x = [int(v) for v in x]
    return x * n if len(x) == 1 else x[:n]


def _innermost(node) -> tuple[str | None, str | None]:
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return None, None
    key, (_, cls) = list(stack.items())[-1]
    cls_name = cls if isinstance(cls, str) else getattr(cls, "__qualname__", str(cls))
    return key, cls_name.rsplit(".", 1)[-1]


def _module_path(node) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return ""
    path = list(stack.values())[-1][0]
    return path if isinstance(path, str) else ""


def _module_path_of_param(wid: str) -> str:
    return _strip_slice(wid).rsplit(".", 1)[0] if "." in wid else ""


def _strip_slice(wid: str) -> str:
    return wid.split("[", 1)[0]


def _is_compute(node) -> bool:
    name = aten_name(node.target)
    return not (name in _VIEWS or name in _MOVES or name in _IGNORED or name in _FACTORIES or name == "getitem")
