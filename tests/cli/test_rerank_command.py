"""`xenc rerank` through Typer's CliRunner: requests and TREC runs in, ranked records out."""

from __future__ import annotations

import json
import shutil

import orjson
import pytest
from conftest import SAMPLE, parse_jsonl, write_jsonl

from xenc.cli.app import app
from xenc.io.runs import read_trec_run

CORPUS = {d["id"]: d for d in map(json.loads, (SAMPLE / "corpus.jsonl").read_text().splitlines())}
QUERIES = {q["id"]: q["text"] for q in map(json.loads,
                                           (SAMPLE / "queries.jsonl").read_text().splitlines())}
RUN = [  # qid, doc_id, score: q03's documents are written out of order on purpose
    ("q01", "astro-010", 9.0), ("q01", "astro-001", 8.5), ("q01", "cook-002", 8.5),
    ("q01", "astro-003", 2.0),
    ("q03", "astro-003", 1.0), ("q03", "astro-002", 7.0), ("q03", "cook-001", 3.0),
]
# trec_eval's order: score descending, ties by document id descending
RUN_ORDER = {"q01": ["astro-010", "cook-002", "astro-001", "astro-003"],
             "q03": ["astro-002", "cook-001", "astro-003"]}


def _run_file(tmp_path, lines=RUN):
    path = tmp_path / "first.trec"
    path.write_text("".join(f"{q} Q0 {d} {i} {s} bm25\n" for i, (q, d, s) in enumerate(lines)))
    return path


def _passage(doc):
    return f"{doc['title']}\n{doc['text']}" if doc.get("title") else doc["text"]


def _invoke(runner, reranker_dir, *args, input=None):
    return runner.invoke(app, ["rerank", *args, "--reranker", str(reranker_dir)], input=input)


def _ranked(records):
    """Ranks 1..n per query, scores not increasing."""
    by_qid = {}
    for r in records:
        by_qid.setdefault(r["qid"], []).append(r)
    for group in by_qid.values():
        assert [r["rank"] for r in group] == list(range(1, len(group) + 1))
        scores = [r["score"] for r in group]
        assert scores == sorted(scores, reverse=True)
    return by_qid


def test_a_reranked_run_equals_score_on_the_same_pairs(runner, tmp_path, tiny_reranker_dir):
    run = _run_file(tmp_path)
    result = _invoke(runner, tiny_reranker_dir, "--run", str(run), "--queries",
                     str(SAMPLE / "queries.jsonl"), "--corpus", str(SAMPLE / "corpus.jsonl"))
    assert result.exit_code == 0, result.stderr
    records = parse_jsonl(result.stdout)
    by_qid = _ranked(records)
    assert list(by_qid) == ["q01", "q03"] and len(records) == len(RUN)
    pairs = [{"query": QUERIES[q], "document": _passage(CORPUS[d]), "qid": q, "doc_id": d}
             for q, d, _ in RUN]
    scored = runner.invoke(app, ["score", str(write_jsonl(tmp_path / "p.jsonl", pairs)),
                                 "--reranker", str(tiny_reranker_dir)])
    assert scored.exit_code == 0, scored.stderr
    expected = {(p["qid"], p["doc_id"]): p["score"] for p in parse_jsonl(scored.stdout)}
    got = {(r["qid"], r["doc_id"]): r["score"] for r in records}
    assert got == pytest.approx(expected, abs=1e-6)
    first = {q: dict(zip(ids, range(1, len(ids) + 1), strict=True)) for q, ids in RUN_ORDER.items()}
    run_scores = {(q, d): s for q, d, s in RUN}
    for r in records:
        assert r["first_stage_rank"] == first[r["qid"]][r["doc_id"]]
        assert r["index"] == r["first_stage_rank"] - 1
        assert r["first_stage_score"] == run_scores[(r["qid"], r["doc_id"])]
        assert r["reranked"] is True and r["title"] == CORPUS[r["doc_id"]]["title"]
        assert r["metadata"] == {k: v for k, v in CORPUS[r["doc_id"]].items()
                                 if k not in ("id", "title", "text")}


def test_texts_from_an_index_are_those_of_the_corpus(runner, tmp_path, tiny_reranker_dir,
                                                      sample_index):
    common = ["--run", str(_run_file(tmp_path)), "--queries", str(SAMPLE / "queries.jsonl")]
    from_corpus = _invoke(runner, tiny_reranker_dir, *common, "--corpus",
                          str(SAMPLE / "corpus.jsonl"))
    from_index = _invoke(runner, tiny_reranker_dir, *common, "--index-dir", str(sample_index))
    assert from_index.exit_code == 0, from_index.stderr
    assert parse_jsonl(from_index.stdout) == parse_jsonl(from_corpus.stdout)


REQUESTS = [
    {"qid": "a", "query": "what causes a lunar eclipse",
     "documents": ["The Sun is a star.", {"id": "moon", "text": "Earth's shadow falls on the "
                   "Moon.", "title": "Eclipses", "source": "wiki"}, "Bread needs flour."]},
    {"query": "how to feed a sourdough starter", "top_n": 1,
     "documents": ["Feed it flour and water.", "Stars shine."]},
]


@pytest.mark.parametrize("via", ["file", "stdin"])
def test_requests_are_ranked_with_positions(runner, tmp_path, tiny_reranker_dir, tiny_reranker,
                                            via):
    data = "".join(orjson.dumps(r).decode() + "\n" for r in REQUESTS)
    path = tmp_path / "requests.jsonl"
    path.write_text(data)
    result = _invoke(runner, tiny_reranker_dir, *([str(path)] if via == "file" else []),
                     input=data if via == "stdin" else None)
    assert result.exit_code == 0, result.stderr
    by_qid = _ranked(parse_jsonl(result.stdout))
    assert list(by_qid) == ["a", "2"]  # no qid: the line number
    assert len(by_qid["a"]) == 3 and len(by_qid["2"]) == 1  # the request's top_n
    for r in by_qid["a"]:
        doc = REQUESTS[0]["documents"][r["index"]]
        assert r["doc_id"] == ("moon" if isinstance(doc, dict) else str(r["index"]))
        assert r["first_stage_rank"] == r["index"] + 1 and "first_stage_score" not in r
        text = doc["text"] if isinstance(doc, dict) else doc
        passage = f"Eclipses\n{text}" if isinstance(doc, dict) else text
        want = float(tiny_reranker.predict([(REQUESTS[0]["query"], passage)])[0])
        assert r["score"] == pytest.approx(want, abs=1e-6)
    moon = next(r for r in by_qid["a"] if r["doc_id"] == "moon")
    assert moon["title"] == "Eclipses" and moon["metadata"] == {"source": "wiki"}
    scores = tiny_reranker.predict([(REQUESTS[1]["query"], d) for d in REQUESTS[1]["documents"]])
    assert by_qid["2"][0]["index"] == int(scores.argmax())
    assert "reranked with" in result.stderr and "fusion none" in result.stderr


def test_top_n_option_and_trec_round_trip(runner, tmp_path, tiny_reranker_dir):
    data = orjson.dumps(REQUESTS[0]).decode() + "\n"
    jsonl = _invoke(runner, tiny_reranker_dir, "--top-n", "2", input=data)
    records = parse_jsonl(jsonl.stdout)
    assert [r["rank"] for r in records] == [1, 2]
    out = tmp_path / "reranked.trec"
    trec = _invoke(runner, tiny_reranker_dir, "--top-n", "2", "--format", "trec",
                   "--run-tag", "ce", "-o", str(out), input=data)
    assert trec.exit_code == 0 and trec.stdout == ""
    assert all(line.endswith(" ce") for line in out.read_text().splitlines())
    assert read_trec_run(out) == {"a": [(r["doc_id"], r["score"]) for r in records]}
    table = _invoke(runner, tiny_reranker_dir, "--format", "table", input=data)
    assert table.stdout.splitlines()[0].split()[:3] == ["QID", "RANK", "DOC_ID"]
    assert len(table.stdout.splitlines()) == 4


BAD = [
    ('{"documents": ["x"]}', 'no "query"'),
    ('{"query": 3, "documents": ["x"]}', '"query" must be a string, got int'),
    ('{"query": "  ", "documents": ["x"]}', '"query" is empty'),
    ('{"query": "q"}', 'no "documents"'),
    ('{"query": "q", "documents": "x"}', '"documents" must be a list, got str'),
    ('{"query": "q", "documents": []}', '"documents" is empty'),
    ('{"query": "q", "documents": ["x", 5]}',
     'documents[1]: must be a string or an object with "text", got int'),
    ('{"query": "q", "documents": [{"text": ["x"]}]}',
     'documents[0]: "text" must be a string, got list'),
    ('{"query": "q", "documents": [{"id": "d"}]}', 'documents[0]: no "text"'),
    ('{"query": "q", "documents": [{"id": "d", "text": "x"}, {"id": "d", "text": "y"}]}',
     "documents[1]: id 'd' is also documents[0]'s"),
    ('{"query": "q", "documents": ["x"], "top_n": 0}', '"top_n" must be a positive integer'),
    ("[1, 2]", "expected a JSON object, got list"),
]


@pytest.mark.parametrize(("line", "reason"), BAD)
def test_a_bad_request_stops_with_its_line(runner, tmp_path, tiny_reranker_dir, line, reason):
    path = tmp_path / "requests.jsonl"
    path.write_text('{"query": "q", "documents": ["fine"]}\n\n' + line + "\n")
    out = tmp_path / "out.jsonl"
    result = _invoke(runner, tiny_reranker_dir, str(path), "-o", str(out))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {path}:3: {reason}")
    assert not out.exists()  # written atomically: nothing on failure


def test_skip_invalid_reports_and_goes_on(runner, tiny_reranker_dir):
    data = "".join(f"{line}\n" for line, _ in BAD[:4]) + '{"query": "q", "documents": ["ok"]}\n'
    result = _invoke(runner, tiny_reranker_dir, "--skip-invalid", input=data)
    assert result.exit_code == 0, result.stderr
    assert [(r["qid"], r["doc_id"]) for r in parse_jsonl(result.stdout)] == [("5", "0")]
    for line_no, (_, reason) in enumerate(BAD[:4], start=1):
        assert f"skipped <stdin>:{line_no}: {reason}" in result.stderr
    assert "4 invalid lines skipped" in result.stderr


def test_a_run_document_missing_from_the_corpus(runner, tmp_path, tiny_reranker_dir):
    lines = [*RUN[:2], ("q01", "nope-1", 8.7), *RUN[2:]]
    run = _run_file(tmp_path, lines)
    args = ["--run", str(run), "--queries", str(SAMPLE / "queries.jsonl"),
            "--corpus", str(SAMPLE / "corpus.jsonl")]
    result = _invoke(runner, tiny_reranker_dir, *args)
    assert result.exit_code == 1
    assert result.stderr == (f"Error: {run}:3: document 'nope-1' is not in "
                             f"{SAMPLE / 'corpus.jsonl'}\n")
    result = _invoke(runner, tiny_reranker_dir, *args, "--skip-invalid")
    assert result.exit_code == 0, result.stderr
    assert f"skipped {run}:3: document 'nope-1'" in result.stderr
    q01 = {r["doc_id"]: r for r in parse_jsonl(result.stdout) if r["qid"] == "q01"}
    # the run ranked nope-1 second: the documents below it keep their run ranks
    assert {d: r["first_stage_rank"] for d, r in q01.items()} == {
        "astro-010": 1, "cook-002": 3, "astro-001": 4, "astro-003": 5}


def test_a_run_query_missing_from_the_queries(runner, tmp_path, tiny_reranker_dir):
    run = _run_file(tmp_path, [("q99", "astro-001", 1.0), *RUN])
    result = _invoke(runner, tiny_reranker_dir, "--run", str(run), "--queries",
                     str(SAMPLE / "queries.jsonl"), "--corpus", str(SAMPLE / "corpus.jsonl"))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {run}:1: query 'q99' is not in ")


@pytest.mark.parametrize(("args", "message"), [
    (["--run", "r.trec", "--corpus", "c.jsonl"], "--run needs --queries and one of --corpus "
     "or --index-dir"),
    (["--run", "r.trec", "--queries", "q", "--corpus", "c", "--index-dir", "i"],
     "--run needs --queries"),
    (["--queries", "q.jsonl"], "--queries, --corpus and --index-dir go with --run"),
    (["req.jsonl", "--run", "r", "--queries", "q", "--corpus", "c"],
     "give requests (FILE|-) or --run, not both"),
    (["--fusion", "mean"], "unknown fusion 'mean'"),
    (["--aggregate", "avg"], "--aggregate must be one of max, first, sum, not 'avg'"),
])
def test_usage_errors(runner, tiny_reranker_dir, args, message):
    result = _invoke(runner, tiny_reranker_dir, *args, input="")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ") and message in result.stderr


def test_the_models_own_fusion_is_not_applied_by_default(runner, tmp_path, tiny_reranker_dir):
    # linear:0 would be the input order alone: a model asking for it must not get it here
    own = tmp_path / "fused"
    shutil.copytree(tiny_reranker_dir, own)
    config = json.loads((own / "config.json").read_text())
    (own / "config.json").write_text(json.dumps({**config, "xenc_fusion": "linear:0.0"}))
    docs = [f"the moon and the sun number {i}" for i in range(6)]
    data = orjson.dumps({"qid": "f", "query": "moon", "documents": docs}).decode() + "\n"

    def order(*args):
        result = _invoke(runner, own, *args, input=data)
        assert result.exit_code == 0, result.stderr
        return [r["index"] for r in parse_jsonl(result.stdout)], result.stderr

    default, note = order()
    assert order("--fusion", "none")[0] == default
    assert "fusion none" in note
    assert default != list(range(6))  # the random model does not keep the input order
    assert order("--fusion", "linear:0")[0] == list(range(6))  # asked for: the input order


def test_requests_are_streamed_one_at_a_time(tmp_path):
    """A request's records come out before the next request is even written (a pipe)."""
    import os
    import subprocess
    import sys
    import threading

    from conftest import ROOT

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "xenc", "rerank", "-"], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    watchdog = threading.Timer(120, proc.kill)  # a record that never comes fails, not hangs
    watchdog.start()
    try:
        for qid in ("first", "second"):
            line = {"qid": qid, "query": "moon", "documents": ["the moon", "bread", "stars"]}
            proc.stdin.write(orjson.dumps(line) + b"\n")
            proc.stdin.flush()
            got = [orjson.loads(proc.stdout.readline()) for _ in range(3)]
            assert [(r["qid"], r["rank"]) for r in got] == [(qid, 1), (qid, 2), (qid, 3)]
        proc.stdin.close()
        assert proc.stdout.read() == b"" and proc.wait(timeout=60) == 0
    finally:
        watchdog.cancel()
        proc.kill()


def test_an_empty_corpus_document_in_a_run_is_scored_empty(runner, tmp_path, tiny_reranker_dir,
                                                           tiny_reranker):
    assert CORPUS["misc-002"]["text"] == "" and CORPUS["misc-002"]["title"] == ""
    run = _run_file(tmp_path, [("q01", "misc-002", 2.0), ("q01", "astro-001", 1.0)])
    result = _invoke(runner, tiny_reranker_dir, "--run", str(run), "--queries",
                     str(SAMPLE / "queries.jsonl"), "--corpus", str(SAMPLE / "corpus.jsonl"))
    assert result.exit_code == 0, result.stderr
    empty = next(r for r in parse_jsonl(result.stdout) if r["doc_id"] == "misc-002")
    want = float(tiny_reranker.predict([(QUERIES["q01"], "")])[0])
    assert empty["score"] == pytest.approx(want, abs=1e-6) and empty["first_stage_rank"] == 1
