"""Reading inheritance.yaml: YAML text -> plain data, and the line each mapping key was written on.

Safe YAML only, with what real specs use: anchors, aliases and merge keys
(``<<: *defaults``; a mapping's own keys win, then the merged mappings in the order listed).  A key written twice in
one mapping is refused, as are aliases that expand to more than :data:`MAX_ALIAS_GROWTH`
values beyond the document's own (a few hundred bytes of nested aliases can otherwise
stand for billions of values that validation would walk for ever).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..errors import SpecError

#: how many values aliases may add to a document (each use of an alias counts its whole value)
MAX_ALIAS_GROWTH = 100_000

_MERGE_TAG = "tag:yaml.org,2002:merge"


def read_spec_file(file: Path) -> tuple[Any, dict[int, dict[Any, int]]]:
    """The file's data and, per mapping (by ``id``), the line of each of its keys; per list, of each item.

    Raises :class:`SpecError` (``file:line: ...``) for anything that is not one readable document.
    """
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError.at(file, "no such file; create it or pass the spec's path (nbgraph run path/to/inheritance.yaml)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SpecError.at(file, f"cannot read it: {e}") from e
    loader = _LineLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None, {}
        _check_growth(file, root)
        data = loader.construct_document(root)
    except _Duplicate as d:
        raise SpecError.at(file, f"'{d.key}' is defined twice (first on line {d.first}); names must be unique", line=d.line) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        problem = getattr(e, "problem", None) or str(e)
        line = mark.line + 1 if mark is not None else None
        raise SpecError.at(file, f"invalid YAML: {problem}", line=line) from None
    except RecursionError:
        raise SpecError.at(file, "invalid YAML: nested too deeply (or an alias inside its own value)") from None
    finally:
        loader.dispose()
    return data, loader.key_lines


class PlainLoader(yaml.SafeLoader):
    """SafeLoader without YAML 1.1's implicit dates (as in YAML 1.2): ``2020-01-01`` stays the
    string the user wrote, since a date is not plain data a notebook parameter can carry."""


PlainLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class _LineLoader(PlainLoader):
    """PlainLoader that refuses duplicate keys and remembers where each key was written."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.key_lines: dict[int, dict[Any, int]] = {}


class _Duplicate(Exception):
    def __init__(self, key: Any, line: int, first: int) -> None:
        self.key, self.line, self.first = key, line, first


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    mapping: dict[Any, Any] = {}
    lines: dict[Any, int] = {}
    for key, key_node, value_node in _pairs(loader, node, frozenset()):
        mapping[key] = loader.construct_object(value_node, deep=deep)
        lines[key] = key_node.start_mark.line + 1
    loader.key_lines[id(mapping)] = lines
    return mapping


def _pairs(loader: _LineLoader, node: yaml.MappingNode, within: frozenset[int]) -> list[tuple[Any, yaml.Node, yaml.Node]]:
    """A mapping's (key, key node, value node), merges expanded where ``<<`` is written.

    As YAML defines merge keys: the mapping's own keys win, then the merged mappings in
    the order listed (``<<: [*a, *b]``: a's keys over b's).  A key written twice in one
    mapping is refused, merged or not.
    """
    own: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag != _MERGE_TAG:
            key, line = _key(loader, key_node), key_node.start_mark.line + 1
            if key in own:
                raise _Duplicate(key, line, own[key])
            own[key] = line
    out: list[tuple[Any, yaml.Node, yaml.Node]] = []
    taken: set[Any] = set()
    for key_node, value_node in node.value:
        if key_node.tag != _MERGE_TAG:
            key = _key(loader, key_node)
            taken.add(key)
            out.append((key, key_node, value_node))
            continue
        for source in _merged(node, value_node, within):
            for key, merged_key, merged_value in _pairs(loader, source, within | {id(node)}):
                if key not in own and key not in taken:
                    taken.add(key)
                    out.append((key, merged_key, merged_value))
    return out


def _merged(node: yaml.MappingNode, value: yaml.Node, within: frozenset[int]) -> list[yaml.MappingNode]:
    sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
    for source in sources:
        if not isinstance(source, yaml.MappingNode):
            raise yaml.constructor.ConstructorError(None, None, "'<<' merges a mapping or a list of mappings "
                                                    f"(an alias such as *defaults), not a {source.id}", source.start_mark)
        if id(source) in within or source is node:
            raise yaml.constructor.ConstructorError(None, None, "'<<' merges a mapping into itself", source.start_mark)
    return sources


def _key(loader: _LineLoader, key_node: yaml.Node) -> Any:
    if key_node.tag == "tag:yaml.org,2002:value":  # the '=' key of YAML 1.1: a plain string here
        return loader.construct_scalar(key_node)
    key = loader.construct_object(key_node)
    try:
        hash(key)
    except TypeError:
        raise yaml.constructor.ConstructorError(None, None, "a mapping key must be a plain value, not a list or mapping",
                                                key_node.start_mark) from None
    return key


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode, deep: bool = False) -> list[Any]:
    items = [loader.construct_object(item, deep=deep) for item in node.value]
    loader.key_lines[id(items)] = {i: item.start_mark.line + 1 for i, item in enumerate(node.value)}
    return items


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def _check_growth(file: Path, root: yaml.Node) -> None:
    """Refuse a document whose aliases stand for too many values, counting them without expanding."""
    sizes: dict[int, int] = {}  # node -> values it stands for, aliases expanded
    entered: set[int] = set()
    stack = [root]
    while stack:  # depth first, children sized before their parent; no recursion limit
        node = stack[-1]
        if id(node) in sizes:
            stack.pop()
            continue
        children = _children(node)
        if id(node) not in entered:
            entered.add(id(node))
            stack.extend(c for c in children if id(c) not in entered)  # entered, not sized: an alias in its own value
            continue
        stack.pop()
        sizes[id(node)] = 1 + sum(sizes.get(id(c), 1) for c in children)
        if sizes[id(node)] - len(sizes) > MAX_ALIAS_GROWTH:  # never more than the whole document's growth
            raise SpecError.at(file, f"aliases here expand to more than {MAX_ALIAS_GROWTH} values; "
                                     "nbgraph refuses such a document (write the values out, or reuse fewer)",
                               line=node.start_mark.line + 1)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []
