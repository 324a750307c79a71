"""`xenc eval --run` and `xenc.compare`: metrics equal to trec_eval (pytrec_eval), p-values
equal to scipy and ranx, the randomization test, Holm, the gate, bad run files, round trips."""

from __future__ import annotations

import itertools
import json
import random
import subprocess
import sys

import numpy as np
import orjson
import pytest
import pytrec_eval
from conftest import SAMPLE, parse_jsonl
from scipy.stats import ttest_rel

import xenc
from xenc.cli.app import app
from xenc.errors import InputError, UsageError
from xenc.evaluation.comparison import compare, parse_metrics
from xenc.evaluation.significance import correct, randomization
from xenc.io.runs import read_run

TREC = {"nDCG@10": "ndcg_cut_10", "R@100": "recall_100", "AP": "map", "P@5": "P_5",
        "RR": "recip_rank"}


def _collection(seed: int = 0, queries: int = 30, ties: bool = True):
    """Qrels with graded and negative judgments, and three runs; run c misses two queries."""
    rng = random.Random(seed)
    docs = [f"d{i:02d}" for i in range(80)]
    qrels = {}
    for q in range(queries):
        judged = {d: rng.choice([-1, 0, 0, 1, 2, 3]) for d in rng.sample(docs, 25)}
        judged[docs[q]] = 2  # at least one relevant document
        qrels[f"q{q:02d}"] = judged
    runs = {}
    for name, boost in (("a", 0.0), ("b", 0.3), ("c", -0.2)):
        run = {}
        for qid, judged in qrels.items():
            if name == "c" and qid in ("q03", "q17"):
                continue
            scores = {}
            for d in rng.sample(docs, 60):
                s = rng.random() + boost * max(judged.get(d, 0), 0)
                scores[d] = round(s, 1) if ties else s  # rounding makes ties
            run[qid] = scores
        runs[name] = run
    return qrels, runs


def _trec_eval(qrels, run, measures=None):
    """pytrec_eval's per-query values, 0 for a judged query missing from the run."""
    measures = measures or set(TREC.values())
    found = pytrec_eval.RelevanceEvaluator(qrels, set(measures)).evaluate(run)
    return {q: found.get(q, dict.fromkeys(measures, 0.0)) for q in qrels}


def _values(comparison, run, metric):
    return [r["value"] for r in comparison.per_query if r["run"] == run and r["metric"] == metric]


def test_means_and_per_query_values_equal_pytrec_eval():
    qrels, runs = _collection()
    result = compare(runs, qrels, metrics=list(TREC))
    assert result.report["queries"] == 30
    for name, run in runs.items():
        expected = _trec_eval(qrels, run)
        means = next(r["means"] for r in result.report["runs"] if r["name"] == name)
        for metric, measure in TREC.items():
            want = [expected[q][measure] for q in qrels]
            assert _values(result, name, metric) == pytest.approx(want, abs=1e-12)
            assert means[metric] == pytest.approx(np.mean(want), abs=1e-12)


def test_rr_at_10_is_trec_eval_recip_rank_on_the_top_10():
    qrels, runs = _collection(seed=3)
    result = compare(runs, qrels, metrics="RR@10")
    for name, run in runs.items():
        top10 = {q: dict(ranked[:10]) for q, ranked in
                 ((q, sorted(docs.items(), key=lambda p: (p[1], p[0]), reverse=True))
                  for q, docs in run.items())}
        want = [v["recip_rank"] for v in _trec_eval(qrels, top10, {"recip_rank"}).values()]
        assert _values(result, name, "RR@10") == pytest.approx(want, abs=1e-12)


def test_judged_at_k_by_hand():
    qrels = {"q1": {"a": 1, "b": 0, "c": -1}, "q2": {"x": 2}}
    runs = {"r": {"q1": {"a": 0.9, "z": 0.8, "b": 0.7, "c": 0.1}, "q2": {"y": 1.0}}}
    result = compare(runs, qrels, metrics=["Judged@2", "Judged@10", "P@2"])
    assert _values(result, "r", "Judged@2") == [0.5, 0.0]  # a judged, z not; y not
    assert _values(result, "r", "Judged@10") == [0.75, 0.0]  # 3 of the 4 retrieved
    assert _values(result, "r", "P@2") == [0.5, 0.0]


def test_p_values_equal_scipy_and_holm():
    qrels, runs = _collection(seed=1)
    result = compare(runs, qrels, metrics=["nDCG@10", "AP"], correction="holm")
    expected = {n: _trec_eval(qrels, r) for n, r in runs.items()}
    for metric, measure in (("nDCG@10", "ndcg_cut_10"), ("AP", "map")):
        base = [expected["a"][q][measure] for q in qrels]
        raw = [ttest_rel([expected[n][q][measure] for q in qrels], base).pvalue for n in "bc"]
        rows = [r for r in result.report["comparisons"] if r["metric"] == metric]
        assert [r["run"] for r in rows] == ["b", "c"]
        assert [r["p_value"] for r in rows] == pytest.approx(raw, rel=1e-9)
        lo, hi = sorted(raw)
        holm = [min(1, 2 * lo), max(min(1, 2 * lo), min(1, hi))]
        assert sorted(r["p_corrected"] for r in rows) == pytest.approx(holm, rel=1e-9)
        for row in rows:
            diff = np.array(_values(result, row["run"], metric)) - np.array(base)
            assert row["delta"] == pytest.approx(diff.mean(), abs=1e-12)
            assert (row["wins"], row["ties"], row["losses"]) == (
                int((diff > 0).sum()), int((diff == 0).sum()), int((diff < 0).sum()))
            assert row["significant"] == (row["p_corrected"] < 0.05)


_RANX = """
import json, sys
from ranx import Qrels, Run, compare
data = json.load(sys.stdin)
report = compare(Qrels(data["qrels"]), [Run(r, name=n) for n, r in data["runs"].items()],
                 metrics=["ndcg@10", "recall@100", "mrr@10", "map", "precision@5"],
                 stat_test="student")
names = list(data["runs"])
print(json.dumps({"means": report.results, "p": {n: {m: float(v["p_value"]) for m, v in
       report.comparisons[names[0], n].items()} for n in names[1:]}}))
"""


def test_means_and_t_test_equal_ranx_compare():
    """ranx (numba) runs in a child with its JIT off: the same code, no 40 s compile."""
    qrels, runs = _collection(seed=2, ties=False)  # ranx breaks ties its own way
    qrels = {q: {d: g for d, g in docs.items() if g >= 0} for q, docs in qrels.items()}
    runs = {n: {q: docs for q, docs in r.items()} for n, r in runs.items() if n != "c"} | {
        "c": {q: runs["c"].get(q, runs["a"][q]) for q in qrels}}
    child = subprocess.run(
        [sys.executable, "-c", _RANX], input=json.dumps({"qrels": qrels, "runs": runs}),
        capture_output=True, text=True, env={"NUMBA_DISABLE_JIT": "1", "PATH": ""}, check=True)
    ranx = json.loads(child.stdout.strip().splitlines()[-1])
    names = {"nDCG@10": "ndcg@10", "R@100": "recall@100", "RR@10": "mrr@10", "AP": "map",
             "P@5": "precision@5"}
    result = compare(runs, qrels, metrics=list(names), correction="none")
    for run in result.report["runs"]:
        for ours, theirs in names.items():
            assert run["means"][ours] == pytest.approx(ranx["means"][run["name"]][theirs],
                                                       abs=1e-12)
    for row in result.report["comparisons"]:
        assert row["p_value"] == pytest.approx(ranx["p"][row["run"]][names[row["metric"]]],
                                               rel=1e-9)


def test_randomization_is_deterministic_and_matches_the_exact_test():
    rng = np.random.default_rng(7)
    base = rng.random(8)
    run = base + rng.normal(0.1, 0.15, 8)
    p1 = randomization(run, base, trials=20_000, seed=5)
    assert p1 == randomization(run, base, trials=20_000, seed=5)
    assert p1 != randomization(run, base, trials=20_000, seed=6)
    diff = run - base  # all 2^8 sign assignments: the exact two-sided p
    flips = [abs(np.dot(s, diff)) >= abs(diff.sum()) - 1e-12
             for s in itertools.product((1, -1), repeat=8)]
    assert p1 == pytest.approx(np.mean(flips), abs=0.01)
    assert randomization(base, base, trials=100, seed=1) == 1.0


def test_randomization_through_compare_reports_trials_and_seed():
    qrels, runs = _collection(seed=4)
    one = compare(runs, qrels, test="randomization", trials=2000, seed=9).report
    two = compare(runs, qrels, test="randomization", trials=2000, seed=9).report
    assert one == two
    assert (one["test"], one["trials"], one["seed"]) == ("randomization", 2000, 9)
    assert all((r["p_value"] * 2001) == pytest.approx(round(r["p_value"] * 2001))
               for r in one["comparisons"])


def test_holm_and_bonferroni_on_a_hand_worked_example():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> kept at 0.06
    assert correct(p, "holm") == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert correct(p, "bonferroni") == pytest.approx([0.04, 0.16, 0.12, 0.02])
    assert correct(p, "none") == p
    assert correct([0.6, 0.2], "holm") == pytest.approx([0.6, 0.4])
    assert correct([0.9, 0.5], "bonferroni") == [1.0, 1.0]


def test_metric_names():
    assert parse_metrics("nDCG@10, r@100,RR@10,rr,ap,P@5,judged@10,ndcg@10,map") == [
        "nDCG@10", "R@100", "RR@10", "RR", "AP", "P@5", "Judged@10"]
    with pytest.raises(UsageError, match="unknown metric nDCG, AP@5, foo@3: metrics takes"):
        parse_metrics("nDCG,AP@5,foo@3")


def _trec_file(path, run, tag="t"):
    lines = [f"{q} Q0 {d} {i} {s!r} {tag}"
             for q, docs in run.items()
             for i, (d, s) in enumerate(sorted(docs.items(), key=lambda p: -p[1]), 1)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _qrels_file(path, qrels):
    path.write_text("".join(f"{q} 0 {d} {g}\n" for q, docs in qrels.items()
                            for d, g in docs.items()))
    return path


@pytest.fixture()
def files(tmp_path):
    qrels, runs = _collection(seed=5)
    worse = {q: {d: -s for d, s in docs.items()} for q, docs in runs["b"].items()}  # reversed
    return {"qrels": _qrels_file(tmp_path / "qrels.txt", qrels),
            "b": _trec_file(tmp_path / "b.run", runs["b"]),
            "c": _trec_file(tmp_path / "c.run", runs["c"]),
            "worse": _trec_file(tmp_path / "worse.run", worse), "runs": runs, "qrels_": qrels}


def test_cli_compares_runs_and_equals_the_python_api(runner, files, tmp_path):
    per_query = tmp_path / "pq.jsonl"
    result = runner.invoke(app, ["eval", "--qrels", str(files["qrels"]), "--run",
                                 f"b={files['b']}", "--run", f"c={files['c']}",
                                 "--per-query", str(per_query), "--metrics", "nDCG@10,AP"])
    assert result.exit_code == 0, result.stderr
    report = orjson.loads(result.stdout)
    api = xenc.compare({"b": files["b"], "c": files["c"]}, files["qrels"],
                       metrics=["nDCG@10", "AP"])
    assert report == api.report
    records = parse_jsonl(per_query.read_text())
    assert records == api.per_query and len(records) == 2 * 30 * 2
    c = report["runs"][1]
    assert (c["missing"], c["missing_queries"], c["queries"]) == (2, ["q03", "q17"], 28)
    assert "2 of 30 queries missing, counted as 0" in result.stderr
    assert [r for r in records if r["run"] == "c" and r["qid"] == "q03"] == [
        {"run": "c", "qid": "q03", "metric": m, "value": 0.0, "delta": d, "missing": True}
        for m, d in (("nDCG@10", -_b(records, "q03", "nDCG@10")),
                     ("AP", -_b(records, "q03", "AP")))]
    assert result.stderr.splitlines()[0].split() == ["run", "nDCG@10", "AP"]


def _b(records, qid, metric):
    return next(r["value"] for r in records if r["run"] == "b" and r["qid"] == qid
                and r["metric"] == metric)


def test_gate_fails_with_exit_3_on_a_clearly_worse_run(runner, files):
    result = runner.invoke(app, ["eval", "--qrels", str(files["qrels"]), "--run",
                                 f"base={files['b']}", "--run", f"new={files['worse']}",
                                 "--max-drop", "0.02"])
    assert result.exit_code == 3, result.stderr
    report = orjson.loads(result.stdout)  # the report is written before the gate fails
    assert report["gate"]["passed"] is False
    assert {f["metric"] for f in report["gate"]["failures"]} == {"nDCG@10", "RR@10", "R@100",
                                                                 "AP"} - {"R@100"}
    last = result.stderr.splitlines()[-1]
    assert last.startswith("Error: gate failed: significantly worse than base by more than "
                           "0.02 (p < 0.05): new nDCG@10 -")


def test_gate_passes_on_the_same_run_twice(runner, files):
    result = runner.invoke(app, ["eval", "--qrels", str(files["qrels"]), "--run",
                                 f"one={files['b']}", "--run", f"two={files['b']}",
                                 "--max-drop", "0"])
    assert result.exit_code == 0, result.stderr
    report = orjson.loads(result.stdout)
    assert report["gate"] == {"max_drop": 0.0, "alpha": 0.05, "passed": True, "failures": []}
    assert all(r["p_value"] == 1.0 and r["delta"] == 0.0 and r["wins"] == r["losses"] == 0
               for r in report["comparisons"])


def test_gate_needs_a_big_enough_drop(runner, files):
    result = runner.invoke(app, ["eval", "--qrels", str(files["qrels"]), "--run",
                                 f"base={files['b']}", "--run", f"new={files['worse']}",
                                 "--max-drop", "1"])
    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("q1 Q0 d1 1 0.5 t\nq1 Q0 d2 2 0.4 t\nq1 Q0 d3 3 t\n", 3,
         "expected 6 whitespace-separated columns (qid Q0 docid rank score tag), got 5"),
        ("q1 Q0 d1 1 0.5 t\n\nq1 Q0 d2 2 high t\n", 3, "score 'high' is not a finite number"),
        ("q1 Q0 d1 1 0.5 t\nq2 Q0 d1 1 0.5 t\nq1 Q0 d1 2 0.4 t\n", 3,
         "query 'q1' lists document 'd1' again (line 1)"),
        ('{"qid": "q1", "doc_id": "d1", "score": 1.0}\n{"qid": "q1", "doc_id": "d2"}\n', 2,
         '"score" None is not a finite number'),
        ('{"qid": "q1", "doc_id": "d1", "score": 1.0}\n{"qid": "q1", "doc_id": "d1", '
         '"score": 0.5}\n', 2, "query 'q1' lists document 'd1' again (line 1)"),
        ('{"qid": "q1", "doc_id": "d1", "score": 1.0}\n{"qid": "q1", "score": 2}\n', 2,
         'expected a non-empty "doc_id" (string or integer)'),
        ('{"qid": "q1", "doc_id": "d1", "score": 1.0}\n{"qid": "q1",\n', 2, "invalid JSON"),
    ],
)
def test_bad_run_files_give_their_line(runner, files, tmp_path, text, line, reason):
    bad = tmp_path / "bad.run"
    bad.write_text(text)
    result = runner.invoke(app, ["eval", "--qrels", str(files["qrels"]), "--run",
                                 f"b={files['b']}", "--run", f"bad={bad}"])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {bad}:{line}: {reason}"), result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--run", "nofile"], "--run takes NAME=FILE, not 'nofile'"),
        (["--run", "a=x", "--run", "a=y"], "two runs are named 'a'"),
        (["--run", "a={b}", "--baseline", "z"], "--baseline 'z' is not a run: the runs are a"),
        (["--run", "a={b}", "--metrics", "nDCG"], "unknown metric nDCG: --metrics takes"),
        (["--run", "a={b}", "--test", "wilcoxon"], "--test must be one of t, randomization"),
        (["--run", "a={b}", "--correction", "fdr"], "--correction must be one of none, holm"),
        (["--run", "a={b}", "--max-drop", "0.1"], "--max-drop compares runs with the baseline"),
        (["--run", "a={b}", "--alpha", "1.5"], "--alpha must be between 0 and 1"),
        (["--run", "a=-"], "a run is read from a file, not from -"),
        ([], "give --index-dir and --queries (an index's pipelines), or --run NAME=FILE"),
        (["--run", "a={b}", "--run", "b={b}", "--plot", "x.jpg"],
         "--plot must end in .png or .svg"),
    ],
)
def test_usage_errors_exit_2(runner, files, args, message):
    args = [a.replace("{b}", str(files["b"])) for a in args]
    result = runner.invoke(app, ["eval", "--qrels", str(files["qrels"]), *args])
    assert result.exit_code == 2, result.stderr
    assert f"Error: {message}" in result.stderr


def test_empty_or_missing_run_file(runner, files, tmp_path):
    empty = tmp_path / "empty.run"
    empty.write_text("\n")
    for path, reason in ((empty, "no results"), (tmp_path / "nope.run", "no such file")):
        result = runner.invoke(app, ["eval", "--qrels", str(files["qrels"]), "--run",
                                     f"x={path}"])
        assert result.exit_code == 1 and result.stderr == f"Error: {path}: {reason}\n"


def test_mappings_and_files_give_the_same_numbers(files):
    runs = files["runs"]
    from_files = compare({"b": files["b"], "c": files["c"]}, files["qrels"])
    from_maps = compare({"b": runs["b"], "c": runs["c"]}, files["qrels_"])
    for key in ("runs", "comparisons"):
        for one, two in zip(from_files.report[key], from_maps.report[key], strict=True):
            one, two = dict(one), dict(two)
            one.pop("source", None), two.pop("source", None)
            assert one == two
    with pytest.raises(InputError, match="lists a document twice"):
        compare({"x": {"q00": [("d1", 1.0), ("d1", 0.5)]}}, files["qrels_"])


def test_plot_of_deltas(runner, files, tmp_path):
    png = tmp_path / "deltas.png"
    result = runner.invoke(app, ["eval", "--qrels", str(files["qrels"]), "--run",
                                 f"b={files['b']}", "--run", f"c={files['c']}", "--plot",
                                 str(png)])
    assert result.exit_code == 0, result.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"plot written to {png}" in result.stderr


def test_search_runs_round_trip_and_mix_with_the_index_pipeline(runner, sample_index,
                                                                 tmp_path):
    """search --format trec and --format jsonl give the numbers eval gives the index itself."""
    search = ["search", "--index-dir", str(sample_index), "--queries",
              str(SAMPLE / "queries.jsonl"), "--no-rerank", "--retriever", "bm25", "-k", "100"]
    for fmt in ("trec", "jsonl"):
        out = runner.invoke(app, [*search, "--format", fmt, "-o", str(tmp_path / f"r.{fmt}")])
        assert out.exit_code == 0, out.stderr
    assert read_run(tmp_path / "r.trec") == read_run(tmp_path / "r.jsonl")
    result = runner.invoke(app, [
        "eval", "--qrels", str(SAMPLE / "qrels.tsv"), "--run", f"trec={tmp_path / 'r.trec'}",
        "--run", f"jsonl={tmp_path / 'r.jsonl'}", "--index-dir", str(sample_index),
        "--queries", str(SAMPLE / "queries.jsonl"), "--no-rerank", "--retriever", "bm25",
        "--metrics", "nDCG@10,R@100,RR@10,AP,P@5,Judged@10"])
    assert result.exit_code == 0, result.stderr
    report = orjson.loads(result.stdout)
    assert [r["name"] for r in report["runs"]] == ["trec", "jsonl", "first_stage"]
    means = [r["means"] for r in report["runs"]]
    assert means[0] == means[1] == means[2]
    assert means[0]["nDCG@10"] == pytest.approx(report["pipeline"]["first_stage"]["ndcg@10"])
    assert means[0]["AP"] == pytest.approx(report["pipeline"]["first_stage"]["map"])
    assert all(r["ties"] == report["queries"] for r in report["comparisons"])


def test_an_index_alone_compares_its_first_stage_and_reranking(runner, sample_index,
                                                               tiny_reranker_dir, tmp_path):
    """--metrics without --run: the index's two pipelines are the runs, first_stage first."""
    result = runner.invoke(app, [
        "eval", "--qrels", str(SAMPLE / "qrels.tsv"), "--index-dir", str(sample_index),
        "--queries", str(SAMPLE / "queries.jsonl"), "--reranker", str(tiny_reranker_dir),
        "--candidates", "20", "--metrics", "nDCG@10,R@20"])
    assert result.exit_code == 0, result.stderr
    report = orjson.loads(result.stdout)
    assert [r["name"] for r in report["runs"]] == ["first_stage", "reranked"]
    assert report["baseline"] == "first_stage" and report["runs"][0]["source"] is None
    for run in report["runs"]:
        assert run["means"]["nDCG@10"] == pytest.approx(
            report["pipeline"][run["name"]]["ndcg@10"], abs=1e-12)
    # a rerank only reorders the 20 candidates: recall at 20 ties on every query
    recall = next(r for r in report["comparisons"] if r["metric"] == "R@20")
    assert recall["ties"] == report["queries"] and recall["p_value"] == 1.0


def test_rerank_runs_round_trip(runner, tmp_path, tiny_reranker_dir):
    """`xenc rerank --format trec` writes a run that `eval --run` reads back: the same
    documents in the same order, and the same means as the JSONL records give."""
    docs = [json.loads(line) for line in (SAMPLE / "corpus.jsonl").read_text().splitlines()
            if line.strip()][:12]
    requests = [{"qid": "q1", "query": "moon phases and eclipses",
                 "documents": [{"id": d["id"], "text": d.get("text", "")} for d in docs]},
                {"qid": "q2", "query": "keeping bread starter alive",
                 "documents": [{"id": d["id"], "text": d.get("text", "")} for d in docs[::-1]]}]
    req = tmp_path / "req.jsonl"
    req.write_text("".join(json.dumps(r) + "\n" for r in requests))
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text(f"q1\t0\t{docs[0]['id']}\t1\nq2\t0\t{docs[3]['id']}\t2\n"
                     f"q2\t0\t{docs[5]['id']}\t1\n")
    for fmt in ("trec", "jsonl"):
        out = runner.invoke(app, ["rerank", str(req), "--reranker", str(tiny_reranker_dir),
                                  "--format", fmt, "-o", str(tmp_path / f"run.{fmt}")])
        assert out.exit_code == 0, out.stderr
    trec, jsonl = read_run(tmp_path / "run.trec"), read_run(tmp_path / "run.jsonl")
    assert [d for d, _ in trec["q1"]] == [d for d, _ in jsonl["q1"]]
    assert trec == jsonl
    result = runner.invoke(app, ["eval", "--qrels", str(qrels), "--run",
                                 f"trec={tmp_path / 'run.trec'}", "--run",
                                 f"jsonl={tmp_path / 'run.jsonl'}"])
    assert result.exit_code == 0, result.stderr
    report = orjson.loads(result.stdout)
    means = {r["name"]: r["means"] for r in report["runs"]}
    assert means["trec"] == means["jsonl"]
