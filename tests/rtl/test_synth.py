"""Yosys synthesis and the cell-area model of `dse.rtl_cmd`.

The model prices Yosys' generic gates as NanGate 45 nm X1 cells (areas in `CELL_AREA_UM2`, source in its
docstring); an unpriced gate is an error.  The acceptance comparison of issue 7 lives here: MixPE's PE
(shift-and-add, one dequantisation per group, applied bit-serially) against the conventional PE that
dequantises every weight in the loop and multiplies (same function, checked bit for bit by both
benches), at the default 16-bit group scale.
"""

from __future__ import annotations

import pytest

from arch.tech import SYNTH_PE
from dse.rtl_cmd import (CELL_AREA_UM2, DATA_CSV, NAND2_UM2, SYNTH_CONFIGS, cell_area_um2, comparisons, data_rows,
                         synth_block, write_data, write_synth, yosys_version)

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
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=4) as pool:  # each synth_block is one yosys process
        results = list(pool.map(lambda label: synth_block(CONFIG[label], work), PE_BLOCKS))
    return dict(zip(PE_BLOCKS, results))


#: the blocks the comparisons below and the arch PE types (arch.tech.SYNTH_PE) read
ARCH_BLOCKS = sorted({b for block, minus, _ in SYNTH_PE.values() for b in (block, minus) if b})
PE_BLOCKS = ["mac_pe", "mixpe_pe_w4", "dequant_pe_w4", "mixpe_pe_w2", "dequant_pe_w2"] + \
    [b for b in ARCH_BLOCKS if b not in ("mac_pe", "mixpe_pe_w4", "mixpe_pe_w2")]


def test_mixpe_pe_is_smaller_than_the_dequantise_in_loop_pe(pe_areas):
    comps = {(c["block"], c["baseline"]): c for c in comparisons(pe_areas)}
    w4 = comps[("mixpe_pe_w4", "dequant_pe_w4")]
    w2 = comps[("mixpe_pe_w2", "dequant_pe_w2")]
    assert w4["ratio"] < 0.95 and w2["ratio"] < w4["ratio"], (w4, w2)
    # and smaller than an int8 x int8 multiplier MAC plus the same per-group dequantiser (issue 7's acceptance)
    for w in (4, 2):
        c = comps[(f"mixpe_pe_w{w}", f"mac_pe + mixpe_dequant_w{w}")]
        total = pe_areas["mac_pe"].area_nand2 + pe_areas[f"mixpe_dequant_w{w}"].area_nand2
        assert c["baseline_nand2_eq"] == pytest.approx(total, abs=0.1) and c["ratio"] < 1, c
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


def test_regenerating_the_table_reproduces_the_committed_one(pe_areas):
    """Yosys run now on every block the arch model reads gives the committed data/rtl/synth_nangate45.csv rows,
    cell for cell (the table is what `dse rtl synth --data` writes)."""
    import csv

    with DATA_CSV.open(newline="") as f:
        committed = {r["block"]: r for r in csv.DictReader(f)}
    version = yosys_version()
    if any(r["yosys"] != version for r in committed.values()):
        pytest.skip(f"the table was written by {next(iter(committed.values()))['yosys']}, this is {version}")
    assert set(ARCH_BLOCKS) <= set(pe_areas) and set(pe_areas) <= set(committed)
    for row in data_rows(list(pe_areas.values()), version):
        want = committed[row["block"]]
        assert {k: str(row.get(k, 0)) for k in want} == want, row["block"]


def test_write_data_round_trips_and_cites_the_model(pe_areas, tmp_path):
    import csv
    import json

    paths = write_data(list(pe_areas.values()), tmp_path / "t.csv", version="Yosys 9.99")
    rows = list(csv.DictReader(paths["data_csv"].open()))
    assert [r["block"] for r in rows] == list(pe_areas) and {r["yosys"] for r in rows} == {"Yosys 9.99"}
    assert "synth_s" not in rows[0]  # no run times: the table must be reproducible
    meta = json.loads(paths["data_json"].read_text())
    assert meta["yosys"] == "Yosys 9.99" and "NanGate" in meta["cell_area_model"]["source"]
