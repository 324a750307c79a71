"""The documentation covers the code: every command, every option, every public name; and
what the docs claim is checked where a script can (command count, option names in examples,
the files examples read, `--help` examples that parse and run).

Fast: nothing here loads a model; the one index built is BM25-only. Running every `--help`
example (models included) is marked slow.
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


# What the docs claim, checked where a script can (issue 27) --------------------------------

NUMBERS = {"nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
           "fifteen": 15}
SHELL_OPS = {"|", "||", "&&", ";", ">", ">>", "<", "2>", "2>&1", ">&2", "&"}


def test_command_count_and_table(cli_md):
    """The count cli.md states and its table of commands are the app's."""
    claim = re.search(r"`xenc` has (\w+) commands", cli_md)
    assert claim, "docs/cli.md no longer says how many commands xenc has"
    assert NUMBERS.get(claim.group(1)) == len(COMMANDS), (
        f"docs/cli.md says {claim.group(1)} commands; xenc has {len(COMMANDS)}")
    table = cli_md[claim.end(): cli_md.index("\n\n", cli_md.index("| command"))]
    assert sorted(re.findall(r"^\| \[`xenc ([\w-]+)`\]", table, flags=re.MULTILINE)) == COMMANDS


def _code_blocks(text: str) -> list[str]:
    return re.findall(r"^```[\w-]*\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def _invocations(block: str) -> list[list[str]]:
    """The ``xenc CMD ...`` argument lists of a shell block (continuations joined, each cut at
    the first shell operator); lines shlex cannot split are left out."""
    import shlex

    out = []
    for line in block.replace("\\\n", " ").splitlines():
        line = re.sub(r"^\$ ", "", line.strip())
        if "xenc " not in line or line.startswith(("#", "Error", "{")):
            continue
        try:
            tokens = shlex.split(line, comments=True)
        except ValueError:
            continue
        for i, token in enumerate(tokens):
            if token == "xenc" and i + 1 < len(tokens) and (i == 0 or tokens[i - 1] in SHELL_OPS):
                args = []
                for arg in tokens[i + 1:]:
                    if arg in SHELL_OPS:
                        break
                    args.append(arg)
                out.append(args)
    return out


DOC_PAGES = sorted(DOCS.glob("*.md")) + [ROOT / "README.md"]


@pytest.mark.parametrize("page", DOC_PAGES, ids=lambda p: p.name)
def test_doc_examples_use_real_commands_and_options(page):
    """Every `xenc CMD --opt` in a code block names a command and options that exist, and
    every data/ file it reads is in the repository."""
    wrong = []
    for block in _code_blocks(page.read_text(encoding="utf-8")):
        for args in _invocations(block):
            if not args or args[0].startswith("-"):
                continue
            if args[0] not in COMMANDS:
                wrong.append(f"xenc {args[0]}")
                continue
            known = set(_long_options(_command(args[0]))) | {"--help"}
            wrong += [f"xenc {args[0]} {a}" for a in args[1:]
                      if a.startswith("--") and a.split("=")[0] not in known]
            # the examples that run on the sample read files that are there
            wrong += [f"missing {a}" for a in args[1:]
                      if a.startswith("data/") and not (ROOT / a).exists()]
    assert not wrong, f"{page.name} shows {sorted(set(wrong))}"


@pytest.mark.parametrize("name", COMMANDS)
def test_options_in_a_commands_table_exist(cli_md, name):
    """Each option a command's section of cli.md lists in its table is one of its options."""
    start = cli_md.index(f"## `xenc {name}`")
    end = cli_md.find("\n## ", start + 1)
    section = cli_md[start: end if end != -1 else len(cli_md)]
    listed = set(re.findall(r"^\| `(--[\w-]+)", section, flags=re.MULTILINE))
    listed |= set(re.findall(r"^\| `--[\w-]+`, `(--[\w-]+)", section, flags=re.MULTILINE))
    known = set(_long_options(_command(name)))
    assert not listed - known, f"cli.md's xenc {name} table lists {sorted(listed - known)}"


def _help_examples(name: str) -> list[str]:
    """The example command lines of `xenc NAME --help` (continuations joined)."""
    text = _command(name).help or ""
    lines = text.split("Example", 1)[1].splitlines()[1:] if "Example" in text else []
    return [line.strip() for line in
            "\n".join(lines).replace("\\\\\n", " ").replace("\\\n", " ").splitlines()
            if line.strip().startswith(("xenc ", "echo "))]


PLACEHOLDER = re.compile(r"^[A-Z][A-Z_|]+$|^(q|qrels|today)\.(jsonl|tsv|parquet)$")


@pytest.mark.parametrize("name", COMMANDS)
def test_help_examples_parse_and_name_real_files(name):
    """Each --help example parses (options exist, required ones given), names no placeholder
    such as DIR or q.jsonl, and every data/ path it reads is in the repository."""
    examples = _help_examples(name)
    assert examples, f"xenc {name} --help has no example command"
    for line in examples:
        for args in _invocations(line):
            assert args[0] == name, line
            _command(name).make_context(name, list(args[1:]))  # raises on a bad option
            bad = [a for a in args if PLACEHOLDER.match(a)]
            assert not bad, f"xenc {name} --help example uses placeholders {bad}: {line}"
            missing = [a for a in args if a.startswith("data/") and not (ROOT / a).exists()]
            assert not missing, f"xenc {name} --help example reads missing {missing}"


def test_help_examples_without_models_run(tmp_path, monkeypatch):
    """The --help examples that need no model run as written, from a checkout's root."""
    (tmp_path / "data").symlink_to(ROOT / "data")
    monkeypatch.chdir(tmp_path)
    import shlex

    runner = CliRunner()
    for name, needle in (("index", "--retrievers bm25"), ("convert", "data/sample/beir-mini")):
        line = next(x for x in _help_examples(name) if needle in x)
        result = runner.invoke(app, shlex.split(line)[1:])
        assert result.exit_code == 0, f"{line}: {result.stderr}"
        if name == "convert":
            summary = result.stderr.strip()
    # the convert summary line documented in cli.md has the shape convert prints
    cli = (DOCS / "cli.md").read_text(encoding="utf-8")
    documented = re.search(r"^\$ xenc convert \S+adi \S+\n(.*)$", cli, flags=re.MULTILINE)

    def shape(text: str) -> str:
        text = re.sub(r"\S+(?= \[)|(?<=-> )\S+(?=:)", "X", text)
        return re.sub(r"\d+", "N", re.sub(r"\[[^]]*\]", "[F]", text))

    assert documented and shape(documented.group(1)) == shape(summary)


@pytest.mark.slow
def test_every_help_example_runs(tmp_path):
    """All --help examples, in command order (index first), run as written from a checkout
    (bundled models; Ray, hub and ../shared examples skipped where those are missing)."""
    import importlib.util
    import os
    import subprocess
    import sys

    checkout = tmp_path / "xenc-checkout"  # beside it, ../shared as beside the repository
    checkout.mkdir()
    (checkout / "data").symlink_to(ROOT / "data")
    (checkout / "xenc").symlink_to(ROOT / "xenc")
    if (ROOT.parent / "shared").is_dir():
        (tmp_path / "shared").symlink_to(ROOT.parent / "shared")
    order = ["index", "search", "score", "eval", "convert", "verify", "models", "mine", "train",
             "export", "delete"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for name in order + [c for c in COMMANDS if c not in order]:
        for line in _help_examples(name):
            if name == "serve":  # it runs until stopped: tests/serve/test_serve.py runs it
                continue
            if ("--engine ray" in line and importlib.util.find_spec("ray") is None) or \
                    "../shared" in line and not (ROOT.parent / "shared").is_dir() or \
                    "cross-encoder/" in line:
                continue
            script = line.replace("xenc ", f"{sys.executable} -m xenc ")
            done = subprocess.run(["bash", "-c", script], cwd=checkout, env=env,
                                  capture_output=True, text=True, timeout=600, check=False)
            assert done.returncode == 0, f"{line}: {done.stderr[-2000:]}"
