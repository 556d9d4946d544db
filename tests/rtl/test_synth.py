"""Yosys synthesis and the cell-area model of `dse.rtl_cmd`.

The model prices Yosys' generic gates as NanGate 45 nm X1 cells (areas in `CELL_AREA_UM2`, source in its
docstring); an unpriced gate is an error.  The acceptance comparison of issue 7 lives here: MixPE's PE
(shift-and-add, one dequantisation per group, applied bit-serially) against the conventional PE that
dequantises every weight in the loop and multiplies (same function, checked bit for bit by both
benches), at the default 16-bit group scale.
"""

from __future__ import annotations

import pytest

from dse.rtl_cmd import (CELL_AREA_UM2, NAND2_UM2, SYNTH_CONFIGS, cell_area_um2, comparisons, synth_block,
                         write_synth)

CONFIG = {c.label: c for c in SYNTH_CONFIGS}


def test_cell_area_model_prices_gates_in_nand2_units():
    assert CELL_AREA_UM2["$_NAND_"] == NAND2_UM2 == 0.798
    assert cell_area_um2({"$_NAND_": 10}) / NAND2_UM2 == pytest.approx(10)
    assert cell_area_um2({"$_DFF_P_": 1, "$_XOR_": 2, "$_NOT_": 1}) == pytest.approx(4.522 + 2 * 1.596 + 0.532)


def test_unpriced_gate_is_an_error():
    with pytest.raises(ValueError, match=r"\$_DFF_PN0_"):
        cell_area_um2({"$_DFF_PN0_": 1, "$_AND_": 3})


def test_mac_pe_synthesises_to_gates_with_32_flip_flops(tmp_path):
    r = synth_block(CONFIG["mac_pe"], tmp_path)
    assert r.flip_flops == 32                               # the int32 accumulator, nothing else
    assert set(r.cells) <= set(CELL_AREA_UM2)
    assert 600 < r.n_cells < 2500 and 1000 < r.area_nand2 < 4000, r.row()
    assert r.transistors > 4 * r.n_cells


@pytest.fixture(scope="module")
def pe_areas(tmp_path_factory):
    work = tmp_path_factory.mktemp("synth")
    labels = ["mac_pe", "mixpe_pe_w4", "dequant_pe_w4", "mixpe_pe_w2", "dequant_pe_w2"]
    return {label: synth_block(CONFIG[label], work) for label in labels}


def test_mixpe_pe_is_smaller_than_the_dequantise_in_loop_pe(pe_areas):
    comps = {(c["block"], c["baseline"]): c for c in comparisons(pe_areas)}
    w4 = comps[("mixpe_pe_w4", "dequant_pe_w4")]
    w2 = comps[("mixpe_pe_w2", "dequant_pe_w2")]
    assert w4["ratio"] < 0.95 and w2["ratio"] < w4["ratio"], (w4, w2)
    # the flip-flops MixPE adds (group sums, serial dequantiser) are what the multipliers it removes pay for
    assert pe_areas["mixpe_pe_w4"].flip_flops > pe_areas["dequant_pe_w4"].flip_flops


def test_write_synth_files(pe_areas, tmp_path):
    import csv
    import json

    paths = write_synth(list(pe_areas.values()), tmp_path / "out")
    rows = list(csv.DictReader(paths["csv"].open()))
    assert [r["block"] for r in rows] == list(pe_areas)
    assert {"cells", "flip_flops", "area_nand2_eq", "area_um2_45nm", "transistors_cmos", "n_DFF_P"} <= set(rows[0])
    doc = json.loads(paths["json"].read_text())
    assert "NanGate" in doc["cell_area_model"]["source"] and doc["comparisons"]
