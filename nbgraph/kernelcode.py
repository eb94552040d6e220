"""The source of the code nbgraph puts into a kernel: its injected cells and the live dump request.

Written in nbgraph's own process (by ``kernels.run`` and ``live.kernel``); what that code
calls inside the kernel is :mod:`nbgraph.notebook`.

Every value in that code (a parameter, a parent's name, a path) is written by :func:`literal`,
never pasted as text: a value can hold quotes, newlines or NUL and still be one Python literal,
so it arrives intact and cannot run as code.  A comment names things with ``repr``, which
never contains a line break, so a value cannot end it either.  The calls themselves depend on
no name of the user's namespace (a notebook may well rebind ``globals``, ``print``, ``open`` or
``__import__``): the function is bound by an ``import`` statement, which takes ``__import__``
from the builtins, under a dunder name that is deleted again, success or not; it finds the
namespace as its caller's globals.
"""

from __future__ import annotations

import keyword
import math
from typing import Any, Mapping

#: the name the injected code binds nbgraph's function to while it runs (then deletes)
ALIAS = "__nbgraph__"


class UnwritableValue(ValueError):
    """A value, name or text that nbgraph cannot write into a kernel's code as it is."""


def literal(value: Any) -> str:
    """A Python expression, built from literals only, that evaluates to ``value``.

    Plain data only (what a spec can hold): None, bool, int, float (nan and infinities
    included), str, and lists, tuples and dicts of them; anything else is refused.
    """
    if value is None:
        return "None"
    for scalar in (bool, int, str):  # the base class's repr: a subclass's own could return anything
        if isinstance(value, scalar):
            return scalar.__repr__(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "(1e999 - 1e999)"  # float('nan') would look the name float up
        if math.isinf(value):
            return "1e999" if value > 0 else "-1e999"
        return float.__repr__(value)
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, tuple):
        items = [literal(v) for v in value]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    raise UnwritableValue(f"nbgraph writes only plain data into a kernel, not a {type(value).__name__}: {value!r}")


def comment(text: str) -> str:
    """A one-line comment; ``text`` must be printable (no line break, no NUL): name values in it with ``repr``."""
    if not text.isprintable():
        raise UnwritableValue(f"a comment can hold printable characters only: {text!r}")
    return f"# {text}"


def call(module: str, function: str, *args: Any, **kwargs: Any) -> str:
    """Statements that call ``function`` of ``module`` with these arguments and leave no name behind."""
    arguments = ", ".join([literal(a) for a in args] + [f"{_identifier(k)}={literal(v)}" for k, v in kwargs.items()])
    return (f"from {module} import {_identifier(function)} as {ALIAS}\n"
            f"try:\n"
            f"    {ALIAS}({arguments})\n"
            f"finally:\n"
            f"    del {ALIAS}")


def parameters(values: Mapping[str, Any]) -> str:
    """The source of a parameters cell: one ``name = literal`` line per parameter."""
    return "\n".join(["# Parameters", *(f"{_identifier(k)} = {literal(v)}" for k, v in values.items())]) + "\n"


def _identifier(name: Any) -> str:
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise UnwritableValue(f"{name!r} is not a Python name; nbgraph cannot assign it in a kernel")
    return name
