"""xenc eval --sweep ... --plot FILE.png|.svg (matplotlib is an optional extra)."""

from __future__ import annotations

import sys

import pytest
from conftest import SAMPLE
from typer.testing import CliRunner

from xenc.cli.app import app


def eval_args(sample_index, *extra):
    return ["eval", "--index-dir", str(sample_index), "--queries",
            str(SAMPLE / "queries.jsonl"), "--qrels", str(SAMPLE / "qrels.tsv"),
            "--retriever", "bm25", "--candidates", "10", *extra]


@pytest.mark.parametrize(("name", "magic"), [("k.png", b"\x89PNG"), ("k.svg", b"<?xml")])
def test_sweep_plot_is_written(sample_index, tiny_reranker_dir, tmp_path, name, magic):
    pytest.importorskip("matplotlib")
    out = tmp_path / name
    result = CliRunner().invoke(app, eval_args(sample_index, "--reranker", str(tiny_reranker_dir),
                                               "--sweep", "2,5,10", "--plot", str(out)))
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes().startswith(magic)
    assert f"plot written to {out}" in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary file left


@pytest.mark.parametrize(("extra", "message"), [
    (["--plot", "k.png"], "Error: --plot draws the --sweep results: give --sweep too\n"),
    (["--sweep", "5", "--plot", "k.pdf"], "Error: --plot must end in .png or .svg, not 'k.pdf'\n"),
])
def test_plot_usage_errors(sample_index, tiny_reranker_dir, extra, message):
    result = CliRunner().invoke(app, eval_args(sample_index, "--reranker", str(tiny_reranker_dir),
                                               *extra))
    assert result.exit_code == 2 and result.stderr == message


def test_missing_matplotlib_is_one_clear_line(sample_index, tiny_reranker_dir, monkeypatch,
                                              tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    result = CliRunner().invoke(app, eval_args(sample_index, "--reranker", str(tiny_reranker_dir),
                                               "--sweep", "5", "--plot", str(tmp_path / "k.png")))
    assert result.exit_code == 2
    assert result.stderr == ("Error: plotting needs matplotlib: pip install 'xenc[plot]' "
                             "(or pip install matplotlib)\n")
    assert list(tmp_path.iterdir()) == []
