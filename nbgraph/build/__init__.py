"""The build location: where a run's outputs live, and the one routine that commits them.

* ``commit``  -- :class:`~.commit.Build`: a ready variant becomes its job, a finished one its
  record (the commit point); attached nodes commit through the same routine.
* ``records`` -- the layout of a build folder (a variant's folder, executed notebook, log,
  snapshot, the chunk store) and each variant's record.
* ``store``   -- the location's files: a local folder, or (``remote``) any fsspec URL
  mirrored on each machine; snapshots travel with only the chunks the other side lacks.
  ``location.open_store`` picks one for a location.
* ``lock``    -- one run at a time per build location.
* ``clean``   -- what the graph no longer produces, and the chunks no snapshot references.

The chunks themselves (naming, mapping, checks, sweeping) are the snapshot format's:
:mod:`nbgraph.snapshot.chunks`, ``.checked`` and ``.gc``.  Nothing is imported here, so
that the kernel side and the records can import :mod:`.store` without the whole build.
"""
