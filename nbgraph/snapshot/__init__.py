"""Snapshots of kernel state: what a child inherits from its parent.

``format`` writes and reads them, ``sign`` makes sure only what nbgraph wrote is ever
unpickled (unpickling runs code).
"""
