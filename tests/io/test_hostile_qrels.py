"""Hostile qrels (TREC and BEIR forms): the right judgments or ONE located error."""

from __future__ import annotations

import re
import string

import pytest
from hostile import QRELS_JUNK, SETTINGS, assert_located, write
from hypothesis import given
from hypothesis import strategies as st

from xenc.errors import InputError
from xenc.io.qrels import read_qrels

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
    assert str(info.value) == f"{path}:3: not valid UTF-8"
