"""Which statements nbgraph never replays, and why (pure Python on the statement's tree).

A replay runs the parent's own code again in the child, so it must not do anything but
rebuild objects in memory: a statement that writes a file (``open`` with a ``w``/``a``/``x``/``+``
mode, or a known writer such as ``to_csv``, ``savefig``, ``json.dump``, ``os.remove``), writes
to a database (SQL other than a plain query), starts a process, reaches the network, runs
code nbgraph cannot read (``exec``, magics and shell commands, ``globals()``), or changes an
object the child inherited, is refused with the reason.  Functions the recorded history
defines are looked into the same way when a statement calls them.  Calls to library code
nbgraph knows nothing about are allowed: the rule is "no side effect nbgraph knows of".
"""

from __future__ import annotations

import ast
from typing import Callable, Mapping

_OPAQUE = {
    "exec": "runs code given as a string", "eval": "runs code given as a string",
    "compile": "compiles code given as a string", "globals": "reaches into the namespace",
    "locals": "reaches into the namespace", "vars": "reaches into the namespace",
    "setattr": "sets attributes by name", "delattr": "deletes attributes by name",
    "__import__": "imports by name", "input": "waits for input", "breakpoint": "starts a debugger",
    "get_ipython": "runs an IPython magic or shell command", "exit": "ends the kernel", "quit": "ends the kernel",
}
#: methods that write files or send data out, whatever the object (names no reader shares)
_WRITER_METHODS = frozenset({
    "write", "writelines", "write_text", "write_bytes", "to_csv", "to_parquet", "to_excel", "to_json",
    "to_pickle", "to_sql", "to_hdf", "to_feather", "to_stata", "to_orc", "to_netcdf", "to_zarr", "savefig",
    "savez", "savez_compressed", "savetxt", "tofile", "dump", "touch", "unlink", "rmdir", "mkdir",
    "symlink_to", "hardlink_to", "rmtree", "commit", "executescript", "sendall", "sendto",
    "upload_file", "put_object", "urlretrieve", "urlopen",
})
#: module-level functions that change the world: module -> functions (None: all of them)
_WRITER_FUNCTIONS: Mapping[str, frozenset[str] | None] = {
    "os": frozenset({"remove", "unlink", "rmdir", "removedirs", "mkdir", "makedirs", "rename", "renames",
                     "replace", "system", "popen", "kill", "killpg", "chmod", "chown", "truncate", "write",
                     "symlink", "link", "putenv", "unsetenv", "chdir", "fork", "execv", "execve", "spawnv",
                     "startfile", "utime", "mkfifo"}),
    "shutil": None, "subprocess": None, "requests": None, "httpx": None, "smtplib": None, "webbrowser": None,
    "pickle": frozenset({"dump"}), "json": frozenset({"dump"}), "joblib": frozenset({"dump"}),
    "np": frozenset({"save", "savez", "savez_compressed", "savetxt"}),
    "numpy": frozenset({"save", "savez", "savez_compressed", "savetxt"}),
    "torch": frozenset({"save"}), "plt": frozenset({"savefig"}), "yaml": frozenset({"dump", "safe_dump"}),
}
#: constructors that open a file for appending as they are called (whatever module they come from)
_OPENS_FOR_WRITING = frozenset({"FileHandler", "RotatingFileHandler", "TimedRotatingFileHandler",
                                "WatchedFileHandler", "basicConfig", "ZipFile", "TarFile"})
_READ_ONLY_SQL = ("select", "with", "explain", "values")
_WRITE_MODES = set("wax+")


def unsafe_reason(node: ast.AST, functions: Mapping[str, ast.AST] | None = None,
                  seen: frozenset[str] = frozenset()) -> str | None:
    """Why ``node`` must not be replayed, or None.  ``functions``: the history's own functions by
    name, whose bodies are checked when ``node`` calls them."""
    functions = functions or {}
    for item in ast.walk(node):
        if isinstance(item, (ast.Await, ast.AsyncFor, ast.AsyncWith)):
            return "uses top-level await"
        if isinstance(item, (ast.Global, ast.Nonlocal)):
            return "declares a global"
        if isinstance(item, ast.Delete) and any(isinstance(t, ast.Name) for t in item.targets):
            return "deletes a name"
        if not isinstance(item, ast.Call):
            continue
        reason = _call_reason(item)
        if reason is None and isinstance(item.func, ast.Name) and item.func.id in functions and item.func.id not in seen:
            inner = unsafe_reason(functions[item.func.id], functions, seen | {item.func.id})
            if inner is not None:
                reason = f"calls {item.func.id}(), which {inner.removeprefix('it ')}"
        if reason is not None:
            return reason
    return None


def _call_reason(call: ast.Call) -> str | None:
    func = call.func
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
    if name in _OPENS_FOR_WRITING and not (name in ("ZipFile", "TarFile") and _reads_only(call)):
        return f"calls {name}(), which opens a file for writing or appending"
    if isinstance(func, ast.Name):
        if func.id in _OPAQUE:
            return _OPAQUE[func.id]
        if func.id == "open":
            return _open_reason(call, mode_at=1)
        return None
    if not isinstance(func, ast.Attribute):
        return None
    owner = _dotted(func.value)
    top = owner.partition(".")[0] if owner else None
    if top in _WRITER_FUNCTIONS:
        allowed = _WRITER_FUNCTIONS[top]
        if allowed is None or func.attr in allowed:
            return f"calls {owner}.{func.attr}, which changes things outside the kernel"
    if owner in ("io", "codecs", "gzip", "bz2", "lzma") and func.attr == "open":
        return _open_reason(call, mode_at=1)
    if func.attr == "open":  # Path(...).open(mode)
        return _open_reason(call, mode_at=0)
    if func.attr in _WRITER_METHODS:
        return f"calls .{func.attr}(), which writes files or sends data out"
    if func.attr in ("execute", "executemany") and call.args:
        return _sql_reason(call.args[0])
    if any(k.arg == "inplace" and not (isinstance(k.value, ast.Constant) and not k.value.value) for k in call.keywords):
        return "changes an object in place (inplace=True)"
    return None


def _reads_only(call: ast.Call) -> bool:
    """``ZipFile(path)`` or ``ZipFile(path, 'r')``: opened for reading."""
    mode = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "mode"), None)
    return mode is None or (isinstance(mode, ast.Constant) and mode.value == "r")


def _open_reason(call: ast.Call, mode_at: int) -> str | None:
    mode: ast.AST | None = call.args[mode_at] if len(call.args) > mode_at else None
    for keyword in call.keywords:
        if keyword.arg == "mode":
            mode = keyword.value
    if mode is None:
        return None
    if not (isinstance(mode, ast.Constant) and isinstance(mode.value, str)):
        return "opens a file in a mode nbgraph cannot read from the code"
    if _WRITE_MODES & set(mode.value):
        what = "appending" if "a" in mode.value else "writing"
        return f"opens a file for {what} (mode {mode.value!r}); nbgraph never replays a file write"
    return None


def _sql_reason(query: ast.AST) -> str | None:
    if not (isinstance(query, ast.Constant) and isinstance(query.value, str)):
        return "runs SQL nbgraph cannot read from the code"
    words = query.value.strip().split(None, 1)
    first = words[0].lower() if words else ""
    if first in _READ_ONLY_SQL or (first == "pragma" and "=" not in query.value):
        return None
    return f"runs SQL that may write ({first.upper() or 'empty'} ...)"


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def changes_inherited(changes: set[str], fresh: Callable[[str], bool]) -> str | None:
    """A statement that would change in place an object the child inherited (not one rebuilt
    in the scratch namespace) is not replayed: the inherited value must stay as it arrived."""
    touched = sorted(n for n in changes if not fresh(n))
    return f"changes the inherited {', '.join(touched)} in place" if touched else None
