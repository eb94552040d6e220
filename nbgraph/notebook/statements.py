"""A cell's code as statements: what each binds, reads and changes (pure Python, no kernel).

The rebuild planner (:mod:`.slicer`) cuts a cell down to the statements that produce a
variable, so it needs, per top-level statement, the names it binds, the names it reads from
the namespace (free names: not those bound inside its own comprehensions, lambdas or
function bodies), the names whose objects it changes in place (``x.a = 1``, ``x[k] = v``),
and the functions it calls by name (whose bodies :mod:`.safety` inspects when the history
defines them).  A compound statement (``for``, ``with``, ``if``...) is one unit: replaying
half of a loop is never right.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef,
           ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


@dataclass
class Statement:
    """One top-level statement of a recorded cell."""

    node: ast.stmt
    source: str
    binds: set[str] = field(default_factory=set)
    reads: set[str] = field(default_factory=set)
    changes: set[str] = field(default_factory=set)
    calls: set[str] = field(default_factory=set)
    #: names it calls a method on: an object of the child's it may change (see ``slicer``)
    methods: set[str] = field(default_factory=set)

    @property
    def first_line(self) -> str:
        line = self.source.strip().splitlines()[0] if self.source.strip() else ""
        return line if len(line) <= 80 else line[:77] + "..."


def split(source: str) -> list[Statement] | None:
    """The statements of ``source`` (a cell as IPython ran it), or None if it does not parse."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    found = []
    for node in tree.body:
        text = ast.get_source_segment(source, node) or ast.unparse(node)
        statement = Statement(node, text)
        _analyse(statement)
        found.append(statement)
    return found


def _analyse(statement: Statement) -> None:
    node = statement.node
    statement.binds = bound_names(node)
    statement.reads = free_names(node) - _bound_before_use(node)
    statement.changes = changed_names(node)
    statement.methods = method_bases(node)
    statement.calls = {c.func.id for c in ast.walk(node) if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)}


def _target_names(target: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(target) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


def bound_names(node: ast.stmt) -> set[str]:
    """Names the statement binds at module level (nested bodies of if/for/with/try included)."""
    names: set[str] = set()
    stack: list[ast.AST] = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(item.name)
            stack.extend(item.decorator_list)
            continue
        if isinstance(item, (ast.Import, ast.ImportFrom)):
            for alias in item.names:
                if alias.name != "*":
                    names.add(alias.asname or alias.name.partition(".")[0])
            continue
        if isinstance(item, ast.Name) and isinstance(item.ctx, ast.Store):
            names.add(item.id)
        elif isinstance(item, ast.NamedExpr) and isinstance(item.target, ast.Name):
            names.add(item.target.id)
        elif isinstance(item, ast.ExceptHandler) and item.name:
            names.add(item.name)
        if isinstance(item, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            continue  # their targets are their own (a walrus inside still binds, but is rare)
        stack.extend(ast.iter_child_nodes(item))
    return names


def free_names(node: ast.AST) -> set[str]:
    """Names read from the namespace: loads not bound in the nested scope that reads them."""
    reads: set[str] = set()
    _free(node, set(), reads, top=True)
    return reads


def _free(node: ast.AST, local: set[str], reads: set[str], top: bool = False) -> None:
    if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Load, ast.Del)):
        if node.id not in local:
            reads.add(node.id)
        return
    if isinstance(node, _SCOPES) and not top:
        _free_in_scope(node, local, reads)
        return
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):  # a top-level def
        _free_in_scope(node, local, reads)
        return
    if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name) and node.target.id not in local:
        reads.add(node.target.id)  # x += 1 reads x
    for child in ast.iter_child_nodes(node):
        _free(child, local, reads)


def _free_in_scope(node: ast.AST, local: set[str], reads: set[str]) -> None:
    """A def, class, lambda or comprehension: what runs when the statement runs (decorators,
    defaults, the first iterable) reads from outside; its body reads what it does not bind."""
    inner = set(local)
    outside: list[ast.AST] = []
    body: list[ast.AST] = []
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        args = node.args
        outside += [*args.defaults, *[d for d in args.kw_defaults if d is not None]]
        every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
        inner |= {a.arg for a in every if a is not None}
        if not isinstance(node, ast.Lambda):
            outside += node.decorator_list
            outside += [a.annotation for a in every if a is not None and a.annotation is not None]
            body = list(node.body)
            inner |= set().union(*(bound_names(s) for s in node.body)) if node.body else set()
        else:
            body = [node.body]
    elif isinstance(node, ast.ClassDef):
        outside += [*node.bases, *node.keywords, *node.decorator_list]
        body = list(node.body)
    else:  # a comprehension
        generators = node.generators
        outside.append(generators[0].iter)
        for gen in generators:
            inner |= _target_names(gen.target)
        body = [*(g.iter for g in generators[1:]), *(i for g in generators for i in g.ifs)]
        body += [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
    for item in outside:
        _free(item, local, reads)
    for item in body:
        _free(item, inner, reads)


def _bound_before_use(node: ast.stmt) -> set[str]:
    """Names a ``with ... as f`` or ``for x in ...`` binds before its body reads them (not inputs),
    unless what it evaluates first reads them too."""
    if isinstance(node, (ast.With, ast.AsyncWith)):
        targets = set().union(*(_target_names(i.optional_vars) for i in node.items if i.optional_vars is not None))
        first = set().union(*(free_names(i.context_expr) for i in node.items))
    elif isinstance(node, (ast.For, ast.AsyncFor)):
        targets, first = _target_names(node.target), free_names(node.iter)
    else:
        return set()
    return targets - first


def changed_names(node: ast.AST) -> set[str]:
    """Names whose object the statement changes in place: ``x.a = ...``, ``x[k] = ...``, ``del x[k]``."""
    return {_base(item.value) for item in ast.walk(node)
            if isinstance(item, (ast.Attribute, ast.Subscript)) and isinstance(item.ctx, (ast.Store, ast.Del))} - {None}


def method_bases(node: ast.AST) -> set[str]:
    """Names the statement calls a method on (``results.append(...)`` may change ``results``; which
    methods do not is unknowable here)."""
    return {_base(item.func.value) for item in ast.walk(node)
            if isinstance(item, ast.Call) and isinstance(item.func, ast.Attribute)} - {None}


def _base(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def defined_functions(statements: list[Statement]) -> dict[str, ast.AST]:
    """Functions the statements define at top level, by name (the last definition wins)."""
    return {s.node.name: s.node for s in statements if isinstance(s.node, (ast.FunctionDef, ast.AsyncFunctionDef))}
