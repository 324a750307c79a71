"""Incremental maintenance: updates and deletions equal a fresh build, and embed only new text."""

from __future__ import annotations

import orjson
import pytest
from conftest import write_jsonl

from xenc.config import ChunkParams
from xenc.errors import IndexFormatError, UsageError
from xenc.index.update import delete_documents, update_index
from xenc.pipeline import CorpusFields, build_index, open_index
from xenc.retrieval.bm25 import bm25_candidates
from xenc.retrieval.dense import dense_candidates

CHUNK = ChunkParams(chunk_tokens=16, stride=4)
LONG = ("the river runs to the sea and the boat follows the river past the farm where the "
        "family keeps a horse and a dog near the old mill by the water")
BASE = [
    {"id": "a", "title": "River", "text": LONG},
    {"id": "b", "text": "Stars and the moon light the night sky over the sea."},
    {"id": "c", "title": "Farm", "text": "A farm grows food; the farmer feeds the animals."},
    {"id": "d", "text": "Fire needs air and wood to burn in the cold night.", "tag": 1},
    {"id": "e", "text": "The school children read a book about the ocean and fish."},
]
QUERIES = ["river boat water", "night sky stars", "farm animal food", "fire wood", "ocean fish"]


def fresh(tmp_path, docs, encoder, name="fresh"):
    target = tmp_path / name
    corpus = write_jsonl(tmp_path / f"{name}.jsonl", docs)
    build_index(corpus, target, encoder=str(encoder), chunk=CHUNK)
    return target


def answers(index_dir):
    """Per query: BM25 scores of every (doc, chunk_no) passage, BM25 and exact dense top-k."""
    index = open_index(index_dir)
    try:
        out = {}
        rows = index.docstore.chunks(range(index.num_passages))
        for q in QUERIES:
            scores = index.bm25.scores(index.tokenizer(q))
            passages = {(rows[r].doc_id, rows[r].chunk_no): float(scores[r]) for r in rows}
            vector = index.encoder.encode([q])[0]
            out[q] = {
                "passages": passages,
                "bm25": [(c.doc_id, c.score) for c in bm25_candidates(index, q, 10)],
                "dense": [(c.doc_id, c.score) for c in dense_candidates(index, vector, 4,
                                                                          exact=True)],
                "hnsw": [c.doc_id for c in dense_candidates(index, vector, 4)],
            }
        return out
    finally:
        index.close()


def assert_same_answers(got, expected):
    for q in QUERIES:
        assert got[q]["passages"].keys() == expected[q]["passages"].keys()
        for key, score in expected[q]["passages"].items():
            assert got[q]["passages"][key] == pytest.approx(score, abs=1e-9)
        for kind, tol in (("bm25", 1e-9), ("dense", 1e-5)):
            assert [d for d, _ in got[q][kind]] == [d for d, _ in expected[q][kind]]
            assert [s for _, s in got[q][kind]] == pytest.approx(
                [s for _, s in expected[q][kind]], abs=tol)


@pytest.fixture()
def encoded(monkeypatch):
    """Every text the encoder embeds (the encoder is wrapped, not replaced)."""
    from xenc.models.encoder import Encoder

    seen: list[str] = []
    original = Encoder.encode

    def encode(self, texts, **kwargs):
        seen.extend(texts)
        return original(self, texts, **kwargs)

    monkeypatch.setattr(Encoder, "encode", encode)
    return seen


def passages_of(index_dir, doc_ids):
    index = open_index(index_dir)
    try:
        rows = index.docstore.chunks(range(index.num_passages)).values()
        return sorted(c.passage() for c in rows if c.doc_id in doc_ids)
    finally:
        index.close()


def test_update_embeds_only_new_text_and_equals_a_fresh_build(tmp_path, tiny_encoder_dir,
                                                              encoded):
    target = fresh(tmp_path, BASE, tiny_encoder_dir, "idx")
    new = [dict(BASE[0], text=LONG + " and a bird sings"),  # changed text
           BASE[1],
           dict(BASE[3], tag=2),  # metadata only: reused
           BASE[4],
           {"id": "f", "text": "A red car drives down the road to the town."}]  # "c" deleted
    encoded.clear()
    manifest = update_index(write_jsonl(tmp_path / "new.jsonl", new), target, delete_missing=True)
    assert sorted(encoded) == passages_of(target, {"a", "f"})
    entry = manifest["history"][-1]
    assert {k: entry[k] for k in ("added", "changed", "deleted", "unchanged")} == {
        "added": 1, "changed": 2, "deleted": 1, "unchanged": 2}
    assert entry["corpus_sha256"] == manifest["corpus"]["sha256"]
    reference = fresh(tmp_path, new, tiny_encoder_dir)
    expected = orjson.loads((reference / "manifest.json").read_bytes())
    assert manifest["counts"] == expected["counts"]
    assert manifest["corpus"]["sha256"] == expected["corpus"]["sha256"]
    assert_same_answers(answers(target), answers(reference))
    index = open_index(target)
    assert index.docstore.documents(["d"])["d"].metadata == {"tag": 2}
    index.close()


def test_sequence_of_updates_and_deletes_equals_a_fresh_build(tmp_path, tiny_encoder_dir,
                                                             encoded):
    target = fresh(tmp_path, BASE[:3], tiny_encoder_dir, "idx")
    update_index(write_jsonl(tmp_path / "u1.jsonl", BASE[2:]), target)  # adds d, e; keeps a, b
    delete_documents(target, ["b", "nope"])
    encoded.clear()
    last = update_index(write_jsonl(tmp_path / "u2.jsonl", [BASE[4], BASE[0]]), target)
    assert encoded == []  # nothing new: no text embedded at all
    assert [h["kind"] for h in last["history"]] == ["update", "delete", "update"]
    assert last["history"][1]["not_found"] == 1
    # final documents: e, a (corpus order), then c, d (kept, previous order)
    reference = fresh(tmp_path, [BASE[4], BASE[0], BASE[2], BASE[3]], tiny_encoder_dir)
    got = answers(target)
    assert_same_answers(got, answers(reference))
    for q in QUERIES:  # a deleted document never comes back, whatever the retriever
        assert "b" not in [d for d, _ in got[q]["bm25"]] + got[q]["hnsw"]
        assert "b" not in [d for d, _ in got[q]["dense"]]


def test_update_refuses_another_encoder(tmp_path, tiny_encoder_dir, tiny_reranker_dir):
    target = fresh(tmp_path, BASE, tiny_encoder_dir, "idx")
    live = (target / "CURRENT").read_text()
    with pytest.raises(UsageError, match=r"built with encoder .* differs; rebuild the index"):
        corpus = write_jsonl(tmp_path / "n.jsonl", BASE)
        update_index(corpus, target, encoder=str(tiny_reranker_dir))
    assert (target / "CURRENT").read_text() == live
    # the same encoder named explicitly is fine
    manifest = update_index(tmp_path / "n.jsonl", target, encoder=str(tiny_encoder_dir))
    assert manifest["published"] is False  # nothing changed: nothing published (issue 11)
    assert (target / "CURRENT").read_text() == live


def test_update_keeps_build_settings_and_fields(tmp_path, tiny_encoder_dir):
    docs = [{"key": d["id"], "body": d["text"]} for d in BASE]
    target = tmp_path / "idx"
    build_index(write_jsonl(tmp_path / "c.jsonl", docs), target, encoder=str(tiny_encoder_dir),
                chunk=CHUNK, fields=CorpusFields("key", "body"))
    docs.append({"key": "z", "body": "a new thing"})
    manifest = build_index(write_jsonl(tmp_path / "c.jsonl", docs), target, update=True,
                           chunk=ChunkParams())  # ignored: the index's own settings win
    assert manifest["chunking"] == CHUNK.to_dict()
    assert manifest["corpus"]["text_field"] == "body"
    assert manifest["counts"]["documents"] == 6
    assert manifest["history"][-1]["added"] == 1


def test_update_builds_when_there_is_no_index(tmp_path, tiny_encoder_dir):
    corpus = write_jsonl(tmp_path / "c.jsonl", BASE)
    manifest = build_index(corpus, tmp_path / "new", update=True, encoder=str(tiny_encoder_dir))
    assert manifest["counts"]["documents"] == len(BASE) and manifest["history"] == []
    with pytest.raises(UsageError, match="^delete_missing only works with update$"):
        build_index(corpus, tmp_path / "new", delete_missing=True)


def test_delete_edge_cases(tmp_path, tiny_encoder_dir):
    target = fresh(tmp_path, BASE[:2], tiny_encoder_dir, "idx")
    live = (target / "CURRENT").read_text()
    with pytest.raises(UsageError, match="would leave .* empty"):
        delete_documents(target, ["a", "b"])
    delete_documents(target, [])  # nothing to do: nothing written
    assert (target / "CURRENT").read_text() == live
    empty = write_jsonl(tmp_path / "empty.jsonl", [])
    with pytest.raises(Exception, match="no documents"):
        update_index(empty, target, delete_missing=True)
    assert (target / "CURRENT").read_text() == live
    assert sorted(p.name for p in target.iterdir()) == [".lock", "CURRENT", live.strip(),
                                                        "manifest.json"]


def test_format_1_index_is_refused_then_replaced(tmp_path, tiny_encoder_dir):
    old = tmp_path / "old"
    old.mkdir()
    (old / "docs.sqlite").write_bytes(b"x")
    (old / "manifest.json").write_bytes(orjson.dumps(
        {"format": "xenc-index", "format_version": 1, "files": {"docs.sqlite": {"bytes": 1}}}))
    with pytest.raises(IndexFormatError, match="format version 1, .* re-run `xenc index`"):
        open_index(old)
    build_index(write_jsonl(tmp_path / "c.jsonl", BASE), old, encoder=str(tiny_encoder_dir))
    assert not (old / "docs.sqlite").exists() and (old / "manifest.json").is_symlink()
    assert open_index(old).num_docs == len(BASE)


def test_update_without_change_publishes_nothing(runner, tmp_path, tiny_encoder_dir):
    from xenc.cli.app import app

    docs = [{"id": "a", "text": "the river runs to the sea"},
            {"id": "b", "title": "Stars", "text": "stars light the night sky"}]
    corpus = write_jsonl(tmp_path / "c.jsonl", docs)
    args = ["index", str(corpus), "--index-dir", str(tmp_path / "idx"), "--encoder",
            str(tiny_encoder_dir)]
    assert runner.invoke(app, args).exit_code == 0
    before = (tmp_path / "idx" / "CURRENT").read_text()
    manifest = (tmp_path / "idx" / "manifest.json").read_bytes()
    result = runner.invoke(app, [*args, "--update"])
    assert result.exit_code == 0, result.stderr
    assert result.stderr == (f"{tmp_path / 'idx'} is up to date: nothing changed, nothing "
                             "published (2 documents)\n")
    assert (tmp_path / "idx" / "CURRENT").read_text() == before
    assert (tmp_path / "idx" / "manifest.json").read_bytes() == manifest
    assert sorted(p.name for p in (tmp_path / "idx").iterdir() if p.name.startswith("gen-")) \
        == [before.strip()]
    # a real change still publishes
    write_jsonl(corpus, [*docs, {"id": "c", "text": "a new boat"}])
    result = runner.invoke(app, [*args, "--update"])
    assert "updated" in result.stderr and "1 added" in result.stderr
    assert (tmp_path / "idx" / "CURRENT").read_text() != before
