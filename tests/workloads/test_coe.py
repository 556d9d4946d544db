"""workloads.coe: the Composition-of-Experts description, request streams and LRU residency replay."""

from __future__ import annotations

import pytest

from workloads.coe import CoE, Request, replay, requests, samba_coe


def test_samba_coe_is_a_trillion_parameters_of_7b_experts():
    coe = samba_coe()
    assert coe.experts == 150
    per_expert = 6_738_415_616  # Llama-2-7B (HF model card)
    assert coe.params == 151 * per_expert  # 150 experts + a router of the same size
    assert coe.expert_bytes == per_expert * 2  # fp16 weights
    assert 1.0e12 < coe.params < 1.1e12  # "over 1T parameters" (arXiv 2405.07518, Sec. V)


def test_bad_coe_names_the_field():
    with pytest.raises(ValueError, match=r"experts=0; expected a positive integer"):
        CoE("x", 0, "llama2-7b", "llama2-7b")
    with pytest.raises(ValueError, match=r"expert_model='llama-7b'; expected a zoo model"):
        CoE("x", 2, "llama-7b", "llama2-7b")


def test_requests_are_seeded_and_skewed():
    coe = samba_coe()
    a = requests(coe, 500, prompt_tokens=64, output_tokens=8, seed=3)
    assert a == requests(coe, 500, prompt_tokens=64, output_tokens=8, seed=3)
    assert a != requests(coe, 500, prompt_tokens=64, output_tokens=8, seed=4)
    assert all(0 <= r.expert < 150 and r.prompt_tokens == 64 and r.output_tokens == 8 for r in a)
    zipf = requests(coe, 2000, prompt_tokens=64, output_tokens=8, skew=1.2, seed=0)
    top = sum(r.expert == 0 for r in zipf) / len(zipf)
    uniform = sum(r.expert == 0 for r in requests(coe, 2000, prompt_tokens=64, output_tokens=8)) / 2000
    assert top > 5 * uniform  # expert 0 is the most popular under a Zipf law
    with pytest.raises(ValueError, match=r"prompt_tokens=0; expected a positive integer"):
        requests(coe, 5, prompt_tokens=0, output_tokens=8)
    with pytest.raises(ValueError, match=r"skew=-1"):
        requests(coe, 5, prompt_tokens=8, output_tokens=8, skew=-1)


def test_replay_is_least_recently_used():
    stream = [Request(e, 1, 1) for e in (0, 1, 0, 2, 1, 0, 3, 3)]
    # slots=2: 0 miss, 1 miss, 0 hit, 2 miss (evicts 1), 1 miss (evicts 0), 0 miss (evicts 2), 3 miss, 3 hit
    assert replay(stream, 2) == [False, False, True, False, False, False, False, True]
    assert replay(stream, 0) == [False] * 8
    assert replay(stream, 4) == [False, False, True, False, True, True, False, True]
    with pytest.raises(ValueError, match=r"slots=-1"):
        replay(stream, -1)
