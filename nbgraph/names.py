"""Names in the build folder: variant names, their folders, node folders and nbgraph's own entries.

Two variants never share a name or a folder, by construction rather than by luck:

* A variant is named ``node[k=v,...]``.  A value is written bare when that cannot be read
  back as anything else (``minmax``, ``0.1``, ``true``); a string that holds the name's
  syntax (``, = [ ] { } " '``), an invisible character, surrounding spaces, or that reads
  as another type (``"1"``, ``"null"``) is written as a JSON string; lists and mappings
  as compact JSON.  :func:`parse_name` reads any of them back.
* Its folder is the text between the brackets with every character outside
  ``A-Z a-z 0-9 _ . + -`` percent-encoded (``%`` included), so ``a/b`` is ``a%2Fb`` and
  plain names keep the folders they always had.  Past 100 characters it is cut to 80
  plus ``-`` and 10 hex digits of the full text's sha256; a text that merely looks like
  that has its ``-`` encoded, so a value cannot forge a hashed name.

Folders are ASCII, so a case-insensitive or normalising file system (macOS) can only
merge two of them that differ in the case of a letter: :mod:`nbgraph.spec` refuses
node names that differ only in case, and :func:`nbgraph.graph.run_graph` grid values
whose folders would.
"""

from __future__ import annotations

import hashlib
import json
import string
from typing import Any, Mapping

#: nbgraph's own entries at the top of a build folder; no node may be named like one
LOCK_FILE = ".nbgraph.lock"
STORE_DIR = ".nbgraph"
REPORT_DIR = "report"
PLOT_STEM = "graph"
PLOT_DEFAULT_FORMATS = ("png", "svg")
CHARTS_DIR = "charts"
LAB_DIR = "lab"


def plot_file(fmt: str) -> str:
    """Where ``nbgraph plot`` writes by default, under the build folder."""
    return f"{PLOT_STEM}.{fmt}"


#: each entry nbgraph writes beside the node folders, and what it is
OWN_ENTRIES: Mapping[str, str] = {
    LOCK_FILE: "the lock of a running build",
    REPORT_DIR: "the page of nbgraph report",
    **{plot_file(f): "the picture of nbgraph plot" for f in PLOT_DEFAULT_FORMATS},
    CHARTS_DIR: "the charts of nbgraph results --plot",
    STORE_DIR: "the chunks every snapshot of the build shares",
    LAB_DIR: "the copies of executed notebooks opened from the JupyterLab panel",
}

#: a node's folder is one path component; with the variant folders' cap it keeps every
#: path nbgraph writes (``<node>/<slug>/.<notebook>.partial.ipynb``...) far below 255 bytes
MAX_NODE_NAME = 100

_SPECIAL = frozenset(',=[]{}"\'')
_SAFE = frozenset(string.ascii_letters + string.digits + "_.+-")
_HEX = frozenset(string.hexdigits)
_CAP, _KEEP, _DIGEST = 100, 80, 10


def node_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a node's folder next to nbgraph's own entries, or None."""
    if len(name) > MAX_NODE_NAME:
        return f"is {len(name)} characters long; node names are at most {MAX_NODE_NAME}"
    own = next((e for e in OWN_ENTRIES if e.casefold() == name.casefold()), None)
    if own is not None:
        return f"would share its folder with {OWN_ENTRIES[own]} (build_dir/{own}); rename the node"
    return None


def format_value(value: Any) -> str:
    """How a grid value is written in a variant name; :func:`parse_name` reads it back."""
    if isinstance(value, str):
        return value if _bare(value) else _quote(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _bare(text: str) -> bool:
    if not text or text != text.strip() or not text.isprintable() or not _SPECIAL.isdisjoint(text):
        return False
    try:
        json.loads(text)
    except ValueError:
        return True
    return False  # "1", "true", "null", "NaN" would read back as another type


def _quote(text: str) -> str:
    """A JSON string on one visible line: invisible characters (U+2028, U+200B...) escaped too."""
    quoted = json.dumps(text, ensure_ascii=False)
    return "".join(ch if ch.isprintable() else json.dumps(ch)[1:-1] for ch in quoted)


def variant_name(node: str, identity: tuple[tuple[str, Any], ...]) -> str:
    if not identity:
        return node
    return f"{node}[{_bracket_text(identity)}]"


def _bracket_text(identity: tuple[tuple[str, Any], ...]) -> str:
    return ",".join(f"{k}={format_value(v)}" for k, v in identity)


def slug(identity: tuple[tuple[str, Any], ...]) -> str:
    """The variant's folder name: one path component of ASCII letters, digits and ``_.+-,=%``."""
    if not identity:
        return "default"
    encoded = ",".join(f"{k}={_encode(format_value(v))}" for k, v in identity)
    if len(encoded) > _CAP:
        digest = hashlib.sha256(_bracket_text(identity).encode("utf-8", "surrogatepass")).hexdigest()
        return f"{encoded[:_KEEP]}-{digest[:_DIGEST]}"
    if len(encoded) == _KEEP + 1 + _DIGEST and encoded[_KEEP] == "-" and _HEX.issuperset(encoded[_KEEP + 1:]):
        return f"{encoded[:_KEEP]}%2D{encoded[_KEEP + 1:]}"  # not a hashed name, whatever it looks like
    return encoded


def chart_file(metric: str, fmt: str) -> str:
    """The file name of a recorded value's chart: the name percent-encoded as folders are (capped)."""
    encoded = _encode(metric)
    if len(encoded) > _CAP:
        encoded = f"{encoded[:_KEEP]}-{hashlib.sha256(metric.encode('utf-8', 'surrogatepass')).hexdigest()[:_DIGEST]}"
    return f"{encoded}.{fmt}"


def _encode(text: str) -> str:
    return "".join(ch if ch in _SAFE else "".join(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass"))
                   for ch in text)


class NameSyntaxError(ValueError):
    """A variant name that cannot be read; the message says where."""


def parse_name(name: str) -> tuple[str, list[tuple[str, str, Any]]]:
    """``node[k=v,...]`` -> node and ``(key, text as written, value)`` per pair.

    Values are read as :func:`format_value` writes them; a bare word that is not JSON is a
    string.  Raises :class:`NameSyntaxError` for a name that is not of that form.
    """
    node, bracket, rest = name.partition("[")
    if not bracket:
        return node, []
    if not rest.endswith("]"):
        raise NameSyntaxError(f"{name}: a variant name ends with ']'")
    body, pairs, i = rest[:-1], [], 0
    while body:
        key, eq, _ = body[i:].partition("=")
        if not eq or not key.strip().isidentifier():
            raise NameSyntaxError(f"{name}: expected parameter=value at {body[i:]!r}")
        start = i + len(key) + 1
        value, written, end = _read_value(name, body, start)
        pairs.append((key.strip(), written, value))
        if end == len(body):
            break
        if body[end] != ",":
            raise NameSyntaxError(f"{name}: expected ',' or ']' after {body[start:end]!r}")
        i = end + 1
    return node, pairs


def _read_value(name: str, body: str, start: int) -> tuple[Any, str, int]:
    """The value at ``start``, its text, and where it ends."""
    if body[start:start + 1] in ('"', "[", "{"):
        try:
            value, end = json.JSONDecoder().raw_decode(body, start)
        except ValueError:
            raise NameSyntaxError(f"{name}: {body[start:]!r} is not a complete JSON value") from None
        return value, body[start:end], end
    end = body.find(",", start)
    end = len(body) if end < 0 else end
    text = body[start:end].strip()  # a bare value never has surrounding spaces: "train[a=1, b=2]" reads
    try:
        return json.loads(text), text, end
    except ValueError:
        return text, text, end


def canonical(value: Any) -> str:
    """One text per value, for telling grid values apart (``1`` and ``1.0`` differ, as in names)."""
    return json.dumps(value, sort_keys=True)


def value_matches(written: str, parsed: Any, value: Any) -> bool:
    """Whether a value as a user wrote it in a name designates ``value``.

    Besides the exact form, a string may be given unquoted (``version=1.0`` for the string
    ``"1.0"``), as names wrote it before values were quoted.
    """
    return canonical(parsed) == canonical(value) or (isinstance(value, str) and written == value)
