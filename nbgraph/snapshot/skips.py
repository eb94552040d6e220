"""Kinds of objects never worth pickling: skipped up front, named with a reason.

A generator, lock, socket, database connection, open file or kernel-bound object
either fails to pickle or, worse, "succeeds" and misbehaves in the child (dill
re-opens a file that was open for writing in ``'w'`` mode, truncating it).  These are
recognised by type before any pickling, so they are never touched.  The answer
depends only on the type, so it is cached per type: the pickler asks for every
object it meets, nested ones included.
"""

from __future__ import annotations

import _io
import _thread
import io
import sys
import threading
import types
from typing import Any

_GENERATOR = "a {t} cannot be copied to another process; recreate it in the child"
_LOCK = "a {t} belongs to this process; create a new one in the child"
_THREAD = "a thread cannot be copied; start it again in the child"
_SOCKET = "an open socket is not copied; reconnect in the child"
_DATABASE = "a database connection is not copied; connect again in the child"
_FILE = "an open file is not copied (re-opening it could truncate it); open it again in the child"
_KERNEL = "belongs to the parent's kernel ({root}); it is not copied"
_PROGRESS = "a progress bar bound to the parent kernel's output; create a new one in the child"
_LOOP = "bound to the parent kernel's event loop; recreate it in the child"
_PROCESS = "bound to a running process or pool; recreate it in the child"
_FRAME = "a stack frame or traceback cannot be copied"

_LOCK_TYPES: tuple[type, ...] = (
    _thread.LockType, type(threading.RLock()), threading.Condition, threading.Semaphore,
    threading.Event, threading.Barrier,
)
_IN_MEMORY_IO = (io.BytesIO, io.StringIO)

#: Top-level package of the object's type -> reason (the whole package is kernel- or process-bound).
_BY_PACKAGE = {
    "IPython": _KERNEL, "ipykernel": _KERNEL, "ipywidgets": _KERNEL, "comm": _KERNEL,
    "jupyter_client": _KERNEL, "zmq": _KERNEL, "tornado": _KERNEL,
    "tqdm": _PROGRESS, "asyncio": _LOOP, "multiprocessing": _PROCESS, "concurrent": _PROCESS,
}
#: Database drivers: their connection-like classes are skipped (their plain data is not).
_DB_PACKAGES = frozenset({
    "sqlite3", "psycopg", "psycopg2", "pymysql", "MySQLdb", "mysql", "duckdb", "pyodbc", "oracledb",
    "cx_Oracle", "snowflake", "pymongo", "redis", "sqlalchemy", "clickhouse_driver", "pymssql",
})
_DB_WORDS = ("Connection", "Cursor", "Engine", "Session", "Client", "Pool")

#: Plain data that lives in IPython's package but is not bound to the kernel (HTML, Image, ...).
_IPYTHON_DATA = ("IPython.core.display", "IPython.lib.display", "IPython.display")

_cache: dict[type, str | None] = {}


def skip_reason(value: Any) -> str | None:
    """Why ``value`` must not be pickled, or None when it may be."""
    cls = type(value)
    try:
        return _cache[cls]
    except KeyError:
        reason = _cache[cls] = _reason_for_type(cls)
        return reason


def _module_of(cls: type) -> str:
    module = getattr(cls, "__module__", None)
    return module if isinstance(module, str) else ""


def _package_reason(cls: type) -> str | None:
    """A kind of package never worth copying, for the class or any class it derives from
    (a subclass of ipykernel's stream is bound to the kernel as much as the stream is)."""
    for base in getattr(cls, "__mro__", (cls,)):
        module = _module_of(base)
        root = module.partition(".")[0]
        if root in _BY_PACKAGE:
            return None if module.startswith(_IPYTHON_DATA) else _BY_PACKAGE[root].format(root=root)
    return None


def _reason_for_type(cls: type) -> str | None:
    module = _module_of(cls)
    root = module.partition(".")[0]
    reason = _package_reason(cls)
    if reason is not None:
        return reason
    if issubclass(cls, (types.GeneratorType, types.CoroutineType, types.AsyncGeneratorType)):
        return _GENERATOR.format(t=cls.__name__)
    if issubclass(cls, (types.FrameType, types.TracebackType)):
        return _FRAME
    if issubclass(cls, _LOCK_TYPES):
        return _LOCK.format(t=f"threading {cls.__name__}")
    if issubclass(cls, threading.Thread):
        return _THREAD
    mro = getattr(cls, "__mro__", ())
    if _io._IOBase in mro and not issubclass(cls, _IN_MEMORY_IO):  # not io.IOBase: an ABC check is slow
        return _FILE
    if root in _DB_PACKAGES and any(word in cls.__name__ for word in _DB_WORDS):
        return _DATABASE
    if module == "tempfile" and cls.__name__.startswith(("_TemporaryFileWrapper", "SpooledTemporaryFile")):
        return _FILE
    if module == "subprocess" and cls.__name__ == "Popen":
        return _PROCESS
    socket = sys.modules.get("socket")
    if socket is not None and issubclass(cls, socket.socket):
        return _SOCKET
    mmap = sys.modules.get("mmap")
    if mmap is not None and issubclass(cls, mmap.mmap):
        return _FILE
    return None
