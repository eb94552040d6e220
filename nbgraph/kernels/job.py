"""What crosses to wherever a variant runs, and what comes back: plain picklable data.

Kept apart from :mod:`nbgraph.kernels.run` (which drives papermill) so that the executors,
the scheduler and :mod:`nbgraph.kernels.remote` share these types without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..states import Failure


@dataclass(frozen=True)
class Job:
    """Everything one variant's run needs; plain data, so it can cross process boundaries."""

    variant: str
    node: str
    notebook: str
    output: str
    cwd: str
    params: dict[str, Any] = field(default_factory=dict)
    kernel: str | None = None
    timeout: float | None = None
    inherit: tuple[tuple[str, str], ...] = ()
    #: per ``inherit`` parent, the binding its record names (see snapshot.manifest); () loads any signed one
    expect: tuple[dict[str, Any], ...] = ()
    snapshot: str | None = None
    #: the build location's chunk store, which ``snapshot`` writes its buffers into
    objects: str | None = None
    #: the variant's key: with ``variant`` and ``run_id``, the binding signed into its snapshot
    key: str | None = None
    exclude: tuple[str, ...] = ()
    strict: bool = False
    #: replay the parents' statements for what their snapshots could not copy (``rebuild: false`` turns it off)
    rebuild: bool = True
    #: the runner verified every byte of the ``inherit`` snapshots in this run (see snapshot.manifest)
    verified: bool = False
    #: kernels are registered under this id, so a cancelled run can kill exactly its own
    run_id: str = "local"
    #: the build location when it is not a local folder (an fsspec URL); paths above are then URLs
    store: str | None = None
    storage_options: dict[str, Any] = field(default_factory=dict)
    #: 1 for the first run of the variant; more with ``retries`` (the log then keeps earlier attempts)
    attempt: int = 1
    #: the node's ``retries``: a failed attempt up to ``retries`` is followed by another one
    retries: int = 0
    #: fork-server socket of a zygote holding the parents' state (see ``kernels.fork``); None: fresh kernel
    fork_from: str | None = None
    #: what the run tells its kernels, added to their environment (see :func:`run_env`); the run's
    #: key file is also the one nbgraph's side of the job seals with.  Never set in ``os.environ``.
    env: Mapping[str, str] = field(default_factory=dict)
    #: the spec's folder: what the notebook used is recorded relative to it (see ``nbgraph.deps``)
    root: str | None = None
    #: the node's declared ``inputs`` (paths or globs relative to ``root``), hashed after the run
    inputs: tuple[str, ...] = ()

    @property
    def build_folder(self) -> Path:
        """The local build folder the job writes in (``output`` is ``<build>/<node>/<variant>/<notebook>``)."""
        return Path(self.output).parents[2]

    def parents_to_load(self) -> list[list[Any]]:
        """``[parent, snapshot, binding]`` per parent (binding left out if unknown), as the kernel loads them."""
        return [[name, path, *self.expect[i:i + 1]] for i, (name, path) in enumerate(self.inherit)]


@dataclass
class Outcome:
    """How a job ended: ``error`` is the one line shown in the run summary."""

    variant: str
    ok: bool
    output: str | None
    snapshot: str | None = None
    error: str | None = None
    duration: float = 0.0
    skipped: list[dict[str, str]] = field(default_factory=list)
    #: values the notebook recorded with ``nbgraph.record`` (also in ``results.json`` beside it)
    results: dict[str, Any] = field(default_factory=dict)
    #: what the notebook used, hashed (the record's ``uses``, see ``nbgraph.deps.collect``)
    uses: dict[str, Any] = field(default_factory=dict)
    #: why it failed, field by field (``error`` is its line); None for an executor's own error
    failure: Failure | None = None
    #: what the kernel rebuilt from its parents' statements (name, type, source, notebook, variant, cell...)
    rebuilt: list[dict[str, Any]] = field(default_factory=list)
    #: what arrived neither copied nor rebuilt (name, type, source, reason)
    not_inherited: list[dict[str, Any]] = field(default_factory=list)
    #: seconds the rebuild took in the kernel (None: nothing was inherited)
    rebuild_seconds: float | None = None
    #: seconds per phase of the run (the record's ``timings``, see ``kernels.run.cell_seconds``)
    timings: dict[str, float] = field(default_factory=dict)


def run_env(key_file: Path | None) -> dict[str, str]:
    """The environment a run adds for its kernels (and zygotes): that they run under ``nbgraph
    run`` (so ``inherit_from`` in a node without parents refuses to reach for a live kernel), and
    the run's key file when the user named one (absolute), else they find the default key."""
    from ..snapshot.sign import KEY_ENV
    from . import UNDER_RUN_ENV

    env = {UNDER_RUN_ENV: "1"}
    if key_file is not None:
        env[KEY_ENV] = str(key_file)
    return env
