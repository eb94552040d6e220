"""``nbgraph.record(name, value)``: a notebook states a result; the runner collects it.

A recorded value travels as a display output with nbgraph's own mimetype, so it lives
in the executed notebook itself: nothing to configure in the kernel, nothing lost when
a later cell fails (what was recorded before the failure is kept), and outside nbgraph
the same call simply shows ``name = value`` in the notebook (or prints it).  nbgraph reads
it back from the executed notebook (:mod:`nbgraph.kernels.results`).
"""

from __future__ import annotations

import math
from typing import Any, Mapping

#: the display output's mimetype that marks a recorded value
MIMETYPE = "application/vnd.nbgraph.record+json"


def _jsonable(value: Any, name: str) -> Any:
    """Plain JSON data for ``value`` (numpy scalars and arrays included), or a clear TypeError."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, str)):
        return int(value) if isinstance(value, int) else str(value)
    if isinstance(value, float):  # numpy.float64 too: recorded as a plain float
        return float(value) if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, name) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, name) for v in value]
    for convert in ("item", "tolist"):  # numpy scalars / arrays, torch tensors
        fn = getattr(value, convert, None)
        if callable(fn):
            try:
                return _jsonable(fn(), name)
            except (TypeError, ValueError):
                continue
    raise TypeError(f"nbgraph.record({name!r}, ...): a {type(value).__name__} cannot be recorded; "
                    "record numbers, strings, booleans, or lists/dicts of them")


def record(name: str, value: Any) -> Any:
    """Record ``value`` as this notebook's result ``name`` and return it unchanged.

    In an nbgraph run the value reaches the variant's ``results.json`` and ``nbgraph
    results``; anywhere else it is just displayed.
    """
    if not isinstance(name, str) or not name:
        raise TypeError("nbgraph.record(name, value): name must be a non-empty string")
    data = _jsonable(value, name)
    text = f"{name} = {data!r}"
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # plain Python without IPython
        print(text)
        return value
    if get_ipython() is None:
        print(text)
    else:
        display({MIMETYPE: {"name": name, "value": data}, "text/plain": text}, raw=True)
    return value
