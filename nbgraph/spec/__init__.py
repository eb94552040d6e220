"""inheritance.yaml -> frozen dataclasses, validated before anything runs.

Every problem becomes a :class:`~nbgraph.errors.SpecError` whose one line names the file,
the line, the node and the field, and says what is expected.  Paths resolve against the
YAML file's folder, never the current directory.

* :mod:`.load`: YAML text -> plain data, and the line of each key;
* :mod:`.fields`: the keys as a table (what each holds, its check, what it becomes);
* :mod:`.checks`: checks of single values, shared with the command line;
* :mod:`.validate`: the tables over the top level and each node, then the whole graph's checks;
* :mod:`.model`: :class:`Spec` and :class:`NodeSpec`, what the rest of nbgraph reads.
"""

from __future__ import annotations

from pathlib import Path

from .checks import NAME_RE, PARAM_RE
from .fields import NODE_KEYS, TOP_KEYS
from .load import read_spec_file
from .model import NodeSpec, Spec
from .validate import validate

__all__ = ["DEFAULT_SPEC", "NAME_RE", "NODE_KEYS", "PARAM_RE", "TOP_KEYS", "NodeSpec", "Spec", "load_spec"]

DEFAULT_SPEC = "inheritance.yaml"


def load_spec(path: str | Path = DEFAULT_SPEC) -> Spec:
    """Read and validate a spec; raises :class:`~nbgraph.errors.SpecError` with a single actionable line."""
    file = Path(path).expanduser().resolve()
    if file.is_dir():
        file = file / DEFAULT_SPEC
    data, key_lines = read_spec_file(file)
    return validate(file, data, key_lines)
