"""Checks of single spec values, shared by the YAML's validation and the command line.

Each takes the value and ``err``, which turns a message into the :class:`SpecError` that
names the file, line, node and field; it returns the value as the spec keeps it.  The
bounds are what a run can honour, so that ``validate`` refuses whatever ``run`` would.
"""

from __future__ import annotations

import json
import keyword
import re
from pathlib import Path
from typing import Any, Callable

from ..errors import SpecError
from ..names import node_name_problem
from ..nbfile import executed_name, read_notebook

Err = Callable[[str], SpecError]

PARAM_RE = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]*\Z")  # \Z: "$" also matches before a final newline
NAME_RE = re.compile(r"\A[A-Za-z_][A-Za-z0-9_.-]*\Z")

#: seconds per cell (about 11 days); far larger ones overflow a live kernel's client (zmq polls C longs of ms)
MAX_TIMEOUT = 1_000_000
MAX_RETRIES = 100
#: nbgraph writes files named after the notebook (``.<name>.<random>.partial``) beside its output
MAX_NOTEBOOK_NAME_BYTES = 200


def timeout_problem(value: Any) -> str | None:
    """Why ``value`` cannot be a per-cell timeout (the YAML's or ``--timeout``), or None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "must be a number of seconds"
    if not 0 < value <= MAX_TIMEOUT:  # false for NaN too
        return f"must be a positive number of seconds, at most {MAX_TIMEOUT} (leave it out for no limit)"
    return None


def opt_timeout(value: Any, err: Err) -> float | None:
    if value is None:
        return None
    problem = timeout_problem(value)
    if problem:
        raise err(problem)
    return float(value)


def check_retries(value: Any, err: Err) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_RETRIES:
        raise err(f"must be a whole number of retries from 0 to {MAX_RETRIES}")
    return value


def opt_str(value: Any, err: Err) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise err("must be a kernel name such as python3")
    return value


def opt_address(value: Any, err: Err) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise err("must be a Dask scheduler address such as tcp://127.0.0.1:8786")
    return value.strip()


def check_node_name(name: Any, err: Err) -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise err(f"node name {name!r} must start with a letter or _ and use only letters, digits, _ . -")
    problem = node_name_problem(name)
    if problem:
        raise err(f"node name '{name if len(name) <= 60 else name[:40] + '...'}' {problem}")
    return name


def check_param(key: Any, value: Any, err: Err) -> None:
    if not isinstance(key, str) or not PARAM_RE.match(key):
        raise err(f"parameter name {key!r} must be a Python identifier")
    if keyword.iskeyword(key):
        raise err(f"parameter name {key!r} is a Python keyword (papermill would write '{key} = ...'); rename it")
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        raise err(f"value of '{key}' must be plain data (string, number, bool, null, list, mapping)") from None
    odd = _non_string_key(value)
    if odd is not None:  # JSON (names, records, keys) would make 1 and '1' one key
        raise err(f"value of '{key}': mapping key {odd!r} must be a string; quote it: '{odd}'")


def _non_string_key(value: Any) -> Any:
    """The first mapping key in ``value`` that is not a string, or None."""
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                return k
            found = _non_string_key(v)
            if found is not None:
                return found
    elif isinstance(value, list):
        for v in value:
            found = _non_string_key(v)
            if found is not None:
                return found
    return None


def check_notebook(path: Path, err: Err) -> None:
    names = (path.name, executed_name(path))  # a text notebook's executed copy is an .ipynb
    if max(len(name.encode("utf-8", "surrogatepass")) for name in names) > MAX_NOTEBOOK_NAME_BYTES:
        raise err(f"the notebook's file name is longer than {MAX_NOTEBOOK_NAME_BYTES} bytes, too long for the "
                  "files nbgraph names after it in the build folder; rename the notebook")
    complaint = read_notebook(path).complaint
    if complaint:
        raise err(complaint)
