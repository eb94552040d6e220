"""A validated spec as the rest of nbgraph sees it: frozen, paths already resolved."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

#: one mapping of a grid: parameter -> its values, in the order written
GridBlock = tuple[tuple[str, tuple[Any, ...]], ...]


@dataclass(frozen=True)
class NodeSpec:
    """One notebook of the graph, as declared."""

    name: str
    path: Path
    parents: tuple[str, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    #: a mapping grid (``grid: {k: [...]}``): its product gives the variants
    grid: GridBlock = ()
    #: a list grid (``grid: [{...}, {...}]``): the union of its mappings' products; None for a mapping grid
    grid_list: tuple[GridBlock, ...] | None = None
    kernel: str | None = None
    timeout: float | None = None
    exclude: tuple[str, ...] = ()
    attach: bool = False
    snapshot: bool = True
    strict: bool = False
    #: rebuild what the parents' snapshots could not copy from their own statements
    rebuild: bool = True
    line: int | None = None
    retries: int = 0
    #: declared inputs (paths or globs relative to the spec's folder), as written
    inputs: tuple[str, ...] = ()

    @property
    def grid_blocks(self) -> tuple[GridBlock, ...]:
        """The mappings whose products, united, give the variants (a mapping grid is one)."""
        return self.grid_list if self.grid_list is not None else (self.grid,)

    @property
    def grid_keys(self) -> tuple[str, ...]:
        """Every grid parameter, in the order first written."""
        return tuple(dict.fromkeys(k for block in self.grid_blocks for k, _ in block))


@dataclass(frozen=True)
class Spec:
    """A whole validated inheritance.yaml."""

    file: Path
    nodes: Mapping[str, NodeSpec]
    build_dir: Path
    kernel: str | None = None
    timeout: float | None = None
    fork: bool = True
    #: the build location as written when it is a URL; ``build_dir`` is then its local mirror
    build_url: str | None = None
    storage_options: Mapping[str, Any] = field(default_factory=dict)
    executor: str | None = None
    scheduler: str | None = None
    #: declared inputs of every node, as written
    inputs: tuple[str, ...] = ()
    track_packages: bool = True

    @property
    def build_location(self) -> str:
        """What records and jobs refer to: the URL of a remote build location, else the folder."""
        return self.build_url or str(self.build_dir)

    @property
    def root(self) -> Path:
        return self.file.parent

    def node_kernel(self, node: NodeSpec) -> str | None:
        return node.kernel or self.kernel

    def node_timeout(self, node: NodeSpec) -> float | None:
        return node.timeout if node.timeout is not None else self.timeout

    def node_inputs(self, node: NodeSpec) -> tuple[str, ...]:
        """The top-level ``inputs`` then the node's own, each once."""
        return tuple(dict.fromkeys(self.inputs + node.inputs))

    def no_such_node(self, name: str, option: str) -> str:
        """The one line for a node named on the command line (``--only``, ``--node``...) that this spec lacks."""
        return f"{option} {name}: no such node in {self.file.name}; known nodes: {', '.join(self.nodes)}"
