from __future__ import annotations

import io

import orjson
import pytest

from xenc.errors import InputError
from xenc.io.files import atomic_output
from xenc.io.jsonl import JsonlWriter, read_jsonl


def write(tmp_path, data: bytes, name="in.jsonl"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_reads_objects_with_physical_line_numbers(tmp_path):
    path = write(tmp_path, b'{"a": 1}\n\n   \n{"a": 2}\r\n')
    assert list(read_jsonl(path)) == [(1, {"a": 1}), (4, {"a": 2})]


def test_bom_and_crlf_are_accepted(tmp_path):
    path = write(tmp_path, b'\xef\xbb\xbf{"a": 1}\r\n{"b": "x"}\r\n')
    assert [obj for _, obj in read_jsonl(path)] == [{"a": 1}, {"b": "x"}]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b'{"a": 1}\n{"a": \n', "invalid JSON"),
        (b'{"a": 1}\n[1, 2]\n', "expected a JSON object, got list"),
        (b'{"a": 1}\n"text"\n', "expected a JSON object, got str"),
        (b'{"a": 1}\n{"a": "\xff"}\n', "invalid JSON"),
    ],
)
def test_bad_line_names_file_and_line(tmp_path, data, reason):
    path = write(tmp_path, data)
    with pytest.raises(InputError) as err:
        list(read_jsonl(path))
    assert str(err.value).startswith(f"{path}:2: {reason}")
    assert "\n" not in str(err.value)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(InputError, match="nope.jsonl: no such file"):
        list(read_jsonl(tmp_path / "nope.jsonl"))
    with pytest.raises(InputError, match="is a directory"):
        list(read_jsonl(tmp_path))


def test_on_error_skips_and_reports(tmp_path):
    path = write(tmp_path, b'{"a": 1}\nnot json\n{"a": 3}\n')
    errors = []
    got = [obj for _, obj in read_jsonl(path, on_error=errors.append)]
    assert got == [{"a": 1}, {"a": 3}]
    assert [e.line for e in errors] == [2]


def test_writer_one_line_per_record_and_floats():
    import numpy as np

    buf = io.BytesIO()
    writer = JsonlWriter(buf)
    writer.write({"score": np.float32(0.5), "id": "x"})
    writer.write({"n": 1})
    lines = buf.getvalue().splitlines()
    assert [orjson.loads(line) for line in lines] == [{"score": 0.5, "id": "x"}, {"n": 1}]
    assert writer.count == 2


def test_atomic_output_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "out.jsonl"
    target.write_bytes(b"old\n")
    with pytest.raises(RuntimeError):
        with atomic_output(target) as fh:
            fh.write(b"partial")
            raise RuntimeError("boom")
    assert target.read_bytes() == b"old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]
    with atomic_output(target) as fh:
        fh.write(b"new\n")
    assert target.read_bytes() == b"new\n"


def _readers():
    """Every reader of a line-oriented file, each reading ``path`` to its end."""
    from xenc.datasets.judgments import read_judgments
    from xenc.datasets.pairs import read_stsb
    from xenc.io.corpus import read_corpus, read_queries
    from xenc.io.pairs import read_pairs
    from xenc.io.qrels import read_qrels
    from xenc.io.runs import read_run, read_run_lines, read_trec_run

    return {
        "corpus": lambda p: list(read_corpus(p)),
        "queries": lambda p: list(read_queries(p, fmt="tsv")),
        "qrels": read_qrels,
        "trec run": read_trec_run,
        "run": read_run,
        "rerank run": read_run_lines,
        "pairs": lambda p: list(read_pairs(p)),
        "judgments": read_judgments,
        "sts-b": lambda p: list(read_stsb(p)),
    }


@pytest.mark.parametrize("reader", sorted(_readers()))
def test_one_line_reader_one_wording(tmp_path, reader):
    read = _readers()[reader]
    for path, reason in ((tmp_path / "none.txt", "no such file"),
                         (tmp_path, "is a directory, expected a file")):
        with pytest.raises(InputError) as err:
            read(path)
        assert str(err.value) == f"{path}: {reason}"


@pytest.mark.parametrize("reader", ["queries", "qrels", "trec run", "rerank run", "sts-b"])
def test_text_that_is_not_utf8_is_one_error(tmp_path, reader):
    line = {"queries": b"q1\tmoon \xff", "qrels": b"q1 0 d\xff 1",
            "sts-b": b"a\tb\tc\td\t1.0\tx\xff\ty"}.get(reader, b"q1 Q0 d\xff 1 2.5 run")
    path = write(tmp_path, line + b"\n", "in.txt")
    with pytest.raises(InputError) as err:
        _readers()[reader](path)
    assert str(err.value) == f"{path}:1: not valid UTF-8"
