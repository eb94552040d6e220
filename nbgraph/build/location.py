"""Which store serves a build location: a folder (or ``file://`` URL) is local, any other URL remote."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from .remote import FsspecStore
from .store import LocalStore, Store, is_url


def open_store(location: str | Path, storage_options: Mapping[str, Any] | None = None,
               root: Path | None = None) -> Store:
    """The store for a build location: a folder path or a ``file://`` URL -> local, else fsspec."""
    text = str(location)
    if not is_url(text):
        return LocalStore(Path(text.removeprefix("file://")) if root is None else root)
    return FsspecStore(text, storage_options, root)
