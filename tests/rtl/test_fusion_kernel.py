"""Purpose: pin `sim.kernels.fused_dot` / `fused_mac` (the reference of rtl/bitfusion_fu.v's bench) on hand-computed
values: lane packing, signed vs unsigned reading, bits above the last lane ignored, accumulator wrap-around."""

from __future__ import annotations

import pytest

from sim.kernels import fused_dot, fused_mac


@pytest.mark.parametrize(("a", "w", "bits", "signed", "lanes", "want"), [
    (0x80, 0x80, (8, 8), (True, True), 1, 16384),             # -128 x -128
    (0x80, 0x80, (8, 8), (False, False), 1, 16384),           # 128 x 128
    (0xFF, 0x80, (8, 8), (True, False), 1, -128),             # -1 x 128
    (0xFF, 0xFF, (8, 8), (False, False), 1, 65025),           # the largest product
    (0x21, 0x43, (4, 4), (True, True), 2, 1 * 3 + 2 * 4),     # lanes 0: 1 x 3, 1: 2 x 4
    (0xE, 0x0F, (2, 2), (True, True), 2, 3),                 # 2-bit lanes: (-2)(-1) + (-1)(-1)
    (0xE, 0x0F, (2, 2), (False, False), 2, 2 * 3 + 3 * 3),   # the same bits unsigned
    (0x1234_5678, 0x5, (4, 8), (False, True), 1, 8 * 5),      # bits above lane 0 ignored
    (0xFFFF_FFFF, 0xFFFF_FFFF, (2, 2), (True, True), 16, 16),  # sixteen (-1) x (-1)
])
def test_fused_dot_by_hand(a, w, bits, signed, lanes, want):
    assert fused_dot(a, w, bits[0], bits[1], signed[0], signed[1], lanes) == want


def test_fused_mac_wraps_the_accumulator():
    top = (1 << 23) - 1
    assert fused_mac(0xFF, 0xFF, top, 8, 8, False, False, 1, 24) == top + 65025 - (1 << 24)
    assert fused_mac(0x1, 0x1, 5, 8, 8, True, True, 1, 24) == 6
