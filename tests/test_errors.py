"""The error tree: drawn in ``nbgraph.errors``' docstring, documented in the README, picklable."""

import importlib
import pickle
import pkgutil
import re
from pathlib import Path

import pytest

import nbgraph
from nbgraph import errors
from nbgraph.errors import NbgraphError, SpecError

README = Path(__file__).resolve().parents[1] / "README.md"
_TREE_LINE = re.compile(r"^(?P<indent>[ │├└─]*?)(?P<name>[A-Z]\w+)\s{2,}(?P<what>.*?)(?:\s+exit (?P<code>\d+))?$")


def _all_modules() -> None:
    """Import every nbgraph module, so a subclass defined anywhere shows up in ``__subclasses__``."""
    for info in pkgutil.walk_packages(nbgraph.__path__, "nbgraph."):
        if info.name != "nbgraph.__main__":
            importlib.import_module(info.name)


def _real_tree() -> dict[str, str | None]:
    """Every NbgraphError subclass -> the name of its parent class."""
    _all_modules()
    tree: dict[str, str | None] = {"NbgraphError": None}
    todo = [NbgraphError]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            tree[sub.__name__] = cls.__name__
            todo.append(sub)
    return tree


def _drawn_tree() -> tuple[dict[str, str | None], dict[str, int]]:
    """The docstring's tree: name -> parent, and the exit codes written beside the names."""
    block = errors.__doc__.split("::", 1)[1].split("\n\n", 2)[1]
    parents: dict[str, str | None] = {}
    codes: dict[str, int] = {}
    stack: list[tuple[int, str]] = []
    for line in block.splitlines():
        match = _TREE_LINE.match(line.strip("\n")[4:])
        assert match, f"cannot read this line of the drawn tree: {line!r}"
        depth = len(match["indent"]) // 4
        name = match["name"]
        stack = stack[:depth]
        parents[name] = stack[-1][1] if stack else None
        stack.append((depth, name))
        if match["code"]:
            codes[name] = int(match["code"])
    return parents, codes


def test_the_drawn_tree_is_the_real_tree():
    assert _drawn_tree()[0] == _real_tree()


def test_every_error_lives_in_nbgraph_errors():
    _all_modules()
    for name in _real_tree():
        assert getattr(errors, name).__module__ == "nbgraph.errors", f"{name} is defined outside nbgraph.errors"


def test_drawn_exit_codes_are_the_classes_exit_codes():
    parents, codes = _drawn_tree()
    for name in parents:
        drawn, ancestor = codes.get(name), name
        while drawn is None:  # a subclass exits as its parent
            ancestor = parents[ancestor]
            drawn = codes.get(ancestor)
        assert getattr(errors, name).exit_code == drawn, name


def _readme_exit_codes() -> dict[int, str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\|\s*(\d+)\s*\|(.*)\|\s*$", section, flags=re.M)
    return {int(code): rest for code, rest in rows}


def test_readme_exit_code_table_matches_the_code():
    table = _readme_exit_codes()
    assert set(table) == {errors.EXIT_OK, errors.EXIT_NOTEBOOK_FAILED, errors.EXIT_BAD_INPUT,
                          errors.EXIT_INTERNAL, errors.EXIT_INTERRUPTED, errors.EXIT_BROKEN_PIPE}
    drawn = re.findall(r"^\* (\d+) ", errors.__doc__, flags=re.M)
    assert [int(c) for c in drawn] == sorted(table)
    from nbgraph import command  # where the CLI maps errors to exit codes

    assert (command.EXIT_INTERNAL, command.EXIT_INTERRUPTED) == (errors.EXIT_INTERNAL, errors.EXIT_INTERRUPTED)


def test_readme_names_every_error_family_in_the_row_of_its_exit_code():
    """A library user reads the table to know what to catch: each family sits in its code's row."""
    table = _readme_exit_codes()
    for cls in [NbgraphError, *NbgraphError.__subclasses__()]:
        rows = [code for code, text in table.items() if re.search(rf"`{cls.__name__}`", text)]
        assert rows == [cls.exit_code], f"{cls.__name__} (exit {cls.exit_code}) is in the README's rows {rows}"


def _every_error() -> list[type[NbgraphError]]:
    _all_modules()
    return [getattr(errors, name) for name in _real_tree()]


@pytest.mark.parametrize("cls", _every_error(), ids=lambda c: c.__name__)
def test_every_error_survives_pickling_with_its_fields(cls):
    err = cls("node 'train': something went wrong; re-run it", node="train", line=3,
              candidates=[("http://127.0.0.1:8888/", "a.ipynb")], result={"failed": ["train[k=1]"]})
    for protocol in (pickle.DEFAULT_PROTOCOL, pickle.HIGHEST_PROTOCOL):
        back = pickle.loads(pickle.dumps(err, protocol=protocol))
        assert type(back) is cls
        assert str(back) == str(err) == back.message
        assert back.args == err.args
        assert back.fields == err.fields
        assert (back.node, back.line, back.candidates, back.result) == (err.node, err.line, err.candidates, err.result)
        assert back.exit_code == cls.exit_code


def test_spec_error_built_with_at_keeps_its_fields_through_cloudpickle():
    """Dask ships errors with cloudpickle: the fields of ``SpecError.at`` come back too."""
    import cloudpickle

    err = SpecError.at("inheritance.yaml", "unknown key 'parnt'; did you mean 'parent'?", line=7, node="train", field="parnt")
    back = cloudpickle.loads(cloudpickle.dumps(err))
    assert str(back) == "inheritance.yaml:7: node 'train', field 'parnt': unknown key 'parnt'; did you mean 'parent'?"
    assert (back.file, back.line, back.node, back.field) == ("inheritance.yaml", 7, "train", "parnt")
