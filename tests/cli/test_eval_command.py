"""The `xenc eval` command through Typer's CliRunner: the report, sweeps, budgets, errors."""

from __future__ import annotations

import orjson
import pytest
from conftest import SAMPLE, parse_jsonl

from xenc.cli.app import app


def eval_args(sample_index, *extra):
    return ["eval", "--index-dir", str(sample_index), "--queries",
            str(SAMPLE / "queries.jsonl"), "--qrels", str(SAMPLE / "qrels.tsv"), *extra]


def test_eval_report(runner, sample_index, tiny_reranker_dir):
    result = runner.invoke(app, eval_args(sample_index, "--reranker", str(tiny_reranker_dir),
                                          "--candidates", "30"))
    assert result.exit_code == 0, result.stderr
    report = orjson.loads(result.stdout)
    keys = {"ndcg@10", "recall@10", "recall@100", "recall@30", "mrr@10", "map"}
    assert set(report["first_stage"]) == keys and set(report["reranked"]) == keys
    assert set(report["latency_ms"]["first_stage"]) >= {"p50", "p95"}
    assert set(report["latency_ms"]["rerank"]) >= {"p50", "p95"}
    assert report["queries"] > 0
    # Reranking only reorders the candidates: recall at the candidate depth cannot change.
    assert report["reranked"]["recall@30"] == pytest.approx(report["first_stage"]["recall@30"])
    assert "ndcg@10" in result.stderr and "first stage" in result.stderr


def test_eval_equals_metrics_of_search_output(runner, sample_index):
    from xenc.evaluation import metrics
    from xenc.io.qrels import read_qrels

    result = runner.invoke(app, eval_args(sample_index, "--no-rerank", "--retriever", "bm25",
                                          "--candidates", "50"))
    assert result.exit_code == 0, result.stderr
    report = orjson.loads(result.stdout)
    assert report["reranked"] is None
    run = runner.invoke(app, ["search", "--index-dir", str(sample_index), "--queries",
                              str(SAMPLE / "queries.jsonl"), "--no-rerank", "--retriever", "bm25",
                              "--candidates", "50", "-k", "50"])
    ranked: dict[str, list[str]] = {}
    for r in parse_jsonl(run.stdout):
        ranked.setdefault(r["qid"], []).append(r["doc_id"])
    per_query = metrics.score_run(ranked, read_qrels(SAMPLE / "qrels.tsv"),
                                 recall_k=(10, 50, 100))
    expected = metrics.mean_over_queries(per_query)
    for key, value in report["first_stage"].items():
        assert value == pytest.approx(expected[key], abs=1e-9), key


def test_eval_sweep(runner, sample_index, tiny_reranker_dir, tmp_path):
    out = tmp_path / "eval.json"
    result = runner.invoke(app, eval_args(sample_index, "--reranker", str(tiny_reranker_dir),
                                          "--candidates", "20", "--sweep", "5,20",
                                          "--output", str(out)))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    report = orjson.loads(out.read_bytes())
    assert [row["candidates"] for row in report["sweep"]] == [5, 20]
    assert report["sweep"][1]["ndcg@10"] == pytest.approx(report["reranked"]["ndcg@10"])
    assert "sweep K=5" in result.stderr


def test_eval_and_search_with_a_time_budget(runner, sample_index, tiny_reranker_dir):
    base = ["--reranker", str(tiny_reranker_dir), "--candidates", "20", "--batch-size", "8"]
    roomy = runner.invoke(app, eval_args(sample_index, *base, "--budget-ms", "1e6"))
    assert roomy.exit_code == 0, roomy.stderr
    budget = orjson.loads(roomy.stdout)["budget"]
    assert budget["ms"] == 1e6 and budget["over_budget_queries"] == 0
    assert budget["reranked_min"] == budget["reranked_max"] == 20
    # A budget no pair fits in: the first query scores a probe batch (the cost is not known
    # yet), every later one keeps the first-stage order; quality falls back to it.
    tight = runner.invoke(app, eval_args(sample_index, *base, "--budget-ms", "0.001"))
    assert tight.exit_code == 0, tight.stderr
    report = orjson.loads(tight.stdout)
    assert report["budget"]["reranked_min"] == 0 and 0 < report["budget"]["reranked_max"] <= 8
    assert "budget       0.001 ms: reranked" in tight.stderr
    search = runner.invoke(app, ["search", "sourdough starter", "--index-dir", str(sample_index),
                                 *base, "-k", "20", "--budget-ms", "0.001"])
    assert search.exit_code == 0, search.stderr
    records = parse_jsonl(search.stdout)
    count = records[0]["reranked_count"]
    assert 0 < count <= 8 and [r["reranked"] for r in records] == [True] * count + [False] * (
        20 - count)
    bad = runner.invoke(app, ["search", "x", "--index-dir", str(sample_index), *base,
                              "--budget-ms", "0"])
    assert bad.exit_code == 2 and "--budget-ms" in bad.stderr


@pytest.mark.parametrize(
    ("extra", "code", "message"),
    [
        (["--no-rerank", "--sweep", "10,x"], 2, "--sweep takes comma-separated integers"),
        (["--no-rerank", "--sweep", "10"], 2, "--sweep reranks at each depth"),
        (["--no-rerank", "--candidates", "20", "--sweep", "50"], 2, "between 1 and --candidates"),
    ],
)
def test_eval_errors(runner, sample_index, extra, code, message):
    result = runner.invoke(app, eval_args(sample_index, *extra))
    assert result.exit_code == code and message in result.stderr


def test_eval_bad_qrels(runner, sample_index, tmp_path):
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("q1 0 d1 1\nq2 0 d2\n")
    result = runner.invoke(app, ["eval", "--index-dir", str(sample_index), "--queries",
                                 str(SAMPLE / "queries.jsonl"), "--qrels", str(qrels),
                                 "--no-rerank"])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {qrels}:2: expected 4 whitespace-separated columns")


def test_table_puts_first_stage_and_reranked_side_by_side_with_the_change():
    """One table: each metric for both stages and what reranking changed (issue 27)."""
    from xenc.io.output import report_table

    report = {
        "first_stage": {"ndcg@10": 0.8499, "recall@100": 0.9915},
        "reranked": {"ndcg@10": 0.7629, "recall@100": 0.9915},
        "latency_ms": {"first_stage": {"p50": 51.5, "p95": 133.8},
                       "rerank": {"p50": 700.0, "p95": 900.0}},
        "queries": 39,
    }
    lines = report_table(report).splitlines()
    assert lines[:3] == [
        "metric        first stage     reranked    change",
        "ndcg@10            0.8499       0.7629   -0.0870",
        "recall@100         0.9915       0.9915   +0.0000",
    ]
    alone = report_table({**report, "reranked": None, "latency_ms": {
        "first_stage": {"p50": 1.0, "p95": 2.0}, "rerank": None}}).splitlines()
    assert alone[1] == "ndcg@10            0.8499            -         -"


def test_table_says_whether_each_change_is_more_than_noise():
    """A p column and a verdict line: a paired t-test over the queries (issue 27)."""
    from xenc.io.output import report_table

    report = {
        "first_stage": {"map": 0.80, "ndcg@10": 0.8553, "recall@100": 0.9915},
        "reranked": {"map": 0.70, "ndcg@10": 0.8457, "recall@100": 0.9915},
        "p_value": {"map": 0.0004, "ndcg@10": 0.7212, "recall@100": 1.0},
        "latency_ms": {"first_stage": {"p50": 1.0, "p95": 2.0}, "rerank": None},
        "queries": 39,
    }
    lines = report_table(report).splitlines()
    assert lines[:5] == [
        "metric        first stage     reranked    change       p",
        "map                0.8000       0.7000   -0.1000  <0.001",
        "ndcg@10            0.8553       0.8457   -0.0096   0.721",
        "recall@100         0.9915       0.9915   +0.0000   1.000",
        "p: paired t-test over 39 queries, reranked vs first stage; at p < 0.05 "
        "significant: map down",
    ]
    neutral = report_table({**report, "p_value": {**report["p_value"], "map": 0.5}})
    assert ("at p < 0.05 no change is significant (reranking is neutral on these queries)"
            in neutral)


def test_eval_reports_each_metrics_paired_p_value(runner, sample_index, tiny_reranker_dir):
    """The report's p-values are scipy's paired t-test on the per-query values of the two
    rankings the report measured."""
    from scipy.stats import ttest_rel

    from xenc.evaluation import metrics
    from xenc.io.qrels import read_qrels

    args = ["--candidates", "20", "--retriever", "bm25"]
    reranker = ["--reranker", str(tiny_reranker_dir)]
    result = runner.invoke(app, eval_args(sample_index, *args, *reranker))
    assert result.exit_code == 0, result.stderr
    report = orjson.loads(result.stdout)
    qrels = read_qrels(SAMPLE / "qrels.tsv")
    lists = {}
    for name, extra in (("first_stage", ["--no-rerank"]), ("reranked", reranker)):
        out = runner.invoke(app, ["search", "--index-dir", str(sample_index), "--queries",
                                  str(SAMPLE / "queries.jsonl"), *args, *extra, "-k", "20"])
        assert out.exit_code == 0, out.stderr
        ranked: dict[str, list[str]] = {}
        for r in parse_jsonl(out.stdout):
            ranked.setdefault(r["qid"], []).append(r["doc_id"])
        lists[name] = metrics.score_run(ranked, qrels, ndcg_k=(10,))
    qids = sorted(lists["first_stage"])
    a = [lists["reranked"][q]["ndcg@10"] for q in qids]
    b = [lists["first_stage"][q]["ndcg@10"] for q in qids]
    assert a != b  # the tiny reranker reorders: the test is not the degenerate p = 1
    assert report["p_value"]["ndcg@10"] == pytest.approx(ttest_rel(a, b).pvalue, abs=1e-12)
    assert set(report["p_value"]) == set(report["first_stage"])
    assert "p: paired t-test over" in result.stderr
