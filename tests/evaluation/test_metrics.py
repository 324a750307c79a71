"""xenc.evaluation.metrics: hand-computed values, then agreement with trec_eval (pytrec_eval)."""

from __future__ import annotations

import math
import random

import pytest

from xenc.errors import InputError, UsageError
from xenc.evaluation.metrics import latency_summary, mean_over_queries, score_run
from xenc.io.qrels import Qrels

LOG2_3 = math.log2(3)


def test_hand_computed_single_query() -> None:
    # Ranked a, b, c with grades 2, 0, 1; d (grade 1) is never retrieved.
    qrels = {"q1": {"a": 2, "b": 0, "c": 1, "d": 1}}
    got = score_run({"q1": ["a", "b", "c"]}, qrels, ndcg_k=(1, 10), recall_k=(1, 10))["q1"]
    dcg = 2 / math.log2(2) + 0 / math.log2(3) + 1 / math.log2(4)  # = 2.5
    idcg = 2 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)  # ideal grades 2, 1, 1
    assert dcg == 2.5
    assert got["ndcg@10"] == pytest.approx(dcg / idcg, abs=1e-12)  # 0.79849...
    assert got["ndcg@1"] == pytest.approx((2 / 1) / (2 / 1), abs=1e-12)
    assert got["recall@1"] == pytest.approx(1 / 3)  # a only, of a, c, d
    assert got["recall@10"] == pytest.approx(2 / 3)  # a and c
    assert got["mrr@10"] == 1.0
    assert got["map"] == pytest.approx((1 / 1 + 2 / 3) / 3)  # P@1 and P@3, over 3 relevant
    assert list(got) == ["ndcg@1", "ndcg@10", "recall@1", "recall@10", "mrr@10", "map"]


def test_ndcg_of_two_zero_one_ranking() -> None:
    qrels = {"q": {"a": 2, "b": 0, "c": 1}}
    got = score_run({"q": ["a", "b", "c"]}, qrels)["q"]
    # DCG = 2/1 + 0/log2(3) + 1/2 = 2.5; ideal = 2/1 + 1/log2(3) = 2.63093
    assert got["ndcg@10"] == pytest.approx(2.5 / (2 + 1 / LOG2_3), abs=1e-12)
    assert got["ndcg@10"] == pytest.approx(0.950234, abs=1e-6)


def test_rank_order_is_taken_from_the_list() -> None:
    qrels = {"q": {"r": 1}}
    got = score_run({"q": ["x", "y", "r"]}, qrels, ndcg_k=(2, 3), mrr_k=(2, 3))["q"]
    assert got["mrr@2"] == 0.0  # first relevant at rank 3
    assert got["mrr@3"] == pytest.approx(1 / 3)
    assert got["ndcg@2"] == 0.0
    assert got["ndcg@3"] == pytest.approx((1 / math.log2(4)) / 1.0)
    assert got["map"] == pytest.approx(1 / 3)


def test_negative_grades_are_non_relevant_with_zero_gain() -> None:
    # trec_eval: a grade of -1 is not relevant and adds no (negative) gain.
    got = score_run({"q": ["a", "b"]}, {"q": {"a": -1, "b": 2}})["q"]
    assert got["ndcg@10"] == pytest.approx((2 / LOG2_3) / 2)
    assert got["recall@10"] == 1.0
    assert got["mrr@10"] == 0.5
    assert got["map"] == 0.5


def test_which_queries_count() -> None:
    qrels = {
        "judged": {"a": 1},
        "only_zero": {"a": 0, "b": -1},  # no relevant document: not counted
        "missing": {"a": 2, "b": 1},  # not in the run: all zeros
        "empty": {"a": 1},  # an empty ranking: all zeros
    }
    run = {"judged": ["a"], "only_zero": ["a"], "empty": [], "unjudged": ["a"]}
    got = score_run(run, qrels)
    assert list(got) == ["judged", "missing", "empty"]
    assert set(got["judged"].values()) == {1.0}
    assert set(got["missing"].values()) == {0.0}
    assert set(got["empty"].values()) == {0.0}
    assert mean_over_queries(got)["ndcg@10"] == pytest.approx(1 / 3)


def test_metric_selection() -> None:
    got = score_run({"q": ["a"]}, {"q": {"a": 1}}, ndcg_k=(), recall_k=(5,), mrr_k=(), map_=False)
    assert got == {"q": {"recall@5": 1.0}}


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "10"])
def test_bad_cutoff(bad: object) -> None:
    with pytest.raises(UsageError, match=r"^ndcg cutoffs must be positive integers, got "):
        score_run({}, {"q": {"a": 1}}, ndcg_k=(bad,))  # type: ignore[arg-type]


def test_duplicate_document_in_run() -> None:
    with pytest.raises(InputError) as info:
        score_run({"q": ["a", "b", "a"]}, {"q": {"a": 1}})
    assert str(info.value) == "<run>: query 'q' lists a document twice"


def test_mean_over_queries() -> None:
    per_query = {"q1": {"map": 1.0, "ndcg@10": 0.5}, "q2": {"ndcg@10": 0.0, "map": 0.5}}
    got = mean_over_queries(per_query)
    assert got == {"map": 0.75, "ndcg@10": 0.25}
    assert list(got) == ["map", "ndcg@10"]
    assert mean_over_queries({}) == {}


def test_latency_summary() -> None:
    got = latency_summary([4.0, 1.0, 3.0, 2.0])
    # sorted 1,2,3,4: p50 = 2.5; p95 at position 0.95 * 3 = 2.85 → 3 + 0.85 * (4 - 3)
    assert got == pytest.approx({"p50": 2.5, "p95": 3.85, "mean": 2.5})
    assert latency_summary([]) == {"p50": 0.0, "p95": 0.0, "mean": 0.0}
    assert latency_summary([7.0]) == {"p50": 7.0, "p95": 7.0, "mean": 7.0}


# --- agreement with trec_eval ------------------------------------------------------------

PAIRS = {
    "ndcg@10": "ndcg_cut_10",
    "recall@10": "recall_10",
    "recall@100": "recall_100",
    "map": "map",
}


def _random_case(seed: int) -> tuple[dict[str, list[str]], Qrels]:
    rng = random.Random(seed)
    pool = [f"d{i}" for i in range(400)]
    qrels: Qrels = {}
    run: dict[str, list[str]] = {}
    for q in range(60):
        qid = f"q{q}"
        judged = rng.sample(pool, rng.randint(1, 40))
        kind = rng.random()
        if kind < 0.1:  # only grade-0 judgments
            qrels[qid] = {doc: 0 for doc in judged}
        else:
            grades = (0, 0, 1, 2) if seed < 3 else (-1, 0, 1, 2)  # later seeds: negatives too
            qrels[qid] = {doc: rng.choice(grades) for doc in judged}
        if kind < 0.85:  # otherwise the query is missing from the run
            # mostly judged documents, plus unjudged ones
            candidates = judged + rng.sample(pool, 150)
            run[qid] = list(dict.fromkeys(rng.sample(candidates, len(candidates))))
            run[qid] = run[qid][: rng.randint(0, 150)]
    run["not_in_qrels"] = pool[:20]
    return run, qrels


def _scored(run: dict[str, list[str]], depth: int | None = None) -> dict[str, dict[str, float]]:
    """Scores strictly decreasing with rank, so trec_eval keeps the list order."""
    return {
        qid: {doc: 1000.0 - rank for rank, doc in enumerate(docs[:depth])}
        for qid, docs in run.items()
        if docs
    }


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_matches_pytrec_eval(seed: int) -> None:
    pytrec_eval = pytest.importorskip("pytrec_eval")
    run, qrels = _random_case(seed)
    measures = {"ndcg_cut_10", "recall_10", "recall_100", "map", "recip_rank"}
    full = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(_scored(run))
    cut = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(_scored(run, 10))
    got = score_run(run, qrels)

    counted = [qid for qid, docs in qrels.items() if any(g >= 1 for g in docs.values())]
    assert list(got) == counted
    assert any(qid not in full for qid in counted)  # the case exercises missing queries
    expected: dict[str, dict[str, float]] = {}
    for qid in counted:
        ref = full.get(qid, {})
        expected[qid] = {mine: ref.get(theirs, 0.0) for mine, theirs in PAIRS.items()}
        expected[qid]["mrr@10"] = cut.get(qid, {}).get("recip_rank", 0.0)
        for name, value in expected[qid].items():
            assert got[qid][name] == pytest.approx(value, abs=1e-6), (qid, name)
    mean = mean_over_queries(got)
    for name in mean:
        ref_mean = sum(expected[qid][name] for qid in counted) / len(counted)
        assert mean[name] == pytest.approx(ref_mean, abs=1e-6), name
