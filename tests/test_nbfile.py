"""The one notebook reader: what it returns, when it reads again, and what it says of a bad file."""

import json
import os

import nbformat
import pytest

from nbgraph import nbfile
from nbgraph.errors import SpecError
from nbgraph.nbfile import read_notebook
from nbgraph.spec import load_spec


def _write(path, cells, kernel="python3"):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": kernel, "language": "python"}
    nb.cells = cells
    nbformat.write(nb, path)
    return path


def _tagged(cell, *tags):
    cell.metadata["tags"] = list(tags)
    return cell


def test_it_reads_code_kernel_and_the_parameters_cell(tmp_path):
    path = _write(tmp_path / "n.ipynb", [
        nbformat.v4.new_markdown_cell("# title"),
        _tagged(nbformat.v4.new_code_cell("a = 1"), "parameters"),
        _tagged(nbformat.v4.new_code_cell("a = 2"), "injected-parameters"),  # papermill's, not the notebook's code
        nbformat.v4.new_code_cell("print(a)"),
    ], kernel="julia-1.9")
    notebook = read_notebook(path)
    assert notebook.problem is None and notebook.complaint is None
    assert notebook.code == ("a = 1", "print(a)")
    assert notebook.kernel == "julia-1.9" and notebook.kernelspec["display_name"] == "julia-1.9"
    assert notebook.has_parameters_cell
    plain = read_notebook(_write(tmp_path / "p.ipynb", [nbformat.v4.new_code_cell("x = 1")]))
    assert not plain.has_parameters_cell


def test_sources_as_lists_of_lines_and_missing_metadata(tmp_path):
    path = tmp_path / "hand.ipynb"
    path.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 2, "metadata": {},
                                "cells": [{"cell_type": "code", "source": ["a = 1\n", "b = 2"]}, "not a cell"]}))
    notebook = read_notebook(path)
    assert notebook.code == ("a = 1\nb = 2",) and notebook.kernel is None and notebook.kernelspec is None


def test_parsed_once_while_unchanged_and_again_once_changed(tmp_path, monkeypatch):
    path = _write(tmp_path / "n.ipynb", [nbformat.v4.new_code_cell("x = 1")])
    first = read_notebook(path)
    parsed = []
    monkeypatch.setattr(nbfile, "_document", lambda p: parsed.append(p) or json.loads(p.read_text()))
    assert read_notebook(path) is first and read_notebook(str(path)) is first and not parsed
    stat = path.stat()
    _write(path, [nbformat.v4.new_code_cell("x = 22")])
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same mtime: the size still tells
    assert read_notebook(path).code == ("x = 22",) and len(parsed) == 1


def test_a_bad_file_is_a_value_and_is_read_again(tmp_path):
    path = tmp_path / "n.ipynb"
    path.write_text("{")
    broken = read_notebook(path)
    assert broken.problem.startswith("JSONDecodeError: Expecting property name enclosed in double quotes")
    assert broken.code == () and broken.kernel is None
    _write(path, [nbformat.v4.new_code_cell("x = 1")])
    assert read_notebook(path).problem is None
    assert read_notebook(tmp_path / "missing.ipynb").problem.startswith("FileNotFoundError: [Errno 2] ")


@pytest.mark.parametrize("data,problem", [
    (b"{", "JSONDecodeError: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
    (b"", "JSONDecodeError: Expecting value: line 1 column 1 (char 0)"),
    (b"[1, 2]", "no 'cells'/'nbformat'"),
    (b'{"nbformat": 4}', "no 'cells'/'nbformat'"),
    (b'{"cells": {}, "nbformat": 4}', "no 'cells'/'nbformat'"),
    (b"\xff\xfe{}", "UnicodeDecodeError: 'utf-8' codec can't decode byte 0xff in position 0: invalid start byte"),
    ("\ufeff{}".encode(), "JSONDecodeError: Unexpected UTF-8 BOM (decode using utf-8-sig): line 1 column 1 (char 0)"),
])
def test_spec_validation_says_what_it_always_said(tmp_path, data, problem):
    (tmp_path / "bad.ipynb").write_bytes(data)
    spec = tmp_path / "inheritance.yaml"
    spec.write_text("notebooks:\n  a: {path: bad.ipynb}\n")
    with pytest.raises(SpecError) as err:
        load_spec(spec)
    assert str(err.value) == (f"{spec}:2: node 'a', field 'path': 'bad.ipynb' is not a valid notebook ({problem}); "
                              "open and save it in Jupyter")


def test_a_notebook_broken_after_the_spec_was_loaded_is_bad_input(tmp_path):
    from nbgraph.plan import make_plan

    path = _write(tmp_path / "a.ipynb", [nbformat.v4.new_code_cell("x = 1")])
    spec = tmp_path / "inheritance.yaml"
    spec.write_text("notebooks:\n  a: {path: a.ipynb}\n")
    loaded = load_spec(spec)
    path.write_text("[]")
    with pytest.raises(SpecError, match=r"node 'a', field 'path': 'a.ipynb' is not a valid notebook \(no 'cells'"):
        make_plan(loaded)
