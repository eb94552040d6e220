"""Plan the smallest replay that rebuilds the variables a snapshot could not copy.

Input: the recorded history (per cell, in the order the kernels ran them: its code as IPython
ran it, the names it bound at run time, whether it succeeded; see :mod:`.history`), the
variables to rebuild with their kinds, and which names the child already inherited.

For each variable: the last statement that bound it, then, backwards, the statements that
bound what those read, stopping at a name the child inherited *with the value the statement
saw* (a name bound again later in the history is recomputed as it was then).  Statement by
statement, never whole cells: a cell that connects and then runs a slow query is cut to the
connect.  Then, by kind:

* ``stateful`` (generators, hash objects, cursors, anything not known): every later statement
  that reads it, since those advanced it (``next(gen)``, ``h.update(...)``), is replayed too;
* ``handle`` (connections, locks, sockets): only later statements that configure it
  (``conn.row_factory = ...``); what was done through it (queries) is not repeated;
* ``file``: opened again and moved to the position the parent recorded, not re-read.

Any statement in a variable's slice that :mod:`.safety` refuses, or that reads a name no
statement binds and the child does not have, makes that variable *not inherited*, with why.
"""

from __future__ import annotations

import ast

import builtins
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from . import safety
from .statements import Statement, defined_functions, split

Key = tuple[int, int]  # (cell index in the history, statement index in the cell)
_BUILTINS = frozenset(dir(builtins))
_FILE_TYPES = ("_io.TextIOWrapper", "_io.BufferedReader", "_io.BufferedWriter", "_io.BufferedRandom", "_io.FileIO")


def kind_of(type_name: str, reason: str) -> str:
    """``file``, ``handle`` or ``stateful``: how much of a variable's later use a rebuild repeats."""
    if type_name in _FILE_TYPES:
        return "file"
    if any(word in reason for word in ("database connection", "belongs to this process", "open socket")):
        return "handle"
    return "stateful"


@dataclass
class Slice:
    """How one variable is rebuilt (``keys``), or why it cannot be (``reason``)."""

    name: str
    kind: str
    keys: list[Key] = field(default_factory=list)
    reason: str | None = None
    made_by: Key | None = None


@dataclass
class Plan:
    slices: dict[str, Slice]
    statements: dict[Key, Statement]
    cells: Sequence[Mapping[str, Any]]

    def where(self, key: Key) -> str:
        return label(self.cells[key[0]])

    def order(self) -> list[Key]:
        """Every statement some rebuildable variable needs, once, in the order they first ran."""
        return sorted({k for s in self.slices.values() if s.reason is None for k in s.keys})


def label(cell: Mapping[str, Any]) -> str:
    """``cell 3 of p``: a recorded cell as reports name it (its label, then the variant that ran it)."""
    return f"{cell.get('cell', '?')} of {cell.get('variant') or cell.get('notebook') or '?'}"


class _History:
    def __init__(self, cells: Sequence[Mapping[str, Any]]) -> None:
        self.cells = cells
        self.parsed: list[list[Statement] | None] = [split(str(c.get("source", ""))) for c in cells]
        self.functions: dict[str, Any] = {}
        for stmts in self.parsed:
            self.functions.update(defined_functions(stmts or []))
        self.modules: Callable[[str], bool] = lambda name: False
        self.bound: list[set[str] | None] = [set(c["bound"]) if isinstance(c.get("bound"), list) else None
                                             for c in cells]

    def statement(self, key: Key) -> Statement:
        return self.parsed[key[0]][key[1]]  # type: ignore[index]

    def binding_before(self, name: str, at: Key) -> Key | str | None:
        """The last statement before ``at`` that bound ``name``; a reason if a cell bound it in a way
        no statement shows (``exec``, a magic, ``from m import *``); None if nothing did."""
        cell, index = at
        for c in range(min(cell, len(self.cells) - 1), -1, -1):
            stmts = self.parsed[c]
            upto = index if c == cell else None
            if stmts is None:
                if self._ran_binding(c, name, upto):
                    return f"was bound by {self.label(c)} in code nbgraph cannot parse"
                continue
            found = [i for i, s in enumerate(stmts[:upto]) if name in s.binds]
            if found and (upto is not None or self.bound[c] is None or name in self.bound[c]):
                return (c, found[-1])
            if upto is None and self.bound[c] is not None and name in self.bound[c] and not found:
                return f"was bound by {self.label(c)} in a way nbgraph cannot replay statement by statement"
        return None

    def _ran_binding(self, c: int, name: str, upto: int | None) -> bool:
        return upto is None and self.bound[c] is not None and name in self.bound[c]

    def last_binding(self, name: str) -> Key | str | None:
        end = len(self.cells)
        return self.binding_before(name, (end, 0)) if end else None

    def after(self, key: Key) -> list[Key]:
        """Every statement recorded after ``key``, in order."""
        keys = []
        for c in range(key[0], len(self.cells)):
            for i in range(len(self.parsed[c] or [])):
                if (c, i) > key:
                    keys.append((c, i))
        return keys

    def label(self, c: int) -> str:
        return label(self.cells[c])


def plan(cells: Sequence[Mapping[str, Any]], wanted: Mapping[str, tuple[str, str]],
         inherited: Callable[[str], bool], modules: Callable[[str], bool] = lambda name: False) -> Plan:
    """The replay that rebuilds ``wanted`` (name -> (type, why it was not copied)) from ``cells``.

    ``inherited(name)``: the child already has that name from a snapshot (not one to rebuild);
    ``modules(name)``: what the child has under that name is a module (a method called on it,
    ``sqlite3.connect``, changes no object of the child's).
    """
    history = _History(cells)
    history.modules = modules
    slices = {name: _slice(history, name, kind_of(*info), inherited, set(wanted)) for name, info in wanted.items()}
    statements = {k: history.statement(k) for s in slices.values() for k in s.keys}
    return Plan(slices, statements, cells)


def _slice(history: _History, name: str, kind: str, inherited: Callable[[str], bool], wanted: set[str]) -> Slice:
    made = history.last_binding(name)
    result = Slice(name, kind)
    if made is None:
        result.reason = "is bound by no recorded statement"
        return result
    if isinstance(made, str):
        result.reason = made
        return result
    result.made_by = made
    keys: set[Key] = set()
    problem = _close_over(history, [made], keys, inherited, wanted)
    if problem is None:
        for later in _advancers(history, name, kind, made):
            problem = _close_over(history, [later], keys, inherited, wanted, advancing=name)
            if problem is not None:
                break
    result.keys = sorted(keys)
    result.reason = problem
    return result


def _advancers(history: _History, name: str, kind: str, made: Key) -> list[Key]:
    if kind == "file":
        return []
    later = history.after(made)
    if kind == "handle":
        return [k for k in later if name in history.statement(k).changes]
    return [k for k in later if name in history.statement(k).reads or name in history.statement(k).changes]


def _close_over(history: _History, todo: list[Key], keys: set[Key], inherited: Callable[[str], bool],
                wanted: set[str], advancing: str | None = None) -> str | None:
    """Add ``todo`` and what they depend on to ``keys``; the reason one cannot be replayed, if any."""
    while todo:
        key = todo.pop()
        if key in keys:
            continue
        problem = _refusal(history, key, keys, todo, inherited, wanted)
        if problem is not None:
            stmt = history.statement(key)
            verb = f"was advanced by {history.label(key[0])}" if advancing else f"needs {history.label(key[0])}"
            return f"{verb} ({stmt.first_line}), which {problem}"
        keys.add(key)
    return None


def _refusal(history: _History, key: Key, keys: set[Key], todo: list[Key], inherited: Callable[[str], bool],
             wanted: set[str]) -> str | None:
    """Why the statement at ``key`` cannot be replayed (None: it can; what it reads is queued)."""
    cell = history.cells[key[0]]
    if cell.get("ok") is False:
        return "raised an error in the parent"
    stmt = history.statement(key)
    reason = safety.unsafe_reason(stmt.node, history.functions)
    if reason is not None:
        return reason
    recomputed = set(wanted)
    for read in sorted(stmt.reads):
        source = history.binding_before(read, key)
        if isinstance(source, str):
            return f"reads {read}, which {source}"
        if source is None:
            if inherited(read) or read in _BUILTINS:
                continue
            return f"reads {read}, which is neither inherited nor bound by a recorded statement"
        if inherited(read) and read not in wanted and history.last_binding(read) == source:
            continue  # the child has the very value this statement read
        todo.append(source)
        recomputed.add(read)
    changes = stmt.changes | {n for n in stmt.methods if not _a_module(history, n, key)}
    return safety.changes_inherited(changes, lambda n: n in recomputed or not inherited(n))


def _a_module(history: _History, name: str, key: Key) -> bool:
    """Whether ``name`` is a module there: the child's is, or an import last bound it."""
    if history.modules(name):
        return True
    source = history.binding_before(name, key)
    return isinstance(source, tuple) and isinstance(history.statement(source).node, (ast.Import, ast.ImportFrom))
