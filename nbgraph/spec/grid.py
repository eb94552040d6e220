"""The ``grid`` key: a mapping (the cartesian product of its values) or a list of mappings (the
union of their products, for variants that differ in which parameters they take, such as a
model's own hyperparameters).

A variant of a list grid gets only its own mapping's parameters, and its name lists them in the
order written.  Two mappings that would give one point (the same parameters with the same values,
in any order) are refused, as a value repeated in one list is: each variant must be distinct,
and a silent merge would hide a typo.  An empty mapping in the list stands for one variant with
none of these parameters (the notebook's own values).
"""

from __future__ import annotations

from typing import Any, Callable

from ..errors import SpecError
from ..names import canonical, format_value
from .checks import check_param
from .model import GridBlock

Err = Callable[[str], SpecError]

_MAPPING = "a mapping of parameter -> list of values, e.g. grid: {alpha: [0.1, 1.0]}"
_LIST = "a list of such mappings, one per kind of variant, e.g. [{model: [svm], C: [0.1, 1]}, {model: [forest]}]"


def check_grid(value: Any, entry) -> tuple[GridBlock, tuple[GridBlock, ...] | None]:
    """``grid`` as written -> (the mapping grid, None) or ((), the list grid's mappings)."""
    params = entry.values.get("params", {})
    if isinstance(value, list):
        return (), _grid_list(value, entry, params)
    value = value or {}
    if not isinstance(value, dict):
        raise entry(f"must be {_MAPPING}, or {_LIST}")
    return tuple((key, grid_values(key, values, entry, params)) for key, values in value.items()), None


def _grid_list(items: list, entry, params: dict) -> tuple[GridBlock, ...]:
    if not items:
        raise entry("is an empty list; give at least one mapping, e.g. grid: [{model: [svm], C: [0.1, 1]}, {model: [forest]}]")
    grid_line = entry.lines.get("grid", entry.line)
    item_lines = entry.doc_lines.get(id(items), {})
    blocks: list[GridBlock] = []
    for i, item in enumerate(items):
        line = item_lines.get(i, grid_line)
        if not isinstance(item, dict):
            raise entry.at(f"must be {_MAPPING.replace('grid: ', '')}", f"grid[{i}]", line=line)
        key_lines = entry.doc_lines.get(id(item), {})
        blocks.append(tuple(
            (key, grid_values(key, values, _at(entry, f"grid[{i}].{key}", key_lines.get(key, line)), params))
            for key, values in item.items()))
        _check_new_point(blocks, entry.at, [item_lines.get(j, grid_line) for j in range(i + 1)])
    return tuple(blocks)


def _at(entry, field: str, line: int | None) -> Err:
    return lambda message: entry.at(message, field, line=line)


def grid_values(key: Any, values: Any, err: Err, params: dict) -> tuple[Any, ...]:
    """One parameter's list of values, each a value a variant can be named after."""
    if not isinstance(values, list):
        raise err(f"values of '{key}' must be a list, e.g. {key}: [{values!r}]")
    if not values:
        raise err(f"values of '{key}' is an empty list; give at least one value")
    for value in values:
        check_param(key, value, err)
    if len({canonical(v) for v in values}) != len(values):
        raise err(f"values of '{key}' repeat a value; each variant must be distinct")
    shown = [_shown(v) for v in values]
    clash = next((v for v in shown if shown.count(v) > 1), None)
    if clash is not None:  # names tell them apart (x=1, x="1"), a reader would not
        raise err(f"values of '{key}' include {clash} both as a string and as a number; "
                  f"their variants would be told apart only by quotes: write them one way")
    if key in params:
        raise err(f"'{key}' is both in params and in grid; keep it in one")
    return tuple(values)


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else format_value(value)


def _check_new_point(blocks: list[GridBlock], at: Callable[..., SpecError], lines: list[int | None]) -> None:
    """Refuse a last mapping that gives a point an earlier one gives (or one told from it only by quotes)."""
    *earlier, last = blocks
    j = len(earlier)
    for i, block in enumerate(earlier):
        shared = _shared_point(block, last, _shown)
        if shared is None:
            continue
        point = ",".join(f"{k}={format_value(v)}" for k, v in shared)
        if _shared_point(block, last, canonical) is not None:
            raise at(f"gives the variant with {point or 'no parameters of its own'} that grid[{i}] (line {lines[i]}) "
                     "gives too; each variant must be distinct: remove it from one of them", f"grid[{j}]", line=lines[j])
        raise at(f"gives {point} where grid[{i}] (line {lines[i]}) gives it with a string for a number or the "
                 "reverse; their variants would be told apart only by quotes: write it one way", f"grid[{j}]",
                 line=lines[j])


def _shared_point(a: GridBlock, b: GridBlock, same: Callable[[Any], str]) -> tuple[tuple[str, Any], ...] | None:
    """A point that both mappings' products hold (values compared by ``same``), or None."""
    if {k for k, _ in a} != {k for k, _ in b}:
        return None
    theirs = dict(b)
    point = []
    for key, values in a:
        common = {same(v) for v in theirs[key]}
        value = next((v for v in values if same(v) in common), _NONE)
        if value is _NONE:
            return None
        point.append((key, value))
    return tuple(point)


_NONE = object()
