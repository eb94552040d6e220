"""Optional dependencies (``nbgraph[dask]``, ``nbgraph[s3]``): imported on demand, with an install hint."""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingExtra


def require(module: str, extra: str, what: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtra` saying which extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingExtra(f"{what} needs the '{module.split('.')[0]}' package ({e}); "
                           f"install it with: pip install 'nbgraph[{extra}]'", module=module, extra=extra) from None
