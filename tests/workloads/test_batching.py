"""Purpose: pin `workloads.batching`'s split of a continuous-batching step into sub-batches by requests
(`request_plan`, `split_requests`; module docstring "Continuous-batching steps") and show that the fast
sub-batch copies (`_derive`, no second `Op` validation) build the very graph a plain `dataclasses.replace`
implementation builds, down to the simulated summary of NeuPIMs on gpt3-175b decode batch 256.

Shapes: a small Llama-style GQA config written here, the zoo's Mixtral-8x7B (experts: tokens apportioned)
and gpt3-175b with its layers cut to 2 (``n_layer=2``)."""

from __future__ import annotations

import dataclasses
import math

import pytest

import arch
import sim
import workloads
from workloads import batching
from workloads.batching import BATCH_DIM, request_plan, split_requests, split_sub_batches
from workloads.op import OpKind
from workloads.serving import serving_step

SMALL_GQA = {"model_type": "llama", "hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 2,
             "num_attention_heads": 8, "num_key_value_heads": 2, "vocab_size": 1000,
             "max_position_embeddings": 4096}


def step(decode: int, prefill: int, prompt_len: int = 16, context_len: int = 48, config=None, layers=None):
    return serving_step(config or SMALL_GQA, decode=decode, context_len=context_len, prefill=prefill,
                        prompt_len=prompt_len, layers=layers)


def size(op) -> int:
    dim = BATCH_DIM[op.kind]
    return op.batch if dim == "batch" else op.dims[dim]


def copies(split, name: str) -> dict[int, object]:
    return {i: split[f"{name}.sb{i}"] for i in range(split.meta["sub_batches"]) if f"{name}.sb{i}" in split}


# ---- the plan ---------------------------------------------------------------------------------------------


def test_plan_halves_decode_requests_and_balances_prompt_tokens_greedily():
    assert request_plan(256, 4, 512, 2) == [(128, 2), (128, 2)]
    assert request_plan(256, 3, 512, 2) == [(128, 2), (128, 1)]
    # odd decode count: sub-batch 1 has fewer tokens, so it takes the first prompt
    assert request_plan(5, 1, 16, 2) == [(3, 0), (2, 1)]
    assert request_plan(5, 0, 16, 2) == [(3, 0), (2, 0)]  # decode only: split_sizes
    assert request_plan(0, 3, 64, 2) == [(0, 2), (0, 1)]  # prompts only
    # a long prompt and many short ones: the short ones fill the other sub-batch
    assert request_plan(2, 3, 10, 3) == [(1, 1), (1, 1), (0, 1)]


def test_plan_refuses_more_sub_batches_than_requests_and_bad_counts():
    with pytest.raises(ValueError, match=r"sub_batches=3: expected at most the step's requests 2 "
                                         r"\(decode 1 \+ prefill 1\)"):
        request_plan(1, 1, 8, 3)
    with pytest.raises(ValueError, match="prefill=-1: expected a non-negative integer"):
        request_plan(4, -1, 8, 2)
    with pytest.raises(ValueError, match="sub_batches=0: expected a positive integer"):
        request_plan(4, 1, 8, 0)


# ---- the split of a mixed step ---------------------------------------------------------------------------


def test_mixed_step_split_conserves_tokens_requests_and_flops():
    g = step(decode=7, prefill=3)
    s = split_sub_batches(g, 2)  # no meta['batch']: split by requests
    assert s.meta["sub_batch_decode"] == [4, 3] and s.meta["sub_batch_prefill"] == [1, 2]
    assert s.meta["sub_batch_tokens"] == [4 + 16, 3 + 32] and s.meta["sub_batch_sizes"] == [5, 5]
    assert sum(s.meta["sub_batch_tokens"]) == g.meta["tokens"] == 7 + 3 * 16
    for op in g.ops():  # every op's batch dimension is shared out exactly
        assert sum(size(c) for c in copies(s, op.name).values()) == size(op), op.name
    q = copies(s, "L0.attn.q_proj")
    assert [q[i].dims["M"] for i in (0, 1)] == [20, 35]  # the linear layers run over their sub-batch's tokens
    head = copies(s, "head.lm_head")
    assert [head[i].dims["M"] for i in (0, 1)] == [5, 5]  # the LM head over each request's last token
    dec = copies(s, "L0.attn.decode.score")
    pre = copies(s, "L0.attn.prefill.score")
    assert [dec[i].batch for i in (0, 1)] == [4 * 8, 3 * 8] and [pre[i].batch for i in (0, 1)] == [1 * 8, 2 * 8]
    assert s.flops == g.flops and s.macs == g.macs and s.params == g.params
    assert math.isclose(sum(op.bytes for op in s.ops() if op.kind is OpKind.ATTN_SCORE),
                        sum(op.bytes for op in g.ops() if op.kind is OpKind.ATTN_SCORE))


def test_mixed_step_sub_batches_are_independent_chains():
    s = split_sub_batches(step(decode=6, prefill=2), 2)
    sb = {op.name: op.tags["sub_batch"] for op in s.ops()}
    assert set(sb.values()) == {0, 1}
    assert all(sb[u] == sb[v] for u, v in s.g.edges)


def test_a_sub_batch_without_prompts_has_no_prompt_attention_and_reads_its_decode_context():
    g = step(decode=6, prefill=1)
    s = split_sub_batches(g, 2)
    assert s.meta["sub_batch_prefill"] == [1, 0]
    assert "L0.attn.prefill.score.sb0" in s and "L0.attn.prefill.score.sb1" not in s
    assert "L0.attn.prefill.context.sb1" not in s
    assert s.input_names("L0.attn.o_proj.sb1") == ["L0.attn.decode.context.sb1"]
    assert s.input_names("L0.attn.o_proj.sb0") == ["L0.attn.prefill.context.sb0", "L0.attn.decode.context.sb0"]
    assert len(s) == 2 * len(g) - 3 * 2  # score, softmax, context of 2 layers left out
    assert s.flops == g.flops


def test_expert_tokens_are_apportioned_by_tokens_and_conserved():
    g = serving_step("mixtral-8x7b", decode=9, context_len=64, prefill=1, prompt_len=7, layers=1)
    s = split_sub_batches(g, 2)
    assert s.meta["sub_batch_tokens"] == [5, 11]  # decode 5 | 4, the prompt of 7 to the lighter one
    experts = [op for op in g.ops() if ".moe.e" in op.name]
    assert len(experts) == 8 * 4 and any(size(op) % 16 for op in experts)  # not a multiple of the tokens
    for op in experts:
        assert sum(size(c) for c in copies(s, op.name).values()) == size(op), op.name
    assert s.flops == g.flops


def test_decode_only_step_splits_as_the_plain_batch_split():
    g = step(decode=7, prefill=0)
    assert split_requests(g, 2).ops() == split_sub_batches(g, 2, batch=7).ops()


def test_split_requests_refuses_a_graph_that_is_not_a_serving_step():
    g = workloads.load("gpt3-175b", phase="decode", batch=4, n_layer=1)
    with pytest.raises(ValueError, match=r"meta lacks \['decode', 'prefill', 'prompt_len'\]; expected a "
                                         r"continuous-batching step"):
        split_requests(g, 2)


# ---- the fast copies build the same graph -----------------------------------------------------------------


def reference_split(graph, sub_batches, batch=None, tags=None):
    """The split as it was built before the fast path: one `dataclasses.replace` (with `Op` validation) per
    copy, inputs ``<pred>.sb<i>``."""
    batch = graph.meta["batch"] if batch is None else batch
    sizes = batching.split_sizes(batch, sub_batches)
    out = workloads.Graph(graph.name, {**graph.meta, "sub_batches": sub_batches, "sub_batch_sizes": sizes})
    for op in graph.ops():
        extra = tags(op) if tags else {}
        dim = BATCH_DIM[op.kind]
        for i, part in enumerate(sizes):
            new = (op.batch if dim == "batch" else op.dims[dim]) // batch * part
            change = {"batch": new} if dim == "batch" else {"dims": {**op.dims, dim: new}}
            out.add(dataclasses.replace(op, name=f"{op.name}.sb{i}", tags={**op.tags, **extra, "sub_batch": i},
                                        weight_id=op.weight_id or (op.name if op.params else None), **change),
                    [f"{p}.sb{i}" for p in graph.input_names(op)])
    return out


def test_fast_copies_equal_validated_copies_and_the_neupims_summary_is_unchanged(monkeypatch):
    g = workloads.load("gpt3-175b", phase="decode", batch=256, n_layer=2)
    fast, ref = split_sub_batches(g, 2), reference_split(g, 2)
    assert fast.ops() == ref.ops() and fast.meta == ref.meta
    assert [fast.input_names(o) for o in fast.ops()] == [ref.input_names(o) for o in ref.ops()]
    assert all(type(o.dims).__name__ == "Dims" and type(o.tags).__name__ == "Tags" for o in fast.ops())
    acc = arch.load("neupims")
    got = sim.simulate(g, acc).summary
    calls = []
    monkeypatch.setattr(batching, "split_sub_batches", lambda *a, **k: calls.append(1) or reference_split(*a, **k))
    want = sim.simulate(g, acc).summary
    assert calls == [1]  # the dispatch pass did split with the reference
    assert sorted(got) == sorted(want)
    for key, value in want.items():
        if isinstance(value, float):
            assert got[key] == pytest.approx(value, rel=1e-12, abs=0.0), key
        else:
            assert got[key] == value, key
