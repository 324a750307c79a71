"""The command line through Typer's CliRunner: stdout data, stderr messages, exit codes."""

from __future__ import annotations

import orjson
import pytest
from conftest import SAMPLE
from typer.testing import CliRunner

from xenc.cli.app import app


@pytest.fixture()
def runner():
    return CliRunner()


def jsonl(text: str) -> list[dict]:
    return [orjson.loads(line) for line in text.splitlines()]


# index ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("via", ["file", "stdin"])
def test_index_from_file_or_stdin(runner, tmp_path, tiny_encoder_dir, via):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"id": "a", "text": "alpha beta"}\n{"_id": "b", "text": "gamma"}\n')
    arg = str(corpus) if via == "file" else "-"
    result = runner.invoke(
        app, ["index", arg, "--index-dir", str(tmp_path / "idx"), "--encoder",
              str(tiny_encoder_dir)],
        input=corpus.read_text() if via == "stdin" else None,
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert "indexed 2 documents (2 passages)" in result.stderr
    manifest = orjson.loads((tmp_path / "idx" / "manifest.json").read_bytes())
    assert manifest["corpus"]["source"] == (str(corpus) if via == "file" else "<stdin>")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "<stdin>:2: invalid JSON"),
        ('{"id": "a", "text": "dup"}', '<stdin>:2: duplicate id "a" (first seen on line 1)'),
        ('{"text": "no id"}', '<stdin>:2: missing id field "id" or "_id"'),
        ('{"id": "x", "text": ""}', '<stdin>:2: field "text" is empty'),
    ],
)
def test_index_bad_line(runner, tmp_path, tiny_encoder_dir, line, message):
    data = '{"id": "a", "text": "alpha"}\n' + line + "\n"
    result = runner.invoke(app, ["index", "-", "--index-dir", str(tmp_path / "idx"),
                                 "--encoder", str(tiny_encoder_dir)], input=data)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {message}")
    assert len(result.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_index_usage_errors(runner, tmp_path):
    result = runner.invoke(app, ["index", "x.jsonl", "--index-dir", str(tmp_path / "i"),
                                 "--chunk-tokens", "64", "--chunk-stride", "40"])
    assert result.exit_code == 2
    assert "Error: --chunk-stride must be between 0 and half of --chunk-tokens" in result.stderr
    result = runner.invoke(app, ["index", "x.jsonl"])
    assert result.exit_code == 2 and "--index-dir" in result.stderr


def test_index_missing_corpus(runner, tmp_path, tiny_encoder_dir):
    result = runner.invoke(app, ["index", str(tmp_path / "nope.jsonl"), "--index-dir",
                                 str(tmp_path / "i"), "--encoder", str(tiny_encoder_dir)])
    assert result.exit_code == 1
    assert result.stderr == f"Error: {tmp_path / 'nope.jsonl'}: no such file\n"


# search --------------------------------------------------------------------------------------


def search_args(sample_index, *extra):
    return ["search", "--index-dir", str(sample_index), *extra]


@pytest.mark.parametrize("via", ["argument", "file", "stdin"])
def test_search_inputs(runner, sample_index, tmp_path, via):
    queries = tmp_path / "q.jsonl"
    queries.write_text('{"id": "1", "text": "sourdough starter"}\n')
    extra = {"argument": ["sourdough starter"], "file": ["--queries", str(queries)],
             "stdin": ["--queries", "-"]}[via]
    result = runner.invoke(app, search_args(sample_index, *extra, "--no-rerank", "-k", "4"),
                           input=queries.read_text() if via == "stdin" else None)
    assert result.exit_code == 0, result.stderr
    records = jsonl(result.stdout)
    assert [r["rank"] for r in records] == [1, 2, 3, 4]
    assert {r["qid"] for r in records} == {"1"}
    assert all(r["reranked"] is False for r in records)
    assert records[0]["score"] >= records[-1]["score"]


def test_search_matches_python_api(runner, sample_index, tiny_reranker_dir):
    from xenc.config import SearchParams
    from xenc.models.cross_encoder import CrossEncoder
    from xenc.pipeline import open_index, search
    from xenc.records import Query

    result = runner.invoke(app, search_args(sample_index, "bird migration", "--reranker",
                                            str(tiny_reranker_dir), "-k", "5",
                                            "--candidates", "20"))
    assert result.exit_code == 0, result.stderr
    index = open_index(sample_index)
    expected = [r.to_dict() for r in search(
        index, [Query("1", "bird migration")], SearchParams(candidates=20, k=5),
        CrossEncoder(str(tiny_reranker_dir)))]
    assert jsonl(result.stdout) == expected
    assert all(r["reranked"] for r in expected)


@pytest.mark.parametrize("retriever", ["bm25", "hybrid"])
def test_candidates_below_k_same_from_shell_and_python(runner, sample_index, retriever):
    """--candidates 3 -k 6 on the shell and SearchParams(candidates=3, k=6) in Python both
    search 6 candidates deep (SearchParams raises candidates to k), with identical records."""
    from xenc.config import SearchParams
    from xenc.pipeline import open_index, search
    from xenc.records import Query

    params = SearchParams(retriever=retriever, candidates=3, k=6)
    assert params.candidates == 6
    result = runner.invoke(app, search_args(sample_index, "bird migration", "--no-rerank",
                                            "--retriever", retriever, "-k", "6",
                                            "--candidates", "3"))
    assert result.exit_code == 0, result.stderr
    index = open_index(sample_index)
    expected = [r.to_dict() for r in search(index, [Query("1", "bird migration")], params)]
    index.close()
    assert len(expected) == 6
    assert jsonl(result.stdout) == expected


def test_search_trec_and_table(runner, sample_index):
    result = runner.invoke(app, search_args(sample_index, "telescope", "--no-rerank",
                                            "--retriever", "bm25", "--format", "trec", "-k", "3"))
    assert result.exit_code == 0, result.stderr
    lines = [line.split() for line in result.stdout.splitlines()]
    assert [(f[0], f[1], f[3], f[5]) for f in lines] == [("1", "Q0", str(i), "xenc")
                                                          for i in (1, 2, 3)]
    table = runner.invoke(app, search_args(sample_index, "telescope", "--no-rerank",
                                           "--format", "table", "-k", "2"))
    assert table.exit_code == 0 and table.stdout.splitlines()[0].startswith("QID")
    assert len(table.stdout.splitlines()) == 3


def test_search_with_text_and_output_file(runner, sample_index, tmp_path):
    out = tmp_path / "res.jsonl"
    result = runner.invoke(app, search_args(sample_index, "compost", "--no-rerank",
                                            "--with-text", "-k", "2", "-o", str(out)))
    assert result.exit_code == 0 and result.stdout == ""
    records = jsonl(out.read_text())
    assert len(records) == 2 and all(r["text"] for r in records)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "no reranker chosen: pass --reranker NAME|PATH (a Hugging Face cross-encoder "
             "directory or hub id) or --no-rerank"),
        (["q", "--queries", "x.jsonl", "--no-rerank"], "give one QUERY argument or --queries"),
        (["--no-rerank"], "give one QUERY argument or --queries"),
        (["q", "--no-rerank", "--retriever", "fuzzy"], "--retriever must be one of bm25, dense"),
        (["q", "--no-rerank", "--format", "xml"], "--format must be one of jsonl, trec, table"),
        (["q", "--no-rerank", "--aggregate", "mean"], "--aggregate must be one of max"),
        (["q", "--reranker", "x", "--no-rerank"], "--reranker and --no-rerank exclude"),
    ],
)
def test_search_usage_errors(runner, sample_index, extra, message, no_default_reranker):
    args = search_args(sample_index, *extra) if extra else search_args(sample_index, "q")
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ") and message in result.stderr
    assert result.stdout == ""


def test_search_missing_index(runner, tmp_path):
    result = runner.invoke(app, ["search", "q", "--index-dir", str(tmp_path / "none"),
                                 "--no-rerank"])
    assert result.exit_code == 1
    assert result.stderr == f"Error: no index at {tmp_path / 'none'}: run `xenc index` first\n"


def test_search_bad_queries_line(runner, sample_index):
    result = runner.invoke(app, search_args(sample_index, "--queries", "-", "--no-rerank"),
                           input='{"id": "1", "text": "ok"}\n{"id": "2"}\n')
    assert result.exit_code == 1
    assert 'Error: <stdin>:2: missing text field "text"' in result.stderr


def test_index_dir_from_environment(runner, sample_index, monkeypatch):
    monkeypatch.setenv("XENC_INDEX_DIR", str(sample_index))
    result = runner.invoke(app, ["search", "rain", "--no-rerank", "-k", "1"])
    assert result.exit_code == 0, result.stderr
    assert len(jsonl(result.stdout)) == 1


# score ---------------------------------------------------------------------------------------


PAIRS = [
    {"query": "how to feed a starter", "document": "Feed it flour and water.", "n": 1},
    {"text_a": "a red giant", "text_b": "stars late in life", "n": 2},
    {"sentence1": "A man plays guitar.", "sentence2": "Someone plays music.", "n": 3},
]


@pytest.mark.parametrize("via", ["file", "stdin"])
def test_score_keeps_lines_and_order(runner, tmp_path, tiny_reranker_dir, tiny_reranker, via):
    data = "".join(orjson.dumps(p).decode() + "\n" for p in PAIRS)
    path = tmp_path / "pairs.jsonl"
    path.write_text(data)
    args = ["score", str(path) if via == "file" else "-", "--reranker", str(tiny_reranker_dir)]
    result = runner.invoke(app, args, input=data if via == "stdin" else None)
    assert result.exit_code == 0, result.stderr
    records = jsonl(result.stdout)
    assert [r["n"] for r in records] == [1, 2, 3]
    texts = [tuple(v for k, v in p.items() if k != "n") for p in PAIRS]
    expected = tiny_reranker.predict(texts)[:, 0]
    assert [r["score"] for r in records] == pytest.approx([float(x) for x in expected], abs=1e-6)
    assert all(set(r) == set(p) | {"score"} for r, p in zip(records, PAIRS, strict=True))


def test_score_multi_label(runner, tiny_nli_dir):
    data = '{"sentence1": "A dog runs.", "sentence2": "An animal moves."}\n'
    result = runner.invoke(app, ["score", "-", "--reranker", str(tiny_nli_dir)], input=data)
    assert result.exit_code == 0, result.stderr
    (record,) = jsonl(result.stdout)
    assert set(record["scores"]) == {"contradiction", "entailment", "neutral"}
    assert sum(record["scores"].values()) == pytest.approx(1.0, abs=1e-5)
    assert record["label"] == max(record["scores"], key=record["scores"].get)


def test_score_bad_line_and_skip_invalid(runner, tmp_path, tiny_reranker_dir):
    data = ('{"query": "q", "document": "d"}\n{"query": "only"}\n'
            '{"query": "q", "document": 3}\nnot json\n{"query": "q2", "document": "d2"}\n')
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["score", "-", "--reranker", str(tiny_reranker_dir),
                                 "-o", str(out)], input=data)
    assert result.exit_code == 1
    assert result.stderr == 'Error: <stdin>:2: has "query" but no "document"\n'
    assert not out.exists() and list(tmp_path.iterdir()) == []
    result = runner.invoke(app, ["score", "-", "--reranker", str(tiny_reranker_dir),
                                 "--skip-invalid"], input=data)
    assert result.exit_code == 0
    assert [r["query"] for r in jsonl(result.stdout)] == ["q", "q2"]
    assert "skipped <stdin>:2:" in result.stderr and "skipped <stdin>:3:" in result.stderr
    assert "skipped <stdin>:4: invalid JSON" in result.stderr
    assert "3 invalid lines skipped" in result.stderr


def test_score_truncation_summary(runner, tiny_reranker_dir):
    long_doc = " ".join(["word"] * 300)
    data = orjson.dumps({"query": "q", "document": long_doc}).decode() + "\n"
    data += '{"query": "q", "document": "short"}\n'
    result = runner.invoke(app, ["score", "-", "--reranker", str(tiny_reranker_dir),
                                 "--max-length", "64"], input=data)
    assert result.exit_code == 0, result.stderr
    assert "scored 2 pairs; 1 truncated to 64 tokens" in result.stderr


def test_score_activation_option(runner, tiny_reranker_dir):
    data = '{"query": "q", "document": "d"}\n'
    raw = runner.invoke(app, ["score", "-", "--reranker", str(tiny_reranker_dir),
                              "--activation", "none"], input=data)
    sig = runner.invoke(app, ["score", "-", "--reranker", str(tiny_reranker_dir)], input=data)
    logit = jsonl(raw.stdout)[0]["score"]
    import math

    assert jsonl(sig.stdout)[0]["score"] == pytest.approx(1 / (1 + math.exp(-logit)), abs=1e-6)
    bad = runner.invoke(app, ["score", "-", "--reranker", str(tiny_reranker_dir),
                              "--activation", "relu"], input=data)
    assert bad.exit_code == 2 and "relu" in bad.stderr


def test_score_without_reranker(runner, no_default_reranker):
    result = runner.invoke(app, ["score", "-"], input="")
    assert result.exit_code == 2 and "no reranker chosen" in result.stderr


# eval ----------------------------------------------------------------------------------------


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
    from xenc import metrics
    from xenc.qrels import read_qrels

    result = runner.invoke(app, eval_args(sample_index, "--no-rerank", "--retriever", "bm25",
                                          "--candidates", "50"))
    assert result.exit_code == 0, result.stderr
    report = orjson.loads(result.stdout)
    assert report["reranked"] is None
    run = runner.invoke(app, ["search", "--index-dir", str(sample_index), "--queries",
                              str(SAMPLE / "queries.jsonl"), "--no-rerank", "--retriever", "bm25",
                              "--candidates", "50", "-k", "50"])
    ranked: dict[str, list[str]] = {}
    for r in jsonl(run.stdout):
        ranked.setdefault(r["qid"], []).append(r["doc_id"])
    per_query = metrics.evaluate(ranked, read_qrels(SAMPLE / "qrels.tsv"),
                                 recall_k=(10, 50, 100))
    expected = metrics.aggregate(per_query)
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
    records = jsonl(search.stdout)
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


# misc ----------------------------------------------------------------------------------------


def test_help_is_fast_and_lists_commands(runner):
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("index", "search", "score", "eval", "convert"):
        assert command in result.stdout
    for command in ("index", "search", "score", "eval", "convert"):
        sub = runner.invoke(app, [command, "--help"])
        assert sub.exit_code == 0 and "Example" in sub.stdout


def test_help_imports_no_heavy_module():
    import subprocess
    import sys

    code = ("import sys; from xenc.cli.app import app; "
            "print(sorted(m for m in ('torch', 'transformers', 'hnswlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_convert_beir_folder(runner, tmp_path):
    src = tmp_path / "beir"
    (src / "qrels").mkdir(parents=True)
    (src / "corpus.jsonl").write_text(
        '{"_id": "d1", "title": "T", "text": "one"}\n{"_id": "d2", "text": "two"}\n')
    (src / "queries.jsonl").write_text('{"_id": "q1", "text": "first"}\n')
    (src / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td2\t1\n")
    result = runner.invoke(app, ["convert", str(src), str(tmp_path / "out")])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    out = tmp_path / "out"
    assert jsonl((out / "corpus.jsonl").read_text()) == [
        {"id": "d1", "title": "T", "text": "one"}, {"id": "d2", "text": "two"}]
    assert jsonl((out / "queries.jsonl").read_text()) == [{"id": "q1", "text": "first"}]
    assert (out / "qrels.tsv").read_text() == "query-id\tcorpus-id\tscore\nq1\td2\t1\n"
    bad = runner.invoke(app, ["convert", str(src), str(tmp_path / "o2"), "--format", "xml"])
    assert bad.exit_code == 2 and bad.stderr.startswith("Error: ")


def test_closed_pipe_exits_quietly(sample_index):
    """`xenc search ... | head -1`: no traceback, no message."""
    import subprocess
    import sys

    cmd = (f"{sys.executable} -m xenc search --index-dir {sample_index} --queries "
           f"{SAMPLE / 'queries.jsonl'} --no-rerank --retriever bm25 -k 50 | head -1")
    out = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True)
    assert len(out.stdout.splitlines()) == 1
    assert orjson.loads(out.stdout)["rank"] == 1
    assert out.stderr == ""
    assert out.returncode in (0, 1)


def test_pickle_weights_refused_unless_trusted(runner, tmp_path):
    from tinymodels import make_tiny_cross_encoder, to_pickle_weights

    model = to_pickle_weights(make_tiny_cross_encoder(tmp_path / "ce"))
    data = '{"query": "q", "document": "d"}\n'
    refused = runner.invoke(app, ["score", "-", "--reranker", str(model)], input=data)
    assert refused.exit_code == 1
    assert "pickle weights" in refused.stderr and "--trust-pickle-weights" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and refused.stdout == ""
    trusted = runner.invoke(app, ["score", "-", "--reranker", str(model),
                                  "--trust-pickle-weights"], input=data)
    assert trusted.exit_code == 0, trusted.stderr
    assert "score" in jsonl(trusted.stdout)[0]


def test_models_without_a_reranker_and_with_one(runner, tiny_reranker_dir, no_default_reranker):
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0, result.stderr
    records = jsonl(result.stdout)
    assert [r["role"] for r in records] == ["encoder", "reranker"]
    assert records[1]["name"] is None and "--reranker" in records[1]["message"]
    chosen = runner.invoke(app, ["models", "--reranker", str(tiny_reranker_dir)])
    reranker = jsonl(chosen.stdout)[1]
    assert reranker["chosen_by"] == "option" and reranker["source"] == "local"
    assert reranker["labels"] == ["LABEL_0"] and reranker["layers"] == 2
    assert "training" not in reranker and reranker["size_mb"] > 0
    missing = runner.invoke(app, ["models", "--reranker", "/no/such/dir"])
    assert missing.exit_code == 1
    assert missing.stderr == "Error: model directory not found: /no/such/dir\n"
