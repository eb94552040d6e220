"""Optional dependencies, imported on demand, and the one ``pip install`` line that adds them.

On the package index the name ``nbgraph`` belongs to an unrelated project, so this one is
distributed as :data:`DISTRIBUTION` (the import package and the command stay ``nbgraph``).
A hint must work where the user is: running from a checkout, ``pip install -e`` of that
checkout; else the distribution's name on the index.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from .errors import MissingExtra

#: the distribution's name on the package index (``pip install nbgraph-inherit``)
DISTRIBUTION = "nbgraph-inherit"


def install_hint(extra: str) -> str:
    """The command that installs ``extra`` into this installation of nbgraph."""
    checkout = _editable_checkout()
    if checkout is not None:
        return f"pip install -e '{checkout}[{extra}]'"
    return f"pip install '{DISTRIBUTION}[{extra}]'"


def _editable_checkout() -> str | None:
    """The source tree this package runs from (an editable install or a plain checkout), or None.

    Asked of the files rather than of pip's metadata: a checkout's own ``*.egg-info`` comes
    first on ``sys.path`` when Python runs in it, and it does not say "editable".
    """
    tree = Path(__file__).resolve().parents[1]
    try:
        project = (tree / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return None
    return str(tree) if f'name = "{DISTRIBUTION}"' in project else None


def require(module: str, extra: str, what: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtra` saying which extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingExtra(f"{what} needs the '{module.split('.')[0]}' package ({e}); "
                           f"install it with: {install_hint(extra)}", module=module, extra=extra) from None
