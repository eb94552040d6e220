"""What the notebook's own cells used, recorded inside the kernel while they run.

The injected cells call :func:`start` once the parents' state is in (so what loading it
imported or read belongs to the parents, whose records have it) and :func:`finish` before
the state is saved.  In between, for the thread that runs the cells only:

* an audit hook on ``open`` sees every file opened from Python (``open``, ``pathlib``,
  ``numpy.load``, pandas' readers, and the import system's own reads of a module's source or
  bytecode, however it was imported); a file the cells wrote first is an output, not an input;
* ``builtins.__import__`` is wrapped to see every import statement executed, including those
  of a module that is already loaded (by the parents' state, or by a fork server's zygote
  ahead of time), so a forked kernel and a fresh one record the same packages.  Imports made by
  the kernel's own machinery (IPython, ipykernel, nbgraph...) are not the notebook's, nor is
  whatever they load.

:func:`finish` sorts it out and writes plain JSON for nbgraph's side, which hashes the files
and names the distributions (``nbgraph.deps``): ``modules`` (local code files, including
scripts run with ``%run``), ``files`` (data read) and ``packages`` (top-level module -> the
folder it was installed in).  Audit hooks cannot be removed: the one hook installed stays
idle outside a recording.
"""

from __future__ import annotations

import builtins
import json
import os
import sys
from _thread import get_ident
from typing import Any

#: top-level modules of the kernel's own machinery: their imports are not the notebook's
KERNEL_OWN = frozenset({
    "IPython", "ipykernel", "ipykernel_launcher", "jupyter_client", "jupyter_core", "nbgraph", "zmq",
    "tornado", "traitlets", "comm", "debugpy", "matplotlib_inline", "jedi", "parso", "prompt_toolkit",
    "pygments", "stack_data", "executing", "asttokens", "pure_eval", "pexpect", "ptyprocess", "decorator",
    "wcwidth", "psutil", "nest_asyncio", "platformdirs", "dill", "cloudpickle",
})

#: per user, the folders of tools' own settings and caches (read by libraries, never data)
_TOOL_DIRS = (".cache", ".config", ".ipython", ".jupyter", ".local", ".matplotlib")


class _Recording:
    def __init__(self, root: str, build: str) -> None:
        self.root, self.build = root, build
        self.thread = get_ident()
        self.quiet = 0
        self.names: set[str] = set()
        self.read: set[str] = set()
        self.written: set[str] = set()

    def opened(self, path: Any, mode: Any, flags: int) -> None:
        if isinstance(path, int):
            return
        path = os.path.abspath(os.fsdecode(os.fspath(path)))
        if mode is None:  # os.open: the flags say it
            access = flags & os.O_ACCMODE
            reads = access != os.O_WRONLY and not flags & os.O_TRUNC
            writes = access != os.O_RDONLY or bool(flags & (os.O_CREAT | os.O_TRUNC | os.O_APPEND))
        else:
            reads = "r" in mode
            writes = any(c in mode for c in "wax+")
        if reads and path not in self.written:
            self.read.add(path)
        if writes:
            self.written.add(path)

    def imported(self, name: str, globals: Any, fromlist: Any, level: int) -> None:
        if level:
            from importlib._bootstrap import _calc___package__, _resolve_name

            name = _resolve_name(name, _calc___package__(globals), level)
        self.names.add(name)
        for item in fromlist or ():
            if isinstance(item, str) and item != "*":
                self.names.add(f"{name}.{item}")


_recording: _Recording | None = None
_hooked = False
_original_import = builtins.__import__


def _audit(event: str, args: tuple) -> None:
    if event != "open":
        return
    rec = _recording
    if rec is None or rec.quiet or get_ident() != rec.thread:
        return
    try:
        rec.opened(*args[:3])
    except Exception:  # a path of a kind nobody reads (the open itself will say so)
        pass


def _import(name, globals=None, locals=None, fromlist=(), level=0):
    rec = _recording
    if rec is None or rec.quiet or get_ident() != rec.thread:
        return _original_import(name, globals, locals, fromlist, level)
    importer = (globals or {}).get("__name__") or ""
    if not isinstance(importer, str) or importer.partition(".")[0] in KERNEL_OWN:
        rec.quiet += 1
        try:
            return _original_import(name, globals, locals, fromlist, level)
        finally:
            rec.quiet -= 1
    module = _original_import(name, globals, locals, fromlist, level)
    try:
        rec.imported(name, globals, fromlist, level)
    except Exception:
        pass
    return module


def start(root: str, build: str) -> None:
    """Record from here on; ``root``: the spec's folder (kept even inside the temp folder),
    ``build``: the build folder (never an input)."""
    global _recording, _hooked, _original_import
    if not _hooked:
        sys.addaudithook(_audit)
        _hooked = True
    if builtins.__import__ is not _import:
        _original_import = builtins.__import__
        builtins.__import__ = _import
    _recording = _Recording(root, build)


def finish(dest: str) -> None:
    """Stop recording and write what was used to ``dest`` (JSON)."""
    global _recording
    rec, _recording = _recording, None
    if builtins.__import__ is _import:
        builtins.__import__ = _original_import
    if rec is None:
        return
    used = _Sorter(rec).sort()
    with open(dest, "w", encoding="utf-8") as f:
        json.dump(used, f)


class _Sorter:
    """Which recorded names and paths are local code, data, packages, or none of the notebook's."""

    def __init__(self, rec: _Recording) -> None:
        import tempfile

        self.rec = rec
        self.sites, self.interpreter = interpreter_folders()
        home = os.path.expanduser("~")
        self.elsewhere = _with_real({"/proc", "/dev", "/sys", "/usr", "/etc", tempfile.gettempdir(),
                                     *(os.path.join(home, d) for d in _TOOL_DIRS)})
        self.modules: set[str] = set()
        self.packages: dict[str, str] = {}

    def sort(self) -> dict[str, Any]:
        for name in sorted(self.rec.names):
            self._module(name)
        files = set()
        for path in self.rec.read:
            code = _source_of(path)
            if code is not None:
                if not self._outside(code):
                    self.modules.add(os.path.realpath(code))
            elif self._is_data(path):
                files.add(os.path.realpath(path))
        files -= self.modules
        return {"modules": sorted(self.modules), "files": sorted(files), "packages": dict(sorted(self.packages.items()))}

    def _module(self, name: str) -> None:
        module = sys.modules.get(name)
        top = name.partition(".")[0]
        if module is None or top in KERNEL_OWN or top in self.packages:
            return
        try:
            file = getattr(module, "__file__", None)
        except Exception:
            return
        if not isinstance(file, str):
            return
        file = os.path.abspath(file)
        site = _under(file, self.sites)
        if site is not None:
            self.packages[top] = site
        elif _under(file, self.interpreter) is None and _under(file, (self.rec.build,)) is None:
            self.modules.add(os.path.realpath(_source_of(file) or file))

    def _outside(self, path: str) -> bool:
        """Part of the interpreter, a package or the build: not the notebook's own code."""
        return any(_under(path, dirs) is not None for dirs in (self.sites, self.interpreter, (self.rec.build,)))

    def _is_data(self, path: str) -> bool:
        if self._outside(path) or not os.path.isfile(path):
            return False
        if _under(path, (self.rec.root,)) is not None:
            return True
        return _under(path, self.elsewhere) is None


_interpreter_folders: tuple[tuple[str, ...], tuple[str, ...]] | None = None


def interpreter_folders() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The folders of installed packages, and of the interpreter and its standard library; found
    once per process (a fork server's zygote finds them for all its kernels)."""
    global _interpreter_folders
    if _interpreter_folders is None:
        import site
        import sysconfig
        import tempfile  # noqa: F401  (finish needs it: imported here, ahead of time, too)

        sites = {*site.getsitepackages(), site.getusersitepackages(),
                 sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
        stdlib = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                  sysconfig.get_path("stdlib"), sysconfig.get_path("platstdlib")}
        _interpreter_folders = (_with_real(sites), _with_real(stdlib))
    return _interpreter_folders


def installed_modules(names) -> list[str]:
    """Those of ``names`` (imported in this process) that are modules of installed packages or of
    the standard library, not a notebook's own (which belong to its folder), in the given order."""
    kept = []
    for name in names:
        path = getattr(sys.modules.get(name), "__file__", None)
        if path and installed_file(path):
            kept.append(name)
    return kept


def installed_file(path: str) -> bool:
    """Whether ``path`` lies among installed packages or the interpreter's own files."""
    sites, stdlib = interpreter_folders()
    return _under(os.path.realpath(path), tuple(sites) + tuple(stdlib)) is not None


def _with_real(dirs: set) -> tuple[str, ...]:
    found = {os.path.abspath(d) for d in dirs if d}
    return tuple(found | {os.path.realpath(d) for d in found})


def _under(path: str, dirs: tuple[str, ...]) -> str | None:
    for d in dirs:
        if path == d or path.startswith(d.rstrip(os.sep) + os.sep):
            return d
    return None


def _source_of(path: str) -> str | None:
    """The source of a code file (``x.py`` for ``__pycache__/x.cpython-311.pyc``), None for data."""
    if path.endswith((".py", ".ipy")):
        return path
    if path.endswith(".pyc"):
        folder, name = os.path.split(path)
        if os.path.basename(folder) == "__pycache__":
            source = os.path.join(os.path.dirname(folder), name.partition(".")[0] + ".py")
            return source if os.path.exists(source) else path
        return path
    return None
