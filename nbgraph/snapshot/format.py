"""Write and read a snapshot: a folder holding the pickled namespace and a signed manifest.

Layout of a snapshot folder::

    manifest.json   format version, Python/dill versions, variables, skipped, sha256 of files, hmac
    state.pkl       the variables, pickled with dill in one stream (one memo: aliases survive)

The folder is written under a temporary name and renamed into place, files mode 0600.
A variable that cannot be pickled is skipped and reported, never fatal unless ``strict``.
"""

from __future__ import annotations

import io
import os
import platform
import re
import shutil
import sys
import tempfile
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, MutableMapping

from ..errors import SnapshotError
from . import sign

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
STATE = "state.pkl"

#: Names IPython and ipykernel put in the user namespace; never inherited.
KERNEL_NAMES = frozenset({
    "In", "Out", "get_ipython", "exit", "quit", "open", "_", "__", "___", "_i", "_ii", "_iii",
    "_ih", "_oh", "_dh", "_sh", "__builtin__", "__builtins__",
})
_KERNEL_NAME_RE = re.compile(r"^(_i\d+|_\d+|__\w+__)$")


@dataclass
class DumpReport:
    """What a snapshot holds and what it left out (name, type, reason)."""

    path: str
    variables: dict[str, str] = field(default_factory=dict)
    skipped: list[dict[str, str]] = field(default_factory=list)
    size: int = 0


def is_kernel_internal(name: str) -> bool:
    return name in KERNEL_NAMES or bool(_KERNEL_NAME_RE.match(name))


def select_variables(ns: Mapping[str, Any], exclude: Iterable[str] = ()) -> dict[str, Any]:
    """The user's variables: not IPython's own, not excluded."""
    excluded = set(exclude)
    return {k: v for k, v in ns.items() if not is_kernel_internal(k) and k not in excluded}


def _dill():
    import dill

    dill.settings["recurse"] = False
    return dill


def _unpicklable_reason(value: Any) -> str | None:
    if isinstance(value, (types.GeneratorType, types.CoroutineType, types.AsyncGeneratorType)):
        return f"a {type(value).__name__} cannot be copied; recreate it in the child"
    if isinstance(value, io.IOBase):
        return "an open file is not copied (reopening it could truncate it); open it again in the child"
    return None


def dump_namespace(ns: Mapping[str, Any], dest: Path, *, exclude: Iterable[str] = (),
                   strict: bool = False) -> DumpReport:
    """Pickle the user's variables of ``ns`` into the snapshot folder ``dest`` (atomically)."""
    dill = _dill()
    dest = Path(dest)
    report = DumpReport(path=str(dest))
    candidates = select_variables(ns, exclude)
    state: dict[str, Any] = {}
    for name, value in candidates.items():
        reason = _unpicklable_reason(value)
        if reason is None:
            try:
                dill.dumps(value, protocol=5)
            except Exception as e:  # any pickling failure means: skip this one variable
                reason = f"{type(e).__name__}: {e}".splitlines()[0][:200]
        if reason is not None:
            report.skipped.append({"name": name, "type": _type_name(value), "reason": reason})
            continue
        state[name] = value
    if strict and report.skipped:
        names = ", ".join(s["name"] for s in report.skipped)
        raise SnapshotError(f"strict mode: cannot snapshot {names}; delete them (del ...) or add them to 'exclude'")

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent))
    try:
        data = dill.dumps(state, protocol=5)
        _write_private(tmp / STATE, data)
        report.variables = {k: _type_name(v) for k, v in state.items()}
        report.size = len(data)
        manifest = {
            "format": FORMAT_VERSION,
            "python": platform.python_version(),
            "dill": dill.__version__,
            "variables": report.variables,
            "skipped": report.skipped,
            "files": {STATE: sign.file_sha256(tmp / STATE)},
            "size": report.size,
        }
        import json

        _write_private(tmp / MANIFEST, json.dumps(sign.sign(manifest), indent=1, sort_keys=True).encode())
        os.chmod(tmp, 0o700)
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return report


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _type_name(value: Any) -> str:
    cls = type(value)
    module = cls.__module__
    return cls.__qualname__ if module in ("builtins", "__main__") else f"{module}.{cls.__qualname__}"


def read_manifest(path: Path, *, check_files: bool = True) -> dict[str, Any]:
    """The verified manifest of a snapshot folder; raises :class:`SnapshotError` otherwise."""
    import json

    path = Path(path)
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except FileNotFoundError:
        raise SnapshotError(f"{path}: no snapshot here (missing {MANIFEST}); run its notebook first", path=str(path)) from None
    except (OSError, ValueError) as e:
        raise SnapshotError(f"{path}: unreadable snapshot manifest ({e}); re-run its notebook with --force", path=str(path)) from None
    if not isinstance(manifest, dict):
        raise SnapshotError(f"{path}: corrupt snapshot manifest; re-run its notebook with --force", path=str(path))
    sign.verify_manifest(manifest, path)
    if manifest.get("format") != FORMAT_VERSION:
        raise SnapshotError(
            f"{path}: snapshot format {manifest.get('format')} is not {FORMAT_VERSION} (written by another nbgraph); "
            "re-run its notebook with --force", path=str(path))
    major_minor = ".".join(platform.python_version().split(".")[:2])
    if not str(manifest.get("python", "")).startswith(major_minor + "."):
        raise SnapshotError(
            f"{path}: snapshot was written by Python {manifest.get('python')}, this is {platform.python_version()}; "
            "re-run its notebook with --force", path=str(path))
    if check_files:
        for name, digest in manifest.get("files", {}).items():
            try:
                actual = sign.file_sha256(path / name)
            except FileNotFoundError:
                actual = None
            if actual != digest:
                raise SnapshotError(f"{path}: file {name} is missing or was altered; re-run its notebook with --force",
                                    path=str(path))
    return manifest


def load_snapshot(path: Path, into: MutableMapping[str, Any] | None = None) -> dict[str, Any]:
    """Verify, then unpickle a snapshot; its variables are returned and, if given, put in ``into``."""
    path = Path(path)
    read_manifest(path)
    dill = _dill()
    try:
        state = dill.loads((path / STATE).read_bytes())
    except Exception as e:
        raise SnapshotError(f"{path}: cannot load the snapshot ({type(e).__name__}: {e}); "
                            "re-run its notebook with --force", path=str(path)) from e
    if into is not None:
        into.update(state)
    return state


def _python_tag() -> str:
    return f"{sys.implementation.name}{sys.version_info.major}{sys.version_info.minor}"
