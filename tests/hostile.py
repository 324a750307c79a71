"""Shared pieces of the hostile-input tests (tests/*/test_hostile_*.py): hypothesis settings and
strategies for JSONL lines, and the JSONL oracle.

Every reader either gives the right answer or ONE located XencError. Property-based
(hypothesis, derandomized so CI is reproducible). The JSONL oracle is independent of orjson:
Python's ``json`` module on the same bytes (strict UTF-8, no NaN/Infinity, no lone surrogates,
at most ``MAX_DEPTH`` levels) decides which lines are objects, and the field rules of the docs
are re-stated below.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from xenc.errors import XencError
from xenc.io.jsonl import MAX_DEPTH
from xenc.records import Document, Query

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


def floats_equal(a: Any, b: Any) -> bool:
    """Equality where a huge integer may come back as the float orjson makes of it."""
    if isinstance(a, int) and isinstance(b, float) and not isinstance(a, bool):
        return abs(a) > 2**64 and float(a) == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(floats_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(floats_equal(x, y) for x, y in zip(a, b, strict=True))
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
        (g.id, g.text, g.title) == (w.id, w.text, w.title) and floats_equal(w.metadata, g.metadata)
        for g, w in zip(got, want, strict=True))


QRELS_JUNK = st.sampled_from([
    b"", b"q1 0 d1", b"q1 0 d1 1 extra", b"q1\td1", b"q1\td1\t1.5", b"q1 0 d1 x", b"\x00",
    b"q1\x00 0 d1 1", b"\xff\xfe", b"q1 0 d\xe91 1", b"query-id\tcorpus-id\tscore", b"q1\t\t1",
    b"\td1\t1", b"q1 0 d1 99999999999999999999", b"q1 0 d1 -1", b"q1\td1\tnan", b"q1\td1\t1e3",
    b"q1 0 d1 2", b"\xef\xbb\xbfq1 0 d1 1", b"q1\u00a00 d1 1", "q1\u00a00\u00a0d1\u00a01".encode(),
    b"q 0 d " + b"9" * 5000,
])


def listing(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}
