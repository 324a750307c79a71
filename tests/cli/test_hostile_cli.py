"""A sample of hostile files through the CLI: exit 0 with correct output, or exit 1/2 with one
``Error:`` line, no traceback, and no partial output file or index directory."""

from __future__ import annotations

import math
from pathlib import Path

import orjson
import pytest
from conftest import jsonl_bytes
from hostile import listing, nested

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "data" / "sample"


def tree(folder: Path) -> list[str]:
    """Every path under ``folder`` (hidden temporaries included)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture(scope="module")
def small_index(tmp_path_factory, tiny_encoder_dir) -> Path:
    """The first 40 sample documents, indexed (quicker than the whole sample)."""
    from xenc.config import ChunkParams
    from xenc.pipeline import build_index

    folder = tmp_path_factory.mktemp("hostile")
    corpus = folder / "corpus.jsonl"
    corpus.write_bytes(b"".join((SAMPLE_DIR / "corpus.jsonl").read_bytes().splitlines(True)[:40]))
    build_index(corpus, folder / "idx", encoder=str(tiny_encoder_dir),
                chunk=ChunkParams(chunk_tokens=64, stride=8))
    return folder / "idx"


def run_cli(args: list[str], stdin: bytes | None = None):
    from typer.testing import CliRunner

    from xenc.cli.app import app

    result = CliRunner().invoke(app, args, input=stdin)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        repr(result.exception))
    assert "Traceback" not in result.stderr
    if result.exit_code != 0:
        assert result.exit_code in (1, 2), (result.exit_code, result.stderr)
        assert result.stderr.startswith("Error: ") and result.stderr.endswith("\n")
        assert len(result.stderr.splitlines()) == 1, result.stderr
    return result


HOSTILE_CORPORA = {
    "bom_crlf": (b'\xef\xbb\xbf{"id": "a", "text": "alpha"}\r\n\r\n{"id": "b", "text": "beta"}\r\n',
                 2),
    "stopwords_and_punctuation": (jsonl_bytes([{"id": "a", "text": "the of and a"},
                                              {"id": "b", "text": "?!... ;; --"}]), 2),
    "long_document": (jsonl_bytes([{"id": "a", "text": "word " * 5_000}]), 1),
    "deep_but_allowed": (b'{"id": "a", "text": "t", "m": ' + b"[" * 100 + b"]" * 100 + b"}\n",
                         1),
    "empty": (b"", "no documents"),
    "blank_lines": (b"\n \r\n\t\n", "no documents"),
    "invalid_json": (jsonl_bytes([{"id": "a", "text": "x"}]) + b'{"id": "b", "text": \n', ":2: "),
    "nul_byte": (b'{"id": "a", "text": "x\x00y"}\n', ":1: invalid JSON"),
    "nul_escape": (b'{"id": "a", "text": "x\\u0000y"}\n', ":1: field \"text\" contains a NUL"),
    "invalid_utf8": (b'{"id": "a", "text": "caf\xe9"}\n', ":1: invalid JSON"),
    "wrong_types": (b'{"id": ["a"], "text": "x"}\n', ":1: field \"id\" must be"),
    "missing_id": (b'{"text": "x"}\n', ":1: missing id field"),
    "duplicate_id": (jsonl_bytes([{"id": 1, "text": "x"}, {"id": "1", "text": "y"}]),
                     ':2: duplicate id "1"'),
    "deep_10000": (nested(10_000) + b"\n", ":1: nested deeper than"),
    "deep_300": (nested(300) + b"\n", ":1: nested deeper than"),
    "huge_bad_line": (b'{"id": "a", "text": "' + b"x" * 5_000_000 + b"\n", ":1: invalid JSON"),
    "not_an_object": (b"[1, 2]\n", ":1: expected a JSON object"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_CORPORA))
def test_cli_index_hostile(tmp_path, tiny_encoder_dir, name):
    data, expect = HOSTILE_CORPORA[name]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_bytes(data)
    before = tree(tmp_path)
    result = run_cli(["index", str(corpus), "--index-dir", str(tmp_path / "idx"), "--encoder",
                      str(tiny_encoder_dir), "--chunk-tokens", "64", "--chunk-stride", "8"])
    if isinstance(expect, int):
        assert result.exit_code == 0, result.stderr
        manifest = orjson.loads((tmp_path / "idx" / "manifest.json").read_bytes())
        assert manifest["counts"]["documents"] == expect
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    else:
        assert result.exit_code == 1
        assert result.stderr.startswith(f"Error: {corpus}") and expect in result.stderr
        assert tree(tmp_path) == before  # no index, no temporary directory


def test_cli_index_failure_keeps_existing_index(tmp_path, tiny_encoder_dir):
    good = tmp_path / "good.jsonl"
    good.write_bytes(jsonl_bytes([{"id": "a", "text": "alpha"}]))
    args = ["--index-dir", str(tmp_path / "idx"), "--encoder", str(tiny_encoder_dir)]
    assert run_cli(["index", str(good), *args]).exit_code == 0
    before = listing(tmp_path / "idx")
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(jsonl_bytes([{"id": "b", "text": "beta"}]) + nested(10_000) + b"\n")
    listing_before = tree(tmp_path)
    assert run_cli(["index", str(bad), *args]).exit_code == 1
    assert tree(tmp_path) == listing_before
    assert listing(tmp_path / "idx") == before


HOSTILE_QUERIES = {
    "stopwords_only": (jsonl_bytes([{"id": "1", "text": "the of and a to"}]), 1),
    "punctuation_only": (jsonl_bytes([{"id": "1", "text": "?!... ;; -- ((("}]), 1),
    "long_query": (jsonl_bytes([{"id": "1", "text": "star " * 3000}]), 1),
    "unicode": (b'\xef\xbb\xbf{"_id": 7, "query": "\xc3\xa9clipse \xe2\x80\xa8 lune"}\r\n', 1),
    "empty_file": (b"", 0),
    "empty_text": (b'{"id": "1", "text": "  "}\n', ":1: field \"text\" is empty"),
    "nul": (b'{"id": "1", "text": "a\\u0000b"}\n', ":1: field \"text\" contains a NUL"),
    "invalid_utf8": (b'{"id": "1", "text": "\xff"}\n', ":1: invalid JSON"),
    "duplicate": (jsonl_bytes([{"id": "1", "text": "a"}, {"id": 1, "text": "b"}]),
                  ':2: duplicate query id "1"'),
    "deep": (nested(2000) + b"\n", ":1: nested deeper than"),
}


@pytest.mark.parametrize("rerank", [False, True])
@pytest.mark.parametrize("name", sorted(HOSTILE_QUERIES))
def test_cli_search_hostile_queries(tmp_path, small_index, tiny_reranker_dir, name, rerank):
    data, expect = HOSTILE_QUERIES[name]
    queries = tmp_path / "q.jsonl"
    queries.write_bytes(data)
    out = tmp_path / "out.jsonl"
    before = tree(tmp_path)
    # k larger than the corpus (40 documents) without reranking; the tiny reranker on 3.
    model = ["--reranker", str(tiny_reranker_dir), "-k", "3"] if rerank else [
        "--no-rerank", "-k", "1000"]
    result = run_cli(["search", "--index-dir", str(small_index), "--queries", str(queries),
                      *model, "--candidates", "3", "-o", str(out)])
    if isinstance(expect, int):
        assert result.exit_code == 0, result.stderr
        records = [orjson.loads(line) for line in out.read_bytes().splitlines()]
        assert len({r["qid"] for r in records}) == expect
        assert len(records) <= 40  # k larger than the corpus: at most every document
        assert [r["rank"] for r in records] == list(range(1, len(records) + 1))
        assert all(math.isfinite(r["score"]) for r in records)
    else:
        assert result.exit_code == 1
        assert result.stderr.startswith(f"Error: {queries}") and expect in result.stderr
        assert tree(tmp_path) == before  # no partial output file


def test_cli_search_k_larger_than_corpus(tmp_path, tiny_encoder_dir):
    corpus = tmp_path / "c.jsonl"
    corpus.write_bytes(jsonl_bytes([{"id": "a", "text": "alpha star"}, {"id": "b", "text": "x"}]))
    idx = tmp_path / "idx"
    assert run_cli(["index", str(corpus), "--index-dir", str(idx), "--encoder",
                    str(tiny_encoder_dir)]).exit_code == 0
    for retriever in ("bm25", "dense", "hybrid"):
        result = run_cli(["search", "star", "--index-dir", str(idx), "--no-rerank", "-k", "50",
                          "--retriever", retriever])
        assert result.exit_code == 0, result.stderr
        ids = [orjson.loads(line)["doc_id"] for line in result.stdout.splitlines()]
        assert len(ids) == len(set(ids)) <= 2 and (retriever == "bm25" or set(ids) == {"a", "b"})


HOSTILE_PAIRS = {
    "fine": (jsonl_bytes([{"query": "q", "document": "d", "n": [1, {"x": None}]},
                         {"text_a": "", "text_b": ""}, {"sentence1": "?!", "sentence2": "the"}]),
             3),
    "long_and_unicode": (jsonl_bytes([{"query": "é " * 5000, "document": "\u2028" * 100}]), 1),
    "deep_250": (b'{"query": "q", "document": "d", "m": ' + b"[" * 126 + b"]" * 126 + b"}\n",
                 1),
    "deep_300": (nested(300) + b"\n", ":1: nested deeper than"),
    "deep_10000": (nested(10_000) + b"\n", ":1: nested deeper than"),
    "missing_half": (jsonl_bytes([{"query": "q", "document": "d"}, {"query": "q"}]),
                     ':2: has "query" but no "document"'),
    "wrong_type": (b'{"query": "q", "document": 3}\n', ':1: field "document" must be a string'),
    "nan": (b'{"query": "q", "document": "d", "x": NaN}\n', ":1: invalid JSON"),
    "invalid_utf8": (b'{"query": "\xc3", "document": "d"}\n', ":1: invalid JSON"),
    "empty": (b"", 0),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_PAIRS))
def test_cli_score_hostile(tmp_path, tiny_reranker_dir, name):
    data, expect = HOSTILE_PAIRS[name]
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_bytes(data)
    out = tmp_path / "scored.jsonl"
    before = tree(tmp_path)
    result = run_cli(["score", str(pairs), "--reranker", str(tiny_reranker_dir), "--max-length",
                      "64", "-o", str(out)])
    if isinstance(expect, int):
        assert result.exit_code == 0, result.stderr
        records = [orjson.loads(line) for line in out.read_bytes().splitlines()]
        assert len(records) == expect and all(math.isfinite(r["score"]) for r in records)
        assert tree(tmp_path) == sorted([*before, out.name])
    else:
        assert result.exit_code == 1
        assert result.stderr.startswith(f"Error: {pairs}") and expect in result.stderr
        assert tree(tmp_path) == before  # no partial output file, no temporary file


HOSTILE_QRELS = {
    "crlf_bom": (b"\xef\xbb\xbfq01 0 astro-018 2\r\nq02 0 astro-001 1\r\n", None),
    "huge_grade": (b"q01 0 astro-018 " + b"9" * 5000 + b"\n", ":1: relevance grade"),
    "grade_400_digits": (b"q01\tastro-018\t1" + b"0" * 400 + b"\n", ":1: relevance grade"),
    "invalid_utf8": (b"q01 0 astro-018 1\nq01 0 \xff 1\n", ":2: not valid UTF-8"),
    "header_only": (b"query-id\tcorpus-id\tscore\n", ": no judgments"),
    "empty": (b"", ": no judgments"),
    "nul": (b"q01 0 astro\x00018 1\n", None),
    "three_columns_trec": (b"q01 0 astro-018 1\nq01 astro-018 1\n", ":2: expected 4"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_QRELS))
def test_cli_eval_hostile_qrels(tmp_path, small_index, name):
    data, expect = HOSTILE_QRELS[name]
    qrels = tmp_path / "qrels.txt"
    qrels.write_bytes(data)
    out = tmp_path / "report.json"
    before = tree(tmp_path)
    result = run_cli(["eval", "--index-dir", str(small_index), "--queries",
                      str(SAMPLE_DIR / "queries.jsonl"), "--qrels", str(qrels), "--no-rerank",
                      "--candidates", "5", "-o", str(out)])
    if expect is None:
        if result.exit_code == 0:
            assert orjson.loads(out.read_bytes())["queries"] >= 1
        else:  # no judged query left: a usage error, and no report
            assert result.exit_code == 2 and tree(tmp_path) == before
    else:
        assert result.exit_code == 1
        assert result.stderr.startswith(f"Error: {qrels}") and expect in result.stderr
        assert tree(tmp_path) == before


def test_cli_refuses_pickle_weights_without_running_them(tmp_path):
    """A pytorch_model.bin that runs code when unpickled: refused, and the code never runs."""
    import pickle

    from tinymodels import make_tiny_cross_encoder, to_pickle_weights

    model = to_pickle_weights(make_tiny_cross_encoder(tmp_path / "ce"))
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (Path.touch, (marker,))

    (model / "pytorch_model.bin").write_bytes(pickle.dumps(Evil()))
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_bytes(jsonl_bytes([{"query": "q", "document": "d"}]))
    out = tmp_path / "out.jsonl"
    before = tree(tmp_path)
    result = run_cli(["score", str(pairs), "--reranker", str(model), "-o", str(out)])
    assert result.exit_code == 1
    assert "pickle weights" in result.stderr and "--trust-pickle-weights" in result.stderr
    assert not marker.exists() and tree(tmp_path) == before
