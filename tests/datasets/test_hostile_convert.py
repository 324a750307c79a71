"""Hostile dataset folders through the converters: readable output or ONE located error."""

from __future__ import annotations

import json
import string
import tempfile
from pathlib import Path

import pytest
from hostile import (
    CONVERT,
    LINES,
    QRELS_JUNK,
    TEXTS,
    collect,
    jsonl_files,
    listing,
    nested,
    objects,
)
from hypothesis import given
from hypothesis import strategies as st

from xenc.errors import InputError, XencError
from xenc.io.corpus import read_corpus, read_queries
from xenc.io.jsonl import MAX_DEPTH
from xenc.io.qrels import read_qrels


def convert_contract(src: Path, out: Path) -> None:
    """convert() gives readable output, or one XencError naming a source file and no change."""
    from xenc.datasets import convert

    out.mkdir(exist_ok=True)
    (out / "keep.txt").write_text("untouched")
    before = listing(out.parent)
    try:
        summary = convert(src, out)
    except Exception as exc:  # noqa: BLE001
        assert isinstance(exc, XencError), repr(exc)
        message = str(exc)
        assert "\n" not in message and message.startswith(str(src)), message
        assert listing(out.parent) == before  # nothing written, no temporary folder left
        return
    docs = list(read_corpus(out / "corpus.jsonl"))
    queries = list(read_queries(out / "queries.jsonl"))
    qrels = read_qrels(out / "qrels.tsv")
    assert (len(docs), len(queries)) == (summary.docs, summary.queries)
    assert set(qrels) <= {q.id for q in queries} and summary.qrels == sum(map(len, qrels.values()))
    assert (out / "keep.txt").read_text() == "untouched"
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".tmp")]


BEIR_LINES = st.one_of(
    st.builds(lambda o: json.dumps(o).encode(), objects().map(
        lambda o: {("_id" if k == "id" else k): v for k, v in o.items()})),
    st.builds(lambda i, t: json.dumps({"_id": i, "text": t}).encode(),
              st.sampled_from(["d1", "d2", "q1"]), TEXTS),
    LINES,
)


QUERY_LINES = st.one_of(
    st.builds(lambda i, t: json.dumps({"_id": i, "text": t}).encode(),
              st.sampled_from(["q1", "q2", 1]), TEXTS),
    LINES,
)


@CONVERT
@given(corpus=jsonl_files(BEIR_LINES), queries=jsonl_files(QUERY_LINES),
       qrels=st.lists(QRELS_JUNK | st.sampled_from([b"q1\td1\t1", b"q2\td2\t2", b"1\td1\t1"]),
                      max_size=4), header=st.booleans())
def test_convert_beir_hostile(corpus, queries, qrels, header):
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "beir"
        (src / "qrels").mkdir(parents=True)
        (src / "corpus.jsonl").write_bytes(corpus)
        (src / "queries.jsonl").write_bytes(queries)
        head = [b"query-id\tcorpus-id\tscore"] if header else []
        (src / "qrels" / "test.tsv").write_bytes(b"\n".join([*head, *qrels]) + b"\n")
        convert_contract(src, Path(tmp) / "out")


SMART_LINES = st.one_of(
    st.sampled_from([".I 1", ".I 2", ".I 3", ".I", ".I 1 2", ".T", ".W", ".A", ".B", ".X", ".K",
                     ".N", ".Q", "", "  ", "the of and", "?!;;", "a\x00b", "\ufeff.I 4",
                     ".I  5 ", "<p>x</p>", "x" * 3000]),
    st.text(max_size=15).map(lambda t: t.replace("\n", " ")),
)


SMART_RAW = st.sampled_from([b"\xff\xfe caf\xe9", b"\xed\xa0\x80", b"\x00\x00"])


@st.composite
def smart_files(draw) -> bytes:
    rows: list[bytes] = []
    for _ in range(draw(st.integers(0, 4))):
        rows.append(f".I {draw(st.sampled_from(['1', '2', '3', '01']))}".encode())
        for _ in range(draw(st.integers(0, 3))):
            rows.append(draw(st.sampled_from([b".T", b".W", b".A"])))
            rows.extend(draw(st.lists(st.text(string.ascii_lowercase + " ", max_size=12)
                                      .map(str.encode), max_size=2)))
    for at, junk in draw(st.lists(st.tuples(st.integers(0, 20), SMART_LINES.map(str.encode)
                                            | SMART_RAW), max_size=3)):
        rows.insert(min(at, len(rows)), junk)
    end = draw(st.sampled_from([b"\n", b"\r\n"]))
    return (b"\xef\xbb\xbf" if draw(st.booleans()) else b"") + end.join(rows) + end


SMART_QRELS = st.lists(st.sampled_from([b"1 1 0 0.000000", b"01 2 0 0", b"2 3", b"1 0 2 1",
                                        b"3 1 2", b"x", b"1 2 x"]) | QRELS_JUNK, max_size=4)


@CONVERT
@given(docs=smart_files(), queries=smart_files(), qrels=SMART_QRELS)
def test_convert_smart_hostile(docs, queries, qrels):
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "coll"
        src.mkdir()
        (src / "COLL.ALL").write_bytes(docs)
        (src / "COLL.QRY").write_bytes(queries)
        (src / "COLL.REL").write_bytes(b"\n".join(qrels) + b"\n")
        convert_contract(src, Path(tmp) / "out")


TREC_PIECES = st.sampled_from([
    "<DOC>", "</DOC>", "<DOCNO>", "</DOCNO>", "<DOCNO> d1 </DOCNO>", "<DOCNO>d2</DOCNO>",
    "<DOCNO>a b</DOCNO>", "<TEXT>", "</TEXT>", "<TITLE>", "</TITLE>", "<HL>", "the of and",
    "&amp;", "&#0;", "&bogus;", "<", ">", "<<a", "\x00", "?!", "\n", "caf\u00e9", "<top>",
    "</top>", "<num> Number: 1", "<title>", "<desc> Description:", "<narr>", "x" * 2000,
])


@st.composite
def trec_docs(draw) -> str:
    out = []
    for n in range(draw(st.integers(0, 3))):
        text = " ".join(draw(st.lists(TREC_PIECES, max_size=3)))
        out.append(f"<DOC>\n<DOCNO>d{n}</DOCNO>\n<TEXT>\n{text}\n</TEXT>\n</DOC>")
    for at, junk in draw(st.lists(st.tuples(st.integers(0, 5), TREC_PIECES), max_size=3)):
        out.insert(min(at, len(out)), junk)
    return "\n".join(out) + "\n"


@st.composite
def trec_topics(draw) -> str:
    out = []
    for n in range(draw(st.integers(0, 3))):
        title = " ".join(draw(st.lists(TREC_PIECES, max_size=2)))
        out.append(f"<top>\n<num> Number: {n}\n<title> {title}\n</top>")
    for at, junk in draw(st.lists(st.tuples(st.integers(0, 5), TREC_PIECES), max_size=2)):
        out.insert(min(at, len(out)), junk)
    return "\n".join(out) + "\n"


@CONVERT
@given(docs=trec_docs(), topics=trec_topics(), qrels=SMART_QRELS, crlf=st.booleans())
def test_convert_trec_hostile(docs, topics, qrels, crlf):
    end = "\r\n" if crlf else "\n"
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "trec"
        src.mkdir()
        (src / "docs.trec").write_bytes(docs.replace("\n", end).encode())
        (src / "topics.txt").write_bytes(topics.replace("\n", end).encode())
        (src / "qrels.txt").write_bytes(b"\n".join(qrels) + b"\n")
        convert_contract(src, Path(tmp) / "out")


@pytest.mark.parametrize(("inside", "after"), [
    ("<a" * 100_000, ""), ("", "<TEXT>" * 30_000), ("", "<HL>" * 30_000),
    ("<TEXT " * 30_000, "<DOC " * 30_000),
])
def test_trec_hostile_markup_is_not_quadratic(tmp_path, inside, after):
    """Unclosed tags by the ten thousand in one document: linear time (it took minutes)."""
    import time

    from xenc.datasets import read_trec_docs

    path = tmp_path / "d.trec"
    path.write_text(f"<DOC><DOCNO>d1</DOCNO><TEXT>body {inside}</TEXT>{after}</DOC>\n")
    t0 = time.perf_counter()
    docs, error = collect(read_trec_docs(path))
    assert time.perf_counter() - t0 < 3
    assert error is None and docs[0]["id"] == "d1" and docs[0]["text"].startswith("body")


@pytest.mark.parametrize("line", [
    nested(MAX_DEPTH + 1), nested(300), nested(10_000), b'{"_id": "x", "text": "\\ud800"}',
    b'{"_id": "x", "text": "\xed\xa0\x80"}', '{"_id":"x","text":"t"}'.encode("utf-16-le"),
])
def test_convert_beir_fallback_rejects_what_xenc_cannot_write(tmp_path, line):
    """The json-module fallback (for NaN) must not let through a line orjson cannot write:
    it used to raise RecursionError or TypeError, or accept UTF-16."""
    from xenc.datasets import convert

    src = tmp_path / "beir"
    (src / "qrels").mkdir(parents=True)
    (src / "corpus.jsonl").write_bytes(b'{"_id": "d1", "text": "one"}\n' + line + b"\n")
    (src / "queries.jsonl").write_text('{"_id": "q1", "text": "first"}\n')
    (src / "qrels" / "test.tsv").write_text("q1\td1\t1\n")
    with pytest.raises(InputError) as info:
        convert(src, tmp_path / "out")
    assert str(info.value).startswith(f"{src / 'corpus.jsonl'}:2: ")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("grade", ["9" * 5000, "-" + "9" * 19, "1" + "0" * 400])
def test_huge_grade_is_one_located_error(tmp_path, grade):
    """int() refuses > 4300 digits (ValueError), and huge grades overflow float in metrics."""
    from xenc.datasets import read_judgments

    for text in (f"q1 0 d1 1\nq1 0 d2 {grade}\n", f"query-id\tcorpus-id\tscore\nq1\td1\t1\n"
                 f"q1\td2\t{grade}\n"):
        path = tmp_path / "qrels.txt"
        path.write_text(text)
        for reader in (read_qrels, read_judgments):
            with pytest.raises(InputError) as info:
                reader(path)
            assert str(info.value).startswith(f"{path}:") and "out of range" in str(info.value)
    path.write_text("q1 0 d1 " + "0" * 30 + "7\n")  # leading zeros are fine
    assert read_qrels(path) == {"q1": {"d1": 7}}


def test_lisa_judgments_odd_counts(tmp_path):
    from xenc.datasets import read_lisa_judgments

    path = tmp_path / "LISARJ.NUM"
    for count in ("\u00b2", "9" * 5000):  # str.isdigit() is true for both; int() fails
        path.write_text(f"1 {count} 5\n")
        with pytest.raises(InputError) as info:
            read_lisa_judgments(path)
        assert str(info.value).startswith(f"{path}:1: query 1: expected a count")


def test_convert_resolves_ids_with_thousands_of_digits(tmp_path):
    from xenc.datasets import convert

    long_id = "7" * 5000
    src = tmp_path / "beir"
    (src / "qrels").mkdir(parents=True)
    (src / "corpus.jsonl").write_text(f'{{"_id": "{long_id}", "text": "one"}}\n')
    (src / "queries.jsonl").write_text('{"_id": "1", "text": "first"}\n')
    (src / "qrels" / "test.tsv").write_text(f"01\t0{long_id}\t1\n")
    summary = convert(src, tmp_path / "out")
    assert read_qrels(tmp_path / "out" / "qrels.tsv") == {"1": {long_id: 1}}
    assert summary.missing_docs == 0


@pytest.mark.parametrize("fmt", ["beir", "smart", "trec"])
def test_converted_nul_characters_are_readable_by_xenc(tmp_path, fmt):
    """xenc's readers refuse NUL in text, so convert must not write one (old files hold them)."""
    from xenc.datasets import convert

    src = tmp_path / fmt
    src.mkdir()
    if fmt == "beir":
        (src / "qrels").mkdir()
        (src / "corpus.jsonl").write_text(
            '{"_id": "d1", "title": "T\\u0000", "text": "a\\u0000b"}\n'
            '{"_id": "d2", "text": "\\u0000"}\n')
        (src / "queries.jsonl").write_text('{"_id": "q1", "text": "fi\\u0000rst"}\n')
        (src / "qrels" / "test.tsv").write_text("q1\td1\t1\n")
    elif fmt == "smart":
        (src / "X.ALL").write_bytes(b".I d1\n.T\nT\x00\n.W\na\x00b\n.I d2\n.W\n\x00\n")
        (src / "X.QRY").write_bytes(b".I 1\n.W\nfi\x00rst\n")
        (src / "X.REL").write_bytes(b"1 d1 0 0\n")
    else:
        (src / "d.trec").write_bytes(b"<DOC><DOCNO>d1</DOCNO><TITLE>T\x00</TITLE>"
                                     b"<TEXT>a\x00b</TEXT></DOC>\n<DOC><DOCNO>d2</DOCNO><TEXT>\x00</TEXT></DOC>\n")
        (src / "topics.txt").write_bytes(b"<top><num> 1 <title> fi\x00rst </top>\n")
        (src / "qrels.txt").write_bytes(b"1 0 d1 1\n")
    summary = convert(src, tmp_path / "out")
    docs = list(read_corpus(tmp_path / "out" / "corpus.jsonl"))
    queries = list(read_queries(tmp_path / "out" / "queries.jsonl"))
    assert [d.id for d in docs] == ["d1"] and summary.empty_docs == 1
    assert "\x00" not in docs[0].text + docs[0].title and docs[0].text.split() == ["a", "b"]
    assert queries[0].text.split() == ["fi", "rst"]
