"""Compressed JSONL inputs, told by their magic bytes on every reader and on stdin, and a hint
for CSV given where JSONL is expected (issue 27, item 7)."""

from __future__ import annotations

import bz2
import gzip
import lzma
import sys

import pytest
from conftest import SAMPLE, jsonl_bytes, parse_jsonl

from xenc.cli.app import app
from xenc.errors import InputError
from xenc.io.corpus import read_corpus, read_queries
from xenc.io.jsonl import read_jsonl

ROWS = [{"id": "a", "text": "bird migration at night"}, {"id": "b", "text": "sourdough"}]


def _zstd(data: bytes) -> bytes:
    zstandard = pytest.importorskip("zstandard")
    return zstandard.ZstdCompressor().compress(data)


COMPRESSORS = {"gzip": gzip.compress, "bzip2": bz2.compress, "xz": lzma.compress,
               "zstd": _zstd}


@pytest.mark.parametrize("kind", sorted(COMPRESSORS))
def test_every_jsonl_reader_decompresses_by_magic_bytes(tmp_path, kind):
    # a misleading name on purpose: the first bytes decide, not the suffix
    path = tmp_path / "corpus.jsonl"
    path.write_bytes(COMPRESSORS[kind](jsonl_bytes(ROWS)))
    assert [obj for _, obj in read_jsonl(path)] == ROWS
    assert [d.id for d in read_corpus(path)] == ["a", "b"]
    assert [q.text for q in read_queries(path)] == ["bird migration at night", "sourdough"]


@pytest.mark.parametrize("kind", sorted(COMPRESSORS))
def test_compressed_stdin(runner, tiny_reranker_dir, kind):
    pairs = jsonl_bytes([{"query": "q", "document": "d"}, {"query": "q2", "document": "d2"}])
    result = runner.invoke(app, ["score", "-", "--reranker", str(tiny_reranker_dir)],
                           input=COMPRESSORS[kind](pairs))
    assert result.exit_code == 0, result.stderr
    assert [r["query"] for r in parse_jsonl(result.stdout)] == ["q", "q2"]


def test_gzip_corpus_indexes(runner, tmp_path):
    corpus = tmp_path / "corpus.jsonl.gz"
    corpus.write_bytes(gzip.compress((SAMPLE / "corpus.jsonl").read_bytes()))
    result = runner.invoke(app, ["index", str(corpus), "--index-dir", str(tmp_path / "idx"),
                                 "--retrievers", "bm25", "--limit", "5"])
    assert result.exit_code == 0, result.stderr
    assert "indexed 5 documents" in result.stderr


def test_truncated_gzip_is_one_error_line(tmp_path):
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(gzip.compress(jsonl_bytes(ROWS * 50))[:40])
    with pytest.raises(InputError) as err:
        list(read_jsonl(path))
    assert str(err.value).startswith(f"{path}:1: cannot decompress: ")


def test_zstd_without_zstandard_names_the_package(tmp_path, monkeypatch):
    path = tmp_path / "c.jsonl.zst"
    path.write_bytes(b"\x28\xb5\x2f\xfd" + b"\x00" * 16)
    monkeypatch.setitem(sys.modules, "zstandard", None)  # import zstandard → ImportError
    with pytest.raises(InputError) as err:
        list(read_jsonl(path))
    assert str(err.value) == (f"{path}: is zstd-compressed: reading it needs the zstandard "
                              "package (pip install zstandard, or xenc[zstd])")


def test_csv_gets_a_hint(runner, tmp_path):
    path = tmp_path / "corpus.csv"
    path.write_text("id,text,title\n1,some text,a title\n")
    result = runner.invoke(app, ["index", str(path), "--index-dir", str(tmp_path / "idx"),
                                 "--retrievers", "bm25"])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {path}:1: invalid JSON (")
    assert result.stderr.endswith("); this looks like CSV: xenc reads JSONL, one JSON object a "
                                  'line (such as {"id": "1", "text": "..."})\n')


def test_broken_json_without_commas_gets_no_csv_hint(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"id": 1\n')
    with pytest.raises(InputError) as err:
        list(read_jsonl(path))
    assert "CSV" not in str(err.value)
