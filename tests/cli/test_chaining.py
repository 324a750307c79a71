"""`xenc search | xenc score` chains (records carry the query and, with --with-text, the passage
or the document), and scores that can be thresholded (the raw reranker score beside the fused
one, and the fusion named) (issue 27, items 4 and 5)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import ROOT, parse_jsonl

from xenc.cli.app import app


def _search(runner, sample_index, reranker_dir, *extra, query="bird migration"):
    result = runner.invoke(app, ["search", query, "--index-dir", str(sample_index),
                                 "--reranker", str(reranker_dir), "-k", "4",
                                 "--candidates", "10", *extra])
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_search_records_carry_the_query(runner, sample_index):
    result = runner.invoke(app, ["search", "bird migration", "--index-dir", str(sample_index),
                                 "--no-rerank", "-k", "2"])
    assert result.exit_code == 0, result.stderr
    records = parse_jsonl(result.stdout)
    assert [r["query"] for r in records] == ["bird migration"] * 2
    assert all(r["rerank_score"] is None and r["fusion"] is None for r in records)
    assert all("text" not in r for r in records)


def test_with_text_passage_is_the_matching_passage(runner, sample_index, tiny_reranker_dir):
    from xenc.pipeline import open_index

    records = parse_jsonl(_search(runner, sample_index, tiny_reranker_dir, "--with-text",
                                  "passage", "--aggregate", "max"))
    whole = parse_jsonl(_search(runner, sample_index, tiny_reranker_dir, "--with-text",
                                "document", "--aggregate", "max"))
    index = open_index(sample_index)
    try:
        docs = index.docstore.documents(r["doc_id"] for r in records)
    finally:
        index.close()
    assert [r["doc_id"] for r in records] == [r["doc_id"] for r in whole]
    for passage, doc in zip(records, whole, strict=True):
        assert doc["text"] == docs[doc["doc_id"]].text and "passage_no" not in doc
        assert passage["text"] in doc["text"] and isinstance(passage["passage_no"], int)
    # the sample has documents longer than one passage: at least one result is a part of it
    assert any(len(p["text"]) < len(d["text"]) for p, d in zip(records, whole, strict=True))


def test_search_piped_to_score_gives_the_rerank_scores(runner, sample_index, tiny_reranker_dir):
    """Each passage record scored again by the same model gets its rerank_score back."""
    searched = _search(runner, sample_index, tiny_reranker_dir, "--with-text", "passage",
                       "--aggregate", "max", "--fusion", "none")
    scored = runner.invoke(app, ["score", "-", "--reranker", str(tiny_reranker_dir)],
                           input=searched)
    assert scored.exit_code == 0, scored.stderr
    before, after = parse_jsonl(searched), parse_jsonl(scored.stdout)
    assert len(after) == len(before) == 4
    for a, b in zip(before, after, strict=True):
        assert b["doc_id"] == a["doc_id"] and b["query"] == a["query"]
        assert b["score"] == pytest.approx(a["rerank_score"], abs=1e-5)


def test_search_without_text_piped_to_score_says_what_to_add(runner, sample_index,
                                                              tiny_reranker_dir):
    searched = _search(runner, sample_index, tiny_reranker_dir)
    scored = runner.invoke(app, ["score", "-", "--reranker", str(tiny_reranker_dir)],
                           input=searched)
    assert scored.exit_code == 1
    assert scored.stderr == ('Error: <stdin>:1: a search record without "text": give xenc '
                             "search --with-text passage (or document)\n")


def test_with_text_takes_passage_or_document(runner, sample_index):
    result = runner.invoke(app, ["search", "q", "--index-dir", str(sample_index), "--no-rerank",
                                 "--with-text", "paragraph"])
    assert result.exit_code == 2
    assert result.stderr == ("Error: --with-text takes passage or document, not "
                             "'paragraph'\n")


def test_shell_pipe_search_to_score(sample_index, tiny_reranker_dir, tmp_path):
    """A real shell pipe under pipefail: both ends exit 0 and every record is scored."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    xenc = f"{sys.executable} -m xenc"
    script = (f"set -o pipefail; {xenc} search 'bird migration' --index-dir {sample_index} "
              f"--reranker {tiny_reranker_dir} -k 3 --with-text passage | "
              f"{xenc} score - --reranker {tiny_reranker_dir}")
    done = subprocess.run(["bash", "-c", script], capture_output=True, env=env, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr.decode()
    records = parse_jsonl(done.stdout)
    assert len(records) == 3 and all(isinstance(r["score"], float) for r in records)


# Item 5: scores that can be thresholded --------------------------------------------------


@pytest.mark.parametrize("fusion", ["none", "rrf", "linear:0.1"])
def test_records_keep_the_rerank_score_and_name_the_fusion(runner, sample_index,
                                                           tiny_reranker_dir, fusion):
    from xenc.fusion import fuse_scores

    records = parse_jsonl(_search(runner, sample_index, tiny_reranker_dir, "--fusion", fusion,
                                  "-k", "10"))
    assert {r["fusion"] for r in records} == {fusion}
    assert all(0.0 <= r["rerank_score"] <= 1.0 for r in records)  # sigmoid: a probability
    by_first = sorted(records, key=lambda r: r["first_stage_rank"])
    fused = fuse_scores([r["rerank_score"] for r in by_first],
                        [r["first_stage_rank"] for r in by_first], fusion)
    assert [r["score"] for r in by_first] == pytest.approx(fused)
    if fusion == "none":
        assert all(r["score"] == r["rerank_score"] for r in records)


def _eval(runner, sample_index, *extra):
    from conftest import SAMPLE

    result = runner.invoke(app, ["eval", "--index-dir", str(sample_index), "--queries",
                                 str(SAMPLE / "queries.jsonl"), "--qrels",
                                 str(SAMPLE / "qrels.tsv"), "--candidates", "10", *extra])
    assert result.exit_code == 0, result.stderr
    import orjson

    return orjson.loads(result.stdout)


def test_eval_report_says_what_produced_it(runner, sample_index, tiny_reranker_dir):
    import xenc
    from xenc.models.resolve import model_fingerprint, resolve_model
    from xenc.pipeline import open_index

    report = _eval(runner, sample_index, "--reranker", str(tiny_reranker_dir),
                   "--fusion", "rrf", "--backend", "torch")
    assert report["xenc_version"] == xenc.__version__
    assert report["fusion"] == report["params"]["fusion"] == "rrf"
    sha = model_fingerprint(resolve_model(str(tiny_reranker_dir), kind="reranker"))["sha256"]
    assert len(sha) == 64
    assert report["reranker"] == {"name": str(tiny_reranker_dir), "source": "local",
                                  "sha256": sha, "backend": "torch", "activation": "sigmoid"}
    index = open_index(sample_index)
    encoder = index.manifest["encoder"]
    index.close()
    assert report["encoder"] == {"name": encoder["name"], "sha256": encoder["sha256"],
                                 "backend": "torch"}


def test_eval_without_reranker_says_no_fusion(runner, sample_index):
    report = _eval(runner, sample_index, "--no-rerank", "--retriever", "bm25")
    assert report["fusion"] is None and report["params"]["fusion"] is None
    assert report["reranker"] is None and report["encoder"] is None  # BM25 needs no encoder
