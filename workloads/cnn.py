"""ResNet (He et al., CVPR 2016) as HF ``ResNetForImageClassification`` and torchvision build it.

Version 1.5: a bottleneck block strides on its 3x3 conv; convs have no bias, each is followed by
BatchNorm (a NORM op with gain and shift; running statistics are buffers, not parameters) and ReLU;
a projection shortcut (1x1 conv + BN) where the shape changes; the residual add and its ReLU are one
ELTWISE op (2 FLOPs per element).  Stem: 7x7/2 conv, BN, ReLU, 3x3/2 max pool; head: global average
pool and a fully connected layer.  Config keys as HF ``ResNetConfig`` (depths, hidden_sizes,
embedding_size, layer_type) plus ``image_size``; validated in `workloads.config`.

ResNet-50 at 224x224: 25,557,032 parameters and 4.09 G multiply-accumulates (torchvision's model card
reports "4.09 GFLOPS", counting MACs).
"""

from __future__ import annotations

from typing import Any

from workloads.config import ACT_FLOPS, Builder, Workload, conv_out
from workloads.op import Op, OpKind


def _bn_act(b: Builder, p: str, x: Op, images: int, hw: int, c: int, tags: dict[str, Any], act: str | None) -> Op:
    x = b.norm(f"{p}.bn", images * hw * hw, c, 2, [x], tags)
    if act:
        x = b.eltwise(f"{p}.act", images * hw * hw, c, [x], tags, flops=ACT_FLOPS[act])
    return x


def _conv_bn(b: Builder, p: str, x: Op | None, hw: int, k: int, c: int, out: int, stride: int, images: int,
             tags: dict[str, Any], act: str | None) -> tuple[Op, int]:
    conv = b.conv(f"{p}.conv", hw, k, c, out, [x] if x else [], tags, stride=stride, pad=k // 2, images=images)
    ho = conv_out(hw, k, stride, k // 2)
    return _bn_act(b, p, conv, images, ho, out, tags, act), ho


def build_resnet(b: Builder, v: dict[str, Any], wl: Workload) -> None:
    depths, widths = v["depths"], v["hidden_sizes"]
    if len(depths) != len(widths):
        raise ValueError(f"config key 'hidden_sizes'={widths!r}: expected one width per stage of "
                         f"depths={depths!r}")
    bottleneck, act, n = v["layer_type"] == "bottleneck", v["hidden_act"], wl.seqs
    if bottleneck:
        bad = [w for w in widths if w % 4]
        if bad:
            raise ValueError(f"config key 'hidden_sizes'={widths!r}: expected multiples of 4 (bottleneck "
                             f"blocks reduce channels by 4)")
    st = b.tags(-1, "stem")
    c = v["embedding_size"]
    x, hw = _conv_bn(b, "stem", None, v["image_size"], 7, v["num_channels"], c, 2, n, st, act)
    pooled = conv_out(hw, 3, 2, 1)
    x = b.vector("stem.maxpool", OpKind.POOL, {"rows": n * pooled * pooled * c, "cols": 9}, [x], st)
    hw, layer = pooled, 0
    for s, (depth, out) in enumerate(zip(depths, widths)):
        for j in range(depth):
            stride = 2 if j == 0 and (s > 0 or v["downsample_in_first_stage"]) else 1
            p, tg = f"L{layer}", b.tags(layer, "conv", stage=s)
            if bottleneck:
                mid = out // 4
                y, h1 = _conv_bn(b, f"{p}.conv1", x, hw, 1, c, mid, 1, n, tg, act)
                y, h2 = _conv_bn(b, f"{p}.conv2", y, h1, 3, mid, mid, stride, n, tg, act)
                y, h3 = _conv_bn(b, f"{p}.conv3", y, h2, 1, mid, out, 1, n, tg, None)
            else:
                y, h2 = _conv_bn(b, f"{p}.conv1", x, hw, 3, c, out, stride, n, tg, act)
                y, h3 = _conv_bn(b, f"{p}.conv2", y, h2, 3, out, out, 1, n, tg, None)
            short = x
            if c != out or stride != 1:
                short, _ = _conv_bn(b, f"{p}.shortcut", x, hw, 1, c, out, stride, n, tg, None)
            x = b.eltwise(f"{p}.add_act", n * h3 * h3, out, [y, short], tg, flops=1 + ACT_FLOPS[act])
            hw, c, layer = h3, out, layer + 1
    ht = b.tags(layer, "head")
    x = b.vector("head.avgpool", OpKind.POOL, {"rows": n * c, "cols": hw * hw}, [x], ht)
    b.linear("head.fc", n, v["num_labels"], c, [x], ht, bias=True)
