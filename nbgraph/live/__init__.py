"""Live kernels: state copied out of notebooks that are open in a running Jupyter server.

``servers`` finds the server and session of a notebook, ``kernel`` asks that kernel to
dump its state (what runs inside it is :mod:`nbgraph.notebook.live_dump`), ``scratch`` is
where the caller's copies go, and ``attach`` does the same for ``attach: true`` nodes of a
graph run.
"""
