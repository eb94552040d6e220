"""Driving kernels: ``run`` executes a variant with papermill; ``inject`` is the code
that runs *inside* the kernel (it must stay light: no papermill, no networkx)."""

#: set in the environment of the kernels ``nbgraph run`` starts (``Job.env``), so that
#: ``inherit_from`` in a node without parents refuses to reach for a live kernel
UNDER_RUN_ENV = "NBGRAPH_RUN"
