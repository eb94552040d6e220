"""Zygotes started before anyone asks for one, so that their imports overlap other work.

A zygote spends about a second importing ipykernel, IPython and numpy before it can fork.
``nbgraph run`` starts one as soon as it has read the spec, while it still imports, plans
and looks up kernels; a run's fork manager starts the next group's while the current group
loads.  Whoever needs a zygote for the same interpreter and environments takes the waiting
one (:func:`take`); one nobody took is killed when this process exits (it would die with it
anyway, but its socket folder would stay).
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import Mapping

from .handle import Zygote

_lock = threading.Lock()
_waiting: dict[tuple, list[Zygote]] = {}


def _key(python: str, env: tuple[tuple[str, str], ...], run_env: Mapping[str, str] | None) -> tuple:
    """A zygote's environment is this process's at its start, plus these: all must still match."""
    return python, tuple(env), tuple(sorted((run_env or {}).items())), tuple(sorted(os.environ.items()))


def start(python: str = sys.executable, env: tuple[tuple[str, str], ...] = (),
          run_env: Mapping[str, str] | None = None) -> Zygote | None:
    """Start a zygote importing for this interpreter, kernel-spec ``env`` and run environment,
    unless one is already waiting; never raises (a zygote that cannot start is said when needed).

    Returns the zygote started (None: none was).  It dies with the thread that called this
    (``procs.die_with``): a caller whose thread ends first must :func:`withdraw` it."""
    key = _key(python, env, run_env)
    with _lock:
        if any(z.alive() for z in _waiting.get(key, ())):
            return None
    try:
        zygote = Zygote(python, env, run_env)
    except OSError:
        return None
    with _lock:
        _waiting.setdefault(key, []).append(zygote)
    return zygote


def withdraw(zygote: Zygote) -> None:
    """End ``zygote`` if it is still waiting (nobody took it)."""
    with _lock:
        queue = next((q for q in _waiting.values() if zygote in q), None)
        if queue is None:
            return
        queue.remove(zygote)
    zygote.kill()


def take(python: str, env: tuple[tuple[str, str], ...] = (), run_env: Mapping[str, str] | None = None) -> Zygote:
    """A waiting zygote for these, else a new one (which raises ``OSError`` if it cannot start)."""
    with _lock:
        queue = _waiting.get(_key(python, env, run_env), [])
        while queue:
            zygote = queue.pop(0)
            if zygote.alive():
                return zygote
            zygote.kill()
    return Zygote(python, env, run_env)


def close_all() -> None:
    """End every zygote still waiting (at exit, or when a caller knows none will be needed): they
    hold no kernel and no state, so they are killed rather than asked (one may still be importing)."""
    with _lock:
        waiting = [z for queue in _waiting.values() for z in queue]
        _waiting.clear()
    for zygote in waiting:
        zygote.kill()


atexit.register(close_all)
