"""Snapshots of kernel state: what a child inherits from its parent.

``format`` is the API (write, read, verify); it writes with ``pickler`` (C speed,
notebook-defined code bound to the loader's namespace), ``buffers`` (large buffers raw,
mapped copy-on-write) and ``skips`` (kinds never pickled); ``loader`` reads;
``manifest`` and ``sign`` make sure only what nbgraph wrote is ever unpickled
(unpickling runs code).
"""
