"""The documentation covers the code: every command, every option, every public name.

Fast: nothing here loads a model or builds an index.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

import xenc
from xenc.cli.app import app

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _group() -> Any:
    """The Typer app as a click group (Typer may vendor its own click, so no isinstance)."""
    group = typer.main.get_command(app)
    assert hasattr(group, "commands"), "xenc.cli.app.app is not a command group"
    return group


COMMANDS = sorted(_group().commands)


def _command(name: str) -> Any:
    return _group().commands[name]


def _long_options(command: Any) -> list[str]:
    return sorted({
        opt
        for param in command.params
        if param.param_type_name == "option"
        for opt in (*param.opts, *param.secondary_opts)
        if opt.startswith("--")
    })


def _mentions(text: str, option: str) -> bool:
    """Whether ``option`` appears as a whole option (``--k`` is not found in ``--keep``)."""
    return re.search(rf"{re.escape(option)}(?![\w-])", text) is not None


def _headings(text: str) -> list[str]:
    return [line for line in text.splitlines() if re.match(r"#{2,3} ", line)]


@pytest.fixture(scope="module")
def cli_md() -> str:
    return (DOCS / "cli.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def api_md() -> str:
    return (DOCS / "python-api.md").read_text(encoding="utf-8")


def test_the_app_has_commands():
    assert {"index", "search", "score", "eval", "convert"} <= set(COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_command_help_has_an_example(name):
    command = _command(name)
    assert (command.help or "").strip(), f"xenc {name} has no help text"
    result = CliRunner().invoke(app, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.stdout, f"`xenc {name} --help` shows no example"


@pytest.mark.parametrize("name", COMMANDS)
def test_command_has_a_section_in_cli_md(cli_md, name):
    wanted = f"xenc {name}"
    sections = [h for h in _headings(cli_md) if wanted in h]
    assert sections, f"docs/cli.md has no ## or ### heading mentioning `{wanted}`"


@pytest.mark.parametrize("name", COMMANDS)
def test_every_long_option_is_in_cli_md(cli_md, name):
    missing = [opt for opt in _long_options(_command(name)) if not _mentions(cli_md, opt)]
    assert not missing, f"docs/cli.md does not mention xenc {name} {', '.join(missing)}"


def test_root_options_are_in_cli_md(cli_md):
    missing = [opt for opt in _long_options(_group()) if not _mentions(cli_md, opt)]
    assert not missing, f"docs/cli.md does not mention {', '.join(missing)}"


@pytest.mark.parametrize("name", sorted(xenc.__all__))
def test_public_name_is_in_python_api_md(api_md, name):
    assert re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", api_md), (
        f"docs/python-api.md does not mention xenc.{name}"
    )


def test_public_names_resolve():
    for name in xenc.__all__:
        assert getattr(xenc, name) is not None


def _make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", text, flags=re.MULTILINE))


def test_readme_quickstart_commands_are_make_targets():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"^make ([\w-]+)", readme, flags=re.MULTILINE)
    assert {"demo", "test"} <= set(commands), "README quickstart lost `make demo`/`make test`"
    targets = _make_targets()
    missing = sorted(set(commands) - targets)
    assert not missing, f"README runs make {missing}, which the Makefile does not define"


def test_docs_link_to_each_other():
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    pages = ("cli.md", "python-api.md", "formats.md", "index-format.md", "benchmarks.md",
             "architecture.md")
    for page in pages:
        assert f"({page})" in index, f"docs/index.md does not link {page}"
    for page in ("cli.md", "python-api.md", "formats.md", "index-format.md", "architecture.md"):
        assert (DOCS / page).is_file(), f"docs/{page} is missing"
