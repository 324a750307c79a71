"""search/eval options users of neighbouring tools expect: --rrf-k, --run-tag."""

from __future__ import annotations

import orjson
from typer.testing import CliRunner

import xenc
from xenc.cli.app import app


def search(sample_index, *extra):
    return CliRunner().invoke(app, ["search", "phases of the moon", "--index-dir",
                                    str(sample_index), "--no-rerank", *extra])


def test_rrf_k_sets_the_fusion_constant(sample_index, opened):
    result = search(sample_index, "--rrf-k", "1", "-k", "5")
    assert result.exit_code == 0, result.stderr
    got = [orjson.loads(line) for line in result.stdout.splitlines()]
    params = xenc.SearchParams(retriever="hybrid", rrf_k=1, k=5)
    expected = [r.to_dict() for r in xenc.search(opened, "phases of the moon", params)]
    assert got == expected
    assert got[0]["score"] > 2 / 61  # above anything k=60 can give: the option took effect
    assert got[0]["score"] <= 1.0


def test_run_tag_names_the_trec_run(sample_index):
    result = search(sample_index, "--retriever", "bm25", "--format", "trec", "--run-tag",
                    "bm25-sample", "-k", "3")
    assert result.exit_code == 0, result.stderr
    assert [line.split()[5] for line in result.stdout.splitlines()] == ["bm25-sample"] * 3
    bad = search(sample_index, "--format", "trec", "--run-tag", "two words")
    assert bad.exit_code == 2
    assert bad.stderr == "Error: --run-tag must be one word (no spaces), not 'two words'\n"
