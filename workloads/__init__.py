"""Workloads: the `Op`/`Graph` IR and the frontends that build it from models.

Frontends: `from_config` (analytical, HF-style config dicts), `from_torch` (torch.export on the meta
device), `from_onnx` (ONNX with inferred shapes), and the named zoo (`load`, `zoo_names`).
Nothing here knows about hardware.
"""

from workloads.constructors import attention, conv2d, eltwise, gemm, norm, softmax
from workloads.graph import Graph
from workloads.op import FORMAT_BITS, Dims, Op, OpKind, Tags, format_bits

__all__ = [
    "Op", "OpKind", "Dims", "Tags", "Graph", "FORMAT_BITS", "format_bits",
    "gemm", "conv2d", "attention", "eltwise", "softmax", "norm",
    "from_config", "from_torch", "from_onnx", "load", "zoo_names",
]


def from_config(config, **kwargs) -> Graph:
    """Build a Graph analytically from an HF-style config dict (see `workloads.config`)."""
    from workloads.config import from_config as _impl

    return _impl(config, **kwargs)


def from_torch(module, example_inputs, **kwargs) -> Graph:
    """Trace an `nn.Module` on the meta device into a Graph (see `workloads.torch_frontend`)."""
    from workloads.torch_frontend import from_torch as _impl

    return _impl(module, example_inputs, **kwargs)


def from_onnx(path, **kwargs) -> Graph:
    """Read an ONNX model with inferred shapes into a Graph (see `workloads.onnx_frontend`)."""
    from workloads.onnx_frontend import from_onnx as _impl

    return _impl(path, **kwargs)


def load(name: str, **kwargs) -> Graph:
    """Build a named zoo workload (see `workloads.zoo`)."""
    from workloads.zoo import load as _impl

    return _impl(name, **kwargs)


def zoo_names() -> list[str]:
    from workloads.zoo import names

    return names()
