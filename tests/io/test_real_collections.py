"""Collections as they come: title-only and empty records, --skip-invalid, sample edge cases."""

from __future__ import annotations

import orjson
import pytest
from conftest import SAMPLE
from typer.testing import CliRunner

from xenc.cli.app import app
from xenc.config import ChunkParams
from xenc.errors import InputError
from xenc.io.corpus import CorpusSkips, read_corpus
from xenc.pipeline import SearchParams, build_index, open_index
from xenc.retrieval.bm25 import bm25_candidates

CHUNK = ChunkParams(chunk_tokens=16, stride=4)
ROWS = [
    '{"id": "a", "title": "", "text": "the river runs to the sea"}',
    '{"id": "t", "title": "Volcano eruptions", "text": ""}',  # title only: indexed
    '{"id": "e", "title": "", "text": "  "}',  # neither: skipped with a warning
    '{"id": "b", "text": "stars light the night sky"}',
]


def write(path, rows):
    path.write_text("".join(r + "\n" for r in rows))
    return path


def manifest_of(index_dir):
    return orjson.loads((index_dir / "manifest.json").read_bytes())


def index(tmp_path, encoder, corpus, *extra):
    return CliRunner().invoke(app, ["index", str(corpus), "--index-dir", str(tmp_path / "idx"),
                                    "--encoder", str(encoder), "--chunk-tokens", "16",
                                    "--chunk-stride", "4", *extra])


def test_title_only_is_indexed_and_empty_is_skipped(tmp_path):
    skips = CorpusSkips()
    docs = list(read_corpus(write(tmp_path / "c.jsonl", ROWS), skips=skips))
    assert [d.id for d in docs] == ["a", "t", "b"]
    assert (docs[1].title, docs[1].text) == ("Volcano eruptions", "")
    assert skips.to_dict() == {"empty": 1, "empty_ids": ["e"], "invalid": 0,
                               "invalid_lines": []}


def test_cli_indexes_title_only_documents_and_records_skips(tmp_path, tiny_encoder_dir):
    result = index(tmp_path, tiny_encoder_dir, write(tmp_path / "c.jsonl", ROWS))
    assert result.exit_code == 0, result.stderr
    assert 'Warning: ' in result.stderr and 'c.jsonl:3: skipped "e": no title and no text' \
        in result.stderr
    assert "indexed 3 documents (3 passages), 1 skipped (1 empty, 0 invalid)" in result.stderr
    manifest = manifest_of(tmp_path / "idx")
    assert manifest["counts"] == {"documents": 3, "passages": 3}
    assert manifest["skipped"]["empty_ids"] == ["e"]
    idx = open_index(tmp_path / "idx")
    try:
        hits = bm25_candidates(idx, "volcano", 5)
        assert [h.doc_id for h in hits] == ["t"]
        assert idx.docstore.documents(["t"])["t"].title == "Volcano eruptions"
    finally:
        idx.close()


BAD = [
    '{"id": "a", "text": "alpha river"}',
    '{"id": "b", "text": ',  # invalid JSON
    '{"text": "no id here"}',  # missing id
    '{"id": "a", "text": "again"}',  # duplicate id
    '{"id": "c", "text": 3}',  # wrong type
    '{"id": "d", "text": "delta stars"}',
]


def test_structural_errors_still_stop_with_the_line(tmp_path, tiny_encoder_dir):
    result = index(tmp_path, tiny_encoder_dir, write(tmp_path / "bad.jsonl", BAD))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {tmp_path / 'bad.jsonl'}:2: invalid JSON")
    assert len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "idx" / "manifest.json").exists()


def test_skip_invalid_reports_and_goes_on(tmp_path, tiny_encoder_dir):
    result = index(tmp_path, tiny_encoder_dir, write(tmp_path / "bad.jsonl", BAD),
                   "--skip-invalid")
    assert result.exit_code == 0, result.stderr
    for where in ("bad.jsonl:2: invalid JSON", 'bad.jsonl:3: missing id field "id" or "_id"',
                  'bad.jsonl:4: duplicate id "a" (first seen on line 1)',
                  'bad.jsonl:5: field "text" must be a string, got int'):
        assert f"Warning: skipped {tmp_path}/{where}" in result.stderr
    assert "indexed 2 documents (2 passages), 4 skipped (0 empty, 4 invalid)" in result.stderr
    assert manifest_of(tmp_path / "idx")["skipped"] == {
        "empty": 0, "empty_ids": [], "invalid": 4, "invalid_lines": [2, 3, 4, 5]}


def test_update_skips_the_same_way(tmp_path, tiny_encoder_dir):
    corpus = write(tmp_path / "c.jsonl", ROWS[:2])
    assert index(tmp_path, tiny_encoder_dir, corpus).exit_code == 0
    write(corpus, [*ROWS, '{"id": "z", "title": "", "text": ""}'])
    result = index(tmp_path, tiny_encoder_dir, corpus, "--update")
    assert result.exit_code == 0, result.stderr
    assert "1 added, 0 changed, 0 deleted, 2 unchanged, 2 skipped (2 empty, 0 invalid)" \
        in result.stderr
    manifest = manifest_of(tmp_path / "idx")
    assert manifest["skipped"]["empty_ids"] == ["e", "z"]
    assert manifest["history"][-1]["skipped"] == 2
    assert manifest["counts"]["documents"] == 3


def test_sample_edge_cases(sample_index):
    manifest = manifest_of(sample_index)
    assert manifest["skipped"] == {"empty": 1, "empty_ids": ["misc-002"], "invalid": 0,
                                   "invalid_lines": []}
    idx = open_index(sample_index)
    try:
        hits = bm25_candidates(idx, "sourdough glossary", 3)
        assert hits[0].doc_id == "misc-001"
        assert SearchParams().k == 10
    finally:
        idx.close()


def test_empty_corpus_after_skips_is_an_error(tmp_path, tiny_encoder_dir):
    corpus = write(tmp_path / "c.jsonl", ['{"id": "e", "text": ""}'])
    with pytest.raises(InputError, match="no documents"):
        build_index(corpus, tmp_path / "idx", encoder=str(tiny_encoder_dir), chunk=CHUNK)
    assert SAMPLE.is_dir()
