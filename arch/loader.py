"""Load `Accelerator` specs from YAML presets (by name) or files (by path).

- Duplicate keys in a YAML mapping are errors (PyYAML silently keeps the last one); the message gives the
  field path and both line numbers.
- `extends: <preset or file>` starts from another spec; mappings merge recursively and lists of named items
  (units, memory, links) merge by `name`.  A relative file name is looked up next to the extending file.
- `remove: [units.pim, units.gpu.tensor_tflops.fp8]` drops inherited items or keys (after merging).
- `overrides` ({"units.npu.rows": 64, "memory.dram.bandwidth_gbps": 50}) address list items by name.
- Every failure raises one `ArchError` whose lines each name the file, the field path (list items named by
  their `name`: ``units[0] (mxu).dataflow``), the value and what was expected, with a "did you mean" hint
  for misspelt field names, unit types, dataflows, PE types, tier names and presets.
"""

from __future__ import annotations

import copy
import difflib
import inspect
import types
import typing
import dataclasses
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from arch.spec import Accelerator

PRESET_DIR = Path(__file__).parent / "presets"
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: same nodes, faster


class ArchError(ValueError):
    """An invalid accelerator spec: `str(err)` names file, field path, value and expectation."""


def _hint(word: Any, options: Any) -> str:
    close = difflib.get_close_matches(str(word), [str(o) for o in options], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ";"


# ---- YAML --------------------------------------------------------------------------------------------


def _path_str(parts: list[Any] | tuple[Any, ...], data: Any = None) -> str:
    """('units', 0, 'rows') -> 'units[0] (mxu).rows' (item names looked up in `data` when given)."""
    out = ""
    node = data
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
            item = None
            if isinstance(node, list) and 0 <= part < len(node):
                item = node[part]
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                out += f" ({item['name']})"
            node = item
        else:
            out += f".{part}" if out else str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return out or "<top level>"


@dataclasses.dataclass
class _Positions:
    """Where a file's fields are: line of each path, and the `name` of each list item (for messages)."""

    lines: dict[tuple, int] = dataclasses.field(default_factory=dict)
    names: dict[tuple, str] = dataclasses.field(default_factory=dict)


def _check_nodes(node: yaml.Node, parts: list[Any], pos: _Positions, origin: str) -> None:
    """Walk a composed YAML tree: reject duplicate keys, record each field's line and each item's name."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            line = key_node.start_mark.line + 1
            if key in seen:
                where = _named_path(parts + [key], pos.names)
                raise ArchError(
                    f"{origin}:{line}: {where}: duplicate key {key!r} (first at line {seen[key]}); "
                    f"expected each key once per mapping"
                )
            seen[key] = line
            pos.lines[tuple(parts + [key])] = line
            _check_nodes(value_node, parts + [key], pos, origin)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            pos.lines[tuple(parts + [i])] = item.start_mark.line + 1
            if isinstance(item, yaml.MappingNode):
                for k, v in item.value:
                    if isinstance(k, yaml.ScalarNode) and k.value == "name" and isinstance(v, yaml.ScalarNode):
                        pos.names[tuple(parts + [i])] = v.value
            _check_nodes(item, parts + [i], pos, origin)


def _named_path(parts: list[Any], names: dict[tuple, str]) -> str:
    """Like `_path_str`, with item names taken from the YAML positions."""
    out = ""
    for n, part in enumerate(parts):
        if isinstance(part, int):
            out += f"[{part}]"
            name = names.get(tuple(parts[: n + 1]))
            if name is not None:
                out += f" ({name})"
        else:
            out += f".{part}" if out else str(part)
    return out or "<top level>"


def _read(path: Path) -> tuple[Any, _Positions]:
    try:
        text = path.read_text()
    except OSError as e:
        raise ArchError(f"{path}: cannot read: {e.strerror}; expected a readable YAML file") from None
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        problem = getattr(e, "problem", None) or str(e)
        context = getattr(e, "context", None)
        ctx = f" ({context})" if context else ""
        line = f"line {mark.line + 1}" if mark is not None else "the file"
        raise ArchError(
            f"{where}: <top level>: invalid YAML: {problem}{ctx}; expected valid YAML "
            f"(check indentation, ':' after keys and matching brackets/quotes near {line})"
        ) from None
    pos = _Positions()
    if root is not None:
        _check_nodes(root, [], pos, str(path))
    try:
        data = yaml.constructor.SafeConstructor().construct_document(root) if root is not None else None
    except yaml.YAMLError as e:  # compose succeeded, construction failed (bad tag, bad timestamp, ...)
        raise ArchError(f"{path}: <top level>: invalid YAML value: {e}; expected plain YAML data") from None
    return data, pos


def read_yaml(path: Path | str) -> Any:
    """Parse a YAML file, rejecting duplicate keys; errors name the file, line and field path."""
    return _read(Path(path))[0]


# ---- presets, extends, remove ---------------------------------------------------------------------------


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def _resolve(name_or_path: str | Path, relative_to: Path | None = None, origin: str | None = None) -> Path:
    text = str(name_or_path)
    p = Path(name_or_path)
    looks_like_file = p.suffix in (".yaml", ".yml") or "/" in text or "\\" in text
    if looks_like_file or p.exists():
        if relative_to is not None and not p.is_absolute() and (relative_to / p).exists():
            return relative_to / p
        if p.exists():
            return p
        where = f"{origin}: extends" if origin else str(p)
        raise ArchError(f"{where}: got {text!r}: no such file; expected an existing YAML file or a preset name")
    preset = PRESET_DIR / f"{text}.yaml"
    if preset.exists():
        return preset
    names = preset_names()
    where = f"{origin}: extends" if origin else "<preset>"
    raise ArchError(
        f"{where}: unknown accelerator {text!r}{_hint(text, names)} expected a preset name "
        f"({', '.join(names)}) or a path to a YAML file"
    )


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


def _step(node: Any, part: str, dotted: str, where: str, origin: str, what: str) -> tuple[Any, Any]:
    """One step of a dotted path: returns (container, key) of the child."""
    if isinstance(node, list):
        names = [x.get("name") for x in node if isinstance(x, dict)]
        for i, x in enumerate(node):
            if isinstance(x, dict) and x.get("name") == part:
                return node, i
        if part.isdigit() and int(part) < len(node):
            return node, int(part)
        raise ArchError(
            f"{origin}: {what} {dotted!r}: {where}: no item named {part!r}{_hint(part, names)} "
            f"expected one of {names}"
        )
    if isinstance(node, dict):
        return node, part
    raise ArchError(f"{origin}: {what} {dotted!r}: {where} is a value ({node!r}), not a mapping or list; "
                    f"expected a path to a field")


def _remove(data: dict, dotted: Any, origin: str) -> None:
    if not isinstance(dotted, str) or not dotted:
        raise ArchError(f"{origin}: remove: got {dotted!r}; expected dotted paths such as 'units.pim'")
    parts = dotted.split(".")
    node: Any = data
    for i, part in enumerate(parts):
        where = ".".join(parts[: i + 1])
        container, key = _step(node, part, dotted, where, origin, "remove")
        if isinstance(container, dict) and key not in container:
            raise ArchError(
                f"{origin}: remove {dotted!r}: {where}: no field {key!r}{_hint(key, container)} "
                f"expected one of {sorted(container)}"
            )
        if i == len(parts) - 1:
            del container[key]
        else:
            node = container[key]


def load_dict(name_or_path: str | Path) -> tuple[dict, Path]:
    """The raw (merged) mapping of a preset or file, before validation: `extends` and `remove` applied."""
    data, path, _ = _load_dict(name_or_path)
    return data, path


def _load_dict(name_or_path: str | Path, _chain: tuple[Path, ...] = (), _relative_to: Path | None = None,
               _origin: str | None = None) -> tuple[dict, Path, _Positions | None]:
    """(merged data, path, line numbers of the file's own fields or None when merged/removed)."""
    path = _resolve(name_or_path, _relative_to, _origin)
    data, pos = _read(path)
    if not isinstance(data, dict):
        raise ArchError(f"{path}: <top level>: got a {type(data).__name__}; expected a mapping of fields "
                        f"(name, tech, units, memory, ...)")
    parent = data.pop("extends", None)
    removals = data.pop("remove", None)
    chain = _chain + (path.resolve(),)
    if parent is not None:
        if not isinstance(parent, str):
            raise ArchError(f"{path}: extends: got {parent!r}; expected one preset name or file path")
        parent_path = _resolve(parent, path.parent, str(path))
        if parent_path.resolve() in chain:
            loop = " -> ".join(p.name for p in chain + (parent_path.resolve(),))
            raise ArchError(f"{path}: extends: got {parent!r}, which forms a cycle ({loop}); "
                            f"expected a chain of presets that ends")
        base, _, _ = _load_dict(parent, chain, path.parent, str(path))
        base.pop("name", None)
        base.pop("source", None)
        base.pop("description", None)
        data = _merge(base, data)
    if removals is not None:
        if not isinstance(removals, list):
            removals = [removals]
        for dotted in removals:
            _remove(data, dotted, str(path))
    own = parent is None and not removals
    return data, path, (pos if own else None)


# ---- models along a path -------------------------------------------------------------------------------


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """Pydantic models an annotation can hold (through Annotated, Optional, unions, lists, dicts)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _models_in(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType, list, tuple):
        out: list[type[BaseModel]] = []
        for a in typing.get_args(annotation):
            out += _models_in(a)
        return out
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return [annotation]
    return []


def _pick(models: list[type[BaseModel]], value: Any) -> type[BaseModel] | None:
    if not models:
        return None
    if len(models) == 1:
        return models[0]
    tag = value.get("type") if isinstance(value, dict) else None
    for m in models:
        f = m.model_fields.get("type")
        if f is not None and f.default == tag:
            return m
    return None


def _model_at(parts: list[Any], data: Any) -> type[BaseModel] | None:
    """The model whose fields live at `parts` (field names and list indices) in raw `data`."""
    model: type[BaseModel] | None = Accelerator
    node = data
    pending: list[type[BaseModel]] = []
    for part in parts:
        if isinstance(part, int):
            node = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
            model = _pick(pending, node)
            pending = []
            continue
        if model is None or part not in model.model_fields:
            return None
        ann = model.model_fields[part].annotation
        node = node.get(part) if isinstance(node, dict) else None
        models = _models_in(ann)
        if typing.get_origin(ann) is list or (
            typing.get_origin(ann) is typing.Annotated and typing.get_origin(typing.get_args(ann)[0]) is list
        ):
            pending, model = models, None
        else:
            model = _pick(models, node)
    return model


def _expected(model: type[BaseModel] | None, field: Any) -> str:
    """Words for what a field takes, read from its annotation."""
    if model is None or field not in getattr(model, "model_fields", {}):
        return "a valid value"
    info = model.model_fields[field]
    ann = info.annotation
    text = repr(ann)
    desc = f" ({info.description})" if info.description else ""
    if "Literal" in text:
        args = typing.get_args(ann)
        return "one of " + ", ".join(repr(a) for a in args) + desc
    if "parse_size" in repr(info.metadata) or field.endswith("_bytes"):
        return "a size in bytes > 0, such as 4096, '256KiB' or '8GB'" + desc
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
    for t, word in names.items():
        if ann is t:
            gt = [m.gt for m in info.metadata if hasattr(m, "gt") and m.gt is not None]
            return (f"{word} > {gt[0]}" if gt else word) + desc
    models = _models_in(ann)
    inner = typing.get_args(ann)[0] if typing.get_origin(ann) is typing.Annotated else ann
    if typing.get_origin(inner) is list:
        if len(models) > 1:
            types_ = [m.model_fields["type"].default for m in models if "type" in m.model_fields]
            return f"a list of mappings, each with a 'type' ({', '.join(types_)})" + desc
        if models:
            return f"a list of mappings with fields {', '.join(sorted(models[0].model_fields))}" + desc
        return "a list" + desc
    if models:
        alt = " (or a string)" if str in typing.get_args(ann) else ""
        return "a mapping with fields " + ", ".join(sorted(models[0].model_fields)) + alt + desc
    return text.replace("typing.", "") + desc


# ---- overrides -----------------------------------------------------------------------------------------


def apply_overrides(data: dict, overrides: dict[str, Any], origin: str = "override") -> dict:
    """Set dotted paths in a raw spec mapping; list items are addressed by `name` (or index).

    A field may be set even if the YAML left it at its default, but a name that is not a field of the
    model at that place is an error with a "did you mean" hint.
    """
    data = copy.deepcopy(data)
    for dotted, value in overrides.items():
        parts = str(dotted).split(".")
        node: Any = data
        raw_parts: list[Any] = []
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            where = ".".join(parts[: i + 1])
            container, key = _step(node, part, dotted, where, origin, "override")
            if isinstance(container, list) and last:
                raise ArchError(f"{origin}: override {dotted!r}: {where}: cannot replace a whole list item; "
                                f"expected a path to one of its fields")
            if isinstance(container, dict):
                model = _model_at(raw_parts, data)  # None inside free mappings such as tensor_tflops
                if model is not None and key not in container and key not in model.model_fields:
                    fields = sorted(model.model_fields)
                    loc = _path_str(raw_parts, data)
                    raise ArchError(
                        f"{origin}: override {dotted!r}: {loc}: no field {key!r}{_hint(key, fields)} "
                        f"expected one of {', '.join(fields)}"
                    )
                if last:
                    container[key] = value
                elif key not in container:
                    container[key] = {}
            raw_parts.append(key)
            node = container[key]
    return data


# ---- validation errors -----------------------------------------------------------------------------------


_PRIMITIVE_TAGS = ("str", "int", "float", "bool", "none", "list", "dict")


def _is_tag(part: str) -> bool:
    """Does a loc element name a union member (a model class, a unit type, a primitive) not a field?"""
    from arch.spec import UNIT_TYPES

    return part[:1].isupper() or part in UNIT_TYPES or part in _PRIMITIVE_TAGS or "[" in part


def _clean_loc(loc: tuple, data: Any, etype: str) -> list[Any]:
    """Drop the tags pydantic inserts for union members ('systolic', 'DramTiming', 'str', ...)."""
    out: list[Any] = []
    for n, part in enumerate(loc):
        if isinstance(part, str):
            model = _model_at(out, data)
            is_field = model is not None and part in model.model_fields
            last = n == len(loc) - 1
            if not is_field and _is_tag(part) and not (last and etype == "extra_forbidden"):
                continue
        out.append(part)
    return out


def _explain(err: dict, data: Any) -> str:
    """One line for one pydantic error: path, value, expectation."""
    etype = err["type"]
    loc = _clean_loc(tuple(err["loc"]), data, etype)
    path = _path_str(loc, data)
    value = err.get("input")
    field = loc[-1] if loc else None
    parent = _model_at(loc[:-1], data) if loc else None

    if etype == "extra_forbidden":
        fields = sorted(parent.model_fields) if parent is not None else []
        return (f"{path}: unknown field {field!r} (value {value!r}){_hint(field, fields)} "
                f"expected one of: {', '.join(fields)}")
    if etype in ("union_tag_invalid", "union_tag_not_found"):
        from arch.spec import UNIT_TYPES

        tag = err.get("ctx", {}).get("tag")
        if etype == "union_tag_not_found":
            return f"{path}.type: missing; expected one of {', '.join(UNIT_TYPES)}"
        return f"{path}.type: unknown unit type {tag!r}{_hint(tag, UNIT_TYPES)} expected one of {', '.join(UNIT_TYPES)}"
    if etype == "missing":
        return f"{path}: missing required field; expected {_expected(parent, field)}"
    if etype == "literal_error":
        import ast

        try:
            options = list(ast.literal_eval("[" + err["ctx"]["expected"].replace(" or ", ", ") + "]"))
        except (ValueError, SyntaxError):
            options = []
        return f"{path}: got {value!r}{_hint(value, options)} expected {err['ctx']['expected']}"
    if etype in ("model_type", "model_attributes_type", "dict_type"):
        return f"{path}: got {value!r}; expected {_expected(parent, field)}"
    msg = err["msg"].removeprefix("Value error, ")
    if not loc:  # a cross-field rule of Accelerator: the message carries its own path
        return msg
    bounds = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}
    if parent is None and etype in bounds:  # inside a free mapping (e.g. tensor_tflops): no field to describe
        bound = next(iter(err.get("ctx", {}).values()), "?")
        return f"{path}: got {value!r}; expected a number {bounds[etype]} {bound}"
    if etype == "value_error" and "expected" in msg:
        return f"{path}: got {value!r}; {msg.split('; ', 1)[-1] if msg.startswith('got') else msg}"
    return f"{path}: got {value!r}; expected {_expected(parent, field)} ({msg})"


def validate(data: dict, origin: str = "<spec>", positions: _Positions | None = None) -> Accelerator:
    """Validate a raw mapping into an `Accelerator`, raising one `ArchError` for all problems."""
    try:
        return Accelerator.model_validate(data)
    except ValidationError as e:
        errors = e.errors(include_url=False)
        if len(errors) > 1:
            # drop the alternative a union was not meant as (e.g. `timing` given as a mapping is not a str)
            errors = [x for x in errors if not (x["loc"] and x["loc"][-1] in _PRIMITIVE_TAGS
                                                and x["type"].endswith("_type"))] or errors
        # a misspelt field also leaves the real one missing: report the misspelling only
        hinted = set()
        for x in errors:
            if x["type"] == "extra_forbidden":
                loc = _clean_loc(tuple(x["loc"]), data, x["type"])
                parent = _model_at(loc[:-1], data)
                if parent is not None:
                    close = difflib.get_close_matches(str(loc[-1]), list(parent.model_fields), n=1, cutoff=0.6)
                    if close:
                        hinted.add(tuple(loc[:-1]) + (close[0],))
        errors = [x for x in errors
                  if not (x["type"] == "missing" and tuple(_clean_loc(tuple(x["loc"]), data, "missing")) in hinted)]
        out: list[str] = []
        for err in errors:
            line = _explain(err, data)
            if line is not None and line not in out:
                out.append(line)
        msgs = []
        for line_text in out:
            where = origin
            if positions is not None:
                at = _line_of(line_text, positions)
                if at:
                    where = f"{origin}:{at}"
            msgs.append(f"{where}: {line_text}")
        raise ArchError("\n".join(msgs)) from None


def _line_of(message: str, positions: _Positions) -> int | None:
    """Best line for a message whose path is written out at its start."""
    best, best_len = None, -1
    for key, line in positions.lines.items():
        if not key:
            continue
        p = _named_path(list(key), positions.names)
        if (message.startswith(p + ":") or message.startswith(p + ".") or message.startswith(p + " ")) \
                and len(p) > best_len:
            best, best_len = line, len(p)
    return best


def load(name_or_path: str | Path | Accelerator, overrides: dict[str, Any] | None = None) -> Accelerator:
    """Load a preset by name (`arch.load("tpu-v1")`) or a YAML file by path, with optional overrides."""
    positions: _Positions | None = None
    if isinstance(name_or_path, Accelerator):
        if not overrides:
            return name_or_path
        data, origin = name_or_path.model_dump(exclude_none=True), name_or_path.name
    else:
        data, path, positions = _load_dict(name_or_path)  # lines only where the data is the file's own
        origin = str(path)
    if overrides:
        data = apply_overrides(data, overrides, origin)
        positions = None
    return validate(data, origin, positions)
