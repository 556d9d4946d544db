"""`from_onnx`: an ONNX model file -> `Graph`, with shapes from ONNX shape inference.

The model is loaded without its external weight data (only initializer shapes are read), shapes are
inferred with `onnx.shape_inference.infer_shapes`, and the nodes (topologically sorted, as ONNX
requires) are mapped as `workloads.torch_frontend` maps ATen ops:

* ``MatMul``/``Gemm``: a `GEMM` whose B operand is an initializer (``weights=True``, leading dims of
  A folded into ``M``; a following ``Add`` of a 1-D initializer of length N is the GEMM's bias); two
  activations make `ATTN_SCORE` (the result reaches a ``Softmax``), `ATTN_CONTEXT` (A comes from a
  ``Softmax``) or a `GEMM` with ``weights=False``.
* ``Conv`` (1-D or 2-D): `CONV2D` with strides, pads, groups and dilation handled as in
  `workloads.torch_frontend.conv_dims` (``batch`` = images).
* ``Softmax``/``LogSoftmax``: `SOFTMAX`; ``LayerNormalization``/``SimplifiedLayerNormalization``/
  ``RMSNormalization``/``BatchNormalization``/``GroupNormalization``/``InstanceNormalization``: `NORM`.
* ``Gather`` whose data is an initializer: `EMBED`; other float initializers of more than one
  element read by an element-wise op (a position embedding) become `EMBED` parameter reads.
* element-wise ops and reductions: `ELTWISE` (FLOPs per `workloads.torch_frontend.ELTWISE_FLOPS`);
  ``MaxPool``/``AveragePool``/``Global*Pool``: `POOL`.
* shape plumbing (``Reshape``, ``Transpose``, ``Concat``, ``Slice``, ``Cast``, ``Shape``...) is not an op:
  dependencies pass through it.  Work on constants alone is folded.  Other op types are skipped
  and counted in ``graph.meta["unmapped"]``.

Symbolic dimensions (``batch``, ``sequence``) must be bound with ``dims={"batch": 1, ...}``.  Where
inference leaves a dimension unknown because it is computed (``Shape``/``Gather``/``Concat``/``Where``
feeding an ``Expand`` or ``Reshape``, as torch's exporter writes), that small integer arithmetic is
evaluated with numpy and inference re-run.  A tensor whose shape is still unknown raises a
ValueError naming the file and the tensor.
Leaves out: subgraphs (``If``/``Loop``/``Scan``), quantised ``QLinear*`` ops (counted unmapped).
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from workloads.graph import Graph
from workloads.op import FORMAT_BITS, Op, OpKind
from workloads.torch_frontend import ELTWISE_FLOPS, conv_dims, layer_of

_ELTWISE = frozenset({
    "Add", "Sub", "Mul", "Div", "Neg", "Abs", "Relu", "Sigmoid", "Tanh", "Erf", "Exp", "Log", "Sqrt",
    "Reciprocal", "Pow", "Sin", "Cos", "Floor", "Ceil", "Round", "Sign", "Min", "Max", "Clip", "Where",
    "Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual", "Not", "And", "Or", "Xor", "Mod",
    "Gelu", "FastGelu", "BiasGelu", "QuickGelu", "HardSigmoid", "HardSwish", "LeakyRelu", "Elu", "Selu", "Celu",
    "Softplus", "Softsign", "Mish", "PRelu", "ThresholdedRelu", "IsNaN", "IsInf", "BitwiseAnd",
    "BitwiseOr", "BitwiseNot", "BitwiseXor", "Sum", "Mean",
})
_ONNX_FLOPS = {"Sigmoid": "sigmoid", "Gelu": "gelu", "FastGelu": "gelu", "BiasGelu": "gelu", "Softplus": "softplus",
               "Mish": "mish", "Elu": "elu", "Selu": "selu", "Celu": "celu", "HardSwish": "hardswish",
               "HardSigmoid": "hardsigmoid", "LeakyRelu": "leaky_relu", "QuickGelu": "gelu"}
_REDUCTIONS = frozenset({
    "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
    "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp", "ArgMax", "ArgMin", "CumSum",
})
_MOVES = frozenset({
    "Reshape", "Transpose", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Cast", "CastLike", "Concat",
    "Split", "Slice", "Gather", "GatherElements", "GatherND", "Expand", "Tile", "Pad", "Dropout",
    "ScatterND", "ScatterElements", "DepthToSpace", "SpaceToDepth", "Resize", "Upsample", "Trilu",
    "OneHot", "NonZero", "Compress", "ReverseSequence", "SplitToSequence", "ConcatFromSequence",
})
# Outputs that are constants for a given input shape, whatever their inputs.
_CONSTANT_OPS = frozenset({
    "Shape", "Size", "Constant", "ConstantOfShape", "Range", "EyeLike", "RandomNormal", "RandomUniform",
    "RandomNormalLike", "RandomUniformLike",
})
_NORMS = frozenset({
    "LayerNormalization", "SimplifiedLayerNormalization", "SkipLayerNormalization", "RMSNormalization",
    "BatchNormalization", "GroupNormalization", "InstanceNormalization",
})
_POOLS = frozenset({"MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "LpPool"})
_SOFTMAXES = frozenset({"Softmax", "LogSoftmax"})

_DTYPES = {1: "fp32", 10: "fp16", 16: "bf16", 11: "fp32", 3: "int8", 2: "int8", 5: "int16", 6: "int32",
           17: "fp8_e4m3", 18: "fp8_e4m3", 19: "fp8_e5m2", 20: "fp8_e5m2"}
_FLOAT_TYPES = frozenset({1, 10, 11, 16, 17, 18, 19, 20})
_MAX_LOOKAHEAD = 8


def from_onnx(
    path: str | os.PathLike,
    *,
    name: str | None = None,
    dims: Mapping[str, int] | None = None,
    w_format: str | None = None,
    a_format: str | None = None,
) -> Graph:
    """Read the ONNX model at `path` into a `Graph` (see the module docstring).

    `dims` binds symbolic input dimensions (``{"batch": 1, "sequence": 128}``); `w_format`/`a_format`
    override the formats read from the tensors' element types."""
    import onnx

    for fmt in (w_format, a_format):
        if fmt is not None and fmt not in FORMAT_BITS:
            raise ValueError(f"unknown number format {fmt!r}; expected one of {sorted(FORMAT_BITS)}")
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"ONNX model {path!r} does not exist")
    try:
        model = onnx.load(path, load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - protobuf raises several types
        raise ValueError(f"ONNX model {path!r} could not be read: {exc}") from exc
    _bind_dims(model, dims or {}, path)
    for _ in range(4):  # infer; fold shape arithmetic that inference left symbolic; infer again
        try:
            model = onnx.shape_inference.infer_shapes(model, data_prop=True)
        except Exception as exc:  # noqa: BLE001
            raise ValueError(f"ONNX model {path!r}: shape inference failed: {exc}") from exc
        if not _has_unknown_dims(model) or not _fold_shape_tensors(model):
            break
    graph = Graph(name or model.graph.name or os.path.splitext(os.path.basename(path))[0])
    mapper = _OnnxMapper(graph, model, path, w_format, a_format)
    mapper.run()
    graph.meta.update({"source": "onnx", "path": path, "opset": mapper.opset, "unmapped": mapper.unmapped,
                       "folded": mapper.folded, "inputs": mapper.input_shapes})
    return graph


def _bind_dims(model, dims: Mapping[str, int], path: str) -> None:
    initializers = {t.name for t in model.graph.initializer}
    for vi in model.graph.input:
        if vi.name in initializers:
            continue
        for d in vi.type.tensor_type.shape.dim:
            if d.HasField("dim_param") and d.dim_param in dims:
                value = dims[d.dim_param]
                if not isinstance(value, int) or value <= 0:
                    raise ValueError(f"ONNX model {path!r}: dims[{d.dim_param!r}]={value!r}; expected a positive int")
                d.dim_value = value


def _has_unknown_dims(model) -> bool:
    return any(not d.HasField("dim_value") for vi in model.graph.value_info for d in vi.type.tensor_type.shape.dim)


_FOLD_LIMIT = 4096  # largest integer tensor evaluated while folding shape arithmetic


def _fold_shape_tensors(model) -> int:
    """Evaluate small integer tensors computed from constants and static shapes (``Shape`` ->
    ``Gather`` -> ``Concat`` -> ``Expand``... chains that exporters emit) with numpy and add them as
    initializers, so that shape inference can resolve the ops they feed.  Returns how many were added."""
    import numpy as np
    from onnx import helper, numpy_helper

    g = model.graph
    known: dict[str, Any] = {}
    for t in g.initializer:
        if t.data_type in (6, 7, 9) and math.prod(t.dims) <= _FOLD_LIMIT and not t.external_data:
            known[t.name] = numpy_helper.to_array(t)
    static: dict[str, list[int]] = {}
    for vi in list(g.input) + list(g.value_info):
        dims = vi.type.tensor_type.shape.dim
        if vi.type.tensor_type.HasField("shape") and all(d.HasField("dim_value") for d in dims):
            static[vi.name] = [d.dim_value for d in dims]
    for t in g.initializer:
        static[t.name] = list(t.dims)
    added = 0
    existing = {t.name for t in g.initializer}
    for node in g.node:
        try:
            out = _eval_shape_op(node, known, static, np, helper, numpy_helper)
        except Exception:  # noqa: BLE001 - anything unusual is simply not folded
            out = None
        if out is None or out.size > _FOLD_LIMIT:
            continue
        known[node.output[0]] = out
        if out.dtype.kind in "iub" and node.output[0] not in existing:
            g.initializer.append(numpy_helper.from_array(out, node.output[0]))
            existing.add(node.output[0])
            added += 1
    return added


def _eval_shape_op(node, known, static, np, helper, numpy_helper):
    t, ins = node.op_type, list(node.input)
    if t == "Constant":
        a = node.attribute[0]
        if a.name == "value":
            return numpy_helper.to_array(a.t)
        if a.name in ("value_int", "value_ints"):
            return np.array(helper.get_attribute_value(a), dtype=np.int64)
        return None
    if t == "Shape":
        if ins[0] not in static:
            return None
        shape = static[ins[0]]
        return np.array(shape[_attr(node, "start", 0):_attr(node, "end", len(shape))], dtype=np.int64)
    if t == "Size":
        return np.array(math.prod(static[ins[0]]), dtype=np.int64) if ins[0] in static else None
    if not ins or any(i and i not in known for i in ins):
        return None
    x = [known[i] if i else None for i in ins]
    if t in ("Identity", "Cast"):
        to = _attr(node, "to", None)
        return x[0] if to is None else x[0].astype(helper.tensor_dtype_to_np_dtype(to))
    if t in ("Unsqueeze", "Squeeze"):
        axes = x[1].tolist() if len(x) > 1 and x[1] is not None else _attr(node, "axes", None)
        if t == "Squeeze":
            return np.squeeze(x[0], axis=tuple(axes) if axes is not None else None)
        out = x[0]
        for ax in sorted(a % (out.ndim + len(axes)) for a in axes):
            out = np.expand_dims(out, ax)
        return out
    if t == "Concat":
        return np.concatenate([np.atleast_1d(v) for v in x], axis=_attr(node, "axis", 0))
    if t == "Gather":
        return np.take(x[0], x[1], axis=_attr(node, "axis", 0))
    if t == "ConstantOfShape":
        value = node.attribute[0].t if node.attribute else None
        fill = numpy_helper.to_array(value) if value is not None else np.zeros(1, dtype=np.float32)
        return np.full(tuple(int(d) for d in x[0]), fill.reshape(-1)[0], dtype=fill.dtype)
    if t == "Slice":
        starts, ends = x[1], x[2]
        axes = x[3] if len(x) > 3 and x[3] is not None else np.arange(len(starts))
        steps = x[4] if len(x) > 4 and x[4] is not None else np.ones(len(starts), dtype=np.int64)
        index = [slice(None)] * x[0].ndim
        for st, en, ax, sp in zip(starts, ends, axes, steps, strict=False):
            index[int(ax)] = slice(int(st), int(en), int(sp))
        return x[0][tuple(index)]
    if t == "Range":
        return np.arange(x[0], x[1], x[2])
    if t == "Reshape":
        shape = [int(d) for d in x[1]]
        shape = [x[0].shape[i] if d == 0 else d for i, d in enumerate(shape)]
        return x[0].reshape(shape)
    if t == "Expand":
        return np.broadcast_to(x[0], np.broadcast_shapes(x[0].shape, tuple(int(d) for d in x[1])))
    if t == "Where":
        return np.where(x[0], x[1], x[2])
    binary = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Equal": np.equal, "Less": np.less,
              "Greater": np.greater, "Max": np.maximum, "Min": np.minimum, "Mod": np.mod}
    if t in binary:
        return binary[t](x[0], x[1])
    if t == "Div":
        return (x[0] // x[1]) if x[0].dtype.kind in "iu" else x[0] / x[1]
    if t in ("Neg", "Abs", "Not"):
        return {"Neg": np.negative, "Abs": np.abs, "Not": np.logical_not}[t](x[0])
    if t in ("ReduceProd", "ReduceSum"):
        return np.asarray((np.prod if t == "ReduceProd" else np.sum)(x[0]))
    return None


class _V:
    """A value: the ops it comes from, its initializer name (seen through casts/reshapes), whether it
    depends on a graph input (`live`) and whether it is a constant."""

    __slots__ = ("src", "init", "live")

    def __init__(self, src=frozenset(), init=None, live=False):
        self.src, self.init, self.live = src, init, live


_CONST = _V()


class _OnnxMapper:
    def __init__(self, graph: Graph, model, path: str, w_format, a_format):
        self.graph, self.model, self.path = graph, model, path
        self.w_format, self.a_format = w_format, a_format
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)
        self.inits = {t.name: t for t in model.graph.initializer}
        self.types: dict[str, Any] = {}
        for vi in list(model.graph.input) + list(model.graph.value_info) + list(model.graph.output):
            self.types[vi.name] = vi.type.tensor_type
        self.vals: dict[str, _V] = {}
        self.unmapped: Counter = Counter()
        self.folded: Counter = Counter()
        self.param_reads: dict[str, str] = {}
        self.fused_bias: dict[int, str] = {}  # id(Add node) -> the bias it adds to a GEMM
        self.users: dict[str, list] = {}
        for node in model.graph.node:
            for i in node.input:
                self.users.setdefault(i, []).append(node)
        self.input_shapes = {}
        self.input_dims = {d.dim_param for vi in model.graph.input for d in vi.type.tensor_type.shape.dim
                           if d.HasField("dim_param")}

    # -- shapes ---------------------------------------------------------------------------------
    def shape(self, tensor: str, node=None, required: bool = True) -> tuple[int, ...] | None:
        if tensor in self.inits:
            return tuple(int(d) for d in self.inits[tensor].dims)
        tt = self.types.get(tensor)
        dims = None
        if tt is not None and tt.HasField("shape"):
            dims = []
            for d in tt.shape.dim:
                if d.HasField("dim_value"):
                    dims.append(int(d.dim_value))
                else:
                    dims = None if not d.HasField("dim_param") else ("sym", d.dim_param)
                    break
        if isinstance(dims, list):
            return tuple(dims)
        if not required:
            return None
        where = f" (input of {node.op_type} node {node.name or '<unnamed>'!r})" if node is not None else ""
        if isinstance(dims, tuple) and dims[1] in self.input_dims:
            raise ValueError(f"ONNX model {self.path!r}: tensor {tensor!r}{where} has symbolic dimension "
                             f"{dims[1]!r}; bind it with dims={{{dims[1]!r}: <int>}}")
        if isinstance(dims, tuple):
            raise ValueError(f"ONNX model {self.path!r}: a dimension of tensor {tensor!r}{where} could not be "
                             f"inferred (left as {dims[1]!r})")
        raise ValueError(f"ONNX model {self.path!r}: the shape of tensor {tensor!r}{where} could not be inferred")

    def fmt(self, tensor: str | None, override: str | None) -> str:
        if override:
            return override
        if tensor in self.inits:
            return _DTYPES.get(self.inits[tensor].data_type, "fp32")
        tt = self.types.get(tensor)
        return _DTYPES.get(tt.elem_type, "fp32") if tt is not None else "fp32"

    def is_param(self, tensor: str) -> bool:
        t = self.inits.get(tensor)
        return t is not None and t.data_type in _FLOAT_TYPES and math.prod(t.dims) > 1

    # -- walking --------------------------------------------------------------------------------
    def run(self) -> None:
        for vi in self.model.graph.input:
            if vi.name not in self.inits:
                self.vals[vi.name] = _V(live=True)
                self.input_shapes[vi.name] = self.shape(vi.name, required=False)
        for name in self.inits:
            self.vals[name] = _V(init=name)
        for i, node in enumerate(self.model.graph.node):
            if id(node) in self.fused_bias:
                self._set(node, self._through(node, owned=[self.fused_bias[id(node)]]))
                continue
            self._set(node, self._node(i, node))

    def _set(self, node, val: _V) -> None:
        for out in node.output:
            if out:
                self.vals[out] = val

    def val(self, tensor: str) -> _V:
        return self.vals.get(tensor, _CONST) if tensor else _CONST

    def _through(self, node, owned: Sequence[str] = ()) -> _V:
        src: set[str] = set()
        for t in node.input:
            v = self.val(t)
            src |= v.src
            if v.init is not None and t not in owned and self.is_param(v.init):
                src.add(self._param_read(v.init))
        return _V(frozenset(src), live=any(self.val(t).live for t in node.input))

    def _param_read(self, init: str) -> str:
        if init not in self.param_reads:
            shape = self.shape(init)
            hidden = shape[-1] if shape else 1
            rows = math.prod(shape) // max(hidden, 1)
            op = Op(self._unique(init), OpKind.EMBED, {"tokens": rows, "vocab": rows, "hidden": hidden},
                    w_format=self.fmt(init, self.w_format), a_format=self.fmt(init, self.a_format), weight_id=init,
                    tags=self._tags(init, "param_read"))
            self.graph.add(op)
            self.param_reads[init] = op.name
        return self.param_reads[init]

    def _unique(self, base: str) -> str:
        if base not in self.graph:
            return base
        i = 1
        while f"{base}_{i}" in self.graph:
            i += 1
        return f"{base}_{i}"

    def _tags(self, node_name: str, source: str, **extra) -> dict:
        tags: dict[str, Any] = {"source": source}
        layer = layer_of(node_name)
        if layer is not None:
            tags["layer"] = layer
        tags.update(extra)
        return tags

    def _add(self, op: Op, src) -> _V:
        self.graph.add(op, sorted(set(src)))
        return _V(frozenset({op.name}), live=True)

    def _node(self, i: int, node) -> _V:
        t = node.op_type
        if node.domain not in ("", "ai.onnx", "com.microsoft"):
            self.unmapped[f"{node.domain}.{t}"] += 1
            return self._through(node)
        if t in _CONSTANT_OPS:
            return _CONST
        ins = [self.val(x) for x in node.input if x]
        live = any(v.live for v in ins)
        if t in ("Cast", "Identity", "Transpose", "Reshape", "Squeeze", "Unsqueeze", "Flatten", "CastLike") \
                and node.input and self.val(node.input[0]).init is not None:
            return _V(init=self.val(node.input[0]).init)  # an initializer seen through a view
        if t == "Gather" and node.input and self.is_param(self.val(node.input[0]).init or ""):
            return self._embed(node)
        if not live and not any(v.init is not None and self.is_param(v.init) for v in ins):
            if t not in _MOVES:
                self.folded[t] += 1
            return _CONST
        if t in _MOVES:
            return self._through(node)
        name = node.name or f"{t}_{i}"
        if t in ("MatMul", "Gemm", "FusedMatMul"):
            return self._matmul(node, name)
        if t == "Conv":
            return self._conv(node, name)
        if t in _SOFTMAXES:
            shape = self.shape(node.output[0], node)
            axis = _attr(node, "axis", -1 if self.opset >= 13 else 1)
            axis = axis % len(shape) if shape else 0
            cols = shape[axis] if self.opset >= 13 else math.prod(shape[axis:])
            op = Op(self._unique(name), OpKind.SOFTMAX, {"rows": math.prod(shape) // max(cols, 1), "cols": cols},
                    w_format=self.fmt(node.output[0], self.a_format), a_format=self.fmt(node.output[0], self.a_format),
                    weights=False, tags=self._tags(name, t))
            return self._add(op, self._through(node).src)
        if t in _NORMS:
            return self._norm(node, name)
        if t in _POOLS:
            return self._pool(node, name)
        if t in _ELTWISE or t in _REDUCTIONS:
            shape = self.shape(node.input[0] if t in _REDUCTIONS else node.output[0], node)
            cols = shape[-1] if shape else 1
            flops = ELTWISE_FLOPS.get(_ONNX_FLOPS.get(t, t.lower()), 1)
            inputs = sum(1 for x in node.input if x)
            op = Op(self._unique(name), OpKind.ELTWISE,
                    {"rows": math.prod(shape) // max(cols, 1), "cols": cols, "inputs": inputs, "flops_per_elem": flops},
                    w_format=self.fmt(node.output[0], self.a_format), a_format=self.fmt(node.output[0], self.a_format),
                    weights=False, tags=self._tags(name, t))
            return self._add(op, self._through(node).src)
        self.unmapped[t] += 1
        return self._through(node)

    # -- op kinds -------------------------------------------------------------------------------
    def _matmul(self, node, name: str) -> _V:
        t = node.op_type
        a, b = node.input[0], node.input[1]
        sa, sb = self.shape(a, node), self.shape(b, node)
        trans_a = t == "Gemm" and _attr(node, "transA", 0)
        trans_b = t == "Gemm" and _attr(node, "transB", 0)
        if trans_a:
            sa = (*sa[:-2], sa[-1], sa[-2])
        if trans_b:
            sb = (*sb[:-2], sb[-1], sb[-2])
        wa, wb = self.val(a).init, self.val(b).init
        k_dim = sa[-1]
        n_dim = sb[-1] if len(sb) > 1 else 1
        owned = [x for x in (a, b) if self.val(x).init is not None]
        bias_init = None
        if t == "Gemm" and len(node.input) > 2 and node.input[2]:
            bias_init = self.val(node.input[2]).init
            if bias_init is not None:
                owned.append(node.input[2])
        elif wb is not None:
            bias_init = self._fuse_bias(node, n_dim)
        src = self._through(node, owned=owned).src
        afmt = self.fmt(node.output[0], self.a_format)
        if wb is not None:
            wbatch = math.prod(sb[:-2]) if len(sb) > 2 else 1
            m = math.prod(sa) // max(k_dim, 1) // max(wbatch, 1)
            op = Op(self._unique(name), OpKind.GEMM, {"M": m, "N": n_dim, "K": k_dim}, batch=wbatch,
                    w_format=self.fmt(wb, self.w_format), a_format=afmt, weights=True, bias=bias_init is not None,
                    weight_id=wb, tags=self._tags(name, t))
            return self._add(op, src)
        so = self.shape(node.output[0], node)
        if wa is not None:  # weight on the left
            n_w = sa[-2] if len(sa) > 1 else 1
            op = Op(self._unique(name), OpKind.GEMM, {"M": math.prod(so) // max(n_w, 1), "N": n_w, "K": k_dim},
                    w_format=self.fmt(wa, self.w_format), a_format=afmt, weights=True, weight_id=wa,
                    tags=self._tags(name, t))
            return self._add(op, src)
        m = so[-2] if len(so) >= 2 and len(sa) >= 2 else 1
        batch = math.prod(so) // max(m * n_dim, 1)
        if any(self.graph[s].kind is OpKind.SOFTMAX for s in self.val(a).src):
            kind = OpKind.ATTN_CONTEXT
        elif self._feeds_softmax(node):
            kind = OpKind.ATTN_SCORE
        else:
            kind = OpKind.GEMM
        op = Op(self._unique(name), kind, {"M": m, "N": n_dim, "K": k_dim}, batch=batch, w_format=afmt,
                a_format=afmt, weights=False, tags=self._tags(name, t))
        return self._add(op, src)

    def _fuse_bias(self, node, n_dim: int) -> str | None:
        """The 1-D initializer of length N added right after a MatMul (a linear layer's bias)."""
        users = self.users.get(node.output[0], [])
        if len(users) != 1 or users[0].op_type != "Add":
            return None
        add = users[0]
        other = add.input[1] if add.input[0] == node.output[0] else add.input[0]
        init = self.val(other).init if other in self.vals else (other if other in self.inits else None)
        if init is None or self.shape(init) != (n_dim,):
            return None
        self.fused_bias[id(add)] = other
        return init

    def _feeds_softmax(self, node) -> bool:
        frontier, seen = [node], set()
        for _ in range(_MAX_LOOKAHEAD):
            nxt = []
            for n in frontier:
                for out in n.output:
                    for user in self.users.get(out, []):
                        if id(user) in seen:
                            continue
                        seen.add(id(user))
                        if user.op_type in _SOFTMAXES:
                            return True
                        if user.op_type in _MOVES or user.op_type in _ELTWISE:
                            nxt.append(user)
            frontier = nxt
        return False

    def _conv(self, node, name: str) -> _V:
        x, w = node.input[0], node.input[1]
        sx, sw, so = self.shape(x, node), self.shape(w, node), self.shape(node.output[0], node)
        nd = len(sw) - 2
        if nd not in (1, 2):
            self.unmapped[f"Conv({nd}d)"] += 1
            return self._through(node)
        strides = list(_attr(node, "strides", [1] * nd))
        dil = list(_attr(node, "dilations", [1] * nd))
        pads = list(_attr(node, "pads", [0] * 2 * nd))
        if nd == 1:
            sx, sw, so = (*sx[:2], 1, sx[2]), (*sw[:2], 1, sw[2]), (*so[:2], 1, so[2])
            strides, dil, pads = [1, *strides], [1, *dil], [0, pads[0], 0, pads[1]]
        # ONNX pads are (x1_begin, x2_begin, x1_end, x2_end): (top, left, bottom, right)
        dims = conv_dims(sx, sw, so[-2:], strides, pads, dil, int(_attr(node, "group", 1)))
        wid = self.val(w).init
        bias = len(node.input) > 2 and node.input[2] and self.val(node.input[2]).init is not None
        owned = [t for t in node.input[1:3] if t and self.val(t).init is not None]
        op = Op(self._unique(name), OpKind.CONV2D, dims, batch=sx[0], w_format=self.fmt(wid or x, self.w_format),
                a_format=self.fmt(x, self.a_format), weights=wid is not None, bias=bool(bias), weight_id=wid,
                tags=self._tags(name, "Conv"))
        return self._add(op, self._through(node, owned=owned).src)

    def _norm(self, node, name: str) -> _V:
        t = node.op_type
        x = node.input[0]
        shape = self.shape(x, node)
        params = [i for i in node.input[1:] if i and self.val(i).init is not None]
        trainable = [i for i in params if self.is_param(self.val(i).init)]
        if t == "BatchNormalization":
            trainable = trainable[:2]  # scale and bias; mean and variance are running statistics
        if t in ("LayerNormalization", "SimplifiedLayerNormalization", "SkipLayerNormalization", "RMSNormalization"):
            axis = _attr(node, "axis", -1) % len(shape)
            cols = math.prod(shape[axis:])
        else:  # batch, group and instance norms: per channel
            cols = shape[1] if len(shape) > 1 else shape[0]
        sizes = [math.prod(self.shape(self.val(i).init)) for i in trainable]
        affine = sum(sizes) // max(cols, 1) if sizes and sum(sizes) % max(cols, 1) == 0 else 0
        wid = self.val(trainable[0]).init if trainable and affine else None
        owned = params if affine or not trainable else [i for i in params if i not in trainable]
        dims = {"rows": math.prod(shape) // max(cols, 1), "cols": cols, "affine": affine}
        op = Op(self._unique(name), OpKind.NORM, dims,
                w_format=self.fmt(wid or x, self.w_format), a_format=self.fmt(x, self.a_format),
                weights=affine > 0, weight_id=wid, tags=self._tags(name, t))
        return self._add(op, self._through(node, owned=owned).src)

    def _pool(self, node, name: str) -> _V:
        t = node.op_type
        sx, so = self.shape(node.input[0], node), self.shape(node.output[0], node)
        window = math.prod(sx[2:]) if t.startswith("Global") else math.prod(_attr(node, "kernel_shape", [1]))
        op = Op(self._unique(name), OpKind.POOL, {"rows": math.prod(so), "cols": window},
                w_format=self.fmt(node.input[0], self.a_format), a_format=self.fmt(node.input[0], self.a_format),
                weights=False, tags=self._tags(name, t))
        return self._add(op, self._through(node).src)

    def _embed(self, node) -> _V:
        table = self.val(node.input[0]).init
        st, si = self.shape(table), self.shape(node.input[1], node)
        if _attr(node, "axis", 0) != 0 or len(st) != 2:
            return self._through(node)
        name = node.name or f"Gather_{table}"
        op = Op(self._unique(name), OpKind.EMBED, {"tokens": math.prod(si), "vocab": st[0], "hidden": st[1]},
                w_format=self.fmt(table, self.w_format), a_format=self.fmt(table, self.a_format), weight_id=table,
                tags=self._tags(name, "Gather"))
        return self._add(op, self._through(node, owned=[node.input[0]]).src)


def _attr(node, key: str, default: Any) -> Any:
    import onnx

    for a in node.attribute:
        if a.name == key:
            return onnx.helper.get_attribute_value(a)
    return default
