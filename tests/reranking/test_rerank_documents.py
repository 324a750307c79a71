"""`xenc.rerank` in Python: the shell's records, passages of long documents, budgets, errors."""

from __future__ import annotations

import orjson
import pytest
from conftest import parse_jsonl

import xenc
from xenc.cli.app import app
from xenc.errors import UsageError
from xenc.records import Document
from xenc.reranking.documents import RerankOptions, TextPassages, rerank_documents

QUERY = "what causes a lunar eclipse"
DOCS = ["The Sun is a star.",
        {"id": "moon", "text": "Earth's shadow falls on the Moon.", "title": "Eclipses",
         "source": "wiki"},
        "Bread needs flour.", {"text": "A parsec is 3.26 light years."}]


def test_python_gives_the_shells_records(runner, tiny_reranker_dir, tiny_reranker):
    line = orjson.dumps({"qid": "7", "query": QUERY, "documents": DOCS, "top_n": 3}).decode()
    shell = runner.invoke(app, ["rerank", "-", "--reranker", str(tiny_reranker_dir),
                                "--with-text"], input=line + "\n")
    assert shell.exit_code == 0, shell.stderr
    records = xenc.rerank(QUERY, DOCS, reranker=tiny_reranker, top_n=3, qid="7", with_text=True)
    assert [r.to_dict() for r in records] == parse_jsonl(shell.stdout)
    assert [r.rank for r in records] == [1, 2, 3]
    assert {r.doc_id for r in records} <= {"0", "moon", "2", "3"}
    by_name = xenc.rerank(QUERY, DOCS, reranker=str(tiny_reranker_dir), top_n=3, qid="7",
                          with_text=True)
    assert [r.to_dict() for r in by_name] == [r.to_dict() for r in records]


def test_xenc_rerank_is_the_function_after_every_module_loads():
    import importlib
    import pkgutil

    for info in pkgutil.walk_packages(xenc.__path__, "xenc."):
        if info.name != "xenc.__main__":  # it runs the CLI
            try:
                importlib.import_module(info.name)
            except ImportError:  # an optional extra that is not installed
                pass
    from xenc import rerank
    from xenc.reranking.documents import rerank as use_case

    assert xenc.rerank is use_case and rerank is use_case
    assert "rerank" in xenc.__all__


LONG = " ".join(f"word{i} the moon and the sun" for i in range(60))


def test_long_documents_are_split_to_fit_the_window(tiny_reranker_dir):
    model = xenc.CrossEncoder(str(tiny_reranker_dir), max_length=32)
    docs = [Document("long", LONG, "Title"), Document("short", "the moon")]
    passages = TextPassages(model, QUERY, docs)
    assert len(passages.rows[0]) > 3 and len(passages.rows[1]) == 1
    chunks = passages.chunks(passages.rows[0])
    assert all(c.title == "Title" for c in chunks.values())
    assert LONG.startswith(chunks[0].text) and LONG.endswith(chunks[passages.rows[0][-1]].text)
    model.truncated = 0
    every = {agg: {r.doc_id: r.score for r in rerank_documents(
        model, QUERY, docs, RerankOptions(aggregate=agg, passages_per_doc=1000))}
        for agg in ("first", "max", "sum")}
    assert model.truncated == 0  # each passage fits with the query: nothing was cut off
    pairs = [(QUERY, chunks[r].passage()) for r in passages.rows[0]]
    scores = [float(s) for s in model.predict(pairs)]
    assert every["first"]["long"] == pytest.approx(scores[0], abs=1e-6)
    assert every["max"]["long"] == pytest.approx(max(scores), abs=1e-6)
    assert every["sum"]["long"] == pytest.approx(sum(scores), abs=1e-5)
    assert every["first"]["short"] == every["max"]["short"] == every["sum"]["short"]
    three = rerank_documents(model, QUERY, docs, RerankOptions(aggregate="max"))  # 3 passages
    assert {r.doc_id: r.score for r in three}["long"] == pytest.approx(max(scores[:3]), abs=1e-6)


def test_a_budget_reranks_in_input_order_and_keeps_the_rest(tiny_reranker):
    docs = [f"document number {i} about the moon" for i in range(6)]
    records = xenc.rerank(QUERY, docs, reranker=tiny_reranker, budget_ms=0.001)
    # the first batch probes (batch size 8 // 8 = 1 pair); the rest no longer fits
    assert [(r.index, r.reranked) for r in records] == [
        (0, True), (1, False), (2, False), (3, False), (4, False), (5, False)]
    assert all(r.reranked_count == 1 for r in records)
    assert [r.rank for r in records] == list(range(1, 7))


@pytest.mark.parametrize(("query", "documents", "message"), [
    (QUERY, [], '"documents" is empty'),
    (QUERY, "one text", '"documents" must be a list, got str'),
    ("", ["x"], '"query" is empty'),
    (QUERY, [{"title": "t"}], 'documents[0]: no "text"'),
])
def test_bad_input_is_a_usage_error(tiny_reranker, query, documents, message):
    with pytest.raises(UsageError, match=None) as info:
        xenc.rerank(query, documents, reranker=tiny_reranker)
    assert str(info.value) == message


def test_bad_options(tiny_reranker):
    with pytest.raises(UsageError, match=r"^top_n must be an integer >= 1, not 0$"):
        xenc.rerank(QUERY, ["x"], reranker=tiny_reranker, top_n=0)
    with pytest.raises(UsageError, match="aggregate must be one of"):
        xenc.rerank(QUERY, ["x"], reranker=tiny_reranker, aggregate="mean")


def test_several_label_models_are_refused(tiny_nli_dir):
    with pytest.raises(UsageError, match="reranker has 3 labels"):
        xenc.rerank(QUERY, ["x"], reranker=str(tiny_nli_dir))


def test_the_shipped_reranker_reranks_without_torch():
    """With the shipped reranker's checked ONNX export, reranking imports neither torch nor
    transformers (the query path a server keeps torch-free)."""
    import os
    import subprocess
    import sys

    from conftest import ROOT

    code = ("import sys, xenc\n"
            "r = xenc.rerank('moon phases', ['The Moon has phases.', 'x' * 3000], top_n=1)\n"
            "print(len(r), 'torch' in sys.modules, 'transformers' in sys.modules)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "False", "False"]
