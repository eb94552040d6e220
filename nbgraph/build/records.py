"""Where a variant's outputs live in the build folder, and its run record.

The record (``record.json``, written atomically last) is the commit point of a variant:
an executed notebook or snapshot that no record points to is treated as never written.
A record names its snapshot by path and by :attr:`Record.binding` (variant, key, run),
which the snapshot's signed manifest must repeat: a snapshot copied in from elsewhere is
not this record's.

Several specs may share one build folder (two YAML files beside one ``build/``), so each
record names the spec that wrote it (``spec``: its path relative to the build folder, or
for a URL build location to the spec's own folder, so moving the project keeps it).  A
spec's layout reads only its own records; a record counts as its own when it carries no
spec (written before nbgraph stamped them) or names a spec file that no longer exists
(the spec was renamed or moved), so nothing built is lost to a rename.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from ..fsutil import atomic_write_json, read_json
from ..graph import Variant
from ..nbfile import executed_name
from ..snapshot.manifest import binding
from ..states import Failure, Status
from .store import RECORD

if TYPE_CHECKING:
    from ..spec import Spec

SUCCEEDED = Status.SUCCEEDED
FAILED = Status.FAILED
SKIPPED = Status.SKIPPED
PENDING = Status.PENDING


@dataclass
class Record:
    """What happened to one variant the last time it ran (or was skipped)."""

    name: str
    node: str
    status: Status = PENDING
    key: str | None = None
    key_parts: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    output: str | None = None
    snapshot: str | None = None
    error: str | None = None
    started: float | None = None
    finished: float | None = None
    duration: float | None = None
    skipped: list[dict[str, str]] = field(default_factory=list)
    collisions: list[str] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)
    #: how many times it was executed in its last run (more than 1 with ``retries``)
    attempts: int = 1
    #: values recorded with ``nbgraph.record`` in the executed notebook
    results: dict[str, Any] = field(default_factory=dict)
    #: attach: true nodes: the live kernel the snapshot came from (server, kernel, notebook, ...)
    attached: dict[str, Any] | None = None
    #: the run that made its snapshot (named with ``name`` and ``key`` in the snapshot's signed binding)
    run: str | None = None
    #: the spec file that wrote it, as :meth:`BuildLayout.for_spec` names it (None: before stamps)
    spec: str | None = None
    #: what the notebook used besides its code: local modules, files, packages, declared inputs
    #: (see ``nbgraph.deps``); a change to any of them makes the variant stale
    uses: dict[str, Any] = field(default_factory=dict)
    #: why it failed or was skipped, field by field (:class:`nbgraph.states.Failure`); ``error`` is its line
    failure: dict[str, Any] | None = None
    #: variables its kernel rebuilt from the parents' statements: name, type, source, notebook, variant, cell
    rebuilt: list[dict[str, Any]] = field(default_factory=list)
    #: variables its parents passed down neither copied nor rebuilt: name, type, source, reason
    not_inherited: list[dict[str, Any]] = field(default_factory=list)
    #: seconds its kernel spent rebuilding (None: it inherits nothing)
    rebuild_seconds: float | None = None
    #: seconds of each phase of its last run: ``zygote`` (waiting for the zygote its kernel forks
    #: from), ``prepare``, ``kernel`` (start, shutdown, messages: the execution less its cells),
    #: ``own_cells``, ``injected_cells`` (nbgraph's and the parameters'), ``write``, ``seal``
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def why_not(self) -> Failure | None:
        """Why it did not succeed (a record from before failures had fields: read from its line)."""
        if self.status not in (FAILED, SKIPPED):
            return None
        found = Failure.from_json(self.failure)
        if found is None and self.error:
            found = Failure.from_line(self.error, node=self.node, variant=self.name)
        return found

    @property
    def binding(self) -> dict[str, Any]:
        """What the signed manifest of this record's snapshot must say it was made for."""
        return binding(self.name, self.key, self.run)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Record":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        try:
            known["status"] = Status(known.get("status", PENDING))
        except ValueError:
            raise TypeError(f"unknown status {known.get('status')!r}") from None
        return cls(**known)


def objects_dir(build_dir: Path) -> Path:
    from ..names import STORE_DIR
    from ..snapshot.chunks import OBJECTS

    return Path(build_dir) / STORE_DIR / OBJECTS


class BuildLayout:
    """Paths under ``build_dir``: ``<node>/<grid values>/`` per variant.

    Made :meth:`for_spec`, it reads and writes that spec's records only (see the module's
    docstring); made from a bare folder, every record is its own.
    """

    def __init__(self, build_dir: Path, *, spec_file: Path | None = None, anchor: Path | None = None) -> None:
        self.root = Path(build_dir)
        self._anchor = Path(anchor) if anchor is not None else self.root
        self.spec_file = Path(spec_file).resolve() if spec_file is not None else None
        self.owner = Path(os.path.relpath(self.spec_file, self._anchor)).as_posix() if self.spec_file else None
        self._owned: dict[str, bool] = {}

    @classmethod
    def for_spec(cls, spec: "Spec") -> "BuildLayout":
        return cls(spec.build_dir, spec_file=spec.file, anchor=spec.root if spec.build_url else spec.build_dir)

    def writer_of(self, stamp: str) -> Path:
        """The spec file a record's ``spec`` names."""
        return (self._anchor / stamp).resolve()

    def owns(self, stamp: Any) -> bool:
        """Whether a record stamped ``stamp`` is this spec's: its own, unstamped, or an orphan's."""
        if self.owner is None or not isinstance(stamp, str) or stamp == self.owner:
            return True
        if stamp not in self._owned:
            writer = self.writer_of(stamp)
            self._owned[stamp] = writer == self.spec_file or not writer.is_file()
        return self._owned[stamp]

    def foreign(self, nodes: Iterable[str]) -> tuple[Path, Path] | None:
        """A variant folder of one of ``nodes`` that another (existing) spec's run wrote, and that spec."""
        for node in nodes:
            for folder, data in variant_records(self.root / node):
                if not self.owns(data.get("spec")):
                    return folder, self.writer_of(data["spec"])
        return None

    def variant_dir(self, variant: Variant) -> Path:
        return self.root / variant.node / variant.slug

    def record_path(self, variant: Variant) -> Path:
        return self.variant_dir(variant) / RECORD

    def output_path(self, variant: Variant, notebook: Path) -> Path:
        """The executed notebook: an ``.ipynb`` named after the source (``train.py`` -> ``train.ipynb``)."""
        return self.variant_dir(variant) / executed_name(notebook)

    def log_path(self, variant: Variant, notebook: Path) -> Path:
        """The live log of the variant's cell output, beside its executed notebook."""
        return self.variant_dir(variant) / f"{notebook.stem}.log"

    def snapshot_dir(self, variant: Variant, key: str) -> Path:
        return self.variant_dir(variant) / f"snapshot-{key[:16]}"

    @property
    def objects_dir(self) -> Path:
        """The chunk store every snapshot of this build location shares (see ``snapshot.chunks``)."""
        return objects_dir(self.root)

    def read_record(self, variant: Variant) -> Record | None:
        """The variant's record, if this spec wrote it (another spec's variant of that name is not it)."""
        data = read_json(self.record_path(variant))
        if not isinstance(data, dict) or data.get("name") != variant.name or not self.owns(data.get("spec")):
            return None
        try:
            return Record.from_json(data)
        except TypeError:
            return None

    def write_record(self, variant: Variant, record: Record) -> None:
        """Write it atomically (the variant's commit point), stamped with this layout's spec."""
        if self.owner is not None:
            record.spec = self.owner
        atomic_write_json(self.record_path(variant), record.to_json())


def variant_records(node_dir: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """The variant folders of a node folder (real folders holding a record of that node) and their records."""
    if node_dir.is_symlink() or not node_dir.is_dir():
        return
    for folder in sorted(node_dir.iterdir()):
        if folder.is_symlink() or not folder.is_dir():
            continue
        data = read_json(folder / RECORD)
        if isinstance(data, dict) and data.get("node") == node_dir.name and isinstance(data.get("name"), str):
            yield folder, data
