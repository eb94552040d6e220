"""What a variant used besides its notebook, and whether any of it changed since its run.

* the kernel records it (:mod:`nbgraph.notebook.uses`);
* :mod:`.collect`: nbgraph's side of the run turns that into the record's ``uses`` (content
  hashes, distribution names and versions, the declared ``inputs:`` matched);
* :mod:`.check`: ``status``, ``run`` and ``--dry-run`` compare a record's ``uses`` with what
  is on disk now and name the first thing that changed;
* :mod:`.hashes`: content hashes, recomputed only for files the filesystem says changed;
* :mod:`.packages`: installed distributions, read from a site folder's metadata;
* :mod:`.paths`: paths as records keep them (relative to the spec's folder inside it), and globs.
"""
