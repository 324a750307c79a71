"""xenc.io.qrels: TREC and BEIR qrels, TREC run files, and their exact error messages."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from xenc.errors import InputError
from xenc.io.qrels import RELEVANT_GRADE, has_relevant, is_relevant, read_qrels, write_qrels_tsv
from xenc.io.runs import read_trec_run, write_trec_run

EXPECTED = {"q1": {"d1": 2, "d2": 0}, "q2": {"d3": 1, "d4": -1}}
TREC = "q1 0 d1 2\nq1 0 d2 0\n\nq2\t0\td3\t1\nq2 Q0 d4 -1\n"
BEIR = "query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td2\t0\n\nq2\td3\t1\nq2\td4\t-1\n"


def test_relevant_means_grade_one_or_more():
    assert RELEVANT_GRADE == 1
    assert [is_relevant(g) for g in (-1, 0, 1, 2, 0.5, 1.0)] == [
        False, False, True, True, False, True]
    assert has_relevant({"d1": 0, "d2": 3}) and not has_relevant({"d1": 0, "d2": -1})
    assert not has_relevant({})


def _write(tmp_path: Path, text: str | bytes, name: str = "qrels.txt") -> Path:
    path = tmp_path / name
    if isinstance(text, str):
        text = text.encode("utf-8")
    path.write_bytes(text)
    return path


def _error(path: Path, reader: Callable[[Path], object] = read_qrels) -> str:
    with pytest.raises(InputError) as info:
        reader(path)
    return str(info.value)


@pytest.mark.parametrize("text", [TREC, BEIR], ids=["trec", "beir"])
def test_both_forms_parse_alike(tmp_path: Path, text: str) -> None:
    assert read_qrels(_write(tmp_path, text)) == EXPECTED
    crlf_bom = b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8")
    assert read_qrels(_write(tmp_path, crlf_bom)) == EXPECTED


def test_beir_without_header_and_spaces_in_ids(tmp_path: Path) -> None:
    path = _write(tmp_path, "q 1\tdoc one\t1\nq 1\tdoc two\t0\n")
    assert read_qrels(path) == {"q 1": {"doc one": 1, "doc two": 0}}


def test_same_judgment_twice_is_accepted(tmp_path: Path) -> None:
    assert read_qrels(_write(tmp_path, "q 0 d 1\nq 1 d 1\n")) == {"q": {"d": 1}}


def test_str_path(tmp_path: Path) -> None:
    assert read_qrels(str(_write(tmp_path, TREC))) == EXPECTED


@pytest.mark.parametrize(
    ("text", "where", "reason"),
    [
        (
            "q1 0 d1 1\nq1 0 d2\n",
            2,
            "expected 4 whitespace-separated columns (qid iter docid rel), got 3",
        ),
        (
            "q1 0 d1 1\n\nq1 0 d2 1 x\n",
            3,
            "expected 4 whitespace-separated columns (qid iter docid rel), got 5",
        ),
        (
            "query-id\tcorpus-id\tscore\nq1\td1\n",
            2,
            "expected 3 tab-separated columns (query-id corpus-id score), got 2",
        ),
        (
            "query-id\tcorpus-id\tscore\nq1 d1 1\n",
            2,
            "expected 3 tab-separated columns (query-id corpus-id score), got 1",
        ),
        ("q1 0 d1 1.5\n", 1, "relevance grade '1.5' is not an integer"),
        (
            "query-id\tcorpus-id\tscore\nq1\td1\thigh\n",
            2,
            "relevance grade 'high' is not an integer",
        ),
        ("q1 0 d1 1\nq1 0 d1 2\n", 2, "query 'q1' document 'd1' judged 2 here but 1 on line 1"),
        (
            "query-id\tcorpus-id\tscore\nq\td\t1\nquery-id\tcorpus-id\tscore\n",
            3,
            "header line after the first line",
        ),
        ("qid\tdoc\tlabel\nq\td\t1\nQID\tDOC\tLABEL\n", 3, "header line after the first line"),
        ("q 0 d 1\nquery-id\tcorpus-id\tscore\n", 2, "header line after the first line"),
        ("query-id\tcorpus-id\tscore\n\tdoc\t1\n", 2, "empty query-id"),
        ("q1\t\t1\n", 1, "empty corpus-id"),
        (
            "\nq1 d1\n",
            2,
            "unknown qrels format: expected 4 whitespace-separated columns "
            "(qid iter docid rel) or 3 tab-separated columns (query-id corpus-id score)",
        ),
    ],
)
def test_malformed_lines(tmp_path: Path, text: str, where: int, reason: str) -> None:
    path = _write(tmp_path, text)
    assert _error(path) == f"{path}:{where}: {reason}"


def test_not_utf8(tmp_path: Path) -> None:
    path = _write(tmp_path, b"q 0 d 1\nq 0 \xff 1\n")
    assert _error(path) == f"{path}:2: not valid UTF-8"


@pytest.mark.parametrize("text", ["", "\n\r\n  \n", "\ufeffquery-id\tcorpus-id\tscore\r\n"])
def test_no_judgments(tmp_path: Path, text: str) -> None:
    path = _write(tmp_path, text)
    assert _error(path) == f"{path}: no judgments"


def test_missing_file_and_directory(tmp_path: Path) -> None:
    missing = tmp_path / "nope.tsv"
    assert _error(missing) == f"{missing}: no such file"
    assert _error(tmp_path) == f"{tmp_path}: is a directory, expected a file"


def test_write_qrels_tsv_is_sorted_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "out.tsv"
    write_qrels_tsv({"q2": {"b": 1, "a": 0}, "q10": {"z": -1}, "q1": {"c": 2}}, path)
    assert path.read_bytes() == (
        b"query-id\tcorpus-id\tscore\nq1\tc\t2\nq10\tz\t-1\nq2\ta\t0\nq2\tb\t1\n"
    )
    write_qrels_tsv(EXPECTED, path)
    assert read_qrels(path) == EXPECTED
    trec = read_qrels(_write(tmp_path, TREC))
    write_qrels_tsv(trec, tmp_path / "again.tsv")
    assert (tmp_path / "again.tsv").read_bytes() == path.read_bytes()


def test_write_qrels_tsv_rejects_unwritable_ids(tmp_path: Path) -> None:
    path = tmp_path / "out.tsv"
    with pytest.raises(InputError) as info:
        write_qrels_tsv({"q": {"a\tb": 1}}, path)
    assert str(info.value) == f"{path}: cannot write document id 'a\\tb': empty or has whitespace"


# --- TREC runs ---------------------------------------------------------------------------


def test_write_trec_run_text() -> None:
    out = io.StringIO()
    write_trec_run({"q2": [("b", 2.5), ("a", 0.1)], "q1": [("c", -3.0)]}, out, tag="bm25")
    assert out.getvalue() == "q2 Q0 b 1 2.5 bm25\nq2 Q0 a 2 0.1 bm25\nq1 Q0 c 1 -3.0 bm25\n"


def test_trec_run_round_trip(tmp_path: Path) -> None:
    run = {"q1": [("d3", 0.1 + 0.2), ("d1", 1e-7), ("d2", -12.0)], "q2": [("d9", 3.0)]}
    path = tmp_path / "run.trec"
    with path.open("w", encoding="utf-8") as fh:
        write_trec_run(run, fh)
    assert path.read_text().splitlines()[0] == "q1 Q0 d3 1 0.30000000000000004 xenc"
    assert read_trec_run(path) == run


def test_read_trec_run_orders_like_trec_eval(tmp_path: Path) -> None:
    # The rank column is ignored; score descending, ties by doc id DESCENDING (trec_eval).
    text = "q 0 a 1 1.0 t\nq 0 c 2 1.0 t\nq 0 B 3 1.0 t\r\nq 0 z 4 5 t\n\nq 0 m 5 -1e3 t\n"
    got = read_trec_run(_write(tmp_path, "\ufeff" + text, "run.trec"))
    assert got == {"q": [("z", 5.0), ("c", 1.0), ("a", 1.0), ("B", 1.0), ("m", -1000.0)]}


def test_read_trec_run_empty(tmp_path: Path) -> None:
    assert read_trec_run(_write(tmp_path, "\n", "run.trec")) == {}


@pytest.mark.parametrize(
    ("text", "where", "reason"),
    [
        (
            "q Q0 d 1 2.0\n",
            1,
            "expected 6 whitespace-separated columns (qid Q0 docid rank score tag), got 5",
        ),
        ("q Q0 d 1 high t\n", 1, "score 'high' is not a finite number"),
        ("q Q0 d 1 nan t\n", 1, "score 'nan' is not a finite number"),
        (
            "q Q0 d 1 2 t\nq Q0 e 2 1 t\nq Q0 d 3 0 t\n",
            3,
            "query 'q' lists document 'd' again (line 1)",
        ),
    ],
)
def test_read_trec_run_errors(tmp_path: Path, text: str, where: int, reason: str) -> None:
    path = _write(tmp_path, text, "run.trec")
    assert _error(path, read_trec_run) == f"{path}:{where}: {reason}"


def test_read_trec_run_missing(tmp_path: Path) -> None:
    path = tmp_path / "run.trec"
    assert _error(path, read_trec_run) == f"{path}: no such file"


@pytest.mark.parametrize(
    ("run", "tag", "reason"),
    [
        (
            {"q": [("a", 1.0), ("b", 2.0)]},
            "x",
            "query 'q' rank 2: score 2.0 is higher than "
            "the score 1.0 above it (trec_eval would re-sort by score)",
        ),
        ({"q": [("a", float("inf"))]}, "x", "query 'q' rank 1: score inf"),
        ({"q": [("a b", 1.0)]}, "x", "cannot write document id 'a b': empty or has whitespace"),
        ({"": [("a", 1.0)]}, "x", "cannot write query id '': empty or has whitespace"),
        ({"q": []}, "my tag", "cannot write run tag 'my tag': empty or has whitespace"),
    ],
)
def test_write_trec_run_errors(run: dict[str, Any], tag: str, reason: str) -> None:
    with pytest.raises(InputError) as info:
        write_trec_run(run, io.StringIO(), tag=tag)
    assert str(info.value) == f"<run>: {reason}"


def test_qrels_are_always_a_file():
    """docs/formats.md: `-` is not read as standard input."""
    assert _error("-") == "-: no such file"
