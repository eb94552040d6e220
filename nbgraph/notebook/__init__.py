"""What runs INSIDE a kernel: the code a notebook (or nbgraph's injected cells) imports.

* ``inject``: the injected cells of a graph run load the parents' snapshots and save this
  kernel's state (also preloaded by a fork-server zygote);
* ``record``: ``nbgraph.record(name, value)``, a notebook's result;
* ``uses``: records what the notebook's own cells used (local modules, files, packages);
* ``history``: records, per cell, the code and the names it bound (kept, signed, in the snapshot);
* ``rebuild``: rebuilds in the child what a snapshot could not copy, replaying the statements
  that ``slicer`` plans (over ``statements``, the code's bindings and reads) and ``safety`` allows;
* ``inherit``: ``inherit_from``, a notebook started in JupyterLab from a live kernel's state
  or from the state a graph variant started from (``replay``, which reads the graph's build);
* ``provenance``: what ``inherit_from`` returns, what arrived from where, and the one rule
  for names several parents set;
* ``live_dump``: what a live parent kernel runs when another notebook inherits from it;
* ``fdstream``: the ipykernel stream that shows fd output in the notebook once.

A kernel pays for every import here, so these modules import little at module level
(no papermill, nbclient, networkx, jupyter_server, yaml, click or rich; the tests pin it)
and load the snapshot code only when called.  Only ``replay`` needs the graph layers, and
it is imported only when ``inherit_from`` is given a spec.  nbgraph's own process names
these modules in the code it writes into kernels (``kernels.run``, ``live.kernel``,
``kernels.fork``, ``kernels.engine``).
"""

#: set in the environment of the kernels ``nbgraph run`` starts, so that ``inherit_from``
#: in a node without parents refuses to reach for a live kernel
UNDER_RUN_ENV = "NBGRAPH_RUN"
