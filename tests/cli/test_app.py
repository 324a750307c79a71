"""The command line as a whole: help, start-up imports, a closed stdout."""

from __future__ import annotations

import sys

import orjson
from conftest import SAMPLE

from xenc.cli.app import app


def test_help_is_fast_and_lists_commands(runner):
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("index", "search", "score", "eval", "convert"):
        assert command in result.stdout
    for command in ("index", "search", "score", "eval", "convert"):
        sub = runner.invoke(app, [command, "--help"])
        assert sub.exit_code == 0 and "Example" in sub.stdout


def test_help_imports_no_heavy_module():
    import subprocess

    code = ("import sys; from xenc.cli.app import app; "
            "print(sorted(m for m in ('torch', 'transformers', 'hnswlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_closed_pipe_exits_quietly(sample_index):
    """`xenc search ... | head -1`: no traceback, no message, and the status `seq` gets in the
    same place under pipefail (killed by SIGPIPE: 141), not an error's 1."""
    import subprocess

    cmd = (f"{sys.executable} -m xenc search --index-dir {sample_index} --queries "
           f"{SAMPLE / 'queries.jsonl'} --no-rerank --retriever bm25 -k 50 | head -1")
    out = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True)
    assert len(out.stdout.splitlines()) == 1
    assert orjson.loads(out.stdout)["rank"] == 1
    assert out.stderr == ""
    seq = subprocess.run(["bash", "-o", "pipefail", "-c", "seq 1 1000000 | head -1"],
                         capture_output=True, text=True)
    assert out.returncode == seq.returncode == 141
