from __future__ import annotations

import pytest

from xenc.errors import InputError
from xenc.io.corpus import read_corpus, read_queries
from xenc.records import Document, Query


def lines(tmp_path, *rows: str, name="corpus.jsonl"):
    path = tmp_path / name
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_fields_and_metadata(tmp_path):
    path = lines(
        tmp_path,
        '{"id": "a", "title": "T", "text": "body", "year": 2020, "tags": ["x"]}',
        '{"_id": 7, "text": "beir style"}',
    )
    assert list(read_corpus(path)) == [
        Document("a", "body", "T", {"year": 2020, "tags": ["x"]}),
        Document("7", "beir style", "", {}),
    ]


def test_custom_field_names(tmp_path):
    path = lines(tmp_path, '{"pid": "p1", "body": "hello", "head": "H", "id": "other"}')
    docs = list(read_corpus(path, id_field="pid", text_field="body", title_field="head"))
    assert docs == [Document("p1", "hello", "H", {"id": "other"})]


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ('{"text": "no id"}', 'missing id field "id" or "_id"'),
        ('{"id": "", "text": "x"}', 'field "id" is empty'),
        ('{"id": 1.5, "text": "x"}', 'field "id" must be a string or an integer'),
        ('{"id": true, "text": "x"}', 'field "id" must be a string or an integer'),
        ('{"id": "b"}', 'missing text field "text"'),
        ('{"id": "b", "text": 3}', 'field "text" must be a string, got int'),
        ('{"id": "b", "text": "x", "title": 3}', 'field "title" must be a string, got int'),
        ('{"id": "b", "text": "a\\u0000b"}', 'field "text" contains a NUL character'),
        ('{"id": "a", "text": "again"}', 'duplicate id "a" (first seen on line 1)'),
    ],
)
def test_errors_name_file_and_line(tmp_path, row, reason):
    path = lines(tmp_path, '{"id": "a", "text": "first"}', row)
    with pytest.raises(InputError) as err:
        list(read_corpus(path))
    assert str(err.value) == f"{path}:2: {reason}"


def test_limit_stops_early(tmp_path):
    path = lines(tmp_path, '{"id": "a", "text": "x"}', '{"id": "b", "text": "y"}', "broken")
    assert [d.id for d in read_corpus(path, limit=2)] == ["a", "b"]


def test_queries_forms_and_errors(tmp_path):
    path = lines(
        tmp_path, '{"id": "q1", "text": "one"}', '{"_id": "q2", "text": "two"}',
        '{"id": 3, "query": "three"}', name="q.jsonl",
    )
    expected = [Query("q1", "one"), Query("q2", "two"), Query("3", "three")]
    assert list(read_queries(path)) == expected
    bad = lines(tmp_path, '{"id": "q1", "text": "one"}', '{"id": "q1", "text": "x"}',
                name="b.jsonl")
    with pytest.raises(InputError, match=r"b.jsonl:2: duplicate query id \"q1\" \(line 1\)"):
        list(read_queries(bad))


def test_every_reader_takes_id_before_beir_id(tmp_path):
    """docs/formats.md: without --id-field, `id` is the id, else `_id`; the BEIR converter and
    `xenc delete --ids` follow the same rule (BEIR's reader took `_id` first)."""
    from xenc.cli.maintain import read_ids
    from xenc.datasets.beir import read_beir_corpus, read_beir_queries

    row = '{"id": "x1", "_id": "b1", "text": "both ids", "title": "T"}'
    path = lines(tmp_path, row, '{"_id": "b2", "text": "only _id"}')
    assert [d.id for d in read_corpus(path)] == ["x1", "b2"]
    assert [q.id for q in read_queries(path)] == ["x1", "b2"]
    assert [d["id"] for d in read_beir_corpus(path)] == ["x1", "b2"]
    assert [q["id"] for q in read_beir_queries(path)] == ["x1", "b2"]
    assert list(read_ids(str(path))) == ["x1", "b2"]
    for read in (lambda p: list(read_corpus(p)), lambda p: list(read_beir_corpus(p)),
                 lambda p: list(read_ids(str(p)))):
        with pytest.raises(InputError, match='missing id field "id" or "_id"'):
            read(lines(tmp_path, '{"text": "no id"}', name="none.jsonl"))
