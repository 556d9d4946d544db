"""The YAML door of `arch`: every preset loads, `extends`/`remove`/overrides merge as documented, and each
kind of bad input gives one `ArchError` naming the file, the field path, the value and what was expected."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import arch
from arch import ArchError, load, parse_size, preset_names
from arch.loader import load_dict

GOOD = """\
name: toy
source: "test"
tech: {node_nm: 45, clock_hz: 1.0e+9}
units:
  - {type: systolic, name: mxu, rows: 8, cols: 8, dataflow: ws}
  - {type: pim, name: pim, placement: in_bank, memory: hbm}
memory:
  - {name: buf, kind: sram, capacity_bytes: 64KiB, read_bytes_per_cycle: 32}
  - {name: hbm, kind: hbm2, capacity_bytes: 8GB, bandwidth_gbps: 256}
"""


def write(tmp_path: Path, text: str, name: str = "acc.yaml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def error_of(path_or_name, **kw) -> str:
    with pytest.raises(ArchError) as e:
        load(path_or_name, **kw)
    return str(e.value)


def assert_mentions(msg: str, *parts: str) -> None:
    for part in parts:
        assert part in msg, f"{part!r} not in:\n{msg}"


# ---- presets ---------------------------------------------------------------------------------------------

EXPECTED_PRESETS = {"tpu-v1", "eyeriss-like", "neupims", "npu-only", "duplex", "sn40l", "mixpe", "m3vit-zcu104",
                    "h100", "gpu-a100"}


def test_the_expected_presets_exist():
    assert EXPECTED_PRESETS <= set(preset_names())


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_loads_with_an_on_chip_and_an_off_chip_tier(name):
    a = load(name)
    assert a.on_chip, f"{name}: no SRAM-like tier"
    assert a.off_chip, f"{name}: no off-chip tier"
    assert a.source


@pytest.mark.parametrize("name", preset_names())
def test_every_number_in_a_preset_has_a_source(name):
    a = load(name)
    assert a.tech.source
    for item in [*a.units, *a.memory, *a.links]:
        assert item.source, f"{name}: {item.name} has no source"
    for m in a.memory:
        if m.timing is not None and not isinstance(m.timing, str):
            assert m.timing.source


def test_tpu_v1_numbers():
    a = load("tpu-v1")
    mxu = a.unit("mxu")
    assert (mxu.rows, mxu.cols, mxu.dataflow, mxu.pe) == (256, 256, "ws", "int8")
    assert a.tier("unified_buffer").capacity_bytes == 24 * 2**20
    assert a.tier("dram").bandwidth_gbps == 34.0
    assert (a.tech.node_nm, a.tech.clock_hz) == (28, 700e6)


def test_npu_only_is_neupims_without_pim():
    neupims, npu = load("neupims"), load("npu-only")
    assert [u.name for u in neupims.units_of("pim")] == ["pim"]
    assert npu.units_of("pim") == []
    assert npu.unit("npu") == neupims.unit("npu")
    assert npu.tier("hbm").timing == neupims.tier("hbm").timing
    assert npu.name == "npu-only"


# ---- extends, remove, overrides, sizes -----------------------------------------------------------------


def test_extends_merges_lists_by_name(tmp_path):
    write(tmp_path, GOOD, "base.yaml")
    child = write(tmp_path, """\
        name: child
        extends: base.yaml
        units:
          - {name: mxu, rows: 16}
          - {type: vector, name: vpu, lanes: 4}
        memory:
          - {name: hbm, bandwidth_gbps: 512}
        """, "child.yaml")
    a = load(child)
    assert a.name == "child"
    assert [u.name for u in a.units] == ["mxu", "pim", "vpu"]
    assert (a.unit("mxu").rows, a.unit("mxu").cols, a.unit("mxu").dataflow) == (16, 8, "ws")
    assert a.tier("hbm").bandwidth_gbps == 512 and a.tier("hbm").kind == "hbm2"
    assert a.tier("buf").capacity_bytes == 64 * 1024


def test_remove_drops_inherited_items_and_keys(tmp_path):
    write(tmp_path, GOOD, "base.yaml")
    child = write(tmp_path, "name: c\nextends: base.yaml\nremove: [units.pim, memory.buf.read_bytes_per_cycle]\n"
                            "memory:\n  - {name: buf, bandwidth_gbps: 100}\n", "c.yaml")
    a = load(child)
    assert [u.name for u in a.units] == ["mxu"]
    assert a.tier("buf").read_bytes_per_cycle is None and a.tier("buf").bandwidth_gbps == 100
    data, _ = load_dict(child)
    assert "remove" not in data and "extends" not in data


def test_overrides_address_list_items_by_name(tmp_path):
    p = write(tmp_path, GOOD)
    a = load(p, overrides={"units.mxu.rows": 32, "memory.hbm.bandwidth_gbps": 100, "tech.node_nm": 7,
                           "units.mxu.double_buffered": False})
    assert a.unit("mxu").rows == 32 and a.tier("hbm").bandwidth_gbps == 100 and a.tech.node_nm == 7
    assert a.unit("mxu").double_buffered is False
    assert load(p).unit("mxu").rows == 8  # the file is untouched


def test_overrides_on_a_loaded_accelerator():
    a = load("tpu-v1")
    b = load(a, overrides={"units.mxu.cols": 128})
    assert b.unit("mxu").cols == 128 and a.unit("mxu").cols == 256


@pytest.mark.parametrize("text,expected", [
    ("256KiB", 262144), ("8GB", 8 * 10**9), ("24MiB", 24 * 2**20), ("1.5TiB", int(1.5 * 2**40)),
    (4096, 4096), (8.0e9, 8 * 10**9), ("64 kB", 64000),
])
def test_size_parsing(text, expected):
    assert parse_size(text) == expected


def test_sizes_in_yaml(tmp_path):
    a = load(write(tmp_path, GOOD))
    assert a.tier("buf").capacity_bytes == 262144 // 4
    assert a.tier("hbm").capacity_bytes == 8 * 10**9


# ---- errors: one ArchError naming file, path, value, expectation ----------------------------------------


def test_unknown_field(tmp_path):
    p = write(tmp_path, GOOD.replace("dataflow: ws}", "dataflow: ws, colour: red}"))
    msg = error_of(p)
    assert_mentions(msg, str(p), "units[0] (mxu).colour", "'red'", "unknown field", "expected one of", "rows")


def test_misspelt_field_gets_a_hint(tmp_path):
    p = write(tmp_path, GOOD.replace("rows: 8", "rowz: 8"))
    msg = error_of(p)
    assert_mentions(msg, str(p), "units[0] (mxu).rowz", "8", "did you mean 'rows'?", "expected one of")


def test_misspelt_field_in_a_memory_tier(tmp_path):
    p = write(tmp_path, GOOD.replace("bandwidth_gbps: 256", "bandwith_gbps: 256"))
    msg = error_of(p)
    assert_mentions(msg, str(p), "memory[1] (hbm).bandwith_gbps", "did you mean 'bandwidth_gbps'?")


def test_negative_size(tmp_path):
    p = write(tmp_path, GOOD.replace("capacity_bytes: 64KiB", "capacity_bytes: -5"))
    msg = error_of(p)
    assert_mentions(msg, str(p), "memory[0] (buf).capacity_bytes", "got -5", "expected a size in bytes > 0")


def test_bad_size_string(tmp_path):
    p = write(tmp_path, GOOD.replace("capacity_bytes: 8GB", "capacity_bytes: 8 parsecs"))
    msg = error_of(p)
    assert_mentions(msg, str(p), "memory[1] (hbm).capacity_bytes", "'8 parsecs'", "expected a size such as")


def test_unknown_unit_type_gets_a_hint(tmp_path):
    p = write(tmp_path, GOOD.replace("type: systolic", "type: systolik"))
    msg = error_of(p)
    assert_mentions(msg, str(p), "units[0] (mxu).type", "'systolik'", "did you mean 'systolic'?",
                    "expected one of systolic, vector, pim")


def test_misspelt_dataflow_gets_a_hint(tmp_path):
    p = write(tmp_path, GOOD.replace("dataflow: ws", "dataflow: wss"))
    msg = error_of(p)
    assert_mentions(msg, str(p), "units[0] (mxu).dataflow", "'wss'", "did you mean 'ws'?", "expected 'os'")


def test_unknown_pe_type_gets_a_hint(tmp_path):
    p = write(tmp_path, GOOD.replace("dataflow: ws}", "dataflow: ws, pe: int9}"))
    msg = error_of(p)
    assert_mentions(msg, str(p), "units[0] (mxu).pe", "'int9'", "did you mean 'int8'?", "expected one of")


def test_missing_required_field(tmp_path):
    p = write(tmp_path, GOOD.replace("rows: 8, ", ""))
    msg = error_of(p)
    assert_mentions(msg, str(p), "units[0] (mxu).rows", "missing required field", "expected an integer > 0")


def test_duplicate_yaml_key_with_line_numbers(tmp_path):
    p = write(tmp_path, GOOD.replace("tech: {node_nm: 45, clock_hz: 1.0e+9}",
                                     "tech:\n  node_nm: 45\n  clock_hz: 1.0e+9\n  node_nm: 28"))
    msg = error_of(p)
    assert_mentions(msg, f"{p}:6", "tech.node_nm", "duplicate key 'node_nm'", "first at line 4",
                    "expected each key once")


def test_duplicate_yaml_key_inside_a_named_list_item(tmp_path):
    p = write(tmp_path, GOOD.replace("rows: 8, cols: 8", "rows: 8, cols: 8, rows: 4"))
    msg = error_of(p)
    assert_mentions(msg, f"{p}:5", "units[0] (mxu).rows", "duplicate key 'rows'")


def test_duplicate_unit_names(tmp_path):
    p = write(tmp_path, GOOD.replace("name: pim,", "name: mxu,").replace("memory: hbm}", "memory: hbm}"))
    msg = error_of(p)
    assert_mentions(msg, str(p), "units[1] (mxu).name", "got 'mxu'", "already the name of units[0]",
                    "expected a name unique among units")


def test_pim_naming_a_missing_memory_tier(tmp_path):
    p = write(tmp_path, GOOD.replace("memory: hbm}", "memory: hmb}"))
    msg = error_of(p)
    assert_mentions(msg, str(p), "units[1] (pim).memory", "'hmb'", "did you mean 'hbm'?",
                    "expected the name of a memory tier: buf, hbm")


def test_unknown_preset_name_with_suggestion():
    msg = error_of("nuepims")
    assert_mentions(msg, "unknown accelerator 'nuepims'", "did you mean 'neupims'?", "expected a preset name",
                    "tpu-v1")


def test_extends_an_unknown_preset(tmp_path):
    p = write(tmp_path, "name: x\nextends: tpu-v2\n")
    msg = error_of(p)
    assert_mentions(msg, str(p), "extends", "'tpu-v2'", "did you mean 'tpu-v1'?", "expected a preset name")


def test_extends_cycle(tmp_path):
    a = write(tmp_path, "name: a\nextends: b.yaml\n", "a.yaml")
    write(tmp_path, "name: b\nextends: a.yaml\n", "b.yaml")
    msg = error_of(a)
    assert_mentions(msg, "b.yaml", "extends", "'a.yaml'", "cycle (a.yaml -> b.yaml -> a.yaml)",
                    "expected a chain of presets that ends")


def test_bad_override_path(tmp_path):
    p = write(tmp_path, GOOD)
    msg = error_of(p, overrides={"units.mxu.rowz": 4})
    assert_mentions(msg, str(p), "'units.mxu.rowz'", "units[0] (mxu)", "no field 'rowz'", "did you mean 'rows'?",
                    "expected one of")
    msg = error_of(p, overrides={"units.mxx.rows": 4})
    assert_mentions(msg, str(p), "'units.mxx.rows'", "no item named 'mxx'", "did you mean 'mxu'?", "expected one of")


def test_wrong_type_string_for_rows(tmp_path):
    p = write(tmp_path, GOOD.replace("rows: 8", "rows: many"))
    msg = error_of(p)
    assert_mentions(msg, f"{p}:5", "units[0] (mxu).rows", "got 'many'", "expected an integer > 0")


def test_wrong_type_in_dram_timing_names_the_nested_path(tmp_path):
    neupims = (Path(arch.__file__).parent / "presets" / "neupims.yaml").read_text()
    p = write(tmp_path, neupims.replace("t_rcd: 14", "t_rcd: soon"))
    msg = error_of(p)
    assert_mentions(msg, str(p), "memory[1] (hbm).timing.t_rcd", "got 'soon'", "expected an integer > 0")
    assert len(msg.splitlines()) == 1  # the `str` alternative of `timing` is not reported


def test_invalid_yaml_syntax(tmp_path):
    p = write(tmp_path, GOOD.replace("rows: 8, cols: 8", "rows: 8, cols: [8"))
    msg = error_of(p)
    assert_mentions(msg, str(p), "invalid YAML", "expected valid YAML")
    assert f"{p}:" in msg and "line" in msg


def test_top_level_not_a_mapping(tmp_path):
    p = write(tmp_path, "- just\n- a list\n")
    assert_mentions(error_of(p), str(p), "<top level>", "got a list", "expected a mapping")


def test_many_problems_are_one_error_with_one_line_each(tmp_path):
    p = write(tmp_path, GOOD.replace("rows: 8", "rows: -1").replace("dataflow: ws", "dataflow: rs"))
    msg = error_of(p)
    lines = msg.splitlines()
    assert len(lines) == 2
    assert all(line.startswith(str(p)) for line in lines)
    assert_mentions(msg, "units[0] (mxu).rows", "units[0] (mxu).dataflow")
