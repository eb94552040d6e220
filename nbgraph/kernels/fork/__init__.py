"""Fork-server kernels: children start from their parent's state in memory, sharing its pages.

Per parent variant (more exactly: per set of parent snapshots and working folder), nbgraph
keeps a *zygote*: a process with no threads and no ZeroMQ context that has pre-imported
what kernels need and loaded the parents' snapshots with the same ``load_snapshot`` a fresh
kernel uses.  For each child it forks one IPython kernel, which is ready in tens of
milliseconds and shares the parent's pages copy-on-write.

Modules, from the process that runs nbgraph to the forked kernel:

* ``support``      may this job fork at all? (platform, kernel, executor) -> reason or None
* ``manager``      zygote processes: spawn, load, hand out, drain, kill; groups of children
* ``provisioner``  jupyter_client's side: a kernel provisioner that asks a zygote to fork,
                   a kernel manager that selects it, a client that waits for readiness
                   without fixed sleeps (nbgraph's papermill engine uses that manager)
* ``zygote``       the zygote process itself (its main loop)
* ``child``        what a forked process does to become a fresh-looking kernel
"""

from .support import fork_blocker

__all__ = ["fork_blocker"]
