"""Tests for xenc.datasets: readers, format detection and atomic conversion."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import pytest

from xenc.datasets import (
    DATASET_FORMATS,
    ConvertSummary,
    convert,
    detect_format,
    read_beir,
    read_judgments,
    read_lisa_judgments,
    read_smart_records,
    read_trec_docs,
    read_trec_topics,
)
from xenc.errors import InputError, UsageError

# ---------------------------------------------------------------- helpers


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="")
    return path


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def outputs(out: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
    return (
        jsonl(out / "corpus.jsonl"),
        jsonl(out / "queries.jsonl"),
        (out / "qrels.tsv").read_text(encoding="utf-8"),
    )


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


# ---------------------------------------------------------------- BEIR

BEIR_CORPUS = (
    '{"_id": "d1", "title": "Statins", "text": "Statins and\\ncancer.", '
    '"metadata": {"url": "http://x"}}\n'
    '{"_id": "d2", "title": "", "text": "  No title here.  "}\n'
    '{"_id": 3, "title": "Only a title", "text": ""}\n'
)
BEIR_QUERIES = (
    '{"_id": "q1", "text": "do statins help?", "metadata": {"a": NaN}}\n'
    '{"_id": "q2", "text": "unjudged in test"}\n'
    '{"_id": "q3", "text": "titles"}\n'
)


def make_beir(root: Path, *, subfolder: bool = False) -> Path:
    if subfolder:
        write(root, "corpus/human.jsonl", BEIR_CORPUS)
        write(root, "corpus/llama-2-7b.jsonl", '{"_id": "x", "text": "rewritten"}\n')
    else:
        write(root, "corpus.jsonl", BEIR_CORPUS)
    write(root, "queries.jsonl", BEIR_QUERIES)
    write(
        root,
        "qrels/test.tsv",
        "query-id\tcorpus-id\tscore\r\nq1\td1\t2\r\nq1\td2\t0\r\nq3\t3\t1\r\n",
    )
    write(root, "qrels/dev.tsv", "query-id\tcorpus-id\tscore\nq2\td2\t1\n")
    return root


EXPECTED_BEIR_CORPUS = [
    {
        "id": "d1",
        "title": "Statins",
        "text": "Statins and\ncancer.",
        "url": "http://x",  # BEIR's metadata lifted: not metadata.metadata once indexed
    },
    {"id": "d2", "text": "No title here."},
    {"id": "3", "text": "Only a title"},
]


@pytest.mark.parametrize("subfolder", [False, True])
def test_beir_convert(tmp_path: Path, subfolder: bool) -> None:
    src = make_beir(tmp_path / "src", subfolder=subfolder)
    assert detect_format(src) == "beir"
    summary = convert(src, tmp_path / "out")
    corpus, queries, qrels = outputs(tmp_path / "out")
    assert corpus == EXPECTED_BEIR_CORPUS
    assert queries == [{"id": "q1", "text": "do statins help?"}, {"id": "q3", "text": "titles"}]
    assert qrels == "query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td2\t0\nq3\t3\t1\n"
    assert summary == ConvertSummary(
        name="src",
        docs=3,
        queries=2,
        judged_queries=2,
        qrels=3,
        out_dir=tmp_path / "out",
        fmt="beir",
        split="test",
        source_queries=3,
    )


def test_beir_other_split(tmp_path: Path) -> None:
    src = make_beir(tmp_path / "src")
    summary = convert(src, tmp_path / "out", split="dev")
    _, queries, qrels = outputs(tmp_path / "out")
    assert queries == [{"id": "q2", "text": "unjudged in test"}]
    assert qrels == "query-id\tcorpus-id\tscore\nq2\td2\t1\n"
    assert (summary.queries, summary.judged_queries, summary.split) == (1, 1, "dev")


def test_beir_missing_split_names_file_and_choices(tmp_path: Path) -> None:
    src = make_beir(tmp_path / "src")
    with pytest.raises(InputError) as err:
        read_beir(src, split="train")
    assert (
        str(err.value)
        == f"{src}/qrels/train.tsv: no such file (split 'train'); splits here: dev, test"
    )


def test_beir_several_corpus_files_without_a_preferred_one(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_beir(src)
    (src / "corpus.jsonl").unlink()
    write(src, "corpus/a.jsonl", BEIR_CORPUS)
    write(src, "corpus/b.jsonl", BEIR_CORPUS)
    with pytest.raises(UsageError, match=r"several corpus files \(a.jsonl, b.jsonl\)"):
        convert(src, tmp_path / "out")


# ---------------------------------------------------------------- SMART

SMART_ALL = """\
.I 1\r
.T\r
Editions of the Dewey\r
Decimal Classifications\r
.A\r
Comaromi, J.P.\r
.A\r
Satija, M.P.\r
.W\r
   The present study is a history\r
of the DEWEY Decimal\r
\r
Classification.   \r
.X\r
1\t5\t1\r
.I 2\r
.T \r
A title only\r
.B\r
CACM December, 1958\r
.N\r
CA581203 JB\r
.I 3\r
.T\r
repeated title .\r
.T\r
 repeated  title .\r
.W\r
body three\r
"""
SMART_QRY = (
    ".I 1\n.W\n What problems\nand concerns?\n.N\n 1. note\n"
    ".I 2\n.T\nT2\n.A\nX, Y.\n.W\nsecond query\n"
)
SMART_REL = "01 1  0 0\n01 3\t0\t0.000000\n02 2 0 0\n"

EXPECTED_SMART_CORPUS = [
    {
        "id": "1",
        "title": "Editions of the Dewey Decimal Classifications",
        "text": "The present study is a history of the DEWEY Decimal Classification.",
        "authors": ["Comaromi, J.P.", "Satija, M.P."],
    },
    {"id": "2", "text": "A title only", "source": "CACM December, 1958"},
    {"id": "3", "title": "repeated title .", "text": "body three"},
]


def make_smart(
    root: Path, names: tuple[str, str, str] = ("CISI.ALL", "CISI.QRY", "CISI.REL")
) -> Path:
    for name, text in zip(names, (SMART_ALL, SMART_QRY, SMART_REL), strict=True):
        write(root, name, text)
    return root


@pytest.mark.parametrize(
    ("names", "fmt"),
    [
        (("CISI.ALL", "CISI.QRY", "CISI.REL"), "cisi"),
        (("cacm.all", "query.text", "qrels.text"), "cacm"),
        (("TIME.ALL", "TIME.QUE", "TIME.REL"), "smart"),
    ],
)
def test_smart_convert(tmp_path: Path, names: tuple[str, str, str], fmt: str) -> None:
    src = make_smart(tmp_path / "src", names)
    assert detect_format(src) == fmt
    summary = convert(src, tmp_path / "out")
    corpus, queries, qrels = outputs(tmp_path / "out")
    assert corpus == EXPECTED_SMART_CORPUS
    assert queries == [
        {"id": "1", "text": "What problems and concerns?"},
        {"id": "2", "text": "second query"},
    ]
    # zero-padded query ids in the judgments resolve to the records' "1" and "2"
    assert qrels == "query-id\tcorpus-id\tscore\n1\t1\t1\n1\t3\t1\n2\t2\t1\n"
    assert (summary.fmt, summary.docs, summary.queries, summary.qrels) == (fmt, 3, 2, 3)
    assert summary.split is None


def test_smart_records_raw(tmp_path: Path) -> None:
    path = write(tmp_path, "X.ALL", SMART_ALL)
    records = list(read_smart_records(path))
    assert [r["id"] for r in records] == ["1", "2", "3"]
    assert records[0]["line"] == 1 and records[1]["line"] == 16
    assert records[0]["fields"]["A"] == ["Comaromi, J.P.", "Satija, M.P."]
    assert records[0]["fields"]["W"] == [
        "   The present study is a history\nof the DEWEY Decimal\nClassification.   "
    ]
    assert records[2]["fields"]["T"] == ["repeated title .", " repeated  title ."]


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("stray\n.I 1\n.W\nx\n", 1, "text before the first .I record"),
        (".W\nx\n", 1, "field .W before the first .I"),
        (".I 1\n.W\nx\n.I\n.W\ny\n", 4, ".I must be followed by one record id"),
        (".I 1\n.W\nx\n.I 2 3\n", 4, ".I must be followed by one record id, got '2 3'"),
        (".I 1\nno marker\n", 2, "text in record 1 before any field marker"),
    ],
)
def test_smart_errors(tmp_path: Path, text: str, line: int, reason: str) -> None:
    path = write(tmp_path, "X.ALL", text)
    with pytest.raises(InputError) as err:
        list(read_smart_records(path))
    assert str(err.value) == f"{path}:{line}: {reason}"


# ---------------------------------------------------------------- judgments


def test_judgment_forms(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "REL",
        "1 0 13 1\n1 Q0 14 0\n     2     28\t0\t0.000000\n3 7 2\n4 9\n\n1 0 13 1\n",
    )
    assert read_judgments(path) == {
        "1": {"13": 1, "14": 0},
        "2": {"28": 1},
        "3": {"7": 2},
        "4": {"9": 1},
    }


def test_judgments_header_and_errors(tmp_path: Path) -> None:
    path = write(tmp_path, "a.tsv", "query-id\tcorpus-id\tscore\nq\td\t1\n")
    assert read_judgments(path) == {"q": {"d": 1}}
    bad = write(tmp_path, "b", "1 2 1\n1 2 x\n")
    with pytest.raises(InputError, match=r"b:2: relevance grade 'x' is not an integer$"):
        read_judgments(bad)
    conflict = write(tmp_path, "c", "1 0 2 1\n1 0 2 0\n")
    with pytest.raises(
        InputError, match=r"c:2: query '1' document '2' judged 0 here but 1 on line 1"
    ):
        read_judgments(conflict)
    with pytest.raises(InputError, match=r"d:1: expected at least 2 columns"):
        read_judgments(write(tmp_path, "d", "1\n"))
    with pytest.raises(InputError, match=r"e: no judgments$"):
        read_judgments(write(tmp_path, "e", "\n\n"))


def test_lisa_judgments(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "LISARJ.NUM",
        "   1   2   3392   3396\n   3   5   1407   1431   3794\n   3795   3796\n",
    )
    assert read_lisa_judgments(path) == {
        "1": {"3392": 1, "3396": 1},
        "3": {"1407": 1, "1431": 1, "3794": 1, "3795": 1, "3796": 1},
    }
    short = write(tmp_path, "short", "1 3 10 11\n")
    with pytest.raises(InputError, match=r"short:1: query 1: document 3 of 3 is missing"):
        read_lisa_judgments(short)


# ---------------------------------------------------------------- TREC

TREC_DOCS = """\
<DOC>
<DOCNO>1</DOCNO>
compact memories have flexible capacities  a digital
data storage system
</DOC>
<DOC>
<DOCNO> AP-2 </DOCNO>
<FILEID>ignored</FILEID>
<HEAD>Big &amp; news</HEAD>
<TEXT>
line one
line two
</TEXT>
<TEXT>more</TEXT>
</DOC>
<DOC><DOCNO>3</DOCNO><TEXT>one line</TEXT></DOC>
"""

TREC_TOPICS = """\
<top>
<num>1</num><title>
MEASUREMENT OF DIELECTRIC CONSTANT
</title>
</top>
<top>
<num> Number: 301
<title> International Organized Crime

<desc> Description:
Identify organizations
that participate.

<narr> Narrative:
A relevant document must identify the organization.
</top>
<top><num> 7 </num><title>simple variant</title></top>
"""


def test_read_trec_docs(tmp_path: Path) -> None:
    path = write(tmp_path, "docs.trec", TREC_DOCS)
    assert list(read_trec_docs(path)) == [
        {
            "id": "1",
            "text": "compact memories have flexible capacities a digital data storage system",
        },
        {"id": "AP-2", "title": "Big & news", "text": "line one line two more"},
        {"id": "3", "text": "one line"},
    ]


def test_read_trec_topics(tmp_path: Path) -> None:
    path = write(tmp_path, "topics.trec", TREC_TOPICS)
    assert list(read_trec_topics(path)) == [
        {"id": "1", "text": "MEASUREMENT OF DIELECTRIC CONSTANT"},
        {
            "id": "301",
            "text": "International Organized Crime",
            "description": "Identify organizations that participate.",
            "narrative": "A relevant document must identify the organization.",
        },
        {"id": "7", "text": "simple variant"},
    ]


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        (
            "<DOC>\n<DOCNO>1</DOCNO>\nx\n</DOC>\n<DOC>\nno number\n</DOC>\n",
            5,
            "document without a one-word <DOCNO>",
        ),
        (
            "<DOC>\n<DOCNO>1</DOCNO>\nx\n</DOC>\n<DOC>\n<DOCNO>2</DOCNO>\ncut\n",
            5,
            "<DOC> opened here is never closed",
        ),
        ("<DOC>\n<DOCNO>1</DOCNO>\n<DOC>\n</DOC>\n", 3, "<DOC> inside the one opened on line 1"),
        ("junk\n<DOC><DOCNO>1</DOCNO>x</DOC>\n", 1, "text outside <DOC> ... </DOC>"),
    ],
)
def test_trec_doc_errors(tmp_path: Path, text: str, line: int, reason: str) -> None:
    path = write(tmp_path, "d.trec", text)
    with pytest.raises(InputError) as err:
        list(read_trec_docs(path))
    assert str(err.value) == f"{path}:{line}: {reason}"


def test_trec_topic_without_num(tmp_path: Path) -> None:
    path = write(tmp_path, "t", "<top>\n<title>x</title>\n</top>\n")
    with pytest.raises(InputError) as err:
        list(read_trec_topics(path))
    assert str(err.value) == f"{path}:1: topic without a one-word <num>"


def make_trec(root: Path) -> Path:
    write(root, "corpus/doc-text.trec", TREC_DOCS)
    write(root, "query-text.trec", TREC_TOPICS)
    write(root, "qrels", "1 0 1 1\n301 0 AP-2 1\n7 0 3 1\n7 0 gone 1\n")
    return root


@pytest.mark.parametrize("fmt", ["auto", "trec", "vaswani"])
def test_trec_convert(tmp_path: Path, fmt: str) -> None:
    src = make_trec(tmp_path / "src")
    summary = convert(src, tmp_path / "out", fmt=fmt)
    corpus, queries, qrels = outputs(tmp_path / "out")
    assert [d["id"] for d in corpus] == ["1", "AP-2", "3"]
    assert queries == [
        {"id": "1", "text": "MEASUREMENT OF DIELECTRIC CONSTANT"},
        {"id": "301", "text": "International Organized Crime"},
        {"id": "7", "text": "simple variant"},
    ]
    assert qrels == "query-id\tcorpus-id\tscore\n1\t1\t1\n301\tAP-2\t1\n7\t3\t1\n7\tgone\t1\n"
    assert summary.fmt == ("trec" if fmt == "auto" else fmt)
    assert summary.missing_docs == 1  # kept: still relevant, just not retrievable


# ---------------------------------------------------------------- LISA

LISA_DOCS_0 = """
Document    1
THE INDIAN COUNCIL OF LIBRARY:
A PROPOSAL.
<SPACES>
CRITICALLY EXAMINES THE
INDIAN LIBRARY SCENE.
********************************************
Document    2
TITLE TWO.

BODY TWO.
********************************************
ORPHAN TEXT WITHOUT A HEADER.
********************************************
""".replace("<SPACES>", "     ")  # LISA's blank lines after titles hold spaces
LISA_DOCS_1 = """
Document    2
TITLE TWO.

BODY TWO.
********************************************
Document    3
TITLE ONLY.
********************************************
"""


def make_lisa(root: Path) -> Path:
    write(root, "LISA0.001", LISA_DOCS_0)
    write(root, "LISA0.501", LISA_DOCS_1)
    write(root, "LISA.QUE", "\n1\nI AM INTERESTED IN\nLIBRARIES. #\n2\nSECOND. #\n")
    write(root, "LISARJ.NUM", "  1  2  1  3\n  2  1  2\n")
    write(root, "LISA.REL", "Query 1\n2 Relevant Refs:\n99 -1\n")
    return root


def test_lisa_convert(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    src = make_lisa(tmp_path / "src")
    assert detect_format(src) == "lisa"
    summary = convert(src, tmp_path / "out")
    corpus, queries, qrels = outputs(tmp_path / "out")
    assert corpus == [
        {
            "id": "1",
            "title": "THE INDIAN COUNCIL OF LIBRARY: A PROPOSAL.",
            "text": "CRITICALLY EXAMINES THE INDIAN LIBRARY SCENE.",
        },
        {"id": "2", "title": "TITLE TWO.", "text": "BODY TWO."},
        {"id": "3", "text": "TITLE ONLY."},
    ]
    assert queries == [
        {"id": "1", "text": "I AM INTERESTED IN LIBRARIES."},
        {"id": "2", "text": "SECOND."},
    ]
    assert qrels == "query-id\tcorpus-id\tscore\n1\t1\t1\n1\t3\t1\n2\t2\t1\n"
    assert summary.duplicate_docs == 1 and summary.docs == 3
    assert "LISA0.001:14: text outside any 'Document N' record skipped" in caplog.text


# ---------------------------------------------------------------- convert: errors, atomicity


def test_unknown_format_lists_choices(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as err:
        convert(tmp_path, tmp_path / "out", fmt="csv")
    assert str(err.value) == (
        "unknown dataset format 'csv'; choose one of: "
        "auto, beir, trec, smart, cisi, medline, cacm, adi, lisa, vaswani"
    )
    assert DATASET_FORMATS[0] == "auto" and len(DATASET_FORMATS) == 10


def test_detection_failure_says_what_it_looked_for(tmp_path: Path) -> None:
    write(tmp_path, "src/readme.txt", "hello")
    with pytest.raises(UsageError) as err:
        convert(tmp_path / "src", tmp_path / "out")
    assert str(err.value) == (
        f"cannot detect the dataset format of {tmp_path / 'src'}: looked for queries.jsonl with "
        "corpus.jsonl or corpus/*.jsonl (beir), LISARJ.NUM (lisa), CISI.ALL, MED.ALL, ADI.ALL, "
        "cacm.all, *.ALL with *.QRY (smart), qrels with *.trec files (trec); "
        "pass the format explicitly"
    )


def test_missing_folder_and_file(tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        convert(tmp_path / "nope", tmp_path / "out")
    assert str(err.value) == f"{tmp_path / 'nope'}: no such folder"
    src = make_smart(tmp_path / "src")
    (src / "CISI.REL").unlink()
    with pytest.raises(InputError) as err:
        convert(src, tmp_path / "out", fmt="cisi")
    assert str(err.value) == f"{src / 'CISI.REL'}: no such file"
    assert not (tmp_path / "out").exists()


def test_split_only_for_beir(tmp_path: Path) -> None:
    src = make_smart(tmp_path / "src")
    with pytest.raises(UsageError, match="split 'dev' applies to BEIR folders only"):
        convert(src, tmp_path / "out", split="dev")


def test_out_dir_must_differ_from_source(tmp_path: Path) -> None:
    src = make_beir(tmp_path / "src")
    with pytest.raises(UsageError, match="must differ from the source folder"):
        convert(src, src)


def _prepare_out(out: Path) -> dict[str, bytes]:
    write(out, "corpus.jsonl", '{"id": "old", "text": "old"}\n')
    write(out, "notes.txt", "keep me")
    return snapshot(out)


def _no_leftovers(parent: Path) -> bool:
    return not [p for p in parent.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp")]


def test_atomic_on_broken_last_smart_record(tmp_path: Path) -> None:
    src = make_smart(tmp_path / "src")
    broken = SMART_ALL + ".I\r\n.W\r\nlast\r\n"
    write(src, "CISI.ALL", broken)
    out = tmp_path / "out"
    before = _prepare_out(out)
    with pytest.raises(InputError) as err:
        convert(src, out)
    assert str(err.value) == f"{src / 'CISI.ALL'}:30: .I must be followed by one record id"
    assert snapshot(out) == before
    assert _no_leftovers(tmp_path)


def test_atomic_on_broken_last_beir_line(tmp_path: Path) -> None:
    src = make_beir(tmp_path / "src")
    write(src, "corpus.jsonl", BEIR_CORPUS + '{"_id": "d4", "text": \n')
    out = tmp_path / "out"
    before = _prepare_out(out)
    with pytest.raises(InputError, match=r"corpus.jsonl:4: invalid JSON"):
        convert(src, out)
    assert snapshot(out) == before
    assert _no_leftovers(tmp_path)


def test_atomic_new_out_dir_not_created_on_error(tmp_path: Path) -> None:
    src = make_trec(tmp_path / "src")
    write(src, "qrels", "1 0 1 1\n1 0 2 x\n")
    with pytest.raises(InputError, match=r"qrels:2: relevance grade 'x' is not an integer"):
        convert(src, tmp_path / "a" / "b" / "out")
    assert not (tmp_path / "a").exists()
    assert _no_leftovers(tmp_path)


def test_success_replaces_only_the_three_files(tmp_path: Path) -> None:
    src = make_beir(tmp_path / "src")
    out = tmp_path / "out"
    _prepare_out(out)
    convert(src, out)
    assert sorted(os.listdir(out)) == ["corpus.jsonl", "notes.txt", "qrels.tsv", "queries.jsonl"]
    assert (out / "notes.txt").read_text() == "keep me"
    assert jsonl(out / "corpus.jsonl") == EXPECTED_BEIR_CORPUS
    assert _no_leftovers(tmp_path)


def test_describe_mentions_anomalies(tmp_path: Path) -> None:
    src = make_lisa(tmp_path / "src")
    text = convert(src, tmp_path / "out").describe()
    assert text == (
        f"src [lisa] -> {tmp_path / 'out'}: 3 docs, 2 queries (2 judged, 2 in source), "
        "3 judgments; duplicate doc ids skipped: 1"
    )


# ---------------------------------------------------------------- real data (slow)


def shared_datasets() -> Path:
    env = os.environ.get("XENC_SHARED_DATASETS")
    return Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared" / "datasets"


def real_folder(name: str) -> Path:
    folder = shared_datasets() / name
    if not folder.is_dir():
        pytest.skip(f"{folder} not present")
    return folder


def check_resolves(out: Path) -> tuple[int, dict[str, int]]:
    """Every qrels query id is a written query; returns (pairs whose doc is missing, grades)."""
    doc_ids = {d["id"] for d in jsonl(out / "corpus.jsonl")}
    query_ids = [q["id"] for q in jsonl(out / "queries.jsonl")]
    assert len(set(query_ids)) == len(query_ids)
    lines = (out / "qrels.tsv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "query-id\tcorpus-id\tscore"
    missing: dict[str, int] = {}
    for line in lines[1:]:
        qid, doc_id, grade = line.split("\t")
        assert qid in query_ids
        if doc_id not in doc_ids:
            missing[grade] = missing.get(grade, 0) + 1
    return sum(missing.values()), missing


# name, fmt, docs, queries written, judged queries, qrels pairs, queries in source
REAL = [
    ("nfcorpus", "beir", 3633, 323, 323, 12334, 3237),
    ("cisi", "cisi", 1460, 112, 76, 3114, 112),
    ("medline", "medline", 1033, 30, 30, 696, 30),
    ("adi", "adi", 82, 35, 35, 170, 35),
    ("cacm", "cacm", 3204, 64, 52, 796, 64),
    ("lisa", "lisa", 5999, 35, 35, 379, 35),
    ("vaswani", "trec", 11429, 93, 93, 2083, 93),
    ("nq_utd", "beir", 800, 80, 80, 800, 80),
    ("beir_sampled/climate-fever", "beir", 186, 100, 100, 309, 100),
    ("beir_sampled/dbpedia-entity", "beir", 5216, 100, 100, 10792, 167),
    ("beir_sampled/fever", "beir", 349, 100, 100, 114, 300),
    ("beir_sampled/fiqa", "beir", 762, 100, 100, 288, 300),
    ("beir_sampled/hotpotqa", "beir", 596, 100, 100, 200, 300),
    ("beir_sampled/nq", "beir", 113, 100, 100, 113, 100),
    ("beir_sampled/quora", "beir", 302, 100, 100, 149, 200),
]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "fmt", "docs", "queries", "judged", "pairs", "source"), REAL)
def test_real_dataset(
    tmp_path: Path,
    name: str,
    fmt: str,
    docs: int,
    queries: int,
    judged: int,
    pairs: int,
    source: int,
) -> None:
    src = real_folder(name)
    summary = convert(src, tmp_path / "out")
    assert (summary.fmt, summary.docs, summary.queries, summary.judged_queries) == (
        fmt,
        docs,
        queries,
        judged,
    )
    assert (summary.qrels, summary.source_queries) == (pairs, source)
    assert summary.dropped_qrels == 0 and summary.empty_docs == 0 and summary.empty_queries == 0
    assert summary.duplicate_docs == (4 if name == "lisa" else 0)
    missing, by_grade = check_resolves(tmp_path / "out")
    assert missing == summary.missing_docs
    if name == "beir_sampled/dbpedia-entity":
        # crossfit's slice keeps only the positively judged documents: the 6,833 judgments
        # of absent documents are all grade 0 (kept; they change no metric)
        assert by_grade == {"0": 6833}
    else:
        assert missing == 0
    if fmt == "beir":
        raw = (src / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()
        assert pairs == len([line for line in raw[1:] if line.strip()])


@pytest.mark.slow
@pytest.mark.parametrize(
    ("split", "queries", "pairs"), [("dev", 324, 11385), ("train", 2590, 110575)]
)
def test_real_nfcorpus_other_splits(tmp_path: Path, split: str, queries: int, pairs: int) -> None:
    summary = convert(real_folder("nfcorpus"), tmp_path / "out", split=split)
    assert (summary.queries, summary.qrels, summary.missing_docs) == (queries, pairs, 0)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["cisi", "medline", "adi", "cacm"])
def test_real_generic_smart_matches_named_adapter(tmp_path: Path, name: str) -> None:
    src = real_folder(name)
    convert(src, tmp_path / "named")
    convert(src, tmp_path / "generic", fmt="smart")
    for file in ("corpus.jsonl", "queries.jsonl", "qrels.tsv"):
        assert (tmp_path / "named" / file).read_bytes() == (
            tmp_path / "generic" / file
        ).read_bytes()


@pytest.mark.slow
def test_real_quirks(tmp_path: Path) -> None:
    convert(real_folder("cacm"), tmp_path / "cacm")
    cacm = {d["id"]: d for d in jsonl(tmp_path / "cacm" / "corpus.jsonl")}
    assert cacm["1"] == {
        "id": "1",
        "text": "Preliminary Report-International Algebraic Language",
        "authors": ["Perlis, A. J.", "Samelson,K."],
        "source": "CACM December, 1958",
    }
    convert(real_folder("adi"), tmp_path / "adi")
    adi = {d["id"]: d for d in jsonl(tmp_path / "adi" / "corpus.jsonl")}
    assert adi["67"]["title"] == "a national plan for science abstracting and indexing services ."
    convert(real_folder("lisa"), tmp_path / "lisa")
    lisa = jsonl(tmp_path / "lisa" / "corpus.jsonl")
    assert lisa[0]["title"].startswith("THE INDIAN COUNCIL OF LIBRARY AND INFORMATION SERVICES")
    assert not any(q["text"].endswith("#") for q in jsonl(tmp_path / "lisa" / "queries.jsonl"))
