"""One row per variant: last status, outputs, and whether the next run would execute it."""

from __future__ import annotations

from typing import Any

from ..plan import Plan
from ..build.records import PENDING


def uses_row(uses: dict[str, Any]) -> dict[str, Any]:
    """What a variant used, as ``status --json`` shows it (names, versions; no hashes)."""
    return {"modules": sorted(uses.get("modules") or {}), "files": sorted(uses.get("files") or {}),
            "packages": {name: info.get("version") for name, info in (uses.get("packages") or {}).items()},
            "inputs": {pattern: sorted(found) for pattern, found in (uses.get("inputs") or {}).items()}}


def status_rows(plan: Plan) -> list[dict[str, Any]]:
    """The rows of ``nbgraph status --json`` (a contract: keys are only ever added)."""
    rows = []
    for item in plan.items:
        record = item.record
        rows.append({
            "name": item.variant.name,
            "node": item.variant.node,
            "params": dict(item.variant.params),
            "status": record.status if record else PENDING,
            "output": record.output if record and record.output else None,
            "snapshot": record.snapshot if record and record.snapshot else None,
            "error": record.error if record else None,
            "skipped": list(record.skipped) if record else [],
            "stale": item.decision.stale,
            "reason": item.decision.reason,
            "parents": list(item.variant.parents),
            "duration": record.duration if record else None,
            "results": dict(record.results) if record else {},
            "attached": record.attached if record and record.attached else None,
            "uses": uses_row(record.uses if record else {}),
            "notes": list(item.decision.notes),
            "rebuilt": list(record.rebuilt) if record else [],
            "not_inherited": list(record.not_inherited) if record else [],
            "rebuild_seconds": record.rebuild_seconds if record else None,
            "timings": dict(record.timings) if record else {},
        })
    return rows
