"""Where a variant's outputs live in the build folder, and its run record.

The record (``record.json``, written atomically last) is the commit point of a variant:
an executed notebook or snapshot that no record points to is treated as never written.
A record names its snapshot by path and by :attr:`Record.binding` (variant, key, run),
which the snapshot's signed manifest must repeat: a snapshot copied in from elsewhere is
not this record's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .fsutil import atomic_write_json, read_json
from .graph import Variant
from .snapshot.manifest import binding
from .store import RECORD

SUCCEEDED = "succeeded"
FAILED = "failed"
SKIPPED = "skipped"
PENDING = "pending"


@dataclass
class Record:
    """What happened to one variant the last time it ran (or was skipped)."""

    name: str
    node: str
    status: str = PENDING
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

    @property
    def binding(self) -> dict[str, Any]:
        """What the signed manifest of this record's snapshot must say it was made for."""
        return binding(self.name, self.key, self.run)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Record":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


class BuildLayout:
    """Paths under ``build_dir``: ``<node>/<grid values>/`` per variant."""

    def __init__(self, build_dir: Path) -> None:
        self.root = Path(build_dir)

    def variant_dir(self, variant: Variant) -> Path:
        return self.root / variant.node / variant.slug

    def record_path(self, variant: Variant) -> Path:
        return self.variant_dir(variant) / RECORD

    def output_path(self, variant: Variant, notebook: Path) -> Path:
        return self.variant_dir(variant) / notebook.name

    def log_path(self, variant: Variant, notebook: Path) -> Path:
        """The live log of the variant's cell output, beside its executed notebook."""
        return self.variant_dir(variant) / f"{notebook.stem}.log"

    def snapshot_dir(self, variant: Variant, key: str) -> Path:
        return self.variant_dir(variant) / f"snapshot-{key[:16]}"

    def read_record(self, variant: Variant) -> Record | None:
        data = read_json(self.record_path(variant))
        if not isinstance(data, dict) or data.get("name") != variant.name:
            return None
        try:
            return Record.from_json(data)
        except TypeError:
            return None

    def write_record(self, variant: Variant, record: Record) -> None:
        atomic_write_json(self.record_path(variant), record.to_json())
