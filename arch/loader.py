"""Load `Accelerator` specs from YAML presets (by name) or files (by path).

- Duplicate keys in a YAML mapping are errors (PyYAML silently keeps the last one).
- `extends: <preset>` starts from another preset; mappings merge recursively and lists of named
  items (units, memory, links) merge by `name`.
- `overrides` ({"units.npu.rows": 64, "memory.dram.bandwidth_gbps": 50}) address list items by name.
- Every failure raises one `ArchError` naming the file, the field path, the value and what was expected.
"""

from __future__ import annotations

import copy
import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from arch.spec import UNIT_TYPES, Accelerator

PRESET_DIR = Path(__file__).parent / "presets"


class ArchError(ValueError):
    """An invalid accelerator spec: `str(err)` names file, field path, value and expectation."""


class _UniqueKeyLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first at line {seen[key] + 1})", key_node.start_mark
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(path: Path) -> Any:
    """Parse a YAML file, rejecting duplicate keys; errors name the file and line."""
    try:
        text = path.read_text()
    except OSError as e:
        raise ArchError(f"{path}: cannot read: {e.strerror}") from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as e:
        raise ArchError(f"{path}: invalid YAML: {e}") from None


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def _resolve(name_or_path: str | Path) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.exists():
            raise ArchError(f"{p}: no such file")
        return p
    preset = PRESET_DIR / f"{name_or_path}.yaml"
    if preset.exists():
        return preset
    names = preset_names()
    close = difflib.get_close_matches(str(name_or_path), names, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ArchError(f"unknown accelerator {str(name_or_path)!r}{hint} Presets: {', '.join(names)}")


def _merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = _merge(base[k], v) if k in base else copy.deepcopy(v)
        return out
    if (
        isinstance(base, list) and isinstance(over, list)
        and all(isinstance(i, dict) and "name" in i for i in base + over)
    ):
        out_list = [copy.deepcopy(i) for i in base]
        index = {i["name"]: n for n, i in enumerate(out_list)}
        for item in over:
            if item["name"] in index:
                out_list[index[item["name"]]] = _merge(out_list[index[item["name"]]], item)
            else:
                out_list.append(copy.deepcopy(item))
        return out_list
    return copy.deepcopy(over)


def load_dict(name_or_path: str | Path, _chain: tuple[str, ...] = ()) -> tuple[dict, Path]:
    """The raw (merged) mapping of a preset or file, before validation."""
    path = _resolve(name_or_path)
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ArchError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    parent = data.pop("extends", None)
    if parent is not None:
        if str(parent) in _chain:
            raise ArchError(f"{path}: extends: cycle through {' -> '.join(_chain + (str(parent),))}")
        base, _ = load_dict(parent, _chain + (str(parent),))
        base.pop("name", None)
        base.pop("source", None)
        data = _merge(base, data)
    return data, path


def apply_overrides(data: dict, overrides: dict[str, Any], origin: str = "override") -> dict:
    """Set dotted paths in a raw spec mapping; list items are addressed by `name` (or index)."""
    data = copy.deepcopy(data)
    for dotted, value in overrides.items():
        parts = dotted.split(".")
        node: Any = data
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            where = ".".join(parts[: i + 1])
            if isinstance(node, list):
                match = [x for x in node if isinstance(x, dict) and x.get("name") == part]
                if not match and part.isdigit() and int(part) < len(node):
                    match = [node[int(part)]]
                if not match:
                    names = [x.get("name") for x in node if isinstance(x, dict)]
                    raise ArchError(f"{origin}: {dotted}: no item named {part!r} at {where}; expected one of {names}")
                if last:
                    raise ArchError(f"{origin}: {dotted}: cannot replace a whole list item; name a field of it")
                node = match[0]
            elif isinstance(node, dict):
                if last:
                    node[part] = value
                elif part in node:
                    node = node[part]
                else:
                    raise ArchError(f"{origin}: {dotted}: no field {part!r} at {where}; fields are {sorted(node)}")
            else:
                raise ArchError(f"{origin}: {dotted}: {where} is a value, not a mapping or list")
    return data


def _field_names(model: type[BaseModel]) -> list[str]:
    return sorted(model.model_fields)


def _explain(err: dict, data: dict) -> str:
    """One line for one pydantic error: path, value, expectation."""
    loc = [x for x in err["loc"]]
    # drop the union tag that pydantic inserts after a discriminated list index
    clean: list[Any] = []
    for i, part in enumerate(loc):
        if isinstance(part, str) and part in UNIT_TYPES and i > 0 and isinstance(loc[i - 1], int):
            continue
        clean.append(part)
    path = ""
    for part in clean:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    # name list items by their name for readability
    node: Any = data
    for part in clean[:-1]:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
    value = err.get("input")
    etype = err["type"]
    if etype == "extra_forbidden":
        field = clean[-1] if clean else "?"
        from arch import spec as _spec

        owners = [m for m in vars(_spec).values() if isinstance(m, type) and issubclass(m, BaseModel)]
        parent_keys = set(node) if isinstance(node, dict) else set()
        cands: list[str] = []
        for m in owners:
            fields = set(m.model_fields)
            if parent_keys - {field} <= fields:
                cands = _field_names(m)
                break
        close = difflib.get_close_matches(str(field), cands, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"{path}: unknown field {field!r}{hint} Expected one of: {', '.join(cands)}" if cands else \
            f"{path}: unknown field {field!r}"
    if etype == "union_tag_invalid":
        return f"{path}.type: unknown unit type {err['ctx'].get('tag')!r}; expected one of {', '.join(UNIT_TYPES)}"
    if etype == "union_tag_not_found":
        return f"{path}: missing 'type'; expected one of {', '.join(UNIT_TYPES)}"
    if etype == "missing":
        return f"{path}: missing required field"
    if etype == "literal_error":
        return f"{path}: got {value!r}; expected {err['ctx']['expected']}"
    msg = err["msg"].removeprefix("Value error, ")
    return f"{path}: got {value!r}; {msg}"


def validate(data: dict, origin: str = "<spec>") -> Accelerator:
    """Validate a raw mapping into an `Accelerator`, raising one `ArchError` for all problems."""
    try:
        return Accelerator.model_validate(data)
    except ValidationError as e:
        lines = [_explain(err, data) for err in e.errors(include_url=False)]
        head = f"{origin}: " + lines[0]
        rest = "".join(f"\n{origin}: {line}" for line in lines[1:])
        raise ArchError(head + rest) from None


def load(name_or_path: str | Path | Accelerator, overrides: dict[str, Any] | None = None) -> Accelerator:
    """Load a preset by name (`arch.load("tpu-v1")`) or a YAML file by path, with optional overrides."""
    if isinstance(name_or_path, Accelerator):
        if not overrides:
            return name_or_path
        data, origin = name_or_path.model_dump(), name_or_path.name
    else:
        data, path = load_dict(name_or_path)
        origin = str(path)
    if overrides:
        data = apply_overrides(data, overrides, origin)
    return validate(data, origin)
