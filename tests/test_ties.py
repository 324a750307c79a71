"""One tie order everywhere: trec_eval's (score descending, then document id descending).

xenc eval, xenc search --format trec and pytrec_eval run on that TREC file must agree exactly,
also when many scores are tied, and TREC scores are written at full precision.
"""

from __future__ import annotations

import orjson
import pytest
from typer.testing import CliRunner

from xenc.cli.app import app
from xenc.records import trec_order

# Documents a..f have the same text, so their BM25 scores tie exactly; g and h differ.
SAME = "the alpha river flows past the mill"
DOCS = [{"id": i, "text": SAME} for i in ("d10", "d2", "d1", "d3", "d20", "d4")] + [
    {"id": "g", "text": "alpha alpha alpha river stones"},
    {"id": "h", "text": "a quiet meadow with no water"},
]
QUERIES = [{"id": "q1", "text": "alpha river"}, {"id": "q2", "text": "mill"}]
QRELS = "query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td4\t1\nq2\td10\t1\nq2\td3\t2\n"


@pytest.fixture(scope="module")
def tied(tmp_path_factory, tiny_encoder_dir):
    root = tmp_path_factory.mktemp("ties")
    (root / "c.jsonl").write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in DOCS))
    (root / "q.jsonl").write_bytes(b"".join(orjson.dumps(q) + b"\n" for q in QUERIES))
    (root / "qrels.tsv").write_text(QRELS)
    result = CliRunner().invoke(app, ["index", str(root / "c.jsonl"), "--index-dir",
                                      str(root / "idx"), "--encoder", str(tiny_encoder_dir)])
    assert result.exit_code == 0, result.stderr
    return root


def test_trec_order_helper():
    items = [("a", 1.0), ("b", 2.0), ("c", 1.0), ("ab", 1.0), ("B", 1.0)]
    got = trec_order(items, lambda p: p[1], lambda p: p[0])
    assert [i for i, _ in got] == ["b", "c", "ab", "a", "B"]


def search_trec(root, *extra):
    result = CliRunner().invoke(app, ["search", "--index-dir", str(root / "idx"), "--queries",
                                      str(root / "q.jsonl"), "--retriever", "bm25",
                                      "--no-rerank", "--format", "trec", "-k", "8", *extra])
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_search_writes_ties_in_trec_eval_order_at_full_precision(tied):
    lines = [line.split() for line in search_trec(tied).splitlines()]
    q1 = [f for f in lines if f[0] == "q1"]
    assert [f[2] for f in q1] == ["g", "d4", "d3", "d20", "d2", "d10", "d1"]
    tied_scores = {f[4] for f in q1[1:]}
    assert len(tied_scores) == 1  # one exact value, written in full
    score = tied_scores.pop()
    assert float(score) == float(repr(float(score))) and len(score.split(".")[1]) > 6


def test_eval_agrees_exactly_with_pytrec_eval(tied, tmp_path):
    pytrec_eval = pytest.importorskip("pytrec_eval")
    from xenc.io.qrels import read_qrels

    run_file = tmp_path / "run.trec"
    run_file.write_text(search_trec(tied))
    run: dict[str, dict[str, float]] = {}
    for line in run_file.read_text().splitlines():
        qid, _, doc_id, _, score, _ = line.split()
        run.setdefault(qid, {})[doc_id] = float(score)
    qrels = {q: dict(d) for q, d in read_qrels(tied / "qrels.tsv").items()}
    measures = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recip_rank", "map"})
    per_query = measures.evaluate(run)
    ndcg = sum(v["ndcg_cut_10"] for v in per_query.values()) / len(per_query)
    mean_ap = sum(v["map"] for v in per_query.values()) / len(per_query)

    result = CliRunner().invoke(app, ["eval", "--index-dir", str(tied / "idx"), "--queries",
                                      str(tied / "q.jsonl"), "--qrels", str(tied / "qrels.tsv"),
                                      "--retriever", "bm25", "--no-rerank"])
    assert result.exit_code == 0, result.stderr
    report = orjson.loads(result.stdout)["first_stage"]
    assert report["ndcg@10"] == pytest.approx(ndcg, abs=1e-12)
    assert report["map"] == pytest.approx(mean_ap, abs=1e-12)
    # The old order (ids ascending) would have ranked d1 first among the ties: a different value.
    assert report["ndcg@10"] < 0.9


def test_jsonl_search_uses_the_same_order(tied):
    result = CliRunner().invoke(app, ["search", "alpha river", "--index-dir", str(tied / "idx"),
                                      "--retriever", "bm25", "--no-rerank"])
    assert result.exit_code == 0, result.stderr
    ids = [orjson.loads(line)["doc_id"] for line in result.stdout.splitlines()]
    assert ids == ["g", "d4", "d3", "d20", "d2", "d10", "d1"]
