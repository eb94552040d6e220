"""JSON for other programs (``status --json``, ``results --format json``): strict JSON only.

Python's ``json`` writes ``NaN`` and ``Infinity``, which no JSON parser but Python's reads;
one ``.nan`` parameter in the YAML would make the whole list unreadable to ``jq`` or a
browser.  JSON has no such numbers, so they are written as the strings ``"nan"``, ``"inf"``
and ``"-inf"``, as ``nbgraph.record`` records them (the README says so).
"""

from __future__ import annotations

import json
import math
from typing import Any


def dumps(data: Any) -> str:
    """``data`` as indented, strict JSON: non-finite floats become strings, other objects their str()."""
    return json.dumps(finite(data), indent=2, default=str, allow_nan=False)


def finite(data: Any) -> Any:
    """A copy of ``data`` with every NaN or infinite float (at any depth) replaced by its str()."""
    if isinstance(data, float):
        return data if math.isfinite(data) else str(data)
    if isinstance(data, dict):
        return {k: finite(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [finite(v) for v in data]
    return data
