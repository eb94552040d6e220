"""What crosses to wherever a variant runs, and what comes back: plain picklable data.

Kept apart from :mod:`nbgraph.kernels.run` (which drives papermill) so that the executors,
the scheduler and :mod:`nbgraph.kernels.remote` share these types without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
    #: the variant's key: with ``variant`` and ``run_id``, the binding signed into its snapshot
    key: str | None = None
    exclude: tuple[str, ...] = ()
    strict: bool = False
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
