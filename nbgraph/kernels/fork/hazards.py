"""Why a zygote's loaded state cannot live in forked processes (then its children start fresh).

Checked right after the load, before the zygote forks anything: threads (a forked child has
only the thread that forked, without whatever locks the others held), native thread pools that
do not survive ``fork()``, and modules whose state is a device or another process.
"""

from __future__ import annotations

import os
import sys
import threading

#: Modules whose state cannot be forked safely once imported (devices, native thread pools).
UNSAFE_MODULES = {
    "jax": "JAX runs its own threads",
    "tensorflow": "TensorFlow runs its own threads",
    "cupy": "CUDA state cannot be forked",
    "pyspark": "a Spark session runs a JVM gateway",
    "ray": "Ray runs its own threads and workers",
}


def thread_count() -> int:
    return len(os.listdir("/proc/self/task"))


def fork_hazards() -> list[str]:
    """Why the loaded state cannot live in a forked process (empty: it can)."""
    hazards = []
    extra = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    if extra:
        hazards.append(f"loading it started threads ({', '.join(extra)})")
    else:
        # BLAS pools (numpy's and scipy's OpenBLAS) stop their threads around fork() and start
        # them again when needed; after a trial fork, any thread left is one that would be
        # missing, with whatever locks it held, in every child.
        _trial_fork()
        if thread_count() > 1:
            hazards.append(f"loading it started {thread_count() - 1} native thread(s) that do not survive fork()")
    for name, why in UNSAFE_MODULES.items():
        if name in sys.modules:
            hazards.append(f"it imports {name} ({why})")
    zmq = sys.modules.get("zmq")
    if zmq is not None and getattr(zmq.Context, "_instance", None) is not None:
        hazards.append("it created a ZeroMQ context (its I/O threads do not survive fork())")
    torch = sys.modules.get("torch")
    if torch is not None and getattr(getattr(torch, "cuda", None), "is_initialized", lambda: False)():
        hazards.append("it holds CUDA tensors (torch.cuda is initialised)")
    return hazards


def _trial_fork() -> None:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
