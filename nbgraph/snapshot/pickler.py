"""The pickler: C speed, notebook-defined code by value, bound to the loader's namespace.

It is cloudpickle's pickler (the C pickler underneath, protocol 5) with three changes:

* A function whose globals are the namespace being saved (defined in the notebook,
  or inherited into it) is rebuilt on load with the *loading* namespace as its
  globals.  It then behaves as if defined in the child: it sees the child's imports
  and the child's current value of a global the child redefined.  cloudpickle's own
  reduction freezes a copy of the globals it reads, and writes them back over the
  loader's globals.
* Objects of kinds that are never worth pickling (see :mod:`.skips`) raise
  :class:`Unpicklable` wherever they are met, so the variable holding them is skipped
  with a reason instead of failing with an obscure error (or being re-opened by dill).
* A numpy view of an array that is itself a variable is saved as a view of it, so
  ``part = big[:10]`` stays a view of ``big`` in the child; views of one unnamed array
  stay views of each other (see :func:`array_roots`).

Loading needs only the C unpickler and the small rebuild functions below.
"""

from __future__ import annotations

import builtins
import sys
import threading
import types
from typing import Any, MutableMapping

_target = threading.local()


class Unpicklable(Exception):
    """A value (or something it holds) of a kind that is never pickled."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class loading_into:
    """Context in which rebuilt functions take ``ns`` as their globals."""

    def __init__(self, ns: MutableMapping[str, Any]) -> None:
        self.ns = ns

    def __enter__(self) -> None:
        self.previous = getattr(_target, "ns", None)
        _target.ns = self.ns

    def __exit__(self, *exc: object) -> None:
        _target.ns = self.previous


def _make_function(code: types.CodeType, name: str, ncells: int | None) -> types.FunctionType:
    ns = getattr(_target, "ns", None)
    if ns is None:
        ns = {}
    if "__builtins__" not in ns:  # as exec() does: a function's globals must reach the builtins
        ns["__builtins__"] = builtins
    closure = None if ncells is None else tuple(types.CellType() for _ in range(ncells))
    return types.FunctionType(code, ns, name, None, closure)


def _set_function_state(func: types.FunctionType, state: dict[str, Any]) -> None:
    cells = state.pop("cells", ())
    attrs = state.pop("__dict__", None)
    for attr, value in state.items():
        setattr(func, attr, value)
    if attrs:
        func.__dict__.update(attrs)
    for i, value in cells:
        func.__closure__[i].cell_contents = value


def reduce_notebook_function(func: types.FunctionType) -> tuple:
    """Code, name, closure and attributes, but no globals: the loader supplies its namespace."""
    closure = func.__closure__
    cells = []
    for i, cell in enumerate(closure or ()):
        try:
            cells.append((i, cell.cell_contents))
        except ValueError:  # an empty cell (a name assigned later in the enclosing scope)
            pass
    state = {
        "__defaults__": func.__defaults__, "__kwdefaults__": func.__kwdefaults__,
        "__qualname__": func.__qualname__, "__module__": func.__module__, "__doc__": func.__doc__,
        "__annotations__": func.__annotations__, "cells": cells,
    }
    if func.__dict__:
        state["__dict__"] = func.__dict__
    args = (func.__code__, func.__name__, None if closure is None else len(closure))
    return (_make_function, args, state, None, None, _set_function_state)


def _view_of(base: Any, offset: int, shape: tuple, strides: tuple, dtype: Any) -> Any:
    numpy = sys.modules["numpy"]
    memory = base if base.flags.c_contiguous else base.T  # same memory, exported as one block
    return numpy.ndarray(shape, dtype=dtype, buffer=memory, offset=offset, strides=strides)


def array_roots(values: list[Any]) -> dict[int, Any]:
    """What views among ``values`` are saved as views of: memory owner's id -> the array to keep.

    * The memory owner behind a numpy array variable, when saving it costs nothing beyond
      saving the variable (the variable covers it: a reshape, a transpose, the array itself).
    * For variables that are views of one owner too big to save whole (``m = big[:, :3]``
      and ``row = m[1]``, where ``big`` is no variable), the bytes of ``big`` that those views
      span, as one block, if that span costs at most twice their own copies: ``row`` then
      stays a view of ``m`` in the child.  Wider apart, each is saved as its own copy.
    """
    numpy = sys.modules.get("numpy")
    if numpy is None:
        return {}
    nd = numpy.ndarray
    roots: dict[int, Any] = {}
    shared: dict[int, list[Any]] = {}
    for v in values:
        if type(v) is not nd or v.dtype.hasobject:
            continue
        base = _owner(v, nd)
        if type(base) is not nd or not (base.flags.c_contiguous or base.flags.f_contiguous):
            continue
        if base.nbytes <= max(v.nbytes, 1):
            roots[id(base)] = base
        elif base is not v:
            shared.setdefault(id(base), []).append(v)
    for key, views in shared.items():
        if key not in roots and len({id(v) for v in views}) > 1:
            block = _spanned_block(views, numpy)
            if block is not None:
                roots[key] = block
    return roots


def _spanned_block(views: list[Any], numpy: Any) -> Any:
    """The bytes of the views' common owner from the first to the last byte any of them reaches,
    as a 1-D uint8 view of it; None if that is more than twice the views' own sizes."""
    base = _owner(views[0], numpy.ndarray)
    start = base.__array_interface__["data"][0]
    low, high = [], []
    for v in views:
        at = v.__array_interface__["data"][0]
        low.append(at + sum((n - 1) * s for n, s in zip(v.shape, v.strides) if s < 0 and n))
        high.append(at + sum((n - 1) * s for n, s in zip(v.shape, v.strides) if s > 0 and n) + v.itemsize)
    first, end = min(low), max(high)
    if end - first > 2 * sum(v.nbytes for v in views) or 0 in (v.size for v in views):
        return None
    memory = base if base.flags.c_contiguous else base.T  # same memory, exported as one block
    return numpy.ndarray((end - first,), dtype=numpy.uint8, buffer=memory, offset=first - start)


def _owner(array: Any, ndarray: type) -> Any:
    while isinstance(array.base, ndarray):
        array = array.base
    return array


def pickler_class(ns: MutableMapping[str, Any], roots: dict[int, Any]) -> type:
    """The pickler class for one namespace (made once per snapshot, used for each pass)."""
    import cloudpickle

    from .skips import skip_reason

    numpy = sys.modules.get("numpy")
    ndarray = numpy.ndarray if numpy is not None else None
    function_type = types.FunctionType

    class NotebookPickler(cloudpickle.Pickler):
        # a plain dict: cloudpickle's ChainMap is looked up in Python for every instance
        dispatch_table = dict(cloudpickle.Pickler.dispatch_table)

        def reducer_override(self, obj: Any) -> Any:
            cls = type(obj)
            if cls is function_type:
                if obj.__globals__ is ns:
                    return reduce_notebook_function(obj)
                return super().reducer_override(obj)
            if cls is ndarray:
                if roots and obj.base is not None:
                    view = _reduce_view(obj, roots, ndarray)
                    if view is not None:
                        return view
                return NotImplemented
            reason = skip_reason(obj)
            if reason is not None:
                raise Unpicklable(reason)
            if issubclass(cls, type):  # a class: cloudpickle decides, by reference or by value
                return super().reducer_override(obj)
            return NotImplemented

    return NotebookPickler


def _reduce_view(obj: Any, roots: dict[int, Any], ndarray: type) -> tuple | None:
    owner = _owner(obj, ndarray)
    root = roots.get(id(owner))
    if owner is obj or root is None or root is obj or obj.dtype.hasobject:
        return None
    offset = obj.__array_interface__["data"][0] - root.__array_interface__["data"][0]
    return (_view_of, (root, offset, obj.shape, obj.strides, obj.dtype))


class DillBlob:
    """A variable only dill could pickle: its own bytes, inside the shared stream."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __reduce__(self) -> tuple:
        return (_dill_loads, (self.data,))


def _dill_loads(data: bytes) -> Any:
    import dill

    return dill.loads(data)


def dill_dumps(value: Any) -> bytes:
    """dill, as a last resort for one variable; skip-kinds inside it still refuse."""
    import io

    import dill

    from .skips import skip_reason

    class GuardedPickler(dill.Pickler):
        def save(self, obj: Any, save_persistent_id: bool = True) -> None:
            reason = skip_reason(obj)
            if reason is not None:
                raise Unpicklable(reason)
            super().save(obj, save_persistent_id)

    buf = io.BytesIO()
    GuardedPickler(buf, protocol=5, recurse=True).dump(value)
    return buf.getvalue()
