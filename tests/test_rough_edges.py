"""Rough edges a new user met: score without a reranker, a no-op --update, BM25 no-match note."""

from __future__ import annotations

import orjson
from typer.testing import CliRunner

from xenc.cli.app import app

DOCS = [{"id": "a", "text": "the river runs to the sea"},
        {"id": "b", "title": "Stars", "text": "stars light the night sky"}]


def write(path, docs):
    path.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in docs))
    return path


def test_score_without_reranker_names_options_score_has(no_default_reranker):
    result = CliRunner().invoke(app, ["score", "-"], input="")
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: no reranker chosen: pass --reranker NAME|PATH (a Hugging Face cross-encoder "
        "directory or hub id) or set XENC_RERANKER\n")
    assert "--no-rerank" not in result.stderr


def test_update_without_change_publishes_nothing(tmp_path, tiny_encoder_dir):
    corpus = write(tmp_path / "c.jsonl", DOCS)
    args = ["index", str(corpus), "--index-dir", str(tmp_path / "idx"), "--encoder",
            str(tiny_encoder_dir)]
    assert CliRunner().invoke(app, args).exit_code == 0
    before = (tmp_path / "idx" / "CURRENT").read_text()
    manifest = (tmp_path / "idx" / "manifest.json").read_bytes()
    result = CliRunner().invoke(app, [*args, "--update"])
    assert result.exit_code == 0, result.stderr
    assert result.stderr == (f"{tmp_path / 'idx'} is up to date: nothing changed, nothing "
                             "published (2 documents)\n")
    assert (tmp_path / "idx" / "CURRENT").read_text() == before
    assert (tmp_path / "idx" / "manifest.json").read_bytes() == manifest
    assert sorted(p.name for p in (tmp_path / "idx").iterdir() if p.name.startswith("gen-")) \
        == [before.strip()]
    # a real change still publishes
    write(corpus, [*DOCS, {"id": "c", "text": "a new boat"}])
    result = CliRunner().invoke(app, [*args, "--update"])
    assert "updated" in result.stderr and "1 added" in result.stderr
    assert (tmp_path / "idx" / "CURRENT").read_text() != before


def test_bm25_query_with_no_indexed_term_says_so(sample_index):
    args = ["search", "--index-dir", str(sample_index), "--retriever", "bm25", "--no-rerank"]
    result = CliRunner().invoke(app, [*args, "?!..."])
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == ("query 1: no term of '?!...' is in the index; BM25 finds nothing "
                             "(try --retriever hybrid or dense)\n")
    found = CliRunner().invoke(app, [*args, "moon phases"])
    assert found.stdout and found.stderr == ""
