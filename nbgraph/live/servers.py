"""Find the live kernel of a notebook: this user's Jupyter servers, their sessions, one match.

Servers are found through the files they write in Jupyter's runtime folder
(``jpserver-<pid>.json``, mode 0600), keeping only files this user owns whose process is
alive, or given explicitly by URL.  Every server is asked, not only the first.  The
token travels only in the ``Authorization`` header: never in a URL, a message, a repr
or a file.

A notebook is matched against each session's path (relative to its server's root) in
this order: an absolute path; a path relative to the caller's folder (how Python opens
files, and how a notebook names its sibling); a path relative to the server's root.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from ..errors import Ambiguous, KernelDied, NoServer, NotOpen
from ..procs import pid_alive

_SERVER_FILE = re.compile(r"^(jpserver|nbserver)-(\d+)\.json$")
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0", "::", ""}
#: kernel states in which it will not answer (see jupyter_server's kernel manager)
DEAD_STATES = {"dead", "restarting", "autorestarting"}


@dataclass(frozen=True)
class Server:
    """One Jupyter server; ``token`` is kept out of ``repr`` on purpose."""

    url: str
    token: str = field(default="", repr=False, compare=False)
    root_dir: str | None = None
    runtime_dir: str | None = None
    pid: int | None = None

    def api(self, path: str, *, method: str = "GET", timeout: float = 5.0) -> Any:
        """JSON from the REST API; raises :class:`Unreachable` with a token-free reason."""
        request = urllib.request.Request(self.url + path.lstrip("/"), method=method)
        if self.token:
            request.add_header("Authorization", f"token {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http/https only)
                body = response.read()
        except urllib.error.HTTPError as e:
            hint = " (token rejected: pass token=...)" if e.code in (401, 403) else ""
            raise Unreachable(f"HTTP {e.code}{hint}") from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise Unreachable(str(reason).splitlines()[0] if str(reason) else type(e).__name__) from None
        try:
            return json.loads(body or b"null")
        except ValueError:
            raise Unreachable("answered with something that is not JSON (is this a Jupyter server?)") from None


class Unreachable(Exception):
    """A server did not answer usefully; the message is safe to show."""


@dataclass(frozen=True)
class Session:
    """A notebook open in a server, and its kernel."""

    server: Server
    path: str
    kernel_id: str
    kernel_name: str = ""
    execution_state: str = ""

    @property
    def abspath(self) -> Path | None:
        if not self.server.root_dir:
            return None
        return _resolve(Path(self.server.root_dir) / self.path)

    def describe(self) -> str:
        return f"{self.path} (kernel {self.kernel_id[:8]} on {self.server.url})"


def runtime_dir() -> Path:
    from jupyter_core.paths import jupyter_runtime_dir

    return Path(jupyter_runtime_dir())


def list_servers(folder: Path | None = None) -> list[Server]:
    """Servers whose runtime file this user owns and whose process is alive."""
    folder = Path(folder) if folder is not None else runtime_dir()
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    servers = []
    for name in names:
        match = _SERVER_FILE.match(name)
        if not match:
            continue
        path = folder / name
        try:
            if path.stat().st_uid != os.getuid():
                continue
            info = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # being written, or unreadable: not a server we can use
        if not isinstance(info, dict) or not pid_alive(info.get("pid"), mine=True) or info.get("sock") or not info.get("url"):
            continue
        servers.append(Server(url=_normal_url(info["url"]), token=str(info.get("token") or ""),
                              root_dir=info.get("root_dir") or info.get("notebook_dir"),
                              runtime_dir=str(folder), pid=info.get("pid")))
    return servers


def explicit_server(url: str, token: str | None = None, known: Iterable[Server] = ()) -> Server:
    """A server given by URL; a ``?token=`` in it is moved to the header, root and token
    are taken from this user's runtime file of the same server when there is one."""
    parts = urllib.parse.urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise NoServer(f"server={_safe(url)!r} is not an http(s) URL such as http://127.0.0.1:8888/")
    query = urllib.parse.parse_qs(parts.query)
    token = token or (query.get("token") or [""])[0]
    clean = _normal_url(urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")))
    for server in known:
        if _same_server(server.url, clean):
            return Server(url=clean, token=token or server.token, root_dir=server.root_dir,
                          runtime_dir=server.runtime_dir, pid=server.pid)
    return Server(url=clean, token=token)


def sessions_of(server: Server, timeout: float = 5.0) -> list[Session]:
    data = server.api("api/sessions", timeout=timeout)
    if not isinstance(data, list):
        raise Unreachable("api/sessions did not return a list")
    out = []
    for item in data:
        kernel = item.get("kernel") or {}
        path = item.get("path") or (item.get("notebook") or {}).get("path")
        if not path or not kernel.get("id"):
            continue
        out.append(Session(server=server, path=path, kernel_id=kernel["id"], kernel_name=kernel.get("name", ""),
                           execution_state=kernel.get("execution_state", "")))
    return out


def find_session(notebook: str | os.PathLike, servers: list[Server], *, cwd: Path | None = None,
                 explicit: bool = False, arguments: bool = True) -> Session:
    """The one session of ``notebook`` among ``servers``; a :class:`LiveError` otherwise.

    ``arguments``: the caller can pass ``server=``/``token=`` (``inherit_from``), so the
    messages suggest them; a graph run cannot, so they do not.
    """
    pick = ", or pass server='http://host:port/' and token=..." if arguments and not explicit else ""
    if not servers:
        raise NoServer(f"no running Jupyter server found (looked in {runtime_dir()}); start JupyterLab and open "
                       f"{os.fspath(notebook)}{pick}")
    cwd = Path(cwd) if cwd is not None else Path.cwd()
    target = Path(os.path.expanduser(os.fspath(notebook)))
    want_abs = _resolve(target if target.is_absolute() else cwd / target)
    want_rel = None if target.is_absolute() else posixpath.normpath(target.as_posix())
    near: list[Session] = []
    by_root: list[Session] = []
    everything: list[Session] = []
    failures: list[str] = []
    for server in servers:
        try:
            sessions = sessions_of(server)
        except Unreachable as e:
            failures.append(f"{server.url}: {e}")
            continue
        everything += sessions
        for session in sessions:
            if session.abspath is not None and session.abspath == want_abs:
                near.append(session)
            elif want_rel is not None and posixpath.normpath(session.path) == want_rel:
                by_root.append(session)
    if len(failures) == len(servers):
        raise NoServer(f"no Jupyter server answered ({'; '.join(failures)}); start JupyterLab{pick}")
    found = _unique(near or by_root)
    name = os.fspath(notebook)
    if not found:
        raise NotOpen(_not_open_message(name, servers, everything, failures), notebook=name,
                      open=[s.path for s in everything])
    if len(found) > 1:
        listed = "; ".join(f"{s.path} on {s.server.url}" + (f" (root {s.server.root_dir})" if s.server.root_dir else "")
                           for s in found)
        choose = "pass server='<one of those URLs>' to choose, or " if arguments else ""
        raise Ambiguous(f"{name} is open in {len(found)} places: {listed}; {choose}close the notebook in the others",
                        notebook=name,
                        candidates=[(s.server.url, s.path) for s in found])
    return found[0]


def kernel_state(session: Session, timeout: float = 5.0) -> str:
    """The kernel's execution state as its server last saw it ('' if the server does not say)."""
    try:
        info = session.server.api(f"api/kernels/{urllib.parse.quote(session.kernel_id)}", timeout=timeout)
    except Unreachable as e:
        if str(e).startswith("HTTP 404"):
            raise KernelDied(f"the kernel of {session.describe()} is gone (shut down or culled); "
                             "open the notebook again and run its cells") from None
        raise KernelDied(f"{session.server.url} stopped answering ({e}) while reaching the kernel of {session.path}") from None
    return str((info or {}).get("execution_state", ""))


def connection_file(session: Session) -> Path:
    """The kernel's connection file, in its server's runtime folder (this user's only)."""
    folders = [Path(session.server.runtime_dir)] if session.server.runtime_dir else []
    folders.append(runtime_dir())
    name = f"kernel-{session.kernel_id}.json"
    for folder in folders:
        path = folder / name
        try:
            if path.stat().st_uid == os.getuid():
                return path
        except OSError:
            continue
    raise KernelDied(f"cannot reach the kernel of {session.describe()}: no {name} in {folders[0]} "
                     "(the kernel is gone, or its server runs on another machine or as another user)")


def _not_open_message(name: str, servers: list[Server], sessions: list[Session], failures: list[str]) -> str:
    asked = ", ".join(s.url for s in servers)
    if sessions:
        paths = sorted({s.path for s in sessions})
        shown = ", ".join(paths[:10]) + (f" and {len(paths) - 10} more" if len(paths) > 10 else "")
        opened = f"open notebooks: {shown}"
    else:
        opened = "no notebook is open there"
    extra = f"; did not answer: {'; '.join(failures)}" if failures else ""
    return (f"{name} is not open in any running Jupyter server (asked {asked}); {opened}{extra}. "
            "Open it and run its cells, or give its path relative to this notebook's folder, "
            "to the server's root, or absolute")


def _unique(sessions: list[Session]) -> list[Session]:
    seen: dict[tuple[str, str], Session] = {}
    for session in sessions:
        seen.setdefault((session.server.url, session.kernel_id), session)
    return list(seen.values())


def _resolve(path: Path) -> Path:
    try:
        return path.resolve()
    except OSError:
        return Path(os.path.abspath(path))


def _normal_url(url: str) -> str:
    return url if url.endswith("/") else url + "/"


def _same_server(a: str, b: str) -> bool:
    pa, pb = urllib.parse.urlsplit(a), urllib.parse.urlsplit(b)
    host = lambda p: "local" if (p.hostname or "") in _LOCAL_HOSTS else p.hostname  # noqa: E731
    return (pa.scheme, host(pa), pa.port, pa.path.rstrip("/")) == (pb.scheme, host(pb), pb.port, pb.path.rstrip("/"))


def _safe(url: str) -> str:
    """``url`` without its query string (which may hold a token)."""
    return url.split("?", 1)[0]
