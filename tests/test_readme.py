"""The README is the user's reference: its key tables and command synopsis follow the code."""

import re
from pathlib import Path

import click

from nbgraph.cli import main
from nbgraph.spec import NODE_KEYS, TOP_KEYS

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _table_keys(header: str) -> list[str]:
    table = README.split(f"| {header}", 1)[1].split("\n\n", 1)[0]
    return re.findall(r"^\|\s*`(\w+)`\s*\|", table, flags=re.M)


def test_the_first_two_commands_are_setup_run_and_tests():
    block = README.split("```bash\n", 1)[1].split("```", 1)[0].splitlines()
    assert block == [
        "python3 -m venv .venv && .venv/bin/pip install -e '.[examples]' && .venv/bin/nbgraph run inheritance.yaml",
        "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/python -m pytest",
    ]


def test_yaml_key_tables_list_exactly_the_keys_the_spec_accepts():
    assert sorted(_table_keys("node key")) == sorted(NODE_KEYS)
    assert sorted(_table_keys("top-level key")) == sorted(TOP_KEYS)


def test_command_synopsis_has_every_command_and_option():
    synopsis = README.split("## Commands\n\n```\n", 1)[1].split("```", 1)[0]
    lines: dict[str, str] = {}
    for line in synopsis.splitlines():
        if line.startswith("nbgraph "):
            name = line.split()[1]
            lines[name] = line
        else:  # a command's synopsis continued on an indented line
            lines[name] += " " + line
    assert set(lines) == set(main.commands)
    for name, command in main.commands.items():
        text = lines[name]
        for param in command.params:
            if isinstance(param, click.Option) and param.name != "help":
                assert any(opt in text for opt in param.opts), f"nbgraph {name}: {param.opts} not in the README"


def test_status_json_fields_are_the_ones_listed(project):
    from nbgraph.plan import make_plan
    from nbgraph.report.status import status_rows
    from nbgraph.spec import load_spec

    project.notebook("a.ipynb", "x = 1")
    [row] = status_rows(make_plan(load_spec(project.spec("notebooks: {a: {path: a.ipynb}}"))))
    paragraph = README.split("**`status --json`**", 1)[1].split("\n\n", 1)[0]
    fields = re.sub(r"\([^)]*\)", "", paragraph.split("one object per variant:", 1)[1])  # drop the asides
    assert sorted(re.findall(r"`(\w+)`", fields)) == sorted(row)
