"""Hostile input: every reader either gives the right answer or ONE located XencError.

Property-based (hypothesis, derandomized so CI is reproducible) over the JSONL corpus and query
readers, qrels (TREC and BEIR forms), score pairs and the dataset converters, then a sample of
hostile files through the CLI: exit 0 with correct output, or exit 1/2 with one ``Error:`` line,
no traceback, and no partial output file or index directory.

The JSONL oracle is independent of orjson: Python's ``json`` module on the same bytes (strict
UTF-8, no NaN/Infinity, no lone surrogates, at most ``MAX_DEPTH`` levels) decides which lines are
objects, and the field rules of the docs are re-stated below.
"""

from __future__ import annotations

import json
import math
import re
import string
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xenc.corpus import read_corpus, read_queries
from xenc.errors import InputError, XencError
from xenc.formats import MAX_DEPTH
from xenc.qrels import read_qrels
from xenc.records import Document, Query
from xenc.scoring import score_stream

SETTINGS = settings(
    derandomize=True,
    deadline=None,
    max_examples=100,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.function_scoped_fixture],
)
FEW = settings(SETTINGS, max_examples=25)
CONVERT = settings(SETTINGS, max_examples=100)


def write(data: bytes) -> Path:
    """A fresh file holding ``data`` (hypothesis runs many examples per test function)."""
    fh = tempfile.NamedTemporaryFile("wb", suffix=".jsonl", delete=False)  # noqa: SIM115
    with fh:
        fh.write(data)
    return Path(fh.name)


def assert_located(exc: BaseException, source: str, line: int | None) -> None:
    """The error contract: an XencError whose one-line message starts ``source:line: ``."""
    assert isinstance(exc, XencError), repr(exc)
    message = str(exc)
    assert "\n" not in message and "\r" not in message
    where = f"{source}:{line}: " if line is not None else f"{source}: "
    assert message.startswith(where), (message, where)


# JSONL lines -------------------------------------------------------------------------------

IDS = st.sampled_from(["a", "b", " a ", "1", 1, 2, -3, "", "  ", True, None, 1.5, ["a"], {"x": 1},
                       "a\x00b", "d" * 300])
TEXTS = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["", "   ", "a\x00b", "the of and a", "?!... ;;", "\u2028\u00a0", "ünï çødé",
                     "x" * 5000]),
    st.integers(-(2**63), 2**63 - 1), st.none(), st.booleans(),
    st.lists(st.text(max_size=3), max_size=2),
)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8))
META = st.recursive(SCALARS, lambda kids: st.one_of(
    st.lists(kids, max_size=3), st.dictionaries(st.text(max_size=4), kids, max_size=3)),
    max_leaves=8)
KEYS = ["id", "_id", "text", "title", "query", "document", "text_a", "text_b", "sentence1",
        "sentence2", "year", "meta"]


@st.composite
def objects(draw) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key in draw(st.lists(st.sampled_from(KEYS), unique=True, max_size=6)):
        if key in ("id", "_id"):
            obj[key] = draw(IDS)
        elif key in ("year", "meta"):
            obj[key] = draw(META)
        else:
            obj[key] = draw(TEXTS)
    return obj


def nested(depth: int) -> bytes:
    return b'{"id": "deep", "text": "t", "query": "q", "document": "d", "m": ' + (
        b"[" * (depth - 1) + b"]" * (depth - 1)) + b"}"


SPECIAL_LINES = st.sampled_from([
    b"", b"   ", b"\t", b"\r", b"[]", b"1", b'"s"', b"null", b"NaN", b"{", b"}", b"{}",
    b'{"id": "n", "text": "t", "x": NaN}', b'{"id": "n", "text": "t", "x": 1e999}',
    b'{"id": "s", "text": "\\ud800"}', b'{"id": "s", "text": "\xed\xa0\x80"}',
    b'{"id": "z", "text": "a\\u0000b"}', b'{"id": "z", "text": "a\x00b"}',
    b'{"id": "u", "text": "caf\xe9"}', b'\xef\xbb\xbf{"id": "bom", "text": "late bom"}',
    '{"_id":"w","text":"utf16"}'.encode("utf-16-le"), b'{"id": "q", "text": "x", "id": "r"}',
    b'{"id": "big", "text": "t", "n": 123456789012345678901234567890}',
    nested(MAX_DEPTH - 1), nested(MAX_DEPTH), nested(MAX_DEPTH + 1), nested(254), nested(255),
    nested(1024), nested(1025), nested(10_000),
])


@st.composite
def mutated(draw) -> bytes:
    """A valid-looking line, then cut short or with one hostile byte sequence inserted."""
    line = orjson.dumps(draw(objects()))
    at = draw(st.integers(0, len(line)))
    how = draw(st.sampled_from(["cut", "insert"]))
    if how == "cut":
        return line[:at]
    junk = draw(st.sampled_from([b"\x00", b"\xff", b"\xed\xa0\x80", b"\xef\xbb\xbf", b"\r",
                                 b"{", b'"', b"\\", b"\x0b", b",", b"\xc3"]))
    return line[:at] + junk + line[at:]


def _json_line(obj: dict[str, Any], ascii_only: bool) -> bytes:
    return json.dumps(obj, ensure_ascii=ascii_only).encode("utf-8")


LINES = st.one_of(
    st.builds(_json_line, objects(), st.booleans()),
    st.builds(_json_line, objects(), st.booleans()),
    SPECIAL_LINES,
    mutated(),
    st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"")),
)


@st.composite
def jsonl_files(draw, lines=LINES) -> bytes:
    rows = draw(st.lists(lines, max_size=8))
    ends = [draw(st.sampled_from([b"\n", b"\r\n"])) for _ in rows]
    data = b"".join(row + end for row, end in zip(rows, ends, strict=True))
    if rows and draw(st.booleans()):
        data = data[: -len(ends[-1])]  # no line end after the last line
    if draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data
    return data


# The oracle --------------------------------------------------------------------------------


class Bad(Exception):
    """The oracle's verdict: this line must be rejected."""


def _no_constants(name: str) -> Any:
    raise Bad(f"not JSON: {name}")


def _check_value(value: Any) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if any(0xD800 <= ord(ch) <= 0xDFFF for ch in item):
                raise Bad("lone surrogate")
        elif isinstance(item, float) and not math.isfinite(item):
            raise Bad("not finite")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def oracle_lines(data: bytes) -> list[tuple[int, dict[str, Any] | None]]:
    """``(line_no, object or None when the line must be rejected)`` for each non-blank line."""
    out = []
    rows = data.split(b"\n")
    if rows and rows[-1] == b"":
        rows.pop()
    for line_no, raw in enumerate(rows, start=1):
        line = raw.rstrip(b"\r")
        if line_no == 1 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]
        if not line.strip():
            continue
        try:
            if line.count(b"[") + line.count(b"{") > 900:
                raise Bad("deeper than json can go")  # json.loads would hit RecursionError
            obj = json.loads(line.decode("utf-8"), parse_constant=_no_constants)
            _check_value(obj)
            if not isinstance(obj, dict) or _depth(obj) > MAX_DEPTH:
                raise Bad("not an object, or too deep")
        except (Bad, ValueError, RecursionError):
            obj = None
        out.append((line_no, obj))
    return out


def _floats_equal(a: Any, b: Any) -> bool:
    """Equality where a huge integer may come back as the float orjson makes of it."""
    if isinstance(a, int) and isinstance(b, float) and not isinstance(a, bool):
        return abs(a) > 2**64 and float(a) == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_floats_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_floats_equal(x, y) for x, y in zip(a, b, strict=True))
    return a == b and type(a) is type(b)


def _id_of(obj: dict[str, Any]) -> str:
    for name in ("id", "_id"):
        if obj.get(name) is not None:
            value = obj[name]
            if isinstance(value, bool) or not isinstance(value, str | int):
                raise Bad("id type")
            if not str(value).strip():
                raise Bad("empty id")
            return str(value).strip()
    raise Bad("no id")


def _text_of(obj: dict[str, Any], name: str, required: bool) -> str:
    value = obj.get(name)
    if value is None:
        if required:
            raise Bad("no text")
        return ""
    if not isinstance(value, str) or "\x00" in value:
        raise Bad("text type or NUL")
    if required and not value.strip():
        raise Bad("empty text")
    return value


def expected_corpus(data: bytes) -> tuple[list[Document], int | None]:
    docs, seen = [], set()
    for line_no, obj in oracle_lines(data):
        try:
            if obj is None:
                raise Bad("line")
            doc_id = _id_of(obj)
            text = _text_of(obj, "text", True)
            title = _text_of(obj, "title", False).strip()
            if doc_id in seen:
                raise Bad("duplicate")
        except Bad:
            return docs, line_no
        seen.add(doc_id)
        meta = {k: v for k, v in obj.items() if k not in ("id", "_id", "text", "title")}
        docs.append(Document(doc_id, text, title, meta))
    return docs, None


def expected_queries(data: bytes) -> tuple[list[Query], int | None]:
    queries, seen = [], set()
    for line_no, obj in oracle_lines(data):
        try:
            if obj is None:
                raise Bad("line")
            qid = _id_of(obj)
            field = "text" if "text" in obj or "query" not in obj else "query"
            text = _text_of(obj, field, True)
            if qid in seen:
                raise Bad("duplicate")
        except Bad:
            return queries, line_no
        seen.add(qid)
        queries.append(Query(qid, text))
    return queries, None


def collect(iterator) -> tuple[list[Any], BaseException | None]:
    """Everything an iterator yields before it fails, and what it failed with."""
    got: list[Any] = []
    try:
        for item in iterator:
            got.append(item)
    except Exception as exc:  # noqa: BLE001 - the test decides what was acceptable
        return got, exc
    return got, None


def same_docs(got: list[Document], want: list[Document]) -> bool:
    return len(got) == len(want) and all(
        (g.id, g.text, g.title) == (w.id, w.text, w.title) and _floats_equal(w.metadata, g.metadata)
        for g, w in zip(got, want, strict=True))


# Corpus and queries ------------------------------------------------------------------------


@SETTINGS
@given(data=jsonl_files())
def test_read_corpus_matches_oracle(data):
    path = write(data)
    try:
        got, error = collect(read_corpus(path))
        want, bad_line = expected_corpus(data)
        assert same_docs(got, want), (got, want)
        if bad_line is None:
            assert error is None, error
        else:
            assert error is not None, f"line {bad_line} accepted"
            assert type(error) is InputError
            assert_located(error, str(path), bad_line)
    finally:
        path.unlink()


@SETTINGS
@given(data=jsonl_files())
def test_read_queries_matches_oracle(data):
    path = write(data)
    try:
        got, error = collect(read_queries(path))
        want, bad_line = expected_queries(data)
        assert got == want
        if bad_line is None:
            assert error is None, error
        else:
            assert type(error) is InputError, error
            assert_located(error, str(path), bad_line)
        skipped: list[InputError] = []
        kept, error = collect(read_queries(path, on_error=skipped.append))
        assert error is None, error  # --skip-invalid style: never raises
        assert kept[: len(want)] == want
        for exc in skipped:
            assert_located(exc, str(path), exc.line)
    finally:
        path.unlink()


def test_huge_line_and_long_document(tmp_path):
    text = "word " * 1_000_000  # a 5 MB line
    path = tmp_path / "c.jsonl"
    path.write_bytes(orjson.dumps({"id": "big", "text": text}) + b"\n" + b"{" + b"x" * 5_000_000
                     + b"\n")
    docs, error = collect(read_corpus(path))
    assert [d.text for d in docs] == [text]
    assert_located(error, str(path), 2)
    assert len(str(error)) < 300  # the bad line is not echoed


def test_empty_corpus_and_only_blank_lines(tmp_path):
    for data in (b"", b"\n\n", b"\xef\xbb\xbf\r\n  \r\n"):
        path = tmp_path / "c.jsonl"
        path.write_bytes(data)
        assert list(read_corpus(path)) == [] and list(read_queries(path)) == []


def test_missing_file_and_directory(tmp_path):
    for source, reason in ((tmp_path / "none.jsonl", "no such file"), (tmp_path, "is a directory")):
        with pytest.raises(InputError) as info:
            list(read_corpus(source))
        assert str(info.value).startswith(f"{source}: {reason}")


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 254, 1024, 1025, 10_000])
def test_deep_nesting_is_one_located_error(tmp_path, depth):
    """orjson reads 1024 levels but writes only 254: deeper records are refused on reading."""
    path = tmp_path / "c.jsonl"
    path.write_bytes(b'{"id": "a", "text": "ok"}\n' + nested(depth) + b"\n")
    docs, error = collect(read_corpus(path))
    assert [d.id for d in docs] == ["a"]
    assert str(error) == f"{path}:2: nested deeper than {MAX_DEPTH} levels"


# Score pairs -------------------------------------------------------------------------------


class StandIn:
    """A cross-encoder stand-in: score = len(a) - len(b) / 1000, deterministic and fast."""

    num_labels = 1
    labels = ["score"]

    def predict(self, pairs):
        return np.array([[len(a) - len(b) / 1000] for a, b in pairs], dtype=np.float32)


PAIRS = (("query", "document"), ("text_a", "text_b"), ("sentence1", "sentence2"))


def expected_pairs(data: bytes) -> tuple[list[dict[str, Any]], int | None]:
    out = []
    for line_no, obj in oracle_lines(data):
        if obj is None:
            return out, line_no
        for a, b in PAIRS:
            if a in obj or b in obj:
                if not (isinstance(obj.get(a), str) and isinstance(obj.get(b), str)):
                    return out, line_no
                out.append({**obj, "score": float(np.float32(len(obj[a]) - len(obj[b]) / 1000))})
                break
        else:
            return out, line_no
    return out, None


@SETTINGS
@given(data=jsonl_files(), block=st.sampled_from([1, 3, 1024]))
def test_score_stream_matches_oracle(data, block):
    path = write(data)
    try:
        got, error = collect(score_stream(path, StandIn(), block_size=block))
        want, bad_line = expected_pairs(data)
        if bad_line is None:
            assert error is None, error
            assert len(got) == len(want) and all(map(_floats_equal, want, got))
            for record in got:
                orjson.dumps(record)  # what `xenc score` writes next must not fail
        else:
            assert type(error) is InputError, error
            assert_located(error, str(path), bad_line)
            assert len(got) <= len(want)  # blocks are scored whole: fewer may come out
    finally:
        path.unlink()


@FEW
@given(data=jsonl_files())
def test_score_stream_with_tiny_cross_encoder(data, tiny_reranker):
    """The real (tiny) model: hostile texts (NUL, long, punctuation only) score or fail cleanly."""
    path = write(data)
    try:
        got, error = collect(score_stream(path, tiny_reranker, block_size=4))
        want, bad_line = expected_pairs(data)
        if bad_line is None:
            assert error is None, error
            assert len(got) == len(want)
            assert all(math.isfinite(r["score"]) for r in got)
        else:
            assert_located(error, str(path), bad_line)
    finally:
        path.unlink()


# Qrels -------------------------------------------------------------------------------------

IDENT = st.text(string.ascii_letters + string.digits + "-_.:", min_size=1, max_size=6)
QRELS = st.dictionaries(IDENT, st.dictionaries(IDENT, st.integers(-2, 3), min_size=1, max_size=4),
                        min_size=1, max_size=4)


@st.composite
def qrels_files(draw) -> tuple[dict[str, dict[str, int]], bytes]:
    """Valid qrels in a random form: TREC or BEIR, header or not, CRLF, BOM, blank lines."""
    qrels = draw(QRELS)
    beir = draw(st.booleans())
    rows = []
    for qid, docs in qrels.items():
        for doc_id, grade in docs.items():
            sep = "\t" if beir else draw(st.sampled_from([" ", "  ", "\t", " \t "]))
            grade_text = draw(st.sampled_from([str(grade), f"+{grade}" if grade >= 0 else
                                               str(grade)]))
            rows.append(sep.join([qid, doc_id, grade_text] if beir
                                 else [qid, draw(st.sampled_from(["0", "Q0"])), doc_id,
                                       grade_text]))
    rows = draw(st.permutations(rows))
    if beir and draw(st.booleans()):
        rows = ["query-id\tcorpus-id\tscore", *rows]
    if draw(st.booleans()):
        rows = [r for row in rows for r in (row, draw(st.sampled_from(["", "  ", "\t"])))]
    end = draw(st.sampled_from(["\n", "\r\n"]))
    text = end.join(rows) + draw(st.sampled_from(["", end]))
    bom = "\ufeff" if draw(st.booleans()) else ""
    return qrels, (bom + text).encode("utf-8")


@SETTINGS
@given(case=qrels_files())
def test_read_qrels_valid_forms(case):
    qrels, data = case
    path = write(data)
    try:
        assert read_qrels(path) == qrels
    finally:
        path.unlink()


QRELS_JUNK = st.sampled_from([
    b"", b"q1 0 d1", b"q1 0 d1 1 extra", b"q1\td1", b"q1\td1\t1.5", b"q1 0 d1 x", b"\x00",
    b"q1\x00 0 d1 1", b"\xff\xfe", b"q1 0 d\xe91 1", b"query-id\tcorpus-id\tscore", b"q1\t\t1",
    b"\td1\t1", b"q1 0 d1 99999999999999999999", b"q1 0 d1 -1", b"q1\td1\tnan", b"q1\td1\t1e3",
    b"q1 0 d1 2", b"\xef\xbb\xbfq1 0 d1 1", b"q1\u00a00 d1 1", "q1\u00a00\u00a0d1\u00a01".encode(),
    b"q 0 d " + b"9" * 5000,
])


@SETTINGS
@given(case=qrels_files(), junk=st.lists(st.tuples(st.integers(0, 20), QRELS_JUNK), max_size=3))
def test_read_qrels_hostile(case, junk):
    """Valid qrels with junk lines spliced in: the right judgments, or one located error."""
    _, data = case
    rows = data.split(b"\n")
    for at, line in junk:
        rows.insert(min(at, len(rows)), line)
    data = b"\n".join(rows)
    path = write(data)
    try:
        try:
            qrels = read_qrels(path)
        except Exception as exc:  # noqa: BLE001
            assert type(exc) is InputError, repr(exc)
            assert_located(exc, str(path), exc.line)
            if exc.line is not None:
                assert 1 <= exc.line <= len(rows)
            else:
                assert str(exc) == f"{path}: no judgments"
            return
        text = data.decode("utf-8-sig")
        lines = [line.split() for line in text.splitlines()]
        for qid, docs in qrels.items():
            for doc_id, grade in docs.items():
                assert any(qid in f and doc_id in f and any(_grade_is(g, grade) for g in f)
                           for f in lines), (qid, doc_id, grade)
    finally:
        path.unlink()


def _grade_is(text: str, grade: int) -> bool:
    return bool(re.fullmatch(r"[+-]?[0-9]+", text)) and int(text) == grade


def test_qrels_invalid_utf8_names_its_line(tmp_path):
    path = tmp_path / "q.txt"
    path.write_bytes(b"q1 0 d1 1\r\nq1 0 d2 1\r\nq1 0 d\xff 1\r\n")
    with pytest.raises(InputError) as info:
        read_qrels(path)
    assert str(info.value) == f"{path}:3: not UTF-8 text"


# Converters --------------------------------------------------------------------------------


def listing(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


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


# The command line --------------------------------------------------------------------------

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "data" / "sample"


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


def jsonl_bytes(*objs: Any) -> bytes:
    return b"".join(orjson.dumps(o) + b"\n" for o in objs)


HOSTILE_CORPORA = {
    "bom_crlf": (b'\xef\xbb\xbf{"id": "a", "text": "alpha"}\r\n\r\n{"id": "b", "text": "beta"}\r\n',
                 2),
    "stopwords_and_punctuation": (jsonl_bytes({"id": "a", "text": "the of and a"},
                                              {"id": "b", "text": "?!... ;; --"}), 2),
    "long_document": (jsonl_bytes({"id": "a", "text": "word " * 5_000}), 1),
    "deep_but_allowed": (b'{"id": "a", "text": "t", "m": ' + b"[" * 100 + b"]" * 100 + b"}\n",
                         1),
    "empty": (b"", "no documents"),
    "blank_lines": (b"\n \r\n\t\n", "no documents"),
    "invalid_json": (jsonl_bytes({"id": "a", "text": "x"}) + b'{"id": "b", "text": \n', ":2: "),
    "nul_byte": (b'{"id": "a", "text": "x\x00y"}\n', ":1: invalid JSON"),
    "nul_escape": (b'{"id": "a", "text": "x\\u0000y"}\n', ":1: field \"text\" contains a NUL"),
    "invalid_utf8": (b'{"id": "a", "text": "caf\xe9"}\n', ":1: invalid JSON"),
    "wrong_types": (b'{"id": ["a"], "text": "x"}\n', ":1: field \"id\" must be"),
    "missing_id": (b'{"text": "x"}\n', ":1: missing id field"),
    "duplicate_id": (jsonl_bytes({"id": 1, "text": "x"}, {"id": "1", "text": "y"}),
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
    good.write_bytes(jsonl_bytes({"id": "a", "text": "alpha"}))
    args = ["--index-dir", str(tmp_path / "idx"), "--encoder", str(tiny_encoder_dir)]
    assert run_cli(["index", str(good), *args]).exit_code == 0
    before = listing(tmp_path / "idx")
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(jsonl_bytes({"id": "b", "text": "beta"}) + nested(10_000) + b"\n")
    listing_before = tree(tmp_path)
    assert run_cli(["index", str(bad), *args]).exit_code == 1
    assert tree(tmp_path) == listing_before
    assert listing(tmp_path / "idx") == before


HOSTILE_QUERIES = {
    "stopwords_only": (jsonl_bytes({"id": "1", "text": "the of and a to"}), 1),
    "punctuation_only": (jsonl_bytes({"id": "1", "text": "?!... ;; -- ((("}), 1),
    "long_query": (jsonl_bytes({"id": "1", "text": "star " * 3000}), 1),
    "unicode": (b'\xef\xbb\xbf{"_id": 7, "query": "\xc3\xa9clipse \xe2\x80\xa8 lune"}\r\n', 1),
    "empty_file": (b"", 0),
    "empty_text": (b'{"id": "1", "text": "  "}\n', ":1: field \"text\" is empty"),
    "nul": (b'{"id": "1", "text": "a\\u0000b"}\n', ":1: field \"text\" contains a NUL"),
    "invalid_utf8": (b'{"id": "1", "text": "\xff"}\n', ":1: invalid JSON"),
    "duplicate": (jsonl_bytes({"id": "1", "text": "a"}, {"id": 1, "text": "b"}),
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
    corpus.write_bytes(jsonl_bytes({"id": "a", "text": "alpha star"}, {"id": "b", "text": "x"}))
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
    "fine": (jsonl_bytes({"query": "q", "document": "d", "n": [1, {"x": None}]},
                         {"text_a": "", "text_b": ""}, {"sentence1": "?!", "sentence2": "the"}),
             3),
    "long_and_unicode": (jsonl_bytes({"query": "é " * 5000, "document": "\u2028" * 100}), 1),
    "deep_250": (b'{"query": "q", "document": "d", "m": ' + b"[" * 126 + b"]" * 126 + b"}\n",
                 1),
    "deep_300": (nested(300) + b"\n", ":1: nested deeper than"),
    "deep_10000": (nested(10_000) + b"\n", ":1: nested deeper than"),
    "missing_half": (jsonl_bytes({"query": "q", "document": "d"}, {"query": "q"}),
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
    "invalid_utf8": (b"q01 0 astro-018 1\nq01 0 \xff 1\n", ":2: not UTF-8 text"),
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
    pairs.write_bytes(jsonl_bytes({"query": "q", "document": "d"}))
    out = tmp_path / "out.jsonl"
    before = tree(tmp_path)
    result = run_cli(["score", str(pairs), "--reranker", str(model), "-o", str(out)])
    assert result.exit_code == 1
    assert "pickle weights" in result.stderr and "--trust-pickle-weights" in result.stderr
    assert not marker.exists() and tree(tmp_path) == before
